//! `release` and `tags`: the release stage built once, tagged from package.json's version and git
//! (semver, sha, branch or pull request), labelled with OCI labels, and optionally pushed.

use anyhow::{bail, Context, Result};

use crate::build::Builder;
use crate::engine::query;
use crate::engine::{Engine, Kind};
use crate::plan::{Action, Plan, Step};
use crate::project::{Package, Project};
use crate::tags;

pub struct Release {
    /// Full references, e.g. `ghcr.io/acme/node-app:1.2.3`, in tag order.
    pub references: Vec<String>,
    pub labels: Vec<(String, String)>,
    /// Unix time of the commit (or SOURCE_DATE_EPOCH): the image's creation time, so that two
    /// builds of one commit give one digest.
    pub created: i64,
}

/// What git says about HEAD; GitHub Actions' environment wins where it says something.
struct GitFacts {
    sha: String,
    branch: Option<String>,
    tag: Option<String>,
    commit_time: i64,
    remote: Option<String>,
}

fn git(root: &camino::Utf8Path, args: &[&str]) -> Option<String> {
    let root = root.as_str();
    let mut all = vec!["-C", root];
    all.extend_from_slice(args);
    query("git", &all).ok().filter(|out| !out.is_empty())
}

fn git_facts(project: &Project) -> Result<GitFacts> {
    let root = &project.root;
    let sha = git(root, &["rev-parse", "--verify", "HEAD"]).with_context(|| {
        format!("cannot read the commit of {root} (not a git repository, or no commit yet): release tags name the commit; commit first")
    })?;
    let mut facts = GitFacts {
        sha,
        branch: git(root, &["symbolic-ref", "--short", "-q", "HEAD"]),
        tag: git(root, &["describe", "--exact-match", "--tags", "--match", "v[0-9]*", "HEAD"]),
        commit_time: git(root, &["log", "-1", "--format=%ct"]).and_then(|t| t.parse().ok()).unwrap_or(0),
        remote: git(root, &["remote", "get-url", "origin"]),
    };
    let github = tags::github_ref(|name| std::env::var(name).ok())?;
    if let Some(sha) = github.sha {
        facts.sha = sha;
    }
    if github.git_tag.is_some() || github.branch.is_some() || github.pull_request.is_some() {
        facts.tag = github.git_tag;
        facts.branch = github.branch;
    }
    let _ = github.pull_request;
    Ok(facts)
}

/// The references and labels a release of HEAD gets. `registry` overrides xtask.toml's.
pub fn compute(project: &Project, package: &Package, registry: Option<&str>) -> Result<Release> {
    let facts = git_facts(project)?;
    let pull_request = tags::github_ref(|name| std::env::var(name).ok())?.pull_request;
    let inputs = tags::TagInputs {
        version: package.version.clone(),
        git_tag: facts.tag.clone(),
        sha: facts.sha.clone(),
        branch: facts.branch.clone(),
        pull_request,
    };
    let image = match registry {
        Some(registry) => {
            tags::validate_registry(registry.split('/').next().unwrap_or(""))?;
            format!("{}/{}", registry.trim_end_matches('/'), project.config.image.name)
        }
        None => project.image(),
    };
    tags::validate_repository(&image)?;
    let references: Vec<String> = tags::image_tags(&inputs)?.into_iter().map(|tag| format!("{image}:{tag}")).collect();
    for reference in &references {
        tags::validate_reference(reference)?;
    }
    let created = tags::created_timestamp(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(), facts.commit_time)?;
    let labels = tags::oci_labels(&tags::LabelInputs {
        title: package.name.clone(),
        description: package.description.clone(),
        version: package.version.clone(),
        revision: facts.sha,
        created: Some(created),
        source: tags::source_url(package.repository.as_ref(), facts.remote.as_deref()).unwrap_or_default(),
        licenses: package.license.clone(),
        url: package.homepage.clone(),
    });
    Ok(Release { references, labels, created })
}

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
pub fn release_plan(builder: &Builder, release: &Release, push: bool, force: bool) -> Result<Plan> {
    let project = builder.project;
    let stage = &project.config.stages.release;
    project.dockerfile()?.find_stage(stage, project.config.build.dockerfile.as_str())?;
    builder.package.check_lockfile()?;
    let mut args = builder.release_args()?;
    args.extend(label_args(release));
    args.insert("SOURCE_DATE_EPOCH".to_string(), release.created.to_string());
    let mut build = builder.command(stage, &args, &release.references);
    if builder.engine.kind == Kind::Docker {
        // No provenance attestation: it records the build time, so every build of one commit would get
        // a new digest, and a retried push could not be told from an overwrite.
        let context = build.args.pop().unwrap_or_default();
        build.args.extend(["--provenance=false".to_string(), context]);
    }
    let first = release.references.first().cloned().unwrap_or_default();
    let mut plan = Plan::default();
    plan.steps.extend(builder.build_steps(stage, &args, Step::exec(format!("build release image {first}"), build))?);
    if push {
        let version = format!(":{}", tags_version(&builder.package.version));
        for reference in release.references.iter().filter(|r| r.ends_with(&version) && !force) {
            plan.push(Step {
                title: format!("check that {reference} is not released yet"),
                action: Action::KeepReleased { engine: builder.engine.clone(), reference: reference.clone() },
                always: false,
                hint: None,
            });
        }
        for reference in &release.references {
            let push = builder.engine.command(["push", reference.as_str()]);
            plan.push(
                Step::exec(format!("push {reference}"), push)
                    .with_hint("is the registry reachable and are you logged in (`docker login`)?"),
            );
        }
    }
    Ok(plan)
}

/// The exact version tag as `image_tags` writes it (`+` is not allowed in a tag).
fn tags_version(version: &str) -> String {
    version.replace('+', "-")
}

/// A released version is never overwritten: the registry must not have `reference` yet, or have
/// it with the digest of the image built here (then the push is a retry and changes nothing).
pub fn keep_released(engine: &Engine, reference: &str) -> Result<()> {
    if engine.kind == Kind::Podman {
        bail!("podman cannot read a registry's digest for {reference} here (no `buildx imagetools`); push with --force, or release with --engine docker");
    }
    let remote = match engine.query(&["buildx", "imagetools", "inspect", "--format", "{{json .Manifest}}", reference]) {
        Ok(json) => serde_json::from_str::<serde_json::Value>(&json)
            .ok()
            .and_then(|m| m.get("digest").and_then(|d| d.as_str()).map(str::to_string))
            .with_context(|| format!("cannot read the digest of {reference} from the registry"))?,
        Err(err) if is_not_found(&err.to_string()) => return Ok(()),
        Err(err) => return Err(err.context(format!("cannot ask the registry about {reference}"))),
    };
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

fn is_not_found(message: &str) -> bool {
    let message = message.to_lowercase();
    message.contains("not found") || message.contains("manifest unknown") || message.contains("no such manifest")
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
