//! Fixture projects for the engine's features beyond phase 1 (snapshots,
//! packages, run-operation, cross-database macros, selectors, ...): golden
//! compiled SQL and warehouse contents (rewrite with `UPDATE_GOLDEN=1`), and
//! live comparisons against dbt-core + dbt-duckdb, found by `testkit::dbt`
//! (`$TARMAC_DBT`, else the repository's `.venv-dbt`); without dbt those
//! skip with a message, or fail under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use warehouse::duckdb;

use engine::{Command, Options};

mod common;
use common::{copy_dir, fixture, golden, opts};

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

fn run_dbt(dbt: &Path, dir: &Path, args: &[&str]) {
    let out = testkit::dbt_command(dbt, dir, args).output().unwrap();
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

/// A custom snapshot strategy is a macro `snapshot_<name>_strategy`, found
/// as dbt's strategy_dispatch finds it: a bare name in the node's context
/// (the root project's macros, not another package's: dbt's "was not found
/// in package 'None'"), `pkg.name` in that package; its result (row_changed,
/// scd_id, ...) drives the snapshot.
#[test]
fn custom_snapshot_strategies() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let db = dir.join("dev.duckdb");
    let strategy = |name: &str| {
        format!(
            "{{% macro snapshot_{name}_strategy(node, snapshotted_rel, current_rel, model_config, target_exists) %}}\n\
             {{% set pk = node.config.get('unique_key') %}}{{% set u = node.config.get('updated_at') %}}\n\
             {{% do return({{'unique_key': pk, 'updated_at': u, 'row_changed': '(' ~ snapshotted_rel ~ '.dbt_valid_from < ' ~ current_rel ~ '.' ~ u ~ ')', 'scd_id': snapshot_hash_arguments([pk, u]), 'invalidate_hard_deletes': false}}) %}}\n\
             {{% endmacro %}}\n"
        )
    };
    let snap = |name: &str, strategy: &str| {
        format!("{{% snapshot {name} %}}\n{{{{ config(target_schema='snaps', unique_key='id', strategy='{strategy}', updated_at='u') }}}}\nselect * from {{{{ ref('src') }}}}\n{{% endsnapshot %}}\n")
    };
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    db.display()
                ),
            ),
            ("packages.yml", "packages:\n  - local: helper\n".into()),
            ("helper/dbt_project.yml", "name: helper\n".into()),
            ("dbt_packages/helper/dbt_project.yml", "name: helper\n".into()),
            ("dbt_packages/helper/macros/s.sql", strategy("pkgonly")),
            ("macros/s.sql", strategy("mine")),
            (
                "models/src.sql",
                "{{ config(materialized='table') }}\nselect 1 as id, '{{ var(\"v\", \"a\") }}' as v, timestamp '2024-01-0{{ var(\"d\", 1) }}' as u\n".into(),
            ),
            ("snapshots/mine.sql", snap("mine", "mine")),
            ("snapshots/pkg.sql", snap("pkg", "helper.pkgonly")),
            ("snapshots/bare.sql", snap("bare", "pkgonly")),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert_eq!((s.pass, s.error), (3, 1), "{s:?}");
    let st = statuses(&dir);
    assert_eq!(st["snapshot.p.bare"], "error");
    let rr = std::fs::read_to_string(dir.join("target/run_results.json")).unwrap();
    assert!(
        rr.contains("The specified strategy macro 'pkgonly' was not found in package 'None'"),
        "{rr}"
    );
    let s = engine::execute(&with_vars(&dir, "{v: b, d: 2}"), Command::Build).unwrap();
    assert_eq!((s.pass, s.error), (3, 1), "{s:?}");
    let c = duckdb::Connection::open(&db).unwrap();
    for t in ["mine", "pkg"] {
        assert_eq!(
            strings(&c, &format!("select v || ' ' || (dbt_valid_to is null) || ' ' || (dbt_scd_id = md5('1|' || u::varchar)) from snaps.{t} order by u")),
            ["a false true", "b true true"],
            "{t}"
        );
    }
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
    let Some(dbt) = testkit::dbt("snapshots_match_dbt") else {
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
    let Some(dbt) = testkit::dbt("jinja_surface_matches_dbt") else {
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

// ---- Real public dbt-duckdb projects (bench/projects) ----------------------
//
// `bench/real_projects.sh --write-golden` builds each project with dbt-core +
// dbt-duckdb and stores what dbt built in tests/golden/real_projects: every
// node's status per run and every relation's columns, row count and content
// digest. These tests hold Tarmac's build of the same unchanged files to it.

fn real_projects_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/projects")
}

/// The same text as RELATIONS_SQL/COLUMNS_SQL/digest_sql in
/// bench/real_projects.py: keep them equal.
const REAL_RELATIONS_SQL: &str = "
SELECT schema_name, table_name, 'table' FROM duckdb_tables()
 WHERE database_name = current_database() AND NOT internal AND NOT temporary
UNION ALL
SELECT schema_name, view_name, 'view' FROM duckdb_views()
 WHERE database_name = current_database() AND NOT internal AND NOT temporary
ORDER BY 1, 2
";
const REAL_COLUMNS_SQL: &str = "
SELECT column_name, data_type FROM duckdb_columns()
 WHERE database_name = current_database() AND schema_name = ? AND table_name = ?
 ORDER BY column_index
";

fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `{schema.name: {kind, columns, count, digest}}`, the digest over all
/// columns but `skip` (see bench/real_projects.py).
fn real_relations(db: &Path, skip: &[String]) -> serde_json::Value {
    let conn = duckdb::Connection::open(db).unwrap();
    // views saying `current_date` need what the engine's connections define
    // where DuckDB has no ICU (dbt's Python DuckDB has it)
    let icu: i64 = conn
        .query_row(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'current_date'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if icu == 0 {
        conn.execute_batch(
            "CREATE TEMP MACRO current_date() AS CAST(CAST(get_current_timestamp() AS TIMESTAMP) AS DATE);",
        )
        .unwrap();
    }
    let mut stmt = conn.prepare(REAL_RELATIONS_SQL).unwrap();
    let rels: Vec<(String, String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut out = serde_json::Map::new();
    for (s, t, kind) in rels {
        let mut cs = conn.prepare(REAL_COLUMNS_SQL).unwrap();
        let cols: Vec<(String, String)> = cs
            .query_map([&s, &t], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        // a volatile entry is a column name, or schema.relation.column
        let skipped = |c: &String| skip.contains(c) || skip.contains(&format!("{s}.{t}.{c}"));
        let vals: Vec<String> = cols
            .iter()
            .filter(|(c, _)| !skipped(c))
            .map(|(c, _)| format!("coalesce(CAST({} AS VARCHAR), '\\N')", q(c)))
            .collect();
        let row = if vals.is_empty() {
            "''".to_string()
        } else {
            format!("concat_ws(chr(31), {})", vals.join(", "))
        };
        let sql = format!(
            "SELECT count(*), coalesce(md5(string_agg(r, chr(10) ORDER BY r)), '') FROM (SELECT {row} AS r FROM {}.{})",
            q(&s),
            q(&t)
        );
        let (n, d): (i64, String) = conn
            .query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        // one digest per column (column_digests_sql in bench/real_projects.py)
        let keep: Vec<&String> = cols
            .iter()
            .map(|(c, _)| c)
            .filter(|c| !skipped(c))
            .collect();
        let mut per = serde_json::Map::new();
        if !keep.is_empty() {
            let vals: Vec<String> = keep
                .iter()
                .enumerate()
                .map(|(i, c)| format!("coalesce(CAST({} AS VARCHAR), '\\N') AS v{i}", q(c)))
                .collect();
            let aggs: Vec<String> = (0..keep.len())
                .map(|i| format!("coalesce(md5(string_agg(v{i}, chr(10) ORDER BY v{i})), '')"))
                .collect();
            let sql = format!(
                "SELECT {} FROM (SELECT {} FROM {}.{})",
                aggs.join(", "),
                vals.join(", "),
                q(&s),
                q(&t)
            );
            let ds: Vec<String> = conn
                .query_row(&sql, [], |r| {
                    (0..keep.len()).map(|i| r.get(i)).collect::<Result<_, _>>()
                })
                .unwrap();
            for (c, d) in keep.iter().zip(ds) {
                per.insert(c.to_string(), d.into());
            }
        }
        out.insert(
            format!("{s}.{t}"),
            serde_json::json!({
                "kind": kind,
                "columns": cols.iter().map(|(c, ty)| format!("{c} {ty}")).collect::<Vec<_>>().join(", "),
                "count": n,
                "digest": d,
                "column_digests": per,
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// How relation `a` (dbt's) and `b` (Tarmac's) differ, named as in
/// bench/projects/known_differences.json: `only in dbt`, `only in tarmac`,
/// `kind`, `columns`, `count`, then `values:<column>` per column whose values
/// differ, or `rows` when each column holds the same values but the rows
/// pair them differently. Empty when equal. The same rules as
/// `relation_differences` in bench/real_projects.py: keep them equal.
fn relation_differences(
    a: Option<&serde_json::Value>,
    b: Option<&serde_json::Value>,
) -> Vec<String> {
    let (Some(a), Some(b)) = (a, b) else {
        return match (a, b) {
            (None, None) => vec![],
            (None, _) => vec!["only in tarmac".into()],
            _ => vec!["only in dbt".into()],
        };
    };
    let out: Vec<String> = ["kind", "columns", "count"]
        .into_iter()
        .filter(|k| a[k] != b[k])
        .map(String::from)
        .collect();
    if !out.is_empty() {
        return out;
    }
    let empty = serde_json::Map::new();
    let (ca, cb) = (
        a["column_digests"].as_object().unwrap_or(&empty),
        b["column_digests"].as_object().unwrap_or(&empty),
    );
    let mut out: Vec<String> = ca
        .iter()
        .filter(|(c, d)| cb.get(*c) != Some(*d))
        .map(|(c, _)| format!("values:{c}"))
        .collect();
    if out.is_empty() && a["digest"] != b["digest"] {
        out.push("rows".into());
    }
    out.sort();
    out
}

/// A project's known differences (bench/projects/known_differences.json):
/// `{relation: sorted differences}` and `{(run, node): (dbt, tarmac)}`.
type KnownDifferences = (
    std::collections::BTreeMap<String, Vec<String>>,
    std::collections::BTreeMap<(u64, String), (String, String)>,
);

fn known_differences(project: &str) -> KnownDifferences {
    let all: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(real_projects_dir().join("known_differences.json")).unwrap(),
    )
    .expect("bench/projects/known_differences.json is JSON");
    let k = &all[project];
    let mut rels = std::collections::BTreeMap::new();
    for (r, v) in k["relations"].as_object().into_iter().flatten() {
        assert!(
            v["reason"].as_str().is_some_and(|r| !r.trim().is_empty()),
            "{project}: known difference of {r} without a reason"
        );
        let mut d: Vec<String> = v["differs"]
            .as_array()
            .unwrap_or_else(|| panic!("{project}: {r}: differs must be a list"))
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        d.sort();
        rels.insert(r.clone(), d);
    }
    let mut sts = std::collections::BTreeMap::new();
    for s in k["statuses"].as_array().into_iter().flatten() {
        assert!(
            s["reason"].as_str().is_some_and(|r| !r.trim().is_empty()),
            "{project}: known status difference without a reason: {s}"
        );
        sts.insert(
            (
                s["run"].as_u64().unwrap(),
                s["node"].as_str().unwrap().to_string(),
            ),
            (
                s["dbt"].as_str().unwrap().to_string(),
                s["tarmac"].as_str().unwrap().to_string(),
            ),
        );
    }
    (rels, sts)
}

/// Every way dbt's build (`theirs`: relations, statuses per run) and
/// Tarmac's differ that known_differences.json does not list exactly: a new
/// difference, and a listed one that has gone or changed. Empty when the
/// builds differ exactly as listed.
fn unexplained_differences(
    project: &str,
    theirs: (&serde_json::Value, &[serde_json::Value]),
    mine: (&serde_json::Value, &[serde_json::Value]),
) -> Vec<String> {
    let (known_rels, known_sts) = known_differences(project);
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let (ra, rb) = (
        theirs.0.as_object().unwrap_or(&empty),
        mine.0.as_object().unwrap_or(&empty),
    );
    let names: std::collections::BTreeSet<&String> = ra
        .keys()
        .chain(rb.keys())
        .chain(known_rels.keys())
        .collect();
    for r in names {
        let got = relation_differences(ra.get(r), rb.get(r));
        let listed = known_rels.get(r).cloned().unwrap_or_default();
        if got != listed {
            let detail = |k: &str| match (ra.get(r), rb.get(r)) {
                (Some(a), Some(b)) if a[k] != b[k] => format!("; {k} dbt={} tarmac={}", a[k], b[k]),
                _ => String::new(),
            };
            out.push(format!(
                "{project}: relation {r} differs in {got:?}, known_differences.json lists {listed:?}{}{}{}",
                detail("kind"),
                detail("columns"),
                detail("count")
            ));
        }
    }
    for (i, (sa, sb)) in theirs.1.iter().zip(mine.1).enumerate() {
        let run = i as u64 + 1;
        let (sa, sb) = (
            sa.as_object().unwrap_or(&empty),
            sb.as_object().unwrap_or(&empty),
        );
        let mut ids: std::collections::BTreeSet<String> =
            sa.keys().chain(sb.keys()).cloned().collect();
        ids.extend(
            known_sts
                .keys()
                .filter(|(n, _)| *n == run)
                .map(|(_, id)| id.clone()),
        );
        for id in ids {
            let text = |m: &serde_json::Map<String, serde_json::Value>| {
                m.get(&id)
                    .and_then(|v| v.as_str())
                    .unwrap_or("absent")
                    .to_string()
            };
            let got = (text(sa), text(sb));
            match known_sts.get(&(run, id.clone())) {
                Some(k) if *k == got => {}
                Some(k) => out.push(format!(
                    "{project}: run {run} {id}: dbt={} tarmac={}, known_differences.json lists dbt={} tarmac={}",
                    got.0, got.1, k.0, k.1
                )),
                None if got.0 != got.1 => out.push(format!(
                    "{project}: run {run} {id}: dbt={} tarmac={}",
                    got.0, got.1
                )),
                None => {}
            }
        }
    }
    if theirs.1.len() != mine.1.len() {
        out.push(format!(
            "{project}: {} runs by dbt, {} by tarmac",
            theirs.1.len(),
            mine.1.len()
        ));
    }
    out
}

/// `{unique_id: status}` of target/run_results.json.
fn real_statuses(dir: &Path) -> serde_json::Value {
    let rr: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    let mut out = serde_json::Map::new();
    for r in rr["results"].as_array().unwrap() {
        out.insert(
            r["unique_id"].as_str().unwrap().to_string(),
            r["status"].clone(),
        );
    }
    serde_json::Value::Object(out)
}

/// A copy of a real project whose profile points at `<copy>/bench.duckdb`,
/// with the project's setup SQL (bench/projects/projects.json) run on it.
fn real_project(name: &str, cfg: &serde_json::Value) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join(name);
    copy_dir(&real_projects_dir().join(name), &dir);
    let db = dir.join("bench.duckdb");
    let prof = std::fs::read_to_string(dir.join("profiles.yml")).unwrap();
    let start = prof
        .find("\"{{ env_var('BENCH_DB'")
        .expect("profile reads BENCH_DB");
    let end = start + 1 + prof[start + 1..].find('"').unwrap();
    let prof = format!("{}\"{}\"{}", &prof[..start], db.display(), &prof[end + 1..]);
    std::fs::write(dir.join("profiles.yml"), prof).unwrap();
    let mut stmts = Vec::new();
    for s in cfg["setup"].as_array().into_iter().flatten() {
        let s = s
            .as_str()
            .unwrap()
            .replace("{dir}", &dir.display().to_string());
        match cfg["setup_tables"].as_array() {
            Some(ts) if s.contains("{table}") => {
                stmts.extend(ts.iter().map(|t| s.replace("{table}", t.as_str().unwrap())))
            }
            _ => stmts.push(s),
        }
    }
    if !stmts.is_empty() {
        let conn = duckdb::Connection::open(&db).unwrap();
        for s in stmts {
            conn.execute_batch(&s).unwrap();
        }
    }
    (d, dir)
}

fn real_configs() -> Vec<(String, serde_json::Value)> {
    let all: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(real_projects_dir().join("projects.json")).unwrap(),
    )
    .unwrap();
    all.as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| !k.starts_with('_') && v["golden"] == serde_json::json!(true))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Tarmac builds each real project unchanged and gets what dbt got: the same
/// status for every model, seed, snapshot and test in every run, and the same
/// relations (columns and types, row counts, content digests).
#[test]
fn real_projects_match_dbt_goldens() {
    let configs = real_configs();
    assert!(configs.len() >= 2, "fewer than two golden real projects");
    for (name, cfg) in configs {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/real_projects")
            .join(format!("{name}.json"));
        let golden: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|_| {
                panic!(
                    "missing {} (bash bench/real_projects.sh TARMAC --write-golden writes it from dbt's build)",
                    path.display()
                )
            }),
        )
        .unwrap();
        let (_t, dir) = real_project(&name, &cfg);
        let want_statuses = golden["statuses"].as_array().unwrap();
        let mut statuses = Vec::new();
        for i in 0..want_statuses.len() {
            engine::execute(&opts(&dir), Command::Build)
                .unwrap_or_else(|e| panic!("{name} run {}: {e}", i + 1));
            statuses.push(real_statuses(&dir));
        }
        let skip: Vec<String> = golden["skip_columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        let got = real_relations(&dir.join("bench.duckdb"), &skip);
        let bad = unexplained_differences(
            &name,
            (&golden["relations"], want_statuses),
            (&got, &statuses),
        );
        assert!(
            bad.is_empty(),
            "Tarmac's build differs from dbt's (the golden) other than as bench/projects/known_differences.json lists:\n{}",
            bad.join("\n")
        );
    }
}

/// The comparison fails on a difference that is not listed, and on a listed
/// one that has gone: a known difference is asserted, not skipped.
#[test]
fn known_differences_are_asserted() {
    let rel = |d: &str, v: &str| {
        serde_json::json!({"kind": "table", "columns": "a INTEGER, b DOUBLE", "count": 2,
            "digest": d, "column_digests": {"a": "x", "b": v}})
    };
    let (same, other) = (rel("d1", "y"), rel("d2", "z"));
    assert!(relation_differences(Some(&same), Some(&same)).is_empty());
    assert_eq!(
        relation_differences(Some(&same), Some(&other)),
        ["values:b"]
    );
    assert_eq!(relation_differences(None, Some(&same)), ["only in tarmac"]);
    let mut wider = same.clone();
    wider["columns"] = "a BIGINT, b DOUBLE".into();
    assert_eq!(relation_differences(Some(&same), Some(&wider)), ["columns"]);
    let mut paired = same.clone();
    paired["digest"] = "d3".into();
    assert_eq!(relation_differences(Some(&same), Some(&paired)), ["rows"]);
    // classicmodels lists one relation whose one column differs
    let (listed, _) = known_differences("classicmodels");
    let (r, d) = listed.iter().next().expect("a listed difference");
    let col = d[0].strip_prefix("values:").unwrap();
    let mk = |v: &str| {
        serde_json::json!({r.clone(): {"kind": "table", "columns": format!("{col} DOUBLE"),
            "count": 1, "digest": v, "column_digests": {col: v}}})
    };
    let none: Vec<serde_json::Value> = vec![];
    // still there: fine
    assert!(
        unexplained_differences("classicmodels", (&mk("a"), &none), (&mk("b"), &none)).is_empty()
    );
    // gone: fails
    let gone = unexplained_differences("classicmodels", (&mk("a"), &none), (&mk("a"), &none));
    assert_eq!(gone.len(), 1, "{gone:?}");
    // a new difference in a project without listed ones: fails
    let new = unexplained_differences("no_such_project", (&mk("a"), &none), (&mk("b"), &none));
    assert_eq!(new.len(), 1, "{new:?}");
    let st = |s: &str| vec![serde_json::json!({"model.p.m": s})];
    let new = unexplained_differences(
        "no_such_project",
        (&mk("a"), &st("success")),
        (&mk("a"), &st("error")),
    );
    assert!(new[0].contains("dbt=success tarmac=error"), "{new:?}");
}

/// The same check live against dbt-core + dbt-duckdb where they are installed
/// (two of the projects, to keep it short; bench/real_projects.sh does all).
#[test]
fn real_projects_match_dbt_live() {
    let Some(dbt) = testkit::dbt("real_projects_match_dbt_live") else {
        return;
    };
    for (name, cfg) in real_configs()
        .into_iter()
        .filter(|(n, _)| n == "dagster_snapshot" || n == "incremental_starter")
    {
        let runs = cfg["runs"].as_u64().unwrap_or(1);
        let skip: Vec<String> = cfg["volatile"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        let (_t, theirs) = real_project(&name, &cfg);
        let (_t2, mine) = real_project(&name, &cfg);
        let (mut sa, mut sb) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            // dbt exits 1 when a node fails, which a run of these may do
            let _ = testkit::dbt_command(&dbt, &theirs, &["build"])
                .output()
                .unwrap();
            engine::execute(&opts(&mine), Command::Build).unwrap();
            sa.push(real_statuses(&theirs));
            sb.push(real_statuses(&mine));
        }
        let bad = unexplained_differences(
            &name,
            (&real_relations(&theirs.join("bench.duckdb"), &skip), &sa),
            (&real_relations(&mine.join("bench.duckdb"), &skip), &sb),
        );
        assert!(
            bad.is_empty(),
            "Tarmac's build differs from dbt's other than as bench/projects/known_differences.json lists:\n{}",
            bad.join("\n")
        );
    }
}

/// Write `files` (path, text) below `dir`.
fn write_all(dir: &Path, files: &[(&str, String)]) {
    for (p, text) in files {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }
}

fn strings(conn: &duckdb::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// A package's node renders its hooks with its package's macros in scope
/// (a bare call to the package's own macro, as dbt_project_evaluator's
/// `post_hook="{{ insert_resources_from_graph(this) }}"`), and a package's
/// seed is read from the package's folder.
#[test]
fn package_hooks_and_seeds() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let db = dir.join("dev.duckdb");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    db.display()
                ),
            ),
            ("packages.yml", "packages:\n  - local: helper\n".into()),
            ("helper/dbt_project.yml", "name: helper\n".into()),
            ("dbt_packages/helper/dbt_project.yml", "name: helper\n".into()),
            (
                "dbt_packages/helper/macros/m.sql",
                "{% macro mark(rel) %}create table {{ rel.schema }}.marked as select count(*) as n from {{ rel }}{% endmacro %}\n".into(),
            ),
            (
                "dbt_packages/helper/models/hm.sql",
                "{{ config(materialized='table', post_hook=\"{{ mark(this) }}\") }}\nselect * from {{ ref('hs') }}\n".into(),
            ),
            ("dbt_packages/helper/seeds/hs.csv", "a\n1\n2\n".into()),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert!(s.ok() && s.pass == 2, "{s:?}");
    let c = duckdb::Connection::open(&db).unwrap();
    assert_eq!(strings(&c, "select n::varchar from marked"), ["2"]);
}

/// `graph` (and manifest.json) carry dbt's node fields and defaults that
/// packages such as dbt_project_evaluator read: config defaults
/// (`on_schema_change`, `access`, ...), model `access`/`contract`/`version`,
/// stripped `raw_code`, sources' `freshness` shape, columns' `quote`, and an
/// `operation` node per on-run-end hook.
#[test]
fn graph_carries_dbt_node_fields() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let db = dir.join("dev.duckdb");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\non-run-end: \"select 1\"\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    db.display()
                ),
            ),
            ("models/m.sql", "select {{ one() }} as id\n\n".into()),
            (
                "macros/one.sql",
                "{% macro one() %}{{ return(two()) }}{% endmacro %}{% macro two() %}1{% endmacro %}".into(),
            ),
            (
                "models/g.sql",
                "{% set ns = namespace(out=[]) %}{% if execute %}{% for n in graph.nodes.values() | sort(attribute='unique_id') %}{% set ns.out = ns.out + [n.unique_id ~ ':' ~ n.config.on_schema_change ~ ':' ~ n.access ~ ':' ~ (n.raw_code.count('\\n') + 1)] %}{% endfor %}{% endif %}\nselect '{{ ns.out | join(\"|\") }}' as nodes, '{{ graph.sources.values() | map(attribute=\"freshness\") | map(attribute=\"warn_after\") | map(attribute=\"count\") | list }}' as f\n".into(),
            ),
            (
                "models/props.yml",
                "version: 2\nsources:\n  - name: s\n    tables: [{name: t}]\nmodels:\n  - name: m\n    columns: [{name: id}]\n".into(),
            ),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert!(s.ok(), "{s:?}");
    let c = duckdb::Connection::open(&db).unwrap();
    assert_eq!(
        strings(&c, "select nodes || ' ' || f from g"),
        ["model.p.g:ignore:protected:2|model.p.m:ignore:protected:1|operation.p.p-on-run-end-0:ignore::1 [None]"]
    );
    let m = read_json(&dir.join("target/manifest.json"));
    let n = &m["nodes"]["model.p.m"];
    assert_eq!(n["raw_code"], "select {{ one() }} as id");
    // the macros the model calls itself, not those they call (dbt's depends_on.macros)
    assert_eq!(
        n["depends_on"]["macros"],
        serde_json::json!(["macro.p.one"])
    );
    assert_eq!(n["config"]["contract"]["enforced"], false);
    assert_eq!(n["version"], serde_json::Value::Null);
    assert_eq!(n["columns"]["id"]["quote"], serde_json::Value::Null);
    assert_eq!(
        m["nodes"]["operation.p.p-on-run-end-0"]["resource_type"],
        "operation"
    );
    assert_eq!(m["sources"]["source.p.s.t"]["config"]["enabled"], true);
    // the hook's result is in run_results.json under its operation node, as dbt's
    let rr = read_json(&dir.join("target/run_results.json"));
    let hook = rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unique_id"] == "operation.p.p-on-run-end-0")
        .expect("the hook's result");
    assert_eq!(hook["status"], "success");
    assert_eq!(hook["message"], "p.on-run-end.0 passed");
}

