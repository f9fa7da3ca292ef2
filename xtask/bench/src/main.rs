//! `cargo xbench`: the kit's speed, its images' size and its own size, each figure beside its alternative and
//! against a budget. A maintainers' tool (see BENCHMARKS.md), not part of what a copy of the template carries.
//!
//! It drives the kit through its command line, as a user would: the xtask binary (built with `cargo build -p xtask`)
//! and `cargo xtask`, the docker commands `--dry-run` prints, the references `tags --json` gives; and the docker CLI
//! for its own queries. It never links the xtask's code.
//!
//! Every figure is the median of several runs, with min and max. Where two commands are compared, they run
//! alternately in the same round (the first one rotating), and the figure is the median of the per-round ratios:
//! on a shared, noisy machine a slow minute then hits both sides alike. A figure over budget is a finding, reported
//! as FAIL; the bench fails only when it could not measure. Everything it starts (containers, the node process,
//! temporary folders, its `xtask-bench-*` images) is removed again by guards, also on errors and Ctrl-C.
//!
//!   1. cold build of the xtask beside a crate that only depends on the crates the xtask declares
//!   2. warm start: `cargo xtask --help`, and the binary's own `--help`
//!   3. layer caching: the test stage cold, then after editing one source file (are the `npm ci` steps CACHED?)
//!   4. the kit's overhead on a fully cached `build --stage test`, against the docker command it runs
//!   5. image size: the release image against a naive single-stage image, for each flavor this host can build
//!   6. the service: requests per second and latency (autocannon) in the release container against plain node
//!   7. `cargo xtask ci` end to end, cold (with nothing changed: section 9)
//!   8. the size of the xtask: code lines in xtask/src, per file and in total (needs no engine)
//!   9. the fast path: `cargo xtask ci` with nothing changed, and `smoke` beside `docker run` + a GET loop

mod builds;
mod exec;
mod fastpath;
mod images;
mod kit;
mod report;
mod service;
mod size;

use std::cell::OnceCell;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::exec::{ImageGuard, Interrupted, TempDir};
use crate::kit::Settings;
use crate::report::{Figure, Machine};

const HELP: &str = "cargo xbench: measure the kit against its budgets (see BENCHMARKS.md)

Usage: cargo xbench [--quick] [--json] [--only SECTION[,SECTION...]] [--flavor F]

Options:
  --quick          A short run: fewer repetitions, the slowest figures left out
  --json           Print the report as JSON (machine, date, figures) instead of a table
  --only S,...     Only these sections: cold-build, warm-start, layer-caching, overhead, image-size, service, ci,
                   size (`--only size` needs no engine and takes a second), fast-path (prunes nothing)
  --flavor F       alpine or debian; default XTASK_FLAVOR, else xtask.toml's [build] flavor
  -h, --help       Show this help

It prunes BuildKit's whole cache before every cold build (everyone sharing the engine loses their build cache).
A figure over budget is reported as FAIL; the exit status is non-zero only when something could not be measured
(130 or 143 after Ctrl-C or SIGTERM, with the figures measured until then).
";

/// What every measurement needs.
pub struct Bench {
    /// The project's root: the folder holding xtask.toml.
    pub root: Utf8PathBuf,
    pub settings: Settings,
    /// "alpine" or "debian".
    pub flavor: String,
    pub quick: bool,
    /// A temporary folder of this run, removed at the end.
    pub temp: Utf8PathBuf,
    /// The xtask binary, built the first time a section needs it: timed on its own, without cargo in front.
    xtask: OnceCell<Utf8PathBuf>,
}

impl Bench {
    /// How many rounds: `full` normally, `quick` with --quick.
    pub fn rounds(&self, full: usize, quick: usize) -> usize {
        if self.quick {
            quick
        } else {
            full
        }
    }

    /// The xtask binary, as `cargo build -p xtask` leaves it (built on the first call).
    pub fn xtask(&self) -> Result<&Utf8Path> {
        if self.xtask.get().is_none() {
            let built = kit::build_xtask(&self.root)?;
            let _ = self.xtask.set(built);
        }
        Ok(self.xtask.get().expect("set above"))
    }
}

struct Section {
    /// Its name for --only.
    key: &'static str,
    title: &'static str,
    /// Whether it needs the docker engine.
    engine: bool,
    measure: fn(&Bench) -> Result<Vec<Figure>>,
}

const SECTIONS: [Section; 9] = [
    Section { key: "cold-build", title: "cold build of the xtask", engine: false, measure: builds::cold_build },
    Section { key: "warm-start", title: "warm start", engine: false, measure: builds::warm_start },
    // Before the overhead, whose first build then finds the dependencies cached.
    Section { key: "layer-caching", title: "layer caching", engine: true, measure: builds::layer_caching },
    Section { key: "overhead", title: "the kit's overhead on a cached build", engine: true, measure: builds::overhead },
    Section { key: "image-size", title: "image size", engine: true, measure: images::image_size },
    Section { key: "service", title: "the service under load", engine: true, measure: service::service },
    Section { key: "ci", title: "cargo xtask ci end to end", engine: true, measure: builds::ci },
    Section { key: "size", title: "size of the xtask", engine: false, measure: size::size },
    Section {
        key: "fast-path",
        title: "the fast path: ci unchanged, smoke",
        engine: true,
        measure: fastpath::fast_path,
    },
];

