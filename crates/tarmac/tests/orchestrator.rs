//! The orchestrator end to end: the real binary, the simulator, an SMTP sink
//! and a webhook sink started by the test on 127.0.0.1.

mod browser;
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

// ---------------------------------------------------------------------------
// sinks and an HTTP client, all on 127.0.0.1

const KEY: &str = "SUPERSECRETKEY123";

/// A tiny SMTP server: accepts everything, keeps each message's DATA.
struct SmtpSink {
    port: u16,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn on(listener: TcpListener) -> SmtpSink {
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let m = messages.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let m = m.clone();
                std::thread::spawn(move || smtp_session(conn, m));
            }
        });
        SmtpSink { port, messages }
    }

    fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

fn smtp_session(conn: TcpStream, messages: Arc<Mutex<Vec<String>>>) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let _ = w.write_all(b"220 sink ESMTP\r\n");
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if cmd.starts_with("DATA") {
            let _ = w.write_all(b"354 go ahead\r\n");
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if r.read_line(&mut l).unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" {
                    break;
                }
                data.push_str(&l);
            }
            messages.lock().unwrap().push(data);
            b"250 queued\r\n"
        } else if cmd.starts_with("QUIT") {
            let _ = w.write_all(b"221 bye\r\n");
            return;
        } else {
            b"250 ok\r\n"
        };
        let _ = w.write_all(reply);
    }
}

/// A tiny HTTP server that records POST bodies and answers 200.
struct WebhookSink {
    url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl WebhookSink {
    fn start() -> WebhookSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b = bodies.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let (_, _, body) = read_http(&mut conn);
                b.lock().unwrap().push(body);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
        WebhookSink { url, bodies }
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| serde_json::from_str(b).expect("webhook body is JSON"))
            .collect()
    }
}

