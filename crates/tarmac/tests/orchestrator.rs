//! The orchestrator end to end: the real binary, the simulator, an SMTP sink
//! and a webhook sink started by the test on 127.0.0.1.

mod common;

use std::path::Path;

use common::*;

fn runs_json(dir: &Path) -> Vec<serde_json::Value> {
    let o = run(tarmac(dir).args(["runs", "--json", "--limit", "100"]));
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn bad_config_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[jobs.nightly]\nsteps = [\"build\"]\nschedule = \"0 25 * * *\"\n",
    );
    let o = run(tarmac(dir.path()).args(["runs"]));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "tarmac.toml:3: job `nightly`: schedule `0 25 * * *`: hour 25 is out of range 0-23"
        ),
        "{err}"
    );

    write_config(
        dir.path(),
        "[jobs.a]\nsteps = [\n  \"ingest delta\",\n  \"deploy --prod\",\n]\n",
    );
    let o = run(tarmac(dir.path()).args(["run-job", "a"]));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("tarmac.toml:4: job `a`: step `deploy --prod`: unknown step"),
        "{err}"
    );

    write_config(dir.path(), "[jobs.a]\nsteps = [\"ingest status\"]\n");
    let o = run(tarmac(dir.path()).args(["run-job", "b"]));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no job named `b` (jobs: a)"),
        "{}",
        text(&o)
    );
}

#[test]
fn run_job_runs_and_backfill_partitions() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        r#"
[jobs.day]
steps = ["ingest batch --simulator --airport BOG --mode daily", "ingest status"]
"#,
    );
    let o = run(tarmac(dir.path()).args(["run-job", "day", "--partition", "2024-08-01"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("run 1 of job `day` succeeded"),
        "{}",
        text(&o)
    );
    let o = run(tarmac(dir.path()).args([
        "backfill",
        "day",
        "--from",
        "2024-08-01",
        "--to",
        "2024-08-03",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("2024-08-01: already succeeded"), "{out}");
    assert!(
        out.contains("backfill of `day`: 2 succeeded, 0 failed, 1 skipped"),
        "{out}"
    );
    let runs = runs_json(dir.path());
    assert_eq!(runs.len(), 3);
    let parts: Vec<&str> = runs
        .iter()
        .map(|r| r["partition"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["2024-08-03", "2024-08-02", "2024-08-01"]);
    assert!(runs.iter().all(|r| r["status"] == "success"));
    // each partition's day is in bronze, once
    assert_eq!(
        query_i64(
            dir.path(),
            "SELECT count(DISTINCT flight_date) FROM bronze.flightlabs_historical"
        ),
        3
    );
    let table = run(tarmac(dir.path()).args(["runs", "--job", "day", "--limit", "1"]));
    let t = String::from_utf8_lossy(&table.stdout);
    assert!(t.starts_with("RUN  JOB  STATUS"), "{t}");
    assert!(t.contains("backfill  2024-08-03"), "{t}");
}
