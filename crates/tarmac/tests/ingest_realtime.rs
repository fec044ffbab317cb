//! `tarmac ingest realtime` against the real `tarmac mock-api` process.
//!
//! The simulator's clock is frozen (`--clock … --clock-rate 0`) where a test
//! needs exact answers: positions are a pure function of (seed, query,
//! instant), so two servers frozen a minute apart answer what two polls a
//! minute apart would.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

const FAST: &str =
    "[flightlabs]\nrate_limit = \"1000/1\"\nbackoff_seconds = 0.02\nconcurrency = 8\n";
/// 20:00 in Bogotá on 2024-08-12: the evening bank is in the air.
const T0: &str = "2024-08-13T01:00:00Z";
const T1: &str = "2024-08-13T01:01:00Z";
const KEY: &str = "sekrit-realtime-KEY-4711";

fn frozen(at: &str, faults: &str) -> MockApi {
    MockApi::start(
        &["--clock", at, "--clock-rate", "0", "--faults", faults],
        &[],
    )
}

fn once(dir: &Path, api: &MockApi, airports: &str) -> std::process::Output {
    run(against(dir, api, KEY).args(["ingest", "realtime", "--once", "--airport", airports]))
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn silver(dir: &Path) -> i64 {
    query_i64(dir, "SELECT count(*) FROM silver.real_time_planes")
}

fn positions(dir: &Path) -> i64 {
    query_i64(dir, "SELECT count(*) FROM bronze.flightlabs_positions")
}

/// Silver's content, as one number: equal sets give equal sums.
fn silver_fingerprint(dir: &Path) -> i64 {
    query_i64(
        dir,
        "SELECT coalesce(sum(hash(hex, updated, lat, lng, alt) % 1000003), 0)::BIGINT
         FROM silver.real_time_planes",
    )
}

fn assert_invariants(dir: &Path) {
    // One row per key, and every key bronze saw.
    assert_eq!(
        query_i64(
            dir,
            "SELECT count(*) - count(DISTINCT (hex, updated)) FROM silver.real_time_planes"
        ),
        0,
        "duplicate positions in silver"
    );
    assert_eq!(
        silver(dir),
        query_i64(
            dir,
            "SELECT count(DISTINCT (hex, updated)) FROM bronze.flightlabs_positions"
        )
    );
    // latest_positions: one row per aircraft, its newest signal.
    assert_eq!(
        query_i64(dir, "SELECT count(*) FROM silver.latest_positions"),
        query_i64(
            dir,
            "SELECT count(DISTINCT hex) FROM silver.real_time_planes"
        )
    );
    assert_eq!(
        query_i64(
            dir,
            "SELECT count(*) FROM silver.latest_positions l
             JOIN (SELECT hex, max(updated) AS m FROM silver.real_time_planes GROUP BY hex) x
               ON x.hex = l.hex AND x.m <> l.updated"
        ),
        0
    );
    // updated_timestamp is the signal time, with a time zone.
    assert_eq!(
        query_i64(
            dir,
            "SELECT count(*) FROM silver.real_time_planes
             WHERE updated_timestamp <> to_timestamp(updated)"
        ),
        0
    );
    assert_eq!(
        query_i64(
            dir,
            "SELECT count(*) FROM information_schema.columns
             WHERE table_schema = 'silver' AND table_name = 'real_time_planes'
               AND column_name = 'updated_timestamp' AND data_type = 'TIMESTAMP WITH TIME ZONE'"
        ),
        1
    );
}

fn assert_key_nowhere(dir: &Path, outputs: &[&std::process::Output]) {
    for o in outputs {
        assert!(!text(o).contains(KEY), "key in output: {}", text(o));
    }
    for f in files(dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        let plain = if f.to_string_lossy().ends_with(".zst") {
            zstd::decode_all(&bytes[..]).unwrap_or(bytes)
        } else {
            bytes
        };
        assert!(
            !String::from_utf8_lossy(&plain).contains(KEY),
            "key in {}",
            f.display()
        );
    }
}

#[test]
fn polls_append_positions_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, FAST);
    let api0 = frozen(T0, "");

    let first = once(d, &api0, "BOG,MDE");
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        stdout(&first).contains("4 of 4 responses landed, 0 failed"),
        "{}",
        text(&first)
    );
    assert!(stdout(&first).contains("queryable"), "{}", text(&first));
    let n0 = silver(d);
    assert!(n0 > 100, "a realistic evening at BOG and MDE: {n0}");
    // A BOG-MDE flight is in BOG's departures and MDE's arrivals: one key.
    let p0 = positions(d);
    assert!(p0 >= n0 && p0 < n0 + 20, "{p0} {n0}");
    assert_invariants(d);
    // Landed raw, one body (its metadata inside) per airport and direction.
    let bodies: Vec<_> = files(&d.join("landing/flightlabs/flights"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.zst"))
        .collect();
    assert_eq!(bodies.len(), 4);
    for b in &bodies {
        let rel = b
            .strip_prefix(d.join("landing"))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        // The partition is the UTC day of the poll (real time, whatever
        // the simulated clock says), the name its instant.
        let date = rel.split("/date=").nth(1).unwrap_or_default();
        let polled = rel.split("/polled=").nth(1).unwrap_or_default();
        assert!(
            rel.starts_with("flightlabs/flights/code=")
                && polled.starts_with(&date[..10].replace('-', ""))
                && polled.ends_with("Z.json.zst"),
            "{rel}"
        );
        assert!(!Path::new(&format!("{}.meta.json", b.display())).exists());
    }

    // The same instant again: the rows land in bronze, nothing new in silver.
    let again = once(d, &api0, "BOG,MDE");
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        stdout(&again).contains(" 0 new in silver"),
        "{}",
        text(&again)
    );
    assert_eq!(positions(d), 2 * p0);
    assert_eq!(silver(d), n0);
    assert_invariants(d);

    // A minute later: airborne aircraft moved and report new positions.
    drop(api0);
    let api1 = frozen(T1, "");
    let later = once(d, &api1, "BOG,MDE");
    assert!(later.status.success(), "{}", text(&later));
    let n1 = silver(d);
    assert!(n1 > n0 + 50, "{n0} -> {n1}");
    assert_invariants(d);
    // An en-route aircraft seen in both polls is about 13 km further on.
    let moved = query_i64(
        d,
        "SELECT count(*) FROM (
             SELECT hex, max(updated) - min(updated) AS dt,
                    6371 * 2 * asin(sqrt(
                        pow(sin(radians(arg_max(lat, updated) - arg_min(lat, updated)) / 2), 2)
                        + cos(radians(arg_min(lat, updated))) * cos(radians(arg_max(lat, updated)))
                          * pow(sin(radians(arg_max(lng, updated) - arg_min(lng, updated)) / 2), 2)
                    )) AS km
             FROM silver.real_time_planes WHERE status = 'en-route'
             GROUP BY hex HAVING count(*) = 2)
         WHERE dt = 60 AND km BETWEEN 11 AND 16",
    );
    assert!(moved > 20, "{moved} aircraft moved plausibly");

    // Replay rebuilds bronze and silver from landing alone: same silver.
    let before = silver_fingerprint(d);
    let in_bronze = positions(d);
    let replay = run(tarmac(d).args(["ingest", "replay"]));
    assert!(replay.status.success(), "{}", text(&replay));
    assert_eq!(silver(d), n1);
    assert_eq!(positions(d), in_bronze);
    assert_eq!(silver_fingerprint(d), before);
    assert_invariants(d);

    let status = run(tarmac(d).args(["ingest", "status"]));
    assert!(
        stdout(&status).contains(&format!("silver.real_time_planes: {n1} positions")),
        "{}",
        text(&status)
    );
    assert_key_nowhere(d, &[&first, &again, &later, &replay, &status]);
}

