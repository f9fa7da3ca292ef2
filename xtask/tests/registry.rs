//! A private npm registry that requires a token: verdaccio (installed by .ci/run from the npm registry, its path in
//! XTASK_VERDACCIO), holding `@acme/greet` under a scope only authenticated users may read. A service depends on it
//! through its own .npmrc (`@acme:registry=…` and `_authToken=${NPM_TOKEN}`).
//!
//! The registry listens on the engine's bridge gateway (docker0's address: on this host, not on its outside interface),
//! where the host publishes and build steps install as they would from any registry on the network. One on the host's
//! loopback only (verdaccio listens on one address) would need `RUN --network=host` and the `network.host`
//! entitlement, and every team's install steps would then share the host's network: the kit does not ask for that.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{docker, docker_try, git_commit, repo_root, scratch, xtask, Run};

struct Registry {
    child: Child,
    /// The bridge gateway's address and port, as build steps reach it: `172.17.0.1:4873`.
    gateway: String,
    token: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(program: &str, args: &[&str], dir: &Path, env: &[(&str, &str)]) -> String {
    let output = Command::new(program).args(args).current_dir(dir).envs(env.iter().copied()).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{program} {args:?}: {text}{}", String::from_utf8_lossy(&output.stderr));
    text
}

/// verdaccio with a user and `@acme/greet@1.0.0` published, `@acme/*` readable only with a token.
fn start_registry() -> Registry {
    let verdaccio = std::env::var("XTASK_VERDACCIO")
        .expect("XTASK_VERDACCIO: the path of the verdaccio program (.ci/run installs it from the npm registry)");
    let ip = docker(&["network", "inspect", "bridge", "--format", "{{(index .IPAM.Config 0).Gateway}}"]);
    let port = std::net::TcpListener::bind((ip.as_str(), 0)).unwrap().local_addr().unwrap().port();
    let dir = scratch(&[(
        "config.yaml",
        &format!(
            "storage: ./storage\nauth:\n  htpasswd:\n    file: ./htpasswd\nuplinks: {{}}\npackages:\n  '@acme/*':\n    access: $authenticated\n    publish: $authenticated\n  '**':\n    access: $all\n    publish: $authenticated\nlisten: {ip}:{port}\nlog: {{ type: stdout, format: pretty, level: warn }}\n"
        ),
    )]);
    let child = Command::new(&verdaccio)
        .args(["--config", dir.join("config.yaml").to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {verdaccio}: {err}"));
    let local = format!("http://{ip}:{port}");
    let started = Instant::now();
    while Command::new("curl")
        .args(["-sf", &format!("{local}/-/ping")])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(started.elapsed() < Duration::from_secs(60), "verdaccio did not answer on {local}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let user = r#"{"name":"ci","password":"ci-password-1"}"#;
    let created = run(
        "curl",
        &[
            "-sf",
            "-X",
            "PUT",
            "-H",
            "content-type: application/json",
            "-d",
            user,
            &format!("{local}/-/user/org.couchdb.user:ci"),
        ],
        &dir,
        &[],
    );
    let token = serde_json::from_str::<serde_json::Value>(&created).unwrap()["token"].as_str().unwrap().to_string();
    let unauthenticated =
        run("curl", &["-s", "-o", "/dev/null", "-w", "%{http_code}", &format!("{local}/@acme%2fgreet")], &dir, &[]);
    let package = scratch(&[
        ("package.json", r#"{ "name": "@acme/greet", "version": "1.0.0", "main": "index.js" }"#),
        ("index.js", "module.exports = (name) => `hello ${name}`;\n"),
    ]);
    // Outside the package: npm publish would pack it.
    let userconfig = dir.join("publish.npmrc");
    std::fs::write(&userconfig, format!("//{ip}:{port}/:_authToken={token}\n")).unwrap();
    run("npm", &["publish", "--registry", &local, "--userconfig", userconfig.to_str().unwrap()], &package, &[]);
    let registry = Registry { child, gateway: format!("{ip}:{port}"), token };
    assert_eq!(unauthenticated.trim(), "401", "the scope must need a token");
    registry
}

/// A service depending on `@acme/greet` from the registry, its lockfile made by npm with the token.
fn service(registry: &Registry) -> PathBuf {
    // A fresh description each run: the install steps run again, with the secrets (which are no part of the key).
    let nonce = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    let gateway = &registry.gateway;
    let dir = scratch(&[
        ("xtask.toml", "[image]\nname = \"private-dep\"\n"),
        (
            "node-app/package.json",
            &format!(
                r#"{{ "name": "private-dep", "version": "1.0.0", "description": "run {nonce}", "main": "server.js",
  "scripts": {{ "test": "node --test" }}, "dependencies": {{ "@acme/greet": "1.0.0" }} }}"#
            ),
        ),
        ("node-app/.npmrc", &format!("@acme:registry=http://{gateway}/\n//{gateway}/:_authToken=${{NPM_TOKEN}}\n")),
        (
            "node-app/server.js",
            "const greet = require('@acme/greet');\nrequire('node:http').createServer((q, s) => s.end(greet('world'))).listen(3000);\nprocess.on('SIGTERM', () => process.exit(0));\n",
        ),
        (
            "node-app/test/greet.test.js",
            "const test = require('node:test');\nconst assert = require('node:assert');\ntest('greets', () => assert.strictEqual(require('@acme/greet')('x'), 'hello x'));\n",
        ),
    ]);
    std::fs::create_dir_all(dir.join("docker")).unwrap();
    std::fs::copy(repo_root().join("docker/Dockerfile"), dir.join("docker/Dockerfile")).unwrap();
    std::fs::copy(repo_root().join("node-app/.dockerignore"), dir.join("node-app/.dockerignore")).unwrap();
    let args = ["install", "--package-lock-only", "--no-audit", "--no-fund"];
    run("npm", &args, &dir.join("node-app"), &[("NPM_TOKEN", &registry.token)]);
    git_commit(&dir);
    dir
}

/// Whether `token` is anywhere in `run`'s output.
fn leaks(run: &Run, token: &str) -> bool {
    run.stdout.contains(token) || run.stderr.contains(token)
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_private_registry_token_reaches_the_install_steps_and_nothing_else() {
    let started = Instant::now();
    let registry = start_registry();
    let dir = service(&registry);
    let token = registry.token.as_str();
    let gateway = &registry.gateway;

    // No token: one error before any build, naming the registry and the setting.
    let run = xtask(&dir, &["test"], &[("XTASK_FLAVOR", "debian")]);
    run.assert_error(&format!("authenticates to //{gateway}/ with ${{NPM_TOKEN}}, and NPM_TOKEN is not set"));
    assert!(run.stderr.contains("[build] npmrc"), "{}", run.stderr);

    // A token the registry rejects: the install step says which registry refused it and what to set.
    let run =
        xtask(&dir, &["test", "--progress", "plain"], &[("XTASK_FLAVOR", "debian"), ("NPM_TOKEN", "not-a-token")]);
    run.assert_error("cannot build stage 'test'");
    assert!(
        run.stderr.contains(&format!(
            "xtask: the registry http://{gateway}/ refused the install (401/403): export NPM_TOKEN"
        )),
        "{}",
        run.stderr
    );

    // The token: a secret, never an argument.
    let env = [("XTASK_FLAVOR", "debian"), ("NPM_TOKEN", token)];
    let dry = xtask(&dir, &["release", "--dry-run"], &env);
    dry.assert_ok();
    assert!(dry.stdout.contains("--secret id=npm_token,env=NPM_TOKEN"), "{}", dry.stdout);
    assert!(!leaks(&dry, token), "the token is in the dry-run output");
    for (command, image) in [("test", "private-dep:test"), ("release", "private-dep:1.0.0")] {
        let run = xtask(&dir, &[command, "--cache", "local", "--progress", "plain"], &env);
        run.assert_ok();
        assert!(!leaks(&run, token), "the token is in the output of {command}");
        let history = docker(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]);
        let config = docker(&["image", "inspect", image]);
        assert!(!history.contains(token) && !config.contains(token), "{image}: the token is in its history or config");
        let files = docker_try(&[
            "run",
            "--rm",
            "--user",
            "0",
            "--entrypoint",
            "sh",
            image,
            "-c",
            &format!("grep -rIl -e '{token}' / --exclude-dir=proc --exclude-dir=sys 2>/dev/null; true"),
        ]);
        assert_eq!(files.as_deref(), Some(""), "{image} holds the token in files");
    }
    // The build cache the two builds exported (compressed layers: each blob unpacked where it is gzip).
    let cache = dir.join("target/buildcache");
    let found = Command::new("sh")
        .args([
            "-c",
            &format!(
                "for f in $(find '{}' -type f); do zcat -f \"$f\" | grep -qaF -e '{token}' && echo \"$f\"; done; true",
                cache.display()
            ),
        ])
        .output()
        .unwrap();
    assert!(cache.join("test/index.json").is_file(), "no cache was exported to {}", cache.display());
    assert!(found.stdout.is_empty(), "the token is in the exported cache: {}", String::from_utf8_lossy(&found.stdout));
    let smoke = xtask(&dir, &["smoke"], &env);
    smoke.assert_ok();

    // The token from a file instead ([build] npmrc / XTASK_NPMRC), with no ${NPM_TOKEN} in the service's .npmrc.
    std::fs::write(dir.join("node-app/.npmrc"), format!("@acme:registry=http://{gateway}/\n")).unwrap();
    let user_npmrc = dir.join("user.npmrc");
    std::fs::write(&user_npmrc, format!("//{gateway}/:_authToken={token}\n")).unwrap();
    common::edit(&dir.join("node-app/package.json"), "\"run ", "\"from a file, run ");
    let env = [("XTASK_FLAVOR", "debian"), ("XTASK_NPMRC", user_npmrc.to_str().unwrap())];
    let run = xtask(&dir, &["build", "--stage", "dependencies"], &env);
    run.assert_ok();
    eprintln!("private registry test: {:.1} s", started.elapsed().as_secs_f64());
}
