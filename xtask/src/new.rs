//! `new DIR [--name NAME]`: copy the template into a new project, renamed, with a fresh git repository.
//!
//! The copy holds what `git ls-files` lists in the template, as it is on disk (tracked files deleted
//! from disk are skipped; nothing untracked, so no node_modules/, target/ or local state). The old
//! service name is package.json's `name`; NAME (default: DIR's file name) replaces it:
//!
//! - package.json and its lockfile: `name` and `version` (reset to 0.1.0), written back as npm
//!   writes them (key order, the file's indentation and final newline);
//! - xtask.toml: `[image] name`, edited as text, then parsed again;
//! - README.md: the title (the first `# ` line) names the new service;
//! - README.md, compose files and, when the old name holds a `-`, every other text file (docs, the
//!   kit's own tests): each whole-word occurrence of the old name, and an image reference to the
//!   template's version (`OLD:1.0.0`) becomes `NEW:0.1.0`. A name without `-` may be a word of code
//!   (`mod engine;`), so it is not replaced in other files; those that still hold it are listed.
//!   Lockfiles are left alone (they name dependencies, not the service);
//! - CHANGELOG.md is the template's history: the copy starts a fresh one.
//!
//! The service folder (node-app/) is the kit's convention and keeps its name. DIR may not be a file,
//! a folder that is not empty, or inside the template (unless git ignores that place, like target/).
//! All or nothing: the files go into a hidden sibling of DIR, which gets `git init`, `git add` and
//! one commit, and only then is renamed to DIR; on any error it is removed.

use anyhow::{bail, Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use serde_json::{Map, Value};

use crate::config;
use crate::plan::Interrupted;
use crate::process::{query, shell_quote};
use crate::project::Package;

/// The version a new project starts at.
pub const FIRST_VERSION: &str = "0.1.0";

/// Lockfiles name dependencies, never the service: no whole-word renaming in them.
const LOCKFILES: &[&str] = &["package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock"];

/// The commit identity used when git has none configured.
const FALLBACK_USER: (&str, &str) = ("cargo xtask new", "xtask-new@localhost");

/// What the service is called in the template and what it is called in the copy.
pub struct Rename<'a> {
    pub old: &'a str,
    pub new: &'a str,
    /// package.json's version in the template.
    pub old_version: &'a str,
    /// The service's folder relative to the root (xtask.toml's `[build] context`), e.g. `node-app`.
    pub service_dir: &'a Utf8Path,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A file's bytes and its permission bits (kept on unix: `.ci/run` stays executable).
    File {
        bytes: Vec<u8>,
        mode: u32,
    },
    Symlink(Utf8PathBuf),
}

/// What the new project holds, read from the template.
#[derive(Debug, Default)]
pub struct Contents {
    pub files: Vec<FileToWrite>,
    /// Tracked in the template but gone from disk (or submodules): not copied.
    pub skipped: Vec<Utf8PathBuf>,
    /// Files copied as they are that still name the old service (see `rename_file`).
    pub still_named: Vec<Utf8PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileToWrite {
    /// Relative to the project root.
    pub path: Utf8PathBuf,
    pub body: Body,
    /// How the copy differs from the template's file, e.g. `(renamed: old-svc → new-svc)`.
    pub note: Option<String>,
}

/// Copies the template at `template_root` into `target` (relative to the current folder) as the
/// service `name` (default: the target folder's name); `dry_run` lists what would be written.
pub fn new_project(template_root: &Utf8Path, target: &Utf8Path, name: Option<&str>, dry_run: bool) -> Result<()> {
    let target_path = resolve_target(target)?;
    let name = match name {
        Some(name) => {
            check_name(name)?;
            name.to_string()
        }
        None => {
            let name = target_path.file_name().unwrap_or_default().to_string();
            check_name(&name)
                .map_err(|err| anyhow::anyhow!("{err:#} (it is the folder's name: choose one with --name)"))?;
            name
        }
    };
    let root = template_root
        .canonicalize_utf8()
        .with_context(|| format!("cannot read the template folder {template_root}"))?;
    check_target(target, &target_path, &root, &name)?;

    let config = config::load(&root)?;
    let service_dir: Utf8PathBuf = config.build.context.components().filter(|c| *c != Utf8Component::CurDir).collect();
    let package = Package::load(&root.join(&service_dir), &config.build.context)?;
    if package.name.is_empty() {
        bail!(
            "the template's {}/package.json has no \"name\"; set it to the service's name, which the copy replaces",
            config.build.context
        );
    }
    let rename = Rename { old: &package.name, new: &name, old_version: &package.version, service_dir: &service_dir };
    let Contents { files, skipped, still_named } = plan(&root, &tracked_files(&root)?, &rename)?;
    let still_named_note = (!still_named.is_empty()).then(|| {
        let list: Vec<&str> = still_named.iter().map(|p| p.as_str()).collect();
        let why = if rename.old.contains('-') {
            ""
        } else {
            " (a name without '-' may be a word of code, so it is replaced only in README.md and compose files)"
        };
        format!("{} still name '{}'{why}; check them by hand", list.join(", "), rename.old)
    });
    let message = format!("Start {name} from the {} template", rename.old);

    if dry_run {
        println!(
            "would create {target}: {} files from the {} template at {root}, as {name} {FIRST_VERSION}",
            files.len(),
            rename.old
        );
        for file in &files {
            print_file_line(file);
        }
        for path in &skipped {
            println!("# skipped {path}: tracked but deleted from disk");
        }
        if let Some(note) = &still_named_note {
            println!("# {note}");
        }
        let parent = target_path.parent().unwrap_or(&root);
        for args in git_commands(&target_path, &initial_branch(parent), &git_identity(parent), &message) {
            println!("git {}", args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" "));
        }
        return Ok(());
    }

