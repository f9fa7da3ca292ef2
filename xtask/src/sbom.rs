//! What is in the release image, and who built it. `release` writes a CycloneDX SBOM of the built image:
//! CycloneDX's npm tool lists the node_modules the image ships (the Dockerfile's `sbom` stage, run on files
//! copied out of the image), and the OS packages come from the image's own package database (dpkg's status
//! file, apk's installed database). `release --push --sign` signs the pushed digest with cosign and attaches
//! the SBOM as a signed attestation; `verify` checks both, on the digest the tag points at now. The executor
//! runs these; `release` puts them in its plan.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use camino::{Utf8Path, Utf8PathBuf};
use serde_json::{json, Value};

use crate::config::Flavor;
use crate::engine::{Engine, Kind};
use crate::process::{self, Command};
use crate::project::Project;
use crate::tags::split_reference;

/// Under the project root: the SBOMs, and `work/`, what they are made from.
pub const DIR: &str = "target/sbom";

/// The Dockerfile's stage that holds only the output of CycloneDX's npm tool, and the one that runs it.
pub const STAGE: &str = "sbom";
pub const TOOL_STAGE: &str = "sbom-tool";

/// The image's package database, for each flavor.
pub fn package_db(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Debian => "/var/lib/dpkg/status",
        Flavor::Alpine => "/lib/apk/db/installed",
    }
}

/// Writes the SBOM of `image` to `out` from `work`: the npm tool's BOM (`npm/npm.cdx.json`), whose subject
/// becomes the image, with the service among the components, and the OS packages (`packages`).
pub fn write(work: &Utf8Path, flavor: Flavor, image: &str, out: &Utf8Path) -> Result<()> {
    let read =
        |name: &str| std::fs::read_to_string(work.join(name)).with_context(|| format!("cannot read {work}/{name}"));
    let mut bom: Value = serde_json::from_str(&read("npm/npm.cdx.json")?).context("the npm tool wrote no JSON")?;
    let os = os_components(&read("packages")?, flavor);
    let service = bom["metadata"]["component"].take();
    let Some(components) = bom.as_object_mut().map(|b| b.entry("components").or_insert(json!([]))) else {
        bail!("the npm tool wrote no CycloneDX document");
    };
    let components = components.as_array_mut().context("the npm tool's components are not a list")?;
    let npm = components.len();
    components.splice(0..0, Some(service).filter(|s| !s.is_null()));
    components.extend(os.iter().cloned());
    let (name, tag, _) = split_reference(image);
    bom["metadata"]["component"] =
        json!({ "type": "container", "bom-ref": image, "name": name, "version": tag.unwrap_or("") });
    std::fs::create_dir_all(out.parent().unwrap_or(work))?;
    std::fs::write(out, serde_json::to_string_pretty(&bom)? + "\n").with_context(|| format!("cannot write {out}"))?;
    println!("sbom: {out} ({npm} npm packages, {} {} packages)", os.len().saturating_sub(1), flavor.as_str());
    Ok(())
}

/// The installed packages of a dpkg status file or an apk database (stanzas of `Key: value` or `K:value`
/// lines), the OS itself first, with package URLs: `pkg:deb/debian/libc6@2.41-12?arch=amd64&distro=debian-13`.
fn os_components(db: &str, flavor: Flavor) -> Vec<Value> {
    let [kind, name, version, arch, license, release] = match flavor {
        Flavor::Debian => ["deb", "Package", "Version", "Architecture", "", "base-files"],
        Flavor::Alpine => ["apk", "P", "V", "A", "L", "alpine-release"],
    };
    let packages: Vec<BTreeMap<&str, &str>> = db
        .split("\n\n")
        .map(|stanza| stanza.lines().filter(|l| !l.starts_with(' ')).filter_map(|l| l.split_once(':')))
        .map(|fields| fields.map(|(key, value)| (key, value.trim())).collect::<BTreeMap<_, _>>())
        .filter(|p| p.contains_key(name) && p.get("Status").is_none_or(|s| s.ends_with(" installed")))
        .collect();
    let os = flavor.as_str();
    let os_version = packages.iter().find(|p| p[name] == release).and_then(|p| p.get(version)).copied().unwrap_or("");
    // debian-13 (base-files 13.8+deb13u1), alpine-3.21.3 (alpine-release 3.21.3-r0), as package URLs name them.
    let distro = match flavor {
        Flavor::Debian => os_version.split('.').next().unwrap_or(""),
        Flavor::Alpine => os_version.split("-r").next().unwrap_or(""),
    };
    let system = json!({ "type": "operating-system", "bom-ref": format!("os:{os}-{distro}"), "name": os, "version": os_version });
    let library = |p: &BTreeMap<&str, &str>| {
        let purl = format!(
            "pkg:{kind}/{os}/{}@{}?arch={}&distro={os}-{distro}",
            encode(p[name]),
            encode(p.get(version).unwrap_or(&"")),
            encode(p.get(arch).unwrap_or(&""))
        );
        let mut component =
            json!({ "type": "library", "bom-ref": purl, "name": p[name], "version": p.get(version), "purl": purl });
        if let Some(license) = p.get(license).filter(|l| !l.is_empty()) {
            component["licenses"] = json!([{ "license": { "name": license } }]);
        }
        component
    };
    std::iter::once(system).chain(packages.iter().map(library)).collect()
}

