//! What the kit knows about the project, read once per command: its root, `xtask.toml`, the flavor,
//! the Dockerfile's stage graph, the service's `package.json` and lockfile, and what git says about
//! HEAD (for the release tags). The Dockerfile and package.json are read on first use and kept.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

use crate::config::{self, Config, Flavor, FILE_NAME};
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
        let root = start.ancestors().find(|dir| dir.join(FILE_NAME).is_file()).with_context(|| {
            format!(
                "no {FILE_NAME} in {start} or any folder above it; run the kit inside a project made from the template"
            )
        })?;
        let root = root.to_owned();
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

    /// The stage name xtask.toml's `[stages]` gives `role`, as written.
    fn configured_stage(&self, role: Role) -> &str {
        match role {
            Role::Lint => &self.config.stages.lint,
            Role::Test => &self.config.stages.test,
            Role::Release => &self.config.stages.release,
        }
    }

    /// The stage that plays `role`, checked against the Dockerfile; an error names xtask.toml's key.
    pub fn role_stage(&self, role: Role) -> Result<String> {
        let name = self.configured_stage(role);
        let stage = self
            .dockerfile()?
            .find_stage(name, self.config.build.dockerfile.as_str())
            .map_err(|err| anyhow::anyhow!("xtask.toml [stages] {} = \"{name}\": {err}", role.name()))?;
        Ok(stage.name.clone().unwrap_or_else(|| name.to_lowercase()))
    }

    /// The role xtask.toml gives `stage`, if any.
    pub fn role_of(&self, stage: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| self.configured_stage(*role).eq_ignore_ascii_case(stage))
    }

    /// The build args BuildKit sees in FROM lines, building for `target` on `build` (both platforms
    /// such as linux/amd64): the automatic platform args, xtask.toml's args and the flavor.
    pub fn stage_graph_args(&self, target: &str, build: &str) -> Result<BTreeMap<String, String>> {
        let mut args = dockerfile::platform_args(target, build)?;
        args.extend(self.config.build.args.clone());
        args.insert("FLAVOR".to_string(), self.flavor.as_str().to_string());
        Ok(args)
    }

    /// The image's last path segment (`items-api` for `team/items-api`): container and file names start with it.
    pub fn bare_name(&self) -> &str {
        self.config.image.name.rsplit('/').next().unwrap_or_default()
    }

    /// A container name unique to this invocation (`items-api-smoke-PID`), so cleanup removes exactly what it started.
    pub fn container_name(&self, what: &str) -> String {
        format!("{}-{what}-{}", self.bare_name(), std::process::id())
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
        let (inputs, commit_time, remote) = git_facts(&self.root)?;
        let inputs = tags::TagInputs { version: package.version.clone(), ..inputs };
        // `[image] flavor_suffix`: `1.2.3-debian`, so both flavors of one version can be published.
        let suffix = if self.config.image.flavor_suffix { format!("-{}", self.flavor.as_str()) } else { String::new() };
        let references: Vec<String> =
            tags::image_tags(&inputs)?.into_iter().map(|tag| format!("{image}:{tag}{suffix}")).collect();
        references.iter().try_for_each(|reference| tags::validate_reference(reference))?;
        // The exact version tag as `image_tags` writes it (`+` is not allowed in a tag); none on pull requests.
        let version_tag = format!(":{}{suffix}", package.version.replace('+', "-"));
        let version = references.iter().find(|r| r.ends_with(&version_tag)).cloned();
        let created = tags::created_timestamp(env_var("SOURCE_DATE_EPOCH").as_deref(), commit_time)?;
        let labels = tags::oci_labels(&tags::LabelInputs {
            title: package.name.clone(),
            description: package.description.clone(),
            version: package.version.clone(),
            revision: inputs.sha,
            created: Some(created),
            source: tags::source_url(package.repository.as_ref(), remote.as_deref()).unwrap_or_default(),
            licenses: package.license.clone(),
            url: package.homepage.clone(),
        });
        Ok(Release { references, version, labels, created })
    }
}

/// The current folder, as a UTF-8 path.
pub fn current_dir() -> Result<Utf8PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    Utf8PathBuf::from_path_buf(cwd).map_err(|p| anyhow::anyhow!("the current folder {} is not UTF-8", p.display()))
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

pub struct Release {
    /// Full references, e.g. `ghcr.io/acme/node-app:1.2.3`, in tag order.
    pub references: Vec<String>,
    /// The one of them that names the exact version (never moved once released); None on pull requests.
    pub version: Option<String>,
    pub labels: Vec<(String, String)>,
    /// Unix time of the commit (or SOURCE_DATE_EPOCH): the image's creation time, so that two
    /// builds of one commit give one digest.
    pub created: i64,
}

