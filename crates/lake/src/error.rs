//! What can go wrong publishing the lake, one variant per place it fails.

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A setting or an argument that cannot work.
    #[error("{0}")]
    Config(String),
    /// The catalog database (SQLite file or PostgreSQL).
    #[error("{0}")]
    Catalog(String),
    /// The folder or bucket the tables are written to.
    #[error("{0}")]
    Store(String),
    /// Opening the warehouse.
    #[error(transparent)]
    Warehouse(#[from] warehouse::Error),
    /// A query on the warehouse.
    #[error("{table}: {message}")]
    Query { table: String, message: String },
    /// A column whose type Iceberg cannot hold.
    #[error("{table}.{column}: DuckDB type {duck} has no Iceberg equivalent: {advice}")]
    Unsupported {
        table: String,
        column: String,
        duck: String,
        advice: &'static str,
    },
    /// The warehouse table changed in a way the published table cannot follow.
    #[error("{table}: {message}; nothing of it was published")]
    Incompatible { table: String, message: String },
    /// Another publisher committed the table between our read and our commit.
    #[error("{table}: another publish committed first; run the publish again")]
    Conflict { table: String },
    /// The Iceberg library refused something.
    #[error("{table}: {message}")]
    Iceberg { table: String, message: String },
}

impl LakeError {
    pub(crate) fn iceberg(table: &str, e: iceberg::Error) -> LakeError {
        let mut message = e.message().to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            let more = s.to_string();
            if !message.contains(&more) {
                message.push_str(": ");
                message.push_str(&more);
            }
            source = s.source();
        }
        LakeError::Iceberg {
            table: table.to_string(),
            message,
        }
    }
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;