    let temp = temp_sibling(&target_path);
    if temp.exists() {
        // Left by an earlier run of this process id that was killed: nobody else names a folder so.
        std::fs::remove_dir_all(&temp)
            .with_context(|| format!("cannot remove the leftover temporary folder {temp}"))?;
    }
    std::fs::create_dir(&temp).with_context(|| format!("cannot create the temporary folder {temp}"))?;
    let commit = match build_project(&temp, &files, &message).and_then(|commit| {
        move_into_place(&temp, &target_path)?;
        Ok(commit)
    }) {
        Ok(commit) => commit,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(err.context(format!("cannot create {target} (the partial copy was removed)")));
        }
    };

    if !skipped.is_empty() {
        let list: Vec<&str> = skipped.iter().map(|p| p.as_str()).collect();
        eprintln!(
            "xtask: skipped {} tracked files deleted from the template's folder: {}",
            skipped.len(),
            list.join(", ")
        );
    }
    if let Some(note) = &still_named_note {
        eprintln!("xtask: {note}");
    }
    if !commit.identity.is_empty() {
        let used: Vec<&str> = commit.identity.iter().filter(|o| *o != "-c").map(String::as_str).collect();
        eprintln!(
            "xtask: git has no identity configured, so the first commit uses {}; set yours \
             (`git config --global user.name …` and `user.email …`) and run \
             `git commit --amend --no-edit --reset-author` in {target}",
            used.join(" and ")
        );
    }
    let edited = files.iter().filter(|f| f.note.is_some()).count();
    println!(
        "created {target}: {} files from the {} template, {edited} of them edited for {name} {FIRST_VERSION}; \
         first commit {} \"{message}\"",
        files.len(),
        rename.old,
        commit.sha
    );
    println!("next: cd {} && cargo xtask doctor && cargo xtask ci", shell_quote(target.as_str()));
    Ok(())
}

