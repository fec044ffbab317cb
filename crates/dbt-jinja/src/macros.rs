//! Macro namespaces, as dbt resolves them
//! (<https://docs.getdbt.com/reference/dbt-jinja-functions/dispatch>):
//!
//! - bare `name()`: the macros of the package of the node being rendered
//!   (for a node of an installed package), then the root project's, then
//!   Tarmac's built-in `dbt` macros (`macros/dbt.sql`: dbt-core's
//!   cross-database macros with dbt-duckdb's implementations). As in dbt,
//!   the package a macro comes from plays no part: `pkg.helper()` called
//!   from a root model resolves `helper`'s bare calls in the root project
//!   (checked against dbt-core 1.10), which is why packages qualify theirs;
//! - `pkg.name()`: that package's macro (`dbt.name()` for the built-ins);
//! - `adapter.dispatch('name', 'ns')`: `duckdb__name` then `default__name`
//!   in each package of the project's `dispatch:` search order for `ns`
//!   (else the root project then `ns` for a package, else a bare lookup).
//!
//! Each macro is its own template; calling one evaluates that template with
//! the caller's per-node names (`this`, `config`, …) and, for package
//! macros, the package's macros as locals, so macros keep dbt's dynamic
//! scope. `{{ return(x) }}` is a marker error the wrapper turns into `x`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Environment, Error as JError, ErrorKind, State};

/// Tarmac's built-in macros (the `dbt` namespace).
const BUILTIN: &str = include_str!("macros/dbt.sql");

const BUILTIN_PATH: &str = "<tarmac>/macros/dbt.sql";

/// The package that holds the built-in macros.
pub const INTERNAL: &str = "dbt";

/// The adapter prefixes dispatch tries, in order.
const PREFIXES: &[&str] = &["duckdb", "default"];

/// Names a macro copies from its caller: what dbt gives a macro from the
/// node that runs it.
pub const NODE_NAMES: &[&str] = &[
    "this",
    "model",
    "config",
    "ref",
    "source",
    "is_incremental",
    "should_full_refresh",
    "execute",
    "adapter",
    "run_query",
    "statement",
    "noop_statement",
    "load_result",
    "sql",
    "compiled_code",
    "pre_hooks",
    "post_hooks",
    "selected_resources",
    "var",
    "load_relation",
    "context",
    PKG,
    OVERRIDES,
];

/// The names of [`NODE_NAMES`] that are macros of dbt's own project, which
/// Tarmac builds into each render's context instead. `run-operation` runs
/// these by name as dbt does; the other context names (`execute`, `this`,
/// `log`, …) are not macros there, so dbt finds no macro of that name.
pub const CONTEXT_MACROS: &[&str] = &[
    "run_query",
    "statement",
    "noop_statement",
    "is_incremental",
    "should_full_refresh",
    "load_relation",
];

/// The name under which a unit test's macro overrides travel with the node
/// into every macro it calls (see [`unit_test_overrides`]).
pub const OVERRIDES: &str = "__tarmac_overrides";

/// The name under which a node's context carries its [`NODE_NAMES`] as the
/// node defined them, so a macro gets them from the node even where the
/// calling template has set a local of the same name.
pub const NODE: &str = "__tarmac_node";

/// The name under which a package node's context carries its package, so
/// macros it calls (and theirs) resolve bare names there first.
const PKG: &str = "__tarmac_pkg";

/// A macro file of some package.
#[derive(Debug, Clone)]
pub struct MacroFile {
    pub package: String,
    /// Relative to its project (`macros/cents.sql`).
    pub path: String,
    pub text: String,
}

/// Every macro by package, and how dispatch searches them.
#[derive(Debug, Default)]
pub struct Registry {
    pub root: String,
    /// package → macro name → callable.
    pub packages: HashMap<String, Arc<HashMap<String, Value>>>,
    /// `dispatch:` of the root project: macro_namespace → search order.
    pub dispatch: BTreeMap<String, Vec<String>>,
    /// Installed packages (not the root, not `dbt`).
    pub dependencies: Vec<String>,
}

impl Registry {
    pub fn get(&self, package: &str, name: &str) -> Option<Value> {
        self.packages.get(package)?.get(name).cloned()
    }

    /// The packages `adapter.dispatch` searches for `namespace` (None: bare lookup).
    fn search_packages(&self, namespace: Option<&str>) -> Vec<Option<String>> {
        match namespace {
            None => vec![None],
            Some(ns) => {
                if let Some(order) = self.dispatch.get(ns).filter(|o| !o.is_empty()) {
                    order.iter().map(|p| Some(p.clone())).collect()
                } else if self.dependencies.iter().any(|d| d == ns) {
                    vec![Some(self.root.clone()), Some(ns.to_string())]
                } else {
                    vec![None]
                }
            }
        }
    }
}

impl Object for Registry {}

