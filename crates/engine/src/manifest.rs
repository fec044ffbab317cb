//! Node discovery and the parse phase: finds models, seeds, macros and
//! properties files, renders each model with `execute = false` to capture
//! its `ref`/`source`/`config` calls (how dbt finds dependencies and in-file
//! configs), resolves configs, schemas and aliases, and links dependencies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::{Environment, Value};
use serde_json::Map;

use crate::config::{Config, ConfigExt};
use crate::error::{Error, Result};
use crate::jinja::{self, Resolver, RunInfo};
use crate::project::Target;
use crate::properties::{json_text, Column, SourceTable};
use crate::relation::Relation;

/// A model or a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    Model,
    Seed,
    Snapshot,
    Test,
    /// A unit test (`unit_tests:`): runs its model on fixtures.
    Unit,
    /// An exposure (`exposures:` in properties): nothing to run, but a node
    /// of the DAG that `build` reports as NO-OP and selectors reach
    /// (`exposure:name`, `+exposure:name`). Its manifest entry is in
    /// [`Manifest::resources`].
    Exposure,
}

impl ResourceType {
    pub fn as_str(&self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Test => "test",
            ResourceType::Unit => "unit_test",
            ResourceType::Exposure => "exposure",
        }
    }
}

/// One buildable node.
#[derive(Debug, Clone)]
pub struct Node {
    pub unique_id: String,
    pub resource_type: ResourceType,
    pub name: String,
    pub package_name: String,
    /// Relative to the project root (`models/staging/stg_orders.sql`).
    pub original_file_path: String,
    /// Relative to its model/seed path (`staging/stg_orders.sql`).
    pub path: String,
    pub fqn: Vec<String>,
    pub raw_code: String,
    pub checksum: String,
    pub config: Config,
    pub description: String,
    pub columns: IndexMap<String, Column>,
    pub patch_path: Option<String>,
    pub refs: Vec<(Option<String>, String)>,
    pub sources: Vec<(String, String)>,
    /// Unique ids of the nodes and sources this node reads.
    pub depends_on: Vec<String>,
    pub database: String,
    pub schema: String,
    pub alias: String,
    /// How the relation renders: the project's `quoting:`.
    pub quoting: crate::relation::Quoting,
    /// A versioned model's version (`versions:` in its properties).
    pub version: Option<ModelVersion>,
    /// The macros the node calls itself at parse time (dbt's
    /// `depends_on.macros`: `macro.<package>.<name>`).
    pub macros: Vec<String>,
    /// A model's `time_spine:` from its properties (dbt's manifest field).
    pub time_spine: Option<serde_json::Value>,
    /// The text this invocation's parse rendered, when the compile can
    /// reuse it (each model renders once; see [`jinja::Rendered`]).
    pub rendered: Option<Arc<jinja::Rendered>>,
}

impl Node {
    /// A node with nothing known yet but what names it: no file, no code,
    /// no config, no columns, nothing read, no relation (its alias is its
    /// name). Each kind of node starts here and sets what it has (struct
    /// update syntax), so a new field gets its default in one place.
    pub fn new(
        unique_id: impl Into<String>,
        resource_type: ResourceType,
        name: impl Into<String>,
        package_name: impl Into<String>,
    ) -> Node {
        let name = name.into();
        Node {
            unique_id: unique_id.into(),
            resource_type,
            alias: name.clone(),
            name,
            package_name: package_name.into(),
            original_file_path: String::new(),
            path: String::new(),
            fqn: vec![],
            raw_code: String::new(),
            checksum: String::new(),
            config: Config::new(),
            description: String::new(),
            columns: IndexMap::new(),
            patch_path: None,
            refs: vec![],
            sources: vec![],
            depends_on: vec![],
            database: String::new(),
            schema: String::new(),
            quoting: Default::default(),
            version: None,
            macros: vec![],
            time_spine: None,
            rendered: None,
        }
    }

