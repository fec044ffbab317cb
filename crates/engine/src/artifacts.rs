//! dbt's artifacts: `target/compiled/<project>/<path>`, `target/run/...`,
//! `manifest.json` (schema v12 shape) and `run_results.json` (v6 shape),
//! which dbt tooling and Tarmac's shell read
//! (<https://docs.getdbt.com/reference/artifacts/dbt-artifacts>).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::config::ConfigExt;
use crate::error::{Error, Result};
use crate::execute::{Command, NodeResult, Status};
use crate::graph::Dag;
use crate::manifest::Manifest;

/// Write compiled and run SQL for each result, on all cores. A file whose
/// content is already right is left alone: reading it back is several times
/// cheaper than rewriting it, and a re-compile of an unchanged project then
/// writes almost nothing.
pub fn write_sql(m: &Manifest, results: &[NodeResult]) -> Result<()> {
    let target = crate::execute::target_dir(m);
    let mut files: Vec<(std::path::PathBuf, &str, &str)> = Vec::new();
    for r in results {
        let Some(node) = m.nodes.get(&r.unique_id) else {
            continue;
        };
        // a YAML snapshot compiles to `<file.yml>/<name>.sql`, as in dbt
        let file = if matches!(
            node.resource_type,
            crate::manifest::ResourceType::Test | crate::manifest::ResourceType::Unit
        ) {
            crate::data_tests::sql_path(node)
        } else if node.original_file_path.ends_with(".yml")
            || node.original_file_path.ends_with(".yaml")
        {
            format!("{}/{}.sql", node.original_file_path, node.name)
        } else {
            node.original_file_path.clone()
        };
        if let Some(sql) = &r.compiled_sql {
            files.push((
                target.join("compiled").join(&node.package_name).join(&file),
                &r.unique_id,
                sql,
            ));
        }
        if let Some(sql) = r.run_sql.as_ref().filter(|s| !s.is_empty()) {
            files.push((
                target.join("run").join(&node.package_name).join(&file),
                &r.unique_id,
                sql,
            ));
        }
    }
    // Several nodes can share a file (snapshot blocks of one .sql file): one
    // writer per path, the first node by unique id, so the file does not
    // depend on which thread finished last.
    files.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    files.dedup_by(|b, a| a.0 == b.0);
    let files: Vec<(std::path::PathBuf, &str)> =
        files.into_iter().map(|(p, _, sql)| (p, sql)).collect();
    let dirs: std::collections::BTreeSet<&Path> =
        files.iter().filter_map(|(p, _)| p.parent()).collect();
    for d in dirs {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    crate::par::map(&files, |(path, text)| -> Result<()> {
        if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
            return Ok(());
        }
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    })
    .into_iter()
    .collect()
}

fn metadata(m: &Manifest, version: &str) -> Value {
    json!({
        "dbt_schema_version": format!("https://schemas.getdbt.com/dbt/{version}.json"),
        "dbt_version": crate::project::DBT_VERSION,
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "invocation_id": m.info.invocation_id,
        "env": {},
        "project_name": m.info.project.name,
        "adapter_type": "duckdb",
        "generator": "tarmac",
    })
}

/// One node of `manifest.json`, as a `Value` (for `graph` and `docs generate`,
/// which edit it); the text path serializes [`NodeJson`] directly.
fn node_json(
    m: &Manifest,
    n: &crate::manifest::Node,
    compiled: &BTreeMap<String, String>,
) -> Value {
    serde_json::to_value(NodeJson::new(m, n, compiled)).unwrap_or(Value::Null)
}

/// One node of `manifest.json`, serialized straight from the node: no
/// intermediate `Value` tree (which cost a quarter of `tarmac parse` on
/// 10,000 models in allocations). Keys come in the order dbt-shaped tools
/// saw before: the node's fields, then `compiled`/`compiled_code`, then a
/// test's own fields (`column_name`, `attached_node`, `file_key_name`,
/// `test_metadata`, `build_path`).
pub(crate) struct NodeJson<'a> {
    m: &'a Manifest,
    n: &'a crate::manifest::Node,
    compiled: Option<&'a str>,
    test: Option<(
        &'a crate::data_tests::TestMeta,
        crate::data_tests::TestConfig,
    )>,
}