/// Model versions: `versions:` in properties make one node per version
/// (`model.p.m.v1`, file `m_v1.sql`, relation `m_v1`, the version's config
/// over the model's); `ref('m')` is the latest version, `ref('m', v=2)` that
/// version; an ephemeral version's CTE is `__dbt__cte__m_v2`.
#[test]
fn model_versions() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let db = dir.join("dev.duckdb");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    db.display()
                ),
            ),
            ("models/m_v1.sql", "select 1 as v\n".into()),
            ("models/m_v2.sql", "select 2 as v\n".into()),
            ("models/latest.sql", "select * from {{ ref('m') }}\n".into()),
            ("models/second.sql", "select * from {{ ref('m', v=2) }}\n".into()),
            (
                "models/props.yml",
                "version: 2\nmodels:\n  - name: m\n    latest_version: 1\n    config: {materialized: table}\n    versions:\n      - v: 1\n        deprecation_date: 2024-01-01\n      - v: 2\n        config: {materialized: ephemeral}\n".into(),
            ),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert!(s.ok() && s.pass == 3, "{s:?}");
    let c = duckdb::Connection::open(&db).unwrap();
    assert_eq!(strings(&c, "select v::varchar from latest"), ["1"]);
    assert_eq!(strings(&c, "select v::varchar from second"), ["2"]);
    assert_eq!(strings(&c, "select v::varchar from m_v1"), ["1"]);
    let compiled =
        std::fs::read_to_string(dir.join("target/compiled/p/models/second.sql")).unwrap();
    assert!(compiled.contains("__dbt__cte__m_v2 as ("), "{compiled}");
    let m = read_json(&dir.join("target/manifest.json"));
    let v1 = &m["nodes"]["model.p.m.v1"];
    assert_eq!(v1["name"], "m");
    assert_eq!(v1["alias"], "m_v1");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["latest_version"], 1);
    assert_eq!(v1["deprecation_date"], "2024-01-01T00:00:00+00:00");
    assert_eq!(v1["fqn"], serde_json::json!(["p", "m", "v1"]));
    assert_eq!(
        m["nodes"]["model.p.second"]["refs"],
        serde_json::json!([{"name": "m", "package": null, "version": 2}])
    );
    assert_eq!(
        m["nodes"]["model.p.second"]["depends_on"]["nodes"],
        serde_json::json!(["model.p.m.v2"])
    );
}

