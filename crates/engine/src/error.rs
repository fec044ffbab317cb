//! The engine's one error type. Variants say who must act: the project's
//! author (`Project`, `Yaml`, `Jinja`, `Graph`, `Selector`), the profile's
//! owner (`Profile`), the database (`Database`), or us (`Internal`).

use std::path::PathBuf;
use warehouse::duckdb;

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
    /// A project file read by the project-file phase (`dbt_project`) could
    /// not be read or does not parse: `file:line:column: message`.
    #[error(transparent)]
    File(#[from] dbt_project::Error),
    /// Something in the project is wrong (missing file, bad config value).
    #[error("{0}")]
    Project(String),
    /// profiles.yml is missing, or has no such profile/target, or a bad key.
    #[error("{0}")]
    Profile(String),
    /// A Jinja template failed to parse or render; names the node, its file
    /// and the line (0 when the error is located in a macro, which the
    /// message then names with its file and line).
    #[error("Compilation Error in {} ({file}){}: {message}", describe_node(node), if *line > 0 { format!(" line {line}") } else { String::new() })]
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
    /// The database refused a statement run through the `Database` trait
    /// (the materializations): its own words, as `Database`.
    #[error("{0}")]
    Refused(#[from] dbt_jinja::database::DatabaseFailure),
    /// The warehouse file could not be opened: held by another process past
    /// the wait, damaged, or refused by DuckDB.
    #[error("{0}")]
    Warehouse(#[from] warehouse::Error),
    /// A seed file could not be read.
    #[error("{path}: {message}")]
    Seed { path: PathBuf, message: String },
    /// A query failed at run time outside a build (`show`): dbt's
    /// "Runtime Error in ..." with DuckDB's message.
    #[error("{0}")]
    Runtime(String),
    /// A bug in the engine.
    #[error("internal error: {0}")]
    Internal(String),
}

pub use dbt_jinja::error::describe_node;

/// The Jinja layer's errors keep their variant: code above matches on the
/// engine's one enum, whichever layer raised the error.
impl From<dbt_jinja::Error> for Error {
    fn from(e: dbt_jinja::Error) -> Self {
        use dbt_jinja::Error as J;
        match e {
            J::Io { path, source } => Error::Io { path, source },
            J::Yaml { path, message } => Error::Yaml { path, message },
            J::File(e) => Error::File(e),
            J::Project(m) => Error::Project(m),
            J::Profile(m) => Error::Profile(m),
            J::Jinja {
                node,
                file,
                line,
                message,
            } => Error::Jinja {
                node,
                file,
                line,
                message,
            },
            other => Error::Internal(other.to_string()),
        }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A Jinja error naming the node and its file, worded as dbt words it
    /// (see [`dbt_jinja::Error::jinja`]).
    pub(crate) fn jinja(node: &str, file: &str, err: &minijinja::Error) -> Self {
        dbt_jinja::Error::jinja(node, file, err).into()
    }
}

/// The part of a DuckDB error message a user needs: its first lines (the
/// error and any "Did you mean"), without the `LINE n:` excerpt of SQL the
/// engine wrote.
pub(crate) fn duckdb_gist(message: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in message.lines() {
        let t = line.trim();
        if t.starts_with("LINE ") {
            break;
        }
        if !t.is_empty() {
            out.push(t);
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gist_keeps_the_error_and_the_hint() {
        let m = "Catalog Error: Type with name textt does not exist!\nDid you mean \"text\"?\n\nLINE 1: DESCRIBE select cast(null as textt) as x\n     ^^^";
        assert_eq!(
            duckdb_gist(m),
            "Catalog Error: Type with name textt does not exist! Did you mean \"text\"?"
        );
    }
}
