//! Seeds: CSV files loaded with dbt's type inference (agate's order:
//! integer, number, date, datetime, boolean, else text; `""` and `null` are
//! NULL), not DuckDB's sniffer, so tables match what dbt builds
//! (<https://docs.getdbt.com/reference/resource-configs/column_types>).
//! Rows go in through the appender as text, then one `CREATE TABLE AS`
//! casts them.

use std::path::Path;

use serde_json::Value;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::relation::{quote, Relation};

/// An inferred column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedType {
    Integer,
    BigInt,
    Double,
    Date,
    Timestamp,
    Boolean,
    Text,
}

impl SeedType {
    pub fn sql(&self) -> &'static str {
        match self {
            SeedType::Integer => "INTEGER",
            SeedType::BigInt => "BIGINT",
            SeedType::Double => "DOUBLE",
            SeedType::Date => "DATE",
            SeedType::Timestamp => "TIMESTAMP",
            SeedType::Boolean => "BOOLEAN",
            SeedType::Text => "VARCHAR",
        }
    }
}

fn is_null(v: &str) -> bool {
    v.is_empty() || v == "null"
}

fn is_int(v: &str) -> bool {
    let d = v.strip_prefix(['-', '+']).unwrap_or(v);
    !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
}

fn is_number(v: &str) -> bool {
    let t = v;
    !t.is_empty()
        && t.parse::<f64>().is_ok()
        && !t.eq_ignore_ascii_case("nan")
        && !t.to_ascii_lowercase().contains("inf")
}

fn is_date(v: &str) -> bool {
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
}

fn is_datetime(v: &str) -> bool {
    chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_ok()
        || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").is_ok()
        || chrono::DateTime::parse_from_rfc3339(v).is_ok()
}

fn is_bool(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "false")
}

/// Infer one column's type from its values (agate's tester order).
pub fn infer<'a>(values: impl Iterator<Item = &'a str> + Clone) -> SeedType {
    let non_null = || values.clone().filter(|v| !is_null(v));
    if non_null().all(is_int) {
        let fits = non_null().all(|v| {
            v.parse::<i32>().is_ok()
                || v.strip_prefix('+')
                    .is_some_and(|x| x.parse::<i32>().is_ok())
        });
        return if fits {
            SeedType::Integer
        } else {
            SeedType::BigInt
        };
    }
    if non_null().all(is_number) {
        return SeedType::Double;
    }
    if non_null().all(is_date) {
        return SeedType::Date;
    }
    if non_null().all(is_datetime) {
        return SeedType::Timestamp;
    }
    if non_null().all(is_bool) {
        return SeedType::Boolean;
    }
    SeedType::Text
}

/// A seed read into memory.
pub struct SeedData {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub fn read_csv(path: &Path, delimiter: u8) -> Result<SeedData> {
    let bad = |m: String| Error::Seed {
        path: path.to_path_buf(),
        message: m,
    };
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_path(path)
        .map_err(|e| bad(e.to_string()))?;
    let columns: Vec<String> = r
        .headers()
        .map_err(|e| bad(e.to_string()))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if columns.is_empty() || columns.iter().all(|c| c.is_empty()) {
        return Err(bad("no header row".into()));
    }
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| bad(format!("row {}: {e}", i + 2)))?;
        if rec.len() != columns.len() {
            return Err(bad(format!(
                "row {}: {} values for {} columns",
                i + 2,
                rec.len(),
                columns.len()
            )));
        }
        rows.push(rec.iter().map(|s| s.to_string()).collect());
    }
    Ok(SeedData { columns, rows })
}

/// The SQL type per column: `column_types` config first, else inference.
pub fn column_types(data: &SeedData, overrides: Option<&Value>) -> Vec<String> {
    (0..data.columns.len())
        .map(|i| {
            let name = &data.columns[i];
            if let Some(Value::Object(m)) = overrides {
                if let Some(t) = m
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .and_then(|(_, v)| v.as_str())
                {
                    return t.to_string();
                }
            }
            infer(data.rows.iter().map(|r| r[i].as_str()))
                .sql()
                .to_string()
        })
        .collect()
}

