//! One writer, many readers (issue 18): the real binary against a warehouse
//! held by another process, a damaged warehouse and its fix, an atomic
//! replay past a truncated landing file.
//!
//! The "other process" holding DuckDB's lock is this test process: it opens
//! the file with DuckDB directly (a check independent of the warehouse
//! crate), so the child sees a lock held by a foreign pid.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const FAST: &str =
    "[flightlabs]\nrate_limit = \"1000/1\"\nbackoff_seconds = 0.02\nconcurrency = 8\n";

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A warehouse with three days of BOG in bronze, landed from the simulator.
fn ingested(dir: &Path) -> i64 {
    write_config(dir, FAST);
    let api = MockApi::start(&[], &[]);
    let out = run(against(dir, &api, "k").args([
        "ingest",
        "batch",
        "--airport",
        "BOG",
        "--from",
        "2024-08-01",
        "--to",
        "2024-08-03",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let n = bronze_records(dir);
    assert!(n > 1000, "{n}");
    n
}

/// Holds DuckDB's lock on `db` from this process for `hold`.
fn hold(db: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let conn = duckdb::Connection::open(db).expect("the file is free");
    std::thread::spawn(move || {
        std::thread::sleep(hold);
        drop(conn);
    })
}

#[test]
fn a_writer_waits_for_the_holder_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let before = ingested(dir.path());
    let held = hold(
        &dir.path().join("tarmac.duckdb"),
        Duration::from_millis(1500),
    );
    let t = Instant::now();
    let out = run(tarmac(dir.path()).args(["ingest", "replay"]));
    held.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(t.elapsed() >= Duration::from_millis(1000), "it waited");
    let err = stderr(&out);
    let me = std::process::id().to_string();
    assert!(
        err.contains("is held by another process (pid ") && err.contains(&me),
        "the wait names the holder's pid: {err}"
    );
    assert!(
        err.contains("waited "),
        "the end of the wait is told: {err}"
    );
    assert_eq!(bronze_records(dir.path()), before);
}

#[test]
fn a_wait_past_its_bound_exits_75_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    ingested(dir.path());
    let held = hold(&dir.path().join("tarmac.duckdb"), Duration::from_secs(4));
    let out = run(tarmac(dir.path())
        .env("TARMAC_LOCK_WAIT", "1")
        .args(["ingest", "status"]));
    held.join().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("is locked by another process (pid ")
            && err.contains(&std::process::id().to_string()),
        "{err}"
    );
    assert!(!err.contains("profiles.yml"), "{err}");
}

