//! `run` and `smoke`: the release image as a container that never outlives the command.

use std::time::Duration;

use anyhow::Result;

use crate::engine::Engine;
use crate::plan::{Action, Plan, Step};
use crate::process::Command;
use crate::project::Project;

/// The image `run` and `smoke` start: the first reference `release` tags for HEAD (the version
/// tag, or the sha tag on pull requests); IMAGE:VERSION outside a git repository.
pub fn release_image(project: &Project) -> Result<String> {
    Ok(match project.release(None) {
        Ok(release) if !release.references.is_empty() => release.references[0].clone(),
        _ => format!("{}:{}", project.image(), project.package()?.version),
    })
}

/// `docker run MODE --pull=never --name NAME --publish PUBLISH [--env K=V]… IMAGE`, the env from `[smoke] env`.
fn start(project: &Project, engine: &Engine, mode: &str, name: &str, publish: String, image: &str) -> Command {
    let mut run = engine.command(["run", mode, "--pull=never", "--name", name, "--publish"]).arg(publish);
    for (key, value) in &project.config.smoke.env {
        run.flag("--env", Some(&format!("{key}={value}")));
    }
    run.arg(image)
}

const MISSING_IMAGE_HINT: &str = "is the release image built? run `cargo xtask release` first";

/// `run`: the release image in the foreground on the service port, removed on exit.
pub fn run_plan(project: &Project, engine: &Engine, image: &str) -> Result<Plan> {
    let port = project.config.service.port;
    let name = project.container_name("run");
    let run = start(project, engine, "--rm", &name, format!("{port}:{port}"), image);
    let run = Step::exec(format!("run {image} on http://127.0.0.1:{port}"), run).with_hint(MISSING_IMAGE_HINT);
    let remove = Step::remove_container(engine, &name);
    Ok(Plan { steps: vec![run, remove] })
}

/// `smoke`: start detached on a free loopback port, wait until the image's HEALTHCHECK passes, probe the health
/// path, stop gracefully; the container is removed whatever happens. When the engine runs elsewhere (DOCKER_HOST,
/// a context), its ports are not this machine's: then node, inside the container, sends the probe.
pub fn smoke_plan(project: &Project, engine: &Engine, image: &str) -> Result<Plan> {
    let service = &project.config.service;
    let name = project.container_name("smoke");
    let start = start(project, engine, "--detach", &name, format!("127.0.0.1::{}", service.port), image);
    let timeout = Duration::from_secs(project.config.smoke.timeout);
    let local = engine.is_local();
    let answers = local.then(|| (service.port, service.health_path.clone()));
    let mut plan = Plan::default();
    plan.push(Step::exec(format!("start {image}"), start).with_hint(MISSING_IMAGE_HINT));
    plan.push(Step::kit(
        format!("wait until {name} is healthy"),
        Action::WaitHealthy { engine: engine.clone(), container: name.clone(), answers, timeout },
    ));
    let probe = format!("probe {}", service.health_path);
    if local {
        let path = service.health_path.clone();
        let (engine, container, port) = (engine.clone(), name.clone(), service.port);
        plan.push(Step::kit(probe, Action::Probe { engine, container, port, path, timeout: Duration::from_secs(5) }));
    } else {
        let url = format!("http://127.0.0.1:{}{}", service.port, service.health_path);
        let script = format!(
            "fetch('{url}', {{ signal: AbortSignal.timeout(5000) }}).then((r) => {{ console.error('    GET {url} in {name} -> ' + r.status); process.exit(r.ok ? 0 : 1) }}, (e) => {{ console.error(e.message); process.exit(1) }})"
        );
        let exec = engine.command(["exec", name.as_str(), "node", "-e", script.as_str()]);
        plan.push(Step::exec(probe, exec).with_hint("the health path did not answer 2xx inside the container"));
    }
    plan.push(Step::exec(format!("stop {name}"), engine.command(["stop", "-t", "10", name.as_str()])));
    plan.push(Step::cleanup(
        format!("remove container {name}"),
        engine.command(["rm", "--force", "--volumes", name.as_str()]),
    ));
    Ok(plan)
}
