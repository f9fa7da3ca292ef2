//! The service's new name in a copy of the template, file by file: what `new` writes, and what
//! `update` does to the template's old and new commits so that they line up with the copy. NEW
//! replaces OLD (package.json's `name` in the template):
//!
//! - package.json and its lockfile: `name` and `version` (reset to 0.1.0), edited in place (every
//!   other byte kept: key order, the file's indentation and final newline);
//! - xtask.toml: `[image] name`, edited in place, then parsed again;
//! - README.md: the title (the first `# ` line) names the new service;
//! - README.md, compose files and, when the old name holds a `-`, every other text file (docs, the
//!   kit's own tests): each whole-word occurrence of the old name, and an image reference to the
//!   template's version (`OLD:1.0.0`) becomes `NEW:0.1.0`. A name without `-` may be a word of code
//!   (`mod engine;`), so it is not replaced in other files. Lockfiles are left alone (they name
//!   dependencies, not the service).

use std::collections::HashMap;
use std::ops::Range;

use anyhow::{anyhow, bail, ensure, Context, Result};
use camino::Utf8Path;
use serde_json::value::RawValue;
use toml::de::DeTable;

use crate::config;

/// The version a new project starts at.
pub const FIRST_VERSION: &str = "0.1.0";

/// Lockfiles name dependencies, never the service: no whole-word renaming in them.
const LOCKFILES: &[&str] = &["package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock"];

/// What the service is called in the template and what it is called in the copy.
pub struct Rename<'a> {
    pub old: &'a str,
    pub new: &'a str,
    /// package.json's version in the template.
    pub old_version: &'a str,
    /// The service's folder relative to the root (xtask.toml's `[build] context`), e.g. `node-app`.
    pub service_dir: &'a Utf8Path,
}

impl Rename<'_> {
    /// The service's package.json and npm lockfile, whose `name` and `version` are set.
    fn is_package_file(&self, path: &Utf8Path) -> bool {
        ["package.json", "package-lock.json", "npm-shrinkwrap.json"]
            .iter()
            .any(|name| path == self.service_dir.join(name))
    }
}

pub fn is_lockfile(path: &Utf8Path) -> bool {
    path.file_name().is_some_and(|name| LOCKFILES.contains(&name))
}

/// One file's text in the copy.
pub fn rename_file(path: &Utf8Path, text: &str, rename: &Rename) -> Result<String> {
    if rename.is_package_file(path) {
        return rename_package_json(text, rename.new);
    }
    // A name with a '-' cannot be an identifier, keyword or module name: renaming it in code only
    // touches strings and comments. Without one, only the files that name the service are edited.
    let everywhere = rename.old.contains('-');
    let is_compose = matches!(path.extension(), Some("yaml" | "yml"))
        && (path.parent() == Some(Utf8Path::new("docker")) || path.file_name().unwrap_or_default().contains("compose"));
    match path.as_str() {
        _ if is_lockfile(path) => Ok(text.to_string()),
        config::FILE_NAME if everywhere => Ok(replace_words(&set_image_name(text, rename.new)?, rename)),
        config::FILE_NAME => set_image_name(text, rename.new),
        "README.md" => Ok(set_readme_title(&replace_words(text, rename), rename.new)),
        _ if everywhere || is_compose => Ok(replace_words(text, rename)),
        _ => Ok(text.to_string()),
    }
}

/// How `rename_file` changed a file, e.g. `(renamed: old-svc → new-svc) (version: 1.2.3 → 0.1.0)`.
pub fn change_note(path: &Utf8Path, rename: &Rename) -> String {
    let renamed = (rename.old != rename.new).then(|| format!("(renamed: {} → {})", rename.old, rename.new));
    let version_reset = rename.is_package_file(path) && rename.old_version != FIRST_VERSION;
    let version = version_reset.then(|| format!("(version: {} → {FIRST_VERSION})", rename.old_version));
    let notes = renamed.into_iter().chain(version).reduce(|a, b| format!("{a} {b}"));
    notes.unwrap_or_else(|| "(edited)".to_string())
}

