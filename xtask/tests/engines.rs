//! Engines and platforms beyond the local docker default, for real: podman (Debian 12's 4.3, which
//! `.ci/engine-up` installs beside dockerd) and two-platform images (linux/amd64 and linux/arm64 under
//! qemu, on the containerd image store, also from engine-up). On the debian flavor, like e2e.rs. The end-to-end tests run only with
//! XTASK_E2E=1, and then fail, never skip, when the engine they need is missing. One at a time: they
//! share the engines and their caches.

mod common;

use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{copy_template, docker, docker_try, edit, repo_root, xtask, Run};

static ENGINE: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ENGINE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const PODMAN: [(&str, &str); 2] = [("XTASK_ENGINE", "podman"), ("XTASK_FLAVOR", "debian")];

/// A podman query: trimmed stdout, or None when it fails.
fn podman_try(args: &[&str]) -> Option<String> {
    let output = Command::new("podman").args(args).output().expect("podman on PATH (bash .ci/engine-up installs it)");
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn podman(args: &[&str]) -> String {
    podman_try(args).unwrap_or_else(|| panic!("podman {args:?} failed"))
}

fn podman_containers(prefix: &str) -> usize {
    podman(&["ps", "--all", "--quiet", "--filter", &format!("name={prefix}")]).lines().count()
}

/// podman's build output: each `STEP k/n: RUN …npm ci…` line, with whether the step came from the cache
/// (`--> Using cache ID` on the next line).
fn podman_npm_ci_steps(output: &str) -> Vec<(String, bool)> {
    let lines: Vec<&str> = output.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("STEP") && l.contains("RUN") && l.contains("npm ci"))
        .map(|(i, l)| (l.to_string(), lines.get(i + 1).is_some_and(|n| n.starts_with("--> Using cache"))))
        .collect()
}

fn dry_run(args: &[&str]) -> Run {
    let mut all = vec!["--dry-run"];
    all.extend_from_slice(args);
    xtask(&repo_root(), &all, &PODMAN)
}

/// What podman cannot do is refused with one line before anything runs; what it can, it gets in its
/// own words. No engine needed: plans only.
#[test]
fn podman_refuses_docker_only_flags_and_maps_the_rest() {
    dry_run(&["build", "--builder", "remote"]).assert_error("--builder names a buildx builder");
    dry_run(&["test", "--progress", "tty"]).assert_error("podman build has no --progress tty");
    dry_run(&["release", "--progress", "rawjson"]).assert_error("podman build has no --progress rawjson");
    dry_run(&["release", "--platform", "linux/amd64,linux/arm64"])
        .assert_error("multi-platform image needs docker buildx");
    dry_run(&["lint", "--cache", "registry"]).assert_error("cache = \"registry\" is BuildKit's");
    dry_run(&["build", "--cache", "inline"]).assert_error("cache = \"inline\" is BuildKit's");
    xtask(&repo_root(), &["--engine", "podman", "--context", "x", "build", "--dry-run"], &[])
        .assert_error("--context is a docker option");
    dry_run(&["up"]).assert_error("podman on this host has no compose");

    let run = dry_run(&["build", "--stage", "test", "--progress", "quiet", "--platform", "linux/arm64"]);
    run.assert_ok();
    let build = run.stdout.lines().find(|l| l.starts_with("podman build")).unwrap();
    for part in ["--format docker", "--quiet", "--platform linux/arm64", "--label xtask.image=items-api"] {
        assert!(build.contains(part), "{part} missing in {build}");
    }
    assert!(!build.contains("--load") && !build.contains("--progress"), "{build}");

    // release copies from the build stage, which nothing is built FROM: podman would leave it dangling.
    let run = dry_run(&["release"]);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().filter(|l| !l.starts_with("cd ")).collect();
    // Then the SBOM's steps, with podman's own create, cp, build and prune; the tool's output is copied out of
    // its stage's image (podman-remote takes no --output).
    assert!(
        lines[3..].iter().any(|l| l.starts_with("podman build ") && l.contains("--target sbom-tool ")),
        "{}",
        run.stdout
    );
    assert!(lines.iter().any(|l| l.starts_with("podman cp ") && l.contains("-tool:/sbom ")), "{}", run.stdout);
    assert!(!run.stdout.contains("--output"), "{}", run.stdout);
    assert_eq!(lines.last().map(|l| l.starts_with("# write ")), Some(true), "{}", run.stdout);
    assert!(lines[0].contains("--target build ") && lines[0].contains("--tag items-api:build "), "{}", lines[0]);
    assert!(lines[1].contains("--target release ") && lines[1].contains("--tag items-api:1.0.0 "), "{}", lines[1]);
    assert_eq!(lines[2], "podman image prune --force --filter label=xtask.image=items-api");
    // test is built FROM build: nothing to tag beside it.
    let run = dry_run(&["test"]);
    assert_eq!(run.stdout.lines().filter(|l| l.starts_with("podman build")).count(), 1, "{}", run.stdout);
}

