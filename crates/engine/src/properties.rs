//! Properties YAML files (`models/*.yml`): descriptions, columns, tests,
//! `config:` blocks of models and seeds, and source definitions
//! (<https://docs.getdbt.com/reference/model-properties>,
//! <https://docs.getdbt.com/reference/source-properties>).

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{self, Config};
use crate::error::{Error, Result};

/// One column as documented.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Column {
    pub name: String,
    pub description: String,
    pub data_type: Option<String>,
    pub meta: Map<String, Value>,
    pub tags: Vec<String>,
    /// Tests as written (`not_null`, `{unique: {...}}`).
    #[serde(skip)]
    pub tests: Vec<Value>,
    /// Contract constraints as written (`{type: not_null}`, ...).
    pub constraints: Vec<Value>,
    /// `quote:` as written (dbt's null when unset).
    pub quote: Option<bool>,
    /// dbt's column `config` (`meta`, `tags`), `granularity` (a time
    /// spine's column grain, MetricFlow's) and `doc_blocks`, as its manifest
    /// carries them (packages read the `graph`).
    pub config: Value,
    pub granularity: Option<String>,
    #[serde(serialize_with = "empty_list")]
    pub doc_blocks: (),
}

fn empty_list<S: serde::Serializer>(_: &(), s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(std::iter::empty::<()>())
}

/// The properties of one model or seed.
/// Serialize: what a model's partial-parse fingerprint hashes (see
/// `kinds::model`), with each column's tests beside it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NodeProps {
    pub description: String,
    pub config: Config,
    pub columns: IndexMap<String, Column>,
    pub tests: Vec<Value>,
    /// The properties file, relative to the project.
    pub file: String,
    /// A YAML-defined snapshot's `relation:` (`ref('x')` or `source('a', 'b')`).
    pub relation: Option<String>,
    /// A versioned model's `versions:` entries as written, and `latest_version`.
    pub versions: Vec<Value>,
    pub latest_version: Option<Value>,
    /// A model's `time_spine:` (MetricFlow's time spine), as dbt's manifest
    /// gives it: `{standard_granularity_column, custom_granularities}`.
    /// Packages tell time spines from other models by it.
    pub time_spine: Option<Value>,
}

impl NodeProps {
    /// The version entry whose file has stem `stem`: `defined_in`, else
    /// `<name>_v<v>` (dbt's default).
    pub fn version_for(&self, name: &str, stem: &str) -> Option<&Value> {
        self.versions.iter().find(|ver| {
            let v = ver.get("v").map(json_text).unwrap_or_default();
            match ver.get("defined_in").and_then(|d| d.as_str()) {
                Some(d) => d == stem,
                None => format!("{name}_v{v}") == stem,
            }
        })
    }

    /// `latest_version`, else the greatest `v` (numbers compared as numbers).
    pub fn latest(&self) -> Value {
        if let Some(l) = self.latest_version.clone() {
            return l;
        }
        let key = |v: &Value| v.as_f64().unwrap_or(f64::NEG_INFINITY);
        self.versions
            .iter()
            .filter_map(|ver| ver.get("v").cloned())
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .unwrap_or(Value::Null)
    }
}

/// A source table (`sources:` entry × `tables:` entry).
#[derive(Debug, Clone, Default)]
pub struct SourceTable {
    pub source_name: String,
    pub name: String,
    pub database: Option<String>,
    pub schema: String,
    pub identifier: String,
    pub description: String,
    pub source_description: String,
    pub columns: IndexMap<String, Column>,
    pub config: Config,
    pub loader: String,
    pub tags: Vec<String>,
    pub meta: Map<String, Value>,
    pub file: String,
    /// Table-level tests as written (`data_tests:`/`tests:`).
    pub tests: Vec<Value>,
    /// `freshness:` (table over source over config; an explicit null turns it off).
    pub freshness: Option<Value>,
    pub loaded_at_field: Option<String>,
    /// The source's `quoting:` with the table's over it (dbt ignores the
    /// project's `quoting:` for sources).
    pub quoting: crate::relation::Quoting,
}

