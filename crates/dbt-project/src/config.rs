//! Node configs: dbt_project.yml's hierarchical `models:`/`seeds:` trees and
//! dbt's merge rules. Precedence (lowest first): project level, folder levels,
//! properties YAML `config:`, then `{{ config() }}` in the file
//! (<https://docs.getdbt.com/reference/define-configs>). Configs are JSON
//! maps with keys normalized (`+pre-hook` -> `pre_hook`).

use serde_json::{Map, Value};

/// A node's resolved configuration.
pub type Config = Map<String, Value>;

/// Keys whose value may be a mapping without being a folder.
const MAPPING_CONFIGS: &[&str] = &[
    "meta",
    "persist_docs",
    "column_types",
    "grants",
    "docs",
    "contract",
    "quoting",
    "labels",
];

/// Normalize a config key: drop `+`, dashes to underscores.
pub fn normalize_key(k: &str) -> String {
    k.trim_start_matches('+').replace('-', "_")
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Null => vec![],
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Merge `overlay` into `base` with dbt's rules: `tags` union, `meta` and
/// other mapping configs update key by key, hooks append, the rest replaces.
pub fn merge(base: &mut Config, overlay: &Config) {
    for (k, v) in overlay {
        let k = normalize_key(k);
        match k.as_str() {
            "tags" | "pre_hook" | "post_hook" => {
                let mut items = base.get(&k).map(as_list).unwrap_or_default();
                for item in as_list(v) {
                    if k != "tags" || !items.contains(&item) {
                        items.push(item);
                    }
                }
                base.insert(k, Value::Array(items));
            }
            _ if MAPPING_CONFIGS.contains(&k.as_str()) => match (base.get_mut(&k), v) {
                (Some(Value::Object(b)), Value::Object(o)) => {
                    for (ik, iv) in o {
                        b.insert(ik.clone(), iv.clone());
                    }
                }
                _ => {
                    base.insert(k, v.clone());
                }
            },
            _ => {
                base.insert(k, v.clone());
            }
        }
    }
}

/// The config a node gets from a dbt_project.yml tree (`models:` or `seeds:`):
/// the level named after the project, then one level per folder of the node's
/// path (below the model path), the file name last
/// (<https://docs.getdbt.com/reference/model-configs#apply-configurations-to-one-model-only>).
pub fn from_tree(tree: &Value, project: &str, folders: &[String], name: &str) -> Config {
    let mut out = Config::new();
    let Value::Object(top) = tree else { return out };
    // keys at the very top (`models: {+materialized: view}`) apply to every project
    apply_level(&mut out, top);
    let Some(Value::Object(level)) = top.get(project) else {
        return out;
    };
    apply_level(&mut out, level);
    let mut level = level;
    for part in folders
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(name))
    {
        match level.get(part) {
            Some(v @ Value::Object(next)) if !is_config_key(part, v) => {
                apply_level(&mut out, next);
                level = next;
            }
            _ => break,
        }
    }
    out
}

fn is_config_key(k: &str, v: &Value) -> bool {
    if k.starts_with('+') {
        return true;
    }
    let n = normalize_key(k);
    !matches!(v, Value::Object(_)) || MAPPING_CONFIGS.contains(&n.as_str())
}

fn apply_level(out: &mut Config, level: &Map<String, Value>) {
    let mut here = Config::new();
    for (k, v) in level {
        if is_config_key(k, v) {
            here.insert(normalize_key(k), v.clone());
        }
    }
    merge(out, &here);
}

/// Typed reads of common config keys.
pub trait ConfigExt {
    fn str_of(&self, key: &str) -> Option<&str>;
    fn materialized(&self) -> &str;
    fn enabled(&self) -> bool;
    fn tags(&self) -> Vec<String>;
    fn hooks(&self, key: &str) -> Vec<String>;
    fn unique_key(&self) -> Vec<String>;
}

impl ConfigExt for Config {
    fn str_of(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.as_str())
    }
    fn materialized(&self) -> &str {
        self.str_of("materialized").unwrap_or("view")
    }
    fn enabled(&self) -> bool {
        match self.get("enabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
            _ => true,
        }
    }
    fn tags(&self) -> Vec<String> {
        self.get("tags")
            .map(as_list)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }
    fn hooks(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(as_list)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s),
                Value::Object(m) => m.get("sql").and_then(|s| s.as_str()).map(String::from),
                _ => None,
            })
            .collect()
    }
    fn unique_key(&self) -> Vec<String> {
        self.get("unique_key")
            .map(as_list)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tree_levels_and_precedence() {
        let tree = json!({
            "+tags": ["all"],
            "p": {
                "+materialized": "view",
                "staging": {"materialized": "table", "+tags": "stg", "meta": {"a": 1}},
                "marts": {"+schema": "marts", "orders": {"+materialized": "incremental"}}
            }
        });
        let c = from_tree(&tree, "p", &["staging".into()], "stg_x");
        assert_eq!(c["materialized"], "table");
        assert_eq!(c["tags"], json!(["all", "stg"]));
        assert_eq!(c["meta"], json!({"a": 1}));
        let c = from_tree(&tree, "p", &["marts".into()], "orders");
        assert_eq!(c["materialized"], "incremental");
        assert_eq!(c["schema"], "marts");
        let mut c = from_tree(&tree, "other", &[], "x");
        assert_eq!(c.tags(), vec!["all"]);
        merge(
            &mut c,
            json!({"tags": ["x"], "post-hook": "select 1"})
                .as_object()
                .unwrap(),
        );
        assert_eq!(c.tags(), vec!["all", "x"]);
        assert_eq!(c.hooks("post_hook"), vec!["select 1"]);
    }
}
