//! The container engine: docker (default) or podman, found on PATH with `which`, and what it can do
//! (server version, BuildKit/buildx, compose, image store). Short captured queries go through xshell.

use anyhow::{bail, ensure, Result};

use crate::process::{self, Command};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Docker,
    Podman,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub kind: Kind,
    pub program: &'static str,
    /// `docker --context NAME`, put in front of every engine command.
    pub context: Option<String>,
}

impl Engine {
    /// `--engine` wins over `XTASK_ENGINE`; docker is the default.
    pub fn select(flag: Option<&str>, context: Option<String>) -> Result<Engine> {
        let env = std::env::var("XTASK_ENGINE").ok().filter(|v| !v.is_empty());
        // The default never fails, so an error's source is the flag or the variable.
        let (name, source) = match flag {
            Some(name) => (name.to_string(), "--engine"),
            None => (env.unwrap_or_else(|| "docker".to_string()), "XTASK_ENGINE"),
        };
        let (kind, program) = match name.as_str() {
            "docker" => (Kind::Docker, "docker"),
            "podman" => (Kind::Podman, "podman"),
            other => bail!("unknown engine '{other}' (from {source}); use 'docker' or 'podman'"),
        };
        if let Some(context) = &context {
            if kind == Kind::Podman {
                bail!("--context is a docker option; for podman use CONTAINER_HOST or `podman system connection`");
            }
            let valid = !context.is_empty() && !context.starts_with('-');
            ensure!(valid, "invalid --context '{context}'; name a context from `docker context ls`");
        }
        Ok(Engine { kind, program, context })
    }

    /// `docker [--context C] ARGS…`
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut command = Command::new(self.program);
        command.flag("--context", self.context.as_deref());
        command.args(args)
    }

    /// `docker buildx build` (BuildKit; the classic `docker build` of old engines cannot do
    /// `RUN --mount`), or `podman build --format docker` (podman's default, OCI, drops HEALTHCHECK).
    pub fn build_command(&self) -> Command {
        match self.kind {
            Kind::Docker => self.command(["buildx", "build"]),
            Kind::Podman => self.command(["build", "--format", "docker"]),
        }
    }

    /// Runs a short engine query and returns its trimmed stdout.
    pub fn query(&self, args: &[&str]) -> Result<String> {
        let command = self.command(args.iter().copied());
        process::query(self.program, &command.args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// The engine's own platform (`linux/amd64`): what a build targets without `--platform`. The
    /// client machine's when the engine cannot be asked (a dry run without an engine, podman).
    pub fn platform(&self) -> String {
        let platform = self.query(&["version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"]).unwrap_or_default();
        match platform.split_once('/') {
            Some((os, arch)) if !os.is_empty() && !arch.is_empty() && !platform.contains('<') => platform,
            _ => crate::dockerfile::host_platform(),
        }
    }

    /// Whether the engine runs on this machine, so that what it publishes on 127.0.0.1 is this machine's: its
    /// endpoint (the context's, DOCKER_HOST; podman's CONTAINER_HOST) is a unix socket, a named pipe or a loopback
    /// address. Not so for `tcp://docker:2376` (GitLab's docker-in-docker), `ssh://build-host`, a remote context.
    pub fn is_local(&self) -> bool {
        let endpoint = match self.kind {
            Kind::Docker => self.query(&["context", "inspect", "--format", "{{.Endpoints.docker.Host}}"]),
            Kind::Podman => Ok(std::env::var("CONTAINER_HOST").unwrap_or_default()),
        };
        let endpoint = endpoint.unwrap_or_default();
        let host = endpoint.split_once("://").map_or("", |(_, rest)| rest.rsplit('@').next().unwrap_or(rest));
        endpoint.is_empty()
            || ["unix://", "npipe://"].iter().any(|s| endpoint.starts_with(s))
            || ["localhost", "127.", "[::1]"].iter().any(|s| host.starts_with(s))
    }

    /// The server version, or a one-line error that says how to reach the engine.
    pub fn server_version(&self) -> Result<String> {
        process::require_program(self.program)?;
        let why = match self.query(&["version", "--format", "{{.Server.Version}}"]) {
            Ok(version) if !version.is_empty() && version != "<no value>" => return Ok(version),
            Ok(_) => "it answered without a server version".to_string(),
            Err(err) => format!("{err:#}"),
        };
        let fix = match self.kind {
            Kind::Docker => "start the daemon (`sudo systemctl start docker`, or Docker Desktop) or point DOCKER_HOST/--context at a running one",
            Kind::Podman => "check `podman info`, or start the podman service",
        };
        let (program, target) = (self.program, self.target());
        bail!("cannot reach the {program} engine{target}: {why}; {fix}; `cargo xtask doctor` shows more")
    }

    /// Where the engine is when it is not the local default: " (context C)", " (DOCKER_HOST=…)", or
    /// for podman " (CONTAINER_HOST=…)" (podman-remote's service); empty otherwise.
    pub fn target(&self) -> String {
        let variable = if self.kind == Kind::Docker { "DOCKER_HOST" } else { "CONTAINER_HOST" };
        let host = std::env::var(variable).ok().filter(|h| !h.is_empty());
        match (&self.context, host) {
            (Some(context), _) => format!(" (context {context})"),
            (None, Some(host)) => format!(" ({variable}={host})"),
            (None, None) => String::new(),
        }
    }
}
