//! The lake: the warehouse's layers published as Apache Iceberg tables.
//!
//! `tarmac lake publish` reads the DuckDB warehouse and writes each table of
//! the chosen layers (DuckDB schemas such as `silver` and `gold`) as an
//! Iceberg table in a folder or bucket ([`storage`]), registered in an
//! Iceberg SQL catalog on SQLite or PostgreSQL ([`catalog`]). Spark, Trino,
//! Flink, DuckDB's own iceberg extension and pyiceberg then read them
//! through that catalog, at any scale, without Tarmac.
//!
//! Each table is one commit ([`publish`]): only the partitions whose rows
//! changed are rewritten, a reader sees the previous snapshot or the new
//! one, and a publish killed at any point, run again, ends in the same
//! tables.

pub mod catalog;
pub mod error;
pub mod publish;
pub mod storage;
pub mod types;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use error::{LakeError, Result};
pub use publish::{PartitionField, Retention, TableReport};

use publish::{Ctx, TableSpec};

/// The catalog name tables are registered under unless told otherwise
/// (engines name it in their catalog configuration).
pub const DEFAULT_CATALOG_NAME: &str = "tarmac";

/// What to publish, from where, to where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The DuckDB warehouse file (opened read-only).
    pub warehouse: PathBuf,
    /// The lake: a folder, `file://…`, `s3://bucket/prefix`, `gs://…`, `az://…`.
    pub lake: String,
    /// The catalog: a SQLite file, or a `postgresql://` URL.
    pub catalog: String,
    pub catalog_name: String,
    /// Warehouse schemas to publish, each an Iceberg namespace.
    pub layers: Vec<String>,
    /// Tables to publish (`name` or `layer.name`, `*` as a wildcard); empty: all.
    pub select: Vec<String>,
    /// Partitioning per `layer.table`, as in dbt's `partitioned_by`.
    pub partitions: BTreeMap<String, Vec<String>>,
    pub retention: Retention,
}

/// Publishes the selected tables, one Iceberg commit each, in name order.
/// Every table is checked (types, schema evolution, partitioning) before the
/// first one is written, so a table that cannot be published stops the
/// publish before anything changed.
pub fn publish(opts: &Options) -> Result<Vec<TableReport>> {
    let conn = warehouse::open(
        &opts.warehouse,
        warehouse::Access::ReadOnly,
        &[],
        warehouse::Wait::from_env(),
    )?;
    let tables = tables(&conn, opts)?;
    if tables.is_empty() {
        return Err(LakeError::Config(format!(
            "no table of {} matches {}",
            opts.layers.join(", "),
            if opts.select.is_empty() {
                "*".to_string()
            } else {
                opts.select.join(" ")
            }
        )));
    }
    let location = storage::Location::open(&opts.lake)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("lake-io")
        .enable_all()
        .build()
        .map_err(|e| LakeError::Store(format!("starting the I/O runtime: {e}")))?;
    location.check(&rt)?;
    let mut catalog = catalog::Catalog::open(&opts.catalog)?;
    let staging_dir;
    let staging = match &location.local {
        // beside the tables, so a written file is renamed into place
        Some(root) => {
            let shared = root.join(".tarmac-staging");
            sweep_staging(&shared);
            shared.join(std::process::id().to_string())
        }
        None => {
            staging_dir = tempfile::tempdir()
                .map_err(|e| LakeError::Store(format!("a temporary folder: {e}")))?;
            staging_dir.path().to_path_buf()
        }
    };
    let mut ctx = Ctx {
        conn: &conn,
        catalog: &mut catalog,
        catalog_name: &opts.catalog_name,
        location: &location,
        rt: &rt,
        retention: opts.retention,
        staging: &staging,
    };
    for t in &tables {
        publish::check_table(&mut ctx, t)?;
    }
    let mut reports = Vec::new();
    for t in &tables {
        reports.push(publish::publish_table(&mut ctx, t)?);
    }
    let _ = std::fs::remove_dir_all(&staging);
    if let Some(root) = &location.local {
        let _ = std::fs::remove_dir(root.join(".tarmac-staging"));
    }
    Ok(reports)
}

/// Removes what publishes killed mid-way left in the staging folder: each
/// publish stages under its process id, and a folder whose process is gone
/// is garbage.
fn sweep_staging(shared: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(shared) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let alive = name
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|pid| std::path::Path::new("/proc").join(pid.to_string()).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn tables(conn: &warehouse::duckdb::Connection, opts: &Options) -> Result<Vec<TableSpec>> {
    let mut stmt = conn
        .prepare(
            "SELECT table_schema, table_name FROM information_schema.tables \
             WHERE table_catalog = current_database() ORDER BY 1, 2",
        )
        .map_err(|e| LakeError::Query {
            table: "information_schema.tables".into(),
            message: e.to_string(),
        })?;
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .and_then(|rows| rows.collect())
        .map_err(|e| LakeError::Query {
            table: "information_schema.tables".into(),
            message: e.to_string(),
        })?;
    let mut out = Vec::new();
    for (schema, name) in rows {
        if !opts.layers.iter().any(|l| l == &schema) {
            continue;
        }
        let full = format!("{schema}.{name}");
        if !opts.select.is_empty()
            && !opts
                .select
                .iter()
                .any(|s| glob(s, if s.contains('.') { &full } else { &name }))
        {
            continue;
        }
        let partition_by = opts
            .partitions
            .get(&full)
            .map(|v| {
                v.iter()
                    .map(|p| PartitionField::parse(p))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()
            .map_err(|e| LakeError::Config(format!("{full}: {e}")))?
            .unwrap_or_default();
        out.push(TableSpec {
            namespace: schema,
            name,
            partition_by,
        });
    }
    Ok(out)
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head)
                && (0..=text.len() - head.len()).any(|i| {
                    text.is_char_boundary(head.len() + i) && glob(tail, &text[head.len() + i..])
                })
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn globs() {
        assert!(super::glob("silver.*", "silver.flights"));
        assert!(super::glob("dim_*", "dim_date"));
        assert!(!super::glob("dim_*", "fct_flights"));
        assert!(super::glob("flights", "flights"));
    }
}
