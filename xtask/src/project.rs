//! What the kit knows about the project, read once per command: its root, `xtask.toml`, the flavor,
//! the Dockerfile's stage graph, the service's `package.json` and lockfile, and what git says about
//! HEAD (for the release tags). The Dockerfile and package.json are read on first use and kept.

use std::cell::OnceCell;
use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

use crate::config::{self, Config, Flavor};
use crate::dockerfile::{self, Dockerfile};
use crate::{process, tags};

pub struct Project {
    pub root: Utf8PathBuf,
    pub config: Config,
    /// `--flavor`, else XTASK_FLAVOR, else xtask.toml's `[build] flavor`.
    pub flavor: Flavor,
    dockerfile: OnceCell<Dockerfile>,
    package: OnceCell<Package>,
}

/// The roles xtask.toml's `[stages]` gives to Dockerfile stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Lint,
    Test,
    Release,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Lint, Role::Test, Role::Release];

    pub fn name(self) -> &'static str {
        match self {
            Role::Lint => "lint",
            Role::Test => "test",
            Role::Release => "release",
        }
    }
}

impl Project {
    /// Finds the project root (the nearest folder, from `start` upwards, holding `xtask.toml`) and
    /// reads its settings. `flavor` is the `--flavor` flag.
    pub fn discover(start: &Utf8Path, flavor: Option<&str>) -> Result<Project> {
        let root = start
            .ancestors()
            .find(|dir| dir.join(config::FILE_NAME).is_file())
            .with_context(|| {
                format!(
                    "no {} in {start} or any folder above it; run the kit inside a project made from the template",
                    config::FILE_NAME
                )
            })?
            .to_owned();
        let config = config::load(&root)?;
        let flavor = match flavor.map(str::to_string).or_else(|| env_var("XTASK_FLAVOR")) {
            Some(text) => Flavor::parse(&text)?,
            None => config.build.flavor,
        };
        Ok(Project { root, config, flavor, dockerfile: OnceCell::new(), package: OnceCell::new() })
    }

    pub fn dockerfile_path(&self) -> Utf8PathBuf {
        self.root.join(&self.config.build.dockerfile)
    }

    pub fn context_path(&self) -> Utf8PathBuf {
        self.root.join(&self.config.build.context)
    }

    /// The Dockerfile's stage graph, parsed on first use.
    pub fn dockerfile(&self) -> Result<&Dockerfile> {
        if let Some(dockerfile) = self.dockerfile.get() {
            return Ok(dockerfile);
        }
        let label = &self.config.build.dockerfile;
        let text = std::fs::read_to_string(self.dockerfile_path())
            .with_context(|| format!("cannot read the Dockerfile {label} (set [build] dockerfile in xtask.toml)"))?;
        let parsed = dockerfile::parse(&text).with_context(|| format!("invalid Dockerfile {label}"))?;
        Ok(self.dockerfile.get_or_init(|| parsed))
    }

    /// The service's package.json and lockfile, read on first use.
    pub fn package(&self) -> Result<&Package> {
        if let Some(package) = self.package.get() {
            return Ok(package);
        }
        let package = Package::load(&self.context_path(), &self.config.build.context)?;
        Ok(self.package.get_or_init(|| package))
    }

    /// The stage that plays `role`, checked against the Dockerfile; an error names xtask.toml's key.
    pub fn role_stage(&self, role: Role) -> Result<String> {
        let name = match role {
            Role::Lint => &self.config.stages.lint,
            Role::Test => &self.config.stages.test,
            Role::Release => &self.config.stages.release,
        };
        let stage = self
            .dockerfile()?
            .find_stage(name, self.config.build.dockerfile.as_str())
            .map_err(|err| anyhow::anyhow!("xtask.toml [stages] {} = \"{name}\": {err}", role.name()))?;
        Ok(stage.name.clone().unwrap_or_else(|| name.to_lowercase()))
    }

    /// The role xtask.toml gives `stage`, if any.
    pub fn role_of(&self, stage: &str) -> Option<Role> {
        let stages = &self.config.stages;
        let named = |name: &str| name.eq_ignore_ascii_case(stage);
        Role::ALL.into_iter().find(|role| match role {
            Role::Lint => named(&stages.lint),
            Role::Test => named(&stages.test),
            Role::Release => named(&stages.release),
        })
    }

