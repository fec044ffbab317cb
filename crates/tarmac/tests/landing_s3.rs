//! The landing zone in object storage, against a real S3-compatible server
//! (moto's, on 127.0.0.1; see `testkit::s3`): batches land there, several
//! workers share the work, a killed worker reruns, every window lands once,
//! and a warehouse builds from what other processes landed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use testkit::s3::{free_port, S3Server, SECRET_ACCESS_KEY};

const BUCKET: &str = "landing";
const FROM: &str = "2025-03-01";
const TO: &str = "2025-03-06";
/// 6 days x 2 directions x 2 windows
const WINDOWS: usize = 24;

fn config(dir: &Path, landing: &str) {
    std::fs::create_dir_all(dir).unwrap();
    write_config(
        dir,
        &format!(
            "[flightlabs]\nbackoff_seconds = 0.02\nconcurrency = 4\n\n[landing]\npath = \"{landing}\"\n"
        ),
    );
}

fn batch(dir: &Path, s3: Option<&S3Server>, extra: &[&str]) -> Command {
    let mut cmd = tarmac(dir);
    cmd.args([
        "ingest",
        "batch",
        "--airport",
        "BOG",
        "--from",
        FROM,
        "--to",
        TO,
        "--simulator",
        "--seed",
        "11",
    ])
    .args(extra);
    if let Some(s3) = s3 {
        cmd.envs(s3.env());
    }
    cmd
}

