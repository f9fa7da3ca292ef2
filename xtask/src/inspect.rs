//! `inspect`: what the kit found in the service's folder and what it will do with each finding, so a
//! user sees before a build why it would fail.

use anyhow::{bail, Result};

use crate::config::Flavor;
use crate::project::{Lockfile, Package, Project};

pub fn inspect(project: &Project) -> Result<()> {
    let (package, problem) = Package::read(&project.context_path(), &project.config.build.context);
    let flavor = project.flavor;
    let service = &project.config.service;
    // (what, what was found, what the kit does with it)
    let mut rows = Vec::new();
    let mut row = |what: &str, found: &str, action: &str| rows.push([what, found, action].map(String::from));
    let mut problems: Vec<String> = problem.iter().map(|err| format!("{err:#}")).collect();
    if problems.is_empty() && package.version.is_empty() {
        problems.push(format!("{}/package.json has no \"version\"; the release tags come from it", package.label));
    }

    let lockfile = match (package.lockfile, package.lockfile_version()) {
        (Lockfile::Npm, Some(v)) => format!("package-lock.json (v{v})"),
        (Lockfile::Npm, None) => "npm-shrinkwrap.json or an unreadable package-lock.json".to_string(),
        (Lockfile::Yarn, _) => "yarn.lock (yarn 1)".to_string(),
        (Lockfile::YarnBerry, _) => "yarn.lock (yarn 2+)".to_string(),
        (Lockfile::Pnpm, _) => "pnpm-lock.yaml".to_string(),
        (Lockfile::Missing, _) => "none".to_string(),
    };
    match package.check_lockfile().and_then(|()| package.manager()) {
        Ok((manager, version)) => {
            let install = match manager {
                "npm" => "npm ci",
                "pnpm" => "pnpm install --frozen-lockfile",
                "yarn" => "yarn install --frozen-lockfile",
                _ => "yarn install --immutable (node_modules linker)",
            };
            row("lockfile", &lockfile, &format!("installed with {install}, cached; production modules apart"));
            let (found, why) = match version.as_str() {
                "" => ("npm".to_string(), "the lockfile; the image's own npm (no \"packageManager\")"),
                "1" => ("yarn 1".to_string(), "yarn.lock; the latest 1.x (no \"packageManager\")"),
                _ => (format!("{manager} {version}"), "the lockfile, the version from \"packageManager\""),
            };
            row("package manager", &found, &format!("from {why}; in the install stages only, never in release"));
        }
        Err(err) => {
            row("lockfile", &lockfile, "cannot build");
            problems.push(err.to_string());
        }
    }

    let script = |name: &str| package.scripts.get(name).map_or("none", String::as_str);
    let ships = if package.has_script("build") {
        format!("`npm run build`, then ships {}/ and package.json", service.build_output)
    } else {
        "no build step; ships the source (without node_modules, test/, tests/, coverage/)".into()
    };
    row("build script", script("build"), &ships);
    let lint = if package.has_script("lint") {
        "the lint stage runs it"
    } else {
        "lint stage says eslint skipped; the audit still runs"
    };
    row("lint script", script("lint"), lint);
    let test = match (package.has_script("test"), service.tests) {
        (true, _) => "the test stage runs it; a failure fails the build",
        (false, false) => "no tests ([service] tests = false): `test` says so",
        (false, true) => {
            problems.push(format!(
                "{}/package.json has no \"test\" script; add one, or set [service] tests = false in xtask.toml",
                package.label
            ));
            "`test` will fail"
        }
    };
    row("test script", script("test"), test);
    match package.start_file(&service.start) {
        Ok(file) => {
            let from = if !service.start.is_empty() {
                "xtask.toml"
            } else if package.scripts.get("start").is_some_and(|s| s.contains(&file)) {
                "start script"
            } else {
                "\"main\""
            };
            row("start", &format!("node {file} (from {from})"), "the release image runs it under tini");
        }
        Err(err) => {
            row("start", "unknown", "cannot build the release stage");
            problems.push(err.to_string());
        }
    }
    row("port", &service.port.to_string(), "EXPOSE, HEALTHCHECK, run and smoke use it; the image sets PORT");
    row("health path", &service.health_path, "probed by the HEALTHCHECK and by smoke");
    let env = if project.config.smoke.env.is_empty() {
        "none".to_string()
    } else {
        project.config.smoke.env.keys().cloned().collect::<Vec<_>>().join(", ")
    };
    row("boot env", &env, "given to run and smoke, never baked into the image");
    let native_modules = package.native_modules();
    let toolchain =
        project.config.build.native_toolchain.unwrap_or(native_modules.as_ref().is_some_and(|n| !n.is_empty()));
    let compiler =
        if toolchain { "; python3, make, g++ and Node's headers in the install stage, never in release" } else { "" };
    let native = match native_modules {
        Some(names) if names.is_empty() => (
            "none".to_string(),
            format!("pure JavaScript: any flavor; the npm stages run once, on the build platform, for every --platform{compiler}"),
        ),
        Some(names) => {
            let advice = match flavor {
                Flavor::Alpine => "compiled at install without a prebuilt binary; if they need glibc, use the debian flavor",
                Flavor::Debian => "compiled at install without a prebuilt binary (glibc)",
            };
            (names.join(", "), format!("{advice}{compiler}; the npm stages run on each target platform (NPM_PLATFORM=)"))
        }
        None => (
            "unknown".to_string(),
            format!("only package-lock.json v2+ tells ([build] native_toolchain decides){compiler}; the npm stages run on each target platform (NPM_PLATFORM=)"),
        ),
    };
    row("native modules", &native.0, &native.1);
    let dockerignore = project.context_path().join(".dockerignore").is_file();
    let found = if dockerignore { "present" } else { "missing" };
    row(".dockerignore", found, "keeps .git, node_modules, .env* and build output out of the context");
    if !dockerignore {
        problems.push(format!(
            "{}/.dockerignore is missing; copy the template's, or .env files and node_modules reach the build",
            package.label
        ));
    }

    println!("{} {} in {}/ (flavor {})", package.name, package.version, package.label, flavor.as_str());
    crate::stages::print_table(&rows, "  ", 40);
    // Every problem but the last is printed; the last is the error.
    let Some(last) = problems.pop() else { return Ok(()) };
    for problem in &problems {
        eprintln!("problem: {problem}");
    }
    bail!("{last}")
}
