//! The architecture the docs describe is the one the code has: the crate graph in
//! `docs/architecture.md` is the graph of the manifests, production crates never depend
//! on the DA server where they must not or on the test kit, and no crate's top-level
//! modules form a cycle.
#![allow(missing_docs)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Workspace crate folder → (crate name, normal workspace dependencies).
fn crates() -> BTreeMap<String, (String, BTreeSet<String>)> {
    let root = root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members: Vec<String> = manifest
        .split("members = [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .unwrap()
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect();
    let mut out = BTreeMap::new();
    for m in members {
        let text = std::fs::read_to_string(root.join(&m).join("Cargo.toml")).unwrap();
        let mut name = String::new();
        let mut deps = BTreeSet::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            if section == "[package]" && line.starts_with("name =") {
                name = line.split('"').nth(1).unwrap().to_string();
            }
            if section == "[dependencies]"
                && let Some(dep) = line.split(['.', ' ', '=']).next()
                && dep.starts_with("zg-")
            {
                deps.insert(dep.to_string());
            }
        }
        out.insert(m, (name, deps));
    }
    out
}

/// The graph as `docs/architecture.md` writes it: `crate: dep dep …` lines.
fn render(crates: &BTreeMap<String, (String, BTreeSet<String>)>) -> String {
    let mut lines: Vec<String> = crates
        .values()
        .map(|(name, deps)| {
            let deps: Vec<&str> = deps.iter().map(String::as_str).collect();
            format!(
                "{name}: {}",
                if deps.is_empty() {
                    "-".to_string()
                } else {
                    deps.join(" ")
                }
            )
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

#[test]
fn the_documented_crate_graph_is_the_real_one() {
    let crates = crates();
    let doc = std::fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let block = doc
        .split("```crate-graph\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("docs/architecture.md has a ```crate-graph block");
    let want = render(&crates);
    assert_eq!(
        block.trim(),
        want,
        "docs/architecture.md's crate graph is stale; the manifests say:\n{want}"
    );
}

#[test]
fn dependencies_point_down() {
    let crates = crates();
    let deps_of = |name: &str| {
        crates
            .values()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no crate {name}"))
    };
    for client in ["zg-op-plugin", "zg-sampler", "zg-da-client"] {
        assert!(
            !deps_of(client).contains("zg-da-server"),
            "{client} must reach the DA layer through zg-da-client only"
        );
    }
    for (name, deps) in crates.values() {
        assert!(
            !deps.contains("zg-testkit"),
            "{name} depends on the test kit: no release binary may link test helpers"
        );
    }
    for base in ["zg-primitives", "zg-node-kit"] {
        assert!(
            deps_of(base).is_empty(),
            "{base} is a foundation crate and depends on no other workspace crate"
        );
    }
}

/// Top-level modules of a crate (`src/<m>.rs`, `src/<m>/`) and the ones each names
/// through `crate::<m>` or `super::<m>` from its top level.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let p = e.path();
        let n = e.file_name().to_string_lossy().to_string();
        if p.is_file() && n.ends_with(".rs") && n != "lib.rs" && n != "main.rs" {
            files.insert(n.trim_end_matches(".rs").to_string(), vec![p]);
        } else if p.is_dir() && n != "bin" {
            let mut all = Vec::new();
            let mut stack = vec![p];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(d).unwrap().flatten() {
                    if e.path().is_dir() {
                        stack.push(e.path());
                    } else if e.path().extension().is_some_and(|x| x == "rs") {
                        all.push(e.path());
                    }
                }
            }
            files.insert(n, all);
        }
    }
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (m, paths) in &files {
        let mut edges = BTreeSet::new();
        for p in paths {
            let text = std::fs::read_to_string(p).unwrap();
            for (i, _) in text.match_indices("crate::") {
                let rest = &text[i + 7..];
                let mut refs: Vec<&str> = Vec::new();
                if let Some(group) = rest.strip_prefix('{') {
                    let group = group.split('}').next().unwrap_or("");
                    refs.extend(
                        group
                            .split(',')
                            .filter_map(|t| t.trim().split([':', ' ']).next()),
                    );
                } else {
                    refs.push(
                        rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                            .next()
                            .unwrap_or(""),
                    );
                }
                for r in refs {
                    if r != m && names.contains(r) {
                        edges.insert(r.to_string());
                    }
                }
            }
        }
        graph.insert(m.clone(), edges);
    }
    graph
}

/// A cycle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| p == n).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(n.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn no_crate_has_a_module_cycle() {
    for folder in crates().keys() {
        let src = root().join(folder).join("src");
        if let Some(cycle) = find_cycle(&module_graph(&src)) {
            panic!("{folder}: modules form a cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_cycle(&g).unwrap().len(), 4);
    let mut acyclic = g.clone();
    acyclic.get_mut("c").unwrap().clear();
    assert!(find_cycle(&acyclic).is_none());
}
