//! `cargo xtask new`: the built binary copies the template (this repository) into fresh folders
//! under the target dir; the copy is checked file by file, then runs the kit under its new name.
//! The old name is read from the template's package.json, never written here, so that a project made
//! from the template, which holds this file too, can run these tests as well.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{repo_root, scratch, xtask, Run};

/// The copy's name: shop-api, or shop-web when the template is a copy named shop-api already. Built
/// at run time, since a project made from the template has the template's name replaced in this file.
fn new_name() -> String {
    let name = ["shop", "api"].join("-");
    if old_name() == name {
        ["shop", "web"].join("-")
    } else {
        name
    }
}

/// The template's service folder (xtask.toml's `[build] context`) and package.json.
fn template_package() -> (String, serde_json::Value) {
    let config: toml::Table = std::fs::read_to_string(repo_root().join("xtask.toml")).unwrap().parse().unwrap();
    let context =
        config.get("build").and_then(|b| b.get("context")).and_then(|c| c.as_str()).unwrap_or("node-app").to_string();
    let package = std::fs::read_to_string(repo_root().join(&context).join("package.json")).unwrap();
    (context, serde_json::from_str(&package).unwrap())
}

fn old_name() -> String {
    template_package().1["name"].as_str().expect("package.json has a name").to_string()
}

/// A fresh, empty folder under the target dir to create projects in.
fn parent() -> PathBuf {
    scratch(&[])
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git").arg("-C").arg(dir).args(args).output().expect("run git");
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|err| panic!("cannot read {path}: {err}"))
}

fn new_project(args: &[&str]) -> (PathBuf, Run) {
    let dir = parent().join("my-shop");
    let mut all = vec!["new", dir.to_str().unwrap()];
    all.extend_from_slice(args);
    let run = xtask(&repo_root(), &all, &[]);
    (dir, run)
}

/// One copy of the template, named `new_name()`, shared by the tests that only read it.
fn copy() -> &'static Path {
    static COPY: OnceLock<PathBuf> = OnceLock::new();
    COPY.get_or_init(|| {
        let new = new_name();
        let new = new.as_str();
        let (dir, run) = new_project(&["--name", new]);
        run.assert_ok();
        assert!(run.stdout.contains("cargo xtask doctor && cargo xtask ci"), "{}", run.stdout);
        dir
    })
}

#[test]
fn the_copy_is_renamed_versioned_and_committed() {
    let new = new_name();
    let new = new.as_str();
    let dir = copy();
    let (context, _) = template_package();
    let package: serde_json::Value = serde_json::from_str(&read(dir, &format!("{context}/package.json"))).unwrap();
    assert_eq!((package["name"].as_str(), package["version"].as_str()), (Some(new), Some("0.1.0")));
    let lock: serde_json::Value = serde_json::from_str(&read(dir, &format!("{context}/package-lock.json"))).unwrap();
    assert_eq!((lock["name"].as_str(), lock["version"].as_str()), (Some(new), Some("0.1.0")));
    let root = &lock["packages"][""];
    assert_eq!((root["name"].as_str(), root["version"].as_str()), (Some(new), Some("0.1.0")));
    let config: toml::Table = read(dir, "xtask.toml").parse().unwrap();
    assert_eq!(config["image"]["name"].as_str(), Some(new));
    let title = read(dir, "README.md").lines().find(|l| l.starts_with("# ")).unwrap().to_string();
    assert!(title.starts_with(&format!("# {new}")), "{title}");
    if dir.join("docker/compose.yaml").exists() {
        let compose = read(dir, "docker/compose.yaml");
        assert!(compose.lines().any(|l| l == format!("name: {new}")), "{compose}");
    }

    assert_eq!(git(dir, &["log", "--oneline"]).lines().count(), 1, "one commit");
    let subject = git(dir, &["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), format!("Start {new} from the {} template", old_name()));
    assert_eq!(git(dir, &["status", "--porcelain"]), "", "everything written is committed");

    let old = old_name();
    let tracked = git(dir, &["ls-files"]);
    let template_tracked = git(&repo_root(), &["ls-files"]);
    for path in tracked.lines() {
        assert!(template_tracked.lines().any(|t| t == path), "{path} is not tracked in the template");
        assert!(!path.starts_with("target/") && !path.contains("node_modules/"), "{path} copied");
        assert!(!path.starts_with("xtask/bench/"), "{path} copied: the benchmark stays with the template");
        if path.ends_with("CHANGELOG.md") {
            continue;
        }
        let bytes = std::fs::read(dir.join(path)).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(&old), "{path} still names {old}");
    }
    assert!(!dir.join("target").exists() && !dir.join(&context).join("node_modules").exists());
    if dir.join(".ci/run").exists() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(".ci/run")).unwrap().permissions().mode();
        assert_ne!(mode & 0o111, 0, ".ci/run stays executable");
    }
}

