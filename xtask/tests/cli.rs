//! CLI tests: run the built `xtask` binary, mostly with `--dry-run`, and check the argv it prints,
//! its exit status and its one-line errors. No engine needed.

mod common;

use common::{copy_template, edit, repo_root, scratch, xtask, Run};

fn line_with<'a>(run: &'a Run, needle: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{}", run.stdout))
}

#[test]
fn build_test_stage_dry_run_prints_the_docker_build_line() {
    let run = xtask(&repo_root(), &["build", "--stage", "test", "--dry-run"], &[]);
    run.assert_ok();
    let line = line_with(&run, "buildx build");
    assert!(line.starts_with("docker buildx build --file docker/Dockerfile --target test "), "{line}");
    assert!(line.contains("--build-arg FLAVOR=alpine"), "{line}");
    assert!(line.contains("--tag items-api:test"), "{line}");
    assert!(line.ends_with(" node-app"), "{line}");
    assert_eq!(run.stdout.lines().count(), 1, "one command, nothing else:\n{}", run.stdout);
}

#[test]
fn flavor_build_args_and_flags_reach_the_argv() {
    let run = xtask(
        &repo_root(),
        &[
            "--dry-run",
            "build",
            "--stage",
            "release",
            "--flavor",
            "debian",
            "--build-arg",
            "EXTRA=a b",
            "--no-cache",
            "--pull",
            "--progress",
            "plain",
            "--platform",
            "linux/arm64",
        ],
        &[],
    );
    run.assert_ok();
    let line = line_with(&run, "buildx build");
    for part in [
        "--build-arg FLAVOR=debian",
        "--build-arg 'EXTRA=a b'",
        "--no-cache",
        "--pull",
        "--progress plain",
        "--platform linux/arm64",
        "--build-arg PORT=3000",
        "--build-arg HEALTH_PATH=/healthz",
        "--build-arg START=src/server.js",
    ] {
        assert!(line.contains(part), "{part} missing in {line}");
    }
    let env_flavor = xtask(&repo_root(), &["build", "--dry-run"], &[("XTASK_FLAVOR", "debian")]);
    assert!(line_with(&env_flavor, "buildx build").contains("FLAVOR=debian"));
}

#[test]
fn ca_bundle_is_a_secret_only_when_the_file_exists() {
    let bundle = scratch(&[("ca.pem", "-----BEGIN CERTIFICATE-----\n")]).join("ca.pem");
    let run = xtask(&repo_root(), &["test", "--dry-run"], &[("XTASK_CA_BUNDLE", bundle.to_str().unwrap())]);
    assert!(line_with(&run, "buildx build").contains(&format!("--secret id=ca,src={}", bundle.display())));
    let run = xtask(&repo_root(), &["test", "--dry-run"], &[("XTASK_CA_BUNDLE", "")]);
    assert!(!run.stdout.contains("--secret"), "{}", run.stdout);
}

#[test]
fn engine_context_and_builder_are_passed_through() {
    let run = xtask(&repo_root(), &["--engine", "podman", "build", "--stage", "test", "--dry-run"], &[]);
    assert!(
        line_with(&run, "build").starts_with("podman build --format docker --file docker/Dockerfile --target test"),
        "{}",
        run.stdout
    );
    let run = xtask(&repo_root(), &["build", "--dry-run"], &[("XTASK_ENGINE", "podman")]);
    assert!(run.stdout.starts_with("podman build"), "{}", run.stdout);
    let run = xtask(&repo_root(), &["--context", "remote", "build", "--builder", "k8s", "--dry-run"], &[]);
    let line = line_with(&run, "buildx build");
    assert!(line.starts_with("docker --context remote buildx build --builder k8s "), "{line}");
    assert!(line.contains(" --load "), "a non-default builder must load the result: {line}");
}

#[test]
fn lint_builds_the_lint_stage_then_runs_hadolint() {
    let run = xtask(&repo_root(), &["lint", "--dry-run"], &[]);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].contains("--target lint"), "{}", lines[0]);
    assert_eq!(lines[1], "hadolint docker/Dockerfile");
}

