//! `tarmac build|run|seed|compile|ls` as a user runs them: the real binary
//! on a temporary copy of the engine's jaffle fixture. Also, when a dbt
//! virtualenv exists at `.venv-dbt`, the same project built by dbt-core +
//! dbt-duckdb and by Tarmac must hold the same relations, row counts and
//! contents.

mod common;

use common::{copy_project, workspace};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("jaffle");
    copy_project(
        &workspace().join("crates/engine/tests/fixtures/jaffle"),
        &dir,
    );
    (d, dir)
}

fn tarmac(dir: &Path, db: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tarmac"))
        .args(args)
        .arg("--project-dir")
        .arg(dir)
        .arg("--profiles-dir")
        .arg(dir)
        .env("TARMAC_DB", db)
        .current_dir(dir)
        .output()
        .unwrap()
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
        "jaffle.raw_orders\njaffle.staging.stg_orders\njaffle.staging.unique_stg_orders_order_id\n"
    );
    // a broken model: exit code 1, its descendants skipped
    std::fs::write(dir.join("models/staging/stg_orders.sql"), "select nope").unwrap();
    let out = tarmac(&dir, &db, &["run"]);
    assert_eq!(out.status.code(), Some(1));
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
    let venv = workspace().join(".venv-dbt/bin");
    if !venv.join("dbt").exists() {
        eprintln!("SKIP same_warehouse_as_dbt: no dbt at {} (python3 -m venv .venv-dbt && .venv-dbt/bin/pip install 'dbt-core>=1.10,<1.11' 'dbt-duckdb>=1.9,<1.10')", venv.display());
        return;
    }
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
    let out = Command::new(venv.join("dbt"))
        .args(["build", "--project-dir"])
        .arg(&dbt_dir)
        .arg("--profiles-dir")
        .arg(&dbt_dir)
        .env("TARMAC_DB", &theirs)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .current_dir(&dbt_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let py = venv.join("python");
    let (a, b) = (digests(&py, &ours), digests(&py, &theirs));
    assert_eq!(a, b, "tarmac (left) and dbt (right) differ");
    assert_eq!(a.lines().count(), 8, "{a}");
}
