//! `tarmac build|run|seed|compile|ls` as a user runs them: the real binary
//! on a temporary copy of the engine's jaffle fixture. Also, with dbt (found
//! by `testkit::dbt`: `$TARMAC_DBT` or the repository's `.venv-dbt`), the
//! same project built by dbt-core + dbt-duckdb and by Tarmac must hold the
//! same relations, row counts and contents.

mod common;

use common::in_project as tarmac;
use common::{copy_project, engine_fixture, workspace};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> (tempfile::TempDir, PathBuf) {
    engine_fixture("jaffle")
}

#[test]
fn build_ls_and_exit_codes() {
    let (_t, dir) = fixture();
    let db = dir.join("jaffle.duckdb");
    let out = tarmac(&dir, &db, &["build", "--threads", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Done. PASS=13 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=13"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK created sql table model main_analytics.customers"),
        "{stdout}"
    );
    for f in [
        "target/manifest.json",
        "target/run_results.json",
        "target/compiled/jaffle/models/marts/customers.sql",
        "target/run/jaffle/models/marts/customers.sql",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    let out = tarmac(&dir, &db, &["ls", "--select", "+stg_orders"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        // dbt's order: by unique id
        "jaffle.staging.stg_orders\njaffle.raw_orders\njaffle.staging.unique_stg_orders_order_id\n"
    );
    // a model whose SQL DuckDB refuses: exit code 2 (a final error, which
    // the orchestrator does not retry), its descendants skipped
    std::fs::write(dir.join("models/staging/stg_orders.sql"), "select nope").unwrap();
    let out = tarmac(&dir, &db, &["run"]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ERROR=1 SKIP=2"), "{stdout}");
    // no project: exit code 2 and a message naming the file
    let out = Command::new(env!("CARGO_BIN_EXE_tarmac"))
        .args(["compile", "--project-dir"])
        .arg(dir.join("nope"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dbt_project.yml"));
}

/// Relations with row count and digest, read with the venv's DuckDB (newer
/// than ours, so it reads both files).
fn digests(python: &Path, db: &Path) -> String {
    let script = r#"
import duckdb, sys
c = duckdb.connect(sys.argv[1], read_only=True)
for s, t in c.sql("select table_schema, table_name from information_schema.tables where table_catalog = current_database() order by 1, 2").fetchall():
    n, d = c.sql(f'select count(*), md5(string_agg(x::VARCHAR, \'|\' order by x::VARCHAR)) from "{s}"."{t}" as x').fetchall()[0]
    print(s, t, n, d)
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn same_warehouse_as_dbt() {
    let Some(dbt) = testkit::dbt("same_warehouse_as_dbt") else {
        return;
    };
    let (_t, dir) = fixture();
    let dbt_dir = dir.parent().unwrap().join("jaffle_dbt");
    copy_project(&dir, &dbt_dir);
    // both databases are named jaffle.duckdb (the catalog name is the stem)
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::create_dir_all(dbt_dir.join("b")).unwrap();
    let ours = dir.join("a/jaffle.duckdb");
    let theirs = dbt_dir.join("b/jaffle.duckdb");
    let out = tarmac(&dir, &ours, &["build"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = testkit::dbt_command(&dbt, &dbt_dir, &["build"])
        .env("TARMAC_DB", &theirs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let py = testkit::python_beside(&dbt);
    let (a, b) = (digests(&py, &ours), digests(&py, &theirs));
    assert_eq!(a, b, "tarmac (left) and dbt (right) differ");
    assert_eq!(a.lines().count(), 8, "{a}");
}

/// One case of the error golden: files written over a small base project,
/// the command run, exit code and what the user reads (timestamps, timings
/// and the temporary directory normalized).
fn error_case(name: &str, files: &[(&str, &str)], args: &[&str]) -> String {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("shop");
    let mut all: Vec<(&str, String)> = vec![
        ("dbt_project.yml", "name: shop\nprofile: shop\n".into()),
        (
            "profiles.yml",
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: \"{{ env_var('TARMAC_DB') }}\"\n".into(),
        ),
        ("models/customers.sql", "select 1 as id\n".into()),
        ("models/orders.sql", "select 1 as id, 2 as customer_id\n".into()),
        (
            "models/sources.yml",
            "version: 2\nsources:\n  - name: raw\n    tables: [{name: payments}]\n".into(),
        ),
    ];
    for (p, text) in files {
        all.retain(|(q, _)| q != p);
        all.push((p, text.to_string()));
    }
    for (p, text) in &all {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
    let out = tarmac(&dir, &dir.join("shop.duckdb"), args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{name}: {text}");
    let ts = |l: &str| {
        let b = l.as_bytes();
        b.len() >= 10 && b[2] == b':' && b[5] == b':' && &l[8..10] == "  "
    };
    let mut lines = Vec::new();
    // the closing block and error lines: from the run summary on, and
    // everything on stderr
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut keep = false;
    for l in stdout.lines() {
        let l = if ts(l) { &l[10..] } else { l };
        if l.starts_with("Completed with") || l.starts_with("Finished running") {
            keep = true;
        }
        if keep && !l.starts_with("Finished running") && !l.trim().is_empty() {
            lines.push(l.to_string());
        }
    }
    for l in String::from_utf8_lossy(&out.stderr).lines() {
        lines.push(format!("stderr: {l}"));
    }
    format!(
        "== {name} (exit {})\n{}\n",
        out.status.code().unwrap_or(-1),
        lines.join("\n")
    )
    .replace(&dir.display().to_string(), "<project>")
}

/// What a user reads when something is wrong, as dbt words it: Jinja
/// errors with node, file and line (and the macro's when the error is in
/// one), missing refs and sources with the closest names, YAML and profile
/// errors with file and key, DuckDB errors under "Runtime Error in model"
/// (at the model file's line and column, with a caret, and exit 2),
/// require-dbt-version. Golden: `tests/golden/engine_errors.txt`
/// (`UPDATE_GOLDEN=1` rewrites it).
#[test]
fn errors_golden() {
    let run = ["run"];
    let mut all = String::new();
    all += &error_case(
        "jinja error in a model",
        &[("models/orders.sql", "select 1 as id,\n\n{{ 1 + 'a' }}\n")],
        &run,
    );
    all += &error_case(
        "jinja syntax error",
        &[("models/orders.sql", "select 1 as id,\n{{ foo bar }}\n")],
        &run,
    );
    all += &error_case(
        "jinja error in a macro",
        &[
            (
                "macros/cents.sql",
                "{% macro cents(x) %}\n  {{ x.nope() }}\n{% endmacro %}\n",
            ),
            ("models/orders.sql", "select {{ cents(1) }} as id\n"),
        ],
        &run,
    );
    all += &error_case(
        "missing ref and source",
        &[(
            "models/orders.sql",
            "select * from {{ ref('customer') }} join {{ source('raw', 'payment') }} using (id)\n",
        )],
        &run,
    );
    all += &error_case(
        "yaml syntax",
        &[(
            "models/sources.yml",
            "version: 2\nsources:\n  - name: raw\n   tables: []\n",
        )],
        &run,
    );
    // every properties file that is not YAML, named at once
    all += &error_case(
        "yaml syntax in two files",
        &[
            (
                "models/sources.yml",
                "version: 2\nsources:\n  - name: raw\n   tables: []\n",
            ),
            ("models/props.yml", "version: 2\nmodels: [\n"),
        ],
        &run,
    );
    all += &error_case(
        "yaml bad value",
        &[(
            "models/props.yml",
            "version: 2\nmodels:\n  - name: orders\n    columns: 5\n",
        )],
        &run,
    );
    // every bad key of every properties file, and a file that is not
    // YAML, in one run
    all += &error_case(
        "yaml bad values in two files",
        &[
            (
                "models/props.yml",
                "version: 2\nmodels:\n  - name: orders\n    columns: 5\n    config: [a]\n  - description: no name\n",
            ),
            (
                "models/sources.yml",
                "version: 2\nsources:\n  - name: raw\n    tables:\n      - name: t\n        tags: {a: 1}\n",
            ),
            ("models/more.yml", "version: 2\nmodels: [\n"),
        ],
        &run,
    );
    all += &error_case(
        "duckdb error",
        &[(
            "models/orders.sql",
            "select nope from {{ ref('customers') }}\n",
        )],
        &run,
    );
    // DuckDB's position mapped back into the model file (a final error: exit 2)
    all += &error_case(
        "sql syntax error points into the model",
        &[(
            "models/orders.sql",
            "{{ config(materialized='table') }}\n\nselect *\n  frm {{ ref('customers') }}\n",
        )],
        &run,
    );
    all += &error_case(
        "unknown column points into the model",
        &[(
            "models/orders.sql",
            "-- orders\nselect id,\n       {{ 'amount' }} * 100 as cents,\n       nope\nfrom {{ ref('customers') }}\n",
        )],
        &run,
    );
    all += &error_case(
        "bad profile",
        &[(
            "profiles.yml",
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: x.duckdb\n      attach: [{path: y.duckdb, read_only: maybe}]\n",
        )],
        &run,
    );
    all += &error_case(
        "require-dbt-version",
        &[(
            "dbt_project.yml",
            "name: shop\nprofile: shop\nrequire-dbt-version: ['>=1.0.0', '<1.5.0']\n",
        )],
        &run,
    );
    let golden = workspace().join("crates/tarmac/tests/golden/engine_errors.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &all).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("missing {} (UPDATE_GOLDEN=1 writes it)", golden.display()));
    assert_eq!(all, expected, "UPDATE_GOLDEN=1 rewrites the golden");

    // an extension DuckDB's cache lacks: named, whether offline or not
    let out = error_case(
        "extension",
        &[(
            "profiles.yml",
            "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: x.duckdb\n      extensions: [tarmac_no_such_extension]\n",
        )],
        &run,
    );
    assert!(
        out.contains("(exit 2)")
            && out.contains("key shop.outputs.dev.extensions[0]: DuckDB extension 'tarmac_no_such_extension' is not in the local extension cache and could not be installed"),
        "{out}"
    );
    // --no-version-check builds anyway
    let out = error_case(
        "no version check",
        &[(
            "dbt_project.yml",
            "name: shop\nprofile: shop\nrequire-dbt-version: '<1.5.0'\n",
        )],
        &["run", "--no-version-check"],
    );
    assert!(out.contains("(exit 0)"), "{out}");
}