/// Percent-encoding for a package URL part: `libstdc++6` → `libstdc%2B%2B6`, epoch `1:2.3` → `1%3A2.3`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The key the environment variable `env` names, else xtask.toml's `configured`; a file is named from the
/// project root, a URI (`env://VAR`, a KMS) as it is.
fn key(project: &Project, env: &str, configured: &str) -> Option<String> {
    let key = std::env::var(env).ok().filter(|k| !k.is_empty()).unwrap_or_else(|| configured.to_string());
    (!key.is_empty()).then(|| if key.contains("://") { key } else { project.root.join(key).to_string() })
}

/// The key `release --sign` signs with: COSIGN_KEY, else `[sign] key`. None: keyless.
pub fn signing_key(project: &Project) -> Option<String> {
    key(project, "COSIGN_KEY", &project.config.sign.key)
}

/// The key `verify` checks against: COSIGN_PUBLIC_KEY, else `[sign] public_key`, else the signing key's
/// `.pub` file (as `cosign generate-key-pair` writes them).
pub fn public_key(project: &Project) -> Result<String> {
    key(project, "COSIGN_PUBLIC_KEY", &project.config.sign.public_key)
        .or_else(|| signing_key(project)?.strip_suffix(".key").map(|stem| format!("{stem}.pub")))
        .context(
            "verify needs the public key: set [sign] public_key in xtask.toml or COSIGN_PUBLIC_KEY \
             (a keyless signature from GitHub Actions is checked with `cosign verify --certificate-identity-regexp`)",
        )
}

/// Before anything is built: what signing needs is there. A key file needs COSIGN_PASSWORD (cosign would
/// ask on a terminal the kit does not give it); no key means keyless, which needs GitHub Actions' OIDC token.
pub fn check_signing(engine: &Engine, key: Option<&str>) -> Result<()> {
    if engine.kind == Kind::Podman {
        bail!("release --sign reads the pushed digest with `docker buildx imagetools`, which podman lacks: use --engine docker");
    }
    match key {
        None if std::env::var_os("ACTIONS_ID_TOKEN_REQUEST_URL").is_none() => bail!(
            "release --sign needs a key pair: set [sign] key in xtask.toml or COSIGN_KEY (`cosign generate-key-pair` \
             makes one); keyless signing works in GitHub Actions, in a job with `permissions: id-token: write`"
        ),
        Some(key) if !key.contains("://") && !Utf8Path::new(key).is_file() => {
            bail!("the signing key {key} does not exist")
        }
        Some(key) if !key.contains("://") && std::env::var_os("COSIGN_PASSWORD").is_none() => {
            bail!("set COSIGN_PASSWORD to the password of {key} (empty for a key without one)")
        }
        _ => process::require_program("cosign"),
    }
}

/// cosign's arguments that sign `pinned` (REPO@DIGEST) and attach `sbom` as its CycloneDX attestation,
/// replacing an earlier one (a retried release). With a key the signatures stay out of Sigstore's public
/// transparency log; keyless ones go there, as they must.
pub fn sign_commands(key: Option<&str>, pinned: &str, sbom: &Utf8Path) -> Vec<Vec<String>> {
    let key = key.map_or(vec![], |key| vec!["--key", key, "--tlog-upload=false"]);
    let attest = ["--type", "cyclonedx", "--predicate", sbom.as_str(), "--replace", pinned];
    vec![argv(&[&["sign", "--yes"], &key, &[pinned]]), argv(&[&["attest", "--yes"], &key, &attest])]
}

