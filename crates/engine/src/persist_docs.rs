//! `persist_docs: {relation: true, columns: true}`: a node's descriptions
//! written into DuckDB as `COMMENT ON TABLE|VIEW|COLUMN` once it is built,
//! as dbt-core's `default__persist_docs` with dbt-duckdb's
//! `duckdb__alter_relation_comment`/`duckdb__alter_column_comment` do
//! (<https://docs.getdbt.com/reference/resource-configs/persist_docs>).
//! Comments are dollar-quoted with dbt's `$dbt_comment_literal_block$`, so
//! a description may hold any quote. Tools then read them from
//! `duckdb_tables()`, `duckdb_views()` and `duckdb_columns()`.

use serde_json::Value;

use crate::config::Config;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::manifest::Node;
use crate::relation::{quote, Relation};

const MAGIC: &str = "$dbt_comment_literal_block$";

/// Whether `persist_docs.<key>` is set (dbt's `persist_relation_docs()` /
/// `persist_column_docs()`: a truthy value in the mapping).
fn wants(config: &Config, key: &str) -> bool {
    match config.get("persist_docs").and_then(|p| p.get(key)) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty() && !s.eq_ignore_ascii_case("false"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// dbt-duckdb's `duckdb_escape_comment`.
fn escape(node: &Node, comment: &str) -> Result<String> {
    if comment.contains(MAGIC) {
        return Err(Error::Project(format!(
            "Compilation Error in {} {} ({})\n  The string {MAGIC} is not allowed in comments.",
            node.resource_type.as_str(),
            node.name,
            node.original_file_path
        )));
    }
    Ok(format!("{MAGIC}{comment}{MAGIC}"))
}

/// The comment statements for a built node and the warnings dbt prints
/// (documented columns missing from the relation). `existing` are the
/// relation's columns as DuckDB names them.
pub fn statements(
    node: &Node,
    rel: &Relation,
    kind: &str,
    config: &Config,
    existing: &[String],
) -> Result<(Vec<String>, Vec<String>)> {
    let mut stmts = Vec::new();
    let mut warnings = Vec::new();
    if wants(config, "relation") && !node.description.is_empty() {
        stmts.push(format!(
            "comment on {kind} {} is {}",
            rel.render(),
            escape(node, &node.description)?
        ));
    }
    if wants(config, "columns") && !node.columns.is_empty() {
        // dbt's validate_doc_columns: unquoted names match case-insensitively
        let lower: Vec<String> = existing.iter().map(|c| c.to_lowercase()).collect();
        let mut missing = Vec::new();
        for (name, col) in &node.columns {
            if !lower.contains(&name.to_lowercase()) {
                missing.push(name.clone());
                continue;
            }
            // dbt-duckdb comments a column only when the name is the
            // relation's exactly, written bare (`quote` unset)
            if existing.contains(name) {
                stmts.push(format!(
                    "comment on column {}.{} is {}",
                    rel.render(),
                    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        name.clone()
                    } else {
                        quote(name)
                    },
                    escape(node, &col.description)?
                ));
            }
        }
        if !missing.is_empty() {
            warnings.push(format!(
                "In relation {}: The following columns are specified in the schema but are not present in the database: {}",
                rel.render(),
                missing.join(", ")
            ));
        }
    }
    Ok((stmts, warnings))
}

/// Comment the node's relation after it was built (a no-op unless
/// `persist_docs` asks for it). Returns the statements run.
pub fn apply(
    db: &dyn Database,
    node: &Node,
    rel: &Relation,
    config: &Config,
) -> Result<Vec<String>> {
    if !wants(config, "relation") && !wants(config, "columns") {
        return Ok(vec![]);
    }
    let kind = match db.relation_kind(
        rel.database.as_deref(),
        rel.schema.as_deref().unwrap_or("main"),
        &rel.identifier,
    )? {
        Some(k) if k == "view" => "view",
        Some(_) => "table",
        None => return Ok(vec![]),
    };
    let existing: Vec<String> = if wants(config, "columns") && !node.columns.is_empty() {
        db.columns(rel)?.into_iter().map(|(c, _)| c).collect()
    } else {
        vec![]
    };
    let (stmts, warnings) = statements(node, rel, kind, config, &existing)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if !stmts.is_empty() {
        // comments change no relation: the relation cache stays valid
        db.execute_noted(&(stmts.join(";\n") + ";"))?;
    }
    Ok(stmts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::manifest::ResourceType;

    fn node(config: Value) -> Node {
        let mut columns = indexmap::IndexMap::new();
        for (n, d) in [("id", "The key"), ("Name", "it's a name"), ("gone", "x")] {
            columns.insert(
                n.to_string(),
                crate::properties::Column {
                    name: n.into(),
                    description: d.into(),
                    ..Default::default()
                },
            );
        }
        Node {
            original_file_path: "models/m.sql".into(),
            path: "m.sql".into(),
            fqn: vec!["p".into(), "m".into()],
            config: config.as_object().cloned().unwrap_or_default(),
            description: "Orders, one row per 'order'".into(),
            columns,
            database: "memory".into(),
            schema: "main".into(),
            ..Node::new("model.p.m", ResourceType::Model, "m", "p")
        }
    }

    #[test]
    fn comments_in_duckdb() {
        let db = Db::new(warehouse::duckdb::Connection::open_in_memory().unwrap());
        db.execute("create table m as select 1 as id, 'a' as name")
            .unwrap();
        let n = node(serde_json::json!({"persist_docs": {"relation": true, "columns": true}}));
        let rel = n.relation();
        let stmts = apply(&db, &n, &rel, &n.config).unwrap();
        // `Name` differs from `name` in case: dbt-duckdb leaves it out
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        let r = db
            .query("select comment from duckdb_tables() where table_name = 'm'")
            .unwrap();
        assert_eq!(
            r.rows[0][0],
            minijinja::Value::from("Orders, one row per 'order'")
        );
        let r = db
            .query("select column_name, comment from duckdb_columns() where table_name = 'm' order by column_index")
            .unwrap();
        assert_eq!(r.rows[0][1], minijinja::Value::from("The key"));
        assert!(r.rows[1][1].is_none(), "{:?}", r.rows[1]);
        // off by default
        let off = node(serde_json::json!({}));
        assert!(apply(&db, &off, &rel, &off.config).unwrap().is_empty());
        // views
        db.execute("create view v as select 1 as id").unwrap();
        let mut v = node(serde_json::json!({"persist_docs": {"relation": true}}));
        v.alias = "v".into();
        apply(&db, &v, &v.relation(), &v.config).unwrap();
        let r = db
            .query("select comment from duckdb_views() where view_name = 'v'")
            .unwrap();
        assert_eq!(
            r.rows[0][0],
            minijinja::Value::from("Orders, one row per 'order'")
        );
    }

    /// What `apply` asks of the database and sends it, recorded.
    #[test]
    fn recorded() {
        use crate::database::{Call, Recording};
        let n = node(serde_json::json!({"persist_docs": {"relation": true, "columns": true}}));
        let rel = n.relation();
        let db = Recording::new().with_relation(rel.clone(), "view", &[("id", "INTEGER")]);
        let stmts = apply(&db, &n, &rel, &n.config).unwrap();
        let this = rel.render();
        assert_eq!(
            stmts,
            [
                format!("comment on view {this} is {MAGIC}Orders, one row per 'order'{MAGIC}"),
                format!("comment on column {this}.id is {MAGIC}The key{MAGIC}"),
            ]
        );
        assert_eq!(
            db.calls(),
            [
                Call::RelationKind("memory.main.m".into()),
                Call::Columns(this.clone()),
                Call::Execute(stmts.join(";\n") + ";"),
            ]
        );
        // a relation that is not there (an ephemeral's) gets no comment
        let none = Recording::new();
        assert!(apply(&none, &n, &rel, &n.config).unwrap().is_empty());
        assert_eq!(none.calls(), [Call::RelationKind("memory.main.m".into())]);
        // a refused comment fails the node in the database's words
        let refusing = Recording::new()
            .with_relation(rel.clone(), "table", &[("id", "INTEGER")])
            .failing("comment on", "Catalog Error: cannot comment");
        let e = apply(&refusing, &n, &rel, &n.config).unwrap_err();
        assert_eq!(e.to_string(), "Catalog Error: cannot comment");
    }

    #[test]
    fn warns_and_refuses_magic() {
        let n = node(serde_json::json!({"persist_docs": {"columns": true}}));
        let (stmts, warnings) = statements(
            &n,
            &n.relation(),
            "table",
            &n.config,
            &["id".into(), "Name".into()],
        )
        .unwrap();
        assert_eq!(stmts.len(), 2);
        assert!(
            warnings[0].ends_with("present in the database: gone"),
            "{warnings:?}"
        );
        let mut bad = n.clone();
        bad.description = format!("a {MAGIC} b");
        let e = statements(
            &bad,
            &bad.relation(),
            "table",
            &serde_json::json!({"persist_docs": {"relation": true}})
                .as_object()
                .cloned()
                .unwrap(),
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("not allowed in comments"), "{e}");
    }
}
