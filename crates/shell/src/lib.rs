//! `tarmac sql`: a SQL shell on the warehouse that DuckDB CLI users feel at
//! home in — the same output modes and dot commands, a line editor with
//! completion and history, and scripts from `-c` or standard input.
//!
//! Modules:
//! - [`sql`]: the lexer behind statement splitting, completeness, colours
//!   and completion context;
//! - [`output`]: the output modes;
//! - [`exec`]: the DuckDB session, the warehouse attachment (locked only
//!   while a statement runs), waiting for a writer, Ctrl-C;
//! - [`complete`], [`highlight`]: completion and colours;
//! - [`dot`]: dot commands; [`models`]: `.models` and `.lineage`;
//! - [`repl`]: the interactive loop.

pub mod complete;
pub mod dot;
pub mod exec;
pub mod highlight;
pub mod models;
pub mod output;
pub mod repl;
pub mod sql;

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub use output::Mode;

use complete::Catalog;
use exec::Session;
use output::RenderOptions;
use sql::Piece;

/// Everything that can go wrong in the shell.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// DuckDB's own message, which marks the position of the error.
    #[error("{0}")]
    Sql(String),
    #[error("no database at {}: run `tarmac up` to build the warehouse, or name a database file: `tarmac sql FILE`", path.display())]
    Missing { path: PathBuf },
    #[error("cannot open {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    #[error("the warehouse {} is still being written by another process{holder} after {} s: try again when it is done, or wait longer with --wait SECONDS", path.display(), waited.as_secs())]
    Locked {
        path: PathBuf,
        holder: String,
        waited: Duration,
    },
    /// The warehouse file is damaged (the message names the fix).
    #[error("{0}")]
    Damaged(String),
    #[error("gave up waiting for the warehouse")]
    GaveUp,
    #[error("interrupted")]
    Interrupted,
    /// The reader of our output went away (`| head`): stop quietly.
    #[error("output closed")]
    BrokenPipe,
    #[error("{0}")]
    Io(String),
    /// A dot command used wrongly.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Models(String),
}

/// What `tarmac sql` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The database file; `None` for an in-memory database.
    pub database: Option<PathBuf>,
    /// Create the file if it does not exist.
    pub create: bool,
    /// Attach the file read-only.
    pub read_only: bool,
    /// `-c` scripts, run in order instead of reading standard input.
    pub commands: Vec<String>,
    /// Output mode (default: duckbox on a terminal, CSV otherwise).
    pub mode: Option<Mode>,
    /// How long to wait for another process that is writing the file.
    pub wait: Duration,
    /// Where `target/manifest.json` is looked for.
    pub project_dir: PathBuf,
    /// History file (default: in the user's data directory).
    pub history_file: Option<PathBuf>,
}

/// Where results go (`.output`, `.once`).
enum Sink {
    Stdout,
    File { file: BufWriter<File>, once: bool },
}

/// Whether to go on reading statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The session, or the thread opening it. Why: opening DuckDB and reading
/// the catalog take most of the start-up time, and nobody types a query in
/// the first 50 ms, so the interactive shell shows its prompt at once and
/// the first statement (or dot command) waits for the end of the opening.
enum Slot {
    Ready(Box<Session>),
    Opening(std::thread::JoinHandle<Result<(Session, bool), Error>>),
    /// Transient, while a thread is joined.
    Empty,
}

/// The shell's state: the session and the settings dot commands change.
pub struct Shell {
    session: Slot,
    mode: Mode,
    /// `.maxrows` as set (None: the default for where output goes).
    max_rows: Option<usize>,
    /// `.maxwidth` as set (None or 0: the terminal's width).
    max_width: Option<usize>,
    timer: bool,
    sink: Sink,
    catalog: Arc<RwLock<Catalog>>,
    /// False while the background opening has not read the catalog yet:
    /// completion waits for it rather than offer nothing.
    catalog_ready: Arc<AtomicBool>,
    /// Ctrl-C state shared with the signal thread.
    ctrl_c: Arc<exec::Cancel>,
    /// The catalog could not be read (the file was locked): read it after the
    /// next statement that attaches.
    catalog_stale: bool,
    project_dir: PathBuf,
    /// The database file named on the command line (for the banner).
    database: Option<PathBuf>,
    read_only: bool,
    interactive: bool,
    stdout_tty: bool,
    /// `.read` nesting, to stop a file that reads itself.
    depth: usize,
}

