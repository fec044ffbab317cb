//! `--state DIR`: the artifacts of an earlier run (its `manifest.json`,
//! `run_results.json` and `sources.json`) for dbt's state selectors
//! (<https://docs.getdbt.com/reference/node-selection/methods#state>):
//! `state:new`, `state:old`, `state:modified` (and `.body`, `.configs`,
//! `.relation`, `.persisted_descriptions`, `.macros`, `.contract`),
//! `state:unmodified`, `result:<status>` and `source_status:fresher`; and
//! for `--defer`, the relations of the earlier manifest.
//!
//! Both sides are compared as manifest JSON, the current project through
//! the same serializer that writes `target/manifest.json`, so a manifest
//! dbt-core wrote works as state and Tarmac's works as state for dbt. What
//! counts as a change follows dbt-core 1.10's documented state comparison:
//! the body (a seed's file checksum, else `raw_code`), the configs as
//! written (`unrendered_config`, without the keys dbt leaves out of the
//! comparison), descriptions when `persist_docs` persists them, the fqn,
//! the configured `database`/`schema`/`alias`, the contract (enforced flag
//! and checksum), a model's `latest_version`/`access`/`deprecation_date`,
//! and the macros a node calls (their `macro_sql`, followed through the
//! macros they call).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The artifacts of the earlier run `--state DIR` names.
#[derive(Debug, Clone)]
pub struct State {
    pub dir: PathBuf,
    pub manifest: Value,
    /// `run_results.json`, when the directory holds one (`result:`).
    pub run_results: Option<dbt_artifacts::RunResults>,
    /// `sources.json`, when it holds one (`source_status:`).
    pub sources: Option<Value>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Yaml {
                path: path.to_path_buf(),
                message: format!("not a JSON artifact: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

impl State {
    /// Read the artifacts in `dir`; its `manifest.json` must be there.
    pub fn load(dir: &Path) -> Result<State> {
        let manifest = read_json(&dir.join("manifest.json"))?.ok_or_else(|| {
            Error::Project(format!(
                "--state {}: no manifest.json there (the target/ folder of an earlier `tarmac build`, `compile` or `parse`, or of dbt, holds one)",
                dir.display()
            ))
        })?;
        Ok(State {
            dir: dir.to_path_buf(),
            manifest,
            run_results: read_json(&dir.join("run_results.json"))?,
            sources: read_json(&dir.join("sources.json"))?,
        })
    }
}

/// A resource of a manifest by unique id, from whichever section holds it.
fn lookup<'a>(manifest: &'a Value, id: &str) -> Option<&'a Value> {
    [
        "nodes",
        "sources",
        "exposures",
        "metrics",
        "semantic_models",
        "unit_tests",
        "saved_queries",
    ]
    .iter()
    .find_map(|s| manifest.get(*s).and_then(|sec| sec.get(id)))
}

/// Macros of dbt itself and of its adapter are each tool's own text (a
/// manifest dbt wrote holds dbt's, Tarmac's holds none), so they are left
/// out of the comparison.
fn builtin_macro(id: &str) -> bool {
    id.starts_with("macro.dbt.") || id.starts_with("macro.dbt_duckdb.")
}

/// The current manifest compared with the state's.
pub(crate) struct Comparison<'a> {
    old: &'a Value,
    new: Value,
    modified_macros: BTreeSet<String>,
}

impl<'a> Comparison<'a> {
    pub(crate) fn new(state: &'a State, current: Value) -> Self {
        let empty = Map::new();
        let macros = |m: &Value| -> Map<String, Value> {
            m.get("macros")
                .and_then(|v| v.as_object())
                .unwrap_or(&empty)
                .clone()
        };
        let (old_m, new_m) = (macros(&state.manifest), macros(&current));
        let mut modified = BTreeSet::new();
        for (id, mac) in new_m.iter().filter(|(id, _)| !builtin_macro(id)) {
            match old_m.get(id) {
                Some(o) if o.get("macro_sql") == mac.get("macro_sql") => {}
                _ => {
                    modified.insert(id.clone());
                }
            }
        }
        for id in old_m.keys().filter(|id| !builtin_macro(id)) {
            if !new_m.contains_key(id) {
                modified.insert(id.clone());
            }
        }
        Comparison {
            old: &state.manifest,
            new: current,
            modified_macros: modified,
        }
    }