/// (first line, headers lower-cased, body) of an HTTP message.
fn read_http(conn: &mut TcpStream) -> (String, Vec<(String, String)>, String) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut first = String::new();
    r.read_line(&mut first).unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
            break;
        }
        if let Some((k, v)) = l.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if len > 0 {
        r.read_exact(&mut body).unwrap();
    } else if !first.starts_with("POST") && !first.starts_with("GET") {
        let _ = r.read_to_end(&mut body);
    }
    (
        first.trim_end().to_string(),
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// One HTTP/1.1 request to the UI: (status, body).
fn http(base: &str, method: &str, path: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let host = base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(host).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: 0\r\n");
    if !extra.iter().any(|(k, _)| *k == "host") {
        req.push_str(&format!("host: {host}\r\n"));
    }
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes()).unwrap();
    let mut all = Vec::new();
    let _ = conn.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

fn api_run(base: &str, id: i64) -> serde_json::Value {
    let (s, b) = http(base, "GET", &format!("/api/runs/{id}"), &[]);
    assert_eq!(s, 200, "{b}");
    serde_json::from_str(&b).unwrap()
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// `tarmac orchestrate` on an ephemeral port.
struct Orch {
    child: Child,
    url: String,
}

impl Orch {
    fn start(dir: &Path, api: &MockApi) -> Orch {
        let mut cmd = against(dir, api, KEY);
        cmd.args(["orchestrate", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("start orchestrate");
        let url = announced_url(&mut child, "serving");
        Orch { child, url }
    }
}

impl Drop for Orch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn no_secret_in_files(dir: &Path) {
    for f in files(&dir.join(".tarmac")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "the key leaked into {}",
            f.display()
        );
    }
}

#[test]
fn failing_job_retries_alerts_once_then_recovers_from_the_ui() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start();
    let hook = WebhookSink::start();
    write_config(
        dir.path(),
        &format!(
            r#"
[flightlabs]
max_retries = 0
backoff_seconds = 0.01
rate_limit = "100/1"

[jobs.daily]
steps = ["ingest batch --airport BOG --from 2024-08-01 --to 2024-08-01 --mode daily", "ingest status"]
retries = 2
retry_delay = "100ms"

[orchestrator.email]
smtp_host = "127.0.0.1"
smtp_port = {}
security = "plain"
from = "tarmac@example.com"
to = ["ops@example.com"]

[orchestrator.webhook]
url = "{}"
"#,
            smtp.port, hook.url
        ),
    );
    // every API call fails
    let broken = MockApi::start(&["--faults", "500=1"], &[]);
    let o = run(against(dir.path(), &broken, KEY).args(["run-job", "daily"]));
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("retry 1 of 2") && err.contains("retry 2 of 2"),
        "{err}"
    );
    assert!(!err.contains("retry 3"), "{err}");
    assert!(!text(&o).contains(KEY));

    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "one email: {mails:?}");
    let mail = &mails[0];
    assert!(
        mail.contains("Subject: [tarmac] FAILED: job daily (run 1)"),
        "{mail}"
    );
    assert!(mail.contains("Step: 1 `ingest batch"), "{mail}");
    assert!(mail.contains("Error: "), "{mail}");
    assert!(mail.contains("/runs/1"), "{mail}");
    assert!(!mail.contains(KEY), "{mail}");
    let hooks = hook.bodies();
    assert_eq!(hooks.len(), 1, "one webhook: {hooks:?}");
    assert_eq!(hooks[0]["kind"], "failure");
    assert_eq!(hooks[0]["job"], "daily");
    assert!(
        hooks[0]["text"].as_str().unwrap().contains("Step: 1"),
        "{}",
        hooks[0]
    );
    assert!(hooks[0]["url"].as_str().unwrap().ends_with("/runs/1"));
    assert!(!hooks[0].to_string().contains(KEY));

    // the fault is lifted: re-run from the UI's button
    let healthy = MockApi::start(&[], &[]);
    let orch = Orch::start(dir.path(), &healthy);
    let run1 = api_run(&orch.url, 1);
    assert_eq!(run1["run"]["status"], "failed");
    assert_eq!(
        run1["steps"].as_array().unwrap().len(),
        3,
        "three attempts of step 1: {run1}"
    );
    let (s, page) = http(&orch.url, "GET", "/runs/1", &[]);
    assert_eq!(s, 200);
    assert!(
        page.contains("Re-run from step 1") && page.contains("st-failed"),
        "{page}"
    );
    // a cross-site POST is refused
    let (s, _) = http(
        &orch.url,
        "POST",
        "/runs/1/rerun",
        &[("origin", "http://evil.example")],
    );
    assert_eq!(s, 403);
    let (s, _) = http(&orch.url, "POST", "/runs/1/rerun", &[]);
    assert_eq!(s, 403, "no Origin, no token");
    // In a real browser where there is one (the button's form carries the
    // page's own Origin); otherwise the same POST by hand.
    let profile = tempfile::tempdir().unwrap();
    let mut page = browser::available("the orchestrator UI in Chromium")
        .then(|| browser::open_page(profile.path()));
    if let Some((_, cdp)) = page.as_mut() {
        cdp.call(
            "Page.navigate",
            serde_json::json!({"url": format!("{}/runs/1", orch.url)}),
        );
        cdp.wait_for(
            "document.getElementById('status').innerText.includes('failed')",
            "run 1 shown as failed",
        );
        let timeline = cdp.eval("document.body.innerText");
        assert!(
            timeline.as_str().unwrap().contains("ingest batch"),
            "{timeline}"
        );
        browser::screenshot(cdp, "recovery_run_failed.png");
        cdp.click("form[action='/runs/1/rerun'] button");
    } else {
        let origin = orch.url.clone();
        let (s, _) = http(&orch.url, "POST", "/runs/1/rerun", &[("origin", &origin)]);
        assert_eq!(s, 303);
    }
    wait_for("the re-run to succeed", 60, || {
        // run 2 exists once the click's request has arrived
        let (s, b) = http(&orch.url, "GET", "/api/runs/2", &[]);
        s == 200
            && serde_json::from_str::<serde_json::Value>(&b).unwrap()["run"]["status"] == "success"
    });
    if let Some((_, cdp)) = page.as_mut() {
        cdp.call(
            "Page.navigate",
            serde_json::json!({"url": format!("{}/runs/2", orch.url)}),
        );
        cdp.wait_for(
            "document.getElementById('status').innerText.includes('success')",
            "run 2 shown as succeeded",
        );
        browser::screenshot(cdp, "recovery_run_recovered.png");
        cdp.call(
            "Page.navigate",
            serde_json::json!({"url": format!("{}/runs?job=daily", orch.url)}),
        );
        cdp.wait_for(
            "document.body.innerText.includes('success')",
            "the runs list with the re-run",
        );
        browser::screenshot(cdp, "recovery_runs.png");
    }
    let run2 = api_run(&orch.url, 2);
    assert_eq!(run2["run"]["trigger"], "rerun");
    assert_eq!(run2["run"]["parent_run"], 1);
    wait_for("the recovery alerts", 20, || {
        smtp.messages().len() == 2 && hook.bodies().len() == 2
    });
    let mails = smtp.messages();
    assert!(
        mails[1].contains("Subject: [tarmac] RECOVERED: job daily (run 2)"),
        "{}",
        mails[1]
    );
    assert!(
        mails[1].contains(&format!("{}/runs/2", orch.url)),
        "{}",
        mails[1]
    );
    assert_eq!(hook.bodies()[1]["kind"], "recovery");
    no_secret_in_files(dir.path());
    assert!(bronze_records(dir.path()) > 0);
}

