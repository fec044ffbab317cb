//! Properties YAML files (`models/*.yml`): descriptions, columns, tests,
//! `config:` blocks of models, seeds and snapshots, and source definitions
//! (<https://docs.getdbt.com/reference/model-properties>,
//! <https://docs.getdbt.com/reference/source-properties>), read into typed
//! values with every problem of a file reported at once.
//!
//! Why here: a properties file's shape is dbt's documented schema and needs
//! neither Jinja nor a database. The Jinja in `config:` values is rendered
//! later, by the engine, with the project-file context.
//!
//! Why every problem at once: a wrong key in one entry does not stop the
//! reading of the next, so `tarmac parse` names every mistake of every file
//! in one run. An entry with a problem is left out; the caller fails the
//! parse when any file had one. Lines come from the file's text, read again
//! only when there is a problem, since the partial parse state keeps the
//! parsed document, not the text.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{self, Config};
use crate::error::Result;
use crate::quoting::Quoting;
use crate::yaml::{KeyLines, Problems};

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
    /// Contract constraints in dbt's manifest shape (see [`column_constraint`]).
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

/// The properties of one model, seed or snapshot.
/// Serialize: what a model's partial-parse fingerprint hashes (see
/// `engine::kinds::model`), with each column's tests beside it.
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
    pub quoting: Quoting,
}

/// Everything read from a project's properties files.
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

/// A YAML scalar as text (strings without quotes).
pub fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value as a problem quotes it: JSON, cut short when long.
fn shown(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The key path of `key` inside `at` (the top when `at` is empty).
fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

/// The problems of one file as they are found, each at its key path
/// (`models[2].columns[0].name`), located to lines only if there are any.
#[derive(Default)]
struct Found(Vec<(String, String)>);

impl Found {
    fn add(&mut self, at: &str, message: String) {
        self.0.push((at.to_string(), message));
    }

    /// `entry[key]` when absent or null (`None`), or when a mapping; else a
    /// problem (`owner: key k: expected a mapping, found ...`).
    fn mapping<'v>(
        &mut self,
        entry: &'v Map<String, Value>,
        key: &str,
        at: &str,
        owner: &str,
    ) -> Option<&'v Map<String, Value>> {
        match entry.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.add(
                    &join(at, key),
                    format!(
                        "{owner}key {key}: expected a mapping, found {}",
                        shown(other)
                    ),
                );
                None
            }
        }
    }

    /// `entry[key]` as a list (empty when absent or null); else a problem.
    fn list<'v>(
        &mut self,
        entry: &'v Map<String, Value>,
        key: &str,
        at: &str,
        owner: &str,
    ) -> &'v [Value] {
        match entry.get(key) {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(other) => {
                self.add(
                    &join(at, key),
                    format!("{owner}key {key}: expected a list, found {}", shown(other)),
                );
                &[]
            }
        }
    }

    /// `entry[key]` as text: a string, or a number or boolean as written
    /// (YAML reads `description: 2024` as a number). A mapping or a list is
    /// a problem.
    fn text(
        &mut self,
        entry: &Map<String, Value>,
        key: &str,
        at: &str,
        owner: &str,
    ) -> Option<String> {
        match entry.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
            Some(other) => {
                self.add(
                    &join(at, key),
                    format!(
                        "{owner}key {key}: expected a string, found {}",
                        shown(other)
                    ),
                );
                None
            }
        }
    }

    /// `tags:`: one tag or a list of them.
    fn tags(&mut self, entry: &Map<String, Value>, at: &str, owner: &str) -> Vec<String> {
        match entry.get("tags") {
            None | Some(Value::Null) => vec![],
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            Some(other) => {
                self.add(
                    &join(at, "tags"),
                    format!(
                        "{owner}key tags: expected a tag or a list of tags, found {}",
                        shown(other)
                    ),
                );
                vec![]
            }
        }
    }

    /// `tests:` and `data_tests:` together, as written.
    fn tests(&mut self, entry: &Map<String, Value>, at: &str, owner: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for key in ["tests", "data_tests"] {
            out.extend(self.list(entry, key, at, owner).iter().cloned());
        }
        out
    }

    /// The entry at `at`, which must be a mapping with a `name:`.
    fn named<'v>(
        &mut self,
        item: &'v Value,
        at: &str,
        what: &str,
    ) -> Option<(&'v Map<String, Value>, String)> {
        let Value::Object(m) = item else {
            self.add(
                at,
                format!("key {at}: expected a mapping, found {}", shown(item)),
            );
            return None;
        };
        match m.get("name") {
            Some(Value::String(s)) if !s.is_empty() => Some((m, s.clone())),
            Some(v @ Value::Number(_)) => Some((m, v.to_string())),
            _ => {
                self.add(at, format!("key {at}: {what} has no name"));
                None
            }
        }
    }
}

