//! The command line. `COMMANDS` declares each command once: its name, summary, the flags it accepts
//! and how its `Task` is made from them. The parser (lexopt), the help text and the list of flags a
//! command refuses all come from that one table, so they cannot disagree; `main` dispatches on `Task`
//! with one exhaustive `match`. Flags may come before or after the command
//! (`cargo xtask --dry-run build --stage test`).

use anyhow::{bail, Context, Result};
use camino::Utf8PathBuf;
use lexopt::prelude::*;

use crate::build::{self, BuildFlags};
use crate::config::Cache;

/// What to do, with exactly the flags that command accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    Doctor,
    Stages,
    Inspect,
    Pull { platform: Option<String> },
    Build { stage: Option<String>, flags: BuildFlags },
    Lint(BuildFlags),
    Test(BuildFlags),
    Release { flags: BuildFlags, registry: Option<String>, push: bool, force: bool, sign: bool },
    Tags { json: bool, registry: Option<String> },
    Run,
    Smoke,
    Ci(BuildFlags),
    Up,
    Down { volumes: bool, yes: bool },
    Logs { service: Option<String>, follow: bool },
    Ps,
    New { dir: Utf8PathBuf, name: Option<String> },
    Verify { image: Option<String>, registry: Option<String> },
    Update { to: Option<String>, from: Option<String>, base: Option<String> },
    Shell { stage: Option<String>, flags: BuildFlags },
    Dev(BuildFlags),
}

/// The flags every command takes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Global {
    pub dry_run: bool,
    pub verbose: bool,
    pub engine: Option<String>,
    pub flavor: Option<String>,
    pub context: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Global, Task),
    /// `--help`, `-h` or `help [COMMAND]`: the help of that command, or of the kit.
    Help(Option<&'static str>),
}

/// One flag, as the parser and the help see it.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    /// The value's name in help (`--stage S`); None for a switch.
    pub value: Option<&'static str>,
    pub help: &'static str,
}

impl Flag {
    /// `--stage S`, or `--no-cache` for a switch.
    fn spelled(&self) -> String {
        format!("--{}{}", self.long, self.value.map(|v| format!(" {v}")).unwrap_or_default())
    }
}

const fn switch(long: &'static str, help: &'static str) -> Flag {
    Flag { long, short: None, value: None, help }
}

const fn valued(long: &'static str, value: &'static str, help: &'static str) -> Flag {
    Flag { long, short: None, value: Some(value), help }
}

const GLOBAL: &[Flag] = &[
    switch("dry-run", "Print the exact commands, one per line, ready to paste; run nothing"),
    Flag { short: Some('v'), ..switch("verbose", "Show each command as it runs") },
    valued("engine", "E", "docker (default) or podman; also XTASK_ENGINE"),
    valued("flavor", "F", "alpine or debian, overriding xtask.toml's [build] flavor; also XTASK_FLAVOR"),
    valued("context", "C", "docker context to use for every step (docker --context C ...)"),
    Flag { short: Some('h'), ..switch("help", "Show help (`cargo xtask help COMMAND` for one command)") },
];

const STAGE: Flag = valued("stage", "S", "The stage to build (default: the release stage; see `cargo xtask stages`)");
const SHELL_STAGE: Flag = valued("stage", "S", "The stage to open a shell in (default: the test stage)");
const PLATFORM: Flag = valued("platform", "P", "Target platform(s), e.g. linux/amd64 or linux/amd64,linux/arm64");
const REGISTRY: Flag =
    valued("registry", "R", "Registry (and namespace) for the image, overriding xtask.toml, e.g. ghcr.io/acme");
const JSON: Flag = switch("json", "Print JSON instead of lines");

const BUILD: &[Flag] = &[
    switch("no-cache", "Build without the layer cache"),
    switch("pull", "Pull newer base images before building"),
    valued("build-arg", "K=V", "Extra build arg (repeatable); the kit's own args come from xtask.toml"),
    valued("progress", "P", "BuildKit progress output: auto, plain, tty, quiet or rawjson"),
    PLATFORM,
    valued("builder", "B", "buildx builder instance to use (a remote BuildKit, a Kubernetes builder...)"),
    valued("cache", "MODE", "Build cache: none, inline, registry, local or gha (default: xtask.toml's [build] cache)"),
];

