//! The command line: one table of commands and the flags each accepts, parsed with lexopt.
//! Flags may come before or after the command (`cargo xtask --dry-run build --stage test`).

use anyhow::{bail, Result};
use lexopt::prelude::*;

pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
    pub flags: &'static [&'static str],
    /// The positional argument, if the command takes one: (name, required).
    pub positional: Option<(&'static str, bool)>,
}

const BUILD_FLAGS: &[&str] =
    &["--no-cache", "--pull", "--build-arg", "--progress", "--platform", "--builder", "--cache"];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "doctor",
        usage: "doctor",
        summary: "Check the engine, buildx, compose and tools; say how to fix what is missing",
        flags: &[],
        positional: None,
    },
    CommandSpec {
        name: "stages",
        usage: "stages",
        summary: "List the Dockerfile's stages, their bases and the role each plays",
        flags: &[],
        positional: None,
    },
    CommandSpec {
        name: "inspect",
        usage: "inspect",
        summary:
            "What the kit found in the service (scripts, start, port, lockfile, native modules) and what it will do",
        flags: &[],
        positional: None,
    },
    CommandSpec {
        name: "pull",
        usage: "pull [--platform P]",
        summary: "Pull the base images the chosen flavor needs (read from the Dockerfile)",
        flags: &["--platform"],
        positional: None,
    },
    CommandSpec {
        name: "build",
        usage:
            "build [--stage S] [--no-cache] [--pull] [--build-arg K=V]... [--progress P] [--platform P] [--builder B]",
        summary: "Build one stage (default: the release stage) and tag it IMAGE:STAGE",
        flags: &["--stage", "--no-cache", "--pull", "--build-arg", "--progress", "--platform", "--builder", "--cache"],
        positional: None,
    },
    CommandSpec {
        name: "lint",
        usage: "lint [build flags]",
        summary: "Build the lint stage (eslint inside the image), then lint the Dockerfile with hadolint",
        flags: BUILD_FLAGS,
        positional: None,
    },
    CommandSpec {
        name: "test",
        usage: "test [build flags]",
        summary: "Build the test stage: the Node test suite runs inside the image; a failure fails the build",
        flags: BUILD_FLAGS,
        positional: None,
    },
    CommandSpec {
        name: "release",
        usage: "release [--push [--force]] [--registry R] [build flags]",
        summary: "Build the release stage once, tagged from package.json's version and git (semver, sha, branch)",
        flags: &[
            "--no-cache",
            "--pull",
            "--build-arg",
            "--progress",
            "--platform",
            "--builder",
            "--cache",
            "--registry",
            "--push",
            "--force",
        ],
        positional: None,
    },
    CommandSpec {
        name: "tags",
        usage: "tags [--json] [--registry R]",
        summary: "Print the tags and OCI labels `release` would apply, one per line",
        flags: &["--json", "--registry"],
        positional: None,
    },
    CommandSpec {
        name: "run",
        usage: "run",
        summary: "Run the release image on the service port; the container is removed on exit",
        flags: &[],
        positional: None,
    },
    CommandSpec {
        name: "smoke",
        usage: "smoke",
        summary: "Start the release image, wait until healthy, probe the health path, stop; always clean up",
        flags: &[],
        positional: None,
    },
    CommandSpec {
        name: "ci",
        usage: "ci [build flags]",
        summary: "The whole pipeline: pull, lint, test, release, smoke; stops at the first failure; timing table",
        flags: BUILD_FLAGS,
        positional: None,
    },
    CommandSpec {
        name: "up",
        usage: "up",
        summary: "Start the compose stack (Node replicas, MongoDB, Redis, Nginx), wait until healthy, print the URL",
        flags: &[],
        positional: None,
    },
    CommandSpec {
        name: "down",
        usage: "down [--volumes [--yes]]",
        summary: "Stop and remove the compose stack; --volumes also deletes its data (asks first unless --yes)",
        flags: &["--volumes", "--yes", "-y"],
        positional: None,
    },
    CommandSpec {
        name: "logs",
        usage: "logs [SERVICE] [--follow]",
        summary: "Show the compose stack's logs, of one service or all",
        flags: &["--follow", "-f"],
        positional: Some(("SERVICE", false)),
    },
    CommandSpec {
        name: "ps",
        usage: "ps",
        summary: "List the compose stack's containers and their health",
        flags: &[],
        positional: None,
    },
    CommandSpec {
        name: "new",
        usage: "new DIR [--name NAME]",
        summary: "Copy the template into a new project in DIR, renamed, with a fresh git repository",
        flags: &["--name"],
        positional: Some(("DIR", true)),
    },
];

