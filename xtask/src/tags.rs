//! Image tags, OCI labels and image reference validation.
//!
//! Tags follow docker/metadata-action configured the usual way
//! (`type=semver` with `{{version}}`, `{{major}}.{{minor}}`, `{{major}}`;
//! `type=sha`; `type=ref,event=branch`; `type=ref,event=pr`), with these
//! differences:
//! - the version comes from package.json on every build that is not a pull
//!   request, not only on tag pushes; a pushed tag must agree with it;
//! - pull request builds get no version tags and no `latest`, so unreviewed
//!   code never moves a release tag; a `pull_request_target` run is one too,
//!   although its ref is the base branch;
//! - the exact-version tag keeps build metadata (`1.2.3+meta` gives
//!   `1.2.3-meta`, metadata-action's `+` to `-` sanitizing), where
//!   metadata-action's `{{version}}` would drop it;
//! - `0.y.z` gets no bare `0` tag, as the metadata-action README recommends;
//! - branch tags are cut to 128 characters and stripped of leading `.` and
//!   `-`, so docker accepts them.
//!
//! Everything here is pure: callers read files, git and the environment.

use anyhow::{anyhow, bail, ensure, Context, Result};

/// What the tags of one build are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagInputs {
    /// `version` from package.json.
    pub version: String,
    /// The git tag being built (`v1.2.3`), on release builds.
    pub git_tag: Option<String>,
    /// Full commit sha.
    pub sha: String,
    /// Branch being built; `None` on a detached HEAD or a tag build.
    pub branch: Option<String>,
    /// Set on pull request builds.
    pub pull_request: Option<PullRequest>,
}

/// A pull request build; `number` is `None` when the event did not say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullRequest {
    pub number: Option<u64>,
}

/// Tag parts (no image name) in order: version tags, `latest`, `sha-…`,
/// then the branch or `pr-N` tag.
pub fn image_tags(inputs: &TagInputs) -> Result<Vec<String>> {
    let version = &inputs.version;
    let Some(release_tags) = version_tags(version) else {
        bail!(
            "package.json version '{version}' is not a semantic version: \
             use MAJOR.MINOR.PATCH with an optional -PRERELEASE and +BUILD, e.g. 1.2.3 or 1.2.3-rc.1"
        );
    };
    if let Some(tag) = &inputs.git_tag {
        let tag_version = tag.strip_prefix('v').unwrap_or(tag);
        ensure!(
            version_tags(tag_version).is_some(),
            "git tag '{tag}' is not a version tag: release tags are 'v' and the package.json version, e.g. v{version}"
        );
        ensure!(
            tag_version == version,
            "git tag '{tag}' does not match package.json version '{version}': \
             set the package.json version to {tag_version} or tag the commit v{version}"
        );
    }
    let mut tags = if inputs.pull_request.is_none() { release_tags } else { Vec::new() };
    tags.push(format!("sha-{}", short_sha(&inputs.sha)?));
    if let Some(pull_request) = inputs.pull_request {
        tags.extend(pull_request.number.map(|number| format!("pr-{number}")));
    } else if let Some(tag) = inputs.branch.as_deref().and_then(branch_tag).filter(|tag| !tags.contains(tag)) {
        // A branch named `latest` or `1.2` does not repeat that tag.
        tags.push(tag);
    }
    tags.iter().try_for_each(|tag| validate_tag(tag))?;
    Ok(tags)
}

/// The parts of [`TagInputs`] that GitHub Actions provides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GithubRef {
    pub git_tag: Option<String>,
    pub sha: Option<String>,
    pub branch: Option<String>,
    pub pull_request: Option<PullRequest>,
}

/// Reads the build's ref from a GitHub Actions environment, given as a lookup
/// such as `|name| std::env::var(name).ok()`; `read_file` reads the event
/// payload that `GITHUB_EVENT_PATH` names.
///
/// Like metadata-action, `GITHUB_REF` and `GITHUB_SHA` decide the tags:
/// `GITHUB_REF_NAME` and `GITHUB_HEAD_REF` repeat parts of `GITHUB_REF`. The
/// exception is `pull_request_target`: its ref is the base branch
/// (`refs/heads/<base>`), but it runs for a pull request, so it is a pull
/// request build, numbered when the event payload says the number.
pub fn github_ref(
    env: impl Fn(&str) -> Option<String>,
    read_file: impl Fn(&str) -> Option<String>,
) -> Result<GithubRef> {
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    let mut found = GithubRef { sha: var("GITHUB_SHA"), ..GithubRef::default() };
    let Some(git_ref) = var("GITHUB_REF") else { return Ok(found) };
    if var("GITHUB_EVENT_NAME").as_deref() == Some("pull_request_target") {
        let payload = var("GITHUB_EVENT_PATH").and_then(|path| read_file(&path));
        let event: serde_json::Value = payload.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
        let number = event["number"].as_u64().or(event["pull_request"]["number"].as_u64());
        found.pull_request = Some(PullRequest { number });
    } else if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        found.branch = Some(branch.to_string());
    } else if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        found.git_tag = Some(tag.to_string());
    } else if let Some(rest) = git_ref.strip_prefix("refs/pull/") {
        let number = rest.split('/').next().unwrap_or_default().parse().map_err(|_| {
            anyhow!("GITHUB_REF '{git_ref}' has no pull request number: expected refs/pull/<number>/merge")
        })?;
        found.pull_request = Some(PullRequest { number: Some(number) });
    }
    Ok(found)
}

