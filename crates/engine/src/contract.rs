//! Model contracts (<https://docs.getdbt.com/reference/resource-configs/contract>):
//! with `contract: {enforced: true}`, the model's columns (names and data
//! types) must equal those its properties file declares, checked before
//! anything is built; `constraints` (column- and model-level `not_null`,
//! `unique`, `primary_key`, `check`, `foreign_key`) are written into the
//! table's `CREATE TABLE`, where DuckDB enforces them.
//!
//! Types are normalised the way dbt does it: by asking the database. The
//! declared types are cast in an empty `select cast(null as <type>)` and
//! described, so `int`, `integer` and `int4` all read `INTEGER`, and a type
//! DuckDB does not know is an error naming the column.

use serde_json::Value;

use crate::config::{Config, ConfigExt};
use crate::database::Database;
use crate::error::{Error, Result};
use crate::manifest::Node;
use crate::materialize::Outcome;
use crate::relation::{quote, Relation};

/// Whether the model's contract is enforced.
pub fn enforced(cfg: &Config) -> bool {
    match cfg.get("contract") {
        Some(Value::Object(c)) => match c.get("enforced") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        },
        _ => false,
    }
}

/// `DESCRIBE` a query: (name, type) in order.
fn describe(db: &dyn Database, sql: &str) -> Result<Vec<(String, String)>> {
    let q = db.query(&format!("DESCRIBE {sql}"))?;
    Ok(q.rows
        .iter()
        .map(|r| (r[0].to_string(), r[1].to_string()))
        .collect())
}

/// The declared columns with types normalised by DuckDB.
fn declared(db: &dyn Database, node: &Node) -> Result<Vec<(String, String)>> {
    let file = node.patch_path.clone().unwrap_or_default();
    let file = file
        .split_once("://")
        .map(|(_, f)| f.to_string())
        .unwrap_or(file);
    let mut cols = Vec::new();
    for (name, c) in &node.columns {
        let Some(t) = c.data_type.as_deref().filter(|t| !t.trim().is_empty()) else {
            return Err(Error::Project(format!(
                "{file}: key models.{}.columns.{name}.data_type: contracted models require data_type to be defined for each column",
                node.name
            )));
        };
        cols.push((name.clone(), t.to_string()));
    }
    if cols.is_empty() {
        return Err(Error::Project(format!(
            "{file}: key models.{}: the contract is enforced but no columns are declared",
            node.name
        )));
    }
    let sql = cols
        .iter()
        .map(|(n, t)| format!("cast(null as {t}) as {}", quote(n)))
        .collect::<Vec<_>>()
        .join(", ");
    match describe(db, &format!("select {sql}")) {
        Ok(d) => Ok(d),
        Err(_) => {
            // find the column whose type DuckDB does not know
            for (n, t) in &cols {
                if let Err(e) = describe(db, &format!("select cast(null as {t}) as x")) {
                    return Err(Error::Project(format!(
                        "{file}: key models.{m}.columns.{n}.data_type: model {m}, column {n}: DuckDB does not know the type {t:?} ({})",
                        crate::error::duckdb_gist(&e.to_string()),
                        m = node.name
                    )));
                }
            }
            Err(Error::Project(format!(
                "{file}: key models.{}: the declared data types do not parse",
                node.name
            )))
        }
    }
}