fn columns(
    found: &mut Found,
    entry: &Map<String, Value>,
    at: &str,
    owner: &str,
) -> IndexMap<String, Column> {
    let mut out = IndexMap::new();
    for (i, c) in found.list(entry, "columns", at, owner).iter().enumerate() {
        let cat = format!("{at}.columns[{i}]");
        let Some((c, name)) = found.named(c, &cat, "a column") else {
            continue;
        };
        let cowner = format!("{owner}column {name}: ");
        let meta = found
            .mapping(c, "meta", &cat, &cowner)
            .cloned()
            .unwrap_or_default();
        let tags = found.tags(c, &cat, &cowner);
        let quote = match c.get("quote") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                found.add(
                    &join(&cat, "quote"),
                    format!(
                        "{cowner}key quote: expected true or false, found {}",
                        shown(other)
                    ),
                );
                None
            }
        };
        let column = Column {
            description: found
                .text(c, "description", &cat, &cowner)
                .unwrap_or_default(),
            data_type: found.text(c, "data_type", &cat, &cowner),
            constraints: found
                .list(c, "constraints", &cat, &cowner)
                .iter()
                .map(column_constraint)
                .collect(),
            quote,
            granularity: found.text(c, "granularity", &cat, &cowner),
            config: serde_json::json!({"meta": meta.clone(), "tags": tags.clone()}),
            meta,
            tags,
            tests: found.tests(c, &cat, &cowner),
            name: name.clone(),
            ..Default::default()
        };
        out.insert(name, column);
    }
    out
}

