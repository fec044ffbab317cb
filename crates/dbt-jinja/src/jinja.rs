//! The Jinja environment and dbt's context
//! (<https://docs.getdbt.com/reference/dbt-jinja-functions>).
//!
//! One `Environment` per run holds every model and macro as a template.
//! Run-wide names (`var`, `env_var`, `target`, `modules`, user macros) are
//! globals; per-node names (`this`, `ref`, `config`, `adapter`, ...) are passed
//! at render time. A user macro is a global wrapper that evaluates the macro's
//! own template with the caller's per-node names, so macros from macro files
//! see `this` and `ref` like dbt's do, and `{{ return(x) }}` works: `return`
//! raises a marker error that the wrapper turns into the macro's value.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Environment, Error as JError, ErrorKind, State};
use serde_json::Map;

use crate::builtins::{add_serialization, env_var, json_to_value, value_to_json, var_fn};
use crate::config::Config;
use crate::database::{Database, QueryResult};
use crate::project::{Project, Target};
use crate::pyargs::Args;
use crate::relation::Relation;
use crate::render_error::{undefined_message, DatabaseFailure};

fn db_err(e: DatabaseFailure) -> JError {
    JError::new(ErrorKind::InvalidOperation, e.0.clone()).with_source(e)
}

/// The database's message, when a render failed because the database
/// refused a query (see [`DatabaseFailure`]).
pub fn database_failure(e: &JError) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(f) = c.downcast_ref::<DatabaseFailure>() {
            return Some(f.0.clone());
        }
        cur = c.source();
    }
    None
}

fn err(msg: impl Into<String>) -> JError {
    JError::new(ErrorKind::InvalidOperation, msg.into())
}

/// What an undefined name is during a parse-phase render, as dbt's parse
/// context has it: any attribute, item, call or method call gives itself,
/// it iterates as nothing, tests false and renders as nothing.
#[derive(Debug)]
pub(crate) struct ParseUndefined;

impl Object for ParseUndefined {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, _key: &Value) -> Option<Value> {
        Some(Value::from_dyn_object(self.clone()))
    }

    fn call(self: &Arc<Self>, _s: &State<'_, '_>, _args: &[Value]) -> Result<Value, JError> {
        Ok(Value::from_dyn_object(self.clone()))
    }

    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        _m: &str,
        _args: &[Value],
    ) -> Result<Value, JError> {
        Ok(Value::from_dyn_object(self.clone()))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Empty
    }

    fn is_true(self: &Arc<Self>) -> bool {
        false
    }

    fn render(self: &Arc<Self>, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// The names `source` reads that nothing defines in `root` (a node's
/// render context over the environment's globals), in the order they
/// first appear in the text. Asked only once a render has failed: the
/// template is parsed again to find them.
pub fn undefined_names(env: &Environment<'static>, source: &str, root: &Value) -> Vec<String> {
    let Ok(tmpl) = env.template_from_str(source) else {
        return vec![];
    };
    let mut names: Vec<(usize, String)> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|n| {
            env.compile_expression(&format!("{n} is defined"))
                .and_then(|e| e.eval(root))
                .map(|v| !v.is_true())
                .unwrap_or(false)
        })
        .map(|n| (first_word_at(source, &n), n))
        .collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// Byte offset of the first occurrence of `word` as a whole identifier.
fn first_word_at(text: &str, word: &str) -> usize {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word)
        .find(|(i, _)| {
            let before = text[..*i].chars().next_back();
            let after = text[i + word.len()..].chars().next();
            !before.is_some_and(ident) && !after.is_some_and(ident)
        })
        .map(|(i, _)| i)
        .unwrap_or(usize::MAX)
}

/// `--empty` of the running command (dbt's `flags.EMPTY`): `ref()` and
/// `source()` give relations limited to no rows while executing. Set by
/// the engine's `execute` for each command it runs.
static EMPTY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// See [`EMPTY`].
pub fn set_empty(on: bool) {
    EMPTY.store(on, std::sync::atomic::Ordering::Relaxed);
}

thread_local! {
    /// The `[start, end)` window of the microbatch batch this thread is
    /// compiling (see the engine's `microbatch`): `ref()`/`source()` of a node
    /// with an `event_time` read only that window, and `model.batch` is set.
    static BATCH: std::cell::RefCell<Option<BatchWindow>> = const { std::cell::RefCell::new(None) };
}

/// One microbatch batch as Jinja sees it (`model.batch`).
#[derive(Debug, Clone)]
pub struct BatchWindow {
    /// `20240102`: the batch start at the batch size's precision.
    pub id: String,
    /// As dbt prints them: `2024-01-02 00:00:00+00:00`.
    pub start: String,
    pub end: String,
    /// The same window as times, to intersect with `--sample`'s.
    pub range: TimeWindow,
}

/// `[start, end)` in UTC.
pub type TimeWindow = (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>);

/// `--sample` of the running command: models and snapshots read the
/// relations of nodes with an `event_time` only within this window. Set by
/// the engine's `execute` for each command it runs, as [`EMPTY`] is.
static SAMPLE: std::sync::Mutex<Option<TimeWindow>> = std::sync::Mutex::new(None);

/// See [`SAMPLE`].
pub fn set_sample(window: Option<TimeWindow>) {
    if let Ok(mut s) = SAMPLE.lock() {
        *s = window;
    }
}

fn sample() -> Option<TimeWindow> {
    SAMPLE.lock().ok().and_then(|s| *s)
}

/// Run `f` with `window` as this thread's batch.
pub fn with_batch<T>(window: Option<BatchWindow>, f: impl FnOnce() -> T) -> T {
    let before = BATCH.with(|b| b.replace(window));
    let out = f();
    BATCH.with(|b| *b.borrow_mut() = before);
    out
}

/// This thread's batch, if it is compiling one.
pub fn current_batch() -> Option<BatchWindow> {
    BATCH.with(|b| b.borrow().clone())
}

/// Whether a node's refs follow `--sample`: models' and snapshots', as dbt's.
fn samples(unique_id: &str) -> bool {
    unique_id.starts_with("model.") || unique_id.starts_with("snapshot.")
}

