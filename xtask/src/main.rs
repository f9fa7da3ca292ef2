//! `cargo xtask`: the container workflow of the Node service, over the docker (or podman) CLI.
//! Each command turns xtask.toml + the Dockerfile + flags into a plan; `plan::execute` runs it.

mod build;
mod ci;
mod cli;
mod compose;
mod config;
mod dockerfile;
mod doctor;
mod engine;
mod gha;
mod inspect;
mod new;
mod plan;
mod probe;
mod project;
mod release;
mod run;
mod signals;
mod stages;
mod tags;

use std::process::ExitCode;

use anyhow::{Context, Result};
use camino::Utf8PathBuf;

use crate::build::{BuildFlags, Builder};
use crate::cli::Cli;
use crate::engine::Engine;
use crate::plan::{Interrupted, Plan, StepFailed};
use crate::project::Project;

fn main() -> ExitCode {
    signals::install();
    let cli = match cli::parse(std::env::args_os().skip(1)) {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_status(&err))
        }
    }
}

/// Docker's own status where docker failed, 128 + signal when interrupted, else 1.
fn exit_status(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(failed) = cause.downcast_ref::<StepFailed>() {
            return u8::try_from(failed.status).ok().filter(|s| *s != 0).unwrap_or(1);
        }
        if let Some(Interrupted(sig)) = cause.downcast_ref::<Interrupted>() {
            return 128 + *sig as u8;
        }
    }
    1
}

fn run(cli: &Cli) -> Result<()> {
    if cli.help {
        print!("{}", cli::help(&cli.command));
        return Ok(());
    }
    let engine = Engine::select(cli.engine.as_deref(), cli.context.clone())?;
    if cli.command == "doctor" {
        if cli.dry_run {
            doctor::print_dry_run(&engine);
            return Ok(());
        }
        return doctor::doctor(&engine);
    }
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let cwd = Utf8PathBuf::from_path_buf(cwd)
        .map_err(|p| anyhow::anyhow!("the current folder {} is not UTF-8", p.display()))?;
    let project = Project::discover(&cwd)?;
    let flavor = project::flavor_from(cli.flavor.as_deref(), project.config.build.flavor)?;
    let options = plan::Options { dry_run: cli.dry_run, verbose: cli.verbose, root: project.root.clone() };

    // Everything that builds or drives the stack needs package.json and the build flags.
    let builder = || -> Result<Builder> {
        let flags = BuildFlags::from_cli(cli)?;
        Builder::new(&project, &engine, flavor, flags)
    };
    let plan = match cli.command.as_str() {
        "stages" => return stages::print_stages(&project, flavor),
        "inspect" => return inspect::inspect(&project, &project.package()?, flavor),
        "new" => {
            let target = camino::Utf8Path::new(cli.positional.as_deref().unwrap_or_default());
            return new::new_project(&project.root, target, cli.name.as_deref(), cli.dry_run);
        }
        "tags" => {
            let release = release::compute(&project, &project.package()?, cli.registry.as_deref())?;
            release::print_tags(&release, cli.json);
            return Ok(());
        }
        "ci" => return ci::ci(&builder()?, &options),
        "pull" => {
            if let Some(platform) = &cli.platform {
                build::check_platforms(platform)?;
            }
            stages::pull_plan(&project, &engine, flavor, cli.platform.as_deref())?
        }
        "build" | "lint" | "test" | "release" => {
            let builder = builder()?;
            if !cli.dry_run {
                builder.check_builder()?;
            }
            match cli.command.as_str() {
                "build" => build::build_plan(&builder, cli.stage.as_deref())?,
                "lint" => build::lint_plan(&builder)?,
                "test" => {
                    match build::test_plan(&builder)? {
                        Some(plan) => plan,
                        None => {
                            eprintln!("xtask: the service has no tests ([service] tests = false in xtask.toml); nothing to run");
                            return Ok(());
                        }
                    }
                }
                _ => {
                    let release = release::compute(&project, &builder.package, cli.registry.as_deref())?;
                    release::release_plan(&builder, &release, cli.push, cli.force)?
                }
            }
        }
        "up" => {
            let builder = builder()?;
            execute(&compose::up_plan(&builder)?, &options, &engine)?;
            if !cli.dry_run {
                eprintln!("the stack is up: {}", compose::url(&builder));
            }
            return Ok(());
        }
        "down" => {
            if cli.volumes && !cli.dry_run {
                compose::confirm_volume_deletion(cli.yes)?;
            }
            compose::down_plan(&builder()?, cli.volumes)?
        }
        "logs" => compose::logs_plan(&builder()?, cli.positional.as_deref(), cli.follow)?,
        "ps" => compose::ps_plan(&builder()?)?,
        "run" => run::run_plan(&project, &engine, &run::release_image(&project, &project.package()?))?,
        "smoke" => run::smoke_plan(&project, &engine, &run::release_image(&project, &project.package()?))?,
        other => unreachable!("cli::parse accepts only the commands in its table, not {other}"),
    };
    execute(&plan, &options, &engine)
}

/// Runs a plan whose steps call the engine: first a quick check that the engine answers, so an
/// unreachable daemon is one clear line instead of a failed build.
pub fn execute(plan: &Plan, options: &plan::Options, engine: &Engine) -> Result<()> {
    if !options.dry_run {
        engine.server_version()?;
    }
    plan::execute(plan, options, &mut Vec::new())
}
