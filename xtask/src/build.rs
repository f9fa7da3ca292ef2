//! `build --stage S`, `lint` and `test`: each is a `docker buildx build --target STAGE` with the kit's
//! build args (from xtask.toml and package.json), the CA secret and the user's flags.

use std::collections::BTreeMap;

use anyhow::{bail, ensure, Context, Result};
use camino::Utf8Path;

use crate::config::{check_arg_name, Cache};
use crate::dockerfile::Base;
use crate::engine::{Engine, Kind};
use crate::plan::{Plan, Step};
use crate::process::Command;
use crate::project::{Package, Project, Role};
use crate::sbom;

/// The flags every building command accepts, checked by the command line parser.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BuildFlags {
    pub no_cache: bool,
    pub pull: bool,
    pub build_args: Vec<(String, String)>,
    pub progress: Option<String>,
    pub platform: Option<String>,
    pub builder: Option<String>,
    pub cache: Option<Cache>,
}

pub fn check_progress(progress: &str) -> Result<()> {
    let known = ["auto", "plain", "tty", "quiet", "rawjson"].contains(&progress);
    ensure!(known, "invalid --progress '{progress}'; use auto, plain, tty, quiet or rawjson");
    Ok(())
}

pub fn check_builder_name(builder: &str) -> Result<()> {
    let bad = builder.is_empty() || builder.starts_with('-') || builder.contains(char::is_whitespace);
    ensure!(!bad, "invalid --builder '{builder}'; name a builder from `docker buildx ls`");
    Ok(())
}

/// `KEY=VALUE` with a valid ARG name; the value may be empty.
pub fn parse_build_arg(text: &str) -> Result<(String, String)> {
    let Some((key, value)) = text.split_once('=') else {
        bail!("invalid --build-arg '{text}'; write it as KEY=VALUE");
    };
    check_arg_name(key).with_context(|| format!("invalid --build-arg '{text}'"))?;
    Ok((key.to_string(), value.to_string()))
}

/// `os/arch[/variant]`, comma-separated.
pub fn check_platforms(text: &str) -> Result<()> {
    for platform in text.split(',') {
        let parts: Vec<&str> = platform.split('/').collect();
        let word_ok = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let ok = (2..=3).contains(&parts.len()) && parts.iter().all(word_ok);
        ensure!(ok, "invalid platform '{platform}'; write it as os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8");
    }
    Ok(())
}

/// What every build of one command shares: the project, the engine, the user's flags.
pub struct BuildSetup<'a> {
    pub project: &'a Project,
    pub engine: &'a Engine,
    pub package: &'a Package,
    pub flags: BuildFlags,
    /// Whether the npm stages run on each target platform: the lockfile lists packages with install
    /// scripts (native modules, compiled for the platform they run on), or the kit cannot tell. Otherwise
    /// they run once, on the build platform, and every platform of a multi-platform image gets their files.
    npm_on_target: bool,
}