/// podman runs pull, build, lint, test, release, run and smoke for real with the same Dockerfile:
/// the release image keeps its HEALTHCHECK (`--format docker`), the kit's dangling images are pruned
/// while podman's layer cache survives (a second release runs no `npm ci`), smoke passes although no
/// systemd runs podman's healthchecks (the kit runs them), and run and smoke leave no container.
/// A copy of the template on port 3917, so `run` cannot collide with a docker `run` on 3000.
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn podman_runs_every_command_with_the_same_dockerfile() {
    let _engine = serial();
    let version = podman(&["version", "--format", "{{.Client.Version}}"]);
    let project = copy_template();
    edit(&project.join("xtask.toml"), "port = 3000", "port = 3917");
    let kit = |args: &[&str]| xtask(&project, args, &PODMAN);
    let timed = |args: &[&str]| {
        let started = Instant::now();
        let run = kit(args);
        run.assert_ok();
        eprintln!("podman {version}: cargo xtask {} took {:.1} s", args.join(" "), started.elapsed().as_secs_f64());
        run
    };

    timed(&["pull"]);
    assert!(podman_try(&["image", "exists", "docker.io/library/debian:trixie-slim"]).is_some());
    timed(&["build", "--stage", "dependencies"]);
    assert!(podman_try(&["image", "exists", "items-api:dependencies"]).is_some());
    timed(&["lint"]);
    assert!(podman_try(&["image", "exists", "items-api:lint"]).is_some());
    timed(&["test"]);
    assert!(podman_try(&["image", "exists", "items-api:test"]).is_some());

    timed(&["release"]);
    let healthcheck = podman(&["image", "inspect", "--format", "{{json .HealthCheck}}", "items-api:1.0.0"]);
    assert!(healthcheck.contains("fetch("), "the release image lost its HEALTHCHECK: {healthcheck}");
    let dangling = ["images", "--quiet", "--filter", "dangling=true", "--filter", "label=xtask.image=items-api"];
    assert_eq!(podman(&dangling), "", "the kit left dangling images behind");
    let again = timed(&["release"]);
    let output = format!("{}{}", again.stdout, again.stderr);
    let npm_ci = podman_npm_ci_steps(&output);
    assert!(!npm_ci.is_empty(), "no npm ci step in:\n{output}");
    assert!(npm_ci.iter().all(|(_, cached)| *cached), "npm ci ran again: the prune took the layer cache: {npm_ci:?}");
    assert_eq!(podman(&dangling), "", "the second release left dangling images behind");
    // A push: the released-tag check needs buildx, so podman says so; with --force the tags go out.
    let registry = ["--registry", "127.0.0.1:5000/xtask-e2e-podman"];
    kit(&[&["release", "--push"][..], &registry].concat()).assert_error("podman cannot read a registry's digest");
    timed(&[&["release", "--push", "--force"][..], &registry].concat());
    let pushed = Command::new("curl")
        .args(["-fsS", "-o", "/dev/null", "http://127.0.0.1:5000/v2/xtask-e2e-podman/items-api/manifests/1.0.0"])
        .args(["-H", "Accept: application/vnd.docker.distribution.manifest.v2+json"])
        .status()
        .unwrap();
    assert!(pushed.success(), "podman pushed no items-api:1.0.0 to the registry");

    let before = podman_containers("items-api-smoke-");
    let smoke = timed(&["smoke"]);
    assert!(smoke.stderr.contains("/healthz -> 200"), "{}", smoke.stderr);
    assert_eq!(podman_containers("items-api-smoke-"), before, "smoke left its container");

    let before = podman_containers("items-api-run-");
    let mut run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("run")
        .current_dir(&project)
        .envs(PODMAN)
        .env_remove("DOCKER_HOST")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut answered = false;
    while !answered && Instant::now() < deadline && run.try_wait().unwrap().is_none() {
        let reply = Command::new("curl").args(["-fsS", "http://127.0.0.1:3917/healthz"]).output().unwrap();
        answered = reply.status.success();
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill").args(["-INT", &run.id().to_string()]).status();
    let status = run.wait().unwrap();
    assert!(answered, "`run` on podman never answered on http://127.0.0.1:3917/healthz");
    assert_eq!(status.code(), Some(130), "run after SIGINT");
    assert_eq!(podman_containers("items-api-run-"), before, "run left its container");
}

/// `doctor --engine podman` finds podman, its server and buildah, and says compose is missing here.
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn doctor_reports_podman() {
    let run = xtask(&repo_root(), &["--engine", "podman", "doctor"], &[]);
    run.assert_ok();
    let row = |check: &str| {
        let line = run.stdout.lines().find(|l| l.contains(&format!(" {check}  "))).unwrap_or_default();
        line.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    assert!(row("engine CLI").starts_with("ok engine CLI podman 4."), "{}", run.stdout);
    assert!(row("engine server").starts_with("ok engine server 4."), "{}", run.stdout);
    assert!(row("builder").starts_with("ok builder podman build (buildah"), "{}", run.stdout);
    assert!(row("healthchecks").starts_with("ok healthchecks"), "{}", run.stdout);
    assert!(row("compose").starts_with("MISSING compose podman has no compose"), "{}", run.stdout);
}

/// A lockfile with install scripts (native modules) makes the kit run the npm stages on each target
/// platform (`NPM_PLATFORM=`, empty); pure JavaScript leaves them on the build platform. `inspect`
/// says which. Plans only.
#[test]
fn native_modules_move_the_npm_stages_to_the_target_platform() {
    let both = ["release", "--dry-run", "--platform", "linux/amd64,linux/arm64"];
    let run = xtask(&repo_root(), &both, &[]);
    run.assert_ok();
    assert!(!run.stdout.contains("NPM_PLATFORM"), "pure JavaScript needs no NPM_PLATFORM:\n{}", run.stdout);
    let inspect = xtask(&repo_root(), &["inspect"], &[]);
    assert!(inspect.stdout.contains("the npm stages run once, on the build platform"), "{}", inspect.stdout);

    let native = copy_template();
    let lockfile = native.join("node-app/package-lock.json");
    let mut lock: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lockfile).unwrap()).unwrap();
    let packages = lock["packages"].as_object_mut().unwrap();
    let (_, entry) = packages.iter_mut().find(|(path, _)| path.ends_with("node_modules/fastify")).unwrap();
    entry["hasInstallScript"] = serde_json::Value::Bool(true);
    std::fs::write(&lockfile, serde_json::to_string_pretty(&lock).unwrap()).unwrap();
    let run = xtask(&native, &both, &[]);
    run.assert_ok();
    let build = run.stdout.lines().find(|l| l.contains("buildx build")).unwrap();
    assert!(build.contains("--build-arg NPM_PLATFORM= "), "{build}");
    let inspect = xtask(&native, &["inspect"], &[]);
    assert!(
        inspect.stdout.contains("fastify") && inspect.stdout.contains("on each target platform"),
        "{}",
        inspect.stdout
    );
}

