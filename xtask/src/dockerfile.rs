//! Discovers the stages of a Dockerfile and answers questions about the stage graph.
//!
//! This is not a full Dockerfile parser: it follows BuildKit's rules for line joining,
//! comments, parser directives, heredocs and `FROM`/`ARG` substitution closely enough to
//! know which stages exist, what they are built from and which images a target needs.
//! Reading the text (lines, words, `$` expansion) is in `expand`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, ensure, Context, Result};

use crate::expand::{expand, instructions, shell_words, split_keyword};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless the `# escape=` directive says otherwise).
    pub escape: char,
    pub global_args: Vec<GlobalArg>,
    pub stages: Vec<Stage>,
}

/// An `ARG` before the first `FROM`; only these can be used in `FROM` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalArg {
    pub name: String,
    /// The default as written (quotes and variables still in it).
    pub default: Option<String>,
    /// 1-based line of the `ARG`.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// The `AS` name, lower-cased as BuildKit does.
    pub name: Option<String>,
    /// The `FROM` text as written, e.g. `base-${FLAVOR}` or `alpine:3.21`.
    pub base: String,
    /// The `--platform=` value of the `FROM`, unresolved.
    pub platform: Option<String>,
    /// 1-based line of the `FROM`.
    pub line: usize,
    /// `COPY --from=X` and `RUN --mount=...,from=X` values, in order.
    pub copy_from: Vec<String>,
}

/// What a `FROM` or a `--from` value refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Stage(usize),
    Image(String),
    Scratch,
}

/// The args BuildKit defines for `FROM` lines without an `ARG`: those [`platform_args`] computes
/// (BUILDPLATFORM, TARGETOSVERSION...) and TARGETSTAGE. Callers pass their values in the build args.
fn is_automatic(name: &str) -> bool {
    let suffix = name.strip_prefix("BUILD").or(name.strip_prefix("TARGET"));
    matches!(suffix, Some("PLATFORM" | "OS" | "OSVERSION" | "ARCH" | "VARIANT")) || name == "TARGETSTAGE"
}
pub fn parse(text: &str) -> Result<Dockerfile> {
    let (escape, instructions) = instructions(text)?;
    let mut df = Dockerfile { escape, global_args: Vec::new(), stages: Vec::new() };
    // (stage index, line, reference, is FROM): checked once every stage name is known.
    let mut refs = Vec::new();
    for (line, text) in instructions {
        let (keyword, rest) = split_keyword(&text);
        let keyword = keyword.to_ascii_uppercase();
        match (keyword.as_str(), df.stages.last_mut()) {
            ("FROM", _) => {
                let stage = parse_from(rest, line, &df.stages, escape)?;
                if !stage.base.contains('$') {
                    // Without `$` nothing is looked up: the expansion only removes quotes and escapes.
                    refs.push((stage.index, line, expand(&stage.base, escape, None)?, true));
                }
                df.stages.push(stage);
            }
            ("ARG", None) => {
                for word in shell_words(rest, escape) {
                    let (name, default) = word.split_once('=').map_or((word.as_str(), None), |(n, v)| (n, Some(v)));
                    if let Some(value) = default {
                        expand_at(value, escape, None, &format!("line {line}: ARG {word}"))?;
                    }
                    df.global_args.push(GlobalArg { name: name.into(), default: default.map(String::from), line });
                }
            }
            (_, None) => bail!("line {line}: {keyword} comes before the first FROM; only ARG may appear there"),
            (_, Some(stage)) => {
                for from in copy_sources(&keyword, rest) {
                    ensure!(
                        !from.contains('$'),
                        "line {line}: BuildKit does not expand variables in --from ({from}); \
                         use a stage `FROM {from} AS <alias>` instead"
                    );
                    refs.push((stage.index, line, from.clone(), false));
                    stage.copy_from.push(from);
                }
            }
        }
    }
    ensure!(!df.stages.is_empty(), "no FROM instruction found");
    for (index, line, reference, is_from) in refs {
        df.reference(&reference, index, line, is_from)?;
    }
    Ok(df)
}

/// The stage a `FROM` line starts, after the `earlier` ones.
fn parse_from(rest: &str, line: usize, earlier: &[Stage], escape: char) -> Result<Stage> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    // The leading `--platform=` flags; the last one counts.
    let flags = words.iter().take_while(|word| word.starts_with("--platform=")).count();
    let platform = words[..flags].last().map(|flag| flag["--platform=".len()..].to_string());
    let args = &words[flags..];
    let name = match args[..] {
        [] => bail!("line {line}: FROM has no image or stage name"),
        [_] => None,
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            ensure!(
                is_stage_name(&lower),
                "invalid stage name '{name}' on line {line}: stage names start with a letter \
                 and use only letters, digits, '-', '_' and '.'"
            );
            Some(lower)
        }
        _ => bail!("line {line}: FROM takes an image and an optional 'AS name', got '{}'", args.join(" ")),
    };
    let base = args[0].to_string();
    expand_at(&base, escape, None, &format!("line {line}: FROM {base}"))?;
    if let Some(platform) = &platform {
        expand_at(platform, escape, None, &format!("line {line}: FROM --platform={platform}"))?;
    }
    let duplicate = earlier.iter().find(|stage| name.is_some() && stage.name == name);
    if let (Some(name), Some(other)) = (&name, duplicate) {
        bail!("duplicate stage name '{name}' on line {line} (already used on line {})", other.line);
    }
    Ok(Stage { index: earlier.len(), name, base, platform, line, copy_from: Vec::new() })
}

/// What an instruction copies or mounts from: `COPY --from=X`, `RUN --mount=...,from=X`.
fn copy_sources(keyword: &str, rest: &str) -> Vec<String> {
    let flags = rest.split_whitespace().take_while(|word| word.starts_with("--"));
    let sources = flags.filter_map(|flag| match (keyword, flag.split_once('=')?) {
        ("COPY", ("--from", value)) => Some(value),
        ("RUN", ("--mount", options)) => {
            let mut options = options.split(',').filter_map(|option| option.split_once('='));
            options.find(|(key, _)| key.trim().eq_ignore_ascii_case("from")).map(|(_, value)| value)
        }
        _ => None,
    });
    sources.map(|from| from.trim_matches(['"', '\''])).filter(|from| !from.is_empty()).map(String::from).collect()
}

/// Expands `word` with the args in `env` (see [`expand`]); an error names `context` (the line and
/// instruction). Without `env` it fails only where BuildKit would whatever the args.
fn expand_at(word: &str, escape: char, env: Option<&BTreeMap<String, String>>, context: &str) -> Result<String> {
    expand(word, escape, env).map_err(|e| anyhow!("{context}: {e}"))
}

/// BuildKit's `^[a-z][a-z0-9-_.]*$`.
fn is_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, text: &str) -> bool {
    let Some((head, tail)) = pattern.split_once('*') else { return pattern == text };
    let Some(rest) = text.strip_prefix(head) else { return false };
    (0..=rest.len()).filter(|&k| rest.is_char_boundary(k)).any(|k| glob_match(tail, &rest[k..]))
}