/// npm's package-name rules (lower-case, at most 214 characters, URL-safe, no leading `.` or `_`),
/// the image-name rules, and no `.` (compose takes its project name from it, which has no dots).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("the service name is empty; give one with --name, e.g. --name my-service");
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let problem = if name.starts_with('@') {
        let bare = name.rsplit('/').next().unwrap_or_default();
        Some(format!(
            "a scoped npm name is not a valid image name; use the name without its scope, e.g. --name {}",
            if bare.is_empty() { "my-service" } else { bare }
        ))
    } else if name.chars().any(char::is_whitespace) {
        Some("it may not contain spaces".to_string())
    } else if name.contains('/') {
        Some("it may not contain '/' (npm names are URL-safe; an image name with '/' has a namespace)".to_string())
    } else if name.starts_with('.') || name.starts_with('_') {
        Some("npm names may not start with '.' or '_'".to_string())
    } else if name.len() > 214 {
        Some(format!("it has {} characters; npm allows at most 214", name.len()))
    } else if name.chars().any(|c| c.is_uppercase()) {
        Some("npm and image names must be lower-case".to_string())
    } else if name == "node_modules" || name == "favicon.ico" {
        Some("npm reserves this name".to_string())
    } else if name.contains('.') {
        Some(
            "it may not contain '.': compose uses it as the project name, which allows only a-z, 0-9, '-' and '_'"
                .to_string(),
        )
    } else {
        name.chars()
            .find(|c| !allowed(*c))
            .map(|c| format!("'{c}' is not allowed; use lower-case letters, digits, '-' and '_'"))
    };
    if let Some(problem) = problem {
        bail!("invalid service name '{name}': {problem}");
    }
    if let Err(err) = crate::tags::validate_repository(name) {
        let message = err.to_string();
        let why = message.strip_prefix(&format!("invalid image name '{name}': ")).unwrap_or(&message);
        bail!("invalid service name '{name}': it is also the image name, and {why}");
    }
    Ok(())
}

/// The target as an absolute path: its parent folder must exist (it is resolved), the last
/// component is the new folder's name.
fn resolve_target(target: &Utf8Path) -> Result<Utf8PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let cwd = Utf8PathBuf::from_path_buf(cwd)
        .map_err(|p| anyhow::anyhow!("the current folder {} is not UTF-8", p.display()))?;
    let path = cwd.join(target);
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        bail!("'{target}' does not name a new folder; give a path such as ../my-service");
    };
    if !parent.is_dir() {
        bail!("cannot create {target}: the folder {parent} does not exist; create it first or choose another place");
    }
    let parent = parent.canonicalize_utf8().with_context(|| format!("cannot read the folder {parent}"))?;
    Ok(parent.join(name))
}

/// Refuses a target inside the template (except where git ignores it, such as target/), a file, a
/// symlink or a folder that is not empty.
fn check_target(target: &Utf8Path, path: &Utf8Path, template_root: &Utf8Path, name: &str) -> Result<()> {
    let metadata = std::fs::symlink_metadata(path).ok();
    let resolved = match &metadata {
        Some(m) if m.is_dir() => path.canonicalize_utf8().unwrap_or_else(|_| path.to_owned()),
        _ => path.to_owned(),
    };
    if let Ok(inside) = resolved.strip_prefix(template_root) {
        let ignored = !inside.as_str().is_empty()
            && query("git", &["-C", template_root.as_str(), "check-ignore", "--quiet", "--", inside.as_str()]).is_ok();
        if !ignored {
            let beside = template_root.parent().unwrap_or(template_root);
            let example = match beside.join(name) {
                path if path == template_root => beside.join("my-service"),
                path => path,
            };
            bail!(
                "{target} is inside the template ({template_root}); create the new project outside it, e.g. {example}"
            );
        }
    }
    match metadata {
        None => Ok(()),
        Some(m) if m.is_symlink() => bail!("{target} exists and is a symbolic link; choose a new folder"),
        Some(m) if !m.is_dir() => bail!("{target} exists and is a file; choose a new folder for the project"),
        Some(_) => {
            let mut entries = std::fs::read_dir(path).with_context(|| format!("cannot read the folder {target}"))?;
            if entries.next().is_some() {
                bail!("{target} exists and is not empty; choose a new folder, or empty it first");
            }
            Ok(())
        }
    }
}

/// What git tracks in the template, relative to its root.
fn tracked_files(root: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    crate::process::require_program("git")?;
    let out = query("git", &["-C", root.as_str(), "ls-files", "-z"]).with_context(|| {
        format!("cannot list the template's files in {root} (`new` copies what git tracks: run it in a clone)")
    })?;
    let mut files: Vec<Utf8PathBuf> = out.split('\0').filter(|p| !p.is_empty()).map(Utf8PathBuf::from).collect();
    files.dedup(); // a file with a merge conflict is listed once per stage
    Ok(files)
}

