//! Whole-project tests on the jaffle fixture: compiled SQL against goldens
//! (rewrite with `UPDATE_GOLDEN=1`), warehouse contents, selection, errors.

use std::path::Path;
use warehouse::duckdb;

use engine::Command;

mod common;
use common::{fixture, golden, opts};

/// Row count and content digest of every relation, one line each.
fn warehouse(dir: &Path) -> String {
    let conn = duckdb::Connection::open(dir.join("jaffle.duckdb")).unwrap();
    let mut stmt = conn
        .prepare("SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = 'jaffle' ORDER BY 1, 2")
        .unwrap();
    let rels: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut out = String::new();
    for (s, t) in rels {
        let q = format!("SELECT count(*), coalesce(md5(string_agg(x::VARCHAR, '|' ORDER BY x::VARCHAR)), '') FROM \"{s}\".\"{t}\" AS x");
        let (n, d): (i64, String) = conn
            .query_row(&q, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        out.push_str(&format!("{s}.{t} {n} {d}\n"));
    }
    out
}

#[test]
fn builds_jaffle_like_dbt() {
    let (_t, dir) = fixture("jaffle", "jaffle");
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    // 3 seeds, 4 models (one ephemeral, not counted) and 5 tests
    assert_eq!((s.pass, s.error, s.skip), (13, 0, 0), "{s:?}");
    for f in [
        "staging/stg_customers.sql",
        "staging/stg_orders.sql",
        "staging/stg_payments.sql",
        "marts/orders.sql",
        "marts/customers.sql",
    ] {
        let sql =
            std::fs::read_to_string(dir.join("target/compiled/jaffle/models").join(f)).unwrap();
        golden(&format!("jaffle/compiled/{f}"), &sql);
    }
    golden("jaffle/warehouse.txt", &warehouse(&dir));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("target/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(
        manifest["metadata"]["dbt_schema_version"],
        "https://schemas.getdbt.com/dbt/manifest/v12.json"
    );
    let c = &manifest["nodes"]["model.jaffle.customers"];
    assert_eq!(c["schema"], "main_analytics");
    assert_eq!(c["config"]["materialized"], "table");
    assert_eq!(
        manifest["nodes"]["model.jaffle.customer_orders"]["config"]["materialized"],
        "ephemeral"
    );
    assert_eq!(
        manifest["nodes"]["model.jaffle.stg_payments"]["config"]["tags"],
        serde_json::json!(["staging", "payments"])
    );
    assert_eq!(
        manifest["child_map"]["model.jaffle.orders"],
        serde_json::json!(["model.jaffle.customers"])
    );
    let rr: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("target/run_results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rr["results"].as_array().unwrap().len(), 13);

    // a second build: the incremental model merges on its unique key, nothing doubles
    let before = warehouse(&dir);
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert_eq!(s.error, 0);
    assert_eq!(warehouse(&dir), before);
    let inc = std::fs::read_to_string(dir.join("target/compiled/jaffle/models/marts/orders.sql"))
        .unwrap();
    assert!(
        inc.contains("select max(order_date) from \"jaffle\".\"main\".\"orders\""),
        "{inc}"
    );
    // full refresh rebuilds to the same contents
    let mut o = opts(&dir);
    o.full_refresh = true;
    engine::execute(&o, Command::Build).unwrap();
    assert_eq!(warehouse(&dir), before);
}

#[test]
fn a_failing_model_skips_descendants_and_keeps_the_old_table() {
    let (_t, dir) = fixture("jaffle", "jaffle");
    assert!(engine::execute(&opts(&dir), Command::Build).unwrap().ok());
    let before = warehouse(&dir);
    std::fs::write(
        dir.join("models/marts/orders.sql"),
        "{{ config(materialized='table') }}\nselect nope from {{ ref('stg_orders') }}",
    )
    .unwrap();
    let s = engine::execute(&opts(&dir), Command::Run).unwrap();
    assert_eq!((s.error, s.skip), (1, 1), "{s:?}");
    // build: the model's tests are skipped too
    let s = engine::execute(&opts(&dir), Command::Build).unwrap();
    assert_eq!((s.error, s.skip), (1, 3), "{s:?}");
    // the old tables are still there, whole
    assert_eq!(warehouse(&dir), before);
    let mut o = opts(&dir);
    o.fail_fast = true;
    let s = engine::execute(&o, Command::Run).unwrap();
    assert_eq!(s.error, 1);
}

#[test]
fn selection_like_dbt_ls() {
    let (_t, dir) = fixture("jaffle", "jaffle");
    let ls = |sel: &[&str], ex: &[&str]| {
        let mut o = opts(&dir);
        o.select = sel.iter().map(|s| s.to_string()).collect();
        o.exclude = ex.iter().map(|s| s.to_string()).collect();
        engine::list(&o).unwrap()
    };
    // expectations as `dbt ls` prints them (tests come with their models:
    // dbt's default indirect selection, `eager`)
    assert_eq!(ls(&[], &[]).len(), 14);
    assert_eq!(
        ls(&["tag:staging"], &[]),
        [
            "jaffle.staging.not_null_stg_customers_customer_id",
            "jaffle.staging.stg_customers",
            "jaffle.staging.stg_orders",
            "jaffle.staging.stg_payments",
            "jaffle.staging.unique_stg_customers_customer_id",
            "jaffle.staging.unique_stg_orders_order_id"
        ]
    );
    assert_eq!(
        ls(&["+orders"], &[]),
        [
            "jaffle.marts.orders",
            "jaffle.raw_orders",
            "jaffle.raw_payments",
            "jaffle.staging.stg_orders",
            "jaffle.staging.stg_payments",
            "jaffle.staging.unique_stg_orders_order_id"
        ]
    );
    assert_eq!(
        ls(&["stg_orders+1"], &[]),
        [
            "jaffle.marts.customer_orders",
            "jaffle.marts.orders",
            "jaffle.staging.stg_orders",
            "jaffle.staging.unique_stg_orders_order_id"
        ]
    );
    assert_eq!(
        ls(&["config.materialized:view"], &["stg_orders"]),
        [
            "jaffle.staging.not_null_stg_customers_customer_id",
            "jaffle.staging.stg_customers",
            "jaffle.staging.stg_payments",
            "jaffle.staging.unique_stg_customers_customer_id"
        ]
    );
    assert_eq!(ls(&["resource_type:test"], &[]).len(), 5);
    assert_eq!(ls(&["test_type:generic"], &[]).len(), 5);
    assert_eq!(ls(&["test_type:singular"], &[]).len(), 0);
    assert_eq!(
        ls(&["test_name:not_null"], &[]),
        [
            "jaffle.marts.not_null_customers_customer_id",
            "jaffle.staging.not_null_stg_customers_customer_id"
        ]
    );
    assert_eq!(ls(&["resource_type:seed"], &[]).len(), 3);
    // the marts' three models and the two tests in marts.yml
    assert_eq!(ls(&["path:models/marts"], &[]).len(), 5);
    assert_eq!(
        ls(&["tag:staging,tag:payments"], &[]),
        ["jaffle.staging.stg_payments"]
    );
    assert_eq!(
        ls(&["tag:payments customers"], &[]),
        [
            "jaffle.marts.customers",
            "jaffle.marts.not_null_customers_customer_id",
            "jaffle.marts.unique_customers_customer_id",
            "jaffle.staging.stg_payments"
        ]
    );
    assert_eq!(
        ls(&["@stg_customers"], &[]),
        [
            "jaffle.marts.customer_orders",
            "jaffle.marts.customers",
            "jaffle.marts.not_null_customers_customer_id",
            "jaffle.marts.orders",
            "jaffle.marts.unique_customers_customer_id",
            "jaffle.raw_customers",
            "jaffle.raw_orders",
            "jaffle.raw_payments",
            "jaffle.staging.not_null_stg_customers_customer_id",
            "jaffle.staging.stg_customers",
            "jaffle.staging.stg_orders",
            "jaffle.staging.stg_payments",
            "jaffle.staging.unique_stg_customers_customer_id",
            "jaffle.staging.unique_stg_orders_order_id"
        ]
    );
}

#[test]
fn errors_name_the_node_and_closest_names() {
    let (_t, dir) = fixture("jaffle", "jaffle");
    std::fs::write(
        dir.join("models/marts/bad.sql"),
        "select * from {{ ref('stg_order') }}",
    )
    .unwrap();
    let e = engine::list(&opts(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("model.jaffle.bad") && e.contains("did you mean stg_orders"),
        "{e}"
    );
    std::fs::write(dir.join("models/marts/bad.sql"), "select 1\n{{ oops( }}").unwrap();
    let e = engine::list(&opts(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("Compilation Error in model bad (models/marts/bad.sql) line 2: "),
        "{e}"
    );
    std::fs::write(
        dir.join("models/marts/bad.sql"),
        "select * from {{ ref('bad2') }}",
    )
    .unwrap();
    std::fs::write(
        dir.join("models/marts/bad2.sql"),
        "select * from {{ ref('bad') }}",
    )
    .unwrap();
    let e = engine::list(&opts(&dir)).unwrap_err().to_string();
    assert!(
        e.contains("Found a cycle") && e.contains("model.jaffle.bad"),
        "{e}"
    );
}
