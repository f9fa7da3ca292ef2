//! `new DIR [--name NAME]`: copy the template into a new project, renamed, with a fresh git repository.
//!
//! The copy holds what `git ls-files` lists in the template, as it is on disk (tracked files deleted
//! from disk are skipped; nothing untracked, so no node_modules/, target/ or local state), except
//! the kit's own benchmark, xtask/bench/, a maintainers' tool: the copy's Cargo.toml and
//! .cargo/config.toml no longer name it. NAME (default: DIR's file name) replaces the service's old
//! name, package.json's `name`, as rename.rs describes; files copied as they are that still name it
//! are listed. CHANGELOG.md is the template's history: the copy starts a fresh one.
//!
//! The service folder (node-app/) is the kit's convention and keeps its name. DIR may not be a file,
//! a folder that is not empty, or inside the template (unless git ignores that place, like target/).
//! All or nothing: the files go into a hidden sibling of DIR, which gets `git init`, `git add` and
//! one commit, and only then is renamed to DIR; on any error it is removed. The commit's message
//! ends with where the copy came from (`Origin`: the template's folder and commit), which `update`
//! reads.

use std::os::unix::fs::PermissionsExt;

use anyhow::{anyhow, bail, ensure, Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};
use toml::de::DeTable;

use crate::config;
use crate::plan::Interrupted;
use crate::process::{query, shell_quote};
use crate::project::Package;
use crate::rename::{change_note, is_lockfile, rename_file, replace_words, Rename, FIRST_VERSION};