/// ONE release build makes one image index with linux/amd64 and linux/arm64, `--push` puts it in the
/// local registry with the labels as index and manifest annotations, and the arm64 image runs under
/// qemu and answers its health path. Because the npm
/// stages run on the build platform, the two-platform build (both timed from no cache, in this run)
/// stays within 4x of the one-platform build; with npm under emulation it was about 15x (ENGINE.md:
/// 600 s against 39 s). The fallback is checked for real on the stage where the platform is chosen:
/// with `NPM_PLATFORM=` the npm stages start from the arm64 image, by default from the build platform's.
/// Needs the containerd image store and qemu's binfmt handler (`.ci/engine-up`, phase arm64).
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_two_platform_release_is_one_index_whose_arm64_image_answers() {
    let _engine = serial();
    let registry = "127.0.0.1:5000/xtask-e2e";
    let image = format!("{registry}/items-api:1.0.0");
    let project = copy_template();
    let kit = |args: &[&str]| {
        let mut all = vec!["release", "--registry", registry];
        all.extend_from_slice(args);
        let started = Instant::now();
        let run = xtask(&project, &all, &[("XTASK_FLAVOR", "debian")]);
        run.assert_ok();
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("cargo xtask {} took {seconds:.1} s", all.join(" "));
        seconds
    };

    let one = kit(&["--no-cache", "--platform", "linux/amd64"]);
    let two = kit(&["--no-cache", "--platform", "linux/amd64,linux/arm64"]);
    eprintln!("two platforms / one platform = {:.2}", two / one);
    assert!(two < 4.0 * one, "two platforms took {two:.0} s, one {one:.0} s: more than 4x");
    // Built already: this pushes. --force: the copy's commit, and so the image, differs from an earlier run's.
    kit(&["--platform", "linux/amd64,linux/arm64", "--push", "--force"]);

    let index = docker(&["buildx", "imagetools", "inspect", &image]);
    for platform in ["Platform:  linux/amd64", "Platform:  linux/arm64"] {
        assert!(index.contains(platform), "{platform} missing from the pushed image:\n{index}");
    }
    // The labels as annotations, of the index (registries show its description from them) and of each image.
    let raw = |reference: &str| -> serde_json::Value {
        serde_json::from_str(&docker(&["buildx", "imagetools", "inspect", "--raw", reference])).unwrap()
    };
    let pushed = raw(&image);
    assert_eq!(pushed["annotations"]["org.opencontainers.image.version"], "1.0.0", "{pushed}");
    for manifest in pushed["manifests"].as_array().unwrap() {
        let one = raw(&format!("{registry}/items-api@{}", manifest["digest"].as_str().unwrap()));
        assert_eq!(one["annotations"]["org.opencontainers.image.title"], "items-api", "{one}");
    }
    // The SBOM is the first platform's.
    let sbom = std::fs::read_to_string(project.join("target/sbom/items-api-1.0.0.cdx.json")).unwrap();
    assert!(sbom.contains("?arch=amd64&distro=debian-13") && !sbom.contains("arch=arm64"), "not amd64's SBOM");
    let container = docker(&["run", "--detach", "--platform", "linux/arm64", "--publish", "127.0.0.1::3000", &image]);
    let arch = docker_try(&["exec", &container, "uname", "-m"]);
    let port = docker(&["port", &container, "3000/tcp"]);
    let port = port.lines().next().unwrap_or_default().rsplit(':').next().unwrap_or_default().to_string();
    let started = Instant::now();
    let mut answered = false;
    while !answered && started.elapsed() < Duration::from_secs(90) {
        let reply = Command::new("curl").args(["-fsS", &format!("http://127.0.0.1:{port}/healthz")]).output().unwrap();
        answered = reply.status.success();
        std::thread::sleep(Duration::from_millis(300));
    }
    docker(&["rm", "--force", &container]);
    assert_eq!(arch.as_deref(), Some("aarch64"), "the arm64 image does not run as arm64");
    assert!(answered, "the arm64 image did not answer /healthz within 90 s");
    eprintln!("the arm64 container answered after {:.1} s under qemu", started.elapsed().as_secs_f64());

    // Where the npm stages run, as BuildKit schedules them: in a two-platform build it names each step's
    // platform. The fallback's arm64 npm install would take minutes under qemu: stop at its first step.
    for (npm_platform, want_arm64) in [(None, false), (Some("NPM_PLATFORM="), true)] {
        let mut build = vec!["buildx", "build", "--progress", "plain", "--file", "docker/Dockerfile"];
        build.extend(["--target", "npm-debian", "--platform", "linux/amd64,linux/arm64"]);
        if let Some(arg) = npm_platform {
            build.extend(["--build-arg", arg]);
        }
        build.push("node-app");
        let mut child = Command::new("docker")
            .args(&build)
            .current_dir(repo_root())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let (mut amd64, mut arm64) = (false, false);
        for line in std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap())) {
            let line = line.unwrap();
            amd64 |= line.contains("[linux/amd64 npm-debian 2/2] RUN");
            arm64 |= line.contains("[linux/arm64 npm-debian 2/2] RUN");
            if arm64 {
                let _ = child.kill();
                break;
            }
        }
        let _ = child.wait();
        // The default runs npm once, for linux/amd64 (the build platform); the fallback for each target too.
        assert!(amd64 || want_arm64, "npm stages with {npm_platform:?}: no linux/amd64 step");
        assert_eq!(arm64, want_arm64, "npm stages with {npm_platform:?}: a linux/arm64 step or not");
    }
}

