//! Plans and the one executor. Every command builds a `Plan` (an ordered list of steps); only
//! `execute` spawns long-running processes. So `--dry-run` is a matter of printing the plan,
//! and tests assert on the argv a plan holds without any fake docker.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use camino::Utf8PathBuf;

use crate::config::Flavor;
use crate::engine::Engine;
use crate::process::{install_hint, shell_quote, Command};
use crate::{checks, gha, sbom, signals};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Exec(Command),
    /// Like `Exec`, with the kit's stdin and terminal: an interactive shell (`docker run -i [-t]`).
    Attach(Command),
    /// Wait until the container's HEALTHCHECK passes (or it runs, when it has none), run as soon as the service
    /// answers `answers` (port, health path) on its published port; None: the engine is elsewhere.
    WaitHealthy {
        engine: Engine,
        container: String,
        answers: Option<(u16, String)>,
        timeout: Duration,
    },
    /// Refuses to push over a released version: `reference` must be absent from its registry, or
    /// already hold the image built locally (a retried push).
    KeepReleased {
        engine: Engine,
        reference: String,
    },
    /// HTTP GET on the host port the engine published for `port`; expects a 2xx answer.
    Probe {
        engine: Engine,
        container: String,
        port: u16,
        path: String,
        timeout: Duration,
    },
    /// `steps` make the file `made` from `image` (its SBOM, say): they run unless `made` exists and was made from
    /// this very image (its ID, kept in `made`.image-id once the steps passed).
    UnlessMadeFrom {
        engine: Engine,
        image: String,
        made: Utf8PathBuf,
        steps: Vec<Step>,
    },
    /// The folder emptied, or made: `docker cp` needs it to exist, and must not add to an earlier run's files.
    FreshDir(Utf8PathBuf),
    /// The SBOM of `image` written to `out` from what `work` holds (see `sbom::write`).
    WriteSbom {
        work: Utf8PathBuf,
        flavor: Flavor,
        image: String,
        out: Utf8PathBuf,
    },
    /// cosign signs the digest `reference` points at and attests the SBOM; `key` None: keyless.
    Sign {
        engine: Engine,
        reference: String,
        key: Option<String>,
        sbom: Utf8PathBuf,
    },
    /// `verify`: the signature, the SBOM attestation and the tag of a pushed image.
    Verify {
        engine: Engine,
        reference: String,
        key: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What the step does, as a verb phrase: "build stage 'test'". Errors read "cannot <title>".
    pub title: String,
    pub action: Action,
    /// Cleanup: runs even after an earlier step failed or the kit was interrupted.
    pub always: bool,
    /// Added to the error when the step fails, e.g. "the Node test suite failed; see the output above".
    pub hint: Option<String>,
    /// Runs beside the step after it: both start together, and the plan goes on once both ended.
    pub with_next: bool,
}

impl Step {
    pub fn exec(title: impl Into<String>, command: Command) -> Step {
        Step::kit(title, Action::Exec(command))
    }

    /// A step the kit does itself (no program of its own), e.g. a check.
    pub fn kit(title: impl Into<String>, action: Action) -> Step {
        Step { title: title.into(), action, always: false, hint: None, with_next: false }
    }

    pub fn attach(title: impl Into<String>, command: Command) -> Step {
        Step::kit(title, Action::Attach(command))
    }

    pub fn cleanup(title: impl Into<String>, command: Command) -> Step {
        Step { always: true, ..Step::exec(title, command) }
    }