/// Everything read from the project's properties files.
#[derive(Debug, Default)]
pub struct Properties {
    pub models: BTreeMap<String, NodeProps>,
    pub seeds: BTreeMap<String, NodeProps>,
    pub snapshots: BTreeMap<String, NodeProps>,
    pub sources: Vec<SourceTable>,
    /// `unit_tests:` entries as written, with their file (relative).
    pub unit_tests: Vec<(String, Value)>,
    /// Exposures, metrics, semantic models, saved queries and groups as
    /// written: (properties key, file relative to the project, entry).
    pub resources: Vec<(&'static str, String, Value)>,
}

/// Whether a value holds a string with Jinja in it.
fn has_jinja(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => a.iter().any(has_jinja),
        Value::Object(m) => m.values().any(has_jinja),
        _ => false,
    }
}

fn s(v: Option<&Value>) -> String {
    v.and_then(|x| x.as_str()).unwrap_or_default().to_string()
}

fn tags(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}

fn columns(v: Option<&Value>, file: &Path, owner: &str) -> Result<IndexMap<String, Column>> {
    let mut out = IndexMap::new();
    let Some(v) = v else { return Ok(out) };
    let Value::Array(items) = v else {
        return Err(Error::Yaml {
            path: file.to_path_buf(),
            message: format!("{owner}: key columns: expected a list"),
        });
    };
    for c in items {
        let name = s(c.get("name"));
        if name.is_empty() {
            return Err(Error::Yaml {
                path: file.to_path_buf(),
                message: format!("{owner}: a column has no name"),
            });
        }
        let mut tests = Vec::new();
        for key in ["tests", "data_tests"] {
            if let Some(Value::Array(a)) = c.get(key) {
                tests.extend(a.iter().cloned());
            }
        }
        out.insert(
            name.clone(),
            Column {
                description: s(c.get("description")),
                data_type: c
                    .get("data_type")
                    .and_then(|x| x.as_str())
                    .map(String::from),
                meta: c
                    .get("meta")
                    .and_then(|m| m.as_object())
                    .cloned()
                    .unwrap_or_default(),
                tags: tags(c.get("tags")),
                constraints: c
                    .get("constraints")
                    .and_then(|x| x.as_array())
                    .map(|a| a.iter().map(column_constraint).collect())
                    .unwrap_or_default(),
                quote: c.get("quote").and_then(|q| q.as_bool()),
                granularity: c
                    .get("granularity")
                    .and_then(|g| g.as_str())
                    .map(String::from),
                config: serde_json::json!({
                    "meta": c.get("meta").cloned().unwrap_or(Value::Object(Map::new())),
                    "tags": tags(c.get("tags")),
                }),
                tests,
                name,
                ..Default::default()
            },
        );
    }
    Ok(out)
}