/// What git says about HEAD, GitHub Actions' environment winning where it says something: the tag
/// inputs (but the version), the commit's unix time and the `origin` remote.
fn git_facts(root: &Utf8Path) -> Result<(tags::TagInputs, i64, Option<String>)> {
    let git = |args: &[&str]| {
        process::query("git", &[&["-C", root.as_str()], args].concat()).ok().filter(|out| !out.is_empty())
    };
    let sha = git(&["rev-parse", "--verify", "HEAD"]).with_context(|| {
        format!("cannot read the commit of {root} (not a git repository, or no commit yet): release tags name the commit; commit first")
    })?;
    let github = tags::github_ref(|name| std::env::var(name).ok(), |path| std::fs::read_to_string(path).ok())?;
    let from_github = github.git_tag.is_some() || github.branch.is_some() || github.pull_request.is_some();
    let inputs = tags::TagInputs {
        version: String::new(),
        sha: github.sha.unwrap_or(sha),
        branch: if from_github { github.branch } else { git(&["symbolic-ref", "--short", "-q", "HEAD"]) },
        git_tag: if from_github {
            github.git_tag
        } else {
            git(&["describe", "--exact-match", "--tags", "--match", "v[0-9]*", "HEAD"])
        },
        pull_request: github.pull_request,
    };
    let commit_time = git(&["log", "-1", "--format=%ct"]).and_then(|t| t.parse().ok()).unwrap_or(0);
    Ok((inputs, commit_time, git(&["remote", "get-url", "origin"])))
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lockfile {
    Npm,
    /// yarn.lock of yarn 1 (classic).
    Yarn,
    /// yarn.lock of yarn 2 and later (berry): it has a `__metadata` entry.
    YarnBerry,
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
    /// `pnpm@9.15.0`, `yarn@4.5.3+sha512.…`: the package manager and its version.
    #[serde(rename = "packageManager")]
    pub package_manager: String,
    #[serde(skip)]
    pub lockfile: Lockfile,
    /// The lockfiles found, of different managers: more than one is an error.
    #[serde(skip)]
    lockfiles: Vec<&'static str>,
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
        let (package, problem) = Package::read(dir, label);
        problem.map_or(Ok(package), Err)
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
        let (mut package, problem) = parsed.map_or_else(|err| (Package::default(), Some(err)), |p| (p, None));
        let yarn = std::fs::read_to_string(dir.join("yarn.lock")).ok();
        let berry = yarn.as_deref().is_some_and(|text| text.lines().any(|l| l.starts_with("__metadata:")));
        let npm = ["package-lock.json", "npm-shrinkwrap.json"].into_iter().find(|f| dir.join(f).is_file());
        let candidates = [
            (npm, Lockfile::Npm),
            (dir.join("pnpm-lock.yaml").is_file().then_some("pnpm-lock.yaml"), Lockfile::Pnpm),
            (yarn.is_some().then_some("yarn.lock"), if berry { Lockfile::YarnBerry } else { Lockfile::Yarn }),
        ];
        let found: Vec<_> = candidates.into_iter().filter_map(|(name, kind)| Some((name?, kind))).collect();
        package.lockfile = found.first().map_or(Lockfile::Missing, |f| f.1);
        package.lockfiles = found.iter().map(|f| f.0).collect();
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
        let names: BTreeSet<String> = packages
            .iter()
            .filter(|(_, entry)| entry["hasInstallScript"] == true)
            .map(|(path, _)| path.rsplit("node_modules/").next().unwrap_or(path).to_string())
            .filter(|name| !name.is_empty())
            .collect();
        Some(names.into_iter().collect())
    }

    /// The registries the service's .npmrc authenticates to, each with the variable its token comes from
    /// (`//npm.acme.dev/:_authToken=${NPM_TOKEN}`). A credential written out is an error: the build
    /// context, and so the lint and test images, would hold it.
    pub fn registry_tokens(&self) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for (number, line) in self.npmrc.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with(['#', ';'])) {
            let Some((key, value)) = line.split_once('=') else { continue };
            let (key, value) = (key.trim(), value.trim());
            let setting = key.rsplit(':').next().unwrap_or(key);
            if !["_authToken", "_auth", "_password"].contains(&setting) {
                continue;
            }
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
        let start = self.scripts.get("start");
        let configured = Some(configured).filter(|c| !c.is_empty());
        let main = self.main.as_deref().filter(|m| !m.is_empty());
        if let Some(file) = configured.or_else(|| start.and_then(|s| plain_node_file(s))).or(main) {
            return Ok(file.to_string());
        }
        let why = match start {
            Some(script) => format!("its start script '{script}' is not a plain `node FILE` and it has no \"main\""),
            None => "it has neither a start script nor \"main\"".to_string(),
        };
        bail!(
            "cannot tell how to start the service from {}/package.json: {why}; set [service] start = \"path/to/server.js\" in xtask.toml",
            self.label
        )
    }

    /// One lockfile, and a "packageManager" field (if any) that agrees with it.
    pub fn check_lockfile(&self) -> Result<()> {
        if let [first, second, ..] = self.lockfiles[..] {
            bail!("{} has two lockfiles, {first} and {second}: keep the one of the package manager you use and delete the other", self.label);
        }
        self.manager().map(drop)
    }

    /// The package manager the install steps use, from the lockfile: npm, pnpm, yarn (1) or yarn-berry (2 and
    /// later); and the version the image installs, from package.json's "packageManager" (`pnpm@9.15.0+sha…`).
    /// An empty version: npm as the image has it.
    pub fn manager(&self) -> Result<(&'static str, String)> {
        let label = &self.label;
        let field = self.package_manager.trim();
        let (name, version) = field.split_once('@').unwrap_or((field, ""));
        let version = version.split('+').next().unwrap_or("");
        let core: Vec<&str> = version.split('-').next().unwrap_or("").split('.').collect();
        let exact = core.len() == 3 && core.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !field.is_empty() && (!["npm", "pnpm", "yarn"].contains(&name) || !exact) {
            bail!("{label}/package.json: \"packageManager\": \"{field}\" is not one the kit installs: name npm, pnpm or yarn and an exact version, e.g. \"pnpm@9.15.0\"");
        }
        let (manager, lockfile) = match self.lockfile {
            Lockfile::Npm => ("npm", "package-lock.json"),
            Lockfile::Pnpm => ("pnpm", "pnpm-lock.yaml"),
            Lockfile::Yarn => ("yarn", "a yarn 1 yarn.lock"),
            Lockfile::YarnBerry => ("yarn-berry", "a yarn 2+ yarn.lock"),
            Lockfile::Missing => bail!("{label} has no lockfile; run `npm install` (or pnpm install, yarn install) in {label} and commit the lockfile: the image build installs exactly what it lists"),
        };
        let named = if name == "yarn" && !version.starts_with("1.") { "yarn-berry" } else { name };
        if !field.is_empty() && named != manager {
            bail!("{label}/package.json says \"packageManager\": \"{field}\", and the lockfile is {lockfile}: install with {name} and commit its lockfile, or correct the field");
        }
        match (manager, version) {
            ("yarn-berry", v) if v.starts_with("2.") || v.starts_with("3.") => bail!("{label} uses yarn {v}: the kit installs yarn 1, or 4 and later (where `yarn workspaces focus`, which prepares the production modules, is built in): `yarn set version stable`"),
            ("pnpm" | "yarn-berry", "") => bail!("{label} has {lockfile}, and package.json has no \"packageManager\" field to say which version installs it: add \"packageManager\": \"{}@VERSION\" with the version you use", &manager[..4]),
            ("yarn", "") => Ok(("yarn", "1".to_string())),
            (manager, version) => Ok((manager, version.to_string())),
        }
    }
}