/// The kit's benchmark, a workspace member of its own that no project made from the template carries.
const BENCH_DIR: &str = "xtask/bench";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A file's bytes and its permission bits (`.ci/run` stays executable).
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
    let hint = if name.is_none() { " (it is the folder's name: choose one with --name)" } else { "" };
    let name = name.or(target_path.file_name()).unwrap_or_default();
    check_name(name).map_err(|err| anyhow!("{err:#}{hint}"))?;
    let root = template_root
        .canonicalize_utf8()
        .with_context(|| format!("cannot read the template folder {template_root}"))?;
    check_target(target, &target_path, &root, name)?;

    let template = Template::read(&root)?;
    let rename = template.rename(name);
    let contents = plan(&root, &tracked_files(&root)?, &rename)?;
    let (files, old, count) = (&contents.files, rename.old, contents.files.len());
    let subject = format!("Start {name} from the {old} template");
    let origin = query("git", &["-C", root.as_str(), "rev-parse", "HEAD"]).map(|commit| Origin {
        location: root.to_string(),
        commit,
        name: name.to_string(),
    });
    let message = origin.as_ref().map_or(subject.clone(), |origin| format!("{subject}\n\n{}", origin.trailers()));

    if dry_run {
        println!("would create {target}: {count} files from the {old} template at {root}, as {name} {FIRST_VERSION}");
        for file in files {
            let link = if let Body::Symlink(link) = &file.body { format!(" -> {link}") } else { String::new() };
            println!("{}{link}{}", file.path, file.note.as_ref().map(|note| format!(" {note}")).unwrap_or_default());
        }
        for note in notes(&contents, &rename) {
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
    let commit = build_project(&temp, &target_path, files, &message).map_err(|err| {
        let _ = std::fs::remove_dir_all(&temp);
        err.context(format!("cannot create {target} (the partial copy was removed)"))
    })?;

    for note in notes(&contents, &rename) {
        eprintln!("xtask: {note}");
    }
    let changed = query("git", &["-C", root.as_str(), "status", "--porcelain", "--untracked-files=no"]);
    if let (Ok(origin), Ok(false)) = (&origin, changed.as_ref().map(String::is_empty)) {
        eprintln!(
            "xtask: the template's uncommitted changes were copied too; the copy records commit {}, so `update` \
             counts them as the project's own",
            &origin.commit[..7]
        );
    }
    if !commit.identity.is_empty() {
        let used: Vec<&str> = commit.identity.into_iter().filter(|o| *o != "-c").collect();
        eprintln!(
            "xtask: git has no identity configured, so the first commit uses {}; set yours \
             (`git config --global user.name …` and `user.email …`) and run \
             `git commit --amend --no-edit --reset-author` in {target}",
            used.join(" and ")
        );
    }
    let edited = files.iter().filter(|f| f.note.is_some()).count();
    println!(
        "created {target}: {count} files from the {old} template, {edited} of them edited for {name} {FIRST_VERSION}; \
         first commit {} \"{subject}\"{}",
        commit.sha,
        if origin.is_ok() { ", which records the template's folder and commit for `cargo xtask update`" } else { "" }
    );
    println!("next: cd {} && cargo xtask doctor && cargo xtask ci", shell_quote(target.as_str()));
    Ok(())
}

/// The template's service, whose name and version a copy replaces: its folder (xtask.toml's
/// `[build] context`) and package.json.
pub struct Template {
    pub service_dir: Utf8PathBuf,
    pub package: Package,
}

impl Template {
    /// Reads only `[build] context` from xtask.toml, so that `update` can read a later template
    /// whose settings this xtask does not know yet.
    pub fn read(root: &Utf8Path) -> Result<Template> {
        let path = root.join(config::FILE_NAME);
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read the template's {path}"))?;
        let settings: toml::Table = text.parse().with_context(|| format!("cannot read the template's {path}"))?;
        let context = settings.get("build").and_then(|build| build.get("context")).and_then(|c| c.as_str());
        let context = context.map_or_else(|| config::Build::default().context, Utf8PathBuf::from);
        let service_dir: Utf8PathBuf = context.components().filter(|c| *c != Utf8Component::CurDir).collect();
        let package = Package::load(&root.join(&service_dir), &context)?;
        if package.name.is_empty() {
            bail!("the template's {context}/package.json has no \"name\"; set it to the service's name, which the copy replaces");
        }
        Ok(Template { service_dir, package })
    }

    pub fn rename<'a>(&'a self, new: &'a str) -> Rename<'a> {
        Rename { old: &self.package.name, new, old_version: &self.package.version, service_dir: &self.service_dir }
    }
}

/// Where a copy came from, recorded as trailers of a commit message: the first commit's, then each
/// `update`'s (the newest one is the record). The template's location (folder or git URL), its
/// commit, and the name `new` gave the service, which `update` renames the template's files to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub location: String,
    pub commit: String,
    pub name: String,
}

impl Origin {
    pub fn trailers(&self) -> String {
        let Origin { location, commit, name } = self;
        format!("Template: {location}\nTemplate-commit: {commit}\nTemplate-renamed-to: {name}")
    }

    /// The record in a commit message; None unless it holds all three trailers.
    pub fn parse(message: &str) -> Option<Origin> {
        let value = |key: &str| {
            let found = message.lines().rev().find_map(|line| line.strip_prefix(key)?.strip_prefix(": "));
            found.map(|value| value.trim().to_string()).filter(|value| !value.is_empty())
        };
        let (location, commit, name) = (value("Template")?, value("Template-commit")?, value("Template-renamed-to")?);
        Some(Origin { location, commit, name })
    }
}

/// What to tell about the copy beside its files: those skipped, those that still name the old service.
fn notes(contents: &Contents, rename: &Rename) -> Vec<String> {
    let list = |paths: &[Utf8PathBuf]| paths.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ");
    let mut notes = Vec::new();
    if !contents.skipped.is_empty() {
        let (count, list) = (contents.skipped.len(), list(&contents.skipped));
        notes.push(format!("skipped {count} tracked files deleted from the template's folder: {list}"));
    }
    if !contents.still_named.is_empty() {
        let why = if rename.old.contains('-') {
            ""
        } else {
            " (a name without '-' may be a word of code, so it is replaced only in README.md and compose files)"
        };
        notes.push(format!("{} still name '{}'{why}; check them by hand", list(&contents.still_named), rename.old));
    }
    notes
}

