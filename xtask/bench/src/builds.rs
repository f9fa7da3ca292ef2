//! The sections that time builds and commands: 1. cold build of the xtask, 2. warm start, 3. layer caching, 4. the
//! kit's overhead on a cached build, 7. `cargo xtask ci` end to end.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};

use crate::exec::{self, alternate, docker, once_more, run, seconds, Command, Job};
use crate::kit;
use crate::report::{ratios, Budget, Figure};
use crate::Bench;

// ---------------------------------------------------------------------------------------------------------------
// 1. Cold build

/// `cargo build -p xtask --offline` into an empty target folder, beside the same for a crate that does nothing but
/// depend on the crates the xtask declares (xtask/bench/deps-only), and (not with --quick) that crate with lexopt
/// and serde_json.
pub fn cold_build(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.root;
    let baseline = b.temp.join("deps-only");
    prepare_baseline(root, &baseline)?;
    let mut jobs = vec![
        Job::new("xtask", Command::new("cargo").args(["build", "-p", "xtask", "--offline"]), root),
        Job::new("seven-crate baseline", Command::new("cargo").args(["build", "--offline"]), &baseline),
    ];
    if !b.quick {
        let extras = Command::new("cargo").args(["build", "--offline", "--features", "extras"]);
        jobs.push(Job::new("baseline + lexopt, serde_json", extras, &baseline));
    }
    let targets: Vec<Utf8PathBuf> = (0..jobs.len()).map(|i| b.temp.join(format!("target-{i}"))).collect();
    for (job, target) in jobs.iter_mut().zip(&targets) {
        job.command.env.push(("CARGO_TARGET_DIR".into(), target.to_string()));
        // build.rs turns on the end-to-end cfg for XTASK_E2E=1 only; the timed build is the everyday one.
        job.command.env.push(("XTASK_E2E".into(), "0".into()));
    }
    let outputs = alternate(b.rounds(3, 1), &jobs, |i| exec::remove_dir(&targets[i]))?;
    for target in &targets {
        exec::remove_dir(target)?;
    }
    let times: Vec<Vec<f64>> = outputs.iter().map(|o| seconds(o)).collect();
    let mut figures = vec![
        Figure::new("cold build: xtask", "s", times[0].clone()).budget(Budget::AtMost(20.0)),
        Figure::new("cold build: seven-crate baseline", "s", times[1].clone()),
        Figure::new("cold build: xtask / baseline", "x", ratios(&times[0], &times[1])).budget(Budget::AtMost(1.6)),
    ];
    if let Some(extras) = times.get(2) {
        figures.push(Figure::new("cold build: baseline + lexopt, serde_json", "s", extras.clone()));
        figures.push(Figure::new(
            "cold build: (baseline + lexopt, serde_json) / baseline",
            "x",
            ratios(extras, &times[1]),
        ));
    }
    Ok(figures)
}