    /// The ids among `candidates` that `state:<value>` selects.
    pub(crate) fn select(
        &self,
        candidates: impl Iterator<Item = &'a str>,
        value: &str,
    ) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for id in candidates {
            let Some(new) = lookup(&self.new, id) else {
                continue;
            };
            let old = lookup(self.old, id);
            if self.check(value, old, new)? {
                out.insert(id.to_string());
            }
        }
        Ok(out)
    }

    fn check(&self, value: &str, old: Option<&Value>, new: &Value) -> Result<bool> {
        let kind = Kind::of(new);
        Ok(match value {
            "new" => old.is_none(),
            "old" => old.is_some(),
            "modified" => self.modified(old, new, kind),
            "unmodified" => !self.modified(old, new, kind),
            // sub-selectors: a new resource counts when its kind has the comparison
            "modified.body" => kind.is_node() && old.is_none_or(|o| !same_body(new, o)),
            "modified.configs" => {
                kind.has_config() && old.is_none_or(|o| !same_config(new, o, kind))
            }
            "modified.persisted_descriptions" => {
                kind.is_node() && old.is_none_or(|o| !same_persisted_description(new, o))
            }
            "modified.relation" => {
                kind.has_relation() && old.is_none_or(|o| !same_relation(new, o, kind))
            }
            "modified.macros" => self.macros_modified(new),
            "modified.contract" => kind.is_node() && old.is_none_or(|o| !same_contract(new, o)),
            other => {
                return Err(Error::Selector {
                    selector: format!("state:{other}"),
                    message: "expected one of new, old, modified, unmodified, modified.body, modified.configs, modified.persisted_descriptions, modified.relation, modified.macros, modified.contract".into(),
                })
            }
        })
    }

    /// dbt's `state:modified`: other contents, a changed macro it calls,
    /// or (for a model) a changed contract.
    fn modified(&self, old: Option<&Value>, new: &Value, kind: Kind) -> bool {
        let different = match kind {
            // sources and exposures that did not exist are not "modified"
            Kind::Source => old.is_some_and(|o| !same_source(new, o)),
            Kind::Exposure => old.is_some_and(|o| !same_exposure(new, o)),
            Kind::UnitTest => old.is_none_or(|o| o.get("checksum") != new.get("checksum")),
            Kind::Other => old.is_none_or(|o| !same_config(new, o, kind)),
            Kind::GenericTest => {
                old.is_none_or(|o| !(same_config(new, o, kind) && same_fqn(new, o)))
            }
            Kind::Node | Kind::Seed | Kind::Model => old.is_none_or(|o| {
                !(same_body(new, o)
                    && same_config(new, o, kind)
                    && same_persisted_description(new, o)
                    && same_fqn(new, o)
                    && same_relation(new, o, kind)
                    && same_contract(new, o)
                    && (kind != Kind::Model || same_ref_representation(new, o)))
            }),
        };
        let contract = kind == Kind::Model && old.is_some_and(|o| !same_contract(new, o));
        different || self.macros_modified(new) || contract
    }

    /// Whether a macro the resource calls changed, directly or through the
    /// macros it calls (in the current manifest).
    fn macros_modified(&self, new: &Value) -> bool {
        if self.modified_macros.is_empty() {
            return false;
        }
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = macro_deps(new);
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if self.modified_macros.contains(id) {
                return true;
            }
            if let Some(m) = self.new.get("macros").and_then(|ms| ms.get(id)) {
                stack.extend(macro_deps(m));
            }
        }
        false
    }
}

