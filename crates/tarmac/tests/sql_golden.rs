//! Golden files for every output mode of `tarmac sql`: the same result in
//! each mode, compared byte for byte with `tests/golden/sql/*`
//! (`UPDATE_GOLDEN=1 cargo test -p tarmac --test sql_golden` rewrites them).

mod sql_common;

use sql_common::*;

/// One row per interesting case: numbers, text needing quotes, NULLs, dates,
/// timestamps, booleans, lists, structs and JSON.
const QUERY: &str = r#"SELECT * FROM (VALUES
    (1, 'AV 123', 'Bogotá, El Dorado', 12.5::DOUBLE, 3.25::DECIMAL(10,2), DATE '2024-08-12',
        TIMESTAMP '2024-08-12 10:00:00', true, [1, 2], {'gate': 'A1', 'terminal': 2}, '{"a": 1}'::JSON),
    (2, 'LA "quoted"', NULL, -0.5::DOUBLE, NULL, NULL,
        TIMESTAMP '2024-08-12 23:59:59.5', false, [], NULL, NULL),
    (20, 'two
lines', 'x|y', 1e20::DOUBLE, 100.00::DECIMAL(10,2), DATE '2024-01-01',
        NULL, NULL, NULL, {'gate': NULL, 'terminal': NULL}, '[1,2]'::JSON)
) t(id, code, airport, score, price, day, seen_at, ok, tags, place, doc)
ORDER BY id"#;

fn run_mode(mode: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = sql(dir.path())
        .args([":memory:", "--mode", mode, "-c", QUERY])
        .output()
        .unwrap();
    assert!(out.status.success(), "{mode}: {}", stderr(&out));
    assert_eq!(stderr(&out), "", "{mode}");
    stdout(&out)
}

#[test]
fn duckbox() {
    golden("duckbox.txt", &run_mode("duckbox"));
}

#[test]
fn r#box() {
    golden("box.txt", &run_mode("box"));
}

#[test]
fn table() {
    golden("table.txt", &run_mode("table"));
}

#[test]
fn csv() {
    golden("csv.txt", &run_mode("csv"));
}

#[test]
fn json() {
    let text = run_mode("json");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json mode prints valid JSON");
    assert_eq!(v[0]["place"]["terminal"], 2);
    assert_eq!(v[0]["doc"]["a"], 1, "JSON columns are embedded, not quoted");
    assert_eq!(v[1]["airport"], serde_json::Value::Null);
    golden("json.txt", &text);
}

#[test]
fn jsonl() {
    let text = run_mode("jsonl");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("each line is JSON");
    }
    golden("jsonl.txt", &text);
}

#[test]
fn markdown() {
    golden("markdown.txt", &run_mode("markdown"));
}

#[test]
fn line() {
    golden("line.txt", &run_mode("line"));
}

#[test]
fn duckbox_with_maxrows_and_maxwidth() {
    let dir = tempfile::tempdir().unwrap();
    let out = sql(dir.path())
        .args([":memory:", "--mode", "duckbox", "-c", ".maxrows 6", "-c", ".maxwidth 60"])
        .args(["-c", "SELECT i, 'row ' || i AS label, i * 1.5 AS half, repeat('x', 40) AS filler, i % 2 = 0 AS even FROM range(100) t(i)"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for l in text.lines() {
        assert!(l.chars().count() <= 60, "{l:?}");
    }
    golden("duckbox_limited.txt", &text);
}

#[test]
fn models_and_lineage_from_the_dbt_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/sql/fixture_manifest.json"),
        target.join("manifest.json"),
    )
    .unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/sql/fixture_run_results.json"),
        target.join("run_results.json"),
    )
    .unwrap();
    let out = sql(dir.path())
        .args([
            ":memory:",
            "--mode",
            "box",
            "-c",
            ".models",
            "-c",
            ".lineage stg_flights",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    golden("models.txt", &stdout(&out));
}