/// Groups of flags, e.g. `&[&[STAGE], BUILD]`.
type Flags = &'static [&'static [Flag]];
/// How a command's `Task` is made from what was given.
type Make = fn(&Given) -> Result<Task>;

/// One command: the one place its name, help, flags and `Task` are declared.
pub struct Spec {
    pub name: &'static str,
    pub summary: &'static str,
    pub flags: Flags,
    /// The positional argument, if the command takes one: (name, required).
    pub positional: Option<(&'static str, bool)>,
    make: Make,
}

const fn spec(name: &'static str, summary: &'static str, flags: Flags, make: Make) -> Spec {
    Spec { name, summary, flags, positional: None, make }
}

pub const COMMANDS: &[Spec] = &[
    spec("doctor", "Check the engine, buildx, compose and tools; say how to fix what is missing", &[], |_| {
        Ok(Task::Doctor)
    }),
    spec("stages", "List the Dockerfile's stages, their bases and the role each plays", &[], |_| Ok(Task::Stages)),
    spec(
        "inspect",
        "What the kit found in the service (scripts, start, port, lockfile, native modules) and what it will do",
        &[],
        |_| Ok(Task::Inspect),
    ),
    spec("pull", "Pull the base images the chosen flavor needs (read from the Dockerfile)", &[&[PLATFORM]], |g| {
        Ok(Task::Pull { platform: g.checked("platform", build::check_platforms)? })
    }),
    spec("build", "Build one stage (default: the release stage) and tag it IMAGE:STAGE", &[&[STAGE], BUILD], |g| {
        Ok(Task::Build { stage: g.value("stage"), flags: g.build_flags()? })
    }),
    spec(
        "lint",
        "Build the lint stage (eslint inside the image), then lint the Dockerfile with hadolint",
        &[BUILD],
        |g| Ok(Task::Lint(g.build_flags()?)),
    ),
    spec(
        "test",
        "Build the test stage: the Node test suite runs inside the image; a failure fails the build",
        &[BUILD],
        |g| Ok(Task::Test(g.build_flags()?)),
    ),
    spec(
        "release",
        "Build the release stage once, tagged from package.json's version and git (semver, sha, branch)",
        &[
            &[
                REGISTRY,
                switch("push", "Push every tag to the registry"),
                switch("force", "Push even over a released version that holds another image"),
                switch("sign", "Sign the pushed digest with cosign and attach the SBOM as a signed attestation"),
            ],
            BUILD,
        ],
        |g| {
            let (push, force, sign) = (g.switch("push"), g.switch("force"), g.switch("sign"));
            if sign && !push {
                bail!("--sign signs the digest --push pushes: add --push");
            }
            Ok(Task::Release { flags: g.build_flags()?, registry: g.value("registry"), push, force, sign })
        },
    ),
    spec("tags", "Print the tags and OCI labels `release` would apply, one per line", &[&[JSON, REGISTRY]], |g| {
        Ok(Task::Tags { json: g.switch("json"), registry: g.value("registry") })
    }),
    spec(
        "verify",
        "Check a pushed image (default: the release's version tag): signature, SBOM attestation, tag",
        &[&[REGISTRY]],
        |g| Ok(Task::Verify { image: g.positional.clone(), registry: g.value("registry") }),
    )
    .takes("IMAGE", false),
    spec("run", "Run the release image on the service port; the container is removed on exit", &[], |_| Ok(Task::Run)),
    spec(
        "smoke",
        "Start the release image, wait until healthy, probe the health path, stop; always clean up",
        &[],
        |_| Ok(Task::Smoke),
    ),
    spec(
        "ci",
        "The whole pipeline: pull, lint, test, release, smoke; stops at the first failure; timing table",
        &[BUILD],
        |g| Ok(Task::Ci(g.build_flags()?)),
    ),
    spec(
        "up",
        "Start the compose stack (Node replicas, MongoDB, Redis, Nginx), wait until healthy, print the URL",
        &[],
        |_| Ok(Task::Up),
    ),
    spec(
        "down",
        "Stop and remove the compose stack; --volumes also deletes its data (asks first unless --yes)",
        &[&[
            switch("volumes", "Also delete the stack's named volumes (its data)"),
            Flag { short: Some('y'), ..switch("yes", "Do not ask for confirmation") },
        ]],
        |g| Ok(Task::Down { volumes: g.switch("volumes"), yes: g.switch("yes") }),
    ),
    spec(
        "logs",
        "Show the compose stack's logs, of one service or all",
        &[&[Flag { short: Some('f'), ..switch("follow", "Keep streaming new log lines") }]],
        |g| Ok(Task::Logs { service: g.positional.clone(), follow: g.switch("follow") }),
    )
    .takes("SERVICE", false),
    spec("ps", "List the compose stack's containers and their health", &[], |_| Ok(Task::Ps)),
    spec(
        "dev",
        "The service in a dev container beside Redis: each save synced and restarted, inspector on 127.0.0.1",
        &[BUILD],
        |g| Ok(Task::Dev(g.build_flags()?)),
    ),
    spec(
        "shell",
        "A shell in a stage (default: test); if the stage's own step fails, in its parent, with the command",
        &[&[SHELL_STAGE], BUILD],
        |g| Ok(Task::Shell { stage: g.value("stage"), flags: g.build_flags()? }),
    ),
    spec(
        "new",
        "Copy the template into a new project in DIR, renamed, with a fresh git repository",
        &[&[valued("name", "NAME", "The new service's name (default: DIR's name); npm and image name rules apply")]],
        |g| Ok(Task::New { dir: g.positional.clone().unwrap_or_default().into(), name: g.value("name") }),
    )
    .takes("DIR", true),
    spec(
        "update",
        "Merge the template's changes since this project was copied or last updated into the kit's files",
        &[&[
            valued("to", "REF", "The template's branch, tag or commit to update to (default: its HEAD)"),
            valued("from", "LOCATION", "The template's folder or git URL (default: the one recorded)"),
            valued("base", "COMMIT", "The template commit the project was made from, for a copy with no record"),
        ]],
        |g| Ok(Task::Update { to: g.value("to"), from: g.value("from"), base: g.value("base") }),
    ),
];

impl Spec {
    /// The command takes a positional argument, named `name` in help.
    const fn takes(self, name: &'static str, required: bool) -> Spec {
        Spec { positional: Some((name, required)), ..self }
    }