/// The tags a release build of `version` gets: the exact version and, unless
/// it is a pre-release, `X.Y`, `X` (not `0`) and `latest`. `None` when
/// `version` is not strict SemVer 2.0.0 (without the `v` prefix).
fn version_tags(version: &str) -> Option<Vec<String>> {
    let (rest, build) = version.split_once('+').map_or((version, None), |(rest, build)| (rest, Some(build)));
    let (core, pre) = rest.split_once('-').map_or((rest, None), |(core, pre)| (core, Some(pre)));
    let [major, minor, patch] = core.split('.').collect::<Vec<_>>()[..] else { return None };
    let identifier = |id: &str| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    // Numeric pre-release identifiers have no leading zero; build metadata may.
    let pre_identifier =
        |id: &str| identifier(id) && (is_numeric_identifier(id) || id.bytes().any(|b| !b.is_ascii_digit()));
    let valid = [major, minor, patch].into_iter().all(is_numeric_identifier)
        && pre.is_none_or(|pre| pre.split('.').all(pre_identifier))
        && build.is_none_or(|build| build.split('.').all(identifier));
    if !valid {
        return None;
    }
    let (major, minor): (u64, u64) = (major.parse().ok()?, minor.parse().ok()?);
    let mut tags = vec![sanitize_tag(version)];
    if pre.is_none() {
        tags.push(format!("{major}.{minor}"));
        if major != 0 {
            tags.push(major.to_string());
        }
        tags.push("latest".to_string());
    }
    Some(tags)
}

/// Digits without a leading zero, as semver requires of numbers.
fn is_numeric_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// metadata-action's sanitizing: each run of characters a tag may not
/// contain becomes one `-`.
fn sanitize_tag(s: &str) -> String {
    let valid = |c: &char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let chars: Vec<char> = s.chars().collect();
    let runs = chars.chunk_by(|a, b| valid(a) == valid(b));
    runs.map(|run| if valid(&run[0]) { run.iter().collect() } else { "-".to_string() }).collect()
}

fn branch_tag(branch: &str) -> Option<String> {
    let tag: String = sanitize_tag(branch).trim_start_matches(['.', '-']).chars().take(128).collect();
    (!tag.is_empty()).then_some(tag)
}

fn short_sha(sha: &str) -> Result<String> {
    ensure!(
        sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
        "commit sha '{sha}' is not a hexadecimal commit id: pass the full sha, e.g. from `git rev-parse HEAD`"
    );
    Ok(sha[..7].to_ascii_lowercase())
}

/// Values for the `org.opencontainers.image.*` labels; empty ones are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelInputs {
    pub title: String,
    pub description: String,
    pub version: String,
    /// Full commit sha.
    pub revision: String,
    /// Unix seconds, see [`created_timestamp`].
    pub created: Option<i64>,
    pub source: String,
    /// SPDX expression, package.json `license`.
    pub licenses: String,
    pub url: String,
}

/// OCI labels sorted by key, as metadata-action emits them.
pub fn oci_labels(meta: &LabelInputs) -> Vec<(String, String)> {
    let created = meta.created.map(rfc3339_utc).unwrap_or_default();
    [
        ("created", created.as_str()),
        ("description", meta.description.as_str()),
        ("licenses", meta.licenses.as_str()),
        ("revision", meta.revision.as_str()),
        ("source", meta.source.as_str()),
        ("title", meta.title.as_str()),
        ("url", meta.url.as_str()),
        ("version", meta.version.as_str()),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(key, value)| (format!("org.opencontainers.image.{key}"), value.to_string()))
    .collect()
}

/// The image creation time: `SOURCE_DATE_EPOCH` when set, else the commit
/// time, so that two builds of one commit get the same label.
pub fn created_timestamp(source_date_epoch: Option<&str>, commit_time: i64) -> Result<i64> {
    let Some(s) = source_date_epoch.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(commit_time) };
    s.parse().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit())).with_context(|| {
        format!(
            "SOURCE_DATE_EPOCH '{s}' is not a unix timestamp: set it to whole seconds since 1970, \
             e.g. $(git log -1 --format=%ct), or unset it"
        )
    })
}

/// `2020-01-10T00:30:00Z` from unix seconds, the date by Howard Hinnant's
/// days-to-date algorithm for the proleptic Gregorian calendar
/// (http://howardhinnant.github.io/date_algorithms.html).
fn rfc3339_utc(secs: i64) -> String {
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", of_day / 3600, of_day % 3600 / 60, of_day % 60)
}

/// An https URL of the source repository, from package.json `repository`
/// (string or `{ "url": … }`) or else from the git remote URL.
pub fn source_url(repository: Option<&serde_json::Value>, remote: Option<&str>) -> Option<String> {
    let from_package = repository.and_then(|value| value.as_str().or(value["url"].as_str()));
    from_package.and_then(https_repo_url).or_else(|| remote.and_then(https_repo_url))
}