impl Dockerfile {
    /// Names of the named stages, in file order.
    pub fn stage_names(&self) -> Vec<&str> {
        self.stages.iter().filter_map(|s| s.name.as_deref()).collect()
    }

    /// The stage called `name`, case-insensitively.
    fn named(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        self.stages.iter().find(|s| s.name.as_deref() == Some(&lower))
    }

    /// Looks up a stage by name, case-insensitively.
    pub fn find_stage(&self, name: &str, file_label: &str) -> Result<&Stage> {
        if let Some(stage) = self.named(name) {
            return Ok(stage);
        }
        let names = self.stage_names();
        ensure!(!names.is_empty(), "unknown stage '{name}' in {file_label}; it has no named stages");
        let hint = nearest(name, &names).map(|n| format!(" (did you mean '{n}'?)")).unwrap_or_default();
        bail!("unknown stage '{name}' in {file_label}; valid stages: {}{hint}", names.join(", "))
    }

    /// The stage's `FROM` text with the global args substituted as BuildKit does: the values in
    /// `build_args` of the global `ARG`s and of the automatic args (the platform args, see
    /// [`platform_args`]), else the `ARG` defaults. Fails, naming the line, where BuildKit
    /// would (`${X:?message}` with X unset, also in a global `ARG` default, or an empty result).
    pub fn resolve_base(&self, stage: &Stage, build_args: &BTreeMap<String, String>) -> Result<String> {
        let env = self.global_env(build_args)?;
        let context = format!("line {}: FROM {}", stage.line, stage.base);
        let resolved = expand_at(&stage.base, self.escape, Some(&env), &context)?;
        ensure!(!resolved.is_empty(), "FROM {} (line {}) resolves to an empty name", stage.base, stage.line);
        Ok(resolved)
    }

    /// The values of the args a `FROM` line can use.
    fn global_env(&self, build_args: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
        let mut env = build_args.clone();
        env.retain(|name, _| is_automatic(name));
        for arg in &self.global_args {
            // BuildKit uses an automatic arg's global default unless a --build-arg names it; the
            // caller's map cannot tell its automatic values from --build-args, so the default wins.
            let automatic_default = is_automatic(&arg.name) && arg.default.is_some();
            let value = match (build_args.get(&arg.name).filter(|_| !automatic_default), &arg.default) {
                (Some(given), _) => given.clone(),
                (None, Some(default)) => {
                    let context = format!("line {}: ARG {}={default}", arg.line, arg.name);
                    expand_at(default, self.escape, Some(&env), &context)?
                }
                // An ARG without a default that no build arg sets leaves the value as it was.
                (None, None) => continue,
            };
            env.insert(arg.name.clone(), value);
        }
        Ok(env)
    }

    /// What the stage's `FROM` refers to once resolved.
    pub fn parent(&self, stage: &Stage, build_args: &BTreeMap<String, String>) -> Result<Base> {
        let resolved = self.resolve_base(stage, build_args)?;
        let base = self.reference(&resolved, stage.index, stage.line, true)?;
        if matches!(base, Base::Image(_)) && stage.base.contains('$') && is_stage_name(&resolved.to_ascii_lowercase()) {
            // A FROM built from an arg that fits earlier stage names but names none of them
            // is almost certainly a bad arg value, not an image to pull.
            let pattern = expand(&stage.base, self.escape, None)?;
            let has_literal = pattern.contains(|c| c != '*');
            let earlier = self.stages[..stage.index].iter().filter_map(|s| s.name.as_deref());
            let matching: Vec<&str> = earlier.filter(|n| has_literal && glob_match(&pattern, n)).collect();
            if !matching.is_empty() {
                let (line, matching) = (stage.line, matching.join(", "));
                bail!("FROM {resolved} (line {line}) names no stage; stages that match {}: {matching}", stage.base);
            }
        }
        Ok(base)
    }

    /// What a `copy_from` value of `stage` refers to.
    fn copy_source(&self, stage: &Stage, reference: &str) -> Result<Base> {
        self.reference(reference, stage.index, stage.line, false)
    }

    /// The stages `target` depends on through `FROM` and `--from`, in file order, so
    /// `target` is last. An empty `target` means the last stage, as `docker build` does.
    pub fn dependencies(&self, target: &str, build_args: &BTreeMap<String, String>) -> Result<Vec<usize>> {
        let target = match target {
            "" => self.stages.len().checked_sub(1).context("the Dockerfile has no stages")?,
            name => self.find_stage(name, "the Dockerfile")?.index,
        };
        // BuildKit resolves every stage's FROM, needed or not, and fails on any that fails.
        for stage in &self.stages {
            self.resolve_base(stage, build_args)?;
        }
        // References only point backwards, so no pending stage needs the last pending one.
        let mut pending = BTreeSet::from([target]);
        let mut needed = Vec::new();
        while let Some(index) = pending.pop_last() {
            needed.insert(0, index);
            for base in self.direct_deps(index, build_args)? {
                if let Base::Stage(dep) = base {
                    pending.insert(dep);
                }
            }
        }
        Ok(needed)
    }

    /// External images `target` needs (through its dependencies), in order, without repeats.
    /// `scratch` is not an image.
    pub fn external_images(&self, target: &str, build_args: &BTreeMap<String, String>) -> Result<Vec<String>> {
        let mut images = Vec::new();
        for index in self.dependencies(target, build_args)? {
            for base in self.direct_deps(index, build_args)? {
                match base {
                    Base::Image(image) if !images.contains(&image) => images.push(image),
                    _ => {}
                }
            }
        }
        Ok(images)
    }

    /// What stage `index` is built FROM, then what it copies from (`COPY --from`), in order.
    pub fn direct_deps(&self, index: usize, build_args: &BTreeMap<String, String>) -> Result<Vec<Base>> {
        let stage = &self.stages[index];
        let copies = stage.copy_from.iter().map(|reference| self.copy_source(stage, reference));
        std::iter::once(self.parent(stage, build_args)).chain(copies).collect()
    }

    /// Resolves a (substituted) reference made by stage `user` on `line`. Only earlier stages
    /// can be referenced; `FROM x AS x` means the image `x`.
    fn reference(&self, reference: &str, user: usize, line: usize, is_from: bool) -> Result<Base> {
        let stages = self.stages.len();
        let found = match reference.parse::<usize>() {
            Ok(index) if !is_from && index >= stages => {
                bail!("line {line}: --from={index} names no stage; the file has {stages} stages, numbered from 0")
            }
            Ok(index) if !is_from => Some(index),
            _ => self.named(reference).map(|stage| stage.index),
        };
        match found {
            Some(index) if index < user => Ok(Base::Stage(index)),
            Some(index) if index > user => bail!(
                "stage '{reference}' is used on line {line} before it is defined on line {}",
                self.stages[index].line
            ),
            Some(_) if !is_from => bail!("stage '{reference}' refers to itself on line {line}"),
            None if reference.eq_ignore_ascii_case("scratch") => Ok(Base::Scratch),
            // Not a stage, or the stage's own name in its FROM.
            _ => Ok(Base::Image(reference.to_string())),
        }
    }
}

