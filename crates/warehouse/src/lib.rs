//! The warehouse file: the one crate that opens DuckDB on it.
//!
//! DuckDB lets one process hold a database file for writing, and a
//! reader's lock blocks a writer too. Every command that writes the
//! warehouse (ingest, build, test, docs generate, `up`) opens it here and
//! gets the same protocol:
//!
//! 1. the file is probed for damage ([`probe`]): its headers before DuckDB
//!    sees it, the blocks its tables use right after DuckDB opened it;
//! 2. a writer takes the intent lock beside the file ([`lock::intent_path`]),
//!    so readers that start while it waits queue behind it;
//! 3. DuckDB's open is retried every 100 ms while another process holds the
//!    file, for at most [`Wait::bound`]; the wait is reported on stderr
//!    (progress output, and the orchestrator's run log) when it starts,
//!    every 10 s, and when it ends;
//! 4. an open that still fails is one error: [`Error::Locked`] names the
//!    holder's pid, [`Error::Damaged`] names the fix. Their exit codes
//!    ([`EXIT_LOCKED`], [`EXIT_DAMAGED`]) tell the orchestrator's retry
//!    policy what to do.
//!
//! The crate re-exports `duckdb`, so the crates above it use DuckDB's types
//! through it and do not link DuckDB themselves.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use duckdb;

pub mod conn;
pub mod lock;
pub mod probe;
pub mod timezone;

pub use conn::Conn;
pub use lock::{classify, Holder, Kind};

/// Exit code of a command that gave up waiting for the warehouse: 75,
/// `EX_TEMPFAIL` ("try again later"), which the orchestrator retries.
pub const EXIT_LOCKED: u8 = 75;
/// Exit code of a command that found the warehouse damaged: 65,
/// `EX_DATAERR`; retrying cannot help, so it is in the default `never_retry`.
pub const EXIT_DAMAGED: u8 = 65;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another process held the file for longer than the wait.
    #[error("the warehouse {} is locked by another process{holder}; waited {} s (set TARMAC_LOCK_WAIT=SECONDS to wait longer)", path.display(), waited.as_secs())]
    Locked {
        path: PathBuf,
        holder: Holder,
        waited: Duration,
    },
    /// The file is damaged; nothing may write to it.
    #[error("the warehouse {} is damaged: {reason}. Nothing will write to it. Rebuild it from the landing zone into a new file with `tarmac ingest replay --into NEW.duckdb`, put that file in its place, then run `tarmac build`", path.display())]
    Damaged { path: PathBuf, reason: String },
    /// A setting DuckDB refused when opening.
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    /// Any other reason DuckDB could not open the file.
    #[error("cannot open the warehouse {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The exit code a command should end with for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Locked { .. } => EXIT_LOCKED,
            Error::Damaged { .. } => EXIT_DAMAGED,
            _ => 1,
        }
    }

    /// A DuckDB error met after the open (a query), classified the same way.
    pub fn from_duckdb(path: &Path, e: &duckdb::Error) -> Error {
        let message = e.to_string();
        match classify(&message) {
            Kind::Locked(holder) => Error::Locked {
                path: path.to_path_buf(),
                holder,
                waited: Duration::ZERO,
            },
            Kind::Damaged(reason) => Error::Damaged {
                path: path.to_path_buf(),
                reason,
            },
            Kind::Other => Error::Open {
                path: path.to_path_buf(),
                message: bounded(message.lines().next().unwrap_or_default(), 500).to_string(),
            },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to open the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The one writer: creates the file (and its folder) when missing.
    Write,
    /// A reader: never creates anything, steps aside for a waiting writer.
    ReadOnly,
}

/// How long an open waits for another process to let go of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub bound: Duration,
}

/// The default bound: 5 minutes, longer than any statement of a reader and
/// any step the orchestrator runs on its own warehouse lock.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);

impl Wait {
    /// One attempt, no waiting (for callers with their own loop).
    pub const NONE: Wait = Wait {
        bound: Duration::ZERO,
    };

    /// `TARMAC_LOCK_WAIT` (seconds) or [`DEFAULT_WAIT`].
    pub fn from_env() -> Wait {
        let bound = std::env::var("TARMAC_LOCK_WAIT")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_WAIT);
        Wait { bound }
    }
}

static WAITED_MS: AtomicU64 = AtomicU64::new(0);

/// Milliseconds this process has spent waiting for the warehouse.
pub fn waited_total() -> Duration {
    Duration::from_millis(WAITED_MS.load(Ordering::Relaxed))
}

