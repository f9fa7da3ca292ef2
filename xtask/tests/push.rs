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

/// cosign, with `env` (COSIGN_PASSWORD) and DOCKER_CONFIG; panics with its stderr on failure.
fn cosign(dir: &Path, args: &[&str], env: &[(&str, &str)]) {
    let output = Command::new("cosign").args(args).envs(env.iter().copied()).current_dir(dir).output().expect("cosign");
    assert!(output.status.success(), "cosign {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// (name, version) of every package `npm ls --omit=dev --all --json` lists under `dir`, the root left out.
fn npm_ls(dir: &Path) -> std::collections::BTreeSet<(String, String)> {
    let output = Command::new("npm").args(["ls", "--omit=dev", "--all", "--json"]).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "npm ls: {}", String::from_utf8_lossy(&output.stderr));
    fn walk(tree: &serde_json::Value, found: &mut std::collections::BTreeSet<(String, String)>) {
        for (name, entry) in tree["dependencies"].as_object().into_iter().flatten() {
            if let Some(version) = entry["version"].as_str() {
                found.insert((name.clone(), version.to_string()));
            }
            walk(entry, found);
        }
    }
    let mut found = std::collections::BTreeSet::new();
    walk(&serde_json::from_slice(&output.stdout).unwrap(), &mut found);
    found
}

/// `release --push --sign` and `verify`, for real, against the password-protected registry with cosign from
/// Debian's packages and a key pair with a password: the SBOM validates against CycloneDX's schema, lists what
/// `npm ls` finds in the image's node_modules and what dpkg says is installed; verify passes, and passes again
/// after a retried release (same digest); a wrong key fails; another image pushed under the tag fails, while
/// the signed digest still verifies. Neither the password nor the private key shows in any output or in the
/// image.
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine, cosign, npm and check-jsonschema)")]
fn signed_release_with_sbom_verifies_until_the_tag_moves() {
    let state = scratch(&[]);
    let registry = start_registry(&state);
    let config = state.join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let address = registry.address.as_str();
    docker_as(&config, &["login", address, "--username", "tester", "--password-stdin"], Some("s3cret-pass"))
        .assert_ok();
    let password = "key-pass-7Qx2";
    for keys in ["keys", "other"] {
        std::fs::create_dir_all(state.join(keys)).unwrap();
        cosign(&state.join(keys), &["generate-key-pair"], &[("COSIGN_PASSWORD", password)]);
    }
    let (key, other) = (state.join("keys/cosign.key"), state.join("other/cosign.pub"));

    let project = copy_template();
    edit(&project.join("xtask.toml"), "registry = \"\"", &format!("registry = \"{address}/team\""));
    edit(&project.join("xtask.toml"), "\nkey = \"\"", &format!("\nkey = \"{}\"", key.display()));
    let config_dir = config.to_str().unwrap();
    let mut runs = Vec::new();
    let mut kit = |args: &[&str], extra: &[(&str, &str)]| {
        let env = [&[("XTASK_FLAVOR", "debian"), ("DOCKER_CONFIG", config_dir), ("COSIGN_PASSWORD", password)], extra];
        let run = xtask(&project, args, &env.concat());
        runs.push(format!("{}{}", run.stdout, run.stderr));
        run
    };

    let dry = kit(&["release", "--push", "--sign", "--dry-run"], &[]);
    dry.assert_ok();
    assert!(dry.stdout.contains(&format!("--key {} ", key.display())), "{}", dry.stdout);
    let released = kit(&["release", "--push", "--sign"], &[]);
    released.assert_ok();
    let version = format!("{address}/team/items-api:1.0.0");
    let digest = remote_digest(&config, &version);
    let sbom_line = released.stdout.lines().find_map(|l| l.strip_prefix("sbom: ")).expect("the SBOM's path");
    let sbom_path = sbom_line.split(" (").next().unwrap();
    assert!(sbom_path.ends_with("target/sbom/items-api-1.0.0.cdx.json"), "{sbom_line}");
    let sbom: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(sbom_path).unwrap()).unwrap();

    // CycloneDX's own JSON schema, from the CycloneDX library's npm package (pinned), checked by check-jsonschema.
    let schemas = state.join("schema");
    std::fs::create_dir_all(&schemas).unwrap();
    let pack = ["pack", "--silent", "@cyclonedx/cyclonedx-library@10.3.0", "--pack-destination"];
    assert!(Command::new("npm").args(pack).arg(&schemas).stdout(Stdio::null()).status().unwrap().success());
    let tgz = schemas.join("cyclonedx-cyclonedx-library-10.3.0.tgz");
    assert!(Command::new("tar").arg("xzf").arg(&tgz).arg("-C").arg(&schemas).status().unwrap().success());
    let dir = schemas.join("package/res/schema");
    let check = Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(dir.join("bom-1.6.SNAPSHOT.schema.json"))
        .arg("--base-uri")
        .arg(format!("file://{}/", dir.display()))
        .arg(sbom_path)
        .output()
        .expect("check-jsonschema (PyPI) on PATH");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));

    // Its npm packages are what `npm ls` finds in the image's own node_modules (the image has no npm: the
    // files are copied out), and its deb packages what the image's dpkg says is installed.
    let exported = state.join("exported");
    std::fs::create_dir_all(&exported).unwrap();
    let container = format!("xtask-push-sbom-{}", std::process::id());
    docker_as(&config, &["create", "--name", &container, &version], None).assert_ok();
    let copied =
        docker_as(&config, &["cp", &format!("{container}:/app"), exported.join("app").to_str().unwrap()], None);
    docker_as(&config, &["rm", "--force", &container], None);
    copied.assert_ok();
    let listed = |kind: &str| -> std::collections::BTreeSet<(String, String)> {
        let components = sbom["components"].as_array().unwrap().iter();
        let of_kind = components.filter(|c| c["purl"].as_str().is_some_and(|p| p.starts_with(&format!("pkg:{kind}/"))));
        of_kind
            .map(|c| {
                let group = c["group"].as_str().map(|g| format!("{g}/")).unwrap_or_default();
                (format!("{group}{}", c["name"].as_str().unwrap()), c["version"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let mut npm = listed("npm");
    assert!(npm.remove(&("items-api".to_string(), "1.0.0".to_string())), "the service itself is a component");
    let in_image = npm_ls(&exported.join("app"));
    assert!(in_image.len() > 20, "{in_image:?}");
    assert_eq!(npm, in_image, "the SBOM's npm packages differ from npm ls");
    let dpkg = docker_as(
        &config,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "dpkg-query",
            &version,
            "-W",
            "-f",
            "${db:Status-Status} ${Package} ${Version}\\n",
        ],
        None,
    );
    dpkg.assert_ok();
    let installed: std::collections::BTreeSet<(String, String)> = dpkg
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("installed "))
        .filter_map(|l| l.split_once(' ').map(|(p, v)| (p.to_string(), v.to_string())))
        .collect();
    assert!(installed.iter().any(|(p, _)| p == "nodejs") && installed.iter().any(|(p, _)| p == "tini"));
    assert_eq!(listed("deb"), installed, "the SBOM's deb packages differ from dpkg-query");

    // verify: signature, attestation and tag; a retried signed release changes nothing and still verifies.
    let components = sbom["components"].as_array().unwrap().len();
    let verified = kit(&["verify"], &[]);
    verified.assert_ok();
    for line in [
        format!("verified {version}"),
        format!("digest     {digest} (where the tag points now)"),
        "signature  1 valid".to_string(),
        format!("sbom       signed CycloneDX 1.6 attestation about that digest, {components} components"),
    ] {
        assert!(verified.stdout.contains(&line), "{line:?} missing in:\n{}", verified.stdout);
    }
    kit(&["release", "--push", "--sign"], &[]).assert_ok();
    assert_eq!(remote_digest(&config, &version), digest, "a retried release changed the digest");
    kit(&["verify"], &[]).assert_ok();

    // A wrong key fails.
    kit(&["verify"], &[("COSIGN_PUBLIC_KEY", other.to_str().unwrap())]).assert_error("which has no signature that");

    // Another image under the same tag (pushed with --force, unsigned): verify fails; the signed digest still verifies.
    std::fs::write(project.join("node-app/src/changed.js"), "export const changed = true;\n").unwrap();
    kit(&["release", "--push", "--force"], &[]).assert_ok();
    let moved = remote_digest(&config, &version);
    assert_ne!(moved, digest);
    let failed = kit(&["verify"], &[]);
    failed.assert_error(&format!("{version} points at {moved}, which is not signed (was another image pushed"));
    kit(&["verify", &format!("{address}/team/items-api@{digest}")], &[]).assert_ok();

    // No password and no private key in any output, nor in the image's configuration and history.
    let private = std::fs::read_to_string(&key).unwrap();
    let secret_lines: Vec<&str> = private.lines().filter(|l| l.len() > 20 && !l.starts_with("-----")).collect();
    assert!(!secret_lines.is_empty());
    let image = docker_as(&config, &["image", "inspect", &version], None).stdout;
    let history = docker_as(&config, &["history", "--no-trunc", &version], None).stdout;
    for text in runs.iter().chain([&image, &history]) {
        assert!(!text.contains(password), "the password leaked:\n{text}");
        assert!(!secret_lines.iter().any(|l| text.contains(l)), "the private key leaked:\n{text}");
    }
}