/// BuildKit's automatic platform args (`TARGETPLATFORM`, `TARGETOS`, `TARGETOSVERSION`,
/// `TARGETARCH`, `TARGETVARIANT` and the same for `BUILD`) for a build for `target` on `build`,
/// each `os/arch` or `os/arch/variant`. Platforms are normalized as BuildKit does: `linux/arm`
/// is `linux/arm/v7`, `linux/arm64/v8` is `linux/arm64` (no variant), and a missing variant
/// is an empty value, not an unset one. One platform each: split `a,b` lists first.
pub fn platform_args(target: &str, build: &str) -> Result<BTreeMap<String, String>> {
    let mut args = BTreeMap::new();
    for (prefix, platform) in [("TARGET", target), ("BUILD", build)] {
        let [os, os_version, arch, variant] = normalize_platform(platform)?;
        // Only TARGETPLATFORM shows an OS version, as `os(version)`.
        let version =
            if prefix == "TARGET" && !os_version.is_empty() { format!("({os_version})") } else { String::new() };
        let variant_part = if variant.is_empty() { String::new() } else { format!("/{variant}") };
        let full = format!("{os}{version}/{arch}{variant_part}");
        let values = [("PLATFORM", full), ("OS", os), ("OSVERSION", os_version), ("ARCH", arch), ("VARIANT", variant)];
        args.extend(values.map(|(name, value)| (format!("{prefix}{name}"), value)));
    }
    Ok(args)
}

/// `[os, os version, arch, variant]` of a platform, as containerd's `platforms.Parse` followed
/// by `platforms.Normalize` gives them (which is what BuildKit does with `--platform`).
fn normalize_platform(platform: &str) -> Result<[String; 4]> {
    let invalid = || anyhow!("invalid platform '{platform}': use os/arch or os/arch/variant, e.g. linux/arm64");
    // A third `/` ends up in the variant, which then fails the check below.
    let mut parts = platform.splitn(3, '/');
    let (Some(os), Some(arch), variant) = (parts.next(), parts.next(), parts.next()) else { return Err(invalid()) };
    let (os, version) = match os.split_once('(') {
        Some((os, version)) => (os, version.strip_suffix(')').ok_or_else(invalid)?),
        None => (os, ""),
    };
    let valid = |part: &str, extra: &str| {
        part.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c) || extra.contains(c))
    };
    let parts_valid = [Some(arch), variant].into_iter().flatten().all(|p| !p.is_empty() && valid(p, "."));
    ensure!(!os.is_empty() && valid(os, "") && valid(version, ".") && parts_valid, invalid());
    let os = if os.eq_ignore_ascii_case("macos") { "darwin".to_string() } else { os.to_ascii_lowercase() };
    // Parse's own adjustments (no variant for `arm`, `v8` for `arm64`) are undone when Normalize
    // runs the arch rules again, and those rules give the same result the second time.
    let (arch, variant) = normalize_arch(arch, variant.unwrap_or(""));
    Ok([os, version.to_string(), arch, variant])
}

/// containerd's `normalizeArch`: Go's names, and the variant each implies or drops.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (arch, variant) = (arch.to_ascii_lowercase(), variant.to_ascii_lowercase());
    let (arch, variant) = match (arch.as_str(), variant.as_str()) {
        ("i386", _) => ("386", ""),
        ("x86_64" | "x86-64" | "amd64", variant) => ("amd64", if variant == "v1" { "" } else { variant }),
        ("aarch64" | "arm64", "8" | "v8" | "v8.0") => ("arm64", ""),
        ("aarch64" | "arm64", "9" | "9.0" | "v9.0") => ("arm64", "v9"),
        ("aarch64" | "arm64", variant) => ("arm64", variant),
        ("armhf", _) => ("arm", "v7"),
        ("armel", _) => ("arm", "v6"),
        ("arm", "" | "7") => ("arm", "v7"),
        ("arm", variant @ ("5" | "6" | "8")) => return ("arm".to_string(), format!("v{variant}")),
        (arch, variant) => (arch, variant),
    };
    (arch.to_string(), variant.to_string())
}

/// The platform of the machine the kit runs on, in Go/OCI names (`linux/amd64`, `darwin/arm64`).
/// The engine's can differ: Docker Desktop builds in a Linux VM on macOS and Windows.
pub fn host_platform() -> String {
    go_platform(std::env::consts::OS, std::env::consts::ARCH, cfg!(target_endian = "little"))
}

/// Maps Rust's `std::env::consts` names to Go's `GOOS/GOARCH`.
fn go_platform(os: &str, arch: &str, little_endian: bool) -> String {
    let os = if os == "macos" { "darwin" } else { os };
    let arch = match arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "loongarch64" => "loong64",
        "powerpc" => "ppc",
        "powerpc64" if little_endian => "ppc64le",
        "powerpc64" => "ppc64",
        "mips" if little_endian => "mipsle",
        "mips64" if little_endian => "mips64le",
        "wasm32" => "wasm",
        // arm, riscv64, s390x, sparc64, big-endian mips and mips64 are the same in Go.
        arch => arch,
    };
    format!("{os}/{arch}")
}

