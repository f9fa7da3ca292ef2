//! The working day on the real engine (XTASK_E2E=1, debian flavor): `shell` with commands piped in, in a good
//! stage and after a failing test stage, and on a real terminal (tmux); `dev` picking up edits without an image
//! build, rebuilding after a package.json change, its inspector on 127.0.0.1 only, its files the app user's, and
//! nothing left behind after Ctrl-C. Each test works on a copy of the template with an image name of its own.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_template, docker, docker_try, edit, git_commit, xtask, Run};

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
    xtask(&dir, &["build", "--stage", "release"], &[("XTASK_FLAVOR", "debian")]).assert_ok();
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

#[test]
fn dev_and_shell_dry_runs_print_what_they_would_run() {
    let dir = copy_template();
    let run = xtask(&dir, &["dev", "--dry-run"], &[("XTASK_FLAVOR", "debian")]);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("docker buildx build --file docker/Dockerfile --target dev"), "{}", run.stdout);
    assert!(lines[0].contains("--tag items-api:dev"), "{}", run.stdout);
    let context = format!("XTASK_DEV_CONTEXT={}", dir.join("node-app").display());
    for (line, tail) in
        [(lines[1], "up --abort-on-container-exit --exit-code-from app"), (lines[2], "down --remove-orphans")]
    {
        assert!(line.contains("XTASK_DEV_IMAGE=items-api:dev") && line.contains(&context), "{line}");
        assert!(
            line.contains("XTASK_DEV_PORT=3000 XTASK_DEV_INSPECT_PORT=9229 XTASK_DEV_START=src/server.js"),
            "{line}"
        );
        let compose = "docker compose --file docker/compose.dev.yaml --project-name items-api-dev ";
        assert!(line.ends_with(&format!("{compose}{tail}")), "{line}");
    }
    let run = xtask(&dir, &["shell", "--stage", "lint", "--dry-run"], &[]);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].contains("--target lint") && lines[0].contains("--tag items-api:lint"), "{}", run.stdout);
    let shell = "--entrypoint sh items-api:lint -c 'command -v bash >/dev/null && exec bash; exec sh'";
    assert!(lines[1].starts_with("docker run --rm --interactive --name items-api-shell-"), "{}", run.stdout);
    assert!(lines[1].ends_with(shell) && !lines[1].contains("--tty"), "{}", run.stdout);
    assert!(lines[2].starts_with("docker rm --force items-api-shell-"), "{}", run.stdout);

    // The service's own dev script, or xtask.toml's command, instead of node START.
    edit(
        &dir.join("node-app/package.json"),
        "\"scripts\": {",
        "\"scripts\": {\n    \"dev\": \"node --watch src/server.js\",",
    );
    let run = xtask(&dir, &["dev", "--dry-run"], &[]);
    assert!(run.stdout.contains("XTASK_DEV_COMMAND='npm run dev' docker compose"), "{}", run.stdout);
    std::fs::write(dir.join("xtask.toml"), "[dev]\ncommand = \"node src/server.js --verbose\"\ninspect_port = 9300\n")
        .unwrap();
    let run = xtask(&dir, &["dev", "--dry-run"], &[]);
    assert!(
        run.stdout.contains("XTASK_DEV_INSPECT_PORT=9300 XTASK_DEV_COMMAND='node src/server.js --verbose'"),
        "{}",
        run.stdout
    );
}

#[test]
fn dev_on_podman_is_one_clear_line() {
    let run = xtask(&common::repo_root(), &["--engine", "podman", "dev", "--dry-run"], &[]);
    run.assert_error(
        "dev runs the service beside Redis with docker compose, which podman on this host lacks; use --engine docker",
    );
}

/// `cargo xtask dev` running in a copy of the template, its output in a file; Ctrl-C'd (and its compose project
/// taken down) when dropped, should a test fail half way.
struct Dev {
    child: std::process::Child,
    log: PathBuf,
    project: String,
    port: &'static str,
}

/// The service port and the inspector port the copies use: not the defaults, which other tests and tools take.
const PORT: &str = "3917";
const INSPECT_PORT: &str = "9917";

