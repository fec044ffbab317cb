//! dbt's artifacts: `target/compiled/<project>/<path>`, `target/run/...`,
//! `manifest.json` (schema v12 shape) and `run_results.json` (v6 shape),
//! which dbt tooling and Tarmac's shell read
//! (<https://docs.getdbt.com/reference/artifacts/dbt-artifacts>).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::config::ConfigExt;
use crate::error::{Error, Result};
use crate::graph::Dag;
use crate::manifest::Manifest;
use crate::results::{Command, NodeResult, Status};

/// The files a node's result goes to: its compiled SQL under
/// `target/compiled/<package>/`, its run SQL under `target/run/<package>/`
/// (when it ran any), each at the node kind's file.
pub fn sql_files<'r>(
    target: &Path,
    node: &crate::manifest::Node,
    r: &'r NodeResult,
) -> Vec<(std::path::PathBuf, &'r str)> {
    let file = crate::kinds::of(node.resource_type).compiled_file(node);
    let mut out = Vec::new();
    if let Some(sql) = &r.compiled_sql {
        out.push((
            target.join("compiled").join(&node.package_name).join(&file),
            sql.as_str(),
        ));
    }
    if let Some(sql) = r.run_sql.as_ref().filter(|s| !s.is_empty()) {
        out.push((
            target.join("run").join(&node.package_name).join(&file),
            sql.as_str(),
        ));
    }
    out
}

/// Write one SQL file, its folder made first. A file whose content is
/// already right is left alone: reading it back is several times cheaper
/// than rewriting it, and a re-compile of an unchanged project then writes
/// almost nothing.
pub fn write_sql_file(path: &Path, text: &str) -> Result<()> {
    if std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
        return Ok(());
    }
    match std::fs::write(path, text) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
            std::fs::write(path, text).map_err(|e| Error::io(path, e))
        }
        r => r.map_err(|e| Error::io(path, e)),
    }
}