/// The relation a `ref()`/`source()` call gives: under `--empty`, while
/// executing, limited to no rows, an ephemeral model's CTE too (as dbt);
/// a unit test's fixture CTE stays as it is.
fn limited(mut rel: Relation, executing: bool, ephemeral: bool, sampled: bool) -> Relation {
    if executing
        && EMPTY.load(std::sync::atomic::Ordering::Relaxed)
        && (ephemeral || rel.kind.as_deref() != Some("cte"))
    {
        rel.limit = Some(0);
    }
    if executing && rel.event_time.is_some() {
        // a batch reads its window (within the sample's, under --sample);
        // any other model or snapshot under --sample reads the sample's
        let window = match (current_batch(), sample()) {
            (Some(b), Some(s)) => Some((b.range.0.max(s.0), b.range.1.min(s.1))),
            (Some(b), None) => Some(b.range),
            (None, Some(s)) if sampled => Some(s),
            _ => None,
        };
        if let Some((start, end)) = window {
            rel.window = Some((
                crate::pydatetime::python_time(&start),
                crate::pydatetime::python_time(&end),
            ));
        }
    }
    rel
}

/// What `{{ ref(..) }}` or `{{ source(..) }}` prints in node `unique_id`
/// while executing, for code that resolves a reference without rendering
/// (the engine's native built-in tests): the same `--empty` limit and the
/// same batch or sample window as the Jinja functions apply.
pub fn referenced_sql(rel: Relation, ephemeral: bool, unique_id: &str) -> String {
    limited(rel, true, ephemeral, samples(unique_id))
        .to_value()
        .to_string()
}

/// What a run knows before any node renders.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub project: Arc<Project>,
    pub target: Target,
    pub invocation_id: String,
    pub run_started_at: chrono::DateTime<chrono::Utc>,
    pub full_refresh: bool,
    pub vars: Map<String, serde_json::Value>,
    pub which: String,
    /// The installed packages (each with `overrides` set to the root).
    pub packages: Vec<Arc<Project>>,
    /// `--store-failures`: tests whose config leaves `store_failures` unset
    /// keep their failing rows (`flags.STORE_FAILURES`).
    pub store_failures: bool,
}

impl RunInfo {
    /// The same run seen from a package: its project (paths, configs) and
    /// the vars its nodes see.
    pub fn for_package(&self, p: &Arc<Project>) -> RunInfo {
        RunInfo {
            project: p.clone(),
            vars: self.project.vars_for_package(&p.name, Some(p)),
            ..self.clone()
        }
    }
}

/// Install the Python stand-ins ([`crate::extras`]) and the run's `flags`.
pub(crate) fn install_python_and_flags(env: &mut Environment<'static>, info: &RunInfo) {
    crate::extras::install_modules(env);
    env.add_global(
        "flags",
        minijinja::context! {
            FULL_REFRESH => info.full_refresh, WHICH => info.which.clone(),
            STORE_FAILURES => info.store_failures, FAIL_FAST => false, USE_COLORS => false,
            LOG_FORMAT => "default", DEBUG => false, WARN_ERROR => false,
            PARTIAL_PARSE => false, INTROSPECT => true, EMPTY => false,
            TARGET_PATH => info.project.target_path.clone(),
        },
    );
}

/// `exceptions.raise_compiler_error(msg)`, `exceptions.warn(msg)`.
#[derive(Debug)]
struct Exceptions;

impl Object for Exceptions {
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let msg = args.first().map(|a| a.to_string()).unwrap_or_default();
        match m {
            "warn" => {
                eprintln!("warning: {msg}");
                Ok(Value::from(""))
            }
            "raise_compiler_error" | "raise_not_implemented" | "raise_database_error" => {
                Err(err(format!("Compilation Error: {msg}")))
            }
            _ => Err(err(format!("Compilation Error: {m}: {msg}"))),
        }
    }
}

/// Build the run's environment: globals and user macros. Models are added
/// afterwards with [`add_template`].
pub fn environment(
    info: &RunInfo,
    macro_files: &[crate::macros::MacroFile],
) -> Result<(Environment<'static>, Vec<String>), crate::Error> {
    let mut env = Environment::new();
    // dbt's Jinja drops the template's final newline
    env.set_keep_trailing_newline(false);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.add_function("env_var", env_var);
    env.add_global("var", var_fn(info.vars.clone()));
    // dbt prints `log(msg, info=True)` on the console; the rest goes to its log file
    env.add_function("log", |msg: Value, info: Option<Value>| {
        if info.is_some_and(|i| i.is_true()) {
            crate::logfmt::info_line(&msg.to_string());
        } else {
            tracing::debug!("{msg}");
        }
        Value::from("")
    });
    env.add_function("print", |msg: Value| {
        println!("{msg}");
        Value::from("")
    });
    env.add_function("return", crate::macros::return_fn);
    add_serialization(&mut env);
    env.add_global("exceptions", Value::from_object(Exceptions));
    env.add_global(
        "run_started_at",
        crate::pydatetime::DateTime::utc(info.run_started_at.naive_utc()).into_value(),
    );
    env.add_global("invocation_id", Value::from(info.invocation_id.clone()));
    env.add_global("project_name", Value::from(info.project.name.clone()));
    env.add_global("target", crate::project::target_value(&info.target));
    install_python_and_flags(&mut env, info);
    // `graph` is filled after parsing (lib.rs); empty while parsing, as in dbt
    env.add_global(
        "graph",
        minijinja::context! { nodes => minijinja::context!{}, sources => minijinja::context!{}, macros => minijinja::context!{} },
    );
    let names = crate::macros::register(
        &mut env,
        &info.project.name,
        macro_files,
        info.project.dispatch.clone(),
        &info.project.dependencies,
    )?;
    let scopes = info
        .packages
        .iter()
        .map(|p| (p.name.clone(), var_fn(info.for_package(p).vars)))
        .collect();
    crate::macros::install_package_scopes(&mut env, scopes);
    install_context(&mut env);
    Ok((env, names))
}

/// dbt's `context`: every name of the context as a mapping; here the run's
/// globals (macros included), and a node's names over them in [`scoped`].
/// Called again when a global changes after the environment is built
/// (`graph`, once the project is parsed).
pub fn install_context(env: &mut Environment<'static>) {
    let run: BTreeMap<String, Value> = env
        .globals()
        .filter(|(k, _)| *k != "context")
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.add_global(
        "context",
        Value::from_object(DbtContext {
            node: BTreeMap::new(),
            run: Arc::new(run),
        }),
    );
}

/// dbt's `context` variable: the rendering context as a mapping
/// (`context['project_name']`, `context.get(macro_name)`): a node's names
/// over the run's globals.
#[derive(Debug)]
pub(crate) struct DbtContext {
    node: BTreeMap<String, Value>,
    run: Arc<BTreeMap<String, Value>>,
}

impl DbtContext {
    /// The same run's context with a node's names over it.
    fn with_node(&self, node: BTreeMap<String, Value>) -> DbtContext {
        DbtContext {
            node,
            run: self.run.clone(),
        }
    }
}