/// The files of the new project: each tracked file read from the template, renamed where the
/// service is named.
pub fn plan(root: &Utf8Path, tracked: &[Utf8PathBuf], rename: &Rename) -> Result<Contents> {
    let mut contents = Contents::default();
    for path in tracked {
        let source = root.join(path);
        let metadata = match std::fs::symlink_metadata(&source) {
            Ok(metadata) => metadata,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                contents.skipped.push(path.clone());
                continue;
            }
            Err(err) => return Err(err).with_context(|| format!("cannot read {path} in the template")),
        };
        if metadata.is_dir() {
            // A submodule: its own repository, not part of the template's files.
            contents.skipped.push(path.clone());
            continue;
        }
        if metadata.is_symlink() {
            let link = source.read_link_utf8().with_context(|| format!("cannot read the symbolic link {path}"))?;
            contents.files.push(FileToWrite { path: path.clone(), body: Body::Symlink(link), note: None });
            continue;
        }
        let bytes = std::fs::read(&source).with_context(|| format!("cannot read {path} in the template"))?;
        let mode = file_mode(&metadata);
        let (bytes, note) = if path.file_name() == Some("CHANGELOG.md") {
            (
                fresh_changelog(rename.old).into_bytes(),
                Some("(fresh: the template's history is not copied)".to_string()),
            )
        } else {
            match std::str::from_utf8(&bytes) {
                Ok(text) if !text.contains('\0') => {
                    let renamed = rename_file(path, text, rename)
                        .with_context(|| format!("cannot rename the service in {path}"))?;
                    let is_lockfile = path.file_name().is_some_and(|name| LOCKFILES.contains(&name));
                    if !is_lockfile && rename.old != rename.new && replace_words(&renamed, rename) != renamed {
                        contents.still_named.push(path.clone());
                    }
                    let note = (renamed != text).then(|| change_note(path, rename));
                    (renamed.into_bytes(), note)
                }
                _ => (bytes, None), // binary: copied as it is
            }
        };
        contents.files.push(FileToWrite { path: path.clone(), body: Body::File { bytes, mode }, note });
    }
    Ok(contents)
}

/// One file's text in the copy.
pub fn rename_file(path: &Utf8Path, text: &str, rename: &Rename) -> Result<String> {
    let is_service_file = |name: &str| path == rename.service_dir.join(name);
    if is_service_file("package.json") {
        return rename_package_json(text, rename.new);
    }
    if is_service_file("package-lock.json") || is_service_file("npm-shrinkwrap.json") {
        return rename_lockfile(text, rename.new);
    }
    if path.file_name().is_some_and(|name| LOCKFILES.contains(&name)) {
        return Ok(text.to_string());
    }
    // A name with a '-' cannot be an identifier, keyword or module name: renaming it in code only
    // touches strings and comments. Without one, only the files that name the service are edited.
    let everywhere = rename.old.contains('-');
    let file_name = path.file_name().unwrap_or_default();
    let is_compose = matches!(path.extension(), Some("yaml" | "yml"))
        && (path.parent() == Some(Utf8Path::new("docker")) || file_name.contains("compose"));
    match path.as_str() {
        config::FILE_NAME if everywhere => Ok(replace_words(&set_image_name(text, rename.new)?, rename)),
        config::FILE_NAME => set_image_name(text, rename.new),
        "README.md" => Ok(set_readme_title(&replace_words(text, rename), rename.new)),
        _ if everywhere || is_compose => Ok(replace_words(text, rename)),
        _ => Ok(text.to_string()),
    }
}

fn change_note(path: &Utf8Path, rename: &Rename) -> String {
    let mut note = String::new();
    if rename.old != rename.new {
        note = format!("(renamed: {} → {})", rename.old, rename.new);
    }
    let package_file = ["package.json", "package-lock.json", "npm-shrinkwrap.json"]
        .iter()
        .any(|name| path == rename.service_dir.join(name));
    if package_file && rename.old_version != FIRST_VERSION {
        let version = format!("(version: {} → {FIRST_VERSION})", rename.old_version);
        note = if note.is_empty() { version } else { format!("{note} {version}") };
    }
    if note.is_empty() {
        note = "(edited)".to_string();
    }
    note
}

fn fresh_changelog(old: &str) -> String {
    format!(
        "# Changelog\n\n## {FIRST_VERSION} — created from the template\n\n\
         Started from the {old} template with `cargo xtask new`; the template's history stays with the template.\n"
    )
}

