//! Section 5, image size; and the release image's build the service section shares.

use anyhow::{Context, Result};

use crate::exec::{self, docker, once_more, run, Command};
use crate::kit;
use crate::report::{Budget, Figure};
use crate::Bench;

/// Where the naive Dockerfiles are, from the project's root.
const FIXTURES: &str = "xtask/bench";

/// The release image against the naive single-stage one (xtask/bench/naive.FLAVOR.Dockerfile), per flavor, and
/// against the same with apt's slimming where there is one (naive-slim.FLAVOR.Dockerfile); --quick skips both. A
/// flavor whose base images this host cannot pull is listed as not run, never given a number.
pub fn image_size(b: &Bench) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let other = if b.flavor == "debian" { "alpine" } else { "debian" };
    for flavor in [b.flavor.as_str(), other] {
        let name = |what: &str| format!("image size ({flavor}): {what}");
        let budget = Budget::AtMost(0.6);
        if let Err(err) = pull_bases(b, flavor) {
            eprintln!("bench:   flavor {flavor} cannot be built here: {err:#}");
            figures.push(Figure::not_run(&name("release / naive"), "x", budget, "not run on this host"));
            continue;
        }
        let release = build_release(b, flavor)?;
        let release_mb = image_mb(&kit::tag(&release)?)?;
        figures.push(Figure::new(&name("release"), "MB", vec![release_mb]));
        if b.quick {
            let note = "skipped with --quick (the naive image takes minutes to build)";
            figures.push(Figure::not_run(&name("release / naive"), "x", budget, note));
            continue;
        }
        let naive = image_mb(&build_naive(b, flavor, "naive", &release)?)?;
        figures.push(Figure::new(&name("naive single-stage"), "MB", vec![naive]));
        figures.push(Figure::new(&name("release / naive"), "x", vec![release_mb / naive]).budget(budget));
        if b.root.join(format!("{FIXTURES}/naive-slim.{flavor}.Dockerfile")).is_file() {
            let slim = image_mb(&build_naive(b, flavor, "naive-slim", &release)?)?;
            figures.push(Figure::new(&name("naive with apt slimming"), "MB", vec![slim]));
            figures.push(Figure::new(&name("release / naive with apt slimming"), "x", vec![release_mb / slim]));
        }
    }
    Ok(figures)
}

/// Pulls the base images a flavor needs, as `xtask pull --dry-run` lists them (through the registry mirror on hosts
/// without Docker Hub).
fn pull_bases(b: &Bench, flavor: &str) -> Result<()> {
    for line in kit::dry_run(b, &b.root, flavor, &["pull"])? {
        let command = Command::from_line(&line)?;
        let args: Vec<&str> = command.args.iter().map(String::as_str).collect();
        exec::query(&command.program, &args)?;
    }
    Ok(())
}

/// Builds the release stage as the kit does, tagged `xtask-bench-FLAVOR:release`; returns the command it ran.
pub fn build_release(b: &Bench, flavor: &str) -> Result<Command> {
    let context = b.settings.context(&b.root);
    let dockerfile = b.settings.dockerfile(&b.root);
    let project = kit::bench_project(b, &format!("release-{flavor}"), flavor, &context, &dockerfile)?;
    let command = kit::build_command(b, &project, flavor, &b.settings.stages.release)?;
    eprintln!("bench:   the release image ({flavor}): {}", command.shell_line());
    once_more("the release build", || run(&command, &b.root))?;
    Ok(command)
}

/// Builds xtask/bench/KIND.FLAVOR.Dockerfile with the service's folder as context and the CA secret the kit passes
/// to `release` (`--secret id=ca,…`), tagged `xtask-bench-FLAVOR:KIND`; returns that reference.
fn build_naive(b: &Bench, flavor: &str, kind: &str, release: &Command) -> Result<String> {
    let image = format!("xtask-bench-{flavor}:{kind}");
    let dockerfile = b.root.join(format!("{FIXTURES}/{kind}.{flavor}.Dockerfile"));
    let mut command = Command::new("docker").args(["buildx", "build", "--file", dockerfile.as_str()]);
    for secret in kit::flag_values(release, "--secret").into_iter().filter(|s| s.starts_with("id=ca,")) {
        command = command.args(["--secret", secret]);
    }
    let context = b.settings.context(&b.root);
    let command = command.args(["--tag", image.as_str(), "--load", context.as_str()]);
    eprintln!("bench:   the {kind} image ({flavor}): {}", command.shell_line());
    once_more(&format!("the {kind} build"), || run(&command, &b.root))?;
    Ok(image)
}

/// `docker image inspect --format {{.Size}}`, in MB (10^6 bytes). Compare sizes on one engine only: the
/// containerd image store counts differently from the classic one.
fn image_mb(image: &str) -> Result<f64> {
    let size = docker(&["image", "inspect", "--format", "{{.Size}}", image])?;
    let bytes: f64 = size.parse().with_context(|| format!("cannot read the size of {image} from '{size}'"))?;
    Ok(bytes / 1e6)
}