#[derive(Debug, Default, PartialEq)]
struct Args {
    quick: bool,
    json: bool,
    /// The sections --only names; None: all of them.
    only: Option<Vec<String>>,
    flavor: Option<String>,
    help: bool,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut parsed = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => parsed.quick = true,
            "--json" => parsed.json = true,
            "-h" | "--help" => parsed.help = true,
            "--only" => {
                let keys: Vec<String> = value()?.split(',').map(|k| k.trim().to_string()).collect();
                for key in &keys {
                    if !SECTIONS.iter().any(|s| s.key == key) {
                        let known: Vec<&str> = SECTIONS.iter().map(|s| s.key).collect();
                        bail!("unknown section '{key}' for --only; sections: {}", known.join(", "));
                    }
                }
                parsed.only = Some(keys);
            }
            "--flavor" => parsed.flavor = Some(value()?),
            _ => bail!("unknown argument '{arg}'; see `cargo xbench --help`"),
        }
    }
    Ok(parsed)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    if args.help {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match exec::install_signal_handler().and_then(|()| bench(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            // 128 + the signal when interrupted, as a shell reports it.
            let status = err.chain().find_map(|c| c.downcast_ref::<Interrupted>()).map_or(1, |i| 128 + i.0 as u8);
            ExitCode::from(status)
        }
    }
}

fn bench(args: &Args) -> Result<()> {
    let sections: Vec<&Section> = match &args.only {
        Some(keys) => SECTIONS.iter().filter(|s| keys.iter().any(|k| k == s.key)).collect(),
        None => SECTIONS.iter().collect(),
    };
    let root = kit::find_root()?;
    let settings = Settings::load(&root)?;
    let flavor = kit::flavor(args.flavor.as_deref(), &settings)?;
    let needs_engine = sections.iter().any(|s| s.engine);
    let engine_version = if needs_engine { Some(kit::engine_version()?) } else { None };
    let temp = TempDir::create()?;
    // Declared after the folder, so dropped before it: the images go first.
    let _images = needs_engine.then(|| ImageGuard(exec::bench_images()));
    let quick = args.quick;
    let bench = Bench { root, settings, flavor, quick, temp: temp.0.clone(), xtask: OnceCell::new() };

    let machine = Machine::probe(engine_version)?;
    let started = Instant::now();
    let mut figures = Vec::new();
    let mut unmeasured = Vec::new();
    let mut interrupted = None;
    for (number, section) in sections.iter().enumerate() {
        let elapsed = started.elapsed().as_secs();
        eprintln!("bench: [{}/{}] {} ({elapsed} s since the start)", number + 1, sections.len(), section.title);
        match (section.measure)(&bench) {
            Ok(mut found) => figures.append(&mut found),
            Err(err) => {
                if let Some(sig) = exec::interrupted() {
                    interrupted = Some(sig);
                    break;
                }
                eprintln!("bench: cannot measure {}: {err:#}", section.title);
                unmeasured.push(section.title);
            }
        }
    }

    let end = if interrupted.is_some() { "interrupted" } else { "done" };
    eprintln!("bench: {end} after {} s", started.elapsed().as_secs());
    let only = args.only.as_deref();
    if args.json {
        let json = report::report_json(&machine, &bench.flavor, quick, only, &figures);
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        let run = match (quick, only) {
            (true, Some(keys)) => format!("--quick --only {}", keys.join(",")),
            (false, Some(keys)) => format!("--only {}", keys.join(",")),
            (true, None) => "--quick".to_string(),
            (false, None) => "full run".to_string(),
        };
        println!("cargo xbench ({run}, flavor {}), {}", bench.flavor, machine.describe());
        println!("\n{}", report::report_table(&figures));
    }
    if let Some(sig) = interrupted {
        // The figures measured until then are printed above; the temporary folder and images go with the guards.
        return Err(Interrupted(sig).into());
    }
    if !unmeasured.is_empty() {
        bail!("could not measure: {} (the reasons are above)", unmeasured.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn flags_and_sections() {
        let args = parse(&["--quick", "--json", "--only", "size,warm-start", "--flavor=debian"]).unwrap();
        assert!(args.quick && args.json);
        assert_eq!(args.only, Some(vec!["size".to_string(), "warm-start".to_string()]));
        assert_eq!(args.flavor.as_deref(), Some("debian"));
        assert_eq!(parse(&["--only=size"]).unwrap().only, Some(vec!["size".to_string()]));
        assert_eq!(parse(&[]).unwrap(), Args::default());
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        let err = parse(&["--only", "sizes"]).unwrap_err().to_string();
        assert!(err.contains("unknown section 'sizes'") && err.contains("cold-build"), "{err}");
        assert!(parse(&["--only"]).unwrap_err().to_string().contains("needs a value"));
        assert!(parse(&["bench"]).unwrap_err().to_string().contains("unknown argument 'bench'"));
    }
}
