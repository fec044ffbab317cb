//! The README is tested: every fenced `sh` block of README.md runs, in
//! order, in one fresh temporary folder (a user following the README from
//! top to bottom), with the real binary as `tarmac` and a `tarmac mock-api`
//! on an ephemeral loopback port as the FlightLabs API. Each command's exit
//! code, stdout and stderr are compared with
//! `tests/golden/readme/block-NN.txt` (rewrite with `UPDATE_GOLDEN=1`).
//!
//! Marks in the README, an HTML comment on the line before a block:
//! - `<!-- readme: mock -->`: the block talks to the API; its
//!   `export FLIGHTLABS_ACCESS_KEY=...` gets a dummy key (the API is always
//!   the mock here, `FLIGHTLABS_BASE_URL`).
//! - `<!-- readme: append tarmac.toml -->` on a `toml` block: the block is
//!   appended to the current folder's `tarmac.toml`, as the text asks.
//! - `<!-- readme: skip: REASON -->`: not run; the reason is printed.
//!
//! Serving commands (`docs serve`, `orchestrate`, `mock-api`, a real-time
//! loop) run in the background on port 0: the test reads the address they
//! announce, asks it for `/`, and stops them with SIGTERM (a loop after
//! its first poll). A command that binds every interface is skipped, saying so:
//! tests bind only 127.0.0.1.
//!
//! Goldens hold output after normalisation: the temporary folder is
//! `[TMP]`, ports `[PORT]`, durations `[TIME]`, wall-clock times `[CLOCK]`,
//! dates near today `[DATE]`; the per-node lines of a parallel build and
//! per-request progress lines (their order is the threads' order) are left
//! out, their summaries kept. In a golden, `[..]` matches any text within a
//! line and a line `...` any number of lines (for figures that follow
//! today's date); a rewrite keeps a command's golden when it still matches.
//! An example that selects nothing fails the test.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// One fenced block of the README.
#[derive(Debug)]
struct Block {
    line: usize,
    lang: String,
    mark: Option<String>,
    body: String,
}

/// The fenced blocks of `text`, each with the `<!-- readme: ... -->` mark
/// on the line before it, if any.
fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(info) = lines[i].strip_prefix("```") {
            let start = i;
            let lang = info.split_whitespace().next().unwrap_or("").to_string();
            let mut body = String::new();
            i += 1;
            while i < lines.len() && !lines[i].starts_with("```") {
                body.push_str(lines[i]);
                body.push('\n');
                i += 1;
            }
            let mark = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.trim().strip_prefix("<!-- readme:"))
                .and_then(|l| l.strip_suffix("-->"))
                .map(|m| m.trim().to_string());
            out.push(Block {
                line: start + 1,
                lang,
                mark,
                body,
            });
        }
        i += 1;
    }
    out
}

/// The commands of a shell block: comment-only lines dropped, a command
/// continued while a quote is open or a line ends with `\`.
fn commands(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in body.lines() {
        if cur.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        if !cur.is_empty() {
            cur.push('\n');
        }
        cur.push_str(line);
        let (open, code) = scan(&cur);
        if !open && !code.trim_end().ends_with('\\') {
            out.push(code.trim().to_string());
            cur.clear();
        }
    }
    assert!(cur.is_empty(), "unterminated command in README: {cur}");
    out
}

/// Whether a quote is still open at the end of `s`, and `s` without its
/// comments (`#` at the start of a word, outside quotes, to the line's end).
fn scan(s: &str) -> (bool, String) {
    let mut quote: Option<char> = None;
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
                prev = '\n';
                continue;
            }
            None => {}
        }
        out.push(c);
        prev = c;
    }
    (quote.is_some(), out)
}

/// What the test does with one command.
#[derive(Debug, PartialEq)]
enum Action {
    Export(String, String),
    Run,
    Serve,
    Poll,
    Skip(String),
}

fn classify(cmd: &str, mark: &str) -> Action {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    if words.first() == Some(&"export") && words.len() == 2 {
        let (k, v) = words[1].split_once('=').expect("export NAME=VALUE");
        let v = if v == "..." && mark == "mock" {
            "readme-test-key".to_string()
        } else {
            v.trim_matches('"').to_string()
        };
        return Action::Export(k.to_string(), v);
    }
    if cmd.contains("0.0.0.0") {
        return Action::Skip("binds every interface; tests bind only 127.0.0.1".into());
    }
    let sub = |a: &[&str]| words.len() > a.len() && words[1..=a.len()] == *a;
    if words.first() == Some(&"tarmac") {
        if sub(&["docs", "serve"]) || sub(&["orchestrate"]) || sub(&["mock-api"]) {
            return Action::Serve;
        }
        if sub(&["ingest", "realtime"]) && !words.contains(&"--once") {
            return Action::Poll;
        }
    }
    Action::Run
}

