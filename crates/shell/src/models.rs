//! `.models` and `.lineage`: the warehouse's models, read from the dbt
//! artifacts of the project (`target/manifest.json`, `target/run_results.json`).
//!
//! Why dbt's artifacts: the model engine (a later issue) is dbt-format and
//! will write the same files, so the shell works today with a dbt project and
//! tomorrow with Tarmac's engine, without knowing which built the warehouse.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::output::{Cell, Column};
use crate::Error;

/// One node of the manifest (a model, seed, snapshot, test or source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub unique_id: String,
    pub name: String,
    pub resource_type: String,
    pub materialized: Option<String>,
    pub schema: Option<String>,
    pub depends_on: Vec<String>,
}

impl Node {
    /// How the node is named to a person: `name`, or `source.table` for a source.
    pub fn label(&self) -> String {
        self.name.clone()
    }
}

/// What the artifacts say about the project's models.
#[derive(Debug, Default)]
pub struct Project {
    pub nodes: BTreeMap<String, Node>,
    /// unique_id → (status, completed_at) of the last run.
    pub last_run: HashMap<String, (Option<String>, Option<String>)>,
}

/// What to say when there is nothing to show.
pub const NO_MODELS: &str = "no models built yet: run `tarmac build`";

/// The artifacts' folder of a project directory.
pub fn target_dir(project_dir: &Path) -> PathBuf {
    project_dir.join("target")
}

/// Reads the artifacts; `Ok(None)` when there is no manifest.
pub fn load(project_dir: &Path) -> Result<Option<Project>, Error> {
    let target = target_dir(project_dir);
    let manifest_path = target.join("manifest.json");
    let manifest = match dbt_artifacts::Manifest::read(&manifest_path) {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(dbt_artifacts::Error::Json { source, .. }) => {
            return Err(Error::Models(format!(
                "{} is not valid JSON: {source}",
                manifest_path.display()
            )))
        }
        Err(e) => return Err(Error::Models(e.to_string())),
    };
    let mut project = Project::default();
    for (section, map) in [("node", &manifest.nodes), ("source", &manifest.sources)] {
        for (id, n) in map {
            let resource_type = if n.resource_type.is_empty() {
                section.to_string()
            } else {
                n.resource_type.clone()
            };
            let name = match (n.source_name.as_str(), n.name.as_str()) {
                (_, "") => id.clone(),
                ("", name) => name.to_string(),
                (src, name) if resource_type == "source" => format!("{src}.{name}"),
                (_, name) => name.to_string(),
            };
            project.nodes.insert(
                id.clone(),
                Node {
                    unique_id: id.clone(),
                    name,
                    resource_type,
                    materialized: n.config.materialized.clone(),
                    schema: n.schema.clone(),
                    depends_on: n.depends_on.nodes.clone(),
                },
            );
        }
    }
    let results_path = target.join("run_results.json");
    let results =
        dbt_artifacts::RunResults::read(&results_path).map_err(|e| Error::Models(e.to_string()))?;
    for r in results.iter().flat_map(|r| &r.results) {
        let completed = r.completed_at().map(str::to_string);
        project
            .last_run
            .insert(r.unique_id.clone(), (Some(r.status.clone()), completed));
    }
    Ok(Some(project))
}

impl Project {
    pub fn models(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values().filter(|n| n.resource_type == "model")
    }

    /// The `.models` table: name, materialization, schema, last run.
    pub fn models_table(&self) -> (Vec<Column>, Vec<Vec<Cell>>) {
        let columns = ["model", "materialized", "schema", "status", "last_built"]
            .iter()
            .map(|n| Column::text(n))
            .collect();
        let mut models: Vec<&Node> = self.models().collect();
        models.sort_by(|a, b| a.name.cmp(&b.name).then(a.unique_id.cmp(&b.unique_id)));
        let rows = models
            .into_iter()
            .map(|m| {
                let (status, completed) = self
                    .last_run
                    .get(&m.unique_id)
                    .cloned()
                    .unwrap_or((None, None));
                vec![
                    Some(m.name.clone()),
                    m.materialized.clone(),
                    m.schema.clone(),
                    status,
                    completed.map(|c| tidy_time(&c)),
                ]
            })
            .collect();
        (columns, rows)
    }

