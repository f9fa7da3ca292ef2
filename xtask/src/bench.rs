//! `bench`: the kit's speed and the images' size, each figure beside its alternative and against a budget.
//!
//! Every figure is the median of several runs, with min and max. Where two commands are compared, they run
//! alternately in the same round (the first one rotating), and the figure is the median of the per-round ratios:
//! on a shared, noisy machine a slow minute then hits both sides alike. A figure over budget is a finding, reported
//! as FAIL; `bench` fails only when it could not measure. Everything it starts (containers, the node process,
//! temporary folders, its `xtask-bench-*` images) is removed again by guards, also on errors and Ctrl-C.
//!
//!   1. cold build of the xtask beside a crate that only depends on the seven crates of the design
//!   2. warm start: `cargo xtask --help`, and the binary's own `--help`
//!   3. layer caching: the test stage cold, then after editing one source file (are the `npm ci` steps CACHED?)
//!   4. the kit's overhead on a fully cached `build --stage test`, against the docker command it runs
//!   5. image size: the release image against a naive single-stage image, for each flavor this host can build
//!   6. the service: requests per second and latency (autocannon) in the release container against plain node
//!   7. `cargo xtask ci` end to end, cold and with nothing changed

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::build::{BuildFlags, Builder};
use crate::config::{Cache, Flavor};
use crate::engine::{query, Engine, Kind};
use crate::plan::{Command, Interrupted};
use crate::project::Project;
use crate::{probe, release, signals};

/// What every measurement needs.
struct Bench<'a> {
    project: &'a Project,
    engine: &'a Engine,
    flavor: Flavor,
    quick: bool,
    /// A temporary folder of this run, removed at the end.
    temp: Utf8PathBuf,
    /// The running xtask binary: timed on its own, without cargo in front.
    exe: Utf8PathBuf,
}

