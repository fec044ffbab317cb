//! The parse phase: reading a project's files into a [`Manifest`]. Model,
//! seed, analysis and snapshot files are found and rendered once to record
//! their `config()`, `ref()` and `source()` calls; each kind of test and
//! the unit tests are discovered by their own modules; properties are
//! patched onto nodes, names (schema, alias, database) come from the
//! `generate_*_name` macros, and references are linked. `manifest` holds
//! the types this fills; this module is the only one that builds them, so
//! the kinds it calls on can use those types without importing their
//! caller.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::Value;

use crate::config::{self, Config, ConfigExt};
use crate::error::{Error, Result};
use crate::jinja::{self, Resolver, RunInfo};
use crate::manifest::{
    closest, find_in, read, ref_keys, search_order, walk, Manifest, Node, ResourceType, Source,
};
use crate::partial;
use crate::project::Project;
use crate::properties::Properties;
use crate::relation::Relation;

/// A model named by `generate_*_name`: its file, final config, (schema,
/// alias, database) and the environment variables read meanwhile.
type Named = (
    String,
    Config,
    (String, String, String),
    crate::builtins::EnvReads,
);

/// During parsing `ref()` and `source()` return placeholders in the target
/// schema, as dbt does; the real relations are known only after parsing.
struct ParseResolver {
    database: String,
    schema: String,
}

impl Resolver for ParseResolver {
    fn resolve_ref(
        &self,
        _p: Option<&str>,
        name: &str,
    ) -> Result<(Relation, Option<String>), String> {
        Ok((Relation::new(&self.database, &self.schema, name), None))
    }
    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, String> {
        Ok(Relation::new(&self.database, source, table))
    }
}

/// A model's key in the partial parse state (see `kinds::Discover::state_key`).
fn state_key(n: &Node, root: &str) -> String {
    crate::kinds::state_key_in(&n.package_name, root, &n.original_file_path)
}