/// `pkg.name` for the installed package (root first, then dependencies in
/// order) that defines macro `name`, for names that are not global (a
/// package's `{% materialization %}`, which dbt finds in any package).
pub fn qualified_in_packages(env: &Environment<'static>, name: &str) -> Option<String> {
    let reg = env
        .globals()
        .find(|(k, _)| *k == REGISTRY)
        .and_then(|(_, v)| v.downcast_object::<Registry>())?;
    std::iter::once(&reg.root)
        .chain(&reg.dependencies)
        .find(|p| reg.get(p, name).is_some())
        .map(|p| format!("{p}.{name}"))
}

/// Whether a project or package replaces any of `names`, which Tarmac
/// defines itself (package `dbt`): by defining a macro of that name, or by
/// the root project's `dispatch:` for the `dbt` namespace, which changes
/// where `adapter.dispatch(.., 'dbt')` looks. Code that stands in natively
/// for a built-in macro (the engine's built-in generic tests) asks this
/// first and renders the Jinja when the answer is yes.
pub fn replaces_builtins(env: &Environment<'static>, names: &[&str]) -> bool {
    let Some(reg) = env
        .globals()
        .find(|(k, _)| *k == REGISTRY)
        .and_then(|(_, v)| v.downcast_object::<Registry>())
    else {
        return true;
    };
    reg.dispatch.contains_key(INTERNAL)
        || reg
            .packages
            .iter()
            .filter(|(p, _)| p.as_str() != INTERNAL)
            .any(|(_, macros)| names.iter().any(|n| macros.contains_key(*n)))
}

/// `pkg.` in templates: a package's macros by name.
#[derive(Debug)]
struct Namespace(Arc<HashMap<String, Value>>);

impl Object for Namespace {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_str()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        let mut keys: Vec<Value> = self.0.keys().map(|k| Value::from(k.clone())).collect();
        keys.sort();
        minijinja::value::Enumerator::Values(keys)
    }
}

/// The root context of a macro's evaluation: the caller's node names (the
/// node's own, then what the caller's state gives for the rest), then the
/// macros of the node's package (dbt's "local namespace").
#[derive(Debug)]
struct Scope {
    node: Option<Arc<NodeNames>>,
    names: BTreeMap<&'static str, Value>,
    locals: Option<Arc<HashMap<String, Value>>>,
}

impl Scope {
    fn name(&self, k: &str) -> Option<&Value> {
        self.node
            .as_ref()
            .and_then(|n| n.names.get(k))
            .or_else(|| self.names.get(k))
    }
}

impl Object for Scope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let k = key.as_str()?;
        if let Some(v) = self.name(k) {
            return Some(v.clone());
        }
        if let Some(v) = self
            .name(OVERRIDES)
            .and_then(|o| o.get_attr(k).ok())
            .filter(|v| !v.is_undefined())
        {
            return Some(v);
        }
        self.locals.as_ref()?.get(k).cloned()
    }
}

/// A node's [`NODE_NAMES`] as the node defined them (what its context
/// carries under [`NODE`]), built once per node render. Every macro call
/// passes them on: taking them one by one out of a map and building a new
/// map per call was most of a small macro's cost in Jinja loops (such as
/// dbt_stat_test's `_beta_inc`, which calls a macro per iteration); a call
/// now shares this one and looks up only the names the node lacks.
#[derive(Debug)]
pub struct NodeNames {
    names: BTreeMap<&'static str, Value>,
    /// The [`NODE_NAMES`] the node does not define (a macro takes these
    /// from its caller's state).
    missing: Vec<&'static str>,
}

impl NodeNames {
    /// The node's names out of its context.
    pub fn new(mut get: impl FnMut(&str) -> Option<Value>) -> Self {
        let mut names = BTreeMap::new();
        let mut missing = Vec::new();
        for n in NODE_NAMES {
            match get(n).filter(|v| !v.is_undefined()) {
                Some(v) => {
                    names.insert(*n, v);
                }
                None => missing.push(*n),
            }
        }
        NodeNames { names, missing }
    }
}

impl Object for NodeNames {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.names.get(key.as_str()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.names.keys().map(|k| Value::from(*k)).collect())
    }
}

/// A package namespace with some of its macros replaced (a unit test's
/// `overrides: macros: {pkg.name: value}`).
#[derive(Debug)]
struct OverriddenNamespace {
    inner: Value,
    names: BTreeMap<String, Value>,
}

impl Object for OverriddenNamespace {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        if let Some(v) = self.names.get(key.as_str()?) {
            return Some(v.clone());
        }
        self.inner.get_item(key).ok().filter(|v| !v.is_undefined())
    }
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(
            self.inner
                .try_iter()
                .map(|it| it.collect())
                .unwrap_or_default(),
        )
    }
}