/// Check the model's SQL against its contract; the error holds dbt's table
/// of differences.
pub fn check(db: &dyn Database, node: &Node, sql: &str) -> Result<()> {
    let want = declared(db, node)?;
    let have = describe(
        db,
        &format!("select * from (\n{sql}\n) as model_subq limit 0"),
    )?;
    let mut rows: Vec<[String; 4]> = Vec::new();
    for (n, t) in &have {
        match want.iter().find(|(w, _)| w.eq_ignore_ascii_case(n)) {
            None => rows.push([
                n.clone(),
                t.clone(),
                String::new(),
                "missing in contract".into(),
            ]),
            Some((_, wt)) if !wt.eq_ignore_ascii_case(t) => rows.push([
                n.clone(),
                t.clone(),
                wt.clone(),
                "data type mismatch".into(),
            ]),
            _ => {}
        }
    }
    for (n, t) in &want {
        if !have.iter().any(|(h, _)| h.eq_ignore_ascii_case(n)) {
            rows.push([
                n.clone(),
                String::new(),
                t.clone(),
                "missing in definition".into(),
            ]);
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let header = [
        "column_name",
        "definition_type",
        "contract_type",
        "mismatch_reason",
    ];
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: [&str; 4]| {
        format!(
            "| {} |",
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let mut table = vec![
        line(header),
        format!(
            "| {} |",
            widths
                .iter()
                .map(|w| "-".repeat(*w))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
    ];
    for r in &rows {
        table.push(line([&r[0], &r[1], &r[2], &r[3]]));
    }
    Err(Error::Project(format!(
        "Compilation Error in model {} ({})\n  This model has an enforced contract that failed.\n  Please ensure the name, data_type, and number of columns in your contract match the columns in your model's definition.\n\n  {}",
        node.name,
        node.original_file_path,
        table.join("\n  ")
    )))
}

fn constraint_sql(c: &Value, column: Option<&str>) -> std::result::Result<Option<String>, String> {
    let ty = c.get("type").and_then(|t| t.as_str()).unwrap_or_default();
    let name = c
        .get("name")
        .and_then(|n| n.as_str())
        .map(|n| format!("constraint {} ", quote(n)))
        .unwrap_or_default();
    let cols = || -> String {
        c.get("columns")
            .and_then(|x| x.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .map(quote)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let expr = c
        .get("expression")
        .and_then(|e| e.as_str())
        .unwrap_or_default();
    Ok(Some(match (ty, column) {
        ("not_null", Some(_)) => "not null".into(),
        ("unique", Some(_)) => format!("{name}unique"),
        ("primary_key", Some(_)) => format!("{name}primary key"),
        ("check", _) if expr.is_empty() => {
            return Err("a check constraint needs an expression".into())
        }
        ("check", _) => format!("{name}check ({expr})"),
        ("foreign_key", Some(_)) if !expr.is_empty() => format!("{name}references {expr}"),
        ("foreign_key", None) if !expr.is_empty() => {
            format!("{name}foreign key ({}) references {expr}", cols())
        }
        ("unique", None) => format!("{name}unique ({})", cols()),
        ("primary_key", None) => format!("{name}primary key ({})", cols()),
        ("not_null", None) => return Ok(None),
        ("custom", _) => expr.to_string(),
        (other, _) => return Err(format!("unknown constraint type {other:?}")),
    }))
}

/// A table with an enforced contract: `create table (<columns with types and
/// constraints>)`, then the rows inserted, built under a temporary name and
/// swapped in like any table.
pub fn table(
    db: &dyn Database,
    node: &Node,
    rel: &Relation,
    sql: &str,
    cfg: &Config,
) -> Result<Outcome> {
    let want = declared(db, node)?;
    let mut defs = Vec::new();
    for (n, _) in &want {
        let c = &node.columns[n];
        let t = c.data_type.clone().unwrap_or_default();
        let mut parts = vec![format!("{} {t}", quote(n))];
        for k in &c.constraints {
            if let Some(s) = constraint_sql(k, Some(n))
                .map_err(|e| Error::Project(format!("{}: column {n}: {e}", node.unique_id)))?
            {
                parts.push(s);
            }
        }
        defs.push(parts.join(" "));
    }
    if let Some(Value::Array(model_level)) = cfg.get("constraints") {
        for k in model_level {
            if let Some(s) = constraint_sql(k, None)
                .map_err(|e| Error::Project(format!("{}: {e}", node.unique_id)))?
            {
                defs.push(s);
            }
        }
    }
    let kind = db.relation_kind(
        rel.database.as_deref(),
        rel.schema.as_deref().unwrap_or("main"),
        &rel.identifier,
    )?;
    let tmp = Relation {
        identifier: format!("{}__dbt_tmp", rel.identifier),
        kind: None,
        ..rel.clone()
    };
    let cols = want
        .iter()
        .map(|(n, _)| quote(n))
        .collect::<Vec<_>>()
        .join(", ");
    let create = format!(
        "create table {} (\n    {}\n);\ninsert into {} ({cols}) (\n    select {cols}\n    from (\n{}\n    ) as model_subq\n);",
        tmp.render(),
        defs.join(",\n    "),
        tmp.render(),
        sql.trim_end()
    );
    let mut stmts = vec![
        format!(
            "CREATE SCHEMA IF NOT EXISTS {}.{}",
            quote(rel.database.as_deref().unwrap_or("memory")),
            quote(rel.schema.as_deref().unwrap_or("main"))
        ),
        format!("DROP TABLE IF EXISTS {}", tmp.render()),
        create.clone(),
    ];
    match kind.as_deref() {
        Some("view") => stmts.push(format!("DROP VIEW IF EXISTS {}", rel.render())),
        Some(_) => stmts.push(format!("DROP TABLE IF EXISTS {}", rel.render())),
        None => {}
    }
    stmts.push(format!(
        "ALTER TABLE {} RENAME TO {}",
        tmp.render(),
        quote(&rel.identifier)
    ));
    db.transaction(&stmts).map_err(|e| {
        Error::Project(format!(
            "{} ({}): the rows break a constraint of the contract: {e}",
            node.unique_id, node.original_file_path
        ))
    })?;
    Ok(Outcome {
        message: "OK".into(),
        run_sql: create,
    })
}

/// Constraints DuckDB cannot apply on this materialization (views,
/// incrementals after the first build), for a warning as dbt gives.
pub fn unenforced_constraints(node: &Node, cfg: &Config) -> Vec<String> {
    if matches!(cfg.materialized(), "table" | "incremental") {
        return vec![];
    }
    let mut out = Vec::new();
    for (n, c) in &node.columns {
        for k in &c.constraints {
            if let Some(t) = k.get("type").and_then(|t| t.as_str()) {
                out.push(format!("{t} on column {n}"));
            }
        }
    }
    if let Some(Value::Array(a)) = cfg.get("constraints") {
        for k in a {
            if let Some(t) = k.get("type").and_then(|t| t.as_str()) {
                out.push(format!("{t} on the model"));
            }
        }
    }
    out
}