/// Replaces each whole-word occurrence of the old name. A match may not follow a letter or digit,
/// or a `_`, `-` or `.` joined to one (so `legacy-old-svc` stays, `${IMAGE:-old-svc}` does not),
/// nor run on into a letter, digit or `_`, or into a `.` followed by one (so `old-svcs` and a file
/// name `old-svc.js` stay); names built on it, like `old-svc-mongo` or `old-svc:compose`, are renamed. An image reference to the template's
/// version, `OLD:1.0.0` (or `:1.0`, `:1`), becomes `NEW:0.1.0` (`:0.1`, `:0`). An occurrence that
/// is part of the new name (old `api`, new `api-v2`) is left as it is.
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
        out.push_str(&text[done..start]);
        out.push_str(rename.new);
        done = end;
        let after_colon = text[end..].strip_prefix(':').unwrap_or_default();
        if let Some((old_tag, new_tag)) =
            tags.iter().find(|(old_tag, _)| after_colon.strip_prefix(old_tag.as_str()).is_some_and(ends_tag))
        {
            out.push(':');
            out.push_str(new_tag);
            done = end + 1 + old_tag.len();
        }
    }
    out.push_str(&text[done..]);
    out
}

/// A word starts here unless a letter or digit comes before, or a `_`, `-` or `.` that follows one
/// (`legacy-old-svc`, but `${IMAGE:-old-svc}` or `--old-svc` start a word).
fn starts_word(before: &str) -> bool {
    let mut chars = before.chars().rev();
    match chars.next() {
        None => true,
        Some(c) if c.is_alphanumeric() => false,
        Some('_' | '-' | '.') => !chars.next().is_some_and(char::is_alphanumeric),
        Some(_) => true,
    }
}

fn ends_word(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some('.') => !chars.next().is_some_and(char::is_alphanumeric),
        Some(_) => true,
    }
}

fn ends_tag(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || "_-+".contains(c) => false,
        Some('.') => !chars.next().is_some_and(char::is_alphanumeric),
        Some(_) => true,
    }
}

/// `1.2.3` → the release tags it makes and the new project's: (1.2.3, 0.1.0), (1.2, 0.1), (1, 0).
fn version_tags(version: &str) -> Vec<(String, String)> {
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3 || !parts.iter().all(numeric) || version == FIRST_VERSION {
        return Vec::new();
    }
    vec![
        (version.to_string(), FIRST_VERSION.to_string()),
        (format!("{}.{}", parts[0], parts[1]), "0.1".to_string()),
        (parts[0].to_string(), "0".to_string()),
    ]
}

/// package.json: `name` and `version` (reset).
fn rename_package_json(text: &str, new: &str) -> Result<String> {
    edit_npm_json(text, |root| set_name_and_version(root, new))
}

/// package-lock.json: the root's `name` and `version` and those of `packages[""]` (the service).
fn rename_lockfile(text: &str, new: &str) -> Result<String> {
    edit_npm_json(text, |root| {
        set_name_and_version(root, new);
        if let Some(Value::Object(service)) = root.get_mut("packages").and_then(|packages| packages.get_mut("")) {
            set_name_and_version(service, new);
        }
    })
}

/// Sets `name`, and `version` where it is or else right after `name`.
fn set_name_and_version(object: &mut Map<String, Value>, new: &str) {
    object.insert("name".into(), new.into());
    match object.get_mut("version") {
        Some(version) => *version = FIRST_VERSION.into(),
        None => {
            let after_name = object.keys().position(|key| key == "name").map_or(object.len(), |i| i + 1);
            object.shift_insert(after_name, "version".into(), FIRST_VERSION.into());
        }
    }
}

/// Edits a JSON object file and writes it back the way npm does: keys in their order, the file's own
/// indentation (that of its first indented line, else two spaces), line ending and final newline.
fn edit_npm_json(text: &str, edit: impl FnOnce(&mut Map<String, Value>)) -> Result<String> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut value: Value =
        serde_json::from_str(body).map_err(|err| anyhow::anyhow!("invalid JSON (line {}): {err}", err.line()))?;
    let Value::Object(root) = &mut value else { bail!("the top of the file is not a JSON object") };
    edit(root);
    let indent = body.lines().nth(1).map(|line| &line[..line.len() - line.trim_start().len()]);
    let indent = indent.filter(|indent| !indent.is_empty()).unwrap_or("  ");
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    serde::Serialize::serialize(&value, &mut serde_json::Serializer::with_formatter(&mut out, formatter))?;
    let mut out = String::from_utf8(out)?;
    if body.ends_with('\n') {
        out.push('\n');
    }
    if body.contains("\r\n") {
        out = out.replace('\n', "\r\n");
    }
    Ok(out)
}