/// Replaces each whole-word occurrence of the old name. A match may not follow a letter or digit,
/// or a `_`, `-` or `.` joined to one (so `legacy-old-svc` stays, `${IMAGE:-old-svc}` does not),
/// nor run on into a letter, digit or `_`, or into a `.` followed by one (so `old-svcs` and a file
/// name `old-svc.js` stay); names built on it, like `old-svc-mongo` or `old-svc:compose`, are
/// renamed. An image reference to the template's version, `OLD:1.0.0` (or `:1.0`, `:1`), becomes
/// `NEW:0.1.0` (`:0.1`, `:0`). An occurrence that is part of the new name (old `api`, new
/// `api-v2`) is left as it is.
pub fn replace_words(text: &str, rename: &Rename) -> String {
    if rename.old.is_empty() || (rename.old == rename.new && rename.old_version == FIRST_VERSION) {
        return text.to_string();
    }
    let tags = version_tags(rename.old_version);
    let old_in_new: Vec<usize> = rename.new.match_indices(rename.old).map(|(k, _)| k).collect();
    let in_new_name = |start: usize| {
        old_in_new.iter().any(|k| start >= *k && text.get(start - k..).is_some_and(|t| t.starts_with(rename.new)))
    };
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (start, _) in text.match_indices(rename.old) {
        let end = start + rename.old.len();
        if start < done || !starts_word(&text[..start]) || !ends_word(&text[end..]) || in_new_name(start) {
            continue;
        }
        out.extend([&text[done..start], rename.new]);
        done = end;
        // A tag runs on through letters, digits, `_`, `-` and `+` (`1.2.3-rc.1` is not `1.2.3`).
        let after_colon = text[end..].strip_prefix(':').unwrap_or_default();
        let tag = tags.iter().find(|(old_tag, _)| {
            after_colon.strip_prefix(old_tag.as_str()).is_some_and(|rest| boundary(rest.chars(), "_-+", "."))
        });
        if let Some((old_tag, new_tag)) = tag {
            out.extend([":", new_tag]);
            done = end + 1 + old_tag.len();
        }
    }
    out.push_str(&text[done..]);
    out
}

/// A word starts after `before` unless it ends with a letter or digit, or with a `_`, `-` or `.`
/// that follows one (`legacy-old-svc`, but `${IMAGE:-old-svc}` or `--old-svc` start a word).
fn starts_word(before: &str) -> bool {
    boundary(before.chars().rev(), "", "_-.")
}

/// A word ends before `rest` unless it goes on with a letter, digit or `_`, or a `.` and one of those.
fn ends_word(rest: &str) -> bool {
    boundary(rest.chars(), "_", ".")
}

/// Whether a word stops at the next of `chars`: not at a letter, a digit or one of `joined`, nor at
/// one of `joiners` followed by a letter or digit.
fn boundary(mut chars: impl Iterator<Item = char>, joined: &str, joiners: &str) -> bool {
    match chars.next() {
        Some(c) if c.is_alphanumeric() || joined.contains(c) => false,
        Some(c) if joiners.contains(c) => !chars.next().is_some_and(char::is_alphanumeric),
        _ => true,
    }
}

/// `1.2.3` → the release tags it makes and the new project's: (1.2.3, 0.1.0), (1.2, 0.1), (1, 0).
fn version_tags(version: &str) -> Vec<(String, &'static str)> {
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(numeric) || version == FIRST_VERSION {
        return Vec::new();
    }
    vec![(version.to_string(), FIRST_VERSION), (parts[..2].join("."), "0.1"), (parts[0].to_string(), "0")]
}

/// package.json or its lockfile: `name` and `version` (reset) at the top and, in a lockfile, in
/// `packages[""]` (the service). Only those JSON values change in the text; every other byte stays
/// (key order, indentation, line endings, final newline). A missing `version` goes right after
/// `name`, laid out like the object's first member.
fn rename_package_json(text: &str, new: &str) -> Result<String> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: &RawValue =
        serde_json::from_str(body).map_err(|err| anyhow!("invalid JSON (line {}): {err}", err.line()))?;
    ensure!(root.get().starts_with('{'), "the top of the file is not a JSON object");
    let mut edits = name_and_version(text, root, new)?;
    let packages = members(root)?.get("packages").and_then(|packages| members(packages).ok()).unwrap_or_default();
    if let Some(service) = packages.get("").filter(|service| service.get().starts_with('{')) {
        edits.extend(name_and_version(text, service, new)?);
    }
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut out = text.to_string();
    for (range, with) in edits {
        out.replace_range(range, &with);
    }
    Ok(out)
}