/// A unit test's `overrides: macros:` as names for the model's context:
/// each overridden macro returns the given value whatever its arguments,
/// as in dbt. A bare name (`current_timestamp`) replaces that name; a
/// qualified one (`audit_helper._get_comparison_bounds`) replaces the macro
/// in its package's namespace. The same names also travel under
/// [`OVERRIDES`] into every macro the model calls, so a package's macros
/// calling each other see them. `is_incremental` is the caller's to handle.
pub fn unit_test_overrides(
    env: &Environment<'static>,
    macros: &serde_json::Map<String, serde_json::Value>,
) -> BTreeMap<String, Value> {
    let returning = |v: &serde_json::Value| {
        let val = Value::from_serialize(v);
        Value::from_function(move |_a: minijinja::value::Rest<Value>| val.clone())
    };
    let mut out = BTreeMap::new();
    let mut qualified: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for (k, v) in macros {
        if k == "is_incremental" {
            continue;
        }
        match k.split_once('.') {
            Some((pkg, name)) => {
                qualified
                    .entry(pkg.to_string())
                    .or_default()
                    .insert(name.to_string(), returning(v));
            }
            None => {
                out.insert(k.clone(), returning(v));
            }
        }
    }
    for (pkg, names) in qualified {
        let Some(inner) = env
            .globals()
            .find(|(k, _)| *k == pkg.as_str())
            .map(|(_, v)| v)
        else {
            continue;
        };
        out.insert(
            pkg,
            Value::from_object(OverriddenNamespace { inner, names }),
        );
    }
    if !out.is_empty() {
        let carried = Value::from(out.clone());
        out.insert(OVERRIDES.to_string(), carried);
    }
    out
}

/// A macro as templates see it: called like a function, equal only to
/// itself, as dbt's macro objects are (`aggfunc in [pkg.count, pkg.sum]`
/// must not hold for `pkg.max`); minijinja's plain functions all compare
/// equal.
#[derive(Debug)]
struct MacroFn {
    tpl: String,
    package: String,
    name: String,
}

impl Object for MacroFn {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn call(self: &Arc<Self>, state: &State<'_, '_>, args: &[Value]) -> Result<Value, JError> {
        call_macro(state, &self.tpl, &self.package, &self.name, args)
    }
    fn custom_cmp(
        self: &Arc<Self>,
        other: &minijinja::value::DynObject,
    ) -> Option<std::cmp::Ordering> {
        let other = other.downcast_ref::<Self>()?;
        Some((&self.package, &self.name).cmp(&(&other.package, &other.name)))
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<macro {}.{}>", self.package, self.name)
    }
}

/// Names whose value is the same when a node parses as when it compiles
/// in the same invocation, for [`PhaseCheck`]: pure functions, the run's
/// vars, target and flags, Jinja's own globals, a macro's implicit names.
/// `ref`, `source` and a bare `config(...)` call are there too: a parse
/// that defers its references ([`crate::jinja::Rendered`]) prints tokens
/// for the first two, and the third prints nothing in either phase.
/// Everything else (`execute`, `this`, `model`, `config.get`, `adapter`,
/// `is_incremental`, `graph`, `modules`, `log`, …) differs or has effects.
const PHASE_INDEPENDENT: &[&str] = &[
    "ref",
    "source",
    "config",
    "var",
    "env_var",
    "target",
    "flags",
    "project_name",
    "dbt_version",
    "invocation_id",
    "run_started_at",
    "return",
    "local_md5",
    "tojson",
    "fromjson",
    "toyaml",
    "fromyaml",
    "set",
    "set_strict",
    "zip",
    "zip_strict",
    "range",
    "dict",
    "namespace",
    "caller",
    "varargs",
    "kwargs",
    "loop",
];

/// Whether a root-project model's template reads only what is the same
/// at parse as at compile ([`PHASE_INDEPENDENT`] and macros that do too,
/// followed through their own templates), so the compile can reuse the
/// parse's text ([`crate::jinja::Rendered`]) instead of rendering again.
/// Static and conservative: a name it cannot follow (a dynamic lookup, a
/// package's local namespace) answers no. Built once per parse; answers
/// for macros are remembered.
pub struct PhaseCheck {
    registry: Arc<Registry>,
    /// Root-project macros that replace `ref`, `source` or `config`.
    replaced: bool,
    macros: std::sync::Mutex<HashMap<String, bool>>,
}

impl PhaseCheck {
    pub fn new(env: &Environment<'static>) -> Option<Self> {
        let registry = env
            .globals()
            .find(|(k, _)| *k == REGISTRY)
            .and_then(|(_, v)| v.downcast_object::<Registry>())?;
        let replaced = ["ref", "source", "config"]
            .iter()
            .any(|n| registry.get(&registry.root, n).is_some());
        Some(PhaseCheck {
            registry,
            replaced,
            macros: Default::default(),
        })
    }

    /// Whether a template of `source` reading `names` (minijinja's
    /// undeclared variables, with attribute paths) renders alike in both
    /// phases.
    pub fn independent(
        &self,
        env: &Environment<'static>,
        source: &str,
        names: &std::collections::HashSet<String>,
    ) -> bool {
        !reads_templates(source) && names.iter().all(|n| self.name(env, n))
    }