#[test]
fn build_waits_too_and_exits_75_not_2_past_the_bound() {
    let (_d, project) = engine_fixture("jaffle");
    let db = project.join("jaffle.duckdb");
    let out = in_project(&project, &db, &["seed"]);
    assert!(out.status.success(), "{}", text(&out));
    // within the bound: waits, then builds
    let held = hold(&db, Duration::from_millis(1200));
    let out = in_project(&project, &db, &["build"]);
    held.join().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("waited "), "{}", text(&out));
    // past it: 75, which the orchestrator's default policy retries
    let held = hold(&db, Duration::from_secs(4));
    let out = std::process::Command::new(BIN)
        .args(["build", "--project-dir"])
        .arg(&project)
        .arg("--profiles-dir")
        .arg(&project)
        .env("TARMAC_DB", &db)
        .env("TARMAC_LOCK_WAIT", "1")
        .current_dir(&project)
        .output()
        .unwrap();
    held.join().unwrap();
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        stderr(&out).contains("locked by another process"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_cut_warehouse_stops_writers_and_replay_into_a_new_file_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let before = ingested(dir.path());
    let db = dir.path().join("tarmac.duckdb");
    {
        // make the file big enough to have data blocks, then cut it in half
        let conn = duckdb::Connection::open(&db).unwrap();
        conn.execute_batch("CHECKPOINT").unwrap();
    }
    let len = std::fs::metadata(&db).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&db)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    for args in [&["ingest", "status"][..], &["ingest", "replay"][..]] {
        let out = run(tarmac(dir.path()).args(args));
        assert_eq!(out.status.code(), Some(65), "{args:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains("is damaged") && err.contains("tarmac ingest replay --into"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::metadata(&db).unwrap().len(),
        len / 2,
        "nothing wrote to it"
    );
    // the fix the message names
    let fresh = dir.path().join("new.duckdb");
    let out = run(tarmac(dir.path()).args(["ingest", "replay", "--into", "new.duckdb"]));
    assert!(out.status.success(), "{}", text(&out));
    std::fs::rename(&fresh, &db).unwrap();
    assert_eq!(bronze_records(dir.path()), before);
    let out = run(tarmac(dir.path()).args(["ingest", "status"]));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn replay_past_a_truncated_landing_file_keeps_bronze_and_later_ingests_work() {
    let dir = tempfile::tempdir().unwrap();
    let before = ingested(dir.path());
    let victim = files(&dir.path().join("landing"))
        .into_iter()
        .find(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".json.zst") && n.contains("date=2024-08-02") && n.contains("window=1200")
        })
        .expect("a body of 2024-08-02");
    let len = std::fs::metadata(&victim).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_len(len / 2)
        .unwrap();

    for args in [
        &["ingest", "replay"][..],
        &[
            "ingest",
            "replay",
            "--from",
            "2024-08-02",
            "--to",
            "2024-08-02",
        ][..],
    ] {
        let out = run(tarmac(dir.path()).args(args));
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert_eq!(
            bronze_records(dir.path()),
            before,
            "{args:?}: bronze is never emptier than before"
        );
    }
    // quarantined with its reason, out of the landing tree
    assert!(!victim.exists());
    let rejected = files(&dir.path().join("landing/_rejected/landing"));
    assert!(
        rejected
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".json.zst")),
        "{rejected:?}"
    );
    let reason = rejected
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".reason.txt"))
        .expect("a reason file");
    let why = std::fs::read_to_string(reason).unwrap();
    assert!(why.contains("does not decompress"), "{why}");
    assert_eq!(
        query_i64(
            dir.path(),
            "SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\\_replay%' ESCAPE '\\'"
        ),
        0,
        "nothing set aside is left behind"
    );
    // later ingests keep working
    let out = run(tarmac(dir.path()).args(["ingest", "status"]));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_replay_cut_short_is_put_back_by_the_next_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let before = ingested(dir.path());
    // what a replay killed after setting rows aside leaves: the rows of
    // 2024-08-02 moved to bronze._replay_* and the state row
    {
        let conn = duckdb::Connection::open(dir.path().join("tarmac.duckdb")).unwrap();
        conn.execute_batch(
            "BEGIN;
             CREATE TABLE bronze._replay_state (started_at TIMESTAMP);
             INSERT INTO bronze._replay_state VALUES (current_timestamp);
             CREATE TABLE bronze._replay_files AS SELECT landing_file FROM bronze.landed_files WHERE flight_date = '2024-08-02';
             CREATE TABLE bronze._replay_flightlabs_historical AS SELECT * FROM bronze.flightlabs_historical WHERE flight_date = '2024-08-02';
             DELETE FROM bronze.flightlabs_historical WHERE flight_date = '2024-08-02';
             CREATE TABLE bronze._replay_quarantine AS SELECT * FROM bronze.quarantine WHERE flight_date = '2024-08-02';
             DELETE FROM bronze.quarantine WHERE flight_date = '2024-08-02';
             CREATE TABLE bronze._replay_landed_files AS SELECT * FROM bronze.landed_files WHERE flight_date = '2024-08-02';
             DELETE FROM bronze.landed_files WHERE flight_date = '2024-08-02';
             CREATE TABLE bronze._replay_flightlabs_positions AS SELECT * FROM bronze.flightlabs_positions WHERE poll_date = '2024-08-02';
             DELETE FROM bronze.flightlabs_positions WHERE poll_date = '2024-08-02';
             COMMIT;",
        )
        .unwrap();
    }
    assert!(bronze_records(dir.path()) < before);
    let out = run(tarmac(dir.path()).args(["ingest", "status"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bronze_records(dir.path()), before);
    assert!(
        query_i64(
            dir.path(),
            "SELECT count(*) FROM bronze.flightlabs_historical WHERE flight_date = '2024-08-02'"
        ) > 0
    );
}

#[test]
fn a_50_mb_one_line_csv_gets_a_short_error() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), FAST);
    let csv = dir.path().join("2024-08-12.csv");
    // one header line of 50 MB: an unknown column name that long
    let mut line = vec![b'x'; 50 * 1024 * 1024];
    line.push(b'\n');
    std::fs::write(&csv, &line).unwrap();
    let out = run(tarmac(dir.path()).args(["ingest", "import"]).arg(&csv));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        out.stderr.len() < 4096 && out.stdout.len() < 4096,
        "stderr {} bytes, stdout {} bytes: {}",
        out.stderr.len(),
        out.stdout.len(),
        String::from_utf8_lossy(&out.stderr[..out.stderr.len().min(600)])
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bytes in all"),
        "the cut is said: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
