//! `cargo xtask update`: a scratch template repository made from this repository's tracked files
//! (commit A), a project made from it by `new` and then changed as a team changes it, the
//! template moving on (B, C), and the built binary merging the template's changes into the project.
//! No engine needed, except for the test marked end-to-end.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo_root, scratch, xtask};

/// git in `dir`, with an identity for commits; panics with stderr on failure.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@localhost", "-C"])
        .arg(dir)
        .args(args)
        .env("GIT_EDITOR", "true")
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn write(dir: &Path, path: &str, text: &str) {
    std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
    std::fs::write(dir.join(path), text).unwrap();
}

fn append(dir: &Path, path: &str, line: &str) {
    write(dir, path, &format!("{}{line}\n", read(dir, path)));
}

/// Replaces the line that sets `key` in xtask.toml with `line`.
fn set_key(dir: &Path, key: &str, line: &str) {
    let text = read(dir, "xtask.toml");
    let at = text.lines().position(|l| l.starts_with(&format!("{key} ")) || l.starts_with(&format!("{key}=")));
    let at = at.unwrap_or_else(|| panic!("xtask.toml sets no {key}"));
    let lines: Vec<&str> = text.lines().enumerate().map(|(i, l)| if i == at { line } else { l }).collect();
    write(dir, "xtask.toml", &(lines.join("\n") + "\n"));
}

/// Replaces the Dockerfile's first comment line.
fn set_first_comment(dir: &Path, line: &str) {
    let text = read(dir, "docker/Dockerfile");
    let at = text.lines().position(|l| l.starts_with('#')).expect("a comment in the Dockerfile");
    let lines: Vec<&str> = text.lines().enumerate().map(|(i, l)| if i == at { line } else { l }).collect();
    write(dir, "docker/Dockerfile", &(lines.join("\n") + "\n"));
}

fn commit(dir: &Path, message: &str) -> String {
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "--message", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// The template commit the project's history records last.
fn recorded(project: &Path) -> String {
    let log = git(project, &["log", "--format=%B"]);
    log.lines().find_map(|l| l.strip_prefix("Template-commit: ")).expect("a record").to_string()
}

/// The files under `dir`, with their contents, sorted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(snapshot(&path));
        } else {
            found.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    found.sort();
    found
}

const PROJECT_LINE: &str = "# The project's own note on its Dockerfile";

struct Setup {
    template: PathBuf,
    project: PathBuf,
    /// xtask.toml's `cache_dir` line: left out at A, so that B brings it as a new setting.
    cache_dir: String,
}

/// The template at A (this repository's tracked files, without xtask.toml's `cache_dir`), and a
/// project `new` made from it that edited its Dockerfile and, with `own_service`, replaced the
/// service and changed two settings.
fn setup(own_service: bool) -> Setup {
    let template = scratch(&[]);
    for path in git(&repo_root(), &["ls-files"]).lines() {
        let from = repo_root().join(path);
        if from.is_file() {
            std::fs::create_dir_all(template.join(path).parent().unwrap()).unwrap();
            std::fs::copy(&from, template.join(path)).unwrap();
        }
    }
    let config = read(&template, "xtask.toml");
    let cache_dir = config.lines().find(|l| l.starts_with("cache_dir")).expect("xtask.toml sets cache_dir").to_string();
    write(&template, "xtask.toml", &config.replacen(&format!("{cache_dir}\n"), "", 1));
    git(&template, &["init", "--quiet"]);
    commit(&template, "A");

    let project = scratch(&[]).join("my-shop");
    xtask(&template, &["new", project.to_str().unwrap(), "--name", "my-shop"], &[]).assert_ok();
    set_first_comment(&project, PROJECT_LINE);
    if own_service {
        for dir in ["node-app/src", "node-app/test"] {
            let _ = std::fs::remove_dir_all(project.join(dir));
        }
        write(
            &project,
            "node-app/package.json",
            "{ \"name\": \"shop-service\", \"version\": \"2.0.0\", \"main\": \"index.js\" }\n",
        );
        write(
            &project,
            "node-app/index.js",
            "require('node:http').createServer((q, s) => s.end('ok')).listen(8181);\n",
        );
        set_key(&project, "port", "port = 8181");
        set_key(&project, "health_path", "health_path = \"/ready\"");
    }
    commit(&project, "Our own service");
    Setup { template, project, cache_dir }
}