/// A column constraint in dbt's manifest shape: every field of its
/// `ColumnLevelConstraint`, defaults for what the YAML leaves out (packages
/// print the constraints they read from `graph` with `tojson`).
fn column_constraint(c: &Value) -> Value {
    let Value::Object(written) = c else {
        return c.clone();
    };
    let mut out = Map::new();
    for (k, d) in [
        ("type", Value::Null),
        ("name", Value::Null),
        ("expression", Value::Null),
        ("warn_unenforced", Value::Bool(true)),
        ("warn_unsupported", Value::Bool(true)),
        ("to", Value::Null),
        ("to_columns", Value::Array(vec![])),
    ] {
        out.insert(k.to_string(), written.get(k).cloned().unwrap_or(d));
    }
    for (k, v) in written {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(out)
}

fn node_props(item: &Value, file: &Path, rel: &str, kind: &str) -> Result<(String, NodeProps)> {
    let name = s(item.get("name"));
    if name.is_empty() {
        return Err(Error::Yaml {
            path: file.to_path_buf(),
            message: format!("key {kind}: an entry has no name"),
        });
    }
    let mut cfg = Config::new();
    if let Some(c) = item.get("config") {
        let Value::Object(m) = c else {
            return Err(Error::Yaml {
                path: file.to_path_buf(),
                message: format!("{kind} {name}: key config: expected a mapping"),
            });
        };
        config::merge(&mut cfg, m);
    }
    // dbt also accepts some configs at the top of an entry (docs, meta,
    // tags), and model-level contract constraints, kept with the config
    for k in ["tags", "meta", "docs", "constraints"] {
        if let Some(v) = item.get(k) {
            let mut m = Map::new();
            m.insert(k.to_string(), v.clone());
            config::merge(&mut cfg, &m);
        }
    }
    let mut tests = Vec::new();
    for key in ["tests", "data_tests"] {
        if let Some(Value::Array(a)) = item.get(key) {
            tests.extend(a.iter().cloned());
        }
    }
    Ok((
        name.clone(),
        NodeProps {
            description: s(item.get("description")),
            config: cfg,
            columns: columns(item.get("columns"), file, &format!("{kind} {name}"))?,
            tests,
            file: rel.to_string(),
            relation: item
                .get("relation")
                .and_then(|r| r.as_str())
                .map(String::from),
            versions: item
                .get("versions")
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default(),
            latest_version: item.get("latest_version").cloned().filter(|v| !v.is_null()),
            time_spine: item.get("time_spine").filter(|v| !v.is_null()).map(|t| {
                let mut m = t.as_object().cloned().unwrap_or_default();
                m.entry("standard_granularity_column")
                    .or_insert(Value::Null);
                m.entry("custom_granularities")
                    .or_insert(Value::Array(vec![]));
                Value::Object(m)
            }),
        },
    ))
}

impl Properties {
    /// Render the Jinja in models', seeds' and snapshots' `config:` values
    /// with `env` (the project-file context: `target`, `var`, `env_var`),
    /// as dbt renders properties files at parse time (a seed's
    /// `column_types: {c: "{{ 'text' if target.type == 'x' else 'y' }}"}`);
    /// hooks are left for run time, as in dbt_project.yml. Columns'
    /// `data_type` renders the same way.
    pub fn render_configs(&mut self, env: &crate::project::FileEnv, root: &Path) -> Result<()> {
        let skip = |p: &[String]| {
            p.iter().any(|k| {
                matches!(
                    k.trim_start_matches('+'),
                    "pre-hook" | "post-hook" | "pre_hook" | "post_hook"
                )
            })
        };
        for (kind, map) in [
            ("models", &mut self.models),
            ("seeds", &mut self.seeds),
            ("snapshots", &mut self.snapshots),
        ] {
            for (name, p) in map.iter_mut() {
                // a column's data_type too (dbt-project-evaluator writes
                // "{{ 'UInt8' if target.type in ['clickhouse'] else 'int' }}")
                for c in p.columns.values_mut() {
                    let Some(t) = c
                        .data_type
                        .as_mut()
                        .filter(|t| t.contains("{{") || t.contains("{%"))
                    else {
                        continue;
                    };
                    *t = env.render_text(t).map_err(|message| Error::Yaml {
                        path: root.join(&p.file),
                        message: format!("{kind} {name}: columns.{}.data_type: {message}", c.name),
                    })?;
                }
                if !p.config.values().any(has_jinja) {
                    continue;
                }
                let mut v = Value::Object(std::mem::take(&mut p.config));
                let r = env.render_tree(&mut v, &mut vec![], &skip);
                if let Value::Object(m) = v {
                    p.config = m;
                }
                r.map_err(|message| Error::Yaml {
                    path: root.join(&p.file),
                    message: format!("{kind} {name}: config: {message}"),
                })?;
            }
        }
        Ok(())
    }

    /// Add one parsed properties file. `rel` is its path relative to the project.
    pub fn add_file(&mut self, file: &Path, rel: &str, doc: &Value) -> Result<()> {
        let Value::Object(top) = doc else {
            return Ok(());
        };
        for (kind, target) in [
            ("models", &mut self.models),
            ("seeds", &mut self.seeds),
            ("snapshots", &mut self.snapshots),
        ] {
            match top.get(kind) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for item in items {
                        let (name, props) = node_props(item, file, rel, kind)?;
                        if let Some(prev) = target.get(&name) {
                            return Err(Error::Yaml {
                                path: file.to_path_buf(),
                                message: format!(
                                    "{kind} {name} is described twice (also in {})",
                                    prev.file
                                ),
                            });
                        }
                        target.insert(name, props);
                    }
                }
                Some(_) => {
                    return Err(Error::Yaml {
                        path: file.to_path_buf(),
                        message: format!("key {kind}: expected a list"),
                    })
                }
            }
        }
        for kind in crate::resources::KINDS {
            match top.get(kind) {
                None | Some(Value::Null) => {}
                Some(Value::Array(a)) => {
                    for item in a {
                        self.resources.push((kind, rel.to_string(), item.clone()));
                    }
                }
                Some(_) => {
                    return Err(Error::Yaml {
                        path: file.to_path_buf(),
                        message: format!("key {kind}: expected a list"),
                    })
                }
            }
        }
        match top.get("unit_tests") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for u in a {
                    self.unit_tests.push((rel.to_string(), u.clone()));
                }
            }
            Some(_) => {
                return Err(Error::Yaml {
                    path: file.to_path_buf(),
                    message: "key unit_tests: expected a list".into(),
                })
            }
        }
        if let Some(v) = top.get("sources") {
            let Value::Array(srcs) = v else {
                return Err(Error::Yaml {
                    path: file.to_path_buf(),
                    message: "key sources: expected a list".into(),
                });
            };
            for src in srcs {
                let source_name = s(src.get("name"));
                if source_name.is_empty() {
                    return Err(Error::Yaml {
                        path: file.to_path_buf(),
                        message: "key sources: an entry has no name".into(),
                    });
                }
                let schema = src
                    .get("schema")
                    .and_then(|x| x.as_str())
                    .unwrap_or(&source_name)
                    .to_string();
                let database = src
                    .get("database")
                    .or_else(|| src.get("catalog"))
                    .and_then(|x| x.as_str())
                    .map(String::from);
                let src_cfg = src
                    .get("config")
                    .and_then(|c| c.as_object())
                    .cloned()
                    .unwrap_or_default();
                let tables = match src.get("tables") {
                    Some(Value::Array(t)) => t.clone(),
                    None | Some(Value::Null) => vec![],
                    Some(_) => {
                        return Err(Error::Yaml {
                            path: file.to_path_buf(),
                            message: format!("source {source_name}: key tables: expected a list"),
                        })
                    }
                };
                for t in tables {
                    let name = s(t.get("name"));
                    if name.is_empty() {
                        return Err(Error::Yaml {
                            path: file.to_path_buf(),
                            message: format!("source {source_name}: a table has no name"),
                        });
                    }
                    let mut cfg = src_cfg.clone();
                    if let Some(Value::Object(c)) = t.get("config") {
                        config::merge(&mut cfg, c);
                    }
                    let mut tg = tags(src.get("tags"));
                    tg.extend(tags(t.get("tags")));
                    let mut meta = src
                        .get("meta")
                        .and_then(|m| m.as_object())
                        .cloned()
                        .unwrap_or_default();
                    if let Some(Value::Object(m)) = t.get("meta") {
                        meta.extend(m.clone());
                    }
                    let mut table_tests = Vec::new();
                    for key in ["tests", "data_tests"] {
                        if let Some(Value::Array(a)) = t.get(key) {
                            table_tests.extend(a.iter().cloned());
                        }
                    }
                    let pick = |k: &str| -> Option<Value> {
                        t.get(k)
                            .or_else(|| src.get(k))
                            .or_else(|| cfg.get(k))
                            .cloned()
                            .filter(|v| !v.is_null())
                    };
                    // the table's freshness updates the source's key by key;
                    // an explicit null turns it off
                    let freshness = match t.get("freshness") {
                        // kept as null: dbt's manifest says null, not the
                        // empty thresholds of a source that never set one
                        Some(Value::Null) => Some(Value::Null),
                        Some(Value::Object(tm)) => {
                            let mut base = src
                                .get("freshness")
                                .or_else(|| cfg.get("freshness"))
                                .and_then(|v| v.as_object())
                                .cloned()
                                .unwrap_or_default();
                            base.extend(tm.clone());
                            Some(Value::Object(base))
                        }
                        Some(other) => Some(other.clone()),
                        None => pick("freshness"),
                    };
                    let loaded_at_field =
                        pick("loaded_at_field").and_then(|v| v.as_str().map(String::from));
                    self.sources.push(SourceTable {
                        quoting: crate::relation::Quoting::default()
                            .merged(src.get("quoting"))
                            .merged(t.get("quoting")),
                        tests: table_tests,
                        freshness,
                        loaded_at_field,
                        identifier: t
                            .get("identifier")
                            .and_then(|x| x.as_str())
                            .unwrap_or(&name)
                            .to_string(),
                        columns: columns(
                            t.get("columns"),
                            file,
                            &format!("source {source_name}.{name}"),
                        )?,
                        description: s(t.get("description")),
                        source_description: s(src.get("description")),
                        loader: s(src.get("loader")),
                        source_name: source_name.clone(),
                        schema: schema.clone(),
                        database: database.clone(),
                        config: cfg,
                        tags: tg,
                        meta,
                        file: rel.to_string(),
                        name,
                    });
                }
            }
        }
        Ok(())
    }
}