/// `text` with `range` replaced by `with`.
fn splice(text: &str, range: std::ops::Range<usize>, with: &str) -> String {
    format!("{}{with}{}", &text[..range.start], &text[range.end..])
}

/// xtask.toml: `name = "…"` in the `[image]` table, edited in place (added when missing), then the
/// file is parsed again as the kit reads it.
fn set_image_name(text: &str, new: &str) -> Result<String> {
    let value = format!("\"{new}\"");
    let mut table = String::new();
    let mut header_end = None;
    let mut offset = 0;
    let mut edited = None;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            table = trimmed.trim_start_matches('[').split(']').next().unwrap_or_default().trim().to_string();
            if table == "image" {
                header_end = Some(offset);
            }
            continue;
        }
        let Some(rest) = trimmed.strip_prefix("name") else { continue };
        let Some(rest) = rest.trim_start().strip_prefix('=') else { continue };
        if table != "image" {
            continue;
        }
        let value_start = start + (line.len() - rest.trim_start().len());
        let quote = text[value_start..].chars().next();
        let Some(quote @ ('"' | '\'')) = quote else {
            bail!("[image] name is not a quoted string; set it to \"{new}\" by hand");
        };
        let mut end = value_start + 1;
        let bytes = text.as_bytes();
        while end < offset && bytes[end] != quote as u8 {
            end += if quote == '"' && bytes[end] == b'\\' { 2 } else { 1 };
        }
        if end >= offset {
            bail!("[image] name is not a one-line string; set it to \"{new}\" by hand");
        }
        // Keep a trailing comment in its column: `name = "x"     # …`.
        let after = &text[end + 1..offset];
        let spaces = after.len() - after.trim_start_matches(' ').len();
        let pad = if after[spaces..].starts_with('#') {
            " ".repeat((spaces + end + 1 - value_start).saturating_sub(value.len()).max(1))
        } else {
            " ".repeat(spaces)
        };
        edited = Some(splice(text, value_start..end + 1 + spaces, &format!("{value}{pad}")));
        break;
    }
    let edited = match (edited, header_end) {
        (Some(edited), _) => edited,
        (None, Some(at)) => {
            let newline = if text[..at].ends_with('\n') { "" } else { "\n" };
            splice(text, at..at, &format!("{newline}name = {value}\n"))
        }
        (None, None) => {
            let newline = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
            format!("{text}{newline}\n[image]\nname = {value}\n")
        }
    };
    let config = config::parse(&edited, config::FILE_NAME).context("the edited file no longer reads")?;
    if config.image.name != new {
        bail!("could not set [image] name (it reads '{}'); set it to \"{new}\" by hand", config.image.name);
    }
    Ok(edited)
}

/// README.md: a title that does not name the new service (the old name was replaced already)
/// becomes `# NEW`; a README without a title gets one.
fn set_readme_title(text: &str, new: &str) -> String {
    let mut offset = 0;
    let mut in_fence = false;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        if content.trim_start().starts_with("```") || content.trim_start().starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || !content.starts_with("# ") {
            continue;
        }
        let names_it =
            content.match_indices(new).any(|(i, _)| starts_word(&content[..i]) && ends_word(&content[i + new.len()..]));
        if names_it {
            return text.to_string();
        }
        return splice(text, start..start + content.len(), &format!("# {new}"));
    }
    format!("# {new}\n\n{text}")
}

fn print_file_line(file: &FileToWrite) {
    let mut line = file.path.to_string();
    if let Body::Symlink(link) = &file.body {
        line.push_str(&format!(" -> {link}"));
    }
    if let Some(note) = &file.note {
        line.push(' ');
        line.push_str(note);
    }
    println!("{line}");
}

/// `.NAME.xtask-new-PID` next to the target: same file system, so the final rename is atomic.
fn temp_sibling(target: &Utf8Path) -> Utf8PathBuf {
    let name = target.file_name().unwrap_or("project");
    target.with_file_name(format!(".{name}.xtask-new-{}", std::process::id()))
}

