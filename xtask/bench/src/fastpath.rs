//! Section 8, the fast path a team runs many times a day: `cargo xtask ci` with nothing changed, and `smoke` beside
//! the `docker run` + GET loop it replaces, each timed from the moment docker is asked to run the image to the
//! first 2xx of the health path.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::exec::{alternate, check_interrupt, docker, once_more, run, seconds, Command, ImageGuard, Job};
use crate::images::build_release;
use crate::kit;
use crate::report::{ratios, Budget, Figure};
use crate::service::http_get;
use crate::Bench;

pub fn fast_path(b: &Bench) -> Result<Vec<Figure>> {
    let mut figures = ci_unchanged(b)?;
    figures.extend(smoke(b)?);
    Ok(figures)
}

/// `cargo xtask ci` (XTASK_FLAVOR set) with every build cached: once untimed, then timed. No prune.
fn ci_unchanged(b: &Bench) -> Result<Vec<Figure>> {
    let command = Command::new("cargo").args(["xtask", "ci"]).env("XTASK_FLAVOR", &b.flavor);
    eprintln!("bench:   {}, once untimed, so that every build is cached", command.shell_line());
    once_more("the first ci", || run(&command, &b.root))?;
    let jobs = [Job::new("cargo xtask ci, nothing changed", command, &b.root)];
    let times = seconds(&alternate(b.rounds(7, 3), &jobs, |_| Ok(()))?[0]);
    Ok(vec![Figure::new("cargo xtask ci: nothing changed", "s", times).budget(Budget::AtMost(3.0))])
}

/// The release image, alternately: `xtask smoke` (in a project of the bench's, so IMAGE:VERSION is the bench's
/// image), timed to the line where its probe reports the 2xx and to its exit; and `docker run --detach` + a GET of
/// the health path every 20 ms on the published port, timed to the first 2xx and to the end of `docker rm --force`.
fn smoke(b: &Bench) -> Result<Vec<Figure>> {
    let release = build_release(b, &b.flavor)?;
    let context = b.settings.context(&b.root);
    let project = kit::bench_project(b, "smoke", &b.flavor, &context, &b.settings.dockerfile(&b.root))?;
    let image = format!("xtask-bench-{}:{}", b.flavor, kit::version(&context)?);
    docker(&["tag", &kit::tag(&release)?, &image])?;
    let _tag = ImageGuard(vec![image.clone()]);
    let xtask = Command::new(b.xtask()?.as_str()).arg("smoke");
    let (mut kit_ready, mut kit_total, mut raw_ready, mut raw_total) = (vec![], vec![], vec![], vec![]);
    let rounds = b.rounds(7, 3);
    for round in 0..rounds {
        for which in [round % 2, 1 - round % 2] {
            eprintln!("bench:   {} ({}/{rounds})", ["xtask smoke", "docker run + GET loop"][which], round + 1);
            let (ready, total) = if which == 0 { timed_smoke(b, &xtask, &project)? } else { raw_run(b, &image)? };
            let (to_ready, to_total) =
                if which == 0 { (&mut kit_ready, &mut kit_total) } else { (&mut raw_ready, &mut raw_total) };
            to_ready.push(ready);
            to_total.push(total);
        }
    }
    let over: Vec<f64> = kit_ready.iter().zip(&raw_ready).map(|(k, r)| k - r).collect();
    Ok(vec![
        Figure::new("run to first 200: docker run + GET loop", "s", raw_ready),
        Figure::new("run to first 200: xtask smoke (HEALTHCHECK passed, probed)", "s", kit_ready.clone()),
        Figure::new("run to first 200: xtask smoke - docker run + GET loop", "s", over).budget(Budget::AtMost(1.0)),
        Figure::new("run to exit: docker run + GET loop + docker rm --force", "s", raw_total.clone()),
        Figure::new("run to exit: xtask smoke (stop and remove)", "s", kit_total.clone()),
        Figure::new("run to exit: xtask smoke / docker run + GET loop", "x", ratios(&kit_total, &raw_total)),
    ])
}

/// `xtask smoke` in `dir`: seconds to its probe's "-> 2xx" line, and to its exit.
fn timed_smoke(b: &Bench, xtask: &Command, dir: &camino::Utf8Path) -> Result<(f64, f64)> {
    check_interrupt()?;
    let started = Instant::now();
    let mut child = std::process::Command::new(&xtask.program)
        .args(&xtask.args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start xtask smoke")?;
    let mut ready = None;
    let mut log = Vec::new();
    let answer = format!("{} -> 2", b.settings.service.health_path);
    for line in BufReader::new(child.stderr.take().context("no stderr")?).lines() {
        let line = line?;
        if ready.is_none() && line.contains(&answer) {
            ready = Some(started.elapsed().as_secs_f64());
        }
        log.push(line);
    }
    let status = child.wait()?;
    let total = started.elapsed().as_secs_f64();
    match ready {
        Some(ready) if status.success() => Ok((ready, total)),
        _ => bail!("xtask smoke failed ({status}):\n{}", log[log.len().saturating_sub(15)..].join("\n")),
    }
}

/// `docker run --detach` of `image` on a free loopback port, a GET of the health path every 20 ms until it answers
/// 2xx, `docker rm --force`: seconds to the 2xx, and to the end.
fn raw_run(b: &Bench, image: &str) -> Result<(f64, f64)> {
    let settings = &b.settings;
    let name = format!("xtask-bench-raw-{}", std::process::id());
    let env = settings.smoke.env.iter().flat_map(|(k, v)| ["--env".to_string(), format!("{k}={v}")]);
    let start = Command::new("docker")
        .args(["run", "--detach", "--pull=never", "--name", name.as_str(), "--publish"])
        .arg(format!("127.0.0.1::{}", settings.service.port))
        .args(env)
        .arg(image);
    let started = Instant::now();
    let removed = Removed(name.clone());
    run(&start, &b.root)?;
    let port = docker(&["port", &name, &format!("{}/tcp", settings.service.port)])?;
    let address = port.lines().find(|l| l.starts_with("127.0.0.1:")).context("no port on 127.0.0.1")?.to_string();
    let deadline = started + Duration::from_secs(settings.smoke.timeout);
    let ready = loop {
        check_interrupt()?;
        if matches!(http_get(&address, &settings.service.health_path, Duration::from_secs(1)), Ok(200..=299)) {
            break started.elapsed().as_secs_f64();
        }
        if Instant::now() > deadline {
            bail!("{image} did not answer {} on {address}", settings.service.health_path);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(removed);
    Ok((ready, started.elapsed().as_secs_f64()))
}

/// Removes the container when dropped.
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = docker(&["rm", "--force", &self.0]);
    }
}
