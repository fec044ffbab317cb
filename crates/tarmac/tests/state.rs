//! Slim CI as dbt users run it: `--state DIR` with `state:` (and its
//! sub-selectors), `result:` and `source_status:` selectors, through the
//! real binary on a copy of the engine's `shop` fixture. A build's
//! `target/` is kept as the state; the project then changes in a model's
//! body, a config, a relation, a macro and a contract, and gains a model.
//!
//! With dbt (found by `testkit::dbt`: `$TARMAC_DBT` or the repository's
//! `.venv-dbt`), the same happens in a second copy built by dbt-core 1.10 +
//! dbt-duckdb, and `tarmac ls` must select what `dbt ls` selects, with
//! dbt's manifest as Tarmac's state and Tarmac's manifest as dbt's.

mod common;

use common::{copy_project, in_project as tarmac, workspace};
use std::path::{Path, PathBuf};

/// A copy of the `shop` fixture in `root/<name>`, its database in it.
fn project(root: &Path, name: &str) -> (PathBuf, PathBuf) {
    let dir = root.join(name);
    copy_project(&workspace().join("crates/engine/tests/fixtures/shop"), &dir);
    let db = dir.join("shop.duckdb");
    (dir, db)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{}: no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// The pull request: a body, a config (`meta`), a relation (`alias`), a
/// macro, a contract (a new constraint) and a new model.
fn change(dir: &Path) {
    edit(
        &dir.join("models/staging/stg_orders.sql"),
        "select",
        "-- slim CI: a body change\nselect",
    );
    let marts = dir.join("models/marts/marts.yml");
    edit(
        &marts,
        "      materialized: ephemeral",
        "      materialized: ephemeral\n      meta: {owner: ci}",
    );
    edit(
        &marts,
        "        data_type: bigint",
        "        data_type: bigint\n        constraints:\n          - type: not_null",
    );
    edit(
        &dir.join("dbt_project.yml"),
        "      +tags: [\"staging\"]",
        "      +tags: [\"staging\"]\n      stg_customers:\n        +alias: stg_customers_v2",
    );
    edit(
        &dir.join("macros/cents_to_dollars.sql"),
        "/ 100.0,",
        "/ 100.00,",
    );
    std::fs::write(
        dir.join("models/marts/new_in_pr.sql"),
        "select * from {{ ref('orders') }}\n",
    )
    .unwrap();
}

fn lines(out: &std::process::Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    v.sort();
    v
}

/// The nodes `tarmac ls` selects with `--state state` (models, seeds,
/// snapshots and data tests: what both tools list alike).
fn tarmac_ls(dir: &Path, db: &Path, state: &Path, select: &str) -> Vec<String> {
    let s = state.to_string_lossy();
    lines(&tarmac(
        dir,
        db,
        &[
            "ls",
            "--state",
            &s,
            "--select",
            select,
            "--resource-type",
            "model",
            "seed",
            "snapshot",
            "test",
            "source",
        ],
    ))
}

fn build_state(dir: &Path, db: &Path, keep: &Path) {
    let out = tarmac(dir, db, &["build"]);
    // the fixture has failing tests on purpose (exit 1), not errors before running
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tarmac(dir, db, &["source", "freshness"]);
    assert!(
        out.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    copy_project(&dir.join("target"), keep);
}

#[test]
fn state_selectors_pick_what_changed() {
    let t = tempfile::tempdir().unwrap();
    let (dir, db) = project(t.path(), "shop");
    let prod = t.path().join("prod");
    build_state(&dir, &db, &prod);
    // no change yet: nothing is modified, everything is old
    assert!(tarmac_ls(&dir, &db, &prod, "state:modified").is_empty());
    assert!(tarmac_ls(&dir, &db, &prod, "state:new").is_empty());
    change(&dir);
    let ls = |sel: &str| {
        let s = prod.to_string_lossy();
        lines(&tarmac(
            &dir,
            &db,
            &[
                "ls",
                "--state",
                &s,
                "--indirect-selection",
                "empty",
                "--select",
                sel,
            ],
        ))
    };
    assert_eq!(
        ls("state:modified.body"),
        ["shop.marts.new_in_pr", "shop.staging.stg_orders"]
    );
    assert_eq!(
        ls("state:modified.configs"),
        ["shop.marts.customer_orders", "shop.marts.new_in_pr"]
    );
    assert_eq!(
        ls("state:modified.relation"),
        ["shop.marts.new_in_pr", "shop.staging.stg_customers"]
    );
    assert_eq!(ls("state:modified.macros"), ["shop.staging.stg_payments"]);
    assert_eq!(
        ls("state:modified.contract"),
        ["shop.marts.new_in_pr", "shop.marts.order_summary"]
    );
    assert_eq!(ls("state:new"), ["shop.marts.new_in_pr"]);
    assert_eq!(
        ls("state:modified"),
        [
            "shop.marts.customer_orders",
            "shop.marts.new_in_pr",
            "shop.marts.order_summary",
            "shop.staging.stg_customers",
            "shop.staging.stg_orders",
            "shop.staging.stg_payments"
        ]
    );
    // graph operators apply to what the state selects
    let plus = ls("state:modified.macros+");
    assert!(plus.contains(&"shop.marts.orders".to_string()), "{plus:?}");
    assert!(
        plus.contains(&"shop.marts.new_in_pr".to_string()),
        "{plus:?}"
    );
    let old = ls("state:old");
    assert!(!old.contains(&"shop.marts.new_in_pr".to_string()));
    assert!(old.contains(&"shop.marts.orders".to_string()));
    let unmodified = ls("state:unmodified,resource_type:model");
    assert!(
        unmodified.contains(&"shop.marts.orders".to_string()),
        "{unmodified:?}"
    );
    assert!(!unmodified.contains(&"shop.staging.stg_orders".to_string()));
    // result: reads the state's run_results.json
    let failed = ls("result:fail");
    assert!(!failed.is_empty());
    let rr = std::fs::read_to_string(prod.join("run_results.json")).unwrap();
    let fails =
        rr.matches("\"status\": \"fail\"").count() + rr.matches("\"status\":\"fail\"").count();
    assert_eq!(failed.len(), fails, "{failed:?}");
    // without --state: a clear error, exit 2
    let out = tarmac(&dir, &db, &["ls", "--select", "state:modified"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state"));
    let out = tarmac(
        &dir,
        &db,
        &["ls", "--state", "nowhere", "--select", "state:new"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("manifest.json"));
}

/// Selectors both tools answer alike whichever manifest is the state.
const BOTH_WAYS: &[&str] = &[
    "state:modified.body",
    "state:modified.configs",
    "state:modified.relation",
    "state:modified.persisted_descriptions",
    "state:modified.contract",
    "@state:modified.contract",
    "state:new",
    "state:new+",
    "state:old",
    "result:pass",
    "result:fail",
    "result:warn",
    "result:error",
    "result:skipped+",
    "result:fail+",
    "source_status:fresher",
    "source_status:fresher+",
];

/// Selectors compared with dbt's manifest as the state only: dbt reading
/// Tarmac's manifest counts dbt's own built-in macros (which Tarmac does
/// not have the text of) as changed, so nodes calling them are modified
/// for dbt.
const DBT_STATE_ONLY: &[&str] = &[
    "state:modified",
    "state:modified+",
    "state:modified.macros",
    "state:modified.macros+",
    "state:unmodified",
    "state:modified,resource_type:model",
    "1+state:modified.body",
];

#[test]
fn slim_ci_selects_what_dbt_selects() {
    let Some(dbt) = testkit::dbt("slim_ci_selects_what_dbt_selects") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let (tdir, tdb) = project(t.path(), "tarmac");
    let (ddir, ddb) = project(t.path(), "dbt");
    let tprod = t.path().join("prod-tarmac");
    let dprod = t.path().join("prod-dbt");
    build_state(&tdir, &tdb, &tprod);
    let dbt_run = |args: &[&str]| {
        testkit::dbt_command(&dbt, &ddir, args)
            .env("TARMAC_DB", &ddb)
            .output()
            .unwrap()
    };
    let out = dbt_run(&["build"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    dbt_run(&["source", "freshness"]);
    copy_project(&ddir.join("target"), &dprod);
    // the same statuses in both states' run_results.json
    let statuses = |p: &Path| -> Vec<(String, String)> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.join("run_results.json")).unwrap())
                .unwrap();
        let mut out: Vec<(String, String)> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["unique_id"].as_str().unwrap().starts_with("operation."))
            .map(|r| {
                (
                    r["unique_id"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(statuses(&tprod), statuses(&dprod));
    change(&tdir);
    change(&ddir);
    // a newer load of raw_events (on-run-start), then freshness again
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = tarmac(&tdir, &tdb, &["run", "--select", "stg_customers"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    tarmac(&tdir, &tdb, &["source", "freshness"]);
    dbt_run(&["run", "--select", "stg_customers"]);
    dbt_run(&["source", "freshness"]);
    let dbt_ls = |state: &Path, sel: &str| {
        let s = state.to_string_lossy();
        lines(&dbt_run(&[
            "-q",
            "ls",
            "--state",
            &s,
            "--select",
            sel,
            "--resource-type",
            "model",
            "seed",
            "snapshot",
            "test",
            "source",
        ]))
    };
    let mut diffs = Vec::new();
    let mut compared = 0;
    for (state, sels) in [
        (
            &dprod,
            BOTH_WAYS
                .iter()
                .chain(DBT_STATE_ONLY)
                .copied()
                .collect::<Vec<_>>(),
        ),
        (&tprod, BOTH_WAYS.to_vec()),
    ] {
        for sel in sels {
            let ours = tarmac_ls(&tdir, &tdb, state, sel);
            let theirs = dbt_ls(state, sel);
            compared += 1;
            if ours != theirs {
                diffs.push(format!(
                    "--state {} --select {sel}\n  tarmac: {ours:?}\n  dbt:    {theirs:?}",
                    state.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{} of {compared} selections differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    // the selections are not trivially empty
    assert!(!tarmac_ls(&tdir, &tdb, &dprod, "state:modified").is_empty());
    assert!(!tarmac_ls(&tdir, &tdb, &dprod, "source_status:fresher+").is_empty());
}

/// A profile with two targets in one database file: `prod` (schema
/// `main`) and `ci` (schema `ci`), as a slim CI job builds beside production.
const TWO_TARGETS: &str = "shop:
  target: prod
  outputs:
    prod:
      type: duckdb
      path: \"{{ env_var('TARMAC_DB') }}\"
      schema: main
      threads: 4
    ci:
      type: duckdb
      path: \"{{ env_var('TARMAC_DB') }}\"
      schema: ci
      threads: 4
";

/// The relations each compiled file reads (`"shop"."schema"."name"`), by
/// file, and each node's status: what a deferred build did.
/// Relations read by each compiled file, and each node's status.
type Deferred = (Vec<(String, Vec<String>)>, Vec<(String, String)>);

fn deferred_build(dir: &Path) -> Deferred {
    let rel = regex::Regex::new(r#""shop"\."[A-Za-z0-9_]+"\."[A-Za-z0-9_]+""#).unwrap();
    let mut files = Vec::new();
    let mut stack = vec![dir.join("target/compiled")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let text = std::fs::read_to_string(&p).unwrap();
                let mut rels: Vec<String> = rel
                    .find_iter(&text)
                    .map(|m| m.as_str().to_string())
                    .collect();
                rels.sort();
                rels.dedup();
                let name = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                files.push((name, rels));
            }
        }
    }
    files.sort();
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    let mut statuses: Vec<(String, String)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["unique_id"].as_str().unwrap().starts_with("operation."))
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    statuses.sort();
    (files, statuses)
}

fn tarmac_defer(root: &Path) -> Deferred {
    let (dir, db) = project(root, "tarmac-defer");
    std::fs::write(dir.join("profiles.yml"), TWO_TARGETS).unwrap();
    let prod = root.join("prod-tarmac-defer");
    let out = tarmac(&dir, &db, &["build"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    copy_project(&dir.join("target"), &prod);
    std::fs::remove_dir_all(dir.join("target")).unwrap();
    change(&dir);
    let s = prod.to_string_lossy();
    let out = tarmac(
        &dir,
        &db,
        &[
            "build",
            "--target",
            "ci",
            "--select",
            "state:modified+",
            "--defer",
            "--state",
            &s,
        ],
    );
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    deferred_build(&dir)
}

#[test]
fn defer_reads_unbuilt_parents_from_the_state() {
    let t = tempfile::tempdir().unwrap();
    let (files, statuses) = tarmac_defer(t.path());
    let stg_orders = files
        .iter()
        .find(|(f, _)| f.ends_with("models/staging/stg_orders.sql"))
        .expect("stg_orders compiled");
    // the seed it reads is not built in ci: production's relation
    assert_eq!(stg_orders.1, ["\"shop\".\"main\".\"raw_orders\""]);
    let summary = files
        .iter()
        .find(|(f, _)| f.ends_with("models/marts/order_summary.sql"))
        .expect("order_summary compiled");
    // its parent is built in this run: ci's relation
    assert_eq!(summary.1, ["\"shop\".\"ci\".\"stg_payments\""]);
    assert!(
        statuses
            .iter()
            .any(|(id, s)| id == "model.shop.stg_orders" && s == "success"),
        "{statuses:?}"
    );
    // seeds were not built again
    assert!(!statuses.iter().any(|(id, _)| id.starts_with("seed.")));
    // --defer without a state: a clear error
    let (dir, db) = project(t.path(), "no-state");
    let out = tarmac(&dir, &db, &["run", "--defer"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state"));
}

#[test]
fn defer_resolves_as_dbt_does() {
    let Some(dbt) = testkit::dbt("defer_resolves_as_dbt_does") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let ours = tarmac_defer(t.path());
    let (dir, db) = project(t.path(), "dbt-defer");
    std::fs::write(dir.join("profiles.yml"), TWO_TARGETS).unwrap();
    let dbt_run = |args: &[&str]| {
        testkit::dbt_command(&dbt, &dir, args)
            .env("TARMAC_DB", &db)
            .output()
            .unwrap()
    };
    let prod = t.path().join("prod-dbt-defer");
    let out = dbt_run(&["build"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    copy_project(&dir.join("target"), &prod);
    std::fs::remove_dir_all(dir.join("target")).unwrap();
    change(&dir);
    let s = prod.to_string_lossy();
    dbt_run(&[
        "build",
        "--target",
        "ci",
        "--select",
        "state:modified+",
        "--defer",
        "--state",
        &s,
    ]);
    let theirs = deferred_build(&dir);
    assert_eq!(ours.1, theirs.1, "run_results statuses differ");
    let rels = |v: &[(String, Vec<String>)]| -> Vec<(String, Vec<String>)> {
        // files that read no relation (dbt also compiles its hooks and
        // unit-test fixtures to files) say nothing about deferral
        v.iter().filter(|(_, r)| !r.is_empty()).cloned().collect()
    };
    assert_eq!(rels(&ours.0), rels(&theirs.0), "deferred relations differ");
}

/// `clone --state` in three steps, run by `run` (tarmac or dbt) in `dir`
/// (already given the two targets): production is built and kept as the
/// state; `clone --target ci` makes ci's relations; a second clone finds
/// them there; `--full-refresh` on one model makes it again. Per step each
/// node's (unique_id, status, message's first line), sorted; then ci's
/// relations as (schema, name, type, rows).
type Cloned = (
    Vec<Vec<(String, String, String)>>,
    Vec<(String, String, String, i64)>,
);

fn clone_steps(dir: &Path, db: &Path, run: &dyn Fn(&[&str]) -> std::process::Output) -> Cloned {
    let prod = dir.parent().unwrap().join(format!(
        "prod-{}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let out = run(&["build"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    copy_project(&dir.join("target"), &prod);
    let s = prod.to_string_lossy().into_owned();
    let mut steps = Vec::new();
    for (args, code) in [
        (vec!["clone", "--target", "ci", "--state", &s], 1),
        (vec!["clone", "--target", "ci", "--state", &s], 1),
        (
            vec![
                "clone",
                "--target",
                "ci",
                "--state",
                &s,
                "--full-refresh",
                "--select",
                "stg_orders",
            ],
            0,
        ),
    ] {
        let out = run(&args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("target/run_results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(v["args"]["which"], "clone");
        let mut rows: Vec<(String, String, String)> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["unique_id"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                    r["message"]
                        .as_str()
                        .unwrap()
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect();
        rows.sort();
        steps.push(rows);
    }
    let conn = common::read_only(db);
    let rels: Vec<(String, String, String)> = conn
        .prepare("select table_schema, table_name, table_type from information_schema.tables where table_schema like 'ci%' order by 1, 2")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let rels = rels
        .into_iter()
        .map(|(s, t, k)| {
            let n: i64 = conn
                .query_row(&format!("select count(*) from \"{s}\".\"{t}\""), [], |r| {
                    r.get(0)
                })
                .unwrap();
            (s, t, k, n)
        })
        .collect();
    (steps, rels)
}

fn tarmac_clone(root: &Path) -> Cloned {
    let (dir, db) = project(root, "tarmac-clone");
    std::fs::write(dir.join("profiles.yml"), TWO_TARGETS).unwrap();
    clone_steps(&dir, &db, &|args| tarmac(&dir, &db, args))
}

#[test]
fn clone_makes_views_of_the_state() {
    let t = tempfile::tempdir().unwrap();
    let (steps, rels) = tarmac_clone(t.path());
    let first = &steps[0];
    // production's failed models have no relation to read: errors
    for (id, st, msg) in first {
        let broken = id == "model.shop.customers" || id == "model.shop.orders";
        assert_eq!(st, if broken { "error" } else { "success" }, "{first:?}");
        if !broken {
            assert_eq!(msg, "OK", "{first:?}");
        }
    }
    assert!(first.iter().any(|(id, _, _)| id.starts_with("seed.")));
    assert!(!first.iter().any(|(id, _, _)| id.starts_with("test.")));
    // what exists is left alone
    assert!(steps[1]
        .iter()
        .filter(|(_, st, _)| st == "success")
        .all(|(_, _, msg)| msg == "No-op"));
    assert_eq!(
        steps[2],
        [(
            "model.shop.stg_orders".to_string(),
            "success".to_string(),
            "OK".to_string()
        )]
    );
    // every clone is a view of production's rows
    assert!(rels.iter().all(|(_, _, k, _)| k == "VIEW"), "{rels:?}");
    assert!(
        rels.iter().any(|(_, t, _, n)| t == "raw_orders" && *n > 0),
        "{rels:?}"
    );
    // no --state: a clear error
    let (dir, db) = project(t.path(), "no-state");
    let out = tarmac(&dir, &db, &["clone"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--state"));
}

#[test]
fn clone_matches_dbt() {
    let Some(dbt) = testkit::dbt("clone_matches_dbt") else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let ours = tarmac_clone(t.path());
    let (dir, db) = project(t.path(), "dbt-clone");
    std::fs::write(dir.join("profiles.yml"), TWO_TARGETS).unwrap();
    let theirs = clone_steps(&dir, &db, &|args| {
        testkit::dbt_command(&dbt, &dir, args)
            .env("TARMAC_DB", &db)
            .output()
            .unwrap()
    });
    assert_eq!(
        ours.0, theirs.0,
        "statuses and messages: tarmac (left), dbt (right)"
    );
    assert_eq!(
        ours.1, theirs.1,
        "ci's relations: tarmac (left), dbt (right)"
    );
}

/// YAML selectors over the state: `method: state` (with graph operators
/// and in an intersection) and `method: result`.
const STATE_SELECTORS: &str = "selectors:
  - name: changed
    definition:
      method: state
      value: modified
      children: true
  - name: changed_models
    definition:
      intersection:
        - method: state
          value: modified.body
        - method: resource_type
          value: model
  - name: failed_before
    definition:
      method: result
      value: fail
";

/// `ls --selector NAME --state DIR` for each selector, by `ls` (tarmac or dbt).
fn selector_lists(ls: &dyn Fn(&str) -> std::process::Output) -> Vec<(String, Vec<String>)> {
    ["changed", "changed_models", "failed_before"]
        .iter()
        .map(|n| (n.to_string(), lines(&ls(n))))
        .collect()
}

#[test]
fn yaml_selectors_compare_with_the_state() {
    let t = tempfile::tempdir().unwrap();
    let (dir, db) = project(t.path(), "selectors");
    let prod = t.path().join("prod-selectors");
    build_state(&dir, &db, &prod);
    change(&dir);
    std::fs::write(dir.join("selectors.yml"), STATE_SELECTORS).unwrap();
    let s = prod.to_string_lossy().into_owned();
    let got = selector_lists(&|n| tarmac(&dir, &db, &["ls", "--selector", n, "--state", &s]));
    // each selector selects what the same --select does
    for (name, select) in [
        ("changed", "state:modified+"),
        ("changed_models", "state:modified.body,resource_type:model"),
        ("failed_before", "result:fail"),
    ] {
        let want = lines(&tarmac(
            &dir,
            &db,
            &["ls", "--select", select, "--state", &s],
        ));
        let had = &got.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(had, &want, "selector {name} vs --select {select}");
        assert!(!had.is_empty(), "{name} selects nothing");
    }
    // unit tests are listed as dbt lists them
    assert!(
        got[0].1.iter().any(|l| l.starts_with("unit_test:shop.")),
        "{:?}",
        got[0].1
    );
    let Some(dbt) = testkit::dbt("yaml_selectors_compare_with_the_state") else {
        return;
    };
    // dbt's own build as the state, for both tools
    let (ddir, ddb) = project(t.path(), "dbt-selectors");
    let out = testkit::dbt_command(&dbt, &ddir, &["build"])
        .env("TARMAC_DB", &ddb)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dprod = t.path().join("prod-dbt-selectors");
    copy_project(&ddir.join("target"), &dprod);
    change(&ddir);
    std::fs::write(ddir.join("selectors.yml"), STATE_SELECTORS).unwrap();
    let ds = dprod.to_string_lossy().into_owned();
    let theirs = selector_lists(&|n| {
        testkit::dbt_command(&dbt, &ddir, &["ls", "-q", "--selector", n, "--state", &ds])
            .env("TARMAC_DB", &ddb)
            .output()
            .unwrap()
    });
    let ours = selector_lists(&|n| tarmac(&ddir, &ddb, &["ls", "--selector", n, "--state", &ds]));
    assert_eq!(ours, theirs, "tarmac (left), dbt (right), dbt's state");
}
