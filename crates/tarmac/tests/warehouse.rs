//! The flight warehouse end to end: `tarmac init`, `tarmac ingest import`
//! of the shared archive, `tarmac build` with no flags, and the figures the
//! warehouse holds against figures computed without Tarmac.
//!
//! Expected figures: the golden files in `tests/golden/warehouse/` were
//! written by `bench/warehouse_figures.py` (Python standard library only:
//! csv + ast, no Tarmac code) from the same CSV files. Where `python3` is on
//! the PATH the test also runs the script itself, so `TARMAC_ARCHIVE=DIR`
//! checks another archive of the same kind.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{json, Map, Value};

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/warehouse");

fn archive() -> Option<(PathBuf, bool)> {
    if let Some(p) = std::env::var_os("TARMAC_ARCHIVE") {
        return Some((PathBuf::from(p), false));
    }
    shared_archive().map(|p| (p, true))
}

fn script_figures(paths: &[&Path]) -> Option<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/warehouse_figures.py");
    let out = match Command::new("python3")
        .arg(&script)
        .arg("--json")
        .args(paths)
        .output()
    {
        Ok(o) => o,
        Err(e) => {
            eprintln!("python3 not available ({e}): checking against the golden figures only");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("script prints JSON"))
}

fn golden(name: &str) -> Value {
    let path = Path::new(GOLDEN).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON")
}

fn rows(conn: &duckdb::Connection, sql: &str) -> Vec<(String, i64)> {
    let mut stmt = conn.prepare(sql).expect(sql);
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect(sql)
        .collect::<Result<_, _>>()
        .expect(sql)
}

/// The same figures, read from the warehouse Tarmac built.
fn warehouse_figures(dir: &Path) -> Value {
    let conn = common::read_only(dir.join("tarmac.duckdb"));
    let one = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
    let map = |pairs: Vec<(String, i64)>| -> Value {
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect::<Map<_, _>>(),
        )
    };
    let movements = one("SELECT count(*) FROM silver.flights");
    let observations = one("SELECT sum(observations) FROM silver.flights")
        + one("SELECT count(*) FROM silver.quarantine_flights");
    let historical_quarantine =
        one("SELECT count(*) FROM bronze.quarantine WHERE landing_file LIKE '%historical/%'");
    let rejected = historical_quarantine + one("SELECT count(*) FROM silver.quarantine_flights");
    json!({
        "files": one("SELECT count(DISTINCT source_sha256) FROM bronze.landed_files WHERE source = 'archive'"),
        "records": observations + historical_quarantine,
        "rejected": rejected,
        "observations": observations,
        "movements": movements,
        "collapsed": observations - movements,
        "movements_seen_more_than_once": one("SELECT count(*) FROM silver.flights WHERE observations > 1"),
        "by_status": map(rows(&conn, "SELECT coalesce(status, 'NULL'), count(*) FROM gold.fct_flight_movements GROUP BY 1 ORDER BY 1")),
        "by_direction": map(rows(&conn, "SELECT direction, count(*) FROM gold.fct_flight_movements GROUP BY 1 ORDER BY 1")),
        "airports": one("SELECT count(*) FROM gold.airports"),
        "airlines": one("SELECT count(*) FROM gold.dim_airline WHERE airline_key <> 'unknown'"),
        "aircraft_models": one("SELECT count(DISTINCT aircraft_model) FROM gold.dim_aircraft"),
        "registrations": one("SELECT count(DISTINCT aircraft_reg) FROM gold.dim_aircraft"),
    })
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn archive_figures_match_an_independent_computation_and_never_change() {
    let Some((archive, shared)) = archive() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    ok(tarmac(dir).arg("init"));
    assert!(dir.join("tarmac.toml").is_file());
    assert!(dir.join("warehouse/dbt_project.yml").is_file());

    ok(tarmac(dir).args(["ingest", "import"]).arg(&archive));
    // no flags: tarmac.toml's [warehouse] project, and its path reaches the profile
    ok(tarmac(dir).arg("build"));
    let built = warehouse_figures(dir);
    if shared {
        assert_eq!(
            built,
            golden("figures_bog.json"),
            "against the golden figures"
        );
    }
    if let Some(expected) = script_figures(&[&archive]) {
        assert_eq!(built, expected, "against bench/warehouse_figures.py");
    }
    let movements = built["movements"].as_i64().unwrap_or(0);
    assert!(movements > 0);
    // the old tables hold one row per movement now
    assert_eq!(
        query_i64(dir, "SELECT count(*) FROM gold.status"),
        movements
    );
    assert_eq!(
        query_i64(dir, "SELECT count(DISTINCT id) FROM gold.time"),
        movements
    );
    assert_eq!(
        query_i64(dir, "SELECT count(*) FROM gold.fct_flight_movements"),
        movements
    );
    // real NULLs, never the string 'nan'
    assert_eq!(
        query_i64(dir, "SELECT count(*) FROM silver.flights WHERE 'nan' IN (call_sign, gate, aircraft_reg, airport_iata, airline_iata)"),
        0
    );

    // importing the same files again, and building again, changes nothing
    ok(tarmac(dir).args(["ingest", "import"]).arg(&archive));
    ok(tarmac(dir).arg("build"));
    assert_eq!(warehouse_figures(dir), built, "a second import and build");

    if !shared {
        return;
    }
    // The same day under the other file-name style, with 40 statuses
    // advanced: a second observation of each of its movements. The
    // incremental build collapses them by the documented rule.
    let extra = tmp.path().join("extra");
    std::fs::create_dir(&extra).expect("mkdir");
    let day = std::fs::read_to_string(archive.join("2024-08-12.csv")).expect("read");
    std::fs::write(
        extra.join("2024_08_12.csv"),
        day.replacen(",Unknown,Unknown,", ",Departed,Unknown,", 40),
    )
    .expect("write");
    ok(tarmac(dir).args(["ingest", "import"]).arg(&extra));
    ok(tarmac(dir).arg("build"));
    let incremental = warehouse_figures(dir);
    assert_eq!(incremental, golden("figures_bog_second_observation.json"));
    if let Some(expected) = script_figures(&[&archive, &extra]) {
        assert_eq!(incremental, expected, "against bench/warehouse_figures.py");
    }
    assert_eq!(incremental["movements"], built["movements"]);

    // a full rebuild gives the same silver and gold as the incremental one
    let digest = |dir: &Path| {
        ["silver.flights", "gold.fct_flight_movements", "gold.dim_airport", "gold.status"]
            .map(|t| {
                query_i64(
                    dir,
                    &format!("SELECT CAST(count(*) + sum(hash(t::VARCHAR) % 1000003) AS BIGINT) FROM {t} AS t"),
                )
            })
    };
    let before = digest(dir);
    ok(tarmac(dir).args(["build", "--full-refresh"]));
    assert_eq!(
        digest(dir),
        before,
        "full refresh equals the incremental build"
    );
}