/// dbt-duckdb's profile keys (attach, settings, extensions, database),
/// persist_docs on table, view, incremental and seed, `quoting:`, and
/// require-dbt-version, on a small project written here.
#[test]
fn profile_keys_persist_docs_and_quoting() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let db = dir.join("dev.duckdb");
    let other = dir.join("other.duckdb");
    std::fs::create_dir_all(&dir).unwrap();
    {
        let c = duckdb::Connection::open(&other).unwrap();
        c.execute_batch("create table src as select 7 as y")
            .unwrap();
    }
    let profile = |extra: &str| {
        format!(
            "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n      threads: 2\n{extra}",
            db.display()
        )
    };
    let attach = format!(
        "      extensions: [json, parquet]\n      settings: {{default_null_order: nulls_first_on_asc_last_on_desc}}\n      attach:\n        - {{path: '{}', alias: other}}\n",
        other.display()
    );
    write_all(
        &dir,
        &[
            (
                "dbt_project.yml",
                "name: p\nprofile: p\nrequire-dbt-version: '>=1.5.0, <2.0.0'\nquoting: {identifier: false}\nmodels:\n  p:\n    +persist_docs: {relation: true, columns: true}\nseeds:\n  p:\n    +persist_docs: {relation: true}\n".into(),
            ),
            ("profiles.yml", profile(&attach)),
            (
                "models/t.sql",
                "{{ config(materialized='table') }}\nselect y as id, 'a' as name, current_setting('default_null_order') as nulls from {{ source('ext', 'src') }}\n".into(),
            ),
            ("models/v.sql", "select id from {{ ref('t') }}\n".into()),
            (
                "models/inc.sql",
                "{{ config(materialized='incremental', unique_key='id') }}\nselect id, name from {{ ref('t') }}\n".into(),
            ),
            ("seeds/s.csv", "a\n1\n".into()),
            (
                "models/props.yml",
                "version: 2\nsources:\n  - name: ext\n    database: other\n    schema: main\n    quoting: {schema: false}\n    tables: [{name: src}]\nmodels:\n  - name: t\n    description: \"Table t's doc\"\n    columns:\n      - {name: id, description: The id}\n      - {name: gone, description: not in the table}\n  - name: v\n    description: A view\n    columns: [{name: id, description: view id}]\n  - name: inc\n    description: An incremental\n    columns: [{name: name, description: inc name}]\nseeds:\n  - name: s\n    description: A seed\n".into(),
            ),
        ],
    );
    let o = opts(&dir);
    for _ in 0..2 {
        let s = engine::execute(&o, Command::Build).unwrap();
        assert!(s.ok() && s.pass == 4, "{s:?}");
    }
    let compiled = std::fs::read_to_string(dir.join("target/compiled/p/models/t.sql")).unwrap();
    assert!(
        compiled.contains(r#"from "other".main."src""#),
        "source quoting: {compiled}"
    );
    let compiled = std::fs::read_to_string(dir.join("target/compiled/p/models/v.sql")).unwrap();
    assert!(
        compiled.contains(r#"from "dev"."main".t"#),
        "project quoting: {compiled}"
    );
    let c = duckdb::Connection::open(&db).unwrap();
    assert_eq!(
        strings(&c, "select table_name || ': ' || comment from duckdb_tables() union all select view_name || ': ' || comment from duckdb_views() where not internal order by 1"),
        ["inc: An incremental", "s: A seed", "t: Table t's doc", "v: A view"]
    );
    assert_eq!(
        strings(&c, "select table_name || '.' || column_name || ': ' || comment from duckdb_columns() where comment is not null order by 1"),
        ["inc.name: inc name", "t.id: The id", "v.id: view id"]
    );
    // the attached database was read, and settings apply on worker connections
    assert_eq!(
        strings(&c, "select id || ' ' || nulls from t"),
        ["7 NULLS_FIRST_ON_ASC_LAST_ON_DESC"]
    );
    drop(c);

    // `database:` naming an attached database builds there
    write_all(
        &dir,
        &[(
            "profiles.yml",
            profile(&format!(
                "      database: other\n      schema: s2\n      attach: [{{path: '{}', alias: other}}]\n",
                other.display()
            )),
        )],
    );
    let s = engine::execute(
        &Options {
            select: vec!["t".into()],
            ..opts(&dir)
        },
        Command::Run,
    )
    .unwrap();
    assert!(s.ok(), "{s:?}");
    let c = duckdb::Connection::open(&other).unwrap();
    assert_eq!(strings(&c, "select cast(id as varchar) from s2.t"), ["7"]);
    drop(c);

    // bad profiles name the file and the key
    let file = dir.join("profiles.yml").display().to_string();
    for (extra, key, words) in [
        (
            "      database: nope\n",
            "p.outputs.dev.database",
            "must be set to 'dev'",
        ),
        (
            "      attach: [{alias: x}]\n",
            "p.outputs.dev.attach[0].path",
            "required",
        ),
        (
            "      attach: [{path: a.duckdb, read_only: maybe}]\n",
            "p.outputs.dev.attach[0].read_only",
            "true or false",
        ),
        (
            "      settings: {no_such_setting: 1}\n",
            "p.outputs.dev.settings.no_such_setting",
            "no_such_setting",
        ),
        (
            "      settings: [a]\n",
            "p.outputs.dev.settings",
            "expected a mapping",
        ),
        (
            "      extensions: [{name: x}]\n",
            "p.outputs.dev.extensions[0]",
            "name and repo",
        ),
        (
            "      plugins: [{module: excel}]\n",
            "p.outputs.dev.plugins",
            "not supported",
        ),
    ] {
        write_all(&dir, &[("profiles.yml", profile(extra))]);
        let e = engine::execute(&o, Command::Run).unwrap_err().to_string();
        assert!(
            e.contains(&file) && e.contains(&format!("key {key}")) && e.contains(words),
            "{extra}: {e}"
        );
    }
    write_all(&dir, &[("profiles.yml", profile(""))]);

    // require-dbt-version: dbt's error, and --no-version-check
    let project = std::fs::read_to_string(dir.join("dbt_project.yml")).unwrap();
    write_all(
        &dir,
        &[(
            "dbt_project.yml",
            project.replace(">=1.5.0, <2.0.0", ">=1.11.0"),
        )],
    );
    let e = engine::list(&o).unwrap_err().to_string();
    assert!(
        e.contains("This version of dbt is not supported with the 'p' package.")
            && e.contains("Required version of dbt for 'p': ['>=1.11.0']"),
        "{e}"
    );
    assert!(engine::list(&Options {
        no_version_check: true,
        ..opts(&dir)
    })
    .is_ok());
    write_all(
        &dir,
        &[(
            "dbt_project.yml",
            project.replace(">=1.5.0, <2.0.0", ">=1.5"),
        )],
    );
    let e = engine::list(&Options {
        no_version_check: true,
        ..opts(&dir)
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("key require-dbt-version: \">=1.5\" is not a valid semantic version."),
        "{e}"
    );
}

/// `deps` with no network: the local package is linked, dbt_utils (placed
/// in dbt_packages/ by hand, as the fixture ships it) is kept.
fn packages_fixture() -> (tempfile::TempDir, PathBuf, engine::packages::DepsReport) {
    let (t, dir) = fixture("pkgs", "pkgs");
    let offline = |url: &str| -> Result<Vec<u8>, String> { Err(format!("offline: {url}")) };
    let r = engine::deps(&opts(&dir), &offline).unwrap();
    (t, dir, r)
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Every `.sql` file under `target/compiled`, by path.
fn compiled_files(dir: &Path) -> std::collections::BTreeMap<String, String> {
    fn walk(base: &Path, d: &Path, out: &mut std::collections::BTreeMap<String, String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if p.extension().is_some_and(|x| x == "sql") {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(
        &dir.join("target/compiled"),
        &dir.join("target/compiled"),
        &mut out,
    );
    out
}

/// Node statuses from run_results.json (hooks left out).
fn statuses(dir: &Path) -> std::collections::BTreeMap<String, String> {
    read_json(&dir.join("target/run_results.json"))["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .filter(|(id, _)| !id.starts_with("operation."))
        .collect()
}

/// A project with a local package and the real dbt_utils: package models,
/// macros (namespaces, dispatch, local-first), vars, configs, sources and
/// dbt_utils' generic tests.
#[test]
fn packages_build_with_dbt_utils() {
    let (_t, dir) = fixture("pkgs", "pkgs");
    // before deps: dbt's message, naming what is missing
    let e = engine::list(&opts(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("Run \"tarmac deps\"") && e.contains("local package local/shop_helpers"),
        "{e}"
    );
    drop(_t);
    let (_t, dir, report) = packages_fixture();
    let names: Vec<&str> = report.installed.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["shop_helpers"]);
    assert!(
        report.warnings.len() == 1
            && report.warnings[0].contains("dbt-labs/dbt_utils")
            && report.warnings[0].contains("by hand")
            && report.warnings[0].contains("keeping"),
        "{:?}",
        report.warnings
    );
    assert!(
        std::fs::symlink_metadata(dir.join("dbt_packages/shop_helpers"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert_eq!((s.pass, s.warn, s.error, s.skip), (18, 1, 0, 0), "{s:?}");
    golden(
        "packages/warehouse.txt",
        &dump(&dir.join("pkgs.duckdb"), "pkgs", "%"),
    );
    let compiled = compiled_files(&dir);
    for f in [
        "shop/models/keyed_orders.sql",
        "shop/models/order_days.sql",
        "shop/models/status_pivot.sql",
        "shop/models/from_package.sql",
        "shop_helpers/models/marts/enriched_orders.sql",
        "shop/models/schema.yml/dbt_utils_unique_combination_o_<md5>.sql",
    ] {
        if f.contains("unique_combination_o_") {
            // the long test name is cut and hashed, as dbt does
            let hashed: Vec<&String> = compiled
                .keys()
                .filter(|k| k.contains("dbt_utils_unique_combination_o_"))
                .collect();
            assert_eq!(hashed.len(), 2, "{:?}", compiled.keys());
            for (i, h) in hashed.iter().enumerate() {
                golden(
                    &format!("packages/compiled/unique_combination_hashed_{i}.sql"),
                    &compiled[*h],
                );
            }
            continue;
        }
        let sql = compiled
            .get(f)
            .unwrap_or_else(|| panic!("{f} not compiled: {:?}", compiled.keys()));
        golden(&format!("packages/compiled/{}", f.replace('/', "__")), sql);
    }
    let m = read_json(&dir.join("target/manifest.json"));
    let n = &m["nodes"]["model.shop_helpers.enriched_orders"];
    assert_eq!(n["package_name"], "shop_helpers");
    assert_eq!(n["original_file_path"], "models/marts/enriched_orders.sql");
    assert_eq!(
        n["fqn"],
        serde_json::json!(["shop_helpers", "marts", "enriched_orders"])
    );
    // the root project's `models: shop_helpers:` wins over the package's own
    assert_eq!(n["config"]["materialized"], "table");
    assert_eq!(n["schema"], "main_helpers");
    assert_eq!(n["config"]["tags"], serde_json::json!(["helpers"]));
    assert_eq!(
        m["sources"]["source.shop_helpers.events.raw"]["package_name"],
        "shop_helpers"
    );
    let t = m["nodes"]
        .as_object()
        .unwrap()
        .values()
        .find(|n| n["name"] == "dbt_utils_expression_is_true_keyed_orders_amount_cents_0")
        .unwrap();
    assert_eq!(t["test_metadata"]["namespace"], "dbt_utils");
    assert_eq!(
        t["raw_code"],
        "{{ dbt_utils.test_expression_is_true(**_dbt_generic_test_kwargs) }}"
    );
    let ls = engine::list(&opts(&dir)).unwrap();
    assert!(
        ls.contains(&"shop_helpers.marts.enriched_orders".to_string()),
        "{ls:?}"
    );
    // vars in a package: the root's scope for it (currency), then the
    // root's globals (region) over the package's own file
    let w = dump(&dir.join("pkgs.duckdb"), "pkgs", "from_package");
    assert!(w.contains("USD | global"), "{w}");
    // a namespaced test of a package that is not installed
    let schema = std::fs::read_to_string(dir.join("models/schema.yml")).unwrap();
    std::fs::write(
        dir.join("models/schema.yml"),
        schema.replace(
            "dbt_utils.expression_is_true",
            "dbt_expectations.expression_is_true",
        ),
    )
    .unwrap();
    let e = engine::list(&opts(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("models/schema.yml") && e.contains("\"dbt_expectations\""),
        "{e}"
    );
}

/// dbt-core + dbt-duckdb on the same project: the same relations and
/// contents, the same test statuses, the same compiled SQL, the same ids.
#[test]
fn packages_match_dbt() {
    let Some(dbt) = testkit::dbt("packages_match_dbt") else {
        return;
    };
    let (_t, theirs, _) = packages_fixture();
    run_dbt(&dbt, &theirs, &["build"]);
    let (_t2, mine, _) = packages_fixture();
    engine::execute(&opts(&mine), Command::Build).unwrap();
    assert_eq!(
        dump(&mine.join("pkgs.duckdb"), "pkgs", "%"),
        dump(&theirs.join("pkgs.duckdb"), "pkgs", "%")
    );
    assert_eq!(statuses(&mine), statuses(&theirs));
    // (dbt also writes its hooks' SQL under dbt_project.yml/hooks/)
    let mut theirs_sql = compiled_files(&theirs);
    theirs_sql.retain(|k, _| !k.contains("dbt_project.yml/hooks/"));
    assert_eq!(compiled_files(&mine), theirs_sql);
    let (a, b) = (
        read_json(&mine.join("target/manifest.json")),
        read_json(&theirs.join("target/manifest.json")),
    );
    let view = |m: &serde_json::Value| -> std::collections::BTreeMap<String, String> {
        m["nodes"]
            .as_object()
            .unwrap()
            .iter()
            .chain(m["sources"].as_object().unwrap())
            .filter(|(id, _)| !id.starts_with("operation."))
            .map(|(id, n)| {
                let mut deps: Vec<String> = n["depends_on"]["nodes"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x.to_string()).collect())
                    .unwrap_or_default();
                deps.sort();
                (
                    id.clone(),
                    format!(
                        "{} {} {} {} {} {} {:?}",
                        n["package_name"],
                        n["fqn"],
                        n["schema"],
                        n["alias"]
                            .as_str()
                            .or(n["identifier"].as_str())
                            .unwrap_or(""),
                        n["original_file_path"],
                        n["config"]["materialized"],
                        deps
                    ),
                )
            })
            .collect()
    };
    assert_eq!(view(&a), view(&b));
}

#[test]
fn transitive_packages_match_dbt() {
    let offline = |url: &str| -> Result<Vec<u8>, String> { Err(format!("offline: {url}")) };
    let (_t, mine) = fixture("transitive", "trans");
    let r = engine::deps(&opts(&mine), &offline).unwrap();
    let names: Vec<&str> = r.installed.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["pkg_a", "pkg_b"]);
    // what dbt-core 1.10.23 writes for this tree (pkg_a first, then what it lists)
    let lock = std::fs::read_to_string(mine.join("package-lock.yml")).unwrap();
    assert!(
        lock.starts_with(
            "packages:\n  - local: pkgs/pkg_a\n    name: pkg_a\n  - local: pkgs/pkg_b\n    name: pkg_b\nsha1_hash: "
        ),
        "{lock}"
    );
    engine::execute(&opts(&mine), Command::Build).unwrap();
    // pkg_a's own generate_schema_name names pkg_a's model only
    assert_eq!(
        dump(&mine.join("trans.duckdb"), "trans", "%"),
        "== main.greetings (from_a VARCHAR, from_b VARCHAR)\nhello from a | hello from b\n\
         == main_extra.b_model (made_by VARCHAR)\nb\n\
         == pkg_a_own.a_model (made_by VARCHAR)\na\n"
    );
    let Some(dbt) = testkit::dbt("transitive_packages_match_dbt") else {
        return;
    };
    let (_t2, theirs) = fixture("transitive", "trans");
    run_dbt(&dbt, &theirs, &["deps"]);
    run_dbt(&dbt, &theirs, &["build"]);
    assert_eq!(
        std::fs::read_to_string(theirs.join("package-lock.yml")).unwrap(),
        lock
    );
    assert_eq!(statuses(&mine), statuses(&theirs));
    assert_eq!(
        dump(&mine.join("trans.duckdb"), "trans", "%"),
        dump(&theirs.join("trans.duckdb"), "trans", "%")
    );
}

#[test]
fn packages_asked_for_twice_and_private_packages() {
    let offline = |url: &str| -> Result<Vec<u8>, String> { Err(format!("offline: {url}")) };
    let (_t, dir) = fixture("transitive", "trans");
    // pkg_b pins a git package at one revision, the root at another
    std::fs::write(
        dir.join("packages.yml"),
        "packages:\n  - local: pkgs/pkg_a\n  - git: https://example.invalid/x.git\n    revision: v1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("pkgs/pkg_b/packages.yml"),
        "packages:\n  - git: https://example.invalid/x\n    revision: v2\n",
    )
    .unwrap();
    let e = engine::deps(&opts(&dir), &offline).unwrap_err().to_string();
    assert!(
        e.contains("git package https://example.invalid/x.git: asked for at revisions v1 and v2"),
        "{e}"
    );
    std::fs::write(
        dir.join("pkgs/pkg_b/packages.yml"),
        "packages:\n  - local: pkgs/pkg_a\n",
    )
    .unwrap();
    // ...and a cycle (pkg_b lists pkg_a back): each installed once, where
    // dbt-core 1.10's resolver loops for ever
    std::fs::write(
        dir.join("packages.yml"),
        "packages:\n  - local: pkgs/pkg_a\n",
    )
    .unwrap();
    let r = engine::deps(&opts(&dir), &offline).unwrap();
    let names: Vec<&str> = r.installed.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["pkg_a", "pkg_b"]);
    std::fs::write(
        dir.join("packages.yml"),
        "packages:\n  - local: pkgs/pkg_a\n  - private: acme/pkg_a\n",
    )
    .unwrap();
    let e = engine::deps(&opts(&dir), &offline).unwrap_err().to_string();
    assert!(
        e.contains("Cannot resolve private package acme/pkg_a because git provider integration is missing. Please use a \"git\" package instead."),
        "{e}"
    );
}

#[test]
fn package_errors_are_clear() {
    let (_t, dir) = fixture("pkgs", "pkgs");
    // a hub package that is not there and cannot be fetched
    std::fs::remove_dir_all(dir.join("dbt_packages/dbt_utils")).unwrap();
    let offline = |_: &str| -> Result<Vec<u8>, String> { Err("no network".into()) };
    let e = engine::deps(&opts(&dir), &offline).unwrap_err().to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("package dbt-labs/dbt_utils")
            && e.contains("not reachable")
            && e.contains("dbt_packages/dbt_utils by hand"),
        "{e}"
    );
    // the local package was installed all the same; the lock waits
    assert!(dir.join("dbt_packages/shop_helpers").exists());
    assert!(!dir.join("package-lock.yml").exists());
    let e = engine::list(&opts(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("2 package(s) specified in packages.yml, but only 1")
            && e.contains("package dbt-labs/dbt_utils"),
        "{e}"
    );
    // local packages only: installed, and the lock file written as dbt does
    std::fs::write(
        dir.join("packages.yml"),
        "packages:\n  - local: local/shop_helpers\n",
    )
    .unwrap();
    let r = engine::deps(&opts(&dir), &offline).unwrap();
    assert_eq!(r.installed.len(), 1);
    golden(
        "packages/package-lock.yml",
        &std::fs::read_to_string(dir.join("package-lock.yml")).unwrap(),
    );
    // both packages.yml and dependencies.yml list packages
    std::fs::write(
        dir.join("dependencies.yml"),
        "packages:\n  - local: local/shop_helpers\n",
    )
    .unwrap();
    let e = engine::deps(&opts(&dir), &offline).unwrap_err().to_string();
    assert!(e.contains("both packages.yml and dependencies.yml"), "{e}");
}

/// A hub package through hub.getdbt.com's API shape (index, then the
/// version's tarball), served by a fake HTTP GET: the highest version in
/// range is unpacked into dbt_packages/<name> and locked.
#[test]
fn hub_packages_resolve_and_unpack() {
    let (_t, dir) = fixture("pkgs", "pkgs");
    // a tarball as codeload serves it: one top folder holding the package
    let src = tempfile::tempdir().unwrap();
    let top = src.path().join("dbt-utils-1.3.0");
    copy_dir(&dir.join("dbt_packages/dbt_utils"), &top);
    let tgz = src.path().join("p.tar.gz");
    let ok = Proc::new("tar")
        .arg("-czf")
        .arg(&tgz)
        .arg("-C")
        .arg(src.path())
        .arg("dbt-utils-1.3.0")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipped: no tar command");
        return;
    }
    let tarball = std::fs::read(&tgz).unwrap();
    std::fs::remove_dir_all(dir.join("dbt_packages/dbt_utils")).unwrap();
    let index = serde_json::json!({
        "name": "dbt_utils", "namespace": "dbt-labs", "latest": "2.0.0",
        "versions": {
            "0.9.6": {"name": "dbt_utils", "downloads": {"tarball": "https://t/0.9.6"}},
            "1.3.0": {"name": "dbt_utils", "downloads": {"tarball": "https://t/1.3.0"}},
            "2.0.0": {"name": "dbt_utils", "downloads": {"tarball": "https://t/2.0.0"}},
        }
    })
    .to_string();
    let asked = std::sync::Mutex::new(Vec::new());
    let fetch = |url: &str| -> Result<Vec<u8>, String> {
        asked.lock().unwrap().push(url.to_string());
        match url {
            "https://hub.getdbt.com/api/v1/dbt-labs/dbt_utils.json" => {
                Ok(index.clone().into_bytes())
            }
            "https://t/1.3.0" => Ok(tarball.clone()),
            other => Err(format!("unexpected {other}")),
        }
    };
    let r = engine::deps(&opts(&dir), &fetch).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    let hub = r.installed.iter().find(|p| p.source == "hub").unwrap();
    assert_eq!(
        (hub.name.as_str(), hub.version.as_deref()),
        ("dbt_utils", Some("1.3.0"))
    );
    assert!(dir
        .join("dbt_packages/dbt_utils/macros/sql/star.sql")
        .exists());
    let lock = std::fs::read_to_string(dir.join("package-lock.yml")).unwrap();
    assert!(
        lock.contains("  - name: dbt_utils\n    package: dbt-labs/dbt_utils\n    version: 1.3.0\n"),
        "{lock}"
    );
    // and it builds
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert_eq!((s.pass, s.warn, s.error), (18, 1, 0), "{s:?}");
}

/// `{% materialization %}` blocks (adapter `duckdb` and `default`) used by
/// `materialized: <name>`: dbt's contract (`sql`, `this`, `statement('main')`,
/// `run_hooks`, `return({'relations': ...})`), hooks run once, and dbt's
/// errors for a missing return and an unknown materialization.
#[test]
fn custom_materializations() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let db = dir.join("dev.duckdb");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    db.display()
                ),
            ),
            (
                "macros/mats.sql",
                "{% materialization swap_table, adapter='duckdb' %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing = load_relation(this) -%}
  {%- set tmp = make_temp_relation(this) -%}
  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {% call statement('main') -%}
    {{ create_table_as(False, tmp, sql) }}
  {%- endcall %}
  {{ drop_relation_if_exists(existing) }}
  {{ adapter.rename_relation(tmp, target_relation) }}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}

{%- materialization plain_view, default -%}
  {% call statement('main') -%}
    create or replace view {{ this }} as ({{ sql }})
  {%- endcall %}
  {{ return({'relations': [this]}) }}
{%- endmaterialization -%}

{% materialization no_return, default %}
  {% call statement('main') -%}select 1{%- endcall %}
{% endmaterialization %}
"
                .into(),
            ),
            (
                "models/a.sql",
                "{{ config(materialized='swap_table', post_hook=\"insert into {{ this }} values (99)\") }}\nselect 1 as id\n".into(),
            ),
            (
                "models/b.sql",
                "{{ config(materialized='plain_view') }}\nselect count(*) as n from {{ ref('a') }}\n".into(),
            ),
            (
                "models/t.sql",
                "{{ config(materialized='table', post_hook=\"insert into {{ this }} values (5)\") }}\nselect 4 as id\n".into(),
            ),
        ],
    );
    let o = opts(&dir);
    for _ in 0..2 {
        let s = engine::execute(&o, Command::Run).unwrap();
        assert!(s.ok() && s.pass == 3, "{s:?}");
    }
    let c = duckdb::Connection::open(&db).unwrap();
    assert_eq!(
        strings(&c, "select cast(id as varchar) from a order by id"),
        ["1", "99"]
    );
    assert_eq!(strings(&c, "select cast(n as varchar) from b"), ["2"]);
    assert_eq!(
        strings(&c, "select cast(id as varchar) from t order by id"),
        ["4", "5"]
    );
    assert_eq!(
        strings(
            &c,
            "select table_name || ' ' || table_type from information_schema.tables order by 1"
        ),
        ["a BASE TABLE", "b VIEW", "t BASE TABLE"]
    );
    drop(c);
    let run = std::fs::read_to_string(dir.join("target/run/p/models/a.sql")).unwrap();
    assert!(
        run.contains(r#"create table "dev"."main"."a__dbt_tmp" as ("#),
        "{run}"
    );
    write_all(
        &dir,
        &[
            (
                "models/c.sql",
                "{{ config(materialized='no_return') }}\nselect 1 as x\n".into(),
            ),
            (
                "models/d.sql",
                "{{ config(materialized='nope') }}\nselect 1 as x\n".into(),
            ),
        ],
    );
    let s = engine::execute(&o, Command::Run).unwrap();
    assert_eq!((s.pass, s.error), (3, 2), "{s:?}");
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    let msg = |id: &str| {
        results["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["unique_id"] == id)
            .map(|r| r["message"].as_str().unwrap_or_default().to_string())
            .unwrap()
    };
    assert!(
        msg("model.p.c").contains(
            "The materialization (\"no_return\") did not explicitly return a list of relations"
        ),
        "{}",
        msg("model.p.c")
    );
    assert!(
        msg("model.p.d").contains("No materialization 'nope' was found for adapter duckdb!"),
        "{}",
        msg("model.p.d")
    );
}

/// The dbt version Tarmac claims is the one pinned for the comparisons
/// (bench/dbt-requirements.txt), so moving the pin means moving the claim.
#[test]
fn dbt_version_claim_is_the_pinned_dbt() {
    let pins =
        std::fs::read_to_string(testkit::repo_root().join("bench/dbt-requirements.txt")).unwrap();
    let pinned = pins
        .lines()
        .find_map(|l| l.trim().strip_prefix("dbt-core=="))
        .expect("bench/dbt-requirements.txt pins dbt-core");
    assert_eq!(engine::project::DBT_VERSION, pinned);
}

/// ... and the dbt the comparisons actually run reports that version.
#[test]
fn dbt_version_claim_is_the_compared_dbt() {
    let Some(dbt) = testkit::dbt("dbt_version_claim_is_the_compared_dbt") else {
        return;
    };
    assert_eq!(
        engine::project::DBT_VERSION,
        testkit::dbt_core_version(&dbt),
        "Tarmac claims a dbt version other than the one it is compared against (crates/dbt-project/src/lib.rs DBT_VERSION, bench/dbt-requirements.txt)"
    );
}

/// What the `parity` fixture checks of a build: every relation (types and
/// values) and the configs dbt_project.yml's Jinja gave the model.
fn parity_view(dir: &Path) -> String {
    let m = read_json(&dir.join("target/manifest.json"));
    let c = &m["nodes"]["model.parity.vars_seen"]["config"];
    format!(
        "materialized={} enabled={} tags={} meta={}\ndisabled_in_dev built={}\n{}",
        c["materialized"],
        c["enabled"],
        c["tags"],
        c["meta"],
        m["nodes"]
            .as_object()
            .unwrap()
            .contains_key("model.parity.disabled_in_dev"),
        dump(&dir.join("parity.duckdb"), "parity", "%")
    )
}

/// dbt_project.yml values rendered with dbt's project-file context
/// (`target`, `--vars`-only `var`, native types) and seeds of every value
/// shape with dbt's type inference, `column_types`, header names and a
/// delimiter: the golden was checked equal to dbt-core 1.10.23 +
/// dbt-duckdb 1.11.1's build (`parity_matches_dbt` does so live).
#[test]
fn parity_fixture_golden() {
    let (_t, dir) = fixture("parity", "parity");
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert_eq!((s.pass, s.error), (4, 0), "{s:?}");
    golden("parity/build.txt", &parity_view(&dir));
}

#[test]
fn parity_matches_dbt() {
    let Some(dbt) = testkit::dbt("parity_matches_dbt") else {
        return;
    };
    let (_t, theirs) = fixture("parity", "parity");
    run_dbt(&dbt, &theirs, &["build"]);
    let (_t2, mine) = fixture("parity", "parity");
    engine::execute(&opts(&mine), Command::Build).unwrap();
    assert_eq!(parity_view(&mine), parity_view(&theirs));
}

/// A generic test's `config:` in a properties file renders with dbt's
/// properties-file context (`target`, `var`, `env_var`), natively: a test
/// whose `enabled` is `{{ target.type != 'duckdb' }}` is not built. Jinja
/// in strings inside a list argument renders when the test compiles, and
/// arguments may subtract a timedelta from a date.
#[test]
fn properties_test_config_renders_with_target() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    write_all(
        &dir,
        &[
            (
                "dbt_project.yml",
                "name: p\nprofile: p\nvars: {strict: true}\n".into(),
            ),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    dir.join("dev.duckdb").display()
                ),
            ),
            ("models/m.sql", "select true as flag\n".into()),
            (
                "models/m.yml",
                "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: flag\n        data_tests:\n          - accepted_values:\n              config:\n                enabled: \"{{ target.type == 'duckdb' and var('strict') }}\"\n              arguments:\n                quote: false\n                values: [\"{{ 'TR' ~ 'UE' }}\"]\n          - accepted_values:\n              config:\n                enabled: \"{{ target.type != 'duckdb' }}\"\n              arguments:\n                values: [0, 1]\n          - accepted_values:\n              arguments:\n                quote: \"{{ (modules.datetime.date(2026, 3, 1) - modules.datetime.timedelta(1)).day == 1 }}\"\n                values: [\"{{ (modules.datetime.date(2026, 3, 1) - modules.datetime.timedelta(1)).day == 28 }}\"]\n".into(),
            ),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert!(s.ok() && s.pass == 3 && s.total == 3, "{s:?}");
}

/// A generic test's definition may set its own config with `config()`
/// (dbt_utils' `equal_rowcount` sets `fail_calc` so); the test's YAML
/// entry takes precedence over it, as dbt documents.
#[test]
fn generic_test_definition_config() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let db = dir.join("dev.duckdb");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    db.display()
                ),
            ),
            (
                "macros/sums.sql",
                "{% test sums(model, column_name) %}
{{ config(fail_calc='coalesce(sum(n), 0)', warn_if='> 5', error_if='> 100') }}
{%- if not execute -%}{{ return('') }}{%- endif %}
select {{ column_name }} as n from {{ model }}
{% endtest %}
"
                .into(),
            ),
            (
                "models/m.sql",
                "select 3 as v union all select 4\n".into(),
            ),
            (
                "models/m.yml",
                "version: 2\nmodels:\n  - name: m\n    columns:\n      - name: v\n        data_tests:\n          - sums\n          - sums:\n              name: sums_yaml_wins\n              config:\n                warn_if: '> 10'\n"
                    .into(),
            ),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    let st = statuses(&dir);
    // sum(n) = 7 > 5: the definition's fail_calc and warn_if apply (with
    // count(*) and the defaults it would fail)
    let of = |prefix: &str| {
        st.iter()
            .find(|(id, _)| id.starts_with(prefix))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {prefix} in {st:?}"))
    };
    assert_eq!(of("test.p.sums_m_v."), "warn", "{s:?}");
    // the YAML's warn_if (> 10) wins over the definition's (> 5): 7 passes
    assert_eq!(of("test.p.sums_yaml_wins"), "pass");
}