/// A serving command on port 0.
fn on_port_zero(cmd: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut it = cmd.split(' ').peekable();
    let mut has_port = false;
    while let Some(w) = it.next() {
        if w == "--port" || w == "--listen" || w == "--addr" {
            let _ = it.next();
            has_port = true;
            words.push(w.to_string());
            words.push(if w == "--port" { "0" } else { "127.0.0.1:0" }.to_string());
        } else {
            words.push(w.to_string());
        }
    }
    let mut out = words.join(" ");
    if !has_port {
        if cmd.contains("docs serve") {
            out.push_str(" --port 0");
        } else if cmd.contains("orchestrate") {
            out.push_str(" --listen 127.0.0.1:0");
        }
    }
    out
}

/// The world the README runs in.
struct World {
    root: PathBuf,
    cwd: PathBuf,
    env: BTreeMap<String, String>,
    bin_dir: PathBuf,
}

impl World {
    fn command(&self, script: &str) -> Command {
        let mut cmd = Command::new("bash");
        let state = self.root.join(".readme-cwd");
        let preamble = format!(
            "cargo() {{ if [ \"$1 $2 $3 $4\" = 'run -p tarmac --' ]; then shift 4; tarmac \"$@\"; \
             else echo \"the README test runs no cargo $*\" >&2; return 127; fi; }}\n\
             set -o pipefail\n\
             trap 'pwd > {}' EXIT\n",
            shell_quote(&state.to_string_lossy())
        );
        cmd.arg("-c")
            .arg(format!("{preamble}{script}"))
            .current_dir(&self.cwd)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", self.bin_dir.display()));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn after(&mut self) {
        if let Ok(p) = std::fs::read_to_string(self.root.join(".readme-cwd")) {
            self.cwd = PathBuf::from(p.trim());
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Output of a finished command, or what the test saw of a server.
struct Seen {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn reader(mut r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        let _ = tx.send(s);
    });
    rx
}

const COMMAND_LIMIT: Duration = Duration::from_secs(120);

fn wait(child: &mut Child, limit: Duration, what: &str) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("README command took longer than {limit:?}: {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_fg(world: &mut World, cmd: &str) -> Seen {
    let mut child = world.command(cmd).spawn().expect("bash");
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
    let code = wait(&mut child, COMMAND_LIMIT, cmd);
    world.after();
    Seen {
        code,
        stdout: out.recv().unwrap_or_default(),
        stderr: err.recv().unwrap_or_default(),
    }
}

/// SIGTERM (not SIGINT: a test runner started in the background passes
/// SIGINT on ignored, and serving commands that do not catch it would not
/// stop); SIGKILL if it has not stopped 15 s later. Whether
/// it stopped by itself is no part of the golden (a server's way to stop
/// on a signal is not what the README shows).
fn interrupt(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(15) {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A serving command: its announced address answers `/`, SIGTERM stops it.
fn run_server(world: &World, cmd: &str) -> Seen {
    let cmd = on_port_zero(cmd);
    let mut child = world.command(&format!("exec {cmd}")).spawn().expect("bash");
    let err = reader(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let _ = tx.send(lines.next().and_then(|l| l.ok()).unwrap_or_default());
        for _ in lines {}
    });
    let first = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    let url = first
        .split_once(" on ")
        .map(|(_, u)| u.trim().to_string())
        .unwrap_or_default();
    let status = if url.starts_with("http://127.0.0.1:") {
        http_status(&url)
    } else {
        format!("no address announced (first line {first:?})")
    };
    interrupt(&mut child);
    Seen {
        code: None,
        stdout: format!("{first}\n[the test asked GET {url}/: {status}; then SIGTERM]\n"),
        stderr: err.recv().unwrap_or_default(),
    }
}

/// The status line's code of `GET url/`.
fn http_status(url: &str) -> String {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return "connection refused".into();
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n");
    let mut line = String::new();
    let _ = BufReader::new(s).read_line(&mut line);
    line.split_whitespace()
        .nth(1)
        .unwrap_or("no answer")
        .to_string()
}

/// A polling loop: runs until its first poll has been reported, then SIGTERM.
fn run_poll(world: &World, cmd: &str) -> Seen {
    let mut child = world.command(&format!("exec {cmd}")).spawn().expect("bash");
    let (tx, rx) = mpsc::channel();
    let out_tx = tx.clone();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = out_tx.send((true, line));
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send((false, line));
        }
    });
    let (mut out, mut err) = (String::new(), String::new());
    let mut keep = |(is_out, line): (bool, String)| {
        let s = if is_out { &mut out } else { &mut err };
        s.push_str(&line);
        s.push('\n');
        line.contains("queryable")
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                if keep(l) {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    interrupt(&mut child);
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
        keep(l);
    }
    out.push_str("[the test sent SIGTERM after the first poll]\n");
    Seen {
        code: None,
        stdout: out,
        stderr: err,
    }
}

/// Output made comparable (see the module's comment).
struct Normal {
    subs: Vec<(String, String)>,
    dates: Vec<String>,
    time: regex::Regex,
    clock: regex::Regex,
    port: regex::Regex,
    pid: regex::Regex,
    node_line: regex::Regex,
    progress_line: regex::Regex,
    stamp: regex::Regex,
}

impl Normal {
    fn new(root: &Path) -> Normal {
        let mut subs = vec![];
        if let Ok(c) = root.canonicalize() {
            subs.push((c.to_string_lossy().into_owned(), "[TMP]".to_string()));
        }
        subs.push((root.to_string_lossy().into_owned(), "[TMP]".into()));
        if let Ok(c) = workspace().canonicalize() {
            subs.push((c.to_string_lossy().into_owned(), "[REPO]".into()));
        }
        let today = chrono::Utc::now().date_naive();
        let dates = (-150..=2)
            .map(|d| (today + chrono::Duration::days(d)).to_string())
            .collect();
        Normal {
            subs,
            dates,
            time: regex::Regex::new(
                r"\b\d+(\.\d+)?( ?(ms|µs|us|s)\b| seconds\b)|\b\d+m\d+(\.\d+)?s\b|\b\d\d:\d\d:\d\d\.\d+\b",
            )
            .unwrap(),
            clock: regex::Regex::new(r"^(  \| )?\d\d:\d\d:\d\d\b").unwrap(),
            port: regex::Regex::new(r"127\.0\.0\.1:\d+").unwrap(),
            pid: regex::Regex::new(r"\bpid \d+").unwrap(),
            node_line: regex::Regex::new(r"^(  \| )?\d\d:\d\d:\d\d  \d+ of \d+ ").unwrap(),
            progress_line: regex::Regex::new(
                r"^(  \| )?(\d+/\d+ [a-z ]+ done \(last: |\d+ [a-z ]+ to do$)",
            )
            .unwrap(),
            stamp: regex::Regex::new(r"\[DATE\][T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?")
                .unwrap(),
        }
    }