/// The second dockerd that `.ci/engine-up` starts beside the first (phase "remote engines"): a data
/// root of its own on the classic image store, a bridge of its own.
const ENGINE2: &str = "unix:///run/xtask-engine2/docker.sock";
/// podman's API service that engine-up starts with a storage root of its own (podman-remote's server).
const PODMAN2: &str = "unix:///run/xtask-podman2/podman.sock";
const START_THEM: &str = "start it with `bash .ci/engine-up` (phase \"remote engines\")";
/// The third dockerd engine-up starts, in a network namespace of its own, reached over TCP only (phase "engine in a
/// network namespace").
const ENGINE3: &str = "tcp://10.213.0.2:2375";

/// `program ARGS` with `env`: trimmed stdout, or None when it fails.
fn query(program: &str, env: &[(&str, &str)], args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).envs(env.iter().copied()).output().expect("engine CLI on PATH");
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Removes every image of `repository` from one engine, so that whatever is there afterwards came
/// from this test.
fn remove_images(program: &str, env: &[(&str, &str)], repository: &str) {
    let ids = query(program, env, &["images", "--quiet", repository]).unwrap_or_default();
    for id in ids.lines().collect::<std::collections::BTreeSet<_>>() {
        query(program, env, &["rmi", "--force", id]);
    }
}

