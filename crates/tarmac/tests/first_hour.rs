//! What a new user meets in the first hour: final errors exit 2 at once and
//! are never retried, an unreachable host fails a day in seconds, a plan
//! says what it costs before it spends the quota, and a run says which rate
//! limit holds it back, and a SQL error in a model points into its file and
//! is final. Against the real `tarmac mock-api` process.

mod common;

use std::time::{Duration, Instant};

use common::*;

const FAST: &str =
    "[flightlabs]\nrate_limit = \"1000/1\"\nbackoff_seconds = 0.02\nconcurrency = 8\n";

fn batch<'a>(airport: &'a str, from: &'a str, to: &'a str) -> [&'a str; 8] {
    [
        "ingest",
        "batch",
        "--airport",
        airport,
        "--from",
        from,
        "--to",
        to,
    ]
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn error_lines(o: &std::process::Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.starts_with("error:") || l.starts_with("failed:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn final_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), FAST);

    // no key, no simulator
    let o = run(tarmac(dir.path()).args(batch("BOG", "2024-08-01", "2024-08-01")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(error_lines(&o).len(), 1, "{}", text(&o));
    assert!(stderr(&o).contains("FLIGHTLABS_ACCESS_KEY"), "{}", text(&o));

    // an airport the API does not know: stopped after its first answer, one line
    let api = MockApi::start(&[], &[]);
    let o = run(against(dir.path(), &api, "k").args(batch("XYZ", "2024-08-01", "2024-08-10")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let lines = error_lines(&o);
    assert_eq!(lines.len(), 1, "{}", text(&o));
    assert!(
        lines[0].contains("FlightLabs does not know the airport XYZ")
            && lines[0].contains("invalid_airport"),
        "{}",
        text(&o)
    );
    assert!(
        !stderr(&o).contains("run the same command again"),
        "{}",
        text(&o)
    );
    // at most one request per task in flight was made, not 40
    let ledger = std::fs::read_to_string(dir.path().join("landing/_ledger/ledger.jsonl"))
        .unwrap_or_default();
    assert!(ledger.lines().count() <= 8, "{ledger}");

    // a refused key
    let strict = MockApi::start(&[], &[("TARMAC_MOCK_ACCESS_KEY", "right-key")]);
    let o = run(against(dir.path(), &strict, "wrong-key").args(batch(
        "BOG",
        "2024-08-01",
        "2024-08-03",
    )));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(error_lines(&o).len(), 1, "{}", text(&o));

    // a config that does not parse
    write_config(dir.path(), "[flightlabs]\nrate_limit = \"fast\"\n");
    let o = run(against(dir.path(), &api, "k").args(batch("BOG", "2024-08-01", "2024-08-01")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("rate_limit"), "{}", text(&o));
}

#[test]
fn an_unreachable_host_fails_a_day_in_seconds_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "[flightlabs]\nconcurrency = 4\n");
    // a loopback port nobody listens on: connection refused, as with no network
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let o = run(tarmac(dir.path())
        .env("FLIGHTLABS_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("FLIGHTLABS_ACCESS_KEY", "k")
        .args(batch("BOG", "2024-08-01", "2024-08-05")));
    let took = started.elapsed();
    // retryable (the network may come back): exit 1, for the orchestrator to retry
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        took < Duration::from_secs(15),
        "took {took:?}: {}",
        text(&o)
    );
    let err = stderr(&o);
    assert!(
        err.contains("could not connect to 127.0.0.1"),
        "{}",
        text(&o)
    );
    assert!(err.contains("WARN"), "{err}");
    // written to a pipe: no colour codes
    assert!(!err.contains('\x1b'), "{err:?}");
    // each warning names its request once
    for line in err.lines() {
        assert!(line.matches("http://").count() <= 1, "{line}");
    }
}

#[test]
fn a_final_error_in_a_job_step_is_not_retried_nor_waits_for_the_rate_window() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[jobs.hourly]\nsteps = [\"ingest batch --airport BOG --from 2024-08-01 --to 2024-08-01\"]\n\
         retries = 3\nretry_delay = \"100ms\"\nnever_retry = []\n",
    );
    // twice: the second run must not wait for an API window the first never used
    for _ in 0..2 {
        let started = Instant::now();
        let o = run(tarmac(dir.path()).args(["run-job", "hourly"]));
        assert!(!o.status.success(), "{}", text(&o));
        let err = stderr(&o);
        assert!(err.contains("FLIGHTLABS_ACCESS_KEY"), "{err}");
        assert!(err.contains("not retried (a final error: exit 2)"), "{err}");
        assert!(!err.contains("retry 1 of 3"), "{err}");
        assert!(!err.contains("rate window"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
    }
}

#[test]
fn plans_print_their_cost_and_big_ones_need_yes() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &format!("{FAST}max_plan_requests = 6\n"));
    let api = MockApi::start(&[], &[]);

    // 2 days x 2 directions x 2 windows = 8 requests > 6: a script stops
    let o = run(against(dir.path(), &api, "k").args(batch("BOG", "2024-08-01", "2024-08-02")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("plan: BOG 2024-08-01..2024-08-02: 2 days to fetch (0 already landed), 8 requests, under a second at the rate limit 1000/1"),
        "{err}"
    );
    assert!(
        err.contains("this needs 8 requests, more than [flightlabs] max_plan_requests = 6")
            && err.contains("--yes"),
        "{err}"
    );
    assert!(!dir.path().join("landing/api").exists() || bronze_count(dir.path()) == 0);

    // --yes fetches
    let o = run(against(dir.path(), &api, "k")
        .args(batch("BOG", "2024-08-01", "2024-08-02"))
        .arg("--yes"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(bronze_count(dir.path()) > 0);

    // a plan within the limit goes ahead, and counts what already landed
    let o = run(against(dir.path(), &api, "k").args(batch("BOG", "2024-08-02", "2024-08-03")));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stderr(&o).contains("1 days to fetch (1 already landed), 4 requests"),
        "{}",
        text(&o)
    );

    // delta plans print too: its time is given at the configured rate
    write_config(
        dir.path(),
        "[flightlabs]\nrate_limit = \"10/10\"\nmax_plan_requests = 6\n",
    );
    let o = run(against(dir.path(), &api, "k").args(["ingest", "delta", "--airport", "BOG"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("plan: BOG 2024-08-03..") && err.contains("at the rate limit 10/10"),
        "{err}"
    );
}

fn bronze_count(dir: &std::path::Path) -> i64 {
    if !dir.join("tarmac.duckdb").exists() {
        return 0;
    }
    bronze_records(dir)
}

#[test]
fn the_limit_that_paces_a_run_says_so() {
    // ours: the provider allows 40/10, we hold ourselves to 4/1
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[flightlabs]\nrate_limit = \"4/1\"\nconcurrency = 4\n",
    );
    let api = MockApi::start(&["--rate-limit", "40/10"], &[]);
    let o = run(against(dir.path(), &api, "k").args(batch("BOG", "2024-08-01", "2024-08-03")));
    assert!(o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("rate limit: the configured 4/1 (4 requests per 1 s) paces this run")
            && err.contains("raise [flightlabs] rate_limit in tarmac.toml or --rate-limit"),
        "{err}"
    );
    assert_eq!(err.matches("rate limit: ").count(), 1, "said once: {err}");

    // theirs: we allow 1000/1, the provider 6/1 and says Retry-After
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[flightlabs]\nrate_limit = \"1000/1\"\nconcurrency = 8\nmax_retries = 20\n",
    );
    let api = MockApi::start(&["--rate-limit", "6/1"], &[]);
    let o = run(against(dir.path(), &api, "k").args(batch("BOG", "2024-08-01", "2024-08-03")));
    assert!(o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(
        err.contains("rate limit: the provider's limit paces this run: it answered 429")
            && err.contains("(Retry-After)")
            && err.contains("lower [flightlabs] rate_limit"),
        "{err}"
    );
}

#[test]
fn an_empty_selection_warns_and_fails_a_job_step() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(tarmac(dir.path()).args(["init", "."]));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(tarmac(dir.path()).args(["build", "--select", "staging+"]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stderr(&o).contains("warning: the selection `staging+` selects nothing"),
        "{}",
        text(&o)
    );
    // as an orchestrator step: a final error
    let o = run(tarmac(dir.path())
        .env("TARMAC_RUN_ID", "1")
        .args(["build", "--select", "staging+"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(stderr(&o).contains("fix the job's step"), "{}", text(&o));
}

#[test]
fn a_sql_error_in_a_model_points_into_it_and_is_final() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(tarmac(dir.path()).args(["init", "."]));
    assert!(o.status.success(), "{}", text(&o));
    std::fs::write(
        dir.path().join("warehouse/models/broken.sql"),
        "-- the issue's typo\nselect * frm {{ ref('flights') }}\n",
    )
    .unwrap();
    let o = run(tarmac(dir.path()).args(["build", "--select", "broken"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let all = text(&o);
    assert!(
        all.contains("models/broken.sql:2:14: Parser Error: syntax error at or near")
            && all.contains("2 | select * frm {{ ref('flights') }}\n")
            && all.contains("  |              ^ (in what this expression produced)"),
        "{all}"
    );
    // `up` ends the same way: exit 2, pointing into the file
    let o = run(tarmac(dir.path()).args(["up", "--days", "1", "--yes"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("models/broken.sql:2:14:"), "{}", text(&o));
    // as a job step: failed once, never retried
    let mut config = std::fs::read_to_string(dir.path().join("tarmac.toml")).unwrap();
    config.push_str(
        "\n[jobs.models]\nsteps = [\"build --select broken\"]\nretries = 3\nretry_delay = \"100ms\"\nnever_retry = []\n",
    );
    write_config(dir.path(), &config);
    let o = run(tarmac(dir.path()).args(["run-job", "models"]));
    assert!(!o.status.success(), "{}", text(&o));
    let err = stderr(&o);
    assert!(err.contains("not retried (a final error: exit 2)"), "{err}");
    assert!(!err.contains("retry 1 of 3"), "{err}");
}
