//! `xtask.toml`: the kit's settings. Every key is optional and has a default that fits the template;
//! an unknown key or a wrong type is an error naming the file, line and key.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

pub const FILE_NAME: &str = "xtask.toml";

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub image: Image,
    pub build: Build,
    pub stages: Stages,
    pub service: Service,
    pub smoke: Smoke,
    pub compose: Compose,
    pub dev: Dev,
    pub sign: Sign,
}

/// The sections of xtask.toml, each field written `name: Type = default` (as in Rust's coming default
/// field values): the structs, each with the `Default` a missing key or section reads as.
macro_rules! sections {
    ($(
        $(#[$attr:meta])*
        pub struct $name:ident { $($(#[$field_attr:meta])* pub $field:ident: $ty:ty = $default:expr,)* }
    )*) => {
        $(
            $(#[$attr])*
            #[derive(Debug, Clone, Deserialize, PartialEq)]
            #[serde(default, deny_unknown_fields)]
            pub struct $name {
                $($(#[$field_attr])* pub $field: $ty,)*
            }

            impl Default for $name {
                fn default() -> $name {
                    $name { $($field: $default,)* }
                }
            }
        )*
    };
}

sections! {
    pub struct Image {
        /// Repository name of the release image, e.g. "node-app".
        pub name: String = "node-app".into(),
        /// Registry (and namespace) the image is pushed to, e.g. "ghcr.io/acme"; empty: local only.
        pub registry: String = String::new(),
        /// true: every tag ends in `-FLAVOR` (`1.2.3-debian`, `latest-debian`), so builds of both flavors can be
        /// published side by side.
        pub flavor_suffix: bool = false,
    }

    pub struct Build {
        /// Relative to the project root, like every path here.
        pub dockerfile: Utf8PathBuf = "docker/Dockerfile".into(),
        pub context: Utf8PathBuf = "node-app".into(),
        pub flavor: Flavor = Flavor::Alpine,
        /// Extra CA certificates handed to builds as the BuildKit secret `ca` (never stored in a layer),
        /// for networks behind a TLS-intercepting proxy. Used only when the file exists; "" turns it off.
        pub ca_bundle: String = "/etc/ssl/certs/ca-certificates.crt".into(),
        /// A user .npmrc with registry tokens (e.g. "~/.npmrc"), the BuildKit secret `npmrc`; "" none. Also
        /// XTASK_NPMRC.
        pub npmrc: String = String::new(),
        /// The environment variable with the registry token the service's .npmrc names (`${NPM_TOKEN}`): the
        /// BuildKit secret `npm_token`, the same variable inside the install steps.
        pub npm_token: String = "NPM_TOKEN".into(),
        /// Extra build args for every build.
        pub args: BTreeMap<String, String> = BTreeMap::new(),
        /// System packages the lint and test stages need (never the release stage), per flavor, e.g.
        /// `{ alpine = "redis", debian = "redis-server" }` for tests that start a Redis server.
        pub test_packages: BTreeMap<String, String> = BTreeMap::new(),
        /// Whether the install stage gets a compiler and Node's headers for native modules (never release);
        /// unset: when the lockfile lists packages with install scripts.
        pub native_toolchain: Option<bool> = None,
        /// More system packages for the install stage, per flavor, e.g. `{ debian = "libvips-dev" }`.
        pub build_packages: BTreeMap<String, String> = BTreeMap::new(),
        /// Build cache kept between builds: none, inline, registry, local or gha (also --cache).
        pub cache: Cache = Cache::None,
        /// The folder `cache = "local"` writes to, one subfolder per stage.
        pub cache_dir: Utf8PathBuf = "target/buildcache".into(),
    }

    pub struct Stages {
        pub lint: String = "lint".into(),
        pub test: String = "test".into(),
        pub release: String = "release".into(),
    }

    pub struct Service {
        /// The port the service listens on: EXPOSE, the HEALTHCHECK, `run` and `smoke` follow it.
        #[serde(deserialize_with = "port")]
        pub port: u16 = 3000,
        /// Answered with 2xx when the service is alive: the HEALTHCHECK and `smoke` probe it.
        pub health_path: String = "/healthz".into(),
        /// The file `node` starts; empty: package.json's `main`, or a `start` script that is `node FILE`.
        pub start: String = String::new(),
        /// The folder `npm run build` writes, shipped instead of the source when package.json has a build script.
        pub build_output: String = "dist".into(),
        /// false: the service has no tests, and `test` says so instead of failing.
        pub tests: bool = true,
    }

    /// `release --push --sign` and `verify`: cosign's key pair. The password comes from COSIGN_PASSWORD only.
    pub struct Sign {
        /// The private key (a file, or cosign's `env://VAR` or a KMS URI); also COSIGN_KEY. Empty: keyless in
        /// GitHub Actions.
        pub key: String = String::new(),
        /// The public key `verify` checks against; also COSIGN_PUBLIC_KEY. Empty: `key` with `.pub` for `.key`.
        pub public_key: String = String::new(),
    }

    pub struct Compose {
        /// The compose file `up`, `down`, `logs` and `ps` use.
        pub file: Utf8PathBuf = "docker/compose.yaml".into(),
        /// The stack's one published port (Nginx), on 127.0.0.1.
        #[serde(deserialize_with = "port")]
        pub http_port: u16 = 8080,
    }

    pub struct Smoke {
        /// Environment the service needs to boot, given to `run` and `smoke` (never baked into the image).
        pub env: BTreeMap<String, String> = BTreeMap::new(),
        /// Seconds to wait for the container to turn healthy.
        pub timeout: u64 = 60,
    }

    pub struct Dev {
        /// The Dockerfile stage `dev` runs.
        pub stage: String = "dev".into(),
        /// The compose file of `dev`: the service, from that stage, beside what it needs (Redis).
        pub file: Utf8PathBuf = "docker/compose.dev.yaml".into(),
        /// The command `dev` runs instead of package.json's dev script; either watches for itself. Neither:
        /// `node START` (after `npm run build`, when there is a build script), restarted after each change.
        pub command: String = String::new(),
        /// The Node inspector's port on 127.0.0.1.
        #[serde(deserialize_with = "port")]
        pub inspect_port: u16 = 9229,
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Alpine,
    Debian,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Alpine => "alpine",
            Flavor::Debian => "debian",
        }
    }

    pub fn parse(text: &str) -> Result<Flavor> {
        from_name(text).with_context(|| format!("unknown flavor '{text}'; use 'alpine' or 'debian'"))
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Cache {
    None,
    Inline,
    Registry,
    Local,
    Gha,
}

impl Cache {
    pub fn parse(text: &str) -> Result<Cache> {
        from_name(text).with_context(|| format!("unknown cache '{text}'; use none, inline, registry, local or gha"))
    }

    pub fn name(self) -> &'static str {
        match self {
            Cache::None => "none",
            Cache::Inline => "inline",
            Cache::Registry => "registry",
            Cache::Local => "local",
            Cache::Gha => "gha",
        }
    }

    /// Whether the builder must export cache itself (the classic image store's `docker` driver cannot).
    pub fn needs_export(self) -> bool {
        matches!(self, Cache::Registry | Cache::Local | Cache::Gha)
    }
}

/// The variant of a lower-case enum such as [`Flavor`] that `name` names, as xtask.toml would read it.
fn from_name<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(name)).ok()
}

/// A TCP port in words a reader understands, instead of serde's "expected u16".
fn port<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    use serde::de::Error;
    let value = toml::Value::deserialize(deserializer)?;
    match value.as_integer().map(u16::try_from) {
        Some(Ok(port)) if port > 0 => Ok(port),
        _ => Err(D::Error::custom(format!("{value} is not a port: write a number from 1 to 65535, without quotes"))),
    }
}

/// Reads and checks `xtask.toml` in `root`.
pub fn load(root: &Utf8Path) -> Result<Config> {
    let path = root.join(FILE_NAME);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {path}"))?;
    let text = String::from_utf8(bytes).map_err(|err| {
        let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        anyhow::anyhow!("{FILE_NAME}:{line}: not UTF-8 text; save the file as UTF-8")
    })?;
    let mut config = parse(&text, FILE_NAME)?;
    if !config.image.registry.is_empty() {
        let registry = normalize_registry(&config.image.registry);
        config.image.registry = registry.with_context(|| format!("invalid {FILE_NAME}: [image] registry"))?;
    }
    Ok(config)
}

/// `[image] registry` or `--registry` as image names use it (see [`crate::tags::registry_namespace`]), saying
/// on stderr when its namespace had to be lower-cased.
pub fn normalize_registry(registry: &str) -> Result<String> {
    let normalized = crate::tags::registry_namespace(registry)?;
    if normalized != registry.trim_end_matches('/') {
        eprintln!("xtask: registry path lower-cased: {registry} -> {normalized}");
    }
    Ok(normalized)
}

/// Parses the text of a config file; `label` names the file in errors.
pub fn parse(text: &str, label: &str) -> Result<Config> {
    let config: Config = toml::from_str(text).map_err(|err| anyhow::anyhow!(describe(&err, text, label)))?;
    check(&config).with_context(|| format!("invalid {label}"))?;
    Ok(config)
}

/// One line: `xtask.toml:4: key 'port': invalid type: ...`. toml's own message spans several lines
/// with a snippet; the line number and the key are what a reader needs.
fn describe(err: &toml::de::Error, text: &str, label: &str) -> String {
    let message = err.message().trim_end_matches('.').replace('\n', " ");
    let Some(span) = err.span() else { return format!("{label}: {message}") };
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or("");
    let key =
        line.split_once('=').map(|(k, _)| k.trim().trim_matches('"')).filter(|k| !k.is_empty() && !k.starts_with('['));
    match key {
        Some(key) if !message.contains(&format!("`{key}`")) => format!("{label}:{line_no}: key '{key}': {message}"),
        _ => format!("{label}:{line_no}: {message}"),
    }
}

fn check(config: &Config) -> Result<()> {
    if config.image.name.trim().is_empty() {
        bail!("[image] name is empty; set it to the image's repository name, e.g. name = \"node-app\"");
    }
    crate::tags::validate_repository(&config.image.name).context("[image] name")?;
    let stages = &config.stages;
    for (role, stage) in [("lint", &stages.lint), ("test", &stages.test), ("release", &stages.release)] {
        if stage.trim().is_empty() {
            bail!("[stages] {role} is empty; name the Dockerfile stage that plays the {role} role");
        }
    }
    if !config.service.health_path.starts_with('/') {
        bail!("[service] health_path '{}' must start with '/'", config.service.health_path);
    }
    for flavor in config.build.test_packages.keys() {
        Flavor::parse(flavor).context("[build] test_packages")?;
    }
    for flavor in config.build.build_packages.keys() {
        Flavor::parse(flavor).context("[build] build_packages")?;
    }
    check_arg_name(&config.build.npm_token).context("[build] npm_token")?;
    for key in config.build.args.keys().chain(config.smoke.env.keys()) {
        check_arg_name(key)?;
    }
    Ok(())
}

/// A build arg or environment variable name: letters, digits and '_', not starting with a digit.
pub fn check_arg_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("'{name}' is not a valid variable name (letters, digits and '_', not starting with a digit)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_defaults() {
        assert_eq!(parse("", "xtask.toml").unwrap(), Config::default());
    }

    #[test]
    fn reads_every_section() {
        let text = r#"
[image]
name = "shop"
registry = "ghcr.io/acme"
[build]
flavor = "debian"
args = { NODE_OPTIONS = "--max-old-space-size=256" }
[service]
port = 8080
health_path = "/health"
start = "dist/main.js"
[smoke]
env = { DATABASE_URL = "memory://" }
timeout = 5
"#;
        let config = parse(text, "xtask.toml").unwrap();
        assert_eq!(config.image.name, "shop");
        assert_eq!(config.build.flavor, Flavor::Debian);
        assert_eq!(config.build.dockerfile, "docker/Dockerfile");
        assert_eq!(config.service.port, 8080);
        assert_eq!(config.smoke.env["DATABASE_URL"], "memory://");
        assert_eq!(config.stages.test, "test");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse("[image]\nname = \"a\"\nnmae = \"b\"\n", "xtask.toml").unwrap_err().to_string();
        assert!(err.starts_with("xtask.toml:3:"), "{err}");
        assert!(err.contains("nmae"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn wrong_type_names_file_line_and_key() {
        let err = parse("[service]\nport = \"eighty\"\n", "xtask.toml").unwrap_err().to_string();
        assert!(err.starts_with("xtask.toml:2: key 'port':"), "{err}");
    }

    #[test]
    fn unknown_section_and_flavor() {
        let err = parse("[imgae]\n", "xtask.toml").unwrap_err().to_string();
        assert!(err.contains("xtask.toml:1") && err.contains("imgae"), "{err}");
        let err = parse("[build]\nflavor = \"arch\"\n", "xtask.toml").unwrap_err().to_string();
        assert!(err.contains("xtask.toml:2") && err.contains("arch"), "{err}");
    }

    #[test]
    fn ports_are_explained() {
        for text in ["[service]\nport = \"3000\"\n", "[service]\nport = 70000\n", "[service]\nport = 0\n"] {
            let err = parse(text, "xtask.toml").unwrap_err().to_string();
            assert!(err.starts_with("xtask.toml:2: key 'port':"), "{err}");
            assert!(err.contains("a number from 1 to 65535"), "{err}");
        }
        let err = parse("[compose]\nhttp_port = -1\n", "xtask.toml").unwrap_err().to_string();
        assert!(err.contains("key 'http_port'") && err.contains("-1 is not a port"), "{err}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = parse("[image\nname = 1\n", "xtask.toml").unwrap_err().to_string();
        assert!(err.starts_with("xtask.toml:1"), "{err}");
    }

    #[test]
    fn empty_or_bad_image_name_is_refused() {
        let err = format!("{:#}", parse("[image]\nname = \"\"\n", "xtask.toml").unwrap_err());
        assert!(err.contains("name is empty"), "{err}");
        let err = format!("{:#}", parse("[image]\nname = \"My App\"\n", "xtask.toml").unwrap_err());
        assert!(err.contains("[image] name"), "{err}");
    }

    #[test]
    fn health_path_must_be_absolute() {
        let err = format!("{:#}", parse("[service]\nhealth_path = \"healthz\"\n", "xtask.toml").unwrap_err());
        assert!(err.contains("must start with '/'"), "{err}");
    }
}