/// The candidate nearest to `word` (case-insensitive Damerau-Levenshtein distance), if it is
/// close enough to be a plausible typo.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (distance(&word, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: edits plus adjacent transpositions.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // The first row and column count insertions and deletions; the loop sets every other cell.
    let mut d: Vec<Vec<usize>> = (0..=a.len()).map(|i| (i..=i + b.len()).collect()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn no_args() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    /// (name or "", base, line) of each stage.
    fn summary(df: &Dockerfile) -> Vec<(String, String, usize)> {
        let stages = df.stages.iter();
        stages.map(|s| (s.name.clone().unwrap_or_default(), s.base.clone(), s.line)).collect()
    }

    #[test]
    fn from_forms_and_keyword_case() {
        let df = parse(
            "FROM golang:1.23-alpine AS Builder\n\
             from   --platform=$BUILDPLATFORM \tnode:20\tas   web\n\
             \tFROM alpine:3.21\n\
             FROM --platform=linux/amd64 debian:bookworm-slim\n",
        )
        .unwrap();
        let expected = [
            ("builder", "golang:1.23-alpine", 1),
            ("web", "node:20", 2),
            ("", "alpine:3.21", 3),
            ("", "debian:bookworm-slim", 4),
        ];
        let expected: Vec<_> = expected.iter().map(|(n, b, l)| (n.to_string(), b.to_string(), *l)).collect();
        assert_eq!(summary(&df), expected);
        assert_eq!(df.stages[1].platform.as_deref(), Some("$BUILDPLATFORM"));
        assert_eq!(df.stages[3].platform.as_deref(), Some("linux/amd64"));
        assert_eq!(df.stages[0].platform, None);
        assert_eq!(df.stage_names(), ["builder", "web"]);
        assert_eq!(df.stages[2].index, 2);
    }

    #[test]
    fn global_arg_in_from_with_default_and_override() {
        let df = parse(
            "ARG BASE=node:20\n\
             ARG NODE_ENV\n\
             FROM ${BASE} AS app\n\
             FROM $BASE\n",
        )
        .unwrap();
        assert_eq!(
            df.global_args,
            [
                GlobalArg { name: "BASE".into(), default: Some("node:20".into()), line: 1 },
                GlobalArg { name: "NODE_ENV".into(), default: None, line: 2 },
            ]
        );
        let app = &df.stages[0];
        assert_eq!(app.base, "${BASE}");
        assert_eq!(df.resolve_base(app, &no_args()).unwrap(), "node:20");
        assert_eq!(df.resolve_base(&df.stages[1], &no_args()).unwrap(), "node:20");
        let overridden = args(&[("BASE", "node:22-slim")]);
        assert_eq!(df.resolve_base(app, &overridden).unwrap(), "node:22-slim");
        assert_eq!(df.parent(app, &overridden).unwrap(), Base::Image("node:22-slim".into()));
    }

    #[test]
    fn substitution_forms() {
        let df = parse(
            "ARG REGISTRY\n\
             ARG VERSION=3.21\n\
             ARG IMAGE=\"alpine:${VERSION}\"\n\
             ARG EMPTY=\n\
             FROM ${REGISTRY:-docker.io}/library/alpine:${VERSION}\n\
             FROM ${IMAGE}\n\
             FROM ${REGISTRY:+$REGISTRY/}python:${PY:-3.12}-slim\n\
             FROM ${EMPTY:-debian}${EMPTY-x}\n\
             FROM price\\$tag\n",
        )
        .unwrap();
        let resolve = |i: usize, a: &BTreeMap<String, String>| df.resolve_base(&df.stages[i], a).unwrap();
        assert_eq!(resolve(0, &no_args()), "docker.io/library/alpine:3.21");
        assert_eq!(resolve(1, &no_args()), "alpine:3.21");
        // A build arg feeds the defaults of later global args.
        assert_eq!(resolve(1, &args(&[("VERSION", "3.20")])), "alpine:3.20");
        assert_eq!(resolve(2, &no_args()), "python:3.12-slim");
        // PY is not a global ARG, so a build arg cannot set it.
        let a = args(&[("REGISTRY", "ghcr.io/acme"), ("PY", "3.11")]);
        assert_eq!(resolve(2, &a), "ghcr.io/acme/python:3.12-slim");
        assert_eq!(resolve(3, &no_args()), "debian");
        assert_eq!(resolve(4, &no_args()), "price$tag");
    }

    #[test]
    fn arg_without_default_resolves_empty() {
        let df = parse("ARG NODE_VERSION\nFROM node:${NODE_VERSION}-alpine\n").unwrap();
        assert_eq!(df.resolve_base(&df.stages[0], &no_args()).unwrap(), "node:-alpine");
        let a = args(&[("NODE_VERSION", "22")]);
        assert_eq!(df.resolve_base(&df.stages[0], &a).unwrap(), "node:22-alpine");
    }

    #[test]
    fn arg_inside_a_stage_does_not_reach_later_from() {
        let df = parse(
            "ARG TAG=3.21\n\
             FROM alpine:${TAG} AS one\n\
             ARG TAG=3.19\n\
             ARG OTHER=busybox\n\
             FROM ${OTHER:-alpine}:${TAG}\n",
        )
        .unwrap();
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(df.resolve_base(&df.stages[1], &no_args()).unwrap(), "alpine:3.21");
        let a = args(&[("OTHER", "busybox")]);
        assert_eq!(df.resolve_base(&df.stages[1], &a).unwrap(), "alpine:3.21");
    }

    #[test]
    fn platform_args_are_ordinary_args() {
        let df = parse(
            "ARG TARGETARCH\n\
             FROM --platform=$BUILDPLATFORM tonistiigi/xx AS xx\n\
             FROM ghcr.io/acme/tool-$TARGETARCH:${TARGETOS:-linux}\n",
        )
        .unwrap();
        let tool = &df.stages[1];
        // Not given, a platform arg is unset like an ARG without a default.
        assert_eq!(df.resolve_base(tool, &no_args()).unwrap(), "ghcr.io/acme/tool-:linux");
        let a = args(&[("TARGETARCH", "arm64"), ("TARGETOS", "linux")]);
        assert_eq!(df.resolve_base(tool, &a).unwrap(), "ghcr.io/acme/tool-arm64:linux");
        // `ARG TARGETARCH` without a default keeps the automatic value.
        let a = platform_args("windows/amd64", "linux/arm64").unwrap();
        assert_eq!(df.resolve_base(tool, &a).unwrap(), "ghcr.io/acme/tool-amd64:windows");
        assert_eq!(df.parent(&df.stages[0], &a).unwrap(), Base::Image("tonistiigi/xx".into()));
        assert_eq!(df.stages[0].platform.as_deref(), Some("$BUILDPLATFORM"));
    }

    #[test]
    fn stage_reference_built_from_an_arg() {
        let text = "ARG FLAVOR=alpine\n\
                    FROM alpine:3.21 AS base-alpine\n\
                    FROM debian:bookworm-slim AS base-debian\n\
                    FROM base-${FLAVOR} AS base\n\
                    RUN echo hi\n";
        let df = parse(text).unwrap();
        let base = &df.stages[2];
        assert_eq!(df.parent(base, &no_args()).unwrap(), Base::Stage(0));
        let debian = args(&[("FLAVOR", "Debian")]);
        assert_eq!(df.parent(base, &debian).unwrap(), Base::Stage(1));
        assert_eq!(df.external_images("base", &debian).unwrap(), ["debian:bookworm-slim"]);
        assert_eq!(df.dependencies("base", &no_args()).unwrap(), [0, 2]);
    }

    #[test]
    fn arg_pattern_that_names_no_stage_is_an_error() {
        let text = "# syntax=docker/dockerfile:1\n\
                    ARG FLAVOR=alpine\n\
                    \n\
                    FROM alpine:3.21 AS base-alpine\n\
                    RUN apk add --no-cache git\n\
                    \n\
                    FROM debian:bookworm-slim AS base-debian\n\
                    RUN apt-get update\n\
                    \n\
                    # pick the flavour\n\
                    # with --build-arg FLAVOR=...\n\
                    FROM base-${FLAVOR} AS base\n\
                    RUN make\n";
        let df = parse(text).unwrap();
        let arch = args(&[("FLAVOR", "arch")]);
        let msg = "FROM base-arch (line 12) names no stage; \
                   stages that match base-${FLAVOR}: base-alpine, base-debian";
        assert_eq!(df.external_images("base", &arch).unwrap_err().to_string(), msg);
        assert_eq!(df.dependencies("base", &arch).unwrap_err().to_string(), msg);
        // A platform arg that is not given cannot pick a stage either.
        let df = parse(&text.replace("${FLAVOR}", "$TARGETARCH")).unwrap();
        let e = df.dependencies("base", &no_args()).unwrap_err().to_string();
        assert!(e.starts_with("FROM base- (line 12) names no stage"), "{e}");
        // A plain image from an arg is fine when no stage fits the pattern.
        let df = parse("ARG BASE=node:20\nFROM node:18 AS old\nFROM ${BASE}\n").unwrap();
        assert_eq!(df.external_images("", &args(&[("BASE", "x")])).unwrap(), ["x"]);
    }

    #[test]
    fn line_continuations() {
        let df = parse(
            "FROM \\\n\
             \x20   --platform=linux/arm64 \\\n\
             # a comment inside the instruction\n\
             \n\
             \x20   rust:1.83 \\\n\
             \x20   AS build\n\
             RUN cargo build \\\n\
             \x20     --release\n\
             FROM build AS out\n",
        )
        .unwrap();
        assert_eq!(df.stages[0].base, "rust:1.83");
        assert_eq!(df.stages[0].platform.as_deref(), Some("linux/arm64"));
        assert_eq!(df.stages[0].name.as_deref(), Some("build"));
        assert_eq!(df.stages[1].line, 9);
        // An escaped escape character is not a continuation.
        let df = parse("FROM a\nRUN echo \\\\\nFROM b\n").unwrap();
        assert_eq!(df.stages.len(), 2);
    }

    #[test]
    fn backtick_escape_directive() {
        let df = parse(
            "# escape=`\n\
             FROM mcr.microsoft.com/windows/servercore:ltsc2022 `\n\
             \x20   AS build\n\
             WORKDIR C:\\\n\
             FROM build\n",
        )
        .unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.stage_names(), ["build"]);
        assert_eq!(df.stages[1].line, 5);
        assert_eq!(df.parent(&df.stages[1], &no_args()).unwrap(), Base::Stage(0));
    }

    #[test]
    fn comments_and_directives() {
        // Directives are case-insensitive and must come first.
        let df = parse("# Syntax=docker/dockerfile:1.7\n#ESCAPE = `\n# check=skip=all\nFROM a\n").unwrap();
        assert_eq!(df.escape, '`');
        // After a plain comment, `# escape=` is just a comment.
        let df = parse("# build image\n# escape=`\nFROM a\nRUN echo `\nFROM b\n").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.stages.len(), 2);
        // Same after an instruction.
        let df = parse("ARG X=1\n# escape=`\nFROM a\n").unwrap();
        assert_eq!(df.escape, '\\');
        let df = parse("  # indented comment\nFROM alpine # not a comment mid-line?\n");
        assert!(df.is_err(), "BuildKit only treats # at line start as a comment");
        assert_eq!(err("# escape=`\n# escape=\\\nFROM a\n"), "line 2: only one escape parser directive can be used");
        assert_eq!(err("# escape=x\nFROM a\n"), "line 1: invalid escape directive 'x'; use '\\' or '`'");
    }

    #[test]
    fn heredocs_are_skipped() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n\
             FROM debian AS base\n\
             RUN <<EOF\n\
             set -e\n\
             FROM not-a-stage\n\
             EOF\n\
             COPY <<-EOT /etc/motd\n\
             \tFROM neither\n\
             \tEOT\n\
             RUN <<\"A\" bash && cat <<'B' > /b\n\
             FROM nope\n\
             A\n\
             FROM nope-again\n\
             B\n\
             RUN echo \"<<NOT\" && 2<<X python3\n\
             print(1)\n\
             X\n\
             RUN [\"sh\", \"-c\", \"cat <<E\"]\n\
             FROM base AS final\n",
        )
        .unwrap();
        assert_eq!(df.stage_names(), ["base", "final"]);
        assert_eq!(df.stages[1].line, 19);
        assert_eq!(err("FROM a\nRUN <<EOF\necho\n  EOF\n"), "unterminated heredoc 'EOF' starting on line 2");
    }

    #[test]
    fn heredoc_after_continuation_and_onbuild() {
        let df = parse(
            "FROM alpine AS a\n\
             RUN --mount=type=cache,target=/root/.cache \\\n\
             \x20   <<EOF\n\
             FROM x\n\
             EOF\n\
             ONBUILD RUN <<EOF\n\
             FROM y\n\
             EOF\n\
             FROM a\n",
        )
        .unwrap();
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[1].line, 9);
    }

    #[test]
    fn copy_from_and_mounts() {
        let df = parse(
            "FROM node:20 AS deps\n\
             FROM golang:1.23 AS builder\n\
             RUN --mount=type=cache,from=deps,target=/root/.npm \\\n\
             \x20   --mount=type=bind,source=go.mod,target=go.mod go build\n\
             FROM alpine\n\
             COPY --from=builder /out/app /app\n\
             COPY --link --from=0 /node_modules /nm\n\
             COPY --from=nginx:latest /etc/nginx/nginx.conf /etc/nginx/\n\
             RUN --mount=type=bind,from=builder,source=/out,target=/mnt true\n\
             RUN --mount=type=tmpfs,target=/tmp --mount=type=cache,from=,target=/c true\n\
             ONBUILD COPY --from=later /x /x\n\
             COPY --chown=1000 src /src\n",
        )
        .unwrap();
        assert_eq!(df.stages[1].copy_from, ["deps"]);
        assert_eq!(df.stages[2].copy_from, ["builder", "0", "nginx:latest", "builder"]);
        let last = &df.stages[2];
        assert_eq!(df.copy_source(last, "0").unwrap(), Base::Stage(0));
        assert_eq!(df.copy_source(last, "Builder").unwrap(), Base::Stage(1));
        assert_eq!(df.copy_source(last, "nginx:latest").unwrap(), Base::Image("nginx:latest".into()));
        assert_eq!(df.dependencies("", &no_args()).unwrap(), [0, 1, 2]);
        assert_eq!(df.external_images("", &no_args()).unwrap(), ["node:20", "golang:1.23", "alpine", "nginx:latest"]);
    }

    const PIPELINE: &str = "\
# syntax=docker/dockerfile:1.7
ARG RUST_VERSION=1.83
ARG DEBIAN=bookworm