fn macro_deps(v: &Value) -> Vec<&str> {
    v.pointer("/depends_on/macros")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str())
        .collect()
}

/// Which of dbt's comparisons a resource has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Model,
    Seed,
    /// Snapshots, singular tests, analyses, hooks.
    Node,
    GenericTest,
    Source,
    Exposure,
    UnitTest,
    /// Metrics, semantic models, saved queries: compared by config here.
    Other,
}

impl Kind {
    fn of(v: &Value) -> Kind {
        match v.get("resource_type").and_then(|t| t.as_str()) {
            Some("model") => Kind::Model,
            Some("seed") => Kind::Seed,
            Some("test") if v.get("test_metadata").is_some_and(|t| !t.is_null()) => {
                Kind::GenericTest
            }
            Some("source") => Kind::Source,
            Some("exposure") => Kind::Exposure,
            Some("unit_test") => Kind::UnitTest,
            Some("metric" | "semantic_model" | "saved_query") => Kind::Other,
            _ => Kind::Node,
        }
    }
    fn is_node(self) -> bool {
        matches!(
            self,
            Kind::Model | Kind::Seed | Kind::Node | Kind::GenericTest
        )
    }
    fn has_config(self) -> bool {
        self.is_node() || matches!(self, Kind::Source | Kind::Exposure | Kind::Other)
    }
    fn has_relation(self) -> bool {
        self.is_node() || self == Kind::Source
    }
}

/// A seed's body is its file checksum; any other node's its `raw_code`.
fn same_body(new: &Value, old: &Value) -> bool {
    if Kind::of(new) == Kind::Seed {
        return new.get("checksum") == old.get("checksum");
    }
    new.get("raw_code") == old.get("raw_code")
}

fn unrendered(v: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    v.get("unrendered_config")
        .and_then(|c| c.as_object())
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// dbt's config comparison over `unrendered_config`: a test compares only
/// the keys that change its result; other nodes every key but those dbt
/// compares elsewhere or not at all (`alias`, `schema`, `database`, `tags`,
/// `group`).
fn same_config(new: &Value, old: &Value, kind: Kind) -> bool {
    let (a, b) = (unrendered(new), unrendered(old));
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| match kind {
            Kind::GenericTest | Kind::Node if is_test(new) => matches!(
                k.as_str(),
                "severity"
                    | "where"
                    | "limit"
                    | "fail_calc"
                    | "warn_if"
                    | "error_if"
                    | "store_failures"
                    | "store_failures_as"
            ),
            Kind::Source | Kind::Exposure | Kind::Other | Kind::UnitTest => true,
            _ => !matches!(
                k.as_str(),
                "alias" | "schema" | "database" | "tags" | "group"
            ),
        })
        .all(|k| a.get(k) == b.get(k))
}

fn is_test(v: &Value) -> bool {
    v.get("resource_type").and_then(|t| t.as_str()) == Some("test")
}

fn same_fqn(new: &Value, old: &Value) -> bool {
    new.get("fqn") == old.get("fqn")
}