/// Bronze as rows of text, without what differs between runs (when a body
/// was fetched or loaded).
fn bronze(db: &Path) -> Vec<String> {
    let conn = read_only(db);
    let mut stmt = conn
        .prepare(
            "SELECT concat_ws('|', landing_file, record_index, source, airport, direction, \
             flight_date, fetch_window, number, status, scheduled_utc, record::VARCHAR) \
             FROM bronze.flightlabs_historical ORDER BY landing_file, record_index",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// One local run's bronze: the yardstick.
fn local_bronze(root: &Path) -> Vec<String> {
    let dir = root.join("local");
    config(&dir, "landing");
    let o = run(&mut batch(&dir, None, &["--rate-limit", "1000/1"]));
    assert!(o.status.success(), "{}", text(&o));
    let rows = bronze(&dir.join("tarmac.duckdb"));
    assert!(rows.len() > 100, "too few records: {}", rows.len());
    rows
}

/// The bodies in the bucket, by window: `(partition, window) -> names`.
fn bodies(s3: &S3Server, prefix: &str) -> Vec<String> {
    s3.keys(BUCKET, prefix)
        .into_iter()
        .filter(|k| k.ends_with(".json.zst") && k.contains("/flightlabs/historical/"))
        .collect()
}

/// Rebuilds bronze in a new warehouse from the landing zone alone.
fn replay_into(dir: &Path, s3: &S3Server) -> PathBuf {
    let o = run(tarmac(dir).envs(s3.env()).args(["ingest", "replay"]));
    assert!(o.status.success(), "{}", text(&o));
    dir.join("tarmac.duckdb")
}

#[test]
fn a_batch_lands_in_s3_and_another_machine_builds_from_it() {
    let Some(s3) = S3Server::start("a_batch_lands_in_s3_and_another_machine_builds_from_it") else {
        return;
    };
    s3.create_bucket(BUCKET);
    let t = tempfile::tempdir().unwrap();
    let expected = local_bronze(t.path());
    let url = format!("s3://{BUCKET}/zone");

    let worker = t.path().join("worker");
    config(&worker, &url);
    let o = run(&mut batch(&worker, Some(&s3), &["--rate-limit", "1000/1"]));
    assert!(o.status.success(), "{}", text(&o));
    let landed = bodies(&s3, "zone/");
    assert_eq!(landed.len(), WINDOWS, "{landed:#?}");
    assert!(
        landed.iter().all(|k| k.contains(".obs=1.json.zst")),
        "{landed:#?}"
    );
    // nothing of the zone on the worker's disk
    assert!(!worker.join("landing").exists());
    assert_eq!(bronze(&worker.join("tarmac.duckdb")), expected);

    // the same batch again lands nothing new
    let o = run(&mut batch(&worker, Some(&s3), &["--rate-limit", "1000/1"]));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(bodies(&s3, "zone/").len(), WINDOWS);

    // status reads the zone in the bucket
    let o = run(tarmac(&worker).envs(s3.env()).args(["ingest", "status"]));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains(&format!("landing zone: {url}")), "{out}");
    assert!(out.contains("BOG: 6 days landed from the API"), "{out}");

    // --landing instead of the config, from a folder with no config at all
    let bare = t.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    let o = run(tarmac(&bare)
        .envs(s3.env())
        .args(["ingest", "status", "--landing", &url]));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("BOG: 6 days landed from the API"), "{out}");

    // another machine: only the URL in common
    let builder = t.path().join("builder");
    config(&builder, &url);
    let db = replay_into(&builder, &s3);
    assert_eq!(bronze(&db), expected);

    // the ledger is in the bucket: objects of each writer, each a batch of
    // entries (one per line), every window's entry among them
    let ledger = s3.keys(BUCKET, "zone/_ledger/");
    assert!(!ledger.is_empty() && ledger.len() < WINDOWS, "{ledger:#?}");
    assert!(ledger.iter().all(|k| k.contains("/writer=")), "{ledger:#?}");
    let entries: Vec<String> = ledger
        .iter()
        .flat_map(|k| {
            String::from_utf8(s3.get(BUCKET, k))
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(entries.len() >= WINDOWS, "{entries:#?}");
    assert!(
        entries[0].contains("\"outcome\":\"landed\""),
        "{}",
        entries[0]
    );
    assert!(entries.iter().all(|e| !e.contains(SECRET_ACCESS_KEY)));
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tarmac")
}

fn wait_ok(child: Child, what: &str) {
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{what}: {}", text(&o));
}

#[test]
fn workers_share_a_range_a_killed_one_reruns_and_every_window_lands_once() {
    let Some(s3) =
        S3Server::start("workers_share_a_range_a_killed_one_reruns_and_every_window_lands_once")
    else {
        return;
    };
    s3.create_bucket(BUCKET);
    let t = tempfile::tempdir().unwrap();
    let expected = local_bronze(t.path());
    let url = format!("s3://{BUCKET}/shared");
    let dirs: Vec<PathBuf> = (1..=3).map(|i| t.path().join(format!("w{i}"))).collect();
    for d in &dirs {
        config(d, &url);
    }
    // Two shards at 4 requests/s between them (2/s each), and a third
    // worker that runs the whole range at once: it races both for every
    // window, so only the conditional writes keep each window to one body.
    let rate = ["--rate-limit", "4/1"];
    let mut w1 = spawn(&mut batch(
        &dirs[0],
        Some(&s3),
        &[&rate[..], &["--shard", "1/2"]].concat(),
    ));
    let w2 = spawn(&mut batch(
        &dirs[1],
        Some(&s3),
        &[&rate[..], &["--shard", "2/2"]].concat(),
    ));
    let w3 = spawn(&mut batch(&dirs[2], Some(&s3), &rate));
    // kill worker 1 once some of the windows have landed
    let deadline = Instant::now() + Duration::from_secs(60);
    while bodies(&s3, "shared/").len() < 4 {
        assert!(Instant::now() < deadline, "nothing landed in 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    w1.kill().unwrap(); // SIGKILL
    let killed = w1.wait().unwrap();
    assert!(!killed.success());
    // worker 1 again, to the end
    let w1 = spawn(&mut batch(
        &dirs[0],
        Some(&s3),
        &[&rate[..], &["--shard", "1/2"]].concat(),
    ));
    wait_ok(w1, "worker 1, rerun");
    wait_ok(w2, "worker 2");
    wait_ok(w3, "worker 3");

    let landed = bodies(&s3, "shared/");
    assert_eq!(landed.len(), WINDOWS, "each window once: {landed:#?}");
    assert!(
        landed.iter().all(|k| k.contains(".obs=1.json.zst")),
        "{landed:#?}"
    );
    // every day marked, by its own marker or a run's (`dates=A..B.json`)
    let markers = s3.keys(BUCKET, "shared/flightlabs/historical/code=BOG/_days/");
    let mut marked = std::collections::BTreeSet::new();
    for key in &markers {
        let name = key.rsplit('/').next().unwrap().trim_end_matches(".json");
        let (first, last) = match name.strip_prefix("dates=") {
            Some(run) => run.split_once("..").unwrap(),
            None => (&name[5..], &name[5..]),
        };
        let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        marked.extend(day(first).iter_days().take_while(|d| *d <= day(last)));
    }
    let days: Vec<String> = marked.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        days,
        [
            "2025-03-01",
            "2025-03-02",
            "2025-03-03",
            "2025-03-04",
            "2025-03-05",
            "2025-03-06"
        ],
        "{markers:#?}"
    );

    // a warehouse built from the shared zone equals one local run's
    let builder = t.path().join("builder");
    config(&builder, &url);
    let db = replay_into(&builder, &s3);
    assert_eq!(bronze(&db), expected);
}

#[test]
fn a_store_that_cannot_be_used_is_a_clear_error_that_names_no_secret() {
    let Some(s3) =
        S3Server::start("a_store_that_cannot_be_used_is_a_clear_error_that_names_no_secret")
    else {
        return;
    };
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("w");
    config(&dir, &format!("s3://{BUCKET}/zone"));
    let check = |o: &std::process::Output, words: &str| {
        let out = text(o);
        assert!(!o.status.success(), "{out}");
        assert!(out.contains(words), "expected {words:?} in:\n{out}");
        assert!(!out.contains(SECRET_ACCESS_KEY), "{out}");
        assert!(!dir.join("landing").exists());
    };

    // the bucket does not exist
    let o = run(&mut batch(&dir, Some(&s3), &[]));
    check(&o, "the bucket does not exist");

    // nothing listens there
    let started = Instant::now();
    let o = run(batch(&dir, Some(&s3), &[]).env(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", free_port()),
    ));
    check(&o, "the store cannot be reached");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );

    // a server that checks credentials refuses ours
    let strict = S3Server::start_with(
        "a_store_that_cannot_be_used_is_a_clear_error_that_names_no_secret",
        &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")],
    )
    .unwrap();
    let o = run(&mut batch(&dir, Some(&strict), &[]));
    check(&o, "the store refused the credentials");
}

/// `ingest import` and `ingest realtime` land in the bucket too, and a
/// second import of the same files lands nothing.
#[test]
fn archive_imports_and_real_time_polls_land_in_s3() {
    let Some(s3) = S3Server::start("archive_imports_and_real_time_polls_land_in_s3") else {
        return;
    };
    let Some(archive) = shared_archive() else {
        return;
    };
    s3.create_bucket(BUCKET);
    let t = tempfile::tempdir().unwrap();
    // three days of the shared archive
    let days = t.path().join("days");
    std::fs::create_dir_all(&days).unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    names.sort();
    for p in names.iter().take(3) {
        std::fs::copy(p, days.join(p.file_name().unwrap())).unwrap();
    }
    let import = |dir: &Path, s3: Option<&S3Server>| {
        let mut cmd = tarmac(dir);
        cmd.arg("ingest").arg("import").arg(&days);
        if let Some(s3) = s3 {
            cmd.envs(s3.env());
        }
        let o = run(&mut cmd);
        assert!(o.status.success(), "{}", text(&o));
    };
    let local = t.path().join("local");
    config(&local, "landing");
    import(&local, None);
    let remote = t.path().join("remote");
    config(&remote, &format!("s3://{BUCKET}/arch"));
    import(&remote, Some(&s3));
    let archived: Vec<String> = s3
        .keys(BUCKET, "arch/archive/")
        .into_iter()
        .filter(|k| k.ends_with(".json.zst"))
        .collect();
    assert_eq!(archived.len(), 3, "{archived:#?}");
    assert_eq!(
        bronze(&remote.join("tarmac.duckdb")),
        bronze(&local.join("tarmac.duckdb"))
    );
    import(&remote, Some(&s3));
    assert_eq!(s3.keys(BUCKET, "arch/archive/").len(), 3);

    // one real-time poll from the built-in simulator
    let o = run(tarmac(&remote).envs(s3.env()).args([
        "ingest",
        "realtime",
        "--once",
        "--airport",
        "BOG",
        "--simulator",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let polls = s3.keys(BUCKET, "arch/flightlabs/flights/code=BOG/");
    assert_eq!(polls.len(), 2, "{polls:#?}");
    assert!(query_i64(&remote, "SELECT count(*) FROM bronze.flightlabs_positions") > 0);
}