    /// Cleanup: `docker rm --force NAME`, the container the kit started under that name.
    pub fn remove_container(engine: &Engine, name: &str) -> Step {
        Step::cleanup(format!("remove container {name}"), engine.command(["rm", "--force", name]))
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Step {
        self.hint = Some(hint.into());
        self
    }

    /// The step as shell text for `--dry-run`: a command line, or a comment for the kit's own checks.
    pub fn shell_line(&self) -> String {
        match &self.action {
            Action::Exec(command) | Action::Attach(command) => command.shell_line(),
            Action::WaitHealthy { container, answers, timeout, .. } => {
                let after = answers.as_ref().map(|(port, path)| format!("once it answers {path} on its {port}/tcp, "));
                format!(
                    "# {}run the HEALTHCHECK of container {container} until it passes (up to {} s)",
                    after.unwrap_or_default(),
                    timeout.as_secs()
                )
            }
            Action::KeepReleased { reference, .. } => {
                format!("# check that {reference} is not in the registry yet, or holds this very image (--force skips)")
            }
            Action::Probe { container, port, path, .. } => {
                format!("# GET http://127.0.0.1:<host port of {container} {port}/tcp>{path}, expect 2xx")
            }
            Action::UnlessMadeFrom { image, made, steps, .. } => {
                let lines: Vec<String> = steps.iter().map(Step::shell_line).collect();
                format!("# unless {made} was made from {image}'s very ID already:\n{}", lines.join("\n"))
            }
            Action::FreshDir(dir) => format!("rm -rf {0} && mkdir -p {0}", shell_quote(dir.as_str())),
            Action::WriteSbom { work, image, out, .. } => format!(
                "# write {out}: the npm tool's list ({work}/npm/npm.cdx.json) and the OS packages ({work}/packages) of {image}"
            ),
            Action::Sign { engine, reference, key, sbom } => {
                sbom::dry_run_lines(engine, reference, |pinned| sbom::sign_commands(key.as_deref(), pinned, sbom))
            }
            Action::Verify { engine, reference, key } => {
                sbom::dry_run_lines(engine, reference, |pinned| sbom::verify_commands(key, pinned))
            }
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }
}

pub struct Options {
    pub dry_run: bool,
    pub verbose: bool,
    /// Every step runs here; dry-run output starts with `cd ROOT` when the caller is elsewhere.
    pub root: Utf8PathBuf,
}

/// A step failed: carries the exit status the kit passes on.
#[derive(Debug)]
pub struct StepFailed {
    pub title: String,
    pub program: String,
    pub status: i32,
    pub hint: Option<String>,
}

impl fmt::Display for StepFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {}: {} exited with status {}", self.title, self.program, self.status)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for StepFailed {}

/// The kit was stopped by SIGINT or SIGTERM; it exits 128 + signal after cleanup.
#[derive(Debug)]
pub struct Interrupted(pub i32);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "interrupted by {}; stopped the running step and cleaned up", signals::name(self.0))
    }
}

impl std::error::Error for Interrupted {}

/// Time each step took, for summaries (`ci` prints them as a table).
pub struct Timing {
    pub title: String,
    pub seconds: f64,
    pub ok: bool,
}

pub fn print_dry_run(plan: &Plan, root: &Utf8PathBuf) {
    if std::env::current_dir().ok().as_deref() != Some(root.as_std_path()) {
        println!("cd {}", shell_quote(root.as_str()));
    }
    let mut beside = false;
    for step in &plan.steps {
        println!("{}{}", step.shell_line(), if step.with_next { " &" } else { "" });
        if beside && !step.with_next {
            println!("wait");
        }
        beside = step.with_next;
    }
}

/// Runs a plan whose steps call the engine.
pub fn execute_on(engine: &Engine, plan: &Plan, options: &Options) -> Result<()> {
    unless_unreachable(engine, execute(plan, options, &mut Vec::new()))
}

/// A plan's failure, or the one clear line that says the engine cannot be reached when that is why. Asked
/// only after a failure, so that a working engine pays no extra round trip before every command.
pub fn unless_unreachable(engine: &Engine, result: Result<()>) -> Result<()> {
    match result {
        Err(err) if err.downcast_ref::<Interrupted>().is_none() => match engine.server_version() {
            Err(unreachable) => Err(unreachable),
            Ok(_) => Err(err),
        },
        result => result,
    }
}