const POLL: Duration = Duration::from_millis(100);
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Opens the warehouse file as the one writer, or as a reader.
///
/// `settings` are DuckDB configuration options applied when opening
/// (profiles.yml's `config_options`); a refused one is [`Error::Config`].
pub fn open(
    path: &Path,
    access: Access,
    settings: &[(String, String)],
    wait: Wait,
) -> Result<Conn> {
    // the `duckdb` crate's checks of the settings, so that a bad one is
    // reported before anything else; the open goes through `conn`
    let config = || -> Result<duckdb::Config> {
        let mut c = duckdb::Config::default();
        if access == Access::ReadOnly {
            c = c
                .access_mode(duckdb::AccessMode::ReadOnly)
                .map_err(|e| Error::Config {
                    key: "access_mode".into(),
                    message: e.to_string(),
                })?;
        }
        for (k, v) in settings {
            c = c.with(k, v).map_err(|e| Error::Config {
                key: k.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(c)
    };
    config()?;
    let read_only = access == Access::ReadOnly;
    let open_database = || {
        conn::open_database(path, read_only, settings).map_err(|e| match e {
            conn::OpenError::Setting { key, message } => Error::Config { key, message },
            conn::OpenError::Open(e) => Error::from_duckdb(path, &e),
        })
    };
    if path.as_os_str() == ":memory:" {
        return open_database().map_err(|e| match e {
            Error::Locked { .. } | Error::Damaged { .. } => {
                unreachable!("a new in-memory database")
            }
            other => other,
        });
    }
    if access == Access::Write {
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).map_err(|e| Error::Io {
                path: d.to_path_buf(),
                source: e,
            })?;
        }
    }
    if access == Access::Write && !path.exists() {
        create(path, settings)?;
    }
    if let Err(reason) = probe::check(path) {
        return Err(Error::Damaged {
            path: path.to_path_buf(),
            reason,
        });
    }
    let started = Instant::now();
    let mut waiting = Waiting::new(path, wait);
    // the writer's intent: held while it waits, dropped once DuckDB lets it in
    let mut intent = None;
    loop {
        let ready = match access {
            Access::Write => {
                if intent.is_none() {
                    intent = lock::try_writer_intent(path);
                }
                intent.is_some()
            }
            Access::ReadOnly => lock::no_writer_waiting(path),
        };
        let outcome = if ready {
            match open_database() {
                Ok(conn) => {
                    waiting.done(started.elapsed());
                    drop(intent);
                    if let Err(reason) = probe::check_blocks(&conn, path) {
                        return Err(Error::Damaged {
                            path: path.to_path_buf(),
                            reason,
                        });
                    }
                    return Ok(conn);
                }
                Err(Error::Locked { holder, .. }) => holder,
                Err(other) => return Err(other),
            }
        } else {
            Holder::default() // a writer waits before us
        };
        if started.elapsed() >= wait.bound {
            waiting.done(started.elapsed());
            return Err(Error::Locked {
                path: path.to_path_buf(),
                holder: outcome,
                waited: started.elapsed(),
            });
        }
        waiting.tick(&outcome, started.elapsed(), ready);
        std::thread::sleep(POLL);
    }
}

/// Creates a new, empty warehouse file at `path`, all at once: DuckDB
/// makes it under a temporary name beside it, closes it, and it is synced
/// and then linked into place. A process killed while DuckDB writes a new
/// file's headers left a file DuckDB calls "not a valid DuckDB database
/// file", which the damage probe then rightly refused, so a rerun after a
/// kill in an import's first few milliseconds failed. The link does not
/// replace: when another writer created the file first, this one uses
/// theirs (replacing it could leave them writing to a file no longer
/// there). Temporary files of killed creators are removed once their
/// process is gone.
fn create(path: &Path, settings: &[(String, String)]) -> Result<()> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!(".{name}.creating-");
    // what killed creators left
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = file
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split('.').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let temp = dir.join(format!("{prefix}{}", std::process::id()));
    let wal = dir.join(format!("{prefix}{}.wal", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let _ = std::fs::remove_file(&wal);
    let made = conn::open_database(&temp, false, settings).map_err(|e| match e {
        conn::OpenError::Setting { key, message } => Error::Config { key, message },
        conn::OpenError::Open(e) => Error::from_duckdb(&temp, &e),
    });
    drop(made?);
    let linked = (|| -> Result<()> {
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(io(&temp))?;
        match std::fs::hard_link(&temp, path) {
            Ok(()) => {}
            // another writer created it meanwhile: theirs is the file
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(path)(e)),
        }
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))
    })();
    let _ = std::fs::remove_file(&temp);
    let _ = std::fs::remove_file(&wal);
    linked
}

/// Reports a wait: once when it starts, every [`REPORT_EVERY`], and once at
/// the end; adds it to [`waited_total`].
struct Waiting<'a> {
    path: &'a Path,
    wait: Wait,
    told: bool,
    last: Duration,
}

impl<'a> Waiting<'a> {
    fn new(path: &'a Path, wait: Wait) -> Self {
        Waiting {
            path,
            wait,
            told: false,
            last: Duration::ZERO,
        }
    }

