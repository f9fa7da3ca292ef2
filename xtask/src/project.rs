//! What the kit knows about the project: its root, `xtask.toml`, the Dockerfile, and the service's
//! `package.json` (version, scripts, how it starts, which lockfile it has).

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

use crate::config::{self, Config, Flavor};
use crate::dockerfile::{self, Dockerfile};

pub struct Project {
    pub root: Utf8PathBuf,
    pub config: Config,
}

impl Project {
    /// Finds the project root: the nearest folder, from `start` upwards, holding `xtask.toml`.
    pub fn discover(start: &Utf8Path) -> Result<Project> {
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
        Ok(Project { root, config })
    }

    pub fn dockerfile_path(&self) -> Utf8PathBuf {
        self.root.join(&self.config.build.dockerfile)
    }

    pub fn context_path(&self) -> Utf8PathBuf {
        self.root.join(&self.config.build.context)
    }

    pub fn dockerfile(&self) -> Result<Dockerfile> {
        let path = self.dockerfile_path();
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read the Dockerfile {} (set [build] dockerfile in xtask.toml)",
                self.config.build.dockerfile
            )
        })?;
        dockerfile::parse(&text).with_context(|| format!("invalid Dockerfile {}", self.config.build.dockerfile))
    }

    pub fn package(&self) -> Result<Package> {
        Package::load(&self.context_path(), &self.config.build.context)
    }

    /// The full image repository: `registry/name`, or just `name` for local images.
    pub fn image(&self) -> String {
        match self.config.image.registry.trim_end_matches('/') {
            "" => self.config.image.name.clone(),
            registry => format!("{registry}/{}", self.config.image.name),
        }
    }
}

/// The build args the kit passes to every build: the flavor and what the build stage ships.
pub fn flavor_from(cli: Option<&str>, config: Flavor) -> Result<Flavor> {
    match cli.map(str::to_string).or_else(|| std::env::var("XTASK_FLAVOR").ok().filter(|v| !v.is_empty())) {
        Some(text) => Flavor::parse(&text),
        None => Ok(config),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lockfile {
    Npm,
    Yarn,
    Pnpm,
    Missing,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct PackageJson {
    name: String,
    version: String,
    description: String,
    license: String,
    homepage: String,
    main: Option<String>,
    repository: Option<serde_json::Value>,
    scripts: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub description: String,
    pub license: String,
    pub homepage: String,
    pub main: Option<String>,
    pub repository: Option<serde_json::Value>,
    pub scripts: BTreeMap<String, String>,
    pub lockfile: Lockfile,
    /// How the folder is named in messages, e.g. "node-app".
    pub label: Utf8PathBuf,
}

impl Package {
    pub fn load(dir: &Utf8Path, label: &Utf8Path) -> Result<Package> {
        let path = dir.join("package.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {label}/package.json (is [build] context in xtask.toml right?)"))?;
        let json: PackageJson =
            serde_json::from_str(&text).map_err(|err| anyhow::anyhow!("{label}/package.json:{}: {err}", err.line()))?;
        let lockfile = if dir.join("package-lock.json").is_file() || dir.join("npm-shrinkwrap.json").is_file() {
            Lockfile::Npm
        } else if dir.join("yarn.lock").is_file() {
            Lockfile::Yarn
        } else if dir.join("pnpm-lock.yaml").is_file() {
            Lockfile::Pnpm
        } else {
            Lockfile::Missing
        };
        Ok(Package {
            name: json.name,
            version: json.version,
            description: json.description,
            license: json.license,
            homepage: json.homepage,
            main: json.main,
            repository: json.repository,
            scripts: json.scripts,
            lockfile,
            label: label.to_owned(),
        })
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
    fn lockfile_messages() {
        let mut p = package(&[], None);
        assert!(p.check_lockfile().is_ok());
        p.lockfile = Lockfile::Yarn;
        assert!(p.check_lockfile().unwrap_err().to_string().contains("yarn.lock"));
        p.lockfile = Lockfile::Missing;
        assert!(p.check_lockfile().unwrap_err().to_string().contains("no package-lock.json"));
    }
}
