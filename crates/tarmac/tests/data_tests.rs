//! `tarmac build` and `tarmac test` on the engine's `shop` fixture: generic,
//! custom and singular tests, severities and thresholds, stored failures,
//! skipping after a failed test, artifacts, selection, compiled SQL against
//! goldens (rewrite with `UPDATE_GOLDEN=1`), bad input, and (with dbt, found
//! by `testkit::dbt`: `$TARMAC_DBT` or the repository's `.venv-dbt`) every
//! test's status, failure count and unique id against dbt-core + dbt-duckdb.

mod common;

use common::{copy_project, engine_fixture, in_project, workspace};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    engine_fixture(name)
}

fn tarmac(dir: &Path, args: &[&str]) -> Output {
    in_project(dir, &dir.join("shop.duckdb"), args)
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// unique id -> (status, failures) from run_results.json.
fn statuses(dir: &Path) -> BTreeMap<String, (String, Option<i64>)> {
    let rr = json(&dir.join("target/run_results.json"));
    rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["unique_id"].as_str().unwrap().starts_with("operation."))
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap().to_string(),
                (
                    r["status"].as_str().unwrap().to_string(),
                    r["failures"].as_i64(),
                ),
            )
        })
        .collect()
}

fn golden(name: &str, actual: &str) {
    let path = workspace().join("crates/engine/tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden {} (UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "golden {name} differs (UPDATE_GOLDEN=1 rewrites it)"
    );
}

const FAILING: &str = "test.shop.accepted_values_stg_orders_status__placed__shipped__completed__return_pending.53fa0900e5";

