//! Data tests as dbt runs them (<https://docs.getdbt.com/docs/build/data-tests>):
//! generic tests declared under `data_tests:`/`tests:` of models, seeds,
//! sources and columns (`not_null`, `unique`, `accepted_values`,
//! `relationships`, and custom ones written as `{% test name(model, ...) %}`
//! in macro paths or `tests/generic/`), and singular tests (SQL files in
//! test paths).
//!
//! Why this shape: a test is an ordinary node of the manifest (resource type
//! `test`) so selection, the DAG, threads and artifacts treat it like any
//! other; what only tests have (the generic test's name and arguments, the
//! column, the node it is attached to) lives in [`TestMeta`], kept beside the
//! nodes. Names and unique ids are computed exactly as dbt-core 1.10 does
//! (`synthesize_generic_test_names`, the md5 of the test metadata's Python
//! `repr`), so `--select not_null_orders_order_id` and tools reading
//! `manifest.json` see the same ids as with dbt.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use indexmap::IndexMap;
use md5::Digest as _;
use serde_json::{json, Map, Value};

use crate::config::{self, Config, ConfigExt};
use crate::error::{Error, Result};
use crate::graph::Dag;
use crate::jinja::{self, NodeCtx, Resolver};
use crate::manifest::{Manifest, Node, ResourceType, Source, TestKind, TestMeta};
use crate::project::Project;
use crate::properties::{Column, Properties};
use crate::relation::Relation;
use crate::results::{Command, NodeResult, RunOptions, Status};
use dbt_jinja::database::Database;

/// The generic tests every project has (`unique`, `not_null`,
/// `accepted_values`, `relationships`) and the helpers generic tests call
/// (`get_where_subquery`, `should_store_failures`), written as Jinja macros
/// because their names are an interface: a project or package replaces one
/// by defining a macro of the same name, an implementation by defining
/// `default__test_<name>`. Loaded before the project's macros for that
/// reason. Their output is dbt's compiled test SQL, byte for byte.
const BUILTIN: &str = include_str!("data_tests/builtin.sql");

mod native;

/// The config keys a generic test takes at the top of its arguments
/// (dbt's `TestBuilder.CONFIG_ARGS`).
const CONFIG_ARGS: &[&str] = &[
    "severity",
    "tags",
    "enabled",
    "where",
    "limit",
    "warn_if",
    "error_if",
    "fail_calc",
    "store_failures",
    "store_failures_as",
    "meta",
    "database",
    "schema",
    "alias",
];

// ---------------------------------------------------------------------------
// macros

/// Turn `{% test name(args) %}…{% endtest %}` into `{% macro test_name(args) %}…{% endmacro %}`,
/// as dbt registers generic tests (a macro named `test_<name>`).
pub fn rewrite_test_blocks(text: &str) -> String {
    crate::blocks::blocks_to_macros(text, "test", |t| {
        t.rest
            .starts_with(char::is_whitespace)
            .then(|| format!("test_{}", t.rest.trim_start()))
    })
    .into_owned()
}

