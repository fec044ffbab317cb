//! Batch and delta ingestion against the real `tarmac mock-api` process.

mod common;

use std::path::Path;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use common::*;
use flightlabs::Direction;
use simulator::DayShape;

const FAST: &str =
    "[flightlabs]\nrate_limit = \"1000/1\"\nbackoff_seconds = 0.02\nconcurrency = 8\n";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Records the simulator serves for these days of BOG, both directions, in
/// the day shape the test's `mock-api` was given.
fn expected(seed: u64, shape: DayShape, from: NaiveDate, to: NaiveDate) -> i64 {
    let today = Utc::now().date_naive();
    let mut n = 0;
    let mut d = from;
    while d <= to {
        for dir in Direction::ALL {
            n += simulator::historical_day_shaped(seed, shape, "BOG", dir, d, today)
                .expect("BOG is known")
                .len() as i64;
        }
        d = d.succ_opt().unwrap();
    }
    n
}

fn bodies(dir: &Path) -> usize {
    files(&dir.join("landing"))
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".json.zst") && !name.starts_with('.')
        })
        .count()
}

/// `tarmac ingest batch` for BOG over `from..=to` (YYYY-MM-DD).
fn batch_bog<'a>(from: &'a str, to: &'a str) -> [&'a str; 8] {
    [
        "ingest",
        "batch",
        "--airport",
        "BOG",
        "--from",
        from,
        "--to",
        to,
    ]
}

#[test]
fn batch_lands_loads_and_reruns_add_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), FAST);
    let api = MockApi::start(&["--day-shape", "realistic"], &[]);
    let args = batch_bog("2024-08-01", "2024-08-03");
    let out = run(against(dir.path(), &api, "k").args(args));
    assert!(out.status.success(), "{}", text(&out));
    let want = expected(
        42,
        DayShape::Realistic,
        day("2024-08-01"),
        day("2024-08-03"),
    );
    assert!(
        want > 2500,
        "the simulator serves a realistic volume: {want}"
    );
    assert_eq!(bronze_records(dir.path()), want);
    // A realistic day has mornings: the 00:00–11:59 window carries traffic
    // (the archive's afternoon-only days have next to none).
    let morning = query_i64(
        dir.path(),
        "SELECT count(*) FROM bronze.flightlabs_historical \
         WHERE substr(json_extract_string(record, '$.movement.scheduledTime.local'), 12, 2) < '12'",
    );
    let share = morning as f64 / want as f64;
    assert!(
        (0.35..=0.5).contains(&share),
        "{morning} of {want} in the morning"
    );
    assert_eq!(bodies(dir.path()), 12, "3 days x 2 directions x 2 windows");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 days fetched"),
        "{}",
        text(&out)
    );

    // again: nothing fetched, nothing added
    let out = run(against(dir.path(), &api, "k").args(args));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 days fetched, 3 already landed"),
        "{}",
        text(&out)
    );
    assert_eq!(bronze_records(dir.path()), want);

    // replay from landing alone gives the same bronze
    let out = run(tarmac(dir.path()).args(["ingest", "replay"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bronze_records(dir.path()), want);

    // --force fetches again: new observations, kept with their own provenance
    let out = run(against(dir.path(), &api, "k").args(args).arg("--force"));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bodies(dir.path()), 24);
    assert_eq!(bronze_records(dir.path()), 2 * want);
    assert_eq!(
        query_i64(dir.path(), "SELECT count(*) FROM (SELECT DISTINCT landing_file, record_index FROM bronze.flightlabs_historical)"),
        2 * want
    );

    let out = run(tarmac(dir.path()).args(["ingest", "status"]));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        s.contains("BOG: 3 days landed from the API, 2024-08-01 .. 2024-08-03"),
        "{s}"
    );
}