#[test]
fn release_tags_the_package_version() {
    let run = xtask(&repo_root(), &["release", "--dry-run"], &[]);
    run.assert_ok();
    let line = line_with(&run, "buildx build");
    assert!(line.contains("--target release"), "{line}");
    assert!(line.contains("--tag items-api:1.0.0"), "{line}");
}

/// `[image] flavor_suffix`: every tag ends in the flavor, so both flavors of one version can be published
/// side by side, and the released-version check looks at the suffixed tag. The labels are manifest
/// annotations too, and index annotations when the image is an index (buildx refuses them otherwise).
#[test]
fn flavor_suffix_and_annotations() {
    let dir = copy_template();
    edit(&dir.join("xtask.toml"), "registry = \"\"", "registry = \"ghcr.io/acme\"");
    edit(&dir.join("xtask.toml"), "flavor_suffix = false", "flavor_suffix = true");
    // The template's version: a copy made by `new` starts at another one.
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("node-app/package.json")).unwrap()).unwrap();
    let version = package["version"].as_str().unwrap();
    for flavor in ["debian", "alpine"] {
        let run = xtask(&dir, &["tags"], &[("XTASK_FLAVOR", flavor)]);
        let tags = tag_lines(&run);
        assert_eq!(tags[0], format!("ghcr.io/acme/items-api:{version}-{flavor}"), "{tags:?}");
        assert!(tags.iter().all(|t| t.ends_with(&format!("-{flavor}"))), "{tags:?}");
        assert!(tags.contains(&format!("ghcr.io/acme/items-api:latest-{flavor}").as_str()), "{tags:?}");
    }
    let run = xtask(&dir, &["release", "--push", "--dry-run"], &[("XTASK_FLAVOR", "debian")]);
    run.assert_ok();
    let check = format!("# check that ghcr.io/acme/items-api:{version}-debian is not in the registry yet");
    assert!(run.stdout.contains(&check), "{}", run.stdout);
    let build = line_with(&run, "--target release");
    assert!(build.contains(&format!(" --annotation manifest:org.opencontainers.image.version={version} ")), "{build}");
    assert!(!build.contains("index:"), "{build}");
    let run = xtask(&dir, &["release", "--dry-run", "--platform", "linux/amd64,linux/arm64"], &[]);
    let build = line_with(&run, "--target release");
    assert!(build.contains(&format!(" --annotation index:org.opencontainers.image.version={version} ")), "{build}");
    assert!(build.contains(&format!(" --annotation manifest:org.opencontainers.image.version={version} ")), "{build}");
}

/// `--dry-run` of a signed release and of `verify` names the keys' paths, never the password; the key
/// file need not exist for a dry run.
#[test]
fn signing_dry_runs_name_the_key_never_the_password() {
    let env = [("COSIGN_KEY", "keys/cosign.key"), ("COSIGN_PASSWORD", "pass-word-42")];
    let run = xtask(&repo_root(), &["release", "--push", "--sign", "--registry", "ghcr.io/acme", "--dry-run"], &env);
    run.assert_ok();
    let key = repo_root().join("keys/cosign.key");
    let sign = line_with(&run, "cosign sign ");
    assert!(sign.contains(&format!("--key {} --tlog-upload=false", key.display())), "{sign}");
    assert!(sign.ends_with("\"ghcr.io/acme/items-api@$DIGEST\""), "{sign}");
    assert!(line_with(&run, "cosign attest ").contains("--type cyclonedx --predicate "), "{}", run.stdout);
    let verify = xtask(&repo_root(), &["verify", "--registry", "ghcr.io/acme", "--dry-run"], &env);
    assert!(line_with(&verify, "cosign verify ").contains("/keys/cosign.pub"), "{}", verify.stdout);
    for output in [&run.stdout, &run.stderr, &verify.stdout, &verify.stderr] {
        assert!(!output.contains("pass-word-42"), "{output}");
    }
}