const GLOBAL_FLAGS: &str = "  --dry-run         Print the exact commands, one per line, ready to paste; run nothing
  -v, --verbose     Show each command as it runs
  --engine E        docker (default) or podman; also XTASK_ENGINE
  --flavor F        alpine or debian, overriding xtask.toml's [build] flavor; also XTASK_FLAVOR
  --context C       docker context to use for every step (docker --context C ...)
  -h, --help        Show help (`cargo xtask help COMMAND` for one command)";

const FLAG_HELP: &[(&str, &str)] = &[
    ("--stage", "--stage S         The stage to build (see `cargo xtask stages`)"),
    ("--no-cache", "--no-cache        Build without the layer cache"),
    ("--pull", "--pull            Pull newer base images before building"),
    ("--build-arg", "--build-arg K=V   Extra build arg (repeatable); the kit's own args come from xtask.toml"),
    ("--progress", "--progress P      BuildKit progress output: auto, plain, tty, quiet or rawjson"),
    ("--platform", "--platform P      Target platform(s), e.g. linux/amd64 or linux/amd64,linux/arm64"),
    ("--builder", "--builder B       buildx builder instance to use (a remote BuildKit, a Kubernetes builder...)"),
    (
        "--registry",
        "--registry R      Registry (and namespace) for the image, overriding xtask.toml, e.g. ghcr.io/acme",
    ),
    ("--push", "--push            Push every tag to the registry"),
    ("--force", "--force           Push even over a released version that holds another image"),
    ("--json", "--json            Print JSON instead of lines"),
    ("--volumes", "--volumes         Also delete the stack's named volumes (its data)"),
    ("--yes", "-y, --yes         Do not ask for confirmation"),
    ("--follow", "-f, --follow      Keep streaming new log lines"),
    ("--name", "--name NAME       The new service's name (default: DIR's name); npm and image name rules apply"),
];

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cli {
    pub command: String,
    pub help: bool,
    pub dry_run: bool,
    pub verbose: bool,
    pub engine: Option<String>,
    pub flavor: Option<String>,
    pub context: Option<String>,
    pub stage: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub build_args: Vec<String>,
    pub progress: Option<String>,
    pub platform: Option<String>,
    pub builder: Option<String>,
    pub registry: Option<String>,
    pub cache: Option<String>,
    pub json: bool,
    pub push: bool,
    pub force: bool,
    /// The one positional argument some commands take: `new DIR`, `logs SERVICE`.
    pub positional: Option<String>,
    pub name: Option<String>,
    pub volumes: bool,
    pub yes: bool,
    pub follow: bool,
}

pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

pub fn parse<I>(args: I) -> Result<Cli>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    let mut parser = lexopt::Parser::from_args(args);
    let mut cli = Cli::default();
    let mut seen_flags: Vec<String> = Vec::new();
    while let Some(arg) = parser.next()? {
        let flag = match &arg {
            Short(c) => format!("-{c}"),
            Long(name) => format!("--{name}"),
            Value(_) => String::new(),
        };
        match arg {
            Short('h') | Long("help") => cli.help = true,
            Short('v') | Long("verbose") => cli.verbose = true,
            Long("dry-run") => cli.dry_run = true,
            Long("engine") => cli.engine = Some(string(parser.value()?, &flag)?),
            Long("flavor") => cli.flavor = Some(string(parser.value()?, &flag)?),
            Long("context") => cli.context = Some(string(parser.value()?, &flag)?),
            Long("stage") => cli.stage = Some(string(parser.value()?, &flag)?),
            Long("no-cache") => cli.no_cache = true,
            Long("pull") => cli.pull = true,
            Long("build-arg") => cli.build_args.push(string(parser.value()?, &flag)?),
            Long("progress") => cli.progress = Some(string(parser.value()?, &flag)?),
            Long("platform") => cli.platform = Some(string(parser.value()?, &flag)?),
            Long("builder") => cli.builder = Some(string(parser.value()?, &flag)?),
            Long("registry") => cli.registry = Some(string(parser.value()?, &flag)?),
            Long("json") => cli.json = true,
            Long("push") => cli.push = true,
            Long("force") => cli.force = true,
            Long("cache") => cli.cache = Some(string(parser.value()?, &flag)?),
            Long("name") => cli.name = Some(string(parser.value()?, &flag)?),
            Long("volumes") => cli.volumes = true,
            Short('y') | Long("yes") => cli.yes = true,
            Short('f') | Long("follow") => cli.follow = true,
            Value(value) if cli.command.is_empty() => {
                let name = string(value, "command")?;
                if name == "help" {
                    cli.help = true;
                    continue;
                }
                if find(&name).is_none() {
                    bail!("{}", unknown_command(&name));
                }
                cli.command = name;
            }
            Value(value) if find(&cli.command).is_some_and(|c| c.positional.is_some()) && cli.positional.is_none() => {
                cli.positional = Some(string(value, "argument")?);
            }
            Value(value) => {
                bail!(
                    "unexpected argument '{}' for '{}'; see `cargo xtask {} --help`",
                    value.to_string_lossy(),
                    cli.command,
                    cli.command
                )
            }
            Short(c) => bail!("unknown option '-{c}'; see `cargo xtask --help`"),
            Long(name) => bail!("unknown option '--{name}'; see `cargo xtask --help`"),
        }
        if !flag.is_empty() {
            seen_flags.push(flag);
        }
    }
    if cli.command.is_empty() && !cli.help {
        bail!("no command given; see `cargo xtask --help` for the list");
    }
    if !cli.help {
        let spec = find(&cli.command).expect("checked above");
        if let Some((what, true)) = spec.positional {
            if cli.positional.is_none() {
                bail!("'{}' needs {what}; usage: cargo xtask {}", spec.name, spec.usage);
            }
        }
        let global = ["-h", "--help", "-v", "--verbose", "--dry-run", "--engine", "--flavor", "--context"];
        if let Some(flag) =
            seen_flags.iter().find(|f| !global.contains(&f.as_str()) && !spec.flags.contains(&f.as_str()))
        {
            bail!("'{}' does not take {flag}; see `cargo xtask {} --help`", spec.name, spec.name);
        }
    }
    Ok(cli)
}