#[test]
fn daily_mode_gives_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &format!("{FAST}historical_mode = \"daily\"\n"));
    let api = MockApi::start(&["--day-shape", "archive"], &[]);
    let out = run(against(dir.path(), &api, "k").args(batch_bog("2024-08-01", "2024-08-02")));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bodies(dir.path()), 4);
    assert_eq!(
        bronze_records(dir.path()),
        expected(42, DayShape::Archive, day("2024-08-01"), day("2024-08-02"))
    );
}

#[test]
fn faults_are_retried_and_every_day_lands() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        &format!("{FAST}max_retries = 12\ntimeout_seconds = 1.0\n"),
    );
    let api = MockApi::start(
        &[
            "--seed",
            "7",
            "--faults",
            "429=0.15,500=0.1,truncate=0.05,reset=0.05,timeout=0.05,malformed_json=0.05,malformed_record=0.02",
            "--timeout-delay",
            "10",
            "--day-shape",
            "archive",
        ],
        &[],
    );
    let out = run(against(dir.path(), &api, "k").args(batch_bog("2024-08-01", "2024-08-05")));
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("5 days fetched"), "{}", text(&out));
    assert!(
        !stdout.contains("(0 retries)"),
        "faults cause retries: {}",
        text(&out)
    );
    let (records, bad) = (bronze_records(dir.path()), quarantined(dir.path()));
    assert!(bad > 0, "malformed records are quarantined");
    assert_eq!(
        records + bad,
        expected(7, DayShape::Archive, day("2024-08-01"), day("2024-08-05")),
        "nothing lost"
    );
    let reasons = query_i64(
        dir.path(),
        "SELECT count(*) FROM bronze.quarantine WHERE reason NOT IN ('missing `number`', 'missing `movement.scheduledTime.utc`', 'record is not a JSON object')",
    );
    assert_eq!(reasons, 0);
    let out = run(tarmac(dir.path()).args(["ingest", "status"]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("BOG: 5 days landed"),
        "{}",
        text(&out)
    );
}

#[test]
fn refused_key_stops_at_once_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), FAST);
    let api = MockApi::start(&[], &[("TARMAC_MOCK_ACCESS_KEY", "the-right-key")]);
    let out =
        run(against(dir.path(), &api, "wrong-key-123").args(batch_bog("2024-08-01", "2024-08-10")));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{}", text(&out));
    assert!(
        lines[0].contains("refused the access key"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("wrong-key-123"));
    assert_eq!(bodies(dir.path()), 0);
}

#[test]
fn access_key_appears_nowhere() {
    let key = "TARMAC-SECRET-7f3a9c";
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), FAST);
    let api = MockApi::start(
        &["--faults", "500=0.2,truncate=0.1,malformed_record=0.05"],
        &[("TARMAC_MOCK_ACCESS_KEY", key)],
    );
    let mut all = String::new();
    for args in [
        vec![
            "-vv",
            "ingest",
            "batch",
            "--airport",
            "BOG",
            "--from",
            "2024-08-01",
            "--to",
            "2024-08-02",
        ],
        vec![
            "-vv",
            "ingest",
            "batch",
            "--airport",
            "XXX",
            "--from",
            "2024-08-01",
            "--to",
            "2024-08-01",
        ],
        vec!["-vv", "ingest", "delta", "--airport", "MDE"],
    ] {
        all.push_str(&text(&run(against(dir.path(), &api, key).args(&args))));
    }
    // and a wrong key, whose refusal must not quote it either
    all.push_str(&text(&run(against(
        dir.path(),
        &api,
        "TARMAC-SECRET-wrong",
    )
    .args(batch_bog("2024-08-03", "2024-08-03")))));
    assert!(all.contains("2024-08-01"), "the commands ran: {all}");
    assert!(!all.contains("TARMAC-SECRET"), "{all}");
    for f in files(dir.path()) {
        let mut bytes = std::fs::read(&f).unwrap();
        if f.to_string_lossy().ends_with(".zst") {
            bytes = zstd::decode_all(&bytes[..]).unwrap();
        }
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains("TARMAC-SECRET"),
            "{} holds the key",
            f.display()
        );
    }
    assert_eq!(
        query_i64(
            dir.path(),
            "SELECT count(*) FROM bronze.landed_files WHERE request LIKE '%access_key=***%'"
        ),
        8,
        "2 days x 2 directions x 2 windows, each with its redacted request"
    );
}