    /// A node of one of `project`'s files, where the project puts it until
    /// `generate_*_name` names it: in the target's `database` and
    /// `schema`, quoted as the project quotes. Models, seeds, snapshots and
    /// data tests start here.
    pub fn in_project(
        unique_id: impl Into<String>,
        resource_type: ResourceType,
        name: impl Into<String>,
        project: &crate::project::Project,
        (database, schema): (&str, &str),
    ) -> Node {
        Node {
            database: database.to_string(),
            schema: schema.to_string(),
            quoting: project.quoting,
            ..Node::new(unique_id, resource_type, name, project.name.clone())
        }
    }

    /// The node with its properties entry, when it has one: description,
    /// columns, and the file that documents it (dbt's `patch_path`,
    /// `package://file`).
    pub fn documented(mut self, props: Option<&crate::properties::NodeProps>) -> Node {
        if let Some(p) = props {
            self.description = p.description.clone();
            self.columns = p.columns.clone();
            self.patch_path = Some(format!("{}://{}", self.package_name, p.file));
        }
        self
    }
}

/// One version of a versioned model
/// (<https://docs.getdbt.com/docs/collaborate/govern/model-versions>).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersion {
    /// `v` as written (a number or a string).
    pub v: serde_json::Value,
    /// The model's `latest_version` (else its greatest `v`).
    pub latest: serde_json::Value,
    /// `deprecation_date` as dbt writes it (`2024-01-01T00:00:00+00:00`).
    pub deprecation_date: Option<String>,
}

impl ModelVersion {
    /// `v` as text (`1`, `2.1`, `beta`).
    pub fn v_str(&self) -> String {
        json_text(&self.v)
    }
}

impl Node {
    pub fn relation(&self) -> Relation {
        Relation::new(&self.database, &self.schema, &self.alias).with_quoting(self.quoting)
    }
    /// The name of the node's template in the environment: its file for
    /// models, its unique id for snapshots (a file may hold several).
    pub fn template(&self) -> &str {
        match self.resource_type {
            ResourceType::Snapshot => &self.unique_id,
            _ => &self.original_file_path,
        }
    }
    /// dbt's default alias: the name, `<name>_v<v>` for a model version.
    pub fn default_alias(&self) -> String {
        match &self.version {
            Some(v) => format!("{}_v{}", self.name, v.v_str()),
            None => self.name.clone(),
        }
    }
    pub fn is_ephemeral(&self) -> bool {
        self.resource_type == ResourceType::Model && self.config.materialized() == "ephemeral"
    }
    /// The `model` value Jinja sees.
    pub fn to_value(&self) -> Value {
        minijinja::context! {
            unique_id => self.unique_id.clone(), name => self.name.clone(),
            resource_type => self.resource_type.as_str(), package_name => self.package_name.clone(),
            original_file_path => self.original_file_path.clone(), path => self.path.clone(),
            fqn => self.fqn.clone(), config => Value::from_serialize(&self.config),
            tags => self.config.tags(), alias => self.alias.clone(), schema => self.schema.clone(),
            database => self.database.clone(), raw_code => self.raw_code.clone(),
            description => self.description.clone(),
            version => self.version.as_ref().map(|v| Value::from_serialize(&v.v)),
            latest_version => self.version.as_ref().map(|v| Value::from_serialize(&v.latest)),
            depends_on => minijinja::context! {
                macros => self.macros.clone(), nodes => self.depends_on.clone(),
            },
            batch => crate::jinja::current_batch().map(|b| minijinja::context! {
                id => b.id, event_time_start => b.start, event_time_end => b.end,
            }),
        }
    }
}

impl Node {
    /// [`jinja::NodeCtx::new`] for this node: its id, relation, config and
    /// `model` value. Here rather than in `jinja`, which knows contexts but
    /// not manifest nodes.
    pub fn jinja_ctx(&self, resolver: Arc<dyn Resolver>) -> jinja::NodeCtx {
        jinja::NodeCtx::new(
            self.unique_id.clone(),
            self.name.clone(),
            self.relation(),
            self.config.clone(),
            resolver,
            self.to_value(),
        )
    }

