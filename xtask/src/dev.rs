//! `dev`: the service in a container of the Dockerfile's dev stage, beside Redis (`[dev] file`,
//! docker/compose.dev.yaml), on 127.0.0.1 with the Node inspector. The service's folder is mounted read-only, and
//! docker/dev-watch.mjs mirrors it into the container and restarts the service on every save: no image build. A
//! package.json or lockfile change ends the container with status 3; the image is built again and the service
//! restarts. Ctrl-C (or SIGTERM) stops and removes the containers and the network `dev` started; volumes stay.

use anyhow::{bail, Result};

use crate::build::BuildSetup;
use crate::compose::compose_program;
use crate::engine::Kind;
use crate::plan::{execute_on, Options, Plan, Step, StepFailed};
use crate::process::shell_quote;

/// dev-watch.mjs's status when package.json or the lockfile changed.
const REBUILD: i32 = 3;

pub fn dev(setup: &BuildSetup, options: &Options) -> Result<()> {
    let (project, engine, dev) = (setup.project, setup.engine, &setup.project.config.dev);
    if engine.kind == Kind::Podman {
        bail!("dev runs the service beside Redis with docker compose, which podman on this host lacks; use --engine docker");
    }
    let name = format!("{}-dev", project.bare_name());
    let mut compose = compose_program(engine, dev.file.as_str())?.args(["--project-name", name.as_str()]);
    let (port, image) = (project.config.service.port, format!("{}:{}", project.image(), dev.stage));
    let env = [
        ("XTASK_DEV_IMAGE", image.clone()),
        ("XTASK_DEV_CONTEXT", project.context_path().to_string()),
        ("XTASK_DEV_PORT", port.to_string()),
        ("XTASK_DEV_INSPECT_PORT", dev.inspect_port.to_string()),
    ];
    compose.env.extend(env.into_iter().chain(command(setup)?).map(|(key, value)| (key.to_string(), value)));
    // The kit's build args but TEST_PACKAGES, the test stage's (Redis runs beside): one step less to run again when
    // the lockfile changes.
    let mut args = setup.stage_args(&dev.stage)?;
    args.remove("TEST_PACKAGES");
    let build = Step::exec(format!("build stage '{}'", dev.stage), setup.command(&dev.stage, &args, &[image]));
    let mut plan = Plan { steps: setup.build_steps(&dev.stage, &args, build)? };
    let title = format!("run the service on http://127.0.0.1:{port}, inspector on 127.0.0.1:{}", dev.inspect_port);
    let up = compose.clone().args(["up", "--abort-on-container-exit", "--exit-code-from", "app"]);
    plan.push(Step::exec(&title, up).with_hint("see the output above"));
    let down = compose.args(["down", "--remove-orphans"]);
    plan.push(Step::cleanup(format!("remove the containers and network of {name}"), down));
    if !options.dry_run {
        engine.server_version()?;
        let label = format!("label=com.docker.compose.project={name}");
        if !engine.query(&["ps", "--quiet", "--filter", &label])?.is_empty() {
            bail!("dev is already running for this project (compose project {name}); stop that one (Ctrl-C) first");
        }
    }
    loop {
        match execute_on(engine, &plan, options) {
            Err(err) if err.downcast_ref::<StepFailed>().is_some_and(|f| f.status == REBUILD && f.title == title) => {
                eprintln!("xtask: package.json or the lockfile changed: building the dev image again");
            }
            result => return result,
        }
    }
}

/// What the container runs: `[dev] command`, else the dev script (either watches for itself), else `node START`
/// (XTASK_DEV_START: dev-watch.mjs starts it ahead of time), restarted on every change, after `npm run build` when
/// there is a build script.
fn command(setup: &BuildSetup) -> Result<Vec<(&'static str, String)>> {
    let (dev, package) = (&setup.project.config.dev, setup.package);
    let start = || package.start_file(&setup.project.config.service.start);
    Ok(if !dev.command.is_empty() {
        vec![("XTASK_DEV_COMMAND", dev.command.clone())]
    } else if package.has_script("dev") {
        vec![("XTASK_DEV_COMMAND", "npm run dev".to_string())]
    } else if package.has_script("build") {
        let command = format!("npm run build && exec node --inspect=0.0.0.0:9229 {}", shell_quote(&start()?));
        vec![("XTASK_DEV_COMMAND", command), ("XTASK_DEV_RESTART", "1".to_string())]
    } else {
        vec![("XTASK_DEV_START", start()?)]
    })
}