    fn name(&self, env: &Environment<'static>, path: &str) -> bool {
        let mut parts = path.split('.');
        let first = parts.next().unwrap_or_default();
        if matches!(first, "ref" | "source" | "config") {
            // `config.get(..)` reads a config the compile may see changed
            return !self.replaced && (first != "config" || path == "config");
        }
        if PHASE_INDEPENDENT.contains(&first) {
            return true;
        }
        let reg = &self.registry;
        let found = match reg.packages.get(first) {
            // `pkg.name(..)`: that package's macro
            Some(pkg) => match parts.next() {
                Some(name) => pkg.get(name).cloned(),
                None => None,
            },
            None => reg
                .get(&reg.root, first)
                .or_else(|| reg.get(INTERNAL, first)),
        };
        match found
            .as_ref()
            .and_then(|m| m.downcast_object_ref::<MacroFn>())
        {
            Some(m) => self.macro_independent(env, m),
            None => false,
        }
    }

    fn macro_independent(&self, env: &Environment<'static>, m: &MacroFn) -> bool {
        if let Some(known) = self.macros.lock().ok().and_then(|k| k.get(&m.tpl).copied()) {
            return known;
        }
        // a macro that calls itself (or back) is asked again meanwhile:
        // no, until its answer is known
        if let Ok(mut k) = self.macros.lock() {
            k.insert(m.tpl.clone(), false);
        }
        let answer = env
            .get_template(&m.tpl)
            .map(|t| self.independent(env, t.source(), &t.undeclared_variables(true)))
            .unwrap_or(false);
        if let Ok(mut k) = self.macros.lock() {
            k.insert(m.tpl.clone(), answer);
        }
        answer
    }
}

/// Whether Jinja `source` includes, imports or extends another template,
/// whose names [`PhaseCheck`] does not follow.
fn reads_templates(source: &str) -> bool {
    source.match_indices("{%").any(|(at, _)| {
        let tag = source[at + 2..].trim_start_matches(['-', '+', ' ', '\t', '\n', '\r']);
        ["include", "import", "from", "extends"].iter().any(|w| {
            tag.strip_prefix(w)
                .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
        })
    })
}

/// The package of a unique id (`model.<pkg>.<name>`, `test.<pkg>....`).
pub fn package_of(unique_id: &str) -> &str {
    unique_id.split('.').nth(1).unwrap_or_default()
}

thread_local! {
    /// The value of the innermost `{{ return(x) }}` on this thread.
    static RETURNED: RefCell<Option<Value>> = const { RefCell::new(None) };
}

const RETURN_MARKER: &str = "__tarmac_return__";

/// Take the value of the innermost `{{ return(x) }}` on this thread.
pub fn take_returned() -> Option<Value> {
    RETURNED.with(|r| r.borrow_mut().take())
}

/// `return(x)`: store the value and raise the marker error that the macro
/// wrapper turns into the macro's value.
pub fn return_fn(v: Option<Value>) -> Result<Value, JError> {
    RETURNED.with(|r| *r.borrow_mut() = Some(v.unwrap_or(Value::from(()))));
    Err(JError::new(ErrorKind::InvalidOperation, RETURN_MARKER))
}

/// Whether an error is `return()`'s marker.
pub fn is_return(e: &JError) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if c.to_string().contains(RETURN_MARKER) {
            return true;
        }
        cur = c.source();
    }
    false
}

const REGISTRY: &str = "__tarmac_macros";

const SCOPES: &str = "__tarmac_package_scopes";

/// What a node of an installed package sees beyond the run's globals: its
/// package's macros before the root project's (dbt's local namespace) and
/// `var()` with the package's vars.
#[derive(Debug)]
pub struct PackageScope {
    pub locals: Arc<HashMap<String, Value>>,
    pub var: Value,
}

#[derive(Debug, Default)]
struct PackageScopes(HashMap<String, Arc<PackageScope>>);

impl Object for PackageScopes {}

/// Register the scopes of the installed packages (after [`register`]):
/// `vars` holds each package's `var()` function.
pub fn install_package_scopes(env: &mut Environment<'static>, vars: HashMap<String, Value>) {
    let reg = env
        .globals()
        .find(|(k, _)| *k == REGISTRY)
        .and_then(|(_, v)| v.downcast_object::<Registry>());
    let mut scopes = PackageScopes::default();
    for (pkg, var) in vars {
        let locals = reg
            .as_ref()
            .and_then(|r| r.packages.get(&pkg).cloned())
            .unwrap_or_default();
        scopes.0.insert(pkg, Arc::new(PackageScope { locals, var }));
    }
    env.add_global(SCOPES, Value::from_object(scopes));
}

/// The root context of a node's render: `names` (the node's context), and
/// for a node of an installed package its scope behind them.
pub fn node_root(
    env: &Environment<'static>,
    unique_id: &str,
    names: BTreeMap<String, Value>,
) -> Value {
    let pkg = package_of(unique_id);
    let scope = env
        .globals()
        .find(|(k, _)| *k == SCOPES)
        .and_then(|(_, v)| v.downcast_object::<PackageScopes>())
        .and_then(|s| s.0.get(pkg).cloned());
    match scope {
        None => Value::from(names),
        Some(scope) => Value::from_object(NodeScope {
            names,
            package: pkg.to_string(),
            scope,
        }),
    }
}