/// The `-c user.…=…` options the commit needs when git has no identity configured.
fn git_identity(dir: &Utf8Path) -> Vec<String> {
    let (user, email) = FALLBACK_USER;
    let mut options = Vec::new();
    for (key, fallback) in [("user.name", user), ("user.email", email)] {
        let configured = query("git", &["-C", dir.as_str(), "config", key]).is_ok_and(|v| !v.is_empty());
        if !configured {
            options.extend(["-c".to_string(), format!("{key}={fallback}")]);
        }
    }
    options
}

/// The first branch: git's `init.defaultBranch` when set, else `main` (not git's historic default,
/// which workflows written for `main` would not run on).
fn initial_branch(dir: &Utf8Path) -> String {
    query("git", &["-C", dir.as_str(), "config", "init.defaultBranch"])
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "main".to_string())
}

/// The git commands that start the repository in `dir` (argv after `git`).
fn git_commands(dir: &Utf8Path, branch: &str, identity: &[String], message: &str) -> Vec<Vec<String>> {
    let git =
        |args: &[&str]| -> Vec<String> { ["-C", dir.as_str()].iter().chain(args).map(|a| a.to_string()).collect() };
    let init = format!("--initial-branch={branch}");
    let mut commit = git(&[]);
    commit.extend(identity.iter().cloned());
    commit.extend(["commit", "--quiet", "--message", message].map(String::from));
    // --force: a tracked file that .gitignore matches is still part of the template.
    vec![git(&["init", "--quiet", &init]), git(&["add", "--all", "--force"]), commit]
}

struct Commit {
    sha: String,
    /// The fallback identity options, empty when git has one configured.
    identity: Vec<String>,
}

