//! The ingest crate's one error type.

use std::path::Path;
use warehouse::duckdb;

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
    /// The warehouse file could not be opened (locked past the wait,
    /// damaged); the source keeps it findable for the binary's exit code.
    #[error("{0}")]
    Warehouse(#[from] warehouse::Error),
    #[error(transparent)]
    Api(#[from] ClientError),
    /// The API does not know an airport code that looked valid.
    #[error("FlightLabs does not know the airport {airport}; check --airport or [ingest] airports ({answer})")]
    UnknownAirport { airport: String, answer: String },
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
    /// Errors no retry can fix (a refused key, an unknown airport, bad
    /// input): the binary exits 2 on them and the orchestrator does not
    /// retry. The rest (network, 429, 5xx, I/O, a busy warehouse) may pass.
    pub fn is_final(&self) -> bool {
        match self {
            IngestError::Api(e) => e.is_final(),
            IngestError::UnknownAirport { .. } | IngestError::Invalid(_) => true,
            _ => false,
        }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.display().to_string(),
            source,
        }
    }

    pub fn json(e: serde_json::Error) -> Self {
        IngestError::Json(e)
    }

    /// The message is cut to a few hundred bytes: it may quote the file (a
    /// header that is one 50 MB line), and it goes to stderr and run logs.
    pub fn archive(file: &Path, message: impl Into<String>) -> Self {
        IngestError::Archive {
            file: file.display().to_string(),
            message: warehouse::bounded(&message.into(), 300).into_owned(),
        }
    }
}
