//! Running and timing commands, Ctrl-C, and cleaning up what the bench leaves behind (its temporary folder and
//! images). Every argument is passed as argv; the only shell is `sh -c` for the line the kit's `--dry-run` prints,
//! which is what the overhead figure times.

use std::process::Stdio;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use signal_hook::consts::{SIGINT, SIGTERM};

/// A program, its arguments and extra environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl Command {
    pub fn new(program: impl Into<String>) -> Command {
        Command { program: program.into(), args: Vec::new(), env: Vec::new() }
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

    pub fn env(mut self, key: &str, value: &str) -> Command {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A command from the words of a line the kit printed (see `shell_words`).
    pub fn from_line(line: &str) -> Result<Command> {
        let words = shell_words(line)?;
        let Some((program, args)) = words.split_first() else { bail!("an empty command line") };
        if program.contains('=') {
            bail!("expected a command, not an environment assignment, at the start of `{line}`");
        }
        Ok(Command::new(program.as_str()).args(args))
    }

    /// The command as one line to paste into a shell, quoted as the kit quotes it.
    pub fn shell_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v)));
        let argv = std::iter::once(&self.program).chain(&self.args).map(|a| shell_quote(a));
        env.chain(argv).collect::<Vec<_>>().join(" ")
    }
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The words of a line as a POSIX shell splits them: blanks separate words, single quotes keep everything, a
/// backslash keeps the next character, double quotes keep all but `\"`, `\\`, `\$` and `` \` ``. Enough for what
/// `--dry-run` prints (it quotes with single quotes only); expansions (`$X`, globs) are refused, not guessed.
pub fn shell_words(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => words.extend(word.take()),
            '\'' => {
                let word = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => bail!("unterminated ' in `{line}`"),
                    }
                }
            }
            '"' => {
                let word = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => word.extend(['\\', c]),
                            None => bail!("unterminated \" in `{line}`"),
                        },
                        Some('$' | '`') => bail!("cannot expand $ or ` in `{line}`"),
                        Some(c) => word.push(c),
                        None => bail!("unterminated \" in `{line}`"),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next().context("a line that ends in \\")?),
            '$' | '`' | '*' | '?' | '[' | ';' | '&' | '|' | '<' | '>' | '(' | ')' | '#' => {
                bail!("cannot run `{line}` without a shell: it holds an unquoted '{c}'")
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

// ---------------------------------------------------------------------------------------------------------------
// Running and timing

/// A command the bench times, what it is (for the progress lines), and the folder it runs in.
pub struct Job {
    pub what: String,
    pub command: Command,
    pub dir: Utf8PathBuf,
}

impl Job {
    pub fn new(what: impl Into<String>, command: Command, dir: &Utf8Path) -> Job {
        Job { what: what.into(), command, dir: dir.to_owned() }
    }
}

pub struct Output {
    pub seconds: f64,
    pub stdout: String,
    pub stderr: String,
}

/// Runs every job once per round, the first one rotating from round to round; `before(i)` runs untimed before job
/// `i` (e.g. to empty its target folder). Returns each job's outputs, in round order.
pub fn alternate(rounds: usize, jobs: &[Job], mut before: impl FnMut(usize) -> Result<()>) -> Result<Vec<Vec<Output>>> {
    let mut outputs: Vec<Vec<Output>> = jobs.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..jobs.len() {
            let i = (round + k) % jobs.len();
            before(i)?;
            eprintln!("bench:   {} ({}/{rounds}): {}", jobs[i].what, round + 1, jobs[i].command.shell_line());
            outputs[i].push(run(&jobs[i].command, &jobs[i].dir)?);
        }
    }
    Ok(outputs)
}

/// Runs a command to its end with its output captured, and times it. The bench blocks in `wait` meanwhile, so it
/// takes no CPU from what it measures. A failure is an error, after the last lines of the command's output.
pub fn run(command: &Command, dir: &Utf8Path) -> Result<Output> {
    check_interrupt()?;
    let mut process = std::process::Command::new(&command.program);
    process.args(&command.args).current_dir(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (key, value) in &command.env {
        process.env(key, value);
    }
    let started = Instant::now();
    let child = process.spawn().with_context(|| format!("cannot start {} in {dir}", command.program))?;
    RUNNING.store(child.id(), Ordering::SeqCst);
    let output = child.wait_with_output();
    RUNNING.store(0, Ordering::SeqCst);
    let seconds = started.elapsed().as_secs_f64();
    let output = output.with_context(|| format!("cannot wait for {}", command.program))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        check_interrupt()?;
        let lines: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        eprintln!("--- last lines of its output ---\n{tail}\n---");
        bail!("`{}` failed ({}) in {dir}", command.shell_line(), output.status);
    }
    Ok(Output { seconds, stdout, stderr })
}

/// A short query: its trimmed stdout, or an error made of the first line it wrote to stderr.
pub fn query(program: &str, args: &[&str]) -> Result<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).trim().to_string());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no error output");
    bail!("`{program} {}` failed: {first}", args.join(" "))
}

