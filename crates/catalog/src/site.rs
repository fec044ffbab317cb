//! What the web catalog shows, built from the artifacts in `target/`:
//! a compact index (every node with the words search looks at, and the
//! graph's edges as positions, so a 10,000-model project stays a few MB) and
//! one detail document per node (rendered description, columns with types,
//! tests with their last status, column lineage, SQL). The server hands them
//! out on demand; `docs generate` writes them all into the static site.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use dbt_artifacts::manifest::Node;
use dbt_artifacts::Manifest;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The resource types the catalog has pages for (tests are shown on the
/// pages of the nodes they test).
pub const PAGE_TYPES: [&str; 6] = [
    "model", "seed", "snapshot", "source", "analysis", "exposure",
];

/// The artifacts of one project, as read from `target/`.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    pub manifest: Manifest,
    pub catalog: Option<dbt_artifacts::Catalog>,
    pub run_results: Option<dbt_artifacts::RunResults>,
    pub lineage: Option<Value>,
}

/// The files the site is built from, in `target/`.
pub const FILES: [&str; 4] = [
    "manifest.json",
    "catalog.json",
    "run_results.json",
    "column_lineage.json",
];

/// A JSON artifact, `None` when the file is not there.
pub fn read_json(path: &Path) -> Result<Option<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Artifact {
            path: path.to_path_buf(),
            message: format!("not valid JSON: {e}"),
        })
}

/// `run_results.json` of `target/`, `None` when it is not there.
pub fn read_run_results(target: &Path) -> Result<Option<dbt_artifacts::RunResults>> {
    let path = target.join("run_results.json");
    dbt_artifacts::RunResults::read(&path).map_err(|e| Error::Artifact {
        path,
        message: e.to_string(),
    })
}

impl Artifacts {
    /// Read `target/`. Only manifest.json is required.
    pub fn read(target: &Path) -> Result<Artifacts> {
        let manifest_path: PathBuf = target.join("manifest.json");
        let manifest = Manifest::read(&manifest_path).map_err(|e| Error::Artifact {
            path: manifest_path.clone(),
            message: match e {
                dbt_artifacts::Error::Json { source, .. } => format!("not valid JSON: {source}"),
                e => e.to_string(),
            },
        })?;
        let Some(manifest) = manifest else {
            return Err(Error::Artifact {
                path: manifest_path,
                message: "not found: run `tarmac docs generate` in the project first".into(),
            });
        };
        Ok(Artifacts {
            manifest,
            catalog: dbt_artifacts::Catalog::read(&target.join("catalog.json")).map_err(|e| {
                Error::Artifact {
                    path: target.join("catalog.json"),
                    message: e.to_string(),
                }
            })?,
            run_results: read_run_results(target)?,
            lineage: read_json(&target.join("column_lineage.json"))?,
        })
    }
}

/// Markdown to HTML. Raw HTML in descriptions is shown as text, not
/// interpreted: descriptions come from YAML anyone on the project edits.
pub fn markdown(text: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let opts = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, opts).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, events);
    out
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The last result of a node in run_results.json.
#[derive(Debug, Clone)]
struct RunResult {
    status: String,
    message: Value,
    failures: Value,
    completed_at: Value,
    execution_time: Value,
}

/// Everything the pages need, built once per change of the artifacts.
#[derive(Debug, Clone)]
pub struct Site {
    pub index: Value,
    pub details: HashMap<String, Value>,
}

/// A display name: sources as `source.table`.
fn display_name(n: &Node) -> String {
    if n.resource_type == "source" {
        format!("{}.{}", n.source_name, n.name)
    } else {
        n.name.clone()
    }
}

impl Site {
    pub fn build(a: &Artifacts) -> Site {
        let mut details = HashMap::new();
        let index = Site::build_each(a, |id, d| {
            details.insert(id.to_string(), d);
        });
        Site { index, details }
    }

