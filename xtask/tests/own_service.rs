//! "Bring your own service": three small services of shapes the sample does not have, each built
//! with the template's Dockerfile unchanged and only xtask.toml adapted.
//! - plain-js: no lint script, listens on 8080, health on /health;
//! - ts-build: TypeScript compiled to dist/ by `npm run build`, port fixed in code (8081);
//! - needs-env: exits at boot unless GREETING is set ([smoke] env, never baked into the image).
//!
//! `inspect` is checked on each without an engine; with XTASK_E2E=1 each goes through stages,
//! test, release and smoke on the real engine (debian flavor).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{docker, git_commit, repo_root, scratch, xtask, Run};

const PLAIN_JS: &[(&str, &str)] = &[
    (
        "xtask.toml",
        "[image]\nname = \"plain-js\"\n[service]\nport = 8080\nhealth_path = \"/health\"\n",
    ),
    (
        "node-app/package.json",
        r#"{ "name": "plain-js", "version": "0.3.1", "main": "index.js", "scripts": { "test": "node --test" } }"#,
    ),
    (
        "node-app/index.js",
        "const http = require('node:http');\nconst port = Number(process.env.PORT || 8080);\nhttp.createServer((req, res) => {\n  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' });\n  res.end(req.url === '/health' ? 'ok' : 'not found');\n}).listen(port);\nprocess.on('SIGTERM', () => process.exit(0));\n",
    ),
    (
        "node-app/test/sum.test.js",
        "const test = require('node:test');\nconst assert = require('node:assert');\nconst fs = require('node:fs');\ntest('adds, and writes a coverage report into the tree', () => {\n  assert.strictEqual(1 + 1, 2);\n  fs.mkdirSync('coverage', { recursive: true });\n  fs.writeFileSync('coverage/summary.txt', 'all covered');\n});\n",
    ),
];

const TS_BUILD: &[(&str, &str)] = &[
    ("xtask.toml", "[image]\nname = \"ts-build\"\n[service]\nport = 8081\n"),
    (
        "node-app/package.json",
        r#"{ "name": "ts-build", "version": "2.0.0", "type": "module", "main": "dist/server.js",
  "scripts": { "build": "tsc", "start": "node dist/server.js", "test": "node --test dist/" },
  "devDependencies": { "typescript": "5.6.3", "@types/node": "20.17.6" } }"#,
    ),
    (
        "node-app/tsconfig.json",
        r#"{ "compilerOptions": { "target": "ES2022", "module": "NodeNext", "moduleResolution": "NodeNext", "outDir": "dist", "rootDir": "src", "strict": true, "types": ["node"] } }"#,
    ),
    (
        "node-app/src/server.ts",
        "import { createServer } from 'node:http';\nimport { status } from './status.js';\ncreateServer((req, res) => {\n  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' });\n  res.end(JSON.stringify(status(req.url ?? '')));\n}).listen(8081);\nprocess.on('SIGTERM', () => process.exit(0));\n",
    ),
    ("node-app/src/status.ts", "export function status(url: string): { url: string; ok: boolean } {\n  return { url, ok: url === '/healthz' };\n}\n"),
    (
        "node-app/src/status.test.ts",
        "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { status } from './status.js';\ntest('healthz is ok', () => assert.equal(status('/healthz').ok, true));\n",
    ),
];

const NEEDS_ENV: &[(&str, &str)] = &[
    ("xtask.toml", "[image]\nname = \"needs-env\"\n[smoke]\nenv = { GREETING = \"hello\" }\n"),
    (
        "node-app/package.json",
        r#"{ "name": "needs-env", "version": "1.2.3", "scripts": { "start": "node server.js", "test": "node --test" } }"#,
    ),
    (
        "node-app/server.js",
        "const http = require('node:http');\nif (!process.env.GREETING) {\n  console.error('GREETING must be set');\n  process.exit(1);\n}\nhttp.createServer((req, res) => {\n  res.writeHead(req.url === '/healthz' ? 200 : 404);\n  res.end(process.env.GREETING);\n}).listen(Number(process.env.PORT || 3000));\nprocess.on('SIGTERM', () => process.exit(0));\n",
    ),
    ("node-app/test/boot.test.js", "const test = require('node:test');\ntest('loads', () => {});\n"),
];

