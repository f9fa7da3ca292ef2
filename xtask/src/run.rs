//! `run` and `smoke`: the release image as a container that never outlives the command.

use std::time::Duration;

use anyhow::Result;

use crate::engine::Engine;
use crate::plan::{Action, Plan, Step};
use crate::project::Project;

/// The image `run` and `smoke` start: the first reference `release` tags for HEAD (the version
/// tag, or the sha tag on pull requests); IMAGE:VERSION outside a git repository.
pub fn release_image(project: &Project) -> Result<String> {
    Ok(match project.release(None) {
        Ok(release) if !release.references.is_empty() => release.references[0].clone(),
        _ => format!("{}:{}", project.image(), project.package()?.version),
    })
}

/// A container name unique to this invocation, so cleanup removes exactly what it started.
fn container_name(project: &Project, what: &str) -> String {
    let base: String = project.config.image.name.rsplit('/').next().unwrap_or("app").to_string();
    format!("{base}-{what}-{}", std::process::id())
}

fn env_args(project: &Project) -> Vec<String> {
    project.config.smoke.env.iter().flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")]).collect()
}

const MISSING_IMAGE_HINT: &str = "is the release image built? run `cargo xtask release` first";

/// `run`: the release image in the foreground on the service port, removed on exit.
pub fn run_plan(project: &Project, engine: &Engine, image: &str) -> Result<Plan> {
    let port = project.config.service.port;
    let name = container_name(project, "run");
    let run = engine
        .command(["run", "--rm", "--pull=never", "--name", name.as_str(), "--publish"])
        .arg(format!("{port}:{port}"))
        .args(env_args(project))
        .arg(image);
    let mut plan = Plan::default();
    plan.push(Step::exec(format!("run {image} on http://127.0.0.1:{port}"), run).with_hint(MISSING_IMAGE_HINT));
    plan.push(Step::cleanup(format!("remove container {name}"), engine.command(["rm", "--force", name.as_str()])));
    Ok(plan)
}

/// `smoke`: start detached on a free loopback port, wait healthy, probe the health path, stop
/// gracefully; the container is removed whatever happens.
pub fn smoke_plan(project: &Project, engine: &Engine, image: &str) -> Result<Plan> {
    let service = &project.config.service;
    let name = container_name(project, "smoke");
    let start = engine
        .command(["run", "--detach", "--pull=never", "--name", name.as_str(), "--publish"])
        .arg(format!("127.0.0.1::{}", service.port))
        // The image's own HEALTHCHECK command, run every 250 ms instead of every few seconds, so smoke
        // sees "healthy" soon after the service is ready (every engine knows this flag).
        .args(["--health-interval", "250ms"])
        .args(env_args(project))
        .arg(image);
    let timeout = Duration::from_secs(project.config.smoke.timeout);
    let mut plan = Plan::default();
    plan.push(Step::exec(format!("start {image}"), start).with_hint(MISSING_IMAGE_HINT));
    plan.push(Step::new(
        format!("wait until {name} is healthy"),
        Action::WaitHealthy { engine: engine.clone(), container: name.clone(), timeout },
    ));
    plan.push(Step::new(
        format!("probe {}", service.health_path),
        Action::Probe {
            engine: engine.clone(),
            container: name.clone(),
            port: service.port,
            path: service.health_path.clone(),
            timeout: Duration::from_secs(5),
        },
    ));
    plan.push(Step::exec(format!("stop {name}"), engine.command(["stop", "-t", "10", name.as_str()])));
    plan.push(Step::cleanup(
        format!("remove container {name}"),
        engine.command(["rm", "--force", "--volumes", name.as_str()]),
    ));
    Ok(plan)
}