/// A YAML scalar as text (strings without quotes).
pub(crate) fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_models_and_sources() {
        let doc = crate::yaml::parse(
            Path::new("m.yml"),
            "version: 2\nmodels:\n  - name: a\n    description: A\n    config:\n      materialized: table\n    columns:\n      - name: id\n        tests: [unique]\nsources:\n  - name: raw\n    schema: main\n    tables:\n      - name: t\n        identifier: t_1\n",
        )
        .unwrap();
        let mut p = Properties::default();
        p.add_file(Path::new("m.yml"), "models/m.yml", &doc)
            .unwrap();
        assert_eq!(p.models["a"].config["materialized"], "table");
        assert_eq!(p.models["a"].columns["id"].tests.len(), 1);
        assert_eq!(p.sources[0].identifier, "t_1");
        assert_eq!(p.sources[0].schema, "main");
        assert_eq!(p.models["a"].time_spine, None);
        assert_eq!(
            column_constraint(&serde_json::json!({"type": "not_null"})).to_string(),
            r#"{"type":"not_null","name":null,"expression":null,"warn_unenforced":true,"warn_unsupported":true,"to":null,"to_columns":[]}"#
        );
        assert_eq!(p.models["a"].columns["id"].granularity, None);
        let spine = crate::yaml::parse(
            Path::new("s.yml"),
            "models:\n  - name: all_days\n    time_spine:\n      standard_granularity_column: date_day\n    columns:\n      - name: date_day\n        granularity: day\n",
        )
        .unwrap();
        p.add_file(Path::new("s.yml"), "models/s.yml", &spine)
            .unwrap();
        assert_eq!(
            p.models["all_days"].time_spine,
            Some(
                serde_json::json!({"standard_granularity_column": "date_day", "custom_granularities": []})
            )
        );
        assert_eq!(
            serde_json::to_value(&p.models["all_days"].columns["date_day"]).unwrap()["granularity"],
            "day"
        );
        let bad = crate::yaml::parse(Path::new("m.yml"), "models:\n  - name: a\n    config: 3\n")
            .unwrap();
        let e = p.add_file(Path::new("m.yml"), "m.yml", &bad).unwrap_err();
        assert!(e.to_string().contains("models a: key config"), "{e}");
    }
}