/// Runs the shell; returns the process exit code (0, 1 after an error, 130
/// after Ctrl-C).
pub fn run(opts: Options) -> Result<i32, Error> {
    let stdin_tty = io::stdin().is_terminal();
    let stdout_tty = io::stdout().is_terminal();
    let interactive = opts.commands.is_empty() && stdin_tty;
    let catalog = Arc::new(RwLock::new(Catalog::default()));
    let catalog_ready = Arc::new(AtomicBool::new(true));
    let cancel = exec::handle_ctrl_c(interactive)?;
    let ctrl_c = cancel.clone();
    let session = if interactive {
        // A missing file is reported before the prompt; the rest in the
        // background (see `Slot`).
        if let Some(p) = opts.database.as_deref() {
            if !p.exists() && !opts.create {
                return Err(Error::Missing {
                    path: p.to_path_buf(),
                });
            }
        }
        let (o, catalog, project_dir) = (opts.clone(), catalog.clone(), opts.project_dir.clone());
        catalog_ready.store(false, Ordering::SeqCst);
        let ready = ReadyOnDrop(catalog_ready.clone());
        Slot::Opening(std::thread::spawn(move || {
            let _ready = ready;
            let mut session =
                Session::open(o.database.as_deref(), o.create, o.read_only, o.wait, cancel)?;
            let loaded = match read_catalog(&mut session, &project_dir) {
                Ok(c) => {
                    if let Ok(mut slot) = catalog.write() {
                        *slot = c;
                    }
                    true
                }
                Err(Error::Locked { .. }) => false,
                Err(e) => return Err(e),
            };
            Ok((session, loaded))
        }))
    } else {
        Slot::Ready(Box::new(Session::open(
            opts.database.as_deref(),
            opts.create,
            opts.read_only,
            opts.wait,
            cancel,
        )?))
    };
    let mode = opts
        .mode
        .unwrap_or(if stdout_tty { Mode::Duckbox } else { Mode::Csv });
    let mut shell = Shell {
        session,
        mode,
        max_rows: None,
        max_width: None,
        timer: false,
        sink: Sink::Stdout,
        catalog,
        catalog_ready,
        ctrl_c,
        catalog_stale: true,
        project_dir: opts.project_dir.clone(),
        database: opts.database.clone(),
        read_only: opts.read_only,
        interactive,
        stdout_tty,
        depth: 0,
    };
    if interactive {
        return repl::run(&mut shell, opts.history_file.clone());
    }
    let mut scripts = opts.commands.clone();
    if scripts.is_empty() {
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::Io(format!("cannot read standard input: {e}")))?;
        scripts.push(text);
    }
    for script in &scripts {
        for piece in sql::split_script(script) {
            match shell.run_piece(&piece) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return Ok(0),
                Err(e) => return Ok(shell.report(&e)),
            }
        }
    }
    Ok(0)
}

impl Shell {
    /// Runs one statement or dot command.
    pub fn run_piece(&mut self, piece: &Piece) -> Result<Flow, Error> {
        match piece {
            Piece::Sql(text) => {
                self.run_sql(text)?;
                Ok(Flow::Continue)
            }
            Piece::Dot(line) => self.dot(line),
        }
    }

    /// Prints an error the way the DuckDB CLI does and returns the exit code
    /// it stands for.
    pub fn report(&self, e: &Error) -> i32 {
        let color = self.interactive && io::stderr().is_terminal();
        let text = match e {
            Error::BrokenPipe => return 0,
            Error::Interrupted => "Interrupted".to_string(),
            Error::Sql(m) => m.clone(),
            other => format!("Error: {other}"),
        };
        let mut err = io::stderr().lock();
        if color {
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            let _ = writeln!(err, "{}", nu_ansi_term::Color::Red.bold().paint(first));
            if !rest.is_empty() {
                let _ = writeln!(err, "{rest}");
            }
        } else {
            let _ = writeln!(err, "{text}");
        }
        match e {
            Error::Interrupted | Error::GaveUp => 130,
            _ => 1,
        }
    }

    /// Render limits for the current output: on a terminal, DuckDB's 40 rows
    /// and the terminal's width; to a file or pipe, everything, unless
    /// `.maxrows` / `.maxwidth` say otherwise.
    fn render_options(&self) -> RenderOptions {
        let to_terminal = matches!(self.sink, Sink::Stdout) && self.stdout_tty;
        let term_width = || {
            crossterm::terminal::size()
                .ok()
                .map(|(w, _)| usize::from(w))
                .filter(|w| *w > 0)
        };
        let max_rows = match self.max_rows {
            Some(0) => None,
            Some(n) => Some(n),
            None if to_terminal => Some(40),
            None => None,
        };
        let max_width = match self.max_width {
            Some(n) if n > 0 => Some(n),
            _ if to_terminal => term_width(),
            _ => None,
        };
        RenderOptions {
            max_rows,
            max_width,
            color: to_terminal && self.interactive,
        }
    }