impl<'a> NodeJson<'a> {
    pub(crate) fn new(
        m: &'a Manifest,
        n: &'a crate::manifest::Node,
        compiled: &'a BTreeMap<String, String>,
    ) -> Self {
        NodeJson {
            m,
            n,
            compiled: compiled.get(&n.unique_id).map(String::as_str),
            test: m.tests.get(&n.unique_id).map(|t| {
                // `store_failures` as the run decides it (`--store-failures`)
                let mut c = crate::data_tests::TestConfig::of(&n.config);
                c.store_failures = Some(c.stores(m.info.store_failures));
                (t, c)
            }),
        }
    }
}

/// A node's `config`: its own keys (a test's `materialized` is `test`),
/// then the defaults it lacks.
struct ConfigJson<'a> {
    n: &'a crate::manifest::Node,
    test: Option<&'a crate::data_tests::TestConfig>,
}

impl serde::Serialize for ConfigJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let cfg = &self.n.config;
        let mut map = s.serialize_map(None)?;
        for (k, v) in cfg {
            if k == "materialized" && self.test.is_some() {
                map.serialize_entry(k, "test")?;
            } else {
                map.serialize_entry(k, v)?;
            }
        }
        if !cfg.contains_key("materialized") {
            match self.test {
                Some(_) => map.serialize_entry("materialized", "test")?,
                None => map.serialize_entry("materialized", cfg.materialized())?,
            }
        }
        if !cfg.contains_key("enabled") {
            map.serialize_entry("enabled", &true)?;
        }
        if !cfg.contains_key("tags") {
            map.serialize_entry("tags", &[] as &[&str])?;
        }
        if let Some(c) = self.test {
            for (k, d) in [
                ("severity", Value::from(c.severity.as_str())),
                ("fail_calc", Value::from(c.fail_calc.as_str())),
                ("warn_if", Value::from(c.warn_if.as_str())),
                ("error_if", Value::from(c.error_if.as_str())),
                ("store_failures", Value::Null),
                ("store_failures_as", Value::Null),
                ("where", Value::Null),
                ("limit", Value::Null),
                ("meta", Value::Object(Map::new())),
                ("database", Value::Null),
            ] {
                if !cfg.contains_key(k) {
                    map.serialize_entry(k, &d)?;
                }
            }
        }
        map.end()
    }
}

struct RefJson<'a>(&'a (Option<String>, String));

impl serde::Serialize for RefJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("name", &self.0 .1)?;
        map.serialize_entry("package", &self.0 .0)?;
        map.serialize_entry("version", &())?;
        map.end()
    }
}

struct DependsOn<'a>(&'a [String]);

impl serde::Serialize for DependsOn<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("macros", &[] as &[&str])?;
        map.serialize_entry("nodes", self.0)?;
        map.end()
    }
}

struct Checksum<'a>(&'a str, &'a str);

impl serde::Serialize for Checksum<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("name", self.0)?;
        map.serialize_entry("checksum", self.1)?;
        map.end()
    }
}

impl serde::Serialize for NodeJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let n = self.n;
        let test = self.test.as_ref();
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("unique_id", &n.unique_id)?;
        map.serialize_entry("resource_type", n.resource_type.as_str())?;
        map.serialize_entry("name", &n.name)?;
        map.serialize_entry("package_name", &n.package_name)?;
        map.serialize_entry("path", &n.path)?;
        map.serialize_entry("original_file_path", &n.original_file_path)?;
        map.serialize_entry("patch_path", &n.patch_path)?;
        map.serialize_entry("fqn", &n.fqn)?;
        map.serialize_entry("database", &n.database)?;
        map.serialize_entry("schema", &n.schema)?;
        map.serialize_entry("alias", &n.alias)?;
        // a test's relation is where it stores failures, when it does
        let relation = (!n.is_ephemeral()
            && test.is_none_or(|(_, c)| c.store_failures == Some(true)))
        .then(|| n.relation().render());
        map.serialize_entry("relation_name", &relation)?;
        // dbt gives generic tests no checksum
        let generic = test
            .is_some_and(|(t, _)| matches!(t.kind, crate::data_tests::TestKind::Generic { .. }));
        if generic {
            map.serialize_entry("checksum", &Checksum("none", ""))?;
        } else {
            map.serialize_entry("checksum", &Checksum("sha256", &n.checksum))?;
        }
        map.serialize_entry(
            "config",
            &ConfigJson {
                n,
                test: test.map(|(_, c)| c),
            },
        )?;
        map.serialize_entry("tags", &n.config.tags())?;
        map.serialize_entry("description", &n.description)?;
        map.serialize_entry("columns", &n.columns)?;
        match n.config.get("meta") {
            Some(v) => map.serialize_entry("meta", v)?,
            None => map.serialize_entry("meta", &Map::new())?,
        }
        map.serialize_entry("raw_code", &n.raw_code)?;
        map.serialize_entry("language", "sql")?;
        let refs: Vec<RefJson> = n.refs.iter().map(RefJson).collect();
        map.serialize_entry("refs", &refs)?;
        let sources: Vec<[&str; 2]> = n
            .sources
            .iter()
            .map(|(s, t)| [s.as_str(), t.as_str()])
            .collect();
        map.serialize_entry("sources", &sources)?;
        map.serialize_entry("depends_on", &DependsOn(&n.depends_on))?;
        if let Some(c) = self.compiled {
            map.serialize_entry("compiled", &true)?;
            map.serialize_entry("compiled_code", c)?;
        }
        if let Some((t, _)) = test {
            map.serialize_entry("column_name", &t.column_name)?;
            map.serialize_entry("attached_node", &t.attached_node)?;
            map.serialize_entry("file_key_name", &t.file_key_name)?;
            if let crate::data_tests::TestKind::Generic {
                name,
                namespace,
                kwargs,
            } = &t.kind
            {
                map.serialize_entry(
                    "test_metadata",
                    &json!({"name": name, "kwargs": kwargs, "namespace": namespace}),
                )?;
            }
            map.serialize_entry("build_path", &crate::data_tests::build_path(self.m, n))?;
        }
        map.end()
    }
}