impl Object for DbtContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let k = key.as_str()?;
        if k == "context" {
            return Some(Value::from_dyn_object(self.clone()));
        }
        self.node.get(k).or_else(|| self.run.get(k)).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        let keys: std::collections::BTreeSet<&String> =
            self.node.keys().chain(self.run.keys()).collect();
        let keys: Vec<Value> = keys
            .into_iter()
            .filter(|k| !k.starts_with("__tarmac"))
            .map(|k| Value::from(k.as_str()))
            .collect();
        minijinja::value::Enumerator::Values(keys)
    }
}

/// How `ref()`/`source()` become relations in this phase.
pub trait Resolver: Send + Sync {
    /// A model or seed, or an ephemeral model's CTE (with its unique id).
    fn resolve_ref(
        &self,
        package: Option<&str>,
        name: &str,
    ) -> Result<(Relation, Option<String>), String>;
    fn resolve_source(&self, source: &str, table: &str) -> Result<Relation, String>;
    /// [`Resolver::resolve_ref`] from a node of package `caller` (dbt
    /// searches the root project, then the caller's package, then any).
    fn resolve_ref_from(
        &self,
        _caller: &str,
        package: Option<&str>,
        name: &str,
    ) -> Result<(Relation, Option<String>), String> {
        self.resolve_ref(package, name)
    }
    /// [`Resolver::resolve_source`] from a node of package `caller`.
    fn resolve_source_from(
        &self,
        _caller: &str,
        source: &str,
        table: &str,
    ) -> Result<Relation, String> {
        self.resolve_source(source, table)
    }
}

/// Per-node state shared by the node's Jinja functions.
pub struct NodeCtx {
    pub unique_id: String,
    pub name: String,
    pub execute: bool,
    pub this: Relation,
    /// The config as known (tree < properties < in-file so far).
    pub config: Mutex<Config>,
    /// What `{{ config(...) }}` calls set, in call order.
    pub file_config: Mutex<Config>,
    pub refs: Mutex<Vec<(Option<String>, String)>>,
    pub sources: Mutex<Vec<(String, String)>>,
    /// Ephemeral models referenced, in order (unique ids).
    pub ephemerals: Mutex<Vec<String>>,
    pub resolver: Arc<dyn Resolver>,
    /// The database, when the phase has one (compile and run; never parse).
    pub db: Option<Arc<dyn Database>>,
    pub is_incremental: bool,
    pub full_refresh: bool,
    pub results: Mutex<HashMap<String, Value>>,
    pub model: Value,
    /// Set for a parse render whose text the compile reuses: every
    /// `ref()`/`source()` call, in order; the relation each returns prints
    /// as a token for its index ([`Rendered`]).
    pub deferred: Option<Mutex<Vec<Reference>>>,
}

/// A `ref()` or `source()` call of a node's template, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `ref('package', 'name')`; a version is in the name (`m.v1`).
    Ref {
        package: Option<String>,
        name: String,
    },
    Source {
        source: String,
        table: String,
    },
}

impl Reference {
    /// What the call returns in node `unique_id` while executing, and the
    /// ephemeral model's unique id when it names one: exactly what the
    /// `ref()` and `source()` functions give a template.
    fn resolve(
        &self,
        unique_id: &str,
        resolver: &dyn Resolver,
        executing: bool,
    ) -> Result<(Relation, Option<String>), String> {
        let caller = crate::macros::package_of(unique_id);
        let (rel, eph) = match self {
            Reference::Ref { package, name } => {
                resolver.resolve_ref_from(caller, package.as_deref(), name)?
            }
            Reference::Source { source, table } => {
                (resolver.resolve_source_from(caller, source, table)?, None)
            }
        };
        let ephemeral = eph.is_some();
        Ok((limited(rel, executing, ephemeral, samples(unique_id)), eph))
    }
}

/// A model's text as its parse rendered it, for the compile to reuse
/// instead of rendering the model again: the template read nothing whose
/// value differs between the phases (see
/// [`crate::macros::PhaseCheck`]), so only its references differ, and
/// those are tokens here ([`Relation::deferred`]) until
/// [`Rendered::resolve`] puts in the final names.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub text: String,
    pub references: Vec<Reference>,
    /// What the render's `config()` calls set.
    pub file_config: Config,
}

impl Rendered {
    /// The compiled text of node `unique_id` and the ephemeral models it
    /// references (in call order), as a render with `execute = true` gives
    /// them; None when a reference does not resolve or a token was cut
    /// (the caller renders, which reports the error as a render does).
    pub fn resolve(
        &self,
        unique_id: &str,
        resolver: &dyn Resolver,
    ) -> Option<(String, Vec<String>)> {
        let mut names = Vec::with_capacity(self.references.len());
        let mut ephemerals: Vec<String> = Vec::new();
        for r in &self.references {
            let (rel, eph) = r.resolve(unique_id, resolver, true).ok()?;
            if let Some(id) = eph {
                if !ephemerals.contains(&id) {
                    ephemerals.push(id);
                }
            }
            names.push(rel.to_value().to_string());
        }
        use crate::phase::{TOKEN_END, TOKEN_HEAD, TOKEN_START, TOKEN_TAIL};
        let mut out = String::with_capacity(self.text.len() + 64 * names.len());
        let mut rest = self.text.as_str();
        let cut = |text: &str| text.contains(TOKEN_END) || text.contains(TOKEN_TAIL);
        while let Some(at) = rest.find(TOKEN_START) {
            if cut(&rest[..at]) {
                return None;
            }
            out.push_str(&rest[..at]);
            let after = &rest[at + TOKEN_START.len_utf8()..];
            let end = after.find(TOKEN_END)?;
            let n: usize = after[..end]
                .strip_prefix(TOKEN_HEAD)?
                .strip_suffix(TOKEN_TAIL)?
                .parse()
                .ok()?;
            out.push_str(names.get(n)?);
            rest = &after[end + TOKEN_END.len_utf8()..];
        }
        if cut(rest) {
            return None;
        }
        out.push_str(rest);
        Some((out, ephemerals))
    }
}

impl NodeCtx {
    /// Forget what a failed render recorded, for a render again from the
    /// start: `config` goes back to `config` (what it was before).
    fn reset_records(&self, config: Option<Config>) {
        if let (Some(c), Ok(mut mine)) = (config, self.config.lock()) {
            *mine = c;
        }
        if let Ok(mut v) = self.refs.lock() {
            v.clear();
        }
        if let Ok(mut v) = self.file_config.lock() {
            *v = Config::new();
        }
        if let Ok(mut v) = self.sources.lock() {
            v.clear();
        }
        if let Ok(mut v) = self.ephemerals.lock() {
            v.clear();
        }
    }