/// Write compiled and run SQL for each result but those whose files are
/// already written (`done`, by unique id), on all cores (see
/// [`write_sql_file`]).
pub fn write_sql(
    m: &Manifest,
    results: &[NodeResult],
    done: &std::collections::HashSet<String>,
) -> Result<()> {
    let target = crate::results::target_dir(m);
    let mut files: Vec<(std::path::PathBuf, &str, &str)> = Vec::new();
    for r in results.iter().filter(|r| !done.contains(&r.unique_id)) {
        let Some(node) = m.nodes.get(&r.unique_id) else {
            continue;
        };
        for (path, sql) in sql_files(&target, node, r) {
            files.push((path, &r.unique_id, sql));
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
    crate::par::map(&files, |(path, text)| write_sql_file(path, text))
        .into_iter()
        .collect()
}

/// The `metadata` block of an artifact of schema `version`.
fn metadata(info: &crate::jinja::RunInfo, version: &str) -> dbt_artifacts::Metadata {
    dbt_artifacts::Metadata {
        dbt_schema_version: format!("https://schemas.getdbt.com/dbt/{version}.json"),
        dbt_version: crate::project::DBT_VERSION.into(),
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        invocation_id: Some(info.invocation_id.clone()),
        env: Map::new(),
        project_name: Some(info.project.name.clone()),
        adapter_type: Some("duckdb".into()),
        generator: Some("tarmac".into()),
    }
}

/// One node of `manifest.json`, as a `Value` (for `graph` and `docs generate`,
/// which edit it); the text path serializes [`NodeJson`] directly.
fn node_json(m: &Manifest, n: &crate::manifest::Node, compiled: &BTreeMap<&str, &str>) -> Value {
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
    test: Option<(&'a crate::manifest::TestMeta, crate::data_tests::TestConfig)>,
}

impl<'a> NodeJson<'a> {
    pub(crate) fn new(
        m: &'a Manifest,
        n: &'a crate::manifest::Node,
        compiled: &'a BTreeMap<&str, &str>,
    ) -> Self {
        NodeJson {
            m,
            n,
            compiled: compiled.get(n.unique_id.as_str()).copied(),
            test: m.tests.get(&n.unique_id).map(|t| {
                // `store_failures` as the run decides it (`--store-failures`)
                let mut c = crate::data_tests::TestConfig::of(&n.config);
                c.store_failures = Some(c.stores(m.info.store_failures));
                (t, c)
            }),
        }
    }
}

/// A node's `config` before it is written: its keys in the order they were
/// settled (own keys first, then defaults).
#[derive(Default)]
struct ConfigEntries(Vec<(String, Value)>);

/// The order of dbt's config fields (its config classes' declaration
/// order, which its JSON keeps): a model's, seed's or snapshot's, and a
/// test's. Keys it does not declare follow, as set.
const NODE_CONFIG_ORDER: &[&str] = &[
    "enabled",
    "alias",
    "schema",
    "database",
    "tags",
    "meta",
    "group",
    "materialized",
    "incremental_strategy",
    "batch_size",
    "lookback",
    "begin",
    "persist_docs",
    "post-hook",
    "pre-hook",
    "quoting",
    "column_types",
    "full_refresh",
    "unique_key",
    "on_schema_change",
    "on_configuration_change",
    "grants",
    "packages",
    "docs",
    "contract",
    "event_time",
    "concurrent_batches",
    "access",
    "freshness",
    "delimiter",
    "quote_columns",
];
const TEST_CONFIG_ORDER: &[&str] = &[
    "enabled",
    "alias",
    "schema",
    "database",
    "tags",
    "meta",
    "group",
    "materialized",
    "severity",
    "store_failures",
    "store_failures_as",
    "where",
    "limit",
    "fail_calc",
    "warn_if",
    "error_if",
];

impl ConfigEntries {
    fn serialize_entry(&mut self, k: &str, v: &(impl serde::Serialize + ?Sized)) {
        let v = serde_json::to_value(v).unwrap_or(Value::Null);
        self.0.push((k.to_string(), v));
    }

    /// Write the entries in dbt's order (`ls --output json` prints them
    /// as they come, and is compared with dbt's line for line).
    fn write<S: serde::Serializer>(
        mut self,
        s: S,
        test: bool,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // a contract set without `alias_types` has dbt's default for it
        for (k, v) in &mut self.0 {
            if let (true, Value::Object(c)) = (k == "contract", v) {
                c.entry("alias_types").or_insert(Value::Bool(true));
            }
        }
        let order = if test {
            TEST_CONFIG_ORDER
        } else {
            NODE_CONFIG_ORDER
        };
        let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(order.len());
        // stable: keys dbt does not declare keep the order they were set in
        self.0.sort_by_key(|(k, _)| rank(k));
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A node's `config`: its own keys (a test's `materialized` is `test`),
/// then the defaults it lacks, written in dbt's order.
struct ConfigJson<'a> {
    n: &'a crate::manifest::Node,
    test: Option<&'a crate::data_tests::TestConfig>,
}

impl serde::Serialize for ConfigJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let cfg = &self.n.config;
        let mut map = ConfigEntries::default();
        for (k, v) in cfg {
            if k == "materialized" && self.test.is_some() {
                map.serialize_entry(k, "test");
            } else {
                map.serialize_entry(k, v);
            }
        }
        if !cfg.contains_key("materialized") {
            match self.test {
                Some(_) => map.serialize_entry("materialized", "test"),
                None => map.serialize_entry("materialized", cfg.materialized()),
            }
        }
        if !cfg.contains_key("enabled") {
            map.serialize_entry("enabled", &true);
        }
        if !cfg.contains_key("tags") {
            map.serialize_entry("tags", &[] as &[&str]);
        }
        // the rest of dbt's defaults: packages read them from `graph`
        // (dbt_project_evaluator reports `config.on_schema_change`, `access`, ...)
        let common = [
            ("alias", Value::Null),
            ("schema", Value::Null),
            ("database", Value::Null),
            ("meta", Value::Object(Map::new())),
            ("group", Value::Null),
        ];
        for (k, d) in common {
            if !cfg.contains_key(k) {
                map.serialize_entry(k, &d);
            }
        }
        if self.test.is_none() {
            use crate::manifest::ResourceType;
            let mut defaults = vec![
                ("incremental_strategy", Value::Null),
                ("batch_size", Value::Null),
                ("lookback", Value::from(1)),
                ("begin", Value::Null),
                ("persist_docs", Value::Object(Map::new())),
                ("quoting", Value::Object(Map::new())),
                ("column_types", Value::Object(Map::new())),
                ("full_refresh", Value::Null),
                ("unique_key", Value::Null),
                ("on_schema_change", Value::from("ignore")),
                ("on_configuration_change", Value::from("apply")),
                ("grants", Value::Object(Map::new())),
                ("packages", Value::Array(vec![])),
                ("docs", json!({"show": true, "node_color": null})),
                ("contract", json!({"enforced": false, "alias_types": true})),
                ("event_time", Value::Null),
                ("concurrent_batches", Value::Null),
            ];
            match self.n.resource_type {
                ResourceType::Model => {
                    defaults.push(("access", Value::from("protected")));
                    defaults.push(("freshness", Value::Null));
                }
                ResourceType::Seed => {
                    defaults.push(("delimiter", Value::from(",")));
                    defaults.push(("quote_columns", Value::Null));
                }
                _ => {}
            }
            for (k, d) in defaults {
                if !cfg.contains_key(k) {
                    map.serialize_entry(k, &d);
                }
            }
            for (k, alt) in [("pre-hook", "pre_hook"), ("post-hook", "post_hook")] {
                if !cfg.contains_key(k) && !cfg.contains_key(alt) {
                    map.serialize_entry(k, &[] as &[&str]);
                }
            }
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
                    map.serialize_entry(k, &d);
                }
            }
        }
        map.write(s, self.test.is_some())
    }
}

/// dbt's `unrendered_config`: the configs the node's project tree,
/// properties and `config()` set, without defaults, hooks under dbt's
/// dashed names. `state:modified.configs` and `.relation` compare it, so
/// a manifest Tarmac writes compares with one dbt wrote. Values are the
/// ones Tarmac rendered (dbt keeps a project file's `{{ ... }}` text).
struct UnrenderedConfig<'a> {
    n: &'a crate::manifest::Node,
    test: bool,
}