#[derive(Debug)]
struct NodeScope {
    names: BTreeMap<String, Value>,
    package: String,
    scope: Arc<PackageScope>,
}

impl Object for NodeScope {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let k = key.as_str()?;
        if let Some(v) = self.names.get(k) {
            return Some(v.clone());
        }
        if k == "var" {
            return Some(self.scope.var.clone());
        }
        if k == PKG {
            return Some(Value::from(self.package.clone()));
        }
        self.scope.locals.get(k).cloned()
    }
}

fn err(msg: impl Into<String>) -> JError {
    JError::new(ErrorKind::InvalidOperation, msg.into())
}

/// Register every macro (built-ins, packages, root) in `env`. Returns the
/// root project's macro names. Errors name the file.
pub fn register(
    env: &mut Environment<'static>,
    root: &str,
    files: &[MacroFile],
    dispatch: BTreeMap<String, Vec<String>>,
    dependencies: &[String],
) -> Result<Vec<String>, crate::Error> {
    let mut all: Vec<MacroFile> = vec![MacroFile {
        package: INTERNAL.into(),
        path: BUILTIN_PATH.into(),
        text: BUILTIN.into(),
    }];
    all.extend(files.iter().cloned());
    let mut by_pkg: HashMap<String, HashMap<String, Value>> = HashMap::new();
    let mut root_names = Vec::new();
    let mut order: Vec<(String, String, Value)> = Vec::new();
    for f in &all {
        for (name, line, body) in crate::blocks::split_macros(&f.text) {
            let tpl = format!("macro:{}:{name}", f.package);
            let body = crate::extras::preprocess(&body);
            let body = with_kwargs_param(&body);
            let src = format!("{}{}", "\n".repeat(line.saturating_sub(1)), body);
            crate::render_error::record_origin(&tpl, &f.path);
            env.add_template_owned(tpl.clone(), src).map_err(|e| {
                crate::Error::jinja(&format!("macro {}.{name}", f.package), &f.path, &e)
            })?;
            let pkg = f.package.clone();
            let mname = name.clone();
            let func = Value::from_object(MacroFn {
                tpl,
                package: pkg,
                name: mname,
            });
            by_pkg
                .entry(f.package.clone())
                .or_default()
                .insert(name.clone(), func.clone());
            // what a bare name can call, less Tarmac's own cross-database
            // macros (their generate_*_name defaults are Rust's job)
            if f.package == root || (f.package == INTERNAL && f.path != BUILTIN_PATH) {
                root_names.push(name.clone());
            }
            order.push((f.package.clone(), name, func));
        }
    }
    // bare names: built-ins, then the root project's over them
    for (pkg, name, func) in &order {
        if pkg == INTERNAL {
            env.add_global(name.clone(), func.clone());
        }
    }
    for (pkg, name, func) in &order {
        if pkg == root {
            env.add_global(name.clone(), func.clone());
        }
    }
    let packages: HashMap<String, Arc<HashMap<String, Value>>> =
        by_pkg.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
    let mut dependencies: Vec<String> = dependencies.to_vec();
    for f in files {
        if f.package != root && !dependencies.contains(&f.package) {
            dependencies.push(f.package.clone());
        }
    }
    // `pkg.macro()` for every package, the root and `dbt` included
    let mut names: Vec<&String> = packages.keys().collect();
    names.sort();
    for p in names {
        env.add_global(
            p.clone(),
            Value::from_object(Namespace(packages[p].clone())),
        );
    }
    if !packages.contains_key(root) {
        env.add_global(
            root.to_string(),
            Value::from_object(Namespace(Arc::default())),
        );
    }
    env.add_global(
        REGISTRY,
        Value::from_object(Registry {
            root: root.to_string(),
            packages,
            dispatch,
            dependencies: dependencies.clone(),
        }),
    );
    for d in &dependencies {
        if !packages_has(env, d) {
            env.add_global(d.clone(), Value::from_object(Namespace(Arc::default())));
        }
    }
    Ok(root_names)
}

/// The unique id of the macro a generic test calls
/// (`macro.<package>.test_<name>`), from [`test_macro_path`]'s answer: a
/// bare name is the root project's when it defines it, else dbt's.
pub fn test_macro_id(
    env: &Environment<'static>,
    name: &str,
    namespace: Option<&str>,
) -> Option<String> {
    let path = test_macro_path(env, name, namespace)?;
    if let Some((pkg, m)) = path.split_once('.') {
        return Some(format!("macro.{pkg}.{m}"));
    }
    let reg = env
        .globals()
        .find(|(k, _)| *k == REGISTRY)
        .and_then(|(_, v)| v.downcast_object::<Registry>())?;
    let pkg = if reg.get(&reg.root, &path).is_some() {
        reg.root.clone()
    } else {
        INTERNAL.to_string()
    };
    Some(format!("macro.{pkg}.{path}"))
}

