//! `tarmac sql` from scripts: `-c`, standard input, exit codes, errors,
//! dot commands, the configured warehouse, a locked file, and a big result
//! streamed in constant memory.

mod sql_common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sql_common::*;

#[test]
fn dash_c_prints_csv_when_piped_and_the_mode_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let out = sql(dir.path())
        .arg(&db)
        .args(["-c", "select id, airport from flights order by id"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "id,airport\n1,BOG\n2,MDE\n3,BOG\n");
    let out = sql(dir.path())
        .arg(&db)
        .args([
            "--mode",
            "jsonl",
            "-c",
            "select id from flights where id = 2; select 'two' as s",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "{\"id\":2}\n{\"s\":\"two\"}\n");
}

#[test]
fn the_configured_warehouse_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("data");
    std::fs::create_dir(&sub).unwrap();
    make_warehouse(&sub);
    std::fs::write(
        dir.path().join("tarmac.toml"),
        "[warehouse]\npath = \"data/w.duckdb\"\n",
    )
    .unwrap();
    let out = sql(dir.path())
        .args(["-c", "select count(*) as n from flights"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n\n3\n");
}

#[test]
fn a_missing_warehouse_says_so_and_suggests_tarmac_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = sql(dir.path()).args(["-c", "select 1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("no database at tarmac.duckdb"), "{err}");
    assert!(err.contains("tarmac up"), "{err}");
    assert!(
        !dir.path().join("tarmac.duckdb").exists(),
        "nothing is created"
    );
    // --create makes one
    let out = sql(dir.path())
        .args([
            "--create",
            "new.duckdb",
            "-c",
            "create table t as select 1 as a",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("new.duckdb").exists());
}

#[test]
fn a_sql_error_goes_to_stderr_with_its_position_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let out = sql(dir.path())
        .arg(&db)
        .args(["-c", "select 1 as before_error; selec 2; select 3 as never"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "before_error\n1\n",
        "stops at the first error"
    );
    let err = stderr(&out);
    assert!(
        err.contains("Parser Error: syntax error at or near \"selec\""),
        "{err}"
    );
    assert!(err.contains("LINE 1: selec 2;"), "{err}");
    assert!(
        err.contains("\n        ^"),
        "the caret marks the position: {err}"
    );
}

#[test]
fn scripts_from_standard_input_with_dot_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let script = "-- a script\n.mode markdown\nselect id,\n       status\nfrom flights\nwhere id < 3\norder by id;\n.tables\n.mode line\nselect 'x' as one;\n";
    let out = run_with_stdin(sql(dir.path()).arg(&db), script);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "| id | status    |\n|---:|-----------|\n|  1 | landed    |\n|  2 | scheduled |\n\
         flights\nwide\nbronze.flightlabs_historical\none = x\n"
    );
    let out = run_with_stdin(
        sql(dir.path()).arg(&db),
        "select 1;\nselect * from nowhere;\nselect 2;\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Table with name nowhere does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn output_once_read_schema_and_unknown_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    std::fs::write(dir.path().join("script.sql"), "select 7 as seven;\n").unwrap();
    let out = sql(dir.path())
        .arg(&db)
        .args([
            "-c",
            ".once once.csv",
            "-c",
            "select 1 as a",
            "-c",
            "select 2 as b",
        ])
        .args([
            "-c",
            ".output all.csv",
            "-c",
            "select 3 as c",
            "-c",
            ".read script.sql",
            "-c",
            ".output",
        ])
        .args(["-c", ".schema flights"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("once.csv")).unwrap(),
        "a\n1\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("all.csv")).unwrap(),
        "c\n3\nseven\n7\n"
    );
    let text = stdout(&out);
    assert!(text.starts_with("b\n2\nCREATE TABLE flights("), "{text}");
    assert!(text.contains("delay_minutes DECIMAL"), "{text}");

    let out = sql(dir.path())
        .arg(&db)
        .args(["-c", ".frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown command .frobnicate: see .help"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn models_without_artifacts_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = sql(dir.path())
        .args([":memory:", "-c", ".models"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "no models built yet: run `tarmac build`\n");
}

#[test]
fn a_locked_warehouse_fails_clearly_after_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let db = make_warehouse(dir.path());
    let writer = duckdb::Connection::open(&db).unwrap();
    let started = Instant::now();
    let out = sql(dir.path())
        .arg(&db)
        .args(["--wait", "1", "-c", "select 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() >= Duration::from_secs(1));
    let err = stderr(&out);
    assert!(
        err.contains("being written by another process (pid "),
        "{err}"
    );
    assert!(
        err.contains("still being written by another process"),
        "{err}"
    );
    assert!(err.contains("--wait SECONDS"), "{err}");
    // Released while waiting: the query runs. The lock is dropped only once
    // the shell has said it is waiting, so a slow start on a loaded machine
    // cannot make the test pass or fail by timing.
    let mut child = sql(dir.path())
        .arg(&db)
        .args(["--wait", "60", "-c", "select count(*) as n from flights"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let mut err = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&err).contains("waiting up to 60 s") {
        let n = err_pipe.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the shell ended without waiting: {}",
            String::from_utf8_lossy(&err)
        );
        err.extend_from_slice(&buf[..n]);
    }
    drop(writer);
    err_pipe.read_to_end(&mut err).unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&err));
    assert_eq!(out, "n\n3\n");
}

/// Peak resident memory of a running process, from /proc (Linux only).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_big_csv_result_streams_in_constant_memory() {
    let dir = tempfile::tempdir().unwrap();
    let rows = 2_000_000u64;
    let query = format!(
        "select i, 'row number ' || i || ' ' || repeat('x', 60) as label from range({rows}) t(i)"
    );
    let mut child = sql(dir.path())
        .args([":memory:", "-c", &query])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let (mut bytes, mut lines) = (0u64, 0u64);
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    bytes += n as u64;
                    lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
                }
            }
        }
        (bytes, lines)
    });
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(rss_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(10));
    }
    let (bytes, lines) = reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines, rows + 1);
    eprintln!("{bytes} bytes of CSV, peak RSS {} MiB", peak / 1024);
    assert!(bytes > 150 * 1024 * 1024, "{bytes}");
    // Far less than the output: nothing is collected.
    assert!(
        peak < 120 * 1024,
        "peak RSS {} MiB for {} MiB of output",
        peak / 1024,
        bytes >> 20
    );
}

#[test]
fn timer_help_and_the_in_memory_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = sql(dir.path())
        .args([
            ":memory:",
            "-c",
            ".timer on",
            "-c",
            "select 1 as one",
            "-c",
            ".timer off",
            "-c",
            "select 2 as two",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("one\n1\nRun Time (s): real "), "{text}");
    assert!(text.ends_with("two\n2\n"), "{text}");
    assert_eq!(text.matches("Run Time").count(), 1, "{text}");
    let out = sql(dir.path())
        .args([":memory:", "-c", ".help"])
        .output()
        .unwrap();
    let text = stdout(&out);
    for command in [
        ".tables", ".schema", ".mode", ".timer", ".output", ".once", ".read", ".open", ".maxrows",
        ".models", ".lineage", ".quit",
    ] {
        assert!(
            text.contains(command),
            "{command} missing from .help:\n{text}"
        );
    }
}
