//! Fixture projects for the engine's features beyond phase 1 (snapshots,
//! packages, run-operation, cross-database macros, selectors, ...): golden
//! compiled SQL and warehouse contents (rewrite with `UPDATE_GOLDEN=1`), and
//! comparisons against dbt-core + dbt-duckdb where `/work/main/.venv-dbt`
//! (or `$TARMAC_DBT`) holds them; those skip with a message elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;

use engine::{Command, Options};

mod common;
use common::{fixture, golden, opts};

/// Every relation of `catalog` whose name matches `like`, one row per line,
/// sorted. Values that depend on when the run happened are normalized: a
/// timestamp after 2025 becomes `NOW`, and an md5 hash in a row holding
/// `NOW` becomes `H` (the check strategy hashes the snapshot time).
fn dump(db: &Path, catalog: &str, like: &str) -> String {
    let conn = duckdb::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = ? AND table_name LIKE ? ORDER BY 1, 2")
        .unwrap();
    let rels: Vec<(String, String)> = stmt
        .query_map([catalog, like], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut out = String::new();
    for (s, t) in rels {
        let mut cs = conn
            .prepare("SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position")
            .unwrap();
        let cols: Vec<(String, String)> = cs
            .query_map([catalog, &s, &t], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        out.push_str(&format!(
            "== {s}.{t} ({})\n",
            cols.iter()
                .map(|(c, ty)| format!("{c} {ty}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let sel: Vec<String> = cols
            .iter()
            .map(|(c, _)| format!("CAST(\"{c}\" AS VARCHAR)"))
            .collect();
        let q = format!("SELECT {} FROM \"{s}\".\"{t}\"", sel.join(", "));
        let mut q = conn.prepare(&q).unwrap();
        let n = cols.len();
        let mut rows: Vec<String> = q
            .query_map([], |r| {
                let vals: Vec<String> = (0..n)
                    .map(|i| {
                        r.get::<_, Option<String>>(i)
                            .unwrap()
                            .unwrap_or_else(|| "NULL".into())
                    })
                    .collect();
                Ok(vals)
            })
            .unwrap()
            .map(|r| {
                let mut vals = r.unwrap();
                for v in vals.iter_mut() {
                    if v.len() >= 10
                        && v[..4]
                            .parse::<i32>()
                            .is_ok_and(|y| (2025..9000).contains(&y))
                        && v.as_bytes()[4] == b'-'
                    {
                        *v = "NOW".into();
                    }
                }
                let has_now = vals.iter().any(|v| v == "NOW");
                for v in vals.iter_mut() {
                    if has_now && v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                        *v = "H".into();
                    }
                }
                vals.join(" | ")
            })
            .collect();
        rows.sort();
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}

/// dbt from the comparison venv, if there is one.
fn dbt() -> Option<PathBuf> {
    let p = std::env::var_os("TARMAC_DBT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/main/.venv-dbt/bin/dbt"));
    p.exists().then_some(p)
}

fn run_dbt(dbt: &Path, dir: &Path, args: &[&str]) {
    let out = Proc::new(dbt)
        .args(args)
        .arg("--project-dir")
        .arg(dir)
        .arg("--profiles-dir")
        .arg(dir)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dbt {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn with_vars(dir: &Path, vars: &str) -> Options {
    let mut o = opts(dir);
    o.vars = Some(vars.into());
    o
}

#[test]
fn snapshots_over_two_runs() {
    let (_t, dir) = fixture("snapshots", "snaps");
    let s = engine::execute(&with_vars(&dir, "phase: 1"), Command::Build).unwrap();
    assert_eq!((s.pass, s.error), (8, 0), "{s:?}");
    // `tarmac snapshot` runs the snapshots alone
    let s = engine::execute(&with_vars(&dir, "phase: 1"), Command::Snapshot).unwrap();
    assert_eq!((s.pass, s.total), (4, 4), "{s:?}");
    let s = engine::execute(&with_vars(&dir, "phase: 2"), Command::Build).unwrap();
    assert_eq!((s.pass, s.error), (8, 0), "{s:?}");
    golden(
        "snapshots/warehouse.txt",
        &dump(&dir.join("snaps.duckdb"), "snaps", "snap%"),
    );
    for f in [
        "snapshots/snap_ts.sql",
        "snapshots/legacy/snap_check.sql",
        "snapshots/snaps.yml/snap_yaml.sql",
    ] {
        let sql = std::fs::read_to_string(dir.join("target/compiled/snaps").join(f)).unwrap();
        golden(
            &format!("snapshots/compiled/{}", f.replace(".yml/", "_yml_")),
            &sql,
        );
    }
    let ls = engine::list(&Options {
        select: vec!["resource_type:snapshot".into()],
        ..opts(&dir)
    })
    .unwrap();
    assert_eq!(
        ls,
        [
            "snaps.legacy.snap_check.snap_check_all",
            "snaps.legacy.snap_check.snap_check_cols",
            "snaps.snap_ts.snap_ts",
            "snaps.snap_yaml"
        ]
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("target/manifest.json")).unwrap())
            .unwrap();
    let n = &manifest["nodes"]["snapshot.snaps.snap_ts"];
    assert_eq!(n["resource_type"], "snapshot");
    assert_eq!(n["config"]["meta"]["owner"], "data");
    assert_eq!(n["config"]["tags"], serde_json::json!(["snap"]));
    assert_eq!(
        manifest["nodes"]["snapshot.snaps.snap_check_all"]["schema"],
        "legacy_snapshots"
    );
}

#[test]
fn snapshot_config_errors_name_the_node() {
    let (_t, dir) = fixture("snapshots", "snaps");
    std::fs::write(
        dir.join("snapshots/bad.sql"),
        "{% snapshot bad %}\n{{ config(strategy='timestamp', unique_key='id') }}\nselect 1 as id\n{% endsnapshot %}",
    )
    .unwrap();
    let e = engine::list(&opts(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("snapshot.snaps.bad") && e.contains("updated_at"),
        "{e}"
    );
    std::fs::write(
        dir.join("snapshots/bad.sql"),
        "{% snapshot bad %}\nselect 1",
    )
    .unwrap();
    let e = engine::list(&opts(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("snapshots/bad.sql") && e.contains("endsnapshot"),
        "{e}"
    );
}

/// The same two runs with dbt-core + dbt-duckdb give the same tables.
#[test]
fn snapshots_match_dbt() {
    let Some(dbt) = dbt() else {
        eprintln!("skipped: dbt not found at /work/main/.venv-dbt/bin/dbt (set TARMAC_DBT)");
        return;
    };
    let (_t, dir) = fixture("snapshots", "snaps");
    run_dbt(&dbt, &dir, &["build", "--vars", "phase: 1"]);
    run_dbt(&dbt, &dir, &["build", "--vars", "phase: 2"]);
    let theirs = dump(&dir.join("snaps.duckdb"), "snaps", "snap%");
    let (_t2, mine) = fixture("snapshots", "snaps");
    engine::execute(&with_vars(&mine, "phase: 1"), Command::Build).unwrap();
    engine::execute(&with_vars(&mine, "phase: 2"), Command::Build).unwrap();
    assert_eq!(dump(&mine.join("snaps.duckdb"), "snaps", "snap%"), theirs);
}

/// Cross-database macros, dispatch, adapter/api/modules, graph, run_query
/// values: compiled SQL equals what dbt 1.10 + dbt-duckdb 1.9 compile
/// (the goldens were checked against dbt's `target/compiled`).
#[test]
fn jinja_surface_compiles_like_dbt() {
    let (_t, dir) = fixture("jinja", "jinja");
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert_eq!((s.pass, s.error), (4, 0), "{s:?}");
    for f in ["crossdb.sql", "aggregates.sql", "introspect.sql"] {
        let sql = std::fs::read_to_string(dir.join("target/compiled/jinja_surface/models").join(f))
            .unwrap();
        golden(&format!("jinja/compiled/{f}"), &sql);
    }
    engine::run_operation(
        &opts(&dir),
        "log_count",
        Some("{table_name: amounts, note: hey}"),
    )
    .unwrap();
    let e = engine::run_operation(&opts(&dir), "log_cont", None).unwrap_err();
    assert!(e.to_string().contains("did you mean log_count"), "{e}");
    golden(
        "jinja/warehouse.txt",
        &dump(&dir.join("jinja.duckdb"), "jinja", "%"),
    );
    // YAML selectors, and a default one
    let ls = |o: Options| engine::list(&o).unwrap();
    assert_eq!(
        ls(Options {
            selector: Some("cross".into()),
            ..opts(&dir)
        }),
        ["jinja_surface.aggregates", "jinja_surface.crossdb"]
    );
    let e = engine::list(&Options {
        selector: Some("crossx".into()),
        ..opts(&dir)
    })
    .unwrap_err();
    assert!(e.to_string().contains("did you mean cross"), "{e}");
    let sel = std::fs::read_to_string(dir.join("selectors.yml")).unwrap();
    std::fs::write(
        dir.join("selectors.yml"),
        sel.replace(
            "  - name: everything_but_introspect\n",
            "  - name: everything_but_introspect\n    default: true\n",
        ),
    )
    .unwrap();
    assert_eq!(ls(opts(&dir)).len(), 3);
    assert_eq!(
        ls(Options {
            select: vec!["introspect".into()],
            ..opts(&dir)
        })
        .len(),
        1
    );
}

#[test]
fn jinja_surface_matches_dbt() {
    let Some(dbt) = dbt() else {
        eprintln!("skipped: dbt not found at /work/main/.venv-dbt/bin/dbt (set TARMAC_DBT)");
        return;
    };
    let (_t, theirs) = fixture("jinja", "jinja");
    run_dbt(&dbt, &theirs, &["build"]);
    run_dbt(
        &dbt,
        &theirs,
        &[
            "run-operation",
            "log_count",
            "--args",
            "{table_name: amounts, note: hey}",
        ],
    );
    let (_t2, mine) = fixture("jinja", "jinja");
    engine::execute(&opts(&mine), Command::Build).unwrap();
    engine::run_operation(
        &opts(&mine),
        "log_count",
        Some("{table_name: amounts, note: hey}"),
    )
    .unwrap();
    for f in ["crossdb.sql", "aggregates.sql", "introspect.sql"] {
        let p = |d: &Path| {
            std::fs::read_to_string(d.join("target/compiled/jinja_surface/models").join(f)).unwrap()
        };
        assert_eq!(p(&mine), p(&theirs), "compiled {f}");
    }
    assert_eq!(
        dump(&mine.join("jinja.duckdb"), "jinja", "%"),
        dump(&theirs.join("jinja.duckdb"), "jinja", "%")
    );
}