impl serde::Serialize for UnrenderedConfig<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use crate::manifest::ResourceType;
        use serde::ser::SerializeMap;
        let cfg = &self.n.config;
        // what Tarmac adds itself and dbt keeps out of `unrendered_config`:
        // a test's materialization and default audit schema, the
        // `store_failures`/`store_failures_as` that the other implies
        // (`finalize_store_failures`), a seed's materialization, model
        // constraints (a model property, not a config)
        let sf = cfg.get("store_failures").and_then(|v| v.as_bool());
        let sfa = cfg.get("store_failures_as").and_then(|v| v.as_str());
        let implied_sfa = matches!(
            (sf, sfa),
            (Some(true), Some("table")) | (Some(false), Some("ephemeral"))
        );
        let skip = |k: &str, v: &Value| match k {
            "materialized" => self.test || v.as_str() == Some("seed"),
            "schema" => self.test && v.as_str() == Some("dbt_test__audit"),
            "store_failures_as" => self.test && implied_sfa,
            "store_failures" => self.test && sfa.is_some() && !implied_sfa,
            "constraints" => self.n.resource_type == ResourceType::Model,
            _ => false,
        };
        let mut map = s.serialize_map(None)?;
        for (k, v) in cfg {
            if skip(k, v) {
                continue;
            }
            match k.as_str() {
                "pre_hook" => map.serialize_entry("pre-hook", v)?,
                "post_hook" => map.serialize_entry("post-hook", v)?,
                _ => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

/// dbt's contract checksum of a model with an enforced contract: sha256 of
/// `|<name><data_type><constraints>` per column in name order, then, for
/// materializations that enforce constraints (table, incremental), the
/// materialization and the model-level constraints; the constraints as
/// Python prints dbt's constraint objects. `state:modified.contract`
/// compares it.
pub(crate) fn contract_checksum(n: &crate::manifest::Node) -> String {
    let mut cols: Vec<&crate::properties::Column> = n.columns.values().collect();
    cols.sort_by(|a, b| a.name.cmp(&b.name));
    let mut text = String::new();
    for c in cols {
        text.push('|');
        text.push_str(&c.name);
        text.push_str(c.data_type.as_deref().unwrap_or("None"));
        text.push_str(&constraints_repr(&c.constraints, false));
    }
    let materialized = n.config.materialized();
    if matches!(materialized, "table" | "incremental") {
        text.push_str(materialized);
        let model_level = n
            .config
            .get("constraints")
            .and_then(|c| c.as_array())
            .cloned()
            .unwrap_or_default();
        text.push_str(&constraints_repr(&model_level, true));
    }
    crate::partial::sha256_hex(text.as_bytes())
}

/// A list of constraints as Python's `str()` prints dbt's
/// `ColumnLevelConstraint`/`ModelLevelConstraint` dataclasses.
fn constraints_repr(list: &[Value], model_level: bool) -> String {
    let py = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "None".to_string(),
        Some(v) => crate::extras::py_repr(&minijinja::Value::from_serialize(v)),
    };
    let py_bool = |v: Option<&Value>| match v.and_then(|v| v.as_bool()) {
        Some(false) => "False",
        _ => "True",
    };
    let py_list = |v: Option<&Value>| match v {
        Some(v @ Value::Array(_)) => crate::extras::py_repr(&minijinja::Value::from_serialize(v)),
        _ => "[]".to_string(),
    };
    let items: Vec<String> = list
        .iter()
        .map(|c| {
            let t = c.get("type").and_then(|t| t.as_str()).unwrap_or_default();
            let mut s = format!(
                "{}(type=<ConstraintType.{t}: '{t}'>, name={}, expression={}, warn_unenforced={}, warn_unsupported={}, to={}, to_columns={}",
                if model_level { "ModelLevelConstraint" } else { "ColumnLevelConstraint" },
                py(c.get("name")),
                py(c.get("expression")),
                py_bool(c.get("warn_unenforced")),
                py_bool(c.get("warn_unsupported")),
                py(c.get("to")),
                py_list(c.get("to_columns")),
            );
            if model_level {
                s.push_str(&format!(", columns={}", py_list(c.get("columns"))));
            }
            s.push(')');
            s
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// The project's and packages' macros as dbt's manifest lists them
/// (`macro.<package>.<name>`, the block's text as `macro_sql`, the macros
/// it calls in `depends_on.macros`), read again from their files so that
/// `macro_sql` is the text as written. `state:modified.macros` compares
/// `macro_sql`; Tarmac's built-in macros are its own and are not listed.
pub(crate) fn macros_json(m: &Manifest) -> Map<String, Value> {
    let mut found: Vec<(String, String, String, String)> = Vec::new();
    let projects = std::iter::once(&m.info.project).chain(m.info.packages.iter());
    for p in projects {
        let dirs = p
            .macro_paths
            .iter()
            .cloned()
            .chain(p.test_paths.iter().map(|t| format!("{t}/generic")));
        for dir in dirs {
            let Ok(files) = crate::manifest::walk(&p.root.join(&dir), &["sql"]) else {
                continue;
            };
            for (abs, rel) in files {
                let Ok(text) = std::fs::read_to_string(&abs) else {
                    continue;
                };
                let path = format!("{dir}/{rel}");
                for (name, sql) in macro_blocks(&text) {
                    found.push((p.name.clone(), name, sql, path.clone()));
                }
            }
        }
    }
    let names: std::collections::HashSet<(&str, &str)> = found
        .iter()
        .map(|(p, n, _, _)| (p.as_str(), n.as_str()))
        .collect();
    let root = m.info.project.name.as_str();
    let call = regex::Regex::new(r"\b(?:([A-Za-z_][A-Za-z0-9_]*)\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\(")
        .expect("static regex");
    let mut out = Map::new();
    for (pkg, name, sql, path) in &found {
        // the macros it calls: `pkg.name(` or a bare name of its own
        // package or the root project (dbt's static macro dependencies)
        let mut deps: Vec<String> = Vec::new();
        for c in call.captures_iter(sql) {
            let callee = &c[2];
            let id = match c.get(1).map(|q| q.as_str()) {
                Some(q) if names.contains(&(q, callee)) => Some(format!("macro.{q}.{callee}")),
                Some(_) => None,
                None if names.contains(&(pkg.as_str(), callee)) => {
                    Some(format!("macro.{pkg}.{callee}"))
                }
                None if names.contains(&(root, callee)) => Some(format!("macro.{root}.{callee}")),
                None => None,
            };
            if let Some(id) = id {
                if id != format!("macro.{pkg}.{name}") && !deps.contains(&id) {
                    deps.push(id);
                }
            }
        }
        let id = format!("macro.{pkg}.{name}");
        out.insert(
            id.clone(),
            json!({
                "name": name, "resource_type": "macro", "package_name": pkg,
                "path": path, "original_file_path": path, "unique_id": id,
                "macro_sql": sql, "depends_on": {"macros": deps},
                "description": "", "meta": {}, "docs": {"show": true, "node_color": null},
                "patch_path": null, "arguments": [], "supported_languages": null,
            }),
        );
    }
    out
}

/// The `{% macro %}`, `{% test %}` and `{% materialization %}` blocks of a
/// macro file: dbt's macro name (`test_<name>`, `materialization_<name>_<adapter>`)
/// and the block's text from its opening `{%` to its closing `%}`.
pub(crate) fn macro_blocks(text: &str) -> Vec<(String, String)> {
    let open = regex::Regex::new(
        r"\{%-?\s*(macro|test|materialization)\s+([A-Za-z_][A-Za-z0-9_]*)([^%]*?)-?%\}",
    )
    .expect("static regex");
    let adapter_arg =
        regex::Regex::new(r"adapter\s*=\s*['\x22]([A-Za-z_0-9]+)['\x22]").expect("static regex");
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(c) = open.captures_at(text, at) {
        let whole = c.get(0).expect("match");
        let kind = &c[1];
        let end = regex::Regex::new(&format!(r"\{{%-?\s*end{kind}\s*-?%\}}")).expect("regex");
        let Some(e) = end.find_at(text, whole.end()) else {
            break;
        };
        let name = match kind {
            "test" => format!("test_{}", &c[2]),
            "materialization" => {
                let adapter = adapter_arg
                    .captures(&c[3])
                    .map(|a| a[1].to_string())
                    .unwrap_or_else(|| "default".into());
                format!("materialization_{}_{adapter}", &c[2])
            }
            _ => c[2].to_string(),
        };
        out.push((name, text[whole.start()..e.end()].to_string()));
        at = e.end();
    }
    out
}

struct RefJson<'a>(&'a (Option<String>, String));

impl serde::Serialize for RefJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(3))?;
        // `m.v1` is `ref('m', v=1)` (see jinja's `ref`)
        let (name, version) = match self.0 .1.split_once(".v") {
            Some((n, v)) => (n, Some(v)),
            None => (self.0 .1.as_str(), None),
        };
        map.serialize_entry("name", name)?;
        map.serialize_entry("package", &self.0 .0)?;
        match version.map(|v| v.parse::<i64>().map_err(|_| v)) {
            Some(Ok(n)) => map.serialize_entry("version", &n)?,
            Some(Err(v)) => map.serialize_entry("version", v)?,
            None => map.serialize_entry("version", &())?,
        }
        map.end()
    }
}