/// `github:o/r`, `o/r`, `git+https://host/o/r.git`, `git@host:o/r.git`,
/// `ssh://git@host/o/r.git` and the like, as `https://host/o/r`.
fn https_repo_url(spec: &str) -> Option<String> {
    // npm allows `#committish` after any form; it is not part of the repository.
    let spec = spec.trim().split('#').next().unwrap_or_default();
    let (host, path) = if let Some((scheme, rest)) = spec.split_once("://") {
        let (authority, path) = rest.split_once('/')?;
        // Credentials never belong in a label.
        let host_port = authority.rsplit('@').next()?;
        match scheme.strip_prefix("git+").unwrap_or(scheme) {
            "https" | "http" => (host_port, path),
            // ssh and git ports are not the web port.
            "ssh" | "git" => (host_port.split(':').next()?, path),
            _ => return None,
        }
    } else {
        match spec.split_once(':') {
            Some(("github", path)) => ("github.com", path),
            Some(("gitlab", path)) => ("gitlab.com", path),
            Some(("bitbucket", path)) => ("bitbucket.org", path),
            Some(("gist", path)) => ("gist.github.com", path),
            // scp-like `[user@]host:path`; the dot keeps `file:../r` out.
            Some((prefix, path)) => (prefix.rsplit('@').next().filter(|host| host.contains('.'))?, path),
            None if spec.matches('/').count() == 1 && !spec.contains('@') => ("github.com", spec),
            None => return None,
        }
    };
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    (check_registry(host).is_ok() && !path.is_empty()).then(|| format!("https://{host}/{path}"))
}

/// A tag as docker accepts it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
/// Exactly the tags that [`branch_tag`] leaves as they are.
fn validate_tag(tag: &str) -> Result<()> {
    ensure!(
        branch_tag(tag).as_deref() == Some(tag),
        "invalid tag '{tag}': a tag may contain only letters, digits, '_', '.' and '-', \
         may not start with '.' or '-' and has at most 128 characters"
    );
    Ok(())
}

/// Whether docker reads `first`, the first of several components of an image
/// name, as a registry rather than a Docker Hub namespace.
fn is_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost"
}

/// A repository (image name without tag or digest), e.g. `ghcr.io/o/app`,
/// `localhost:5000/app` or `app`.
///
/// As in docker, the path after the registry may have at most 255
/// characters. Unlike docker, an upper-case first component is an error
/// rather than a registry name.
pub fn validate_repository(name: &str) -> Result<()> {
    ensure!(
        !name.is_empty(),
        "invalid image name '': the image name is empty: give a name such as 'my-app' or 'ghcr.io/owner/my-app'"
    );
    if let Some((_, rest)) = name.split_once("://") {
        bail!("invalid image name '{name}': an image name has no scheme: write '{rest}'");
    }
    let path = match name.split_once('/') {
        Some((first, rest)) if is_registry(first) => {
            check_registry(first).map_err(|why| anyhow!("invalid image name '{name}': registry '{first}' {why}"))?;
            rest
        }
        _ => name,
    };
    ensure!(
        path.len() <= 255,
        "invalid image name '{name}': the path after the registry has {} characters, at most 255 are allowed",
        path.len()
    );
    if let Some(component) = path.split('/').find(|component| !is_path_component(component)) {
        let why = if is_path_component(&component.to_ascii_lowercase()) {
            "repository names must be lower-case".to_string()
        } else if component.is_empty() {
            "it has an empty path component: remove the leading, trailing or doubled '/'".to_string()
        } else {
            format!(
                "path component '{component}' may contain only lower-case letters and digits, \
                 separated by '.', '_', '__' or runs of '-'"
            )
        };
        bail!("invalid image name '{name}': {why}");
    }
    // docker reads a bare 64-hex name as an image id.
    ensure!(
        path != name || name.len() != 64 || !is_lower_hex(name),
        "invalid image name '{name}': a 64-character hex name is read as an image id: choose another name"
    );
    Ok(())
}

