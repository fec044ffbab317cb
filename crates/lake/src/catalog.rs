//! Iceberg's SQL catalog: which metadata file is each table's current one.
//!
//! The catalog is two tables in a SQLite file or a PostgreSQL database, in
//! the layout Iceberg's JDBC catalog, pyiceberg's `SqlCatalog` and
//! iceberg-rust's `iceberg-catalog-sql` all share, so Spark, Trino, Flink and
//! pyiceberg open the same catalog:
//!
//! - `iceberg_tables(catalog_name, table_namespace, table_name,
//!   metadata_location, previous_metadata_location, iceberg_type)`;
//! - `iceberg_namespace_properties(catalog_name, namespace, property_key,
//!   property_value)`.
//!
//! A commit is one `UPDATE … WHERE metadata_location = <the one we read>`:
//! the pointer moves from the old metadata file to the new one in one
//! statement, or not at all when another writer moved it first. Everything
//! a new snapshot needs (data files, manifests, the metadata file) is
//! written before, so a reader of the catalog sees the old table or the new
//! one, never a half.
//!
//! Why our own few statements and not `iceberg-catalog-sql`: its commits go
//! through iceberg-rust's `Transaction`, which has no overwrite yet, and its
//! SQLite driver (sqlx) links a different SQLite than the orchestrator's
//! rusqlite. The protocol is the same rows and the same compare-and-set;
//! pyiceberg reading every table back in the tests holds us to it.

use crate::error::{LakeError, Result};

/// The catalog database.
pub enum Catalog {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// The current and previous metadata files of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    pub metadata_location: String,
    pub previous: Option<String>,
}

const CREATE: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS iceberg_tables (
        catalog_name VARCHAR(255) NOT NULL,
        table_namespace VARCHAR(255) NOT NULL,
        table_name VARCHAR(255) NOT NULL,
        metadata_location VARCHAR(1000),
        previous_metadata_location VARCHAR(1000),
        iceberg_type VARCHAR(5),
        PRIMARY KEY (catalog_name, table_namespace, table_name))",
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
        catalog_name VARCHAR(255) NOT NULL,
        namespace VARCHAR(255) NOT NULL,
        property_key VARCHAR(255) NOT NULL,
        property_value VARCHAR(1000),
        PRIMARY KEY (catalog_name, namespace, property_key))",
];