#[test]
fn up_builds_and_tests_the_warehouse_from_the_simulator() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // no tarmac.toml, no key, no network: the simulator, and the project is written
    let stdout = ok(tarmac(dir).args(["up", "--days", "2"]));
    assert!(dir.join("warehouse/dbt_project.yml").is_file(), "{stdout}");
    assert!(stdout.contains("no FLIGHTLABS_ACCESS_KEY"), "{stdout}");
    for needle in [
        "bronze",
        "silver",
        "gold",
        "fct_flight_movements",
        "models 15 built, 0 failed",
    ] {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    let movements = query_i64(dir, "SELECT count(*) FROM silver.flights");
    let observations = query_i64(dir, "SELECT sum(observations) FROM silver.flights");
    assert!(movements > 100, "{movements}");
    assert_eq!(
        observations + query_i64(dir, "SELECT count(*) FROM silver.quarantine_flights"),
        bronze_records(dir)
    );
    // `tarmac test` with no flags tests the configured project
    let tests = ok(tarmac(dir).arg("test"));
    assert!(tests.contains("ERROR=0"), "{tests}");
    // freshness passes on what `up` just ingested; the real-time source is
    // declared but empty (no real-time poll yet): a warning, not a failure
    let fresh = ok(tarmac(dir).args(["source", "freshness"]));
    for needle in [
        "PASS freshness of bronze.flightlabs_historical",
        "PASS freshness of bronze.landed_files",
        "WARN freshness of realtime.real_time_planes",
        "PASS=2 WARN=1 ERROR=0",
    ] {
        assert!(fresh.contains(needle), "{needle} missing from:\n{fresh}");
    }

    // a failing test fails `up`, which names it
    std::fs::write(
        dir.join("warehouse/tests/always_fails.sql"),
        "select 1 as broken\n",
    )
    .expect("write");
    let out = run(tarmac(dir).args(["up", "--no-ingest"]));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("failed: test always_fails"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(dir.join("warehouse/tests/always_fails.sql")).expect("remove");

    // a second run ingests nothing new and changes no figure (unless the
    // UTC date turned in between, which brings a new day)
    let records = bronze_records(dir);
    ok(tarmac(dir).args(["up", "--days", "2"]));
    if bronze_records(dir) == records {
        assert_eq!(
            query_i64(dir, "SELECT count(*) FROM silver.flights"),
            movements
        );
        assert_eq!(
            query_i64(dir, "SELECT sum(observations) FROM silver.flights"),
            observations
        );
    }
}
