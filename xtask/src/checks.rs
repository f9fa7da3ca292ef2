//! The kit's own checks, run by the executor between commands: wait until the engine reports a
//! container healthy, send one HTTP GET to the host port it published (plain std networking, no HTTP
//! crate), and refuse to push over a released version. Every query goes through the engine
//! (`docker --context C`, `DOCKER_HOST`), like the steps.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::engine::{Engine, Kind};

/// Polls `inspect` until the container is healthy (or simply running, when the image has no
/// HEALTHCHECK). A container that exits or turns unhealthy fails at once, with its last log lines.
/// podman runs healthchecks from systemd timers, so without systemd (containers, CI hosts) they never
/// run: for podman the kit runs the check itself, at most once a second.
pub fn wait_healthy(engine: &Engine, container: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let format = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
    let mut last_check: Option<Instant> = None;
    loop {
        if engine.kind == Kind::Podman && last_check.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            // Its exit status is the check's verdict; the state read below is what counts.
            let _ = engine.query(&["healthcheck", "run", container]);
            last_check = Some(Instant::now());
        }
        let state = engine.query(&["inspect", "--format", format, container])?;
        match state.split_once(' ') {
            Some(("running", "healthy" | "none")) => return Ok(()),
            Some(("running", "unhealthy")) => {
                bail!("container {container} turned unhealthy{}", last_logs(engine, container))
            }
            Some((status, _)) if status != "running" && status != "created" => {
                bail!("container {container} is {status} instead of running{}", last_logs(engine, container))
            }
            _ => {}
        }
        if Instant::now() > deadline {
            bail!(
                "container {container} was not healthy after {} s ({state}){}",
                timeout.as_secs(),
                last_logs(engine, container)
            );
        }
        if crate::signals::received().is_some() {
            bail!("interrupted while waiting for {container}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET `path` on the host port published for the container's `port`; 2xx passes.
pub fn probe(engine: &Engine, container: &str, port: u16, path: &str, timeout: Duration) -> Result<()> {
    let published = engine
        .query(&["port", container, &format!("{port}/tcp")])
        .with_context(|| format!("container {container} publishes no host port for {port}/tcp"))?;
    // `docker port` prints one line per address, e.g. "127.0.0.1:49153" and "[::]:49153".
    let host_port = published
        .lines()
        .filter_map(|line| line.rsplit_once(':').map(|(_, p)| p.trim().to_string()))
        .next()
        .with_context(|| format!("cannot read the published port from '{published}'"))?;
    let address = format!("127.0.0.1:{host_port}");
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
    let mut buf = [0u8; 1024];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).with_context(|| format!("no answer from {address}{path}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    status.with_context(|| format!("not an HTTP answer from {address}{path}: '{}'", line.lines().next().unwrap_or("")))
}

fn last_logs(engine: &Engine, container: &str) -> String {
    let shell = match xshell::Shell::new() {
        Ok(shell) => shell,
        Err(_) => return String::new(),
    };
    let args = engine.command(["logs", "--tail", "20", container]).args;
    let output = shell.cmd(engine.program).args(args).quiet().ignore_status().output();
    match output {
        Ok(out) => {
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            let text = text.trim();
            if text.is_empty() {
                String::new()
            } else {
                // Printed before the error line, so the error itself stays one line.
                eprintln!("--- last log lines of {container} ---\n{text}\n---");
                "; its last log lines are above".to_string()
            }
        }
        Err(_) => String::new(),
    }
}

/// A released version is never overwritten: the registry must not have `reference` yet, or have
/// it with the digest of the image built here (then the push is a retry and changes nothing).
pub fn keep_released(engine: &Engine, reference: &str) -> Result<()> {
    if engine.kind == Kind::Podman {
        bail!("podman cannot read a registry's digest for {reference} here (no `buildx imagetools`); push with --force, or release with --engine docker");
    }
    let Some(remote) = remote_digest(engine, reference)? else { return Ok(()) };
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
/// the registry does not have it.
pub fn remote_digest(engine: &Engine, reference: &str) -> Result<Option<String>> {
    match engine.query(&["buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", reference]) {
        Ok(json) => serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|m| m.get("digest").and_then(|d| d.as_str()).map(|d| Some(d.to_string())))
            .with_context(|| format!("cannot read the digest of {reference} from the registry")),
        Err(err) if is_not_found(&err.to_string()) => Ok(None),
        Err(err) => Err(err.context(format!("cannot ask the registry about {reference}"))),
    }
}

fn is_not_found(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("not found") || message.contains("manifest unknown") || message.contains("no such manifest")
}
