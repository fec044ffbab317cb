//! Microbatch incremental models (issue 17): the real binary builds the
//! engine's `microbatch` fixture (daily batches over a seed's events, one
//! day made to fail through `FAIL_DAY`) in four steps: a three-day backfill
//! with a failing day (partial success), `retry` (only that day runs
//! again), an incremental run (the lookback's batches), and a full refresh
//! from `begin`. Each step's exit code, statuses, `batch_results` and the
//! model's rows are checked; with dbt (`testkit::dbt`), dbt-core 1.10 +
//! dbt-duckdb runs the same steps on a copy and must give the same.

mod common;

use common::{copy_project, engine_fixture};
use std::path::Path;
use std::process::{Command, Output};

/// What one step left: exit code, (unique_id, status, batch_results) per
/// result sorted, and daily_events' rows.
type Step = (Option<i32>, Vec<(String, String, String)>, Vec<String>);

const STEPS: &[(&[&str], &str)] = &[
    (
        &[
            "build",
            "--event-time-start",
            "2024-01-01",
            "--event-time-end",
            "2024-01-04",
        ],
        "2024-01-02",
    ),
    (&["retry"], ""),
    // incremental, no window: the lookback's batches up to now
    (&["run", "--select", "daily_events"], ""),
    // full refresh, no window: from `begin` up to now
    (&["run", "--select", "yearly_events", "--full-refresh"], ""),
];

fn steps(dir: &Path, db: &Path, cmd: &dyn Fn(&[&str]) -> Command) -> Vec<Step> {
    let mut out = Vec::new();
    for (args, fail_day) in STEPS {
        let mut c = cmd(args);
        if fail_day.is_empty() {
            c.env_remove("FAIL_DAY");
        } else {
            c.env("FAIL_DAY", fail_day);
        }
        let o: Output = c.output().unwrap();
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("target/run_results.json")).unwrap(),
        )
        .unwrap_or_else(|e| panic!("{args:?}: {e}\n{}", String::from_utf8_lossy(&o.stdout)));
        let mut results: Vec<(String, String, String)> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let mut b = r["batch_results"].clone();
                // dbt lists a retry's batches in run order; compare as sets
                for k in ["successful", "failed"] {
                    if let Some(a) = b.get_mut(k).and_then(|a| a.as_array_mut()) {
                        a.sort_by_key(|x| x.to_string());
                    }
                }
                (
                    r["unique_id"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                    b.to_string(),
                )
            })
            .collect();
        results.sort();
        let conn = common::read_only(db);
        let rows: Vec<String> = conn
            .prepare("select concat_ws('|', 'daily', id, event_at, amount, batch_id) from daily_events union all select concat_ws('|', 'yearly', id, event_at, amount, batch_start) from yearly_events order by 1")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        out.push((o.status.code(), results, rows));
    }
    out
}

fn tarmac_steps(dir: &Path) -> Vec<Step> {
    let db = dir.join("microbatch.duckdb");
    steps(dir, &db, &|args| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tarmac"));
        c.args(args)
            .arg("--project-dir")
            .arg(dir)
            .arg("--profiles-dir")
            .arg(dir)
            .env("TARMAC_DB", &db);
        c
    })
}

#[test]
fn microbatch_backfill_retry_and_lookback() {
    let (_t, dir) = engine_fixture("microbatch");
    let s = tarmac_steps(&dir);
    let status = |step: &Step, id: &str| {
        step.1
            .iter()
            .find(|(u, _, _)| u == id)
            .map(|(_, st, b)| (st.clone(), b.clone()))
            .unwrap_or_else(|| panic!("{id} not in {:?}", step.1))
    };
    let day = |d: &str, e: &str| format!("[\"{d}T00:00:00+00:00\",\"{e}T00:00:00+00:00\"]");
    // the backfill: day 2 failed, days 1 and 3 built, the child skipped
    let (st, b) = status(&s[0], "model.microbatch.daily_events");
    assert_eq!(st, "partial success");
    assert_eq!(
        b,
        format!(
            "{{\"successful\":[{},{}],\"failed\":[{}]}}",
            day("2024-01-01", "2024-01-02"),
            day("2024-01-03", "2024-01-04"),
            day("2024-01-02", "2024-01-03")
        )
    );
    assert_eq!(status(&s[0], "model.microbatch.daily_totals").0, "skipped");
    assert_eq!(s[0].0, Some(1));
    assert_eq!(
        s[0].2.iter().filter(|r| r.starts_with("daily|")).count(),
        4,
        "{:?}",
        s[0].2
    );
    // retry: only day 2 again; the model is whole, its child built
    assert_eq!(s[1].0, Some(0));
    assert_eq!(status(&s[1], "model.microbatch.daily_events").0, "success");
    assert_eq!(s[1].1.len(), 2);
    assert_eq!(s[1].2.iter().filter(|r| r.starts_with("daily|")).count(), 6);
    assert!(
        s[1].2.iter().any(|r| r.ends_with("|30|20240102")),
        "{:?}",
        s[1].2
    );
    // incremental: the lookback's two batches up to now, nothing new
    let (st, b) = status(&s[2], "model.microbatch.daily_events");
    assert_eq!(st, "success");
    let today = chrono::Utc::now().date_naive();
    assert!(
        b.contains(&format!(
            "[\"{}T00:00:00+00:00\"",
            today - chrono::Duration::days(1)
        )),
        "{b}"
    );
    assert_eq!(s[2].2, s[1].2);
    // full refresh from begin (2024) to now: one batch a year
    let (_, b) = status(&s[3], "model.microbatch.yearly_events");
    assert!(b.starts_with("{\"successful\":[[\"2024-01-01T00:00:00+00:00\",\"2025-01-01T00:00:00+00:00\"],[\"2025-01-01"), "{b}");
    let yearly: Vec<&String> = s[3].2.iter().filter(|r| r.starts_with("yearly|")).collect();
    assert_eq!(yearly.len(), 7, "{yearly:?}");
    assert!(
        yearly
            .iter()
            .all(|r| r.ends_with("|2024-01-01 00:00:00+00:00")),
        "{yearly:?}"
    );
}