impl Dev {
    fn start(dir: &Path, name: &str) -> Dev {
        let log = dir.join("dev.log");
        let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("dev")
            .current_dir(dir)
            .env("XTASK_FLAVOR", "debian")
            .env_remove("XTASK_ENGINE")
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.join("dev.err")).unwrap())
            .spawn()
            .unwrap();
        Dev { child, log, project: format!("{name}-dev"), port: PORT }
    }

    /// stdout and stderr so far.
    fn output(&self) -> String {
        let err = self.log.with_file_name("dev.err");
        std::fs::read_to_string(&self.log).unwrap_or_default() + &std::fs::read_to_string(err).unwrap_or_default()
    }

    /// Polls /healthz until its body holds `expected`; the time it took.
    fn wait_for(&mut self, expected: &str, seconds: u64) -> Duration {
        let started = Instant::now();
        loop {
            let body = Command::new("curl")
                .args(["-s", "--max-time", "2", &format!("http://127.0.0.1:{}/healthz", self.port)])
                .output()
                .expect("curl on PATH");
            if String::from_utf8_lossy(&body.stdout).contains(expected) {
                return started.elapsed();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("dev exited ({status}) before /healthz showed {expected:?}:\n{}", self.output());
            }
            assert!(
                started.elapsed() < Duration::from_secs(seconds),
                "no {expected:?} after {seconds} s:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn signal(&mut self, signal: &str) -> Option<i32> {
        let _ = Command::new("kill").args([&format!("-{signal}"), &self.child.id().to_string()]).status();
        self.child.wait().unwrap().code()
    }

    fn label(&self) -> String {
        format!("label=com.docker.compose.project={}", self.project)
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if self.child.try_wait().unwrap().is_none() {
            self.signal("INT");
        }
        let _ = docker_try(&["compose", "--project-name", &self.project, "down", "--remove-orphans"]);
    }
}

/// A copy of the template for `dev` on the test ports.
fn dev_project(name: &str) -> PathBuf {
    let dir = project(name);
    edit(&dir.join("xtask.toml"), "port = 3000", &format!("port = {PORT}"));
    edit(&dir.join("xtask.toml"), "inspect_port = 9229", &format!("inspect_port = {INSPECT_PORT}"));
    git_commit(&dir);
    dir
}

fn set_status(dir: &Path, status: &str) {
    let app = dir.join("node-app/src/app.js");
    let text = std::fs::read_to_string(&app).unwrap();
    let start = text.find("({ status: '").expect("the healthz route") + "({ status: '".len();
    let end = start + text[start..].find('\'').unwrap();
    std::fs::write(&app, format!("{}{status}{}", &text[..start], &text[end..])).unwrap();
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn dev_takes_ten_edits_without_a_build_inspector_on_loopback_files_the_users_and_ctrl_c_leaves_nothing() {
    let _engine = serial();
    let started = Instant::now();
    let dir = dev_project("xtask-dev");
    let mut dev = Dev::start(&dir, "xtask-dev");
    dev.wait_for("\"ok\"", 600);
    eprintln!("dev: first answer after {:.1} s", started.elapsed().as_secs_f64());
    let image = docker(&["image", "inspect", "--format", "{{.Id}}", "xtask-dev:dev"]);

    let mut times = Vec::new();
    for edit in 1..=10 {
        set_status(&dir, &format!("ok-edit-{edit}"));
        times.push(dev.wait_for(&format!("ok-edit-{edit}\""), 60).as_secs_f64());
        std::thread::sleep(Duration::from_millis(500));
    }
    times.sort_by(f64::total_cmp);
    eprintln!("dev: ten edits, each seen after (sorted, s): {times:.2?}; median {:.2} s", (times[4] + times[5]) / 2.0);
    assert_eq!(docker(&["image", "inspect", "--format", "{{.Id}}", "xtask-dev:dev"]), image, "the image changed");
    assert_eq!(dev.output().matches("==> build stage 'dev'").count(), 1, "built again:\n{}", dev.output());

    let container =
        docker(&["ps", "--quiet", "--filter", &dev.label(), "--filter", "label=com.docker.compose.service=app"]);
    let published = docker(&["port", &container, "9229/tcp"]);
    assert_eq!(published, format!("127.0.0.1:{INSPECT_PORT}"), "the inspector is published elsewhere too");
    let version = Command::new("curl").args(["-s", &format!("http://127.0.0.1:{INSPECT_PORT}/json/version")]).output();
    assert!(String::from_utf8_lossy(&version.unwrap().stdout).contains("node.js"), "no inspector on the port");

    // A file the service writes, and the source copied in, are the image's user's.
    edit(
        &dir.join("node-app/src/app.js"),
        "import Fastify from 'fastify';",
        "import Fastify from 'fastify';\nimport { writeFileSync } from 'node:fs';\nwriteFileSync('written-in-dev.txt', 'x');",
    );
    set_status(&dir, "ok-writes");
    dev.wait_for("ok-writes", 60);
    let owners = docker(&["exec", &container, "stat", "-c", "%U %u", "/app/written-in-dev.txt", "/app/src/app.js"]);
    assert_eq!(owners.lines().collect::<Vec<_>>(), ["app 10001", "app 10001"], "{owners}");

    let twin = xtask(&dir, &["dev"], &[("XTASK_FLAVOR", "debian")]);
    twin.assert_error("dev is already running for this project (compose project xtask-dev-dev)");

    let status = dev.signal("INT");
    assert_eq!(status, Some(130), "{}", dev.output());
    assert_eq!(containers(&dev.label()), 0, "containers left after Ctrl-C");
    assert!(docker(&["network", "ls", "--quiet", "--filter", &dev.label()]).is_empty(), "a network left after Ctrl-C");
    assert!(!docker(&["volume", "ls", "--quiet", "--filter", &dev.label()]).is_empty(), "the Redis volume is gone");
    eprintln!("dev, ten edits and the rest: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn dev_rebuilds_when_package_json_adds_a_dependency_the_code_then_imports() {
    let _engine = serial();
    let started = Instant::now();
    let dir = dev_project("xtask-dev-deps");
    let mut dev = Dev::start(&dir, "xtask-dev-deps");
    dev.wait_for("\"ok\"", 600);
    // kleur: small, no dependencies of its own, not in the sample's lockfile.
    let npm = Command::new("npm")
        .args(["install", "--package-lock-only", "--no-audit", "--no-fund", "kleur@4.1.5"])
        .current_dir(dir.join("node-app"))
        .output()
        .expect("npm on PATH");
    assert!(npm.status.success(), "npm install --package-lock-only: {}", String::from_utf8_lossy(&npm.stderr));
    edit(
        &dir.join("node-app/src/app.js"),
        "import Fastify from 'fastify';",
        "import Fastify from 'fastify';\nimport kleur from 'kleur';",
    );
    set_status(&dir, "ok-' + typeof kleur.red + '");
    dev.wait_for("ok-function", 600);
    assert!(dev.output().contains("building the dev image again"), "{}", dev.output());
    assert_eq!(dev.output().matches("==> build stage 'dev'").count(), 2, "{}", dev.output());
    assert_eq!(dev.signal("TERM"), Some(143));
    assert_eq!(containers(&dev.label()), 0, "containers left after SIGTERM");
    eprintln!("dev, a dependency added: {:.1} s", started.elapsed().as_secs_f64());
}

/// A TypeScript service (as in own_service.rs), compiled by `npm run build` (tsc) into dist/, listening on PORT, with
/// a dev script that watches for itself: `tsc --watch` and `node --watch`.
const TYPESCRIPT: &[(&str, &str)] = &[
    ("xtask.toml", "[image]\nname = \"xtask-dev-ts\"\n[service]\nport = 3919\n[dev]\ninspect_port = 9919\n"),
    (
        "node-app/package.json",
        r#"{ "name": "xtask-dev-ts", "version": "2.0.0", "type": "module", "main": "dist/server.js",
  "scripts": { "build": "tsc", "start": "node dist/server.js", "test": "node --test dist/",
    "dev": "tsc --watch --preserveWatchOutput & until [ -f dist/server.js ]; do sleep 0.2; done; exec node --inspect=0.0.0.0:9229 --watch dist/server.js" },
  "devDependencies": { "typescript": "5.6.3", "@types/node": "20.17.6" } }"#,
    ),
    (
        "node-app/tsconfig.json",
        r#"{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "outDir": "dist", "rootDir": "src", "strict": true, "types": ["node"] } }"#,
    ),
    (
        "node-app/src/server.ts",
        "import { createServer } from 'node:http';\nimport { mark } from './mark.js';\ncreateServer((req, res) => {\n  res.writeHead(200, { 'content-type': 'application/json' });\n  res.end(JSON.stringify({ status: mark }));\n}).listen(Number(process.env.PORT ?? 3000));\nprocess.on('SIGTERM', () => process.exit(0));\n",
    ),
    ("node-app/src/mark.ts", "export const mark: string = 'ok';\n"),
];

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn dev_takes_ten_edits_of_a_typescript_service_through_its_own_watching_dev_script() {
    let _engine = serial();
    let started = Instant::now();
    let dir = common::scratch(TYPESCRIPT);
    let root = common::repo_root();
    std::fs::create_dir_all(dir.join("docker")).unwrap();
    for file in ["Dockerfile", "compose.dev.yaml", "dev-watch.mjs"] {
        std::fs::copy(root.join("docker").join(file), dir.join("docker").join(file)).unwrap();
    }
    std::fs::copy(root.join("node-app/.dockerignore"), dir.join("node-app/.dockerignore")).unwrap();
    let npm = Command::new("npm")
        .args(["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(dir.join("node-app"))
        .output()
        .expect("npm on PATH");
    assert!(npm.status.success(), "npm install --package-lock-only: {}", String::from_utf8_lossy(&npm.stderr));
    let mut dev = Dev::start(&dir, "xtask-dev-ts");
    dev.port = "3919";
    dev.wait_for("\"ok\"", 600);
    let image = docker(&["image", "inspect", "--format", "{{.Id}}", "xtask-dev-ts:dev"]);
    let mut times = Vec::new();
    for edit in 1..=10 {
        std::fs::write(dir.join("node-app/src/mark.ts"), format!("export const mark: string = 'ts-edit-{edit}';\n"))
            .unwrap();
        times.push(dev.wait_for(&format!("ts-edit-{edit}\""), 120).as_secs_f64());
        std::thread::sleep(Duration::from_millis(500));
    }
    times.sort_by(f64::total_cmp);
    eprintln!("dev, TypeScript: ten edits, each seen after (sorted, s): {times:.2?}");
    assert_eq!(docker(&["image", "inspect", "--format", "{{.Id}}", "xtask-dev-ts:dev"]), image, "the image changed");
    assert_eq!(dev.output().matches("==> build stage 'dev'").count(), 1, "built again:\n{}", dev.output());
    assert_eq!(dev.signal("INT"), Some(130));
    assert_eq!(containers(&dev.label()), 0, "containers left after Ctrl-C");
    eprintln!("dev, TypeScript, ten edits: {:.1} s", started.elapsed().as_secs_f64());
}