#[test]
fn bad_arguments_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), FAST);
    let api = MockApi::start(&[], &[]);
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--airport",
                "BOG",
                "--from",
                "2024-08-05",
                "--to",
                "2024-08-01",
            ],
            "--from 2024-08-05 is after --to 2024-08-01",
        ),
        (
            &[
                "--airport",
                "B0G",
                "--from",
                "2024-08-01",
                "--to",
                "2024-08-01",
            ],
            "unknown airport code",
        ),
        (
            &[
                "--airport",
                "BOG",
                "--from",
                "2024-08-01",
                "--to",
                "2024-13-01",
            ],
            "invalid value",
        ),
        (
            &[
                "--airport",
                "XXX",
                "--from",
                "2024-08-01",
                "--to",
                "2024-08-01",
            ],
            "invalid_airport",
        ),
    ];
    for (args, want) in cases {
        let out = run(against(dir.path(), &api, "k")
            .args(["ingest", "batch"])
            .args(args));
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(want), "{args:?}: {}", text(&out));
    }
    assert_eq!(bodies(dir.path()), 0);
    // no key and no simulator
    let out = run(tarmac(dir.path()).args(batch_bog("2024-08-01", "2024-08-01")));
    assert!(
        text(&out).contains("FLIGHTLABS_ACCESS_KEY"),
        "{}",
        text(&out)
    );
}

#[test]
fn delta_continues_from_the_last_landed_day() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), FAST);
    let api = MockApi::start(&[], &[]);
    let out = run(against(dir.path(), &api, "k").args(["ingest", "delta", "--airport", "BOG"]));
    assert!(!out.status.success());
    assert!(
        text(&out).contains("tarmac ingest batch --airport BOG"),
        "{}",
        text(&out)
    );

    let today = Utc::now().date_naive();
    let from = (today - chrono::Duration::days(4)).to_string();
    let to = (today - chrono::Duration::days(3)).to_string();
    let out = run(against(dir.path(), &api, "k").args([
        "ingest",
        "batch",
        "--airport",
        "BOG",
        "--from",
        &from,
        "--to",
        &to,
    ]));
    assert!(out.status.success(), "{}", text(&out));
    let out = run(against(dir.path(), &api, "k").args(["ingest", "delta", "--airport", "BOG"]));
    assert!(out.status.success(), "{}", text(&out));
    // the last landed day again, then the three days after it up to today
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("4 days fetched"),
        "{}",
        text(&out)
    );
    let out = run(tarmac(dir.path()).args(["ingest", "status"]));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("5 days landed from the API, {from} .. {today}")),
        "{}",
        text(&out)
    );
}

#[test]
fn killed_batch_resumes_to_the_same_bronze() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[flightlabs]\nrate_limit = \"10/1\"\nconcurrency = 4\n",
    );
    let api = MockApi::start(&["--day-shape", "archive"], &[]);
    let args = batch_bog("2024-09-01", "2024-09-08");
    let mut child = against(dir.path(), &api, "k")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until some windows have landed, then SIGKILL: no chance to clean up
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while bodies(dir.path()) < 6 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = bodies(dir.path());
    assert!(
        partial > 0 && partial < 32,
        "killed halfway: {partial} bodies"
    );

    let out = run(against(dir.path(), &api, "k").args(args));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bodies(dir.path()), 32, "each window landed exactly once");
    let want = expected(42, DayShape::Archive, day("2024-09-01"), day("2024-09-08"));
    assert_eq!(bronze_records(dir.path()), want);
    assert_eq!(
        query_i64(dir.path(), "SELECT count(*) FROM (SELECT DISTINCT landing_file, record_index FROM bronze.flightlabs_historical)"),
        want
    );
}