#[test]
fn microbatch_matches_dbt() {
    let Some(dbt) = testkit::dbt("microbatch_matches_dbt") else {
        return;
    };
    let (_t, dir) = engine_fixture("microbatch");
    let dbt_dir = dir.parent().unwrap().join("dbt").join("microbatch");
    copy_project(&dir, &dbt_dir);
    let ours = tarmac_steps(&dir);
    let db = dbt_dir.join("microbatch.duckdb");
    let theirs = steps(&dbt_dir, &db, &|args| {
        let mut c = testkit::dbt_command(&dbt, &dbt_dir, args);
        c.env("TARMAC_DB", &db);
        c
    });
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(
            a, b,
            "step {i} {:?}: tarmac (left), dbt (right)",
            STEPS[i].0
        );
    }
}

const SAMPLE: &str = "{start: 2024-01-02 00:00:00, end: 2024-01-03 12:00:00}";

/// `build --sample` in `dir`: every relation's rows (read with DuckDB)
/// and the sampled view's compiled SQL.
fn sampled(dir: &Path, cmd: &dyn Fn(&[&str]) -> Command) -> (Vec<String>, String) {
    let o = cmd(&["build", "--sample", SAMPLE]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let conn = common::read_only(dir.join("microbatch.duckdb"));
    let mut rows = Vec::new();
    for t in [
        "stg_events",
        "daily_events",
        "yearly_events",
        "daily_totals",
    ] {
        let mut st = conn
            .prepare(&format!(
                "select cast(columns(*) as varchar) from {t} order by all"
            ))
            .unwrap();
        let n = st.column_count();
        let mut q = st.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let vals: Vec<String> = (0..n)
                .map(|i| r.get::<_, Option<String>>(i).unwrap().unwrap_or_default())
                .collect();
            rows.push(format!("{t}: {}", vals.join("|")));
        }
    }
    let sql = std::fs::read_to_string(dir.join("target/compiled/microbatch/models/stg_events.sql"))
        .unwrap();
    (rows, sql)
}

fn tarmac_cmd(dir: &Path) -> impl Fn(&[&str]) -> Command + '_ {
    move |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tarmac"));
        c.args(args)
            .arg("--project-dir")
            .arg(dir)
            .arg("--profiles-dir")
            .arg(dir)
            .env("TARMAC_DB", dir.join("microbatch.duckdb"))
            .env_remove("FAIL_DAY");
        c
    }
}

#[test]
fn sample_reads_only_the_window() {
    let (_t, dir) = engine_fixture("microbatch");
    let (rows, sql) = sampled(&dir, &tarmac_cmd(&dir));
    assert!(
        sql.contains("where event_at >= '2024-01-02 00:00:00+00:00' and event_at < '2024-01-03 12:00:00+00:00'"),
        "{sql}"
    );
    // ids 4, 5 and 6 fall in the window, in every relation
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("stg_events:")).count(),
        3,
        "{rows:?}"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.starts_with("daily_events:"))
            .count(),
        3,
        "{rows:?}"
    );
    let bad = tarmac_cmd(&dir)(&["run", "--sample", "3 weeks"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Invalid grain size 'weeks'"));
}

#[test]
fn sample_matches_dbt() {
    let Some(dbt) = testkit::dbt("sample_matches_dbt") else {
        return;
    };
    let (_t, dir) = engine_fixture("microbatch");
    let dbt_dir = dir.parent().unwrap().join("dbt").join("microbatch");
    copy_project(&dir, &dbt_dir);
    let ours = sampled(&dir, &tarmac_cmd(&dir));
    let theirs = sampled(&dbt_dir, &|args| {
        let mut c = testkit::dbt_command(&dbt, &dbt_dir, args);
        c.env("TARMAC_DB", dbt_dir.join("microbatch.duckdb"))
            .env_remove("FAIL_DAY");
        c
    });
    assert_eq!(ours.0, theirs.0, "relations: tarmac (left), dbt (right)");
    assert_eq!(ours.1, theirs.1, "compiled SQL: tarmac (left), dbt (right)");
}