    /// The index, handing each page's details to `detail` as they are
    /// built, in index order: `docs generate` writes them a chunk at a
    /// time, so the whole project's details (raw and compiled SQL, tests,
    /// columns) are never in memory at once.
    pub fn build_each(a: &Artifacts, mut detail: impl FnMut(&str, Value)) -> Value {
        let m = &a.manifest;
        let nodes = &m.nodes;

        // pages: every node but tests, sorted by type then name
        let mut pages: Vec<(&String, &Node)> = nodes
            .iter()
            .chain(m.sources.iter())
            .chain(m.exposures.iter())
            .filter(|(_, n)| PAGE_TYPES.contains(&n.resource_type.as_str()))
            .collect();
        pages.sort_by(|a, b| a.0.cmp(b.0));
        let pos: HashMap<&str, usize> = pages
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();

        // last results
        let mut results: HashMap<String, RunResult> = HashMap::new();
        for r in a.run_results.iter().flat_map(|r| &r.results) {
            results.insert(
                r.unique_id.clone(),
                RunResult {
                    status: r.status.clone(),
                    message: Value::from(r.message.clone()),
                    failures: Value::from(r.failures),
                    completed_at: Value::from(r.completed_at()),
                    execution_time: Value::from(r.execution_time),
                },
            );
        }

        // tests by the node they test
        let mut tests: HashMap<&str, Vec<Value>> = HashMap::new();
        for (id, t) in nodes.iter().filter(|(_, n)| n.resource_type == "test") {
            let attached: &[String] = match &t.attached_node {
                Some(a) if !a.is_empty() => std::slice::from_ref(a),
                _ => &t.depends_on.nodes,
            };
            let r = results.get(id);
            let kind = t
                .test_metadata
                .as_ref()
                .map_or("singular", |t| t.name.as_str());
            let summary = json!({
                "id": id,
                "name": t.name,
                "kind": kind,
                "column": t.column_name,
                "severity": t.config.severity,
                "status": r.map(|r| r.status.clone()),
                "message": r.map(|r| r.message.clone()),
                "failures": r.map(|r| r.failures.clone()),
                "completed_at": r.map(|r| r.completed_at.clone()),
                "description": t.description,
                "compiled_code": t.compiled_code,
            });
            for a in attached {
                if let Some((k, _)) = pos.get_key_value(a.as_str()) {
                    tests.entry(k).or_default().push(summary.clone());
                }
            }
        }

        let catalog_entry =
            |id: &str| -> Option<&dbt_artifacts::catalog::Table> { a.catalog.as_ref()?.entry(id) };
        let lineage_of = |id: &str| -> (Option<&Value>, Option<&Value>) {
            let Some(l) = a.lineage.as_ref() else {
                return (None, None);
            };
            (
                l.get("nodes").and_then(|n| n.get(id)),
                l.get("errors").and_then(|n| n.get(id)),
            )
        };

        // edges
        let mut up: Vec<Vec<usize>> = vec![Vec::new(); pages.len()];
        let mut down: Vec<Vec<usize>> = vec![Vec::new(); pages.len()];
        for (i, (_, n)) in pages.iter().enumerate() {
            for d in &n.depends_on.nodes {
                if let Some(&j) = pos.get(d.as_str()) {
                    if !up[i].contains(&j) {
                        up[i].push(j);
                        down[j].push(i);
                    }
                }
            }
        }

        let mut index_nodes = Vec::with_capacity(pages.len());
        for (i, (id, n)) in pages.iter().enumerate() {
            let rt = &n.resource_type;
            let cat = catalog_entry(id);
            let node_tests = tests.get(id.as_str()).cloned().unwrap_or_default();
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for t in &node_tests {
                let st = t
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("not run")
                    .to_string();
                *counts.entry(st).or_default() += 1;
            }
            let documented = &n.columns;
            let no_columns = Default::default();
            let in_db: &indexmap::IndexMap<String, dbt_artifacts::catalog::Column> =
                cat.map_or(&no_columns, |c| &c.columns);
            let (lineage, lineage_error) = lineage_of(id);
            let lineage_cols: HashMap<String, &Value> = lineage
                .and_then(|l| l.get("columns"))
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|c| (s(c, "name").to_lowercase(), c)).collect())
                .unwrap_or_default();
            // columns: the warehouse's order, then documented-only columns
            let mut db_cols: Vec<(&String, &dbt_artifacts::catalog::Column)> =
                in_db.iter().collect();
            db_cols.sort_by_key(|(_, c)| c.index);
            let mut names: Vec<String> = db_cols.iter().map(|(k, _)| (*k).clone()).collect();
            for k in documented.keys() {
                if !names.iter().any(|n| n.eq_ignore_ascii_case(k)) {
                    names.push(k.clone());
                }
            }
            if names.is_empty() {
                names = lineage_cols.values().map(|c| s(c, "name")).collect();
                names.sort();
            }
            let columns: Vec<Value> = names
                .iter()
                .map(|name| {
                    let doc = documented
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|x| x.1);
                    let dbc = in_db.get(name);
                    let desc = doc.map(|d| d.description.clone()).unwrap_or_default();
                    let ctests: Vec<&Value> = node_tests
                        .iter()
                        .filter(|t| {
                            t.get("column")
                                .and_then(Value::as_str)
                                .is_some_and(|c| c.trim_matches('"').eq_ignore_ascii_case(name))
                        })
                        .collect();
                    let lin = lineage_cols.get(&name.to_lowercase()).map(|c| {
                        let srcs: Vec<Value> = c
                            .get("sources")
                            .and_then(Value::as_array)
                            .map(|a| {
                                a.iter()
                                    .map(|x| {
                                        let uid = s(x, "unique_id");
                                        let name = pages
                                            .get(pos.get(uid.as_str()).copied().unwrap_or(usize::MAX))
                                            .map(|(_, n)| display_name(n))
                                            .unwrap_or_else(|| {
                                                uid.strip_prefix("relation:").unwrap_or(&uid).to_string()
                                            });
                                        json!({"id": uid, "name": name, "column": s(x, "column"),
                                               "known": pos.contains_key(uid.as_str())})
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        json!({"direct": c.get("direct").cloned().unwrap_or(Value::Bool(false)), "sources": srcs})
                    });
                    json!({
                        "name": name,
                        "type": dbc.map(|c| c.data_type.clone())
                            .or_else(|| doc.and_then(|d| d.data_type.clone())),
                        "description": desc,
                        "description_html": markdown(&desc),
                        "in_db": dbc.is_some(),
                        "documented": doc.is_some(),
                        "tests": ctests,
                        "lineage": lin,
                    })
                })
                .collect();
            let run = results.get(id.as_str()).map(|r| {
                json!({"status": r.status, "message": r.message, "completed_at": r.completed_at,
                       "execution_time": r.execution_time})
            });
            let description = &n.description;
            let materialized = n.config.materialized.clone().unwrap_or_else(|| {
                if rt == "source" {
                    "source".into()
                } else {
                    String::new()
                }
            });
            let row_count = cat.and_then(|c| c.row_count()).cloned();
            let name = display_name(n);
            let ids =
                |v: &Vec<usize>| -> Vec<&str> { v.iter().map(|&j| pages[j].0.as_str()).collect() };
            detail(
                id,
                json!({
                    "id": id, "name": name, "type": rt,
                    "package": n.package_name,
                    "path": n.original_file_path,
                    "patch_path": n.patch_path,
                    "materialized": materialized,
                    "database": n.database.as_deref().unwrap_or_default(),
                    "schema": n.schema.as_deref().unwrap_or_default(),
                    "relation": n.relation_name,
                    "tags": n.tags,
                    "meta": n.meta,
                    "description": description,
                    "description_html": markdown(description),
                    "source_description_html": n.source_description.as_deref().map(markdown),
                    "loader": n.loader,
                    "relation_type": cat.map(|c| &c.metadata.kind),
                    "comment": cat.and_then(|c| c.metadata.comment.as_ref()),
                    "row_count": row_count,
                    "columns": columns,
                    "tests": node_tests,
                    "raw_code": n.raw_code,
                    "compiled_code": n.compiled_code,
                    "last_run": run,
                    "parents": ids(&up[i]),
                    "children": ids(&down[i]),
                    "lineage_error": lineage_error.cloned(),
                    "has_lineage": lineage.is_some(),
                }),
            );
            let col_words: Vec<Value> = names
                .iter()
                .map(|c| {
                    let d = documented
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(c))
                        .map(|x| x.1.description.clone())
                        .unwrap_or_default();
                    if d.is_empty() {
                        json!([c])
                    } else {
                        json!([c, d])
                    }
                })
                .collect();
            index_nodes.push(json!({
                "id": id, "name": name, "type": rt, "mat": materialized,
                "schema": n.schema.as_deref().unwrap_or_default(),
                "path": n.original_file_path,
                "desc": description,
                "tags": n.tags,
                "cols": col_words,
                "tests": counts,
                "run": results.get(id.as_str()).map(|r| r.status.clone()),
            }));
        }
        let overview = m
            .docs
            .values()
            .find(|b| b.name == "__overview__" && b.package_name != "dbt")
            .map(|b| markdown(&b.block_contents));
        json!({
            "project": m.metadata.project_name,
            "generated_at": m.metadata.generated_at,
            "catalog": a.catalog.is_some(),
            "run_results_at": a.run_results.as_ref().map(|r| r.metadata.generated_at.clone()),
            "overview_html": overview,
            "nodes": index_nodes,
            "up": up,
            "down": down,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The test project's manifest.json.
    pub(crate) fn manifest_json() -> Value {
        json!({
                "metadata": {"project_name": "p", "generated_at": "2024-01-01T00:00:00Z"},
                "nodes": {
                    "model.p.orders": {"resource_type": "model", "name": "orders", "package_name": "p",
                        "original_file_path": "models/orders.sql", "schema": "main", "database": "wh",
                        "description": "All **orders** <script>x</script>", "config": {"materialized": "table"},
                        "columns": {"order_id": {"name": "order_id", "description": "The id"},
                                    "ghost": {"name": "ghost", "description": ""}},
                        "depends_on": {"nodes": ["seed.p.raw", "source.p.s.t"]},
                        "compiled_code": "select 1", "tags": ["marts"]},
                    "seed.p.raw": {"resource_type": "seed", "name": "raw", "config": {"materialized": "seed"},
                        "depends_on": {"nodes": []}, "description": ""},
                    "test.p.unique_orders_order_id.1": {"resource_type": "test", "name": "unique_orders_order_id",
                        "attached_node": "model.p.orders", "column_name": "order_id",
                        "test_metadata": {"name": "unique", "kwargs": {}},
                        "depends_on": {"nodes": ["model.p.orders"]}, "config": {"severity": "ERROR"}},
                    "test.p.singular": {"resource_type": "test", "name": "singular",
                        "depends_on": {"nodes": ["model.p.orders", "seed.p.raw"]}},
                },
                "sources": {"source.p.s.t": {"resource_type": "source", "name": "t", "source_name": "s",
                    "description": "", "columns": {}}},
                "docs": {"doc.p.__overview__": {"name": "__overview__", "package_name": "p", "block_contents": "# Welcome"}},
        })
    }

    pub(crate) fn artifacts() -> Artifacts {
        Artifacts {
            manifest: serde_json::from_value(manifest_json()).unwrap(),
            catalog: serde_json::from_value(json!({"nodes": {"model.p.orders": {
                "metadata": {"type": "BASE TABLE", "comment": null},
                "columns": {"amount": {"type": "DOUBLE", "index": 2, "name": "amount"},
                            "order_id": {"type": "INTEGER", "index": 1, "name": "order_id"}},
                "stats": {"row_count": {"value": 42}}}}, "sources": {}}))
            .ok(),
            run_results: serde_json::from_value(json!({"metadata": {"generated_at": "x"}, "results": [
                {"unique_id": "test.p.unique_orders_order_id.1", "status": "fail", "failures": 2,
                 "message": "Got 2 results", "timing": [{"completed_at": "t1"}]},
                {"unique_id": "model.p.orders", "status": "success", "message": "OK", "timing": []},
            ]}))
            .ok(),
            lineage: Some(json!({"nodes": {"model.p.orders": {"columns": [
                {"name": "order_id", "direct": true, "sources": [{"unique_id": "seed.p.raw", "column": "id"}]},
                {"name": "amount", "direct": false, "sources": [{"unique_id": "source.p.s.t", "column": "cents"},
                    {"unique_id": "relation:wh.x.y", "column": "z"}]}]}},
                "errors": {}})),
        }
    }

    #[test]
    fn index_has_pages_edges_and_search_words() {
        let site = Site::build(&artifacts());
        let idx = &site.index;
        let names: Vec<&str> = idx["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["orders", "raw", "s.t"]);
        assert_eq!(idx["up"][0], json!([1, 2]));
        assert_eq!(idx["down"][1], json!([0]));
        assert_eq!(idx["nodes"][0]["cols"][0], json!(["order_id", "The id"]));
        assert_eq!(idx["nodes"][0]["cols"][1], json!(["amount"]));
        assert_eq!(idx["nodes"][0]["tests"], json!({"fail": 1, "not run": 1}));
        assert_eq!(idx["nodes"][1]["tests"], json!({"not run": 1}));
        assert_eq!(idx["overview_html"], "<h1>Welcome</h1>\n");
        assert_eq!(idx["nodes"][0]["run"], "success");
    }

    #[test]
    fn details_join_catalog_tests_and_lineage() {
        let site = Site::build(&artifacts());
        let d = &site.details["model.p.orders"];
        assert_eq!(
            d["description_html"],
            "<p>All <strong>orders</strong> &lt;script&gt;x&lt;/script&gt;</p>\n"
        );
        assert_eq!(d["row_count"], 42);
        assert_eq!(d["materialized"], "table");
        let cols = d["columns"].as_array().unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["order_id", "amount", "ghost"]);
        assert_eq!(cols[0]["type"], "INTEGER");
        assert_eq!(cols[0]["tests"][0]["status"], "fail");
        assert_eq!(cols[0]["tests"][0]["failures"], 2);
        assert_eq!(cols[0]["lineage"]["sources"][0]["name"], "raw");
        assert_eq!(cols[1]["lineage"]["sources"][0]["name"], "s.t");
        assert_eq!(cols[1]["lineage"]["sources"][1]["name"], "wh.x.y");
        assert_eq!(cols[1]["lineage"]["sources"][1]["known"], false);
        assert_eq!(cols[2]["in_db"], false);
        assert_eq!(d["tests"].as_array().unwrap().len(), 2);
        assert_eq!(d["tests"][1]["kind"], "singular");
        assert_eq!(d["parents"], json!(["seed.p.raw", "source.p.s.t"]));
        assert_eq!(
            site.details["seed.p.raw"]["children"],
            json!(["model.p.orders"])
        );
        assert_eq!(d["last_run"]["status"], "success");
    }

    #[test]
    fn missing_manifest_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let e = Artifacts::read(t.path()).unwrap_err().to_string();
        assert!(
            e.contains("manifest.json: not found: run `tarmac docs generate`"),
            "{e}"
        );
        std::fs::write(t.path().join("manifest.json"), "{").unwrap();
        let e = Artifacts::read(t.path()).unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
    }
}
