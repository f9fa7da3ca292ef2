//! `up`, `down`, `logs`, `ps`: the compose stack (Node replicas, MongoDB, Redis, Nginx) in
//! docker/compose.yaml, through compose v2 (`docker compose`) or, where only it exists, v1.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, ensure, Result};

use crate::build::BuildSetup;
use crate::engine::{Engine, Kind};
use crate::plan::{Plan, Step};
use crate::process::Command;

/// `docker compose --file F` (or `docker-compose --file F`), with the env the compose file reads:
/// the flavor, the CA bundle secret and the published port. MongoDB is in the compose file's "mongo" profile, so a
/// stack on Redis alone never pulls it; `mongo` turns the profile on whatever the store.
fn compose_command(setup: &BuildSetup, mongo: bool) -> Result<Command> {
    let project = setup.project;
    let mut command = compose_program(setup.engine, project.config.compose.file.as_str())?;
    if mongo || app_store() == "mongo" {
        command = command.args(["--profile", "mongo"]);
    }
    command.env.push(("FLAVOR".into(), project.flavor.as_str().into()));
    command.env.push(("HTTP_PORT".into(), project.config.compose.http_port.to_string()));
    command.env.extend(setup.ca_bundle().map(|bundle| ("CA_BUNDLE".into(), bundle)));
    Ok(command)
}

/// `docker compose --file F`, or `docker-compose --file F` where only compose v1 is there.
pub fn compose_program(engine: &Engine, file: &str) -> Result<Command> {
    Ok(match engine.kind {
        Kind::Podman => bail!("podman on this host has no compose; run the stack with `--engine docker` (or install podman-compose and call it directly)"),
        Kind::Docker if uses_compose_v1(engine) => Command::new("docker-compose").args(["--file", file]),
        Kind::Docker => engine.command(["compose", "--file", file]),
    })
}

/// The service's store in the stack: the compose file's APP_STORE, mongo unless set.
fn app_store() -> String {
    std::env::var("APP_STORE").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "mongo".to_string())
}

/// v1 only when v2 is missing and v1 is there; the plan stays v2 when neither answers (dry-run on
/// a machine without docker), so its error names the tool to install.
fn uses_compose_v1(engine: &Engine) -> bool {
    engine.query(&["compose", "version", "--short"]).is_err() && which::which("docker-compose").is_ok()
}

pub fn url(setup: &BuildSetup) -> String {
    format!("http://127.0.0.1:{}", setup.project.config.compose.http_port)
}

pub fn up_plan(setup: &BuildSetup) -> Result<Plan> {
    setup.package.check_lockfile()?;
    let up = compose_command(setup, false)?.args(["up", "--detach", "--build", "--wait", "--wait-timeout", "180"]);
    let step = Step::exec("start the compose stack and wait until it is healthy", up);
    Ok(Plan { steps: vec![step.with_hint("see `cargo xtask ps` and `cargo xtask logs`")] })
}

pub fn down_plan(setup: &BuildSetup, volumes: bool) -> Result<Plan> {
    // With the profile on whatever the store, so a mongo container left from an earlier `up` goes too.
    let down = compose_command(setup, true)?.args(["down", "--remove-orphans"]).args(volumes.then_some("--volumes"));
    let title = if volumes { "stop the compose stack and delete its volumes" } else { "stop the compose stack" };
    Ok(Plan { steps: vec![Step::exec(title, down)] })
}

pub fn logs_plan(setup: &BuildSetup, service: Option<&str>, follow: bool) -> Result<Plan> {
    let logs = compose_command(setup, false)?.arg("logs").args(follow.then_some("--follow")).args(service);
    Ok(Plan { steps: vec![Step::exec("show the stack's logs", logs)] })
}

pub fn ps_plan(setup: &BuildSetup) -> Result<Plan> {
    Ok(Plan { steps: vec![Step::exec("list the stack's containers", compose_command(setup, false)?.arg("ps"))] })
}

/// `down --volumes` deletes data: ask on a terminal, refuse without one unless `--yes`.
pub fn confirm_volume_deletion(yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("`down --volumes` deletes the stack's data (MongoDB and Redis volumes); pass --yes to confirm");
    }
    eprint!("Delete the stack's volumes, with all MongoDB and Redis data? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    ensure!(matches!(answer.trim(), "y" | "Y" | "yes"), "not confirmed; nothing was deleted");
    Ok(())
}