/// `model` → `Model`, as dbt starts its "depends on" errors.
fn capitalized(kind: &str) -> String {
    let mut c = kind.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A generic test's parse-time `depends_on.macros`. dbt renders a generic
/// test at parse (recording `get_where_subquery`, which wraps the tested
/// relation) except when its macro is dbt's own `unique` or `not_null`,
/// which it knows need no rendering: those record only the test macro
/// (dbt-project-evaluator reads the difference from `graph`).
fn generic_test_macros(test_macro: String) -> Vec<String> {
    if matches!(
        test_macro.as_str(),
        "macro.dbt.test_unique" | "macro.dbt.test_not_null"
    ) {
        vec![test_macro]
    } else {
        vec![test_macro, "macro.dbt.get_where_subquery".into()]
    }
}

/// Apply the properties entry `p` of package `package`, which names no
/// enabled node of its own, to the enabled `kind` node called `name` in
/// another package, as dbt does: its patch looks the name up in the
/// properties' package first, then in any package (so a package's
/// `seeds.yml` documents the root project's seed of the same name when the
/// package's own seed is disabled). A node already patched keeps its own
/// properties. Description, columns and the patch path move over; a seed
/// also takes the entry's config (`column_types`) over its project's
/// config tree. Returns whether a node was patched.
fn patch_foreign(
    nodes: &mut IndexMap<String, Node>,
    kind: ResourceType,
    package: &str,
    name: &str,
    p: &crate::properties::NodeProps,
) -> bool {
    let Some(node) = nodes.values_mut().find(|n| {
        n.resource_type == kind
            && n.name == name
            && n.package_name != package
            && n.patch_path.is_none()
            && n.version.is_none()
    }) else {
        return false;
    };
    node.description = p.description.clone();
    node.columns = p.columns.clone();
    node.patch_path = Some(format!("{package}://{}", p.file));
    if kind == ResourceType::Seed {
        for (k, v) in &p.config {
            if k != "enabled" && k != "materialized" {
                let mut one = Config::new();
                one.insert(k.clone(), v.clone());
                config::merge(&mut node.config, &one);
            }
        }
    }
    if kind == ResourceType::Model && node.time_spine.is_none() {
        node.time_spine = p.time_spine.clone();
    }
    true
}

impl Manifest {
    /// Load and parse the project. Errors from every node are returned together.
    pub fn load(info: RunInfo) -> Result<Manifest> {
        Self::load_with(info, None)
    }

    /// Load and parse the project, reusing and then updating the partial
    /// parse state at `state_path` (see [`crate::partial`]) when given.
    pub fn load_with(info: RunInfo, state_path: Option<&Path>) -> Result<Manifest> {
        let t0 = std::time::Instant::now();
        let project: Arc<Project> = info.project.clone();
        let mut warnings = project.warnings.clone();
        // every project of the run: the root, then the installed packages
        // (each with its own paths, configs and vars; see `packages`)
        let all: Vec<RunInfo> = std::iter::once(info.clone())
            .chain(info.packages.iter().map(|p| info.for_package(p)))
            .collect();
        for i in &all[1..] {
            warnings.extend(i.project.warnings.iter().cloned());
        }
        // macros
        let mut macro_files = Vec::new();
        for i in &all {
            let p = &i.project;
            for mp in &p.macro_paths {
                for (abs, rel) in walk(&p.root.join(mp), &["sql"])? {
                    macro_files.push(crate::macros::MacroFile {
                        package: p.name.clone(),
                        path: format!("{mp}/{rel}"),
                        text: read(&abs)?,
                    });
                }
            }
        }
        let packages: Vec<&Project> = all.iter().map(|i| &*i.project).collect();
        let macro_files = crate::data_tests::macro_sources(&packages, macro_files)?;
        let (mut env, macro_names) = jinja::environment(&info, &macro_files)?;
        let key = state_path.map(|_| partial::global_key(&info, &macro_files));
        let prev = match (state_path, &key) {
            (Some(p), Some(k)) => partial::load(p, k),
            _ => None,
        };
        tracing::debug!(
            "timing: macros and partial parse state read at {:?}",
            t0.elapsed()
        );
        let mut state = partial::State {
            format: 0,
            tarmac_version: String::new(),
            key: key.clone().unwrap_or_default(),
            ..Default::default()
        };
        let mut reparsed = 0usize;
        let target = &info.target;
        let mut nodes: IndexMap<String, Node> = IndexMap::new();
        let mut sources = IndexMap::new();
        let mut tests = IndexMap::new();
        let mut unit_tests = IndexMap::new();
        let mut errors: Vec<String> = Vec::new();
        let parse_resolver: Arc<dyn Resolver> = Arc::new(ParseResolver {
            database: target.database.clone(),
            schema: target.schema.clone(),
        });
        // properties entries with no node of their own package's (dbt then
        // patches the node of that name in another package)
        let mut resources: Vec<crate::resources::Resource> = Vec::new();
        let mut foreign: Vec<(ResourceType, String, crate::properties::NodeProps)> = Vec::new();
        let mut foreign_names: Vec<String> = Vec::new();
        // problems of properties files, all projects' (see below)
        let mut problems: Vec<Error> = Vec::new();
        for pinfo in &all {
            let project = pinfo.project.clone();
            let root = project.root.clone();
            let is_root = project.name == info.project.name;
            // partial parse state keys: a package's files by `pkg://path`
            let skey = |ofp: &str| -> String {
                if is_root {
                    ofp.to_string()
                } else {
                    format!("{}://{ofp}", project.name)
                }
            };
            // properties: YAML parsing is the slow part, done on all cores, and
            // only for files that changed since the partial parse state
            let mut yaml_files = Vec::new();
            for p in project
                .model_paths
                .iter()
                .chain(&project.seed_paths)
                .chain(&project.snapshot_paths)
            {
                for (abs, rel) in walk(&root.join(p), &["yml", "yaml"])? {
                    yaml_files.push((abs, format!("{p}/{rel}")));
                }
            }
            let docs = crate::par::map(
                &yaml_files,
                |(abs, rel)| -> Result<(partial::YamlEntry, bool)> {
                    let text = read(abs)?;
                    let checksum = partial::sha256_hex(text.as_bytes());
                    if let Some(e) = prev.as_ref().and_then(|s| s.yaml.get(&skey(rel))) {
                        if e.checksum == checksum {
                            return Ok((e.clone(), false));
                        }
                    }
                    let doc = crate::yaml::parse(abs, &text)?;
                    Ok((partial::YamlEntry { checksum, doc }, true))
                },
            );
            tracing::debug!(
                "timing: properties files of {} read at {:?}",
                project.name,
                t0.elapsed()
            );
            let mut props = Properties::default();
            // Every problem of every properties file is reported at once:
            // the files that are not YAML, each file's every bad key, and
            // every config whose Jinja fails to render.
            let before = problems.len();
            for ((abs, rel), doc) in yaml_files.iter().zip(docs) {
                let entry = match doc {
                    Ok((entry, fresh)) => {
                        reparsed += usize::from(fresh);
                        entry
                    }
                    Err(e @ Error::File(dbt_project::Error::Yaml { .. })) => {
                        problems.push(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if let Err(e) = props.add_file(abs, rel, &entry.doc) {
                    problems.push(e.into());
                }
                state.yaml.insert(skey(rel), entry);
            }
            crate::properties::render_configs(
                &mut props,
                &crate::project::FileEnv::new(
                    &info
                        .project
                        .vars_for_package(&project.name, (!is_root).then_some(&*project)),
                    Some(target),
                ),
                &root,
                &mut problems,
            );
            tracing::debug!(
                "timing: properties of {} typed at {:?}",
                project.name,
                t0.elapsed()
            );
            if problems.len() > before {
                // this project's nodes are left out; the next project's
                // files are still read, for their problems
                continue;
            }
            // sources (before the kinds: generic tests attach to them)
            let mut own_sources = IndexMap::new();
            for t in props.sources.iter().cloned() {
                let uid = format!("source.{}.{}.{}", project.name, t.source_name, t.name);
                let mut relation = Relation::new(
                    t.database.as_deref().unwrap_or(&target.database),
                    &t.schema,
                    &t.identifier,
                )
                .with_quoting(t.quoting);
                match crate::external_source::external_location(&t) {
                    Ok(external) => relation.external = external,
                    Err(message) => problems.push(Error::Yaml {
                        path: project.root.join(&t.file),
                        message,
                    }),
                }
                own_sources.insert(
                    uid.clone(),
                    Source {
                        unique_id: uid,
                        package: project.name.clone(),
                        table: t,
                        relation,
                    },
                );
            }
            // every kind's nodes: models, snapshots, seeds, data tests, unit tests
            let mut cx = crate::kinds::Discover {
                info: &info,
                pinfo,
                props: &props,
                env: &mut env,
                macro_names: &macro_names,
                parse_resolver: &parse_resolver,
                sources: &own_sources,
                prev: prev.as_ref(),
                state: &mut state,
                reparsed: &mut reparsed,
                nodes: &mut nodes,
                tests: &mut tests,
                unit_tests: &mut unit_tests,
                errors: &mut errors,
            };
            for kind in crate::kinds::all() {
                kind.discover(&mut cx)?;
                tracing::debug!(
                    "timing: {}s of {} discovered at {:?}",
                    kind.resource_type().as_str(),
                    project.name,
                    t0.elapsed()
                );
            }
            for (name, p) in &props.snapshots {
                if p.relation.is_none()
                    && !nodes.contains_key(&format!("snapshot.{}.{name}", project.name))
                {
                    warnings.push(format!(
                        "{}: properties for snapshot {name}, which does not exist (or is disabled)",
                        p.file
                    ));
                }
            }
            for (name, p) in &props.models {
                let id = format!("model.{}.{name}", project.name);
                let found = nodes.contains_key(&id)
                    || (!p.versions.is_empty()
                        && nodes.keys().any(|k| {
                            k.strip_prefix(id.as_str())
                                .is_some_and(|v| v.starts_with(".v"))
                        }));
                if !found {
                    foreign.push((ResourceType::Model, project.name.clone(), p.clone()));
                    foreign_names.push(name.clone());
                }
            }
            for (name, p) in &props.seeds {
                if !nodes.contains_key(&format!("seed.{}.{name}", project.name)) {
                    foreign.push((ResourceType::Seed, project.name.clone(), p.clone()));
                    foreign_names.push(name.clone());
                }
            }
            sources.extend(own_sources);
            for (kind, rel, item) in &props.resources {
                // `path` is relative to the resource path the file is in
                let path = project
                    .model_paths
                    .iter()
                    .chain(&project.seed_paths)
                    .chain(&project.snapshot_paths)
                    .find_map(|p| rel.strip_prefix(&format!("{p}/")))
                    .unwrap_or(rel);
                let place = crate::resources::Place {
                    package: &project.name,
                    original_file_path: rel,
                    path,
                };
                match crate::resources::build(kind, item, &place) {
                    Ok(r) if r.enabled() => resources.push(r),
                    Ok(_) => {}
                    Err(message) => problems.push(Error::Yaml {
                        path: root.join(rel),
                        message,
                    }),
                }
            }
        }
        if problems.len() == 1 && errors.is_empty() {
            return Err(problems.remove(0));
        }
        if !problems.is_empty() {
            let all: Vec<String> = problems
                .iter()
                .map(Error::to_string)
                .chain(errors)
                .collect();
            return Err(Error::Project(all.join("\n")));
        }
        for ((kind, package, p), name) in foreign.into_iter().zip(foreign_names) {
            if !patch_foreign(&mut nodes, kind, &package, &name, &p) && kind == ResourceType::Model
            {
                warnings.push(format!(
                    "{}: properties for model {name}, which does not exist (or is disabled)",
                    p.file
                ));
            }
        }
        if !errors.is_empty() {
            return Err(Error::Project(errors.join("\n")));
        }
        tracing::debug!("timing: nodes discovered at {:?}", t0.elapsed());
        let mut m = Manifest {
            tests,
            unit_tests,
            info,
            nodes,
            sources,
            env,
            macro_names,
            macro_files,
            warnings,
            reparsed: None,
            hook_macros: HashMap::new(),
            resources,
            deferred: HashMap::new(),
            docs: Default::default(),
        };
        m.hook_macros = crate::artifacts::record_hook_macros(&m);
        // names from the state where the model's final config is unchanged
        let known: HashMap<String, (String, String, String)> = m
            .nodes
            .values()
            .filter_map(|n| {
                let e = state.models.get(&state_key(n, &m.info.project.name))?;
                let names = e.names.clone()?;
                (n.resource_type == ResourceType::Model && e.config == n.config)
                    .then(|| (n.unique_id.clone(), names))
            })
            .collect();
        // a generic test's parse-time macros, as dbt records them: its test
        // macro, then get_where_subquery (which wraps the tested relation)
        // (looked up once per test macro: 10,000 tests call a handful)
        let mut macro_ids: HashMap<(&str, Option<&str>), Option<String>> = HashMap::new();
        for (id, t) in &m.tests {
            if let crate::manifest::TestKind::Generic {
                name, namespace, ..
            } = &t.kind
            {
                let mid = macro_ids
                    .entry((name.as_str(), namespace.as_deref()))
                    .or_insert_with(|| {
                        crate::macros::test_macro_id(&m.env, name, namespace.as_deref())
                    })
                    .clone();
                if let Some(mid) = mid {
                    if let Some(n) = m.nodes.get_mut(id) {
                        n.macros = generic_test_macros(mid);
                    }
                }
            }
        }
        let named = m.resolve_names(&known)?;
        tracing::debug!("timing: names resolved at {:?}", t0.elapsed());
        m.link()?;
        m.link_resources()?;
        tracing::debug!("timing: linked at {:?}", t0.elapsed());
        if let (Some(path), Some(_)) = (state_path, &key) {
            let changed = match &prev {
                None => true,
                Some(p) => {
                    reparsed > 0
                        || !named.is_empty()
                        || p.models.len() != state.models.len()
                        || p.yaml.len() != state.yaml.len()
                }
            };
            tracing::debug!(
                "partial parse: {reparsed} of {} files parsed again{}",
                state.models.len() + state.yaml.len(),
                if prev.is_none() {
                    " (no usable state: full parse)"
                } else {
                    ""
                }
            );
            for (ofp, config, names, env) in named {
                if let Some(e) = state.models.get_mut(&ofp) {
                    e.config = config;
                    e.names = Some(names);
                    e.env.extend(env);
                }
            }
            m.reparsed = Some(reparsed);
            if changed {
                state.format = partial::FORMAT;
                state.tarmac_version = env!("CARGO_PKG_VERSION").to_string();
                if let Err(e) = partial::save(path, &state) {
                    m.warnings.push(format!(
                        "could not write the partial parse state {}: {e}",
                        path.display()
                    ));
                }
            }
        }
        Ok(m)
    }

    /// Schema, alias and database per node through `generate_*_name`
    /// (the project's own macro when it defines one, else dbt's default:
    /// <https://docs.getdbt.com/docs/build/custom-schemas>).
    /// `known` holds names the partial parse state still vouches for; the
    /// others are computed and returned (file, config, names, env vars read).
    fn resolve_names(
        &mut self,
        known: &HashMap<String, (String, String, String)>,
    ) -> Result<Vec<Named>> {
        let target = self.info.target.clone();
        let has = |n: &str| self.macro_names.iter().any(|m| m == n);
        let (gs, ga, gd) = (
            has("generate_schema_name"),
            has("generate_alias_name"),
            has("generate_database_name"),
        );
        // one compiled call per macro, not one per node
        let tpl = |macro_name: &str, has: bool| -> Result<Option<minijinja::Template<'_, '_>>> {
            if !has {
                return Ok(None);
            }
            let src: &'static str = match macro_name {
                "generate_schema_name" => "{{ generate_schema_name(custom, node) }}",
                "generate_alias_name" => "{{ generate_alias_name(custom, node) }}",
                _ => "{{ generate_database_name(custom, node) }}",
            };
            self.env
                .template_from_str(src)
                .map(Some)
                .map_err(|e| Error::jinja(macro_name, "dbt_project.yml", &e))
        };
        let (ts, ta, td) = (
            tpl("generate_schema_name", gs)?,
            tpl("generate_alias_name", ga)?,
            tpl("generate_database_name", gd)?,
        );
        // A package's own generate_*_name names that package's nodes (not
        // the root's, not another package's), as dbt 1.10 does; the root's
        // (or dbt's) names the rest.
        let root_name = self.info.project.name.clone();
        let mut calls: Vec<(String, &'static str, String, String)> = Vec::new();
        for f in &self.macro_files {
            if f.package == root_name || f.package == crate::macros::INTERNAL {
                continue;
            }
            for (name, _, _) in crate::blocks::split_macros(&f.text) {
                let found = [
                    "generate_schema_name",
                    "generate_alias_name",
                    "generate_database_name",
                ]
                .into_iter()
                .find(|w| *w == name);
                if let Some(which) = found {
                    let src = format!("{{{{ {}.{which}(custom, node) }}}}", f.package);
                    calls.push((f.package.clone(), which, src, f.path.clone()));
                }
            }
        }
        let mut own: HashMap<(String, &'static str), minijinja::Template<'_, '_>> = HashMap::new();
        for (package, which, src, path) in &calls {
            let t = self
                .env
                .template_from_str(src)
                .map_err(|e| Error::jinja(which, path, &e))?;
            own.insert((package.clone(), *which), t);
        }
        let own_of =
            |node: &Node, which: &'static str| own.get(&(node.package_name.clone(), which));
        let all: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| !known.contains_key(&n.unique_id))
            .collect();
        let updates = crate::par::map(
            &all,
            |node| -> Result<(String, String, String, String, crate::builtins::EnvReads)> {
                let (names, env) =
                    crate::builtins::recording_env(|| -> Result<(String, String, String)> {
                        let custom = |k: &str| node.config.str_of(k).map(String::from);
                        let (os, oa, od) = (
                            own_of(node, "generate_schema_name"),
                            own_of(node, "generate_alias_name"),
                            own_of(node, "generate_database_name"),
                        );
                        let value =
                            if gs || ga || gd || os.is_some() || oa.is_some() || od.is_some() {
                                node.to_value()
                            } else {
                                Value::UNDEFINED
                            };
                        let call = |t: &minijinja::Template<'_, '_>,
                                    arg: Option<String>|
                         -> Result<String> {
                            let ctx = minijinja::context! { custom => arg, node => value.clone() };
                            t.render(ctx).map(|s| s.trim().to_string()).map_err(|e| {
                                Error::jinja(&node.unique_id, &node.original_file_path, &e)
                            })
                        };
                        let schema = match os.or(ts.as_ref()) {
                            Some(t) => call(t, custom("schema"))?,
                            None => match custom("schema") {
                                Some(c) => format!("{}_{}", target.schema, c.trim()),
                                None => target.schema.clone(),
                            },
                        };
                        let alias = match oa.or(ta.as_ref()) {
                            Some(t) => call(t, custom("alias"))?,
                            None => custom("alias").unwrap_or_else(|| node.default_alias()),
                        };
                        let database = match od.or(td.as_ref()) {
                            Some(t) => call(t, custom("database"))?,
                            None => custom("database").unwrap_or_else(|| target.database.clone()),
                        };
                        // snapshots: `target_schema`/`target_database` (dbt < 1.9 style) win
                        let (schema, database) = if node.resource_type == ResourceType::Snapshot {
                            (
                                custom("target_schema").unwrap_or(schema),
                                custom("target_database").unwrap_or(database),
                            )
                        } else {
                            (schema, database)
                        };
                        Ok((schema, alias, database))
                    });
                let (schema, alias, database) = names?;
                Ok((node.unique_id.clone(), schema, alias, database, env))
            },
        )
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let mut named = Vec::new();
        for (id, s, a, d, env) in updates {
            if let Some(n) = self.nodes.get_mut(&id) {
                // only models are in the partial parse state
                if n.resource_type == ResourceType::Model {
                    named.push((
                        state_key(n, &self.info.project.name),
                        n.config.clone(),
                        (s.clone(), a.clone(), d.clone()),
                        env,
                    ));
                }
                n.schema = s;
                n.alias = a;
                n.database = d;
            }
        }
        for (id, (s, a, d)) in known {
            if let Some(n) = self.nodes.get_mut(id) {
                n.schema = s.clone();
                n.alias = a.clone();
                n.database = d.clone();
            }
        }
        Ok(named)
    }

    /// Resolve refs and sources to unique ids (dbt's package search order);
    /// every missing one is reported with the closest existing names.
    fn link(&mut self) -> Result<()> {
        let root = self.info.project.name.clone();
        let mut by_name: HashMap<String, std::collections::BTreeMap<String, String>> =
            HashMap::new();
        for n in self.nodes.values() {
            for key in ref_keys(n) {
                by_name
                    .entry(key)
                    .or_default()
                    .entry(n.package_name.clone())
                    .or_insert_with(|| n.unique_id.clone());
            }
        }
        let mut src_by_name: HashMap<String, std::collections::BTreeMap<String, String>> =
            HashMap::new();
        for s in self.sources.values() {
            src_by_name
                .entry(format!("{}.{}", s.table.source_name, s.table.name))
                .or_default()
                .insert(s.package.clone(), s.unique_id.clone());
        }
        let mut errors = Vec::new();
        let mut deps = Vec::new();
        // a generic test is named with its YAML key too
        let whereabouts = |n: &Node| match self
            .tests
            .get(&n.unique_id)
            .and_then(|t| t.yaml_key.as_deref())
        {
            Some(k) => format!(
                "{} '{}' ({}, key {k})",
                capitalized(n.resource_type.as_str()),
                n.unique_id,
                n.original_file_path
            ),
            None => format!(
                "{} '{}' ({})",
                capitalized(n.resource_type.as_str()),
                n.unique_id,
                n.original_file_path
            ),
        };
        for n in self.nodes.values() {
            let mut d = Vec::new();
            for (pkg, r) in &n.refs {
                let order = search_order(&root, &n.package_name, pkg.as_deref());
                match find_in(&by_name, r, &order) {
                    Some(id) => d.push(id.clone()),
                    None => {
                        let close = closest(r, by_name.keys().map(String::as_str));
                        let hint = if close.is_empty() {
                            String::new()
                        } else {
                            format!(" (did you mean {}?)", close.join(", "))
                        };
                        let what = match pkg {
                            Some(p) => format!("'{p}.{r}'"),
                            None => format!("'{r}'"),
                        };
                        errors.push(format!(
                            "{} depends on a node named {what} which was not found{hint}",
                            whereabouts(n)
                        ));
                    }
                }
            }
            for (s, t) in &n.sources {
                let order = search_order(&root, &n.package_name, None);
                match find_in(&src_by_name, &format!("{s}.{t}"), &order) {
                    Some(id) => d.push(id.clone()),
                    None => {
                        let names: Vec<&str> = src_by_name.keys().map(String::as_str).collect();
                        let close = closest(&format!("{s}.{t}"), names.into_iter());
                        let hint = if close.is_empty() {
                            String::new()
                        } else {
                            format!(" (did you mean {}?)", close.join(", "))
                        };
                        errors.push(format!(
                            "{} depends on a source named '{s}.{t}' which was not found{hint}",
                            whereabouts(n)
                        ));
                    }
                }
            }
            d.dedup();
            deps.push((n.unique_id.clone(), d));
        }
        if !errors.is_empty() {
            return Err(Error::Graph(format!(
                "Compilation Error\n  {}",
                errors.join("\n  ")
            )));
        }
        for (id, d) in deps {
            if let Some(n) = self.nodes.get_mut(&id) {
                n.depends_on = d;
            }
        }
        Ok(())
    }

    /// Resolve exposures', metrics' and semantic models' dependencies with
    /// the same lookups as nodes' (see [`crate::resources::resolve`]).
    fn link_resources(&mut self) -> Result<()> {
        if self.resources.is_empty() {
            return Ok(());
        }
        let root = self.info.project.name.clone();
        let mut by_name: HashMap<String, std::collections::BTreeMap<String, &Node>> =
            HashMap::new();
        for n in self.nodes.values() {
            if !matches!(
                n.resource_type,
                ResourceType::Model | ResourceType::Seed | ResourceType::Snapshot
            ) {
                continue;
            }
            for key in ref_keys(n) {
                by_name
                    .entry(key)
                    .or_default()
                    .entry(n.package_name.clone())
                    .or_insert(n);
            }
        }
        let mut src_by_name: HashMap<String, std::collections::BTreeMap<String, String>> =
            HashMap::new();
        for s in self.sources.values() {
            src_by_name
                .entry(format!("{}.{}", s.table.source_name, s.table.name))
                .or_default()
                .insert(s.package.clone(), s.unique_id.clone());
        }
        let find_ref = |caller: &str, pkg: Option<&str>, key: &str| {
            let n = find_in(&by_name, key, &search_order(&root, caller, pkg))?;
            Some((
                n.unique_id.clone(),
                serde_json::json!({
                    "alias": n.alias, "schema_name": n.schema, "database": n.database,
                    "relation_name": (!n.is_ephemeral()).then(|| n.relation().render()),
                }),
            ))
        };
        let find_source = |caller: &str, s: &str, t: &str| {
            find_in(
                &src_by_name,
                &format!("{s}.{t}"),
                &search_order(&root, caller, None),
            )
            .cloned()
        };
        let mut resources = std::mem::take(&mut self.resources);
        let errors = crate::resources::resolve(&mut resources, &find_ref, &find_source);
        self.resources = resources;
        if !errors.is_empty() {
            return Err(Error::Graph(format!(
                "Compilation Error\n  {}",
                errors.join("\n  ")
            )));
        }
        // exposures join the DAG as nodes of their own type, after their
        // parents; a metric parent is not a node, so it is left out
        for r in self.resources.iter().filter(|r| r.kind == "exposures") {
            let j = &r.json;
            let strings = |v: &serde_json::Value| -> Vec<String> {
                v.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            };
            let mut config = Config::new();
            for k in ["enabled", "tags", "meta"] {
                if let Some(v) = j["config"].get(k) {
                    config.insert(k.to_string(), v.clone());
                }
            }
            let node = Node {
                original_file_path: j["original_file_path"].as_str().unwrap_or("").into(),
                path: j["path"].as_str().unwrap_or("").into(),
                fqn: strings(&j["fqn"]),
                config,
                description: j["description"].as_str().unwrap_or("").into(),
                refs: r.refs.clone(),
                sources: r.sources.clone(),
                depends_on: strings(&j["depends_on"]["nodes"])
                    .into_iter()
                    .filter(|d| self.nodes.contains_key(d) || self.sources.contains_key(d))
                    .collect(),
                database: self.info.target.database.clone(),
                schema: self.info.target.schema.clone(),
                ..Node::new(
                    r.unique_id.clone(),
                    ResourceType::Exposure,
                    r.name.clone(),
                    r.package.clone(),
                )
            };
            self.nodes.insert(node.unique_id.clone(), node);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(package: &str) -> Node {
        Node {
            original_file_path: "seeds/exceptions.csv".into(),
            path: "exceptions.csv".into(),
            fqn: vec![package.into(), "exceptions".into()],
            database: "db".into(),
            schema: "main".into(),
            ..Node::new(
                format!("seed.{package}.exceptions"),
                ResourceType::Seed,
                "exceptions",
                package,
            )
        }
    }

    #[test]
    fn builtin_unique_and_not_null_record_only_their_macro() {
        assert_eq!(
            generic_test_macros("macro.dbt.test_unique".into()),
            ["macro.dbt.test_unique"]
        );
        assert_eq!(
            generic_test_macros("macro.dbt.test_not_null".into()),
            ["macro.dbt.test_not_null"]
        );
        // an override of unique renders as any other test
        assert_eq!(
            generic_test_macros("macro.p.test_unique".into()),
            ["macro.p.test_unique", "macro.dbt.get_where_subquery"]
        );
        assert_eq!(
            generic_test_macros("macro.dbt.test_accepted_values".into()),
            [
                "macro.dbt.test_accepted_values",
                "macro.dbt.get_where_subquery"
            ]
        );
    }

    #[test]
    fn properties_patch_another_packages_node_of_that_name() {
        let doc = crate::yaml::parse(
            Path::new("seeds.yml"),
            "seeds:\n  - name: exceptions\n    description: Exceptions.\n    config:\n      column_types: {fct_name: varchar}\n    columns:\n      - name: fct_name\n      - name: comment\n",
        )
        .unwrap();
        let mut props = Properties::default();
        props
            .add_file(Path::new("seeds.yml"), "seeds/seeds.yml", &doc)
            .unwrap();
        let p = &props.seeds["exceptions"];
        let mut nodes = IndexMap::new();
        nodes.insert("seed.root.exceptions".to_string(), seed("root"));
        assert!(patch_foreign(
            &mut nodes,
            ResourceType::Seed,
            "pkg",
            "exceptions",
            p
        ));
        let n = &nodes["seed.root.exceptions"];
        assert_eq!(n.description, "Exceptions.");
        assert_eq!(
            n.columns.keys().collect::<Vec<_>>(),
            ["fct_name", "comment"]
        );
        assert_eq!(n.patch_path.as_deref(), Some("pkg://seeds/seeds.yml"));
        assert_eq!(n.config["column_types"]["fct_name"], "varchar");
        // a node with its own properties keeps them; no node, no patch
        assert!(!patch_foreign(
            &mut nodes,
            ResourceType::Seed,
            "other",
            "exceptions",
            p
        ));
        assert!(!patch_foreign(
            &mut nodes,
            ResourceType::Model,
            "pkg",
            "exceptions",
            p
        ));
    }
}