/// The other engine (`program` with `remote`, the variable that points it elsewhere) must answer and
/// keep its images in another store than the local one (`store`: the `info` format naming the store).
/// Returns a copy of the template whose image is `name` (other tests compare items-api's release
/// tags), with no image of that name on either engine, so what is there afterwards came from the test.
fn project_for_remote(program: &str, remote: (&str, &str), store: &str, name: &str) -> std::path::PathBuf {
    let remote_store = query(program, &[remote], &["info", "--format", store])
        .unwrap_or_else(|| panic!("no {program} engine at {}={}: {START_THEM}", remote.0, remote.1));
    let local_store = query(program, &[], &["info", "--format", store])
        .unwrap_or_else(|| panic!("the local {program} engine does not answer: {START_THEM}"));
    assert_ne!(remote_store, local_store, "{}={} shares the local {program} store", remote.0, remote.1);
    let project = copy_template();
    edit(&project.join("xtask.toml"), "name = \"items-api\"", &format!("name = \"{name}\""));
    remove_images(program, &[], name);
    remove_images(program, &[remote], name);
    project
}

/// `--context`, `DOCKER_HOST` and `--builder` reach every step, proven against a second engine with a
/// store of its own: the images land there and not on the local engine. `--context C` (C pointing at
/// the second dockerd) runs with DOCKER_HOST at a socket where nothing listens, so a step or one of the
/// kit's own queries (server version, healthy wait, published port, cleanup) that went elsewhere would
/// fail. `smoke` through DOCKER_HOST alone passes too: the image it runs exists on that engine only.
/// buildx lets a context's own builder be named only from that context, so `--builder C` is proven
/// with `--context C`. The second engine is on the classic image store, so the kit's refusals of
/// cache export and multi-platform builds meet an engine that truly cannot do them (docker's own
/// failure is shown first), and they come before any build step. Not proven: a docker-container,
/// remote or kubernetes builder (they need the moby/buildkit image or a buildkitd, neither available
/// here), TLS or SSH transports (TCP and an engine elsewhere: the test after this one).
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn a_second_engine_gets_the_images_through_context_docker_host_and_builder() {
    let _engine = serial();
    let second: [(&str, &str); 1] = [("DOCKER_HOST", ENGINE2)];
    let project = project_for_remote("docker", second[0], "{{.DockerRootDir}}", "xtask-remote");

    let config = common::scratch(&[]);
    let config_dir = config.to_str().unwrap();
    let context = "xtask-engine2";
    let created = Command::new("docker")
        .args(["context", "create", context, "--docker", &format!("host={ENGINE2}")])
        .env("DOCKER_CONFIG", config_dir)
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let dead = format!("unix://{}", config.join("nothing-listens-here.sock").display());
    let kit = |args: &[&str], docker_host: &str| {
        let env = [("XTASK_FLAVOR", "debian"), ("DOCKER_CONFIG", config_dir), ("DOCKER_HOST", docker_host)];
        xtask(&project, args, &env)
    };
    let on_second = |image: &str| query("docker", &second, &["image", "inspect", "--format", "{{.Id}}", image]);
    let on_local = |image: &str| docker_try(&["image", "inspect", "--format", "{{.Id}}", image]);

    let started = Instant::now();
    kit(&["--context", context, "release"], &dead).assert_ok();
    eprintln!("release on the second engine: {:.1} s", started.elapsed().as_secs_f64());
    assert!(on_second("xtask-remote:1.0.0").is_some(), "the release image is not on the second engine");
    assert_eq!(on_local("xtask-remote:1.0.0"), None, "the release image landed on the local engine");

    let smoke = kit(&["--context", context, "smoke"], &dead);
    smoke.assert_ok();
    assert!(smoke.stderr.contains("/healthz -> 200"), "{}", smoke.stderr);
    let doctor = kit(&["--context", context, "doctor"], &dead);
    doctor.assert_ok();
    assert!(doctor.stdout.contains(&format!("(context {context})")), "{}", doctor.stdout);
    let smoke = kit(&["smoke"], ENGINE2);
    smoke.assert_ok();
    assert!(smoke.stderr.contains("/healthz -> 200"), "DOCKER_HOST: {}", smoke.stderr);
    let leftovers = ["ps", "--all", "--quiet", "--filter", "name=xtask-remote-smoke-"];
    assert_eq!(query("docker", &second, &leftovers).as_deref(), Some(""), "smoke left containers on the second engine");

    kit(&["--context", context, "build", "--stage", "test", "--builder", context], &dead).assert_ok();
    assert!(on_second("xtask-remote:test").is_some(), "--builder: the test image is not on the second engine");
    assert_eq!(on_local("xtask-remote:test"), None, "--builder: the test image landed on the local engine");

    // What the classic store cannot do: docker fails part way, the kit refuses before building.
    let dockerfile = common::scratch(&[("Dockerfile", "FROM debian:trixie-slim\n")]);
    let index = Command::new("docker")
        .args(["buildx", "build", "--platform", "linux/amd64,linux/arm64", "--load"])
        .arg(&dockerfile)
        .envs(second)
        .output()
        .unwrap();
    let index_error = String::from_utf8_lossy(&index.stderr);
    assert!(!index.status.success() && index_error.contains("manifest lists"), "{index_error}");
    let refusals = [
        (&["build", "--stage", "test", "--cache", "local"][..], "needs a builder that can export build cache"),
        (&["release", "--platform", "linux/amd64,linux/arm64"][..], "a multi-platform image"),
    ];
    for (args, error) in refusals {
        let refused = kit(&[&["--context", context][..], args].concat(), &dead);
        refused.assert_error(error);
        assert!(refused.stderr.contains("containerd-snapshotter"), "the refusal names no way out: {}", refused.stderr);
        assert!(!refused.stderr.contains("==>"), "a step ran before the refusal: {}", refused.stderr);
    }
}