#[test]
fn kill_9_during_a_run_then_restart_marks_it_interrupted_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        r#"
[flightlabs]
rate_limit = "2/1"

[jobs.slow]
steps = ["ingest batch --airport BOG --from 2024-08-01 --to 2024-08-10 --mode daily"]
retries = 1
retry_delay = "100ms"
"#,
    );
    let api = MockApi::start(&[], &[]);
    let orch = Orch::start(dir.path(), &api);
    let (s, _) = http(
        &orch.url,
        "POST",
        "/jobs/slow/run",
        &[("origin", &orch.url.clone())],
    );
    assert_eq!(s, 303);
    wait_for("the step to be running", 30, || {
        let r = api_run(&orch.url, 1);
        r["run"]["status"] == "running" && !r["steps"].as_array().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let mut orch = orch;
    orch.child.kill().unwrap(); // SIGKILL
    orch.child.wait().unwrap();
    // the step died with it (PR_SET_PDEATHSIG): nothing holds the warehouse
    let cfg = dir.path().join("tarmac.toml").display().to_string();
    wait_for("the step process to die", 10, || {
        std::fs::read_dir("/proc").unwrap().flatten().all(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| !String::from_utf8_lossy(&c).contains(&cfg))
                .unwrap_or(true)
        })
    });
    drop(orch);

    let orch = Orch::start(dir.path(), &api);
    let r1 = api_run(&orch.url, 1);
    assert_eq!(r1["run"]["status"], "interrupted", "{r1}");
    assert_eq!(r1["steps"][0]["status"], "interrupted", "{r1}");
    let (_, page) = http(&orch.url, "GET", "/runs/1", &[]);
    assert!(
        page.contains("requests done") || page.contains("step 1 `ingest batch"),
        "logs of the killed run are kept: {page}"
    );
    wait_for("the retry to succeed", 90, || {
        api_run(&orch.url, 2)["run"]["status"] == "success"
    });
    let r2 = api_run(&orch.url, 2);
    assert_eq!(r2["run"]["trigger"], "retry");
    assert_eq!(r2["run"]["parent_run"], 1);
    drop(orch);
    // the warehouse is consistent: every day once, no duplicated record
    assert_eq!(
        query_i64(
            dir.path(),
            "SELECT count(DISTINCT flight_date) FROM bronze.flightlabs_historical"
        ),
        10
    );
    assert_eq!(
        query_i64(dir.path(), "SELECT count(*) - count(DISTINCT (landing_file, record_index)) FROM bronze.flightlabs_historical"),
        0
    );
}

