//! `catalog.json` (dbt's catalog schema v1): what the warehouse holds for
//! each node and source that was built: the relation's kind and comment,
//! its columns with their types and order, and its statistics. Written by
//! `docs generate`, read by the docs site and by column lineage. The field
//! order is the order dbt writes, which the catalog's golden shares.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// The schema version this writes.
pub const SCHEMA: &str = "https://schemas.getdbt.com/dbt/catalog/v1.json";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Catalog {
    pub metadata: Metadata,
    pub nodes: BTreeMap<String, Table>,
    pub sources: BTreeMap<String, Table>,
    /// dbt's errors of reading the catalog; null when there were none.
    pub errors: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub dbt_schema_version: String,
    pub dbt_version: String,
    pub generated_at: String,
    pub invocation_id: Option<String>,
    pub invocation_started_at: Option<String>,
    pub env: BTreeMap<String, String>,
}

/// One relation as the warehouse holds it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Table {
    pub metadata: TableMetadata,
    /// By name, in the relation's column order.
    pub columns: IndexMap<String, Column>,
    /// By stat id (`row_count`, then `has_stats`, which dbt always adds).
    pub stats: IndexMap<String, Stat>,
    pub unique_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TableMetadata {
    /// `BASE TABLE`, `VIEW`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub schema: String,
    pub name: String,
    pub database: Option<String>,
    pub comment: Option<String>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Column {
    #[serde(rename = "type")]
    pub data_type: String,
    pub index: i64,
    pub name: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Stat {
    pub id: String,
    pub label: String,
    /// A number or a boolean (`has_stats`).
    pub value: Value,
    pub include: bool,
    pub description: Option<String>,
}

impl Catalog {
    /// `catalog.json` at `path`; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Catalog>, Error> {
        crate::read_artifact(path, "catalog.json")
    }

    /// The entry of a node or, failing that, of a source.
    pub fn entry(&self, unique_id: &str) -> Option<&Table> {
        self.nodes
            .get(unique_id)
            .or_else(|| self.sources.get(unique_id))
    }
}

impl Table {
    /// The column names in the relation's order (by `index`).
    pub fn ordered_columns(&self) -> Vec<String> {
        let mut v: Vec<(i64, &str)> = self
            .columns
            .values()
            .map(|c| (c.index, c.name.as_str()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, n)| n.to_string()).collect()
    }

    /// `stats.row_count.value`, when the warehouse gave one.
    pub fn row_count(&self) -> Option<&Value> {
        self.stats.get("row_count").map(|s| &s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_catalog_dbt_wrote_and_orders_columns_by_index() {
        let text = r#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/catalog/v1.json",
            "dbt_version": "1.10.0", "generated_at": "2025-01-01T00:00:00Z", "invocation_id": "x", "env": {}},
          "nodes": {"model.p.a": {"metadata": {"type": "BASE TABLE", "schema": "main", "name": "a",
              "database": "db", "comment": null, "owner": null},
            "columns": {"b": {"type": "INTEGER", "index": 2, "name": "b", "comment": null},
                        "a": {"type": "VARCHAR", "index": 1, "name": "a", "comment": "the key"}},
            "stats": {"row_count": {"id": "row_count", "label": "Row Count", "value": 3, "include": true, "description": ""}},
            "unique_id": "model.p.a"}},
          "sources": {}, "errors": null}"#;
        let c: Catalog = serde_json::from_str(text).unwrap();
        let a = c.entry("model.p.a").unwrap();
        assert_eq!(a.ordered_columns(), ["a", "b"]);
        assert_eq!(a.row_count(), Some(&Value::from(3)));
        assert_eq!(a.columns["a"].comment.as_deref(), Some("the key"));
        assert!(c.entry("source.p.s.t").is_none());
        // written back in dbt's key order
        let again = serde_json::to_string(&c).unwrap();
        assert!(
            again.starts_with(r#"{"metadata":{"dbt_schema_version":"#),
            "{again}"
        );
        assert!(again.contains(
            r#""columns":{"b":{"type":"INTEGER","index":2,"name":"b","comment":null},"a""#
        ));
    }
}
