//! The engine's only door to DuckDB: a connection per worker thread, with
//! the introspection materializations and `adapter` need.

use std::sync::{Arc, Mutex};

use duckdb::types::ValueRef;
use duckdb::Connection;
use minijinja::Value;

use crate::error::{Error, Result};
use crate::relation::Relation;

/// Rows from a query, as Jinja values.
#[derive(Debug, Default, Clone)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// A DuckDB connection shareable with Jinja objects (which must be `Sync`).
#[derive(Clone)]
pub struct Db(Arc<Mutex<Connection>>);

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

fn to_value(v: ValueRef<'_>) -> Value {
    use duckdb::types::Value as D;
    match v.to_owned() {
        D::Null => Value::from(()),
        D::Boolean(b) => Value::from(b),
        D::TinyInt(i) => Value::from(i as i64),
        D::SmallInt(i) => Value::from(i as i64),
        D::Int(i) => Value::from(i as i64),
        D::BigInt(i) => Value::from(i),
        D::HugeInt(i) => Value::from(i),
        D::UTinyInt(i) => Value::from(i as i64),
        D::USmallInt(i) => Value::from(i as i64),
        D::UInt(i) => Value::from(i as i64),
        D::UBigInt(i) => Value::from(i),
        D::Float(f) => Value::from(f as f64),
        D::Double(f) => Value::from(f),
        D::Text(s) => Value::from(s),
        other => Value::from(format!("{other:?}")),
    }
}

impl Db {
    pub fn new(conn: Connection) -> Self {
        Db(Arc::new(Mutex::new(conn)))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.0
            .lock()
            .map_err(|_| Error::Internal("connection lock poisoned".into()))
    }

    /// A new connection to the same database (for another worker thread).
    pub fn try_clone(&self) -> Result<Db> {
        Ok(Db::new(self.lock()?.try_clone()?))
    }

    pub fn execute(&self, sql: &str) -> Result<()> {
        self.lock()?.execute_batch(sql)?;
        Ok(())
    }

    /// Run a query; values are cast to text where DuckDB has no simple Rust type.
    pub fn query(&self, sql: &str) -> Result<QueryResult> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        let mut out = QueryResult {
            columns: rows.as_ref().map(|s| s.column_names()).unwrap_or_default(),
            rows: Vec::new(),
        };
        let n = out.columns.len();
        while let Some(row) = rows.next()? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(to_value(row.get_ref(i)?));
            }
            out.rows.push(vals);
        }
        Ok(out)
    }

    /// Execute a statement inside a transaction; rolled back on error.
    pub fn transaction(&self, statements: &[String]) -> Result<()> {
        let conn = self.lock()?;
        conn.execute_batch("BEGIN TRANSACTION")?;
        for s in statements {
            if let Err(e) = conn.execute_batch(s) {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
        }
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        Ok(())
    }

    /// `table`, `view` or None when the relation does not exist.
    pub fn relation_kind(
        &self,
        database: Option<&str>,
        schema: &str,
        ident: &str,
    ) -> Result<Option<String>> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT table_type FROM information_schema.tables
             WHERE lower(table_schema) = lower(?) AND lower(table_name) = lower(?)
               AND (? IS NULL OR lower(table_catalog) = lower(?))",
        )?;
        let mut rows = stmt.query(duckdb::params![schema, ident, database, database])?;
        if let Some(r) = rows.next()? {
            let t: String = r.get(0)?;
            return Ok(Some(if t.contains("VIEW") {
                "view".into()
            } else {
                "table".into()
            }));
        }
        Ok(None)
    }

    /// Column names and types, in order.
    pub fn columns(&self, rel: &Relation) -> Result<Vec<(String, String)>> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT column_name, data_type FROM information_schema.columns
             WHERE (? IS NULL OR lower(table_schema) = lower(?)) AND lower(table_name) = lower(?)
               AND (? IS NULL OR lower(table_catalog) = lower(?))
             ORDER BY ordinal_position",
        )?;
        let mut rows = stmt.query(duckdb::params![
            rel.schema,
            rel.schema,
            rel.identifier,
            rel.database,
            rel.database
        ])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push((r.get(0)?, r.get(1)?));
        }
        Ok(out)
    }

    /// Relations in a schema of the default catalog.
    pub fn relations_in_schema(&self, schema: &str) -> Result<Vec<Relation>> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables WHERE lower(table_schema) = lower(?)",
        )?;
        let mut rows = stmt.query([schema])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let t: String = r.get(3)?;
            let (d, s, i): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let mut rel = Relation::new(&d, &s, &i);
            rel.kind = Some(if t.contains("VIEW") {
                "view".into()
            } else {
                "table".into()
            });
            out.push(rel);
        }
        Ok(out)
    }

    /// `DROP TABLE/VIEW IF EXISTS` for what the relation currently is.
    pub fn drop_sql(&self, rel: &Relation) -> Result<String> {
        let kind = self.relation_kind(
            rel.database.as_deref(),
            rel.schema.as_deref().unwrap_or("main"),
            &rel.identifier,
        )?;
        Ok(match kind.as_deref() {
            Some("view") => format!("DROP VIEW IF EXISTS {} CASCADE", rel.render()),
            Some(_) => format!("DROP TABLE IF EXISTS {} CASCADE", rel.render()),
            None => "SELECT 1".into(),
        })
    }

    /// Run a closure with the raw connection (seeds use the appender).
    pub fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.lock()?;
        f(&conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_introspect() {
        let db = Db::new(Connection::open_in_memory().unwrap());
        db.execute("CREATE TABLE t (a INTEGER, b VARCHAR); INSERT INTO t VALUES (1, 'x'); CREATE VIEW v AS SELECT 1 AS one").unwrap();
        let r = db.query("SELECT * FROM t").unwrap();
        assert_eq!(r.columns, vec!["a", "b"]);
        assert_eq!(r.rows[0][0], Value::from(1));
        assert_eq!(
            db.relation_kind(None, "main", "t").unwrap().as_deref(),
            Some("table")
        );
        assert_eq!(
            db.relation_kind(None, "main", "v").unwrap().as_deref(),
            Some("view")
        );
        assert_eq!(db.relation_kind(None, "main", "nope").unwrap(), None);
        let cols = db.columns(&Relation::new("memory", "main", "t")).unwrap();
        assert_eq!(cols[1], ("b".to_string(), "VARCHAR".to_string()));
        assert!(db
            .transaction(&["INSERT INTO t VALUES (2, 'y')".into(), "SELECT nope".into()])
            .is_err());
        assert_eq!(
            db.query("SELECT count(*) FROM t").unwrap().rows[0][0],
            Value::from(1)
        );
    }
}