/// The baseline crate in `dir`: the fixture, with the workspace's Cargo.lock and [profile] table.
fn prepare_baseline(root: &Utf8Path, dir: &Utf8Path) -> Result<()> {
    let fixture = root.join("xtask/bench/deps-only");
    let mut manifest: toml::Table =
        exec::read(&fixture.join("Cargo.toml"))?.parse().context("invalid deps-only/Cargo.toml")?;
    let workspace: toml::Table = exec::read(&root.join("Cargo.toml"))?.parse().context("invalid Cargo.toml")?;
    if let Some(profile) = workspace.get("profile") {
        manifest.insert("profile".into(), profile.clone());
    }
    std::fs::create_dir_all(dir.join("src")).with_context(|| format!("cannot create {dir}"))?;
    exec::write(&dir.join("Cargo.toml"), &toml::to_string(&manifest)?)?;
    exec::write(&dir.join("src/main.rs"), &exec::read(&fixture.join("src/main.rs"))?)?;
    exec::write(&dir.join("Cargo.lock"), &exec::read(&root.join("Cargo.lock"))?)
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Warm start

pub fn warm_start(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.root;
    let jobs = [
        Job::new("cargo xtask --help", Command::new("cargo").args(["xtask", "--help"]), root),
        Job::new("xtask --help (the binary)", Command::new(b.xtask()?.as_str()).arg("--help"), root),
    ];
    // Once untimed: cargo rebuilds the xtask here if a source changed since it was built.
    alternate(1, &jobs, |_| Ok(()))?;
    let times: Vec<Vec<f64>> = alternate(b.rounds(20, 10), &jobs, |_| Ok(()))?.iter().map(|o| seconds(o)).collect();
    let cargo_start: Vec<f64> = times[0].iter().zip(&times[1]).map(|(cargo, exe)| cargo - exe).collect();
    Ok(vec![
        Figure::new("warm start: cargo xtask --help", "s", times[0].clone()).budget(Budget::AtMost(0.3)),
        Figure::new("warm start: xtask --help (the binary)", "s", times[1].clone()),
        Figure::new("warm start: cargo's own start (the difference)", "s", cargo_start),
    ])
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Layer caching

/// The test stage of a scratch copy of the service (and of the Dockerfile), as the kit builds it: cold (after
/// `docker builder prune -af`), then again after one line was added to its start file. Also counts the `npm ci`
/// steps BuildKit reports CACHED in the second build.
pub fn layer_caching(b: &Bench) -> Result<Vec<Figure>> {
    let scratch = b.temp.join("service");
    exec::copy_tree(&b.settings.context(&b.root), &scratch)?;
    // A copy of the Dockerfile too (outside the context), so that both builds of a round use the same one even
    // while someone edits it.
    let dockerfile = b.temp.join("Dockerfile");
    exec::write(&dockerfile, &exec::read(&b.settings.dockerfile(&b.root))?)?;
    let project = kit::bench_project(b, "layers", &b.flavor, &scratch, &dockerfile)?;
    let build = kit::build_command(b, &project, &b.flavor, &b.settings.stages.test)?;
    let release = kit::build_command(b, &project, &b.flavor, &b.settings.stages.release)?;
    let source = scratch.join(kit::start_file(&release)?);
    let mut cold = Vec::new();
    let mut edited = Vec::new();
    let mut cached = Vec::new();
    let mut cached_in_cold = Vec::new();
    let mut npm_ci_count = 0;
    let rounds = b.rounds(3, 1);
    for round in 1..=rounds {
        let (cold_build, output) = once_more(&format!("round {round}"), || {
            eprintln!("bench:   docker builder prune -af (this empties the engine's whole build cache)");
            docker(&["builder", "prune", "-af"])?;
            eprintln!("bench:   test stage, cold ({round}/{rounds}): {}", build.shell_line());
            let cold_build = run(&build, &b.root)?;
            exec::append(&source, &format!("// edited by cargo xbench, round {round}\n"))?;
            eprintln!("bench:   test stage after editing {source} ({round}/{rounds})");
            Ok((cold_build, run(&build, &b.root)?))
        })?;
        cold.push(cold_build.seconds);
        edited.push(output.seconds);
        cached_in_cold.push(not_cold("the cold build", &cold_build.stderr) as f64);
        let (steps, not_cached) = npm_ci_steps(&output.stderr);
        if steps == 0 {
            bail!("found no `npm ci` step in BuildKit's output (--progress plain); has the Dockerfile changed?");
        }
        if !not_cached.is_empty() {
            // Someone else pruning the engine's cache between the two builds does this too.
            eprintln!("bench:   `npm ci` ran again after the edit, not CACHED: [{}]", not_cached.join("], ["));
        }
        npm_ci_count = steps;
        cached.push((steps - not_cached.len()) as f64);
    }
    Ok(vec![
        Figure::new("test stage: cold build", "s", cold.clone()),
        Figure::new("test stage: after editing one source file", "s", edited.clone()),
        Figure::new("test stage: edited / cold", "x", ratios(&edited, &cold)).budget(Budget::AtMost(0.25)),
        Figure::new("test stage: steps CACHED in the cold build (0: truly cold)", "steps", cached_in_cold),
        Figure::new("test stage: npm ci steps CACHED after the edit", &format!("of {npm_ci_count}"), cached)
            .budget(Budget::AtLeast(npm_ci_count as f64)),
    ])
}

/// How many steps a build after `docker builder prune -af` still found CACHED, with a warning when there are any:
/// others who share the engine and build the same Dockerfile filled the cache again meanwhile.
fn not_cold(what: &str, progress: &str) -> usize {
    let cached = cached_steps(progress);
    if cached > 0 {
        eprintln!("bench:   {what} found {cached} steps CACHED: someone else built them after the prune");
    }
    cached
}

/// How many steps came from the cache in BuildKit's plain progress output (see `steps`).
fn cached_steps(progress: &str) -> usize {
    steps(progress).values().filter(|cached| **cached).count()
}

/// The `npm ci` steps in BuildKit's plain progress output, and the labels of those that did not come from the cache.
fn npm_ci_steps(progress: &str) -> (usize, Vec<String>) {
    let npm_ci: Vec<_> = steps(progress)
        .into_iter()
        .filter(|((_, command), _)| command.trim_start().starts_with("RUN ") && command.contains("npm ci"))
        .collect();
    (npm_ci.len(), npm_ci.into_iter().filter(|(_, cached)| !cached).map(|((label, _), _)| label).collect())
}

/// BuildKit's plain progress output as steps, (label, command) such as ("dependencies 4/5", "RUN … npm ci …"), each
/// with whether it came from the cache. A step is announced as `#12 [dependencies 4/5] RUN …` and, from the cache,
/// reported as `#12 CACHED`. One step may be announced under several numbers: when a cached result cannot be loaded,
/// BuildKit runs it again; in a bake every target that needs it announces it with the target's name in front
/// (`#19 [test dependencies 4/7] COPY …`, `#21 [lint dependencies 4/7] COPY …`), one running it and the others then
/// finding it CACHED. So the label leaves the target out, and a step counts as cached only when every number it had
/// was CACHED.
fn steps(progress: &str) -> BTreeMap<(String, String), bool> {
    let mut numbers: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for line in progress.lines().filter(|line| line.starts_with('#')) {
        let Some((number, rest)) = line.split_once(' ') else { continue };
        let Some((label, command)) = rest.strip_prefix('[').and_then(|r| r.split_once(']')) else { continue };
        let words: Vec<&str> = label.split_whitespace().collect();
        let label = match words.as_slice() {
            [_target, stage, position] if position.contains('/') => format!("{stage} {position}"),
            _ => label.to_string(),
        };
        numbers.entry((label, command.trim().to_string())).or_default().push(number);
    }
    let cached = |number: &str| progress.lines().any(|line| line.trim() == format!("{number} CACHED"));
    numbers.into_iter().map(|(step, numbers)| (step, numbers.iter().all(|n| cached(n)))).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// 4. The kit's overhead

/// `build --stage test`, fully cached, three ways: the docker command `--dry-run` prints (run by `sh -c`), the xtask
/// binary, and `cargo xtask`; and one `docker version`, one round trip to the engine, for scale.
pub fn overhead(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.root;
    let stage = b.settings.stages.test.as_str();
    let xtask = b.xtask()?.as_str();
    let line = kit::dry_run_one(b, root, &b.flavor, &["build", "--stage", stage])?;
    let kit_args = ["--flavor", b.flavor.as_str(), "build", "--stage", stage];
    let jobs = [
        Job::new("docker buildx build (the --dry-run line)", Command::new("sh").args(["-c", line.as_str()]), root),
        Job::new(format!("xtask build --stage {stage}"), Command::new(xtask).args(kit_args), root),
        Job::new(format!("cargo xtask build --stage {stage}"), Command::new("cargo").arg("xtask").args(kit_args), root),
        Job::new("docker version", Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]), root),
    ];
    eprintln!("bench:   a first build, untimed, so that every step is cached");
    once_more("the first build", || run(&jobs[1].command, root))?;
    let times: Vec<Vec<f64>> = alternate(b.rounds(25, 5), &jobs, |_| Ok(()))?.iter().map(|o| seconds(o)).collect();
    Ok(vec![
        Figure::new("cached test build: docker command", "s", times[0].clone()),
        Figure::new("cached test build: xtask binary", "s", times[1].clone()),
        Figure::new("cached test build: xtask binary / docker command", "x", ratios(&times[1], &times[0]))
            .budget(Budget::AtMost(1.05)),
        Figure::new("cached test build: cargo xtask", "s", times[2].clone()),
        Figure::new("cached test build: cargo xtask / docker command", "x", ratios(&times[2], &times[0])),
        Figure::new("one engine round trip: docker version", "s", times[3].clone()),
    ])
}

// ---------------------------------------------------------------------------------------------------------------
// 7. cargo xtask ci

/// `cargo xtask ci` with XTASK_FLAVOR set, cold: an empty build cache and no release image. (With nothing changed:
/// the fast-path section.)
pub fn ci(b: &Bench) -> Result<Vec<Figure>> {
    let root = &b.root;
    let references = kit::release_references(b)?;
    let command = Command::new("cargo").args(["xtask", "ci"]).env("XTASK_FLAVOR", &b.flavor);
    let mut cold = Vec::new();
    let mut cached_in_cold = Vec::new();
    let rounds = b.rounds(2, 1);
    for round in 1..=rounds {
        let cold_ci = once_more(&format!("round {round}"), || {
            eprintln!("bench:   docker builder prune -af, and removing the release image {}", references.join(" "));
            docker(&["builder", "prune", "-af"])?;
            let mut remove = vec!["image", "rm", "--force"];
            remove.extend(references.iter().map(String::as_str));
            // Absent tags are not an error here: the point is only that none is left.
            let _ = docker(&remove);
            eprintln!("bench:   {}, cold ({round}/{rounds})", command.shell_line());
            run(&command, root)
        })?;
        cold.push(cold_ci.seconds);
        // The executor prints `==> TITLE` before each step; the bake's output follows its line.
        let first_build = cold_ci.stderr.split("==> ").find(|step| step.starts_with("build ")).unwrap_or("");
        cached_in_cold.push(not_cold("the cold ci's first build", first_build) as f64);
    }
    Ok(vec![
        Figure::new("cargo xtask ci: cold", "s", cold),
        Figure::new("cargo xtask ci: steps CACHED in its first build (0: truly cold)", "steps", cached_in_cold),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_npm_ci_steps_not_cached() {
        let progress = "#11 [dependencies 3/5] RUN --mount=type=cache,target=/root/.npm  npm ci --prefix /prod\n\
                        #11 CACHED\n\
                        #12 [dependencies 4/5] RUN --mount=type=cache,target=/root/.npm  npm ci --include=dev\n\
                        #12 DONE 8.1s\n\
                        #13 [build 1/2] COPY . .\n\
                        #13 CACHED\n";
        assert_eq!(npm_ci_steps(progress), (2, vec!["dependencies 4/5".to_string()]));
        assert_eq!(cached_steps(progress), 2);
        assert_eq!(npm_ci_steps(""), (0, vec![]));
        let announced_twice = "#9 [dependencies 3/5] RUN npm ci --omit=dev\n#9 CACHED\n\
                               #17 [dependencies 3/5] RUN npm ci --omit=dev\n#17 DONE 9.0s\n";
        assert_eq!(npm_ci_steps(announced_twice), (1, vec!["dependencies 3/5".to_string()]));
    }

    #[test]
    fn a_step_one_target_of_a_bake_ran_is_not_cached_for_the_others() {
        let bake = "#19 [test dependencies 4/7] COPY package.json .\n#19 DONE 0.1s\n\
                    #21 [lint dependencies 4/7] COPY package.json .\n#21 CACHED\n\
                    #34 [test dependencies 4/7] COPY package.json .\n#34 CACHED\n\
                    #38 [release release 1/2] COPY --from=dependencies /prod/node_modules ./node_modules\n#38 CACHED\n\
                    #41 [release] exporting to image\n#41 DONE 0.5s\n";
        assert_eq!(cached_steps(bake), 1);
    }
}