/// `manifest.json`. `compiled` maps unique ids to compiled SQL, when known.
pub fn manifest_json(m: &Manifest, dag: &Dag, compiled: &BTreeMap<String, String>) -> Value {
    let mut v = manifest_json_without_nodes(m, dag);
    let nodes: Vec<&crate::manifest::Node> = m
        .nodes
        .values()
        .filter(|n| n.resource_type != crate::manifest::ResourceType::Unit)
        .collect();
    let values = crate::par::map(&nodes, |n| node_json(m, n, compiled));
    let nodes: Map<String, Value> = nodes
        .iter()
        .map(|n| n.unique_id.clone())
        .zip(values)
        .collect();
    v["nodes"] = Value::Object(nodes);
    v
}

/// `manifest.json` as text: the same document as [`manifest_json`], with
/// the nodes (most of it) serialized on all cores.
pub fn manifest_json_text(
    m: &Manifest,
    dag: &Dag,
    compiled: &BTreeMap<String, String>,
) -> Result<String> {
    let bad = |e: serde_json::Error| Error::Internal(e.to_string());
    // unit tests have their own section
    let mut nodes: Vec<&crate::manifest::Node> = m
        .nodes
        .values()
        .filter(|n| n.resource_type != crate::manifest::ResourceType::Unit)
        .collect();
    nodes.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    let parts = crate::par::map(&nodes, |n| -> Result<String> {
        Ok(format!(
            "{}:{}",
            serde_json::to_string(&n.unique_id).map_err(bad)?,
            serde_json::to_string(&NodeJson::new(m, n, compiled)).map_err(bad)?
        ))
    });
    let mut joined = String::with_capacity(
        parts
            .iter()
            .map(|p| p.as_ref().map_or(0, |s| s.len() + 1))
            .sum(),
    );
    for (i, p) in parts.into_iter().enumerate() {
        if i > 0 {
            joined.push(',');
        }
        joined.push_str(&p?);
    }
    let rest = serde_json::to_string(&manifest_json_without_nodes(m, dag)).map_err(bad)?;
    // an unescaped `"nodes":{}` can only be the top-level key: inside
    // strings every quote is escaped
    Ok(rest.replacen("\"nodes\":{}", &format!("\"nodes\":{{{joined}}}"), 1))
}

