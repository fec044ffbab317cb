//! A DuckDB connection on a database this crate opened itself.
//!
//! Why not `duckdb::Connection::open_with_flags`: DuckDB registers a cast
//! function through a raw `duckdb_connection`, and the `duckdb` crate does
//! not hand its own out. [`timezone`](crate::timezone) needs casts (ICU's
//! `TIMESTAMPTZ` → `DATE`/`TIME`), so [`open_database`] opens the database
//! through the C API, registers them on a connection of its own, and wraps
//! the handle in a `duckdb::Connection` (`open_from_raw`). That connection
//! does not close the database; [`Conn`] does, once it and every clone made
//! with [`Conn::try_clone`] are gone.

use std::ffi::{CStr, CString};
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;

use duckdb::ffi;

/// A connection, and a share of the database it lives on. Derefs to
/// `duckdb::Connection`, so callers use it as one.
pub struct Conn {
    // dropped before `_db`: the connection goes before the database closes
    conn: duckdb::Connection,
    _db: Option<Arc<RawDatabase>>,
}

impl Conn {
    /// Another connection to the same database (a worker thread's).
    pub fn try_clone(&self) -> duckdb::Result<Conn> {
        Ok(Conn {
            conn: self.conn.try_clone()?,
            _db: self._db.clone(),
        })
    }
}

impl Deref for Conn {
    type Target = duckdb::Connection;
    fn deref(&self) -> &duckdb::Connection {
        &self.conn
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut duckdb::Connection {
        &mut self.conn
    }
}

/// A connection the `duckdb` crate opened (tests, tools): it closes its
/// database itself; the time-zone functions are registered on it, the
/// casts cannot be.
impl From<duckdb::Connection> for Conn {
    fn from(conn: duckdb::Connection) -> Conn {
        if let Err(e) = crate::timezone::register(&conn) {
            tracing::warn!("time-zone functions not registered: {e}");
        }
        Conn { conn, _db: None }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("path", &self.conn.path())
            .finish()
    }
}

struct RawDatabase(ffi::duckdb_database);

// SAFETY: a duckdb_database is a handle to a thread-safe DuckDB instance;
// it is only closed, once, on drop.
unsafe impl Send for RawDatabase {}
unsafe impl Sync for RawDatabase {}

impl Drop for RawDatabase {
    fn drop(&mut self) {
        // SAFETY: the handle came from duckdb_open_ext and is closed once.
        unsafe { ffi::duckdb_close(&mut self.0) };
    }
}

/// Why [`open_database`] failed: a setting DuckDB refused, or the open.
pub(crate) enum OpenError {
    Setting { key: String, message: String },
    Open(duckdb::Error),
}

fn failure(code: ffi::duckdb_state, message: String) -> duckdb::Error {
    duckdb::Error::DuckDBFailure(ffi::Error::new(code), Some(message))
}

/// Opens `path` (`:memory:` for a new in-memory database) with DuckDB
/// `settings`, read-only or not, with the time-zone functions and casts.
pub(crate) fn open_database(
    path: &Path,
    read_only: bool,
    settings: &[(String, String)],
) -> Result<Conn, OpenError> {
    let c = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let c_path = c(&path.to_string_lossy()).map_err(|m| OpenError::Open(failure(1, m)))?;
    let mut config: ffi::duckdb_config = std::ptr::null_mut();
    // SAFETY: plain C API calls on handles created here and released below.
    unsafe {
        if ffi::duckdb_create_config(&mut config) != ffi::DuckDBSuccess {
            return Err(OpenError::Open(failure(
                1,
                "cannot create a DuckDB config".into(),
            )));
        }
        let mut pairs: Vec<(&str, &str)> = vec![("duckdb_api", "rust")];
        if read_only {
            pairs.push(("access_mode", "READ_ONLY"));
        }
        pairs.extend(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in pairs {
            let set = match (c(k), c(v)) {
                (Ok(ck), Ok(cv)) => ffi::duckdb_set_config(config, ck.as_ptr(), cv.as_ptr()),
                _ => ffi::DuckDBError,
            };
            if set != ffi::DuckDBSuccess {
                ffi::duckdb_destroy_config(&mut config);
                return Err(OpenError::Setting {
                    key: k.to_string(),
                    message: format!("DuckDB does not accept {k} = {v:?}"),
                });
            }
        }
        let mut db: ffi::duckdb_database = std::ptr::null_mut();
        let mut err: *mut std::os::raw::c_char = std::ptr::null_mut();
        let rc = ffi::duckdb_open_ext(c_path.as_ptr(), &mut db, config, &mut err);
        ffi::duckdb_destroy_config(&mut config);
        if rc != ffi::DuckDBSuccess {
            let message = if err.is_null() {
                "DuckDB could not open the database".to_string()
            } else {
                let m = CStr::from_ptr(err).to_string_lossy().into_owned();
                ffi::duckdb_free(err.cast());
                m
            };
            return Err(OpenError::Open(failure(rc, message)));
        }
        let raw = Arc::new(RawDatabase(db));
        let mut con: ffi::duckdb_connection = std::ptr::null_mut();
        if ffi::duckdb_connect(db, &mut con) == ffi::DuckDBSuccess {
            crate::timezone::register_casts(con);
            ffi::duckdb_disconnect(&mut con);
        }
        let conn = duckdb::Connection::open_from_raw(db).map_err(OpenError::Open)?;
        crate::timezone::register(&conn).map_err(OpenError::Open)?;
        Ok(Conn {
            conn,
            _db: Some(raw),
        })
    }
}