    /// Render the node's SQL with more names in the context (see
    /// [`jinja::render_with`]): a snapshot's template is in the environment;
    /// models and singular tests render from their code.
    pub fn render_with(
        &self,
        env: &Environment<'static>,
        ctx: Arc<jinja::NodeCtx>,
        extra: std::collections::BTreeMap<String, Value>,
    ) -> std::result::Result<String, minijinja::Error> {
        if self.resource_type == ResourceType::Snapshot {
            return jinja::render_with(env, self.template(), ctx, extra);
        }
        jinja::render_code_with(env, &self.original_file_path, &self.raw_code, ctx, extra)
    }
}

/// A source table with its unique id and relation.
#[derive(Debug, Clone)]
pub struct Source {
    pub unique_id: String,
    /// The project or package that declares it.
    pub package: String,
    pub table: SourceTable,
    pub relation: Relation,
}

/// The parsed project.
pub struct Manifest {
    pub info: RunInfo,
    pub nodes: IndexMap<String, Node>,
    pub sources: IndexMap<String, Source>,
    /// Every model and macro as a template; built once per run.
    pub env: Environment<'static>,
    pub macro_names: Vec<String>,
    pub macro_files: Vec<crate::macros::MacroFile>,
    pub warnings: Vec<String>,
    /// What only data tests have (generic test name and arguments, column,
    /// attached node), by unique id; the tests themselves are in `nodes`.
    pub tests: IndexMap<String, TestMeta>,
    /// Unit tests by unique id (each is also a node of type `unit_test`).
    pub unit_tests: IndexMap<String, UnitTest>,
    /// With partial parsing: how many files were parsed again (the rest
    /// came from `target/partial_parse.json`).
    pub reparsed: Option<usize>,
    /// The macros each `on-run-start`/`on-run-end` hook calls (by its
    /// operation node's unique id), recorded once when the project loads.
    pub hook_macros: HashMap<String, Vec<String>>,
    /// Exposures, metrics, semantic models, saved queries and groups, in
    /// dbt's manifest shape with their dependencies resolved.
    pub resources: Vec<crate::resources::Resource>,
    /// `--defer`: the state manifest's relation for each node whose refs
    /// resolve there (see [`crate::state::deferred_relations`]).
    pub deferred: HashMap<String, Relation>,
    /// The manifest's `docs` section: the doc blocks, by unique id, which
    /// `docs generate` finds (a parse leaves it empty).
    pub docs: serde_json::Map<String, serde_json::Value>,
}

/// Files under `dir` with one of `exts`, sorted, as (absolute, relative to `dir`).
pub(crate) fn walk(dir: &Path, exts: &[&str]) -> Result<Vec<(PathBuf, String)>> {
    walk_where(dir, |p| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
    })
}

/// Files under `dir` that `keep` accepts, sorted, as (absolute, relative
/// to `dir`).
pub(crate) fn walk_where(
    dir: &Path,
    keep: impl Fn(&Path) -> bool,
) -> Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for entry in rd {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            let p = entry.path();
            // the entry's type comes with the directory listing: no stat per file
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_symlink() => p.is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => p.is_dir(),
            };
            if is_dir {
                stack.push(p);
            } else if keep(&p) {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((p, rel));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

pub(crate) fn read(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).map_err(|e| Error::io(p, e))
}

/// Where dbt looks for `ref('name')` / `source()` without a package from a
/// node of `caller`: the root project, then the node's own package, then
/// any package (dbt's `_packages_to_search`). With a package, only there.
pub(crate) fn search_order<'a>(
    root: &'a str,
    caller: &'a str,
    package: Option<&'a str>,
) -> Vec<Option<&'a str>> {
    match package {
        Some(p) => vec![Some(p)],
        None if caller == root => vec![Some(root), None],
        None => vec![Some(root), Some(caller), None],
    }
}

