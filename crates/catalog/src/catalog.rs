//! `catalog.json` (dbt's catalog schema v1,
//! <https://schemas.getdbt.com/dbt/catalog/v1.json>): what the warehouse
//! really holds for each node and source of the manifest — relation type,
//! columns with their DuckDB types, and statistics.
//!
//! The relations are read the way dbt-duckdb's `duckdb__get_catalog` reads
//! them (`duckdb_tables()`, `duckdb_views()`, `duckdb_columns()`), with two
//! differences: columns are joined on the database too (dbt-duckdb joins on
//! schema and name only, which mixes up attached databases), and tables get a
//! `row_count` statistic from `duckdb_tables().estimated_size`, which DuckDB
//! keeps exact for its own tables at no cost (dbt-duckdb reports no stats).
//! Views get no row count: counting would run the view.

use std::collections::{BTreeSet, HashMap};
use warehouse::duckdb;

use indexmap::IndexMap;
use serde_json::Value;

use dbt_artifacts::catalog::{
    Catalog, Column as CatalogColumn, Metadata, Stat, Table, TableMetadata,
};
use dbt_artifacts::Manifest;

use crate::error::Result;

/// A column as DuckDB describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnInfo {
    pub name: String,
    pub data_type: String,
    /// 1-based position.
    pub index: i64,
    pub comment: Option<String>,
}

/// A table or view as DuckDB describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationInfo {
    pub database: String,
    pub schema: String,
    pub name: String,
    /// `BASE TABLE` or `VIEW`, as dbt writes it.
    pub kind: String,
    pub comment: Option<String>,
    pub row_count: Option<i64>,
    pub columns: Vec<ColumnInfo>,
}

/// A node or source of the manifest that should exist in the warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub unique_id: String,
    pub is_source: bool,
    pub database: String,
    pub schema: String,
    pub identifier: String,
}

fn key(database: &str, schema: &str, name: &str) -> (String, String, String) {
    (
        database.to_lowercase(),
        schema.to_lowercase(),
        name.to_lowercase(),
    )
}

/// The relations the manifest expects: models, seeds and snapshots that are
/// not ephemeral, and sources. Tests, analyses and ephemeral models are not
/// in the catalog, as in dbt. With `selected`, only those unique ids.
pub fn expected(manifest: &Manifest, selected: Option<&BTreeSet<String>>) -> Vec<Expected> {
    let mut out = Vec::new();
    let keep = |id: &str| selected.is_none_or(|s| s.contains(id));
    let nodes = manifest.nodes.iter().filter(|(id, n)| {
        matches!(n.resource_type.as_str(), "model" | "seed" | "snapshot")
            && keep(id)
            && n.config.materialized.as_deref() != Some("ephemeral")
            && n.relation_name.is_some()
    });
    let sources = manifest.sources.iter().filter(|(id, _)| keep(id));
    for ((id, n), is_source) in nodes.map(|x| (x, false)).chain(sources.map(|x| (x, true))) {
        out.push(Expected {
            unique_id: id.clone(),
            is_source,
            database: n.database.clone().unwrap_or_default(),
            schema: n.schema.clone().unwrap_or_default(),
            identifier: n.identifier().to_string(),
        });
    }
    out
}