/// `depends_on`: the macros the node calls itself, and the nodes it reads.
struct DependsOn<'a>(&'a [String], &'a [String]);

impl serde::Serialize for DependsOn<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("macros", self.1)?;
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
        let generic =
            test.is_some_and(|(t, _)| matches!(t.kind, crate::manifest::TestKind::Generic { .. }));
        if generic {
            map.serialize_entry("checksum", &Checksum("none", ""))?;
        } else if let Some(path) = n.checksum.strip_prefix("path:") {
            map.serialize_entry("checksum", &Checksum("path", path))?;
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
        // dbt keeps a model file's contents stripped (packages count its lines)
        if n.resource_type == crate::manifest::ResourceType::Model || (test.is_some() && !generic) {
            map.serialize_entry("raw_code", n.raw_code.trim())?;
        } else {
            map.serialize_entry("raw_code", &n.raw_code)?;
        }
        map.serialize_entry("language", "sql")?;
        let refs: Vec<RefJson> = n.refs.iter().map(RefJson).collect();
        map.serialize_entry("refs", &refs)?;
        let sources: Vec<[&str; 2]> = n
            .sources
            .iter()
            .map(|(s, t)| [s.as_str(), t.as_str()])
            .collect();
        map.serialize_entry("sources", &sources)?;
        map.serialize_entry("depends_on", &DependsOn(&n.depends_on, &n.macros))?;
        // dbt's node fields that Tarmac has no feature for yet, as dbt
        // writes them for a node without it, and those read from config
        let cfg_or = |k: &str, d: Value| n.config.get(k).cloned().unwrap_or(d);
        map.serialize_entry("group", &cfg_or("group", Value::Null))?;
        map.serialize_entry(
            "docs",
            &cfg_or("docs", json!({"show": true, "node_color": null})),
        )?;
        map.serialize_entry("metrics", &[] as &[&str])?;
        map.serialize_entry("doc_blocks", &[] as &[&str])?;
        let contract = n.config.get("contract").and_then(|c| c.as_object());
        let flag = |k: &str, d: bool| {
            contract
                .and_then(|c| c.get(k))
                .and_then(|v| v.as_bool())
                .unwrap_or(d)
        };
        let enforced = flag("enforced", false);
        let checksum = (enforced && n.resource_type == crate::manifest::ResourceType::Model)
            .then(|| contract_checksum(n));
        map.serialize_entry(
            "contract",
            &json!({"enforced": enforced, "alias_types": flag("alias_types", true), "checksum": checksum}),
        )?;
        map.serialize_entry(
            "unrendered_config",
            &UnrenderedConfig {
                n,
                test: test.is_some(),
            },
        )?;
        if n.resource_type == crate::manifest::ResourceType::Model {
            map.serialize_entry("access", &cfg_or("access", Value::from("protected")))?;
            map.serialize_entry("constraints", &cfg_or("constraints", Value::Array(vec![])))?;
            let v = n.version.as_ref();
            map.serialize_entry("version", &v.map(|v| &v.v))?;
            map.serialize_entry("latest_version", &v.map(|v| &v.latest))?;
            map.serialize_entry(
                "deprecation_date",
                &v.and_then(|v| v.deprecation_date.as_ref()),
            )?;
            map.serialize_entry("primary_key", &[] as &[&str])?;
            map.serialize_entry("time_spine", &n.time_spine)?;
        }
        if let Some(c) = self.compiled {
            map.serialize_entry("compiled", &true)?;
            map.serialize_entry("compiled_code", c)?;
        }
        if let Some((t, _)) = test {
            map.serialize_entry("column_name", &t.column_name)?;
            map.serialize_entry("attached_node", &t.attached_node)?;
            map.serialize_entry("file_key_name", &t.file_key_name)?;
            if let crate::manifest::TestKind::Generic {
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

/// The macros each project hook calls, by its operation node's id: the
/// hook rendered as at parse time (`execute` false, no warehouse), as dbt
/// records a node's `depends_on.macros`.
pub(crate) fn record_hook_macros(m: &Manifest) -> std::collections::HashMap<String, Vec<String>> {
    let mut out = std::collections::HashMap::new();
    let projects = std::iter::once(&m.info.project).chain(m.info.packages.iter());
    for p in projects {
        for (kind, hooks) in [
            ("on-run-start", &p.on_run_start),
            ("on-run-end", &p.on_run_end),
        ] {
            for (i, raw) in hooks.iter().enumerate() {
                let name = format!("{}-{kind}-{i}", p.name);
                let ((), macros) = crate::macros::recording_macros(|| {
                    let ctx = crate::operation::context(m, None, &name);
                    if let Ok(mut c) = std::sync::Arc::try_unwrap(ctx) {
                        c.execute = false;
                        let ctx = std::sync::Arc::new(c);
                        let _ = m.env.render_str(raw, crate::jinja::node_context(ctx));
                    }
                });
                out.insert(format!("operation.{}.{name}", p.name), macros);
            }
        }
    }
    out
}

/// The `operation` nodes dbt's manifest holds for each project's
/// `on-run-start`/`on-run-end` hooks (`<project>-on-run-end-<i>`), which
/// packages reading `graph.nodes` count like any node.
fn hook_nodes(m: &Manifest) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let projects = std::iter::once(&m.info.project).chain(m.info.packages.iter());
    for p in projects {
        for (kind, hooks) in [
            ("on-run-start", &p.on_run_start),
            ("on-run-end", &p.on_run_end),
        ] {
            for (i, raw) in hooks.iter().enumerate() {
                let name = format!("{}-{kind}-{i}", p.name);
                let id = format!("operation.{}.{name}", p.name);
                let config = json!({
                    "enabled": true, "alias": null, "schema": null, "database": null,
                    "tags": [], "meta": {}, "group": null, "materialized": "ephemeral",
                    "incremental_strategy": null, "batch_size": null, "lookback": 1,
                    "begin": null, "persist_docs": {}, "post-hook": [], "pre-hook": [],
                    "quoting": {}, "column_types": {}, "full_refresh": null,
                    "unique_key": null, "on_schema_change": "ignore",
                    "on_configuration_change": "apply", "grants": {}, "packages": [],
                    "docs": {"show": true, "node_color": null},
                    "contract": {"enforced": false, "alias_types": true},
                    "event_time": null, "concurrent_batches": null,
                });
                let macros = m.hook_macros.get(&id).cloned().unwrap_or_default();
                let v = json!({
                    "database": m.info.target.database, "schema": m.info.target.schema,
                    "name": name, "resource_type": "operation", "package_name": p.name,
                    "path": format!("hooks/{name}.sql"), "original_file_path": "./dbt_project.yml",
                    "unique_id": id, "fqn": [p.name, "hooks", name], "alias": name,
                    "checksum": {"name": "sha256", "checksum": crate::partial::sha256_hex(raw.as_bytes())},
                    "config": config,
                    "tags": [kind], "description": "", "columns": {}, "meta": {}, "group": null,
                    "docs": {"show": true, "node_color": null}, "patch_path": null,
                    "relation_name": null, "raw_code": raw, "doc_blocks": [], "language": "sql",
                    "refs": [], "sources": [], "metrics": [],
                    "depends_on": {"macros": macros, "nodes": []},
                    "contract": {"enforced": false, "alias_types": true, "checksum": null},
                    "index": i + 1,
                });
                out.push((id, v));
            }
        }
    }
    out
}

/// `manifest.json`. `compiled` maps unique ids to compiled SQL, when known.
pub fn manifest_json(m: &Manifest, dag: &Dag, compiled: &BTreeMap<&str, &str>) -> Value {
    let mut v = manifest_json_without_nodes(m, dag);
    let nodes: Vec<&crate::manifest::Node> = m
        .nodes
        .values()
        .filter(|n| {
            !matches!(
                n.resource_type,
                crate::manifest::ResourceType::Unit | crate::manifest::ResourceType::Exposure
            )
        })
        .collect();
    let values = crate::par::map(&nodes, |n| node_json(m, n, compiled));
    let mut nodes: Map<String, Value> = nodes
        .iter()
        .map(|n| n.unique_id.clone())
        .zip(values)
        .collect();
    nodes.extend(hook_nodes(m));
    v["nodes"] = Value::Object(nodes);
    v
}

/// Writes `manifest.json` into the target folder: the same document as
/// [`manifest_json`], with the nodes (most of it) serialized on all cores.
///
/// Streamed, a window of nodes at a time: on a 10,000-model project the
/// file is ~50 MB, and building it as one text held it three times over
/// (the nodes' texts, their join, the document around them), ~150 MB of
/// the parse's peak memory. Written under a temporary name and renamed, so
/// a reader (the docs server, `--state`, a killed run) sees the old file or
/// the new one, never half of one.
pub fn write_manifest(m: &Manifest, dag: &Dag, compiled: &BTreeMap<&str, &str>) -> Result<()> {
    let path = crate::results::target_dir(m).join("manifest.json");
    write_atomically(&path, |w| write_manifest_to(w, m, dag, compiled))
}

/// Nodes serialized per window: enough for both cores to share, small
/// enough that the window's text stays a few MB.
const MANIFEST_WINDOW: usize = 1024;

/// [`write_manifest`]'s document, to any writer.
pub fn write_manifest_to(
    w: &mut dyn std::io::Write,
    m: &Manifest,
    dag: &Dag,
    compiled: &BTreeMap<&str, &str>,
) -> std::io::Result<()> {
    // unit tests have their own section
    let mut nodes: Vec<&crate::manifest::Node> = m
        .nodes
        .values()
        .filter(|n| {
            !matches!(
                n.resource_type,
                crate::manifest::ResourceType::Unit | crate::manifest::ResourceType::Exposure
            )
        })
        .collect();
    nodes.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    let rest = serde_json::to_string(&manifest_json_without_nodes(m, dag))?;
    // an unescaped `"nodes":{}` can only be the top-level key: inside
    // strings every quote is escaped
    const EMPTY: &str = "\"nodes\":{}";
    let at = rest
        .find(EMPTY)
        .ok_or_else(|| std::io::Error::other("manifest.json without a nodes section"))?;
    w.write_all(&rest.as_bytes()[..at])?;
    w.write_all(b"\"nodes\":{")?;
    let mut first = true;
    let mut entry = |w: &mut dyn std::io::Write, text: &[u8]| -> std::io::Result<()> {
        if !std::mem::take(&mut first) {
            w.write_all(b",")?;
        }
        w.write_all(text)
    };
    for window in nodes.chunks(MANIFEST_WINDOW) {
        let texts = crate::par::map(window, |n| -> serde_json::Result<Vec<u8>> {
            let mut t = serde_json::to_vec(&n.unique_id)?;
            t.push(b':');
            serde_json::to_writer(&mut t, &NodeJson::new(m, n, compiled))?;
            Ok(t)
        });
        for t in texts {
            entry(w, &t?)?;
        }
    }
    for (id, v) in hook_nodes(m) {
        let text = format!(
            "{}:{}",
            serde_json::to_string(&id)?,
            serde_json::to_string(&v)?
        );
        entry(w, text.as_bytes())?;
    }
    w.write_all(b"}")?;
    w.write_all(&rest.as_bytes()[at + EMPTY.len()..])
}

/// `manifest.json` as the last parse wrote it, with this invocation's
/// metadata: what a parse that found nothing changed writes (see
/// [`crate::partial::Stamp`]). The document starts with its metadata (the
/// engine writes it first), so the rest is copied as it is.
pub fn restamp_manifest(path: &Path, info: &crate::jinja::RunInfo) -> Result<()> {
    use std::io::{Read, Seek};
    const START: &[u8] = b"{\"metadata\":";
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = Vec::with_capacity(1 << 16);
    (&mut f)
        .take(1 << 16)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, e))?;
    let unexpected = || {
        Error::io(
            path,
            std::io::Error::other("does not start with the metadata the engine writes"),
        )
    };
    let body = head.strip_prefix(START).ok_or_else(unexpected)?;
    let mut values =
        serde_json::Deserializer::from_slice(body).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => {}
        _ => return Err(unexpected()),
    }
    let rest = (START.len() + values.byte_offset()) as u64;
    write_atomically(path, |w| {
        w.write_all(START)?;
        serde_json::to_writer(&mut *w, &metadata(info, "manifest/v12"))?;
        f.seek(std::io::SeekFrom::Start(rest))?;
        std::io::copy(&mut f, w)?;
        Ok(())
    })
}

