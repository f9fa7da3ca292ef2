//! `shell [--stage S]`: a shell in a stage's image, as the stage's user in its working directory, removed on exit.
//! When the build fails in the stage's own steps, the shell opens in its parent (the state before them) and says
//! what failed; when it fails in a stage it is built or copies from, the search moves there.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use anyhow::{bail, Result};

use crate::build::{build_plan, BuildSetup};
use crate::dockerfile::{Base, Stage};
use crate::expand::{instructions, split_keyword};
use crate::plan::{execute_on, print_dry_run, Options, Plan, Step, StepFailed};
use crate::process::shell_quote;
use crate::project::Role;

pub fn shell(setup: &BuildSetup, stage: Option<&str>, options: &Options) -> Result<()> {
    let project = setup.project;
    let dockerfile = project.dockerfile()?;
    let stage = match stage {
        Some(name) => dockerfile.find_stage(name, project.config.build.dockerfile.as_str())?,
        None => dockerfile.find_stage(&project.role_stage(Role::Test)?, "")?,
    };
    let image = |stage: &Stage| format!("{}:{}", project.image(), name(stage));
    if options.dry_run {
        let mut plan = build_plan(setup, Some(&name(stage)))?;
        plan.steps.extend(shell_plan(setup, &image(stage)).steps);
        print_dry_run(&plan, &options.root);
        println!("# if the build fails in {}'s own steps: the same shell in its parent, with what failed", name(stage));
        return Ok(());
    }
    if built(setup, stage, options)? {
        return execute_on(setup.engine, &shell_plan(setup, &image(stage)), options);
    }
    // Each stage the failed one is built or copies from is built in turn: the first that fails is searched the same
    // way; when all build, the failure is in the stage's own steps.
    let args = graph_args(setup)?;
    let mut failed = stage;
    'search: loop {
        for base in dockerfile.direct_deps(failed.index, &args)? {
            if let Base::Stage(index) = base {
                if !built(setup, &dockerfile.stages[index], options)? {
                    failed = &dockerfile.stages[index];
                    continue 'search;
                }
            }
        }
        break;
    }
    let parent = match dockerfile.parent(failed, &args)? {
        Base::Stage(index) => image(&dockerfile.stages[index]),
        Base::Image(image) => image,
        Base::Scratch => {
            bail!("stage '{}' failed in its own steps, and it is FROM scratch: no shell before them", name(failed))
        }
    };
    explain(setup, failed, &parent)?;
    execute_on(setup.engine, &shell_plan(setup, &parent), options)
}

fn name(stage: &Stage) -> String {
    stage.name.clone().unwrap_or_else(|| stage.index.to_string())
}

/// Builds the stage, tagged IMAGE:STAGE; false when the build failed (an interrupt is an error).
fn built(setup: &BuildSetup, stage: &Stage, options: &Options) -> Result<bool> {
    match execute_on(setup.engine, &build_plan(setup, Some(&name(stage)))?, options) {
        Ok(()) => Ok(true),
        Err(err) if err.downcast_ref::<StepFailed>().is_some() => Ok(false),
        Err(err) => Err(err),
    }
}

/// The build args FROM lines see, as `build` passes them.
fn graph_args(setup: &BuildSetup) -> Result<BTreeMap<String, String>> {
    let platform = setup.engine.platform();
    let mut args = setup.project.stage_graph_args(&platform, &platform)?;
    args.extend(setup.common_args());
    args.extend(setup.flags.build_args.iter().cloned());
    Ok(args)
}

/// What the shell in `parent` holds, and the failed stage's own steps: the command, ready to run, when it is one.
fn explain(setup: &BuildSetup, failed: &Stage, parent: &str) -> Result<()> {
    let project = setup.project;
    let (file, stages) = (&project.config.build.dockerfile, &project.dockerfile()?.stages);
    let end = stages.get(failed.index + 1).map_or(usize::MAX, |next| next.line);
    let (_, all) = instructions(&std::fs::read_to_string(project.dockerfile_path())?)?;
    let steps: Vec<&(usize, String)> = all.iter().filter(|(line, _)| *line > failed.line && *line < end).collect();
    let stage = name(failed);
    eprintln!("xtask: stage '{stage}' failed in its own steps; this shell is {parent}, the state before them.");
    if let [(line, step)] = steps.as_slice() {
        let (keyword, rest) = split_keyword(step);
        if keyword.eq_ignore_ascii_case("RUN") {
            let (flags, command) = run_command(rest);
            let without = if flags.is_empty() { String::new() } else { format!(" (the build ran it with {flags})") };
            eprintln!("xtask: the failing step, {file} line {line}, ready to run{without}:\n    {command}");
            return Ok(());
        }
    }
    eprintln!(
        "xtask: the shell holds none of '{stage}''s steps in {file} (the output above names the one that failed):"
    );
    for (line, step) in steps {
        eprintln!("    line {line}: {}", step.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    Ok(())
}

/// A RUN instruction's `--flag=…` words and its command as a shell line (exec form turned into words).
fn run_command(rest: &str) -> (String, String) {
    let mut rest = rest.trim_start();
    let mut flags = Vec::new();
    while rest.starts_with("--") {
        let (flag, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        flags.push(flag);
        rest = tail.trim_start();
    }
    let command = match serde_json::from_str::<Vec<String>>(rest) {
        Ok(words) => words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" "),
        Err(_) => rest.split_whitespace().collect::<Vec<_>>().join(" "),
    };
    (flags.join(" "), command)
}

/// `docker run --rm -i [-t]` on the image, bash where it has one, else sh; `-t` only when stdin is a terminal, so
/// commands can be piped in. The container is removed also when the kit is interrupted.
fn shell_plan(setup: &BuildSetup, image: &str) -> Plan {
    let engine = setup.engine;
    let container = setup.project.container_name("shell");
    let run = engine
        .command(["run", "--rm", "--interactive", "--name", container.as_str()])
        .args(std::io::stdin().is_terminal().then_some("--tty"))
        .args(["--entrypoint", "sh", image, "-c", "command -v bash >/dev/null && exec bash; exec sh"]);
    let shell =
        Step::attach(format!("open a shell in {image}"), run).with_hint("the status of the shell's last command");
    Plan { steps: vec![shell, Step::remove_container(engine, &container)] }
}

#[cfg(test)]
mod tests {
    use super::run_command;

    #[test]
    fn a_run_step_as_a_command_to_paste() {
        assert_eq!(run_command("npm test"), (String::new(), "npm test".to_string()));
        let (flags, command) = run_command("--mount=type=cache,target=/root/.npm --network=none   npm ci   --no-audit");
        assert_eq!(
            (flags.as_str(), command.as_str()),
            ("--mount=type=cache,target=/root/.npm --network=none", "npm ci --no-audit")
        );
        assert_eq!(run_command(r#"["node", "--test", "a b.js"]"#).1, "node --test 'a b.js'");
    }
}
