//! Jinja errors that dbt raises at run time are raised at run time, not at
//! parse (issue 17). The engine's `runtime_errors` fixture has models that
//! raise, use names nothing defines, read a var nobody set or run a query
//! the database refuses: the project parses, each of them fails alone when
//! it builds (its child is skipped), the others build. A golden holds the
//! statuses and messages; with dbt (`testkit::dbt`), dbt-core +
//! dbt-duckdb must give the same statuses, the same dependencies and the
//! same words for each failure.

mod common;

use common::in_project as tarmac;
use common::{copy_project, engine_fixture, run_results as results, workspace};
use std::path::Path;
use std::process::Output;

/// Each model's `depends_on.nodes` and tags in target/manifest.json.
fn graph(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("target/manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out: Vec<String> = v["nodes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(id, n)| {
            format!(
                "{id} <- {} tags {}",
                n["depends_on"]["nodes"], n["config"]["tags"]
            )
        })
        .collect();
    out.sort();
    out
}

/// Parse (must succeed), then build (must fail with `code`: six models
/// error). dbt exits 1; Tarmac exits 2 because the database refused a
/// model's query (final: the orchestrator does not retry it, see the
/// binary's `exit` module).
fn parse_and_build(code: i32, run: &dyn Fn(&[&str]) -> Output) {
    let parsed = run(&["parse"]);
    assert!(parsed.status.success(), "parse: {}", common::text(&parsed));
    let built = run(&["build"]);
    assert_eq!(
        built.status.code(),
        Some(code),
        "build: {}",
        common::text(&built)
    );
}

#[test]
fn runtime_errors_golden() {
    let (_t, dir) = engine_fixture("runtime_errors");
    let db = dir.join("runtime_errors.duckdb");
    parse_and_build(2, &|args| tarmac(&dir, &db, args));
    let mut all = String::new();
    for (id, status, message) in results(&dir) {
        all += &format!("{id} {status}\n");
        for l in message.lines() {
            all += &format!("  | {}\n", l.trim_end());
        }
    }
    for g in graph(&dir) {
        all += &format!("{g}\n");
    }
    let path = workspace().join("crates/tarmac/tests/golden/workflow/runtime_errors.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &all).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(
        all, expected,
        "golden runtime_errors.txt differs (UPDATE_GOLDEN=1 rewrites it)"
    );
}

/// dbt's words for a failure: its message's second line (the first is
/// the "... Error in model x (file)" heading), trimmed.
fn gist(message: &str) -> String {
    message
        .lines()
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn runtime_errors_match_dbt() {
    let Some(dbt) = testkit::dbt("runtime_errors_match_dbt") else {
        return;
    };
    let (_t, dir) = engine_fixture("runtime_errors");
    let dbt_dir = dir.parent().unwrap().join("dbt").join("runtime_errors");
    copy_project(&dir, &dbt_dir);
    let ours = dir.join("runtime_errors.duckdb");
    let theirs = dbt_dir.join("runtime_errors.duckdb");
    parse_and_build(2, &|args| tarmac(&dir, &ours, args));
    parse_and_build(1, &|args| {
        testkit::dbt_command(&dbt, &dbt_dir, args)
            .env("TARMAC_DB", &theirs)
            .output()
            .unwrap()
    });
    let (mine, dbts) = (results(&dir), results(&dbt_dir));
    let status = |r: &[(String, String, String)]| -> Vec<(String, String)> {
        r.iter().map(|(i, s, _)| (i.clone(), s.clone())).collect()
    };
    assert_eq!(
        status(&mine),
        status(&dbts),
        "statuses: tarmac (left), dbt (right)"
    );
    for ((id, status, ours), (_, _, theirs)) in mine.iter().zip(&dbts) {
        if status != "error" {
            continue;
        }
        let heading = theirs.lines().next().unwrap_or_default();
        assert!(
            ours.starts_with(heading),
            "{id}: tarmac says {ours:?}, dbt's heading is {heading:?}"
        );
        let words = gist(theirs);
        assert!(
            !words.is_empty() && ours.contains(&words),
            "{id}: tarmac says {ours:?}, dbt {theirs:?}"
        );
    }
    assert_eq!(
        graph(&dir),
        graph(&dbt_dir),
        "dependencies and tags: tarmac (left), dbt (right)"
    );
}