/// `docker ARGS…`, a short query.
pub fn docker(args: &[&str]) -> Result<String> {
    query("docker", args)
}

/// Tries again once when `attempt` fails: others who share the engine may prune its build cache at any moment, and
/// a build then fails with "parent snapshot … does not exist". A second failure is the error.
pub fn once_more<T>(what: &str, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    attempt().or_else(|err| {
        check_interrupt()?;
        eprintln!("bench:   {what} failed ({err:#}); once more, in case someone pruned the engine's cache meanwhile");
        attempt()
    })
}

pub fn seconds(outputs: &[Output]) -> Vec<f64> {
    outputs.iter().map(|o| o.seconds).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Ctrl-C and SIGTERM

/// The signal received, 0 for none.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The process `run` waits for, 0 for none.
static RUNNING: AtomicU32 = AtomicU32::new(0);

/// The bench was stopped by this signal.
#[derive(Debug)]
pub struct Interrupted(pub i32);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.0 == SIGINT { "SIGINT" } else { "SIGTERM" };
        write!(f, "interrupted by {name}")
    }
}

impl std::error::Error for Interrupted {}

/// From now on SIGINT and SIGTERM no longer kill the bench: a thread records them and passes them on to the command
/// `run` waits for (a Ctrl-C in a terminal reaches it anyway, in the same process group; a `kill` of the bench alone
/// would not). That command then ends, `run` reports the interrupt, and the guards clean up.
pub fn install_signal_handler() -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).context("cannot handle Ctrl-C")?;
    std::thread::spawn(move || {
        for sig in signals.forever() {
            RECEIVED.store(sig, Ordering::SeqCst);
            let pid = RUNNING.load(Ordering::SeqCst);
            if pid != 0 {
                let name = if sig == SIGINT { "INT" } else { "TERM" };
                let _ = std::process::Command::new("kill")
                    .args(["-s", name, &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    });
    Ok(())
}

pub fn interrupted() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

pub fn check_interrupt() -> Result<()> {
    match interrupted() {
        Some(sig) => Err(Interrupted(sig).into()),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// What the bench leaves behind

/// Every image the bench may tag, removed at the end.
pub fn bench_images() -> Vec<String> {
    let mut images = Vec::new();
    for flavor in ["alpine", "debian"] {
        for tag in ["test", "release", "naive", "naive-slim"] {
            images.push(format!("xtask-bench-{flavor}:{tag}"));
        }
    }
    images
}

/// Removes the bench's images when dropped.
pub struct ImageGuard(pub Vec<String>);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let mut remove = vec!["image", "rm", "--force"];
        remove.extend(self.0.iter().map(String::as_str));
        // Images never built are not an error.
        let _ = docker(&remove);
    }
}

/// The run's temporary folder, removed when dropped.
pub struct TempDir(pub Utf8PathBuf);

impl TempDir {
    pub fn create() -> Result<TempDir> {
        let base = Utf8PathBuf::try_from(std::env::temp_dir()).context("the temporary folder's path is not UTF-8")?;
        let dir = base.join(format!("xtask-bench-{}", std::process::id()));
        remove_dir(&dir)?;
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Files

pub fn read(path: &Utf8Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))
}

pub fn write(path: &Utf8Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {path}"))
}

pub fn append(path: &Utf8Path, text: &str) -> Result<()> {
    let old = read(path)?;
    write(path, &format!("{old}{text}"))
}

pub fn remove_dir(dir: &Utf8Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(err).with_context(|| format!("cannot remove {dir}"))
        }
        _ => Ok(()),
    }
}

/// Copies the service's folder without its node_modules (the image installs its own).
pub fn copy_tree(from: &Utf8Path, to: &Utf8Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {to}"))?;
    for entry in from.read_dir_utf8().with_context(|| format!("cannot read {from}"))? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() && entry.file_name() != "node_modules" {
            copy_tree(entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {} to {target}", entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_what_dry_run_prints() {
        let line = "docker buildx build --build-arg BUILD_OUTPUT= --secret id=ca,src=/etc/ca.crt --tag 'a b' 'it'\\''s' node-app";
        let command = Command::from_line(line).unwrap();
        assert_eq!(command.program, "docker");
        assert_eq!(
            command.args,
            [
                "buildx",
                "build",
                "--build-arg",
                "BUILD_OUTPUT=",
                "--secret",
                "id=ca,src=/etc/ca.crt",
                "--tag",
                "a b",
                "it's",
                "node-app"
            ]
        );
        // Quoting back gives the line the kit printed.
        assert_eq!(command.shell_line(), line);
        assert_eq!(shell_words("a \"b \\\"c\\\"\" ''").unwrap(), ["a", "b \"c\"", ""]);
    }

    #[test]
    fn refuses_what_needs_a_shell() {
        assert!(shell_words("docker run $IMAGE").is_err());
        assert!(shell_words("a 'b").is_err());
        assert!(shell_words("a && b").is_err());
        assert!(Command::from_line("DOCKER_BUILDKIT=1 docker build .").is_err());
        assert!(Command::from_line("").is_err());
    }
}