#[test]
fn the_copy_runs_the_kit_under_its_new_name() {
    let new = new_name();
    let new = new.as_str();
    let dir = copy();
    xtask(dir, &["stages"], &[]).assert_ok();
    let ci = xtask(dir, &["ci", "--dry-run"], &[]);
    ci.assert_ok();
    assert!(ci.stdout.contains(&format!("{new}:0.1.0")), "{}", ci.stdout);
    // The SBOM's steps name files under the copy, whose path may hold the old name (a copy of a copy).
    let shown = ci.stdout.replace(dir.to_str().unwrap(), "DIR");
    let shown = shown.replace(dir.canonicalize().unwrap().to_str().unwrap(), "DIR");
    assert!(!shown.contains(&old_name()), "{}", ci.stdout);
}

#[test]
fn dry_run_lists_the_files_and_writes_nothing() {
    let new = new_name();
    let new = new.as_str();
    let parent = parent();
    let target = parent.join("shop");
    let run = xtask(&repo_root(), &["new", target.to_str().unwrap(), "--dry-run", "--name", new], &[]);
    run.assert_ok();
    assert!(listing(&parent).is_empty(), "dry run wrote {:?}", listing(&parent));
    let (context, _) = template_package();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("{context}/package.json")))
        .unwrap_or_else(|| panic!("no package.json line:\n{}", run.stdout));
    assert!(line.contains(&format!("(renamed: {} → {new})", old_name())), "{line}");
    assert!(run.stdout.lines().any(|l| l == "xtask.toml" || l.starts_with("xtask.toml ")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("git -C {} init", target.display())), "{}", run.stdout);
    assert!(run.stdout.contains("commit --quiet --message"), "{}", run.stdout);
}

#[test]
fn bad_names_are_refused_before_anything_is_written() {
    let long = "a".repeat(215);
    for (name, needle) in [
        ("Shop", "lower-case"),
        ("shop api", "spaces"),
        (".shop", "may not start with '.'"),
        ("_shop", "may not start with '.' or '_'"),
        ("@acme/shop", "scoped"),
        ("a/b", "'/'"),
        (long.as_str(), "at most 214"),
        ("", "empty"),
    ] {
        let parent = parent();
        let target = parent.join("shop");
        let run = xtask(&repo_root(), &["new", target.to_str().unwrap(), "--name", name], &[]);
        run.assert_error(needle);
        assert!(listing(&parent).is_empty(), "{name:?}: created {:?}", listing(&parent));
    }
    // Without --name the folder's name is the service name, and the error says how to choose one.
    let parent = parent();
    let run = xtask(&repo_root(), &["new", parent.join("Shop").to_str().unwrap()], &[]);
    run.assert_error("--name");
    assert!(listing(&parent).is_empty());
}

#[test]
fn a_taken_target_is_refused() {
    let new = new_name();
    let new = new.as_str();
    let parent = scratch(&[("a-file", "x"), ("full/keep.txt", "x")]);
    let before = listing(&parent);
    for (target, needle) in [("a-file", "is a file"), ("full", "not empty")] {
        let run = xtask(&repo_root(), &["new", parent.join(target).to_str().unwrap(), "--name", new], &[]);
        run.assert_error(needle);
        assert_eq!(listing(&parent), before);
        assert_eq!(listing(&parent.join("full")), ["keep.txt"]);
    }
    // A missing parent folder is not created.
    let run = xtask(&repo_root(), &["new", parent.join("no/such/dir").to_str().unwrap()], &[]);
    run.assert_error("does not exist");
    assert_eq!(listing(&parent), before);
}

#[test]
fn an_empty_target_folder_is_used() {
    let parent = scratch(&[]);
    let new = new_name();
    let new = new.as_str();
    std::fs::create_dir(parent.join(new)).unwrap();
    let run = xtask(&repo_root(), &["new", parent.join(new).to_str().unwrap()], &[]);
    run.assert_ok();
    assert_eq!(listing(&parent), [new], "no temporary folder left");
    assert!(parent.join(new).join("xtask.toml").is_file());
}

