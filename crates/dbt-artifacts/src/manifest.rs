//! `manifest.json` (dbt's schema v12) as its readers see it: the fields
//! the docs site, the catalog and column lineage use, every other field
//! skipped while reading. Why not `serde_json::Value`: a 10,000-model
//! manifest (~50 MB of text) took ~600 MB as a `Value` (a map per node,
//! config and column, each key a string), most of `docs generate`'s peak
//! memory; typed and without the fields no reader wants it is a tenth of
//! that. Reading is lenient as dbt's readers are: a field left out or
//! written as null reads as its default, so a manifest dbt wrote reads
//! too. Tarmac writes manifests from the engine's own types
//! (`engine::artifacts`), so this is the reading side only.

use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::Error;

/// A field that may be null or absent: its default then.
fn lenient<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// What readers use of a manifest.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Manifest {
    #[serde(default, deserialize_with = "lenient")]
    pub metadata: ManifestMetadata,
    /// Models, seeds, snapshots, tests, analyses, operations, by unique id
    /// in the file's order.
    #[serde(default, deserialize_with = "lenient")]
    pub nodes: IndexMap<String, Node>,
    #[serde(default, deserialize_with = "lenient")]
    pub sources: IndexMap<String, Node>,
    #[serde(default, deserialize_with = "lenient")]
    pub exposures: IndexMap<String, Node>,
    /// Doc blocks by unique id.
    #[serde(default, deserialize_with = "lenient")]
    pub docs: IndexMap<String, DocBlock>,
}

/// The manifest's `metadata` (what readers show of it).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ManifestMetadata {
    #[serde(default, deserialize_with = "lenient")]
    pub project_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub generated_at: Option<String>,
}

/// A node, source or exposure: one struct, since readers treat them alike
/// and each kind leaves the others' fields empty.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Node {
    #[serde(default, deserialize_with = "lenient")]
    pub resource_type: String,
    #[serde(default, deserialize_with = "lenient")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub package_name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub original_file_path: String,
    #[serde(default, deserialize_with = "lenient")]
    pub patch_path: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub database: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub schema: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub alias: Option<String>,
    /// A source's table name in the database.
    #[serde(default, deserialize_with = "lenient")]
    pub identifier: Option<String>,
    /// Null for nodes with no relation (ephemeral models, tests).
    #[serde(default, deserialize_with = "lenient")]
    pub relation_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub meta: Map<String, Value>,
    #[serde(default, deserialize_with = "lenient")]
    pub description: String,
    /// A source's description of its whole source.
    #[serde(default, deserialize_with = "lenient")]
    pub source_description: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub source_name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub loader: Option<String>,
    /// Documented columns, in the properties file's order.
    #[serde(default, deserialize_with = "lenient")]
    pub columns: IndexMap<String, Column>,
    #[serde(default, deserialize_with = "lenient")]
    pub raw_code: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub compiled_code: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub depends_on: DependsOn,
    #[serde(default, deserialize_with = "lenient")]
    pub config: NodeConfig,
    /// A generic test's tested model.
    #[serde(default, deserialize_with = "lenient")]
    pub attached_node: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub column_name: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub test_metadata: Option<TestMetadata>,
}

/// A documented column.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Column {
    #[serde(default, deserialize_with = "lenient")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub description: String,
    #[serde(default, deserialize_with = "lenient")]
    pub data_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DependsOn {
    #[serde(default, deserialize_with = "lenient")]
    pub nodes: Vec<String>,
}

/// The config keys readers use.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeConfig {
    #[serde(default, deserialize_with = "lenient")]
    pub materialized: Option<String>,
    /// A test's `ERROR` or `WARN`.
    #[serde(default, deserialize_with = "lenient")]
    pub severity: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct TestMetadata {
    #[serde(default, deserialize_with = "lenient")]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DocBlock {
    #[serde(default, deserialize_with = "lenient")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub package_name: String,
    #[serde(default, deserialize_with = "lenient")]
    pub block_contents: String,
}

impl Manifest {
    /// Reads `path`; `Ok(None)` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Manifest>, Error> {
        crate::read_artifact(path, "manifest.json")
    }
}

impl Node {
    /// The relation's name in the database: a source's identifier, else
    /// the alias, else the name.
    pub fn identifier(&self) -> &str {
        let named = if self.resource_type == "source" {
            &self.identifier
        } else {
            &self.alias
        };
        named
            .as_deref()
            .filter(|a| !a.is_empty())
            .unwrap_or(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_manifest_with_nulls_and_unknown_fields() {
        let text = r##"{"metadata": {"project_name": "p", "generated_at": "t", "env": {}},
            "nodes": {
              "model.p.b": {"resource_type": "model", "name": "b", "alias": null, "schema": "main",
                 "config": {"materialized": "view", "on_schema_change": "ignore"},
                 "columns": {"z": {"name": "z", "description": null}, "a": {"name": "a", "data_type": "int"}},
                 "depends_on": {"nodes": ["source.p.s.t"], "macros": []}, "tags": null,
                 "relation_name": "\"db\".\"main\".\"b\"", "checksum": {"name": "sha256"}},
              "test.p.t": {"resource_type": "test", "name": "t", "attached_node": "model.p.b",
                 "test_metadata": {"name": "unique", "kwargs": {}}, "config": {"severity": "ERROR"}}},
            "sources": {"source.p.s.t": {"resource_type": "source", "name": "t", "identifier": "raw_t",
                 "source_name": "s", "loader": null}},
            "docs": {"doc.p.__overview__": {"name": "__overview__", "package_name": "p", "block_contents": "# Hi"}},
            "parent_map": {}, "selectors": {}}"##;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("manifest.json");
        assert!(Manifest::read(&path).unwrap().is_none());
        std::fs::write(&path, text).unwrap();
        let m = Manifest::read(&path).unwrap().unwrap();
        assert_eq!(m.metadata.project_name.as_deref(), Some("p"));
        let b = &m.nodes["model.p.b"];
        assert_eq!(b.identifier(), "b");
        assert_eq!(b.config.materialized.as_deref(), Some("view"));
        // the file's order of columns, a null description as empty
        let cols: Vec<&str> = b.columns.keys().map(String::as_str).collect();
        assert_eq!(cols, ["z", "a"]);
        assert_eq!(b.columns["z"].description, "");
        assert_eq!(b.columns["a"].data_type.as_deref(), Some("int"));
        assert!(b.tags.is_empty());
        assert_eq!(b.depends_on.nodes, ["source.p.s.t"]);
        let t = &m.nodes["test.p.t"];
        assert_eq!(t.test_metadata.as_ref().unwrap().name, "unique");
        assert_eq!(t.relation_name, None);
        assert_eq!(m.sources["source.p.s.t"].identifier(), "raw_t");
        assert_eq!(m.docs["doc.p.__overview__"].block_contents, "# Hi");
        std::fs::write(&path, "{").unwrap();
        let e = Manifest::read(&path).unwrap_err().to_string();
        assert!(
            e.contains("manifest.json is not a valid manifest.json"),
            "{e}"
        );
    }
}