/// run_results.json of a compile kept as it was (`crate::compile_stamp`),
/// made this run's: its metadata, elapsed time and arguments, and each
/// node's timings now, with no time spent (nothing was compiled again).
/// The statuses and compiled SQL stay.
pub fn restamp_run_results(
    path: &Path,
    info: &crate::jinja::RunInfo,
    elapsed: f64,
    args: Value,
) -> Result<()> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut rr: dbt_artifacts::RunResults =
        serde_json::from_slice(&text).map_err(|e| Error::io(path, std::io::Error::other(e)))?;
    drop(text);
    let now = Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    for r in &mut rr.results {
        for t in &mut r.timing {
            t.started_at.clone_from(&now);
            t.completed_at.clone_from(&now);
        }
        r.execution_time = 0.0;
    }
    rr.metadata = metadata(info, "run-results/v6");
    rr.elapsed_time = elapsed;
    rr.args = args;
    write_atomically(path, |w| {
        serde_json::to_writer(w, &rr).map_err(std::io::Error::from)
    })
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
        // dbt's freshness shape: both thresholds with count and period, and filter
        let threshold = |k: &str| {
            let o = t.freshness.as_ref().and_then(|f| f.get(k));
            json!({
                "count": o.and_then(|x| x.get("count")).cloned().unwrap_or(Value::Null),
                "period": o.and_then(|x| x.get("period")).cloned().unwrap_or(Value::Null),
            })
        };
        let freshness = match &t.freshness {
            // turned off in the YAML (`freshness: null`)
            Some(Value::Null) => Value::Null,
            f => json!({
                "warn_after": threshold("warn_after"),
                "error_after": threshold("error_after"),
                "filter": f.as_ref().and_then(|f| f.get("filter")).cloned().unwrap_or(Value::Null),
            }),
        };
        let mut config = t.config.clone();
        for (k, d) in [
            ("enabled", Value::Bool(true)),
            ("event_time", Value::Null),
            ("freshness", freshness.clone()),
            ("loaded_at_field", json!(t.loaded_at_field)),
            ("loaded_at_query", Value::Null),
            ("meta", json!(t.meta)),
            ("tags", json!(t.tags)),
        ] {
            config.entry(k.to_string()).or_insert(d);
        }
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
                "columns": columns, "tags": t.tags, "meta": t.meta,
                // as dbt: the config without the keys it always fills in
                "unrendered_config": config.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "enabled" | "event_time"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Map<String, Value>>(),
                "config": config,
                // dbt writes null for what the YAML leaves at its default
                "quoting": {
                    "database": (!t.quoting.database).then_some(false),
                    "schema": (!t.quoting.schema).then_some(false),
                    "identifier": (!t.quoting.identifier).then_some(false),
                    "column": null,
                },
                "loaded_at_field": t.loaded_at_field, "loaded_at_query": null,
                "freshness": freshness, "external": null, "source_meta": {},
                "patch_path": null, "doc_blocks": [],
            }),
        );
    }
    let mut parent_map = Map::new();
    let mut child_map = Map::new();
    // unit tests have their own section; exposures are resources below
    let is_unit = |id: &str| {
        m.unit_tests.contains_key(id)
            || m.nodes
                .get(id)
                .is_some_and(|n| n.resource_type == crate::manifest::ResourceType::Exposure)
    };
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
    // exposures, metrics, semantic models and saved queries are in both
    // maps too (groups are not)
    let mut sections: Map<String, Value> = crate::resources::KINDS
        .iter()
        .map(|k| (k.to_string(), Value::Object(Map::new())))
        .collect();
    for r in &m.resources {
        if let Some(Value::Object(sec)) = sections.get_mut(r.kind) {
            sec.insert(r.unique_id.clone(), r.json.clone());
        }
        if r.kind == "groups" {
            continue;
        }
        child_map.entry(r.unique_id.clone()).or_insert(json!([]));
    }
    for r in m.resources.iter().filter(|r| r.kind != "groups") {
        let mut parents: Vec<String> = r.json["depends_on"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        parents.sort();
        for p in &parents {
            if let Some(Value::Array(a)) = child_map.get_mut(p) {
                a.push(Value::from(r.unique_id.clone()));
            }
        }
        parent_map.insert(r.unique_id.clone(), json!(parents));
    }
    for v in child_map.values_mut() {
        if let Value::Array(a) = v {
            a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
        }
    }
    let _ = dag;
    json!({
        "metadata": metadata(&m.info, "manifest/v12"),
        "nodes": nodes,
        "sources": sources,
        "macros": macros_json(m),
        "docs": m.docs,
        "exposures": sections["exposures"],
        "metrics": sections["metrics"],
        "groups": sections["groups"],
        "selectors": {},
        "disabled": {},
        "parent_map": parent_map,
        "child_map": child_map,
        "group_map": {},
        "saved_queries": sections["saved_queries"],
        "semantic_models": sections["semantic_models"],
        "unit_tests": crate::unit_tests::manifest_section(m),
    })
}

