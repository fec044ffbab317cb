//! Running statements: the DuckDB session, the warehouse attachment, waiting
//! for a writer, and Ctrl-C.
//!
//! # Why the warehouse is attached only while a statement runs
//!
//! DuckDB lets one process open a database file for writing, and a reader's
//! lock blocks that writer too. A shell left open in a terminal all day must
//! not stop the scheduler's builds, so the session's own database is an
//! in-memory one and the warehouse file is `ATTACH`ed (and `USE`d) for each
//! statement and `DETACH`ed as soon as the prompt is back: the file is locked
//! only while a query runs. Session state (settings, temporary tables,
//! macros, other attachments) lives in the in-memory database and survives.
//! Inside an explicit transaction the file stays attached until it ends.
//! Scripts (`-c`, stdin) keep it attached between statements, which saves
//! an attach apiece, but let it go between two statements as soon as a
//! writer waits for the file (`warehouse::lock::no_writer_waiting`), so
//! that writer waits for one statement at most, as with the interactive shell.
//!
//! When another process holds the file, ATTACH fails with DuckDB's lock
//! error; the session then says once on stderr who holds it and retries
//! until `wait` has passed or Ctrl-C is pressed, and then gives a one-line
//! error instead of DuckDB's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warehouse::duckdb::{self, InterruptHandle};

use crate::output::{Column, Mode, RenderOptions, ResultWriter};
use crate::sql::{leading_keyword, quote_ident, quote_literal};
use crate::Error;

/// Ctrl-C: what the SIGINT watcher thread and the running statement share.
pub struct Cancel {
    /// Ctrl-C was pressed since the current statement started.
    requested: AtomicBool,
    /// A statement (or a wait for the lock) is in progress.
    running: AtomicBool,
    /// Exit at once on Ctrl-C when nothing runs (scripts: nothing to go back to).
    exit_when_idle: AtomicBool,
    interrupt: Mutex<Option<Arc<InterruptHandle>>>,
}

impl Cancel {
    fn new(exit_when_idle: bool) -> Arc<Cancel> {
        Arc::new(Cancel {
            requested: AtomicBool::new(false),
            running: AtomicBool::new(false),
            exit_when_idle: AtomicBool::new(exit_when_idle),
            interrupt: Mutex::new(None),
        })
    }

    /// Forgets earlier Ctrl-Cs: called when the prompt is shown (where
    /// Ctrl-C is a key, not a signal). A Ctrl-C between Enter and the start
    /// of the statement (while the database opens, say) still cancels it.
    pub fn clear(&self) {
        self.requested.store(false, Ordering::SeqCst);
    }

    fn begin(&self) {
        self.running.store(true, Ordering::SeqCst);
    }

