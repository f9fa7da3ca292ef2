//! The kit's own checks, run by the executor between commands: wait until the engine reports a
//! container healthy, send one HTTP GET to the host port it published (plain std networking, no HTTP
//! crate), and refuse to push over a released version. Every query goes through the engine
//! (`docker --context C`, `DOCKER_HOST`), like the steps.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use crate::engine::{Engine, Kind};

/// Waits until the service is up and the image's own HEALTHCHECK passes, run by the kit (`docker exec` of its
/// command, `podman healthcheck run`) as soon as the service answers `answers` (port, path) on its published
/// port, or every 250 ms when that port is not this machine's (`None`: an engine elsewhere). The engine's own
/// schedule would run the first check while the service still boots, and after each failed check wait out the
/// check and an interval: seconds between readiness and "healthy". Without a HEALTHCHECK, running is enough. A
/// container that stops, that the engine finds unhealthy, or whose check fails 3 times while the service
/// answers, fails at once, with its last log lines.
pub fn wait_healthy(engine: &Engine, container: &str, answers: Option<(u16, &str)>, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let config = engine.query(&["inspect", "--format", "{{json .Config.Healthcheck}}", container])?;
    let config: serde_json::Value = serde_json::from_str(&config).unwrap_or_default();
    let check = healthcheck(engine.kind, &config);
    let format = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
    let (mut address, mut failed) = (None, 0);
    loop {
        let answered = match answers {
            Some((port, path)) => {
                address = address.or_else(|| published(engine, container, port).ok());
                address.as_deref().is_some_and(|a| http_get(a, path, Duration::from_secs(1)).is_ok())
            }
            None => true,
        };
        match &check {
            Some(args) if answered && passes(engine, container, args, deadline) => return Ok(()),
            Some(_) if answered && answers.is_some() && failed == 2 => bail!(
                "container {container} turned unhealthy: its HEALTHCHECK failed 3 times while the service answered{}",
                last_logs(engine, container)
            ),
            Some(_) if answered => failed += 1,
            _ => {}
        }
        let state = engine.query(&["inspect", "--format", format, container])?;
        match state.split_once(' ') {
            Some((_, "unhealthy")) => bail!("container {container} turned unhealthy{}", last_logs(engine, container)),
            Some(("running", _)) if answered && check.is_none() => return Ok(()),
            Some(("running" | "created", _)) => {}
            _ => bail!("container {container} is {state} instead of running{}", last_logs(engine, container)),
        }
        ensure!(
            Instant::now() <= deadline,
            "container {container} was not healthy after {} s ({state}){}",
            timeout.as_secs(),
            last_logs(engine, container)
        );
        ensure!(crate::signals::received().is_none(), "interrupted while waiting for {container}");
        std::thread::sleep(Duration::from_millis(if answered { 250 } else { 50 }));
    }
}

/// The engine command that runs the container's HEALTHCHECK (`.Config.Healthcheck`), after `docker`; None when
/// it has none. docker has no command for it: the check's own command, through `exec`.
fn healthcheck(kind: Kind, config: &serde_json::Value) -> Option<Vec<String>> {
    let test: Vec<String> = config["Test"].as_array()?.iter().filter_map(|t| t.as_str().map(str::to_string)).collect();
    let (first, rest) = test.split_first()?;
    match (kind, first.as_str()) {
        (_, "NONE") => None,
        (Kind::Podman, _) => Some(vec!["healthcheck".into(), "run".into()]),
        (Kind::Docker, "CMD-SHELL") => Some([vec!["/bin/sh".into(), "-c".into()], rest.to_vec()].concat()),
        (Kind::Docker, _) => Some(rest.to_vec()),
    }
}

/// Whether the HEALTHCHECK passes (exits 0) before the deadline. Not held to the check's own timeout: on a busy
/// machine node alone may take longer to start, and a check that passes slowly still passes.
fn passes(engine: &Engine, container: &str, check: &[String], deadline: Instant) -> bool {
    let command = match engine.kind {
        Kind::Docker => engine.command(["exec", container]).args(check.iter().cloned()),
        Kind::Podman => engine.command(check.iter().cloned()).arg(container),
    };
    let started =
        duct::cmd(&command.program, &command.args).stdin_null().stdout_null().stderr_null().unchecked().start();
    let Ok(child) = started else { return false };
    match child.wait_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Some(output)) => output.status.success(),
        _ => {
            let _ = child.kill();
            false
        }
    }
}