fn members(object: &RawValue) -> serde_json::Result<HashMap<String, &RawValue>> {
    serde_json::from_str(object.get())
}

/// The edits that set an object's `name`, and its `version` where it is or else right after `name`.
fn name_and_version(text: &str, object: &RawValue, new: &str) -> Result<Vec<(Range<usize>, String)>> {
    let members = members(object)?;
    let span = |raw: &RawValue| {
        let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        start..start + raw.get().len()
    };
    let (name, version) = (serde_json::to_string(new)?, format!("\"{FIRST_VERSION}\""));
    // A new member is laid out like the first one: on its own line with its indentation, or after a space.
    let open = span(object).start + 1;
    let first = &text[open..open + text[open..].len() - text[open..].trim_start().len()];
    let member = |key: &str, value: &str| format!("{}\"{key}\": {value}", if first.is_empty() { " " } else { first });
    let mut edits: Vec<_> = members.get("version").map(|raw| (span(raw), version.clone())).into_iter().collect();
    let version = match members.contains_key("version") {
        true => String::new(),
        false => format!(",{}", member("version", &version)),
    };
    match members.get("name") {
        Some(raw) => edits.extend([(span(raw), name), (span(raw).end..span(raw).end, version)]),
        None => {
            let comma = if members.is_empty() { "" } else { "," };
            edits.push((open..open, format!("{}{version}{comma}", member("name", &name))));
        }
    }
    Ok(edits)
}

/// `text` with `range` replaced by `with`.
fn splice(text: &str, range: std::ops::Range<usize>, with: &str) -> String {
    format!("{}{with}{}", &text[..range.start], &text[range.end..])
}

/// xtask.toml: the value of `[image] name`, found by the TOML parser, replaced in place (added
/// when missing); then the file is parsed again.
fn set_image_name(text: &str, new: &str) -> Result<String> {
    let value = format!("\"{new}\"");
    let document = DeTable::parse(text)?;
    let image = document.get_ref().get("image");
    let edited = match (image, image.and_then(|image| image.get_ref().get("name"))) {
        (_, Some(name)) if !name.get_ref().is_str() => {
            bail!("[image] name is not a quoted string; set it to \"{new}\" by hand")
        }
        (_, Some(name)) => {
            let (start, mut end) = (name.span().start, name.span().end);
            // Keep a trailing comment in its column: `name = "x"     # …`.
            let spaces = text[end..].len() - text[end..].trim_start_matches(' ').len();
            let mut pad = String::new();
            if text[end + spaces..].starts_with('#') {
                pad = " ".repeat((end + spaces - start).saturating_sub(value.len()).max(1));
                end += spaces;
            }
            splice(text, start..end, &format!("{value}{pad}"))
        }
        (Some(header), None) => {
            let at = text[header.span().end..].find('\n').map_or(text.len(), |i| header.span().end + i + 1);
            let newline = if text[..at].ends_with('\n') { "" } else { "\n" };
            splice(text, at..at, &format!("{newline}name = {value}\n"))
        }
        (None, None) => {
            let newline = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
            format!("{text}{newline}\n[image]\nname = {value}\n")
        }
    };
    // Read back as TOML, not as this kit's settings: `update` renames later templates' files too.
    let settings: toml::Table = edited.parse().context("the edited file no longer reads")?;
    let name = settings.get("image").and_then(|image| image.get("name")).and_then(|name| name.as_str());
    if name != Some(new) {
        bail!("could not set [image] name (it reads '{}'); set it to \"{new}\" by hand", name.unwrap_or_default());
    }
    Ok(edited)
}

