//! `release --push` against a real registry with password auth: Debian's docker-registry on a free
//! loopback port with an htpasswd file, `docker login` with a test account (in a DOCKER_CONFIG of
//! the test's own), push, pull back by tag and by digest, the refusal to overwrite a released
//! version, `--force`, a retried push, and a wrong password.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{copy_template, edit, scratch, xtask, Run};

struct Registry {
    child: Child,
    address: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_registry(dir: &Path) -> Registry {
    let htpasswd = Command::new("htpasswd")
        .args(["-Bbn", "tester", "s3cret-pass"])
        .output()
        .expect("htpasswd (apache2-utils) on PATH");
    assert!(htpasswd.status.success());
    std::fs::write(dir.join("htpasswd"), &htpasswd.stdout).unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let address = format!("127.0.0.1:{port}");
    let config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\nauth:\n  htpasswd:\n    realm: xtask-test\n    path: {}\n",
        dir.join("data").display(),
        dir.join("htpasswd").display()
    );
    std::fs::write(dir.join("config.yml"), config).unwrap();
    let child = Command::new("docker-registry")
        .args(["serve", dir.join("config.yml").to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (Debian package docker-registry) on PATH");
    let registry = Registry { child, address };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&registry.address).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    registry
}

/// docker with the test's own client config (credentials), so the host's login state is untouched.
fn docker_as(config: &Path, args: &[&str], stdin: Option<&str>) -> Run {
    let mut command = Command::new("docker");
    command.args(args).env("DOCKER_CONFIG", config).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn remote_digest(config: &Path, reference: &str) -> String {
    let run =
        docker_as(config, &["buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", reference], None);
    run.assert_ok();
    let manifest: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    manifest["digest"].as_str().unwrap().to_string()
}

#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn push_pull_back_and_never_overwrite_a_release() {
    let state = scratch(&[]);
    let registry = start_registry(&state);
    let config = state.join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let address = registry.address.as_str();

    // A wrong password is a clear error from docker login, and the kit cannot push without a login.
    let wrong = docker_as(&config, &["login", address, "--username", "tester", "--password-stdin"], Some("wrong"));
    assert_ne!(wrong.status, 0);
    assert!(wrong.stderr.to_lowercase().contains("unauthorized"), "{}", wrong.stderr);

    let project = copy_template();
    edit(&project.join("xtask.toml"), "registry = \"\"", &format!("registry = \"{address}/team\""));
    let env = [("XTASK_FLAVOR", "debian"), ("DOCKER_CONFIG", config.to_str().unwrap())];
    let kit = |args: &[&str]| xtask(&project, args, &env);
    kit(&["release", "--push"]).assert_error("cannot ask the registry about");

    let login =
        docker_as(&config, &["login", address, "--username", "tester", "--password-stdin"], Some("s3cret-pass"));
    login.assert_ok();
    let pushed = kit(&["release", "--push"]);
    pushed.assert_ok();
    let version = format!("{address}/team/items-api:1.0.0");
    let digest = remote_digest(&config, &version);
    for tag in ["1.0", "1", "latest"] {
        assert_eq!(remote_digest(&config, &format!("{address}/team/items-api:{tag}")), digest, "tag {tag}");
    }

    // Pull back by tag and by digest, after removing the local copy.
    docker_as(&config, &["image", "rm", "--force", &version], None);
    docker_as(&config, &["pull", &version], None).assert_ok();
    docker_as(&config, &["pull", &format!("{address}/team/items-api@{digest}")], None).assert_ok();

    // The same image again: a retried push passes and changes nothing.
    kit(&["release", "--push"]).assert_ok();
    assert_eq!(remote_digest(&config, &version), digest);

    // Another image under the same version is refused, and the registry keeps the released one.
    std::fs::write(project.join("node-app/src/changed.js"), "export const changed = true;\n").unwrap();
    kit(&["release", "--push"]).assert_error("is already in the registry with digest");
    assert_eq!(remote_digest(&config, &version), digest, "the released version was overwritten");

    // --force overwrites on purpose.
    kit(&["release", "--push", "--force"]).assert_ok();
    assert_ne!(remote_digest(&config, &version), digest, "--force did not push the new image");
}