/// The address on this machine where the engine published the container's `port`: `docker port` prints one line
/// per address, e.g. "127.0.0.1:49153" and "[::]:49153".
fn published(engine: &Engine, container: &str, port: u16) -> Result<String> {
    let published = engine
        .query(&["port", container, &format!("{port}/tcp")])
        .with_context(|| format!("container {container} publishes no host port for {port}/tcp"))?;
    let host_port = published
        .lines()
        .find_map(|line| line.rsplit_once(':').map(|(_, p)| p.trim().to_string()))
        .with_context(|| format!("cannot read the published port from '{published}'"))?;
    Ok(format!("127.0.0.1:{host_port}"))
}

/// GET `path` on the host port published for the container's `port`; 2xx passes.
pub fn probe(engine: &Engine, container: &str, port: u16, path: &str, timeout: Duration) -> Result<()> {
    let address = published(engine, container, port)?;
    let status = http_get(&address, path, timeout)?;
    if !(200..300).contains(&status) {
        bail!("GET http://{address}{path} answered {status}, expected 2xx{}", last_logs(engine, container));
    }
    eprintln!("    GET http://{address}{path} -> {status}");
    Ok(())
}

/// A minimal HTTP/1.1 GET: returns the status code.
pub fn http_get(address: &str, path: &str, timeout: Duration) -> Result<u16> {
    let socket = address.to_socket_addrs()?.next().with_context(|| format!("cannot resolve {address}"))?;
    let mut stream =
        TcpStream::connect_timeout(&socket, timeout).with_context(|| format!("cannot connect to {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nAccept: */*\r\n\r\n")?;
    let mut head = Vec::new();
    BufReader::new(stream).read_until(b'\n', &mut head).with_context(|| format!("no answer from {address}{path}"))?;
    let line = String::from_utf8_lossy(&head);
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    status.with_context(|| format!("not an HTTP answer from {address}{path}: '{}'", line.lines().next().unwrap_or("")))
}

fn last_logs(engine: &Engine, container: &str) -> String {
    let args = engine.command(["logs", "--tail", "20", container]).args;
    let output =
        xshell::Shell::new().and_then(|shell| shell.cmd(engine.program).args(args).quiet().ignore_status().output());
    let Ok(out) = output else { return String::new() };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    // Printed before the error line, so the error itself stays one line.
    eprintln!("--- last log lines of {container} ---\n{text}\n---");
    "; its last log lines are above".to_string()
}

/// A released version is never overwritten: the registry must not have `reference` yet, or have
/// it with the digest of the image built here (then the push is a retry and changes nothing).
pub fn keep_released(engine: &Engine, reference: &str) -> Result<()> {
    let podman_advice = "push with --force, or release with --engine docker";
    let Some(remote) = remote_digest(engine, reference, podman_advice)? else { return Ok(()) };
    let local =
        engine.query(&["image", "inspect", "--format", "{{.Id}} {{range .RepoDigests}}{{.}} {{end}}", reference])?;
    if local.split_whitespace().any(|id| id == remote || id.ends_with(&format!("@{remote}"))) {
        eprintln!("    {reference} already holds this image ({remote}); pushing again is a no-op");
        return Ok(());
    }
    bail!(
        "{reference} is already in the registry with digest {remote}, and this build differs; a released version is never overwritten: bump the version in package.json, or pass --force"
    )
}

/// The digest `reference` has in its registry (an image index's own, for a multi-platform image); None when
/// the registry does not have it. podman cannot ask: its error ends with `podman_advice`.
pub fn remote_digest(engine: &Engine, reference: &str, podman_advice: &str) -> Result<Option<String>> {
    ensure!(
        engine.kind == Kind::Docker,
        "podman cannot read a registry's digest for {reference} here (no `buildx imagetools`); {podman_advice}"
    );
    match engine.query(&["buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", reference]) {
        Ok(json) => serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|m| m["digest"].as_str().map(|d| Some(d.to_string())))
            .with_context(|| format!("cannot read the digest of {reference} from the registry")),
        Err(err) if is_not_found(&err.to_string()) => Ok(None),
        Err(err) => Err(err.context(format!("cannot ask the registry about {reference}"))),
    }
}

fn is_not_found(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("not found") || message.contains("manifest unknown") || message.contains("no such manifest")
}