/// The macro files of a run: the built-in generic tests first (so the
/// project's own definitions replace them), then the project's macro files, then generic
/// tests from `<test-path>/generic/`, all with `{% test %}` blocks rewritten.
pub fn macro_sources(
    projects: &[&Project],
    macro_files: Vec<crate::macros::MacroFile>,
) -> Result<Vec<crate::macros::MacroFile>> {
    let mut out = vec![crate::macros::MacroFile {
        package: crate::macros::INTERNAL.to_string(),
        path: "<built-in generic tests>".to_string(),
        text: BUILTIN.to_string(),
    }];
    for f in macro_files {
        out.push(crate::macros::MacroFile {
            text: crate::materialization::rewrite_blocks(&rewrite_test_blocks(&f.text)),
            ..f
        });
    }
    for project in projects {
        for tp in &project.test_paths {
            let dir = project.root.join(tp).join("generic");
            for (abs, rel) in crate::manifest::walk(&dir, &["sql"])? {
                let text = std::fs::read_to_string(&abs).map_err(|e| Error::io(&abs, e))?;
                out.push(crate::macros::MacroFile {
                    package: project.name.clone(),
                    path: format!("{tp}/generic/{rel}"),
                    text: rewrite_test_blocks(&text),
                });
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// names and ids, as dbt-core computes them

/// Python's `str()` of a YAML value.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a YAML value (dicts keep key order as given).
fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if n.is_f64() {
                let f = n.as_f64().unwrap_or_default();
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
                    format!("{f:.1}")
                } else {
                    format!("{f}")
                }
            } else {
                n.to_string()
            }
        }
        Value::String(s) => py_repr_str(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_repr_str(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `repr()` of a string: single quotes unless it holds one and no
/// double quote.
fn py_repr_str(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// dbt's `get_hashable_md`: dicts with sorted keys, lists, leaves as `str()`.
fn hashable(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            let mut out = Map::new();
            for (k, v) in sorted {
                out.insert(k.clone(), hashable(v));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(hashable).collect()),
        other => Value::String(py_str(other)),
    }
}

fn md5_hex(s: &str) -> String {
    hex::encode(md5::Md5::digest(s.as_bytes()))
}

/// dbt's `synthesize_generic_test_names`: (short name for files and the
/// alias, full name for the unique id and fqn).
pub fn synthesize_names(
    test_type: &str,
    target_name: &str,
    args: &Map<String, Value>,
) -> (String, String) {
    let mut keys: Vec<&String> = args.keys().collect();
    keys.sort();
    let mut flat = Vec::new();
    for k in keys {
        if k == "model" {
            continue;
        }
        match &args[k] {
            Value::Object(m) => flat.extend(m.values().map(py_str)),
            Value::Array(a) => flat.extend(a.iter().map(py_str)),
            other => flat.push(py_str(other)),
        }
    }
    let clean: Vec<String> = flat.iter().map(|a| clean_arg(a)).collect();
    let unique = clean.join("__");
    let ident = format!("{test_type}_{target_name}");
    let full = format!("{ident}_{unique}");
    if full.chars().count() >= 64 {
        let trunc: String = ident.chars().take(30).collect();
        (format!("{trunc}_{}", md5_hex(&full)), full)
    } else {
        (full.clone(), full)
    }
}

/// `re.sub("[^0-9a-zA-Z_]+", "_", arg)`.
fn clean_arg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_run = false;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// The 10-character suffix of a generic test's unique id.
pub fn test_hash(
    full_name: &str,
    name: &str,
    namespace: Option<&str>,
    kwargs: &Map<String, Value>,
) -> String {
    let md = json!({
        "name": name,
        "namespace": namespace.map(Value::from).unwrap_or(Value::Null),
        "kwargs": Value::Object(kwargs.clone()),
    });
    let h = md5_hex(&format!("{full_name}{}", py_repr(&hashable(&md))));
    h[h.len() - 10..].to_string()
}

// ---------------------------------------------------------------------------
// parsing YAML test entries

/// One test entry of a properties file, split as dbt's `TestBuilder` does.
#[derive(Debug)]
struct Entry {
    name: String,
    namespace: Option<String>,
    args: Map<String, Value>,
    config: Config,
    description: String,
    custom_name: Option<String>,
}

fn parse_entry(entry: &Value, column: Option<&str>) -> std::result::Result<Entry, String> {
    let (test_name, mut args) = match entry {
        Value::String(s) => (s.clone(), Map::new()),
        Value::Object(m) if m.contains_key("test_name") => {
            let mut a = m.clone();
            let n = match a.remove("test_name") {
                Some(Value::String(s)) => s,
                other => {
                    return Err(format!(
                        "test_name must be a string, found {}",
                        other.unwrap_or(Value::Null)
                    ))
                }
            };
            (n, a)
        }
        Value::Object(m) if m.len() == 1 => {
            let (k, v) = m
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v.clone()))
                .unwrap_or_default();
            match v {
                Value::Object(a) => (k, a),
                Value::Null => (k, Map::new()),
                other => {
                    return Err(format!(
                        "the arguments of test {k} must be a mapping, found {other}"
                    ))
                }
            }
        }
        Value::Object(m) => {
            return Err(format!(
                "a test given as a mapping must have exactly one key (the test's name), found {}",
                m.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
        other => return Err(format!("a test must be a name or a mapping, found {other}")),
    };
    if let Some(c) = column {
        args.insert("column_name".into(), Value::from(c));
    }
    // dbt 1.10: arguments may be nested under `arguments:`
    if let Some(a) = args.remove("arguments") {
        match a {
            Value::Object(m) => args.extend(m),
            Value::Null => {}
            other => return Err(format!("key arguments: expected a mapping, found {other}")),
        }
    }
    if args.contains_key("model") {
        return Err("a test may not have an argument named model".into());
    }
    let (namespace, name) = match test_name.split_once('.') {
        Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
        None => (None, test_name.clone()),
    };
    let ident_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !ident_ok(&name) || namespace.as_deref().is_some_and(|n| !ident_ok(n)) {
        return Err(format!("{test_name:?} is not a valid test name"));
    }
    let mut nested = match args.remove("config") {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => Map::new(),
        Some(other) => return Err(format!("key config: expected a mapping, found {other}")),
    };
    let mut config = Config::new();
    for k in CONFIG_ARGS {
        let top = args.remove(*k);
        if top.as_ref().is_some_and(|v| !v.is_null()) && nested.contains_key(*k) {
            return Err(format!(
                "{k} is given both at the top of the test and under config"
            ));
        }
        if let Some(v) = top.or_else(|| nested.remove(*k)) {
            if !v.is_null() {
                config.insert((*k).to_string(), v);
            }
        }
    }
    for (k, v) in nested {
        config.insert(config::normalize_key(&k), v);
    }
    let description = match args.remove("description") {
        Some(Value::String(s)) => s,
        _ => String::new(),
    };
    let custom_name = match args.remove("name") {
        Some(Value::String(s)) => Some(s),
        None | Some(Value::Null) => None,
        Some(other) => return Err(format!("key name: expected a string, found {other}")),
    };
    for k in args.keys() {
        if !ident_ok(k) {
            return Err(format!("argument {k:?} is not a valid name"));
        }
    }
    Ok(Entry {
        name,
        namespace,
        args,
        config,
        description,
        custom_name,
    })
}

/// What a generic test is declared on.
struct Testable<'a> {
    /// Name used in the test's name: the node's, or `<source>_<table>`.
    target_name: String,
    /// `ref('x')` or `source('s', 't')`, as dbt writes the `model` argument.
    model_str: String,
    is_source: bool,
    yml: &'a str,
    key: String,
    attached: Option<String>,
    file_key_name: String,
    /// Where the YAML entry sits, for error messages (`models.orders`).
    tests: &'a [Value],
    columns: &'a IndexMap<String, Column>,
}

/// Everything discovery needs from the manifest being built.
pub struct DiscoverCtx<'a> {
    pub project: &'a Project,
    /// The properties-file Jinja context (dbt's `properties.yml` context:
    /// `target`, `var`, `env_var`, `modules`...) that test configs render with.
    pub props_env: &'a crate::project::FileEnv,
    pub target_db: &'a str,
    pub target_schema: &'a str,
    pub macro_names: &'a [String],
    pub parse_resolver: Arc<dyn Resolver>,
    pub full_refresh: bool,
}

/// Find every data test of the project; add them to `nodes` and return
/// their metadata. Parse errors are collected in `errors` (all at once, as
/// for models).
pub fn discover(
    cx: &DiscoverCtx<'_>,
    env: &mut minijinja::Environment<'static>,
    props: &Properties,
    nodes: &mut IndexMap<String, Node>,
    sources: &IndexMap<String, Source>,
    errors: &mut Vec<String>,
) -> Result<IndexMap<String, TestMeta>> {
    let project = cx.project;
    let mut metas = IndexMap::new();
    let mut targets: Vec<Testable<'_>> = Vec::new();
    let kinds = [
        ("models", ResourceType::Model, &props.models),
        ("seeds", ResourceType::Seed, &props.seeds),
        ("snapshots", ResourceType::Snapshot, &props.snapshots),
    ];
    for (key, rt, map) in kinds {
        for (name, p) in map.iter() {
            let id = format!("{}.{}.{name}", rt.as_str(), project.name);
            if !nodes.contains_key(&id) {
                continue;
            }
            targets.push(Testable {
                target_name: name.clone(),
                model_str: format!("ref('{name}')"),
                is_source: false,
                yml: &p.file,
                key: format!("{key}.{name}"),
                attached: Some(id),
                file_key_name: format!("{key}.{name}"),
                tests: &p.tests,
                columns: &p.columns,
            });
        }
    }
    for s in sources.values() {
        let t = &s.table;
        targets.push(Testable {
            target_name: format!("{}_{}", t.source_name, t.name),
            model_str: format!("source('{}', '{}')", t.source_name, t.name),
            is_source: true,
            yml: &t.file,
            key: format!("sources.{}.tables.{}", t.source_name, t.name),
            attached: None,
            file_key_name: format!("sources.{}", t.source_name),
            tests: &t.tests,
            columns: &t.columns,
        });
    }
    let callees = Callees::default();
    for t in &targets {
        let mut entries: Vec<(Option<&Column>, &Value, String)> = t
            .tests
            .iter()
            .enumerate()
            .map(|(i, v)| (None, v, format!("{}.data_tests[{i}]", t.key)))
            .collect();
        for c in t.columns.values() {
            for (i, v) in c.tests.iter().enumerate() {
                entries.push((
                    Some(c),
                    v,
                    format!("{}.columns.{}.data_tests[{i}]", t.key, c.name),
                ));
            }
        }
        for (col, entry, key) in entries {
            match generic_node(cx, t, col, entry, &key, env, &callees) {
                Ok(Some((node, meta))) => {
                    if let Some(prev) = nodes.get(&node.unique_id) {
                        errors.push(format!(
                            "{}: key {key}: two tests have the id {} (also in {}); give one a `name:`",
                            t.yml, node.unique_id, prev.original_file_path
                        ));
                        continue;
                    }
                    metas.insert(node.unique_id.clone(), meta);
                    nodes.insert(node.unique_id.clone(), node);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    // singular tests
    for tp in &project.test_paths {
        let dir = project.root.join(tp);
        for (abs, rel) in crate::manifest::walk(&dir, &["sql"])? {
            // `generic/` holds generic tests and `fixtures/` unit tests'
            // fixtures (SQL ones included): neither is a singular test
            if rel.starts_with("generic/") || rel.starts_with("fixtures/") {
                continue;
            }
            match singular_node(cx, tp, &abs, &rel, env) {
                Ok(Some(node)) => {
                    if let Some(prev) = nodes.get(&node.unique_id) {
                        errors.push(format!(
                            "two tests are named {}: {} and {}",
                            node.name, prev.original_file_path, node.original_file_path
                        ));
                        continue;
                    }
                    metas.insert(
                        node.unique_id.clone(),
                        TestMeta {
                            kind: TestKind::Singular,
                            column_name: None,
                            attached_node: None,
                            file_key_name: None,
                            yaml_key: None,
                            target: None,
                            yaml_config: Config::new(),
                        },
                    );
                    nodes.insert(node.unique_id.clone(), node);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    Ok(metas)
}

fn folders_of(path: &str) -> Vec<String> {
    // the properties file's folders below its model/seed path
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() <= 2 {
        return vec![];
    }
    parts[1..parts.len() - 1]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn parse_ctx(cx: &DiscoverCtx<'_>, node: &Node) -> Arc<NodeCtx> {
    crate::compile::parse_ctx(node, cx.parse_resolver.clone(), cx.full_refresh, false)
}

/// `{{ config(severity="warn",...) }}` as dbt appends it to a generic test's raw code.
fn construct_config(cfg: &Config) -> String {
    let parts: Vec<String> = cfg
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}=\"{}\"", s.replace('"', "\\\"")),
            other => format!("{k}={}", py_repr(other)),
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{{ config({}) }}}}", parts.join(","))
    }
}

/// Render a test's config values as dbt renders a properties file's: with
/// the properties-file context, and natively (`enabled: "{{ target.type !=
/// 'x' }}"` is a boolean).
fn render_config_strings(
    env: &crate::project::FileEnv,
    cfg: &mut Config,
) -> std::result::Result<(), String> {
    let mut v = Value::Object(std::mem::take(cfg));
    let r = env.render_tree(&mut v, &mut vec!["config".to_string()], &|_| false);
    if let Value::Object(m) = v {
        *cfg = m;
    }
    r
}

/// The macro each generic test name calls, looked up once per name and
/// namespace: the lookup scans the environment's globals, and 10,000 tests
/// call a handful of test macros.
#[derive(Default)]
struct Callees(std::cell::RefCell<HashMap<TestName, Option<String>>>);

/// A generic test's name and namespace (`dbt_utils`, or none).
type TestName = (String, Option<String>);

impl Callees {
    fn path(
        &self,
        env: &minijinja::Environment<'static>,
        name: &str,
        namespace: Option<&str>,
    ) -> Option<String> {
        let key = (name.to_string(), namespace.map(String::from));
        if let Some(found) = self.0.borrow().get(&key) {
            return found.clone();
        }
        let found = crate::macros::test_macro_path(env, name, namespace);
        self.0.borrow_mut().insert(key, found.clone());
        found
    }
}

fn generic_node(
    cx: &DiscoverCtx<'_>,
    t: &Testable<'_>,
    col: Option<&Column>,
    entry: &Value,
    key: &str,
    env: &minijinja::Environment<'static>,
    callees: &Callees,
) -> std::result::Result<Option<(Node, TestMeta)>, String> {
    let project = cx.project;
    let bad = |m: String| format!("{}: key {key}: {m}", t.yml);
    let mut e = parse_entry(entry, col.map(|c| c.name.as_str())).map_err(bad)?;
    render_config_strings(cx.props_env, &mut e.config).map_err(bad)?;
    let macro_name = format!("test_{}", e.name);
    let callee = callees.path(env, &e.name, e.namespace.as_deref());
    if callee.is_none() {
        if let Some(ns) = &e.namespace {
            return Err(bad(format!(
                "there is no generic test named {:?} in package {ns:?} (is the package installed? run \"tarmac deps\")",
                e.name
            )));
        }
        return Err(bad(format!(
            "there is no generic test named {:?} (define it with {{% test {}(model, column_name) %}} in a macro path or in tests/generic/)",
            e.name, e.name
        )));
    }
    e.args.insert(
        "model".into(),
        Value::from(format!("{{{{ get_where_subquery({}) }}}}", t.model_str)),
    );
    let mut type_name = if t.is_source {
        format!("source_{}", e.name)
    } else {
        e.name.clone()
    };
    if let Some(ns) = &e.namespace {
        type_name = format!("{ns}_{type_name}");
    }
    let (short, full) = match &e.custom_name {
        Some(n) => (n.clone(), n.clone()),
        None => synthesize_names(&type_name, &t.target_name, &e.args),
    };
    if short != full && !e.config.contains_key("alias") {
        e.config.insert("alias".into(), Value::from(short.clone()));
    }
    let hash = test_hash(&full, &e.name, e.namespace.as_deref(), &e.args);
    let unique_id = format!("test.{}.{full}.{hash}", project.name);
    let folders = folders_of(t.yml);
    let mut fqn = vec![project.name.clone()];
    fqn.extend(folders.iter().cloned());
    fqn.push(full.clone());
    // tags: the column's and the test's own (sorted), then the project's
    let mut own_tags: BTreeSet<String> = col
        .map(|c| c.tags.iter().cloned().collect())
        .unwrap_or_default();
    own_tags.extend(e.config.tags());
    let mut cfg = project.tree_config(|p| &p.tests_config, &folders, &full);
    let tree_tags = cfg.tags();
    // dbt's raw code names the test macro with its namespace, if given
    let raw_code = format!(
        "{{{{ {}(**_dbt_generic_test_kwargs) }}}}{}",
        match &e.namespace {
            Some(ns) => format!("{ns}.{macro_name}"),
            None => macro_name.clone(),
        },
        construct_config(&e.config)
    );
    config::merge(&mut cfg, &e.config);
    let mut tags: Vec<String> = own_tags.into_iter().collect();
    for tg in tree_tags {
        if !tags.contains(&tg) {
            tags.push(tg);
        }
    }
    cfg.insert("tags".into(), json!(tags));
    finalize_store_failures(&mut cfg);
    if !cfg.enabled() {
        return Ok(None);
    }
    cfg.entry("schema")
        .or_insert(Value::from("dbt_test__audit"));
    cfg.insert("materialized".into(), Value::from("test"));
    let mut node = Node {
        original_file_path: t.yml.to_string(),
        path: format!("{short}.sql"),
        fqn,
        raw_code,
        config: cfg,
        description: e.description.clone(),
        alias: short.clone(),
        ..Node::in_project(
            unique_id.clone(),
            ResourceType::Test,
            full.clone(),
            project,
            (cx.target_db, cx.target_schema),
        )
    };
    // the node under test, then anything the arguments ref()/source()
    if t.is_source {
        if let Some((s, tb)) = t
            .model_str
            .strip_prefix("source('")
            .and_then(|r| r.strip_suffix("')"))
            .and_then(|r| r.split_once("', '"))
        {
            node.sources.push((s.to_string(), tb.to_string()));
        }
    } else {
        node.refs.push((None, t.target_name.clone()));
    }
    let needs_render = e.args.iter().any(|(k, v)| {
        k != "model"
            && k != "column_name"
            && v.as_str()
                .is_some_and(|s| s.contains("ref(") || s.contains("source("))
    });
    if needs_render {
        let ctx = parse_ctx(cx, &node);
        for (k, v) in &e.args {
            let Some(s) = v.as_str() else { continue };
            if k == "model" || k == "column_name" || !(s.contains("ref(") || s.contains("source("))
            {
                continue;
            }
            let src = if looks_like_func(s) {
                format!("{{{{ {s} }}}}")
            } else {
                s.to_string()
            };
            env.render_str(&src, jinja::node_context(ctx.clone()))
                .map_err(|err| bad(format!("argument {k}: {}", jinja_message(&err))))?;
        }
        for r in ctx.refs.lock().map(|r| r.clone()).unwrap_or_default() {
            if !node.refs.contains(&r) {
                node.refs.push(r);
            }
        }
        for s in ctx.sources.lock().map(|r| r.clone()).unwrap_or_default() {
            if !node.sources.contains(&s) {
                node.sources.push(s);
            }
        }
    }
    let column_name = match e.args.get("column_name") {
        Some(Value::String(s)) if col.is_some() => Some(s.clone()),
        _ => None,
    };
    let meta = TestMeta {
        kind: TestKind::Generic {
            name: e.name,
            namespace: e.namespace,
            kwargs: e.args,
        },
        column_name,
        attached_node: t.attached.clone(),
        file_key_name: Some(t.file_key_name.clone()),
        yaml_key: Some(key.to_string()),
        target: Some(if t.is_source {
            format!(
                "source {}",
                t.model_str
                    .trim_start_matches("source('")
                    .trim_end_matches("')")
                    .replace("', '", ".")
            )
        } else {
            t.target_name.clone()
        }),
        yaml_config: e.config,
    };
    Ok(Some((node, meta)))
}

fn jinja_message(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.to_string(),
    }
}

/// dbt renders a test argument as an expression when it reads like
/// `ref(...)`, `source(...)`, `var(...)`, `env_var(...)` or `doc(...)`.
fn looks_like_func(s: &str) -> bool {
    let t = s.trim();
    ["env_var", "ref", "var", "source", "doc"].iter().any(|f| {
        t.strip_prefix(f)
            .map(|r| r.trim_start())
            .is_some_and(|r| r.starts_with('(') && r.ends_with(')') && r.len() > 2)
    })
}

fn singular_node(
    cx: &DiscoverCtx<'_>,
    tp: &str,
    abs: &Path,
    rel: &str,
    env: &mut minijinja::Environment<'static>,
) -> std::result::Result<Option<Node>, String> {
    let project = cx.project;
    let raw = std::fs::read_to_string(abs).map_err(|e| format!("{}: {e}", abs.display()))?;
    let name = Path::new(rel)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let ofp = format!("{tp}/{rel}");
    let parts: Vec<String> = rel.split('/').map(String::from).collect();
    let folders = &parts[..parts.len().saturating_sub(1)];
    let mut cfg = project.tree_config(|p| &p.tests_config, folders, &name);
    let unique_id = format!("test.{}.{name}", project.name);
    env.add_template_owned(ofp.clone(), raw.clone())
        .map_err(|e| crate::Error::jinja(&unique_id, &ofp, &e).to_string())?;
    let mut fqn = vec![project.name.clone()];
    fqn.extend(folders.iter().cloned());
    fqn.push(name.clone());
    cfg.entry("schema")
        .or_insert(Value::from("dbt_test__audit"));
    cfg.insert("materialized".into(), Value::from("test"));
    let mut node = Node {
        original_file_path: ofp.clone(),
        path: rel.to_string(),
        fqn,
        // dbt checksums a file's stripped contents
        checksum: crate::partial::sha256_hex(raw.trim().as_bytes()),
        raw_code: raw,
        config: cfg,
        ..Node::in_project(
            unique_id.clone(),
            ResourceType::Test,
            name.clone(),
            project,
            (cx.target_db, cx.target_schema),
        )
    };
    let ctx = parse_ctx(cx, &node);
    crate::builtins::parsing(|| jinja::render(env, &ofp, ctx.clone()))
        .map_err(|e| crate::Error::jinja(&unique_id, &ofp, &e).to_string())?;
    if let Ok(fc) = ctx.file_config.lock() {
        let mut fc = fc.clone();
        let _ = render_config_strings(cx.props_env, &mut fc);
        config::merge(&mut node.config, &fc);
    }
    node.refs = ctx.refs.lock().map(|r| r.clone()).unwrap_or_default();
    node.sources = ctx.sources.lock().map(|r| r.clone()).unwrap_or_default();
    finalize_store_failures(&mut node.config);
    if !node.config.enabled() {
        return Ok(None);
    }
    Ok(Some(node))
}

// ---------------------------------------------------------------------------
// running

/// A test's config as the test materialization reads it, with dbt's defaults.
pub struct TestConfig {
    pub severity: String,
    pub fail_calc: String,
    pub warn_if: String,
    pub error_if: String,
    pub limit: Option<i64>,
    /// `store_failures` after [`finalize_store_failures`]; None defers to
    /// `--store-failures`.
    pub store_failures: Option<bool>,
    /// `table`, `view`, `ephemeral` (or anything a user wrote: the test
    /// materialization rejects it, as dbt's does).
    pub store_failures_as: Option<String>,
}

impl TestConfig {
    pub fn of(cfg: &Config) -> TestConfig {
        let s = |k: &str, d: &str| match cfg.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => d.to_string(),
            Some(other) => other.to_string(),
        };
        TestConfig {
            severity: s("severity", "ERROR"),
            fail_calc: s("fail_calc", "count(*)"),
            warn_if: s("warn_if", "!= 0"),
            error_if: s("error_if", "!= 0"),
            limit: match cfg.get("limit") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            },
            store_failures: bool_of(cfg.get("store_failures")),
            store_failures_as: match cfg.get("store_failures_as") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.to_string()),
            },
        }
    }

    /// dbt's `should_store_failures()`: the config, else `--store-failures`.
    pub fn stores(&self, flag: bool) -> bool {
        self.store_failures.unwrap_or(flag)
    }

    /// What the failures are stored as when they are: the config, else a table.
    pub fn stored_as(&self) -> &str {
        self.store_failures_as.as_deref().unwrap_or("table")
    }
}

fn bool_of(v: Option<&Value>) -> Option<bool> {
    match v {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Some(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Some(false),
        Some(Value::Number(n)) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        _ => None,
    }
}

/// dbt 1.7's `TestConfig.finalize_and_validate`: `store_failures_as`, when
/// set, decides `store_failures` (`ephemeral` turns it off, `table`/`view`
/// and anything unknown turn it on, so that the materialization reports the
/// bad value); otherwise `store_failures` sets it (`true` is a table). So a
/// project-wide `+store_failures_as: view` is turned off for one test only
/// with `store_failures_as: ephemeral`, as in dbt.
pub fn finalize_store_failures(cfg: &mut Config) {
    let sf = bool_of(cfg.get("store_failures"));
    match cfg.get("store_failures_as") {
        Some(Value::Null) | None => {
            let v = match sf {
                Some(true) => Value::from("table"),
                Some(false) => Value::from("ephemeral"),
                None => Value::Null,
            };
            if !v.is_null() {
                cfg.insert("store_failures_as".into(), v);
            }
        }
        Some(v) => {
            let on = v.as_str() != Some("ephemeral");
            cfg.insert("store_failures".into(), Value::Bool(on));
        }
    }
}

/// dbt's `get_test_sql`: one row of failures, should_warn, should_error.
pub fn test_sql(main_sql: &str, c: &TestConfig, limit: Option<i64>) -> String {
    let limit = limit.map(|l| format!("limit {l}")).unwrap_or_default();
    format!(
        "\n    \n    select\n      {fc} as failures,\n      {fc} {w} as should_warn,\n      {fc} {e} as should_error\n    from (\n      {main_sql}\n      {limit}\n    ) dbt_internal_test",
        fc = c.fail_calc,
        w = c.warn_if,
        e = c.error_if
    )
}

/// The test materialization's `sql_with_limit` as dbt renders it
/// (`get_limit_subquery_sql` in a `{% set %}` block), whitespace included.
fn with_limit(sql: &str, limit: Option<i64>) -> String {
    match limit {
        Some(l) => format!("\n    \n  {sql}\n  \n  limit {l}\n  "),
        None => format!("\n    \n  {sql}\n  \n  "),
    }
}

/// Render a test's SQL (what `target/compiled` holds).
pub fn compile_test(
    m: &Manifest,
    node: &Node,
    resolver: &Arc<dyn Resolver>,
    db: Option<Arc<dyn Database>>,
) -> Result<String> {
    compile_test_configured(m, node, resolver, db).map(|(sql, _)| sql)
}

/// [`compile_test`], and the config the generic test's definition sets
/// with `config()` while it renders (dbt_utils' `equal_rowcount` sets its
/// `fail_calc` so), which [`effective_config`] layers under the YAML's.
fn compile_test_configured(
    m: &Manifest,
    node: &Node,
    resolver: &Arc<dyn Resolver>,
    db: Option<Arc<dyn Database>>,
) -> Result<(String, Config)> {
    let meta = m.tests.get(&node.unique_id);
    match meta.map(|t| &t.kind) {
        Some(TestKind::Generic {
            name,
            namespace,
            kwargs,
        }) => {
            if let Some((sql, eph)) =
                native::compile(m, node, name, namespace.as_deref(), kwargs, resolver)
            {
                if eph.is_empty() {
                    return Ok((sql, Config::new()));
                }
                let ctes = crate::compile::ephemeral_ctes(m, &eph, resolver, &db)?;
                return Ok((crate::compile::inject_ctes(&sql, &ctes), Config::new()));
            }
            let ctx = crate::compile::node_ctx(
                node,
                resolver.clone(),
                db.clone(),
                false,
                m.info.full_refresh,
            );
            let mut values: BTreeMap<String, minijinja::Value> = BTreeMap::new();
            let mut call_args = Vec::new();
            for (k, v) in kwargs {
                match v {
                    Value::String(s) if k != "column_name" => {
                        let t = s.trim();
                        let inner = t
                            .strip_prefix("{{")
                            .and_then(|r| r.strip_suffix("}}"))
                            .filter(|r| !r.contains("{{") && !r.contains("}}"));
                        if let Some(expr) = inner {
                            call_args.push(format!("{k}=({})", expr.trim()));
                        } else if looks_like_func(s) {
                            call_args.push(format!("{k}=({})", s.trim()));
                        } else if s.contains("{{") || s.contains("{%") {
                            let r = m
                                .env
                                .render_str(
                                    &crate::extras::preprocess(s),
                                    jinja::node_context(ctx.clone()),
                                )
                                .map_err(|e| {
                                    Error::jinja(&node.unique_id, &node.original_file_path, &e)
                                })?;
                            values.insert(k.clone(), minijinja::Value::from(r));
                            call_args.push(format!("{k}=__tarmac_kw[{}]", py_repr_str(k)));
                        } else {
                            values.insert(k.clone(), minijinja::Value::from(s.clone()));
                            call_args.push(format!("{k}=__tarmac_kw[{}]", py_repr_str(k)));
                        }
                    }
                    other => {
                        // Jinja in strings inside a list or mapping argument
                        // renders too (`column_type_list: ["{{ type_datetime() }}"]`)
                        let mut v = other.clone();
                        render_nested(&mut v, &|s| {
                            m.env
                                .render_str(
                                    &crate::extras::preprocess(s),
                                    jinja::node_context(ctx.clone()),
                                )
                                .map_err(|e| {
                                    Error::jinja(&node.unique_id, &node.original_file_path, &e)
                                })
                        })?;
                        // lists and dicts change in place, as in Python
                        // (dbt_utils' at_least_one appends to its
                        // group_by_columns argument)
                        values.insert(
                            k.clone(),
                            crate::extras::py_mutable(minijinja::Value::from_serialize(&v)),
                        );
                        call_args.push(format!("{k}=__tarmac_kw[{}]", py_repr_str(k)));
                    }
                }
            }
            let callee = crate::macros::test_macro_path(&m.env, name, namespace.as_deref())
                .unwrap_or_else(|| format!("test_{name}"));
            let src = format!("{{{{ {callee}({}) }}}}", call_args.join(", "));
            let mut extra = BTreeMap::new();
            extra.insert("__tarmac_kw".to_string(), minijinja::Value::from(values));
            let c = jinja::scoped(&m.env, &ctx, extra);
            // kwargs are Jinja expressions in this call: Python's operators
            // on them need what a model's code gets (`date - timedelta`)
            let sql = m
                .env
                .render_str(&crate::extras::preprocess(&src), c)
                .map_err(|e| Error::jinja(&node.unique_id, &node.original_file_path, &e))?;
            // a test on (or reading) an ephemeral model gets its CTE, as dbt
            // inlines it into the test's query
            let own = ctx
                .file_config
                .lock()
                .map(|c| c.clone())
                .unwrap_or_default();
            let eph = ctx.ephemerals.lock().map(|e| e.clone()).unwrap_or_default();
            if eph.is_empty() {
                return Ok((sql, own));
            }
            let ctes = crate::compile::ephemeral_ctes(m, &eph, resolver, &db)?;
            Ok((crate::compile::inject_ctes(&sql, &ctes), own))
        }
        _ => Ok((
            crate::compile::compile(m, node, resolver, db, false)?.sql,
            Config::new(),
        )),
    }
}

/// Render every string holding Jinja inside a list or mapping, in place.
fn render_nested(v: &mut Value, render: &dyn Fn(&str) -> Result<String>) -> Result<()> {
    match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") => *s = render(s)?,
        Value::Array(a) => {
            for x in a {
                render_nested(x, render)?;
            }
        }
        Value::Object(o) => {
            for x in o.values_mut() {
                render_nested(x, render)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A generic test's config as dbt documents its precedence: the test's
/// YAML entry over the `config()` call in the test's definition (`own`),
/// over `dbt_project.yml`. `node.config` holds the project's and the
/// YAML's; `own` fills in what the YAML does not set.
fn effective_config(node: &Node, meta: Option<&TestMeta>, own: &Config) -> Config {
    let mut cfg = node.config.clone();
    if own.is_empty() {
        return cfg;
    }
    let yaml = meta.map(|t| &t.yaml_config);
    let mut under = Config::new();
    for (k, v) in own {
        if k == "pre_hook" || k == "post_hook" {
            continue;
        }
        if !yaml.is_some_and(|y| y.contains_key(k)) {
            under.insert(k.clone(), v.clone());
        }
    }
    config::merge(&mut cfg, &under);
    cfg
}

fn pluralize(n: i64) -> String {
    if n == 1 {
        "1 result".into()
    } else {
        format!("{n} results")
    }
}

fn as_i64(v: &minijinja::Value) -> Option<i64> {
    if v.is_none() || v.is_undefined() {
        return None;
    }
    i64::try_from(v.clone())
        .ok()
        .or_else(|| f64::try_from(v.clone()).ok().map(|f| f as i64))
        .or_else(|| {
            v.as_str()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .map(|f| f as i64)
        })
}

/// Compile and run one data test on a connection: dbt's test
/// materialization (store failures, limit, fail_calc, warn_if/error_if,
/// severity). The database is reached only through [`Database`], so a
/// recording one tests this without DuckDB.
pub fn run_test(
    m: &Manifest,
    node: &Node,
    db: &Arc<dyn Database>,
    resolver: &Arc<dyn Resolver>,
    opts: &RunOptions,
) -> NodeResult {
    let started_at = Utc::now();
    let t0 = Instant::now();
    let mut r = NodeResult::skipped(node.unique_id.clone(), String::new());
    r.started_at = started_at;
    let compiled = compile_test_configured(m, node, resolver, Some(db.clone()));
    r.compiled_at = Utc::now();
    let finish = |mut r: NodeResult| {
        r.completed_at = Utc::now();
        r.execution_time = t0.elapsed().as_secs_f64();
        r
    };
    let (sql, own_config) = match compiled {
        Ok(s) => s,
        Err(e) => {
            r.status = Status::Error;
            r.message = format!(
                "Compilation Error in test {} ({})\n  {e}",
                node.name, node.original_file_path
            );
            return finish(r);
        }
    };
    r.compiled_sql = Some(sql.clone());
    if opts.command == Command::Compile {
        r.status = Status::Success;
        r.message = "OK".into();
        return finish(r);
    }
    let c = TestConfig::of(&effective_config(
        node,
        m.tests.get(&node.unique_id),
        &own_config,
    ));
    let main_sql = if c.stores(m.info.store_failures) {
        // dbt's test materialization: the failing rows replace the last
        // run's in `<schema>_dbt_test__audit.<test name>`, then are counted
        // from there
        let kind = c.stored_as();
        if kind != "table" && kind != "view" {
            r.status = Status::Error;
            r.message = format!(
                "Compilation Error in test {} ({})\n  '{kind}' is not a valid value for `store_failures_as`. Accepted values are: ['ephemeral', 'table', 'view']",
                node.name, node.original_file_path
            );
            return finish(r);
        }
        let rel = node.relation();
        let create = format!(
            "\n  \n    \n\n  create  {kind} {}\n  \n  as (\n    {}\n  );\n  \n  ",
            rel.render(),
            with_limit(&sql, c.limit)
        );
        let res = db
            .drop_sql(&rel)
            .and_then(|d| db.transaction_noted(&[d, create]))
            .map_err(Error::from);
        if let Err(e) = res {
            db.invalidate();
            r.status = Status::Error;
            r.message = runtime_error(m, node, &e);
            return finish(r);
        }
        db.note(&rel, Some(if kind == "view" { "view" } else { "table" }));
        format!("\n        select *\n        from {}\n    ", rel.render())
    } else {
        with_limit(&sql, c.limit)
    };
    let run_sql = test_sql(&main_sql, &c, None);
    r.run_sql = Some(run_sql.clone());
    // what runs: the same query, with the counts cast so that any fail_calc
    // (sums are HUGEINT or DECIMAL) reads back as an integer
    let exec = format!(
        "select try_cast(failures as bigint) as failures, should_warn, should_error from ({run_sql}\n) dbt_internal_result"
    );
    // a test only reads: a query that selects leaves the relation cache be
    let q = match db.query(&exec).map_err(Error::from) {
        Ok(q) => q,
        Err(e) => {
            r.status = Status::Error;
            r.message = runtime_error(m, node, &e);
            return finish(r);
        }
    };
    if q.rows.len() != 1 {
        r.status = Status::Error;
        r.message = format!(
            "tarmac failed to execute {}: it returned {} rows, not 1 (check fail_calc)",
            node.unique_id,
            q.rows.len()
        );
        return finish(r);
    }
    let row = &q.rows[0];
    let failures = row.first().and_then(as_i64).unwrap_or(0);
    let truthy = |i: usize| row.get(i).is_some_and(|v| v.is_true());
    let (should_warn, should_error) = (truthy(1), truthy(2));
    let severity = c.severity.to_uppercase();
    let (status, message) = if severity == "ERROR" && should_error {
        (
            Status::Fail,
            format!(
                "Got {}, configured to fail if {}",
                pluralize(failures),
                c.error_if
            ),
        )
    } else if should_warn {
        (
            Status::Warn,
            format!(
                "Got {}, configured to warn if {}",
                pluralize(failures),
                c.warn_if
            ),
        )
    } else {
        (Status::Pass, String::new())
    };
    r.failures = Some(if status == Status::Pass { 0 } else { failures });
    r.status = status;
    r.message = message;
    finish(r)
}

/// dbt's "Runtime Error in test ..." with DuckDB's message indented under
/// it, and, for a column the test names but its model lacks, where in the
/// YAML that name is.
fn runtime_error(m: &Manifest, node: &Node, e: &Error) -> String {
    let mut out = format!(
        "Runtime Error in test {} ({})\n  {}",
        node.name,
        node.original_file_path,
        e.to_string().trim_end().replace('\n', "\n  ")
    );
    if let Some(h) = missing_column_hint(m, node, e) {
        out.push_str(&format!("\n  {h}"));
    }
    out
}

/// DuckDB's binder error for a column the test names that its model does
/// not have, said in the YAML's terms: which argument, which key, which file.
fn missing_column_hint(m: &Manifest, node: &Node, e: &Error) -> Option<String> {
    let msg = e.to_string();
    let rest = msg.split("Referenced column \"").nth(1)?;
    let col = &rest[..rest.find('"')?];
    let meta = m.tests.get(&node.unique_id)?;
    let TestKind::Generic { kwargs, .. } = &meta.kind else {
        return None;
    };
    let arg = kwargs
        .iter()
        .filter(|(k, _)| *k != "model")
        .find(|(_, v)| {
            v.as_str()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case(col))
        })
        .map(|(k, _)| k.clone())?;
    let target = meta.target.as_deref().unwrap_or("its model");
    let key = meta.yaml_key.as_deref().unwrap_or("?");
    let what = if arg == "column_name" {
        format!("is declared on column \"{col}\"")
    } else {
        format!("has {arg}: {col}")
    };
    Some(format!(
        "{}: key {key}: the test {what}, which the relation it reads does not have (test {} on {target}); fix the name in the YAML or add the column",
        node.original_file_path, node.name
    ))
}

// ---------------------------------------------------------------------------
// build order

/// dbt's test edges for `build`: a node waits for the tests of the nodes it
/// reads. A test on one node gates that node's direct children (and sources'
/// readers); a test on several nodes gates each node downstream of all of
/// them. Returns (test, node that waits for it) pairs within `queue`.
pub fn build_edges(m: &Manifest, dag: &Dag, queue: &HashSet<&String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut readers_of_source: HashMap<&str, Vec<&String>> = HashMap::new();
    for n in m.nodes.values() {
        if n.resource_type == ResourceType::Test {
            continue;
        }
        for d in &n.depends_on {
            if d.starts_with("source.") {
                readers_of_source
                    .entry(d.as_str())
                    .or_default()
                    .push(&n.unique_id);
            }
        }
    }
    for id in queue.iter() {
        let Some(t) = m.nodes.get(*id) else { continue };
        if t.resource_type != ResourceType::Test {
            continue;
        }
        let deps = &t.depends_on;
        let waiting: Vec<String> = if deps.len() == 1 {
            let d = &deps[0];
            if d.starts_with("source.") {
                readers_of_source
                    .get(d.as_str())
                    .map(|v| v.iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default()
            } else {
                dag.children(d)
            }
        } else if deps.len() > 1 {
            let mut common: Option<BTreeSet<String>> = None;
            for d in deps.iter().filter(|d| !d.starts_with("source.")) {
                let desc = dag.descendants(d, None);
                common = Some(match common {
                    None => desc,
                    Some(c) => c.intersection(&desc).cloned().collect(),
                });
            }
            common.map(|c| c.into_iter().collect()).unwrap_or_default()
        } else {
            vec![]
        };
        for w in waiting {
            let is_exec = m
                .nodes
                .get(&w)
                .is_some_and(|n| n.resource_type != ResourceType::Test);
            if is_exec && queue.contains(&w) && w != **id {
                out.push(((*id).clone(), w));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// artifacts

/// Where dbt says a test's run SQL goes (`build_path` in manifest.json).
pub fn build_path(m: &Manifest, node: &Node) -> String {
    let project = &m.info.project.name;
    if node.original_file_path.ends_with(".sql") {
        format!("target/run/{project}/{}", node.original_file_path)
    } else {
        format!(
            "target/run/{project}/{}/{}",
            node.original_file_path, node.path
        )
    }
}

/// Where a node's compiled/run SQL goes below `target/compiled/<project>/`:
/// a generic test's beside its properties file (`models/schema.yml/<name>.sql`).
pub fn sql_path(node: &Node) -> String {
    if node.resource_type == ResourceType::Unit {
        format!("{}/models/{}.sql", node.original_file_path, node.name)
    } else if node.resource_type == ResourceType::Test && !node.original_file_path.ends_with(".sql")
    {
        format!("{}/{}", node.original_file_path, node.path)
    } else {
        node.original_file_path.clone()
    }
}

/// The relation a test stores its failures in.
pub fn audit_relation(node: &Node) -> Relation {
    node.relation()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_dbt() {
        let mut args = Map::new();
        args.insert("column_name".into(), json!("customer_id"));
        args.insert("to".into(), json!("ref('stg_customers')"));
        args.insert("field".into(), json!("customer_id"));
        args.insert(
            "model".into(),
            json!("{{ get_where_subquery(ref('stg_orders')) }}"),
        );
        let (short, full) = synthesize_names("relationships", "stg_orders", &args);
        assert_eq!(
            full,
            "relationships_stg_orders_customer_id__customer_id__ref_stg_customers_"
        );
        assert_eq!(
            short,
            "relationships_stg_orders_96411fe0c89b49c3f4da955dfd358ba0"
        );
        assert_eq!(test_hash(&full, "relationships", None, &args), "430bf21500");
        let mut args = Map::new();
        args.insert("column_name".into(), json!("payment_method"));
        args.insert("values".into(), json!([1, 2]));
        args.insert("quote".into(), json!(false));
        let (short, full) = synthesize_names("accepted_values", "stg_payments", &args);
        assert_eq!(short, full);
        assert_eq!(
            full,
            "accepted_values_stg_payments_payment_method__False__1__2"
        );
    }

    #[test]
    fn python_repr() {
        assert_eq!(py_repr_str("a'b"), "\"a'b\"");
        assert_eq!(py_repr_str("a'b\""), "'a\\'b\"'");
        assert_eq!(
            py_repr(&json!([1, "x", null, true, 1.0])),
            "[1, 'x', None, True, 1.0]"
        );
    }

    #[test]
    fn entries_split_like_dbt() {
        let e = parse_entry(
            &json!({"accepted_values": {"values": ["a"], "severity": "warn", "config": {"where": "x > 1"}}}),
            Some("c"),
        )
        .unwrap();
        assert_eq!(e.name, "accepted_values");
        assert_eq!(e.config["severity"], "warn");
        assert_eq!(e.config["where"], "x > 1");
        assert_eq!(e.args["column_name"], "c");
        assert!(!e.args.contains_key("severity"));
        let e = parse_entry(&json!({"test_name": "unique", "name": "u1"}), None).unwrap();
        assert_eq!(e.custom_name.as_deref(), Some("u1"));
        assert!(parse_entry(&json!({"a": {}, "b": {}}), None).is_err());
        assert!(parse_entry(&json!(3), None).is_err());
        assert!(parse_entry(
            &json!({"unique": {"severity": "warn", "config": {"severity": "error"}}}),
            None
        )
        .is_err());
    }

    #[test]
    fn rewrites_test_blocks() {
        let t = "{% test is_even(model, column_name) %}select 1{% endtest %}\n{%- test x() -%}2{%- endtest -%}";
        assert_eq!(
            rewrite_test_blocks(t),
            "{% macro test_is_even(model, column_name) %}select 1{% endmacro %}\n{%- macro test_x() -%}2{%- endmacro -%}"
        );
        assert_eq!(rewrite_test_blocks("{% if testing %}"), "{% if testing %}");
    }

    /// What the built-in tests read from the node being compiled:
    /// `adapter.dispatch` (Tarmac's own dispatch) and `config.get`.
    #[derive(Debug)]
    struct FakeNode(Config);

    impl minijinja::value::Object for FakeNode {
        fn call_method(
            self: &Arc<Self>,
            state: &minijinja::State<'_, '_>,
            m: &str,
            args: &[minijinja::Value],
        ) -> std::result::Result<minijinja::Value, minijinja::Error> {
            let arg = |i: usize| args.get(i).and_then(|v| v.as_str()).unwrap_or_default();
            match m {
                "dispatch" => {
                    crate::macros::dispatch(state, arg(0), args.get(1).and_then(|v| v.as_str()))
                }
                "get" => Ok(self
                    .0
                    .get(arg(0))
                    .map(minijinja::Value::from_serialize)
                    .or_else(|| args.get(1).cloned())
                    .unwrap_or(minijinja::Value::from(()))),
                other => panic!("the built-in tests call no {other}()"),
            }
        }
    }

    /// Render `src` with the built-in tests (and `project`'s macros as the
    /// root project's), a node whose config is `config`, and the
    /// `--store-failures` flag as `flag`.
    pub(super) fn render_builtin(src: &str, project: &str, config: Value, flag: bool) -> String {
        let mut env = minijinja::Environment::new();
        env.add_function("return", crate::macros::return_fn);
        env.add_global("flags", minijinja::context! { STORE_FAILURES => flag });
        let files = vec![
            crate::macros::MacroFile {
                package: crate::macros::INTERNAL.into(),
                path: "builtin.sql".into(),
                text: BUILTIN.into(),
            },
            crate::macros::MacroFile {
                package: "root".into(),
                path: "macros/m.sql".into(),
                text: project.into(),
            },
        ];
        crate::macros::register(&mut env, "root", &files, BTreeMap::new(), &[]).unwrap();
        let Value::Object(config) = config else {
            panic!("config is a mapping")
        };
        let node = minijinja::Value::from_object(FakeNode(config));
        env.render_str(
            src,
            minijinja::context! { adapter => node.clone(), config => node },
        )
        .unwrap()
    }

    /// The built-ins are an interface (projects override them by name, and
    /// each counts in "Found N macros"): exactly these, no more.
    #[test]
    fn builtin_defines_the_documented_macros() {
        let names: Vec<String> = crate::blocks::split_macros(BUILTIN)
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(
            names,
            [
                "should_store_failures",
                "get_where_subquery",
                "default__get_where_subquery",
                "test_unique",
                "default__test_unique",
                "test_not_null",
                "default__test_not_null",
                "test_accepted_values",
                "default__test_accepted_values",
                "test_relationships",
                "default__test_relationships",
            ]
        );
    }

    /// Each built-in test's SQL as dbt compiles it, whitespace included
    /// (the dtests fixture compares whole files with dbt's).
    #[test]
    fn builtin_tests_render_dbts_sql() {
        let r = |src: &str, config: Value, flag: bool| render_builtin(src, "", config, flag);
        let frame = "\n    \n    ";
        assert_eq!(
            r("{{ test_unique('m', 'id') }}", json!({}), false),
            format!("{frame}\n\nselect\n    id as unique_field,\n    count(*) as n_records\n\nfrom m\nwhere id is not null\ngroup by id\nhaving count(*) > 1\n\n\n")
        );
        let not_null = |selected: &str| {
            format!("{frame}\n\n\n\nselect {selected}\nfrom m\nwhere id is null\n\n\n")
        };
        let nn = "{{ test_not_null('m', 'id') }}";
        assert_eq!(r(nn, json!({}), false), not_null("id"));
        // storing failures keeps whole rows: the flag, or the config over it
        assert_eq!(r(nn, json!({}), true), not_null("*"));
        assert_eq!(r(nn, json!({"store_failures": true}), false), not_null("*"));
        assert_eq!(
            r(nn, json!({"store_failures": false}), true),
            not_null("id")
        );
        let accepted = |list: &str| {
            format!("{frame}\n\nwith all_values as (\n\n    select\n        s as value_field,\n        count(*) as n_records\n\n    from m\n    group by s\n\n)\n\nselect *\nfrom all_values\nwhere value_field not in (\n    {list}\n)\n\n\n")
        };
        assert_eq!(
            r(
                "{{ test_accepted_values('m', 's', ['a', 'b']) }}",
                json!({}),
                false
            ),
            accepted("'a','b'")
        );
        assert_eq!(
            r(
                "{{ test_accepted_values('m', 's', [1, 2], quote=false) }}",
                json!({}),
                false
            ),
            accepted("1,2")
        );
        assert_eq!(
            r(
                "{{ test_accepted_values('m', 's', ['only']) }}",
                json!({}),
                false
            ),
            accepted("'only'")
        );
        assert_eq!(
            r("{{ test_relationships('m', 'c', to='p', field='id') }}", json!({}), false),
            format!("{frame}\n\nwith child as (\n    select c as from_field\n    from m\n    where c is not null\n),\n\nparent as (\n    select id as to_field\n    from p\n)\n\nselect\n    from_field\n\nfrom child\nleft join parent\n    on child.from_field = parent.to_field\n\nwhere parent.to_field is null\n\n\n")
        );
    }

    #[test]
    fn where_config_wraps_the_relation_and_store_failures_is_a_boolean() {
        let r = |src: &str, config: Value, flag: bool| render_builtin(src, "", config, flag);
        assert_eq!(
            r(
                "{{ get_where_subquery('\"db\".\"m\"') }}",
                json!({"where": "x > 1"}),
                false
            ),
            "(select * from \"db\".\"m\" where x > 1) dbt_subquery"
        );
        // without a filter the relation object itself comes back
        assert_eq!(
            r(
                "{{ get_where_subquery({'identifier': 'm'}).identifier }}",
                json!({}),
                false
            ),
            "m"
        );
        // the config when set (by its truth), else the flag; always a bool
        let bool_of = "{% set s = should_store_failures() %}\
                       {{ 'on' if s is sameas true else ('off' if s is sameas false else s) }}";
        assert_eq!(r(bool_of, json!({}), true), "on");
        assert_eq!(r(bool_of, json!({}), false), "off");
        assert_eq!(r(bool_of, json!({"store_failures": 0}), true), "off");
        assert_eq!(r(bool_of, json!({"store_failures": "yes"}), false), "on");
    }

    /// A project replaces an implementation through dispatch and keeps the
    /// entry point's framing, or replaces a helper every test uses.
    #[test]
    fn projects_override_builtins_by_name() {
        let project = "{% macro default__test_unique(model, column_name) %}select {{ column_name }} from {{ model }}{% endmacro %}\
             {% macro should_store_failures() %}{{ return(true) }}{% endmacro %}";
        assert_eq!(
            render_builtin("{{ test_unique('m', 'id') }}", project, json!({}), false),
            "\n    \n    select id from m\n"
        );
        assert!(
            render_builtin("{{ test_not_null('m', 'id') }}", project, json!({}), false)
                .contains("select *\nfrom m")
        );
    }

    /// A data test's run through a recording database: what it asks and
    /// how it reads the answer, without DuckDB.
    mod recorded {
        use super::*;
        use crate::database::{Call, Recording};

        /// The jaffle fixture loaded (no database: parsing needs none).
        fn jaffle(store_failures: bool) -> crate::Loaded {
            crate::fixture("jaffle", Command::Test, |o| {
                o.store_failures = store_failures
            })
        }

        /// Run jaffle's `not_null` test of `stg_customers.customer_id` on `db`.
        fn run(l: &crate::Loaded, db: Recording) -> (NodeResult, Recording) {
            let m = &l.manifest;
            let node = m
                .nodes
                .values()
                .find(|n| n.name == "not_null_stg_customers_customer_id")
                .unwrap();
            let db = Arc::new(db);
            let opts = RunOptions::quiet(Command::Test, 1);
            let shared: Arc<dyn Database> = db.clone();
            let r = run_test(m, node, &shared, &m.resolver(), &opts);
            drop(shared);
            let db = Arc::try_unwrap(db).unwrap_or_else(|_| panic!("the test kept the database"));
            (r, db)
        }

        #[test]
        fn failing_rows_make_a_failure_with_dbts_words() {
            let l = jaffle(false);
            let db = Recording::new().answering(
                "try_cast(failures as bigint)",
                &["failures", "should_warn", "should_error"],
                vec![vec![3.into(), true.into(), true.into()]],
            );
            let (r, db) = run(&l, db);
            assert_eq!(r.status, Status::Fail, "{}", r.message);
            assert_eq!(r.failures, Some(3));
            assert_eq!(r.message, "Got 3 results, configured to fail if != 0");
            // one query, which reads the test's SQL, and nothing else
            let calls = db.calls();
            assert_eq!(calls.len(), 1, "{calls:?}");
            let Call::Query(sql) = &calls[0] else {
                panic!("{calls:?}")
            };
            assert!(sql.starts_with("select try_cast(failures as bigint) as failures, should_warn, should_error from ("), "{sql}");
            assert!(sql.contains("where customer_id is null"), "{sql}");
            // no rows back: an error that says why
            let (r, _) = run(&l, Recording::new());
            assert_eq!(r.status, Status::Error);
            assert!(
                r.message.contains("returned 0 rows, not 1"),
                "{}",
                r.message
            );
        }

        #[test]
        fn stored_failures_replace_the_last_runs_in_one_transaction() {
            let l = jaffle(true);
            let db = Recording::new().answering(
                "try_cast(failures as bigint)",
                &["failures", "should_warn", "should_error"],
                vec![vec![0.into(), false.into(), false.into()]],
            );
            let (r, db) = run(&l, db);
            assert_eq!(r.status, Status::Pass, "{}", r.message);
            let tx = db
                .calls()
                .into_iter()
                .find_map(|c| match c {
                    Call::Transaction(t) => Some(t),
                    _ => None,
                })
                .expect("a transaction");
            // nothing there yet: no drop, then the table of failing rows
            assert_eq!(tx[0], "SELECT 1");
            assert!(
                tx[1].contains("create  table \"jaffle\".\"main_dbt_test__audit\".\"not_null_stg_customers_customer_id\""),
                "{tx:?}"
            );
            // the count reads the stored rows
            let q = db
                .statements()
                .into_iter()
                .find(|s| s.contains("try_cast"))
                .unwrap();
            assert!(q.contains("from \"jaffle\".\"main_dbt_test__audit\".\"not_null_stg_customers_customer_id\""), "{q}");
        }
    }
}