impl<'a> BuildSetup<'a> {
    pub fn new(project: &'a Project, engine: &'a Engine, flags: BuildFlags) -> Result<BuildSetup<'a>> {
        let package = project.package()?;
        let npm_on_target = package.native_modules().is_none_or(|names| !names.is_empty());
        Ok(BuildSetup { project, engine, package, flags, npm_on_target })
    }

    /// A compiler and Node's headers in the install stage: xtask.toml says so, or else the lockfile lists
    /// packages with install scripts (native modules, which node-gyp builds when no prebuilt binary downloads).
    pub fn native_toolchain(&self) -> bool {
        let native = self.package.native_modules().is_some_and(|names| !names.is_empty());
        self.project.config.build.native_toolchain.unwrap_or(native)
    }

    /// `--platform` names more than one platform: the result is an image index.
    pub(crate) fn multi_platform(&self) -> bool {
        self.flags.platform.as_deref().is_some_and(|p| p.contains(','))
    }

    /// The kit's own build args for every stage: the flavor and what the build stage ships.
    pub fn common_args(&self) -> BTreeMap<String, String> {
        let build = &self.project.config.build;
        let flavor = self.project.flavor.as_str();
        // A package.json or lockfile the kit cannot use fails `check_lockfile` before any build.
        let (manager, version) = self.package.manager().unwrap_or(("npm", String::new()));
        let ships = self.package.has_script("build");
        let args = [
            ("FLAVOR", Some(flavor)),
            ("NPM_TOKEN_ENV", Some(build.npm_token.as_str())),
            ("PACKAGE_MANAGER", Some(manager)),
            ("PACKAGE_MANAGER_VERSION", Some(version.as_str())),
            ("BUILD_OUTPUT", Some(if ships { self.project.config.service.build_output.as_str() } else { "" })),
            ("TEST_PACKAGES", build.test_packages.get(flavor).map(String::as_str)),
            ("BUILD_PACKAGES", build.build_packages.get(flavor).map(String::as_str)),
            ("NATIVE_TOOLCHAIN", self.native_toolchain().then_some("1")),
            // Empty: the Dockerfile's npm stages run on each target platform instead of the build platform.
            ("NPM_PLATFORM", self.npm_on_target.then_some("")),
        ];
        args.into_iter().filter_map(|(arg, value)| Some((arg.to_string(), value?.to_string()))).collect()
    }

    /// The release stage's args on top: how the service starts, its port and health path.
    pub fn release_args(&self) -> Result<BTreeMap<String, String>> {
        let service = &self.project.config.service;
        let mut args = self.common_args();
        args.insert("START".to_string(), self.package.start_file(&service.start)?);
        args.insert("PORT".to_string(), service.port.to_string());
        args.insert("HEALTH_PATH".to_string(), service.health_path.clone());
        Ok(args)
    }

    /// `docker buildx build --file F --target STAGE --build-arg… --tag… CONTEXT`. Kit args first, then
    /// xtask.toml's `[build] args`, then `--build-arg` flags, so the user's word wins.
    pub fn command(&self, stage: &str, kit_args: &BTreeMap<String, String>, tags: &[String]) -> Command {
        let build = &self.project.config.build;
        let (docker, token) = (self.engine.kind == Kind::Docker, &build.npm_token);
        let mut command = self.engine.build_command();
        command.flag("--builder", self.flags.builder.as_deref());
        command.flag("--file", Some(build.dockerfile.as_str()));
        command.flag("--target", Some(stage));
        for (key, value) in self.all_args(kit_args) {
            command.flag("--build-arg", Some(&format!("{key}={value}")));
        }
        // Registry credentials: only as secrets, named here, never their values.
        command.flag("--secret", self.ca_bundle().map(|bundle| format!("id=ca,src={bundle}")).as_deref());
        command.flag("--secret", self.npmrc().map(|npmrc| format!("id=npmrc,src={npmrc}")).as_deref());
        command.flag("--secret", (env_set(token) && docker).then(|| format!("id=npm_token,env={token}")).as_deref());
        for tag in tags {
            command.flag("--tag", Some(tag));
        }
        command.args.extend(self.flags.no_cache.then(|| "--no-cache".to_string()));
        command.args.extend(self.flags.pull.then(|| "--pull".to_string()));
        match (self.engine.kind, self.flags.progress.as_deref()) {
            (Kind::Docker, progress) => command.flag("--progress", progress),
            // podman prints plain step output always; `check_podman` refused tty and rawjson.
            (Kind::Podman, Some("quiet")) => command.args.push("--quiet".to_string()),
            _ => {}
        }
        // podman: every image of the build, the intermediate ones podman keeps as its layer cache too, carries
        // this label, so `build_steps`' prune removes the kit's leftovers and nothing else. (A stage that is
        // only a FROM would then be committed afresh on every build, and all built on it would miss the
        // cache: the kit's Dockerfile has none.)
        command.flag("--label", (!docker).then(|| self.podman_label()).as_deref());
        command.flag("--platform", self.flags.platform.as_deref());
        self.cache_args(stage, &mut command);
        // A docker-container or remote builder keeps results to itself unless told to load them; with the
        // default builder this is what happens anyway.
        command.args.extend((docker && !tags.is_empty()).then(|| "--load".to_string()));
        command.args.push(build.context.to_string());
        command
    }

    /// The kit's args for a stage, then xtask.toml's `[build] args`, then `--build-arg` flags: the user's word
    /// wins.
    fn all_args<'s>(
        &'s self,
        kit_args: &'s BTreeMap<String, String>,
    ) -> impl Iterator<Item = (&'s String, &'s String)> {
        let user_args = self.flags.build_args.iter().map(|(key, value)| (key, value));
        kit_args.iter().chain(&self.project.config.build.args).chain(user_args)
    }

    pub fn cache(&self) -> Cache {
        self.flags.cache.unwrap_or(self.project.config.build.cache)
    }

    /// `--cache-from`/`--cache-to` for one stage, onto `command`. Each stage has its own cache (a `buildcache-STAGE`
    /// tag, a folder, a gha scope), so building lint, test and release in turn keeps all three.
    fn cache_args(&self, stage: &str, command: &mut Command) {
        let image = self.project.image();
        let (from, to) = match self.cache() {
            Cache::None => return,
            Cache::Inline => (Some(format!("type=registry,ref={image}:{stage}")), "type=inline".to_string()),
            Cache::Registry => {
                let cache_ref = format!("{image}:buildcache-{stage}");
                (Some(format!("type=registry,ref={cache_ref}")), format!("type=registry,ref={cache_ref},mode=max"))
            }
            Cache::Local => {
                let dir = self.project.root.join(&self.project.config.build.cache_dir).join(stage);
                let from = dir.join("index.json").is_file().then(|| format!("type=local,src={dir}"));
                (from, format!("type=local,dest={dir},mode=max"))
            }
            Cache::Gha => (Some(format!("type=gha,scope={stage}")), format!("type=gha,scope={stage},mode=max")),
        };
        command.flag("--cache-from", from.as_deref());
        command.flag("--cache-to", Some(&to));
    }

    /// Before any build starts: a cache the builder cannot export, or a multi-platform image it cannot
    /// store, is one clear error, not a failed build half way through.
    pub fn check_builder(&self) -> Result<()> {
        self.check_registry_token()?;
        let cache = self.cache();
        if cache == Cache::Registry && self.project.config.image.registry.is_empty() {
            bail!("cache = \"registry\" keeps the cache next to the image in a registry; set [image] registry in xtask.toml");
        }
        // Only a build that exports build cache, or keeps a multi-platform image, needs more than the
        // classic image store's default builder can do.
        if !(cache.needs_export() || self.multi_platform()) || self.engine.kind != Kind::Docker {
            return Ok(());
        }
        // The questions below need the engine: an unreachable one is the usual clear error first.
        self.engine.server_version()?;
        let mut inspect = vec!["buildx", "inspect"];
        if let Some(builder) = &self.flags.builder {
            inspect.extend(["--builder", builder]);
        }
        let builder = self.engine.query(&inspect)?;
        let driver = builder.lines().find_map(|l| l.trim().strip_prefix("Driver:")).map(str::trim).unwrap_or("");
        // Only the default builder (driver docker) on the classic image store falls short.
        if driver != "docker"
            || self.engine.query(&["info", "--format", "{{.DriverStatus}}"])?.contains("io.containerd.snapshotter")
        {
            return Ok(());
        }
        let need = if cache.needs_export() {
            format!("cache = \"{}\" needs a builder that can export build cache", cache.name())
        } else {
            "a multi-platform image (--platform with a comma) needs a builder that can keep an image index".to_string()
        };
        bail!(
            "{need}, and the default builder on the classic image store cannot; \
             turn on the containerd image store (daemon.json: \"features\": {{\"containerd-snapshotter\": true}}) \
             or create a builder with `docker buildx create --driver docker-container --use`"
        )
    }

    /// The CA bundle handed to builds as the secret `ca`, when configured and present.
    pub fn ca_bundle(&self) -> Option<String> {
        let bundle = std::env::var("XTASK_CA_BUNDLE").unwrap_or_else(|_| self.project.config.build.ca_bundle.clone());
        (!bundle.is_empty() && std::path::Path::new(&bundle).is_file()).then_some(bundle)
    }

    /// A user .npmrc with registry tokens, the secret `npmrc`: XTASK_NPMRC, else [build] npmrc; `~/` is
    /// the home folder, a relative path the project root.
    pub fn npmrc(&self) -> Option<String> {
        let file = std::env::var("XTASK_NPMRC").unwrap_or_else(|_| self.project.config.build.npmrc.clone());
        match file.strip_prefix("~/") {
            _ if file.is_empty() => None,
            Some(rest) => Some(format!("{}/{rest}", std::env::var("HOME").unwrap_or_default())),
            None => Some(file),
        }
    }

    /// Before a build: every token the service's .npmrc takes from a variable (`${NPM_TOKEN}`) can
    /// reach the install steps, or one error names the registry and what to set.
    fn check_registry_token(&self) -> Result<()> {
        let (label, name) = (&self.package.label, &self.project.config.build.npm_token);
        for (registry, var) in self.package.registry_tokens()? {
            ensure!(&var == name, "{label}/.npmrc takes the token for {registry} from ${{{var}}}, and the kit passes only the variable [build] npm_token names (\"{name}\") into the build; set npm_token = \"{var}\" in xtask.toml");
            ensure!(env_set(&var), "{label}/.npmrc authenticates to {registry} with ${{{var}}}, and {var} is not set: export {var} with the registry's token (in GitHub Actions, from a repository secret), or drop that line and name a .npmrc holding the token in [build] npmrc");
            ensure!(self.engine.kind != Kind::Podman, "podman 4.3 passes build secrets only from files, not from {var}: drop the ${{{var}}} line from {label}/.npmrc and name a .npmrc holding the token in [build] npmrc");
        }
        Ok(())
    }

    /// podman builds with buildah, not BuildKit: refuse what it cannot do instead of building
    /// something else than asked.
    pub fn check_podman(&self) -> Result<()> {
        if self.engine.kind != Kind::Podman {
            return Ok(());
        }
        if self.flags.builder.is_some() {
            bail!("--builder names a buildx builder, and podman builds with buildah; drop --builder or use --engine docker");
        }
        if let Some(progress @ ("tty" | "rawjson")) = self.flags.progress.as_deref() {
            bail!("podman build has no --progress {progress} (its output is always plain); use plain, quiet or auto");
        }
        ensure!(!self.multi_platform(), "a multi-platform image needs docker buildx here (podman would need --manifest); use --engine docker or one --platform");
        ensure!(
            self.cache() == Cache::None,
            "cache = \"{}\" is BuildKit's (docker buildx); podman keeps its layer cache in local images: use --cache none or --engine docker",
            self.cache().name()
        );
        Ok(())
    }

    /// The label every podman build of this project carries: `xtask.image=NAME`.
    fn podman_label(&self) -> String {
        format!("xtask.image={}", self.project.config.image.name)
    }

    /// The steps of one build of `stage`, `main` being the build itself. For podman, around it: first
    /// the stages `stage` only copies from, tagged IMAGE:STAGE (podman keeps a stage that no image is
    /// built FROM as an untagged, dangling image, and pruning it would take the whole stage's layer
    /// cache along); after it, a prune of the kit's dangling images (what earlier builds left behind).
    /// Every build goes through here: the lockfile and the engine's limits are checked first.
    pub fn build_steps(&self, stage: &str, args: &BTreeMap<String, String>, main: Step) -> Result<Vec<Step>> {
        self.package.check_lockfile()?;
        self.package.registry_tokens()?;
        if let Some(npmrc) = self.npmrc().filter(|f| !self.project.root.join(f).is_file()) {
            bail!("the .npmrc with registry tokens, {npmrc} ([build] npmrc in xtask.toml, or XTASK_NPMRC), does not exist");
        }
        self.check_podman()?;
        if self.engine.kind != Kind::Podman {
            return Ok(vec![main]);
        }
        let leaves = self.copied_only(stage, args)?.into_iter().map(|leaf| {
            let tag = format!("{}:{leaf}", self.project.image());
            Step::exec(format!("build stage '{leaf}' (copied from by '{stage}')"), self.command(&leaf, args, &[tag]))
        });
        Ok(leaves.chain([main]).chain(self.podman_prune()).collect())
    }

    /// podman: the step that removes the kit's dangling images (what earlier builds left behind).
    pub fn podman_prune(&self) -> Option<Step> {
        (self.engine.kind == Kind::Podman).then(|| {
            let prune = self.engine.command(["image", "prune", "--force", "--filter"]);
            Step::exec(
                "remove the dangling images of earlier podman builds",
                prune.arg(format!("label={}", self.podman_label())),
            )
        })
    }

    /// Named stages `stage` needs that no needed stage is built FROM: only COPY --from reaches them.
    fn copied_only(&self, stage: &str, args: &BTreeMap<String, String>) -> Result<Vec<String>> {
        let dockerfile = self.project.dockerfile()?;
        // As BuildKit sees them: the platform args, then what `command` passes (kit args, xtask.toml's,
        // --build-arg). podman builds one platform (`check_podman`).
        let engine_platform = self.engine.platform();
        let target = self.flags.platform.as_deref().unwrap_or(&engine_platform);
        let mut from_args = self.project.stage_graph_args(target, &engine_platform)?;
        from_args.extend(self.all_args(args).map(|(k, v)| (k.clone(), v.clone())));
        let needed = dockerfile.dependencies(stage, &from_args)?;
        let parents: Vec<Base> =
            needed.iter().map(|&i| dockerfile.parent(&dockerfile.stages[i], &from_args)).collect::<Result<_>>()?;
        let target = needed.last().copied();
        Ok(needed
            .iter()
            .filter(|&&i| Some(i) != target && !parents.contains(&Base::Stage(i)))
            .filter_map(|&i| dockerfile.stages[i].name.clone())
            .collect())
    }

    /// The kit's build args for `stage`: the release stage's, or the common ones.
    pub fn stage_args(&self, stage: &str) -> Result<BTreeMap<String, String>> {
        if self.project.role_of(stage) == Some(Role::Release) {
            self.release_args()
        } else {
            Ok(self.common_args())
        }
    }

    /// One build step for a stage with its kit args, tagged IMAGE:STAGE.
    fn stage_step(&self, stage: &str, args: &BTreeMap<String, String>) -> Step {
        let tag = format!("{}:{stage}", self.project.image());
        let step = Step::exec(format!("build stage '{stage}'"), self.command(stage, args, &[tag]));
        let hint = match self.project.role_of(stage) {
            Some(Role::Test) => "the test suite, or a step the test stage needs, failed; see the output above",
            Some(Role::Lint) => "lint, npm audit or a step the lint stage needs failed; see the output above",
            _ => return step,
        };
        step.with_hint(hint)
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

/// A bake file (JSON) of several `docker buildx build` commands, for `docker buildx bake`: one client, one
/// BuildKit session, every target solved at once. Each build's argv becomes a target named as given, paths
/// made absolute (bake reads a Dockerfile relative to its context); returns the file and bake's own flags.
pub fn bake_file(builds: &[(&str, Command)], root: &Utf8Path) -> Result<(serde_json::Value, Vec<String>)> {
    use serde_json::json;
    let mut targets = serde_json::Map::new();
    let mut flags: Vec<String> = Vec::new();
    for (name, build) in builds {
        let start = build.args.windows(2).position(|w| w == ["buildx", "build"]).context("not a buildx build")?;
        let (context, args) = build.args[start + 2..].split_last().context("a build without a context")?;
        let mut target = json!({ "context": root.join(context) });
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().cloned().unwrap_or_default();
            match flag.as_str() {
                // bake's own flags: one value for all its targets.
                "--builder" | "--progress" if flags.contains(flag) => _ = value(),
                "--builder" | "--progress" => flags.extend([flag.clone(), value()]),
                "--build-arg" => {
                    let arg = value();
                    let (key, value) = arg.split_once('=').unwrap_or((&arg, ""));
                    target["args"][key] = json!(value);
                }
                "--file" => target["dockerfile"] = json!(root.join(value())),
                "--target" => target["target"] = json!(value()),
                "--platform" => target["platforms"] = json!(value().split(',').collect::<Vec<_>>()),
                "--no-cache" => target["no-cache"] = json!(true),
                "--pull" => target["pull"] = json!(true),
                "--load" => target["output"] = json!(["type=docker"]),
                "--provenance=false" => target["attest"] = json!(["type=provenance,disabled=true"]),
                "--tag" | "--annotation" => push(&mut target[format!("{}s", &flag[2..])], value()),
                "--secret" | "--cache-from" | "--cache-to" => push(&mut target[&flag[2..]], value()),
                other => bail!("cannot turn `{other}` into a bake file"),
            }
        }
        targets.insert(name.to_string(), target);
    }
    Ok((json!({ "target": targets }), flags))
}

