//! End-to-end tests: the built `xtask` against a real Docker engine, on the debian flavor (Alpine
//! packages cannot be fetched on the CI hosts; the GitHub Actions workflow builds alpine).
//! They run only with XTASK_E2E=1 (see build.rs); then an unreachable engine fails them.
//! One test at a time: they share one engine and its build cache, so each image is built once
//! and later tests hit the cache.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{copy_template, docker, docker_try, edit, repo_root, xtask, Run};

static ENGINE: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ENGINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const DEBIAN: (&str, &str) = ("XTASK_FLAVOR", "debian");

fn kit(dir: &std::path::Path, args: &[&str]) -> Run {
    xtask(dir, args, &[DEBIAN])
}

fn image_id(reference: &str) -> Option<String> {
    docker_try(&["image", "inspect", "--format", "{{.Id}}", reference])
}

fn containers_named(prefix: &str) -> usize {
    docker(&["ps", "--all", "--quiet", "--filter", &format!("name={prefix}")]).lines().count()
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn doctor_reports_engine_buildx_and_compose() {
    let run = xtask(&repo_root(), &["doctor"], &[]);
    run.assert_ok();
    for row in ["ok       engine server", "ok       buildx", "ok       compose"] {
        assert!(run.stdout.contains(row), "{row} missing:\n{}", run.stdout);
    }
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn pull_fetches_the_base_through_the_mirror() {
    let _engine = serial();
    let _ = docker_try(&["image", "rm", "debian:trixie-slim"]);
    assert!(image_id("debian:trixie-slim").is_none(), "the local copy should be gone");
    kit(&repo_root(), &["pull"]).assert_ok();
    assert!(image_id("debian:trixie-slim").is_some(), "pull did not bring debian:trixie-slim back");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn every_stage_the_flavor_uses_builds() {
    let _engine = serial();
    let stages = kit(&repo_root(), &["stages"]);
    stages.assert_ok();
    let used: Vec<&str> = stages
        .stdout
        .lines()
        .skip(1)
        .filter(|line| !line.contains("not used with flavor") && !line.contains("the release's SBOM"))
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert!(used.len() >= 5, "{}", stages.stdout);
    for stage in used {
        kit(&repo_root(), &["build", "--stage", stage]).assert_ok();
        assert!(image_id(&format!("items-api:{stage}")).is_some(), "no image items-api:{stage}");
    }
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn lint_and_test_pass_on_the_template() {
    let _engine = serial();
    kit(&repo_root(), &["lint"]).assert_ok();
    kit(&repo_root(), &["test"]).assert_ok();
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_lint_error_or_failing_test_fails_and_moves_no_release_tag() {
    let _engine = serial();
    kit(&repo_root(), &["release"]).assert_ok();
    let release_before = image_id("items-api:1.0.0").expect("release tag");

    let broken = copy_template();
    std::fs::write(broken.join("node-app/src/unused.js"), "const unused = 1;\n").unwrap();
    let run = kit(&broken, &["lint"]);
    run.assert_error("cannot build stage 'lint'");

    let broken = copy_template();
    std::fs::write(
        broken.join("node-app/test/broken.test.js"),
        "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('fails on purpose', () => assert.equal(1, 2));\n",
    )
    .unwrap();
    let run = kit(&broken, &["test"]);
    run.assert_error("cannot build stage 'test'");
    assert_eq!(image_id("items-api:1.0.0").as_deref(), Some(release_before.as_str()), "the release tag moved");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn the_release_image_is_small_safe_and_answers() {
    let _engine = serial();
    kit(&repo_root(), &["release"]).assert_ok();
    let image = "items-api:1.0.0";
    let uid = docker(&["run", "--rm", "--entrypoint", "id", image, "-u"]);
    assert_ne!(uid, "0", "the release image runs as root");
    let npm = docker_try(&["run", "--rm", "--entrypoint", "sh", image, "-c", "command -v npm"]);
    assert!(npm.is_none(), "npm is in the release image: {npm:?}");
    let container = docker(&["run", "--detach", "--publish", "127.0.0.1::3000", image]);
    let pid1 = docker_try(&["exec", &container, "cat", "/proc/1/cmdline"]);
    let answered = wait_for_http(&container);
    docker(&["rm", "--force", &container]);
    let pid1 = pid1.unwrap_or_default().replace('\0', " ");
    assert!(pid1.contains("tini"), "PID 1 is {pid1:?}, not tini");
    assert!(answered, "/healthz did not answer");
}

fn wait_for_http(container: &str) -> bool {
    let port = docker(&["port", container, "3000/tcp"]);
    let port = port.lines().next().unwrap().rsplit(':').next().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let reply =
            std::process::Command::new("curl").args(["-fsS", &format!("http://127.0.0.1:{port}/healthz")]).output();
        if reply.map(|r| r.status.success()).unwrap_or(false) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn smoke_passes_and_leaves_no_container() {
    let _engine = serial();
    kit(&repo_root(), &["release"]).assert_ok();
    let before = containers_named("items-api-smoke-");
    let run = kit(&repo_root(), &["smoke"]);
    run.assert_ok();
    assert!(run.stderr.contains("/healthz -> 200"), "{}", run.stderr);
    assert_eq!(containers_named("items-api-smoke-"), before);
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn smoke_cleans_up_when_the_probe_fails() {
    let _engine = serial();
    let project = copy_template();
    edit(&project.join("xtask.toml"), "health_path = \"/healthz\"", "health_path = \"/no-such-path\"");
    // Its own image name, so its containers (NAME-smoke-PID) are told from any other smoke run's.
    edit(&project.join("xtask.toml"), "name = \"items-api\"", "name = \"xtask-probe-fails\"");
    common::git_commit(&project);
    kit(&project, &["release"]).assert_ok();
    let run = kit(&project, &["smoke"]);
    // The image's HEALTHCHECK follows the health path too, so the container turns unhealthy first.
    run.assert_error("turned unhealthy");
    assert_eq!(containers_named("xtask-probe-fails-smoke-"), 0, "smoke left a container behind");
}

/// The service answers, but the image's own HEALTHCHECK fails: smoke runs that check itself, and fails.
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn smoke_fails_when_the_healthcheck_fails_though_the_service_answers() {
    let _engine = serial();
    let project = copy_template();
    edit(
        &project.join("docker/Dockerfile"),
        "CMD [\"node\", \"-e\", \"fetch(",
        "CMD [\"node\", \"-e\", \"process.exit(1); fetch(",
    );
    edit(&project.join("xtask.toml"), "name = \"items-api\"", "name = \"xtask-healthcheck-fails\"");
    common::git_commit(&project);
    kit(&project, &["release"]).assert_ok();
    let run = kit(&project, &["smoke"]);
    run.assert_error("its HEALTHCHECK failed 3 times while the service answered");
    assert_eq!(containers_named("xtask-healthcheck-fails-smoke-"), 0, "smoke left a container behind");
    for image in docker(&["images", "--quiet", "xtask-healthcheck-fails"]).lines() {
        let _ = docker_try(&["rmi", "--force", image]);
    }
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn interrupted_run_and_smoke_remove_their_container() {
    let _engine = serial();
    kit(&repo_root(), &["release"]).assert_ok();
    for (command, signal, code) in [("run", "INT", 130), ("smoke", "TERM", 143)] {
        let prefix = format!("items-api-{command}-");
        let before = containers_named(&prefix);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg(command)
            .current_dir(repo_root())
            .env("XTASK_FLAVOR", "debian")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while containers_named(&prefix) == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(containers_named(&prefix) > before, "{command} started no container");
        let _ = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        let stopped = Instant::now();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(code), "{command} after SIG{signal}");
        assert!(stopped.elapsed() < Duration::from_secs(15), "{command} took {:?} to stop", stopped.elapsed());
        // `run`'s container has --rm: the engine may still be removing it when the kit's own `docker rm --force`
        // answers "removal already in progress" (seen once on a loaded host); give that removal a few seconds.
        let removing = Instant::now() + Duration::from_secs(5);
        while containers_named(&prefix) != before && Instant::now() < removing {
            std::thread::sleep(Duration::from_millis(100));
        }
        let left =
            docker(&["ps", "--all", "--filter", &format!("name={prefix}"), "--format", "{{.Names}} {{.Status}}"]);
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
        assert_eq!(
            containers_named(&prefix),
            before,
            "{command} left its container after SIG{signal}: {left}\nits output:\n{stderr}"
        );
    }
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn rebuilds_come_from_the_cache_and_npm_ci_survives_a_source_edit() {
    let _engine = serial();
    let project = copy_template();
    kit(&project, &["build", "--stage", "test"]).assert_ok();
    let again = kit(&project, &["build", "--stage", "test", "--progress", "plain"]);
    again.assert_ok();
    let steps = step_lines(&again.stderr);
    assert!(!steps.is_empty(), "no build steps in:\n{}", again.stderr);
    let uncached: Vec<&String> = steps.iter().filter(|l| l.ends_with("RAN")).collect();
    assert!(uncached.is_empty(), "steps not served from cache: {uncached:?}");

    std::fs::write(project.join("node-app/src/added.js"), "export const added = true;\n").unwrap();
    let edited = kit(&project, &["build", "--stage", "test", "--progress", "plain"]);
    edited.assert_ok();
    let npm_ci: Vec<String> = step_lines(&edited.stderr).into_iter().filter(|l| l.contains("npm ci")).collect();
    assert!(!npm_ci.is_empty(), "no npm ci step in:\n{}", edited.stderr);
    assert!(npm_ci.iter().all(|l| l.ends_with("CACHED")), "npm ci ran again after a source edit: {npm_ci:?}");
}

/// BuildKit's plain progress: a `#N [stage k/n] INSTRUCTION` line per step, and `#N CACHED` when the step came
/// from the cache. A cached step whose layers must still be fetched (from an imported cache, for the image) gets its
/// `#N [stage k/n]` line again, after the CACHED one. Each RUN or COPY step as one line ending in CACHED or RAN.
fn step_lines(progress: &str) -> Vec<String> {
    let lines: Vec<&str> = progress.lines().collect();
    let (mut steps, mut seen) = (Vec::new(), Vec::new());
    for line in &lines {
        let Some((id, text)) = line.strip_prefix('#').and_then(|rest| rest.split_once(' ')) else { continue };
        let is_step = text.starts_with('[') && (text.contains("] RUN") || text.contains("] COPY"));
        if !is_step || seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let cached = lines.iter().any(|l| *l == format!("#{id} CACHED"));
        steps.push(format!("{line} {}", if cached { "CACHED" } else { "RAN" }));
    }
    steps
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_signal_during_build_ends_the_docker_child() {
    let _engine = serial();
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        // A build arg no other build has, so pgrep finds this build's docker process and no one else's.
        let marker = format!("XTASK_SIGNAL_TEST={}{signal}", std::process::id());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["build", "--stage", "test", "--no-cache", "--progress", "plain", "--build-arg", &marker])
            .current_dir(repo_root())
            .env("XTASK_FLAVOR", "debian")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let running = || !std::process::Command::new("pgrep").args(["-f", &marker]).output().unwrap().stdout.is_empty();
        std::thread::sleep(Duration::from_secs(4));
        assert!(child.try_wait().unwrap().is_none(), "the build ended before the signal");
        // Else the check after the signal could not fail.
        assert!(running(), "pgrep finds no docker build carrying {marker}");
        let _ = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        let sent = Instant::now();
        let status = child.wait().unwrap();
        assert!(sent.elapsed() < Duration::from_secs(12), "took {:?} to stop after SIG{signal}", sent.elapsed());
        assert_eq!(status.code(), Some(code), "exit status after SIG{signal}");
        assert!(!running(), "a docker build is still running after SIG{signal}");
    }
}

/// Build the test stage with a cache kind, throw away every build cache on the engine and the
/// image, build again: every RUN and COPY step must come back CACHED from the exported cache.
fn cache_restores_every_step(cache: &str, registry: Option<&str>) {
    let project = copy_template();
    // A name of this run's own, so no cache exported by an earlier run (of another Dockerfile) is imported.
    let name = format!("xtask-cache-{cache}-{}", std::process::id());
    edit(&project.join("xtask.toml"), "name = \"items-api\"", &format!("name = \"{name}\""));
    // And a source file of its own: the first build runs `COPY . .` and every step after it, so the cache it
    // exports holds what it made, not records that earlier tests left in the builder.
    std::fs::write(project.join(format!("node-app/test/{name}.txt")), &name).unwrap();
    if let Some(registry) = registry {
        edit(&project.join("xtask.toml"), "registry = \"\"", &format!("registry = \"{registry}\""));
    }
    let first = kit(&project, &["build", "--stage", "test", "--cache", cache, "--progress", "plain"]);
    first.assert_ok();
    let made: Vec<String> = step_lines(&first.stderr).into_iter().filter(|l| l.ends_with("RAN")).collect();
    assert!(made.iter().any(|l| l.contains("COPY . .")), "the first build found `COPY . .` cached: {made:?}");
    let image = match registry {
        Some(registry) => format!("{registry}/{name}:test"),
        None => format!("{name}:test"),
    };
    docker(&["builder", "prune", "--all", "--force"]);
    docker(&["image", "rm", &image]);
    let again = kit(&project, &["build", "--stage", "test", "--cache", cache, "--progress", "plain"]);
    again.assert_ok();
    let steps = step_lines(&again.stderr);
    assert!(steps.len() >= 5, "too few steps in:\n{}", again.stderr);
    let ran: Vec<&String> = steps.iter().filter(|l| l.ends_with("RAN")).collect();
    assert!(ran.is_empty(), "steps not restored from the {cache} cache: {ran:?}");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_local_cache_restores_every_step_after_a_prune() {
    let _engine = serial();
    cache_restores_every_step("local", None);
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_registry_cache_restores_every_step_after_a_prune() {
    let _engine = serial();
    cache_restores_every_step("registry", Some("127.0.0.1:5000/xtask-e2e"));
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn ci_under_github_actions_groups_steps_and_writes_summary_and_outputs() {
    let _engine = serial();
    let files = common::scratch(&[("summary.md", ""), ("output.txt", "")]);
    let (summary, output) = (files.join("summary.md"), files.join("output.txt"));
    let run = xtask(
        &repo_root(),
        &["ci"],
        &[
            DEBIAN,
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ],
    );
    run.assert_ok();
    for group in [
        "::group::pull debian:trixie-slim",
        "::group::lint the Dockerfile with hadolint + build lint, test, release in one bake",
        "::group::probe /healthz",
    ] {
        assert!(run.stdout.contains(group), "{group} missing:\n{}", run.stdout);
    }
    let summary = std::fs::read_to_string(summary).unwrap();
    assert!(
        summary.contains("| build lint, test, release in one bake |") && summary.contains("| total |"),
        "{summary}"
    );
    let output = std::fs::read_to_string(output).unwrap();
    assert!(output.contains("image=items-api:1.0.0") && output.contains("items-api:latest"), "{output}");
}

/// `ci` builds lint, test and release in one bake, which loads the release image even while the test stage
/// fails: under a tag of that run only, removed again. So a failing test suite leaves no image of the service at
/// all, and no release tag (its own image name: other tests hold items-api's tags).
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn ci_with_a_failing_test_tags_no_release_image() {
    let _engine = serial();
    let project = copy_template();
    edit(&project.join("xtask.toml"), "name = \"items-api\"", "name = \"xtask-ci-fails\"");
    std::fs::write(
        project.join("node-app/test/broken.test.js"),
        "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('fails on purpose', () => assert.equal(1, 2));\n",
    )
    .unwrap();
    common::git_commit(&project);
    let run = kit(&project, &["ci"]);
    run.assert_error("cannot build lint, test, release in one bake");
    assert!(!run.stderr.contains("==> tag ") && !run.stderr.contains("==> start "), "{}", run.stderr);
    assert_eq!(docker(&["images", "--quiet", "xtask-ci-fails"]), "", "ci left an image or a tag behind");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn the_kit_exits_with_dockers_status_and_names_the_step() {
    let _engine = serial();
    // A version never released: `docker run --pull=never` finds no image and exits 125.
    let project = copy_template();
    edit(&project.join("node-app/package.json"), "\"version\": \"1.0.0\"", "\"version\": \"9.9.9\"");
    common::git_commit(&project);
    let run = kit(&project, &["run"]);
    run.assert_error("cannot run items-api:9.9.9");
    assert!(run.stderr.contains("docker exited with status 125"), "{}", run.stderr);
    assert_eq!(run.status, 125, "the kit should exit with docker's status");
}