    fn all_flags(&self) -> impl Iterator<Item = &'static Flag> {
        self.flags.iter().flat_map(|group| group.iter())
    }

    /// `build [--stage S] [--no-cache] …`
    fn usage(&self) -> String {
        let mut usage = match self.positional {
            Some((name, true)) => format!("{} {name}", self.name),
            Some((name, false)) => format!("{} [{name}]", self.name),
            None => self.name.to_string(),
        };
        for flag in self.all_flags() {
            usage += &format!(" [{}]", flag.spelled());
        }
        usage
    }
}

/// The flags and the positional argument given to one command, as the parser found them.
pub struct Given {
    spec: &'static Spec,
    values: Vec<(&'static str, Option<String>)>,
    positional: Option<String>,
}

impl Given {
    fn lookup<'a>(&'a self, long: &'a str) -> impl Iterator<Item = &'a Option<String>> {
        debug_assert!(self.spec.all_flags().any(|f| f.long == long), "'{}' reads undeclared --{long}", self.spec.name);
        self.values.iter().filter(move |(name, _)| *name == long).map(|(_, value)| value)
    }

    fn switch(&self, long: &str) -> bool {
        self.lookup(long).next().is_some()
    }

    /// The last value given (`--stage a --stage b` is b, as in docker).
    fn value(&self, long: &str) -> Option<String> {
        self.lookup(long).last().cloned().flatten()
    }