    fn apply(&self, text: &str) -> String {
        let mut out = String::new();
        for line in text.lines() {
            if self.node_line.is_match(line) || self.progress_line.is_match(line) {
                continue;
            }
            let mut l = line.trim_end().to_string();
            for (from, to) in &self.subs {
                l = l.replace(from.as_str(), to);
            }
            for d in &self.dates {
                l = l.replace(d.as_str(), "[DATE]");
            }
            l = self.stamp.replace_all(&l, "[DATE]T[CLOCK]").into_owned();
            l = self.clock.replace_all(&l, "${1}[CLOCK]").into_owned();
            l = self.time.replace_all(&l, "[TIME]").into_owned();
            l = self.port.replace_all(&l, "127.0.0.1:[PORT]").into_owned();
            l = self.pid.replace_all(&l, "pid [PID]").into_owned();
            out.push_str(&l);
            out.push('\n');
        }
        out
    }
}

/// Whether `actual` matches `expected` (`[..]` within a line, `...` lines).
fn matches(expected: &str, actual: &str) -> bool {
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    fn line_ok(e: &str, a: &str) -> bool {
        let parts: Vec<&str> = e.split("[..]").collect();
        if parts.len() == 1 {
            return e == a;
        }
        let mut rest = a;
        for (i, p) in parts.iter().enumerate() {
            if i == 0 {
                match rest.strip_prefix(p) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else if i == parts.len() - 1 {
                return rest.ends_with(p);
            } else {
                match rest.find(p) {
                    Some(at) => rest = &rest[at + p.len()..],
                    None => return false,
                }
            }
        }
        true
    }
    fn go(e: &[&str], a: &[&str]) -> bool {
        match e.first() {
            None => a.is_empty(),
            Some(&"...") => (0..=a.len()).any(|k| go(&e[1..], &a[k..])),
            Some(l) => !a.is_empty() && line_ok(l, a[0]) && go(&e[1..], &a[1..]),
        }
    }
    go(&e, &a)
}

/// A command's new golden when its output changed: the new output, but
/// where an old golden line with `[..]` (or a `...` line) still matches the
/// new output it stays, so a rewrite for one changed line does not pin the
/// figures that follow today's date (they differ the next day).
fn keep_wildcards(old: &str, new: &str) -> String {
    let e: Vec<&str> = old.lines().collect();
    let a: Vec<&str> = new.lines().collect();
    let line_ok = |e: &str, a: &str| e != "..." && matches(e, a);
    // f[i][j]: the most old lines e[i..] can keep while matching a[j..].
    // A `...` at i is kept only anchored: followed by old line i + 1 kept
    // on the new line where it stops eating (or last, eating the rest);
    // g[i][j] is the best such stop at or after j.
    let (n, m) = (e.len(), a.len());
    let mut f = vec![vec![0usize; m + 2]; n + 2];
    let mut g = vec![vec![0usize; m + 2]; n + 2];
    for i in (0..n).rev() {
        for j in (0..=m).rev() {
            if i + 1 < n && j < m {
                let here = if line_ok(e[i + 1], a[j]) {
                    f[i + 2][j + 1] + 2
                } else {
                    0
                };
                g[i][j] = here.max(g[i][j + 1]);
            }
            let mut b = f[i + 1][j]; // old line i dropped
            if j < m {
                b = b.max(f[i][j + 1]); // new line j written as it is
                if line_ok(e[i], a[j]) {
                    b = b.max(f[i + 1][j + 1] + 1);
                }
            }
            if e[i] == "..." {
                b = b.max(if i + 1 == n { 1 } else { g[i][j] });
            }
            f[i][j] = b;
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < n || j < m {
        if i < n && j < m && line_ok(e[i], a[j]) && f[i][j] == f[i + 1][j + 1] + 1 {
            out.push_str(e[i]);
            out.push('\n');
            i += 1;
            j += 1;
        } else if i < n && e[i] == "..." && i + 1 == n && f[i][j] == 1 {
            out.push_str("...\n");
            (i, j) = (n, m);
        } else if i < n && e[i] == "..." && g[i][j] > 0 && f[i][j] == g[i][j] {
            // eat up to the last new line where old line i + 1 holds
            out.push_str("...\n");
            let stop = (j..m)
                .rev()
                .find(|&k| line_ok(e[i + 1], a[k]) && f[i + 2][k + 1] + 2 == g[i][j]);
            j = stop.unwrap_or(j);
            i += 1;
        } else if i < n && f[i][j] == f[i + 1][j] {
            i += 1;
        } else {
            out.push_str(a[j]);
            out.push('\n');
            j += 1;
        }
    }
    if matches(&out, new) {
        out
    } else {
        new.to_string()
    }
}

/// The golden's sections, one per command (`$ command` starts one).
fn sections(golden: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in golden.lines() {
        if line.starts_with("$ ") || out.is_empty() {
            out.push(String::new());
        }
        let last = out.last_mut().unwrap();
        last.push_str(line);
        last.push('\n');
    }
    out
}

fn section(cmd: &str, seen: &Seen, normal: &Normal) -> String {
    let mut s = format!("$ {}\n", cmd.replace('\n', "\n> "));
    match seen.code {
        Some(c) => s.push_str(&format!("exit: {c}\n")),
        None => s.push_str("exit: (stopped by the test)\n"),
    }
    let out = normal.apply(&seen.stdout);
    if !out.is_empty() {
        s.push_str("--- stdout\n");
        s.push_str(&out);
    }
    let err = normal.apply(&seen.stderr);
    if !err.is_empty() {
        s.push_str("--- stderr\n");
        s.push_str(&err);
    }
    s
}

#[test]
fn readme_examples_run_and_match_their_goldens() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let golden_dir = workspace().join("crates/tarmac/tests/golden/readme");
    let bless = std::env::var_os("UPDATE_GOLDEN").is_some();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let home = root.join("home");
    let bin_dir = root.join(".bin");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("tarmac")).unwrap();
    // the shared archive the README imports, where the README says it is
    // (`../shared` of the folder it runs in)
    let shared = workspace().join("../shared");
    let work = root.join("readme-run");
    std::fs::create_dir_all(&work).unwrap();
    let have_shared = shared.is_dir();
    if have_shared {
        // the README imports it from `my-flights`, a folder below `readme-run`
        std::os::unix::fs::symlink(shared.canonicalize().unwrap(), work.join("shared")).unwrap();
    } else if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "the shared archive is not beside this checkout ({})",
            shared.display()
        );
    }