/// podman-remote through CONTAINER_HOST: with `--engine podman` and CONTAINER_HOST at podman's API
/// service (a storage root of its own), release, smoke and doctor go to that service; the release
/// image lands in its store, keeps its HEALTHCHECK, and is absent from the local podman store.
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn podman_through_container_host_puts_the_image_on_that_service() {
    let _engine = serial();
    let remote: [(&str, &str); 1] = [("CONTAINER_HOST", PODMAN2)];
    let project = project_for_remote("podman", remote[0], "{{.Store.GraphRoot}}", "xtask-podman-remote");
    let kit = |args: &[&str]| xtask(&project, args, &[PODMAN[0], PODMAN[1], remote[0]]);

    let started = Instant::now();
    kit(&["release"]).assert_ok();
    eprintln!("release on podman's service: {:.1} s", started.elapsed().as_secs_f64());
    let image = "xtask-podman-remote:1.0.0";
    let healthcheck = query("podman", &remote, &["image", "inspect", "--format", "{{json .HealthCheck}}", image])
        .unwrap_or_else(|| panic!("{image} is not on podman's service"));
    assert!(healthcheck.contains("fetch("), "the release image lost its HEALTHCHECK: {healthcheck}");
    assert!(podman_try(&["image", "exists", image]).is_none(), "{image} landed in the local podman store");

    let smoke = kit(&["smoke"]);
    smoke.assert_ok();
    assert!(smoke.stderr.contains("/healthz -> 200"), "{}", smoke.stderr);
    let leftovers = ["ps", "--all", "--quiet", "--filter", "name=xtask-podman-remote-smoke-"];
    assert_eq!(query("podman", &remote, &leftovers).as_deref(), Some(""), "smoke left its container on the service");
    let doctor = kit(&["doctor"]);
    doctor.assert_ok();
    assert!(doctor.stdout.contains(&format!("(CONTAINER_HOST={PODMAN2})")), "{}", doctor.stdout);
}

