//! The engine's one error type. Variants say who must act: the project's
//! author (`Project`, `Yaml`, `Jinja`, `Graph`, `Selector`), the profile's
//! owner (`Profile`), the database (`Database`), or us (`Internal`).

use std::path::PathBuf;

/// Result with the engine's error as default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A YAML file does not parse or has a bad value; names file and key.
    #[error("{path}: {message}")]
    Yaml { path: PathBuf, message: String },
    /// Something in the project is wrong (missing file, bad config value).
    #[error("{0}")]
    Project(String),
    /// profiles.yml is missing, or has no such profile/target, or a bad key.
    #[error("{0}")]
    Profile(String),
    /// A Jinja template failed to parse or render; names file, line and node.
    #[error("{node} ({file}:{line}): {message}")]
    Jinja {
        node: String,
        file: String,
        line: usize,
        message: String,
    },
    /// A reference to a model or source that does not exist, a cycle, ...
    #[error("{0}")]
    Graph(String),
    /// A `--select`/`--exclude` expression that does not parse.
    #[error("invalid selector {selector:?}: {message}")]
    Selector { selector: String, message: String },
    /// DuckDB refused a statement.
    #[error("{0}")]
    Database(#[from] duckdb::Error),
    /// A seed file could not be read.
    #[error("{path}: {message}")]
    Seed { path: PathBuf, message: String },
    /// A bug in the engine.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Build a Jinja error naming the node and its file, with the line minijinja
    /// reports (1 when it reports none).
    pub(crate) fn jinja(node: &str, file: &str, err: &minijinja::Error) -> Self {
        let mut message = match err.detail() {
            Some(d) => format!("{}: {d}", err.kind()),
            None => err.to_string(),
        };
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        Error::Jinja {
            node: node.to_string(),
            file: file.to_string(),
            line: err.line().unwrap_or(1),
            message,
        }
    }
}