#[test]
fn smtp_down_alert_is_retried_and_the_run_still_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    // a port with nobody listening (yet)
    let reserved = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = reserved.local_addr().unwrap().port();
    drop(reserved);
    write_config(
        dir.path(),
        &format!(
            r#"
[jobs.ok]
steps = ["ingest status"]
alert_on = ["success"]

[orchestrator]
alert_retry_delay = "300ms"

[orchestrator.email]
smtp_host = "127.0.0.1"
smtp_port = {port}
security = "plain"
from = "tarmac@example.com"
to = ["ops@example.com"]
"#
        ),
    );
    let api = MockApi::start(&[], &[]);
    let orch = Orch::start(dir.path(), &api);
    let (s, _) = http(
        &orch.url,
        "POST",
        "/jobs/ok/run",
        &[("origin", &orch.url.clone())],
    );
    assert_eq!(s, 303);
    wait_for("a failed delivery", 30, || {
        let r = api_run(&orch.url, 1);
        r["alerts"].as_array().is_some_and(|a| {
            a.len() == 1 && a[0]["attempts"].as_i64() >= Some(1) && a[0]["status"] == "pending"
        })
    });
    assert_eq!(
        api_run(&orch.url, 1)["run"]["status"],
        "success",
        "the run does not depend on the alert"
    );
    // the SMTP server comes back: the alert goes out by itself
    let smtp = SmtpSink::on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    wait_for("the retried email", 30, || smtp.messages().len() == 1);
    assert!(smtp.messages()[0].contains("Subject: [tarmac] OK: job ok (run 1)"));
    wait_for("the alert marked sent", 10, || {
        api_run(&orch.url, 1)["alerts"][0]["status"] == "sent"
    });
}

