//! `update [--to REF] [--from LOCATION] [--base COMMIT]`: the template's changes since the project
//! was copied (or last updated), merged into the kit's files by git.
//!
//! The record is in the project's history: `new` ends the first commit's message with trailers
//! (`Template:`, `Template-commit:`, `Template-renamed-to:`, see `new::Origin`), and so does the
//! commit of each update; the newest one counts. An update:
//! 1. fetches REF (default: the template's HEAD) from the template into the project's repository;
//! 2. reads, in a temporary worktree, the kit's files as `new` would copy them (renamed, without
//!    xtask/bench/) from the recorded commit (the base) and from REF (theirs);
//! 3. commits on the project's HEAD the base's kit files, then on that commit REF's, with the new
//!    record in its message;
//! 4. cherry-picks that last commit: git merges the template's change into the project (ours).
//!
//! Clean, the merge is committed and the record moves. A conflict stops as any cherry-pick does:
//! git's markers in the files; `git cherry-pick --continue` commits the resolution with the new
//! record, `git cherry-pick --abort` leaves the project as it was. Only the kit's files (`KIT`) are
//! merged: the service (node-app/, or `[build] context`), README.md and the rest are the project's.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, Context, Result};
use camino::{Utf8Component, Utf8Path, Utf8PathBuf};

use crate::config;
use crate::new::{git_identity, plan, tracked_files, write_file, FileToWrite, Origin, Template};
use crate::process::query;

/// The kit's own files and folders, which the template keeps improving.
const KIT: &[&str] =
    &["xtask", "docker", ".github", ".ci", ".cargo", "Cargo.toml", "Cargo.lock", "rustfmt.toml", "xtask.toml"];

/// What `update` was asked for: its flags.
pub struct Request {
    pub to: Option<String>,
    pub from: Option<String>,
    pub base: Option<String>,
}

pub fn update(root: &Utf8Path, request: &Request, dry_run: bool) -> Result<()> {
    crate::process::require_program("git")?;
    let git = |args: &[&str]| query("git", &[&["-C", root.as_str()], args].concat());
    if git(&["rev-parse", "--quiet", "--verify", "CHERRY_PICK_HEAD"]).is_ok() {
        bail!("a cherry-pick (an update with conflicts?) is under way: `git cherry-pick --continue` or `--abort` it");
    }
    if !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
        bail!("the working tree has uncommitted changes; commit or stash them (see `git status`), then update");
    }
    let recorded = recorded_origin(root, request)?;
    let location = request.from.clone().unwrap_or_else(|| recorded.location.clone());
    let location = match Utf8Path::new(&location).canonicalize_utf8() {
        Ok(folder) => folder.to_string(),
        Err(_) if location.contains(':') => location, // a URL, or git's host:path
        Err(_) => {
            bail!("the template's folder {location} is gone; give its new place (a folder or git URL) with --from")
        }
    };
    let to_ref = request.to.as_deref().unwrap_or("HEAD");
    let fetch = |what: &str| {
        git(&["fetch", "--quiet", "--no-tags", &location, what])
            .and_then(|_| git(&["rev-parse", "FETCH_HEAD^{commit}"]))
    };
    let to = fetch(to_ref).with_context(|| format!("cannot fetch {to_ref} from the template at {location}"))?;
    let base =
        git(&["rev-parse", "--verify", "--quiet", &format!("{}^{{commit}}", recorded.commit)]).or_else(|_| {
            fetch(&recorded.commit)
                .with_context(|| format!("the template at {location} has no commit {}", recorded.commit))
        })?;
    let (base7, to7) = (&base[..7], &to[..7]);
    if base == to {
        println!("up to date: the project has the template's changes up to {to7} ({location}); nothing changed");
        return Ok(());
    }

    let context = config::load(root)?.build.context;
    let service: Utf8PathBuf = context.components().filter(|c| *c != Utf8Component::CurDir).collect();
    let origin = Origin { location: location.clone(), commit: to.clone(), name: recorded.name };
    let temp = Utf8PathBuf::try_from(std::env::temp_dir())?.join(format!("xtask-update-{}", std::process::id()));
    git(&["-c", "core.hooksPath=/dev/null", "worktree", "add", "--force", "--quiet", "--detach", temp.as_str(), &base])
        .context("cannot create a temporary worktree")?;
    let head = git(&["rev-parse", "HEAD"])?;
    let made = template_change(&temp, [&base, &to, &head], &origin, &service);
    let _ = git(&["worktree", "remove", "--force", temp.as_str()]);
    let (base_commit, change) = made?;

    let ours = git(&["diff", "--name-only", "--no-renames", &base_commit, "HEAD"])?;
    let theirs = git(&["diff", "--name-status", "--no-renames", &base_commit, &change])?;
    if dry_run {
        println!("would merge the template's changes {base7}..{to7} ({location}) into the kit's files:");
    }
    let mut count = 0;
    for (status, path) in theirs.lines().filter_map(|line| line.split_once('\t')) {
        let what = match status {
            "A" => "added",
            "D" => "removed",
            _ => "changed",
        };
        let both = if ours.lines().any(|p| p == path) { " (changed here too: merged)" } else { "" };
        println!("{what} {path}{both}");
        count += 1;
    }
    if dry_run {
        if count == 0 {
            println!("none changed; the record would move to {to7}");
        }
        return Ok(());
    }

    let pick = ["cherry-pick", "--allow-empty", "--keep-redundant-commits", &change];
    if let Err(err) = git(&[&git_identity(root)[..], &pick].concat()) {
        let conflicts = git(&["diff", "--name-only", "--diff-filter=U"]).unwrap_or_default();
        if conflicts.is_empty() {
            let _ = git(&["cherry-pick", "--abort"]);
            return Err(err.context("git cherry-pick failed; the project is as it was"));
        }
        bail!(
            "the template's changes {base7}..{to7} conflict with this project's in {}: fix the places git marked \
             (<<<<<<<), `git add` them and run `git cherry-pick --continue`, which records template commit {to7}; \
             or `git cherry-pick --abort` to leave the project as it was",
            conflicts.replace('\n', ", ")
        );
    }
    let sha = git(&["rev-parse", "--short", "HEAD"])?;
    let files = if count == 1 { "1 file" } else { &format!("{count} files") };
    println!("updated to the template's {to7} ({location}): {files}; committed {sha} (see `git show`)");
    Ok(())
}