FROM --platform=$BUILDPLATFORM rust:${RUST_VERSION}-slim-${DEBIAN} AS toolchain
RUN rustup component add clippy rustfmt

FROM toolchain AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM toolchain AS dependencies
COPY --from=planner /app/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry cargo chef cook

FROM dependencies AS build
COPY . .
RUN cargo build --release

FROM dependencies AS lint
RUN cargo clippy -- -D warnings

FROM dependencies AS test
COPY --from=postgres:16 /usr/lib/postgresql /usr/lib/postgresql
RUN cargo test

FROM node:20-alpine AS assets
RUN npm ci && npm run build

FROM debian:${DEBIAN}-slim AS runtime-base
RUN apt-get update

FROM runtime-base AS release
COPY --from=build /app/target/release/app /usr/local/bin/app
COPY --from=assets /app/dist /srv
RUN --mount=type=bind,from=toolchain,source=/etc/ssl,target=/ssl true

FROM scratch AS export
COPY --from=build /app/target/release/app /
";

    #[test]
    fn many_stages_dag() {
        let df = parse(PIPELINE).unwrap();
        assert_eq!(
            df.stage_names(),
            [
                "toolchain",
                "planner",
                "dependencies",
                "build",
                "lint",
                "test",
                "assets",
                "runtime-base",
                "release",
                "export"
            ]
        );
        let none = no_args();
        assert_eq!(df.dependencies("release", &none).unwrap(), [0, 1, 2, 3, 6, 7, 8]);
        assert_eq!(df.dependencies("lint", &none).unwrap(), [0, 1, 2, 4]);
        assert_eq!(df.dependencies("export", &none).unwrap(), [0, 1, 2, 3, 9]);
        assert_eq!(
            df.external_images("release", &none).unwrap(),
            ["rust:1.83-slim-bookworm", "node:20-alpine", "debian:bookworm-slim"]
        );
        assert_eq!(
            df.external_images("TEST", &args(&[("RUST_VERSION", "1.84")])).unwrap(),
            ["rust:1.84-slim-bookworm", "postgres:16"]
        );
        assert_eq!(df.external_images("export", &none).unwrap(), ["rust:1.83-slim-bookworm"]);
        assert_eq!(df.parent(&df.stages[9], &none).unwrap(), Base::Scratch);
        assert_eq!(df.stages[8].line, 33);
    }

    #[test]
    fn unnamed_stages_by_index() {
        let df = parse(
            "FROM golang:1.23\n\
             RUN go build -o /app\n\
             FROM alpine:3.21\n\
             COPY --from=0 /app /app\n",
        )
        .unwrap();
        assert!(df.stage_names().is_empty());
        assert_eq!(df.dependencies("", &no_args()).unwrap(), [0, 1]);
        assert_eq!(df.external_images("", &no_args()).unwrap(), ["golang:1.23", "alpine:3.21"]);
        assert_eq!(
            df.find_stage("build", "Dockerfile").unwrap_err().to_string(),
            "unknown stage 'build' in Dockerfile; it has no named stages"
        );
    }

    #[test]
    fn scratch_and_self_named_image() {
        let df = parse("FROM scratch\nFROM alpine AS alpine\nFROM alpine\n").unwrap();
        let none = no_args();
        assert_eq!(df.parent(&df.stages[0], &none).unwrap(), Base::Scratch);
        assert_eq!(df.parent(&df.stages[1], &none).unwrap(), Base::Image("alpine".into()));
        assert_eq!(df.parent(&df.stages[2], &none).unwrap(), Base::Stage(1));
        assert_eq!(df.external_images("", &none).unwrap(), ["alpine"]);
    }

    #[test]
    fn structural_errors() {
        assert_eq!(err(""), "no FROM instruction found");
        assert_eq!(err("# syntax=docker/dockerfile:1\nARG X=1\n"), "no FROM instruction found");
        assert_eq!(
            err("ARG X=1\nRUN echo hi\nFROM alpine\n"),
            "line 2: RUN comes before the first FROM; only ARG may appear there"
        );
        assert_eq!(
            err("FROM a AS build\nFROM b AS Build\n"),
            "duplicate stage name 'build' on line 2 (already used on line 1)"
        );
        assert_eq!(
            err("FROM a AS 1st\n"),
            "invalid stage name '1st' on line 1: stage names start with a letter \
             and use only letters, digits, '-', '_' and '.'"
        );
        assert!(err("FROM a AS my/stage\n").starts_with("invalid stage name 'my/stage'"));
        assert_eq!(err("FROM alpine\nFROM\n"), "line 2: FROM has no image or stage name");
        assert_eq!(err("FROM --platform=linux/amd64\n"), "line 1: FROM has no image or stage name");
        assert_eq!(err("FROM a b\n"), "line 1: FROM takes an image and an optional 'AS name', got 'a b'");
        let df = parse("ARG BASE\nFROM ${BASE}\n").unwrap();
        assert_eq!(
            df.external_images("", &no_args()).unwrap_err().to_string(),
            "FROM ${BASE} (line 2) resolves to an empty name"
        );
    }

    #[test]
    fn references_to_later_stages() {
        assert_eq!(
            err("FROM alpine AS a\nFROM build AS b\n\nFROM golang AS build\n"),
            "stage 'build' is used on line 2 before it is defined on line 4"
        );
        assert_eq!(
            err("FROM alpine AS a\nCOPY --from=web /x /x\nFROM node AS web\n"),
            "stage 'web' is used on line 2 before it is defined on line 3"
        );
        assert_eq!(
            err("FROM alpine\nCOPY --from=1 /x /x\nFROM node\n"),
            "stage '1' is used on line 2 before it is defined on line 3"
        );
        assert_eq!(
            err("FROM alpine AS a\nRUN --mount=from=a,target=/x true\n"),
            "stage 'a' refers to itself on line 2"
        );
        assert_eq!(
            err("ARG V=3\nFROM alpine\nRUN --mount=from=py:${V},target=/p true\n"),
            "line 3: BuildKit does not expand variables in --from (py:${V}); \
             use a stage `FROM py:${V} AS <alias>` instead"
        );
        assert_eq!(
            err("FROM alpine\nCOPY --from=4 /x /x\n"),
            "line 2: --from=4 names no stage; the file has 1 stages, numbered from 0"
        );
        // Resolved FROMs are checked too.
        let df = parse("ARG S=a\nFROM alpine AS a\nFROM ${S} AS b\nFROM node AS c\n").unwrap();
        let e = df.parent(&df.stages[1], &args(&[("S", "c")])).unwrap_err();
        assert_eq!(e.to_string(), "stage 'c' is used on line 3 before it is defined on line 4");
    }

    #[test]
    fn find_stage_and_suggestions() {
        let df = parse(
            "FROM rust AS base\nFROM base AS dependencies\nFROM base AS lint\n\
             FROM base AS test\nFROM base AS release\n",
        )
        .unwrap();
        assert_eq!(df.find_stage("TEST", "docker/Dockerfile").unwrap().index, 3);
        assert_eq!(
            df.find_stage("tset", "docker/Dockerfile").unwrap_err().to_string(),
            "unknown stage 'tset' in docker/Dockerfile; valid stages: \
             base, dependencies, lint, test, release (did you mean 'test'?)"
        );
        assert_eq!(
            df.find_stage("deploy", "Dockerfile").unwrap_err().to_string(),
            "unknown stage 'deploy' in Dockerfile; valid stages: \
             base, dependencies, lint, test, release"
        );
        let e = df.dependencies("relase", &no_args()).unwrap_err().to_string();
        assert!(e.ends_with("(did you mean 'release'?)"), "{e}");
    }

    #[test]
    fn nearest_candidates() {
        let names = ["base", "dependencies", "lint", "test", "release"];
        assert_eq!(nearest("tset", &names), Some("test"));
        assert_eq!(nearest("Releas", &names), Some("release"));
        assert_eq!(nearest("dependecies", &names), Some("dependencies"));
        assert_eq!(nearest("lnt", &names), Some("lint"));
        assert_eq!(nearest("deploy", &names), None);
        assert_eq!(nearest("x", &names), None);
        assert_eq!(nearest("test", &[]), None);
    }

    #[test]
    fn crlf_and_bom() {
        let text = "\u{feff}# escape=`\r\nFROM a AS one\r\nRUN echo `\r\n  \r\n  hi\r\nFROM one\r\n";
        let df = parse(text).unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(summary(&df)[1], (String::new(), "one".to_string(), 6));
    }

    #[test]
    fn platform_arg_selects_stage() {
        // The shape of BuildKit's own Dockerfile.
        let df = parse(
            "ARG BUILDKIT_DEBUG\n\
             FROM alpine AS buildkit-linux\n\
             FROM buildkit-linux AS buildkit-linux-debug\n\
             FROM mcr.microsoft.com/windows/nanoserver AS buildkit-windows\n\
             FROM buildkit-${TARGETOS}${BUILDKIT_DEBUG:+-debug} AS buildkit\n",
        )
        .unwrap();
        let linux = args(&[("TARGETOS", "linux")]);
        assert_eq!(df.dependencies("buildkit", &linux).unwrap(), [0, 3]);
        let debug = args(&[("TARGETOS", "linux"), ("BUILDKIT_DEBUG", "1")]);
        assert_eq!(df.dependencies("buildkit", &debug).unwrap(), [0, 1, 3]);
        assert_eq!(
            df.external_images("buildkit", &no_args()).unwrap_err().to_string(),
            "FROM buildkit- (line 5) names no stage; stages that match \
             buildkit-${TARGETOS}${BUILDKIT_DEBUG:+-debug}: \
             buildkit-linux, buildkit-linux-debug, buildkit-windows"
        );
    }

    fn platform(target: &str) -> BTreeMap<String, String> {
        platform_args(target, "linux/amd64").unwrap()
    }

    #[test]
    fn platform_args_of_platforms() {
        let expected: BTreeMap<String, String> = [
            ("BUILDARCH", "amd64"),
            ("BUILDOS", "linux"),
            ("BUILDOSVERSION", ""),
            ("BUILDPLATFORM", "linux/amd64"),
            ("BUILDVARIANT", ""),
            ("TARGETARCH", "arm"),
            ("TARGETOS", "linux"),
            ("TARGETOSVERSION", ""),
            ("TARGETPLATFORM", "linux/arm/v7"),
            ("TARGETVARIANT", "v7"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(platform_args("linux/arm/v7", "linux/amd64").unwrap(), expected);
        let cases = [
            ("linux/amd64", "linux/amd64", "amd64", ""),
            ("linux/arm", "linux/arm/v7", "arm", "v7"),
            ("linux/arm/v6", "linux/arm/v6", "arm", "v6"),
            ("linux/armhf", "linux/arm/v7", "arm", "v7"),
            ("linux/arm/7", "linux/arm/v7", "arm", "v7"),
            // BuildKit normalizes arm64/v8 to arm64 (docker/buildx#1652).
            ("linux/arm64/v8", "linux/arm64", "arm64", ""),
            ("linux/aarch64", "linux/arm64", "arm64", ""),
            ("linux/arm64/v9.0", "linux/arm64/v9", "arm64", "v9"),
            ("Linux/X86_64", "linux/amd64", "amd64", ""),
            ("linux/amd64/v1", "linux/amd64", "amd64", ""),
            ("linux/amd64/v3", "linux/amd64/v3", "amd64", "v3"),
            ("linux/i386", "linux/386", "386", ""),
            ("linux/riscv64", "linux/riscv64", "riscv64", ""),
            ("macos/arm64", "darwin/arm64", "arm64", ""),
        ];
        for (given, full, arch, variant) in cases {
            let a = platform(given);
            assert_eq!(a["TARGETPLATFORM"], full, "{given}");
            assert_eq!((a["TARGETARCH"].as_str(), a["TARGETVARIANT"].as_str()), (arch, variant), "{given}");
        }
        let windows = platform_args("windows(10.0.17763)/amd64", "windows(10.0.17763)/amd64").unwrap();
        assert_eq!(windows["TARGETPLATFORM"], "windows(10.0.17763)/amd64");
        assert_eq!(windows["TARGETOSVERSION"], "10.0.17763");
        assert_eq!(windows["BUILDPLATFORM"], "windows/amd64");
        for bad in ["linux", "", "linux/", "linux/arm64/", "/amd64", "linux/amd64/v2/x", "linux/*", "linux(1/amd64"] {
            let e = platform_args(bad, "linux/amd64").unwrap_err().to_string();
            assert_eq!(e, format!("invalid platform '{bad}': use os/arch or os/arch/variant, e.g. linux/arm64"));
        }
        assert!(platform_args("linux/amd64", "linux").is_err());
    }

    #[test]
    fn host_platform_names() {
        assert_eq!(go_platform("linux", "x86_64", true), "linux/amd64");
        assert_eq!(go_platform("macos", "aarch64", true), "darwin/arm64");
        assert_eq!(go_platform("windows", "x86", true), "windows/386");
        assert_eq!(go_platform("linux", "powerpc64", true), "linux/ppc64le");
        assert_eq!(go_platform("linux", "powerpc64", false), "linux/ppc64");
        assert_eq!(go_platform("linux", "s390x", false), "linux/s390x");
        assert_eq!(go_platform("linux", "loongarch64", true), "linux/loong64");
        assert_eq!(go_platform("freebsd", "riscv64", true), "freebsd/riscv64");
        let host = host_platform();
        assert!(platform_args(&host, &host).is_ok(), "{host}");
    }

    #[test]
    fn glob() {
        assert!(glob_match("base-*", "base-alpine"));
        assert!(glob_match("*-slim-*", "py-slim-x"));
        assert!(!glob_match("base-*", "based"));
    }

    #[test]
    fn from_lines_with_platform_args() {
        let df = parse(
            "FROM --platform=$BUILDPLATFORM tonistiigi/xx:1.6 AS xx\n\
             FROM node-$TARGETARCH\n\
             FROM golang:1.23-alpine AS base-amd64\n\
             FROM arm64v8/golang:1.23-alpine AS base-arm64\n\
             FROM base-${TARGETARCH} AS final\n\
             COPY --from=xx / /\n\
             FROM something-${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}\n",
        )
        .unwrap();
        let (amd64, arm64) = (platform("linux/amd64"), platform("linux/arm64/v8"));
        assert_eq!(df.resolve_base(&df.stages[1], &arm64).unwrap(), "node-arm64");
        assert_eq!(df.resolve_base(&df.stages[1], &amd64).unwrap(), "node-amd64");
        assert_eq!(df.parent(&df.stages[0], &arm64).unwrap(), Base::Image("tonistiigi/xx:1.6".into()));
        assert_eq!(df.dependencies("final", &amd64).unwrap(), [0, 2, 4]);
        assert_eq!(df.dependencies("final", &arm64).unwrap(), [0, 3, 4]);
        assert_eq!(df.external_images("final", &arm64).unwrap(), ["tonistiigi/xx:1.6", "arm64v8/golang:1.23-alpine"]);
        assert_eq!(df.resolve_base(&df.stages[5], &platform("linux/arm/v7")).unwrap(), "something-linux-arm-v7");
        assert_eq!(df.resolve_base(&df.stages[5], &arm64).unwrap(), "something-linux-arm64");
        let e = df.dependencies("final", &platform("linux/riscv64")).unwrap_err().to_string();
        assert_eq!(
            e,
            "FROM base-riscv64 (line 5) names no stage; stages that match base-${TARGETARCH}: base-amd64, base-arm64"
        );
        // A --build-arg of a platform arg wins over the automatic value...
        let mut given = arm64.clone();
        given.insert("TARGETARCH".into(), "amd64".into());
        assert_eq!(df.dependencies("final", &given).unwrap(), [0, 2, 4]);
        // ...but a global default for one wins over both, as BuildKit uses it unless a
        // --build-arg names the arg, which the map cannot tell apart.
        let df = parse("ARG TARGETARCH=amd64\nARG TARGETOS\nFROM tool-$TARGETOS-$TARGETARCH\n").unwrap();
        assert_eq!(df.resolve_base(&df.stages[0], &arm64).unwrap(), "tool-linux-amd64");
    }

    #[test]
    fn expansion_forms_in_from() {
        let df = parse(
            "ARG IMAGE=docker.io/library/node:20-alpine\n\
             ARG VERSION=1.2.3\n\
             ARG FLAVOR=alpine-debug\n\
             FROM alpine AS base-alpine\n\
             FROM base-alpine AS base-alpine-debug\n\
             FROM ${IMAGE#docker.io/}\n\
             FROM ${IMAGE%%:*}:${VERSION//./-}\n\
             FROM ${IMAGE/alpine/slim}\n\
             FROM base-${FLAVOR%-debug}${DEBUG:+-debug} AS picked\n\
             FROM \"base-${FLAVOR%%-*}\"'-debug' AS quoted\n",
        )
        .unwrap();
        let resolve = |i: usize, a: &BTreeMap<String, String>| df.resolve_base(&df.stages[i], a).unwrap();
        assert_eq!(resolve(2, &no_args()), "library/node:20-alpine");
        assert_eq!(resolve(3, &no_args()), "docker.io/library/node:1-2-3");
        assert_eq!(resolve(4, &no_args()), "docker.io/library/node:20-slim");
        assert_eq!(df.parent(&df.stages[5], &no_args()).unwrap(), Base::Stage(0));
        assert_eq!(df.parent(&df.stages[6], &no_args()).unwrap(), Base::Stage(1));
        let debug = args(&[("FLAVOR", "alpine")]);
        assert_eq!(df.parent(&df.stages[5], &debug).unwrap(), Base::Stage(0));
        // A literal FROM goes through the same lexer: quotes are removed.
        let df = parse("FROM alpine AS a\nFROM \"a\" AS b\nFROM 'b'\n").unwrap();
        assert_eq!(df.dependencies("", &no_args()).unwrap(), [0, 1, 2]);
    }

    #[test]
    fn expansion_errors_name_the_line() {
        let cases = [
            (
                "FROM alpine\nFROM ${BASE:=alpine}\n",
                "line 2: FROM ${BASE:=alpine}: unsupported modifier (:=) in substitution",
            ),
            ("FROM ${BASE\n", "line 1: FROM ${BASE: syntax error: missing '}'"),
            ("FROM base${X:0:3}\n", "line 1: FROM base${X:0:3}: unsupported modifier (:0) in substitution"),
            ("FROM ${X^^}\n", "line 1: FROM ${X^^}: unsupported modifier (^) in substitution"),
            (
                "FROM 'alpine\n",
                "line 1: FROM 'alpine: unexpected end of statement while looking for matching single-quote",
            ),
            ("ARG A=1 B=${A/x}\nFROM a\n", "line 1: ARG B=${A/x}: syntax error: missing '/' in ${}"),
            (
                "ARG A=${B#\\q}\nFROM a\n",
                "line 1: ARG A=${B#\\q}: invalid pattern (\\q) in substitution: invalid escape '\\q'",
            ),
            (
                "FROM --platform=${P:x} alpine\n",
                "line 1: FROM --platform=${P:x}: unsupported modifier (:x) in substitution",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(err(text), expected);
        }
        // `:?` fails on the values: when resolving, for any stage, as BuildKit resolves them all.
        let df = parse(
            "ARG BASE\n\
             ARG VERSION\n\
             ARG TAG=\"${VERSION:?give VERSION}\"\n\
             FROM alpine AS tools\n\
             FROM ${BASE:?set-BASE} AS test\n",
        )
        .unwrap();
        assert_eq!(
            df.dependencies("tools", &args(&[("TAG", "1")])).unwrap_err().to_string(),
            "line 5: FROM ${BASE:?set-BASE}: BASE: set-BASE"
        );
        assert_eq!(
            df.resolve_base(&df.stages[0], &args(&[("BASE", "x")])).unwrap_err().to_string(),
            "line 3: ARG TAG=\"${VERSION:?give VERSION}\": VERSION: give VERSION"
        );
        let ok = args(&[("BASE", "node:20"), ("VERSION", "1")]);
        assert_eq!(df.external_images("test", &ok).unwrap(), ["node:20"]);
        assert!(df.resolve_base(&df.stages[1], &no_args()).is_err(), "BASE unset: the FROM line fails as in BuildKit");
        // A global ARG sees only the ARGs before it.
        let df = parse("ARG TAG=${V:-none}\nARG V=1\nFROM x:$TAG\n").unwrap();
        assert_eq!(df.resolve_base(&df.stages[0], &args(&[("V", "2")])).unwrap(), "x:none");
        // Unquoted, the space splits the ARG, as in BuildKit, and the first half is cut short.
        let e = err("ARG TAG=${VERSION:?give VERSION}\nFROM a\n");
        assert_eq!(e, "line 1: ARG TAG=${VERSION:?give: syntax error: missing '}'");
        // An empty base fails too, needed or not.
        let df = parse("ARG DEV\nFROM alpine AS app\nFROM ${DEV} AS dev\n").unwrap();
        let e = df.dependencies("app", &no_args()).unwrap_err().to_string();
        assert_eq!(e, "FROM ${DEV} (line 3) resolves to an empty name");
    }
}