/// Writes the files into `dir` and commits them.
fn build_project(dir: &Utf8Path, files: &[FileToWrite], message: &str) -> Result<Commit> {
    for file in files {
        if let Some(sig) = crate::signals::received() {
            return Err(Interrupted(sig).into());
        }
        write_file(dir, file).with_context(|| format!("cannot write {}", file.path))?;
    }
    let branch = initial_branch(dir);
    let init = git_commands(dir, &branch, &[], message).remove(0);
    query("git", &init.iter().map(String::as_str).collect::<Vec<_>>()).context("`git init` failed")?;
    let identity = git_identity(dir);
    for args in git_commands(dir, &branch, &identity, message).into_iter().skip(1) {
        if let Some(sig) = crate::signals::received() {
            return Err(Interrupted(sig).into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let what = args.iter().skip(2).find(|a| !a.starts_with('-') && !a.contains('=')).copied().unwrap_or("git");
        query("git", &args).with_context(|| format!("`git {what}` failed"))?;
    }
    let sha = query("git", &["-C", dir.as_str(), "rev-parse", "--short", "HEAD"]).unwrap_or_default();
    Ok(Commit { sha, identity })
}

fn write_file(dir: &Utf8Path, file: &FileToWrite) -> Result<()> {
    let path = dir.join(&file.path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match &file.body {
        Body::File { bytes, mode } => {
            std::fs::write(&path, bytes)?;
            set_mode(&path, *mode)?;
        }
        Body::Symlink(link) => make_symlink(link, &path)?,
    }
    Ok(())
}

/// Renames the finished project into place; an empty target folder is replaced.
fn move_into_place(temp: &Utf8Path, target: &Utf8Path) -> Result<()> {
    if target.is_dir() {
        std::fs::remove_dir(target).with_context(|| format!("cannot replace the empty folder {target}"))?;
    }
    std::fs::rename(temp, target).with_context(|| format!("cannot rename {temp} to {target}"))
}

#[cfg(unix)]
fn file_mode(metadata: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn file_mode(_metadata: &std::fs::Metadata) -> u32 {
    0o644
}

#[cfg(unix)]
fn set_mode(path: &Utf8Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_mode(_path: &Utf8Path, _mode: u32) -> Result<()> {
    Ok(())
}

#[cfg(unix)]
fn make_symlink(link: &Utf8Path, path: &Utf8Path) -> Result<()> {
    std::os::unix::fs::symlink(link, path)?;
    Ok(())
}

#[cfg(not(unix))]
fn make_symlink(link: &Utf8Path, path: &Utf8Path) -> Result<()> {
    bail!("the template holds a symbolic link ({path} -> {link}), which this platform cannot copy")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename<'a>() -> Rename<'a> {
        Rename { old: "old-svc", new: "new-svc", old_version: "1.2.3", service_dir: Utf8Path::new("node-app") }
    }

    #[test]
    fn good_names() {
        for name in ["my-service", "shop", "a", "shop_api", "s3-uploader", "a--b", &"a".repeat(214)] {
            check_name(name).unwrap_or_else(|err| panic!("{name}: {err:#}"));
        }
    }

    #[test]
    fn bad_names_say_why() {
        let long = "a".repeat(215);
        for (name, why) in [
            ("", "is empty"),
            ("Shop", "lower-case"),
            ("shop api", "spaces"),
            (".shop", "may not start with '.' or '_'"),
            ("_shop", "may not start with '.' or '_'"),
            ("@acme/shop", "--name shop"),
            ("a/b", "'/'"),
            (&long, "at most 214"),
            ("shop.api", "compose"),
            ("shop!", "'!' is not allowed"),
            ("shop-", "image name"),
            ("node_modules", "reserves"),
        ] {
            let err = check_name(name).unwrap_err().to_string();
            assert!(err.contains(why), "{name}: {err}");
            assert!(!err.contains('\n') && !err.ends_with('.'), "{err}");
        }
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

    #[test]
    fn plan_reads_renames_and_skips() {
        let dir = std::env::temp_dir().join(format!("xtask-new-plan-{}", std::process::id()));
        let root = Utf8PathBuf::from_path_buf(dir).unwrap();
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("node-app")).unwrap();
        std::fs::write(root.join("node-app/package.json"), "{\"name\": \"old-svc\", \"version\": \"1.2.3\"}").unwrap();
        std::fs::write(root.join("CHANGELOG.md"), "## 1.2.3\nold-svc things\n").unwrap();
        std::fs::write(root.join("logo.bin"), b"old-svc\0\xff").unwrap();
        std::fs::write(root.join("notes.txt"), "nothing here\n").unwrap();
        let tracked: Vec<Utf8PathBuf> =
            ["CHANGELOG.md", "gone.txt", "logo.bin", "node-app/package.json", "notes.txt"].map(Into::into).to_vec();
        let Contents { files, skipped, still_named } = plan(&root, &tracked, &rename()).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(skipped, [Utf8PathBuf::from("gone.txt")]);
        assert!(still_named.is_empty(), "{still_named:?}");
        let notes: Vec<(&str, Option<&str>)> = files.iter().map(|f| (f.path.as_str(), f.note.as_deref())).collect();
        assert_eq!(
            notes,
            [
                ("CHANGELOG.md", Some("(fresh: the template's history is not copied)")),
                ("logo.bin", None),
                ("node-app/package.json", Some("(renamed: old-svc → new-svc) (version: 1.2.3 → 0.1.0)")),
                ("notes.txt", None),
            ]
        );
        let Body::File { bytes, .. } = &files[0].body else { panic!("a file") };
        let changelog = String::from_utf8_lossy(bytes);
        assert!(changelog.contains("## 0.1.0") && !changelog.contains("1.2.3"), "{changelog}");
        assert_eq!(files[1].body, Body::File { bytes: b"old-svc\0\xff".to_vec(), mode: files_mode(&files[1]) });
    }

    fn files_mode(file: &FileToWrite) -> u32 {
        match file.body {
            Body::File { mode, .. } => mode,
            Body::Symlink(_) => 0,
        }
    }

    #[test]
    fn git_commands_in_order() {
        let identity = vec!["-c".to_string(), "user.email=xtask-new@localhost".to_string()];
        let commands = git_commands(Utf8Path::new("/p/shop"), "main", &identity, "Start shop");
        assert_eq!(commands[0], ["-C", "/p/shop", "init", "--quiet", "--initial-branch=main"]);
        assert_eq!(commands[1], ["-C", "/p/shop", "add", "--all", "--force"]);
        assert_eq!(
            commands[2],
            ["-C", "/p/shop", "-c", "user.email=xtask-new@localhost", "commit", "--quiet", "--message", "Start shop"]
        );
        assert_eq!(temp_sibling(Utf8Path::new("/p/shop")), format!("/p/.shop.xtask-new-{}", std::process::id()));
    }
}
