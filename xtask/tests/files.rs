//! Files as editors write them: a byte-order mark, an empty package.json. No engine needed.

mod common;

use common::{repo_root, scratch, xtask};

fn project_with(package_json: &str) -> std::path::PathBuf {
    let root = repo_root();
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let (config, dockerfile, lock) =
        (read("xtask.toml"), read("docker/Dockerfile"), read("node-app/package-lock.json"));
    scratch(&[
        ("xtask.toml", config.as_str()),
        ("docker/Dockerfile", dockerfile.as_str()),
        ("node-app/package.json", package_json),
        ("node-app/package-lock.json", lock.as_str()),
        ("node-app/.dockerignore", "node_modules\n"),
    ])
}

#[test]
fn a_package_json_with_a_byte_order_mark_is_read_as_npm_reads_it() {
    let package = std::fs::read_to_string(repo_root().join("node-app/package.json")).unwrap();
    let dir = project_with(&format!("\u{feff}{package}"));
    let run = xtask(&dir, &["build", "--stage", "test", "--dry-run"], &[]);
    run.assert_ok();
    let run = xtask(&dir, &["inspect"], &[]);
    run.assert_ok();
    let json: serde_json::Value = serde_json::from_str(&package).unwrap();
    let heading = format!("{} {} in node-app/", json["name"].as_str().unwrap(), json["version"].as_str().unwrap());
    assert!(run.stdout.starts_with(&heading), "{heading:?} expected:\n{}", run.stdout);
}

#[test]
fn inspect_names_everything_missing_even_with_an_empty_package_json() {
    let dir = project_with("");
    let run = xtask(&dir, &["inspect"], &[]);
    assert_ne!(run.status, 0);
    let problems: Vec<&str> =
        run.stderr.lines().filter(|l| l.starts_with("problem:") || l.starts_with("error:")).collect();
    assert!(problems.iter().any(|l| l.contains("package.json is empty")), "{}", run.stderr);
    assert!(problems.iter().any(|l| l.contains("no \"test\" script")), "{}", run.stderr);
    assert!(problems.iter().any(|l| l.contains("[service] start")), "{}", run.stderr);
    assert!(run.stdout.contains("lockfile"), "the table is still printed: {}", run.stdout);
    let run = xtask(&dir, &["build", "--dry-run"], &[]);
    run.assert_error("node-app/package.json is empty");
}