/// Read the tables and views (with columns) of the given schemas.
pub fn read_relations(
    conn: &duckdb::Connection,
    schemas: &BTreeSet<String>,
) -> Result<Vec<RelationInfo>> {
    if schemas.is_empty() {
        return Ok(Vec::new());
    }
    let list = schemas
        .iter()
        .map(|s| format!("'{}'", s.to_lowercase().replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH relations AS (
            SELECT database_name, schema_name, table_name AS name, 'BASE TABLE' AS kind,
                   comment, estimated_size::BIGINT AS row_count
            FROM duckdb_tables() WHERE NOT temporary
            UNION ALL
            SELECT database_name, schema_name, view_name, 'VIEW', comment, NULL::BIGINT
            FROM duckdb_views() WHERE NOT internal AND NOT temporary
        )
        SELECT r.database_name, r.schema_name, r.name, r.kind, r.comment, r.row_count,
               c.column_name, c.column_index::BIGINT, c.data_type, c.comment
        FROM relations r
        LEFT JOIN duckdb_columns() c
          ON c.database_name = r.database_name AND c.schema_name = r.schema_name
         AND c.table_name = r.name
        WHERE lower(r.schema_name) IN ({list})
        ORDER BY r.database_name, r.schema_name, r.name, c.column_index"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([])?;
    let mut out: Vec<RelationInfo> = Vec::new();
    while let Some(r) = rows.next()? {
        let (database, schema, name): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let same = out
            .last()
            .is_some_and(|l| l.database == database && l.schema == schema && l.name == name);
        if !same {
            out.push(RelationInfo {
                database,
                schema,
                name,
                kind: r.get(3)?,
                comment: r.get(4)?,
                row_count: r.get(5)?,
                columns: Vec::new(),
            });
        }
        let col: Option<String> = r.get(6)?;
        if let (Some(col), Some(last)) = (col, out.last_mut()) {
            last.columns.push(ColumnInfo {
                name: col,
                index: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
                data_type: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
                comment: r.get(9)?,
            });
        }
    }
    Ok(out)
}

/// The schemas to read for `expected`.
pub fn schemas(expected: &[Expected]) -> BTreeSet<String> {
    expected.iter().map(|e| e.schema.to_lowercase()).collect()
}

fn entry(unique_id: &str, r: &RelationInfo) -> Table {
    let columns = r
        .columns
        .iter()
        .map(|c| {
            let column = CatalogColumn {
                data_type: c.data_type.clone(),
                index: c.index,
                name: c.name.clone(),
                comment: c.comment.clone(),
            };
            (c.name.clone(), column)
        })
        .collect();
    let mut stats = IndexMap::new();
    if let Some(n) = r.row_count.filter(|_| r.kind == "BASE TABLE") {
        stats.insert(
            "row_count".to_string(),
            Stat {
                id: "row_count".into(),
                label: "Row Count".into(),
                value: Value::from(n),
                include: true,
                description: Some("Rows in this table, from DuckDB's table statistics".into()),
            },
        );
    }
    // dbt always adds `has_stats`, never included, true when any stat is
    let has_stats = Stat {
        id: "has_stats".into(),
        label: "Has Stats?".into(),
        value: Value::Bool(!stats.is_empty()),
        include: false,
        description: Some("Indicates whether there are statistics for this table".into()),
    };
    stats.insert("has_stats".to_string(), has_stats);
    Table {
        metadata: TableMetadata {
            kind: r.kind.clone(),
            schema: r.schema.clone(),
            name: r.name.clone(),
            database: Some(r.database.clone()),
            comment: r.comment.clone(),
            owner: None,
        },
        columns,
        stats,
        unique_id: Some(unique_id.to_string()),
    }
}

/// Build `catalog.json` from the manifest's expectations and what DuckDB
/// holds. Relations that do not exist (not built yet) are left out, as dbt
/// does; a relation shared by a seed and a source appears under both.
pub fn build(expected: &[Expected], relations: &[RelationInfo], metadata: Metadata) -> Catalog {
    let by_key: HashMap<_, &RelationInfo> = relations
        .iter()
        .map(|r| (key(&r.database, &r.schema, &r.name), r))
        .collect();
    let mut cat = Catalog {
        metadata,
        ..Default::default()
    };
    for e in expected {
        let Some(r) = by_key.get(&key(&e.database, &e.schema, &e.identifier)) else {
            continue;
        };
        let target = if e.is_source {
            &mut cat.sources
        } else {
            &mut cat.nodes
        };
        target.insert(e.unique_id.clone(), entry(&e.unique_id, r));
    }
    cat
}

/// The catalog's metadata block.
pub fn metadata(invocation_id: &str, started_at: chrono::DateTime<chrono::Utc>) -> Metadata {
    let ts =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    Metadata {
        dbt_schema_version: dbt_artifacts::catalog::SCHEMA.into(),
        dbt_version: engine::project::DBT_VERSION.into(),
        generated_at: ts(chrono::Utc::now()),
        invocation_id: Some(invocation_id.to_string()),
        invocation_started_at: Some(ts(started_at)),
        env: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest() -> Manifest {
        serde_json::from_value(json!({
            "nodes": {
                "model.p.orders": {"resource_type": "model", "name": "orders", "database": "wh",
                    "schema": "main", "alias": "orders", "relation_name": "\"wh\".\"main\".\"orders\"",
                    "config": {"materialized": "table"}},
                "model.p.v": {"resource_type": "model", "name": "v", "database": "wh",
                    "schema": "Analytics", "alias": "v_alias", "relation_name": "x",
                    "config": {"materialized": "view"}},
                "model.p.eph": {"resource_type": "model", "name": "eph", "database": "wh",
                    "schema": "main", "alias": "eph", "relation_name": null,
                    "config": {"materialized": "ephemeral"}},
                "model.p.missing": {"resource_type": "model", "name": "missing", "database": "wh",
                    "schema": "main", "alias": "missing", "relation_name": "x",
                    "config": {"materialized": "table"}},
                "test.p.not_null_orders_id.abc": {"resource_type": "test", "name": "t", "database": "wh",
                    "schema": "main", "alias": "orders", "config": {"materialized": "test"},
                    "attached_node": "model.p.orders", "column_name": "id"},
            },
            "sources": {
                "source.p.raw.orders": {"resource_type": "source", "name": "orders", "database": "wh",
                    "schema": "main", "identifier": "orders"},
            }
        }))
        .unwrap()
    }

    #[test]
    fn expected_skips_ephemeral_and_tests() {
        let e = expected(&manifest(), None);
        let ids: Vec<&str> = e.iter().map(|x| x.unique_id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "model.p.orders",
                "model.p.v",
                "model.p.missing",
                "source.p.raw.orders"
            ]
        );
        assert_eq!(e[1].identifier, "v_alias");
        assert_eq!(
            schemas(&e),
            ["analytics", "main"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        );
        let sel: BTreeSet<String> = ["model.p.v".to_string()].into();
        let e = expected(&manifest(), Some(&sel));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn builds_catalog_from_duckdb() {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "ATTACH ':memory:' AS wh; USE wh;
             CREATE TABLE main.orders (id INTEGER, amount DECIMAL(10,2), note VARCHAR);
             INSERT INTO main.orders VALUES (1, 2.5, 'a'), (2, 3, NULL), (3, 1, 'c');
             COMMENT ON TABLE main.orders IS 'all orders';
             COMMENT ON COLUMN main.orders.id IS 'the id';
             CREATE SCHEMA analytics;
             CREATE VIEW analytics.v_alias AS SELECT id, amount * 2 AS double_amount FROM main.orders;
             CREATE TABLE main.unrelated (x INTEGER);",
        )
        .unwrap();
        let exp = expected(&manifest(), None);
        let rels = read_relations(&conn, &schemas(&exp)).unwrap();
        let meta = Metadata {
            invocation_id: Some("m".into()),
            ..Default::default()
        };
        let cat = serde_json::to_value(build(&exp, &rels, meta)).unwrap();
        let nodes = cat["nodes"].as_object().unwrap();
        assert_eq!(
            nodes.keys().collect::<Vec<_>>(),
            vec!["model.p.orders", "model.p.v"]
        );
        let o = &cat["nodes"]["model.p.orders"];
        assert_eq!(o["metadata"]["type"], "BASE TABLE");
        assert_eq!(o["metadata"]["database"], "wh");
        assert_eq!(o["metadata"]["comment"], "all orders");
        assert_eq!(o["columns"]["amount"]["type"], "DECIMAL(10,2)");
        assert_eq!(o["columns"]["amount"]["index"], 2);
        assert_eq!(o["columns"]["id"]["comment"], "the id");
        assert_eq!(o["columns"]["note"]["comment"], Value::Null);
        assert_eq!(o["stats"]["row_count"]["value"], 3);
        assert_eq!(o["stats"]["has_stats"]["value"], true);
        assert_eq!(o["unique_id"], "model.p.orders");
        let v = &cat["nodes"]["model.p.v"];
        assert_eq!(v["metadata"]["type"], "VIEW");
        assert_eq!(v["metadata"]["schema"], "analytics");
        assert_eq!(v["columns"]["double_amount"]["index"], 2);
        assert!(v["stats"].get("row_count").is_none());
        assert_eq!(v["stats"]["has_stats"]["value"], false);
        // the source shares the seed's relation
        assert_eq!(
            cat["sources"]["source.p.raw.orders"]["metadata"]["name"],
            "orders"
        );
        assert_eq!(cat["errors"], Value::Null);
        assert_eq!(cat["metadata"]["invocation_id"], "m");
    }
}