    /// The value of `--long`, checked by `check` when given.
    fn checked(&self, long: &str, check: fn(&str) -> Result<()>) -> Result<Option<String>> {
        let value = self.value(long);
        value.as_deref().map(check).transpose()?;
        Ok(value)
    }

    fn build_flags(&self) -> Result<BuildFlags> {
        Ok(BuildFlags {
            no_cache: self.switch("no-cache"),
            pull: self.switch("pull"),
            build_args: self.lookup("build-arg").flatten().map(|a| build::parse_build_arg(a)).collect::<Result<_>>()?,
            progress: self.checked("progress", build::check_progress)?,
            platform: self.checked("platform", build::check_platforms)?,
            builder: self.checked("builder", build::check_builder_name)?,
            cache: self.value("cache").as_deref().map(Cache::parse).transpose()?,
        })
    }
}

pub fn find(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|c| c.name == name)
}

pub fn parse<I>(args: I) -> Result<Parsed>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    let mut parser = lexopt::Parser::from_args(args);
    let mut global = Global::default();
    let mut help = false;
    let mut spec: Option<&'static Spec> = None;
    // Flags given before the command are checked once the command is known.
    let mut given: Vec<(&'static str, Option<String>)> = Vec::new();
    let mut positional = None;
    while let Some(arg) = parser.next()? {
        let (shown, flag) = match &arg {
            Long(name) => (format!("--{name}"), all_flags().find(|f| f.long == *name)),
            Short(c) => (format!("-{c}"), all_flags().find(|f| f.short == Some(*c))),
            Value(value) => {
                let value = string(value.clone(), "argument")?;
                match spec {
                    None if value == "help" => help = true,
                    None => spec = Some(find(&value).with_context(|| unknown_command(&value))?),
                    Some(s) if s.positional.is_some() && positional.is_none() => positional = Some(value),
                    Some(s) => bail!("unexpected argument '{value}' for '{0}'; see `cargo xtask {0} --help`", s.name),
                }
                continue;
            }
        };
        let see = spec.map(|s| format!("{} ", s.name)).unwrap_or_default();
        let flag = flag.with_context(|| format!("unknown option '{shown}'; see `cargo xtask {see}--help`"))?;
        let value = match flag.value {
            Some(_) => Some(string(parser.value()?, &format!("--{}", flag.long))?),
            None => None,
        };
        match flag.long {
            "help" => help = true,
            "dry-run" => global.dry_run = true,
            "verbose" => global.verbose = true,
            "engine" => global.engine = value,
            "flavor" => global.flavor = value,
            "context" => global.context = value,
            long => given.push((long, value)),
        }
    }
    if help {
        return Ok(Parsed::Help(spec.map(|s| s.name)));
    }
    let Some(spec) = spec else {
        bail!("no command given; see `cargo xtask --help` for the list");
    };
    if let Some((long, _)) = given.iter().find(|(long, _)| !spec.all_flags().any(|f| f.long == *long)) {
        bail!("'{}' does not take --{long}; see `cargo xtask {} --help`", spec.name, spec.name);
    }
    if let (Some((what, true)), None) = (spec.positional, &positional) {
        bail!("'{}' needs {what}; usage: cargo xtask {}", spec.name, spec.usage());
    }
    Ok(Parsed::Run(global, (spec.make)(&Given { spec, values: given, positional })?))
}

/// Every flag any command knows, global ones first.
fn all_flags() -> impl Iterator<Item = &'static Flag> {
    GLOBAL.iter().chain(COMMANDS.iter().flat_map(Spec::all_flags))
}

fn string(value: std::ffi::OsString, what: &str) -> Result<String> {
    value.into_string().map_err(|v| anyhow::anyhow!("{what}: '{}' is not valid UTF-8", v.to_string_lossy()))
}

fn unknown_command(name: &str) -> String {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let near = crate::dockerfile::nearest(name, &names).map(|near| format!(" (did you mean '{near}'?)"));
    format!("unknown command '{name}'; commands: {}{}", names.join(", "), near.unwrap_or_default())
}