/// The template moves on: its Dockerfile (at the end), an xtask module, the workflow, a default
/// setting and a new one; and its own service and README, which stay the template's.
fn template_b(s: &Setup) -> String {
    let t = &s.template;
    append(t, "docker/Dockerfile", "# template B: a note at the end");
    append(t, "xtask/src/main.rs", "// template B: a note in an xtask module");
    append(t, ".github/workflows/ci.yml", "# template B: a note in the workflow");
    set_key(t, "timeout", "timeout = 91               # template B's default");
    let config = read(t, "xtask.toml");
    let cache = config.lines().find(|l| l.starts_with("cache =")).expect("xtask.toml sets cache").to_string();
    write(t, "xtask.toml", &config.replacen(&cache, &format!("{cache}\n{}", s.cache_dir), 1));
    append(t, "README.md", "template B's README line");
    write(t, "node-app/src/template-b.js", "// the template's service only\n");
    commit(t, "B")
}

#[test]
fn the_templates_changes_are_merged_and_the_projects_edits_stay() {
    let s = setup(true);
    let p = &s.project;
    let a = git(&s.template, &["rev-parse", "HEAD"]);
    assert_eq!(recorded(p), a, "new records the template's commit");
    let (service, readme, head) = (snapshot(&p.join("node-app")), read(p, "README.md"), git(p, &["rev-parse", "HEAD"]));
    let b = template_b(&s);

    let run = xtask(p, &["update", "--dry-run"], &[]);
    run.assert_ok();
    let listed: Vec<&str> =
        run.stdout.lines().filter(|l| l.starts_with("changed ") || l.starts_with("added ")).collect();
    assert_eq!(
        listed,
        [
            "changed .github/workflows/ci.yml",
            "changed docker/Dockerfile (changed here too: merged)",
            "changed xtask.toml (changed here too: merged)",
            "changed xtask/src/main.rs",
        ],
        "{}",
        run.stdout
    );
    assert_eq!((git(p, &["rev-parse", "HEAD"]), git(p, &["status", "--porcelain"])), (head.clone(), String::new()));

    let run = xtask(p, &["update"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains(&format!("updated to the template's {}", &b[..7])), "{}", run.stdout);
    assert_eq!(git(p, &["status", "--porcelain"]), "", "the merge is committed");
    assert_eq!(recorded(p), b, "the record moved to B");
    let dockerfile = read(p, "docker/Dockerfile");
    assert!(dockerfile.contains(PROJECT_LINE), "the project's edit is lost:\n{dockerfile}");
    assert!(dockerfile.ends_with("# template B: a note at the end\n"), "{dockerfile}");
    assert!(read(p, "xtask/src/main.rs").ends_with("// template B: a note in an xtask module\n"));
    assert!(read(p, ".github/workflows/ci.yml").ends_with("# template B: a note in the workflow\n"));
    let config: toml::Table = read(p, "xtask.toml").parse().unwrap();
    assert_eq!(config["service"]["port"].as_integer(), Some(8181), "the project's setting stays");
    assert_eq!(config["service"]["health_path"].as_str(), Some("/ready"));
    assert_eq!(config["smoke"]["timeout"].as_integer(), Some(91), "the template's new default");
    assert!(config["build"].get("cache_dir").is_some(), "the template's new setting, with its default");
    assert_eq!(config["image"]["name"].as_str(), Some("my-shop"));
    assert_eq!(snapshot(&p.join("node-app")), service, "the service is the project's");
    assert_eq!(read(p, "README.md"), readme, "the README is the project's");
    xtask(p, &["stages"], &[]).assert_ok();

    let run = xtask(p, &["update"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("up to date"), "{}", run.stdout);
    assert_eq!(
        git(p, &["log", "--format=%s", "-1"]),
        format!("Update from the {} template to {}", old_name(), &b[..7])
    );
}

/// The template's service name, which the copy replaced.
fn old_name() -> String {
    let package: serde_json::Value = serde_json::from_str(&read(&repo_root(), "node-app/package.json")).unwrap();
    package["name"].as_str().unwrap().to_string()
}

#[test]
fn a_conflict_leaves_markers_and_the_record_until_it_is_resolved() {
    let s = setup(false);
    let p = &s.project;
    let a = recorded(p);
    set_first_comment(&s.template, "# template C: the line the project edited, edited again");
    let c = commit(&s.template, "C");

    let run = xtask(p, &["update"], &[]);
    run.assert_error("conflict with this project's in docker/Dockerfile");
    assert!(run.stderr.contains("git cherry-pick --continue"), "{}", run.stderr);
    let dockerfile = read(p, "docker/Dockerfile");
    assert!(dockerfile.contains("<<<<<<< ") && dockerfile.contains(PROJECT_LINE), "{dockerfile}");
    assert!(dockerfile.contains("# template C: the line"), "{dockerfile}");
    assert_eq!(recorded(p), a, "the record stays until the conflict is resolved");
    xtask(p, &["update"], &[]).assert_error("cherry-pick");

    git(p, &["cherry-pick", "--abort"]);
    assert!(read(p, "docker/Dockerfile").contains(PROJECT_LINE));
    assert_eq!(git(p, &["status", "--porcelain"]), "");

    xtask(p, &["update"], &[]).assert_error("docker/Dockerfile");
    let resolved = read(p, "docker/Dockerfile")
        .lines()
        .filter(|l| !["<<<<<<<", "=======", ">>>>>>>", "# template C"].iter().any(|m| l.starts_with(m)))
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    write(p, "docker/Dockerfile", &resolved.replace(PROJECT_LINE, &format!("{PROJECT_LINE}, resolved")));
    git(p, &["add", "docker/Dockerfile"]);
    git(p, &["cherry-pick", "--continue"]);
    assert_eq!(recorded(p), c, "the resolution records C");
    assert!(read(p, "docker/Dockerfile").contains(&format!("{PROJECT_LINE}, resolved")));
    let run = xtask(p, &["update"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("up to date"), "{}", run.stdout);
}

#[test]
fn dirty_tree_moved_template_and_a_copy_without_a_record_each_get_one_line() {
    let s = setup(false);
    let p = &s.project.clone();
    let head = git(p, &["rev-parse", "HEAD"]);
    let run = xtask(p, &["update"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("up to date"), "{}", run.stdout);

    append(p, "xtask.toml", "# not committed");
    xtask(p, &["update"], &[]).assert_error("uncommitted changes");
    assert!(read(p, "xtask.toml").ends_with("# not committed\n"));
    git(p, &["checkout", "--", "xtask.toml"]);

    let moved = scratch(&[]).join("moved-template");
    std::fs::rename(&s.template, &moved).unwrap();
    xtask(p, &["update"], &[]).assert_error("is gone; give its new place (a folder or git URL) with --from");
    xtask(p, &["update", "--from", "/no/such/template"], &[]).assert_error("/no/such/template is gone");
    assert_eq!(git(p, &["rev-parse", "HEAD"]), head);

    // A copy made before `new` recorded its origin: the first commit's message without the record.
    let a = recorded(p);
    git(p, &["reset", "--soft", &git(p, &["rev-list", "--max-parents=0", "HEAD"])]);
    git(p, &["commit", "--amend", "--quiet", "--message", "Start my-shop"]);
    xtask(p, &["update"], &[]).assert_error("--from TEMPLATE --base COMMIT");
    let s = Setup { template: moved.clone(), ..s };
    let b = template_b(&s);
    let moved = moved.to_str().unwrap();
    xtask(p, &["update", "--from", moved, "--base", &a[..10]], &[]).assert_ok();
    assert_eq!(recorded(p), b);
    assert!(read(p, "docker/Dockerfile").contains(PROJECT_LINE));
    let run = xtask(p, &["update"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("up to date"), "{}", run.stdout);
}

/// The updated project is a working one: its own tests pass and its test stage builds on the real
/// engine (a full compile, so gated like the end-to-end tests).
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn the_updated_project_passes_its_own_tests_and_builds_its_test_stage() {
    let s = setup(false);
    let p = &s.project;
    // The Dockerfile as `new` made it: this project's copy of these tests edits its first comment
    // again, which must be a change there too.
    git(p, &["checkout", "HEAD~1", "--", "docker/Dockerfile"]);
    set_key(p, "http_port", "http_port = 8090");
    commit(p, "Nginx on another port");
    template_b(&s);
    xtask(p, &["update"], &[]).assert_ok();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    for (args, env) in [(&["test", "--quiet"][..], None), (&["xtask", "test"][..], Some(("XTASK_FLAVOR", "debian")))] {
        let mut command = Command::new(&cargo);
        command.args(args).current_dir(p).env_remove("XTASK_E2E");
        // The project's own target/: a target dir shared through the environment would reach the
        // cargo builds its tests run in scratch projects, which would overwrite its xtask binary.
        for var in ["CARGO_TARGET_DIR", "XTASK_FLAVOR", "XTASK_ENGINE", "DOCKER_CONTEXT", "GITHUB_ACTIONS"] {
            command.env_remove(var);
        }
        command.envs(env);
        let output = command.output().expect("run cargo");
        assert!(
            output.status.success(),
            "cargo {args:?} in the updated project failed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(common::docker_try(&["image", "inspect", "my-shop:test"]).is_some(), "no image my-shop:test");
    let _ = common::docker_try(&["image", "rm", "my-shop:test"]);
}