/// `run_results.json` (see [`dbt_artifacts::RunResults`]).
pub fn run_results_json(
    m: &Manifest,
    results: &[NodeResult],
    elapsed: f64,
    command: Command,
    args: Value,
) -> dbt_artifacts::RunResults {
    let results: Vec<dbt_artifacts::RunResult> = crate::par::map(results, |r| {
        let status = match (r.status, command) {
            (Status::Success, Command::Run | Command::Build | Command::Seed) => "success",
            (Status::Success, _) => "success",
            (Status::Error, _) => "error",
            (Status::Skipped, _) => "skipped",
            (Status::Pass, _) => "pass",
            (Status::Fail, _) => "fail",
            (Status::Warn, _) => "warn",
            (Status::NoOp, _) => "no-op",
            (Status::PartialSuccess, _) => "partial success",
        };
        let is_test = matches!(r.status, Status::Pass | Status::Fail | Status::Warn)
            || m.nodes
                .get(&r.unique_id)
                .is_some_and(|n| n.resource_type == crate::manifest::ResourceType::Test);
        let ts = |t: &chrono::DateTime<chrono::Utc>| {
            Some(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        };
        let timing = |name: &str, from, to| dbt_artifacts::Timing {
            name: name.into(),
            started_at: ts(from),
            completed_at: ts(to),
        };
        dbt_artifacts::RunResult {
            unique_id: r.unique_id.clone(),
            status: status.into(),
            timing: vec![
                timing("compile", &r.started_at, &r.compiled_at),
                timing("execute", &r.compiled_at, &r.completed_at),
            ],
            thread_id: "Thread-1".into(),
            execution_time: r.execution_time,
            // a compile's results say nothing but their status, as dbt's
            message: (!(is_test && r.message.is_empty()) && command != Command::Compile)
                .then(|| r.message.clone()),
            failures: r.failures,
            adapter_response: if command == Command::Compile {
                json!({})
            } else if is_test && r.status != Status::Skipped && r.status != Status::Error {
                json!({"_message": "OK"})
            } else if r.status == Status::Success && r.batch_results.is_none() {
                json!({"_message": r.message, "code": r.message.split(' ').next().unwrap_or("OK"), "rows_affected": r.rows_affected})
            } else {
                json!({})
            },
            compiled: Some(r.compiled_sql.is_some()),
            compiled_code: r.compiled_sql.clone(),
            relation_name: m
                .nodes
                .get(&r.unique_id)
                .filter(|n| !n.is_ephemeral())
                .map(|n| n.relation().render()),
            batch_results: r.batch_results.as_ref().map(|b| b.to_json()),
        }
    });
    dbt_artifacts::RunResults {
        metadata: metadata(&m.info, "run-results/v6"),
        results,
        elapsed_time: elapsed,
        args,
    }
}

/// Writes an artifact (run_results.json, sources.json, ...) compact, as dbt
/// writes them, atomically ([`write_atomically`]).
pub fn write_json(m: &Manifest, name: &str, v: &impl serde::Serialize) -> Result<()> {
    let path = crate::results::target_dir(m).join(name);
    write_atomically(&path, |w| {
        serde_json::to_writer(w, v).map_err(std::io::Error::from)
    })
}

/// Writes `path` through a buffer under a temporary name in the same
/// folder, then renames it into place: readers of an artifact see the old
/// file or the new one, never a half-written one. The folder is made if
/// missing. No fsync: an artifact is rewritten by the next run, and a
/// crash may lose it but never leaves it torn.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("artifact");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        write(&mut w)?;
        w.flush()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}
