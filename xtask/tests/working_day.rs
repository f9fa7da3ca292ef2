//! The working day on the real engine (XTASK_E2E=1, debian flavor): `shell` with commands piped in, in a good
//! stage and after a failing test stage, and on a real terminal (tmux); `dev` picking up edits without an image
//! build, rebuilding after a package.json change, its inspector on 127.0.0.1 only, its files the app user's, and
//! nothing left behind after Ctrl-C. Each test works on a copy of the template with an image name of its own.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_template, docker, edit, git_commit, Run};

/// One at a time: they share the engine, its build cache and the dev ports.
static ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ENGINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A copy of the template whose images are called `name`.
fn project(name: &str) -> PathBuf {
    let dir = copy_template();
    edit(&dir.join("xtask.toml"), "name = \"items-api\"", &format!("name = \"{name}\""));
    git_commit(&dir);
    dir
}

/// The built xtask in `dir` on the debian flavor, `stdin` piped in.
fn kit_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env("XTASK_FLAVOR", "debian")
        .env_remove("XTASK_ENGINE")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn containers(filter: &str) -> usize {
    docker(&["ps", "--all", "--quiet", "--filter", filter]).lines().count()
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let value = f();
    eprintln!("{what}: {:.1} s", started.elapsed().as_secs_f64());
    value
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn shell_runs_piped_commands_as_the_stages_user_in_its_folder() {
    let _engine = serial();
    let dir = project("xtask-shell");
    timed("shell, test and release stages", || {
        let run = kit_with_stdin(&dir, &["shell"], "id -u; pwd; command -v npm\n");
        run.assert_ok();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines[..2], ["0", "/app"], "{}", run.stdout);
        assert!(lines.get(2).is_some_and(|l| l.ends_with("/npm")), "no npm in the test stage: {}", run.stdout);

        let run = kit_with_stdin(&dir, &["shell", "--stage", "release"], "id -u; pwd; command -v npm || echo no-npm\n");
        run.assert_ok();
        assert_eq!(run.stdout.lines().collect::<Vec<_>>(), ["10001", "/app", "no-npm"], "{}", run.stdout);
        // The shell's own status comes back.
        let run = kit_with_stdin(&dir, &["shell", "--stage", "release"], "exit 7\n");
        assert_eq!(run.status, 7, "{}", run.stderr);
    });
    assert_eq!(containers("name=xtask-shell-shell-"), 0, "a shell container was left behind");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn shell_after_a_failing_test_stage_opens_in_its_parent_with_the_command() {
    let _engine = serial();
    let dir = project("xtask-shell-broken");
    // Only the failing test, so that the test stage fails in seconds.
    for test in std::fs::read_dir(dir.join("node-app/test")).unwrap() {
        let path = test.unwrap().path();
        if path.to_string_lossy().ends_with(".test.js") {
            std::fs::remove_file(path).unwrap();
        }
    }
    std::fs::write(
        dir.join("node-app/test/broken.test.js"),
        "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('fails on purpose', () => assert.equal(1, 2));\n",
    )
    .unwrap();
    git_commit(&dir);
    let run = timed("shell after a failing test stage", || {
        kit_with_stdin(&dir, &["shell"], "node --test test/broken.test.js >/dev/null 2>&1; echo status=$?; id -u\n")
    });
    run.assert_ok();
    assert!(run.stderr.contains("stage 'test' failed in its own steps"), "{}", run.stderr);
    assert!(run.stderr.contains("this shell is xtask-shell-broken:build"), "{}", run.stderr);
    assert!(run.stderr.contains("ready to run:\n    npm test"), "{}", run.stderr);
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), ["status=1", "0"], "{}", run.stdout);
    assert_eq!(containers("name=xtask-shell-broken-shell-"), 0, "a shell container was left behind");
}

/// tmux: `send-keys`, then the pane's text once it holds `expected` (or panics after `seconds`).
fn tmux_wait(session: &str, expected: &str, seconds: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let pane = Command::new("tmux").args(["capture-pane", "-p", "-t", session]).output().unwrap();
        let pane = String::from_utf8_lossy(&pane.stdout).into_owned();
        if pane.contains(expected) {
            return pane;
        }
        assert!(Instant::now() < deadline, "no {expected:?} in the terminal after {seconds} s:\n{pane}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn shell_on_a_terminal_is_interactive_and_leaves_nothing() {
    let _engine = serial();
    let dir = project("xtask-shell-tty");
    // Built first, so the terminal only waits for the shell.
    common::xtask(&dir, &["build", "--stage", "release"], &[("XTASK_FLAVOR", "debian")]).assert_ok();
    let session = format!("xtask-shell-{}", std::process::id());
    let command = format!(
        "cd {} && XTASK_FLAVOR=debian {} shell --stage release; echo kit-exited-$?; sleep 60",
        dir.display(),
        env!("CARGO_BIN_EXE_xtask")
    );
    let status = Command::new("tmux")
        .args(["new-session", "-d", "-s", &session, "-x", "150", "-y", "40", &command])
        .status()
        .expect("tmux on PATH");
    assert!(status.success());
    let result = std::panic::catch_unwind(|| {
        tmux_wait(&session, "==> open a shell in xtask-shell-tty:release", 60);
        let keys = |keys: &str| Command::new("tmux").args(["send-keys", "-t", &session, keys, "Enter"]).status();
        keys("echo tty=$(tty) user=$(id -u)").unwrap();
        let pane = tmux_wait(&session, "user=10001", 20);
        assert!(pane.contains("tty=/dev/pts/"), "no terminal in the container:\n{pane}");
        keys("exit").unwrap();
        tmux_wait(&session, "kit-exited-0", 20);
    });
    let _ = Command::new("tmux").args(["kill-session", "-t", &session]).status();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(containers("name=xtask-shell-tty-shell-"), 0, "a shell container was left behind");
}
