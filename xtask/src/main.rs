//! `cargo xtask`: the container workflow of the Node service, over the docker (or podman) CLI.
//!
//! Layers, each importing only from those below it:
//! - bottom: `process` (the argv type, captured queries), `signals`, `engine`, `gha`, and the pure
//!   parsers `dockerfile` and `tags`;
//! - the project's facts, read once per command: `config` (xtask.toml) and `project` (the Dockerfile's
//!   stage graph, package.json and lockfile, git and the release tags);
//! - plans and the one executor, which knows no command: `plan`, `checks`, `build`, and `sbom` (the SBOM,
//!   cosign's signatures and their check, run by the executor);
//! - one module per command (`stages`, `inspect`, `release`, `run`, `compose`, `ci`, `doctor`, `new`,
//!   `update`, `shell`, `dev`; `verify` in `release`), the command line (`cli`) and the dispatch below.

mod build;
mod checks;
mod ci;
mod cli;
mod compose;
mod config;
mod dev;
mod dockerfile;
mod doctor;
mod engine;
mod expand;
mod gha;
mod inspect;
mod new;
mod plan;
mod process;
mod project;
mod release;
mod rename;
mod run;
mod sbom;
mod shell;
mod signals;
mod stages;
mod tags;
mod update;

use std::process::ExitCode;

use anyhow::Result;

use crate::build::{BuildFlags, BuildSetup};
use crate::cli::{Global, Parsed, Task};
use crate::engine::Engine;
use crate::plan::{execute_on, Interrupted, StepFailed};
use crate::project::Project;

fn main() -> ExitCode {
    signals::install();
    // A command line that cannot be parsed exits 2.
    let (status, err) = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Help(command)) => {
            print!("{}", cli::help(command));
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Run(global, task)) => match run(&global, task) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(err) => (exit_status(&err), err),
        },
        Err(err) => (2, err),
    };
    eprintln!("error: {err:#}");
    ExitCode::from(status)
}

/// Docker's own status where docker failed, 128 + signal when interrupted, else 1.
fn exit_status(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|cause| match (cause.downcast_ref::<StepFailed>(), cause.downcast_ref::<Interrupted>()) {
            (Some(failed), _) => Some(u8::try_from(failed.status).ok().filter(|s| *s != 0).unwrap_or(1)),
            (None, Some(Interrupted(sig))) => Some(128 + *sig as u8),
            (None, None) => None,
        })
        .unwrap_or(1)
}

fn run(global: &Global, task: Task) -> Result<()> {
    let engine = Engine::select(global.engine.as_deref(), global.context.clone())?;
    if task == Task::Doctor {
        if global.dry_run {
            doctor::print_dry_run(&engine);
            return Ok(());
        }
        return doctor::doctor(&engine);
    }
    let project = Project::discover(&project::current_dir()?, global.flavor.as_deref())?;
    let options = plan::Options { dry_run: global.dry_run, verbose: global.verbose, root: project.root.clone() };
    let setup = |flags: BuildFlags| BuildSetup::new(&project, &engine, flags);
    // The compose commands build nothing: the default flags.
    let stack = || setup(BuildFlags::default());
    // Checks the builder can do what the flags ask before the first build starts.
    let checked = |flags: BuildFlags| -> Result<BuildSetup> {
        let setup = setup(flags)?;
        if !global.dry_run {
            setup.check_builder()?;
        }
        Ok(setup)
    };
    let plan = match task {
        Task::Doctor => unreachable!("handled above, before the project is read"),
        Task::Stages => return stages::print_stages(&project, &engine),
        Task::Inspect => return inspect::inspect(&project),
        Task::New { dir, name } => return new::new_project(&project.root, &dir, name.as_deref(), global.dry_run),
        Task::Update { to, from, base } => {
            return update::update(&project.root, &update::Request { to, from, base }, global.dry_run)
        }
        Task::Tags { json, registry } => {
            release::print_tags(&project.release(registry.as_deref())?, json);
            return Ok(());
        }
        Task::Ci(flags) => return ci::ci(&setup(flags)?, &options),
        Task::Pull { platform } => stages::pull_plan(&project, &engine, platform.as_deref())?,
        Task::Build { stage, flags } => build::build_plan(&checked(flags)?, stage.as_deref())?,
        Task::Lint(flags) => build::lint_plan(&checked(flags)?)?,
        Task::Test(flags) => match build::test_plan(&checked(flags)?)? {
            Some(plan) => plan,
            None => {
                eprintln!("xtask: the service has no tests ([service] tests = false in xtask.toml); nothing to run");
                return Ok(());
            }
        },
        Task::Release { flags, registry, push, force, sign } => {
            let setup = checked(flags)?;
            let key = sign.then(|| sbom::signing_key(&project));
            if let (Some(key), false) = (&key, global.dry_run) {
                sbom::check_signing(&engine, key.as_deref())?;
            }
            release::release_plan(&setup, &project.release(registry.as_deref())?, push, force, key)?
        }
        Task::Verify { image, registry } => {
            release::verify_plan(&project, &engine, image.as_deref(), registry.as_deref())?
        }
        Task::Up => {
            let stack = stack()?;
            execute_on(&engine, &compose::up_plan(&stack)?, &options)?;
            if !global.dry_run {
                eprintln!("the stack is up: {}", compose::url(&stack));
            }
            return Ok(());
        }
        Task::Down { volumes, yes } => {
            if volumes && !global.dry_run {
                compose::confirm_volume_deletion(yes)?;
            }
            compose::down_plan(&stack()?, volumes)?
        }
        Task::Logs { service, follow } => compose::logs_plan(&stack()?, service.as_deref(), follow)?,
        Task::Ps => compose::ps_plan(&stack()?)?,
        Task::Dev(flags) => return dev::dev(&checked(flags)?, &options),
        Task::Shell { stage, flags } => return shell::shell(&checked(flags)?, stage.as_deref(), &options),
        Task::Run => run::run_plan(&project, &engine, &run::release_image(&project)?)?,
        Task::Smoke => run::smoke_plan(&project, &engine, &run::release_image(&project)?)?,
    };
    execute_on(&engine, &plan, &options)
}
