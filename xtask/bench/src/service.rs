//! Section 6, the service under load: autocannon against the release container and against plain node on the host.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::exec::{alternate, check_interrupt, docker, run, Command, Job};
use crate::images::build_release;
use crate::kit;
use crate::report::{ratios, Budget, Figure};
use crate::Bench;

struct Endpoint {
    label: &'static str,
    path: &'static str,
    body: Option<&'static str>,
}

const ENDPOINTS: [Endpoint; 2] = [
    Endpoint { label: "GET /healthz", path: "/healthz", body: None },
    Endpoint { label: "POST /api/items", path: "/api/items", body: Some(r#"{"name":"bench","quantity":1}"#) },
];

const CONNECTIONS: &str = "50";

/// autocannon at 50 connections against the release container (published on 127.0.0.1), against the same code run
/// by the host's node, and against the release image on the host's network (`--network host`), alternately; also
/// against the first container's own address on the engine's bridge, when this host can reach it. The budget is the
/// host network's: the image, tini and node's flags, all the kit controls. Through the published port docker-proxy
/// (the engine's userland proxy) copies every byte; through the bridge the container's network namespace costs too:
/// those are information. REDIS_URL stays unset, so the rate limiter is off on all.
pub fn service(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.root;
    let autocannon = install_autocannon(root)?;
    let release = build_release(b, &b.flavor)?;
    let container = start_container(b, &kit::tag(&release)?)?;
    let direct = start_direct(b, &kit::start_file(&release)?)?;
    let host = start_on_host_network(b, &kit::tag(&release)?)?;
    let mut targets = vec![
        ("the container", container.address.clone()),
        ("node on the host", direct.address.clone()),
        ("the container on the host network", host.address.clone()),
    ];
    if let Some(address) = &container.bridge_address {
        targets.push(("the container's bridge address", address.clone()));
    }
    let duration = if b.quick { "2" } else { "5" };
    let mut figures = Vec::new();
    for endpoint in &ENDPOINTS {
        let load = |address: &str, seconds: &str| {
            let mut command =
                Command::new(autocannon.as_str()).args(["--json", "--connections", CONNECTIONS, "--duration", seconds]);
            if let Some(body) = endpoint.body {
                command = command.args(["--method", "POST", "--headers", "content-type=application/json"]);
                command = command.args(["--body", body]);
            }
            command.arg(format!("http://{address}{}", endpoint.path))
        };
        let warm_up: Vec<Job> = targets
            .iter()
            .map(|(t, a)| Job::new(format!("{}, warm-up against {t}", endpoint.label), load(a, "1"), root))
            .collect();
        alternate(1, &warm_up, |_| Ok(()))?;
        let jobs: Vec<Job> = targets
            .iter()
            .map(|(target, address)| {
                Job::new(format!("{} against {target} for {duration} s", endpoint.label), load(address, duration), root)
            })
            .collect();
        let loads = alternate(b.rounds(5, 2), &jobs, |_| Ok(()))?
            .iter()
            .map(|outputs| outputs.iter().map(|o| Load::parse(&o.stdout, endpoint.label)).collect::<Result<Vec<_>>>())
            .collect::<Result<Vec<_>>>()?;
        figures.extend(load_figures(endpoint.label, &loads));
    }
    Ok(figures)
}

/// Requests per second, the container's against the direct run's, and the latency of each; the same for the
/// container on the host network (the budget) and by its bridge address when that was measured. `loads`: per
/// target in the order of `service`'s targets.
fn load_figures(label: &str, loads: &[Vec<Load>]) -> Vec<Figure> {
    let series = |loads: &[Load], field: fn(&Load) -> f64| loads.iter().map(field).collect::<Vec<f64>>();
    let name = |what: &str| format!("{label}: {what}");
    let (container, direct) = (&loads[0], &loads[1]);
    let ratio = ratios(&series(container, |l| l.requests), &series(direct, |l| l.requests));
    let mut figures = vec![
        Figure::new(&name("container req/s"), "req/s", series(container, |l| l.requests)),
        Figure::new(&name("direct req/s"), "req/s", series(direct, |l| l.requests)),
        Figure::new(&name("container / direct req/s"), "x", ratio),
        Figure::new(&name("p50 latency container"), "ms", series(container, |l| l.p50)),
        Figure::new(&name("p50 latency direct"), "ms", series(direct, |l| l.p50)),
        Figure::new(&name("p99 latency container"), "ms", series(container, |l| l.p99)),
        Figure::new(&name("p99 latency direct"), "ms", series(direct, |l| l.p99)),
    ];
    for (what, other) in ["host network", "bridge address"].iter().zip(&loads[2..]) {
        let ratio = ratios(&series(other, |l| l.requests), &series(direct, |l| l.requests));
        let ratio = Figure::new(&name(&format!("{what} / direct req/s")), "x", ratio);
        figures.extend([
            Figure::new(&name(&format!("container by {what} req/s")), "req/s", series(other, |l| l.requests)),
            if *what == "host network" { ratio.budget(Budget::AtLeast(0.95)) } else { ratio },
            Figure::new(&name(&format!("p50 latency {what}")), "ms", series(other, |l| l.p50)),
        ]);
    }
    figures
}

/// One autocannon run, from its `--json` report.
struct Load {
    requests: f64,
    p50: f64,
    p99: f64,
}

impl Load {
    fn parse(report: &str, what: &str) -> Result<Load> {
        let json: serde_json::Value =
            serde_json::from_str(report).with_context(|| format!("cannot read autocannon's report for {what}"))?;
        let number = |section: &str, key: &str| {
            json[section][key]
                .as_f64()
                .with_context(|| format!("autocannon's report for {what} has no {section}.{key}"))
        };
        let count = |key: &str| json[key].as_f64().unwrap_or(0.0);
        let failed = count("non2xx") + count("errors") + count("timeouts");
        if count("2xx") == 0.0 {
            bail!("{what}: no request answered 2xx under load");
        }
        if failed > 0.0 {
            bail!(
                "{what}: {failed} requests failed or did not answer 2xx under load; the figures would be meaningless"
            );
        }
        Ok(Load {
            requests: number("requests", "average")?,
            p50: number("latency", "p50")?,
            p99: number("latency", "p99")?,
        })
    }
}

/// autocannon, installed with npm under target/bench-tools the first time.
fn install_autocannon(root: &Utf8Path) -> Result<Utf8PathBuf> {
    let tools = root.join("target/bench-tools");
    let program = tools.join("node_modules/.bin/autocannon");
    if !program.is_file() {
        eprintln!("bench:   installing autocannon into {tools}");
        let npm = Command::new("npm").args([
            "install",
            "--prefix",
            tools.as_str(),
            "autocannon@9",
            "--no-audit",
            "--no-fund",
        ]);
        run(&npm, root).context("cannot install autocannon with npm")?;
    }
    Ok(program)
}

/// A running service the bench started: the container is removed, the process killed, when dropped.
struct Running {
    container: Option<String>,
    process: Option<std::process::Child>,
    address: String,
    /// The container's own address on the engine's bridge, when this host can reach it.
    bridge_address: Option<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(name) = &self.container {
            let _ = docker(&["rm", "--force", "--volumes", name]);
        }
        if let Some(process) = &mut self.process {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A container of the release image on a free loopback port, healthy; removed when dropped.
fn start_container(b: &Bench, image: &str) -> Result<Running> {
    let name = format!("xtask-bench-{}", std::process::id());
    let port = b.settings.service.port;
    let env = b.settings.smoke.env.iter().flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")]);
    let start = Command::new("docker")
        .args(["run", "--detach", "--pull=never", "--name", name.as_str(), "--publish"])
        .arg(format!("127.0.0.1::{port}"))
        .args(env)
        .arg(image);
    eprintln!("bench:   starting the release container: {}", start.shell_line());
    let mut guard =
        Running { container: Some(name.clone()), process: None, address: String::new(), bridge_address: None };
    run(&start, &b.root)?;
    wait_healthy(&name, Duration::from_secs(b.settings.smoke.timeout))?;
    let published = docker(&["port", &name, &format!("{port}/tcp")])?;
    let address = published
        .lines()
        .find(|line| line.starts_with("127.0.0.1:"))
        .with_context(|| format!("container {name} publishes {port}/tcp on no loopback address ('{published}')"))?;
    guard.address = address.to_string();
    let ips = docker(&["inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", &name])?;
    let bridge = ips.split_whitespace().next().map(|ip| format!("{ip}:{port}"));
    // A remote engine's bridge is not reachable from here: then that figure is left out.
    let reachable = |address: &String| {
        let address = address.parse().ok();
        address.is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
    };
    guard.bridge_address = bridge.filter(reachable);
    if guard.bridge_address.is_none() {
        eprintln!("bench:   the container's bridge address ('{ips}') is not reachable from here: measured through the published port only");
    }
    Ok(guard)
}

/// The release image on the host's network namespace (`--network host`), listening on a free port of 127.0.0.1 and
/// answering its health path; removed when dropped. Its log (two lines a request) is discarded by the engine
/// (`--log-driver none`), as the direct run's goes to a file: through the engine's log path (json-file, through the
/// shim and dockerd) it answered about half as many requests in a quick A/B here, and that path is not the image's.
/// The published-port and bridge figures keep it.
fn start_on_host_network(b: &Bench, image: &str) -> Result<Running> {
    let name = format!("xtask-bench-host-{}", std::process::id());
    let port = free_port()?;
    let env = b.settings.smoke.env.iter().flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")]);
    let start = Command::new("docker")
        .args(["run", "--detach", "--pull=never", "--name", name.as_str(), "--network", "host", "--log-driver", "none"])
        .args(["--env", &format!("PORT={port}"), "--env", "HOST=127.0.0.1"])
        .args(env)
        .arg(image);
    eprintln!("bench:   starting the release image on the host network: {}", start.shell_line());
    let address = format!("127.0.0.1:{port}");
    let guard = Running { container: Some(name), process: None, address, bridge_address: None };
    run(&start, &b.root)?;
    answered(&guard.address, &b.settings.service.health_path, || Ok(false))?;
    Ok(guard)
}

/// A port nobody listens on, on 127.0.0.1.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// Waits (30 s at most) until `address` answers `path` with 2xx; `gone` says whether the service has stopped.
fn answered(address: &str, path: &str, mut gone: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        check_interrupt()?;
        if matches!(http_get(address, path, Duration::from_secs(1)), Ok(200..=299)) {
            return Ok(());
        }
        if gone()? || Instant::now() > deadline {
            bail!("nothing answered {path} on {address}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Polls `docker inspect` until the container is healthy (or simply running, when the image has no HEALTHCHECK). A
/// container that exits or turns unhealthy fails at once, after its last log lines.
fn wait_healthy(container: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let format = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
    loop {
        check_interrupt()?;
        let state = docker(&["inspect", "--format", format, container])?;
        let failed = match state.split_once(' ') {
            Some(("running", "healthy" | "none")) => return Ok(()),
            Some(("running", "unhealthy")) => Some("turned unhealthy".to_string()),
            Some((status, _)) if status != "running" && status != "created" => Some(format!("is {status}")),
            _ if Instant::now() > deadline => Some(format!("was not healthy after {} s ({state})", timeout.as_secs())),
            _ => None,
        };
        if let Some(failed) = failed {
            if let Ok(logs) = std::process::Command::new("docker").args(["logs", "--tail", "20", container]).output() {
                let (out, err) = (String::from_utf8_lossy(&logs.stdout), String::from_utf8_lossy(&logs.stderr));
                eprintln!("--- last log lines of {container} ---\n{out}{err}---");
            }
            bail!("container {container} {failed}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The service run by the host's node on a free loopback port, answering its health path; stopped when dropped.
fn start_direct(b: &Bench, start_file: &str) -> Result<Running> {
    let settings = &b.settings;
    let dir = settings.context(&b.root);
    if !dir.join("node_modules").is_dir() {
        eprintln!("bench:   npm ci in {dir}");
        run(&Command::new("npm").args(["ci", "--no-audit", "--no-fund"]), &dir)?;
    }
    if kit::has_script(&dir, "build")? {
        run(&Command::new("npm").args(["run", "build"]), &dir)?;
    }
    let port = free_port()?;
    let address = format!("127.0.0.1:{port}");
    let log = b.temp.join("direct.log");
    eprintln!("bench:   starting node {start_file} in {dir} on {address} (its log: {log})");
    let log_file = std::fs::File::create(&log).with_context(|| format!("cannot create {log}"))?;
    // As in the image: production mode, and the [smoke] env; the log goes to a file, as docker's goes to its own.
    let mut node = std::process::Command::new("node");
    node.arg(start_file)
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("NODE_ENV", "production")
        .env_remove("REDIS_URL")
        .envs(&settings.smoke.env)
        .stdin(std::process::Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file);
    let process = node.spawn().context("cannot start node")?;
    let mut guard = Running { container: None, process: Some(process), address, bridge_address: None };
    let health_path = &settings.service.health_path;
    let gone = || Ok(guard.process.as_mut().is_some_and(|p| matches!(p.try_wait(), Ok(Some(_)))));
    answered(&guard.address.clone(), health_path, gone).with_context(|| format!("node {start_file} (see {log})"))?;
    Ok(guard)
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
