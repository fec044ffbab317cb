//! The crate's one error type: a project file that cannot be read, or
//! whose YAML does not parse. Both name the file; a YAML error also names
//! the line and column, as `file:line:column: message`, so an editor or a
//! terminal can jump to it.

use std::path::PathBuf;

/// Result with this crate's error as default.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML. `at` is the line and column (1-based)
    /// where the parser stopped, when it knows.
    #[error("{}{}: {message}", path.display(), at.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Yaml {
        path: PathBuf,
        at: Option<(usize, usize)>,
        message: String,
    },
    /// The file parses but breaks its schema: every problem found in it,
    /// in the file's order, each with its line when known.
    #[error("{}", invalid_text(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One thing wrong in a file: `key x: expected ..., found ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The 1-based line of the key, when the file's text locates it.
    pub line: Option<usize>,
    pub message: String,
}

/// `file:line: message`, or for several problems a count and one such line
/// each, so that an editor or a terminal can jump to every one.
fn invalid_text(path: &std::path::Path, problems: &[Problem]) -> String {
    let one = |p: &Problem| {
        format!(
            "{}{}: {}",
            path.display(),
            p.line.map(|l| format!(":{l}")).unwrap_or_default(),
            p.message
        )
    };
    match problems {
        [p] => one(p),
        many => {
            let mut out = format!("{}: {} problems", path.display(), many.len());
            for p in many {
                out.push_str("\n  ");
                out.push_str(&one(p));
            }
            out
        }
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Io { path, .. } | Self::Yaml { path, .. } | Self::Invalid { path, .. } => path,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_errors_read_as_file_line_column() {
        let e = Error::Yaml {
            path: "models/x.yml".into(),
            at: Some((7, 1)),
            message: "did not find expected ']'".into(),
        };
        assert_eq!(e.to_string(), "models/x.yml:7:1: did not find expected ']'");
        let e = Error::Yaml {
            path: "models/x.yml".into(),
            at: None,
            message: "m".into(),
        };
        assert_eq!(e.to_string(), "models/x.yml: m");
    }
}