/// Seeds run their pre- and post-hooks around the load, as dbt's seed
/// materialization does: SQL hooks, and hooks that act while they render
/// (dbt_utils' integration tests drop a seed so).
#[test]
fn seed_hooks() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let db = dir.join("dev.duckdb");
    write_all(
        &dir,
        &[
            (
                "dbt_project.yml",
                "name: p\nprofile: p\nseeds:\n  p:\n    s:\n      +pre-hook: \"create table if not exists pre_ran as select 1 as x\"\n      +post-hook: \"insert into {{ this }} values (2)\"\n    gone:\n      +post-hook: \"{% do adapter.drop_relation(this.incorporate(type='table')) %}\"\n"
                    .into(),
            ),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    db.display()
                ),
            ),
            ("seeds/s.csv", "id\n1\n".into()),
            ("seeds/gone.csv", "id\n1\n".into()),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Seed).unwrap();
    assert!(s.ok() && s.pass == 2, "{s:?}");
    let c = duckdb::Connection::open(&db).unwrap();
    assert_eq!(
        strings(&c, "select cast(id as varchar) from s order by id"),
        ["1", "2"]
    );
    assert_eq!(
        strings(
            &c,
            "select table_name from information_schema.tables order by 1"
        ),
        ["pre_ran", "s"]
    );
}