/// npm's package-name rules (lower-case, at most 214 characters, URL-safe, no leading `.` or `_`),
/// the image-name rules, and no `.` (compose takes its project name from it, which has no dots).
pub fn check_name(name: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let bare = name.rsplit('/').next().filter(|bare| !bare.is_empty()).unwrap_or("my-service");
    let problem = match name.chars().find(|c| !allowed(*c)) {
        _ if name.is_empty() => bail!("the service name is empty; give one with --name, e.g. --name my-service"),
        _ if name.starts_with('@') => {
            format!("a scoped npm name is not a valid image name; use the name without its scope, e.g. --name {bare}")
        }
        _ if name.chars().any(char::is_whitespace) => "it may not contain spaces".to_string(),
        _ if name.contains('/') => {
            "it may not contain '/' (npm names are URL-safe; an image name with '/' has a namespace)".to_string()
        }
        _ if name.starts_with('.') || name.starts_with('_') => "npm names may not start with '.' or '_'".to_string(),
        _ if name.len() > 214 => format!("it has {} characters; npm allows at most 214", name.len()),
        _ if name.chars().any(|c| c.is_uppercase()) => "npm and image names must be lower-case".to_string(),
        _ if name == "node_modules" || name == "favicon.ico" => "npm reserves this name".to_string(),
        _ if name.contains('.') => {
            "it may not contain '.': compose uses it as the project name, which allows only a-z, 0-9, '-' and '_'"
                .to_string()
        }
        Some(c) => format!("'{c}' is not allowed; use lower-case letters, digits, '-' and '_'"),
        None => match crate::tags::validate_repository(name) {
            Ok(()) => return Ok(()),
            Err(err) => {
                let message = err.to_string();
                let why = message.strip_prefix(&format!("invalid image name '{name}': ")).unwrap_or(&message);
                format!("it is also the image name, and {why}")
            }
        },
    };
    bail!("invalid service name '{name}': {problem}")
}

/// The target as an absolute path: its parent folder must exist (it is resolved), the last
/// component is the new folder's name.
fn resolve_target(target: &Utf8Path) -> Result<Utf8PathBuf> {
    let path = crate::project::current_dir()?.join(target);
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
/// symlink or a folder that is not empty. `path` is resolved already (see `resolve_target`).
fn check_target(target: &Utf8Path, path: &Utf8Path, template_root: &Utf8Path, name: &str) -> Result<()> {
    // What is already there first: the same answer wherever the template lies.
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        ensure!(!metadata.is_symlink(), "{target} exists and is a symbolic link; choose a new folder");
        ensure!(metadata.is_dir(), "{target} exists and is a file; choose a new folder for the project");
        if std::fs::read_dir(path).with_context(|| format!("cannot read the folder {target}"))?.next().is_some() {
            bail!("{target} exists and is not empty; choose a new folder, or empty it first");
        }
    }
    if let Ok(inside) = path.strip_prefix(template_root) {
        let ignored = !inside.as_str().is_empty()
            && query("git", &["-C", template_root.as_str(), "check-ignore", "--quiet", "--", inside.as_str()]).is_ok();
        let beside = template_root.parent().unwrap_or(template_root);
        let example = Some(beside.join(name)).filter(|example| example != template_root);
        let example = example.unwrap_or_else(|| beside.join("my-service"));
        ensure!(
            ignored,
            "{target} is inside the template ({template_root}); create the new project outside it, e.g. {example}"
        );
    }
    Ok(())
}