/// cosign's arguments that check the signature of `pinned` and its CycloneDX attestation against `key`.
pub fn verify_commands(key: &str, pinned: &str) -> Vec<Vec<String>> {
    let common = ["--key", key, "--insecure-ignore-tlog=true"];
    let attestation = ["--type", "cyclonedx", pinned];
    vec![argv(&[&["verify"], &common, &[pinned]]), argv(&[&["verify-attestation"], &common, &attestation])]
}

/// One argv from its parts.
fn argv(parts: &[&[&str]]) -> Vec<String> {
    parts.concat().into_iter().map(String::from).collect()
}

/// `--dry-run`'s text for cosign `commands` on `reference`: first how the digest is found, when it is a tag.
pub fn dry_run_lines(engine: &Engine, reference: &str, commands: impl Fn(&str) -> Vec<Vec<String>>) -> String {
    let mut lines = Vec::new();
    let pinned = if reference.contains('@') {
        reference.to_string()
    } else {
        let inspect = engine.command(["buildx", "imagetools", "inspect", reference]).shell_line();
        lines.push(format!("# DIGEST: the digest {reference} points at in its registry ({inspect})"));
        format!("{}@$DIGEST", split_reference(reference).0)
    };
    for args in commands(&pinned) {
        let line = Command::new("cosign").args(args).shell_line();
        lines.push(line.replace(&format!("'{pinned}'"), &format!("\"{pinned}\"")));
    }
    lines.join("\n")
}

/// `REPO@DIGEST`: `reference` when it names a digest, else the digest its tag points at now.
fn pinned(engine: &Engine, reference: &str) -> Result<String> {
    if reference.contains('@') {
        return Ok(reference.to_string());
    }
    let digest = crate::checks::remote_digest(engine, reference, "use --engine docker")?;
    Ok(format!(
        "{}@{}",
        split_reference(reference).0,
        digest.with_context(|| format!("{reference} is not in its registry"))?
    ))
}

/// Runs cosign with an empty stdin (it never waits for a password) and returns its stdout; a failure is
/// its `Error:` line (its warnings come first).
fn cosign(args: &[String]) -> Result<String> {
    let output = xshell::Shell::new()?.cmd("cosign").args(args).stdin("").quiet().ignore_status().output()?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr.lines().find_map(|l| l.strip_prefix("Error: ")).or(stderr.lines().last()).unwrap_or("");
    Err(anyhow!("cosign {} failed: {}", args[0], error.trim()))
}

/// `release --push --sign`: signs the digest `reference` points at and attests the SBOM.
pub fn sign(engine: &Engine, reference: &str, key: Option<&str>, sbom: &Utf8Path) -> Result<()> {
    let pinned = pinned(engine, reference)?;
    for args in sign_commands(key, &pinned, sbom) {
        cosign(&args)?;
    }
    eprintln!("    signed {pinned} and attached its SBOM ({})", key.unwrap_or("keyless"));
    Ok(())
}

