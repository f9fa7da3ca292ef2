//! `stages`: the Dockerfile's stages, each with its base (resolved for the flavor) and its role.
//! `pull`: the external base images those stages need.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::config::Flavor;
use crate::engine::Engine;
use crate::plan::{Plan, Step};
use crate::project::{Project, Role};
use crate::sbom;

/// Each role's stage, checked against the Dockerfile.
fn roles(project: &Project) -> Result<Vec<(Role, String)>> {
    Role::ALL.into_iter().map(|role| Ok((role, project.role_stage(role)?))).collect()
}

pub fn print_stages(project: &Project, engine: &Engine) -> Result<()> {
    let dockerfile = project.dockerfile()?;
    let roles = roles(project)?;
    let flavor = project.flavor;
    let platform = engine.platform();
    let args = project.stage_graph_args(&platform, &platform)?;
    // For each stage index, the roles whose stages need it with these FROM args.
    let needed_by = |args: &BTreeMap<String, String>| -> Result<BTreeMap<usize, Vec<&str>>> {
        let mut needed: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
        for (role, stage) in &roles {
            for index in dockerfile.dependencies(stage, args)? {
                needed.entry(index).or_default().push(role.name());
            }
        }
        Ok(needed)
    };
    let needed = needed_by(&args)?;
    // A stage that only the other flavor uses is "not used with flavor X"; one no flavor uses, "not used".
    let other = if flavor == Flavor::Alpine { Flavor::Debian } else { Flavor::Alpine };
    let mut other_args = args.clone();
    other_args.insert("FLAVOR".to_string(), other.as_str().to_string());
    let needed_by_other = needed_by(&other_args).unwrap_or_default();
    let sbom_tool = dockerfile.dependencies(sbom::STAGE, &args).unwrap_or_default();
    let header = ["STAGE".to_string(), format!("BASE (flavor {}, {platform})", flavor.as_str()), "ROLE".to_string()];
    let mut rows = vec![header];
    for stage in &dockerfile.stages {
        let name = stage.name.clone().unwrap_or_else(|| format!("#{}", stage.index));
        let base = dockerfile.resolve_base(stage, &args)?;
        let own = roles.iter().find(|(_, s)| *s == name).map(|(role, _)| role.name());
        let role = match (own, needed.get(&stage.index)) {
            (Some(role), _) => role.to_string(),
            (None, _) if name == project.config.dev.stage => "dev (cargo xtask dev)".to_string(),
            (None, Some(users)) => format!("needed by {}", users.join(", ")),
            (None, None) if needed_by_other.contains_key(&stage.index) => {
                format!("not used with flavor {}", flavor.as_str())
            }
            (None, None) if sbom_tool.contains(&stage.index) => "the release's SBOM (npm packages)".to_string(),
            (None, None) => "not used".to_string(),
        };
        rows.push([name, base, role]);
    }
    print_table(&rows, "", usize::MAX);
    Ok(())
}

/// Prints three columns, each line after `indent`; the middle column is padded to at most `max_middle`.
pub fn print_table(rows: &[[String; 3]], indent: &str, max_middle: usize) {
    let width = |column: usize| rows.iter().map(|row| row[column].len()).max().unwrap_or(0);
    let (width0, width1) = (width(0), width(1).min(max_middle));
    for [first, middle, last] in rows {
        println!("{indent}{first:width0$}  {middle:width1$}  {last}");
    }
}

/// `pull`: every external image the lint, test and release stages need with this flavor, for each
/// platform (`--platform a,b`: one `docker pull --platform` per image and platform, as `docker pull`
/// takes one), else for the engine's own.
pub fn pull_plan(project: &Project, engine: &Engine, platforms: Option<&str>) -> Result<Plan> {
    let dockerfile = project.dockerfile()?;
    let roles = roles(project)?;
    let engine_platform = engine.platform();
    let mut plan = Plan::default();
    let mut pulled: Vec<(String, Option<&str>)> = Vec::new();
    // Each platform of the list, or the engine's (`None`).
    for target in platforms.map_or(vec![None], |list| list.split(',').map(Some).collect()) {
        let args = project.stage_graph_args(target.unwrap_or(&engine_platform), &engine_platform)?;
        for (_, stage) in &roles {
            for image in dockerfile.external_images(stage, &args)? {
                if pulled.contains(&(image.clone(), target)) {
                    continue;
                }
                let (title, flags) = match target {
                    Some(platform) => (format!("pull {image} for {platform}"), vec!["--platform", platform]),
                    None => (format!("pull {image}"), vec![]),
                };
                plan.push(Step::exec(title, engine.command(["pull"]).args(flags).arg(image.as_str())));
                pulled.push((image, target));
            }
        }
    }
    Ok(plan)
}