/// What git tracks in the template, relative to its root.
pub fn tracked_files(root: &Utf8Path) -> Result<Vec<Utf8PathBuf>> {
    crate::process::require_program("git")?;
    let out = query("git", &["-C", root.as_str(), "ls-files", "-z"]).with_context(|| {
        format!("cannot list the template's files in {root} (`new` copies what git tracks: run it in a clone)")
    })?;
    let mut files: Vec<Utf8PathBuf> = out.split('\0').filter(|p| !p.is_empty()).map(Utf8PathBuf::from).collect();
    files.dedup(); // a file with a merge conflict is listed once per stage
    Ok(files)
}

/// The files of the new project: each tracked file read from the template, renamed where the
/// service is named; xtask/bench/ left out.
pub fn plan(root: &Utf8Path, tracked: &[Utf8PathBuf], rename: &Rename) -> Result<Contents> {
    let mut contents = Contents::default();
    for path in tracked.iter().filter(|path| !path.starts_with(BENCH_DIR)) {
        let source = root.join(path);
        let metadata = match std::fs::symlink_metadata(&source) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(err).with_context(|| format!("cannot read {path} in the template"));
            }
            Ok(metadata) if !metadata.is_dir() => metadata,
            // Gone from disk, or a folder: a submodule, its own repository, not part of the template's files.
            _ => {
                contents.skipped.push(path.clone());
                continue;
            }
        };
        if metadata.is_symlink() {
            let link = source.read_link_utf8().with_context(|| format!("cannot read the symbolic link {path}"))?;
            contents.files.push(FileToWrite { path: path.clone(), body: Body::Symlink(link), note: None });
            continue;
        }
        let bytes = std::fs::read(&source).with_context(|| format!("cannot read {path} in the template"))?;
        let (bytes, note) = match std::str::from_utf8(&bytes) {
            _ if path.file_name() == Some("CHANGELOG.md") => {
                let fresh = format!(
                    "# Changelog\n\n## {FIRST_VERSION} — created from the template\n\nStarted from the {} template \
                     with `cargo xtask new`; the template's history stays with the template.\n",
                    rename.old
                );
                (fresh.into_bytes(), Some("(fresh: the template's history is not copied)".to_string()))
            }
            Ok(text) if !text.contains('\0') => {
                let renamed =
                    rename_file(path, text, rename).with_context(|| format!("cannot rename the service in {path}"))?;
                let edited =
                    without_bench(path, &renamed).with_context(|| format!("cannot leave {BENCH_DIR} out of {path}"))?;
                if !is_lockfile(path) && rename.old != rename.new && replace_words(&renamed, rename) != renamed {
                    contents.still_named.push(path.clone());
                }
                let renamed_note = (renamed != text).then(|| change_note(path, rename));
                let bench_note = (edited != renamed).then(|| format!("({BENCH_DIR} left out)"));
                (edited.into_bytes(), renamed_note.into_iter().chain(bench_note).reduce(|a, b| format!("{a} {b}")))
            }
            _ => (bytes, None), // binary: copied as it is
        };
        let mode = metadata.permissions().mode() & 0o7777;
        contents.files.push(FileToWrite { path: path.clone(), body: Body::File { bytes, mode }, note });
    }
    Ok(contents)
}

/// The root Cargo.toml and .cargo/config.toml of a project that has no xtask/bench/: without the
/// benchmark's workspace member and its `xbench` alias.
pub fn without_bench(path: &Utf8Path, text: &str) -> Result<String> {
    match path.as_str() {
        "Cargo.toml" => drop_bench_member(text),
        ".cargo/config.toml" => {
            let is_alias = |line: &str| line.split_once('=').is_some_and(|(key, _)| key.trim() == "xbench");
            Ok(text.split_inclusive('\n').filter(|line| !is_alias(line)).collect())
        }
        _ => Ok(text.to_string()),
    }
}

