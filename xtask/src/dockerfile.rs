// TEMP STUB (replaced by the real module)
use anyhow::Result;
use std::collections::BTreeMap;
pub struct Dockerfile {
    pub stages: Vec<Stage>,
}
pub struct Stage {
    pub index: usize,
    pub name: Option<String>,
}
pub fn parse(_t: &str) -> Result<Dockerfile> {
    todo!()
}
impl Dockerfile {
    pub fn find_stage(&self, _n: &str, _l: &str) -> Result<&Stage> {
        todo!()
    }
    pub fn dependencies(&self, _n: &str, _a: &BTreeMap<String, String>) -> Result<Vec<usize>> {
        todo!()
    }
    pub fn external_images(&self, _n: &str, _a: &BTreeMap<String, String>) -> Result<Vec<String>> {
        todo!()
    }
    pub fn resolve_base(&self, _s: &Stage, _a: &BTreeMap<String, String>) -> String {
        todo!()
    }
}
pub fn nearest<'a>(_w: &str, _c: &[&'a str]) -> Option<&'a str> {
    None
}