    /// A context with nothing recorded yet, rendering with `execute = true`,
    /// no database, not incremental, not a full refresh. Every phase starts
    /// here and overrides only what differs (struct update syntax), so a new
    /// field gets its default in one place.
    pub fn new(
        unique_id: String,
        name: String,
        this: Relation,
        config: Config,
        resolver: Arc<dyn Resolver>,
        model: Value,
    ) -> Self {
        NodeCtx {
            unique_id,
            name,
            execute: true,
            this,
            config: Mutex::new(config),
            file_config: Mutex::new(Config::new()),
            refs: Mutex::new(vec![]),
            sources: Mutex::new(vec![]),
            ephemerals: Mutex::new(vec![]),
            resolver,
            db: None,
            is_incremental: false,
            full_refresh: false,
            results: Mutex::new(HashMap::new()),
            model,
            deferred: None,
        }
    }
}

/// `config`: callable (`config(materialized='table')`), plus `get`/`require`.
struct ConfigObj(Arc<NodeCtx>);

impl std::fmt::Debug for ConfigObj {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("config")
    }
}

impl Object for ConfigObj {
    fn call(self: &Arc<Self>, _state: &State<'_, '_>, args: &[Value]) -> Result<Value, JError> {
        let Args { pos, kwargs: kw } = Args::new(args);
        let mut set = Config::new();
        if let Some(first) = pos.first() {
            if let serde_json::Value::Object(m) = value_to_json(first) {
                set.extend(m);
            }
        }
        if let Some(kw) = kw {
            if let Ok(keys) = kw.try_iter() {
                for k in keys {
                    if let Some(ks) = k.as_str() {
                        if let Ok(v) = kw.get_attr(ks) {
                            set.insert(crate::config::normalize_key(ks), value_to_json(&v));
                        }
                    }
                }
            }
        }
        if self.0.execute {
            // the parse phase recorded this call's hooks in the node's
            // config already; appending them again would run each twice
            // (dbt's config() does nothing at run time)
            set.remove("pre_hook");
            set.remove("post_hook");
        }
        if let (Ok(mut fc), Ok(mut c)) = (self.0.file_config.lock(), self.0.config.lock()) {
            crate::config::merge(&mut fc, &set);
            crate::config::merge(&mut c, &set);
        }
        Ok(Value::from(""))
    }

    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let args = Args::new(args);
        let key = args
            .pos
            .first()
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let cfg = self
            .0
            .config
            .lock()
            .map_err(|_| err("config lock poisoned"))?;
        let found = cfg
            .get(&crate::config::normalize_key(&key))
            .filter(|v| !v.is_null());
        match m {
            "get" => Ok(match found {
                Some(v) => json_to_value(v),
                None => args.get(1, "default").unwrap_or(Value::from(())),
            }),
            "require" => match found {
                Some(v) => Ok(json_to_value(v)),
                None if !self.0.execute => Ok(Value::from(())),
                None => Err(err(format!(
                    "Compilation Error: missing config: \"{key}\" for {}",
                    self.0.unique_id
                ))),
            },
            "set" => Ok(Value::from("")),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `adapter`: the parts of dbt's adapter that models and macros call.
struct Adapter(Arc<NodeCtx>);

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("adapter")
    }
}

fn relation_arg(v: &Value) -> Option<Relation> {
    if let Some(r) = v.downcast_object_ref::<Relation>() {
        return Some(r.clone());
    }
    let s = v.as_str()?;
    let parts: Vec<String> = s
        .split('.')
        .map(|p| p.trim_matches('"').to_string())
        .collect();
    match parts.as_slice() {
        [d, s, i] => Some(Relation::new(d, s, i)),
        [s, i] => Some(Relation {
            database: None,
            schema: Some(s.clone()),
            identifier: i.clone(),
            kind: None,
            quoting: Default::default(),
            external: None,
            limit: None,
            event_time: None,
            window: None,
        }),
        [i] => Some(Relation {
            database: None,
            schema: None,
            identifier: i.clone(),
            kind: None,
            quoting: Default::default(),
            external: None,
            limit: None,
            event_time: None,
            window: None,
        }),
        _ => None,
    }
}

impl Object for Adapter {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "type" => Some(Value::from("duckdb")),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        state: &State<'_, '_>,
        m: &str,
        args: &[Value],
    ) -> Result<Value, JError> {
        let args = Args::new(args);
        let arg = |i: usize, k: &str| args.get(i, k);
        match m {
            "type" => Ok(Value::from("duckdb")),
            "quote" => Ok(Value::from(crate::relation::quote(
                &args.string(0, "identifier"),
            ))),
            "dispatch" => {
                let name = args.string(0, "macro_name");
                let ns = args.opt_string(1, "macro_namespace");
                crate::macros::dispatch(state, &name, ns.as_deref())
            }
            "get_relation" => {
                let Some(db) = &self.0.db else {
                    return Ok(Value::from(()));
                };
                let schema = args.string(1, "schema");
                let ident = args.string(2, "identifier");
                let database = args.opt_string(0, "database");
                let kind = db
                    .relation_kind(database.as_deref(), &schema, &ident)
                    .map_err(db_err)?;
                Ok(match kind {
                    Some(k) => Relation {
                        database: database.or_else(|| self.0.this.database.clone()),
                        schema: Some(schema),
                        identifier: ident,
                        kind: Some(k),
                        quoting: self.0.this.quoting,
                        external: None,
                        limit: None,
                        event_time: None,
                        window: None,
                    }
                    .to_value(),
                    None => Value::from(()),
                })
            }
            "get_columns_in_relation" => {
                let Some(db) = &self.0.db else {
                    return Ok(Value::from(Vec::<Value>::new()));
                };
                let Some(rel) = arg(0, "relation").as_ref().and_then(relation_arg) else {
                    return Ok(Value::from(Vec::<Value>::new()));
                };
                let cols = db.columns(&rel).map_err(db_err)?;
                Ok(Value::from(
                    cols.into_iter()
                        .map(|(name, ty)| crate::extras::column_value(&name, &ty))
                        .collect::<Vec<_>>(),
                ))
            }
            // every statement commits on its own (no transaction is left
            // open), so a materialization's commit has nothing to do
            "commit" | "begin" => Ok(Value::from("")),
            "create_schema" | "drop_relation" | "rename_relation" | "drop_schema" => {
                let Some(db) = &self.0.db else {
                    return Ok(Value::from(""));
                };
                let rel = arg(0, "relation").as_ref().and_then(relation_arg);
                let sql = match (m, rel) {
                    ("create_schema", Some(r)) => {
                        format!("CREATE SCHEMA IF NOT EXISTS {}", schema_of(&r))
                    }
                    ("drop_schema", Some(r)) => {
                        format!("DROP SCHEMA IF EXISTS {} CASCADE", schema_of(&r))
                    }
                    ("drop_relation", Some(r)) => db.drop_sql(&r).map_err(db_err)?,
                    ("rename_relation", Some(r)) => {
                        let to = arg(1, "to_relation")
                            .as_ref()
                            .and_then(relation_arg)
                            .ok_or_else(|| err("rename_relation: no target"))?;
                        let kind = if db
                            .relation_kind(
                                r.database.as_deref(),
                                r.schema.as_deref().unwrap_or(""),
                                &r.identifier,
                            )
                            .ok()
                            .flatten()
                            .as_deref()
                            == Some("view")
                        {
                            "VIEW"
                        } else {
                            "TABLE"
                        };
                        format!(
                            "ALTER {kind} {} RENAME TO {}",
                            r.render(),
                            crate::relation::quote(&to.identifier)
                        )
                    }
                    _ => return Err(err(format!("adapter.{m}: bad arguments"))),
                };
                db.execute(&sql).map_err(db_err)?;
                Ok(Value::from(""))
            }
            "list_relations_without_caching" => {
                let Some(db) = &self.0.db else {
                    return Ok(Value::from(Vec::<Value>::new()));
                };
                let rel = arg(0, "schema_relation").as_ref().and_then(relation_arg);
                let schema = rel
                    .and_then(|r| r.schema.or(Some(r.identifier)))
                    .unwrap_or_default();
                let rels = db.relations_in_schema(&schema).map_err(db_err)?;
                Ok(Value::from(
                    rels.into_iter().map(|r| r.to_value()).collect::<Vec<_>>(),
                ))
            }
            _ => Err(err(format!("adapter.{m} is not supported by Tarmac yet"))),
        }
    }
}