/// Lint and test read tracked files that developers' machines have and the old .dockerignore dropped: a
/// linter's ignore file and config, a log the tests parse, a reports/ folder of expected output.
const READS_DOTFILES: &[(&str, &str)] = &[
    ("xtask.toml", "[image]\nname = \"reads-dotfiles\"\n"),
    (
        "node-app/package.json",
        r#"{ "name": "reads-dotfiles", "version": "0.1.0", "main": "server.js",
  "scripts": { "lint": "node lint.js", "test": "node --test" } }"#,
    ),
    ("node-app/.gitignore", "node_modules\n*.tmp\n"),
    ("node-app/.editorconfig", "root = true\n"),
    ("node-app/.vscode/settings.json", "{}\n"),
    ("node-app/.env.example", "GREETING=hello\n"),
    (
        "node-app/lint.js",
        "const fs = require('node:fs');\nfor (const f of ['.gitignore', '.editorconfig', '.vscode/settings.json']) fs.readFileSync(f);\nconsole.log('lint read its configs');\n",
    ),
    ("node-app/server.js", "require('node:http').createServer((q, s) => s.end('ok')).listen(3000);\n"),
    ("node-app/test/fixtures/access.log", "GET /healthz 200\n"),
    ("node-app/reports/expected.txt", "1 request\n"),
    (
        "node-app/test/reads.test.js",
        "const test = require('node:test');\nconst assert = require('node:assert');\nconst fs = require('node:fs');\ntest('reads tracked fixtures and dotfiles', () => {\n  assert.match(fs.readFileSync('test/fixtures/access.log', 'utf8'), /200/);\n  assert.ok(fs.existsSync('reports/expected.txt') && fs.existsSync('.gitignore') && fs.existsSync('.env.example'));\n});\n",
    ),
];

/// The fixture with the template's Dockerfile and .dockerignore, unchanged, and a lockfile made by npm.
fn project(files: &[(&str, &str)]) -> PathBuf {
    let dir = scratch(files);
    let root = repo_root();
    std::fs::create_dir_all(dir.join("docker")).unwrap();
    std::fs::copy(root.join("docker/Dockerfile"), dir.join("docker/Dockerfile")).unwrap();
    std::fs::copy(root.join("node-app/.dockerignore"), dir.join("node-app/.dockerignore")).unwrap();
    let npm = Command::new("npm")
        .args(["install", "--package-lock-only", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(dir.join("node-app"))
        .output()
        .expect("npm on PATH");
    assert!(npm.status.success(), "npm install --package-lock-only: {}", String::from_utf8_lossy(&npm.stderr));
    dir
}

fn row<'a>(run: &'a Run, what: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.trim_start().starts_with(what))
        .unwrap_or_else(|| panic!("no {what} row:\n{}", run.stdout))
}

#[test]
fn inspect_reports_each_shape() {
    let plain = project(PLAIN_JS);
    let run = xtask(&plain, &["inspect"], &[]);
    run.assert_ok();
    assert!(row(&run, "lint script").contains("eslint skipped"), "{}", run.stdout);
    assert!(row(&run, "start").contains("node index.js (from \"main\")"), "{}", run.stdout);
    assert!(row(&run, "port").contains("8080"));
    assert!(row(&run, "health path").contains("/health"));
    assert!(row(&run, "build script").contains("ships the source"));

    let ts = project(TS_BUILD);
    let run = xtask(&ts, &["inspect"], &[]);
    run.assert_ok();
    assert!(
        row(&run, "build script").contains("tsc") && row(&run, "build script").contains("ships dist/"),
        "{}",
        run.stdout
    );
    assert!(row(&run, "start").contains("node dist/server.js (from start script)"), "{}", run.stdout);
    assert!(row(&run, "lockfile").contains("package-lock.json (v3)"));

    let env = project(NEEDS_ENV);
    let run = xtask(&env, &["inspect"], &[]);
    run.assert_ok();
    assert!(row(&run, "boot env").contains("GREETING"), "{}", run.stdout);
    assert!(row(&run, "start").contains("node server.js (from start script)"), "{}", run.stdout);
}

