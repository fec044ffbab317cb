//! `dbt_project.yml` read into a typed struct, every problem of the file
//! reported at once.
//!
//! Why typed here and not where the file is used: the keys' types are
//! dbt's documented schema (<https://docs.getdbt.com/reference/dbt_project.yml>),
//! which needs neither Jinja nor a database; the Jinja layer renders the
//! file's strings first and hands the rendered tree to [`ProjectFile::read`].
//! Why every problem at once: a user fixing a project file should not have
//! to run once per mistake, as dbt's own schema check does not make them.
//!
//! The config trees (`models:`, `seeds:`, ...) stay JSON trees: their keys
//! are the project's folders and any config, resolved per node by
//! [`crate::config`].

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::yaml::{KeyLines, Problems};

/// The keys of `dbt_project.yml` that dbt 1.10 knows. Others are reported
/// as warnings, not errors, as dbt does.
const KNOWN: &[&str] = &[
    "name",
    "version",
    "config-version",
    "profile",
    "model-paths",
    "source-paths",
    "seed-paths",
    "data-paths",
    "macro-paths",
    "test-paths",
    "snapshot-paths",
    "analysis-paths",
    "docs-paths",
    "asset-paths",
    "target-path",
    "log-path",
    "packages-install-path",
    "clean-targets",
    "vars",
    "models",
    "seeds",
    "snapshots",
    "sources",
    "tests",
    "data_tests",
    "unit_tests",
    "on-run-start",
    "on-run-end",
    "on_run_start",
    "on_run_end",
    "require-dbt-version",
    "quoting",
    "dispatch",
    "flags",
    "query-comment",
    "exposures",
    "metrics",
    "semantic-models",
    "saved-queries",
    "restrict-access",
    "analyses",
];

/// `dbt_project.yml` as written (after its strings are rendered): each
/// key's value typed, defaults not yet applied where dbt's default depends
/// on another key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectFile {
    pub name: String,
    /// `profile:`; `None` means the profile named as the project.
    pub profile: Option<String>,
    /// `model-paths` (or the older `source-paths`), default `["models"]`.
    pub model_paths: Vec<String>,
    /// `seed-paths` (or the older `data-paths`), default `["seeds"]`.
    pub seed_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub snapshot_paths: Vec<String>,
    pub analysis_paths: Vec<String>,
    /// `target-path`, default `target`.
    pub target_path: String,
    /// `clean-targets`, default the target path alone (dbt 1.10).
    pub clean_targets: Vec<String>,
    /// `packages-install-path`, default `dbt_packages`.
    pub packages_install_path: String,
    /// `require-dbt-version` as version specifiers, all of which must hold.
    pub require_dbt_version: Vec<String>,
    /// `dispatch:`: macro namespace → package search order.
    pub dispatch: BTreeMap<String, Vec<String>>,
    /// `on-run-start` / `on-run-end`, unrendered (they render at run time).
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    /// The config trees, as written.
    pub models: Value,
    pub seeds: Value,
    pub snapshots: Value,
    pub sources: Value,
    /// `data_tests:`, or the older `tests:`.
    pub tests: Value,
    /// `quoting:` as written (a mapping, or absent).
    pub quoting: Option<Value>,
    /// Keys dbt does not know, each a warning.
    pub unknown_keys: Vec<String>,
}