/// Runs the plan, recording each step's time in `timings`. After a failure or an interrupt, only the
/// `always` (cleanup) steps still run.
pub fn execute(plan: &Plan, options: &Options, timings: &mut Vec<Timing>) -> Result<()> {
    if options.dry_run {
        print_dry_run(plan, &options.root);
        return Ok(());
    }
    let mut first_error: Option<anyhow::Error> = None;
    // A batch: a step and those it runs beside (`with_next`), started together.
    for batch in plan.steps.split_inclusive(|s| !s.with_next) {
        if let (None, Some(sig)) = (&first_error, signals::received()) {
            first_error = Some(Interrupted(sig).into());
        }
        let batch: Vec<&Step> = batch.iter().filter(|s| s.always || first_error.is_none()).collect();
        let titles: Vec<&str> = batch.iter().filter(|s| !s.always).map(|s| s.title.as_str()).collect();
        if !titles.is_empty() {
            gha::group_start(&titles.join(" + "));
        }
        for step in &batch {
            if !step.always {
                eprintln!("==> {}", step.title);
            }
            if options.verbose {
                eprintln!("$ {}", step.shell_line());
            }
        }
        let timed = |step: &Step| {
            let started = Instant::now();
            (run_step(step, options), started.elapsed().as_secs_f64())
        };
        let results: Vec<(Result<()>, f64)> = std::thread::scope(|scope| {
            let threads: Vec<_> = batch.iter().map(|&step| scope.spawn(move || timed(step))).collect();
            threads.into_iter().map(|t| t.join().unwrap_or_else(|_| (Err(anyhow!("a step panicked")), 0.0))).collect()
        });
        if !titles.is_empty() {
            gha::group_end();
        }
        for (step, (result, seconds)) in batch.iter().zip(results) {
            if !step.always {
                let verdict = if result.is_ok() { "ok" } else { "FAILED" };
                let which = if titles.len() > 1 { format!(": {}", step.title) } else { String::new() };
                eprintln!("    {verdict} in {seconds:.1} s{which}");
                timings.push(Timing { title: step.title.clone(), seconds, ok: result.is_ok() });
            }
            match result {
                Ok(()) => {}
                Err(err) if step.always => eprintln!("warning: cleanup: {err:#}"),
                Err(err) if first_error.is_some() => eprintln!("    also: {err:#}"),
                Err(err) => first_error = Some(err),
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn run_step(step: &Step, options: &Options) -> Result<()> {
    // The kit's own steps: their errors say which step could not be done.
    let result = match &step.action {
        Action::Exec(command) => return run_command(step, command, options, false),
        Action::Attach(command) => return run_command(step, command, options, true),
        Action::UnlessMadeFrom { engine, image, made, steps } => {
            // No ID (a multi-platform image the engine does not hold): the steps run, and nothing is kept.
            let id = engine.query(&["image", "inspect", "--format", "{{.Id}}", image]).ok();
            let stamp = format!("{made}.image-id");
            let made_from = std::fs::read_to_string(&stamp).ok().filter(|_| made.is_file());
            if id.is_some() && made_from == id {
                eprintln!("    up to date: {made} was made from this very image");
                return Ok(());
            }
            let _ = std::fs::remove_file(&stamp);
            execute(&Plan { steps: steps.clone() }, options, &mut Vec::new())?;
            return match id {
                Some(id) => std::fs::write(&stamp, id).with_context(|| format!("cannot write {stamp}")),
                None => Ok(()),
            };
        }
        Action::Verify { engine, reference, key } => return sbom::verify(engine, reference, key),
        Action::WaitHealthy { engine, container, answers, timeout } => {
            let answers = answers.as_ref().map(|(port, path)| (*port, path.as_str()));
            checks::wait_healthy(engine, container, answers, *timeout)
        }
        Action::KeepReleased { engine, reference } => checks::keep_released(engine, reference),
        Action::Probe { engine, container, port, path, timeout } => {
            checks::probe(engine, container, *port, path, *timeout)
        }
        Action::FreshDir(dir) => {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir).map_err(anyhow::Error::from)
        }
        Action::WriteSbom { work, flavor, image, out } => sbom::write(work, *flavor, image, out),
        Action::Sign { engine, reference, key, sbom } => sbom::sign(engine, reference, key.as_deref(), sbom),
    };
    result.with_context(|| format!("cannot {}", step.title))
}

fn run_command(step: &Step, command: &Command, options: &Options, attached: bool) -> Result<()> {
    let (title, name) = (&step.title, &command.program);
    let Ok(program) = which::which(name) else {
        bail!("cannot {title}: {name} not found on PATH{}", install_hint(name));
    };
    let mut expression = duct::cmd(program, &command.args).dir(options.root.as_std_path()).unchecked();
    if !attached {
        expression = match &command.stdin {
            Some(text) => expression.stdin_bytes(format!("{text}\n")),
            None => expression.stdin_null(),
        };
    }
    if step.always && !options.verbose {
        // Cleanup is quiet: "No such container" after a normal exit is expected, not news.
        expression = expression.stdout_null().stderr_null();
    }
    for (key, value) in &command.env {
        expression = expression.env(key, value);
    }
    #[cfg(unix)]
    if !attached {
        // A process group of its own: the kit decides what the child gets on Ctrl-C (it forwards the
        // signal once, then cleans up), instead of the terminal signalling both at once. An attached child stays
        // in the kit's group, the terminal's foreground one, so that it may read the terminal.
        use std::os::unix::process::CommandExt;
        expression = expression.before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });
    }
    let handle = expression.start().with_context(|| format!("cannot {title}: failed to start {name}"))?;
    let status = loop {
        // Waits up to 40 ms: the exit is seen at once, a signal within 40 ms.
        if let Some(output) = handle.wait_timeout(Duration::from_millis(40))? {
            break output.status;
        }
        // Cleanup runs to its end.
        if let Some(sig) = signals::received().filter(|_| !step.always) {
            stop_child(&handle, sig);
            return Err(Interrupted(sig).into());
        }
    };
    if status.success() {
        return Ok(());
    }
    let status = status.code().unwrap_or(1);
    Err(StepFailed { title: title.clone(), program: name.clone(), status, hint: step.hint.clone() }.into())
}

/// Passes the signal on, gives the child a few seconds to wind down (docker cancels the build or
/// stops the container), then kills it.
fn stop_child(handle: &duct::Handle, sig: i32) {
    for pid in handle.pids() {
        signals::send(pid, sig);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(handle.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    let _ = handle.kill();
}