impl Bench<'_> {
    /// How many rounds: `full` normally, `quick` with --quick.
    fn rounds(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

type Section = fn(&Bench) -> Result<Vec<Figure>>;

const SECTIONS: [(&str, Section); 7] = [
    ("cold build of the xtask", cold_build),
    ("warm start", warm_start),
    // Before the overhead, whose first build then finds the dependencies cached.
    ("layer caching", layer_caching),
    ("the kit's overhead on a cached build", overhead),
    ("image size", image_size),
    ("the service under load", service),
    ("cargo xtask ci end to end", ci),
];

pub fn bench(project: &Project, engine: &Engine, flavor: Flavor, quick: bool, json: bool) -> Result<()> {
    if engine.kind != Kind::Docker {
        bail!("bench measures the docker engine (it prunes BuildKit's cache between cold builds); use --engine docker");
    }
    let engine_version = engine.server_version()?;
    let exe = std::env::current_exe().context("cannot find the running xtask binary")?;
    let exe = Utf8PathBuf::try_from(exe).context("the xtask binary's path is not UTF-8")?;
    let temp = TempDir::create()?;
    let _images = ImageGuard { engine, images: bench_images() };
    let bench = Bench { project, engine, flavor, quick, temp: temp.0.clone(), exe };

    let machine = Machine::probe(engine_version)?;
    let started = Instant::now();
    let mut figures = Vec::new();
    let mut unmeasured = Vec::new();
    let mut interrupted = None;
    for (number, (title, measure)) in SECTIONS.iter().enumerate() {
        let elapsed = started.elapsed().as_secs();
        eprintln!("bench: [{}/{}] {title} ({elapsed} s since the start)", number + 1, SECTIONS.len());
        match measure(&bench) {
            Ok(mut found) => figures.append(&mut found),
            Err(err) => {
                if let Some(sig) = signals::received() {
                    interrupted = Some(sig);
                    break;
                }
                eprintln!("bench: cannot measure {title}: {err:#}");
                unmeasured.push(*title);
            }
        }
    }

    let end = if interrupted.is_some() { "interrupted" } else { "done" };
    eprintln!("bench: {end} after {} s", started.elapsed().as_secs());
    if json {
        println!("{}", serde_json::to_string_pretty(&report_json(&machine, flavor, quick, &figures))?);
    } else {
        let run = if quick { "--quick" } else { "full run" };
        println!("cargo xtask bench ({run}, flavor {}), {}", flavor.as_str(), machine.describe());
        println!("\n{}", report_table(&figures));
    }
    if let Some(sig) = interrupted {
        // The figures measured until then are printed above; the temporary folder and images go with the guards.
        return Err(Interrupted(sig).into());
    }
    if !unmeasured.is_empty() {
        bail!("could not measure: {} (the reasons are above)", unmeasured.join(", "));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Cold build

/// `cargo build -p xtask --offline` into an empty target folder, beside the same for a crate that does nothing but
/// depend on the seven crates (xtask/bench/deps-only), and (not with --quick) that crate with lexopt and serde_json.
fn cold_build(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.project.root;
    let baseline = b.temp.join("deps-only");
    prepare_baseline(root, &baseline)?;
    let mut jobs = vec![
        Job::new("xtask", Command::new("cargo").args(["build", "-p", "xtask", "--offline"]), root),
        Job::new("seven-crate baseline", Command::new("cargo").args(["build", "--offline"]), &baseline),
    ];
    if !b.quick {
        let extras = Command::new("cargo").args(["build", "--offline", "--features", "extras"]);
        jobs.push(Job::new("baseline + lexopt, serde_json", extras, &baseline));
    }
    let targets: Vec<Utf8PathBuf> = (0..jobs.len()).map(|i| b.temp.join(format!("target-{i}"))).collect();
    for (job, target) in jobs.iter_mut().zip(&targets) {
        job.command.env.push(("CARGO_TARGET_DIR".into(), target.to_string()));
        // build.rs turns on the end-to-end cfg for XTASK_E2E=1 only; the timed build is the everyday one.
        job.command.env.push(("XTASK_E2E".into(), "0".into()));
    }
    let outputs = alternate(b.rounds(3, 1), &jobs, |i| remove_dir(&targets[i]))?;
    for target in &targets {
        remove_dir(target)?;
    }
    let times: Vec<Vec<f64>> = outputs.iter().map(|o| seconds(o)).collect();
    let mut figures = vec![
        Figure::new("cold build: xtask", "s", times[0].clone()).budget(Budget::AtMost(20.0)),
        Figure::new("cold build: seven-crate baseline", "s", times[1].clone()),
        Figure::new("cold build: xtask / baseline", "x", ratios(&times[0], &times[1])).budget(Budget::AtMost(1.6)),
    ];
    if let Some(extras) = times.get(2) {
        figures.push(Figure::new("cold build: baseline + lexopt, serde_json", "s", extras.clone()));
        figures.push(Figure::new(
            "cold build: (baseline + lexopt, serde_json) / baseline",
            "x",
            ratios(extras, &times[1]),
        ));
    }
    Ok(figures)
}

/// The baseline crate in `dir`: the fixture, with the workspace's Cargo.lock and [profile] table.
fn prepare_baseline(root: &Utf8Path, dir: &Utf8Path) -> Result<()> {
    let fixture = root.join("xtask/bench/deps-only");
    let mut manifest: toml::Table =
        read(&fixture.join("Cargo.toml"))?.parse().context("invalid deps-only/Cargo.toml")?;
    let workspace: toml::Table = read(&root.join("Cargo.toml"))?.parse().context("invalid Cargo.toml")?;
    if let Some(profile) = workspace.get("profile") {
        manifest.insert("profile".into(), profile.clone());
    }
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {dir}"))?;
    write(&dir.join("Cargo.toml"), &toml::to_string(&manifest)?)?;
    write(&dir.join("src/main.rs"), &read(&fixture.join("src/main.rs"))?)?;
    write(&dir.join("Cargo.lock"), &read(&root.join("Cargo.lock"))?)
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Warm start

fn warm_start(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.project.root;
    let jobs = [
        Job::new("cargo xtask --help", Command::new("cargo").args(["xtask", "--help"]), root),
        Job::new("xtask --help (the binary)", Command::new(b.exe.as_str()).arg("--help"), root),
    ];
    // Once untimed: cargo rebuilds the xtask here if a source changed since it was built.
    alternate(1, &jobs, |_| Ok(()))?;
    let times: Vec<Vec<f64>> = alternate(b.rounds(20, 10), &jobs, |_| Ok(()))?.iter().map(|o| seconds(o)).collect();
    let cargo_start: Vec<f64> = times[0].iter().zip(&times[1]).map(|(cargo, exe)| cargo - exe).collect();
    Ok(vec![
        Figure::new("warm start: cargo xtask --help", "s", times[0].clone()).budget(Budget::AtMost(0.3)),
        Figure::new("warm start: xtask --help (the binary)", "s", times[1].clone()),
        Figure::new("warm start: cargo's own start (the difference)", "s", cargo_start),
    ])
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Layer caching

/// The test stage of a scratch copy of the service (and of the Dockerfile): cold (after `docker builder prune -af`),
/// then again after one line was added to its start file. Also counts the `npm ci` steps BuildKit reports CACHED in
/// the second build.
fn layer_caching(b: &Bench) -> Result<Vec<Figure>> {
    let scratch = b.temp.join("service");
    copy_tree(&b.project.context_path(), &scratch)?;
    let mut project = bench_project(b.project, b.flavor, Some(&scratch));
    // A copy of the Dockerfile too (outside the context), so that both builds of a round use the same one even
    // while someone edits it.
    let dockerfile = b.temp.join("Dockerfile");
    write(&dockerfile, &read(&b.project.dockerfile_path())?)?;
    project.config.build.dockerfile = dockerfile;
    let builder = bench_builder(&project, b.engine, b.flavor)?;
    let stage = project.config.stages.test.as_str();
    let build = builder.command(stage, &builder.common_args(), &[format!("{}:{stage}", project.image())]);
    let source = scratch.join(builder.package.start_file(&project.config.service.start)?);
    let mut cold = Vec::new();
    let mut edited = Vec::new();
    let mut cached = Vec::new();
    let mut cached_in_cold = Vec::new();
    let mut npm_ci_count = 0;
    let rounds = b.rounds(3, 1);
    for round in 1..=rounds {
        let (cold_build, output) = once_more(&format!("round {round}"), || {
            eprintln!("bench:   docker builder prune -af (this empties the engine's whole build cache)");
            b.engine.query(&["builder", "prune", "-af"])?;
            eprintln!("bench:   test stage, cold ({round}/{rounds}): {}", build.shell_line());
            let cold_build = run(&build, &b.project.root)?;
            append(&source, &format!("// edited by cargo xtask bench, round {round}\n"))?;
            eprintln!("bench:   test stage after editing {source} ({round}/{rounds})");
            Ok((cold_build, run(&build, &b.project.root)?))
        })?;
        cold.push(cold_build.seconds);
        edited.push(output.seconds);
        cached_in_cold.push(not_cold("the cold build", &cold_build.stderr) as f64);
        let (steps, not_cached) = npm_ci_steps(&output.stderr);
        if steps == 0 {
            bail!("found no `npm ci` step in BuildKit's output (--progress plain); has the Dockerfile changed?");
        }
        if !not_cached.is_empty() {
            // Someone else pruning the engine's cache between the two builds does this too.
            eprintln!("bench:   `npm ci` ran again after the edit, not CACHED: [{}]", not_cached.join("], ["));
        }
        npm_ci_count = steps;
        cached.push((steps - not_cached.len()) as f64);
    }
    Ok(vec![
        Figure::new("test stage: cold build", "s", cold.clone()),
        Figure::new("test stage: after editing one source file", "s", edited.clone()),
        Figure::new("test stage: edited / cold", "x", ratios(&edited, &cold)).budget(Budget::AtMost(0.25)),
        Figure::new("test stage: steps CACHED in the cold build (0: truly cold)", "steps", cached_in_cold),
        Figure::new("test stage: npm ci steps CACHED after the edit", &format!("of {npm_ci_count}"), cached)
            .budget(Budget::AtLeast(npm_ci_count as f64)),
    ])
}

/// How many steps a build after `docker builder prune -af` still found CACHED, with a warning when there are any:
/// others who share the engine and build the same Dockerfile filled the cache again meanwhile.
fn not_cold(what: &str, progress: &str) -> usize {
    let cached = cached_steps(progress);
    if cached > 0 {
        eprintln!("bench:   {what} found {cached} steps CACHED: someone else built them after the prune");
    }
    cached
}

/// How many steps BuildKit's plain progress output reports CACHED (`#12 CACHED`).
fn cached_steps(progress: &str) -> usize {
    progress.lines().filter(|line| line.starts_with('#') && line.trim_end().ends_with(" CACHED")).count()
}

/// The `npm ci` steps in BuildKit's plain progress output, and those that did not come from the cache. A step is
/// announced as `#12 [dependencies 4/5] RUN … npm ci …` and, when it comes from the cache, reported as `#12 CACHED`.
/// BuildKit may announce one step under two numbers (when a cached result cannot be loaded, it runs the step again):
/// the step counts as cached only when every number it had was CACHED.
fn npm_ci_steps(progress: &str) -> (usize, Vec<&str>) {
    let mut steps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in progress.lines().filter(|line| line.starts_with('#') && line.contains("npm ci")) {
        let Some((number, rest)) = line.split_once(' ') else { continue };
        let Some((label, command)) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) else { continue };
        if command.trim_start().starts_with("RUN ") {
            steps.entry(label).or_default().push(number);
        }
    }
    let cached_line = |number: &str| progress.lines().any(|line| line.trim() == format!("{number} CACHED"));
    let not_cached = steps.iter().filter(|(_, numbers)| !numbers.iter().all(|n| cached_line(n))).map(|(l, _)| *l);
    (steps.len(), not_cached.collect())
}

// ---------------------------------------------------------------------------------------------------------------
// 4. The kit's overhead

/// `build --stage test`, fully cached, three ways: the docker command `--dry-run` prints (run by `sh -c`), the xtask
/// binary, and `cargo xtask`; and one `docker version`, the round trip to the engine the kit makes before building.
fn overhead(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.project.root;
    let stage = b.project.config.stages.test.as_str();
    let kit_args = ["--flavor", b.flavor.as_str(), "build", "--stage", stage];
    let dry_run = run(&Command::new(b.exe.as_str()).args(kit_args).arg("--dry-run"), root)?;
    let lines: Vec<&str> = dry_run.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    let [line] = lines.as_slice() else {
        bail!("expected one command from `xtask build --stage {stage} --dry-run`, got {}", lines.len());
    };
    let jobs = [
        Job::new("docker buildx build (the --dry-run line)", Command::new("sh").args(["-c", line]), root),
        Job::new(format!("xtask build --stage {stage}"), Command::new(b.exe.as_str()).args(kit_args), root),
        Job::new(format!("cargo xtask build --stage {stage}"), Command::new("cargo").arg("xtask").args(kit_args), root),
        Job::new("docker version", b.engine.command(["version", "--format", "{{.Server.Version}}"]), root),
    ];
    eprintln!("bench:   a first build, untimed, so that every step is cached");
    once_more("the first build", || run(&jobs[1].command, root))?;
    let times: Vec<Vec<f64>> = alternate(b.rounds(15, 5), &jobs, |_| Ok(()))?.iter().map(|o| seconds(o)).collect();
    Ok(vec![
        Figure::new("cached test build: docker command", "s", times[0].clone()),
        Figure::new("cached test build: xtask binary", "s", times[1].clone()),
        Figure::new("cached test build: xtask binary / docker command", "x", ratios(&times[1], &times[0]))
            .budget(Budget::AtMost(1.10)),
        Figure::new("cached test build: cargo xtask", "s", times[2].clone()),
        Figure::new("cached test build: cargo xtask / docker command", "x", ratios(&times[2], &times[0])),
        Figure::new("one engine round trip: docker version", "s", times[3].clone()),
    ])
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Image size

/// The release image against the naive single-stage one (xtask/bench/naive.FLAVOR.Dockerfile), per flavor, and
/// against the same with apt's slimming where there is one (naive-slim.FLAVOR.Dockerfile); --quick skips both. A
/// flavor whose base images this host cannot pull is listed as not run, never given a number.
fn image_size(b: &Bench) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let other = if b.flavor == Flavor::Debian { Flavor::Alpine } else { Flavor::Debian };
    for flavor in [b.flavor, other] {
        let name = |what: &str| format!("image size ({}): {what}", flavor.as_str());
        let budget = Budget::AtMost(0.6);
        if let Err(err) = pull_bases(b, flavor) {
            eprintln!("bench:   flavor {} cannot be built here: {err:#}", flavor.as_str());
            figures.push(Figure::not_run(&name("release / naive"), "x", budget, "not run on this host"));
            continue;
        }
        let release = image_mb(b.engine, &build_release(b, flavor)?)?;
        figures.push(Figure::new(&name("release"), "MB", vec![release]));
        if b.quick {
            let note = "skipped with --quick (the naive image takes minutes to build)";
            figures.push(Figure::not_run(&name("release / naive"), "x", budget, note));
            continue;
        }
        let naive = image_mb(b.engine, &build_naive(b, flavor, "naive")?)?;
        figures.push(Figure::new(&name("naive single-stage"), "MB", vec![naive]));
        figures.push(Figure::new(&name("release / naive"), "x", vec![release / naive]).budget(budget));
        if b.project.root.join(format!("xtask/bench/naive-slim.{}.Dockerfile", flavor.as_str())).is_file() {
            let slim = image_mb(b.engine, &build_naive(b, flavor, "naive-slim")?)?;
            figures.push(Figure::new(&name("naive with apt slimming"), "MB", vec![slim]));
            figures.push(Figure::new(&name("release / naive with apt slimming"), "x", vec![release / slim]));
        }
    }
    Ok(figures)
}

/// Pulls the base images a flavor needs (through the registry mirror on hosts without Docker Hub).
fn pull_bases(b: &Bench, flavor: Flavor) -> Result<()> {
    for command in crate::stages::pull_plan(b.project, b.engine, flavor, None)?.commands() {
        let args: Vec<&str> = command.args.iter().map(String::as_str).collect();
        query(&command.program, &args).with_context(|| format!("`{}` failed", command.shell_line()))?;
    }
    Ok(())
}

/// Builds xtask/bench/KIND.FLAVOR.Dockerfile with the service's folder as context and the CA secret, tagged
/// `xtask-bench-FLAVOR:KIND`; returns that reference.
fn build_naive(b: &Bench, flavor: Flavor, kind: &str) -> Result<String> {
    let project = bench_project(b.project, flavor, None);
    let image = format!("{}:{kind}", project.image());
    let dockerfile = b.project.root.join(format!("xtask/bench/{kind}.{}.Dockerfile", flavor.as_str()));
    let mut command = b.engine.build_command().args(["--file", dockerfile.as_str()]);
    if let Some(bundle) = bench_builder(&project, b.engine, flavor)?.ca_bundle() {
        command = command.args(["--secret".to_string(), format!("id=ca,src={bundle}")]);
    }
    let command = command.args(["--tag", image.as_str(), "--load", project.config.build.context.as_str()]);
    eprintln!("bench:   the {kind} image ({}): {}", flavor.as_str(), command.shell_line());
    once_more(&format!("the {kind} build"), || run(&command, &b.project.root))?;
    Ok(image)
}

/// Builds the release stage as the kit does, tagged `xtask-bench-FLAVOR:release`; returns that reference.
fn build_release(b: &Bench, flavor: Flavor) -> Result<String> {
    let project = bench_project(b.project, flavor, None);
    let builder = bench_builder(&project, b.engine, flavor)?;
    let stage = project.config.stages.release.as_str();
    let image = format!("{}:{stage}", project.image());
    let command = builder.command(stage, &builder.release_args()?, std::slice::from_ref(&image));
    eprintln!("bench:   the release image ({}): {}", flavor.as_str(), command.shell_line());
    once_more("the release build", || run(&command, &b.project.root))?;
    Ok(image)
}

/// `docker image inspect --format {{.Size}}`, in MB (10^6 bytes). Compare sizes on one engine only: the
/// containerd image store counts differently from the classic one.
fn image_mb(engine: &Engine, image: &str) -> Result<f64> {
    let size = engine.query(&["image", "inspect", "--format", "{{.Size}}", image])?;
    let bytes: f64 = size.parse().with_context(|| format!("cannot read the size of {image} from '{size}'"))?;
    Ok(bytes / 1e6)
}

// ---------------------------------------------------------------------------------------------------------------
// 6. The service under load

struct Endpoint {
    label: &'static str,
    path: &'static str,
    body: Option<&'static str>,
}

const ENDPOINTS: [Endpoint; 2] = [
    Endpoint { label: "GET /healthz", path: "/healthz", body: None },
    Endpoint { label: "POST /api/items", path: "/api/items", body: Some(r#"{"name":"bench","quantity":1}"#) },
];

const CONNECTIONS: &str = "50";

/// autocannon at 50 connections against the release container (published on 127.0.0.1) and against the same code
/// run by the host's node, alternately; also against the container's own address on the engine's bridge, where the
/// engine's userland proxy (docker-proxy) is not in the path, when this host can reach it. REDIS_URL stays unset,
/// so the rate limiter is off on all.
fn service(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.project.root;
    let autocannon = install_autocannon(root)?;
    let image = build_release(b, b.flavor)?;
    let container = start_container(b, &image)?;
    let direct = start_direct(b)?;
    let mut targets = vec![("the container", container.address.clone()), ("node on the host", direct.address.clone())];
    if let Some(address) = &container.bridge_address {
        targets.push(("the container's bridge address", address.clone()));
    }
    let duration = if b.quick { "2" } else { "5" };
    let mut figures = Vec::new();
    for endpoint in &ENDPOINTS {
        let load = |address: &str, seconds: &str| {
            let mut command =
                Command::new(autocannon.as_str()).args(["--json", "--connections", CONNECTIONS, "--duration", seconds]);
            if let Some(body) = endpoint.body {
                command = command.args(["--method", "POST", "--headers", "content-type=application/json"]);
                command = command.args(["--body", body]);
            }
            command.arg(format!("http://{address}{}", endpoint.path))
        };
        let warm_up: Vec<Job> = targets
            .iter()
            .map(|(t, a)| Job::new(format!("{}, warm-up against {t}", endpoint.label), load(a, "1"), root))
            .collect();
        alternate(1, &warm_up, |_| Ok(()))?;
        let jobs: Vec<Job> = targets
            .iter()
            .map(|(target, address)| {
                Job::new(format!("{} against {target} for {duration} s", endpoint.label), load(address, duration), root)
            })
            .collect();
        let loads = alternate(b.rounds(5, 2), &jobs, |_| Ok(()))?
            .iter()
            .map(|outputs| outputs.iter().map(|o| Load::parse(&o.stdout, endpoint.label)).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?;
        figures.extend(load_figures(endpoint.label, &loads[0], &loads[1], loads.get(2).map(Vec::as_slice)));
    }
    Ok(figures)
}

/// Requests per second, the container's against the direct run's, and the latency of each; the same for the
/// container's bridge address when it was measured (no budget: it shows what the published port costs).
fn load_figures(label: &str, container: &[Load], direct: &[Load], bridge: Option<&[Load]>) -> Vec<Figure> {
    let series = |loads: &[Load], field: fn(&Load) -> f64| loads.iter().map(field).collect::<Vec<f64>>();
    let name = |what: &str| format!("{label}: {what}");
    let ratio = ratios(&series(container, |l| l.requests), &series(direct, |l| l.requests));
    let bridge_figures = bridge.into_iter().flat_map(|bridge| {
        let ratio = ratios(&series(bridge, |l| l.requests), &series(direct, |l| l.requests));
        [
            Figure::new(&name("container by bridge address req/s"), "req/s", series(bridge, |l| l.requests)),
            Figure::new(&name("bridge address / direct req/s"), "x", ratio),
            Figure::new(&name("p50 latency bridge address"), "ms", series(bridge, |l| l.p50)),
        ]
    });
    let mut figures = vec![
        Figure::new(&name("container req/s"), "req/s", series(container, |l| l.requests)),
        Figure::new(&name("direct req/s"), "req/s", series(direct, |l| l.requests)),
        Figure::new(&name("container / direct req/s"), "x", ratio).budget(Budget::AtLeast(0.9)),
        Figure::new(&name("p50 latency container"), "ms", series(container, |l| l.p50)),
        Figure::new(&name("p50 latency direct"), "ms", series(direct, |l| l.p50)),
        Figure::new(&name("p99 latency container"), "ms", series(container, |l| l.p99)),
        Figure::new(&name("p99 latency direct"), "ms", series(direct, |l| l.p99)),
    ];
    figures.extend(bridge_figures);
    figures
}

/// One autocannon run, from its `--json` report.
struct Load {
    requests: f64,
    p50: f64,
    p99: f64,
}

impl Load {
    fn parse(report: &str, what: &str) -> Result<Load> {
        let json: serde_json::Value =
            serde_json::from_str(report).with_context(|| format!("cannot read autocannon's report for {what}"))?;
        let number = |section: &str, key: &str| {
            json[section][key]
                .as_f64()
                .with_context(|| format!("autocannon's report for {what} has no {section}.{key}"))
        };
        let count = |key: &str| json[key].as_f64().unwrap_or(0.0);
        let failed = count("non2xx") + count("errors") + count("timeouts");
        if count("2xx") == 0.0 {
            bail!("{what}: no request answered 2xx under load");
        }
        if failed > 0.0 {
            bail!(
                "{what}: {failed} requests failed or did not answer 2xx under load; the figures would be meaningless"
            );
        }
        Ok(Load {
            requests: number("requests", "average")?,
            p50: number("latency", "p50")?,
            p99: number("latency", "p99")?,
        })
    }
}

/// autocannon, installed with npm under target/bench-tools the first time.
fn install_autocannon(root: &Utf8Path) -> Result<Utf8PathBuf> {
    let tools = root.join("target/bench-tools");
    let program = tools.join("node_modules/.bin/autocannon");
    if !program.is_file() {
        eprintln!("bench:   installing autocannon into {tools}");
        let npm = Command::new("npm").args([
            "install",
            "--prefix",
            tools.as_str(),
            "autocannon@9",
            "--no-audit",
            "--no-fund",
        ]);
        run(&npm, root).context("cannot install autocannon with npm")?;
    }
    Ok(program)
}

/// A container of the release image on a free loopback port, healthy; removed when dropped.
fn start_container<'a>(b: &'a Bench, image: &str) -> Result<Running<'a>> {
    let name = format!("xtask-bench-{}", std::process::id());
    let port = b.project.config.service.port;
    let env = b.project.config.smoke.env.iter().flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")]);
    let start = b
        .engine
        .command(["run", "--detach", "--pull=never", "--name", name.as_str(), "--publish"])
        .arg(format!("127.0.0.1::{port}"))
        .args(env)
        .arg(image);
    eprintln!("bench:   starting the release container: {}", start.shell_line());
    let mut guard = Running {
        container: Some((b.engine, name.clone())),
        process: None,
        address: String::new(),
        bridge_address: None,
    };
    run(&start, &b.project.root)?;
    let timeout = Duration::from_secs(b.project.config.smoke.timeout);
    probe::wait_healthy(b.engine, &name, timeout)?;
    let published = b.engine.query(&["port", &name, &format!("{port}/tcp")])?;
    let address = published
        .lines()
        .find(|line| line.starts_with("127.0.0.1:"))
        .with_context(|| format!("container {name} publishes {port}/tcp on no loopback address ('{published}')"))?;
    guard.address = address.to_string();
    let ips =
        b.engine.query(&["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", &name])?;
    let bridge = ips.split_whitespace().next().map(|ip| format!("{ip}:{port}"));
    // A remote engine's (or rootless podman's) bridge is not reachable from here: then that figure is left out.
    let reachable = |address: &String| {
        let address = address.parse().ok();
        address.is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
    };
    guard.bridge_address = bridge.filter(reachable);
    if guard.bridge_address.is_none() {
        eprintln!("bench:   the container's bridge address ('{ips}') is not reachable from here: measured through the published port only");
    }
    Ok(guard)
}

/// The service run by the host's node on a free loopback port, answering its health path; stopped when dropped.
fn start_direct<'a>(b: &'a Bench) -> Result<Running<'a>> {
    let config = &b.project.config;
    let dir = b.project.context_path();
    let package = b.project.package()?;
    if !dir.join("node_modules").is_dir() {
        eprintln!("bench:   npm ci in {dir}");
        run(&Command::new("npm").args(["ci", "--no-audit", "--no-fund"]), &dir)?;
    }
    if package.has_script("build") {
        run(&Command::new("npm").args(["run", "build"]), &dir)?;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .context("cannot find a free port on 127.0.0.1")?
        .port();
    let address = format!("127.0.0.1:{port}");
    let log = b.temp.join("direct.log");
    let start_file = package.start_file(&config.service.start)?;
    eprintln!("bench:   starting node {start_file} in {dir} on {address} (its log: {log})");
    // As in the image: production mode, and the [smoke] env; the log goes to a file, as docker's goes to its own.
    let mut node = duct::cmd("node", [start_file.as_str()])
        .dir(dir.as_std_path())
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("NODE_ENV", "production")
        .env_remove("REDIS_URL")
        .stdin_null()
        .stdout_path(log.as_std_path())
        .stderr_to_stdout()
        .unchecked();
    for (key, value) in &config.smoke.env {
        node = node.env(key, value);
    }
    let handle = node.start().context("cannot start node")?;
    let guard = Running { container: None, process: Some(handle), address, bridge_address: None };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        check_interrupt()?;
        let answer = probe::http_get(&guard.address, &config.service.health_path, Duration::from_secs(1));
        if matches!(answer, Ok(200..=299)) {
            return Ok(guard);
        }
        let exited = guard.process.as_ref().is_some_and(|p| matches!(p.try_wait(), Ok(Some(_))));
        if exited || Instant::now() > deadline {
            bail!("node {start_file} did not answer {} on {} (see {log})", config.service.health_path, guard.address);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running service the bench started: the container is removed, the process killed, when dropped.
struct Running<'a> {
    container: Option<(&'a Engine, String)>,
    process: Option<duct::Handle>,
    address: String,
    /// The container's own address on the engine's bridge, when this host can reach it.
    bridge_address: Option<String>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some((engine, name)) = &self.container {
            let _ = engine.query(&["rm", "--force", "--volumes", name]);
        }
        if let Some(process) = &self.process {
            let _ = process.kill();
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 7. cargo xtask ci

/// `cargo xtask ci` with XTASK_FLAVOR set: cold (empty build cache, no release image), then with nothing changed.
fn ci(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.project.root;
    let references = release::compute(b.project, &b.project.package()?, None)?.references;
    let mut command = Command::new("cargo").args(["xtask", "ci"]);
    command.env.push(("XTASK_FLAVOR".into(), b.flavor.as_str().into()));
    let mut cold = Vec::new();
    let mut unchanged = Vec::new();
    let mut cached_in_cold = Vec::new();
    let rounds = b.rounds(2, 1);
    for round in 1..=rounds {
        let (cold_ci, unchanged_ci) = once_more(&format!("round {round}"), || {
            eprintln!("bench:   docker builder prune -af, and removing the release image {}", references.join(" "));
            b.engine.query(&["builder", "prune", "-af"])?;
            let mut remove = vec!["image", "rm", "--force"];
            remove.extend(references.iter().map(String::as_str));
            // Absent tags are not an error here: the point is only that none is left.
            let _ = b.engine.query(&remove);
            eprintln!("bench:   {}, cold ({round}/{rounds})", command.shell_line());
            let cold_ci = run(&command, root)?;
            eprintln!("bench:   {}, nothing changed ({round}/{rounds})", command.shell_line());
            Ok((cold_ci, run(&command, root)?))
        })?;
        cold.push(cold_ci.seconds);
        unchanged.push(unchanged_ci.seconds);
        // The executor prints `==> TITLE` before each step; the first build's output follows its line.
        let first_build = cold_ci.stderr.split("==> ").find(|step| step.starts_with("build stage")).unwrap_or("");
        cached_in_cold.push(not_cold("the cold ci's first build", first_build) as f64);
    }
    Ok(vec![
        Figure::new("cargo xtask ci: cold", "s", cold),
        Figure::new("cargo xtask ci: steps CACHED in its first build (0: truly cold)", "steps", cached_in_cold),
        Figure::new("cargo xtask ci: nothing changed", "s", unchanged),
    ])
}

// ---------------------------------------------------------------------------------------------------------------
// Running and timing commands

/// A command the bench times, what it is (for the progress lines), and the folder it runs in.
struct Job {
    what: String,
    command: Command,
    dir: Utf8PathBuf,
}

impl Job {
    fn new(what: impl Into<String>, command: Command, dir: &Utf8Path) -> Job {
        Job { what: what.into(), command, dir: dir.to_owned() }
    }
}

struct Output {
    seconds: f64,
    stdout: String,
    stderr: String,
}

/// Runs every job once per round, the first one rotating from round to round; `before(i)` runs untimed before job
/// `i` (e.g. to empty its target folder). Returns each job's outputs, in round order.
fn alternate(rounds: usize, jobs: &[Job], mut before: impl FnMut(usize) -> Result<()>) -> Result<Vec<Vec<Output>>> {
    let mut outputs: Vec<Vec<Output>> = jobs.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..jobs.len() {
            let i = (round + k) % jobs.len();
            before(i)?;
            eprintln!("bench:   {} ({}/{rounds}): {}", jobs[i].what, round + 1, jobs[i].command.shell_line());
            outputs[i].push(run(&jobs[i].command, &jobs[i].dir)?);
        }
    }
    Ok(outputs)
}

/// Runs a command to its end with its output captured, and times it. The bench blocks in `wait` meanwhile, so it
/// takes no CPU from what it measures. A failure is an error, after the last lines of the command's output.
fn run(command: &Command, dir: &Utf8Path) -> Result<Output> {
    check_interrupt()?;
    let mut expression = duct::cmd(&command.program, &command.args)
        .dir(dir.as_std_path())
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked();
    for (key, value) in &command.env {
        expression = expression.env(key, value);
    }
    let started = Instant::now();
    let output = expression.run().with_context(|| format!("cannot start {}", command.program))?;
    let seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        check_interrupt()?;
        let lines: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        eprintln!("--- last lines of its output ---\n{tail}\n---");
        bail!("`{}` failed ({}) in {dir}", command.shell_line(), output.status);
    }
    Ok(Output { seconds, stdout, stderr })
}

/// Tries again once when `attempt` fails: others who share the engine may prune its build cache at any moment, and
/// a build then fails with "parent snapshot … does not exist". A second failure is the error.
fn once_more<T>(what: &str, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    attempt().or_else(|err| {
        check_interrupt()?;
        eprintln!("bench:   {what} failed ({err:#}); once more, in case someone pruned the engine's cache meanwhile");
        attempt()
    })
}

fn seconds(outputs: &[Output]) -> Vec<f64> {
    outputs.iter().map(|o| o.seconds).collect()
}

fn check_interrupt() -> Result<()> {
    match signals::received() {
        Some(sig) => Err(Interrupted(sig).into()),
        None => Ok(()),
    }
}

/// The project as the bench builds it: images named `xtask-bench-FLAVOR` (never the team's own tags), and
/// optionally another build context (a scratch copy of the service).
fn bench_project(project: &Project, flavor: Flavor, context: Option<&Utf8Path>) -> Project {
    let mut config = project.config.clone();
    config.image.name = format!("xtask-bench-{}", flavor.as_str());
    config.image.registry = String::new();
    if let Some(context) = context {
        config.build.context = context.to_owned();
    }
    Project { root: project.root.clone(), config }
}

/// The kit's builder with plain progress (the `CACHED` lines are read from it) and no imported or exported build
/// cache, whatever xtask.toml says: a cold build must be cold.
fn bench_builder<'a>(project: &'a Project, engine: &'a Engine, flavor: Flavor) -> Result<Builder<'a>> {
    let flags = BuildFlags { progress: Some("plain".into()), cache: Some(Cache::None), ..BuildFlags::default() };
    Builder::new(project, engine, flavor, flags)
}

/// Every image the bench may tag, removed at the end.
fn bench_images() -> Vec<String> {
    let mut images = Vec::new();
    for flavor in ["alpine", "debian"] {
        for tag in ["test", "release", "naive", "naive-slim"] {
            images.push(format!("xtask-bench-{flavor}:{tag}"));
        }
    }
    images
}

struct ImageGuard<'a> {
    engine: &'a Engine,
    images: Vec<String>,
}

impl Drop for ImageGuard<'_> {
    fn drop(&mut self) {
        let mut remove = vec!["image", "rm", "--force"];
        remove.extend(self.images.iter().map(String::as_str));
        // Images never built are not an error.
        let _ = self.engine.query(&remove);
    }
}

/// The run's temporary folder, removed when dropped.
struct TempDir(Utf8PathBuf);

impl TempDir {
    fn create() -> Result<TempDir> {
        let base = Utf8PathBuf::try_from(std::env::temp_dir()).context("the temporary folder's path is not UTF-8")?;
        let dir = base.join(format!("xtask-bench-{}", std::process::id()));
        remove_dir(&dir)?;
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Files

fn read(path: &Utf8Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))
}

fn write(path: &Utf8Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {path}"))
}

fn append(path: &Utf8Path, text: &str) -> Result<()> {
    let old = read(path)?;
    write(path, &format!("{old}{text}"))
}

fn remove_dir(dir: &Utf8Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove {dir}"))
        }
        _ => Ok(()),
    }
}

/// Copies the service's folder without its node_modules (the image installs its own).
fn copy_tree(from: &Utf8Path, to: &Utf8Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {to}"))?;
    for entry in from.read_dir_utf8().with_context(|| format!("cannot read {from}"))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() && entry.file_name() != "node_modules" {
            copy_tree(entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {} to {target}", entry.path()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Figures and the report

#[derive(Debug, Clone, Copy, PartialEq)]
enum Budget {
    AtMost(f64),
    AtLeast(f64),
}

#[derive(Debug, Clone, PartialEq)]
struct Figure {
    name: String,
    unit: String,
    samples: Vec<f64>,
    budget: Option<Budget>,
    /// Why there is no number, e.g. "not run on this host".
    note: Option<String>,
}

impl Figure {
    fn new(name: &str, unit: &str, samples: Vec<f64>) -> Figure {
        Figure { name: name.to_string(), unit: unit.to_string(), samples, budget: None, note: None }
    }

    fn not_run(name: &str, unit: &str, budget: Budget, note: &str) -> Figure {
        Figure { note: Some(note.to_string()), ..Figure::new(name, unit, Vec::new()).budget(budget) }
    }

    fn budget(self, budget: Budget) -> Figure {
        Figure { budget: Some(budget), ..self }
    }

    fn median(&self) -> Option<f64> {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(sorted[n / 2]),
            _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }
    }

    fn min(&self) -> Option<f64> {
        self.samples.iter().copied().min_by(f64::total_cmp)
    }

    fn max(&self) -> Option<f64> {
        self.samples.iter().copied().max_by(f64::total_cmp)
    }

    /// Within budget, judged on the median; None without a budget or a number.
    fn pass(&self) -> Option<bool> {
        match (self.budget?, self.median()?) {
            (Budget::AtMost(limit), median) => Some(median <= limit),
            (Budget::AtLeast(limit), median) => Some(median >= limit),
        }
    }

    fn budget_text(&self) -> String {
        match self.budget {
            Some(Budget::AtMost(limit)) => format!("≤ {}", show(limit, &self.unit)),
            Some(Budget::AtLeast(limit)) => format!("≥ {}", show(limit, &self.unit)),
            None => String::new(),
        }
    }
}

/// Per-round ratios of two alternated series.
fn ratios(numerators: &[f64], denominators: &[f64]) -> Vec<f64> {
    numerators.iter().zip(denominators).map(|(a, b)| a / b).collect()
}

/// A value with its unit, to the precision that means something.
fn show(value: f64, unit: &str) -> String {
    match unit {
        "s" if value < 1.0 => format!("{value:.3} s"),
        "s" if value < 10.0 => format!("{value:.2} s"),
        "s" => format!("{value:.1} s"),
        "x" => format!("{value:.2}x"),
        "req/s" => format!("{value:.0} req/s"),
        "ms" | "MB" => format!("{value:.1} {unit}"),
        _ => format!("{value:.0} {unit}"),
    }
}

fn report_table(figures: &[Figure]) -> String {
    let mut rows = vec![["figure".to_string(), "median (min–max)".to_string(), "budget".into(), "pass/FAIL".into()]];
    for figure in figures {
        let value = match (figure.median(), figure.min(), figure.max()) {
            (Some(median), Some(min), Some(max)) => {
                let unit = figure.unit.as_str();
                let spread =
                    |v: f64| show(v, unit).trim_end_matches(&format!(" {unit}")).trim_end_matches('x').to_string();
                let runs = figure.samples.len();
                let runs = if runs == 1 { "1 run".to_string() } else { format!("{runs} runs") };
                format!("{} ({}–{}, {runs})", show(median, unit), spread(min), spread(max))
            }
            _ => figure.note.clone().unwrap_or_default(),
        };
        let verdict = match figure.pass() {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None if figure.note.is_some() => "not run",
            None => "",
        };
        rows.push([figure.name.clone(), value, figure.budget_text(), verdict.to_string()]);
    }
    let widths: Vec<usize> = (0..4).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let line = |row: &[String; 4]| {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:w$}")).collect();
        format!("| {} |", cells.join(" | "))
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut lines = vec![line(&rows[0]), format!("|-{}-|", rule.join("-|-"))];
    lines.extend(rows[1..].iter().map(line));
    lines.join("\n")
}

struct Machine {
    hostname: String,
    nproc: usize,
    kernel: String,
    engine: String,
    date: String,
}

impl Machine {
    fn probe(engine: String) -> Result<Machine> {
        Ok(Machine {
            hostname: query("uname", &["-n"])?,
            nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            kernel: query("uname", &["-r"])?,
            engine,
            date: query("date", &["-u", "+%FT%TZ"])?,
        })
    }

    fn describe(&self) -> String {
        let Machine { hostname, nproc, kernel, engine, date } = self;
        format!("{date} on {hostname}: {nproc} CPUs, Linux {kernel}, Docker Engine {engine}")
    }
}

fn report_json(machine: &Machine, flavor: Flavor, quick: bool, figures: &[Figure]) -> serde_json::Value {
    let figures: Vec<serde_json::Value> = figures
        .iter()
        .map(|f| {
            let mut figure = serde_json::json!({
                "name": f.name,
                "median": f.median(),
                "min": f.min(),
                "max": f.max(),
                "unit": f.unit,
                "runs": f.samples.len(),
                "budget": f.budget.map(|_| f.budget_text()),
                "pass": f.pass(),
            });
            if let Some(note) = &f.note {
                figure["note"] = note.clone().into();
            }
            figure
        })
        .collect();
    serde_json::json!({
        "machine": {
            "hostname": machine.hostname,
            "nproc": machine.nproc,
            "kernel": machine.kernel,
            "engine": machine.engine,
        },
        "date": machine.date,
        "flavor": flavor.as_str(),
        "quick": quick,
        "figures": figures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_and_budgets() {
        let figure = Figure::new("f", "s", vec![3.0, 1.0, 2.0, 10.0]).budget(Budget::AtMost(2.5));
        assert_eq!((figure.median(), figure.min(), figure.max()), (Some(2.5), Some(1.0), Some(10.0)));
        assert_eq!(figure.pass(), Some(true));
        assert_eq!(Figure::new("f", "x", vec![0.8]).budget(Budget::AtLeast(0.9)).pass(), Some(false));
        assert_eq!(Figure::new("f", "x", vec![0.8]).pass(), None);
        assert_eq!(Figure::not_run("f", "x", Budget::AtMost(0.6), "not run on this host").pass(), None);
    }

    #[test]
    fn finds_npm_ci_steps_not_cached() {
        let progress = "#11 [dependencies 3/5] RUN --mount=type=cache,target=/root/.npm  npm ci --prefix /prod\n\
                        #11 CACHED\n\
                        #12 [dependencies 4/5] RUN --mount=type=cache,target=/root/.npm  npm ci --include=dev\n\
                        #12 DONE 8.1s\n\
                        #13 [build 1/2] COPY . .\n\
                        #13 CACHED\n";
        assert_eq!(npm_ci_steps(progress), (2, vec!["dependencies 4/5"]));
        assert_eq!(cached_steps(progress), 2);
        assert_eq!(npm_ci_steps(""), (0, vec![]));
        let announced_twice = "#9 [dependencies 3/5] RUN npm ci --omit=dev\n#9 CACHED\n\
                               #17 [dependencies 3/5] RUN npm ci --omit=dev\n#17 DONE 9.0s\n";
        assert_eq!(npm_ci_steps(announced_twice), (1, vec!["dependencies 3/5"]));
    }

    #[test]
    fn table_shows_spread_budget_and_verdict() {
        let figures = [
            Figure::new("ratio", "x", vec![1.2, 1.0, 1.4]).budget(Budget::AtMost(1.1)),
            Figure::not_run("alpine", "x", Budget::AtMost(0.6), "not run on this host"),
        ];
        let table = report_table(&figures);
        assert!(table.contains("| 1.20x (1.00–1.40, 3 runs) | ≤ 1.10x | FAIL"), "{table}");
        assert!(table.contains("not run on this host"), "{table}");
        assert!(table.contains("| not run"), "{table}");
    }
}
