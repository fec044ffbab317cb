//! Helpers for the `tarmac sql` tests: a small warehouse made with the duckdb
//! crate, `-c` runs, and a pseudo-terminal whose screen is emulated (vt100)
//! so tests read what a person would see.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tarmac");

/// Creates `dir/w.duckdb`: a flights table, a bronze schema, and a wide
/// table; returns its path.
pub fn make_warehouse(dir: &Path) -> PathBuf {
    let path = dir.join("w.duckdb");
    let conn = duckdb::Connection::open(&path).expect("create warehouse");
    conn.execute_batch(
        "CREATE TABLE flights AS SELECT * FROM (VALUES
            (1, 'AV 123', 'BOG', 'landed', TIMESTAMP '2024-08-12 10:00:00', 12.5),
            (2, 'LA 456', 'MDE', 'scheduled', TIMESTAMP '2024-08-12 11:30:00', NULL),
            (3, 'AV 789', 'BOG', 'cancelled', TIMESTAMP '2024-08-13 07:15:00', -3.0)
         ) t(id, flight_number, airport, status, scheduled_at, delay_minutes);
         CREATE SCHEMA bronze;
         CREATE TABLE bronze.flightlabs_historical (landing_file VARCHAR, record_index INTEGER, record JSON);
         INSERT INTO bronze.flightlabs_historical VALUES ('a.json.zst', 0, '{\"number\": \"AV 123\"}');
         CREATE TABLE wide AS SELECT 1 AS a_first_column, 2 AS a_second_column, 3 AS a_third_column,
            4 AS a_fourth_column, 5 AS a_fifth_column, 6 AS a_sixth_column, 7 AS a_seventh_column;",
    )
    .expect("fill warehouse");
    path
}

/// `tarmac sql ARGS` in `dir`, with a private history file and no
/// inherited config.
pub fn sql(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .arg("sql")
        .env("TARMAC_SQL_HISTORY", dir.join("history"))
        .env_remove("TARMAC_LOG")
        .env_remove("FLIGHTLABS_ACCESS_KEY")
        .env_remove("FLIGHTLABS_BASE_URL")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` with `input` on standard input.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn tarmac sql");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Compares `actual` with the golden file `tests/golden/sql/NAME`, byte for
/// byte; `UPDATE_GOLDEN=1` rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/sql")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir golden");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
    if expected != actual {
        panic!(
            "output differs from {} (UPDATE_GOLDEN=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}",
            path.display()
        );
    }
}

/// `tarmac sql` in a pseudo-terminal, with its screen emulated.
pub struct Term {
    session: expectrl::Session,
    parser: vt100::Parser,
    /// Bytes of an escape sequence split across reads.
    carry: Vec<u8>,
    /// Cursor-position queries answered since the last input: the line
    /// editor asks one each time it starts reading a line.
    queries: usize,
}

const DSR: &[u8] = b"\x1b[6n";

impl Term {
    /// Starts `tarmac sql ARGS` in `dir` in an 80×24 terminal.
    pub fn start(dir: &Path, args: &[&str]) -> Term {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .arg("sql")
            .args(args)
            .env("TERM", "xterm-256color")
            .env("TARMAC_SQL_HISTORY", dir.join("history"))
            .env_remove("TARMAC_LOG")
            .env_remove("NO_COLOR");
        let session = expectrl::Session::spawn(cmd).expect("spawn in a pty");
        Term {
            session,
            parser: vt100::Parser::new(24, 80, 0),
            carry: Vec::new(),
            queries: 0,
        }
    }

    /// Reads what the program wrote, answering cursor-position queries as a
    /// real terminal does (the line editor asks where its prompt is).
    fn pump(&mut self) -> bool {
        let mut buf = [0u8; 16384];
        let mut got = false;
        loop {
            match self.session.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got = true;
                    let mut bytes = std::mem::take(&mut self.carry);
                    bytes.extend_from_slice(&buf[..n]);
                    self.feed(&bytes);
                }
                Err(_) => break,
            }
        }
        got
    }

    fn feed(&mut self, bytes: &[u8]) {
        if let Some(log) = std::env::var_os("SQL_TERM_LOG") {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
            {
                let _ = f.write_all(bytes);
            }
        }
        let mut rest = bytes;
        while let Some(i) = rest.windows(DSR.len()).position(|w| w == DSR) {
            self.parser.process(&rest[..i]);
            let (row, col) = self.parser.screen().cursor_position();
            let _ = self.session.send(format!("\x1b[{};{}R", row + 1, col + 1));
            self.queries += 1;
            rest = &rest[i + DSR.len()..];
        }
        // keep a possible start of a query for the next read
        let keep = (1..DSR.len())
            .rev()
            .find(|k| rest.len() >= *k && rest.ends_with(&DSR[..*k]))
            .unwrap_or(0);
        self.parser.process(&rest[..rest.len() - keep]);
        self.carry = rest[rest.len() - keep..].to_vec();
    }

    /// The visible screen, rows joined by newlines, trailing blanks trimmed.
    pub fn screen(&mut self) -> String {
        self.pump();
        self.parser.screen().contents()
    }

    /// The row the cursor is on.
    pub fn cursor_line(&mut self) -> String {
        self.pump();
        let screen = self.parser.screen();
        let (row, _) = screen.cursor_position();
        let (_, cols) = screen.size();
        screen
            .rows(0, cols)
            .nth(usize::from(row))
            .unwrap_or_default()
    }

    /// Waits until the screen shows `text`; panics with the screen after
    /// `secs` seconds.
    pub fn wait_for(&mut self, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("the screen never showed {text:?}; it shows:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(15));
        }
    }

    /// Waits for a new, empty prompt: the editor started reading a line
    /// since the last input, and `D ` is alone on the cursor's row.
    pub fn wait_prompt(&mut self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.cursor_line().trim_end() == "D" && self.queries > 0 {
                return;
            }
            if Instant::now() > deadline {
                let s = self.screen();
                panic!("no prompt; the screen shows:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(15));
        }
    }

    /// Types text (no Enter).
    pub fn send(&mut self, text: &str) {
        self.queries = 0;
        self.session.send(text).expect("type");
        std::thread::sleep(Duration::from_millis(30));
        self.pump();
    }

    /// Types a line and presses Enter.
    pub fn line(&mut self, text: &str) {
        self.send(text);
        self.send("\r");
    }

    /// Waits for the program to exit; its exit code. The terminal is not
    /// read meanwhile: the kernel's hang-up of the terminal of an exiting
    /// session leader waits (up to 5 s) while the other side keeps polling it.
    pub fn exit_code(&mut self, secs: u64) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            match self.session.get_process().status() {
                Ok(expectrl::WaitStatus::Exited(_, code)) => return code,
                Ok(expectrl::WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
                _ => {}
            }
            if Instant::now() > deadline {
                panic!("still running; the screen shows:\n{}", self.screen());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.session.get_process_mut().exit(true);
    }
}