    fn end(&self) {
        self.running.store(false, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// What a Ctrl-C does: interrupt the running query, and keep doing so
    /// until it stops (DuckDB drops an interrupt that lands while a query is
    /// still being prepared).
    fn on_sigint(&self) {
        self.requested.store(true, Ordering::SeqCst);
        if !self.running.load(Ordering::SeqCst) {
            if self.exit_when_idle.load(Ordering::SeqCst) {
                std::process::exit(130);
            }
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.running.load(Ordering::SeqCst) && self.requested() && Instant::now() < deadline {
            if let Ok(guard) = self.interrupt.lock() {
                if let Some(h) = guard.as_ref() {
                    h.interrupt();
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Handles Ctrl-C from now on (before the database is even open: an early
/// Ctrl-C must not kill an interactive shell). `interactive`: a Ctrl-C with
/// nothing running is ignored; in scripts it exits with 130.
pub fn handle_ctrl_c(interactive: bool) -> Result<Arc<Cancel>, Error> {
    let cancel = Cancel::new(!interactive);
    watch_sigint(cancel.clone())?;
    Ok(cancel)
}

/// Starts the thread that turns SIGINT into [`Cancel::on_sigint`]. The
/// interrupt is sent from a normal thread, not from the signal handler:
/// DuckDB's interrupt takes a lock, which a signal handler must not.
fn watch_sigint(cancel: Arc<Cancel>) -> Result<(), Error> {
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])
        .map_err(|e| Error::Io(format!("cannot handle Ctrl-C: {e}")))?;
    std::thread::Builder::new()
        .name("sigint".into())
        .spawn(move || {
            for _ in signals.forever() {
                cancel.on_sigint();
            }
        })
        .map_err(|e| Error::Io(format!("cannot start the Ctrl-C thread: {e}")))?;
    Ok(())
}

/// The warehouse file and whether it is attached right now.
#[derive(Debug)]
struct Warehouse {
    path: PathBuf,
    alias: String,
    read_only: bool,
    attached: bool,
    /// `USE` target to restore on the next attach (the user's current
    /// database and schema when it was detached), if they were in it.
    restore: Option<String>,
}

/// How a statement went.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Rows in the result (0 for statements without one).
    pub rows: u64,
    /// The statement may have changed the catalog: reload completion data.
    pub catalog_changed: bool,
}

/// A DuckDB session on the warehouse.
pub struct Session {
    conn: warehouse::Conn,
    warehouse: Option<Warehouse>,
    /// Keep the file attached between statements while no writer waits (scripts).
    keep_attached: bool,
    in_transaction: bool,
    wait: Duration,
    cancel: Arc<Cancel>,
}

/// Statements that print no result (as in the DuckDB CLI), unless RETURNING.
const SILENT: &[&str] = &[
    "ALTER",
    "ANALYZE",
    "ATTACH",
    "BEGIN",
    "CHECKPOINT",
    "COMMENT",
    "COMMIT",
    "COPY",
    "CREATE",
    "DEALLOCATE",
    "DELETE",
    "DETACH",
    "DROP",
    "END",
    "EXPORT",
    "FORCE",
    "IMPORT",
    "INSERT",
    "INSTALL",
    "LOAD",
    "PREPARE",
    "RESET",
    "ROLLBACK",
    "SET",
    "START",
    "TRUNCATE",
    "UPDATE",
    "USE",
    "VACUUM",
    "ABORT",
];

impl Session {
    /// Opens a session on `path` (`None`: an in-memory database only).
    /// A missing file is an error unless `create`. Nothing is attached yet.
    pub fn open(
        path: Option<&Path>,
        create: bool,
        read_only: bool,
        wait: Duration,
        cancel: Arc<Cancel>,
    ) -> Result<Session, Error> {
        // through the warehouse crate: DuckDB with Tarmac's time-zone
        // functions and casts (see `warehouse::timezone`)
        let conn = warehouse::open(
            Path::new(":memory:"),
            warehouse::Access::Write,
            &[],
            warehouse::Wait::NONE,
        )
        .map_err(|e| Error::Open {
            path: ":memory:".into(),
            message: e.to_string(),
        })?;
        if let Ok(mut g) = cancel.interrupt.lock() {
            *g = Some(conn.interrupt_handle());
        }
        let interactive = !cancel.exit_when_idle.load(Ordering::SeqCst);
        let mut s = Session {
            conn,
            warehouse: None,
            keep_attached: !interactive,
            in_transaction: false,
            wait,
            cancel,
        };
        if let Some(p) = path {
            s.set_warehouse(p, create, read_only)?;
        }
        Ok(s)
    }

    /// Points the session at another database file (`.open`).
    pub fn set_warehouse(
        &mut self,
        path: &Path,
        create: bool,
        read_only: bool,
    ) -> Result<(), Error> {
        if path.as_os_str() == ":memory:" {
            self.detach(true)?;
            self.warehouse = None;
            return Ok(());
        }
        if !path.exists() && !create {
            return Err(Error::Missing {
                path: path.to_path_buf(),
            });
        }
        if path.is_dir() {
            return Err(Error::Open {
                path: path.to_path_buf(),
                message: "is a directory, not a database file".into(),
            });
        }
        self.detach(true)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("warehouse");
        let reserved = ["memory", "system", "temp", "main"];
        let alias = if stem.is_empty() || reserved.iter().any(|r| r.eq_ignore_ascii_case(stem)) {
            "warehouse".to_string()
        } else {
            stem.to_string()
        };
        self.warehouse = Some(Warehouse {
            path: path.to_path_buf(),
            alias: alias.clone(),
            read_only,
            attached: false,
            restore: Some(quote_ident(&alias)),
        });
        Ok(())
    }

    /// The database file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.warehouse.as_ref().map(|w| w.path.as_path())
    }

    /// The name the warehouse has in SQL (its file stem).
    pub fn alias(&self) -> Option<&str> {
        self.warehouse.as_ref().map(|w| w.alias.as_str())
    }

    pub fn version(&self) -> String {
        self.conn.version().unwrap_or_else(|_| "?".into())
    }

    pub fn set_keep_attached(&mut self, keep: bool) {
        self.keep_attached = keep;
    }

    /// Attaches the warehouse if it is not, waiting while another process
    /// holds it.
    pub fn attach(&mut self) -> Result<(), Error> {
        self.attach_within(self.wait)
    }

    /// Attaches the warehouse, waiting at most `wait` for a writer.
    fn attach_within(&mut self, wait: Duration) -> Result<(), Error> {
        let Some(w) = self.warehouse.as_mut() else {
            return Ok(());
        };
        if w.attached {
            return Ok(());
        }
        let path_text = w.path.to_string_lossy().to_string();
        let sql = format!(
            "ATTACH {} AS {}{}",
            quote_literal(&path_text),
            quote_ident(&w.alias),
            if w.read_only { " (READ_ONLY)" } else { "" }
        );
        if let Err(reason) = warehouse::probe::check(&w.path) {
            return Err(Error::Damaged(
                warehouse::Error::Damaged {
                    path: w.path.clone(),
                    reason,
                }
                .to_string(),
            ));
        }
        let started = Instant::now();
        let mut announced = false;
        loop {
            // a writer waiting for the file goes first: this statement
            // queues behind it instead of making its wait longer
            let attached = if warehouse::lock::no_writer_waiting(&w.path) {
                self.conn.execute_batch(&sql).map_err(|e| e.to_string())
            } else {
                Err(String::new())
            };
            match attached {
                Ok(()) => break,
                Err(message) => {
                    // Ctrl-C interrupts the connection too: an ATTACH it
                    // cut short fails with DuckDB's "Interrupted!", which
                    // is the user giving up, not a file that cannot open
                    if self.cancel.requested() {
                        return Err(Error::GaveUp);
                    }
                    let holder = if message.is_empty() {
                        " (a writer is waiting for it)".to_string()
                    } else {
                        match warehouse::classify(&message) {
                            warehouse::Kind::Locked(h) => h.to_string(),
                            warehouse::Kind::Damaged(reason) => {
                                return Err(Error::Damaged(
                                    warehouse::Error::Damaged {
                                        path: w.path.clone(),
                                        reason,
                                    }
                                    .to_string(),
                                ))
                            }
                            warehouse::Kind::Other => {
                                return Err(Error::Open {
                                    path: w.path.clone(),
                                    message: first_line(&message),
                                })
                            }
                        }
                    };
                    if started.elapsed() >= wait {
                        return Err(Error::Locked {
                            path: w.path.clone(),
                            holder,
                            waited: wait,
                        });
                    }
                    if !announced {
                        eprintln!(
                            "the warehouse is being written by another process{}; waiting up to {} s… Ctrl-C to give up",
                            holder,
                            wait.as_secs()
                        );
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        w.attached = true;
        if let Some(target) = &w.restore {
            self.conn
                .execute_batch(&format!("USE {target}"))
                .map_err(|e| Error::Sql(e.to_string()))?;
        }
        Ok(())
    }

    /// Detaches the warehouse (between interactive statements), remembering
    /// where the user was. `force`: even in a script or a transaction.
    pub fn detach(&mut self, force: bool) -> Result<(), Error> {
        if !force && self.in_transaction {
            return Ok(());
        }
        let Some(w) = self.warehouse.as_mut() else {
            return Ok(());
        };
        if !w.attached {
            return Ok(());
        }
        // A script keeps the file between its statements (attaching for
        // each would cost a catalog read apiece), unless a writer is
        // waiting: then it lets go here and queues behind the writer at its
        // next statement, so a reader never holds a writer up for more than
        // the statement that was running when the writer came.
        if !force && self.keep_attached && warehouse::lock::no_writer_waiting(&w.path) {
            return Ok(());
        }
        let current: Option<(String, String)> = self
            .conn
            .query_row("SELECT current_database(), current_schema()", [], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .ok();
        let in_warehouse = current
            .as_ref()
            .is_some_and(|(db, _)| db.eq_ignore_ascii_case(&w.alias));
        let sql = if in_warehouse {
            format!("USE memory; DETACH {}", quote_ident(&w.alias))
        } else {
            format!("DETACH {}", quote_ident(&w.alias))
        };
        match self.conn.execute_batch(&sql) {
            Ok(()) => {
                w.attached = false;
                w.restore = if in_warehouse {
                    current.map(|(db, schema)| {
                        format!("{}.{}", quote_ident(&db), quote_ident(&schema))
                    })
                } else {
                    None
                };
                Ok(())
            }
            // Still in use (an open transaction): it stays attached.
            Err(_) if !force => Ok(()),
            Err(e) => Err(Error::Sql(e.to_string())),
        }
    }

    /// Runs one statement and writes its result to `out`.
    pub fn run(
        &mut self,
        sql: &str,
        out: &mut dyn std::io::Write,
        mode: Mode,
        opts: RenderOptions,
    ) -> Result<Outcome, Error> {
        self.cancel.begin();
        let result = if self.cancel.requested() {
            Err(Error::Interrupted)
        } else {
            self.run_inner(sql, out, mode, opts)
        };
        self.cancel.end();
        let keyword = leading_keyword(sql).unwrap_or_default();
        match keyword.as_str() {
            "BEGIN" | "START" if result.is_ok() => self.in_transaction = true,
            "COMMIT" | "END" | "ROLLBACK" | "ABORT" => self.in_transaction = false,
            _ => {}
        }
        let interrupted = self.cancel.requested();
        self.detach(false)?;
        match result {
            Err(Error::Sql(m)) if interrupted || m.contains("INTERRUPT") => Err(Error::Interrupted),
            other => other,
        }
    }

    fn run_inner(
        &mut self,
        sql: &str,
        out: &mut dyn std::io::Write,
        mode: Mode,
        opts: RenderOptions,
    ) -> Result<Outcome, Error> {
        self.attach()?;
        let keyword = leading_keyword(sql).unwrap_or_default();
        let mut stmt = self
            .conn
            .prepare(sql)
            .map_err(|e| Error::Sql(e.to_string()))?;
        let count = stmt.column_count();
        let logical = logical_types(&stmt, count);
        let stream = stmt
            .stream_arrow([])
            .map_err(|e| Error::Sql(e.to_string()))?;
        let schema = stream.get_schema();
        let columns: Vec<Column> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match logical.get(i) {
                Some(t) if logical.len() == schema.fields().len() => {
                    Column::from_logical(f.name(), t)
                }
                _ => Column::from_arrow(f.name(), f.data_type()),
            })
            .collect();
        let returning = crate::sql::lex(sql).iter().any(|t| {
            t.kind == crate::sql::TokenKind::Word
                && sql[t.range.clone()].eq_ignore_ascii_case("RETURNING")
        });
        let silent = columns.is_empty() || (SILENT.contains(&keyword.as_str()) && !returning);
        let catalog_changed = crate::sql::changes_catalog(sql);
        if silent {
            let mut rows = 0;
            for batch in stream {
                rows += batch.map_err(|e| Error::Sql(e.to_string()))?.num_rows() as u64;
            }
            return Ok(Outcome {
                rows,
                catalog_changed,
            });
        }
        if keyword == "EXPLAIN" && mode.is_grid() {
            // A plan is pre-drawn text: print it as DuckDB does, not in a grid.
            let mut rows = 0;
            for batch in stream {
                let batch = batch.map_err(|e| Error::Sql(e.to_string()))?;
                let col = batch.num_columns().saturating_sub(1);
                for r in 0..batch.num_rows() {
                    let mut text = String::new();
                    crate::output::write_plain(batch.column(col).as_ref(), r, &mut text);
                    writeln!(out, "{text}").map_err(io_error)?;
                    rows += 1;
                }
            }
            return Ok(Outcome {
                rows,
                catalog_changed,
            });
        }
        let mut writer = ResultWriter::new(out, mode, columns, opts);
        for batch in stream {
            let batch = batch.map_err(|e| Error::Sql(e.to_string()))?;
            writer.push_batch(&batch).map_err(io_error)?;
        }
        let rows = writer.finish().map_err(io_error)?;
        Ok(Outcome {
            rows,
            catalog_changed,
        })
    }

    /// Runs a query of the shell's own (catalog lookups) and returns its rows
    /// as text. `wait`: wait for a writer as statements do (else fail at once).
    pub fn query_text(
        &mut self,
        sql: &str,
        params: &[&str],
        wait: bool,
    ) -> Result<Vec<Vec<Option<String>>>, Error> {
        self.attach_within(if wait { self.wait } else { Duration::ZERO })?;
        let result = (|| {
            let mut stmt = self.conn.prepare(sql)?;
            let n = stmt.column_count();
            let mut rows = stmt.query(duckdb::params_from_iter(params.iter()))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut row = Vec::with_capacity(n);
                for i in 0..n {
                    row.push(r.get::<_, Option<String>>(i)?);
                }
                out.push(row);
            }
            Ok::<_, duckdb::Error>(out)
        })();
        self.detach(false)?;
        result.map_err(|e| Error::Sql(e.to_string()))
    }
}

/// DuckDB's types of the result columns (Arrow's lose the JSON alias), or
/// none when DuckDB cannot say before running the statement: the duckdb
/// crate panics then, so the panic is caught (and kept quiet) and the Arrow
/// types are used instead.
fn logical_types(
    stmt: &duckdb::Statement<'_>,
    count: usize,
) -> Vec<duckdb::core::LogicalTypeHandle> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let types = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        (0..count)
            .map(|i| stmt.column_logical_type(i))
            .collect::<Vec<_>>()
    }));
    std::panic::set_hook(previous);
    types.unwrap_or_default()
}

fn io_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Error::BrokenPipe
    } else {
        Error::Io(e.to_string())
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cancel() -> Arc<Cancel> {
        handle_ctrl_c(true).expect("ctrl-c")
    }

    fn session() -> Session {
        Session::open(None, false, false, Duration::from_secs(1), cancel()).expect("session")
    }

    fn run(s: &mut Session, sql: &str, mode: Mode) -> Result<String, Error> {
        let mut out = Vec::new();
        s.run(sql, &mut out, mode, RenderOptions::default())?;
        Ok(String::from_utf8(out).expect("utf8"))
    }

    #[test]
    fn runs_statements_in_memory() {
        let mut s = session();
        assert_eq!(
            run(&mut s, "create table t as select 1 as a", Mode::Csv).expect("create"),
            ""
        );
        assert_eq!(
            run(&mut s, "insert into t values (2)", Mode::Csv).expect("insert"),
            ""
        );
        assert_eq!(
            run(&mut s, "select * from t order by a", Mode::Csv).expect("select"),
            "a\n1\n2\n"
        );
        assert_eq!(
            run(&mut s, "insert into t values (3) returning a", Mode::Csv).expect("returning"),
            "a\n3\n"
        );
        let err = run(&mut s, "select nope from t", Mode::Csv).expect_err("error");
        assert!(
            matches!(&err, Error::Sql(m) if m.contains("nope") && m.contains("LINE 1")),
            "{err:?}"
        );
    }

    #[test]
    fn a_missing_file_is_an_error_unless_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("w.duckdb");
        let e = Session::open(Some(&p), false, false, Duration::from_secs(1), cancel()).err();
        assert!(matches!(e, Some(Error::Missing { .. })), "{e:?}");
        let mut s =
            Session::open(Some(&p), true, false, Duration::from_secs(1), cancel()).expect("create");
        run(&mut s, "create table t(a int)", Mode::Csv).expect("create");
        assert_eq!(s.alias(), Some("w"));
        // Detached between statements: another connection can open the file.
        let other = duckdb::Connection::open(&p).expect("the file is free between statements");
        drop(other);
        assert_eq!(
            run(&mut s, "select count(*) as n from t", Mode::Csv).expect("count"),
            "n\n0\n"
        );
    }

    #[test]
    fn the_users_schema_survives_detaching() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("w.duckdb");
        let mut s =
            Session::open(Some(&p), true, false, Duration::from_secs(1), cancel()).expect("create");
        run(&mut s, "create schema bronze", Mode::Csv).ok();
        run(&mut s, "create table bronze.x(a int)", Mode::Csv).expect("table");
        run(&mut s, "use w.bronze", Mode::Csv).expect("use");
        assert_eq!(
            run(&mut s, "select count(*) as n from x", Mode::Csv).expect("count"),
            "n\n0\n"
        );
    }

    #[test]
    fn a_script_lets_go_of_the_file_between_statements_when_a_writer_waits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("w.duckdb");
        let mut s =
            Session::open(Some(&p), true, false, Duration::from_secs(1), cancel()).expect("create");
        s.set_keep_attached(true);
        run(&mut s, "create table t(a int)", Mode::Csv).expect("table");
        // no writer waits: the script keeps the file between statements
        let attached = |s: &Session| s.warehouse.as_ref().is_some_and(|w| w.attached);
        assert!(attached(&s), "a script holds the file while nobody waits");
        let intent = warehouse::lock::try_writer_intent(&p)
            .expect("no other writer")
            .expect("an intent file");
        run(&mut s, "select count(*) from t", Mode::Csv).expect("count");
        // the statement that ran when the writer came finished, then the
        // script let go: the writer gets the file before the next statement
        assert!(!attached(&s), "the script let go after that statement");
        drop(intent);
        assert_eq!(
            run(&mut s, "select count(*) as n from t", Mode::Csv).expect("count"),
            "n\n0\n"
        );
    }
}
