//! The catalog crate's one error type.

use std::path::{Path, PathBuf};
use warehouse::duckdb;

/// What can go wrong generating or serving the documentation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading or compiling the project failed (the engine's message as is).
    #[error(transparent)]
    Engine(#[from] engine::Error),
    #[error("DuckDB: {0}")]
    Duckdb(#[from] duckdb::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An artifact (manifest.json, catalog.json, ...) that does not parse.
    #[error("{}: {message}", path.display())]
    Artifact { path: PathBuf, message: String },
    /// A `{% docs %}` block or a `doc()` call that is wrong.
    #[error("{file}: {message}")]
    Docs { file: String, message: String },
    /// The web server could not start.
    #[error("{0}")]
    Serve(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