    fn tick(&mut self, holder: &Holder, elapsed: Duration, duckdb_refused: bool) {
        let who = if duckdb_refused {
            format!("held by another process{holder}")
        } else {
            "another writer is waiting for it".to_string()
        };
        if !self.told {
            self.told = true;
            self.last = elapsed;
            let line = format!(
                "tarmac: the warehouse {} is {who}; waiting up to {} s",
                self.path.display(),
                self.wait.bound.as_secs()
            );
            tracing::info!("{line}");
            eprintln!("{line}");
        } else if elapsed - self.last >= REPORT_EVERY {
            self.last = elapsed;
            eprintln!(
                "tarmac: still waiting for the warehouse ({who}, {} s so far)",
                elapsed.as_secs()
            );
        }
    }

    fn done(&self, elapsed: Duration) {
        if self.told {
            WAITED_MS.fetch_add(elapsed.as_millis() as u64, Ordering::Relaxed);
            let line = format!(
                "tarmac: waited {:.1} s for the warehouse",
                elapsed.as_secs_f64()
            );
            tracing::info!("{line}");
            eprintln!("{line}");
        }
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` and
/// the size when cut. Every error that echoes input (a CSV line, a body, a
/// DuckDB message quoting a value) goes through it, so a 50 MB line makes a
/// short message.
pub fn bounded(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}… ({} bytes in all)", &text[..end], text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_on_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        let long = "é".repeat(400);
        let cut = bounded(&long, 301);
        assert!(cut.starts_with(&"é".repeat(150)));
        assert!(cut.ends_with("… (800 bytes in all)"), "{cut}");
        assert!(cut.len() < 330);
    }

    #[test]
    fn a_new_warehouse_appears_whole_and_what_killed_creators_left_goes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.duckdb");
        // a creator killed before its link (its process is long gone)
        let stale = dir.path().join(".w.duckdb.creating-999999999");
        std::fs::write(&stale, b"half a header").unwrap();
        let c = open(&p, Access::Write, &[], Wait::NONE).unwrap();
        c.execute_batch("create table t(i int); insert into t values (7)")
            .unwrap();
        drop(c);
        assert!(!stale.exists(), "the dead creator's file is removed");
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("creating"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(probe::check(&p).is_ok());
        // an existing file is opened, never replaced by a new empty one
        let c = open(&p, Access::Write, &[], Wait::NONE).unwrap();
        let n: i64 = c
            .query_row("select sum(i) from t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 7);
    }

    #[test]
    fn a_writer_waits_for_a_reader_then_opens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.duckdb");
        open(&p, Access::Write, &[], Wait::NONE)
            .unwrap()
            .execute_batch("create table t(i int)")
            .unwrap();
        // another process would hold DuckDB's lock; in one process DuckDB
        // shares the instance, so the intent lock stands in for it here
        let held = lock::try_writer_intent(&p).unwrap().unwrap();
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            open(
                &p2,
                Access::Write,
                &[],
                Wait {
                    bound: Duration::from_secs(5),
                },
            )
        });
        std::thread::sleep(Duration::from_millis(400));
        drop(held);
        let conn = t.join().unwrap().expect("opened after the wait");
        conn.execute_batch("insert into t values (1)").unwrap();
        assert!(waited_total() >= Duration::from_millis(300));
    }

    #[test]
    fn a_wait_past_its_bound_is_a_lock_error_with_its_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.duckdb");
        let _held = lock::try_writer_intent(&p).unwrap().unwrap();
        let e = open(
            &p,
            Access::Write,
            &[],
            Wait {
                bound: Duration::from_millis(250),
            },
        )
        .expect_err("held");
        assert!(matches!(e, Error::Locked { .. }), "{e}");
        assert_eq!(e.exit_code(), EXIT_LOCKED);
        assert!(e.to_string().contains("locked by another process"), "{e}");
    }

    #[test]
    fn a_reader_steps_aside_for_a_waiting_writer() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.duckdb");
        drop(open(&p, Access::Write, &[], Wait::NONE).unwrap());
        let _held = lock::try_writer_intent(&p).unwrap().unwrap();
        let e = open(&p, Access::ReadOnly, &[], Wait::NONE).expect_err("writer first");
        assert!(matches!(e, Error::Locked { .. }));
    }

    #[test]
    fn a_cut_file_is_damaged_before_duckdb_opens_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.duckdb");
        let c = open(&p, Access::Write, &[], Wait::NONE).unwrap();
        c.execute_batch(
            "create table t as select range as i, repeat('x', 100) as s from range(200000); checkpoint;",
        )
        .unwrap();
        drop(c);
        let len = std::fs::metadata(&p).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let e = open(&p, Access::Write, &[], Wait::NONE).expect_err("damaged");
        assert_eq!(e.exit_code(), EXIT_DAMAGED);
        let m = e.to_string();
        assert!(
            m.contains("damaged") && m.contains("tarmac ingest replay"),
            "{m}"
        );
    }
}
