//! No crate's modules may import each other in a cycle that is not already
//! recorded in `module_cycles.txt` (issue 20: "inside every crate, no module
//! imports cycle back"). The record is a ratchet, and it is empty: the
//! engine's large cycle was taken apart (ARCHITECTURE.md lists its modules
//! level by level). A new module in a cycle, or a new cycle, fails here
//! with the imports that close it; a cycle that shrank or went away fails
//! too, until the record says so (`UPDATE_CYCLES=1 cargo test --test
//! module_cycles` rewrites it), so the record is always the truth.

use std::collections::BTreeSet;

use testkit::modules;

const RECORD: &str = "tests/module_cycles.txt";

#[test]
fn no_module_cycle_beyond_the_record() {
    let root = testkit::repo_root();
    let mut crates: Vec<String> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|c| root.join("crates").join(c).join("src").is_dir())
        .collect();
    crates.sort();
    let mut now: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut graphs = std::collections::BTreeMap::new();
    for c in &crates {
        let g = modules::graph(&root.join("crates").join(c).join("src")).unwrap();
        for cycle in modules::cycles(&g) {
            now.push((c.clone(), cycle));
        }
        graphs.insert(c.clone(), g);
    }
    let text: String = now
        .iter()
        .map(|(c, m)| format!("{c}: {}\n", m.iter().cloned().collect::<Vec<_>>().join(" ")))
        .collect();
    let record_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(RECORD);
    if std::env::var_os("UPDATE_CYCLES").is_some() {
        std::fs::write(&record_path, &text).unwrap();
        return;
    }
    let recorded: Vec<(String, BTreeSet<String>)> = std::fs::read_to_string(&record_path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (c, mods) = l.split_once(':')?;
            Some((
                c.trim().to_string(),
                mods.split_whitespace().map(String::from).collect(),
            ))
        })
        .collect();
    let mut problems = Vec::new();
    for (c, cycle) in &now {
        let within = recorded
            .iter()
            .find(|(rc, rm)| rc == c && cycle.is_subset(rm));
        match within {
            Some((_, rm)) => {
                let joined: Vec<&String> = cycle.difference(rm).collect();
                assert!(joined.is_empty());
            }
            None => {
                let known: BTreeSet<String> = recorded
                    .iter()
                    .filter(|(rc, _)| rc == c)
                    .flat_map(|(_, m)| m.iter().cloned())
                    .collect();
                let new: Vec<&String> = cycle.iter().filter(|m| !known.contains(*m)).collect();
                let from = new
                    .first()
                    .copied()
                    .unwrap_or_else(|| cycle.iter().next().unwrap());
                let path = modules::path_around(&graphs[c], cycle, from);
                problems.push(format!(
                    "crate `{c}`: modules {new:?} now import in a cycle ({}); break it (move what both need into a module below them)",
                    path.join(" -> ")
                ));
            }
        }
    }
    let recorded_text: String = recorded
        .iter()
        .map(|(c, m)| format!("{c}: {}\n", m.iter().cloned().collect::<Vec<_>>().join(" ")))
        .collect();
    if problems.is_empty() && recorded_text != text {
        problems.push(format!(
            "the cycles shrank, well done: record it with UPDATE_CYCLES=1 cargo test --test module_cycles\nrecorded:\n{recorded_text}now:\n{text}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
