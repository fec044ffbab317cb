//! The engine's phases as crates (issue 20): what each may link.
//!
//! `dbt-project` reads project files; it must build and test without
//! Jinja or a database. `dbt-jinja` renders them; it reaches the database
//! only through its `Database` trait, so it must build and test without
//! DuckDB. A narrow change in either never rebuilds DuckDB (25 minutes on
//! 2 cores). This reads every workspace crate's
//! `[dependencies]` (dev-dependencies do not reach a user's build) and
//! follows them through the workspace: a crate that pulls DuckDB or
//! minijinja into `dbt-project`, even through another workspace crate,
//! fails here with the path that brings it in.

use std::collections::{BTreeMap, BTreeSet};

/// The names under `[dependencies]` of a Cargo.toml (`name.workspace = true`,
/// `name = "1"`, `name = { ... }`).
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if !inside || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.split(['=', '.']).next() {
            out.insert(name.trim().to_string());
        }
    }
    out
}

/// Every workspace crate's package name and dependencies.
fn workspace() -> BTreeMap<String, BTreeSet<String>> {
    let root = testkit::repo_root().join("crates");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("{} has no package name", manifest.display()));
        out.insert(name, dependencies(&text));
    }
    out
}

/// The dependency path from `from` to `to` through workspace crates, if any.
fn path_to(ws: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap().clone();
        if last == to {
            return Some(path);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for dep in ws.get(&last).into_iter().flatten() {
            let mut next = path.clone();
            next.push(dep.clone());
            stack.push(next);
        }
    }
    None
}

#[test]
fn dbt_project_links_neither_jinja_nor_a_database() {
    let ws = workspace();
    assert!(
        ws.contains_key("dbt-project"),
        "crates/dbt-project is missing"
    );
    for banned in ["duckdb", "warehouse", "minijinja", "engine"] {
        if let Some(path) = path_to(&ws, "dbt-project", banned) {
            panic!(
                "dbt-project must not link {banned}, but it does: {}",
                path.join(" -> ")
            );
        }
    }
}

#[test]
fn dbt_jinja_links_no_database_and_nothing_above_it() {
    let ws = workspace();
    assert!(ws.contains_key("dbt-jinja"), "crates/dbt-jinja is missing");
    assert!(ws["dbt-jinja"].contains("dbt-project"));
    for banned in ["duckdb", "warehouse", "engine", "catalog", "shell"] {
        if let Some(path) = path_to(&ws, "dbt-jinja", banned) {
            panic!(
                "dbt-jinja must not link {banned}, but it does: {}",
                path.join(" -> ")
            );
        }
    }
}

#[test]
fn the_artifacts_crate_links_neither_jinja_nor_a_database() {
    // the shell and `up` read run_results.json through it: reading an
    // artifact must not pull the engine's phases in
    let ws = workspace();
    assert!(
        ws.contains_key("dbt-artifacts"),
        "crates/dbt-artifacts is missing"
    );
    for banned in ["duckdb", "warehouse", "minijinja", "engine", "dbt-jinja"] {
        if let Some(path) = path_to(&ws, "dbt-artifacts", banned) {
            panic!(
                "dbt-artifacts must not link {banned}, but it does: {}",
                path.join(" -> ")
            );
        }
    }
    for reader in ["engine", "shell", "catalog", "tarmac"] {
        assert!(
            ws[reader].contains("dbt-artifacts"),
            "{reader} reads run_results.json without dbt-artifacts"
        );
    }
}

#[test]
fn the_engine_builds_on_the_project_phase() {
    let ws = workspace();
    assert!(ws["engine"].contains("dbt-project"));
    assert!(ws["engine"].contains("dbt-jinja"));
    // deps point down only: no workspace crate depends on one that depends on it
    for name in ws.keys() {
        for dep in &ws[name] {
            if ws.contains_key(dep) {
                assert!(
                    path_to(&ws, dep, name).is_none(),
                    "crates {name} and {dep} depend on each other"
                );
            }
        }
    }
}

#[test]
fn reads_dependency_names_in_every_form() {
    let deps = dependencies(
        "[package]\nname = \"x\"\n[dependencies]\na.workspace = true\nb = \"1\"\n\
         # c = 1\nd = { version = \"2\" }\n[dev-dependencies]\ne = \"1\"\n",
    );
    assert_eq!(deps.into_iter().collect::<Vec<_>>(), ["a", "b", "d"]);
}