/// A column constraint in dbt's manifest shape: every field of its
/// `ColumnLevelConstraint`, defaults for what the YAML leaves out (packages
/// print the constraints they read from `graph` with `tojson`).
pub fn column_constraint(c: &Value) -> Value {
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

fn node_props(
    found: &mut Found,
    item: &Map<String, Value>,
    name: &str,
    at: &str,
    rel: &str,
    kind: &str,
) -> NodeProps {
    let owner = format!("{kind} {name}: ");
    let mut cfg = Config::new();
    if let Some(m) = found.mapping(item, "config", at, &owner) {
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
    let latest_version = item.get("latest_version").cloned().filter(|v| !v.is_null());
    NodeProps {
        description: found
            .text(item, "description", at, &owner)
            .unwrap_or_default(),
        config: cfg,
        columns: columns(found, item, at, &owner),
        tests: found.tests(item, at, &owner),
        file: rel.to_string(),
        relation: found.text(item, "relation", at, &owner),
        versions: found.list(item, "versions", at, &owner).to_vec(),
        latest_version,
        time_spine: found.mapping(item, "time_spine", at, &owner).map(|t| {
            let mut m = t.clone();
            m.entry("standard_granularity_column")
                .or_insert(Value::Null);
            m.entry("custom_granularities")
                .or_insert(Value::Array(vec![]));
            Value::Object(m)
        }),
    }
}

impl Properties {
    /// Add one parsed properties file: `path` as the error names it, `rel`
    /// its path relative to the project. Every problem of the file is in
    /// the error, each with its line; the entries without one are added.
    pub fn add_file(&mut self, path: &Path, rel: &str, doc: &Value) -> Result<()> {
        let mut found = Found::default();
        self.read(&mut found, rel, doc);
        if found.0.is_empty() {
            return Ok(());
        }
        let lines = std::fs::read_to_string(path)
            .map(|text| KeyLines::of(&text))
            .unwrap_or_default();
        let mut problems = Problems::new(path, &lines);
        for (at, message) in found.0 {
            problems.add(&at, message);
        }
        problems.finish(())
    }

    fn read(&mut self, found: &mut Found, rel: &str, doc: &Value) {
        let top = match doc {
            Value::Object(top) => top,
            // an empty file
            Value::Null => return,
            other => {
                found.add(
                    "",
                    format!("expected a mapping at the top, found {}", shown(other)),
                );
                return;
            }
        };
        for (kind, target) in [
            ("models", &mut self.models),
            ("seeds", &mut self.seeds),
            ("snapshots", &mut self.snapshots),
        ] {
            for (i, item) in found.list(top, kind, "", "").iter().enumerate() {
                let at = format!("{kind}[{i}]");
                let Some((item, name)) = found.named(item, &at, "an entry") else {
                    continue;
                };
                let props = node_props(found, item, &name, &at, rel, kind);
                match target.get(&name) {
                    Some(prev) => found.add(
                        &at,
                        format!("{kind} {name} is described twice (also in {})", prev.file),
                    ),
                    None => {
                        target.insert(name, props);
                    }
                }
            }
        }
        for kind in crate::resources::KINDS {
            for item in found.list(top, kind, "", "") {
                self.resources.push((kind, rel.to_string(), item.clone()));
            }
        }
        for u in found.list(top, "unit_tests", "", "") {
            self.unit_tests.push((rel.to_string(), u.clone()));
        }
        for (i, src) in found.list(top, "sources", "", "").iter().enumerate() {
            let at = format!("sources[{i}]");
            let Some((src, source_name)) = found.named(src, &at, "a source") else {
                continue;
            };
            self.read_source(found, src, &source_name, &at, rel);
        }
    }

    fn read_source(
        &mut self,
        found: &mut Found,
        src: &Map<String, Value>,
        source_name: &str,
        at: &str,
        rel: &str,
    ) {
        let owner = format!("source {source_name}: ");
        let schema = found
            .text(src, "schema", at, &owner)
            .unwrap_or_else(|| source_name.to_string());
        let database = match src.get("database") {
            None | Some(Value::Null) => found.text(src, "catalog", at, &owner),
            Some(_) => found.text(src, "database", at, &owner),
        };
        let src_cfg = found
            .mapping(src, "config", at, &owner)
            .cloned()
            .unwrap_or_default();
        let src_tags = found.tags(src, at, &owner);
        let src_meta = found
            .mapping(src, "meta", at, &owner)
            .cloned()
            .unwrap_or_default();
        let source_description = found
            .text(src, "description", at, &owner)
            .unwrap_or_default();
        let loader = found.text(src, "loader", at, &owner).unwrap_or_default();
        let src_quoting = found
            .mapping(src, "quoting", at, &owner)
            .cloned()
            .map(Value::Object);
        for (j, t) in found.list(src, "tables", at, &owner).iter().enumerate() {
            let tat = format!("{at}.tables[{j}]");
            let Some((t, name)) = found.named(t, &tat, "a table") else {
                continue;
            };
            let towner = format!("source {source_name}.{name}: ");
            let mut cfg = src_cfg.clone();
            if let Some(c) = found.mapping(t, "config", &tat, &towner) {
                config::merge(&mut cfg, c);
            }
            let mut tags = src_tags.clone();
            tags.extend(found.tags(t, &tat, &towner));
            let mut meta = src_meta.clone();
            if let Some(m) = found.mapping(t, "meta", &tat, &towner) {
                meta.extend(m.clone());
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
            let table_quoting = found
                .mapping(t, "quoting", &tat, &towner)
                .cloned()
                .map(Value::Object);
            self.sources.push(SourceTable {
                quoting: Quoting::default()
                    .merged(src_quoting.as_ref())
                    .merged(table_quoting.as_ref()),
                tests: found.tests(t, &tat, &towner),
                freshness,
                loaded_at_field,
                identifier: found
                    .text(t, "identifier", &tat, &towner)
                    .unwrap_or_else(|| name.clone()),
                columns: columns(found, t, &tat, &towner),
                description: found
                    .text(t, "description", &tat, &towner)
                    .unwrap_or_default(),
                source_description: source_description.clone(),
                loader: loader.clone(),
                source_name: source_name.to_string(),
                schema: schema.clone(),
                database: database.clone(),
                config: cfg,
                tags,
                meta,
                file: rel.to_string(),
                name,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (Properties, Result<()>) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("props-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.yml");
        std::fs::write(&path, text).unwrap();
        let doc = crate::yaml::parse(&path, text).unwrap();
        let mut p = Properties::default();
        let r = p.add_file(&path, "models/m.yml", &doc);
        std::fs::remove_dir_all(&dir).unwrap();
        (p, r)
    }

    #[test]
    fn reads_models_and_sources() {
        let (p, r) = read(
            "version: 2\nmodels:\n  - name: a\n    description: A\n    config:\n      materialized: table\n    columns:\n      - name: id\n        tests: [unique]\nsources:\n  - name: raw\n    schema: main\n    quoting: {identifier: false}\n    tables:\n      - name: t\n        identifier: t_1\n",
        );
        r.unwrap();
        assert_eq!(p.models["a"].config["materialized"], "table");
        assert_eq!(p.models["a"].description, "A");
        assert_eq!(p.models["a"].columns["id"].tests.len(), 1);
        assert_eq!(p.sources[0].identifier, "t_1");
        assert_eq!(p.sources[0].schema, "main");
        assert!(!p.sources[0].quoting.identifier);
        assert_eq!(p.models["a"].time_spine, None);
        assert_eq!(p.models["a"].columns["id"].granularity, None);
        assert_eq!(
            column_constraint(&serde_json::json!({"type": "not_null"})).to_string(),
            r#"{"type":"not_null","name":null,"expression":null,"warn_unenforced":true,"warn_unsupported":true,"to":null,"to_columns":[]}"#
        );
    }

    #[test]
    fn a_time_spine_gets_dbt_defaults() {
        let (p, r) = read(
            "models:\n  - name: all_days\n    time_spine:\n      standard_granularity_column: date_day\n    columns:\n      - name: date_day\n        granularity: day\n",
        );
        r.unwrap();
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
    }

    #[test]
    fn every_problem_of_a_file_is_reported_with_its_line() {
        let (p, r) = read(concat!(
            "version: 2\n",                   // 1
            "models:\n",                      // 2
            "  - name: a\n",                  // 3
            "    config: 3\n",                // 4
            "  - name: b\n",                  // 5
            "    columns:\n",                 // 6
            "      - description: no name\n", // 7
            "      - name: id\n",             // 8
            "        tests: unique\n",        // 9
            "  - name: ok\n",                 // 10
            "  - name: a\n",                  // 11
            "sources:\n",                     // 12
            "  - name: raw\n",                // 13
            "    tables: 5\n",                // 14
        ));
        let e = r.unwrap_err().to_string();
        let want = [
            "m.yml: 5 problems",
            "m.yml:4: models a: key config: expected a mapping, found 3",
            "m.yml:7: key models[1].columns[0]: a column has no name",
            "m.yml:9: models b: column id: key tests: expected a list, found \"unique\"",
            "m.yml:11: models a is described twice (also in models/m.yml)",
            "m.yml:14: source raw: key tables: expected a list, found 5",
        ];
        for w in want {
            assert!(e.contains(w), "{w} not in\n{e}");
        }
        // the entries without a problem are read
        assert!(p.models.contains_key("ok"));
    }

    #[test]
    fn scalars_read_as_text_and_nulls_as_absent() {
        let (p, r) = read(
            "models:\n  - name: a\n    description: 2024\n    columns: ~\n    tests: ~\n    config: ~\n",
        );
        r.unwrap();
        assert_eq!(p.models["a"].description, "2024");
        assert!(p.models["a"].columns.is_empty());
        let (_, r) = read("- a\n- b\n");
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("expected a mapping at the top"));
    }
}