/// Where the project came from: the newest record in its history, or `--from` and `--base` for a
/// copy that has none (the name then is xtask.toml's `[image] name`).
fn recorded_origin(root: &Utf8Path, request: &Request) -> Result<Origin> {
    let grep = "--grep=^Template-commit: [0-9a-f]{40}$";
    let message = query("git", &["-C", root.as_str(), "log", "-1", "--topo-order", "-E", grep, "--format=%B"])
        .context("cannot read the project's history (update merges with git)")?;
    let recorded = Origin::parse(&message);
    let Some(base) = &request.base else {
        return recorded.ok_or_else(|| {
            anyhow!(
                "the project's history does not say which template commit it was copied from (it was made before \
                 `new` recorded that, or not by `new`): run `cargo xtask update --from TEMPLATE --base COMMIT` \
                 once, COMMIT being the template's commit the project started from"
            )
        });
    };
    let from = request.from.clone().or_else(|| recorded.as_ref().map(|o| o.location.clone()));
    let location = from.ok_or_else(|| anyhow!("--base needs --from: the template's folder or git URL"))?;
    let name = match recorded {
        Some(origin) => origin.name,
        None => config::load(root)?.image.name,
    };
    Ok(Origin { location, commit: base.clone(), name })
}

/// In the worktree `temp`: the kit's files as `new` copies them from the `base` and `to` commits,
/// committed in turn on the project's `head`. Returns the two commits; the second holds the
/// template's change, with the new record in its message.
fn template_change(
    temp: &Utf8Path,
    [base, to, head]: [&str; 3],
    origin: &Origin,
    service: &Utf8Path,
) -> Result<(String, String)> {
    let options = ["-C", temp.as_str(), "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false"];
    let git = |args: &[&str]| query("git", &[&options[..], args].concat());
    // The kit's files at a commit, and the template's service name there.
    let read = |commit: &str| -> Result<(Vec<FileToWrite>, String)> {
        git(&["checkout", "--quiet", "--detach", commit])?;
        let template = Template::read(temp).with_context(|| format!("cannot read the template at {}", &commit[..7]))?;
        let kit = |path: &Utf8PathBuf| {
            let outside = |dir: &Utf8Path| dir.as_str().is_empty() || !path.starts_with(dir);
            KIT.iter().any(|kit| path.starts_with(kit)) && outside(service) && outside(&template.service_dir)
        };
        let tracked: Vec<Utf8PathBuf> = tracked_files(temp)?.into_iter().filter(kit).collect();
        Ok((plan(temp, &tracked, &template.rename(&origin.name))?.files, template.package.name))
    };
    let ((base_files, _), (to_files, old_name)) = (read(base)?, read(to)?);
    git(&["checkout", "--quiet", "--detach", head])?;
    let paths: BTreeSet<&Utf8Path> = base_files.iter().chain(&to_files).map(|file| file.path.as_path()).collect();
    let identity = git_identity(temp);
    let commit = |files: &[FileToWrite], message: &str| {
        for path in &paths {
            let target = temp.join(path);
            let _ = std::fs::remove_file(&target);
            if let Some(file) = files.iter().find(|file| file.path == *path) {
                write_file(&target, &file.body).with_context(|| format!("cannot write {target}"))?;
            }
        }
        git(&["add", "--all", "--force"])?;
        git(&[&identity[..], &["commit", "--quiet", "--no-verify", "--allow-empty", "--message", message]].concat())?;
        git(&["rev-parse", "HEAD"])
    };
    let (base7, to7) = (&base[..7], &to[..7]);
    let base_commit =
        commit(&base_files, &format!("The kit's files as the template had them at {base7} (cargo xtask update)"))?;
    let message = format!(
        "Update from the {old_name} template to {to7}\n\nThe template's changes to the kit's files from {base7} \
         to {to7}, merged by `cargo xtask update`.\n\n{}",
        origin.trailers()
    );
    Ok((base_commit, commit(&to_files, &message)?))
}
