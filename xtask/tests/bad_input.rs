//! Bad input, table-driven: each case gives a non-zero exit, exactly one `error:` line saying what is
//! wrong (checked by a substring), no panic or backtrace, and leaves the project folder unchanged.
//! No engine is needed: cases that would reach docker stop before it (or point it nowhere).

mod common;

use std::path::Path;

use common::{repo_root, scratch, xtask};

struct Case {
    args: &'static [&'static str],
    /// Files written over the valid base project (path, content); "" content removes nothing.
    files: &'static [(&'static str, &'static str)],
    env: &'static [(&'static str, &'static str)],
    expect: &'static str,
}

const fn case(args: &'static [&'static str], expect: &'static str) -> Case {
    Case { args, files: &[], env: &[], expect }
}

const fn with_files(
    args: &'static [&'static str],
    files: &'static [(&'static str, &'static str)],
    expect: &'static str,
) -> Case {
    Case { args, files, env: &[], expect }
}

const fn with_env(
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
    expect: &'static str,
) -> Case {
    Case { args, files: &[], env, expect }
}

const TWO_STAGES: &str = "FROM alpine:3.21 AS base\nFROM base AS lint\nFROM base AS test\nFROM base AS release\n";

const CASES: &[Case] = &[
    // the command line
    case(&[], "no command given"),
    case(&["biuld"], "unknown command 'biuld'"),
    case(&["build", "--frobnicate"], "unknown option '--frobnicate'"),
    case(&["build", "-q"], "unknown option '-q'"),
    case(&["build", "--stage"], "--stage"),
    case(&["stages", "--push"], "'stages' does not take --push"),
    case(&["logs", "a", "b"], "unexpected argument 'b'"),
    case(&["build", "--stage", "tset", "--dry-run"], "unknown stage 'tset'"),
    case(&["build", "--stage", "sbom-tool", "--dry-run"], "is built by `cargo xtask release`"),
    case(&["build", "--build-arg", "NOVALUE", "--dry-run"], "write it as KEY=VALUE"),
    case(&["build", "--build-arg", "1A=x", "--dry-run"], "not a valid variable name"),
    case(&["build", "--platform", "amd64", "--dry-run"], "invalid platform 'amd64'"),
    case(&["build", "--platform", "linux/amd64,", "--dry-run"], "invalid platform ''"),
    case(&["build", "--progress", "fancy", "--dry-run"], "invalid --progress 'fancy'"),
    case(&["build", "--builder", "", "--dry-run"], "invalid --builder ''"),
    case(&["build", "--cache", "bogus", "--dry-run"], "unknown cache 'bogus'"),
    case(&["--engine", "rocket", "build", "--dry-run"], "unknown engine 'rocket'"),
    case(&["--engine", "podman", "--context", "x", "build", "--dry-run"], "--context is a docker option"),
    case(&["--flavor", "arch", "build", "--dry-run"], "unknown flavor 'arch'"),
    case(&["tags", "--registry", "Bad Host!"], "registry"),
    case(&["down", "--volumes"], "pass --yes to confirm"),
    // signing and verify
    case(&["release", "--sign"], "--sign signs the digest --push pushes: add --push"),
    case(&["release", "--push", "--sign"], "release --sign needs a key pair"),
    with_env(&["release", "--push", "--sign"], &[("COSIGN_KEY", "/nonexistent/cosign.key")], "/nonexistent/cosign.key does not exist"),
    case(&["--engine", "podman", "release", "--push", "--sign", "--force"], "podman lacks: use --engine docker"),
    case(&["verify", "--dry-run"], "verify checks an image in a registry"),
    case(&["verify", "127.0.0.1:5000/a:1", "--dry-run"], "verify needs the public key"),
    with_env(&["verify", "Bad Ref", "--dry-run"], &[("COSIGN_PUBLIC_KEY", "k.pub")], "invalid image name 'Bad Ref'"),
    with_files(&["stages"], &[("xtask.toml", "[sign]\nkye = \"cosign.key\"\n")], "xtask.toml:2: unknown field `kye`"),
    // xtask.toml
    with_files(&["stages"], &[("xtask.toml", "[image\nname = 1\n")], "xtask.toml:1"),
    with_files(&["stages"], &[("xtask.toml", "[image]\nnmae = \"x\"\n")], "xtask.toml:2: unknown field `nmae`"),
    with_files(&["stages"], &[("xtask.toml", "[service]\nport = \"eighty\"\n")], "xtask.toml:2: key 'port'"),
    with_files(&["stages"], &[("xtask.toml", "[image]\nname = \"\"\n")], "[image] name is empty"),
    with_files(&["stages"], &[("xtask.toml", "[image]\nname = \"My App\"\n")], "[image] name"),
    with_files(&["stages"], &[("xtask.toml", "[build]\nflavor = \"arch\"\n")], "unknown variant `arch`"),
    with_files(&["stages"], &[("xtask.toml", "[service]\nhealth_path = \"healthz\"\n")], "must start with '/'"),
    with_files(&["stages"], &[("xtask.toml", "[build]\nargs = { \"A-B\" = \"x\" }\n")], "'A-B' is not a valid variable name"),
    with_files(&["stages"], &[("xtask.toml", "[stages]\ntest = \"tests\"\n")], "[stages] test = \"tests\": unknown stage 'tests'"),
    // the Dockerfile
    with_files(&["stages"], &[("xtask.toml", "[build]\ndockerfile = \"docker/Missing\"\n")], "cannot read the Dockerfile docker/Missing"),
    with_files(&["stages"], &[("xtask.toml", "[build]\ndockerfile = \"docker\"\n")], "cannot read the Dockerfile docker"),
    with_files(&["stages"], &[("docker/Dockerfile", "# nothing here\nARG X=1\n")], "no FROM instruction found"),
    with_files(&["stages"], &[("docker/Dockerfile", "RUN echo hi\nFROM alpine\n")], "comes before the first FROM"),
    with_files(&["stages"], &[("docker/Dockerfile", "FROM alpine AS base\nFROM alpine AS BASE\n")], "duplicate stage name 'base'"),
    with_files(&["stages"], &[("docker/Dockerfile", "FROM later AS release\nFROM alpine AS later\n")], "before it is defined"),
    with_files(
        &["pull", "--dry-run"],
        &[("docker/Dockerfile", "ARG V=x\nFROM alpine:3.21 AS base-a\nFROM base-${V} AS lint\nFROM base-a AS test\nFROM base-a AS release\n")],
        "names no stage",
    ),
    with_files(&["build", "--stage", "relase", "--dry-run"], &[("docker/Dockerfile", TWO_STAGES)], "did you mean 'release'"),
    // the service
    with_files(&["build", "--dry-run"], &[("node-app/package.json", "{ \"name\": ")], "package.json:1"),
    with_files(&["build", "--dry-run"], &[("xtask.toml", "[build]\ncontext = \"nowhere\"\n")], "cannot read nowhere/package.json"),
    with_env(&["tags"], &[("GIT_DIR", "/nonexistent")], "cannot read the commit"),
    // new
    case(&["new", "/etc/hostname", "--name", "shop"], "exists and is a file"),
    case(&["new", "/etc", "--name", "shop"], "exists and is not empty"),
    case(&["new", "node-app"], "node-app exists and is not empty"),
    case(&["new", "../elsewhere", "--name", "Bad Name"], "Bad Name"),
    // the engine
    with_env(&["build", "--stage", "test"], &[("PATH", "/nonexistent")], "docker not found on PATH"),
    with_env(&["build", "--stage", "test"], &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")], "cannot reach the docker engine"),
    with_env(&["smoke"], &[("DOCKER_HOST", "tcp://127.0.0.1:1")], "cannot reach the docker engine"),
];

/// The valid base project: the template's xtask.toml, Dockerfile and package files (no git).
fn base_project() -> std::path::PathBuf {
    let root = repo_root();
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let files = [
        ("xtask.toml", read("xtask.toml")),
        ("docker/Dockerfile", read("docker/Dockerfile")),
        ("node-app/package.json", read("node-app/package.json")),
        ("node-app/package-lock.json", read("node-app/package-lock.json")),
    ];
    let borrowed: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
    scratch(&borrowed)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            all.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    all.sort();
    all
}

#[test]
fn every_bad_input_is_one_clear_error_and_changes_nothing() {
    assert!(CASES.len() >= 30, "the table should hold at least 30 cases");
    let mut failures = Vec::new();
    for case in CASES {
        let dir = base_project();
        for (path, content) in case.files {
            std::fs::write(dir.join(path), content).unwrap();
        }
        let before = listing(&dir);
        let run = xtask(&dir, case.args, case.env);
        let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error:")).collect();
        let problem = if run.status == 0 {
            Some("exit status 0".to_string())
        } else if errors.len() != 1 {
            Some(format!("{} error lines", errors.len()))
        } else if !errors[0].contains(case.expect) {
            Some(format!("error line lacks {:?}", case.expect))
        } else if run.stderr.contains("panicked") || run.stderr.contains("backtrace") {
            Some("panic".to_string())
        } else if listing(&dir) != before {
            Some("files changed".to_string())
        } else {
            None
        };
        if let Some(problem) = problem {
            failures.push(format!("{:?}: {problem}\n  stderr: {}", case.args, run.stderr.trim()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}
