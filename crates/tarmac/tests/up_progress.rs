//! `tarmac up` on a terminal shows its phases (ingest, build, tests) as
//! progress bars that stay above the summary; in a pipe it prints plain
//! lines and no bar. Through a pseudo-terminal, as a user runs it.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Everything `tarmac up` writes to a terminal, until it exits.
fn up_on_a_terminal(dir: &std::path::Path) -> (String, i32) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(dir)
        .args(["up", "--days", "1"])
        .env("TERM", "xterm-256color")
        .env("TARMAC_STATE_HOME", dir.join("state"))
        .env_remove("FLIGHTLABS_ACCESS_KEY")
        .env_remove("FLIGHTLABS_BASE_URL")
        .env_remove("TARMAC_LOG")
        .env_remove("NO_COLOR");
    let mut session = expectrl::Session::spawn(cmd).expect("spawn in a pty");
    let mut out = Vec::new();
    let mut buf = [0u8; 16384];
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut code = None;
    loop {
        while let Ok(n) = session.try_read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        if let Some(c) = code {
            return (String::from_utf8_lossy(&out).into_owned(), c);
        }
        match session.get_process().status() {
            Ok(expectrl::WaitStatus::Exited(_, c)) => code = Some(c),
            Ok(expectrl::WaitStatus::Signaled(_, sig, _)) => code = Some(128 + sig as i32),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "still running:\n{}",
            String::from_utf8_lossy(&out)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn up_shows_its_phases_on_a_terminal_and_none_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let (screen, code) = up_on_a_terminal(dir.path());
    assert_eq!(code, 0, "{screen}");
    for phase in ["[1/3] ingest", "[2/3] build", "[3/3] tests"] {
        assert!(screen.contains(phase), "no {phase} in:\n{screen}");
    }
    // the bars end full: every model and every test of the build
    assert!(screen.contains("15/15 models"), "{screen}");
    assert!(screen.contains("62/62 tests"), "{screen}");
    // they replace the line per node; the summary follows them
    assert!(!screen.contains(" of 77 START"), "{screen}");
    assert!(screen.contains("next: tarmac sql"), "{screen}");

    // in a pipe: the usual lines, no bars
    let o = run(tarmac(dir.path())
        .env("TARMAC_STATE_HOME", dir.path().join("state"))
        .args(["up", "--days", "1"]));
    assert!(o.status.success(), "{}", text(&o));
    let all = text(&o);
    assert!(!all.contains("[2/3] build") && !all.contains('\r'), "{all}");
    assert!(all.contains(" of 77 START"), "{all}");
}