/// Cuts the benchmark from the `[workspace]` arrays that name it (`members`, `default-members`): the
/// element, found by the TOML parser, and the comma that joins it to a neighbour. The rest of the
/// file stays as it is.
fn drop_bench_member(text: &str) -> Result<String> {
    let document = DeTable::parse(text)?;
    let workspace = document.get_ref().get("workspace");
    for key in ["members", "default-members"] {
        let Some(array) = workspace.and_then(|workspace| workspace.get_ref().get(key)) else { continue };
        let Some(members) = array.get_ref().as_array() else { continue };
        let is_bench = |member: &str| member.trim_start_matches("./").trim_end_matches('/') == BENCH_DIR;
        let Some(i) = members.iter().position(|m| m.get_ref().as_str().is_some_and(is_bench)) else { continue };
        let cut = match (i.checked_sub(1), members.get(i + 1)) {
            (_, Some(next)) => members[i].span().start..next.span().start,
            (Some(previous), None) => members[previous].span().end..members[i].span().end,
            (None, None) => members[i].span().start..array.span().end - 1,
        };
        let mut edited = text.to_string();
        edited.replace_range(cut, "");
        return drop_bench_member(&edited); // the same member may be named twice, or in the other key
    }
    Ok(text.to_string())
}

/// `.NAME.xtask-new-PID` next to the target: same file system, so the final rename is atomic.
fn temp_sibling(target: &Utf8Path) -> Utf8PathBuf {
    let name = target.file_name().unwrap_or("project");
    target.with_file_name(format!(".{name}.xtask-new-{}", std::process::id()))
}

/// A setting of git's configuration as seen from `dir`, when set.
fn git_config(dir: &Utf8Path, key: &str) -> Option<String> {
    query("git", &["-C", dir.as_str(), "config", key]).ok().filter(|value| !value.is_empty())
}

/// The `-c user.…=…` options the commit needs when git has no identity configured.
pub fn git_identity(dir: &Utf8Path) -> Vec<&'static str> {
    [("user.name", "user.name=cargo xtask new"), ("user.email", "user.email=xtask-new@localhost")]
        .into_iter()
        .filter(|(key, _)| git_config(dir, key).is_none())
        .flat_map(|(_, option)| ["-c", option])
        .collect()
}

/// The first branch: git's `init.defaultBranch` when set, else `main` (not git's historic default,
/// which workflows written for `main` would not run on).
fn initial_branch(dir: &Utf8Path) -> String {
    git_config(dir, "init.defaultBranch").unwrap_or_else(|| "main".to_string())
}

/// The git commands that start the repository in `dir` (argv after `git`): init, add, commit.
fn git_commands<'a>(dir: &'a Utf8Path, branch: &str, identity: &[&'a str], message: &'a str) -> Vec<Vec<String>> {
    let git = |args: &[&str]| [&["-C", dir.as_str()], args].concat().into_iter().map(String::from).collect();
    let commit = [identity, &["commit", "--quiet", "--message", message]].concat();
    // --force: a tracked file that .gitignore matches is still part of the template.
    let init = format!("--initial-branch={branch}");
    vec![git(&["init", "--quiet", &init]), git(&["add", "--all", "--force"]), git(&commit)]
}

struct Commit {
    sha: String,
    /// The fallback identity options, empty when git has one configured.
    identity: Vec<&'static str>,
}

/// Writes the files into `temp`, commits them, and renames `temp` to `target` (which replaces an
/// empty folder there).
fn build_project(temp: &Utf8Path, target: &Utf8Path, files: &[FileToWrite], message: &str) -> Result<Commit> {
    for file in files {
        stop_if_interrupted()?;
        write_file(&temp.join(&file.path), &file.body).with_context(|| format!("cannot write {}", file.path))?;
    }
    let git = |args: &[String]| query("git", &args.iter().map(String::as_str).collect::<Vec<_>>());
    let branch = initial_branch(temp);
    git(&git_commands(temp, &branch, &[], message)[0]).context("`git init` failed")?;
    // Read once the repository exists, so that the config of one around it does not count.
    let identity = git_identity(temp);
    for (args, what) in git_commands(temp, &branch, &identity, message).iter().skip(1).zip(["add", "commit"]) {
        stop_if_interrupted()?;
        git(args).with_context(|| format!("`git {what}` failed"))?;
    }
    let sha = query("git", &["-C", temp.as_str(), "rev-parse", "--short", "HEAD"]).unwrap_or_default();
    std::fs::rename(temp, target).with_context(|| format!("cannot rename {temp} to {target}"))?;
    Ok(Commit { sha, identity })
}

