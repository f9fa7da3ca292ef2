//! `bench`: the kit's speed and the images' size (being written; see the issue on benchmarks).

use anyhow::{bail, Result};

use crate::config::Flavor;
use crate::engine::Engine;
use crate::project::Project;

pub fn bench(_project: &Project, _engine: &Engine, _flavor: Flavor, _quick: bool, _json: bool) -> Result<()> {
    bail!("bench is being written; nothing is measured yet")
}
