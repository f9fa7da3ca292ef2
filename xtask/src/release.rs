//! `release`, `tags` and `verify`: the release stage built once, tagged from package.json's version and
//! git (semver, sha, branch or pull request; see `Project::release`), labelled and annotated with OCI
//! labels, its SBOM written, optionally pushed and signed; `verify` checks a signed image (see `sbom`).

use anyhow::{bail, Context, Result};
use camino::Utf8Path;

use crate::build::{BuildFlags, BuildSetup};
use crate::engine::{Engine, Kind};
use crate::plan::{Action, Plan, Step};
use crate::project::{Project, Release, Role};
use crate::{sbom, tags};

/// `release`: one build of the release stage with every tag; tags are applied only if it succeeds. Then
/// the SBOM of the built image. With `push`, every reference is pushed, the exact version tag first passing
/// `keep_released` unless `force`; with `sign` (`Some(key)`, None inside for keyless), cosign signs the
/// pushed digest and attests the SBOM.
pub fn release_plan(
    setup: &BuildSetup,
    release: &Release,
    push: bool,
    force: bool,
    sign: Option<Option<String>>,
) -> Result<Plan> {
    let stage = setup.project.role_stage(Role::Release)?;
    let mut args = setup.release_args()?;
    // The OCI labels as the Dockerfile's build args (`org.opencontainers.image.version` → `OCI_VERSION`).
    args.extend(release.labels.iter().map(|(key, value)| {
        (format!("OCI_{}", key.trim_start_matches("org.opencontainers.image.").to_uppercase()), value.clone())
    }));
    args.insert("SOURCE_DATE_EPOCH".to_string(), release.created.to_string());
    let mut build = setup.command(&stage, &args, &release.references);
    if setup.engine.kind == Kind::Docker {
        // No provenance attestation: it records the build time, so every build of one commit would get
        // a new digest, and a retried push could not be told from an overwrite.
        let context = build.args.pop().unwrap_or_default();
        build.args.push("--provenance=false".to_string());
        // The labels as annotations too: registries show an index's (a multi-platform image's) description
        // from its annotations. buildx refuses index annotations on a single-platform image.
        for (key, value) in &release.labels {
            for level in ["manifest", "index"].iter().take(if setup.multi_platform() { 2 } else { 1 }) {
                build.flag("--annotation", Some(&format!("{level}:{key}={value}")));
            }
        }
        build.args.push(context);
    }
    let first = release.references.first().cloned().unwrap_or_default();
    let mut plan = Plan::default();
    plan.steps.extend(setup.build_steps(&stage, &args, Step::exec(format!("build release image {first}"), build))?);
    let sbom_file = sbom::file_for(setup.project, &first);
    let write_sbom = Action::UnlessMadeFrom {
        engine: setup.engine.clone(),
        image: first.clone(),
        made: sbom_file.clone(),
        steps: sbom_steps(setup, &first, &sbom_file)?,
    };
    plan.push(Step::kit(format!("write the SBOM of {first}"), write_sbom));
    if push {
        for reference in release.version.iter().filter(|_| !force) {
            let check = Action::KeepReleased { engine: setup.engine.clone(), reference: reference.clone() };
            plan.push(Step::kit(format!("check that {reference} is not released yet"), check));
        }
        for reference in &release.references {
            let push = setup.engine.command(["push", reference.as_str()]);
            plan.push(
                Step::exec(format!("push {reference}"), push)
                    .with_hint("is the registry reachable and are you logged in (`docker login`)?"),
            );
        }
    }
    if let Some(key) = sign {
        let reference = release.version.clone().unwrap_or(first);
        let title = format!("sign {reference} and attest its SBOM");
        plan.push(Step::kit(title, Action::Sign { engine: setup.engine.clone(), reference, key, sbom: sbom_file }));
    }
    Ok(plan)
}