/// Lower-case alphanumeric runs joined by `.`, `_`, `__` or runs of `-`.
fn is_path_component(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut separators = component.split(alnum).filter(|separator| !separator.is_empty());
    let separators_ok = separators.all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-'));
    component.starts_with(alnum) && component.ends_with(alnum) && separators_ok
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A registry `host[:port]`, e.g. `ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`.
fn validate_registry(registry: &str) -> Result<()> {
    if let Some((_, rest)) = registry.split_once("://") {
        bail!("invalid registry '{registry}': give the host without a scheme, e.g. '{rest}'");
    }
    ensure!(
        !registry.contains('/'),
        "invalid registry '{registry}': a registry is host[:port] only: put the namespace in the image name"
    );
    check_registry(registry).map_err(|why| anyhow!("invalid registry '{registry}': {why}"))?;
    ensure!(
        is_registry(registry),
        "invalid registry '{registry}': docker would read it as a Docker Hub namespace: \
         a registry needs a '.' or a ':port', or is 'localhost'"
    );
    Ok(())
}

/// A registry with an optional namespace, as `--registry` and `[image]
/// registry` take it (`ghcr.io/acme`), without a trailing `/` and with the
/// namespace lower-cased, as metadata-action lower-cases image names: a GitHub
/// owner may have capitals, an image name may not. The host is kept as written.
pub fn registry_namespace(registry: &str) -> Result<String> {
    let registry = registry.trim_end_matches('/');
    let (host, namespace) = registry.split_once('/').map_or((registry, None), |(host, path)| (host, Some(path)));
    validate_registry(host)?;
    let Some(namespace) = namespace else { return Ok(registry.to_string()) };
    let lowered = format!("{host}/{}", namespace.to_ascii_lowercase());
    validate_repository(&lowered)?;
    Ok(lowered)
}

/// Checks `host[:port]`; the error completes a sentence about the registry.
fn check_registry(registry: &str) -> Result<(), String> {
    let port = if let Some(rest) = registry.strip_prefix('[') {
        let (address, after) = rest.split_once(']').ok_or("has an unclosed '[': write an IPv6 address as [::1]")?;
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(format!(
                "has an invalid IPv6 address '{address}': only hex digits and ':' are allowed, no zone"
            ));
        }
        match after.strip_prefix(':') {
            None if !after.is_empty() => return Err("needs ':' between the IPv6 address and the port".into()),
            port => port,
        }
    } else {
        let (host, port) = registry.split_once(':').map_or((registry, None), |(host, port)| (host, Some(port)));
        let alnum = |c: char| c.is_ascii_alphanumeric();
        let label_ok = |label: &str| {
            label.starts_with(alnum) && label.ends_with(alnum) && label.chars().all(|c| alnum(c) || c == '-')
        };
        if !host.split('.').all(label_ok) {
            return Err(format!(
                "has an invalid host name '{host}': use letters, digits and '-' between dots, \
                 with no '-' at either end of a part"
            ));
        }
        port
    };
    match port {
        Some(port) if !port.bytes().all(|b| b.is_ascii_digit()) || !port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Err(format!("has an invalid port '{port}': use a number from 1 to 65535"))
        }
        _ => Ok(()),
    }
}

/// A full reference `name[:tag][@sha256:<64 hex>]`.
pub fn validate_reference(reference: &str) -> Result<()> {
    let (name, tag, digest) = split_reference(reference);
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        ensure!(
            hex.len() == 64 && is_lower_hex(hex),
            "invalid digest '{digest}' in '{reference}': a digest is 'sha256:' and 64 lower-case hex digits"
        );
    }
    validate_repository(name)?;
    tag.map_or(Ok(()), validate_tag)
}

/// `name[:tag][@digest]` as its name, tag and digest. A ':' after the last '/' starts the tag; an earlier
/// one is a registry port.
pub fn split_reference(reference: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = reference.split_once('@').map_or((reference, None), |(rest, digest)| (rest, Some(digest)));
    match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag), digest),
        _ => (rest, None, digest),
    }
}