    /// Finds a node by name or unique_id (models first).
    pub fn find(&self, name: &str) -> Result<&Node, Error> {
        if let Some(n) = self.nodes.get(name) {
            return Ok(n);
        }
        let matches: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.name.eq_ignore_ascii_case(name))
            .collect();
        let models: Vec<&Node> = matches
            .iter()
            .copied()
            .filter(|n| n.resource_type == "model")
            .collect();
        match (models.as_slice(), matches.as_slice()) {
            ([one], _) | ([], [one]) => Ok(one),
            ([], []) => Err(Error::Models(format!(
                "no model named {name:?} (see .models)"
            ))),
            _ => {
                let ids: Vec<&str> = matches.iter().map(|n| n.unique_id.as_str()).collect();
                Err(Error::Models(format!(
                    "{name:?} is ambiguous: {}",
                    ids.join(", ")
                )))
            }
        }
    }

    /// `.lineage MODEL`: what it is built from and what is built from it, as
    /// two trees.
    pub fn lineage(&self, name: &str) -> Result<String, Error> {
        let node = self.find(name)?;
        let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
        for n in self.nodes.values() {
            for d in &n.depends_on {
                children
                    .entry(d.as_str())
                    .or_default()
                    .push(n.unique_id.as_str());
            }
        }
        let mut out = format!("{}\n", self.describe(&node.unique_id));
        out.push_str("upstream (built from):\n");
        let ups: Vec<&str> = node.depends_on.iter().map(String::as_str).collect();
        self.tree(
            &ups,
            &|id| {
                self.nodes
                    .get(id)
                    .map(|n| n.depends_on.iter().map(String::as_str).collect())
                    .unwrap_or_default()
            },
            "",
            &mut BTreeSet::new(),
            &mut out,
        );
        if ups.is_empty() {
            out.push_str("  (nothing)\n");
        }
        out.push_str("downstream (builds):\n");
        let downs: Vec<&str> = children
            .get(node.unique_id.as_str())
            .cloned()
            .unwrap_or_default();
        self.tree(
            &downs,
            &|id| children.get(id).cloned().unwrap_or_default(),
            "",
            &mut BTreeSet::new(),
            &mut out,
        );
        if downs.is_empty() {
            out.push_str("  (nothing)\n");
        }
        Ok(out)
    }

    fn describe(&self, id: &str) -> String {
        match self.nodes.get(id) {
            Some(n) => {
                let mut kind = n.resource_type.clone();
                if let Some(m) = &n.materialized {
                    if n.resource_type == "model" {
                        kind = format!("{kind}, {m}");
                    }
                }
                format!("{} ({kind})", n.label())
            }
            None => format!("{id} (not in the manifest)"),
        }
    }

    fn tree<'a>(
        &'a self,
        ids: &[&'a str],
        next: &dyn Fn(&str) -> Vec<&'a str>,
        indent: &str,
        path: &mut BTreeSet<String>,
        out: &mut String,
    ) {
        let mut ids: Vec<&str> = ids.to_vec();
        ids.sort_by_key(|id| self.nodes.get(*id).map_or(id.to_string(), Node::label));
        ids.dedup();
        for (i, id) in ids.iter().enumerate() {
            let last = i + 1 == ids.len();
            out.push_str(&format!(
                "  {indent}{}{}\n",
                if last { "└── " } else { "├── " },
                self.describe(id)
            ));
            if !path.insert(id.to_string()) {
                continue; // a cycle: show the node, not its subtree again
            }
            let deeper = format!("{indent}{}", if last { "    " } else { "│   " });
            self.tree(&next(id), next, &deeper, path, out);
            path.remove(*id);
        }
    }
}

/// `2024-08-12T10:00:00.123456Z` as `2024-08-12 10:00:00Z`.
fn tidy_time(t: &str) -> String {
    let t = t.replacen('T', " ", 1);
    match t.split_once('.') {
        Some((head, tail)) => {
            let zone: String = tail.chars().skip_while(char::is_ascii_digit).collect();
            format!("{head}{zone}")
        }
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("target");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(
            target.join("manifest.json"),
            r#"{
              "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
              "nodes": {
                "model.tarmac.stg_flights": {"resource_type": "model", "name": "stg_flights", "schema": "silver",
                  "config": {"materialized": "view"}, "depends_on": {"nodes": ["source.tarmac.bronze.flightlabs_historical"]}},
                "model.tarmac.flights_daily": {"resource_type": "model", "name": "flights_daily", "schema": "gold",
                  "config": {"materialized": "table"}, "depends_on": {"nodes": ["model.tarmac.stg_flights"]}},
                "test.tarmac.not_null_x": {"resource_type": "test", "name": "not_null_x",
                  "config": {"materialized": "test"}, "depends_on": {"nodes": ["model.tarmac.flights_daily"]}}
              },
              "sources": {
                "source.tarmac.bronze.flightlabs_historical": {"resource_type": "source", "source_name": "bronze",
                  "name": "flightlabs_historical", "schema": "bronze"}
              }
            }"#,
        )
        .expect("manifest");
        std::fs::write(
            target.join("run_results.json"),
            r#"{"results": [{"unique_id": "model.tarmac.flights_daily", "status": "success",
                "timing": [{"name": "compile", "completed_at": "2024-08-12T10:00:00.100Z"},
                           {"name": "execute", "completed_at": "2024-08-12T10:00:02.500Z"}]}]}"#,
        )
        .expect("run results");
        dir
    }

    #[test]
    fn no_manifest_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path()).expect("load").is_none());
    }

    #[test]
    fn lists_models_with_their_last_build() {
        let dir = fixture();
        let p = load(dir.path()).expect("load").expect("manifest");
        let (cols, rows) = p.models_table();
        assert_eq!(cols.len(), 5);
        assert_eq!(
            rows,
            vec![
                vec![
                    Some("flights_daily".into()),
                    Some("table".into()),
                    Some("gold".into()),
                    Some("success".into()),
                    Some("2024-08-12 10:00:02Z".into())
                ],
                vec![
                    Some("stg_flights".into()),
                    Some("view".into()),
                    Some("silver".into()),
                    None,
                    None
                ],
            ]
        );
    }

    #[test]
    fn draws_lineage_both_ways() {
        let dir = fixture();
        let p = load(dir.path()).expect("load").expect("manifest");
        let text = p.lineage("stg_flights").expect("lineage");
        assert_eq!(
            text,
            "stg_flights (model, view)\nupstream (built from):\n  └── bronze.flightlabs_historical (source)\ndownstream (builds):\n  └── flights_daily (model, table)\n      └── not_null_x (test)\n"
        );
        assert!(p.lineage("nope").is_err());
        assert!(p.lineage("model.tarmac.flights_daily").is_ok());
    }

    #[test]
    fn bad_json_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("target")).expect("mkdir");
        std::fs::write(dir.path().join("target/manifest.json"), "{").expect("write");
        let e = load(dir.path()).expect_err("error");
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }
}