    /// The build args BuildKit sees in FROM lines, building for `target` on `build` (both platforms
    /// such as linux/amd64): the automatic platform args, xtask.toml's args and the flavor.
    pub fn stage_graph_args(&self, target: &str, build: &str) -> Result<BTreeMap<String, String>> {
        let mut args = dockerfile::platform_args(target, build)?;
        args.extend(self.config.build.args.clone());
        args.insert("FLAVOR".to_string(), self.flavor.as_str().to_string());
        Ok(args)
    }

    /// The full image repository: `registry/name`, or just `name` for local images.
    pub fn image(&self) -> String {
        match self.config.image.registry.trim_end_matches('/') {
            "" => self.config.image.name.clone(),
            registry => format!("{registry}/{}", self.config.image.name),
        }
    }

    /// The references and labels a release of HEAD gets. `registry` overrides xtask.toml's.
    pub fn release(&self, registry: Option<&str>) -> Result<Release> {
        let image = match registry {
            Some(registry) => format!("{}/{}", config::normalize_registry(registry)?, self.config.image.name),
            None => self.image(),
        };
        tags::validate_repository(&image)?;
        let package = self.package()?;
        let git = GitFacts::read(&self.root)?;
        let inputs = tags::TagInputs {
            version: package.version.clone(),
            git_tag: git.tag,
            sha: git.sha.clone(),
            branch: git.branch,
            pull_request: git.pull_request,
        };
        let references: Vec<String> =
            tags::image_tags(&inputs)?.into_iter().map(|tag| format!("{image}:{tag}")).collect();
        for reference in &references {
            tags::validate_reference(reference)?;
        }
        let created = tags::created_timestamp(env_var("SOURCE_DATE_EPOCH").as_deref(), git.commit_time)?;
        let labels = tags::oci_labels(&tags::LabelInputs {
            title: package.name.clone(),
            description: package.description.clone(),
            version: package.version.clone(),
            revision: git.sha,
            created: Some(created),
            source: tags::source_url(package.repository.as_ref(), git.remote.as_deref()).unwrap_or_default(),
            licenses: package.license.clone(),
            url: package.homepage.clone(),
        });
        Ok(Release { references, labels, created })
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

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
    pull_request: Option<tags::PullRequest>,
    commit_time: i64,
    remote: Option<String>,
}

impl GitFacts {
    fn read(root: &Utf8Path) -> Result<GitFacts> {
        let git = |args: &[&str]| {
            let all: Vec<&str> = ["-C", root.as_str()].into_iter().chain(args.iter().copied()).collect();
            process::query("git", &all).ok().filter(|out| !out.is_empty())
        };
        let sha = git(&["rev-parse", "--verify", "HEAD"]).with_context(|| {
            format!("cannot read the commit of {root} (not a git repository, or no commit yet): release tags name the commit; commit first")
        })?;
        let github = tags::github_ref(|name| std::env::var(name).ok(), |path| std::fs::read_to_string(path).ok())?;
        let from_github = github.git_tag.is_some() || github.branch.is_some() || github.pull_request.is_some();
        Ok(GitFacts {
            sha: github.sha.unwrap_or(sha),
            branch: if from_github { github.branch } else { git(&["symbolic-ref", "--short", "-q", "HEAD"]) },
            tag: if from_github {
                github.git_tag
            } else {
                git(&["describe", "--exact-match", "--tags", "--match", "v[0-9]*", "HEAD"])
            },
            pull_request: github.pull_request,
            commit_time: git(&["log", "-1", "--format=%ct"]).and_then(|t| t.parse().ok()).unwrap_or(0),
            remote: git(&["remote", "get-url", "origin"]),
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lockfile {
    Npm,
    Yarn,
    Pnpm,
    #[default]
    Missing,
}

/// package.json's fields the kit reads, and what it found beside it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub description: String,
    pub license: String,
    pub homepage: String,
    pub main: Option<String>,
    pub repository: Option<serde_json::Value>,
    pub scripts: BTreeMap<String, String>,
    #[serde(skip)]
    pub lockfile: Lockfile,
    /// How the folder is named in messages, e.g. "node-app".
    #[serde(skip)]
    pub label: Utf8PathBuf,
    /// package-lock.json, when there is a readable one.
    #[serde(skip)]
    npm_lock: Option<serde_json::Value>,
    /// The service's .npmrc ("" when there is none): registries, scopes, options, `${VAR}` tokens.
    #[serde(skip)]
    pub npmrc: String,
}

impl Package {
    pub fn load(dir: &Utf8Path, label: &Utf8Path) -> Result<Package> {
        match Package::read(dir, label) {
            (package, None) => Ok(package),
            (_, Some(problem)) => Err(problem),
        }
    }

    /// package.json and the lockfile beside it. A package.json that cannot be read or parsed gives
    /// the defaults and the error, so `inspect` can go on and name everything else that is missing.
    pub fn read(dir: &Utf8Path, label: &Utf8Path) -> (Package, Option<anyhow::Error>) {
        let parsed = std::fs::read_to_string(dir.join("package.json"))
            .with_context(|| format!("cannot read {label}/package.json (is [build] context in xtask.toml right?)"))
            .and_then(|text| {
                // npm reads a package.json that starts with a byte-order mark, as some editors write it.
                let text = text.trim_start_matches('\u{feff}');
                if text.trim().is_empty() {
                    bail!("{label}/package.json is empty; it needs at least a \"name\" and a \"version\"");
                }
                serde_json::from_str::<Package>(text)
                    .map_err(|err| anyhow::anyhow!("{label}/package.json:{}: {err}", err.line()))
            });
        let (mut package, problem) = match parsed {
            Ok(package) => (package, None),
            Err(err) => (Package::default(), Some(err)),
        };
        package.lockfile = if dir.join("package-lock.json").is_file() || dir.join("npm-shrinkwrap.json").is_file() {
            Lockfile::Npm
        } else if dir.join("yarn.lock").is_file() {
            Lockfile::Yarn
        } else if dir.join("pnpm-lock.yaml").is_file() {
            Lockfile::Pnpm
        } else {
            Lockfile::Missing
        };
        package.label = label.to_owned();
        package.npmrc = std::fs::read_to_string(dir.join(".npmrc")).unwrap_or_default();
        package.npm_lock = std::fs::read_to_string(dir.join("package-lock.json"))
            .ok()
            .and_then(|text| serde_json::from_str(text.trim_start_matches('\u{feff}')).ok());
        (package, problem)
    }

    /// Packages in the lockfile that run install scripts: usually native modules built with node-gyp,
    /// which need a toolchain in the npm stage and may need glibc (the debian flavor). None: the kit
    /// cannot tell (no package-lock.json, or a v1 one).
    pub fn native_modules(&self) -> Option<Vec<String>> {
        let packages = self.npm_lock.as_ref()?.get("packages")?.as_object()?;
        let mut names: Vec<String> = packages
            .iter()
            .filter(|(_, entry)| entry.get("hasInstallScript").and_then(|v| v.as_bool()) == Some(true))
            .map(|(path, _)| path.rsplit("node_modules/").next().unwrap_or(path).to_string())
            .filter(|name| !name.is_empty())
            .collect();
        names.sort();
        names.dedup();
        Some(names)
    }

    /// The registries the service's .npmrc authenticates to, each with the variable its token comes from
    /// (`//npm.acme.dev/:_authToken=${NPM_TOKEN}`). A credential written out is an error: the build
    /// context, and so the lint and test images, would hold it.
    pub fn registry_tokens(&self) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for (number, line) in self.npmrc.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with(['#', ';'])) {
            let Some((key, value)) = line.split_once('=') else { continue };
            let (key, value) = (key.trim(), value.trim());
            let Some(setting) =
                ["_authToken", "_auth", "_password"].into_iter().find(|s| key.rsplit(':').next() == Some(*s))
            else {
                continue;
            };
            let registry = key.strip_suffix(setting).unwrap_or(key).trim_end_matches(':');
            let registry = if registry.is_empty() { "the default registry" } else { registry };
            match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
                Some(var) => found.push((registry.to_string(), var.to_string())),
                None if value.is_empty() => {}
                None => bail!(
                    "{}/.npmrc:{}: a registry credential ({setting}) is written out, and the build context would carry it into the lint and test images; write {key}=${{NPM_TOKEN}} and export NPM_TOKEN, or move the line to a file named by [build] npmrc in xtask.toml",
                    self.label,
                    number + 1
                ),
            }
        }
        Ok(found)
    }