#[test]
fn build_runs_tests_in_dag_order_and_skips_after_a_failure() {
    let (_t, dir) = fixture("shop");
    let out = tarmac(&dir, &["build", "--threads", "4"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("Done. PASS=24 WARN=3 ERROR=1 SKIP=12 NO-OP=0 TOTAL=40"),
        "{all}"
    );
    assert!(
        all.contains("WARN 24 unique_stg_payments_order_id"),
        "{all}"
    );
    assert!(
        all.contains(
            "FAIL 1 accepted_values_stg_orders_status__placed__shipped__completed__return_pending"
        ),
        "{all}"
    );
    assert!(all.contains("SKIP relation main.orders"), "{all}");
    assert!(all.contains("SKIP test unique_orders_order_id"), "{all}");
    assert!(
        all.contains("PASS stg_orders::stg_orders_keeps_recent_orders"),
        "{all}"
    );
    assert!(
        all.contains("SKIP test orders::orders_incremental_adds_new_rows"),
        "{all}"
    );
    assert!(
        all.contains("Got 24 results, configured to warn if >1"),
        "{all}"
    );
    assert!(all.contains("See test failures:"), "{all}");
    let st = statuses(&dir);
    assert_eq!(st[FAILING], ("fail".to_string(), Some(1)));
    assert_eq!(
        st["test.shop.unique_stg_payments_order_id.f460f3c8de"],
        ("warn".to_string(), Some(24))
    );
    assert_eq!(
        st["test.shop.assert_few_returns"],
        ("warn".to_string(), Some(13))
    );
    assert_eq!(
        st["test.shop.not_null_stg_orders_order_id.81cfe2fe64"],
        ("pass".to_string(), Some(0))
    );
    assert_eq!(st["model.shop.orders"].0, "skipped");
    // the failing rows are kept where dbt keeps them
    let conn = duckdb::Connection::open(dir.join("shop.duckdb")).unwrap();
    let v: String = conn
        .query_row(
            "select value_field from main_dbt_test__audit.accepted_values_stg_orders_62d7846404b81142bf3afb7b27ee2a82",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, "returned");
    drop(conn);

    // manifest: test nodes as dbt writes them
    let m = json(&dir.join("target/manifest.json"));
    let t = &m["nodes"]["test.shop.relationships_stg_orders_customer_id__customer_id__ref_stg_customers_.430bf21500"];
    assert_eq!(t["resource_type"], "test");
    assert_eq!(
        t["alias"],
        "relationships_stg_orders_96411fe0c89b49c3f4da955dfd358ba0"
    );
    assert_eq!(t["schema"], "main_dbt_test__audit");
    assert_eq!(t["column_name"], "customer_id");
    assert_eq!(t["attached_node"], "model.shop.stg_orders");
    assert_eq!(t["test_metadata"]["name"], "relationships");
    assert_eq!(t["test_metadata"]["kwargs"]["to"], "ref('stg_customers')");
    assert_eq!(t["config"]["severity"], "ERROR");
    assert_eq!(t["tags"], serde_json::json!(["fk", "dq"]));
    let mut deps: Vec<String> = t["depends_on"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    deps.sort();
    assert_eq!(deps, ["model.shop.stg_customers", "model.shop.stg_orders"]);
    assert_eq!(
        m["nodes"]["test.shop.source_unique_raw_events_id.207e922098"]["depends_on"]["nodes"],
        serde_json::json!(["source.shop.raw.events"])
    );
    assert!(m["child_map"]["model.shop.stg_orders"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == FAILING));

    // compiled SQL of each kind of test, against goldens
    let compiled = dir.join("target/compiled/shop");
    for f in [
        "models/staging/schema.yml/not_null_stg_orders_order_id.sql",
        "models/staging/schema.yml/unique_stg_payments_order_id.sql",
        "models/staging/schema.yml/relationships_stg_orders_96411fe0c89b49c3f4da955dfd358ba0.sql",
        "models/staging/schema.yml/accepted_values_stg_payments_payment_method__False__1__2.sql",
        "models/staging/schema.yml/status_is_known_loose.sql",
        "models/staging/schema.yml/is_positive_stg_payments_True__amount.sql",
        "models/sources.yml/source_accepted_values_raw_events_kind__click__view.sql",
        "tests/assert_few_returns.sql",
    ] {
        let sql =
            std::fs::read_to_string(compiled.join(f)).unwrap_or_else(|_| panic!("no compiled {f}"));
        golden(&format!("shop/compiled/{f}"), &sql);
    }
    let run = std::fs::read_to_string(
        dir.join("target/run/shop/models/staging/schema.yml/unique_stg_payments_order_id.sql"),
    )
    .unwrap();
    golden("shop/run/unique_stg_payments_order_id.sql", &run);
}

#[test]
fn test_command_selection_and_exit_codes() {
    let (_t, dir) = fixture("shop");
    let out = tarmac(&dir, &["seed"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = tarmac(&dir, &["run"]);
    assert!(out.status.success(), "{}", text(&out));
    // every test; the failing one makes the exit code 1
    let out = tarmac(&dir, &["test"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("Done. PASS=25 WARN=4 ERROR=2 SKIP=0 NO-OP=0 TOTAL=31"),
        "{all}"
    );
    // unit tests: the failing one shows expected and actual rows
    let out = tarmac(&dir, &["test", "--select", "test_type:unit"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("PASS orders::orders_incremental_adds_new_rows"),
        "{all}"
    );
    assert!(
        all.contains("FAIL 1 customers::customers_counts_orders"),
        "{all}"
    );
    assert!(
        all.contains("actual differs from expected:")
            && all.contains("+++ | 2           | 0                | 0.0")
            && all.contains("--- | 2           | 0                | 7.0"),
        "{all}"
    );
    let rr = json(&dir.join("target/run_results.json"));
    // the three unit tests, beside the project's hooks (their operation nodes)
    let nodes = rr["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["unique_id"].as_str().unwrap().starts_with("operation."))
        .count();
    assert_eq!(nodes, 3);
    let m = json(&dir.join("target/manifest.json"));
    let u = &m["unit_tests"]["unit_test.shop.stg_orders.stg_orders_keeps_recent_orders"];
    assert_eq!(u["model"], "stg_orders");
    assert_eq!(
        u["depends_on"]["nodes"],
        serde_json::json!(["model.shop.stg_orders"])
    );
    // selecting a model selects its unit tests
    let out = tarmac(
        &dir,
        &[
            "test",
            "--select",
            "stg_orders",
            "--exclude",
            "test_type:data",
        ],
    );
    assert!(
        text(&out).contains("PASS=1 WARN=0 ERROR=0 SKIP=0 NO-OP=0 TOTAL=1"),
        "{}",
        text(&out)
    );

    // by name, test type and indirect selection
    let out = tarmac(&dir, &["test", "--select", "unique_orders_order_id"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("TOTAL=1"), "{}", text(&out));
    let out = tarmac(&dir, &["test", "--select", "test_type:singular"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("PASS=1 WARN=2 ERROR=0 SKIP=0 NO-OP=0 TOTAL=3"),
        "{}",
        text(&out)
    );
    let out = tarmac(
        &dir,
        &[
            "test",
            "--select",
            "orders",
            "--exclude",
            "test_name:unique",
        ],
    );
    let all = text(&out);
    // two generic tests, a singular one and the model's unit test
    assert!(all.contains("TOTAL=4"), "{all}");
    assert!(!all.contains("unique_orders_order_id"), "{all}");
    let out = tarmac(&dir, &["test", "--select", "tag:fk"]);
    assert!(text(&out).contains("TOTAL=1"), "{}", text(&out));
    // warnings alone do not fail the run
    let out = tarmac(&dir, &["test", "--select", "stg_payments"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // a test on a column that does not exist: an error naming the test and file
    let schema = dir.join("models/staging/schema.yml");
    let yml = std::fs::read_to_string(&schema).unwrap();
    std::fs::write(
        &schema,
        yml.replace("      - name: first_name\n", "      - name: first_nam\n"),
    )
    .unwrap();
    let out = tarmac(&dir, &["test", "--select", "stg_customers"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains("ERROR not_empty_string_stg_customers_first_nam")
            && all.contains("models/staging/schema.yml")
            && all.contains("first_nam"),
        "{all}"
    );
    // relationships to a model that does not exist: dbt's parse error, naming the test
    std::fs::write(
        &schema,
        yml.replace("ref('stg_customers')", "ref('stg_customer')"),
    )
    .unwrap();
    let out = tarmac(&dir, &["test"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains("depends on a node named 'stg_customer' which was not found")
            && all.contains("did you mean stg_customers"),
        "{all}"
    );
    // an unknown generic test and a malformed entry name the file and key
    std::fs::write(
        &schema,
        yml.replace("data_tests: [not_empty_string]", "data_tests: [not_a_test]"),
    )
    .unwrap();
    let all = text(&tarmac(&dir, &["test"]));
    assert!(
        all.contains(
            "models/staging/schema.yml: key models.stg_customers.columns.first_name.data_tests[0]"
        ) && all.contains("no generic test named \"not_a_test\""),
        "{all}"
    );
    std::fs::write(
        &schema,
        yml.replace(
            "data_tests: [not_empty_string]",
            "data_tests: [{a: {}, b: {}}]",
        ),
    )
    .unwrap();
    let all = text(&tarmac(&dir, &["test"]));
    assert!(all.contains("exactly one key"), "{all}");
    std::fs::write(&schema, format!("{yml}\n  - name: [")).unwrap();
    let out = tarmac(&dir, &["test"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("models/staging/schema.yml"), "{all}");
}

#[test]
fn contracts_check_columns_and_apply_constraints() {
    let (_t, dir) = fixture("shop");
    let out = tarmac(&dir, &["build", "--select", "+order_summary"]);
    assert!(out.status.success(), "{}", text(&out));
    // DuckDB enforces the contract's constraints on the table
    let conn = duckdb::Connection::open(dir.join("shop.duckdb")).unwrap();
    for bad in [
        "insert into main.order_summary values (null, 1, 1.0)",
        "insert into main.order_summary values ('coupon', 1, 1.0)",
        "insert into main.order_summary values ('x', 0, 1.0)",
    ] {
        assert!(conn.execute_batch(bad).is_err(), "{bad} was accepted");
    }
    drop(conn);
    let yml = dir.join("models/marts/marts.yml");
    let orig = std::fs::read_to_string(&yml).unwrap();
    // a type that differs: dbt's table of differences, nothing built
    std::fs::write(
        &yml,
        orig.replace("data_type: bigint", "data_type: integer")
            .replace(
                "      - name: total\n        data_type: double\n",
                "      - name: total_amount\n        data_type: double\n",
            ),
    )
    .unwrap();
    let out = tarmac(&dir, &["run", "--select", "order_summary"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    for want in [
        "This model has an enforced contract that failed.",
        "| column_name  | definition_type | contract_type | mismatch_reason       |",
        "| payments     | BIGINT          | INTEGER       | data type mismatch    |",
        "| total        | DOUBLE          |               | missing in contract   |",
        "| total_amount |                 | DOUBLE        | missing in definition |",
    ] {
        assert!(all.contains(want), "{want}\n{all}");
    }
    // a type DuckDB does not know: the file and key
    std::fs::write(
        &yml,
        orig.replace("data_type: bigint", "data_type: bigintt"),
    )
    .unwrap();
    let all = text(&tarmac(&dir, &["run", "--select", "order_summary"]));
    assert!(
        all.contains("models/marts/marts.yml: key models.order_summary.columns.payments.data_type: model order_summary, column payments: DuckDB does not know the type \"bigintt\""),
        "{all}"
    );
    // constraints on a view are not enforced: a warning says so
    std::fs::write(&yml, &orig).unwrap();
    let model = dir.join("models/marts/order_summary.sql");
    let sql = std::fs::read_to_string(&model).unwrap();
    std::fs::write(
        &model,
        sql.replace("materialized='table'", "materialized='view'"),
    )
    .unwrap();
    let out = tarmac(&dir, &["run", "--select", "order_summary"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("DuckDB does not enforce constraints on a view model; not applied: not_null on column payment_method, primary_key on column payment_method, check on the model"),
        "{all}"
    );
}

#[test]
fn source_freshness_writes_sources_json() {
    let (_t, dir) = fixture("shop");
    // before the seeds exist: raw.orders cannot be queried, a runtime error
    let out = tarmac(&dir, &["source", "freshness"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = tarmac(&dir, &["seed"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = tarmac(&dir, &["source", "freshness"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("WARN freshness of raw.events"), "{all}");
    assert!(all.contains("ERROR STALE freshness of raw.orders"), "{all}");
    let doc = json(&dir.join("target/sources.json"));
    assert_eq!(
        doc["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/sources/v3.json"
    );
    let r = doc["results"].as_array().unwrap();
    assert_eq!(r.len(), 2, "customers has freshness: null");
    assert_eq!(r[0]["unique_id"], "source.shop.raw.events");
    assert_eq!(r[0]["status"], "warn");
    let age = r[0]["max_loaded_at_time_ago_in_s"].as_f64().unwrap();
    assert!((7190.0..7300.0).contains(&age), "{age}");
    // the table's freshness updates the source's, key by key
    assert_eq!(r[1]["criteria"]["warn_after"]["count"], 1);
    assert_eq!(r[1]["criteria"]["error_after"]["count"], 30);
    assert_eq!(r[1]["criteria"]["filter"], "status <> 'returned'");
    assert_eq!(r[1]["max_loaded_at"], "2018-04-28T00:00:00+00:00");
    // only warnings: exit 0
    let out = tarmac(
        &dir,
        &["source", "freshness", "--select", "source:raw.events"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn same_test_results_as_dbt() {
    let Some(dbt) = testkit::dbt("same_test_results_as_dbt") else {
        return;
    };
    let (_t, dir) = fixture("shop");
    let theirs = dir.parent().unwrap().join("shop_dbt");
    copy_project(&dir, &theirs);
    let out = tarmac(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = testkit::dbt_command(&dbt, &theirs, &["build"])
        .env("TARMAC_DB", theirs.join("shop.duckdb"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (a, b) = (statuses(&dir), statuses(&theirs));
    assert_eq!(a.len(), 40);
    // dbt writes failures 0 for skipped nodes and null for models; compare tests' counts only
    let norm =
        |m: BTreeMap<String, (String, Option<i64>)>| -> BTreeMap<String, (String, Option<i64>)> {
            m.into_iter()
                .map(|(k, (s, f))| {
                    let f = if k.starts_with("test.") && s != "skipped" {
                        f
                    } else {
                        None
                    };
                    (k, (s, f))
                })
                .collect()
        };
    assert_eq!(norm(a), norm(b), "tarmac (left) and dbt (right) differ");
}

// ---------------------------------------------------------------------------
// the `dtests` fixture: store_failures_as, indirect selection, source and
// test selectors, tests on ephemeral models, snapshots, seeds and sources

/// Selections whose tests `tarmac ls` lists as in the golden
/// `dtests/selection.txt`, which `dtests_same_as_dbt` checks against `dbt ls`.
const SELECTIONS: &[(&str, &[&str])] = &[
    ("eager", &["--select", "source:bronze.events"]),
    ("cautious", &["--select", "source:bronze.events"]),
    ("buildable", &["--select", "stg_events"]),
    ("cautious", &["--select", "stg_items", "stg_events"]),
    ("eager", &["--select", "source:bronze+"]),
    ("empty", &["--select", "stg_items+"]),
    ("eager", &["--select", "test_name:not_null,source:bronze"]),
    (
        "cautious",
        &["--select", "item_events+", "--exclude", "stg_items"],
    ),
    ("buildable", &["--select", "item_events"]),
    (
        "eager",
        &["--select", "resource_type:unit_test", "test_type:singular"],
    ),
    ("eager", &["--exclude", "stg_items"]),
    ("buildable", &["--select", "stg_items", "source:bronze"]),
];

/// The tests (and unit tests) a selection picks, by name, sorted.
fn listed(lines: &str) -> Vec<String> {
    let mut v: Vec<String> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.rsplit('.').next().unwrap_or(l).trim().to_string())
        .collect();
    v.sort();
    v
}

fn selection_text(run: impl Fn(&str, &[&str]) -> String) -> String {
    let mut out = String::new();
    for (mode, args) in SELECTIONS {
        out.push_str(&format!(
            "## --indirect-selection {mode} {}\n",
            args.join(" ")
        ));
        for name in listed(&run(mode, args)) {
            out.push_str(&format!("{name}\n"));
        }
    }
    out
}

fn tarmac_ls(dir: &Path, mode: &str, args: &[&str]) -> String {
    let mut a = vec![
        "ls",
        "--indirect-selection",
        mode,
        "--resource-type",
        "test",
        "unit_test",
    ];
    a.extend_from_slice(args);
    let out = tarmac(dir, &a);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// (relation, view/table, rows) in the test audit schema.
fn audit(dir: &Path) -> Vec<(String, String, i64)> {
    let c = duckdb::Connection::open(dir.join("shop.duckdb")).unwrap();
    let mut st = c
        .prepare(
            "select table_name, 'table' from duckdb_tables() where schema_name = 'main_dbt_test__audit'
             union all select view_name, 'view' from duckdb_views() where schema_name = 'main_dbt_test__audit'
             order by 1",
        )
        .unwrap();
    let rels: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    rels.into_iter()
        .map(|(n, k)| {
            let rows: i64 = c
                .query_row(
                    &format!("select count(*) from main_dbt_test__audit.\"{n}\""),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            (n, k, rows)
        })
        .collect()
}

#[test]
fn indirect_selection_and_test_selectors() {
    let (_t, dir) = fixture("dtests");
    golden(
        "dtests/selection.txt",
        &selection_text(|mode, args| tarmac_ls(&dir, mode, args)),
    );
    // DBT_INDIRECT_SELECTION stands for the flag
    let out = Command::new(env!("CARGO_BIN_EXE_tarmac"))
        .args([
            "ls",
            "--resource-type",
            "test",
            "unit_test",
            "--select",
            "stg_items",
            "stg_events",
        ])
        .arg("--project-dir")
        .arg(&dir)
        .arg("--profiles-dir")
        .arg(&dir)
        .env("DBT_INDIRECT_SELECTION", "cautious")
        .output()
        .unwrap();
    let cautious = tarmac_ls(&dir, "cautious", &["--select", "stg_items", "stg_events"]);
    assert_eq!(
        listed(&String::from_utf8_lossy(&out.stdout)),
        listed(&cautious)
    );
    // bad values are errors naming what is accepted
    let out = tarmac(&dir, &["ls", "--indirect-selection", "lazy"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("[possible values: eager, cautious, buildable, empty]"),
        "{}",
        text(&out)
    );
    let out = tarmac(&dir, &["ls", "--select", "test_type:schemaless"]);
    assert!(
        text(&out).contains("expected generic, singular, unit or data"),
        "{}",
        text(&out)
    );
    let out = tarmac(&dir, &["ls", "--select", "source:a.b.c.d"]);
    assert!(
        text(&out).contains("source:<source>.<table>"),
        "{}",
        text(&out)
    );
    // `tarmac test --select model` runs that model's tests (and unit tests)
    let out = tarmac(&dir, &["build", "--select", "+stg_events", "+stg_items"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = tarmac(&dir, &["test", "--select", "stg_events"]);
    assert!(out.status.success(), "{}", text(&out));
    let st = statuses(&dir);
    assert_eq!(st.len(), 2, "{st:?}");
    assert!(st
        .keys()
        .any(|k| k.starts_with("test.dtests.relationships_stg_events_id")));
    assert!(st
        .keys()
        .any(|k| k.starts_with("unit_test.dtests.stg_events")));
}

#[test]
fn store_failures_as_view_table_and_ephemeral() {
    let (_t, dir) = fixture("dtests");
    let out = tarmac(&dir, &["build"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    // stored as the config says; `ephemeral` stores nothing; the project's
    // `+store_failures_as: view` for marts applies to the tests declared there
    let a = audit(&dir);
    let kind = |n: &str| {
        a.iter()
            .find(|(r, _, _)| r == n)
            .map(|(_, k, rows)| (k.as_str(), *rows))
    };
    assert_eq!(kind("even_stg_items_price"), Some(("view", 3)));
    assert_eq!(kind("not_null_stg_items_name"), Some(("table", 1)));
    assert_eq!(kind("assert_prices_low"), Some(("table", 1)));
    assert_eq!(kind("positive_item_events_amount"), Some(("view", 1)));
    assert_eq!(
        kind("accepted_values_item_events_kind__click__view"),
        Some(("table", 2))
    );
    assert_eq!(kind("not_null_item_events_id"), None);
    assert_eq!(kind("unique_stg_items_id"), None);
    // a value dbt does not know is the test's error, with dbt's words
    assert!(
        all.contains("'temp' is not a valid value for `store_failures_as`. Accepted values are: ['ephemeral', 'table', 'view']"),
        "{all}"
    );
    assert!(
        all.contains("See test failures:")
            && all.contains(
                "select * from \"shop\".\"main_dbt_test__audit\".\"even_stg_items_price\""
            ),
        "{all}"
    );
    // manifest.json: store_failures follows store_failures_as (dbt 1.7)
    let m = json(&dir.join("target/manifest.json"));
    let cfg = |prefix: &str| {
        let (_, n) = m["nodes"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.starts_with(prefix))
            .unwrap();
        (
            n["config"]["store_failures"].clone(),
            n["config"]["store_failures_as"].clone(),
            n["relation_name"].clone(),
        )
    };
    assert_eq!(
        cfg("test.dtests.not_null_item_events_id."),
        (Value::Bool(false), Value::from("ephemeral"), Value::Null)
    );
    assert_eq!(
        cfg("test.dtests.even_stg_items_price."),
        (
            Value::Bool(true),
            Value::from("view"),
            Value::from("\"shop\".\"main_dbt_test__audit\".\"even_stg_items_price\"")
        )
    );
    assert_eq!(cfg("test.dtests.unique_stg_items_id.").1, Value::Null);
    // a test on an ephemeral model reads it as a CTE
    let sql = std::fs::read_to_string(
        dir.join("target/compiled/dtests/models/staging/schema.yml/not_null_eph_priced_id.sql"),
    )
    .unwrap();
    assert!(sql.contains("with __dbt__cte__eph_priced as ("), "{sql}");
    // --store-failures: tests that say nothing store a table, views stay views
    let out = tarmac(&dir, &["test", "--store-failures", "--select", "stg_items"]);
    assert!(out.status.success(), "{}", text(&out));
    let a = audit(&dir);
    let kind = |n: &str| {
        a.iter()
            .find(|(r, _, _)| r == n)
            .map(|(_, k, rows)| (k.as_str(), *rows))
    };
    assert_eq!(kind("unique_stg_items_id"), Some(("table", 0)));
    assert_eq!(kind("even_stg_items_price"), Some(("view", 3)));
}

/// A copy of the fixture with `edit` applied to one file.
fn edited(dir: &Path, file: &str, edit: impl Fn(String) -> String) {
    let p = dir.join(file);
    let s = std::fs::read_to_string(&p).unwrap_or_default();
    std::fs::write(&p, edit(s)).unwrap();
}

/// The errors of a run: `error:` messages and the "Error in ..." blocks of
/// the closing summary, without timestamps and the temporary directory.
fn error_text(dir: &Path, o: &Output) -> String {
    let root = dir.display().to_string();
    let all = text(o);
    // dbt's console lines start with "HH:MM:SS  "
    let strip = |l: &str| -> String {
        let b = l.as_bytes();
        if b.len() >= 10 && b[2] == b':' && b[5] == b':' && &l[8..10] == "  " {
            l[10..].to_string()
        } else {
            l.to_string()
        }
    };
    let lines: Vec<String> = all.lines().map(strip).collect();
    let mut out: Vec<String> = Vec::new();
    let mut on = false;
    let mut in_summary = false;
    for l in &lines {
        if l.starts_with("Completed with") {
            in_summary = true;
            on = false;
            continue;
        }
        let starts = l.starts_with("error:")
            || (in_summary && (l.starts_with("Error in") || l.starts_with("Failure in")));
        if starts {
            on = true;
        } else if !l.starts_with("  ") || l.contains("compiled code at") {
            on = false;
        }
        if on {
            out.push(l.clone());
        }
    }
    out.join("\n").replace(&root, "<project>")
}

#[test]
fn bad_test_input_names_file_and_key() {
    let mut report = String::new();
    // malformed YAML: file, line, column
    let (_t, dir) = fixture("dtests");
    edited(&dir, "models/staging/bad.yml", |_| {
        "version: 2\nmodels:\n  - name: stg_items\n    columns:\n      - name: id\n        data_tests: [unique, not_null\n".into()
    });
    let out = tarmac(&dir, &["test"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    report.push_str(&format!("## malformed YAML\n{}\n", error_text(&dir, &out)));
    // a relationships test to a model that does not exist
    let (_t, dir) = fixture("dtests");
    edited(&dir, "models/staging/schema.yml", |s| {
        s.replace("to: ref('stg_items')", "to: ref('stg_itemz')")
    });
    let out = tarmac(&dir, &["test"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    report.push_str(&format!(
        "## relationships to a missing model\n{}\n",
        error_text(&dir, &out)
    ));
    // a test on a column the model does not have (DuckDB's binder error at
    // run time, as with dbt), and a relationships field that does not exist
    let (_t, dir) = fixture("dtests");
    edited(&dir, "models/staging/schema.yml", |s| {
        s.replace("      - name: id\n        data_tests:\n          - relationships:", "      - name: idd\n        data_tests: [not_null]\n      - name: id\n        data_tests:\n          - relationships:")
            .replace("              field: id", "              field: item_id")
    });
    let out = tarmac(
        &dir,
        &[
            "build",
            "--select",
            "+stg_events",
            "+stg_items",
            "--threads",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    report.push_str(&format!(
        "## columns that do not exist\n{}\n",
        error_text(&dir, &out)
    ));
    // a contract data_type DuckDB does not know
    let (_t, dir) = fixture("dtests");
    edited(&dir, "models/marts/contracted.sql", |_| {
        "select 1 as id, 'a' as label\n".into()
    });
    edited(&dir, "models/marts/contracted.yml", |_| {
        "version: 2\nmodels:\n  - name: contracted\n    config:\n      contract: {enforced: true}\n    columns:\n      - name: id\n        data_type: integer\n      - name: label\n        data_type: textt\n".into()
    });
    let out = tarmac(&dir, &["run", "--select", "contracted"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = error_text(&dir, &out);
    let problems = all
        .split("Completed with")
        .last()
        .unwrap_or_default()
        .to_string();
    report.push_str(&format!("## unknown contract data type\n{problems}\n"));
    golden("dtests/errors.txt", &report);
}

/// target/compiled and target/run files of data tests (generic ones below
/// their YAML file, singular ones below tests/), by path.
fn test_sql_files(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
                continue;
            }
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().to_string();
            let test = (rel.contains(".yml/") && !rel.contains(".yml/models/"))
                || rel.split('/').nth(2) == Some("tests");
            if test && rel.ends_with(".sql") && !rel.contains("dbt_project.yml/") {
                out.insert(rel, std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    let target = dir.join("target");
    for sub in ["compiled", "run"] {
        walk(&target, &target.join(sub), &mut out);
    }
    out
}

/// The `dtests` fixture built by tarmac and by dbt: every node's status and
/// failure count, the audit relations (kind and rows), and the tests each
/// selection in `SELECTIONS` picks.
#[test]
fn dtests_same_as_dbt() {
    let Some(dbt) = testkit::dbt("dtests_same_as_dbt") else {
        return;
    };
    let (_t, dir) = fixture("dtests");
    let theirs = dir.parent().unwrap().join("dtests_dbt");
    copy_project(&dir, &theirs);
    let run_dbt = |args: &[&str]| {
        testkit::dbt_command(&dbt, &theirs, args)
            .env("TARMAC_DB", theirs.join("shop.duckdb"))
            .output()
            .unwrap()
    };
    let out = tarmac(&dir, &["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = run_dbt(&["build"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let norm =
        |m: BTreeMap<String, (String, Option<i64>)>| -> BTreeMap<String, (String, Option<i64>)> {
            m.into_iter()
                .map(|(k, (s, f))| {
                    let f = if k.starts_with("test.") && s != "skipped" && s != "error" {
                        f
                    } else {
                        None
                    };
                    (k, (s, f))
                })
                .collect()
        };
    let (a, b) = (norm(statuses(&dir)), norm(statuses(&theirs)));
    assert_eq!(a.len(), 34, "{a:?}");
    assert_eq!(a, b, "tarmac (left) and dbt (right) differ");
    assert_eq!(audit(&dir), audit(&theirs), "audit relations differ");
    // --store-failures on a selection
    let out = tarmac(
        &dir,
        &[
            "test",
            "--store-failures",
            "--select",
            "stg_items",
            "source:bronze",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run_dbt(&[
        "test",
        "--store-failures",
        "--select",
        "stg_items",
        "source:bronze",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(norm(statuses(&dir)), norm(statuses(&theirs)));
    assert_eq!(audit(&dir), audit(&theirs), "audit relations differ");
    // every data test's compiled and run SQL, byte for byte
    let (a, b) = (test_sql_files(&dir), test_sql_files(&theirs));
    assert_eq!(a.len(), 55, "{:?}", a.keys());
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "{k} differs from dbt's");
    }
    // selection: dbt ls against the golden tarmac is checked against
    let expected = std::fs::read_to_string(
        workspace().join("crates/engine/tests/golden/dtests/selection.txt"),
    )
    .unwrap();
    let theirs_sel = selection_text(|mode, args| {
        let mut a = vec![
            "-q",
            "ls",
            "--indirect-selection",
            mode,
            "--resource-type",
            "test",
            "--resource-type",
            "unit_test",
        ];
        a.extend_from_slice(args);
        let out = run_dbt(&a);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    });
    assert_eq!(
        theirs_sel, expected,
        "dbt ls (left) and tarmac's golden (right) differ"
    );
}
