//! The kit, driven as a user drives it: the settings in xtask.toml, the xtask binary, the docker commands its
//! `--dry-run` prints (one per line, shell-quoted) and the references `tags --json` gives.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

use crate::exec::{self, Command};
use crate::Bench;

/// What the bench reads from xtask.toml, with the kit's defaults for keys the file leaves out. Other keys are
/// the kit's business: the kit itself checks the file whenever the bench runs it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub build: Build,
    pub stages: Stages,
    pub service: Service,
    pub smoke: Smoke,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Build {
    pub dockerfile: Utf8PathBuf,
    pub context: Utf8PathBuf,
    pub flavor: String,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Stages {
    pub test: String,
    pub release: String,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Service {
    pub port: u16,
    pub health_path: String,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
pub struct Smoke {
    pub env: BTreeMap<String, String>,
    pub timeout: u64,
}

impl Default for Build {
    fn default() -> Build {
        Build { dockerfile: "docker/Dockerfile".into(), context: "node-app".into(), flavor: "alpine".into() }
    }
}

impl Default for Stages {
    fn default() -> Stages {
        Stages { test: "test".into(), release: "release".into() }
    }
}

impl Default for Service {
    fn default() -> Service {
        Service { port: 3000, health_path: "/healthz".into() }
    }
}

impl Default for Smoke {
    fn default() -> Smoke {
        Smoke { env: BTreeMap::new(), timeout: 60 }
    }
}

impl Settings {
    pub fn load(root: &Utf8Path) -> Result<Settings> {
        let text = exec::read(&root.join(FILE_NAME))?;
        toml::from_str(&text).with_context(|| format!("invalid {FILE_NAME} (`cargo xtask inspect` says more)"))
    }

    /// The service's folder, the build context.
    pub fn context(&self, root: &Utf8Path) -> Utf8PathBuf {
        root.join(&self.build.context)
    }

    pub fn dockerfile(&self, root: &Utf8Path) -> Utf8PathBuf {
        root.join(&self.build.dockerfile)
    }
}

const FILE_NAME: &str = "xtask.toml";

/// The project's root, as the kit finds it: the nearest folder, from here upwards, holding xtask.toml.
pub fn find_root() -> Result<Utf8PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let cwd = Utf8PathBuf::try_from(cwd).context("the current folder's path is not UTF-8")?;
    let root = cwd.ancestors().find(|dir| dir.join(FILE_NAME).is_file());
    let root =
        root.with_context(|| format!("no {FILE_NAME} in {cwd} or above; run the bench inside the kit's repository"))?;
    Ok(root.to_owned())
}

/// `--flavor`, else XTASK_FLAVOR, else xtask.toml's, as the kit chooses.
pub fn flavor(flag: Option<&str>, settings: &Settings) -> Result<String> {
    let env = std::env::var("XTASK_FLAVOR").ok().filter(|v| !v.is_empty());
    let flavor = flag.map(str::to_string).or(env).unwrap_or_else(|| settings.build.flavor.clone());
    if flavor != "alpine" && flavor != "debian" {
        bail!("unknown flavor '{flavor}'; use 'alpine' or 'debian'");
    }
    Ok(flavor)
}

/// The engine's version; an error when the engine the bench needs cannot be used.
pub fn engine_version() -> Result<String> {
    if let Some(engine) = std::env::var("XTASK_ENGINE").ok().filter(|e| !e.is_empty() && e != "docker") {
        bail!("the bench measures the docker engine (it prunes BuildKit's cache between cold builds), not XTASK_ENGINE={engine}; unset it");
    }
    let version =
        exec::docker(&["version", "--format", "{{.Server.Version}}"]).context("cannot reach the docker engine")?;
    if version.is_empty() || version == "<no value>" {
        bail!("the docker engine answered without a server version");
    }
    Ok(version)
}

/// `cargo build -p xtask`, as `cargo xtask` builds it; returns the binary's path, from cargo's own report.
pub fn build_xtask(root: &Utf8Path) -> Result<Utf8PathBuf> {
    let build = Command::new("cargo").args(["build", "-p", "xtask", "--quiet", "--message-format=json"]);
    eprintln!("bench:   {}", build.shell_line());
    let output = exec::run(&build, root)?;
    for line in output.stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let target = &message["target"];
        let is_bin = target["kind"].as_array().is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if message["reason"] == "compiler-artifact" && target["name"] == "xtask" && is_bin {
            if let Some(path) = message["executable"].as_str() {
                return Ok(path.into());
            }
        }
    }
    bail!("`{}` named no xtask binary", build.shell_line())
}

/// The lines `xtask --flavor F ARGS --dry-run` prints, run in the root of a project (`dir`), so that no `cd`
/// line comes first.
pub fn dry_run(b: &Bench, dir: &Utf8Path, flavor: &str, args: &[&str]) -> Result<Vec<String>> {
    let command =
        Command::new(b.xtask()?.as_str()).args(["--flavor", flavor]).args(args.iter().copied()).arg("--dry-run");
    let output = exec::run(&command, dir)?;
    Ok(output.stdout.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
}

/// The one command the kit prints for `ARGS --dry-run`.
pub fn dry_run_one(b: &Bench, dir: &Utf8Path, flavor: &str, args: &[&str]) -> Result<String> {
    let lines = dry_run(b, dir, flavor, args)?;
    let [line] = lines.as_slice() else {
        bail!("expected one command from `xtask {} --dry-run`, got {}: {lines:?}", args.join(" "), lines.len());
    };
    Ok(line.clone())
}

/// `build --stage STAGE` as the kit runs it in `project`, with plain progress (the bench reads the `CACHED` lines)
/// and no imported or exported build cache, whatever xtask.toml says: a cold build must be cold.
pub fn build_command(b: &Bench, project: &Utf8Path, flavor: &str, stage: &str) -> Result<Command> {
    let args = ["build", "--stage", stage, "--progress", "plain", "--cache", "none"];
    Command::from_line(&dry_run_one(b, project, flavor, &args)?)
}

/// A project of the bench's own, in its temporary folder: the project's xtask.toml, with the image named
/// `xtask-bench-FLAVOR` (no registry: never the team's own tags), the given build context and Dockerfile, and the
/// CA bundle's path absolute. The kit run in that folder prints what it would run for the project, on the bench's
/// image. Returns the folder.
pub fn bench_project(
    b: &Bench,
    name: &str,
    flavor: &str,
    context: &Utf8Path,
    dockerfile: &Utf8Path,
) -> Result<Utf8PathBuf> {
    let mut config: toml::Table =
        exec::read(&b.root.join(FILE_NAME))?.parse().with_context(|| format!("invalid {FILE_NAME}"))?;
    let mut table = |key: &str| -> Result<toml::Table> {
        match config.remove(key) {
            Some(toml::Value::Table(table)) => Ok(table),
            None => Ok(toml::Table::new()),
            Some(_) => bail!("[{key}] in {FILE_NAME} is not a table"),
        }
    };
    let mut image = table("image")?;
    let mut build = table("build")?;
    image.insert("name".into(), format!("xtask-bench-{flavor}").into());
    image.insert("registry".into(), "".into());
    build.insert("context".into(), context.as_str().into());
    build.insert("dockerfile".into(), dockerfile.as_str().into());
    // The kit looks for a relative CA bundle from where it runs: from the project's root, as usual.
    if let Some(bundle) = build.get("ca_bundle").and_then(|b| b.as_str()).filter(|b| !b.is_empty()) {
        let bundle = b.root.join(bundle);
        build.insert("ca_bundle".into(), bundle.as_str().into());
    }
    config.insert("image".into(), image.into());
    config.insert("build".into(), build.into());
    let dir = b.temp.join(format!("project-{name}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
    exec::write(&dir.join(FILE_NAME), &toml::to_string(&config)?)?;
    Ok(dir)
}

/// The values a command passes with `flag` (`--flag VALUE`), in order.
pub fn flag_values<'a>(command: &'a Command, flag: &str) -> Vec<&'a str> {
    let args = &command.args;
    args.iter().zip(args.iter().skip(1)).filter(|(f, _)| *f == flag).map(|(_, v)| v.as_str()).collect()
}

/// The one `--tag` of a build command: the image it builds.
pub fn tag(build: &Command) -> Result<String> {
    match flag_values(build, "--tag").as_slice() {
        [tag] => Ok(tag.to_string()),
        tags => bail!("expected one --tag in `{}`, got {}", build.shell_line(), tags.len()),
    }
}

/// The file node starts, as the kit gives it to the release stage: `--build-arg START=FILE`.
pub fn start_file(release: &Command) -> Result<String> {
    let start = flag_values(release, "--build-arg").into_iter().find_map(|arg| arg.strip_prefix("START="));
    let start = start.with_context(|| format!("no --build-arg START=… in `{}`", release.shell_line()))?;
    Ok(start.to_string())
}

/// The references `release` would tag, from `xtask tags --json`.
pub fn release_references(b: &Bench) -> Result<Vec<String>> {
    let output = exec::run(&Command::new(b.xtask()?.as_str()).args(["tags", "--json"]), &b.root)?;
    let json: serde_json::Value = serde_json::from_str(&output.stdout).context("cannot read `xtask tags --json`")?;
    let tags = json["tags"].as_array().context("`xtask tags --json` gave no \"tags\" list")?;
    tags.iter().map(|t| t.as_str().map(str::to_string).context("a tag that is not a string")).collect()
}

/// package.json's version.
pub fn version(context: &Utf8Path) -> Result<String> {
    let path = context.join("package.json");
    let json: serde_json::Value =
        serde_json::from_str(&exec::read(&path)?).with_context(|| format!("invalid {path}"))?;
    json["version"].as_str().map(str::to_string).with_context(|| format!("no version in {path}"))
}

/// Whether package.json has a non-empty script of that name.
pub fn has_script(context: &Utf8Path, name: &str) -> Result<bool> {
    let path = context.join("package.json");
    let json: serde_json::Value =
        serde_json::from_str(&exec::read(&path)?).with_context(|| format!("invalid {path}"))?;
    Ok(json["scripts"][name].as_str().is_some_and(|s| !s.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_release_build() {
        let line = "docker buildx build --file docker/Dockerfile --target release --build-arg BUILD_OUTPUT= \
                    --build-arg START=src/server.js --secret id=ca,src=/etc/ca.crt --tag xtask-bench-debian:release \
                    --load node-app";
        let release = Command::from_line(line).unwrap();
        assert_eq!(start_file(&release).unwrap(), "src/server.js");
        assert_eq!(tag(&release).unwrap(), "xtask-bench-debian:release");
        assert_eq!(flag_values(&release, "--secret"), ["id=ca,src=/etc/ca.crt"]);
        assert!(start_file(&Command::new("docker")).is_err());
    }

    #[test]
    fn settings_default_as_the_kit_does() {
        let settings: Settings = toml::from_str("[service]\nport = 8080\n[compose]\nhttp_port = 1\n").unwrap();
        assert_eq!(settings.service.port, 8080);
        assert_eq!(settings.service.health_path, "/healthz");
        assert_eq!(settings.build.context, "node-app");
        assert_eq!(settings.stages.test, "test");
        assert_eq!(settings.smoke.timeout, 60);
    }
}