    let have_jq = Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_jq && std::env::var("CI").as_deref() == Ok("true") {
        panic!("jq is not installed (the README's examples use it; .ci/run installs it)");
    }
    let api = MockApi::start(&[], &[]);
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("HOME", home.to_string_lossy().into_owned()),
        (
            "TARMAC_STATE_HOME",
            root.join("state").to_string_lossy().into_owned(),
        ),
        ("FLIGHTLABS_BASE_URL", api.url.clone()),
        // the mock answers at once; the client's default 10/10 would take minutes
        ("FLIGHTLABS_RATE_LIMIT", "1000/1".into()),
        ("NO_COLOR", "1".into()),
        ("TOKEN", "readme-test-token".into()),
        ("LANG", "C.UTF-8".into()),
    ] {
        env.insert(k.to_string(), v);
    }
    let mut world = World {
        root: root.clone(),
        cwd: work,
        env,
        bin_dir,
    };
    let normal = Normal::new(&root);

    let mut failures = Vec::new();
    let mut report = Vec::new();
    let mut timings = Vec::new();
    let mut n = 0;
    for block in blocks(&readme) {
        let mark = block.mark.clone().unwrap_or_default();
        if let Some(file) = mark.strip_prefix("append ") {
            let path = world.cwd.join(file.trim());
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .unwrap();
            writeln!(f, "\n{}", block.body).unwrap();
            report.push(format!("line {}: appended to {}", block.line, file.trim()));
            continue;
        }
        if block.lang != "sh" {
            continue;
        }
        n += 1;
        if let Some(reason) = mark.strip_prefix("skip:") {
            report.push(format!(
                "line {}: block {n} SKIPPED: {}",
                block.line,
                reason.trim()
            ));
            continue;
        }
        let started = Instant::now();
        let mut actual = String::new();
        for cmd in commands(&block.body) {
            let took = Instant::now();
            let seen = match classify(&cmd, &mark) {
                Action::Export(k, v) => {
                    world.env.insert(k, v);
                    continue;
                }
                Action::Skip(reason) => {
                    report.push(format!(
                        "line {}: block {n}: SKIPPED `{cmd}`: {reason}",
                        block.line
                    ));
                    continue;
                }
                Action::Run if cmd.contains("../shared") && !have_shared => {
                    report.push(format!(
                        "line {}: block {n}: SKIPPED `{cmd}`: the shared archive is not beside this checkout",
                        block.line
                    ));
                    continue;
                }
                Action::Run if cmd.contains("| jq") && !have_jq => {
                    report.push(format!(
                        "line {}: block {n}: SKIPPED `{cmd}`: no jq on PATH",
                        block.line
                    ));
                    continue;
                }
                Action::Run => run_fg(&mut world, &cmd),
                Action::Serve => run_server(&world, &cmd),
                Action::Poll => run_poll(&world, &cmd),
            };
            for text in [&seen.stdout, &seen.stderr] {
                if text.contains("selects nothing") {
                    failures.push(format!(
                        "README line {}: `{cmd}` selects nothing:\n{text}",
                        block.line
                    ));
                }
                if text.contains('\x1b') {
                    failures.push(format!("README line {}: `{cmd}`: colour codes", block.line));
                }
            }
            actual.push_str(&section(&cmd, &seen, &normal));
            timings.push(format!(
                "{:5.1} s  {}",
                took.elapsed().as_secs_f64(),
                cmd.lines().next().unwrap_or("")
            ));
        }
        report.push(format!(
            "line {}: block {n} ran in {:.1} s",
            block.line,
            started.elapsed().as_secs_f64()
        ));
        let path = golden_dir.join(format!("block-{n:02}.txt"));
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        if matches(&expected, &actual) {
            continue;
        }
        if bless {
            // keep each command's golden where it still matches
            let old = sections(&expected);
            let new: String = sections(&actual)
                .into_iter()
                .map(|s| {
                    let head = s.lines().next().unwrap_or("").to_string();
                    match old.iter().find(|o| o.lines().next() == Some(head.as_str())) {
                        Some(o) if matches(o, &s) => o.clone(),
                        Some(o) => keep_wildcards(o, &s),
                        None => s,
                    }
                })
                .collect();
            std::fs::create_dir_all(&golden_dir).unwrap();
            std::fs::write(&path, new).unwrap();
        } else {
            // the commands whose output differs, each beside its golden
            let old = sections(&expected);
            let mut shown = String::new();
            for (i, sec) in sections(&actual).into_iter().enumerate() {
                let want = old.get(i).cloned().unwrap_or_default();
                if !matches(&want, &sec) {
                    shown.push_str(&format!("--- expected\n{want}--- actual\n{sec}"));
                }
            }
            failures.push(format!(
                "README line {}: block {n} differs from {} (UPDATE_GOLDEN=1 rewrites it)\n{shown}",
                block.line,
                path.display()
            ));
        }
    }
    eprintln!("README commands:\n  {}", timings.join("\n  "));
    eprintln!("README blocks:\n  {}", report.join("\n  "));
    assert!(n > 10, "found only {n} shell blocks in README.md");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_rewritten_golden_keeps_the_wildcards_that_still_match() {
    let old = "$ tarmac up\nexit: 0\nfound 5 models\nfetched [..] records\n| key |\n...\n\ndone in [TIME]\n";
    let new = "$ tarmac up\nexit: 0\nfound 6 models\nfetched 7225 records\n| key |\n| a |\n| b |\n\ndone in [TIME]\n";
    let kept = keep_wildcards(old, new);
    assert_eq!(
        kept,
        "$ tarmac up\nexit: 0\nfound 6 models\nfetched [..] records\n| key |\n...\n\ndone in [TIME]\n"
    );
    assert!(matches(&kept, new));
    // a wildcard line that no longer matches gives way to the new line
    let new = "$ tarmac up\nexit: 1\nfound 6 models\nerror: no key\n";
    assert_eq!(keep_wildcards(old, new), new);
}