/// smoke against an engine elsewhere, for real: the dockerd in a network namespace of its own, over TCP, as GitLab's
/// docker-in-docker service or a shared build host are reached. What it publishes on 127.0.0.1 is its namespace's,
/// not this machine's (checked: nothing answers here on the port it gives), so smoke reaches the service through the
/// engine, with node inside the container, and passes; it leaves no container there. The image gets there as a
/// user's would without a registry: `docker save | docker load`.
#[test]
#[cfg_attr(not(e2e), ignore = "end-to-end: set XTASK_E2E=1 (needs a Docker engine)")]
fn smoke_reaches_the_service_on_an_engine_in_another_network_namespace() {
    let _engine = serial();
    let elsewhere: [(&str, &str); 1] = [("DOCKER_HOST", ENGINE3)];
    query("docker", &elsewhere, &["version", "--format", "{{.Server.Version}}"]).unwrap_or_else(|| {
        panic!("no engine at {ENGINE3}: start it with `bash .ci/engine-up` (phase \"engine in a network namespace\")")
    });
    let project = project_for_remote("docker", elsewhere[0], "{{.DockerRootDir}}", "xtask-elsewhere");
    xtask(&project, &["release"], &[("XTASK_FLAVOR", "debian")]).assert_ok();
    let mut save = Command::new("docker")
        .args(["save", "xtask-elsewhere:1.0.0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let load = Command::new("docker").arg("load").envs(elsewhere).stdin(save.stdout.take().unwrap()).output().unwrap();
    assert!(save.wait().unwrap().success() && load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));

    let started = Instant::now();
    let smoke = xtask(&project, &["smoke"], &[("XTASK_FLAVOR", "debian"), elsewhere[0]]);
    smoke.assert_ok();
    eprintln!("smoke on the engine elsewhere: {:.1} s", started.elapsed().as_secs_f64());
    assert!(smoke.stderr.contains("GET http://127.0.0.1:3000/healthz in xtask-elsewhere-smoke-"), "{}", smoke.stderr);
    assert!(smoke.stderr.contains("-> 200"), "{}", smoke.stderr);
    let leftovers = ["ps", "--all", "--quiet", "--filter", "name=xtask-elsewhere-smoke-"];
    assert_eq!(query("docker", &elsewhere, &leftovers).as_deref(), Some(""), "smoke left a container there");

    // Why the probe must go through the engine: the port published "on 127.0.0.1" is not this machine's.
    let run = ["run", "--detach", "--publish", "127.0.0.1::3000", "xtask-elsewhere:1.0.0"];
    let container = query("docker", &elsewhere, &run).expect("a container on the engine elsewhere");
    let port = query("docker", &elsewhere, &["port", &container, "3000/tcp"]).unwrap_or_default();
    let port = port.lines().next().and_then(|l| l.rsplit(':').next()).unwrap_or_default().to_string();
    let answered_here = (0..20).any(|_| {
        std::thread::sleep(Duration::from_millis(250));
        Command::new("curl")
            .args(["-fsS", "-m", "1", &format!("http://127.0.0.1:{port}/healthz")])
            .output()
            .unwrap()
            .status
            .success()
    });
    query("docker", &elsewhere, &["rm", "--force", &container]);
    assert!(!port.is_empty() && !answered_here, "port {port:?} of the engine elsewhere answered on this machine");
    remove_images("docker", &elsewhere, "xtask-elsewhere");
    remove_images("docker", &[], "xtask-elsewhere");
}