/// `node server.js` or `node ./dist/index.js` → the file; anything else (flags, `&&`, other tools) → None.
fn plain_node_file(script: &str) -> Option<&str> {
    let words: Vec<&str> = script.split_whitespace().collect();
    match words.as_slice() {
        ["node", file] if !file.starts_with('-') && !file.contains(['&', '|', ';', '$']) => {
            Some(file.trim_start_matches("./"))
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
            package_manager: String::new(),
            lockfile: Lockfile::Npm,
            lockfiles: vec!["package-lock.json"],
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
    fn lockfile_and_package_manager() {
        let mut p = package(&[], None);
        assert_eq!(p.manager().unwrap(), ("npm", String::new()));
        let err = |p: &Package| p.check_lockfile().unwrap_err().to_string();
        for (lockfile, field, want) in [
            (Lockfile::Pnpm, "pnpm@9.15.0+sha512.abc", Ok(("pnpm", "9.15.0"))),
            (Lockfile::Yarn, "", Ok(("yarn", "1"))),
            (Lockfile::YarnBerry, "yarn@4.5.3", Ok(("yarn-berry", "4.5.3"))),
            (Lockfile::Npm, "npm@10.9.0", Ok(("npm", "10.9.0"))),
            (Lockfile::Pnpm, "", Err("no \"packageManager\" field")),
            (Lockfile::Npm, "pnpm@9.15.0", Err("the lockfile is package-lock.json")),
            (Lockfile::Yarn, "yarn@4.5.3", Err("the lockfile is a yarn 1 yarn.lock")),
            (Lockfile::YarnBerry, "yarn@3.8.0", Err("yarn 1, or 4 and later")),
            (Lockfile::Npm, "bun@1.1.0", Err("is not one the kit installs")),
            (Lockfile::Pnpm, "pnpm@latest", Err("an exact version")),
            (Lockfile::Missing, "", Err("has no lockfile")),
        ] {
            (p.lockfile, p.package_manager) = (lockfile, field.to_string());
            match want {
                Ok((manager, version)) => assert_eq!(p.manager().unwrap(), (manager, version.to_string())),
                Err(needle) => assert!(err(&p).contains(needle), "{field}: {}", err(&p)),
            }
        }
        p.lockfiles = vec!["package-lock.json", "yarn.lock"];
        assert!(err(&p).contains("two lockfiles, package-lock.json and yarn.lock"), "{}", err(&p));
    }
}