#[test]
fn faults_are_retried_and_bad_records_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, FAST);
    let api = frozen(T0, "500=0.3,429=0.2,truncate=0.1,malformed_record=0.1");
    let out = once(d, &api, "BOG,MDE");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("4 of 4 responses landed"),
        "{}",
        text(&out)
    );
    let quarantined = quarantined(d);
    assert!(quarantined > 5, "{quarantined}");
    let reasons = query_i64(d, "SELECT count(DISTINCT reason) FROM bronze.quarantine");
    assert!(reasons >= 3, "{reasons} kinds of damage");
    assert_eq!(
        query_i64(
            d,
            "SELECT count(*) FROM bronze.quarantine
             WHERE landing_file LIKE 'flightlabs/flights/code=%' AND raw <> ''"
        ),
        quarantined
    );
    assert!(silver(d) > 50);
    assert_invariants(d);
    // The ledger saw every landing, and the retries.
    let ledger = std::fs::read_to_string(d.join("landing/_ledger/ledger.jsonl")).unwrap();
    assert_eq!(ledger.matches("\"outcome\":\"landed\"").count(), 4);
    assert!(
        ledger.contains("\"attempts\":2") || ledger.contains("\"attempts\":3"),
        "{ledger}"
    );
    assert_key_nowhere(d, &[&out]);
}

