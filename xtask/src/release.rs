//! `release` and `tags`: the release stage built once, tagged from package.json's version and git
//! (semver, sha, branch or pull request; see `Project::release`), labelled with OCI labels, and
//! optionally pushed.

use anyhow::Result;

use crate::build::BuildSetup;
use crate::engine::Kind;
use crate::plan::{Action, Plan, Step};
use crate::project::{Release, Role};
use crate::tags;

/// The OCI labels as the Dockerfile's build args (`org.opencontainers.image.version` → `OCI_VERSION`).
fn label_args(release: &Release) -> impl Iterator<Item = (String, String)> + '_ {
    release.labels.iter().map(|(key, value)| {
        let short = key.trim_start_matches("org.opencontainers.image.");
        (format!("OCI_{}", short.to_uppercase()), value.clone())
    })
}

/// `release`: one build of the release stage with every tag; tags are applied only if it succeeds.
/// With `push`, every reference is pushed; the exact version tag first passes `keep_released`
/// unless `force`.
pub fn release_plan(setup: &BuildSetup, release: &Release, push: bool, force: bool) -> Result<Plan> {
    let stage = setup.project.role_stage(Role::Release)?;
    let mut args = setup.release_args()?;
    args.extend(label_args(release));
    args.insert("SOURCE_DATE_EPOCH".to_string(), release.created.to_string());
    let mut build = setup.command(&stage, &args, &release.references);
    if setup.engine.kind == Kind::Docker {
        // No provenance attestation: it records the build time, so every build of one commit would get
        // a new digest, and a retried push could not be told from an overwrite.
        let context = build.args.pop().unwrap_or_default();
        build.args.extend(["--provenance=false".to_string(), context]);
    }
    let first = release.references.first().cloned().unwrap_or_default();
    let mut plan = Plan::default();
    plan.steps.extend(setup.build_steps(&stage, &args, Step::exec(format!("build release image {first}"), build))?);
    if push {
        // The exact version tag as `image_tags` writes it (`+` is not allowed in a tag).
        let version = format!(":{}", setup.package.version.replace('+', "-"));
        for reference in release.references.iter().filter(|r| r.ends_with(&version) && !force) {
            plan.push(Step::new(
                format!("check that {reference} is not released yet"),
                Action::KeepReleased { engine: setup.engine.clone(), reference: reference.clone() },
            ));
        }
        for reference in &release.references {
            let push = setup.engine.command(["push", reference.as_str()]);
            plan.push(
                Step::exec(format!("push {reference}"), push)
                    .with_hint("is the registry reachable and are you logged in (`docker login`)?"),
            );
        }
    }
    Ok(plan)
}

/// `tags`: one reference per line, then one `label KEY=VALUE` per line; or JSON.
pub fn print_tags(release: &Release, json: bool) {
    if json {
        println!("{}", tags::to_json(&release.references, &release.labels));
        return;
    }
    for reference in &release.references {
        println!("{reference}");
    }
    for (key, value) in &release.labels {
        println!("label {key}={value}");
    }
}