/// One more value in a bake target's list.
fn push(list: &mut serde_json::Value, value: String) {
    match list {
        serde_json::Value::Array(values) => values.push(value.into()),
        slot => *slot = serde_json::json!([value]),
    }
}

/// `build --stage S`: S checked against the Dockerfile's stages (default: the release stage).
pub fn build_plan(setup: &BuildSetup, stage: Option<&str>) -> Result<Plan> {
    let name = match stage {
        Some(name) => {
            let found = setup.project.dockerfile()?.find_stage(name, setup.project.config.build.dockerfile.as_str())?;
            let name = found.name.clone().unwrap_or_else(|| found.index.to_string());
            ensure!(
                ![sbom::STAGE, sbom::TOOL_STAGE].contains(&name.as_str()),
                "stage '{name}' is built by `cargo xtask release`, from the files it copies out of the release \
                 image (the build context \"scan\"); run that instead"
            );
            name
        }
        None => setup.project.role_stage(Role::Release)?,
    };
    stage_plan(setup, &name)
}

fn stage_plan(setup: &BuildSetup, stage: &str) -> Result<Plan> {
    let args = setup.stage_args(stage)?;
    let steps = setup.build_steps(stage, &args, setup.stage_step(stage, &args))?;
    Ok(Plan { steps })
}