/// `<test-path>/fixtures/` holds unit tests' fixture files, SQL ones
/// included: dbt does not take them for singular tests (audit_helper's
/// integration tests keep SQL fixtures there).
#[test]
fn test_fixtures_are_not_singular_tests() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    dir.join("dev.duckdb").display()
                ),
            ),
            ("models/a.sql", "select 1 as id\n".into()),
            ("models/b.sql", "select id * 2 as id from {{ ref('a') }}\n".into()),
            (
                "models/b.yml",
                "unit_tests:\n  - name: doubles\n    model: b\n    given:\n      - input: ref('a')\n        format: sql\n        fixture: three\n    expect:\n      rows:\n        - {id: 6}\n"
                    .into(),
            ),
            ("tests/fixtures/three.sql", "select 3 as id\n".into()),
            ("tests/t.sql", "select * from {{ ref('b') }} where id < 0\n".into()),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    let st = statuses(&dir);
    assert!(s.ok(), "{s:?} {st:?}");
    let ids: Vec<&String> = st.keys().collect();
    assert_eq!(
        ids,
        [
            "model.p.a",
            "model.p.b",
            "test.p.t",
            "unit_test.p.b.doubles"
        ],
        "{st:?}"
    );
}

/// Unit tests: `expect: rows: []` expects no rows in the model's own
/// columns; an override of a macro named with its package
/// (`p.base`) replaces it in that namespace, for the macros the model
/// calls as well (audit_helper's unit tests override
/// `audit_helper._get_comparison_bounds` so).
#[test]
fn unit_test_empty_expectation_and_qualified_macro_override() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    dir.join("dev.duckdb").display()
                ),
            ),
            (
                "macros/m.sql",
                "{% macro base() %}{{ return(1) }}{% endmacro %}\n{% macro wrapped() %}{{ return(p.base() + 1) }}{% endmacro %}\n"
                    .into(),
            ),
            ("models/a.sql", "select 1 as id\n".into()),
            ("models/c.sql", "select id from {{ ref('a') }} where id > 100\n".into()),
            ("models/d.sql", "select {{ wrapped() }} as v\n".into()),
            (
                "models/u.yml",
                "unit_tests:\n  - name: nothing\n    model: c\n    given:\n      - input: ref('a')\n        rows:\n          - {id: 1}\n    expect:\n      rows: []\n  - name: overridden\n    model: d\n    given: []\n    overrides:\n      macros:\n        p.base: 41\n    expect:\n      rows:\n        - {v: 42}\n"
                    .into(),
            ),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    let st = statuses(&dir);
    assert_eq!(st["unit_test.p.c.nothing"], "pass", "{st:?} {s:?}");
    assert_eq!(st["unit_test.p.d.overridden"], "pass", "{st:?} {s:?}");
}

