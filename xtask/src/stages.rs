//! `stages`: the Dockerfile's stages, each with its base (resolved for the flavor) and its role.
//! `pull`: the external base images those stages need.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::config::Flavor;
use crate::dockerfile::Dockerfile;
use crate::engine::Engine;
use crate::plan::{Plan, Step};
use crate::project::Project;

/// The roles xtask.toml assigns, as (role, stage) pairs, each checked against the Dockerfile.
pub fn roles(project: &Project, dockerfile: &Dockerfile) -> Result<Vec<(&'static str, String)>> {
    let stages = &project.config.stages;
    let label = project.config.build.dockerfile.as_str();
    let mut roles = Vec::new();
    for (role, name) in [("lint", &stages.lint), ("test", &stages.test), ("release", &stages.release)] {
        dockerfile
            .find_stage(name, label)
            .map_err(|err| anyhow::anyhow!("xtask.toml [stages] {role} = \"{name}\": {err}"))?;
        roles.push((role, name.to_lowercase()));
    }
    Ok(roles)
}

/// Build args as BuildKit would see them for FROM lines: the flavor plus the user's args.
pub fn from_args(project: &Project, flavor: Flavor) -> BTreeMap<String, String> {
    let mut args = project.config.build.args.clone();
    args.insert("FLAVOR".to_string(), flavor.as_str().to_string());
    args
}

pub fn print_stages(project: &Project, flavor: Flavor) -> Result<()> {
    let dockerfile = project.dockerfile()?;
    let roles = roles(project, &dockerfile)?;
    let args = from_args(project, flavor);
    // Which role stages need each stage, with this flavor.
    let mut needed_by: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (role, stage) in &roles {
        for index in dockerfile.dependencies(stage, &args)? {
            needed_by.entry(index).or_default().push(role);
        }
    }
    let rows: Vec<[String; 3]> = dockerfile
        .stages
        .iter()
        .map(|stage| {
            let name = stage.name.clone().unwrap_or_else(|| format!("#{}", stage.index));
            let base = dockerfile.resolve_base(stage, &args);
            let own = roles.iter().find(|(_, s)| *s == name).map(|(role, _)| *role);
            let role = match (own, needed_by.get(&stage.index)) {
                (Some(role), _) => role.to_string(),
                (None, Some(users)) => format!("needed by {}", users.join(", ")),
                (None, None) => format!("not used with flavor {}", flavor.as_str()),
            };
            [name, base, role]
        })
        .collect();
    let header = ["STAGE".to_string(), format!("BASE (flavor {})", flavor.as_str()), "ROLE".to_string()];
    let width0 = rows.iter().map(|r| r[0].len()).chain([header[0].len()]).max().unwrap_or(0);
    let width1 = rows.iter().map(|r| r[1].len()).chain([header[1].len()]).max().unwrap_or(0);
    for row in std::iter::once(&header).chain(&rows) {
        println!("{:width0$}  {:width1$}  {}", row[0], row[1], row[2]);
    }
    Ok(())
}

/// `pull`: every external image the lint, test and release stages need with this flavor.
pub fn pull_plan(project: &Project, engine: &Engine, flavor: Flavor, platform: Option<&str>) -> Result<Plan> {
    let dockerfile = project.dockerfile()?;
    let args = from_args(project, flavor);
    let mut images: Vec<String> = Vec::new();
    for (_, stage) in roles(project, &dockerfile)? {
        for image in dockerfile.external_images(&stage, &args)? {
            if !images.contains(&image) {
                images.push(image);
            }
        }
    }
    let mut plan = Plan::default();
    for image in images {
        // `docker pull` takes one platform: one pull per platform of a multi-platform build.
        let platforms: Vec<Option<&str>> = match platform {
            Some(list) => list.split(',').map(Some).collect(),
            None => vec![None],
        };
        for platform in platforms {
            let mut pull = engine.command(["pull"]);
            let mut title = format!("pull {image}");
            if let Some(platform) = platform {
                pull = pull.args(["--platform", platform]);
                title.push_str(&format!(" for {platform}"));
            }
            plan.push(Step::exec(title, pull.arg(image.as_str())));
        }
    }
    Ok(plan)
}
