//! The warehouse crate is the only one that links DuckDB (issue 18): the
//! crates above it take DuckDB's types through `warehouse::duckdb`, so the
//! lock protocol, the damage probe and the error classes cannot be bypassed
//! by a crate that opens the file on its own. Tests may still depend on
//! `duckdb` directly, as a check independent of the code under test.

use std::path::Path;

/// The names in a Cargo.toml's `[dependencies]` table (not dev- or build-).
fn runtime_dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            if let Some(name) = line.split(['=', '.', ' ']).next() {
                names.push(name.trim().to_string());
            }
        }
    }
    names
}

#[test]
fn only_the_warehouse_crate_depends_on_duckdb() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut linking = Vec::new();
    for entry in std::fs::read_dir(&crates).expect("crates/") {
        let dir = entry.expect("entry").path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        if runtime_dependencies(&manifest)
            .iter()
            .any(|d| d == "duckdb")
        {
            linking.push(dir.file_name().unwrap().to_string_lossy().to_string());
        }
    }
    assert_eq!(linking, vec!["warehouse".to_string()]);
}

#[test]
fn reads_dependency_tables() {
    let m = "[package]\nname = \"x\"\n[dependencies]\nduckdb.workspace = true\nfoo = \"1\"\n[dev-dependencies]\nbar = \"1\"\n";
    assert_eq!(runtime_dependencies(m), vec!["duckdb", "foo"]);
}