impl ProjectFile {
    /// Read the rendered tree `v` of `path`. `lines` locates keys in the
    /// file's text, so that each problem names its line. Every problem
    /// found is in the error, in the file's key order.
    pub fn read(v: &Value, path: &Path, lines: &KeyLines) -> Result<ProjectFile> {
        let mut p = Problems::new(path, lines);
        let Value::Object(top) = v else {
            p.add("", "expected a mapping at the top".into());
            return p.finish(ProjectFile::default());
        };
        let get = |k: &str| top.get(k).filter(|v| !v.is_null());
        let name = match get("name") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                p.add("name", "key name: required, a string".into());
                String::new()
            }
        };
        let profile = match get("profile") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                p.add(
                    "profile",
                    format!("key profile: expected a string, found {other}"),
                );
                None
            }
        };
        let mut list = |keys: &[&str], default: &[&str]| -> Vec<String> {
            let Some((key, v)) = keys.iter().find_map(|k| get(k).map(|v| (*k, v))) else {
                return default.iter().map(|s| s.to_string()).collect();
            };
            p.strings(key, v)
        };
        let model_paths = list(&["model-paths", "source-paths"], &["models"]);
        let seed_paths = list(&["seed-paths", "data-paths"], &["seeds"]);
        let macro_paths = list(&["macro-paths"], &["macros"]);
        let test_paths = list(&["test-paths"], &["tests"]);
        let snapshot_paths = list(&["snapshot-paths"], &["snapshots"]);
        let analysis_paths = list(&["analysis-paths"], &["analyses"]);
        let mut string = |key: &str, default: &str| -> String {
            match get(key) {
                None => default.to_string(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    p.add(key, format!("key {key}: expected a string, found {other}"));
                    default.to_string()
                }
            }
        };
        let target_path = string("target-path", "target");
        let packages_install_path = string("packages-install-path", "dbt_packages");
        let clean_targets = match get("clean-targets") {
            None => vec![target_path.clone()],
            Some(v) => p.strings("clean-targets", v),
        };
        let require_dbt_version = parse_required_versions(get("require-dbt-version"))
            .unwrap_or_else(|m| {
                p.add(
                    "require-dbt-version",
                    format!("key require-dbt-version: {m}"),
                );
                Vec::new()
            });
        let dispatch = p.dispatch(get("dispatch"));
        let hooks = |p: &mut Problems<'_>, key: &str| -> Vec<String> {
            let underscored = key.replace('-', "_");
            match get(key)
                .map(|v| (key, v))
                .or_else(|| get(&underscored).map(|v| (underscored.as_str(), v)))
            {
                None => Vec::new(),
                Some((k, v)) => p.strings(k, v),
            }
        };
        let on_run_start = hooks(&mut p, "on-run-start");
        let on_run_end = hooks(&mut p, "on-run-end");
        let mut tree = |key: &str| -> Value {
            match get(key) {
                None => Value::Null,
                Some(v @ Value::Object(_)) => v.clone(),
                Some(other) => {
                    p.add(
                        key,
                        format!("key {key}: expected a mapping of configs, found {other}"),
                    );
                    Value::Null
                }
            }
        };
        let models = tree("models");
        let seeds = tree("seeds");
        let snapshots = tree("snapshots");
        let sources = tree("sources");
        let tests = if get("data_tests").is_some() {
            tree("data_tests")
        } else {
            tree("tests")
        };
        let quoting = match get("quoting") {
            None => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(other) => {
                p.add(
                    "quoting",
                    format!("key quoting: expected a mapping of database, schema and identifier to booleans, found {other}"),
                );
                None
            }
        };
        if let Some(Value::Object(_)) | None = get("vars") {
        } else if let Some(other) = get("vars") {
            p.add(
                "vars",
                format!("key vars: expected a mapping, found {other}"),
            );
        }
        let unknown_keys = top
            .keys()
            .filter(|k| !KNOWN.contains(&k.as_str()))
            .cloned()
            .collect();
        p.finish(ProjectFile {
            name,
            profile,
            model_paths,
            seed_paths,
            macro_paths,
            test_paths,
            snapshot_paths,
            analysis_paths,
            target_path,
            clean_targets,
            packages_install_path,
            require_dbt_version,
            dispatch,
            on_run_start,
            on_run_end,
            models,
            seeds,
            snapshots,
            sources,
            tests,
            quoting,
            unknown_keys,
        })
    }
}

impl Problems<'_> {
    /// One string or a list of strings, as dbt takes paths and hooks.
    fn strings(&mut self, key: &str, v: &Value) -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, x) in a.iter().enumerate() {
                    match x {
                        Value::String(s) => out.push(s.clone()),
                        other => self.add(
                            &format!("{key}[{i}]"),
                            format!("key {key}: expected a string, found {other}"),
                        ),
                    }
                }
                out
            }
            other => {
                self.add(
                    key,
                    format!("key {key}: expected a list of strings, found {other}"),
                );
                Vec::new()
            }
        }
    }

    /// `dispatch:`, a list of `{macro_namespace, search_order}`.
    fn dispatch(&mut self, v: Option<&Value>) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let Some(v) = v else { return out };
        let Value::Array(items) = v else {
            self.add(
                "dispatch",
                "key dispatch: expected a list of {macro_namespace, search_order}".into(),
            );
            return out;
        };
        for (i, item) in items.iter().enumerate() {
            let ns = item.get("macro_namespace").and_then(Value::as_str);
            if ns.is_none() {
                self.add(
                    &format!("dispatch[{i}].macro_namespace"),
                    format!("key dispatch[{i}].macro_namespace: required, a string"),
                );
            }
            let order: Option<Vec<String>> = match item.get("search_order") {
                Some(Value::Array(a)) => {
                    let names: Option<Vec<String>> =
                        a.iter().map(|x| x.as_str().map(String::from)).collect();
                    if names.is_none() {
                        self.add(
                            &format!("dispatch[{i}].search_order"),
                            format!(
                                "key dispatch[{i}].search_order: expected a list of package names"
                            ),
                        );
                    }
                    names
                }
                _ => {
                    self.add(
                        &format!("dispatch[{i}].search_order"),
                        format!(
                            "key dispatch[{i}].search_order: required, a list of package names"
                        ),
                    );
                    None
                }
            };
            if let (Some(ns), Some(order)) = (ns, order) {
                out.insert(ns.to_string(), order);
            }
        }
        out
    }
}