/// dbt's `build` runs a model's unit tests one after another and stops at
/// the first that does not pass: the rest are skipped with the model.
/// `test` runs them all.
#[test]
fn build_runs_a_models_unit_tests_in_series() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n      threads: 4\n",
                    dir.join("dev.duckdb").display()
                ),
            ),
            ("models/a.sql", "select 1 as id\n".into()),
            ("models/x.sql", "select id from {{ ref('a') }}\n".into()),
            ("models/y.sql", "select id from {{ ref('a') }}\n".into()),
            (
                "models/u.yml",
                "unit_tests:\n  - name: t1_wrong\n    model: x\n    given:\n      - input: ref('a')\n        rows:\n          - {id: 1}\n    expect:\n      rows:\n        - {id: 2}\n  - name: t2_right\n    model: x\n    given:\n      - input: ref('a')\n        rows:\n          - {id: 1}\n    expect:\n      rows:\n        - {id: 1}\n  - name: t3_right\n    model: x\n    given:\n      - input: ref('a')\n        rows:\n          - {id: 3}\n    expect:\n      rows:\n        - {id: 3}\n  - name: t1_right\n    model: y\n    given:\n      - input: ref('a')\n        rows:\n          - {id: 1}\n    expect:\n      rows:\n        - {id: 1}\n"
                    .into(),
            ),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    let st = statuses(&dir);
    assert_eq!(st["unit_test.p.x.t1_wrong"], "fail", "{st:?} {s:?}");
    assert_eq!(st["unit_test.p.x.t2_right"], "skipped", "{st:?}");
    assert_eq!(st["unit_test.p.x.t3_right"], "skipped", "{st:?}");
    assert_eq!(st["model.p.x"], "skipped", "{st:?}");
    assert_eq!(st["unit_test.p.y.t1_right"], "pass", "{st:?}");
    assert_eq!(st["model.p.y"], "success", "{st:?}");
    engine::execute(&opts(&dir), Command::Test).unwrap();
    let st = statuses(&dir);
    assert_eq!(st["unit_test.p.x.t1_wrong"], "fail", "{st:?}");
    assert_eq!(st["unit_test.p.x.t2_right"], "pass", "{st:?}");
    assert_eq!(st["unit_test.p.x.t3_right"], "pass", "{st:?}");
}