/// A batch killed with SIGKILL at 20 spread-out moments (before the
/// warehouse opens, mid-fetch, mid-landing, mid-commit), each time rerun to
/// the end, gives exactly the landing zone and the bronze of an
/// uninterrupted run: each window's body once, under the same name.
#[test]
fn a_batch_killed_at_any_moment_resumes_to_the_same_bronze() {
    let tmp = tempfile::tempdir().unwrap();
    let api = MockApi::start(&["--day-shape", "archive"], &[]);
    let args = batch_bog("2024-09-01", "2024-09-04");
    let prepare = |name: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        write_config(
            &dir,
            "[flightlabs]\nrate_limit = \"20/1\"\nconcurrency = 4\n",
        );
        dir
    };
    let reference = prepare("reference");
    let started = std::time::Instant::now();
    let out = run(against(&reference, &api, "k").args(args));
    let full = started.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    let expected = bronze_digest(&reference);
    let expected_bodies = landed_bodies(&reference);
    assert_eq!(expected_bodies.len(), 16);

    const KILLS: usize = 20;
    let budget = Duration::from_secs(300);
    let mut rng = Lcg(0xba7c);
    let mut interrupted = 0;
    for trial in 0..KILLS {
        assert!(
            started.elapsed() < budget,
            "the kill test ran out of its time budget after {trial} kills"
        );
        let dir = prepare(&format!("kill-{trial}"));
        let at = full.mul_f64((trial as f64 + rng.next()) / KILLS as f64);
        let mut child = against(&dir, &api, "k")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        let partial = landed_bodies(&dir).len();
        if partial > 0 && partial < 16 {
            interrupted += 1;
        }
        let out = run(against(&dir, &api, "k").args(args));
        assert!(
            out.status.success(),
            "after a kill at {at:?}: {}",
            text(&out)
        );
        assert_eq!(landed_bodies(&dir), expected_bodies, "kill at {at:?}");
        assert_eq!(
            bronze_digest(&dir),
            expected,
            "bronze after a kill at {at:?} and a rerun differs from an uninterrupted run"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(
        interrupted > 0,
        "no kill interrupted a run after it had landed something"
    );
}

#[test]
fn provider_rate_limit_is_honoured_through_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    // our limit far above the provider's: the provider's 429 + Retry-After pace us
    write_config(
        dir.path(),
        "[flightlabs]\nrate_limit = \"1000/1\"\nconcurrency = 8\nmax_retries = 20\n",
    );
    let api = MockApi::start(&["--rate-limit", "6/1", "--day-shape", "archive"], &[]);
    let started = std::time::Instant::now();
    let out = run(against(dir.path(), &api, "k").args(batch_bog("2024-08-01", "2024-08-04")));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("(0 retries)"),
        "{}",
        text(&out)
    );
    // 16 requests at 6 per second need at least two full windows
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        bronze_records(dir.path()),
        expected(42, DayShape::Archive, day("2024-08-01"), day("2024-08-04"))
    );
}

#[test]
fn a_body_that_never_parses_is_kept_aside_and_the_day_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &format!("{FAST}max_retries = 1\n"));
    let api = MockApi::start(&["--faults", "malformed_json=1"], &[]);
    let out = run(against(dir.path(), &api, "k").args(batch_bog("2024-08-01", "2024-08-01")));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("failed: BOG 2024-08-01"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("run the same command again"),
        "{}",
        text(&out)
    );
    assert_eq!(bodies(dir.path()), 0);
    let rejected = files(&dir.path().join("landing/_rejected"));
    assert_eq!(
        rejected.len(),
        4,
        "the last body of each of the 4 calls is kept"
    );
    let ledger = std::fs::read_to_string(dir.path().join("landing/_ledger/ledger.jsonl")).unwrap();
    assert_eq!(
        ledger
            .lines()
            .filter(|l| l.contains("\"outcome\":\"rejected\""))
            .count(),
        4
    );
    let out = run(tarmac(dir.path()).args(["ingest", "status"]));
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("days landed"),
        "{}",
        text(&out)
    );
}