/// The SBOM of the image just built, `image`, into `out`: package.json, node_modules and the package
/// database copied out of a container that never starts, CycloneDX's npm tool run on them (the Dockerfile's
/// `sbom` stage, the copy as its build context `scan`), then both merged. The image is only read: its
/// digest stays. A multi-platform image's SBOM is its first platform's.
fn sbom_steps(setup: &BuildSetup, image: &str, out: &Utf8Path) -> Result<Vec<Step>> {
    let (project, engine) = (setup.project, setup.engine);
    let work = project.root.join(sbom::DIR).join("work");
    let container = project.container_name("sbom");
    let platform = setup.flags.platform.as_deref().and_then(|p| p.split(',').next());
    let mut create = engine.command(["create", "--name", &container]);
    create.flag("--platform", platform);
    let mut steps = vec![
        Step::kit(format!("empty {work}"), Action::FreshDir(work.clone())),
        Step::exec(format!("create a container of {image} to copy files from (never started)"), create.arg(image)),
    ];
    let db = sbom::package_db(project.flavor);
    for (from, to) in [("/app/package.json", "package.json"), ("/app/node_modules", "node_modules"), (db, "packages")] {
        let copy = engine.command(["cp".to_string(), format!("{container}:{from}"), work.join(to).to_string()]);
        steps.push(Step::exec(format!("copy {from} out of the image"), copy));
    }
    steps.push(Step::remove_container(engine, &container));
    // podman keeps a stage's layers (the tool's install) only while a tagged image is built on them, and
    // podman-remote takes no --output: the tool's output is copied out of that image.
    let podman = engine.kind == Kind::Podman;
    let tag = format!("{}:{}", project.image(), sbom::TOOL_STAGE);
    let (stage, tags, output) = match podman {
        true => (sbom::TOOL_STAGE, vec![tag.clone()], vec![]),
        false => (sbom::STAGE, vec![], vec!["--output".to_string(), format!("type=local,dest={}", work.join("npm"))]),
    };
    // The tool's stages with the copy as their build context `scan`, on one platform: the tool reads files,
    // whatever platform they were built for.
    let one_platform = BuildSetup::new(project, engine, BuildFlags { platform: None, ..setup.flags.clone() })?;
    let mut tool = one_platform.command(stage, &one_platform.common_args(), &tags);
    let context = tool.args.pop().unwrap_or_default();
    let tool = tool.args(["--build-context".to_string(), format!("scan={work}")]).args(output).arg(context);
    let title = format!("list the image's npm packages with CycloneDX's npm tool (stage '{}')", sbom::TOOL_STAGE);
    steps.push(Step::exec(title, tool));
    if podman {
        let container = format!("{container}-tool");
        let create = engine.command(["create", "--name", &container, &tag]);
        steps.push(Step::exec(format!("create a container of {tag} (never started)"), create));
        let copy = engine.command(["cp".to_string(), format!("{container}:/sbom"), work.join("npm").to_string()]);
        steps.push(Step::exec("copy the npm tool's output out of it", copy));
        steps.push(Step::remove_container(engine, &container));
    }
    steps.extend(setup.podman_prune());
    let write = Action::WriteSbom { work, flavor: project.flavor, image: image.to_string(), out: out.to_owned() };
    steps.push(Step::kit(format!("write the SBOM {out}"), write));
    Ok(steps)
}

/// `verify [IMAGE]`: the image's signature, SBOM attestation and tag (see `sbom::verify`). Default: the
/// release's exact version tag.
pub fn verify_plan(project: &Project, engine: &Engine, image: Option<&str>, registry: Option<&str>) -> Result<Plan> {
    let reference = match image {
        Some(image) => image.to_string(),
        None if project.config.image.registry.is_empty() && registry.is_none() => bail!(
            "verify checks an image in a registry: name it (`cargo xtask verify REGISTRY/NAME:TAG`), or set [image] registry in xtask.toml"
        ),
        None => project.release(registry)?.version.context(
            "this build has no version tag (a pull request build): name the image, `cargo xtask verify IMAGE`",
        )?,
    };
    tags::validate_reference(&reference)?;
    let key = sbom::public_key(project)?;
    let title = format!("verify {reference}");
    Ok(Plan { steps: vec![Step::kit(title, Action::Verify { engine: engine.clone(), reference, key })] })
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
