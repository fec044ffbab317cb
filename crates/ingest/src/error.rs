//! The ingest crate's one error type.

use std::path::Path;

use flightlabs::ClientError;

pub type Result<T, E = IngestError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("warehouse: {0}")]
    Duckdb(#[from] duckdb::Error),
    #[error(transparent)]
    Api(#[from] ClientError),
    #[error("landing zone: {0}")]
    Landing(String),
    #[error("archive file {file}: {message}")]
    Archive { file: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("interrupted")]
    Interrupted,
}

impl IngestError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub fn json(e: serde_json::Error) -> Self {
        IngestError::Json(e)
    }

    pub fn archive(file: &Path, message: impl Into<String>) -> Self {
        IngestError::Archive {
            file: file.display().to_string(),
            message: message.into(),
        }
    }
}
