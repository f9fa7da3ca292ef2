//! `ci`: the whole pipeline in order (pull, lint, test, release, smoke), stopping at the first
//! failure, ending with a table of steps and their times. Under GitHub Actions each step is a log
//! group, the table goes to the job summary and the image references to the step outputs.

use anyhow::Result;

use crate::build::{self, BuildSetup};
use crate::plan::{self, Options, Plan, Timing};
use crate::{gha, release, run, stages};

pub fn ci(setup: &BuildSetup, options: &Options) -> Result<()> {
    let project = setup.project;
    let engine = setup.engine;
    let mut plan = Plan::default();
    plan.steps.extend(stages::pull_plan(project, engine, setup.flags.platform.as_deref())?.steps);
    plan.steps.extend(build::lint_plan(setup)?.steps);
    match build::test_plan(setup)? {
        Some(test) => plan.steps.extend(test.steps),
        None => eprintln!(
            "xtask: the service has no tests ([service] tests = false in xtask.toml); the test step is skipped"
        ),
    }
    // After the plans above, which check xtask.toml's stages: a wrong one is named before git is read.
    let release = project.release(None)?;
    plan.steps.extend(release::release_plan(setup, &release, false, false)?.steps);
    let image = release.references.first().map(String::as_str).unwrap_or_default();
    plan.steps.extend(run::smoke_plan(project, engine, image)?.steps);

    if options.dry_run {
        return plan::execute(&plan, options, &mut Vec::new());
    }
    engine.server_version()?;
    setup.check_builder()?;
    let mut timings = Vec::new();
    let result = plan::execute(&plan, options, &mut timings);
    let table = timing_rows(&timings, &plan);
    eprintln!("\n{}", text_table(&table));
    if gha::is_actions() {
        let rows: Vec<Vec<String>> = table.iter().map(|r| r.to_vec()).collect();
        gha::append_step_summary(&format!(
            "### cargo xtask ci\n\n{}\n",
            gha::markdown_table(&["step", "time", "result"], &rows)
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

/// One row per step: title, time, result; steps never reached are listed as skipped.
fn timing_rows(timings: &[Timing], plan: &Plan) -> Vec<[String; 3]> {
    let mut rows: Vec<[String; 3]> = Vec::new();
    for step in plan.steps.iter().filter(|s| !s.always) {
        let row = match timings.iter().find(|t| t.title == step.title) {
            Some(t) => [t.title.clone(), format!("{:.1} s", t.seconds), if t.ok { "ok" } else { "FAILED" }.to_string()],
            None => [step.title.clone(), "-".to_string(), "skipped".to_string()],
        };
        rows.push(row);
    }
    let total: f64 = timings.iter().map(|t| t.seconds).sum();
    rows.push(["total".to_string(), format!("{total:.1} s"), String::new()]);
    rows
}

fn text_table(rows: &[[String; 3]]) -> String {
    let width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0);
    rows.iter().map(|r| format!("  {:width$}  {:>8}  {}", r[0], r[1], r[2])).collect::<Vec<_>>().join("\n")
}