fn manifest_json_without_nodes(m: &Manifest, dag: &Dag) -> Value {
    let nodes = Map::new();
    let mut sources = Map::new();
    for s in m.sources.values() {
        let t = &s.table;
        let columns: Map<String, Value> = t
            .columns
            .iter()
            .map(|(k, c)| (k.clone(), serde_json::to_value(c).unwrap_or(Value::Null)))
            .collect();
        sources.insert(
            s.unique_id.clone(),
            json!({
                "unique_id": s.unique_id, "resource_type": "source", "name": t.name,
                "source_name": t.source_name, "package_name": s.package,
                "original_file_path": t.file, "path": t.file,
                "fqn": [s.package.clone(), t.source_name.clone(), t.name.clone()],
                "database": s.relation.database, "schema": t.schema, "identifier": t.identifier,
                "relation_name": s.relation.render(), "description": t.description,
                "source_description": t.source_description, "loader": t.loader,
                "columns": columns, "tags": t.tags, "meta": t.meta, "config": t.config,
            }),
        );
    }
    let mut parent_map = Map::new();
    let mut child_map = Map::new();
    let is_unit = |id: &str| m.unit_tests.contains_key(id);
    for id in m.nodes.keys().chain(m.sources.keys()) {
        if !is_unit(id) {
            child_map.insert(id.clone(), json!([]));
        }
    }
    for n in m.nodes.values().filter(|n| !is_unit(&n.unique_id)) {
        let mut parents = n.depends_on.clone();
        parents.sort();
        for p in &parents {
            if let Some(Value::Array(a)) = child_map.get_mut(p) {
                a.push(Value::from(n.unique_id.clone()));
            }
        }
        parent_map.insert(n.unique_id.clone(), json!(parents));
    }
    for s in m.sources.keys() {
        parent_map.insert(s.clone(), json!([]));
    }
    for v in child_map.values_mut() {
        if let Value::Array(a) = v {
            a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
        }
    }
    let _ = dag;
    json!({
        "metadata": metadata(m, "manifest/v12"),
        "nodes": nodes,
        "sources": sources,
        "macros": {},
        "docs": {},
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": {},
        "parent_map": parent_map,
        "child_map": child_map,
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": crate::unit_tests::manifest_section(m),
    })
}

/// `run_results.json`.
pub fn run_results_json(
    m: &Manifest,
    results: &[NodeResult],
    elapsed: f64,
    command: Command,
    args: Value,
) -> Value {
    let items: Vec<Value> = crate::par::map(results, |r| {
        let status = match (r.status, command) {
            (Status::Success, Command::Run | Command::Build | Command::Seed) => "success",
            (Status::Success, _) => "success",
            (Status::Error, _) => "error",
            (Status::Skipped, _) => "skipped",
            (Status::Pass, _) => "pass",
            (Status::Fail, _) => "fail",
            (Status::Warn, _) => "warn",
        };
        let is_test = matches!(r.status, Status::Pass | Status::Fail | Status::Warn)
            || m.nodes
                .get(&r.unique_id)
                .is_some_and(|n| n.resource_type == crate::manifest::ResourceType::Test);
        let ts = |t: &chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        };
        json!({
            "unique_id": r.unique_id,
            "status": status,
            "timing": [
                {"name": "compile", "started_at": ts(&r.started_at), "completed_at": ts(&r.compiled_at)},
                {"name": "execute", "started_at": ts(&r.compiled_at), "completed_at": ts(&r.completed_at)},
            ],
            "thread_id": "Thread-1",
            "execution_time": r.execution_time,
            "message": if is_test && r.message.is_empty() { Value::Null } else { Value::from(r.message.clone()) },
            "failures": r.failures,
            "adapter_response": if is_test && r.status != Status::Skipped && r.status != Status::Error {
                json!({"_message": "OK"})
            } else if r.status == Status::Success {
                json!({"_message": r.message, "code": r.message.split(' ').next().unwrap_or("OK"), "rows_affected": r.rows_affected})
            } else { json!({}) },
            "compiled": r.compiled_sql.is_some(),
            "compiled_code": r.compiled_sql,
            "relation_name": m.nodes.get(&r.unique_id).filter(|n| !n.is_ephemeral()).map(|n| n.relation().render()),
            "batch_results": null,
        })
    });
    json!({
        "metadata": metadata(m, "run-results/v6"),
        "results": items,
        "elapsed_time": elapsed,
        "args": args,
    })
}

/// Write an artifact already serialized (see [`manifest_json_text`]).
pub fn write_text(m: &Manifest, name: &str, text: &str) -> Result<()> {
    let path = crate::execute::target_dir(m).join(name);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

/// Write manifest.json (and run_results.json when there are results),
/// compact as dbt writes them.
pub fn write_json(m: &Manifest, name: &str, v: &Value) -> Result<()> {
    use std::io::Write;
    let path = crate::execute::target_dir(m).join(name);
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let f = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    serde_json::to_writer(&mut w, v).map_err(|e| Error::Internal(e.to_string()))?;
    w.flush().map_err(|e| Error::io(&path, e))
}
