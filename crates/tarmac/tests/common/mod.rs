//! Helpers for tests that drive the real `tarmac` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_tarmac");

/// The workspace root (fixtures of other crates live below it).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Copy a fixture project, leaving out what a local run may have left in
/// it (`target/`, `*.duckdb`) and READMEs (overlays must not clash).
pub fn copy_project(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() {
            if name != "target" {
                copy_project(&p, &to.join(&name));
            }
        } else if !p.to_string_lossy().ends_with(".duckdb") && name != "README.md" {
            std::fs::copy(&p, to.join(&name)).unwrap();
        }
    }
}

/// A `tarmac mock-api` process on an ephemeral loopback port.
pub struct MockApi {
    child: Child,
    pub url: String,
}

impl MockApi {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> MockApi {
        let mut cmd = Command::new(BIN);
        cmd.arg("mock-api")
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start mock-api");
        let url = announced_url(&mut child, "listening");
        MockApi { child, url }
    }
}

/// A copy of the engine's fixture project `name`
/// (`crates/engine/tests/fixtures/<name>`) in a temporary directory.
pub fn engine_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join(name);
    copy_project(
        &workspace().join("crates/engine/tests/fixtures").join(name),
        &dir,
    );
    (d, dir)
}

/// `tarmac ARGS --project-dir DIR --profiles-dir DIR`, run in `dir` with
/// the fixture profile's database at `db` (`TARMAC_DB`).
pub fn in_project(dir: &Path, db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--project-dir")
        .arg(dir)
        .arg("--profiles-dir")
        .arg(dir)
        .env("TARMAC_DB", db)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// The URL a serving command (started with piped stdout and port 0)
/// announces as its first line, `<verb> on http://127.0.0.1:PORT`; it must
/// be a loopback address.
pub fn announced_url(child: &mut Child, verb: &str) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("first line");
    let url = line
        .trim()
        .strip_prefix(&format!("{verb} on "))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    url
}

impl Drop for MockApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tarmac` command in `dir`, with no FlightLabs variables inherited.
pub fn tarmac(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("FLIGHTLABS_ACCESS_KEY")
        .env_remove("FLIGHTLABS_BASE_URL")
        .env_remove("TARMAC_LOG")
        .stdin(Stdio::null());
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run tarmac")
}

pub fn text(o: &Output) -> String {
    format!(
        "status: {}\n--- stdout\n{}--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `tarmac` pointed at `api` with a fast rate limit.
pub fn against(dir: &Path, api: &MockApi, key: &str) -> Command {
    let mut cmd = tarmac(dir);
    cmd.env("FLIGHTLABS_BASE_URL", &api.url)
        .env("FLIGHTLABS_ACCESS_KEY", key);
    cmd
}

pub fn write_config(dir: &Path, text: &str) {
    std::fs::write(dir.join("tarmac.toml"), text).expect("write tarmac.toml");
}

/// One number from the warehouse of `dir`.
pub fn query_i64(dir: &Path, sql: &str) -> i64 {
    let conn = duckdb::Connection::open_with_flags(
        dir.join("tarmac.duckdb"),
        duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .expect("config"),
    )
    .expect("open warehouse");
    conn.query_row(sql, [], |r| r.get(0)).expect(sql)
}

pub fn bronze_records(dir: &Path) -> i64 {
    query_i64(dir, "SELECT count(*) FROM bronze.flightlabs_historical")
}

pub fn quarantined(dir: &Path) -> i64 {
    query_i64(dir, "SELECT count(*) FROM bronze.quarantine")
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The shared archive, if this checkout has `../shared` beside it.
pub fn shared_archive() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/flightlabs-archive/BOG");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "skipping: the shared archive is not beside this checkout ({})",
            p.display()
        );
        None
    }
}

/// `(unique_id, status, message)` of every result in the project's
/// `target/run_results.json`, sorted (a null message as empty).
pub fn run_results(dir: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(dir.join("target/run_results.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out: Vec<_> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["unique_id"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// `(unique_id, status)` of every result in the project's
/// `target/run_results.json`, sorted.
pub fn statuses(dir: &Path) -> Vec<(String, String)> {
    run_results(dir)
        .into_iter()
        .map(|(id, status, _)| (id, status))
        .collect()
}

/// A read-only connection to a DuckDB file another process wrote.
pub fn read_only(db: impl AsRef<Path>) -> duckdb::Connection {
    duckdb::Connection::open_with_flags(
        db.as_ref(),
        duckdb::Config::default()
            .access_mode(duckdb::AccessMode::ReadOnly)
            .expect("read-only config"),
    )
    .expect("open the DuckDB file read-only")
}

/// A digest of bronze: row counts and hashes of what a load decides
/// (records, quarantine, landed files), without the clock times a fetch or
/// a load stamps, so an interrupted run and a clean one can be compared.
pub fn bronze_digest(dir: &Path) -> String {
    let conn = read_only(dir.join("tarmac.duckdb"));
    [
        ("bronze.flightlabs_historical", "landing_file, record_index, source, source_file,
            airport, direction, flight_date, fetch_window, number, call_sign, status,
            codeshare_status, is_cargo, scheduled_utc, record::VARCHAR"),
        ("bronze.quarantine", "landing_file, record_index, source, source_file, airport, direction,
            flight_date, reason, raw"),
        ("bronze.landed_files", "landing_file, source, airport, direction, flight_date, source_file,
            source_sha256, bytes, sha256, records, quarantined"),
    ]
    .iter()
    .map(|(table, columns)| {
        let sql = format!(
            "SELECT CAST(count(*) AS VARCHAR) || ' ' || coalesce(CAST(sum(hash({columns})) AS VARCHAR), '')
             FROM {table}"
        );
        conn.query_row(&sql, [], |r| r.get::<_, String>(0))
            .expect(&sql)
    })
    .collect::<Vec<_>>()
    .join(" | ")
}

/// The landing zone's bodies under `dir/landing`, by relative path.
pub fn landed_bodies(dir: &Path) -> Vec<String> {
    let root = dir.join("landing");
    files(&root)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".json.zst") && !name.starts_with('.')
        })
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect()
}

/// A deterministic stream of numbers in [0, 1) (no randomness crate needed).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