fn flag_lines<'a>(flags: impl Iterator<Item = &'a Flag>) -> String {
    let mut lines = String::new();
    for flag in flags {
        let short = flag.short.map(|c| format!("-{c}, ")).unwrap_or_default();
        let spelled = format!("{short}{}", flag.spelled());
        lines += &format!("  {spelled:<17} {}\n", flag.help);
    }
    lines
}

/// The help of one command, or of the kit when `command` is None.
pub fn help(command: Option<&str>) -> String {
    let globals = flag_lines(GLOBAL.iter());
    if let Some(spec) = command.and_then(find) {
        let mut text = format!("{}\n\nUsage: cargo xtask {}\n", spec.summary, spec.usage());
        if spec.all_flags().next().is_some() {
            text += &format!("\nOptions:\n{}", flag_lines(spec.all_flags()));
        }
        return text + "\nGlobal options:\n" + &globals;
    }
    let commands: String = COMMANDS.iter().map(|spec| format!("  {:<9} {}\n", spec.name, spec.summary)).collect();
    format!(
        "cargo xtask: build, lint, test, release and run the Node service's container images\n\n\
         Usage: cargo xtask [OPTIONS] COMMAND [COMMAND OPTIONS]\n\nCommands:\n{commands}\nOptions:\n{globals}\n\
         `cargo xtask COMMAND --help` lists a command's own options.\n\
         Settings live in xtask.toml at the project root.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(args: &[&str]) -> (Global, Task) {
        match parse(args).unwrap() {
            Parsed::Run(global, task) => (global, task),
            Parsed::Help(_) => panic!("help for {args:?}"),
        }
    }

    #[test]
    fn flags_before_and_after_the_command() {
        let (global, build) = task(&["--dry-run", "build", "--stage", "test", "-v", "--build-arg", "A=1"]);
        assert!(global.dry_run && global.verbose);
        let Task::Build { stage, flags } = build else { panic!("{build:?}") };
        assert_eq!(stage.as_deref(), Some("test"));
        assert_eq!(flags.build_args, [("A".to_string(), "1".to_string())]);
        let (_, build) = task(&["build", "--stage=lint"]);
        assert!(matches!(build, Task::Build { stage: Some(s), .. } if s == "lint"));
        let (_, build) = task(&["--stage", "lint", "build"]);
        assert!(matches!(build, Task::Build { stage: Some(s), .. } if s == "lint"));
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
        let err = parse(["build", "--frobnicate"]).unwrap_err().to_string();
        assert_eq!(err, "unknown option '--frobnicate'; see `cargo xtask build --help`");
        assert!(parse(["build", "--stage"]).is_err());
        assert!(parse(Vec::<String>::new()).unwrap_err().to_string().contains("no command given"));
    }

    #[test]
    fn help_forms() {
        assert_eq!(parse(["--help"]).unwrap(), Parsed::Help(None));
        assert_eq!(parse(["help", "build"]).unwrap(), Parsed::Help(Some("build")));
        assert_eq!(parse(["release", "-h"]).unwrap(), Parsed::Help(Some("release")));
        assert!(help(Some("build")).contains("--stage S"));
        assert!(help(None).contains("Commands:"));
    }

    /// Every flag a command accepts is in its help, and every command's Task can be made from its own
    /// flags (a `make` that read an undeclared flag would trip the debug assertion in `lookup`).
    #[test]
    fn help_lists_every_accepted_flag() {
        for spec in COMMANDS {
            let text = help(Some(spec.name));
            for flag in spec.all_flags() {
                assert!(text.contains(&format!("--{}", flag.long)), "{} --help lacks --{}", spec.name, flag.long);
                let value = flag.value.map(|_| "linux/amd64");
                let given = Given { spec, values: vec![(flag.long, value.map(Into::into))], positional: None };
                let _ = (spec.make)(&given);
            }
        }
        assert!(help(Some("ci")).contains("--cache MODE"));
    }
}
