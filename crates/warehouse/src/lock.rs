//! What DuckDB's errors mean for the warehouse file, decided here and only
//! here, and the writer's intent lock that gives a waiting writer priority
//! over readers that come after it.
//!
//! DuckDB lets one process hold a file for writing, and a reader's lock
//! blocks a writer too. Its lock error is an `IO Error` whose text is the
//! only signal ("Could not set lock on file …: Conflicting lock is held in
//! PROGRAM (PID N) by user U"); every caller used to look for its own
//! substring, and two of them decided differently.

use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Who holds the warehouse, as far as DuckDB says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub program: Option<String>,
}

impl fmt::Display for Holder {
    /// ` (pid N, program)`, ` (pid N)` or nothing, to follow "another process".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.pid, &self.program) {
            (Some(pid), Some(p)) => write!(f, " (pid {pid}, {p})"),
            (Some(pid), None) => write!(f, " (pid {pid})"),
            _ => Ok(()),
        }
    }
}

/// What a DuckDB error says about the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Another process holds the file (or a conflicting lock).
    Locked(Holder),
    /// DuckDB found the file damaged (checksum, bad header, truncated read).
    Damaged(String),
    /// Anything else.
    Other,
}

/// Classifies a DuckDB error message. The one place that does.
pub fn classify(message: &str) -> Kind {
    if message.contains("Could not set lock on file")
        || message.contains("Conflicting lock is held")
    {
        return Kind::Locked(holder(message));
    }
    let damaged = [
        "Corrupt",
        "corrupt",
        "checksum",
        "Checksum",
        "not a valid DuckDB database file",
        "Could not read enough bytes",
    ];
    if damaged.iter().any(|d| message.contains(d)) {
        return Kind::Damaged(crate::bounded(first_line(message), 300).into_owned());
    }
    Kind::Other
}

/// Whether a DuckDB error is another process holding the file.
pub fn is_locked(message: &str) -> bool {
    matches!(classify(message), Kind::Locked(_))
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

/// The holder named in DuckDB's lock error.
fn holder(message: &str) -> Holder {
    let pid = message.split("(PID ").nth(1).and_then(|rest| {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    });
    let program = message
        .split("Conflicting lock is held in ")
        .nth(1)
        .and_then(|rest| rest.split(" (PID").next())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| crate::bounded(p, 200).into_owned());
    Holder { pid, program }
}

/// The intent file beside the warehouse: `<file>.writer`. A writer that has
/// to wait holds it exclusively until DuckDB gives it the file; readers take
/// it shared (and drop it) before each open, so a reader that starts while a
/// writer waits queues behind that writer instead of extending the wait.
pub fn intent_path(warehouse: &Path) -> PathBuf {
    let mut name = warehouse
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".writer");
    warehouse.with_file_name(name)
}

/// A held intent lock; dropping it releases it.
#[derive(Debug)]
pub struct Intent {
    _file: File,
}

fn open_intent(warehouse: &Path) -> Option<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(intent_path(warehouse))
        .ok()
}

fn try_flock(f: &File, exclusive: bool) -> bool {
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: flock on a descriptor we own; no memory is involved.
    unsafe { libc::flock(f.as_raw_fd(), op | libc::LOCK_NB) == 0 }
}

/// Takes the writer's intent now, or None when another writer holds it.
/// A directory where the file cannot be created (read-only) gives an intent
/// that guards nothing: DuckDB's own lock still decides.
pub fn try_writer_intent(warehouse: &Path) -> Option<Option<Intent>> {
    match open_intent(warehouse) {
        None => Some(None),
        Some(f) => try_flock(&f, true).then_some(Some(Intent { _file: f })),
    }
}

/// Whether no writer is waiting for the file (a reader may go ahead).
pub fn no_writer_waiting(warehouse: &Path) -> bool {
    // readers never create the file: a missing one means no writer waits
    let Ok(f) = std::fs::File::open(intent_path(warehouse)) else {
        return true;
    };
    try_flock(&f, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_holder_from_duckdbs_lock_error() {
        let m = "IO Error: Could not set lock on file \"w.duckdb\": Conflicting lock is held in bin/tarmac (PID 4242) by user me. See also https://duckdb.org/docs/stable/connect/concurrency";
        assert_eq!(
            classify(m),
            Kind::Locked(Holder {
                pid: Some(4242),
                program: Some("bin/tarmac".into())
            })
        );
        assert_eq!(
            Holder {
                pid: Some(4242),
                program: Some("bin/tarmac".into())
            }
            .to_string(),
            " (pid 4242, bin/tarmac)"
        );
        assert_eq!(
            classify("IO Error: Could not set lock on file \"x\""),
            Kind::Locked(Holder::default())
        );
        assert_eq!(
            classify("Catalog Error: Table x does not exist"),
            Kind::Other
        );
        // a table named "lock" is not a lock error (the old ingest test)
        assert_eq!(
            classify("Catalog Error: Table with name lock does not exist!"),
            Kind::Other
        );
        assert!(matches!(
            classify("IO Error: Corrupt database file: computed checksum 1 does not match stored checksum 2 in block 7"),
            Kind::Damaged(_)
        ));
    }

    #[test]
    fn a_waiting_writer_holds_readers_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.duckdb");
        assert!(no_writer_waiting(&db), "no intent file yet");
        let held = try_writer_intent(&db).expect("free").expect("created");
        assert!(!no_writer_waiting(&db));
        assert!(try_writer_intent(&db).is_none(), "one writer at a time");
        drop(held);
        assert!(no_writer_waiting(&db));
        assert_eq!(intent_path(&db), dir.path().join("w.duckdb.writer"));
    }
}