fn schema_of(r: &Relation) -> String {
    let s = r.schema.clone().unwrap_or_else(|| r.identifier.clone());
    match &r.database {
        Some(d) => format!(
            "{}.{}",
            crate::relation::quote(d),
            crate::relation::quote(&s)
        ),
        None => crate::relation::quote(&s),
    }
}

/// An agate-like table: `.rows`, `.columns`, `.column_names`, iteration, `[i]`.
#[derive(Debug)]
pub struct Table(pub QueryResult);

#[derive(Debug)]
struct Row(Arc<Vec<String>>, Vec<Value>);

impl Object for Row {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            let i = if i < 0 { self.1.len() as i64 + i } else { i };
            return self.1.get(usize::try_from(i).ok()?).cloned();
        }
        let k = key.as_str()?;
        self.0
            .iter()
            .position(|c| c == k)
            .and_then(|i| self.1.get(i).cloned())
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.1.clone())
    }
}

impl Table {
    fn rows(&self) -> Vec<Value> {
        let names = Arc::new(self.0.columns.clone());
        self.0
            .rows
            .iter()
            .map(|r| Value::from_object(Row(names.clone(), r.clone())))
            .collect()
    }
}

/// agate's `table.columns`: a sequence of columns that is also a mapping
/// by name (`columns[0]`, `columns['id']`, `columns.items()`, as
/// dbt_utils.get_query_results_as_dict uses it).
#[derive(Debug)]
struct Columns(Vec<(String, Value)>);