#[test]
fn inspect_and_builds_name_what_is_missing() {
    let dir = project(PLAIN_JS);
    std::fs::write(
        dir.join("node-app/package.json"),
        r#"{ "name": "plain-js", "version": "0.3.1", "scripts": { "start": "nodemon x.js" } }"#,
    )
    .unwrap();
    let run = xtask(&dir, &["inspect"], &[]);
    assert_ne!(run.status, 0);
    assert!(run.stderr.contains("[service] start"), "{}", run.stderr);
    xtask(&dir, &["test", "--dry-run"], &[]).assert_error("has no \"test\" script");
    xtask(&dir, &["release", "--dry-run"], &[]).assert_error("[service] start");
    std::fs::write(dir.join("xtask.toml"), "[service]\ntests = false\nstart = \"x.js\"\n").unwrap();
    let run = xtask(&dir, &["test", "--dry-run"], &[]);
    run.assert_ok();
    assert!(run.stderr.contains("has no tests"), "{}", run.stderr);
    std::fs::write(dir.join("node-app/yarn.lock"), "").unwrap();
    xtask(&dir, &["build", "--dry-run"], &[]).assert_error("two lockfiles, package-lock.json and yarn.lock");
    std::fs::remove_file(dir.join("node-app/package-lock.json")).unwrap();
    std::fs::write(dir.join("node-app/pnpm-lock.yaml"), "lockfileVersion: '9.0'\n").unwrap();
    std::fs::remove_file(dir.join("node-app/yarn.lock")).unwrap();
    xtask(&dir, &["build", "--dry-run"], &[]).assert_error("no \"packageManager\" field");
}

/// A committed service of xtask/tests/fixtures (its lockfile made by its own package manager) as node-app/, with
/// the template's Dockerfile and .dockerignore.
fn fixture(name: &str) -> PathBuf {
    let dir = scratch(&[("xtask.toml", &format!("[image]\nname = \"{name}\"\n"))]);
    common::copy_tree(&repo_root().join("xtask/tests/fixtures").join(name), &dir.join("node-app"));
    std::fs::create_dir_all(dir.join("docker")).unwrap();
    std::fs::copy(repo_root().join("docker/Dockerfile"), dir.join("docker/Dockerfile")).unwrap();
    std::fs::copy(repo_root().join("node-app/.dockerignore"), dir.join("node-app/.dockerignore")).unwrap();
    dir
}

#[test]
fn the_package_manager_comes_from_the_lockfile_and_package_json() {
    for (name, manager, version) in [
        ("pnpm-app", "pnpm", "10.34.8"),
        ("yarn-classic-app", "yarn", "1.22.22"),
        ("yarn-berry-app", "yarn-berry", "4.18.1"),
    ] {
        let dir = fixture(name);
        let run = xtask(&dir, &["inspect"], &[]);
        run.assert_ok();
        assert!(row(&run, "package manager").contains(&format!("{manager} {version}")), "{}", run.stdout);
        let run = xtask(&dir, &["build", "--dry-run"], &[]);
        let line = run.stdout.lines().find(|l| l.contains("buildx build")).unwrap_or_default();
        assert!(
            line.contains(&format!("PACKAGE_MANAGER={manager} --build-arg PACKAGE_MANAGER_VERSION={version}")),
            "{line}"
        );
    }
}

