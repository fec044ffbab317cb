//! The orchestrator's one error type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem in `tarmac.toml`, with the line it is on when known.
    #[error("{}{message}", location(file, *line))]
    Config {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("run history {path}: {source}")]
    History {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("run history: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no job named `{name}`{hint}")]
    UnknownJob { name: String, hint: String },
    #[error("no run {0}")]
    UnknownRun(i64),
    #[error("{0}")]
    Invalid(String),
    #[error("warehouse {path}: {message}")]
    Warehouse { path: PathBuf, message: String },
    #[error("alert: {0}")]
    Alert(String),
}

fn location(file: &std::path::Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}: ", file.display()),
        None => format!("{}: ", file.display()),
    }
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