/// Find `key` in a package → value index along `search_order`.
pub(crate) fn find_in<'a, V>(
    index: &'a HashMap<String, std::collections::BTreeMap<String, V>>,
    key: &str,
    order: &[Option<&str>],
) -> Option<&'a V> {
    let by_pkg = index.get(key)?;
    order.iter().find_map(|p| match p {
        Some(p) => by_pkg.get(*p),
        None => by_pkg.values().next(),
    })
}

/// The names `ref()` finds a node by: its name, and for a model version
/// `<name>.v<v>` (what `ref('name', v=..)` looks up), its name only when it
/// is the latest version (dbt's `ref('name')`).
pub(crate) fn ref_keys(n: &Node) -> Vec<String> {
    if n.resource_type == ResourceType::Exposure {
        return vec![];
    }
    match &n.version {
        None => vec![n.name.clone()],
        Some(v) => {
            let mut keys = vec![format!("{}.v{}", n.name, v.v_str())];
            if v.v_str() == json_text(&v.latest) {
                keys.push(n.name.clone());
            }
            keys
        }
    }
}

/// After parsing: real relations, and ephemeral models as CTE names.
pub struct ManifestResolver {
    root: String,
    /// name → package → (relation, ephemeral unique id)
    refs: HashMap<String, std::collections::BTreeMap<String, (Relation, Option<String>)>>,
    /// "source.table" → package → relation
    sources: HashMap<String, std::collections::BTreeMap<String, Relation>>,
}

impl Resolver for ManifestResolver {
    fn resolve_ref(
        &self,
        p: Option<&str>,
        name: &str,
    ) -> Result<(Relation, Option<String>), String> {
        self.resolve_ref_from(&self.root, p, name)
    }
    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, String> {
        self.resolve_source_from(&self.root, source, table)
    }
    fn resolve_ref_from(
        &self,
        caller: &str,
        p: Option<&str>,
        name: &str,
    ) -> Result<(Relation, Option<String>), String> {
        find_in(&self.refs, name, &search_order(&self.root, caller, p))
            .cloned()
            .ok_or_else(|| match p {
                Some(p) => format!("model '{p}.{name}' was not found"),
                None => format!("model '{name}' was not found"),
            })
    }
    fn resolve_source_from(
        &self,
        caller: &str,
        source: &str,
        table: &str,
    ) -> Result<Relation, String> {
        find_in(
            &self.sources,
            &format!("{source}.{table}"),
            &search_order(&self.root, caller, None),
        )
        .cloned()
        .ok_or_else(|| format!("source '{source}.{table}' was not found"))
    }
}

/// The names closest to `name` (for "did you mean" messages).
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 2).max(2))
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

impl Manifest {
    /// The resolver for compilation (refs to real relations / CTEs).
    pub fn resolver(&self) -> Arc<dyn Resolver> {
        let mut refs: HashMap<
            String,
            std::collections::BTreeMap<String, (Relation, Option<String>)>,
        > = HashMap::new();
        for n in self.nodes.values() {
            let v = if n.is_ephemeral() {
                (Relation::cte(&n.default_alias()), Some(n.unique_id.clone()))
            } else if let Some(r) = self.deferred.get(&n.unique_id) {
                (r.clone(), None)
            } else {
                (n.relation(), None)
            };
            // what a microbatch batch filters this node's rows on
            let mut v = v;
            v.0.event_time = n.config.str_of("event_time").map(String::from);
            for key in ref_keys(n) {
                refs.entry(key)
                    .or_default()
                    .entry(n.package_name.clone())
                    .or_insert(v.clone());
            }
        }
        let mut sources: HashMap<String, std::collections::BTreeMap<String, Relation>> =
            HashMap::new();
        for s in self.sources.values() {
            sources
                .entry(format!("{}.{}", s.table.source_name, s.table.name))
                .or_default()
                .insert(s.package.clone(), {
                    let mut r = s.relation.clone();
                    r.event_time = s.table.config.str_of("event_time").map(String::from);
                    r
                });
        }
        Arc::new(ManifestResolver {
            root: self.info.project.name.clone(),
            refs,
            sources,
        })
    }