impl Catalog {
    /// Opens (and on first use creates) the catalog: a SQLite file path, or
    /// a `postgresql://` / `postgres://` URL (the password may come from
    /// `PGPASSWORD`; it never appears in a message).
    pub fn open(uri: &str) -> Result<Catalog> {
        let catalog = if uri.starts_with("postgresql://") || uri.starts_with("postgres://") {
            let mut config: postgres::Config = uri
                .parse()
                .map_err(|e| LakeError::Catalog(format!("{}: {e}", redact(uri))))?;
            if config.get_password().is_none() {
                if let Ok(pw) = std::env::var("PGPASSWORD") {
                    config.password(pw);
                }
            }
            config.connect_timeout(std::time::Duration::from_secs(10));
            let client = config.connect(postgres::NoTls).map_err(|e| {
                LakeError::Catalog(format!("cannot connect to {}: {e}", redact(uri)))
            })?;
            Catalog::Postgres(Box::new(client))
        } else {
            let path = uri.strip_prefix("sqlite://").unwrap_or(uri);
            let path = std::path::Path::new(path);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    LakeError::Catalog(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let conn = rusqlite::Connection::open(path)
                .map_err(|e| LakeError::Catalog(format!("cannot open {}: {e}", path.display())))?;
            // a concurrent reader (pyiceberg, Trino) must not fail a commit
            conn.busy_timeout(std::time::Duration::from_secs(30))
                .map_err(sqlite_err)?;
            Catalog::Sqlite(conn)
        };
        let mut catalog = catalog;
        for sql in CREATE {
            catalog.execute(sql, &[])?;
        }
        Ok(catalog)
    }

    fn execute(&mut self, sql: &str, params: &[&str]) -> Result<usize> {
        match self {
            Catalog::Sqlite(c) => c
                .execute(sql, rusqlite::params_from_iter(params.iter()))
                .map_err(sqlite_err),
            Catalog::Postgres(c) => {
                let sql = dollar_params(sql);
                let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|s| s as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                c.execute(sql.as_str(), &p)
                    .map(|n| n as usize)
                    .map_err(pg_err)
            }
        }
    }

    fn query(&mut self, sql: &str, params: &[&str]) -> Result<Vec<Vec<Option<String>>>> {
        match self {
            Catalog::Sqlite(c) => {
                let mut stmt = c.prepare(sql).map_err(sqlite_err)?;
                let n = stmt.column_count();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                        (0..n).map(|i| r.get::<_, Option<String>>(i)).collect()
                    })
                    .map_err(sqlite_err)?;
                rows.collect::<std::result::Result<_, _>>()
                    .map_err(sqlite_err)
            }
            Catalog::Postgres(c) => {
                let sql = dollar_params(sql);
                let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|s| s as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                let rows = c.query(sql.as_str(), &p).map_err(pg_err)?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.get::<_, Option<String>>(i))
                            .collect()
                    })
                    .collect())
            }
        }
    }

    /// Makes sure a namespace exists (a property row, as the JDBC catalog
    /// writes one: a namespace with no table is still listed).
    pub fn ensure_namespace(&mut self, catalog: &str, namespace: &str) -> Result<()> {
        let sql = match self {
            Catalog::Sqlite(_) => {
                "INSERT OR IGNORE INTO iceberg_namespace_properties VALUES (?, ?, 'exists', 'true')"
            }
            Catalog::Postgres(_) => {
                "INSERT INTO iceberg_namespace_properties VALUES (?, ?, 'exists', 'true') ON CONFLICT DO NOTHING"
            }
        };
        self.execute(sql, &[catalog, namespace])?;
        Ok(())
    }

    /// The table's pointer, if the table exists.
    pub fn load(&mut self, catalog: &str, namespace: &str, table: &str) -> Result<Option<Pointer>> {
        let rows = self.query(
            "SELECT metadata_location, previous_metadata_location FROM iceberg_tables
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?",
            &[catalog, namespace, table],
        )?;
        Ok(rows.into_iter().next().and_then(|mut r| {
            let previous = r.pop().flatten();
            let metadata_location = r.pop().flatten()?;
            Some(Pointer {
                metadata_location,
                previous,
            })
        }))
    }

    /// Registers a new table whose first metadata file is written. False if
    /// another writer registered the same name first.
    pub fn create(
        &mut self,
        catalog: &str,
        namespace: &str,
        table: &str,
        location: &str,
    ) -> Result<bool> {
        let sql = match self {
            Catalog::Sqlite(_) => "INSERT OR IGNORE INTO iceberg_tables VALUES (?, ?, ?, ?, NULL, 'TABLE')",
            Catalog::Postgres(_) => {
                "INSERT INTO iceberg_tables VALUES (?, ?, ?, ?, NULL, 'TABLE') ON CONFLICT DO NOTHING"
            }
        };
        Ok(self.execute(sql, &[catalog, namespace, table, location])? == 1)
    }

    /// The commit: moves the pointer from `from` to `to` if it still is at
    /// `from`. False when another writer committed in between.
    pub fn swap(
        &mut self,
        catalog: &str,
        namespace: &str,
        table: &str,
        from: &str,
        to: &str,
    ) -> Result<bool> {
        let n = self.execute(
            "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ?
             WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?",
            &[to, from, catalog, namespace, table, from],
        )?;
        Ok(n == 1)
    }

    /// Tables of a namespace, by name.
    pub fn tables(&mut self, catalog: &str, namespace: &str) -> Result<Vec<String>> {
        let rows = self.query(
            "SELECT table_name FROM iceberg_tables WHERE catalog_name = ? AND table_namespace = ?
             ORDER BY table_name",
            &[catalog, namespace],
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|mut r| r.pop().flatten())
            .collect())
    }
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, … (none of our statements
/// has a `?` inside a literal).
fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

fn sqlite_err(e: rusqlite::Error) -> LakeError {
    LakeError::Catalog(format!("SQLite catalog: {e}"))
}

fn pg_err(e: postgres::Error) -> LakeError {
    LakeError::Catalog(format!("PostgreSQL catalog: {e}"))
}

/// A catalog URI fit for a message: no password.
pub fn redact(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_moves_the_pointer_only_from_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        let mut c = Catalog::open(path.to_str().unwrap()).unwrap();
        c.ensure_namespace("tarmac", "silver").unwrap();
        c.ensure_namespace("tarmac", "silver").unwrap();
        assert!(c.load("tarmac", "silver", "flights").unwrap().is_none());
        assert!(c.create("tarmac", "silver", "flights", "m1").unwrap());
        assert!(!c.create("tarmac", "silver", "flights", "other").unwrap());
        assert!(c.swap("tarmac", "silver", "flights", "m1", "m2").unwrap());
        // a writer that read m1 lost the race
        assert!(!c.swap("tarmac", "silver", "flights", "m1", "m3").unwrap());
        let p = c.load("tarmac", "silver", "flights").unwrap().unwrap();
        assert_eq!(p.metadata_location, "m2");
        assert_eq!(p.previous.as_deref(), Some("m1"));
        assert_eq!(c.tables("tarmac", "silver").unwrap(), vec!["flights"]);
        // reopening keeps everything
        drop(c);
        let mut c = Catalog::open(path.to_str().unwrap()).unwrap();
        assert!(c.load("tarmac", "silver", "flights").unwrap().is_some());
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redact("postgresql://lake:s3cret@127.0.0.1:5432/db"),
            "postgresql://lake:***@127.0.0.1:5432/db"
        );
        let e = match Catalog::open("postgresql://lake:s3cret@127.0.0.1:1/db") {
            Err(e) => e.to_string(),
            Ok(_) => panic!("port 1 answered"),
        };
        assert!(!e.contains("s3cret"), "{e}");
        assert_eq!(dollar_params("a = ? AND b = ?"), "a = $1 AND b = $2");
    }
}