/// A column's `data_type` in a properties file renders with the project
/// context, as dbt renders it at parse: an enforced contract checks the
/// rendered type.
#[test]
fn column_data_type_renders_with_target() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    dir.join("dev.duckdb").display()
                ),
            ),
            ("models/m.sql", "select 1::integer as id\n".into()),
            (
                "models/m.yml",
                "models:\n  - name: m\n    config:\n      contract: {enforced: true}\n    columns:\n      - name: id\n        data_type: \"{{ 'UInt8' if target.type in ['clickhouse'] else 'integer' }}\"\n".into(),
            ),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert!(s.ok() && s.total == 1, "{s:?}");
    let st = statuses(&dir);
    assert_eq!(st["model.p.m"], "success", "{st:?}");
}

/// Exposures, metrics, semantic models and groups from properties files:
/// in manifest.json and `graph` with their dependencies resolved, an
/// exposure a NO-OP node of `build`, and selectable (`+exposure:`,
/// `+metric:` select what they read).
#[test]
fn exposures_metrics_and_semantic_models() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("p");
    let report = "{% if execute %}{% for e in graph.exposures.values() %}select '{{ e.unique_id }}' as id, '{{ e.depends_on.nodes | join(',') }}' as deps, '{{ e.owner.name }}' as extra union all {% endfor %}{% for m in graph.metrics.values() %}select '{{ m.unique_id }}', '{{ m.depends_on.nodes | join(',') }}', '{{ m.type_params.cumulative_type_params.window.count }}' union all {% endfor %}{% for g in graph.groups.values() %}select '{{ g.unique_id }}', '', '{{ g.owner.email }}' union all {% endfor %}{% endif %}select 'end', '', ''\n";
    write_all(
        &dir,
        &[
            ("dbt_project.yml", "name: p\nprofile: p\n".into()),
            (
                "profiles.yml",
                format!(
                    "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: '{}'\n",
                    dir.join("dev.duckdb").display()
                ),
            ),
            ("models/a.sql", "select 1 as id\n".into()),
            ("models/b.sql", "select * from {{ ref('a') }}\n".into()),
            ("models/c.sql", "select 2 as x\n".into()),
            ("models/report.sql", report.into()),
            (
                "models/marts/things.yml",
                "exposures:\n  - name: e\n    type: dashboard\n    owner: {name: Dave}\n    depends_on:\n      - ref('b')\n      - ref('b')\nsemantic_models:\n  - name: sm\n    model: ref('a')\n    entities: [{name: id, type: primary}]\n    measures: [{name: total, agg: count, expr: 1}]\nmetrics:\n  - name: m\n    label: M\n    type: cumulative\n    type_params:\n      measure: total\n      cumulative_type_params: {window: 7 days}\ngroups:\n  - name: g\n    owner: {email: g@example.com}\n".into(),
            ),
        ],
    );
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert!(s.ok() && s.noop == 1, "{s:?}");
    let st = statuses(&dir);
    assert_eq!(st["exposure.p.e"], "no-op", "{st:?}");
    let db = duckdb::Connection::open(dir.join("dev.duckdb")).unwrap();
    let rows: Vec<(String, String, String)> = db
        .prepare("select * from report where id <> 'end' order by id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let row = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        rows,
        [
            row("exposure.p.e", "model.p.b", "Dave"),
            row("group.p.g", "", "g@example.com"),
            row("metric.p.m", "semantic_model.p.sm", "7"),
        ]
    );
    let m = read_json(&dir.join("target/manifest.json"));
    assert_eq!(
        m["exposures"]["exposure.p.e"]["fqn"],
        serde_json::json!(["p", "marts", "e"])
    );
    assert_eq!(
        m["semantic_models"]["semantic_model.p.sm"]["depends_on"]["nodes"],
        serde_json::json!(["model.p.a"])
    );
    assert_eq!(
        m["parent_map"]["exposure.p.e"],
        serde_json::json!(["model.p.b"])
    );
    assert!(m["nodes"].get("exposure.p.e").is_none());
    let ls = |sel: &str| {
        engine::list(&Options {
            select: vec![sel.into()],
            ..opts(&dir)
        })
        .unwrap()
    };
    assert_eq!(ls("+exposure:e"), ["exposure:p.e", "p.a", "p.b"]);
    assert_eq!(ls("+metric:m"), ["p.a"]);
    assert!(ls("metric:m").is_empty());
}