/// `require-dbt-version` as dbt reads it: one string (specifiers split on
/// commas) or a list of strings; each must be a full semantic version with
/// an optional `>=`, `>`, `<=`, `<` or `=` (dbt rejects `>=1.5` and `~=`).
pub fn parse_required_versions(v: Option<&Value>) -> std::result::Result<Vec<String>, String> {
    let raw: Vec<String> = match v {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().to_string()).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.trim().to_string()),
                other => Err(format!("expected a version string, found {other}")),
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "expected a version string or a list of them, found {other}"
            ))
        }
    };
    for r in &raw {
        let rest = [">=", "<=", ">", "<", "="]
            .iter()
            .find_map(|op| r.strip_prefix(op))
            .unwrap_or(r);
        let base = rest.split(['-', '+']).next().unwrap_or("");
        let parts: Vec<&str> = base.split('.').collect();
        let numeric = |p: &&str| {
            !p.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
        };
        if parts.len() != 3 || !parts.iter().all(numeric) {
            return Err(format!("\"{r}\" is not a valid semantic version."));
        }
    }
    Ok(raw)
}

/// The vars of a project file that are not scoped to a package: what a
/// `vars:` mapping's values render with (`var()` sees the vars themselves).
pub fn unscoped_vars(vars: &Value) -> Map<String, Value> {
    match vars {
        Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_object())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn read(text: &str) -> Result<ProjectFile> {
        let path = Path::new("dbt_project.yml");
        let v = crate::yaml::parse(path, text)?;
        ProjectFile::read(&v, path, &KeyLines::of(text))
    }

    #[test]
    fn defaults_follow_dbt() {
        let p = read("name: shop\n").unwrap();
        assert_eq!(p.name, "shop");
        assert_eq!(p.profile, None);
        assert_eq!(p.model_paths, ["models"]);
        assert_eq!(p.seed_paths, ["seeds"]);
        assert_eq!(p.target_path, "target");
        assert_eq!(p.clean_targets, ["target"]);
        assert_eq!(p.packages_install_path, "dbt_packages");
        assert!(p.dispatch.is_empty() && p.unknown_keys.is_empty());
        // the older names, and clean-targets following target-path
        let p = read(
            "name: shop\nsource-paths: src\ndata-paths: [d1, d2]\ntarget-path: out\nother: 1\n",
        )
        .unwrap();
        assert_eq!(p.model_paths, ["src"]);
        assert_eq!(p.seed_paths, ["d1", "d2"]);
        assert_eq!(p.clean_targets, ["out"]);
        assert_eq!(p.unknown_keys, ["other"]);
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let text = "\
name: shop
profile: [a]
model-paths:
  - models
  - 3
target-path: {a: 1}
dispatch:
  - macro_namespace: dbt_utils
    search_order: shop
require-dbt-version: '>=1.5'
models: 5
";
        let e = read(text).unwrap_err();
        let Error::Invalid { problems, .. } = &e else {
            panic!("{e:?}")
        };
        let got: Vec<(Option<usize>, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Some(2), "key profile: expected a string, found [\"a\"]"),
                (Some(5), "key model-paths: expected a string, found 3"),
                (
                    Some(6),
                    "key target-path: expected a string, found {\"a\":1}"
                ),
                (
                    Some(9),
                    "key dispatch[0].search_order: required, a list of package names"
                ),
                (
                    Some(10),
                    "key require-dbt-version: \">=1.5\" is not a valid semantic version."
                ),
                (
                    Some(11),
                    "key models: expected a mapping of configs, found 5"
                ),
            ]
        );
        let text = e.to_string();
        assert!(
            text.starts_with("dbt_project.yml: 6 problems\n  dbt_project.yml:2: key profile"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_name_is_one_problem_among_others() {
        let e = read("profile: 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dbt_project.yml: 2 problems\n  dbt_project.yml: key name: required, a string\n  dbt_project.yml:1: key profile: expected a string, found 1"
        );
        let e = read("name: 5\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dbt_project.yml:1: key name: required, a string"
        );
    }

    #[test]
    fn dispatch_and_hooks() {
        let p = read(
            "name: shop\ndispatch:\n- macro_namespace: dbt_utils\n  search_order: [shop, dbt_utils]\non-run-start: \"select 1\"\non_run_end: [a, b]\n",
        )
        .unwrap();
        assert_eq!(p.dispatch["dbt_utils"], ["shop", "dbt_utils"]);
        assert_eq!(p.on_run_start, ["select 1"]);
        assert_eq!(p.on_run_end, ["a", "b"]);
    }

    #[test]
    fn version_ranges() {
        let parse = |y: &str| parse_required_versions(Some(&serde_json::from_str(y).unwrap()));
        assert_eq!(parse("\">=1.0.0, <2.0.0\"").unwrap(), [">=1.0.0", "<2.0.0"]);
        assert_eq!(parse("[\"=1.10.0\"]").unwrap(), ["=1.10.0"]);
        assert!(parse("\">=1.5\"").is_err());
        assert!(parse("\"~=1.5.0\"").is_err());
        assert!(parse("1").is_err());
    }
}