fn end_to_end(files: &[(&str, &str)], image: &str) -> PathBuf {
    let started = std::time::Instant::now();
    let dir = project(files);
    through_smoke(&dir, image);
    eprintln!("{image}: {:.1} s", started.elapsed().as_secs_f64());
    dir
}

/// stages, test, release and smoke on the real engine (debian flavor); smoke leaves no container.
fn through_smoke(dir: &Path, image: &str) {
    git_commit(dir);
    let env = [("XTASK_FLAVOR", "debian")];
    let stages = xtask(dir, &["stages"], &env);
    stages.assert_ok();
    assert!(stages.stdout.contains("release"), "{}", stages.stdout);
    xtask(dir, &["test"], &env).assert_ok();
    xtask(dir, &["release"], &env).assert_ok();
    let run = xtask(dir, &["smoke"], &env);
    run.assert_ok();
    assert!(run.stderr.contains("-> 200"), "{}", run.stderr);
    let ids = docker(&["ps", "--all", "--quiet", "--filter", &format!("name={image}-smoke-")]);
    assert!(ids.is_empty(), "smoke left containers: {ids}");
}

/// A pnpm or yarn service through test, release and smoke: its production dependency ships, its development one
/// and every package manager do not.
fn package_manager_end_to_end(name: &str) {
    let started = std::time::Instant::now();
    let dir = fixture(name);
    through_smoke(&dir, name);
    // The audit of the manager's own (here: the advisory service refuses it, a warning).
    xtask(&dir, &["lint"], &[("XTASK_FLAVOR", "debian")]).assert_ok();
    let image = format!("{name}:1.0.0");
    let found = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        &image,
        "-c",
        "ls node_modules; command -v npm pnpm yarn corepack; true",
    ]);
    let found: Vec<&str> = found.lines().collect();
    assert!(found.contains(&"ms") && !found.contains(&"is-number"), "{image}: {found:?}");
    assert!(!found.iter().any(|f| f.starts_with('/')), "{image} holds a package manager: {found:?}");
    // The SBOM release wrote lists what the manager installed for production.
    let sbom = std::fs::read_to_string(dir.join(format!("target/sbom/{name}-1.0.0.cdx.json"))).expect("an SBOM");
    let sbom: serde_json::Value = serde_json::from_str(&sbom).unwrap();
    let listed: Vec<&str> = sbom["components"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert!(listed.contains(&"ms") && !listed.contains(&"is-number"), "{name}'s SBOM lists {listed:?}");
    eprintln!("{name}: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_pnpm_service() {
    package_manager_end_to_end("pnpm-app");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_yarn_classic_service() {
    package_manager_end_to_end("yarn-classic-app");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_yarn_berry_service() {
    package_manager_end_to_end("yarn-berry-app");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn plain_js_without_lint_on_8080() {
    let dir = end_to_end(PLAIN_JS, "plain-js");
    let lint = xtask(&dir, &["lint", "--progress", "plain"], &[("XTASK_FLAVOR", "debian")]);
    lint.assert_ok();
    assert!(lint.stderr.contains("eslint skipped"), "{}", lint.stderr);
    assert_eq!(
        docker(&["image", "inspect", "--format", "{{json .Config.ExposedPorts}}", "plain-js:0.3.1"]),
        r#"{"8080/tcp":{}}"#
    );
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn typescript_with_a_build_step_ships_only_dist() {
    end_to_end(TS_BUILD, "ts-build");
    let files = docker(&["run", "--rm", "--entrypoint", "ls", "ts-build:2.0.0", "-A", "/app"]);
    let files: Vec<&str> = files.lines().collect();
    assert!(files.contains(&"dist") && files.contains(&"package.json"), "{files:?}");
    assert!(!files.contains(&"src") && !files.contains(&"tsconfig.json"), "the source shipped: {files:?}");
    let typescript = docker(&["run", "--rm", "--entrypoint", "ls", "ts-build:2.0.0", "/app/node_modules"]);
    assert!(!typescript.contains("typescript"), "a dev dependency shipped: {typescript}");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_service_that_needs_env_to_boot_gets_it_only_at_run_time() {
    end_to_end(NEEDS_ENV, "needs-env");
    let env = docker(&["image", "inspect", "--format", "{{json .Config.Env}}", "needs-env:1.2.3"]);
    assert!(!env.contains("GREETING"), "the boot env was baked into the image: {env}");
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn lockfiles_v1_v2_and_v3_all_build() {
    let dir = project(PLAIN_JS);
    git_commit(&dir);
    let lockfiles = [
        r#"{ "name": "plain-js", "version": "0.3.1", "lockfileVersion": 1, "requires": true }"#,
        r#"{ "name": "plain-js", "version": "0.3.1", "lockfileVersion": 2, "requires": true, "packages": { "": { "name": "plain-js", "version": "0.3.1" } } }"#,
        r#"{ "name": "plain-js", "version": "0.3.1", "lockfileVersion": 3, "requires": true, "packages": { "": { "name": "plain-js", "version": "0.3.1" } } }"#,
    ];
    for (version, lockfile) in lockfiles.iter().enumerate() {
        std::fs::write(dir.join("node-app/package-lock.json"), lockfile).unwrap();
        let run = xtask(&dir, &["build", "--stage", "test"], &[("XTASK_FLAVOR", "debian")]);
        assert_eq!(run.status, 0, "lockfile v{} failed:\n{}", version + 1, run.stderr);
    }
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn lint_and_test_see_the_tracked_files_the_service_reads() {
    let started = std::time::Instant::now();
    let dir = project(READS_DOTFILES);
    std::fs::write(dir.join("node-app/.env"), "SECRET=planted\n").unwrap();
    let env = [("XTASK_FLAVOR", "debian")];
    let lint = xtask(&dir, &["lint", "--progress", "plain"], &env);
    lint.assert_ok();
    assert!(lint.stderr.contains("lint read its configs"), "{}", lint.stderr);
    xtask(&dir, &["test"], &env).assert_ok();
    let files = docker(&["run", "--rm", "--entrypoint", "ls", "reads-dotfiles:test", "-A"]);
    assert!(!files.lines().any(|f| f == ".env"), "a secret reached the test stage: {files}");
    eprintln!("reads-dotfiles: {:.1} s", started.elapsed().as_secs_f64());
}

/// better-sqlite3 compiles its addon with node-gyp at install (no prebuilt binary can be downloaded on the CI
/// hosts): the compiler is in the install stage and not in release, and the addon runs in both. Slow (80–90 s).
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_native_module_compiles_in_the_install_stage_only() {
    let started = std::time::Instant::now();
    let dir = fixture("native-app");
    let run = xtask(&dir, &["inspect"], &[]);
    run.assert_ok();
    assert!(row(&run, "native modules").contains("better-sqlite3"), "{}", run.stdout);
    let dry = xtask(&dir, &["build", "--dry-run"], &[]);
    assert!(dry.stdout.contains("--build-arg NATIVE_TOOLCHAIN=1"), "{}", dry.stdout);
    through_smoke(&dir, "native-app");
    let tools = "for tool in g++ cc make python3; do command -v $tool; done; ls -d /usr/include/node 2>/dev/null; true";
    let release = docker(&["run", "--rm", "--entrypoint", "sh", "native-app:1.0.0", "-c", tools]);
    assert!(release.is_empty(), "the release image holds a compiler: {release}");
    let test = docker(&["run", "--rm", "--entrypoint", "sh", "native-app:test", "-c", tools]);
    assert!(
        test.contains("/g++") && test.contains("/make") && test.contains("/usr/include/node"),
        "no compiler: {test}"
    );
    eprintln!("native-app: {:.1} s", started.elapsed().as_secs_f64());
}