/// ci on docker: lint, test and release in one bake (its file on stdin), hadolint beside it (`&`, `wait`); the bake loads the
/// release image under a tag of this run only, and the release tags follow the bake. podman: one build after
/// the other.
#[test]
fn ci_bakes_lint_test_and_release_and_tags_only_after() {
    let run = xtask(&repo_root(), &["ci", "--dry-run", "--progress", "plain"], &[]);
    run.assert_ok();
    let package: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("node-app/package.json")).unwrap()).unwrap();
    let version = package["version"].as_str().unwrap();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = |prefix: &str| lines.iter().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}?"));
    let bake = at("printf");
    let file: serde_json::Value =
        serde_json::from_str(lines[bake].split('\'').nth(3).expect("the bake file, quoted")).unwrap();
    let targets = &file["target"];
    assert_eq!(targets["lint"]["output"][0], "type=cacheonly", "{file}");
    assert_eq!(targets["test"]["target"], "test", "{file}");
    let candidate = targets["release"]["tags"][0].as_str().unwrap();
    assert!(candidate.starts_with("items-api:ci-") && targets["release"]["tags"][1].is_null(), "{file}");
    assert_eq!(targets["release"]["attest"][0], "type=provenance,disabled=true");
    assert!(targets["release"]["context"].as_str().unwrap().ends_with("/node-app"), "{file}");
    assert_eq!(lines[at("hadolint")], "hadolint docker/Dockerfile &");
    assert!(
        lines[bake].ends_with("' | docker buildx bake --file - --progress plain lint test release"),
        "{}",
        lines[bake]
    );
    assert_eq!(lines[bake + 1], "wait");
    let tag = at("docker tag");
    assert!(tag > bake && lines[tag] == format!("docker tag {candidate} items-api:{version} &"), "{}", run.stdout);
    let start = at("docker run --detach");
    assert!(lines[start - 1].ends_with(" &") && lines[start].ends_with(&format!(" {candidate}")), "{}", run.stdout);
    assert_eq!(lines[start + 1], "wait");
    // Only the SBOM's tool stage is built on its own.
    assert!(!run.stdout.lines().any(|l| l.contains("buildx build") && !l.contains("--target sbom")), "{}", run.stdout);
    assert_eq!(lines.last().unwrap(), &format!("docker image rm {candidate}"));

    let podman = xtask(&repo_root(), &["ci", "--dry-run"], &[("XTASK_ENGINE", "podman")]);
    podman.assert_ok();
    let builds: Vec<&str> = podman.stdout.lines().filter(|l| l.starts_with("podman build")).collect();
    // Release the last of the builds before the SBOM's tool stage.
    let release = builds.iter().rposition(|l| l.contains("--target release ")).unwrap();
    assert!(release >= 2 && builds[release].contains(&format!("--tag items-api:{version}")), "{}", podman.stdout);
    assert!(builds[release + 1..].iter().all(|l| l.contains("--target sbom-tool ")), "{}", podman.stdout);
    let beside = podman.stdout.lines().any(|l| l.ends_with(" &"));
    assert!(!podman.stdout.contains("bake") && !beside, "{}", podman.stdout);
}

#[test]
fn run_and_smoke_clean_up_their_container() {
    let run = xtask(&repo_root(), &["run", "--dry-run"], &[]);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("docker run --rm --pull=never --name items-api-run-"), "{}", lines[0]);
    assert!(lines[0].ends_with("--publish 3000:3000 items-api:1.0.0"), "{}", lines[0]);
    assert!(lines[1].starts_with("docker rm --force items-api-run-"), "{}", lines[1]);

    let smoke = xtask(&repo_root(), &["smoke", "--dry-run"], &[]);
    smoke.assert_ok();
    let lines: Vec<&str> = smoke.stdout.lines().collect();
    assert!(lines[0].contains("run --detach") && lines[0].contains("--publish 127.0.0.1::3000"), "{}", lines[0]);
    assert!(lines[1].starts_with("# once it answers /healthz on its 3000/tcp, run the HEALTHCHECK"), "{}", lines[1]);
    assert!(lines[2].starts_with("# GET http://127.0.0.1:<host port of items-api-smoke-"), "{}", lines[2]);
    assert!(lines[3].starts_with("docker stop"), "{}", lines[3]);
    assert!(lines.last().unwrap().starts_with("docker rm --force --volumes items-api-smoke-"), "{}", smoke.stdout);

    // An engine elsewhere: its ports are not this machine's, so the checks go through the engine.
    let elsewhere = xtask(&repo_root(), &["smoke", "--dry-run"], &[("DOCKER_HOST", "tcp://10.9.9.9:2375")]);
    elsewhere.assert_ok();
    let lines: Vec<&str> = elsewhere.stdout.lines().collect();
    assert!(lines[1].starts_with("# run the HEALTHCHECK of container items-api-smoke-"), "{}", lines[1]);
    assert!(lines[2].starts_with("docker exec items-api-smoke-") && lines[2].contains(" node -e "), "{}", lines[2]);
    assert!(lines[2].contains("http://127.0.0.1:3000/healthz"), "{}", lines[2]);
}