/// `{"tags": [...], "labels": {...}}` for `cargo xtask tags --json`; `refs`
/// are full references such as `ghcr.io/o/app:1.2.3`.
pub fn to_json(refs: &[String], labels: &[(String, String)]) -> String {
    let labels: std::collections::BTreeMap<_, _> = labels.iter().cloned().collect();
    // Written by hand so that "tags" stays first: a serde_json object sorts its keys.
    format!("{{\"tags\":{},\"labels\":{}}}", serde_json::json!(refs), serde_json::json!(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SHA: &str = "983315b5e8d46e46fc4c49869e85e7ee5fb289ba";

    fn inputs(version: &str) -> TagInputs {
        TagInputs { version: version.to_string(), sha: SHA.to_string(), ..TagInputs::default() }
    }

    fn tags(inputs: &TagInputs) -> Vec<String> {
        image_tags(inputs).unwrap_or_else(|e| panic!("{inputs:?}: {e}"))
    }

    #[test]
    fn version_tags() {
        let cases: &[(&str, &[&str])] = &[
            ("1.2.3", &["1.2.3", "1.2", "1", "latest", "sha-983315b"]),
            ("10.20.30", &["10.20.30", "10.20", "10", "latest", "sha-983315b"]),
            // Major zero gets no `0` tag, as the metadata-action README advises.
            ("0.1.2", &["0.1.2", "0.1", "latest", "sha-983315b"]),
            ("0.0.1", &["0.0.1", "0.0", "latest", "sha-983315b"]),
            ("1.2.3-rc.1", &["1.2.3-rc.1", "sha-983315b"]),
            ("2.0.8-beta.67", &["2.0.8-beta.67", "sha-983315b"]),
            ("1.0.0-x-y-z.--", &["1.0.0-x-y-z.--", "sha-983315b"]),
            // `+` is not allowed in a tag; metadata-action turns it into `-`.
            ("1.2.3+meta", &["1.2.3-meta", "1.2", "1", "latest", "sha-983315b"]),
            ("1.2.3-rc.1+build.5", &["1.2.3-rc.1-build.5", "sha-983315b"]),
        ];
        for (version, expected) in cases {
            assert_eq!(tags(&inputs(version)), *expected, "{version}");
        }
    }

    #[test]
    fn invalid_versions() {
        for version in [
            "",
            "1",
            "1.2",
            "v1.2.3",
            "1.2.3.4",
            "01.2.3",
            "1.02.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3-rc..1",
            "1.2.3+",
            "1.2.3+a_b",
            "1.2.3-ü",
            " 1.2.3",
        ] {
            let err = image_tags(&inputs(version)).unwrap_err().to_string();
            assert!(err.starts_with(&format!("package.json version '{version}' is not a semantic version")), "{err}");
        }
        // Leading zeros are fine in build metadata.
        assert!(image_tags(&inputs("1.2.3+001")).is_ok());
    }

    #[test]
    fn git_tag_must_match_package_json() {
        let mut release = inputs("1.2.3");
        release.git_tag = Some("v1.2.3".into());
        assert_eq!(tags(&release), ["1.2.3", "1.2", "1", "latest", "sha-983315b"]);
        release.git_tag = Some("1.2.3".into());
        assert!(image_tags(&release).is_ok());

        release.git_tag = Some("v1.2.4".into());
        let err = image_tags(&release).unwrap_err().to_string();
        assert!(err.contains("'v1.2.4'") && err.contains("'1.2.3'"), "{err}");

        release.git_tag = Some("nightly".into());
        let err = image_tags(&release).unwrap_err().to_string();
        assert!(err.starts_with("git tag 'nightly' is not a version tag"), "{err}");
    }

    #[test]
    fn branch_tags() {
        let cases = [
            ("main", Some("main")),
            // Runs of invalid characters become one '-'; case is kept.
            ("feature/Foo_bar", Some("feature-Foo_bar")),
            // The ref of metadata-action's `event_push_invalidchars` fixture.
            ("my/feature#1245", Some("my-feature-1245")),
            ("fix-/x", Some("fix--x")),
            ("-odd//branch", Some("odd-branch")),
            ("ünïcode", Some("n-code")),
            ("ü", None),
        ];
        for (branch, expected) in cases {
            let build = TagInputs { branch: Some(branch.into()), ..inputs("1.2.3-rc.1") };
            let all = tags(&build);
            assert_eq!(all[..2], ["1.2.3-rc.1", "sha-983315b"]);
            assert_eq!(all.get(2).map(String::as_str), expected, "{branch}");
        }
    }

    #[test]
    fn kinds_of_build() {
        let build = |branch: Option<&str>, number: Option<u64>| {
            let pull_request = number.map(|number| PullRequest { number: Some(number) });
            tags(&TagInputs { branch: branch.map(String::from), pull_request, ..inputs("1.2.3") })
        };
        let release = ["1.2.3", "1.2", "1", "latest", "sha-983315b"];
        assert_eq!(build(Some("main"), None), [&release[..], &["main"]].concat());
        // Detached HEAD: no branch tag.
        assert_eq!(build(None, None), release);
        // A branch named like another tag is not repeated.
        assert_eq!(build(Some("latest"), None), release);
        // Pull requests: pr-N instead of the branch, and no release tags.
        assert_eq!(build(Some("feature/x"), Some(42)), ["sha-983315b", "pr-42"]);
        assert_eq!(build(None, Some(7)), ["sha-983315b", "pr-7"]);
        // A pull request whose number is not known (pull_request_target without an event file): the sha only.
        let unnumbered = TagInputs { pull_request: Some(PullRequest { number: None }), ..inputs("1.2.3") };
        assert_eq!(tags(&unnumbered), ["sha-983315b"]);
    }

    #[test]
    fn long_branch_is_cut_to_128() {
        let build = TagInputs { branch: Some(format!("renovate/{}", "x".repeat(200))), ..inputs("1.2.3-rc.1") };
        let branch_tag = tags(&build).pop().unwrap();
        assert_eq!(branch_tag.len(), 128);
        assert!(branch_tag.starts_with("renovate-xxx"));
    }

    #[test]
    fn sha_tag() {
        let mut build = inputs("1.2.3-rc.1");
        build.sha = "ABCDEF0123".into();
        assert_eq!(tags(&build), ["1.2.3-rc.1", "sha-abcdef0"]);
        for sha in ["", "abc12", "not-a-sha-at-all"] {
            build.sha = sha.into();
            let err = image_tags(&build).unwrap_err().to_string();
            assert!(err.starts_with(&format!("commit sha '{sha}'")), "{err}");
        }
    }

    #[test]
    fn reads_github_env() {
        let read = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            github_ref(|name| map.get(name).cloned(), |_| None)
        };
        let sha = Some(SHA.to_string());
        let cases: &[(&[(&str, &str)], GithubRef)] = &[
            (
                &[("GITHUB_EVENT_NAME", "push"), ("GITHUB_REF", "refs/heads/my/feature#1245"), ("GITHUB_SHA", SHA)],
                GithubRef { branch: Some("my/feature#1245".into()), sha: sha.clone(), ..GithubRef::default() },
            ),
            (
                &[
                    ("GITHUB_EVENT_NAME", "push"),
                    ("GITHUB_REF", "refs/tags/v1.2.3"),
                    ("GITHUB_REF_NAME", "v1.2.3"),
                    ("GITHUB_SHA", SHA),
                ],
                GithubRef { git_tag: Some("v1.2.3".into()), sha: sha.clone(), ..GithubRef::default() },
            ),
            (
                &[
                    ("GITHUB_EVENT_NAME", "pull_request"),
                    ("GITHUB_REF", "refs/pull/318/merge"),
                    ("GITHUB_HEAD_REF", "feature"),
                    ("GITHUB_SHA", SHA),
                ],
                GithubRef {
                    pull_request: Some(PullRequest { number: Some(318) }),
                    sha: sha.clone(),
                    ..GithubRef::default()
                },
            ),
            (&[("GITHUB_REF", ""), ("GITHUB_SHA", "")], GithubRef::default()),
            (&[], GithubRef::default()),
        ];
        for (vars, expected) in cases {
            assert_eq!(read(vars).unwrap(), *expected, "{vars:?}");
        }
        let err = read(&[("GITHUB_REF", "refs/pull/abc/merge")]).unwrap_err().to_string();
        assert!(err.contains("no pull request number"), "{err}");
    }

    // pull_request_target runs with the base branch's ref, for a pull request: a pull request build.
    #[test]
    fn pull_request_target_is_a_pull_request_build() {
        let files: HashMap<&str, &str> = [
            ("/number.json", r#"{"number": 318, "pull_request": {"number": 318}}"#),
            ("/nested.json", r#"{"pull_request": {"number": 319}}"#),
            ("/other.json", r#"{"action": "opened"}"#),
            ("/broken.json", "{"),
        ]
        .into();
        let read = |event_path: &str| {
            let env = [
                ("GITHUB_EVENT_NAME", "pull_request_target"),
                ("GITHUB_EVENT_PATH", event_path),
                ("GITHUB_REF", "refs/heads/main"),
                ("GITHUB_SHA", SHA),
            ];
            let env: HashMap<&str, &str> = env.into();
            github_ref(|name| env.get(name).map(|v| v.to_string()), |path| files.get(path).map(|t| t.to_string()))
                .unwrap()
        };
        let pull_request = |number| GithubRef {
            sha: Some(SHA.to_string()),
            pull_request: Some(PullRequest { number }),
            ..GithubRef::default()
        };
        assert_eq!(read("/number.json"), pull_request(Some(318)));
        assert_eq!(read("/nested.json"), pull_request(Some(319)));
        for no_number in ["/other.json", "/broken.json", "/missing.json", ""] {
            assert_eq!(read(no_number), pull_request(None), "{no_number}");
        }
        // The tags: no version tags, no `latest`, no branch.
        let build = |github: GithubRef| {
            tags(&TagInputs { branch: github.branch, pull_request: github.pull_request, ..inputs("1.2.3") })
        };
        assert_eq!(build(read("/number.json")), ["sha-983315b", "pr-318"]);
        assert_eq!(build(read("/other.json")), ["sha-983315b"]);
    }

    #[test]
    fn registry_namespaces_are_lower_cased() {
        let cases = [
            ("ghcr.io/MyUser", "ghcr.io/myuser"),
            ("ghcr.io/acme/", "ghcr.io/acme"),
            ("ghcr.io/Acme/Team", "ghcr.io/acme/team"),
            // The host is kept as written: only the namespace is part of the image name.
            ("Registry.Example.com:5000/MyUser", "Registry.Example.com:5000/myuser"),
            ("localhost:5000", "localhost:5000"),
        ];
        for (registry, expected) in cases {
            assert_eq!(registry_namespace(registry).unwrap(), expected, "{registry}");
        }
        for (bad, why) in [
            ("Bad Host!", "invalid registry 'Bad Host!': has an invalid host name"),
            ("", "invalid registry ''"),
            ("myuser/app", "Docker Hub namespace"),
            ("ghcr.io/my user", "path component 'my user'"),
            ("ghcr.io//acme", "empty path component"),
        ] {
            let err = registry_namespace(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn labels() {
        let meta = LabelInputs {
            title: "node-app".into(),
            version: "1.2.3".into(),
            revision: SHA.into(),
            created: Some(1_578_616_200),
            source: "https://github.com/octocat/Hello-World".into(),
            licenses: "MIT".into(),
            ..LabelInputs::default()
        };
        let expected = [
            ("created", "2020-01-10T00:30:00Z"),
            ("licenses", "MIT"),
            ("revision", SHA),
            ("source", "https://github.com/octocat/Hello-World"),
            ("title", "node-app"),
            ("version", "1.2.3"),
        ]
        .map(|(k, v)| (format!("org.opencontainers.image.{k}"), v.to_string()));
        assert_eq!(oci_labels(&meta), expected);
        assert!(oci_labels(&LabelInputs::default()).is_empty());
    }

    #[test]
    fn created_prefers_source_date_epoch() {
        assert_eq!(created_timestamp(None, 5).unwrap(), 5);
        assert_eq!(created_timestamp(Some(""), 5).unwrap(), 5);
        assert_eq!(created_timestamp(Some("1700000000"), 5).unwrap(), 1_700_000_000);
        for bad in ["-1", "+1", "1.5", "yesterday"] {
            let err = created_timestamp(Some(bad), 5).unwrap_err().to_string();
            assert!(err.starts_with(&format!("SOURCE_DATE_EPOCH '{bad}'")), "{err}");
        }
    }

    #[test]
    fn rfc3339() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_578_616_200, "2020-01-10T00:30:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_709_251_199, "2024-02-29T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ];
        for (secs, expected) in cases {
            assert_eq!(rfc3339_utc(secs), expected, "{secs}");
        }
    }

    #[test]
    fn source_urls() {
        let hello = Some("https://github.com/o/r".to_string());
        let cases: &[(serde_json::Value, Option<&str>, Option<String>)] = &[
            (serde_json::json!("github:o/r"), None, hello.clone()),
            (serde_json::json!("o/r"), None, hello.clone()),
            (serde_json::json!("git+https://github.com/o/r.git"), None, hello.clone()),
            (serde_json::json!("git+ssh://git@github.com/o/r.git"), None, hello.clone()),
            (serde_json::json!("git://github.com/o/r.git"), None, hello.clone()),
            (serde_json::json!("github:o/r#main"), None, hello.clone()),
            (serde_json::json!({"type": "git", "url": "https://github.com/o/r.git"}), None, hello.clone()),
            (serde_json::json!("gitlab:group/sub/r"), None, Some("https://gitlab.com/group/sub/r".into())),
            (serde_json::json!("bitbucket:o/r"), None, Some("https://bitbucket.org/o/r".into())),
            (serde_json::Value::Null, Some("git@github.com:o/r.git"), hello.clone()),
            (serde_json::Value::Null, Some("https://github.com/o/r.git"), hello.clone()),
            (serde_json::Value::Null, Some("https://x-access-token:secret@github.com/o/r.git"), hello.clone()),
            (
                serde_json::Value::Null,
                Some("ssh://git@git.example.com:2222/o/r.git"),
                Some("https://git.example.com/o/r".into()),
            ),
            (
                serde_json::Value::Null,
                Some("https://git.example.com:8443/o/r/"),
                Some("https://git.example.com:8443/o/r".into()),
            ),
            // package.json wins over the remote.
            (serde_json::json!("github:a/b"), Some("git@github.com:o/r.git"), Some("https://github.com/a/b".into())),
            // Unusable package.json values fall back to the remote.
            (serde_json::json!("file:../r"), Some("git@github.com:o/r.git"), hello.clone()),
            (serde_json::json!(42), Some("git@github.com:o/r.git"), hello.clone()),
            (serde_json::json!("not a repo"), None, None),
            (serde_json::Value::Null, Some("/srv/git/r.git"), None),
            (serde_json::Value::Null, None, None),
        ];
        for (repository, remote, expected) in cases {
            let repository = (!repository.is_null()).then_some(repository);
            assert_eq!(source_url(repository, *remote), *expected, "{repository:?} {remote:?}");
        }
    }

    #[test]
    fn tags_validate() {
        for good in
            ["latest", "1.2.3", "_x", "Uppercase", "tag-puts-this-over-max", "xn--n3h.com", "5050", &"a".repeat(128)]
        {
            assert!(validate_tag(good).is_ok(), "{good}");
        }
        for bad in ["", ".x", "-x", "invalid~tag", "feature/x", "a+b", "ü", &"a".repeat(129)] {
            let err = validate_tag(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid tag '{bad}': a tag may contain only")), "{err}");
        }
    }

    // Cases from distribution/reference regexp_test.go, normalize_test.go and
    // reference_test.go, as names without tag or digest.
    #[test]
    fn repositories_validate() {
        let good = [
            "short",
            "simple/name",
            "library/ubuntu",
            "docker/stevvooe/app",
            "aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb",
            "a",
            "a/aa/a",
            "foo.com",
            "foo.com:8080/bar",
            "foo.com/bar/baz",
            "localhost",
            "localhost:8080/bar",
            "localhost/library/debian",
            "sub-dom1.foo.com/bar/baz/quux",
            "aa-a/a",
            "foo_bar",
            "foo_bar.com",
            "foo.com/foo_bar",
            "b.gcr.io/test.example.com/my-app",
            "xn--n3h.com/myimage",
            "example.com/some_separator__underscore/myimage",
            "do__cker/docker",
            "docker---rules/docker",
            "registry.io/foo/project--id.module--name.ver---sion--name",
            "Asdf.com/foo/bar",
            "127.0.0.1:5000/docker/docker",
            "192.168.1.1",
            "[2001:db8::1]/repo",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "[::1]:5000/repo",
            "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            &("a/".repeat(127) + "a"),
            &format!("example.com/{}", "a".repeat(255)),
        ];
        for name in good {
            assert!(validate_repository(name).is_ok(), "{name}: {:?}", validate_repository(name));
        }
        let bad = [
            ("", "the image name is empty"),
            ("a/a/a/a/", "empty path component"),
            ("a//a/a", "empty path component"),
            ("docker///docker", "empty path component"),
            ("foo.com/", "empty path component"),
            ("foo.com:http/bar", "invalid port 'http'"),
            ("a^a", "path component 'a^a'"),
            ("aa/asdf$$^/aa", "path component 'asdf$$^'"),
            ("a-/a/a/a", "path component 'a-'"),
            ("-foo/bar", "path component '-foo'"),
            ("foo/-bar", "path component '-bar'"),
            ("_foo/bar", "path component '_foo'"),
            ("____/____", "path component '____'"),
            ("foo_bar.com:8080/app", "invalid host name 'foo_bar.com'"),
            ("example.com/__underscore/myimage", "path component '__underscore'"),
            ("example.com/..dots/myimage", "path component '..dots'"),
            ("example.com/nodouble..dots/myimage", "path component 'nodouble..dots'"),
            ("docker./docker", "invalid host name 'docker.'"),
            ("-docker.io/docker/docker", "invalid host name '-docker.io'"),
            ("do..cker/docker", "invalid host name 'do..cker'"),
            ("dock_.er/docker", "invalid host name 'dock_.er'"),
            ("Foo/FarB", "must be lower-case"),
            ("docker/Docker", "must be lower-case"),
            ("My-App", "must be lower-case"),
            ("test:5000/Uppercase/lowercase", "must be lower-case"),
            ("https://github.com/docker/docker", "no scheme: write 'github.com/docker/docker'"),
            ("[fc00::1]:5000", "path component '[fc00::1]:5000'"),
            ("fc00::1:5000/debian", "invalid port"),
            ("[fe80::1%eth0]:5000/debian", "invalid IPv6 address 'fe80::1%eth0'"),
            ("[2001:db8:3:4::192.0.2.33]:5000/debian", "invalid IPv6 address"),
            ("1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "read as an image id"),
            (&format!("domain/{}", "a".repeat(256)), "at most 255"),
        ];
        for (name, why) in bad {
            let err = validate_repository(name).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid image name '{name}': ")), "{err}");
            assert!(err.contains(why), "{name}: {err}");
        }
        assert_eq!(
            validate_repository("My-App").unwrap_err().to_string(),
            "invalid image name 'My-App': repository names must be lower-case"
        );
    }

    #[test]
    fn registries_validate() {
        for good in [
            "ghcr.io",
            "docker.io",
            "test.com:10304",
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "xn--n3h.com",
            "Asdf.com",
            "b.gbc.io:443",
            "[::1]:5000",
            "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:5000",
            "[fd00:1:2::3]",
        ] {
            assert!(validate_registry(good).is_ok(), "{good}: {:?}", validate_registry(good));
        }
        for (bad, why) in [
            ("", "invalid host name ''"),
            ("test.com:http", "invalid port 'http'"),
            ("-ab.com", "invalid host name"),
            ("ab-.com", "invalid host name"),
            ("ab.-com", "invalid host name"),
            ("bad_hostname.com", "invalid host name"),
            // The grammar allows any digits; no registry listens there.
            ("192.168.1.1:75050", "invalid port '75050'"),
            ("[fd00:1:2::3]75050", "needs ':'"),
            ("[fd00:1:2::3]::75050", "invalid port ':75050'"),
            ("[fd00:1:2::3%eth0]:75050", "invalid IPv6 address"),
            ("[::1", "unclosed '['"),
            ("fd00:1:2::3:75050", "invalid port"),
            ("https://ghcr.io", "without a scheme, e.g. 'ghcr.io'"),
            ("ghcr.io/owner", "host[:port] only"),
            ("myregistry", "Docker Hub namespace"),
        ] {
            let err = validate_registry(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid registry '{bad}': ")), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn references_validate() {
        let digest = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
        for good in [
            "test_com".to_string(),
            "test.com:tag".into(),
            "test.com:5000".into(),
            "test:5000/repo".into(),
            "test:5000/repo:tag".into(),
            format!("test:5000/repo@{digest}"),
            format!("test:5000/repo:tag@{digest}"),
            "lowercase:Uppercase".into(),
            "localhost:8080".into(),
            format!("localhost@{digest}"),
            "192.168.1.1:5000/repo:5050".into(),
            format!("[2001:db8::1]:5000/repo:tag@{digest}"),
            format!("xn--7o8h.com/myimage:xn--7o8h.com@{digest}"),
            "a/".repeat(127) + "a:tag-puts-this-over-max",
            "ghcr.io/owner/node-app:1.2.3-rc.1".into(),
        ] {
            assert!(validate_reference(&good).is_ok(), "{good}: {:?}", validate_reference(&good));
        }
        for (bad, expected_start) in [
            (":justtag".to_string(), "invalid image name ''"),
            (format!("@{digest}"), "invalid image name ''"),
            ("repo@sha256:ffffffffffffffffffffffffffffffffff".into(), "invalid digest"),
            (format!("validname@invaliddigest:{}", "f".repeat(64)), "invalid digest"),
            ("Uppercase:tag".into(), "invalid image name 'Uppercase': repository names must be lower-case"),
            ("registry.com:8080/myapp:invalid~tag".into(), "invalid tag 'invalid~tag'"),
            ("bad_hostname.com:8080/myapp:tag".into(), "invalid image name 'bad_hostname.com:8080/myapp'"),
            ("localhost:http/name".into(), "invalid image name 'localhost:http/name'"),
            ("repo:".into(), "invalid tag ''"),
            ("[2001:db8::1]:tag".into(), "invalid image name '[2001:db8::1]'"),
        ] {
            let err = validate_reference(&bad).unwrap_err().to_string();
            assert!(err.starts_with(expected_start), "{bad}: {err}");
        }
    }

    #[test]
    fn json_shape() {
        let refs = vec!["ghcr.io/o/app:1.2.3".to_string(), "ghcr.io/o/app:sha-983315b".to_string()];
        let labels = vec![("org.opencontainers.image.version".to_string(), "1.2.3".to_string())];
        let value: serde_json::Value = serde_json::from_str(&to_json(&refs, &labels)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "tags": ["ghcr.io/o/app:1.2.3", "ghcr.io/o/app:sha-983315b"],
                "labels": {"org.opencontainers.image.version": "1.2.3"}
            })
        );
    }
}