/// `verify`: the digest `reference` points at now carries a signature that `key` verifies and a signed
/// CycloneDX attestation about that digest; prints what it checked.
pub fn verify(engine: &Engine, reference: &str, key: &str) -> Result<()> {
    process::require_program("cosign")?;
    let pinned = pinned(engine, reference)?;
    let digest = split_reference(&pinned).2.unwrap_or("");
    let commands = verify_commands(key, &pinned);
    let by_tag = !reference.contains('@');
    let signatures = cosign(&commands[0]).map_err(|e| match e.to_string().contains("no signatures found") {
        true if by_tag => {
            anyhow!("{reference} points at {digest}, which is not signed (was another image pushed under this tag?)")
        }
        true => anyhow!("{reference} is not signed"),
        false => anyhow!("{reference} points at {digest}, which has no signature that {key} verifies: {e}"),
    })?;
    let attestations =
        cosign(&commands[1]).map_err(|e| anyhow!("{digest} has no CycloneDX attestation that {key} verifies: {e}"))?;
    let hex = digest.trim_start_matches("sha256:");
    let statement = attestations
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|envelope| base64(envelope["payload"].as_str()?))
        .filter_map(|payload| serde_json::from_slice::<Value>(&payload).ok())
        .find(|s| s["subject"].as_array().is_some_and(|subjects| subjects.iter().any(|s| s["digest"]["sha256"] == hex)))
        .with_context(|| format!("the CycloneDX attestation of {digest} is about another image"))?;
    let sbom = &statement["predicate"];
    let count = serde_json::from_str::<Vec<Value>>(&signatures).map_or(0, |s| s.len());
    println!("verified {reference}");
    println!("  digest     {digest}{}", if by_tag { " (where the tag points now)" } else { "" });
    println!("  signature  {count} valid, checked against {key}");
    println!(
        "  sbom       signed CycloneDX {} attestation about that digest, {} components",
        sbom["specVersion"].as_str().unwrap_or("?"),
        sbom["components"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

/// Standard or URL-safe base64, padded or not (a DSSE envelope's payload).
fn base64(text: &str) -> Option<Vec<u8>> {
    let (mut bits, mut count, mut out) = (0u32, 0, Vec::new());
    for c in text.bytes().filter(|&c| c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6 | u32::from(value)) & 0xffff;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

/// The SBOM file `release` writes for `image`: `target/sbom/NAME-TAG.cdx.json`.
pub fn file_for(project: &Project, image: &str) -> Utf8PathBuf {
    let tag = split_reference(image).1.unwrap_or("");
    project.root.join(DIR).join(format!("{}-{tag}.cdx.json", project.bare_name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_and_apk_databases() {
        let status =
            "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 13.8+deb13u1\n\n\
                      Package: libstdc++6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 14.2.0-19\n\
                      Description: GNU\n Package: not-a-field\n\n\
                      Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        let found = os_components(status, Flavor::Debian);
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(found[0]["type"], "operating-system");
        assert_eq!(found[0]["version"], "13.8+deb13u1");
        assert_eq!(found[2]["purl"], "pkg:deb/debian/libstdc%2B%2B6@14.2.0-19?arch=amd64&distro=debian-13");
        let installed =
            "C:Q1x=\nP:musl\nV:1.2.5-r9\nA:x86_64\nL:MIT\n\nP:alpine-release\nV:3.21.3-r0\nA:x86_64\nL:MIT\n";
        let found = os_components(installed, Flavor::Alpine);
        assert_eq!(found[1]["purl"], "pkg:apk/alpine/musl@1.2.5-r9?arch=x86_64&distro=alpine-3.21.3");
        assert_eq!(found[1]["licenses"][0]["license"]["name"], "MIT");
    }

    #[test]
    fn cosign_commands_and_dry_run() {
        let engine = Engine::select(Some("docker"), None).unwrap();
        let sbom = Utf8Path::new("target/sbom/a.cdx.json");
        let lines =
            dry_run_lines(&engine, "127.0.0.1:5000/t/a:1.0.0", |p| sign_commands(Some("/k/cosign.key"), p, sbom));
        let lines: Vec<&str> = lines.lines().collect();
        assert!(lines[0].starts_with("# DIGEST: the digest 127.0.0.1:5000/t/a:1.0.0 points at"), "{lines:?}");
        assert_eq!(
            lines[1],
            "cosign sign --yes --key /k/cosign.key --tlog-upload=false \"127.0.0.1:5000/t/a@$DIGEST\""
        );
        assert!(lines[2].starts_with("cosign attest --yes --key /k/cosign.key --tlog-upload=false --type cyclonedx"));
        let keyless = sign_commands(None, "r@sha256:1", sbom);
        assert_eq!(keyless[0], ["sign", "--yes", "r@sha256:1"]);
        assert_eq!(split_reference("127.0.0.1:5000/t/a:1.0.0").0, "127.0.0.1:5000/t/a");
        assert_eq!(split_reference("127.0.0.1:5000/t/a@sha256:1").0, "127.0.0.1:5000/t/a");
        assert_eq!(split_reference("127.0.0.1:5000/t/a").0, "127.0.0.1:5000/t/a");
    }

    #[test]
    fn base64_payloads() {
        assert_eq!(base64("eyJhIjoxfQ==").unwrap(), br#"{"a":1}"#);
        assert_eq!(base64("aGVsbG8").unwrap(), b"hello");
        assert!(base64("a b").is_none());
    }
}