    pub fn lockfile_version(&self) -> Option<u64> {
        self.npm_lock.as_ref()?.get("lockfileVersion")?.as_u64()
    }

    pub fn has_script(&self, name: &str) -> bool {
        self.scripts.get(name).is_some_and(|s| !s.trim().is_empty())
    }

    /// The file `node` runs in the release image: xtask.toml's `start`, else a `start` script that is
    /// a plain `node FILE`, else `main`.
    pub fn start_file(&self, configured: &str) -> Result<String> {
        if !configured.is_empty() {
            return Ok(configured.to_string());
        }
        if let Some(file) = self.scripts.get("start").and_then(|s| plain_node_file(s)) {
            return Ok(file);
        }
        if let Some(main) = self.main.as_deref().filter(|m| !m.is_empty()) {
            return Ok(main.to_string());
        }
        let why = match self.scripts.get("start") {
            Some(script) => format!("its start script '{script}' is not a plain `node FILE` and it has no \"main\""),
            None => "it has neither a start script nor \"main\"".to_string(),
        };
        bail!(
            "cannot tell how to start the service from {}/package.json: {why}; set [service] start = \"path/to/server.js\" in xtask.toml",
            self.label
        )
    }

    /// `npm ci` needs a package-lock.json; say what to do when there is another lockfile or none.
    pub fn check_lockfile(&self) -> Result<()> {
        let label = &self.label;
        match self.lockfile {
            Lockfile::Npm => Ok(()),
            Lockfile::Yarn => bail!("{label} has yarn.lock but no package-lock.json; the kit installs with `npm ci`: create one with `npm install --package-lock-only` and commit it"),
            Lockfile::Pnpm => bail!("{label} has pnpm-lock.yaml but no package-lock.json; the kit installs with `npm ci`: create one with `npm install --package-lock-only` and commit it"),
            Lockfile::Missing => bail!("{label} has no package-lock.json; run `npm install` in {label} and commit the lockfile (the image build uses `npm ci`)"),
        }
    }
}

/// `node server.js` or `node ./dist/index.js` → the file; anything else (flags, `&&`, other tools) → None.
fn plain_node_file(script: &str) -> Option<String> {
    let words: Vec<&str> = script.split_whitespace().collect();
    match words.as_slice() {
        ["node", file] if !file.starts_with('-') && !file.contains(['&', '|', ';', '$']) => {
            Some(file.trim_start_matches("./").to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(scripts: &[(&str, &str)], main: Option<&str>) -> Package {
        Package {
            name: "svc".into(),
            version: "1.0.0".into(),
            description: String::new(),
            license: String::new(),
            homepage: String::new(),
            main: main.map(Into::into),
            repository: None,
            scripts: scripts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            lockfile: Lockfile::Npm,
            label: "node-app".into(),
            npm_lock: None,
            npmrc: String::new(),
        }
    }

    #[test]
    fn start_file_precedence() {
        let p = package(&[("start", "node ./src/server.js")], Some("index.js"));
        assert_eq!(p.start_file("").unwrap(), "src/server.js");
        assert_eq!(p.start_file("dist/main.js").unwrap(), "dist/main.js");
        let p = package(&[("start", "nodemon src/server.js")], Some("lib/index.js"));
        assert_eq!(p.start_file("").unwrap(), "lib/index.js");
    }

    #[test]
    fn start_file_missing_names_the_key() {
        let err = package(&[("start", "npm run build && node dist")], None).start_file("").unwrap_err().to_string();
        assert!(err.contains("[service] start"), "{err}");
        assert!(err.contains("not a plain `node FILE`"), "{err}");
    }

    #[test]
    fn npmrc_tokens_come_from_variables() {
        let mut p = package(&[], None);
        p.npmrc =
            "@acme:registry=https://npm.acme.dev/\n//npm.acme.dev/:_authToken=${ACME_TOKEN}\n# //x/:_authToken=old\n"
                .into();
        assert_eq!(p.registry_tokens().unwrap(), [("//npm.acme.dev/".to_string(), "ACME_TOKEN".to_string())]);
        p.npmrc = "registry=https://npm.acme.dev/\n_auth = dXNlcjpwYXNz\n".into();
        let err = p.registry_tokens().unwrap_err().to_string();
        assert!(err.contains("node-app/.npmrc:2:") && err.contains("[build] npmrc"), "{err}");
    }

    #[test]
    fn lockfile_messages() {
        let mut p = package(&[], None);
        assert!(p.check_lockfile().is_ok());
        p.lockfile = Lockfile::Yarn;
        assert!(p.check_lockfile().unwrap_err().to_string().contains("yarn.lock"));
        p.lockfile = Lockfile::Missing;
        assert!(p.check_lockfile().unwrap_err().to_string().contains("no package-lock.json"));
    }
}
