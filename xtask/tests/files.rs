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

#[test]
fn a_stage_no_role_needs_is_not_blamed_on_the_flavor() {
    let dockerfile = "ARG FLAVOR=alpine\nFROM alpine:3.21 AS base-alpine\nFROM debian:trixie-slim AS base-debian\n\
                      FROM base-${FLAVOR} AS lint\nFROM lint AS test\nFROM lint AS release\nFROM alpine:3.21 AS scratchpad\n";
    let dir = scratch(&[("xtask.toml", ""), ("docker/Dockerfile", dockerfile)]);
    let run = xtask(&dir, &["stages"], &[]);
    run.assert_ok();
    let role = |stage: &str| {
        let line = run.stdout.lines().find(|l| l.starts_with(&format!("{stage} "))).unwrap_or_default().to_string();
        line.split("  ").map(str::trim).filter(|s| !s.is_empty()).last().unwrap_or_default().to_string()
    };
    assert_eq!(role("base-debian"), "not used with flavor alpine", "{}", run.stdout);
    assert_eq!(role("scratchpad"), "not used", "{}", run.stdout);
}

#[test]
fn a_role_naming_no_stage_says_it_came_from_xtask_toml_in_every_command() {
    let package = std::fs::read_to_string(repo_root().join("node-app/package.json")).unwrap();
    let dir = project_with(&package);
    std::fs::write(dir.join("xtask.toml"), "[stages]\nlint = \"lnit\"\n").unwrap();
    for args in [&["lint", "--dry-run"][..], &["pull", "--dry-run"], &["stages"], &["ci", "--dry-run"]] {
        let run = xtask(&dir, args, &[]);
        run.assert_error("xtask.toml [stages] lint = \"lnit\": unknown stage 'lnit'");
    }
}

#[test]
fn a_non_utf8_xtask_toml_names_its_line() {
    let dir = scratch(&[("docker/Dockerfile", "FROM alpine AS lint\n")]);
    std::fs::write(dir.join("xtask.toml"), b"[image]\nname = \"caf\xe9\"\n").unwrap();
    xtask(&dir, &["stages"], &[]).assert_error("xtask.toml:2: not UTF-8 text; save the file as UTF-8");
}