fn stop_if_interrupted() -> Result<()> {
    crate::signals::received().map_or(Ok(()), |sig| Err(Interrupted(sig).into()))
}

pub fn write_file(path: &Utf8Path, body: &Body) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match body {
        Body::File { bytes, mode } => {
            std::fs::write(path, bytes)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))?;
        }
        Body::Symlink(link) => std::os::unix::fs::symlink(link, path)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rename<'a>() -> Rename<'a> {
        Rename { old: "old-svc", new: "new-svc", old_version: "1.2.3", service_dir: Utf8Path::new("node-app") }
    }

    #[test]
    fn the_origin_is_read_back_from_a_commit_message() {
        let origin = Origin { location: "/home/me/kit: v2".into(), commit: "3f2a".repeat(10), name: "shop".into() };
        let message = format!("Update from the kit\n\nTemplate: old\n\n{}\n", origin.trailers());
        assert_eq!(Origin::parse(&message), Some(origin.clone()), "the last trailers count");
        assert_eq!(Origin::parse(&format!("Start\n\n{}", origin.trailers().replace("Template-renamed-to", "X"))), None);
        assert_eq!(Origin::parse("Template-commit: abc"), None);
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
        let identity = ["-c", "user.email=xtask-new@localhost"];
        let commands = git_commands(Utf8Path::new("/p/shop"), "main", &identity, "Start shop");
        assert_eq!(commands[0], ["-C", "/p/shop", "init", "--quiet", "--initial-branch=main"]);
        assert_eq!(commands[1], ["-C", "/p/shop", "add", "--all", "--force"]);
        assert_eq!(
            commands[2],
            ["-C", "/p/shop", "-c", "user.email=xtask-new@localhost", "commit", "--quiet", "--message", "Start shop"]
        );
        assert_eq!(temp_sibling(Utf8Path::new("/p/shop")), format!("/p/.shop.xtask-new-{}", std::process::id()));
    }

    #[test]
    fn the_benchmark_leaves_the_workspace_members() {
        let cargo = |members: &str| format!("[workspace]\nmembers = {members}\nresolver = \"2\"\n");
        for (members, want) in [
            (r#"["xtask", "xtask/bench"]"#, r#"["xtask"]"#),
            (r#"["xtask/bench", "xtask"]"#, r#"["xtask"]"#),
            (r#"["xtask", './xtask/bench/', "tools"]"#, r#"["xtask", "tools"]"#),
            (r#"["xtask/bench"]"#, "[]"),
            ("[\n    \"xtask\",\n    \"xtask/bench\",\n]", "[\n    \"xtask\",\n]"),
            ("[\n    \"xtask/bench\", # the benchmark\n    \"xtask\",\n]", "[\n    \"xtask\",\n]"),
            (r#"["xtask", "xtask/bench", "xtask/bench"]"#, r#"["xtask"]"#),
            // A template without it is left as it is.
            (r#"["xtask"]"#, r#"["xtask"]"#),
            (r#"["xtask", "xtask/benchmarks", "xtask/*"]"#, r#"["xtask", "xtask/benchmarks", "xtask/*"]"#),
        ] {
            let got = without_bench(Utf8Path::new("Cargo.toml"), &cargo(members)).unwrap();
            assert_eq!(got, cargo(want), "{members}");
        }
        let both = "[package]\nname = \"kit\" # [workspace]\n\n[workspace]\nmembers = [\"xtask\", \"xtask/bench\"]\n\
                    default-members = [\"xtask/bench\", \"xtask\"]\n";
        assert_eq!(
            without_bench(Utf8Path::new("Cargo.toml"), both).unwrap(),
            "[package]\nname = \"kit\" # [workspace]\n\n[workspace]\nmembers = [\"xtask\"]\ndefault-members = [\"xtask\"]\n"
        );
        let no_workspace = "[package]\nname = \"xtask/bench\"\n";
        assert_eq!(without_bench(Utf8Path::new("Cargo.toml"), no_workspace).unwrap(), no_workspace);
        let elsewhere = cargo(r#"["xtask", "xtask/bench"]"#);
        assert_eq!(without_bench(Utf8Path::new("xtask/Cargo.toml"), &elsewhere).unwrap(), elsewhere);
        assert!(without_bench(Utf8Path::new("Cargo.toml"), "[workspace\n").is_err());
    }

    #[test]
    fn the_benchmark_alias_is_removed() {
        let path = Utf8Path::new(".cargo/config.toml");
        let xtask = "[alias]\nxtask = \"run --package xtask --quiet --\"\n";
        let with_bench = format!("{xtask}xbench = \"run --package xtask-bench --quiet --\"\n\n[env]\nA = \"1\"\n");
        assert_eq!(without_bench(path, &with_bench).unwrap(), format!("{xtask}\n[env]\nA = \"1\"\n"));
        assert_eq!(without_bench(path, xtask).unwrap(), xtask, "no alias: unchanged");
        let crlf = "[alias]\r\nxbench   =   \"run\"\r\nxtask = \"run\"";
        assert_eq!(without_bench(path, crlf).unwrap(), "[alias]\r\nxtask = \"run\"");
    }

    #[test]
    fn plan_leaves_the_benchmark_out() {
        let dir = std::env::temp_dir().join(format!("xtask-new-bench-{}", std::process::id()));
        let root = Utf8PathBuf::from_path_buf(dir).unwrap();
        let _ = std::fs::remove_dir_all(&root);
        let files = [
            ("Cargo.toml", "[workspace]\nmembers = [\"xtask\", \"xtask/bench\"]\n"),
            (".cargo/config.toml", "[alias]\nxtask = \"run --package xtask --quiet --\"\nxbench = \"run --package xtask-bench --quiet --\"\n"),
            ("xtask/bench/Cargo.toml", "[package]\nname = \"xtask-bench\"\n"),
            ("xtask/bench/src/main.rs", "fn main() {}\n"),
            ("xtask/benchmarks.md", "kept\n"),
            ("xtask/src/main.rs", "fn main() {}\n"),
        ];
        for (path, text) in files {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        }
        // xtask/bench/gone.rs is tracked but deleted: left out all the same, not reported as skipped.
        let mut tracked: Vec<Utf8PathBuf> = files.iter().map(|(path, _)| path.into()).collect();
        tracked.push("xtask/bench/gone.rs".into());
        let Contents { files, skipped, .. } = plan(&root, &tracked, &rename()).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let notes: Vec<(&str, Option<&str>)> = files.iter().map(|f| (f.path.as_str(), f.note.as_deref())).collect();
        assert_eq!(
            notes,
            [
                ("Cargo.toml", Some("(xtask/bench left out)")),
                (".cargo/config.toml", Some("(xtask/bench left out)")),
                ("xtask/benchmarks.md", None),
                ("xtask/src/main.rs", None),
            ]
        );
        let text = |file: &FileToWrite| match &file.body {
            Body::File { bytes, .. } => String::from_utf8(bytes.clone()).unwrap(),
            Body::Symlink(_) => panic!("a file"),
        };
        assert_eq!(text(&files[0]), "[workspace]\nmembers = [\"xtask\"]\n");
        assert_eq!(text(&files[1]), "[alias]\nxtask = \"run --package xtask --quiet --\"\n");
    }
}
