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
    let project = &m.info.project.name;
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
                target.join("compiled").join(project).join(&file),
                &r.unique_id,
                sql,
            ));
        }
        if let Some(sql) = r.run_sql.as_ref().filter(|s| !s.is_empty()) {
            files.push((
                target.join("run").join(project).join(&file),
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

/// One node of `manifest.json`.
fn node_json(
    m: &Manifest,
    n: &crate::manifest::Node,
    compiled: &BTreeMap<String, String>,
) -> Value {
    let mut config = n.config.clone();
    config
        .entry("materialized")
        .or_insert(Value::from(n.config.materialized()));
    config.entry("enabled").or_insert(Value::Bool(true));
    config.entry("tags").or_insert(json!([]));
    let columns: Map<String, Value> = n
        .columns
        .iter()
        .map(|(k, c)| (k.clone(), serde_json::to_value(c).unwrap_or(Value::Null)))
        .collect();
    let refs: Vec<Value> = n
        .refs
        .iter()
        .map(|(p, name)| json!({"name": name, "package": p, "version": null}))
        .collect();
    let sources: Vec<Value> = n.sources.iter().map(|(s, t)| json!([s, t])).collect();
    let mut v = json!({
        "unique_id": n.unique_id,
        "resource_type": n.resource_type.as_str(),
        "name": n.name,
        "package_name": n.package_name,
        "path": n.path,
        "original_file_path": n.original_file_path,
        "patch_path": n.patch_path,
        "fqn": n.fqn,
        "database": n.database,
        "schema": n.schema,
        "alias": n.alias,
        "relation_name": if n.is_ephemeral() { Value::Null } else { Value::from(n.relation().render()) },
        "checksum": {"name": "sha256", "checksum": n.checksum},
        "config": config,
        "tags": n.config.tags(),
        "description": n.description,
        "columns": columns,
        "meta": n.config.get("meta").cloned().unwrap_or(json!({})),
        "raw_code": n.raw_code,
        "language": "sql",
        "refs": refs,
        "sources": sources,
        "depends_on": {"macros": [], "nodes": n.depends_on},
    });
    if let Some(c) = compiled.get(&n.unique_id) {
        v["compiled"] = Value::Bool(true);
        v["compiled_code"] = Value::from(c.clone());
    }
    crate::data_tests::manifest_fields(m, n, &mut v);
    v
}

/// `manifest.json`. `compiled` maps unique ids to compiled SQL, when known.
pub fn manifest_json(m: &Manifest, dag: &Dag, compiled: &BTreeMap<String, String>) -> Value {
    let mut v = manifest_json_without_nodes(m, dag);
    let nodes: Map<String, Value> = m
        .nodes
        .values()
        .filter(|n| n.resource_type != crate::manifest::ResourceType::Unit)
        .map(|n| (n.unique_id.clone(), node_json(m, n, compiled)))
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
            serde_json::to_string(&node_json(m, n, compiled)).map_err(bad)?
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
                "source_name": t.source_name, "package_name": m.info.project.name,
                "original_file_path": t.file, "path": t.file,
                "fqn": [m.info.project.name.clone(), t.source_name.clone(), t.name.clone()],
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
    let items: Vec<Value> = results
        .iter()
        .map(|r| {
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
                || m.nodes.get(&r.unique_id).is_some_and(|n| n.resource_type == crate::manifest::ResourceType::Test);
            let ts = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
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
        })
        .collect();
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