/// `lint`: the lint stage (eslint inside the image), then hadolint on the Dockerfile.
pub fn lint_plan(setup: &BuildSetup) -> Result<Plan> {
    let mut plan = stage_plan(setup, &setup.project.role_stage(Role::Lint)?)?;
    let hadolint = Command::new("hadolint").arg(setup.project.config.build.dockerfile.as_str());
    plan.push(
        Step::exec("lint the Dockerfile with hadolint", hadolint)
            .with_hint("hadolint found problems in the Dockerfile"),
    );
    Ok(plan)
}

/// `test`: the test stage. A service without a test script fails here, unless xtask.toml says it has
/// no tests (then None).
pub fn test_plan(setup: &BuildSetup) -> Result<Option<Plan>> {
    if !setup.package.has_script("test") {
        if !setup.project.config.service.tests {
            return Ok(None);
        }
        bail!(
            "{}/package.json has no \"test\" script; add one, or set [service] tests = false in xtask.toml if the service has no tests",
            setup.package.label
        );
    }
    stage_plan(setup, &setup.project.role_stage(Role::Test)?).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_are_checked() {
        assert_eq!(parse_build_arg("A=1").unwrap(), ("A".into(), "1".into()));
        assert_eq!(parse_build_arg("EMPTY=").unwrap(), ("EMPTY".into(), "".into()));
        assert_eq!(parse_build_arg("X=a=b").unwrap(), ("X".into(), "a=b".into()));
        assert!(parse_build_arg("NOVALUE").unwrap_err().to_string().contains("KEY=VALUE"));
        assert!(parse_build_arg("1A=x").is_err());
        assert!(parse_build_arg("=x").is_err());
        assert!(parse_build_arg("A-B=x").is_err());
    }

    #[test]
    fn a_build_becomes_a_bake_target() {
        let build =
            Command::new("docker").args(["--context", "c", "buildx", "build", "--builder", "b", "--file"]).args([
                "docker/Dockerfile",
                "--target",
                "test",
                "--build-arg",
                "X=a=b",
                "--tag",
                "i:t",
                "--tag",
                "i:u",
                "--platform",
                "linux/amd64,linux/arm64",
                "--cache-from",
                "type=gha",
                "--cache-to",
                "type=gha,mode=max",
                "--no-cache",
                "--load",
                "node-app",
            ]);
        let (file, flags) = bake_file(&[("t", build.clone()), ("u", build)], Utf8Path::new("/p")).unwrap();
        assert_eq!(flags, ["--builder", "b"]);
        let target = &file["target"]["t"];
        assert_eq!(target["context"], "/p/node-app");
        assert_eq!(target["dockerfile"], "/p/docker/Dockerfile");
        assert_eq!(target["args"]["X"], "a=b");
        assert_eq!(target["tags"], serde_json::json!(["i:t", "i:u"]));
        assert_eq!(target["platforms"][1], "linux/arm64");
        assert_eq!(target["cache-to"][0], "type=gha,mode=max");
        assert_eq!((&target["no-cache"], &target["output"][0]), (&true.into(), &"type=docker".into()));
        assert_eq!(file["target"]["u"], *target);
        let odd = Command::new("docker").args(["buildx", "build", "--squash", "."]);
        assert!(bake_file(&[("x", odd)], Utf8Path::new("/p")).unwrap_err().to_string().contains("--squash"));
    }

    #[test]
    fn platforms_are_checked() {
        assert!(check_platforms("linux/amd64").is_ok());
        assert!(check_platforms("linux/amd64,linux/arm64/v8").is_ok());
        assert!(check_platforms("amd64").is_err());
        assert!(check_platforms("linux/").is_err());
        assert!(check_platforms("linux/amd64,").is_err());
    }
}