#[test]
fn pull_names_the_flavor_base() {
    let run = xtask(&repo_root(), &["pull", "--dry-run"], &[]);
    run.assert_ok();
    assert!(run.stdout.lines().any(|l| l.starts_with("docker pull alpine:")), "{}", run.stdout);
    assert!(!run.stdout.contains("debian"), "{}", run.stdout);
    let run = xtask(&repo_root(), &["pull", "--dry-run", "--flavor", "debian"], &[]);
    assert_eq!(run.stdout.trim(), "docker pull debian:trixie-slim");
}

#[test]
fn stages_lists_the_stages_and_roles() {
    let run = xtask(&repo_root(), &["stages"], &[]);
    run.assert_ok();
    for stage in ["base", "dependencies", "lint", "test", "release"] {
        assert!(run.stdout.lines().any(|l| l.starts_with(&format!("{stage} "))), "{stage} missing:\n{}", run.stdout);
    }
    assert!(line_with(&run, "release ").trim_end().ends_with("release"));
}

#[test]
fn works_from_a_subfolder() {
    let run = xtask(&repo_root().join("node-app"), &["build", "--stage", "test", "--dry-run"], &[]);
    run.assert_ok();
    assert!(run.stdout.lines().next().unwrap().starts_with("cd "), "{}", run.stdout);
}