/// Load a seed into `rel`, replacing what was there in one transaction.
pub fn load(
    db: &Db,
    path: &Path,
    rel: &Relation,
    overrides: Option<&Value>,
    delimiter: u8,
) -> Result<usize> {
    let data = read_csv(path, delimiter)?;
    let types = column_types(&data, overrides);
    let staging = format!(
        "__tarmac_seed_{}",
        rel.identifier.replace(|c: char| !c.is_alphanumeric(), "_")
    );
    let n = data.rows.len();
    db.with_conn(|conn| {
        let cols_text: Vec<String> = data
            .columns
            .iter()
            .map(|c| format!("{} VARCHAR", quote(c)))
            .collect();
        conn.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE {} ({})",
            quote(&staging),
            cols_text.join(", ")
        ))?;
        {
            let mut app = conn.appender_to_catalog_and_db(&staging, "temp", "main")?;
            for row in &data.rows {
                let vals: Vec<Option<&str>> = row
                    .iter()
                    .map(|v| if is_null(v) { None } else { Some(v.as_str()) })
                    .collect();
                app.append_row(duckdb::appender_params_from_iter(vals))?;
            }
            app.flush()?;
        }
        let select: Vec<String> = data
            .columns
            .iter()
            .zip(&types)
            .map(|(c, t)| {
                let src = if t.eq_ignore_ascii_case("BOOLEAN") {
                    format!("lower({})", quote(c))
                } else {
                    quote(c)
                };
                format!("CAST({src} AS {t}) AS {}", quote(c))
            })
            .collect();
        let tmp = Relation {
            identifier: format!("{}__dbt_tmp", rel.identifier),
            ..rel.clone()
        };
        conn.execute_batch("BEGIN TRANSACTION")?;
        let steps = [
            format!(
                "CREATE SCHEMA IF NOT EXISTS {}.{}",
                quote(rel.database.as_deref().unwrap_or("memory")),
                quote(rel.schema.as_deref().unwrap_or("main"))
            ),
            format!("DROP TABLE IF EXISTS {}", tmp.render()),
            format!(
                "CREATE TABLE {} AS SELECT {} FROM {}",
                tmp.render(),
                select.join(", "),
                quote(&staging)
            ),
            format!("DROP TABLE IF EXISTS {}", rel.render()),
            format!("DROP VIEW IF EXISTS {}", rel.render()),
            format!(
                "ALTER TABLE {} RENAME TO {}",
                tmp.render(),
                quote(&rel.identifier)
            ),
            format!("DROP TABLE IF EXISTS {}", quote(&staging)),
        ];
        for s in &steps {
            if let Err(e) = conn.execute_batch(s) {
                let _ = conn.execute_batch("ROLLBACK");
                let _ = conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote(&staging)));
                return Err(Error::Seed {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                });
            }
        }
        conn.execute_batch("COMMIT")?;
        Ok(())
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_like_agate() {
        assert_eq!(infer(["1", "-2", ""].into_iter()), SeedType::Integer);
        assert_eq!(infer(["1", "9999999999"].into_iter()), SeedType::BigInt);
        assert_eq!(infer(["1", "2.5"].into_iter()), SeedType::Double);
        assert_eq!(infer(["2024-01-01", "null"].into_iter()), SeedType::Date);
        assert_eq!(
            infer(["2024-01-01 10:00:00"].into_iter()),
            SeedType::Timestamp
        );
        assert_eq!(infer(["true", "False"].into_iter()), SeedType::Boolean);
        assert_eq!(infer(["a", "1"].into_iter()), SeedType::Text);
        assert_eq!(infer(["0001"].into_iter()), SeedType::Integer);
    }

    #[test]
    fn loads_a_seed() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("s.csv");
        std::fs::write(&f, "id,name,ok,day\n1,a,true,2024-01-02\n2,,false,\n").unwrap();
        let db = Db::new(duckdb::Connection::open_in_memory().unwrap());
        let rel = Relation::new("memory", "main", "s");
        assert_eq!(load(&db, &f, &rel, None, b',').unwrap(), 2);
        let cols = db.columns(&rel).unwrap();
        let types: Vec<&str> = cols.iter().map(|c| c.1.as_str()).collect();
        assert_eq!(types, ["INTEGER", "VARCHAR", "BOOLEAN", "DATE"]);
        let r = db
            .query("SELECT count(*) FROM s WHERE name IS NULL")
            .unwrap();
        assert_eq!(r.rows[0][0], minijinja::Value::from(1));
    }
}