/// Descriptions count only where `persist_docs` writes them to the warehouse.
fn same_persisted_description(new: &Value, old: &Value) -> bool {
    let persist = |k: &str| {
        new.pointer(&format!("/config/persist_docs/{k}"))
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };
    if persist("relation") && new.get("description") != old.get("description") {
        return false;
    }
    if persist("columns") {
        let descriptions = |v: &Value| -> Map<String, Value> {
            v.get("columns")
                .and_then(|c| c.as_object())
                .map(|c| {
                    c.iter()
                        .map(|(k, col)| {
                            (
                                k.clone(),
                                col.get("description").cloned().unwrap_or(Value::Null),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        if descriptions(new) != descriptions(old) {
            return false;
        }
    }
    true
}

/// The relation as configured: a node's `database`/`schema`/`alias` as
/// written (not as `generate_*_name` made them); a source's database,
/// schema and identifier.
fn same_relation(new: &Value, old: &Value, kind: Kind) -> bool {
    if kind == Kind::Source {
        return ["database", "schema", "identifier"]
            .iter()
            .all(|k| new.get(*k) == old.get(*k));
    }
    let (a, b) = (unrendered(new), unrendered(old));
    ["database", "schema", "alias"]
        .iter()
        .all(|k| a.get(*k) == b.get(*k))
}

/// dbt's contract comparison: enforced on neither side, or on both with
/// the same checksum (other nodes than models have no contract).
fn same_contract(new: &Value, old: &Value) -> bool {
    if Kind::of(new) != Kind::Model {
        return true;
    }
    let enforced = |v: &Value| {
        v.pointer("/contract/enforced")
            .and_then(|e| e.as_bool())
            .unwrap_or(false)
    };
    match (enforced(old), enforced(new)) {
        (false, false) => true,
        (false, true) | (true, false) => false,
        (true, true) => new.pointer("/contract/checksum") == old.pointer("/contract/checksum"),
    }
}

/// What a `ref` to the model depends on besides its relation.
fn same_ref_representation(new: &Value, old: &Value) -> bool {
    ["latest_version", "access", "deprecation_date"]
        .iter()
        .all(|k| new.get(*k).unwrap_or(&Value::Null) == old.get(*k).unwrap_or(&Value::Null))
}

fn same_source(new: &Value, old: &Value) -> bool {
    same_relation(new, old, Kind::Source)
        && same_fqn(new, old)
        && same_config(new, old, Kind::Source)
        && ["quoting", "freshness", "loaded_at_field", "external"]
            .iter()
            .all(|k| new.get(*k).unwrap_or(&Value::Null) == old.get(*k).unwrap_or(&Value::Null))
}

fn same_exposure(new: &Value, old: &Value) -> bool {
    same_fqn(new, old)
        && same_config(new, old, Kind::Exposure)
        && [
            "type",
            "owner",
            "maturity",
            "url",
            "description",
            "label",
            "depends_on",
        ]
        .iter()
        .all(|k| new.get(*k).unwrap_or(&Value::Null) == old.get(*k).unwrap_or(&Value::Null))
}

/// `--defer` as dbt 1.10 resolves refs: a node of the current project that
/// the state manifest holds as a model, seed or snapshot (not ephemeral)
/// reads the state's relation when this run does not build it and either
/// `--favor-state` is given or its own relation is missing from the target
/// (`exists`). Nodes this run builds are built before their children read
/// them, so they keep their own relation.
pub(crate) fn deferred_relations(
    state: &State,
    m: &crate::manifest::Manifest,
    built: &BTreeSet<String>,
    favor_state: bool,
    exists: &dyn Fn(&crate::relation::Relation) -> bool,
) -> std::collections::HashMap<String, crate::relation::Relation> {
    let mut out = std::collections::HashMap::new();
    let Some(nodes) = state.manifest.get("nodes").and_then(|n| n.as_object()) else {
        return out;
    };
    for (id, old) in nodes {
        let refable = matches!(
            old.get("resource_type").and_then(|t| t.as_str()),
            Some("model" | "seed" | "snapshot")
        );
        let ephemeral =
            old.pointer("/config/materialized").and_then(|v| v.as_str()) == Some("ephemeral");
        let Some(n) = m.nodes.get(id) else { continue };
        if !refable || ephemeral || n.is_ephemeral() || built.contains(id) {
            continue;
        }
        if !favor_state && exists(&n.relation()) {
            continue;
        }
        let text = |k: &str| old.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let alias = match old.get("alias").and_then(|v| v.as_str()) {
            Some(a) => a,
            None => text("name"),
        };
        out.insert(
            id.clone(),
            crate::relation::Relation::new(text("database"), text("schema"), alias)
                .with_quoting(n.quoting),
        );
    }
    out
}

/// `result:<status>`: the ids whose status in the state's
/// `run_results.json` is `status`.
pub(crate) fn result_ids(state: &State, status: &str) -> Result<BTreeSet<String>> {
    let rr = state.run_results.as_ref().ok_or_else(|| Error::Selector {
        selector: format!("result:{status}"),
        message: format!(
            "no run_results.json in --state {} to compare with",
            state.dir.display()
        ),
    })?;
    Ok(rr
        .with_status(status)
        .map(|r| r.unique_id.clone())
        .collect())
}

/// `source_status:fresher`: sources whose `max_loaded_at` in the current
/// `sources.json` (`current`) is later than in the state's, or that the
/// state's lacks; a source whose check errored now is left out (as dbt
/// 1.10, which reads the errors of the current run for both sides).
pub(crate) fn fresher_sources(
    state: &State,
    current: Option<&Value>,
    value: &str,
) -> Result<BTreeSet<String>> {
    let bad = |m: String| Error::Selector {
        selector: format!("source_status:{value}"),
        message: m,
    };
    let prev = state.sources.as_ref().ok_or_else(|| {
        bad(format!(
            "no sources.json in --state {} (write one with `tarmac source freshness`)",
            state.dir.display()
        ))
    })?;
    let cur = current.ok_or_else(|| {
        bad("no sources.json in the target folder: run `tarmac source freshness` first".into())
    })?;
    let loaded = |v: &Value| -> (Map<String, Value>, BTreeSet<String>) {
        let mut ok = Map::new();
        let mut errored = BTreeSet::new();
        for r in v
            .get("results")
            .and_then(|r| r.as_array())
            .into_iter()
            .flatten()
        {
            let Some(id) = r.get("unique_id").and_then(|u| u.as_str()) else {
                continue;
            };
            match r.get("max_loaded_at") {
                Some(t) if !t.is_null() => {
                    ok.insert(id.to_string(), t.clone());
                }
                _ => {
                    errored.insert(id.to_string());
                }
            }
        }
        (ok, errored)
    };
    let (now, now_err) = loaded(cur);
    let (before, _) = loaded(prev);
    if value != "fresher" {
        return Ok(BTreeSet::new());
    }
    Ok(now
        .iter()
        .filter(|(id, t)| match before.get(*id) {
            None => true,
            Some(b) => timestamp(t) > timestamp(b),
        })
        .map(|(id, _)| id.clone())
        .filter(|id| !now_err.contains(id))
        .collect())
}

/// `max_loaded_at` as an instant (dbt and Tarmac may write it with `Z` or
/// an offset, with or without fractions).
fn timestamp(v: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = v.as_str()?;
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(m: Value) -> State {
        State {
            dir: PathBuf::from("prod"),
            manifest: m,
            run_results: None,
            sources: None,
        }
    }

    fn model(raw: &str, unrendered: Value) -> Value {
        json!({"resource_type": "model", "raw_code": raw, "fqn": ["p", "m"],
               "unrendered_config": unrendered, "config": {},
               "contract": {"enforced": false, "checksum": null},
               "depends_on": {"macros": ["macro.p.helper"], "nodes": []}})
    }

    #[test]
    fn body_config_relation_and_macros() {
        let old = json!({
            "nodes": {
                "model.p.a": model("select 1", json!({"materialized": "view"})),
                "model.p.b": model("select 2", json!({"materialized": "view", "tags": ["x"]})),
                "model.p.c": model("select 3", json!({"schema": "s"})),
            },
            "macros": {"macro.p.helper": {"macro_sql": "{% macro helper() %}1{% endmacro %}"},
                       "macro.dbt.is_incremental": {"macro_sql": "dbt's own"}},
        });
        let new = json!({
            "nodes": {
                "model.p.a": model("select 10", json!({"materialized": "view"})),
                // tags are not compared as configs
                "model.p.b": model("select 2", json!({"materialized": "table", "tags": ["y"]})),
                "model.p.c": model("select 3", json!({"schema": "t"})),
                "model.p.d": model("select 4", json!({})),
            },
            "macros": {"macro.p.helper": {"macro_sql": "{% macro helper() %}1{% endmacro %}"}},
        });
        let s = state(old);
        let c = Comparison::new(&s, new);
        let ids = ["model.p.a", "model.p.b", "model.p.c", "model.p.d"];
        let sel = |v: &str| -> Vec<String> {
            c.select(ids.iter().copied(), v)
                .unwrap()
                .into_iter()
                .collect()
        };
        assert_eq!(
            sel("modified"),
            ["model.p.a", "model.p.b", "model.p.c", "model.p.d"]
        );
        assert_eq!(sel("modified.body"), ["model.p.a", "model.p.d"]);
        assert_eq!(sel("modified.configs"), ["model.p.b", "model.p.d"]);
        assert_eq!(sel("modified.relation"), ["model.p.c", "model.p.d"]);
        // dbt's own macros differ between the tools: not a change
        assert!(sel("modified.macros").is_empty());
        assert_eq!(sel("new"), ["model.p.d"]);
        assert_eq!(sel("old").len(), 3);
        assert!(sel("unmodified").is_empty());
        assert!(c.select(ids.iter().copied(), "changed").is_err());
    }

    #[test]
    fn a_changed_macro_reaches_its_callers_through_macros() {
        let old = json!({"nodes": {"model.p.a": model("x", json!({}))},
            "macros": {"macro.p.helper": {"macro_sql": "a", "depends_on": {"macros": ["macro.p.inner"]}},
                       "macro.p.inner": {"macro_sql": "1"}}});
        let new = json!({"nodes": {"model.p.a": model("x", json!({}))},
            "macros": {"macro.p.helper": {"macro_sql": "a", "depends_on": {"macros": ["macro.p.inner"]}},
                       "macro.p.inner": {"macro_sql": "2"}}});
        let s = state(old);
        let c = Comparison::new(&s, new);
        let got = c
            .select(["model.p.a"].into_iter(), "modified.macros")
            .unwrap();
        assert_eq!(got.len(), 1);
        let got = c
            .select(["model.p.a"].into_iter(), "modified.body")
            .unwrap();
        assert!(got.is_empty());
    }

    #[test]
    fn contracts_compare_by_checksum() {
        let with = |enforced: bool, sum: &str| {
            let mut m = model("x", json!({}));
            m["contract"] = json!({"enforced": enforced, "checksum": sum});
            m
        };
        assert!(same_contract(&with(true, "a"), &with(true, "a")));
        assert!(!same_contract(&with(true, "b"), &with(true, "a")));
        assert!(!same_contract(&with(true, "a"), &with(false, "a")));
        assert!(same_contract(&with(false, "a"), &with(false, "b")));
    }

    #[test]
    fn fresher_sources_compare_instants() {
        let mut s = state(json!({}));
        s.sources = Some(json!({"results": [
            {"unique_id": "source.p.r.a", "max_loaded_at": "2024-01-01T00:00:00+00:00"},
            {"unique_id": "source.p.r.b", "max_loaded_at": "2024-01-01T00:00:00Z"},
            {"unique_id": "source.p.r.c", "status": "runtime error"},
        ]}));
        let now = json!({"results": [
            {"unique_id": "source.p.r.a", "max_loaded_at": "2024-01-02T00:00:00Z"},
            {"unique_id": "source.p.r.b", "max_loaded_at": "2024-01-01T00:00:00+00:00"},
            {"unique_id": "source.p.r.c", "max_loaded_at": "2024-01-02T00:00:00Z"},
            {"unique_id": "source.p.r.d", "max_loaded_at": "2024-01-02T00:00:00Z"},
            {"unique_id": "source.p.r.e", "status": "runtime error"},
        ]});
        let got: Vec<String> = fresher_sources(&s, Some(&now), "fresher")
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(got, ["source.p.r.a", "source.p.r.c", "source.p.r.d"]);
        assert!(fresher_sources(&s, None, "fresher").is_err());
    }
}