#[test]
fn help_for_everything() {
    let run = xtask(&repo_root(), &["--help"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("Commands:"));
    let run = xtask(&repo_root(), &["build", "--help"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("--stage S"));
}

#[test]
fn unknown_stage_suggests_the_nearest() {
    let run = xtask(&repo_root(), &["build", "--stage", "tset", "--dry-run"], &[]);
    run.assert_error("unknown stage 'tset'");
    assert!(run.stderr.contains("did you mean 'test'"), "{}", run.stderr);
    assert!(run.stderr.contains("release"), "lists the valid stages: {}", run.stderr);
}

#[test]
fn docker_missing_is_one_clear_line() {
    let empty = scratch(&[]);
    let run = xtask(&repo_root(), &["build", "--stage", "test"], &[("PATH", empty.to_str().unwrap())]);
    run.assert_error("docker not found on PATH");
}

#[test]
fn unreachable_engine_is_one_clear_line() {
    let run = xtask(&repo_root(), &["build", "--stage", "test"], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    run.assert_error("cannot reach the docker engine (DOCKER_HOST=unix:///nonexistent/docker.sock)");
    let run = xtask(&repo_root(), &["doctor"], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")]);
    assert_ne!(run.status, 0);
    assert!(run.stdout.contains("MISSING  engine server"), "{}", run.stdout);
}

#[test]
fn cache_modes_become_cache_from_and_to() {
    let run = xtask(&repo_root(), &["build", "--stage", "test", "--cache", "gha", "--dry-run"], &[]);
    let line = line_with(&run, "buildx build");
    assert!(line.contains("--cache-from type=gha,scope=test --cache-to type=gha,scope=test,mode=max"), "{line}");
    let run = xtask(&repo_root(), &["release", "--cache", "inline", "--dry-run"], &[]);
    let line = line_with(&run, "buildx build");
    assert!(line.contains("--cache-from type=registry,ref=items-api:release --cache-to type=inline"), "{line}");
    let run = xtask(&repo_root(), &["build", "--cache", "local", "--dry-run"], &[]);
    assert!(line_with(&run, "buildx build").contains("--cache-to type=local,dest="), "{}", run.stdout);
    xtask(&repo_root(), &["build", "--cache", "bogus", "--dry-run"], &[]).assert_error("unknown cache 'bogus'");
}

#[test]
fn tags_follow_the_github_actions_ref() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let pr = [("GITHUB_REF", "refs/pull/42/merge"), ("GITHUB_SHA", sha)];
    let run = xtask(&repo_root(), &["tags"], &pr);
    run.assert_ok();
    let tags: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with("label ")).collect();
    assert_eq!(tags, ["items-api:sha-0123456", "items-api:pr-42"], "a pull request moves no release tag");
    assert!(run.stdout.contains(&format!("label org.opencontainers.image.revision={sha}")), "{}", run.stdout);

    let branch = [("GITHUB_REF", "refs/heads/Feature/Login_Page"), ("GITHUB_SHA", sha)];
    let run = xtask(&repo_root(), &["tags", "--json", "--registry", "ghcr.io/acme"], &branch);
    run.assert_ok();
    let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let tags: Vec<&str> = json["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(
        tags.contains(&"ghcr.io/acme/items-api:1.0.0") && tags.contains(&"ghcr.io/acme/items-api:latest"),
        "{tags:?}"
    );
    assert!(tags.contains(&"ghcr.io/acme/items-api:Feature-Login_Page"), "{tags:?}");

    let wrong_tag = [("GITHUB_REF", "refs/tags/v2.0.0"), ("GITHUB_SHA", sha)];
    xtask(&repo_root(), &["tags"], &wrong_tag).assert_error("v2.0.0");
}

#[test]
fn same_commit_same_labels() {
    let first = xtask(&repo_root(), &["tags", "--json"], &[]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = xtask(&repo_root(), &["tags", "--json"], &[]);
    assert_eq!(first.stdout, second.stdout, "labels changed between two runs on one commit");
    let pinned = xtask(&repo_root(), &["tags"], &[("SOURCE_DATE_EPOCH", "0")]);
    assert!(pinned.stdout.contains("label org.opencontainers.image.created=1970-01-01T00:00:00Z"), "{}", pinned.stdout);
}

#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let target = scratch(&[]).join("copy");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["new", target.to_str().unwrap(), "--name", "shop", "--dry-run"])
        .current_dir(repo_root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Like `| head -0`: the reader is gone before the kit prints its first line.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(output.status.signal(), Some(13), "ends by SIGPIPE, as `ls | head` does: {:?}", output.status);
}

#[test]
fn a_mistyped_flag_points_to_the_commands_help() {
    let run = xtask(&repo_root(), &["release", "--pusj"], &[]);
    run.assert_error("unknown option '--pusj'; see `cargo xtask release --help`");
    let run = xtask(&repo_root(), &["ci", "--help"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("--cache MODE"), "{}", run.stdout);
}

#[test]
fn ports_are_explained_in_every_command() {
    let dir = scratch(&[("xtask.toml", "[service]\nport = 70000\n")]);
    let run = xtask(&dir, &["tags"], &[]);
    run.assert_error("xtask.toml:2: key 'port': 70000 is not a port: write a number from 1 to 65535");
}

#[test]
fn platform_args_follow_the_engine_or_the_platform_flag() {
    let dockerfile = "FROM alpine:3.21 AS base-linux\nFROM node:22-${TARGETARCH:-none} AS tool\n\
                      FROM base-$TARGETOS AS lint\nCOPY --from=tool /x /x\nFROM base-linux AS test\n\
                      FROM base-${TARGETOS} AS release\n";
    let dir = scratch(&[("xtask.toml", ""), ("docker/Dockerfile", dockerfile)]);
    let run = xtask(&dir, &["stages"], &[]);
    run.assert_ok();
    assert!(line_with(&run, "lint ").contains("base-linux"), "{}", run.stdout);
    let run = xtask(&dir, &["pull", "--dry-run", "--platform", "linux/arm64,linux/amd64"], &[]);
    run.assert_ok();
    for line in ["docker pull --platform linux/arm64 node:22-arm64", "docker pull --platform linux/amd64 node:22-amd64"]
    {
        assert!(run.stdout.lines().any(|l| l == line), "{line} missing:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("none"), "TARGETARCH is always set: {}", run.stdout);
    let run = xtask(&dir, &["pull", "--dry-run"], &[]);
    assert!(
        run.stdout.lines().any(|l| l.starts_with("docker pull node:22-") && !l.ends_with("-none")),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unsupported_expansion_names_its_line() {
    let dir = scratch(&[("xtask.toml", ""), ("docker/Dockerfile", "FROM alpine AS base\nFROM ${X:=alpine} AS lint\n")]);
    xtask(&dir, &["stages"], &[]).assert_error("line 2");
}

/// The references `tags` printed, without the labels.
fn tag_lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().filter(|l| !l.starts_with("label ")).collect()
}

#[test]
fn registry_namespaces_are_lower_cased_as_metadata_action_does() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let main = [("GITHUB_REF", "refs/heads/main"), ("GITHUB_SHA", sha)];
    let run = xtask(&repo_root(), &["tags", "--registry", "ghcr.io/MyUser"], &main);
    run.assert_ok();
    assert!(tag_lines(&run).iter().all(|t| t.starts_with("ghcr.io/myuser/items-api:")), "{}", run.stdout);
    assert!(
        run.stderr.contains("xtask: registry path lower-cased: ghcr.io/MyUser -> ghcr.io/myuser\n"),
        "{}",
        run.stderr
    );

    // xtask.toml's registry too, for every command that names the image.
    let dir = scratch(&[
        ("xtask.toml", "[image]\nregistry = \"ghcr.io/MyUser\"\n"),
        ("node-app/package.json", r#"{"name": "svc", "version": "1.0.0"}"#),
    ]);
    common::git_commit(&dir);
    let run = xtask(&dir, &["tags"], &main);
    run.assert_ok();
    assert_eq!(tag_lines(&run)[0], "ghcr.io/myuser/node-app:1.0.0", "{}", run.stdout);
    assert_eq!(run.stderr, "xtask: registry path lower-cased: ghcr.io/MyUser -> ghcr.io/myuser\n");
    // The host is not part of the image name's path: kept as written.
    let run = xtask(&dir, &["tags", "--registry", "Registry.Example.com:5000/Team"], &main);
    run.assert_ok();
    assert_eq!(tag_lines(&run)[0], "Registry.Example.com:5000/team/node-app:1.0.0", "{}", run.stdout);
}

#[test]
fn pull_request_target_moves_no_release_tag() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let dir = scratch(&[("event.json", r#"{"action": "opened", "number": 42, "pull_request": {"number": 42}}"#)]);
    let event = dir.join("event.json");
    let mut env = vec![
        ("GITHUB_EVENT_NAME", "pull_request_target"),
        ("GITHUB_REF", "refs/heads/main"),
        ("GITHUB_SHA", sha),
        ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
    ];
    let run = xtask(&repo_root(), &["tags"], &env);
    run.assert_ok();
    assert_eq!(tag_lines(&run), ["items-api:sha-0123456", "items-api:pr-42"], "the base branch's ref is no release");
    // No event file to read the number from: the sha tag only.
    env[3].1 = "";
    let run = xtask(&repo_root(), &["tags"], &env);
    run.assert_ok();
    assert_eq!(tag_lines(&run), ["items-api:sha-0123456"]);
}

#[test]
fn a_bad_registry_is_refused_before_git_is_read() {
    let dir = scratch(&[("xtask.toml", ""), ("node-app/package.json", r#"{"name": "svc", "version": "1.0.0"}"#)]);
    // No repository above the scratch folder either, wherever the target dir is.
    let ceiling = dir.parent().unwrap().to_str().unwrap();
    let outside_git = [("GIT_CEILING_DIRECTORIES", ceiling)];
    for command in ["tags", "release"] {
        let run = xtask(&dir, &[command, "--registry", "Bad Host!", "--dry-run"], &outside_git);
        run.assert_error("invalid registry 'Bad Host!': has an invalid host name 'Bad Host!'");
    }
    xtask(&dir, &["tags"], &outside_git).assert_error("not a git repository");
}
