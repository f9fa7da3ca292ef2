//! `ci`: the whole pipeline in order (pull, lint, test, release, smoke), stopping at the first
//! failure, ending with a table of steps and their times. Under GitHub Actions each step is a log
//! group, the table goes to the job summary and the image references to the step outputs.

use anyhow::{bail, Result};
use serde_json::json;

use crate::build::{self, BuildSetup};
use crate::engine::Kind;
use crate::plan::{self, Action, Options, Plan, Step, Timing};
use crate::project::Release;
use crate::{gha, release, run, stages};

pub fn ci(setup: &BuildSetup, options: &Options) -> Result<()> {
    let project = setup.project;
    let engine = setup.engine;
    let mut plan = Plan::default();
    plan.steps.extend(stages::pull_plan(project, engine, setup.flags.platform.as_deref())?.steps);
    let lint = build::lint_plan(setup)?;
    let test = build::test_plan(setup)?;
    if test.is_none() {
        eprintln!("xtask: the service has no tests ([service] tests = false in xtask.toml); the test step is skipped");
    }
    // After the plans above, which check xtask.toml's stages: a wrong one is named before git is read.
    let release = project.release(None)?;
    let image = release.references.first().map(String::as_str).unwrap_or_default();
    let release_build = release::release_plan(setup, &release, false, false, None)?;
    // A tag of this run only, for the release image until lint and test passed.
    let candidate = format!("{}:ci-{}", project.image(), std::process::id());
    let mut builds = vec![("lint", lint)];
    builds.extend(test.map(|test| ("test", test)));
    builds.push(("release", release_build));
    if engine.kind == Kind::Docker {
        plan.steps.extend(bake_steps(setup, &release, builds, &candidate)?);
    } else {
        // podman has no bake: one build after the other, release last.
        for (_, build) in builds {
            plan.steps.extend(build.steps);
        }
    }
    // On docker, smoke runs the very image by this run's tag; its start runs beside the release's SBOM steps.
    let smoke_image = if engine.kind == Kind::Docker { candidate.as_str() } else { image };
    plan.steps.extend(run::smoke_plan(project, engine, smoke_image)?.steps);
    if engine.kind == Kind::Docker {
        plan.push(Step::cleanup(format!("untag {candidate}"), engine.command(["image", "rm", candidate.as_str()])));
    }

    if options.dry_run {
        return plan::execute(&plan, options, &mut Vec::new());
    }
    setup.check_builder()?;
    let mut timings = Vec::new();
    let started = std::time::Instant::now();
    let result = plan::unless_unreachable(engine, plan::execute(&plan, options, &mut timings));
    let table = timing_rows(&timings, &plan, started.elapsed().as_secs_f64());
    eprintln!("\n{}", text_table(&table));
    if gha::is_actions() {
        gha::append_step_summary(&format!(
            "### cargo xtask ci\n\n{}\n",
            gha::markdown_table(&["step", "time", "result"], &table)
        ))?;
        if result.is_ok() {
            gha::set_output("image", image)?;
            gha::set_output("tags", &release.references.join("\n"))?;
        }
    }
    if result.is_ok() {
        eprintln!("image: {}", release.references.join(" "));
    }
    result
}

/// docker: lint, test and release in one `docker buildx bake` (one client, one BuildKit solve), hadolint beside
/// it. Bake exports each target as soon as it is built, whatever the others do (a failing test stage does not stop
/// the release image from being loaded), so release is loaded as `candidate` only, and tagged with the release
/// tags once the bake passed (beside the step after them): no release tag moves when lint or test fails. lint and
/// test stay in the build cache.
fn bake_steps(setup: &BuildSetup, release: &Release, plans: Vec<(&str, Plan)>, candidate: &str) -> Result<Vec<Step>> {
    // Each plan's first step is its build; the rest run beside the bake (hadolint) or after the tags (release's SBOM).
    let (mut builds, mut names, mut beside, mut after) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (name, plan) in plans {
        let mut steps = plan.steps.into_iter();
        let Some(Step { action: Action::Exec(command), .. }) = steps.next() else {
            bail!("no build command in the plan");
        };
        builds.push((name, command));
        names.push(name);
        let rest = if name == "release" { &mut after } else { &mut beside };
        rest.extend(steps.map(|step| Step { with_next: true, ..step }));
    }
    let (mut file, flags) = build::bake_file(&builds, &setup.project.root)?;
    for name in &names {
        let target = &mut file["target"][name];
        if *name == "release" {
            target["tags"] = json!([candidate]);
        } else {
            target["output"] = json!(["type=cacheonly"]);
            target.as_object_mut().map(|t| t.remove("tags"));
        }
    }
    // The bake file on bake's stdin: `--dry-run` prints it as `printf '%s\n' FILE | docker buildx bake --file - …`.
    let mut bake = setup.engine.command(["buildx", "bake", "--file", "-"]).args(flags).args(names.iter().copied());
    bake.stdin = Some(file.to_string());
    // hadolint, beside the bake.
    let mut steps = beside;
    steps.push(
        Step::exec(format!("build {} in one bake", names.join(", ")), bake)
            .with_hint("a target failed, named above: lint, the test suite, or a step they need"),
    );
    for reference in &release.references {
        let tag = setup.engine.command(["tag", candidate, reference.as_str()]);
        steps.push(Step { with_next: true, ..Step::exec(format!("tag {reference}"), tag) });
    }
    // The rest of release (its SBOM) reads the tagged image: after the tags, beside the step after it.
    if let Some(last) = steps.last_mut() {
        last.with_next = false;
    }
    steps.extend(after);
    Ok(steps)
}

/// One row per step: title, time, result; steps never reached are listed as skipped. The total is the wall time
/// (steps side by side overlap).
fn timing_rows(timings: &[Timing], plan: &Plan, total: f64) -> Vec<Vec<String>> {
    let row = |title: &str, time: String, result: &str| vec![title.to_string(), time, result.to_string()];
    let steps = plan.steps.iter().filter(|s| !s.always);
    let rows = steps.map(|step| match timings.iter().find(|t| t.title == step.title) {
        Some(t) => row(&t.title, format!("{:.1} s", t.seconds), if t.ok { "ok" } else { "FAILED" }),
        None => row(&step.title, "-".to_string(), "skipped"),
    });
    rows.chain([row("total", format!("{total:.1} s"), "")]).collect()
}

fn text_table(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    rows.iter().map(|r| format!("  {:width$}  {:>8}  {}", r[0], r[1], r[2])).collect::<Vec<_>>().join("\n")
}