#[test]
fn a_target_inside_the_template_is_refused() {
    let new = new_name();
    let new = new.as_str();
    let (context, _) = template_package();
    let service = repo_root().join(&context);
    let before = listing(&service);
    let run = xtask(&repo_root(), &["new", &format!("{context}/inner"), "--name", new], &[]);
    run.assert_error("inside the template");
    assert_eq!(listing(&service), before);
}

#[test]
fn a_failure_half_way_leaves_nothing_behind() {
    // The commit fails (a pre-commit hook says no) after every file was written.
    let hooks = scratch(&[("pre-commit", "#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")]);
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(hooks.join("pre-commit"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let parent = parent();
    let target = parent.join(new_name());
    let hooks = hooks.to_str().unwrap();
    let env = [("GIT_CONFIG_COUNT", "1"), ("GIT_CONFIG_KEY_0", "core.hooksPath"), ("GIT_CONFIG_VALUE_0", hooks)];
    let run = xtask(&repo_root(), &["new", target.to_str().unwrap()], &env);
    run.assert_error("hook says no");
    assert!(listing(&parent).is_empty(), "left behind: {:?}", listing(&parent));
}

/// A small template of its own: tracked files modified, deleted, ignored; untracked files; a
/// CHANGELOG and a compose file; and git without an identity.
#[test]
fn copies_what_git_tracks_as_it_is_on_disk() {
    let template = scratch(&[
        ("xtask.toml", "[image]\nname = \"old-svc\"  # the image\n\n[build]\ncontext = \"svc\"\n"),
        ("svc/package.json", "{\n  \"name\": \"old-svc\",\n  \"version\": \"2.3.4\",\n  \"private\": true\n}\n"),
        ("svc/server.js", "console.log('v1');\n"),
        ("svc/gone.js", "gone\n"),
        (
            "docker/compose.yaml",
            "name: old-svc\nservices:\n  old-svc:\n    image: old-svc:compose\n    container_name: old-svc-app\n  legacy-old-svc:\n    image: redis\n",
        ),
        ("README.md", "# old-svc: the service\n\nRun `old-svc:2.3.4`.\n"),
        ("CHANGELOG.md", "# Changelog\n\n## 2.3.4\n\nold-svc fixes\n"),
        (".gitignore", "*.log\nlocal/\n"),
        ("keep.log", "tracked although ignored\n"),
    ]);
    let git_in = |args: &[&str]| git(&template, args);
    git_in(&["init", "--quiet"]);
    git_in(&["add", "--all"]);
    git_in(&["add", "--force", "keep.log"]);
    git_in(&["-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "--quiet", "--message", "template"]);
    std::fs::write(template.join("svc/server.js"), "console.log('v2, not committed');\n").unwrap();
    std::fs::remove_file(template.join("svc/gone.js")).unwrap();
    std::fs::write(template.join("untracked.txt"), "local\n").unwrap();
    std::fs::create_dir_all(template.join("local")).unwrap();
    std::fs::write(template.join("local/state"), "x\n").unwrap();

    let parent = parent();
    let target = parent.join("new-service");
    let home = scratch(&[]);
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["new", target.to_str().unwrap()])
        .current_dir(&template)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", &home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env_remove("EMAIL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("git has no identity configured"), "{stderr}");
    assert!(stderr.contains("svc/gone.js"), "the skipped file is named: {stderr}");
    assert_eq!(listing(&parent), ["new-service"]);

    let files = git(&target, &["ls-files"]);
    let files: Vec<&str> = files.lines().collect();
    assert_eq!(
        files,
        [
            ".gitignore",
            "CHANGELOG.md",
            "README.md",
            "docker/compose.yaml",
            "keep.log",
            "svc/package.json",
            "svc/server.js",
            "xtask.toml"
        ]
    );
    assert_eq!(read(&target, "svc/server.js"), "console.log('v2, not committed');\n");
    assert_eq!(
        read(&target, "svc/package.json"),
        "{\n  \"name\": \"new-service\",\n  \"version\": \"0.1.0\",\n  \"private\": true\n}\n"
    );
    assert_eq!(
        read(&target, "xtask.toml"),
        "[image]\nname = \"new-service\" # the image\n\n[build]\ncontext = \"svc\"\n"
    );
    assert_eq!(
        read(&target, "docker/compose.yaml"),
        "name: new-service\nservices:\n  new-service:\n    image: new-service:compose\n    container_name: new-service-app\n  legacy-old-svc:\n    image: redis\n"
    );
    assert_eq!(read(&target, "README.md"), "# new-service: the service\n\nRun `new-service:0.1.0`.\n");
    let changelog = read(&target, "CHANGELOG.md");
    assert!(changelog.contains("## 0.1.0") && !changelog.contains("2.3.4"), "{changelog}");
    assert_eq!(git(&target, &["log", "--format=%an <%ae>"]).trim(), "cargo xtask new <xtask-new@localhost>");
    assert_eq!(git(&target, &["status", "--porcelain", "--ignored"]), "");
}

/// The copy is a working project: its own tests pass (a full compile, so gated like the
/// end-to-end tests) and its test stage builds on the real engine.
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn the_copy_passes_its_own_tests_and_builds_its_test_stage() {
    let new = new_name();
    let new = new.as_str();
    let (dir, run) = new_project(&["--name", new]);
    run.assert_ok();
    assert_no_benchmark(&dir);
    // Shared between runs: the copy's dependencies compile once.
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-copy-target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let cargo_in_copy = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(&cargo);
        command.args(args).current_dir(&dir).env("CARGO_TARGET_DIR", &target_dir).env_remove("XTASK_E2E");
        for var in ["XTASK_FLAVOR", "XTASK_ENGINE", "DOCKER_CONTEXT", "GITHUB_ACTIONS"] {
            command.env_remove(var);
        }
        command.envs(env.iter().copied());
        let output = command.output().expect("run cargo");
        assert!(
            output.status.success(),
            "cargo {args:?} in the copy failed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    cargo_in_copy(&["test", "--quiet"], &[]);
    let image = format!("{new}:test");
    let _ = common::docker_try(&["image", "rm", &image]);
    cargo_in_copy(&["xtask", "test"], &[("XTASK_FLAVOR", "debian")]);
    assert!(common::docker_try(&["image", "inspect", &image]).is_some(), "no image {image}");
    let _ = common::docker_try(&["image", "rm", &image]);
}

/// The kit's benchmark (xtask/bench/, a workspace member of its own) stays with the template.
fn assert_no_benchmark(copy: &Path) {
    assert!(!copy.join("xtask/bench").exists(), "xtask/bench/ copied");
    assert!(!read(copy, "Cargo.toml").contains("xtask/bench"), "{}", read(copy, "Cargo.toml"));
    if copy.join(".cargo/config.toml").exists() {
        assert!(!read(copy, ".cargo/config.toml").contains("xbench"), "{}", read(copy, ".cargo/config.toml"));
    }
}

/// A template whose workspace holds the benchmark: the copy holds none of it, and its workspace
/// still builds (two empty crates, so the build takes a second).
#[test]
fn the_benchmark_stays_with_the_template() {
    let package = |name: &str| format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    let template = scratch(&[
        ("xtask.toml", "[image]\nname = \"old-svc\"\n\n[build]\ncontext = \"svc\"\n"),
        ("svc/package.json", "{\n  \"name\": \"old-svc\",\n  \"version\": \"1.0.0\"\n}\n"),
        ("Cargo.toml", "[workspace]\nmembers = [\"xtask\", \"xtask/bench\"]\nresolver = \"2\"\n"),
        (
            ".cargo/config.toml",
            "[alias]\nxtask = \"run --package xtask --quiet --\"\nxbench = \"run --package xtask-bench --quiet --\"\n",
        ),
        ("xtask/Cargo.toml", &package("xtask")),
        ("xtask/src/main.rs", "fn main() {}\n"),
        ("xtask/bench/Cargo.toml", &package("xtask-bench")),
        ("xtask/bench/src/main.rs", "fn main() {}\n"),
    ]);
    common::git_commit(&template);
    let target = parent().join("new-service");
    xtask(&template, &["new", target.to_str().unwrap()], &[]).assert_ok();
    let files = git(&target, &["ls-files"]);
    let files: Vec<&str> = files.lines().collect();
    assert_eq!(
        files,
        [".cargo/config.toml", "Cargo.toml", "svc/package.json", "xtask.toml", "xtask/Cargo.toml", "xtask/src/main.rs"]
    );
    assert_eq!(read(&target, "Cargo.toml"), "[workspace]\nmembers = [\"xtask\"]\nresolver = \"2\"\n");
    assert_eq!(read(&target, ".cargo/config.toml"), "[alias]\nxtask = \"run --package xtask --quiet --\"\n");
    assert_no_benchmark(&target);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    // Its own target folder: an inherited CARGO_TARGET_DIR would get this empty crate's `xtask` binary
    // written over the kit's, under the feet of every other test using that folder.
    let output = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&target)
        .env("CARGO_TARGET_DIR", target.join("target"))
        .output()
        .unwrap();
    assert!(output.status.success(), "cargo build in the copy failed: {}", String::from_utf8_lossy(&output.stderr));
}