/// How a generic test's macro is called: `ns.test_<name>` when the test is
/// namespaced (`dbt_utils.expression_is_true`), else `test_<name>` when the
/// root project or dbt defines it, else `<pkg>.test_<name>` from the first
/// installed package that does (dbt searches every package). `None`: no
/// such test.
pub fn test_macro_path(
    env: &Environment<'static>,
    name: &str,
    namespace: Option<&str>,
) -> Option<String> {
    let m = format!("test_{name}");
    let reg = env
        .globals()
        .find(|(k, _)| *k == REGISTRY)
        .and_then(|(_, v)| v.downcast_object::<Registry>())?;
    match namespace {
        Some(ns) => reg.get(ns, &m).map(|_| format!("{ns}.{m}")),
        None => {
            if env.globals().any(|(k, _)| k == m) {
                return Some(m);
            }
            let mut deps = reg.dependencies.clone();
            deps.sort();
            deps.into_iter()
                .find(|d| reg.get(d, &m).is_some())
                .map(|d| format!("{d}.{m}"))
        }
    }
}

/// Jinja gives a macro whose body reads `kwargs` the keyword arguments its
/// signature does not name (dbt's generic tests read `kwargs.get('at_least')`
/// that way); minijinja rejects unknown keywords. A macro that reads
/// `kwargs` without naming it gets a `kwargs={}` parameter, and
/// [`call_macro`] gathers the unnamed keywords into it.
fn with_kwargs_param(body: &str) -> String {
    static RE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let Some(re) = RE.get_or_init(|| regex::Regex::new(r"\bkwargs\b").ok()) else {
        return body.to_string();
    };
    let Some(open) = body.find('(') else {
        return body.to_string();
    };
    // the signature's closing parenthesis, past nested ones and strings
    let (mut depth, mut quote, mut close) = (0usize, None::<char>, None);
    for (i, c) in body[open..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(close) = close else {
        return body.to_string();
    };
    let params = &body[open + 1..close];
    if re.is_match(params) || !re.is_match(&body[close..]) {
        return body.to_string();
    }
    let sep = if params.trim().is_empty() { "" } else { ", " };
    format!("{}{sep}kwargs={{}}{}", &body[..close], &body[close..])
}

/// Moves the keyword arguments `m`'s signature does not name into one
/// `kwargs` argument, for a macro that has one (see [`with_kwargs_param`]).
fn gather_kwargs(m: &Value, args: &[Value]) -> Option<Vec<Value>> {
    let last = args.last().filter(|v| v.is_kwargs())?;
    let names: Vec<String> = m
        .get_attr("arguments")
        .ok()?
        .try_iter()
        .ok()?
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if !names.iter().any(|n| n == "kwargs") {
        return None;
    }
    let mut named = Vec::new();
    let mut extra = BTreeMap::new();
    for k in last.try_iter().ok()? {
        let key = k.as_str()?.to_string();
        let v = last.get_item(&k).ok()?;
        if names.contains(&key) || key == "caller" {
            named.push((key, v));
        } else {
            extra.insert(key, v);
        }
    }
    if extra.is_empty() {
        return None;
    }
    named.push(("kwargs".to_string(), Value::from(extra)));
    let mut out = args[..args.len() - 1].to_vec();
    out.push(Value::from(
        named.into_iter().collect::<minijinja::value::Kwargs>(),
    ));
    Some(out)
}

thread_local! {
    /// The macros a node calls itself (depth 0) while [`recording_macros`]
    /// runs on this thread, and the current macro depth.
    static MACRO_CALLS: std::cell::RefCell<Option<(usize, Vec<String>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Run `f` and return, with its result, the unique ids of the macros it
/// called directly (not those the macros called), in first-call order:
/// dbt's `depends_on.macros` of a node, recorded while it parses.
pub fn recording_macros<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let outer = MACRO_CALLS.with(|c| c.borrow_mut().replace((0, Vec::new())));
    let out = f();
    let calls = MACRO_CALLS.with(|c| {
        let mut slot = c.borrow_mut();
        let mine = slot.take().map(|(_, v)| v).unwrap_or_default();
        *slot = outer;
        mine
    });
    (out, calls)
}

/// Call a macro from its own template, with the caller's node names.
fn call_macro(
    state: &State,
    tpl: &str,
    package: &str,
    name: &str,
    args: &[Value],
) -> Result<Value, JError> {
    let recording = MACRO_CALLS.with(|c| match c.borrow_mut().as_mut() {
        Some((depth, calls)) => {
            if *depth == 0 {
                let id = format!("macro.{package}.{name}");
                if !calls.contains(&id) {
                    calls.push(id);
                }
            }
            *depth += 1;
            true
        }
        None => false,
    });
    let out = call_macro_inner(state, tpl, package, name, args);
    if recording {
        MACRO_CALLS.with(|c| {
            if let Some((depth, _)) = c.borrow_mut().as_mut() {
                *depth = depth.saturating_sub(1);
            }
        });
    }
    out
}

fn call_macro_inner(
    state: &State,
    tpl: &str,
    package: &str,
    name: &str,
    args: &[Value],
) -> Result<Value, JError> {
    let mut names = BTreeMap::new();
    // Jinja macros do not see their caller's locals: the node's names come
    // from the node, not from whatever the caller has set under that name
    let node = state.lookup(NODE).filter(|v| !v.is_undefined());
    let shared = node.as_ref().and_then(|m| m.downcast_object::<NodeNames>());
    match &shared {
        Some(shared) => {
            for n in &shared.missing {
                if let Some(v) = state.lookup(n) {
                    names.insert(*n, v);
                }
            }
        }
        None => {
            for n in NODE_NAMES {
                let from_node = node
                    .as_ref()
                    .and_then(|m| m.get_attr(n).ok())
                    .filter(|v| !v.is_undefined());
                if let Some(v) = from_node.or_else(|| state.lookup(n)) {
                    names.insert(*n, v);
                }
            }
        }
    }
    if let Some(m) = node {
        names.insert(NODE, m);
    }
    let scope = Scope {
        node: shared,
        names,
        locals: None,
    };
    // dbt resolves a bare name in the macro namespace of the node being
    // rendered: its package's macros (for a package's node), then the root
    // project's, then dbt's (the macro's own package plays no part)
    let _ = package;
    let node_pkg = scope.name(PKG).and_then(|v| v.as_str());
    let locals = match (registry(state), node_pkg) {
        (Some(r), Some(p)) if p != r.root => r.packages.get(p).cloned(),
        _ => None,
    };
    let t = state.env().get_template(tpl)?;
    let captured = t.render_captured(Value::from_object(Scope { locals, ..scope }))?;
    let st = captured.state();
    let m = st
        .lookup(name)
        .ok_or_else(|| err(format!("macro {name} not found in its template")))?;
    let gathered = gather_kwargs(&m, args);
    match m.call(st, gathered.as_deref().unwrap_or(args)) {
        Ok(v) => Ok(v),
        Err(e) => match take_returned() {
            Some(v) if is_return(&e) => Ok(v),
            _ => Err(e),
        },
    }
}

fn packages_has(env: &Environment<'static>, name: &str) -> bool {
    env.globals().any(|(k, _)| k == name)
}

fn registry(state: &State) -> Option<Arc<Registry>> {
    state
        .lookup(REGISTRY)
        .and_then(|v| v.downcast_object::<Registry>())
}

/// `adapter.dispatch(macro_name, macro_namespace)`.
pub fn dispatch(state: &State, name: &str, namespace: Option<&str>) -> Result<Value, JError> {
    if let Some((ns, n)) = name.split_once('.') {
        return Err(err(format!(
            "In adapter.dispatch, got a macro name of \"{name}\", but \".\" is not a valid macro name component. Did you mean `adapter.dispatch(\"{n}\", macro_namespace=\"{ns}\")`?"
        )));
    }
    let reg = registry(state).ok_or_else(|| err("macro registry missing"))?;
    let mut attempts = Vec::new();
    for pkg in reg.search_packages(namespace) {
        for prefix in PREFIXES {
            let search = format!("{prefix}__{name}");
            let found = match &pkg {
                None => state.lookup(&search).filter(|v| !v.is_undefined()),
                Some(p) => reg.get(p, &search),
            };
            attempts.push(match &pkg {
                None => format!("'{search}'"),
                Some(p) => format!("'{p}.{search}'"),
            });
            if let Some(v) = found {
                return Ok(v);
            }
        }
    }
    Err(err(format!(
        "In dispatch: No macro named '{name}' found within namespace: '{}'\n    Searched for: {}",
        namespace.unwrap_or("None"),
        attempts.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(
        files: &[(&str, &str)],
        dispatch: BTreeMap<String, Vec<String>>,
    ) -> Environment<'static> {
        let mut env = Environment::new();
        env.add_function("return", return_fn);
        let files: Vec<MacroFile> = files
            .iter()
            .map(|(p, t)| MacroFile {
                package: p.to_string(),
                path: "m.sql".into(),
                text: t.to_string(),
            })
            .collect();
        register(&mut env, "root", &files, dispatch, &[]).unwrap();
        crate::extras::install_modules(&mut env);
        env
    }

    /// Native stand-ins for built-ins step aside when a project or package
    /// defines one of the names, or reorders the `dbt` namespace.
    #[test]
    fn replacing_a_builtin_is_seen() {
        let names = ["test_unique", "default__test_unique"];
        let env = env_with(
            &[("root", "{% macro other() %}{% endmacro %}")],
            BTreeMap::new(),
        );
        assert!(!replaces_builtins(&env, &names));
        for pkg in ["root", "pkg"] {
            let env = env_with(
                &[(
                    pkg,
                    "{% macro default__test_unique(model, column_name) %}{% endmacro %}",
                )],
                BTreeMap::new(),
            );
            assert!(replaces_builtins(&env, &names), "{pkg}");
        }
        let order = BTreeMap::from([(INTERNAL.to_string(), vec!["root".to_string()])]);
        let env = env_with(&[("root", "{% macro other() %}{% endmacro %}")], order);
        assert!(replaces_builtins(&env, &names));
    }

    #[test]
    fn namespaces_and_dispatch() {
        let env = env_with(
            &[
                ("pkg", "{% macro hello() %}{{ adapter_name() }}{% endmacro %}{% macro adapter_name() %}pkg{% endmacro %}{% macro default__thing() %}pkg-thing{% endmacro %}"),
                ("root", "{% macro adapter_name() %}root{% endmacro %}"),
            ],
            BTreeMap::new(),
        );
        let adapter = minijinja::context! {};
        let r = |s: &str| {
            env.render_str(s, minijinja::context! { adapter => adapter.clone() })
                .unwrap()
        };
        // bare names resolve in the rendering node's namespace, as in dbt:
        // from a root node the root project's macro wins ...
        assert_eq!(r("{{ pkg.hello() }}"), "root");
        assert_eq!(r("{{ adapter_name() }}"), "root");
        // ... from a node of `pkg`, the package's own
        let in_pkg = env
            .render_str(
                "{{ pkg.hello() }}",
                minijinja::context! { adapter => adapter.clone(), __tarmac_pkg => "pkg" },
            )
            .unwrap();
        assert_eq!(in_pkg, "pkg");
        // built-ins without dispatch: bare and dbt.
        assert_eq!(r("{{ dbt.default__concat(['a', 'b']) }}").trim(), "a || b");
        assert_eq!(r("{{ default__type_bigint() }}").trim(), "bigint");
        assert_eq!(
            r("{{ dbt.duckdb__split_part('s', \"','\", 2) }}").trim(),
            "string_split(s, ',')[ 2 ]"
        );
    }

    #[test]
    fn macros_take_node_names_from_the_node_not_the_callers_locals() {
        let env = env_with(
            &[("pkg", "{% macro who() %}{{ adapter.name }}{% endmacro %}")],
            BTreeMap::new(),
        );
        let adapter = minijinja::context! { name => "real" };
        // a model that shadows `adapter` with a local (dbt_set_similarity's
        // tests set `adapter = target.type`) still gives macros the node's
        let out = env
            .render_str(
                "{% set adapter = 'duckdb' %}{{ adapter }}/{{ pkg.who() }}",
                minijinja::context! {
                    adapter => adapter.clone(),
                    __tarmac_node => minijinja::context! { adapter => adapter.clone() },
                },
            )
            .unwrap();
        assert_eq!(out, "duckdb/real");
    }

    #[test]
    fn a_nodes_shared_names_reach_nested_macros_and_the_rest_come_from_the_caller() {
        let env = env_with(
            &[(
                "pkg",
                "{% macro who() %}{{ adapter.name }}:{{ sql }}{% endmacro %}\
                 {% macro outer() %}{% set adapter = 'x' %}{{ pkg.who() }}{% endmacro %}",
            )],
            BTreeMap::new(),
        );
        let adapter = minijinja::context! { name => "real" };
        // the node defines `adapter` (shared, built once) but not `sql`,
        // which a macro takes from its caller's context
        let node = NodeNames::new(|n| (n == "adapter").then(|| adapter.clone()));
        assert!(node.missing.contains(&"sql") && !node.missing.contains(&"adapter"));
        let out = env
            .render_str(
                "{% set adapter = 'duckdb' %}{{ pkg.who() }}/{{ pkg.outer() }}",
                minijinja::context! {
                    adapter => adapter.clone(),
                    sql => "select 1",
                    __tarmac_node => Value::from_object(node),
                },
            )
            .unwrap();
        assert_eq!(out, "real:select 1/real:select 1");
    }

    #[test]
    fn macros_reading_kwargs_get_the_unnamed_keywords() {
        assert_eq!(
            with_kwargs_param("{% macro t(model, g=[]) %}{{ kwargs.get('a') }}{% endmacro %}"),
            "{% macro t(model, g=[], kwargs={}) %}{{ kwargs.get('a') }}{% endmacro %}"
        );
        assert_eq!(
            with_kwargs_param("{% macro t() %}{{ x }}{% endmacro %}"),
            "{% macro t() %}{{ x }}{% endmacro %}"
        );
        // dbt_utils.not_null_proportion: the test passes at_least/at_most,
        // the macro names neither and reads them from kwargs, also through
        // a dispatch that splats **kwargs on
        let env = env_with(
            &[(
                "pkg",
                "{% macro t(model, g=[]) %}{{ pkg.default__t(model, g, **kwargs) }}{% endmacro %}\
                 {% macro default__t(model, g) %}{{ model }}:{{ kwargs.get('at_least') }}:{{ kwargs.get('at_most', 1) }}{% endmacro %}",
            )],
            BTreeMap::new(),
        );
        let out = env
            .render_str("{{ pkg.t(model='m', at_least=0.5) }}|{{ pkg.t('n') }}", ())
            .unwrap();
        assert_eq!(out, "m:0.5:1|n:None:1");
    }
}