/// README.md: a title that does not name the new service (the old name was replaced already)
/// becomes `# NEW`; a README without a title gets one.
fn set_readme_title(text: &str, new: &str) -> String {
    let (mut start, mut in_fence) = (0, false);
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        in_fence ^= content.trim_start().starts_with("```") || content.trim_start().starts_with("~~~");
        if !in_fence && content.starts_with("# ") {
            let names_it = content
                .match_indices(new)
                .any(|(i, _)| starts_word(&content[..i]) && ends_word(&content[i + new.len()..]));
            return if names_it {
                text.to_string()
            } else {
                splice(text, start..start + content.len(), &format!("# {new}"))
            };
        }
        start += line.len();
    }
    format!("# {new}\n\n{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename<'a>() -> Rename<'a> {
        Rename { old: "old-svc", new: "new-svc", old_version: "1.2.3", service_dir: Utf8Path::new("node-app") }
    }

    #[test]
    fn whole_words_only() {
        let r = rename();
        let cases = [
            ("name: old-svc\n", "name: new-svc\n"),
            ("  old-svc:\n    image: old-svc:compose\n", "  new-svc:\n    image: new-svc:compose\n"),
            ("container_name: old-svc-mongo", "container_name: new-svc-mongo"),
            (
                "ghcr.io/acme/old-svc:1.2.3 and old-svc:1.2 and old-svc:1",
                "ghcr.io/acme/new-svc:0.1.0 and new-svc:0.1 and new-svc:0",
            ),
            ("old-svc:1.2.3-rc.1 old-svc:12", "new-svc:1.2.3-rc.1 new-svc:12"),
            ("the old-svc. The \"old-svc\"", "the new-svc. The \"new-svc\""),
            (
                "legacy-old-svc old-svcs old-svc_x old-svc.js x.old-svc",
                "legacy-old-svc old-svcs old-svc_x old-svc.js x.old-svc",
            ),
            ("format!(\"old-svc-{command}-\")", "format!(\"new-svc-{command}-\")"),
            ("image: ${APP_IMAGE:-old-svc:compose} --old-svc", "image: ${APP_IMAGE:-new-svc:compose} --new-svc"),
            ("set $app old-svc:3000; appName: 'old-svc'", "set $app new-svc:3000; appName: 'new-svc'"),
        ];
        for (text, want) in cases {
            assert_eq!(replace_words(text, &r), want, "{text}");
        }
    }

    #[test]
    fn a_new_name_holding_the_old_one_is_not_renamed_twice() {
        let r = Rename { new: "old-svc-v2", ..rename() };
        assert_eq!(replace_words("old-svc old-svc-v2 old-svc-mongo", &r), "old-svc-v2 old-svc-v2 old-svc-v2-mongo");
        let text = "[image]\nname = \"old-svc\"\n";
        assert_eq!(rename_file(Utf8Path::new("xtask.toml"), text, &r).unwrap(), "[image]\nname = \"old-svc-v2\"\n");
    }

    #[test]
    fn a_name_without_a_dash_is_renamed_only_where_the_service_is_named() {
        let r = Rename { old: "oldsvc", ..rename() };
        let code = "mod oldsvc;\nlet image = \"oldsvc:1.2.3\";\n";
        assert_eq!(rename_file(Utf8Path::new("xtask/src/main.rs"), code, &r).unwrap(), code);
        let compose = "name: oldsvc\nservices:\n  oldsvc:\n    image: oldsvc:compose\n";
        assert_eq!(
            rename_file(Utf8Path::new("docker/compose.yaml"), compose, &r).unwrap(),
            "name: new-svc\nservices:\n  new-svc:\n    image: new-svc:compose\n"
        );
        let toml = "# oldsvc\n[image]\nname = \"oldsvc\"\n";
        assert_eq!(
            rename_file(Utf8Path::new("xtask.toml"), toml, &r).unwrap(),
            "# oldsvc\n[image]\nname = \"new-svc\"\n"
        );
        assert_eq!(rename_file(Utf8Path::new("README.md"), "# oldsvc\n", &r).unwrap(), "# new-svc\n");
    }

    #[test]
    fn package_json_is_written_back_as_npm_writes_it() {
        let text = "{\n  \"name\": \"old-svc\",\n  \"version\": \"1.2.3\",\n  \"description\": \"old-svc\",\n  \"dependencies\": {\n    \"old-svc\": \"1\"\n  }\n}\n";
        let got = rename_file(Utf8Path::new("node-app/package.json"), text, &rename()).unwrap();
        assert_eq!(got, text.replacen("\"old-svc\"", "\"new-svc\"", 1).replace("1.2.3", "0.1.0"));
        let tabs = "{\r\n\t\"private\": true,\r\n\t\"name\": \"old-svc\",\r\n\t\"z\": [],\r\n\t\"a\": {}\r\n}";
        let got = rename_package_json(tabs, "new-svc").unwrap();
        assert_eq!(
            got,
            "{\r\n\t\"private\": true,\r\n\t\"name\": \"new-svc\",\r\n\t\"version\": \"0.1.0\",\r\n\t\"z\": [],\r\n\t\"a\": {}\r\n}",
            "tabs, CRLF, key order, no final newline, and version right after name"
        );
        assert!(rename_package_json("[1]", "x").is_err());
        assert!(rename_package_json("{\"name\": \"a\"", "x").is_err());
    }

    #[test]
    fn package_json_keeps_every_other_byte() {
        let text = "\u{feff}{\"description\":\"caf\\u00e9 1.0\",\"n\":1.50,\"name\":\"old-svc\"}";
        let want =
            "\u{feff}{\"description\":\"caf\\u00e9 1.0\",\"n\":1.50,\"name\":\"new-svc\", \"version\": \"0.1.0\"}";
        assert_eq!(rename_package_json(text, "new-svc").unwrap(), want);
        let nameless = "{\n  \"private\": true\n}\n";
        let want = "{\n  \"name\": \"new-svc\",\n  \"version\": \"0.1.0\",\n  \"private\": true\n}\n";
        assert_eq!(rename_package_json(nameless, "new-svc").unwrap(), want);
        assert_eq!(rename_package_json("{}", "a").unwrap(), "{ \"name\": \"a\", \"version\": \"0.1.0\"}");
    }

    #[test]
    fn lockfile_root_and_service_package() {
        let text = r#"{
  "name": "old-svc",
  "version": "1.2.3",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {
      "name": "old-svc",
      "version": "1.2.3",
      "dependencies": {
        "x": "^1 \"}"
      }
    },
    "node_modules/old-svc": {
      "version": "1.2.3",
      "name": "old-svc"
    }
  }
}
"#;
        let got = rename_file(Utf8Path::new("node-app/package-lock.json"), text, &rename()).unwrap();
        let want = text.replacen("\"old-svc\"", "\"new-svc\"", 2).replacen("1.2.3", "0.1.0", 2);
        assert_eq!(got, want, "the root and packages[\"\"] renamed, a dependency named old-svc kept");
        // Other lockfiles name dependencies only.
        let other = rename_file(Utf8Path::new("tools/package-lock.json"), text, &rename()).unwrap();
        assert_eq!(other, text);
    }

    #[test]
    fn xtask_toml_image_name_only() {
        let text = "# old-svc settings\n[smoke.env]\nname = \"x\"\n\n[image]   # the image\nname = 'old-svc'  # repo\nregistry = \"\"\n";
        let got = rename_file(Utf8Path::new("xtask.toml"), text, &rename()).unwrap();
        assert_eq!(got, "# new-svc settings\n[smoke.env]\nname = \"x\"\n\n[image]   # the image\nname = \"new-svc\"  # repo\nregistry = \"\"\n");
        assert_eq!(
            set_image_name("[image]\nregistry = \"\"\n", "a").unwrap(),
            "[image]\nname = \"a\"\nregistry = \"\"\n"
        );
        assert_eq!(
            set_image_name("[service]\nport = 1", "a").unwrap(),
            "[service]\nport = 1\n\n[image]\nname = \"a\"\n"
        );
        assert_eq!(
            set_image_name("[image]\nname = \"b\" # c\n", "a-long-name").unwrap(),
            "[image]\nname = \"a-long-name\" # c\n"
        );
        assert!(set_image_name("[image]\nname = 3\n", "a").is_err());
    }

    #[test]
    fn readme_title() {
        let r = rename();
        let path = Utf8Path::new("README.md");
        assert_eq!(rename_file(path, "# old-svc: a service\n\ntext\n", &r).unwrap(), "# new-svc: a service\n\ntext\n");
        assert_eq!(
            rename_file(path, "```sh\n# comment\n```\n# node-app kit\r\nold-svc\n", &r).unwrap(),
            "```sh\n# comment\n```\n# new-svc\r\nnew-svc\n"
        );
        assert_eq!(rename_file(path, "no title\n", &r).unwrap(), "# new-svc\n\nno title\n");
    }
}
