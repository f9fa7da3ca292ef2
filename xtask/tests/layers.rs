//! The xtask's shape, kept: each module imports only from its own layer or the layers below it, and
//! no two modules import each other, directly or round a loop. A new module must be placed in `LAYERS`.

use std::collections::BTreeMap;

/// Bottom first. See the layout section of the README.
const LAYERS: &[&[&str]] = &[
    &["process", "signals", "gha", "dockerfile", "expand", "tags", "engine"],
    &["config", "project"],
    &["checks", "plan", "build"],
    &["cli", "stages", "inspect", "release", "run", "compose", "ci", "doctor", "new", "rename", "update", "main"],
];

/// The crate's modules each file names: `use crate::x`, `use crate::{x, y}` and `crate::x::…` paths.
fn imports(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in source.match_indices("crate::") {
        let rest = &source[i + "crate::".len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
            None => vec![rest],
        };
        for name in names {
            let name: String = name.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && !found.contains(&name) {
                found.push(name);
            }
        }
    }
    found
}

fn layer_of(module: &str) -> usize {
    LAYERS.iter().position(|layer| layer.contains(&module)).unwrap_or_else(|| {
        panic!("module {module} is in no layer: add it to LAYERS in tests/layers.rs (and to the README's layout)")
    })
}

/// What is wrong with an import graph (module -> modules it imports): upward imports and loops.
fn problems(graph: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut found = Vec::new();
    for (module, uses) in graph {
        for used in uses.iter().filter(|u| *u != module) {
            if layer_of(used) > layer_of(module) {
                found.push(format!("{module} imports {used}, a layer above it"));
            }
        }
    }
    // Repeatedly drop a module whose imports are all gone; what cannot be dropped is in a loop.
    let mut left = graph.clone();
    while let Some(leaf) = left
        .iter()
        .find(|(module, uses)| uses.iter().all(|u| u == *module || !left.contains_key(u)))
        .map(|(module, _)| module.clone())
    {
        left.remove(&leaf);
    }
    if !left.is_empty() {
        found.push(format!("import loop among: {}", left.keys().cloned().collect::<Vec<_>>().join(", ")));
    }
    found
}

#[test]
fn modules_import_only_downwards_and_never_in_a_loop() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let module = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            // Inline tests may use anything; only the code a copy runs is layered.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            graph.insert(module, imports(code));
        }
    }
    assert!(graph.len() > 10, "read the modules of {}", src.display());
    let found = problems(&graph);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_loop_and_an_upward_import() {
    assert_eq!(imports("use crate::plan::{Plan, Step};\nuse crate::{gha, signals};"), ["plan", "gha", "signals"]);
    let graph = |edges: &[(&str, &[&str])]| -> BTreeMap<String, Vec<String>> {
        edges.iter().map(|(m, uses)| (m.to_string(), uses.iter().map(|u| u.to_string()).collect())).collect()
    };
    assert!(problems(&graph(&[("build", &["project", "plan"]), ("plan", &["engine"]), ("engine", &[])])).is_empty());
    assert_eq!(problems(&graph(&[("config", &["build"]), ("build", &[])])), ["config imports build, a layer above it"]);
    let looped = problems(&graph(&[("engine", &["process"]), ("process", &["engine"]), ("gha", &[])]));
    assert_eq!(looped, ["import loop among: engine, process"]);
}