    /// The session, once it is open.
    fn session(&mut self) -> Result<&mut Session, Error> {
        if let Slot::Opening(_) = self.session {
            let Slot::Opening(handle) = std::mem::replace(&mut self.session, Slot::Empty) else {
                unreachable!("checked above")
            };
            let (session, loaded) = handle
                .join()
                .map_err(|_| Error::Io("the database could not be opened".into()))??;
            self.catalog_stale = !loaded;
            self.session = Slot::Ready(Box::new(session));
        }
        match &mut self.session {
            Slot::Ready(s) => Ok(s),
            _ => Err(Error::Io("the database could not be opened".into())),
        }
    }

    fn run_sql(&mut self, text: &str) -> Result<(), Error> {
        let started = Instant::now();
        let opts = self.render_options();
        let mode = self.mode;
        self.session()?;
        let Slot::Ready(session) = &mut self.session else {
            return Err(Error::Io("the database could not be opened".into()));
        };
        let result = match &mut self.sink {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                session.run(text, &mut out, mode, opts)
            }
            Sink::File { file, .. } => session.run(text, file, mode, opts),
        };
        if let Sink::File { once: true, .. } = self.sink {
            self.close_sink()?;
        }
        if self.timer {
            println!("Run Time (s): real {:.3}", started.elapsed().as_secs_f64());
        }
        let outcome = result?;
        if outcome.catalog_changed || self.catalog_stale {
            self.refresh_catalog();
        }
        Ok(())
    }

    /// Flushes and closes an `.output`/`.once` file.
    fn close_sink(&mut self) -> Result<(), Error> {
        if let Sink::File { file, .. } = &mut self.sink {
            file.flush()
                .map_err(|e| Error::Io(format!("cannot write the output file: {e}")))?;
        }
        self.sink = Sink::Stdout;
        Ok(())
    }

    /// Re-reads tables, columns and schemas for completion. A locked file is
    /// not waited for here: completion is refreshed after a later statement.
    pub fn refresh_catalog(&mut self) {
        if self.load_catalog().is_err() {
            self.catalog_stale = true;
        }
    }

    /// Reads the catalog for completion, without waiting for a writer.
    pub fn load_catalog(&mut self) -> Result<(), Error> {
        let project_dir = self.project_dir.clone();
        let catalog = read_catalog(self.session()?, &project_dir)?;
        if let Ok(mut c) = self.catalog.write() {
            *c = catalog;
        }
        self.catalog_stale = false;
        Ok(())
    }

    /// Runs a script file's statements and dot commands (`.read`).
    fn run_file(&mut self, path: &Path) -> Result<(), Error> {
        if self.depth >= 16 {
            return Err(Error::Usage(
                ".read nested too deeply (does a file read itself?)".into(),
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
        self.depth += 1;
        let result = (|| {
            for piece in sql::split_script(&text) {
                if self.run_piece(&piece)? == Flow::Quit {
                    break;
                }
            }
            Ok(())
        })();
        self.depth -= 1;
        result
    }
}

/// Tables, columns, schemas (and model names) for completion.
fn read_catalog(session: &mut Session, project_dir: &Path) -> Result<Catalog, Error> {
    let sql = "SELECT 'c', schema_name, table_name, column_name, lpad(column_index::VARCHAR, 8, '0') \
               FROM duckdb_columns() WHERE database_name IN (current_database(), 'temp') AND NOT internal \
               UNION ALL SELECT 's', schema_name, NULL, NULL, NULL FROM duckdb_schemas() \
               WHERE database_name = current_database() AND schema_name NOT IN ('information_schema', 'pg_catalog') \
               UNION ALL SELECT 'd', current_schema(), NULL, NULL, NULL \
               ORDER BY 1, 2, 3, 5";
    let rows = session.query_text(sql, &[], false)?;
    let mut schemas = Vec::new();
    let mut default_schema = "main".to_string();
    let mut columns = Vec::new();
    for r in rows {
        let get = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
        match get(0).as_str() {
            "c" => columns.push((get(1), get(2), get(3))),
            "s" => schemas.push(get(1)),
            "d" => default_schema = get(1),
            _ => {}
        }
    }
    let mut catalog = Catalog::from_rows(&default_schema, schemas, columns);
    if let Ok(Some(p)) = models::load(project_dir) {
        catalog.models = p.models().map(|m| m.name.clone()).collect();
    }
    Ok(catalog)
}

/// The DuckDB library's version, without opening a database.
pub fn duckdb_version() -> String {
    // SAFETY: duckdb_library_version returns a pointer to a static,
    // NUL-terminated string; it is only read.
    let ptr = unsafe { warehouse::duckdb::ffi::duckdb_library_version() };
    if ptr.is_null() {
        return "?".into();
    }
    unsafe { std::ffi::CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Sets a flag when dropped: the catalog is as ready as it will get, whether
/// the background opening succeeded or not.
struct ReadyOnDrop(Arc<AtomicBool>);

impl Drop for ReadyOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