impl Object for Columns {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            let i = if i < 0 { self.0.len() as i64 + i } else { i };
            return self.0.get(usize::try_from(i).ok()?).map(|(_, c)| c.clone());
        }
        let k = key.as_str()?;
        self.0.iter().find(|(n, _)| n == k).map(|(_, c)| c.clone())
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.0.iter().map(|(_, c)| c.clone()).collect())
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        _a: &[Value],
    ) -> Result<Value, JError> {
        match m {
            "items" => Ok(Value::from(
                self.0
                    .iter()
                    .map(|(n, c)| Value::from(vec![Value::from(n.clone()), c.clone()]))
                    .collect::<Vec<_>>(),
            )),
            "keys" => Ok(Value::from(
                self.0
                    .iter()
                    .map(|(n, _)| Value::from(n.clone()))
                    .collect::<Vec<_>>(),
            )),
            "values" => Ok(Value::from(
                self.0.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(),
            )),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

impl Object for Table {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(i) = key.as_i64() {
            return self.rows().get(usize::try_from(i).ok()?).cloned();
        }
        match key.as_str()? {
            "rows" => Some(Value::from(self.rows())),
            "column_names" => Some(Value::from(self.0.columns.clone())),
            "columns" => Some(Value::from_object(Columns(
                self.0
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let values: Vec<Value> = self
                            .0
                            .rows
                            .iter()
                            .map(|r| r.get(i).cloned().unwrap_or_default())
                            .collect();
                        let col = Value::from_object(crate::extras::AgateColumn {
                            name: n.clone(),
                            values,
                        });
                        (n.clone(), col)
                    })
                    .collect(),
            ))),
            _ => None,
        }
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.rows())
    }
    fn call_method(
        self: &Arc<Self>,
        _s: &State<'_, '_>,
        m: &str,
        _a: &[Value],
    ) -> Result<Value, JError> {
        match m {
            "print_table" => Ok(Value::from("")),
            _ => Err(JError::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn empty_table() -> Value {
    Value::from_object(Table(QueryResult::default()))
}

/// `rel`, the relation `reference` gives, as a render that defers its
/// references returns it (a token, see [`Rendered`]), else as it is.
fn deferring(c: &NodeCtx, reference: Reference, rel: Relation) -> Relation {
    match c.deferred.as_ref().and_then(|d| d.lock().ok()) {
        Some(mut calls) => {
            calls.push(reference);
            rel.deferred(calls.len() - 1)
        }
        None => rel,
    }
}

/// The per-node context passed at render time.
pub fn node_context(ctx: Arc<NodeCtx>) -> BTreeMap<&'static str, Value> {
    let mut m = BTreeMap::new();
    m.insert("this", ctx.this.to_value());
    m.insert("execute", Value::from(ctx.execute));
    m.insert("model", ctx.model.clone());
    m.insert("config", Value::from_object(ConfigObj(ctx.clone())));
    m.insert("adapter", Value::from_object(Adapter(ctx.clone())));
    let inc = ctx.is_incremental;
    m.insert("is_incremental", Value::from_function(move || inc));
    let fr = ctx.full_refresh;
    m.insert("should_full_refresh", Value::from_function(move || fr));
    let c = ctx.clone();
    m.insert(
        "ref",
        Value::from_function(
            move |args: minijinja::value::Rest<Value>| -> Result<Value, JError> {
                let a = Args::new(&args);
                let strs: Vec<String> = a.pos.iter().map(|v| v.to_string()).collect();
                let (pkg, name) = match strs.as_slice() {
                    [n] => (None, n.clone()),
                    [p, n] => (Some(p.clone()), n.clone()),
                    _ => return Err(err(
                        "ref() takes one or two arguments: ref('model') or ref('package', 'model')",
                    )),
                };
                // a model version, `ref('m', v=1)`: keyed `m.v1` (a model
                // name has no dots), which the indexes hold per version
                let version = a
                    .named("v")
                    .or_else(|| a.named("version"))
                    .filter(|v| !v.is_none() && !v.is_undefined());
                let name = match version {
                    Some(v) => format!("{name}.v{v}"),
                    None => name,
                };
                if let Ok(mut r) = c.refs.lock() {
                    if !r.contains(&(pkg.clone(), name.clone())) {
                        r.push((pkg.clone(), name.clone()));
                    }
                }
                let reference = Reference::Ref { package: pkg, name };
                let (rel, eph) = reference
                    .resolve(&c.unique_id, c.resolver.as_ref(), c.execute)
                    .map_err(err)?;
                if let (Some(id), Ok(mut e)) = (eph, c.ephemerals.lock()) {
                    if !e.contains(&id) {
                        e.push(id);
                    }
                }
                Ok(deferring(&c, reference, rel).to_value())
            },
        ),
    );
    let c = ctx.clone();
    m.insert(
        "source",
        Value::from_function(
            move |source: String, table: String| -> Result<Value, JError> {
                if let Ok(mut s) = c.sources.lock() {
                    if !s.contains(&(source.clone(), table.clone())) {
                        s.push((source.clone(), table.clone()));
                    }
                }
                let reference = Reference::Source { source, table };
                let (rel, _) = reference
                    .resolve(&c.unique_id, c.resolver.as_ref(), c.execute)
                    .map_err(err)?;
                Ok(deferring(&c, reference, rel).to_value())
            },
        ),
    );
    let c = ctx.clone();
    m.insert(
        "run_query",
        // `run_query(sql)` or `run_query(sql=...)`, as dbt's macro takes it
        Value::from_function(
            move |args: minijinja::value::Rest<Value>| -> Result<Value, JError> {
                let sql = Args::new(&args)
                    .get(0, "sql")
                    .map(|v| v.to_string())
                    .ok_or_else(|| err("run_query() takes the SQL to run"))?;
                match (&c.db, c.execute) {
                    (Some(db), true) => db
                        .query(&sql)
                        .map(|r| Value::from_object(Table(r)))
                        .map_err(db_err),
                    _ => Ok(empty_table()),
                }
            },
        ),
    );
    let c = ctx.clone();
    m.insert(
        "statement",
        Value::from_function(move |state: &State, args: minijinja::value::Rest<Value>| -> Result<Value, JError> {
            let args = Args::new(&args);
            let name = args.get(0, "name").map(|v| v.to_string()).unwrap_or_else(|| "main".into());
            let fetch = args.get(1, "fetch_result").is_some_and(|v| v.is_true());
            let caller = args.named("caller").ok_or_else(|| err("statement() must be used with {% call statement(...) %}"))?;
            let sql = caller.call(state, &[])?.to_string();
            let (Some(db), true) = (&c.db, c.execute) else { return Ok(Value::from("")) };
            let res = db.query(&sql).map_err(db_err)?;
            let data: Vec<Value> = res.rows.iter().map(|r| Value::from(r.clone())).collect();
            let out = minijinja::context! {
                // the statement's SQL: `target/run` of a custom materialization
                _sql => sql,
                data => if fetch { data } else { vec![] },
                table => Value::from_object(Table(if fetch { res } else { QueryResult::default() })),
                response => minijinja::context! { code => "OK", rows_affected => -1 },
            };
            if let Ok(mut r) = c.results.lock() {
                r.insert(name, out);
            }
            Ok(Value::from(""))
        }),
    );
    let c = ctx.clone();
    // dbt's `{% call noop_statement(name, message, code, rows_affected) %}`:
    // a result stored under `name` without running the SQL (a custom
    // materialization that builds nothing, dbt-activity-schema's
    // dataset_column)
    m.insert(
        "noop_statement",
        Value::from_function(move |state: &State, args: minijinja::value::Rest<Value>| -> Result<Value, JError> {
            let args = Args::new(&args);
            let caller = args.named("caller").ok_or_else(|| err("noop_statement() must be used with {% call noop_statement(...) %}"))?;
            let sql = caller.call(state, &[])?.to_string();
            let Some(name) = args.get(0, "name").filter(|v| !v.is_none()) else {
                return Ok(Value::from(""));
            };
            let opt = |i: usize, k: &str| args.get(i, k).unwrap_or(Value::from(()));
            let res = args.get(4, "res").filter(|v| !v.is_none());
            let out = minijinja::context! {
                _sql => sql,
                data => res.clone().map(|t| t.get_attr("rows").unwrap_or_default()).unwrap_or(Value::from(Vec::<Value>::new())),
                table => res.unwrap_or(Value::from(())),
                response => minijinja::context! {
                    _message => opt(1, "message"), code => opt(2, "code"), rows_affected => opt(3, "rows_affected"),
                },
            };
            if let Ok(mut r) = c.results.lock() {
                r.insert(name.to_string(), out);
            }
            Ok(Value::from(""))
        }),
    );
    let c = ctx.clone();
    // dbt's `load_relation(relation)`: the relation as the database has it
    // (with its type), or none
    m.insert(
        "load_relation",
        Value::from_function(move |rel: Value| -> Result<Value, JError> {
            let Some(db) = &c.db else {
                return Ok(Value::from(()));
            };
            let Some(r) = relation_arg(&rel) else {
                return Ok(Value::from(()));
            };
            let kind = db
                .relation_kind(
                    r.database.as_deref(),
                    r.schema.as_deref().unwrap_or_default(),
                    &r.identifier,
                )
                .map_err(db_err)?;
            // the relation cache may not know a relation another node just
            // made: ask the catalog before saying it is not there
            let kind = match kind {
                Some(k) => Some(k),
                None => (!db.columns(&r).map_err(db_err)?.is_empty()).then(|| "table".to_string()),
            };
            Ok(match kind {
                Some(k) => Relation { kind: Some(k), ..r }.to_value(),
                None => Value::from(()),
            })
        }),
    );
    let c = ctx.clone();
    m.insert(
        "load_result",
        Value::from_function(move |name: String| -> Value {
            c.results
                .lock()
                .ok()
                .and_then(|r| r.get(&name).cloned())
                .unwrap_or(Value::from(()))
        }),
    );
    m
}

/// Render a model's SQL with a node context. Models are compiled per render
/// rather than stored in the environment: that lets every core compile and
/// render its share of models at once (adding to an environment is serial,
/// and its template cache is one lock), and keeps 10,000 compiled
/// templates out of memory. `name` (the file) is what errors cite.
pub fn render_model(
    env: &Environment<'static>,
    name: &str,
    source: &str,
    ctx: Arc<NodeCtx>,
) -> Result<String, JError> {
    render_model_names(env, name, source, ctx, false).map(|(text, _)| text)
}

/// [`render_model`], and with `names` the names the template reads from
/// outside itself (minijinja's undeclared variables, attribute paths
/// included) when the first render succeeded: what a parse needs to know
/// whether the compile may reuse its text ([`Rendered`]).
pub fn render_model_names(
    env: &Environment<'static>,
    name: &str,
    source: &str,
    ctx: Arc<NodeCtx>,
    names: bool,
) -> Result<(String, Option<std::collections::HashSet<String>>), JError> {
    let source = crate::extras::preprocess(source);
    let root = scoped(env, &ctx, BTreeMap::new());
    let config_before =
        crate::builtins::is_parsing().then(|| ctx.config.lock().map(|c| c.clone()).ok());
    let template = env.template_from_named_str(name, &source)?;
    let out = template.render(root.clone());
    crate::macros::take_returned();
    let e = match out {
        Ok(text) => return Ok((text, names.then(|| template.undeclared_variables(true)))),
        Err(e) => e,
    };
    if !matches!(
        e.kind(),
        ErrorKind::UndefinedError | ErrorKind::UnknownFunction | ErrorKind::UnknownMethod
    ) {
        return Err(e);
    }
    let undefined = undefined_names(env, &source, &root);
    if undefined.is_empty() {
        return Err(e);
    }
    let Some(config_before) = config_before else {
        // the original error (for its line) under dbt's words
        return Err(
            JError::new(ErrorKind::UndefinedError, undefined_message(&undefined[0])).with_source(e),
        );
    };
    // parse: again, with the undefined names absorbing whatever is done
    // with them (the context's records start over)
    crate::phase::note_divergence();
    ctx.reset_records(config_before);
    if let Some(mut calls) = ctx.deferred.as_ref().and_then(|d| d.lock().ok()) {
        calls.clear();
    }
    let lenient: BTreeMap<String, Value> = undefined
        .into_iter()
        .map(|n| (n, Value::from_object(ParseUndefined)))
        .collect();
    let out = template.render(scoped(env, &ctx, lenient));
    crate::macros::take_returned();
    out.map(|text| (text, None))
}

/// A node's render context (see [`node_context`]) with `extra` names over
/// it, and, for a node of an installed package, that package's macros and
/// vars behind it ([`crate::macros::node_root`]).
pub fn scoped(
    env: &Environment<'static>,
    ctx: &Arc<NodeCtx>,
    extra: BTreeMap<String, Value>,
) -> Value {
    let uid = ctx.unique_id.clone();
    let mut c: BTreeMap<String, Value> = node_context(ctx.clone())
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    c.extend(extra);
    if let Some(run) = env
        .globals()
        .find(|(k, _)| *k == "context")
        .and_then(|(_, v)| v.downcast_object::<DbtContext>())
    {
        let node = c.clone();
        c.insert(
            "context".to_string(),
            Value::from_object(run.with_node(node)),
        );
    }
    // what macros take from the node, kept apart from the names a template
    // can shadow with `{% set %}` (a model's `{% set adapter = ... %}` must
    // not reach the macros it calls, as in dbt)
    let node = crate::macros::NodeNames::new(|n| c.get(n).cloned());
    c.insert(crate::macros::NODE.to_string(), Value::from_object(node));
    crate::macros::node_root(env, &uid, c)
}

/// Render a template (a model) with a node context. The returned error is
/// minijinja's; callers wrap it with the node and file.
pub fn render(
    env: &Environment<'static>,
    template: &str,
    ctx: Arc<NodeCtx>,
) -> Result<String, JError> {
    let t = env.get_template(template)?;
    let out = t.render(scoped(env, &ctx, BTreeMap::new()));
    crate::macros::take_returned();
    out
}

/// Render code (a model's or singular test's, as written in its file) with
/// a node context and more names (see [`render_with`]); `name` is the file
/// errors are reported against.
pub fn render_code_with(
    env: &Environment<'static>,
    name: &str,
    code: &str,
    ctx: Arc<NodeCtx>,
    extra: BTreeMap<String, Value>,
) -> Result<String, JError> {
    let c = scoped(env, &ctx, extra);
    let source = crate::extras::preprocess(code);
    let out = env.render_named_str(name, &source, c);
    crate::macros::take_returned();
    out
}

/// [`render`] with more names in the context (a unit test's overrides of
/// macros, `var` and `env_var`), which shadow the run's globals.
pub fn render_with(
    env: &Environment<'static>,
    template: &str,
    ctx: Arc<NodeCtx>,
    extra: BTreeMap<String, Value>,
) -> Result<String, JError> {
    let t = env.get_template(template)?;
    let out = t.render(scoped(env, &ctx, extra));
    crate::macros::take_returned();
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn table_columns_are_a_sequence_and_a_mapping() {
        let t = Value::from_object(Table(crate::database::QueryResult {
            columns: vec!["id".into(), "name".into()],
            rows: vec![
                vec![Value::from(1), Value::from("a")],
                vec![Value::from(2), Value::from("b")],
            ],
        }));
        let env = minijinja::Environment::new();
        let r = |src: &str| {
            env.render_str(src, minijinja::context! { t => t.clone() })
                .unwrap()
        };
        assert_eq!(
            r("{{ t.columns[1].name }}|{{ t.columns['id'].name }}"),
            "name|id"
        );
        assert_eq!(
            r("{% for n, c in t.columns.items() %}{{ n }}={{ c.values() | join(',') }};{% endfor %}"),
            "id=1,2;name=a,b;"
        );
        assert_eq!(
            r("{{ t.columns | length }}/{{ t.columns.keys() | join(',') }}"),
            "2/id,name"
        );
        // a column is itself a sequence of its values, as in agate
        assert_eq!(
            r("{{ t.columns[0][0] | float }}|{{ t.columns['name'][-1] }}|{{ t.columns[1] | length }}|{{ t.columns[1] | join(',') }}"),
            "1.0|b|2|a,b"
        );
    }

    use super::*;

    #[test]
    fn context_maps_the_run_and_the_node() {
        let (_d, info) = crate::testing::run_info();
        let macros = [crate::macros::MacroFile {
            package: "p".into(),
            path: "macros/m.sql".into(),
            text: "{% macro pepper() %}{{ context['project_name'] ~ '/' ~ context['this'] }}{% endmacro %}".into(),
        }];
        let (mut env, _) = environment(&info, &macros).unwrap();
        // a global set after the environment is built (`graph`) reaches it
        env.add_global("graph", Value::from(7));
        install_context(&mut env);
        let ctx = Arc::new(NodeCtx::new(
            "model.p.m".into(),
            "m".into(),
            Relation::new("d", "s", "m"),
            Config::new(),
            Arc::new(crate::testing::NoRefs),
            Value::from(()),
        ));
        let out = render_model(
            &env,
            "m.sql",
            "{{ pepper() }}|{{ context.target.type }}|{{ 'pepper' in context }}|{{ context.get('nope', 0) }}|{{ context.graph }}",
            ctx,
        )
        .unwrap();
        assert_eq!(out, "p/\"d\".\"s\".\"m\"|duckdb|True|0|7");
    }

    /// Final names as a compile knows them: models in `final`, `eph` an
    /// ephemeral model, sources in `raw`.
    struct Final;

    impl Resolver for Final {
        fn resolve_ref(
            &self,
            _: Option<&str>,
            n: &str,
        ) -> Result<(Relation, Option<String>), String> {
            match n {
                "eph" => Ok((Relation::cte("eph"), Some("model.p.eph".into()))),
                "gone" => Err("no model gone".into()),
                _ => Ok((Relation::new("d", "final", n), None)),
            }
        }
        fn resolve_source(&self, _: &str, t: &str) -> Result<Relation, String> {
            Ok(Relation::new("d", "raw", t))
        }
    }

    /// A model's parse with deferred references, then what the compile
    /// makes of its text, against a render of the compile: the same SQL
    /// and ephemerals where the check lets the text be reused.
    #[test]
    fn a_parse_text_compiles_as_a_render_does_when_it_reads_nothing_phased() {
        let (_d, info) = crate::testing::run_info();
        let macros = [crate::macros::MacroFile {
            package: "p".into(),
            path: "macros/m.sql".into(),
            text: "{% macro cents(c) -%} round({{ c }} / 100.0, 2) {%- endmacro %}\n\
                   {% macro cols() %}{{ return(['a', 'b']) }}{% endmacro %}\n\
                   {% macro peek() %}{{ execute }}{% endmacro %}\n\
                   {% macro twice(r) %}{{ r }} {{ r }}{% endmacro %}"
                .into(),
        }];
        let (env, _) = environment(&info, &macros).unwrap();
        let check = crate::macros::PhaseCheck::new(&env).unwrap();
        let ctx = |execute: bool| {
            Arc::new(NodeCtx {
                execute,
                deferred: (!execute).then(Default::default),
                ..NodeCtx::new(
                    "model.p.m".into(),
                    "m".into(),
                    Relation::new("d", "s", "m"),
                    Config::new(),
                    if execute {
                        Arc::new(Final)
                    } else {
                        Arc::new(crate::testing::Parse)
                    },
                    Value::from(()),
                )
            })
        };
        // (template, the check's answer, whether the text resolves)
        let cases = [
            ("{{ config(materialized='table') }}\nselect {{ cents('x') }}, {% for c in cols() %}{{ c }}{{ ',' if not loop.last }}{% endfor %}\n\
              from {{ ref('x') }} join {{ source('s', 't') }} using (id) join {{ ref('eph') }} using (id)\n\
              {# a comment #}where '{{ var('day', '2024') }}' = '{{ target.name }}' {{ twice(ref('x')) }}\n", true, true),
            ("select * from {{ ref('x').identifier }}", false, true),
            ("select {{ peek() }}", false, true),
            ("select * from {{ ref('x') | upper }}", true, false),
            ("select * from {{ ref('x') | replace('\"', '') }}", true, false),
            ("select '{{ config.get('x') }}'", false, true),
            ("select '{{ var('nope') }}'", false, true),
            ("select * from {{ this }}", false, true),
            ("{% import 'other' as o %}select 1", false, true),
            ("select * from {{ ref('gone') }}", true, false),
        ];
        for (src, independent, resolves) in cases {
            let parse = ctx(false);
            let (out, diverged) = crate::builtins::parsing(|| {
                crate::phase::watching_divergence(|| {
                    render_model_names(&env, "m.sql", src, parse.clone(), true)
                })
            });
            let (text, names) = match out {
                Ok(r) => r,
                // an import of a template that is not there
                Err(_) => {
                    assert!(!independent, "{src}");
                    continue;
                }
            };
            let names = names.unwrap();
            assert_eq!(
                !diverged && check.independent(&env, src, &names),
                independent,
                "{src}: {names:?}"
            );
            let rendered = Rendered {
                text,
                references: std::mem::take(&mut *parse.deferred.as_ref().unwrap().lock().unwrap()),
                file_config: parse.file_config.lock().unwrap().clone(),
            };
            let resolved = rendered.resolve("model.p.m", &Final);
            assert_eq!(resolved.is_some(), resolves, "{src}: {}", rendered.text);
            if let (true, Some((sql, eph))) = (independent, resolved) {
                let compile = ctx(true);
                let want = render_model(&env, "m.sql", src, compile.clone()).unwrap();
                assert_eq!(sql, want, "{src}");
                assert_eq!(eph, *compile.ephemerals.lock().unwrap(), "{src}");
            }
        }
    }

    #[test]
    fn tojson_filter_is_jinja2s() {
        let mut env = minijinja::Environment::new();
        add_serialization(&mut env);
        let r = env
            .render_str(
                "{{ x | tojson }}",
                minijinja::context! {
                    x => serde_json::json!({"b": ["m.a", "<'&>"], "a": 1})
                },
            )
            .unwrap();
        assert_eq!(r, r#"{"a": 1, "b": ["m.a", "\u003c\u0027\u0026\u003e"]}"#);
    }
}