#[test]
fn a_poll_that_fails_after_retries_exits_1_and_is_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, &format!("{FAST}max_retries = 2\n"));
    let api = frozen(T0, "500=1.0");
    let out = once(d, &api, "BOG");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stdout(&out).contains("0 of 2 responses landed, 2 failed"),
        "{}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed: BOG departure"), "{err}");
    assert!(err.contains("HTTP 500 after 3 attempts"), "{err}");
    let ledger = std::fs::read_to_string(d.join("landing/_ledger/ledger.jsonl")).unwrap();
    assert_eq!(
        ledger.matches("\"outcome\":\"failed\"").count(),
        2,
        "{ledger}"
    );
    assert_eq!(silver(d), 0);
    assert_key_nowhere(d, &[&out]);
}

#[test]
fn a_body_that_never_parses_is_kept_aside_and_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, &format!("{FAST}max_retries = 1\n"));
    let api = frozen(T0, "malformed_json=1.0");
    let out = once(d, &api, "BOG");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let ledger = std::fs::read_to_string(d.join("landing/_ledger/ledger.jsonl")).unwrap();
    assert_eq!(
        ledger.matches("\"outcome\":\"rejected\"").count(),
        2,
        "{ledger}"
    );
    let kept: Vec<String> = std::fs::read_dir(d.join("landing/_rejected"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    for direction in ["departure", "arrival"] {
        let prefix = format!("flights-BOG-{direction}-");
        assert!(
            kept.iter()
                .any(|k| k.starts_with(&prefix) && k.ends_with(".body")),
            "{prefix}* in {kept:?}"
        );
    }
    assert_eq!(silver(d), 0);
    assert_key_nowhere(d, &[&out]);
}

/// A `tarmac ingest realtime` loop whose stdout lines arrive on a channel.
struct Loop {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Loop {
    fn start(dir: &Path, api: &MockApi, extra: &[&str]) -> Loop {
        let mut child = against(dir, api, KEY)
            .args(["ingest", "realtime", "--airport", "BOG", "--interval", "1s"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tarmac");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Loop { child, lines }
    }

    /// The next poll line, within `secs`.
    fn next_poll(&self, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no poll within {secs} s"));
            if line.contains("responses landed") {
                return line;
            }
        }
    }

    /// SIGTERM, then the exit code and stderr.
    fn terminate(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(Instant::now() < deadline, "did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_loop_polls_until_sigterm_and_waits_for_a_busy_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_config(d, FAST);
    // Simulated time runs a minute per second: every poll sees new signals.
    let api = MockApi::start(&["--clock", T0, "--clock-rate", "60"], &[]);

    let lp = Loop::start(d, &api, &[]);
    let first = lp.next_poll(30);
    assert!(first.contains("2 of 2 responses landed"), "{first}");
    // Now another process (this test) holds the warehouse: polls land but
    // cannot load, and the loop goes on.
    let held = hold_when_free(d);
    let blocked = lp.next_poll(30);
    assert!(blocked.contains("2 of 2 responses landed"), "{blocked}");
    assert!(blocked.contains("0 positions into bronze"), "{blocked}");
    drop(held);
    // The next poll loads its own files and the ones that waited.
    let resumed = lp.next_poll(30);
    assert!(!resumed.contains(" 0 positions into bronze"), "{resumed}");
    let (code, err) = lp.terminate();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("wait for the warehouse"), "{err}");

    let landed = files(&d.join("landing/flightlabs/flights"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".json.zst"))
        .count() as i64;
    assert!(landed >= 6, "{landed}");
    assert_eq!(
        query_i64(d, "SELECT count(*) FROM bronze.landed_files"),
        landed,
        "every landed poll is in bronze"
    );
    assert_invariants(d);
}

/// Opens the warehouse for writing as soon as the poller has closed it.
fn hold_when_free(d: &Path) -> duckdb::Connection {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match duckdb::Connection::open(d.join("tarmac.duckdb")) {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "warehouse never free: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