    /// Vars as `var()` sees them (for artifacts).
    pub fn vars(&self) -> &Map<String, serde_json::Value> {
        &self.info.vars
    }

    pub fn target(&self) -> &Target {
        &self.info.target
    }
}

// ---------------------------------------------------------------------------
// What only data tests and unit tests have. The manifest holds them by
// unique id beside the nodes, as dbt's does; `data_tests` and `unit_tests`
// discover, compile and run them.

/// Generic or singular.
#[derive(Debug, Clone, PartialEq)]
pub enum TestKind {
    /// A `{% test %}` applied from YAML: its name, namespace and arguments
    /// (with `model` and `column_name`) as dbt's `test_metadata`.
    Generic {
        name: String,
        namespace: Option<String>,
        kwargs: Map<String, serde_json::Value>,
    },
    /// A SQL file in a test path.
    Singular,
}

/// What only tests have, by unique id.
#[derive(Debug, Clone)]
pub struct TestMeta {
    pub kind: TestKind,
    pub column_name: Option<String>,
    /// The model/seed/snapshot the test is declared on (none for sources).
    pub attached_node: Option<String>,
    /// `models.orders`, `sources.raw`: where in the YAML the test is.
    pub file_key_name: Option<String>,
    /// The entry's full key (`models.orders.columns.id.data_tests[0]`),
    /// for error messages.
    pub yaml_key: Option<String>,
    /// What the test is declared on (`stg_orders`, `source raw.events`).
    pub target: Option<String>,
    /// The config the test's YAML entry sets (`config:` and the top-level
    /// config arguments): it takes precedence over the generic test
    /// definition's own `config()` call, which the project file's yields to.
    pub yaml_config: Config,
}

impl TestMeta {
    pub fn test_type(&self) -> &'static str {
        match self.kind {
            TestKind::Generic { .. } => "generic",
            TestKind::Singular => "singular",
        }
    }
    /// The generic test's name (`not_null`), for `test_name:` selection.
    pub fn test_name(&self) -> Option<&str> {
        match &self.kind {
            TestKind::Generic { name, .. } => Some(name),
            TestKind::Singular => None,
        }
    }
}

/// A fixture's rows.
#[derive(Debug, Clone)]
pub enum Rows {
    /// Rows as mappings (from `rows:` dicts or CSV).
    Dicts(Vec<Map<String, serde_json::Value>>),
    /// `format: sql`: a query used as is.
    Sql(String),
}

/// One `given:` input.
#[derive(Debug, Clone)]
pub struct Given {
    /// As written: `ref('x')`, `source('s', 't')` or `this`.
    pub input: String,
    pub target: InputTarget,
    pub rows: Rows,
    pub raw: serde_json::Value,
}

/// What an input replaces.
#[derive(Debug, Clone, PartialEq)]
pub enum InputTarget {
    Ref(String),
    Source(String, String),
    This,
}

/// A parsed unit test.
#[derive(Debug, Clone)]
pub struct UnitTest {
    pub unique_id: String,
    pub name: String,
    pub model: String,
    pub model_id: String,
    pub file: String,
    pub description: String,
    pub given: Vec<Given>,
    pub expect: Rows,
    pub overrides: Map<String, serde_json::Value>,
    pub raw: serde_json::Value,
    pub config: Config,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_names() {
        let c = closest(
            "stg_order",
            ["stg_orders", "customers", "stg_payments"].into_iter(),
        );
        assert_eq!(c[0], "stg_orders");
    }
}