fn string(value: std::ffi::OsString, what: &str) -> Result<String> {
    value.into_string().map_err(|v| anyhow::anyhow!("{what}: '{}' is not valid UTF-8", v.to_string_lossy()))
}

fn unknown_command(name: &str) -> String {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let mut message = format!("unknown command '{name}'; commands: {}", names.join(", "));
    if let Some(near) = crate::dockerfile::nearest(name, &names) {
        message.push_str(&format!(" (did you mean '{near}'?)"));
    }
    message
}

pub fn help(command: &str) -> String {
    if let Some(spec) = find(command) {
        let mut text = format!("{}\n\nUsage: cargo xtask {}\n", spec.summary, spec.usage);
        let flags: Vec<&str> =
            FLAG_HELP.iter().filter(|(name, _)| spec.flags.contains(name)).map(|(_, line)| *line).collect();
        if !flags.is_empty() {
            text.push_str("\nOptions:\n");
            for line in flags {
                text.push_str(&format!("  {line}\n"));
            }
        }
        text.push_str(&format!("\nGlobal options:\n{GLOBAL_FLAGS}\n"));
        return text;
    }
    let mut text = String::from(
        "cargo xtask: build, lint, test, release and run the Node service's container images\n\n\
         Usage: cargo xtask [OPTIONS] COMMAND [COMMAND OPTIONS]\n\nCommands:\n",
    );
    for spec in COMMANDS {
        text.push_str(&format!("  {:<9} {}\n", spec.name, spec.summary));
    }
    text.push_str(&format!("\nOptions:\n{GLOBAL_FLAGS}\n\nSettings live in xtask.toml at the project root.\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_before_and_after_the_command() {
        let cli = parse(["--dry-run", "build", "--stage", "test", "-v", "--build-arg", "A=1"]).unwrap();
        assert_eq!(cli.command, "build");
        assert!(cli.dry_run && cli.verbose);
        assert_eq!(cli.stage.as_deref(), Some("test"));
        assert_eq!(cli.build_args, ["A=1"]);
        let cli = parse(["build", "--stage=lint"]).unwrap();
        assert_eq!(cli.stage.as_deref(), Some("lint"));
    }

    #[test]
    fn unknown_command_suggests_the_nearest() {
        let err = parse(["biuld"]).unwrap_err().to_string();
        assert!(err.contains("unknown command 'biuld'") && err.contains("did you mean 'build'"), "{err}");
    }

    #[test]
    fn flag_not_taken_by_the_command() {
        let err = parse(["stages", "--stage", "x"]).unwrap_err().to_string();
        assert_eq!(err, "'stages' does not take --stage; see `cargo xtask stages --help`");
    }

    #[test]
    fn unknown_flag_and_missing_value() {
        assert!(parse(["build", "--frobnicate"]).unwrap_err().to_string().contains("unknown option '--frobnicate'"));
        assert!(parse(["build", "--stage"]).is_err());
        assert!(parse(Vec::<String>::new()).unwrap_err().to_string().contains("no command given"));
    }

    #[test]
    fn help_forms() {
        assert!(parse(["--help"]).unwrap().help);
        let cli = parse(["help", "build"]).unwrap();
        assert!(cli.help && cli.command == "build");
        assert!(help("build").contains("--stage S"));
        assert!(help("").contains("Commands:"));
    }
}