#[test]
fn ui_pages_and_token() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "[jobs.a]\nsteps = [\"ingest status\"]\nschedule = \"0 3 * * *\"\ntimezone = \"America/Bogota\"\n");
    let api = MockApi::start(&[], &[]);
    let orch = Orch::start(dir.path(), &api);
    let (s, page) = http(&orch.url, "GET", "/", &[]);
    assert_eq!(s, 200);
    assert!(
        page.contains("cron `0 3 * * *` (America/Bogota)") && page.contains("08:00:00"),
        "next run at 03:00 Bogotá = 08:00 UTC: {page}"
    );
    for p in [
        "/runs",
        "/backfill",
        "/freshness",
        "/runs?job=a&status=failed",
    ] {
        let (s, body) = http(&orch.url, "GET", p, &[]);
        assert_eq!(s, 200, "{p}: {body}");
    }
    // without [orchestrator] docs_url the docs link explains how to set it
    assert!(page.contains("<a href=\"/docs\""), "{page}");
    let (s, body) = http(&orch.url, "GET", "/docs", &[]);
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains("docs_url = \"http://127.0.0.1:8080\"") && body.contains("tarmac docs serve"),
        "{body}"
    );
    let (s, _) = http(&orch.url, "GET", "/", &[("host", "evil.example:80")]);
    assert_eq!(s, 403, "DNS rebinding: foreign Host refused");
    let (s, _) = http(
        &orch.url,
        "POST",
        "/jobs/a/pause",
        &[("sec-fetch-site", "same-origin")],
    );
    assert_eq!(s, 303);
    let (_, page) = http(&orch.url, "GET", "/", &[]);
    assert!(page.contains(">Resume<"), "{page}");
    drop(orch);

    // anything but loopback needs a token
    let o = run(tarmac(dir.path()).args(["orchestrate", "--listen", "0.0.0.0:0"]));
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("give --token"),
        "{}",
        text(&o)
    );
    let mut cmd = tarmac(dir.path());
    cmd.args(["orchestrate", "--listen", "127.0.0.1:0", "--token", "t0ken"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let url = announced_url(&mut child, "serving");
    assert_eq!(http(&url, "GET", "/", &[]).0, 401);
    assert_eq!(
        http(&url, "GET", "/", &[("authorization", "Bearer wrong")]).0,
        401
    );
    assert_eq!(
        http(&url, "GET", "/", &[("authorization", "Bearer t0ken")]).0,
        200
    );
    assert_eq!(
        http(
            &url,
            "POST",
            "/jobs/a/resume",
            &[("authorization", "Bearer t0ken")]
        )
        .0,
        303
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Processes whose parent is `pid`, read from /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

#[test]
fn running_steps_argv_and_the_ledger_hold_no_secret() {
    const USERINFO_KEY: &str = "UserinfoKey42";
    let dir = tempfile::tempdir().unwrap();
    write_config(
        dir.path(),
        "[flightlabs]\nrate_limit = \"1000/1\"\n\n[jobs.poll]\nsteps = [\"ingest realtime --airport BOG --interval 2s\"]\ntimeout = \"60s\"\n",
    );
    let api = MockApi::start(&[], &[]);
    // a key also placed in the base URL's userinfo
    let base = api
        .url
        .replacen("http://", &format!("http://tarmac:{USERINFO_KEY}@"), 1);
    let mut cmd = tarmac(dir.path());
    cmd.env("FLIGHTLABS_BASE_URL", &base)
        .env("FLIGHTLABS_ACCESS_KEY", KEY)
        .args(["orchestrate", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start orchestrate");
    let url = announced_url(&mut child, "serving");
    let orch = Orch { child, url };
    let (s, _) = http(
        &orch.url,
        "POST",
        "/jobs/poll/run",
        &[("origin", &orch.url.clone())],
    );
    assert_eq!(s, 303);
    let mut seen = Vec::new();
    wait_for("the running step", 30, || {
        seen = children_of(orch.child.id())
            .into_iter()
            .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains("realtime"))
            .collect();
        !seen.is_empty()
    });
    for cmdline in &seen {
        assert!(!cmdline.contains(KEY), "the key is in argv: {cmdline}");
        assert!(
            !cmdline.contains(USERINFO_KEY),
            "the userinfo key is in argv: {cmdline}"
        );
    }
    let ledger = dir.path().join("landing/_ledger/ledger.jsonl");
    wait_for("a ledger line", 30, || {
        std::fs::read_to_string(&ledger).is_ok_and(|t| !t.is_empty())
    });
    drop(orch);
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert!(
        !text.contains(USERINFO_KEY) && !text.contains(KEY),
        "{text}"
    );
    assert!(
        text.contains("***@"),
        "the userinfo is shown redacted: {text}"
    );
    for f in files(&dir.path().join(".tarmac")) {
        let bytes = std::fs::read(&f).unwrap();
        let t = String::from_utf8_lossy(&bytes);
        assert!(
            !t.contains(USERINFO_KEY),
            "{} holds the userinfo key",
            f.display()
        );
    }
}

/// Ticks of a job whose run is still going: `queue` runs one more after it
/// (later ticks collapse into that one), `skip` records them as skipped.
#[test]
fn overlapping_ticks_queue_one_run_or_skip() {
    for (overlap, queued) in [("queue", true), ("skip", false)] {
        let dir = tempfile::tempdir().unwrap();
        write_config(
            dir.path(),
            &format!(
                "[flightlabs]\nrate_limit = \"1000/1\"\n\n[jobs.slow]\nsteps = [\"ingest realtime --airport BOG --interval 1s\"]\nevery = \"1s\"\ntimeout = \"3s\"\noverlap = \"{overlap}\"\n"
            ),
        );
        let api = MockApi::start(&[], &[]);
        let orch = Orch::start(dir.path(), &api);
        // the first run is killed at its 3 s timeout; ticks come every second
        wait_for("two finished runs or skips", 60, || {
            let runs = runs_json(dir.path());
            runs.iter().filter(|r| r["status"] == "skipped").count() >= 3
                && runs.iter().filter(|r| r["status"] == "failed").count() >= 1
        });
        drop(orch);
        let runs = runs_json(dir.path());
        let errors: Vec<String> = runs
            .iter()
            .filter(|r| r["status"] == "skipped")
            .map(|r| r["error"].as_str().unwrap_or("").to_string())
            .collect();
        let started = runs
            .iter()
            .filter(|r| r["status"] != "skipped" && r["status"] != "queued")
            .count();
        if queued {
            assert!(
                errors.iter().all(|e| e.contains("already queued")),
                "{overlap}: {errors:?}"
            );
            assert!(
                started >= 2,
                "{overlap}: a queued run ran after the first: {runs:?}"
            );
        } else {
            assert!(
                errors.iter().all(|e| e.contains("still going")),
                "{overlap}: {errors:?}"
            );
        }
    }
}

/// Every page of the UI at 1280 px in Chromium: a screenshot of each (jobs,
/// runs list, run page with its timeline, backfill grid, docs page), none
/// may scroll sideways; the run page's log follows a running run without a
/// reload and stops when the run ends; the backfill grid opens on the month
/// whose days have runs (August 2024 here, long past) and pages by month.
#[test]
fn ui_pages_fit_1280_px_and_the_log_follows() {
    if !browser::available("the orchestrator pages at 1280 px") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let long = "nightly_warehouse_refresh_with_a_name_long_enough_to_push_the_grid";
    write_config(
        dir.path(),
        &format!(
            r#"
[flightlabs]
rate_limit = "2/1"

[jobs.daily]
steps = ["ingest batch --simulator --airport BOG --mode daily", "ingest status"]

[jobs.{long}]
steps = ["ingest status", "build --select no_such_model"]

[jobs.slow]
steps = ["ingest status", "ingest batch --airport BOG --from 2024-08-01 --to 2024-08-06 --mode daily", "ingest status"]
"#
        ),
    );
    let o = run(tarmac(dir.path()).args([
        "backfill",
        "daily",
        "--from",
        "2024-08-01",
        "--to",
        "2024-08-03",
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(tarmac(dir.path()).args(["run-job", long, "--partition", "2024-08-02"]));
    assert!(!o.status.success(), "{}", text(&o));
    let failed_id = 4;

    let api = MockApi::start(&[], &[]);
    let orch = Orch::start(dir.path(), &api);
    let profile = tempfile::tempdir().unwrap();
    let (_chrome, mut cdp) = browser::open_page(profile.path());
    let cdp = &mut cdp;

    // the live log: open the run page while the slow job runs
    let (s, _) = http(
        &orch.url,
        "POST",
        "/jobs/slow/run",
        &[("origin", &orch.url.clone())],
    );
    assert_eq!(s, 303);
    let slow_id = failed_id + 1;
    wait_for("the slow run to be running", 30, || {
        api_run(&orch.url, slow_id)["run"]["status"] == "running"
    });
    browser::desktop(cdp);
    cdp.call(
        "Page.navigate",
        serde_json::json!({"url": format!("{}/runs/{slow_id}", orch.url)}),
    );
    cdp.wait_for("document.getElementById('logs')", "the run page");
    // a mark on this document: it is gone if the page reloads
    let before = cdp.eval("window.__same = 1; document.querySelectorAll('#logs > span').length");
    let before = before.as_u64().unwrap();
    let grown = cdp.wait_for(
        &format!("window.__same === 1 && document.querySelectorAll('#logs > span').length > {before} && document.querySelectorAll('#logs > span').length"),
        "new log lines without a reload",
    );
    println!("log lines: {before} at load, {grown} while running");
    let status = api_run(&orch.url, slow_id)["run"]["status"].clone();
    assert_eq!(status, "running", "the lines came while it ran");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(120) {
        if api_run(&orch.url, slow_id)["run"]["status"] != "running" {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    cdp.wait_for(
        "document.getElementById('status').innerText.includes('success') && document.querySelector('.timeline .bar')",
        "the run page showing the finished run",
    );
    // it stopped following: the finished page opens no stream
    assert_eq!(
        cdp.eval("window.__following === true"),
        serde_json::json!(false)
    );

    let mut overflows = Vec::new();
    let pages = [
        (
            "orchestrator_jobs",
            "/".to_string(),
            "document.querySelector('main table')",
        ),
        (
            "orchestrator_runs",
            "/runs".to_string(),
            "document.querySelector('main table')",
        ),
        (
            "orchestrator_run",
            format!("/runs/{slow_id}"),
            "document.querySelector('.timeline .bar') && document.getElementById('logs')",
        ),
        (
            "orchestrator_run_failed",
            format!("/runs/{failed_id}"),
            "document.querySelector('.timeline .bar')",
        ),
        (
            "orchestrator_backfill",
            "/backfill".to_string(),
            "document.querySelector('table.grid')",
        ),
        (
            "orchestrator_docs",
            "/docs".to_string(),
            "document.querySelector('main ol')",
        ),
    ];
    for (name, path, ready) in pages {
        overflows.extend(browser::visit(
            cdp,
            &format!("{}{path}", orch.url),
            ready,
            name,
        ));
        if name == "orchestrator_run" {
            // one bar per step, on a time axis with labelled ticks
            let bars = cdp.eval("document.querySelectorAll('.timeline .bar').length");
            assert_eq!(bars, serde_json::json!(3), "three steps");
            let ticks = cdp.eval("document.querySelectorAll('.timeline .axis span').length");
            assert!(ticks.as_u64().unwrap() >= 2, "{ticks}");
        }
        if name == "orchestrator_backfill" {
            // the month with runs, not the last 14 days
            let heading = cdp.eval("document.querySelector('.month').innerText");
            assert!(
                heading.as_str().unwrap().contains("August 2024"),
                "{heading}"
            );
            let cells = cdp.eval("[...document.querySelectorAll('table.grid td[class^=c-]')].map(td => td.className).join(' ')");
            let cells = cells.as_str().unwrap();
            assert_eq!(cells.matches("c-success").count(), 3, "{cells}");
            assert_eq!(cells.matches("c-failed").count(), 1, "{cells}");
            // the job column stays narrow: the long name is cut, whole in its title
            let w = cdp
                .eval("document.querySelector('table.grid th.job').getBoundingClientRect().width");
            assert!(w.as_f64().unwrap() <= 240.0, "job column {w} px");
            let title = cdp.eval(&format!(
                "document.querySelector('table.grid th.job[title=\"{long}\"]') !== null"
            ));
            assert_eq!(title, serde_json::json!(true));
        }
    }
    // paging by month: a URL per month, prev/next links
    overflows.extend(browser::visit(
        cdp,
        &format!("{}/backfill?month=2024-07", orch.url),
        "document.querySelector('table.grid')",
        "orchestrator_backfill_july",
    ));
    let heading = cdp.eval("document.querySelector('.month').innerText");
    assert!(heading.as_str().unwrap().contains("July 2024"), "{heading}");
    assert_eq!(
        cdp.eval("document.querySelectorAll('table.grid td[class^=c-]').length"),
        serde_json::json!(0)
    );
    cdp.click("a[rel=next]");
    cdp.wait_for(
        "location.search === '?month=2024-08' && document.querySelectorAll('table.grid td.c-success').length === 3",
        "August after next month",
    );
    let (s, body) = http(&orch.url, "GET", "/backfill?month=2024-13", &[]);
    assert_eq!(s, 400, "{body}");
    assert!(body.contains("YYYY-MM"), "{body}");
    // one stylesheet, shared with the catalog, on every page
    let (s, css) = http(&orch.url, "GET", "/assets/tarmac.css", &[]);
    assert_eq!(s, 200);
    assert!(css.contains("--accent"), "{css}");
    assert!(
        overflows.is_empty(),
        "pages scroll sideways at {} px:\n{}",
        browser::WIDTH,
        overflows.join("\n")
    );
}