#[test]
fn the_harness_reads_commands_as_a_shell_would() {
    let body = "# a comment\ntarmac a   # note\ntarmac sql -c \"SELECT 1\n   FROM t\"   # more\n\
                tarmac b \\\n  --c\n";
    assert_eq!(
        commands(body),
        [
            "tarmac a",
            "tarmac sql -c \"SELECT 1\n   FROM t\"",
            "tarmac b \\\n  --c"
        ]
    );
    assert_eq!(
        classify("export FLIGHTLABS_ACCESS_KEY=...", "mock"),
        Action::Export("FLIGHTLABS_ACCESS_KEY".into(), "readme-test-key".into())
    );
    assert_eq!(classify("tarmac docs serve", ""), Action::Serve);
    assert_eq!(
        classify("tarmac ingest realtime --airport BOG", ""),
        Action::Poll
    );
    assert_eq!(classify("tarmac ingest realtime --once", ""), Action::Run);
    assert!(matches!(
        classify("tarmac orchestrate --listen 0.0.0.0:8080", ""),
        Action::Skip(_)
    ));
    assert_eq!(
        on_port_zero("tarmac docs serve --port 8080"),
        "tarmac docs serve --port 0"
    );
    assert_eq!(
        on_port_zero("tarmac orchestrate"),
        "tarmac orchestrate --listen 127.0.0.1:0"
    );
    assert!(matches("a [..] c\n...\nz\n", "a b c\nx\ny\nz\n"));
    assert!(!matches("a [..] c\nz\n", "a b d\nz\n"));
    assert!(!matches("a\n", "a\nb\n"));
    let md = "x\n<!-- readme: mock -->\n```sh\ntarmac up\n```\n";
    let b = blocks(md);
    assert_eq!(b[0].mark.as_deref(), Some("mock"));
    assert_eq!(b[0].lang, "sh");
}
