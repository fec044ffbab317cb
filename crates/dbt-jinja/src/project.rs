//! `dbt_project.yml` and `profiles.yml`: where the project's files are, its
//! variables and configs, and the DuckDB target to build into.
//! Follows <https://docs.getdbt.com/reference/dbt_project.yml> and
//! <https://github.com/duckdb/dbt-duckdb#configuring-your-profile>.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::yaml;
pub use dbt_project::profile_file::{path_database_name, Attachment, Extension};
use dbt_project::project_file::ProjectFile;

pub use dbt_project::DBT_VERSION;

/// A loaded `dbt_project.yml`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project's directory (absolute).
    pub root: PathBuf,
    pub name: String,
    pub profile: String,
    pub model_paths: Vec<String>,
    pub seed_paths: Vec<String>,
    pub macro_paths: Vec<String>,
    pub test_paths: Vec<String>,
    pub snapshot_paths: Vec<String>,
    pub analysis_paths: Vec<String>,
    pub target_path: String,
    /// Global vars (top-level, non-package keys of `vars:`).
    pub vars: Map<String, Value>,
    /// Package-scoped vars: `vars: {package_name: {...}}`.
    pub package_vars: BTreeMap<String, Map<String, Value>>,
    /// The `models:` config tree as written (resolved per node by `config`).
    pub models_config: Value,
    pub seeds_config: Value,
    pub snapshots_config: Value,
    pub sources_config: Value,
    /// The `data_tests:` (or older `tests:`) config tree.
    pub tests_config: Value,
    pub on_run_start: Vec<String>,
    pub on_run_end: Vec<String>,
    /// `dispatch:`: macro_namespace → package search order.
    pub dispatch: std::collections::BTreeMap<String, Vec<String>>,
    /// Names of the installed packages (filled by `packages`).
    pub dependencies: Vec<String>,
    /// `quoting:` for the relations of models, seeds and snapshots.
    pub quoting: crate::relation::Quoting,
    /// `require-dbt-version` as version specifiers (`>=1.0.0`), all of which
    /// must hold; empty when the key is absent.
    pub require_dbt_version: Vec<String>,
    /// `packages-install-path` (default `dbt_packages`), relative to `root`.
    pub packages_install_path: String,
    /// `clean-targets` (default: `target-path` alone, as dbt 1.10), what
    /// `tarmac clean` removes.
    pub clean_targets: Vec<String>,
    /// The file's `vars:` as written (rendered), package scopes included:
    /// what dbt's `vars_for` merges per node.
    pub file_vars: Map<String, Value>,
    /// `--vars`, which win over every file.
    pub cli_vars: Map<String, Value>,
    /// For an installed package: the root project, whose config trees
    /// (`models: <package>: ...`) apply over the package's own.
    pub overrides: Option<std::sync::Arc<Project>>,
    /// Warnings found while loading (unsatisfied `require-dbt-version`, ...).
    pub warnings: Vec<String>,
}

/// dbt's Jinja context for `dbt_project.yml` (and, without `target`, for
/// `profiles.yml` and the `profile:` key, which are read before the
/// profile is): `env_var`, `var` over `--vars` only (a project file's own
/// `vars:` are not visible in it), `target` once the profile is loaded,
/// `builtins`, `dbt_version`, `modules` and the serialization functions
/// (<https://docs.getdbt.com/reference/dbt-jinja-functions/dbt-project-yml-context>,
/// checked against dbt-core 1.10.23).
pub struct FileEnv {
    env: minijinja::Environment<'static>,
}

impl FileEnv {
    pub fn new(cli_vars: &Map<String, Value>, target: Option<&Target>) -> FileEnv {
        let mut env = minijinja::Environment::new();
        env.add_function("env_var", crate::builtins::env_var);
        env.add_global("var", crate::builtins::var_fn(cli_vars.clone()));
        crate::builtins::add_serialization(&mut env);
        crate::extras::install_modules(&mut env);
        if let Some(t) = target {
            env.add_global("target", target_value(t));
        }
        FileEnv { env }
    }

    /// Render `text` to text.
    pub fn render_text(&self, text: &str) -> std::result::Result<String, String> {
        self.env.render_str(text, ()).map_err(|e| jinja_message(&e))
    }

    /// Render a YAML string value as dbt does: when the whole value is one
    /// `{{ expression }}` that is not a constant, the expression's value
    /// keeps its type (`"{{ target.threads }}"` is a number, `"{{ false if
    /// target.type == 'x' else true }}"` a boolean, a list stays a list);
    /// anything else, constants folded (`"{{ 1 + 2 }}"` is `"3"`), is text.
    pub fn render_value(&self, text: &str) -> std::result::Result<Value, String> {
        if let Some(expr) = single_expression(text) {
            if !is_constant(expr) {
                let v = self
                    .env
                    .compile_expression(expr)
                    .and_then(|e| e.eval(()))
                    .map_err(|e| jinja_message(&e))?;
                if !v.is_undefined() && v.kind() != minijinja::value::ValueKind::String {
                    return Ok(crate::builtins::value_to_json(&v));
                }
            }
        }
        self.render_text(text).map(Value::String)
    }

    /// Render every string of `v` holding Jinja with [`FileEnv::render_value`],
    /// except where `skip` says (given the key path) dbt renders later.
    pub fn render_tree(
        &self,
        v: &mut Value,
        path: &mut Vec<String>,
        skip: &dyn Fn(&[String]) -> bool,
    ) -> std::result::Result<(), String> {
        match v {
            Value::String(s) if s.contains("{{") || s.contains("{%") => {
                *v = self
                    .render_value(s)
                    .map_err(|e| format!("key {}: {e}", path.join(".")))?;
            }
            Value::Array(a) => {
                for (i, item) in a.iter_mut().enumerate() {
                    if let Some(last) = path.last_mut() {
                        last.push_str(&format!("[{i}]"));
                    }
                    let r = self.render_tree(item, path, skip);
                    if let Some(last) = path.last_mut() {
                        let cut = last.rfind('[').unwrap_or(last.len());
                        last.truncate(cut);
                    }
                    r?;
                }
            }
            Value::Object(m) => {
                for (k, item) in m.iter_mut() {
                    path.push(k.clone());
                    let r = if skip(path) {
                        Ok(())
                    } else {
                        self.render_tree(item, path, skip)
                    };
                    path.pop();
                    r?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn jinja_message(e: &minijinja::Error) -> String {
    let mut m = e.to_string();
    if let Some(d) = e.detail() {
        if !m.contains(d) {
            m = format!("{m}: {d}");
        }
    }
    m
}

/// The expression of a value that is exactly one `{{ ... }}` and nothing
/// else (what Jinja's native rendering returns as a value, not text).
fn single_expression(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("{{")?.strip_suffix("}}")?;
    let inner = inner.strip_prefix(['-', '+']).unwrap_or(inner);
    let inner = inner.strip_suffix(['-', '+']).unwrap_or(inner);
    if ["{{", "}}", "{%", "%}", "{#"]
        .iter()
        .any(|t| inner.contains(t))
    {
        return None;
    }
    Some(inner)
}

/// Whether Jinja would fold `expr` into a constant at compile time (dbt then
/// gets text): no name in it is looked up. Names after `.` (attributes),
/// `|` (filters) or `is` (tests) and the literal keywords do not count;
/// dbt's type filters (`as_bool`, ...) always give a value.
fn is_constant(expr: &str) -> bool {
    const WORDS: &[&str] = &[
        "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False",
        "None",
    ];
    let b = expr.as_bytes();
    let mut i = 0;
    let mut prev = ' ';
    let mut prev_word = "";
    while i < b.len() {
        let c = b[i] as char;
        if c == '\'' || c == '"' {
            i += 1;
            while i < b.len() && b[i] as char != c {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            prev = c;
            prev_word = "";
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            if ["as_bool", "as_number", "as_native"].contains(&word) {
                return false;
            }
            let named = prev != '.' && prev != '|' && prev_word != "is";
            if named && !WORDS.contains(&word) {
                return false;
            }
            prev = 'a';
            prev_word = word;
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            prev = '0';
            prev_word = "";
        } else {
            if !c.is_whitespace() {
                prev = c;
                prev_word = "";
            }
            i += 1;
        }
    }
    true
}

/// Render a string from a project file with `env_var()` and `var()` only
/// (what dbt allows before the project is parsed).
pub fn render_basic(text: &str, vars: &Map<String, Value>) -> std::result::Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.add_function("env_var", crate::builtins::env_var);
    let vars = vars.clone();
    env.add_function(
        "var",
        move |name: String,
              default: Option<minijinja::Value>|
              -> std::result::Result<minijinja::Value, minijinja::Error> {
            match vars.get(&name) {
                Some(v) => Ok(minijinja::Value::from_serialize(v)),
                None => default.ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("Required var '{name}' not found in config"),
                    )
                }),
            }
        },
    );
    env.render_str(text, ()).map_err(|e| {
        let mut m = e.to_string();
        if let Some(d) = e.detail() {
            if !m.contains(d) {
                m = format!("{m}: {d}");
            }
        }
        m
    })
}

impl Project {
    /// The profile `<dir>/dbt_project.yml` names (`profile:`, else the
    /// project's `name`), rendered as dbt does before any profile is loaded.
    pub fn profile_name(dir: &Path, cli_vars: &Map<String, Value>) -> Result<String> {
        let file = std::path::absolute(dir)
            .map_err(|e| Error::io(dir, e))?
            .join("dbt_project.yml");
        if !file.exists() {
            return Err(Error::Project(format!(
                "no dbt_project.yml in {} (use --project-dir)",
                dir.display()
            )));
        }
        let raw = yaml::read(&file)?;
        let fenv = FileEnv::new(cli_vars, None);
        let bad = |message: String| Error::Yaml {
            path: file.clone(),
            message,
        };
        match raw.get("profile").or(raw.get("name")) {
            Some(Value::String(s)) => fenv
                .render_text(s)
                .map_err(|e| bad(format!("key profile: {e}"))),
            _ => Err(bad("key name: required, a string".into())),
        }
    }

    /// Load `<dir>/dbt_project.yml`, rendering its values with dbt's
    /// project-file context ([`FileEnv`]: `target` is the loaded profile's
    /// target, None when there is none, as for `deps`); `cli_vars` (from
    /// `--vars`) win over the file's vars.
    pub fn load(
        dir: &Path,
        cli_vars: &Map<String, Value>,
        target: Option<&Target>,
    ) -> Result<Project> {
        let root = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        let file = root.join("dbt_project.yml");
        if !file.exists() {
            return Err(Error::Project(format!(
                "no dbt_project.yml in {} (use --project-dir)",
                root.display()
            )));
        }
        let text = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
        let mut raw = yaml::parse(&file, &text)?;
        // `vars:` values render when read, with `var()` seeing the vars
        // themselves (and `--vars` over them); here, once, at load
        let mut all_vars = raw.get("vars").cloned().unwrap_or(Value::Null);
        let mut vars_env_vars = dbt_project::project_file::unscoped_vars(&all_vars);
        vars_env_vars.extend(cli_vars.clone());
        FileEnv::new(&vars_env_vars, target)
            .render_tree(&mut all_vars, &mut vec!["vars".to_string()], &|_| false)
            .map_err(|message| Error::Yaml {
                path: file.clone(),
                message,
            })?;
        // every other key renders now with the project-file context, except
        // what dbt renders later with a node's or the run's context: run
        // hooks, `query-comment`, and hooks in the config trees
        let skip = |p: &[String]| -> bool {
            let top = p[0].as_str();
            if top == "vars"
                || [
                    "on-run-start",
                    "on-run-end",
                    "on_run_start",
                    "on_run_end",
                    "query-comment",
                ]
                .contains(&top)
            {
                return true;
            }
            ["models", "seeds", "snapshots", "tests", "data_tests"].contains(&top)
                && p[1..].iter().any(|k| {
                    matches!(
                        k.trim_start_matches(['+', ' ']),
                        "pre-hook" | "post-hook" | "pre_hook" | "post_hook"
                    )
                })
        };
        if raw.is_object() {
            FileEnv::new(cli_vars, target)
                .render_tree(&mut raw, &mut vec![], &skip)
                .map_err(|message| Error::Yaml {
                    path: file.clone(),
                    message,
                })?;
        }
        let f = ProjectFile::read(&raw, &file, &yaml::KeyLines::of(&text))?;
        let mut vars = Map::new();
        let mut package_vars: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        if let Value::Object(m) = &all_vars {
            for (k, v) in m {
                // dbt: a key that is a project/package name and holds a mapping is package-scoped
                match v {
                    Value::Object(inner) if *k == f.name => {
                        package_vars
                            .entry(k.clone())
                            .or_default()
                            .extend(inner.clone());
                    }
                    _ => {
                        vars.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        for (k, v) in cli_vars {
            vars.insert(k.clone(), v.clone());
        }
        let warnings = f
            .unknown_keys
            .iter()
            .map(|k| format!("{}: unknown key {k} ignored", file.display()))
            .collect();
        Ok(Project {
            root,
            profile: f.profile.unwrap_or_else(|| f.name.clone()),
            name: f.name,
            model_paths: f.model_paths,
            seed_paths: f.seed_paths,
            macro_paths: f.macro_paths,
            test_paths: f.test_paths,
            snapshot_paths: f.snapshot_paths,
            analysis_paths: f.analysis_paths,
            target_path: f.target_path,
            clean_targets: f.clean_targets,
            models_config: f.models,
            seeds_config: f.seeds,
            snapshots_config: f.snapshots,
            sources_config: f.sources,
            tests_config: f.tests,
            vars,
            package_vars,
            on_run_start: f.on_run_start,
            on_run_end: f.on_run_end,
            dispatch: f.dispatch,
            dependencies: vec![],
            quoting: crate::relation::Quoting::default().merged(f.quoting.as_ref()),
            require_dbt_version: f.require_dbt_version,
            packages_install_path: f.packages_install_path,
            file_vars: match &all_vars {
                Value::Object(m) => m.clone(),
                _ => Map::new(),
            },
            cli_vars: cli_vars.clone(),
            overrides: None,
            warnings,
        })
    }

    /// dbt's version check: every `require-dbt-version` specifier must hold
    /// for [`DBT_VERSION`], else the run stops with dbt's message (skipped
    /// with `--no-version-check`).
    pub fn check_dbt_version(&self) -> Result<()> {
        let reqs = &self.require_dbt_version;
        if reqs.is_empty() || reqs.iter().all(|r| version_satisfies(DBT_VERSION, r)) {
            return Ok(());
        }
        Err(Error::Project(format!(
            "Runtime Error\n  This version of dbt is not supported with the '{name}' package.\n    Installed version of dbt: ={DBT_VERSION}\n    Required version of dbt for '{name}': {list}\n  Check for a different version of the '{name}' package, or run dbt again with --no-version-check",
            name = self.name,
            list = python_list(reqs),
        )))
    }

    /// A node's config from the dbt_project.yml trees (`tree` picks
    /// `models:`, `seeds:`, ...): this project's own, then, for a package,
    /// the root project's over it, as dbt applies them (every level of the
    /// package's file first, then every level of the root's).
    pub fn tree_config(
        &self,
        tree: impl Fn(&Project) -> &Value,
        folders: &[String],
        name: &str,
    ) -> crate::config::Config {
        let mut c = crate::config::from_tree(tree(self), &self.name, folders, name);
        if let Some(root) = &self.overrides {
            let over = crate::config::from_tree(tree(root), &self.name, folders, name);
            crate::config::merge(&mut c, &over);
        }
        c
    }

    /// The vars visible to nodes of this (the root) project.
    pub fn vars_for_project(&self) -> Map<String, Value> {
        self.vars_for_package(&self.name, None)
    }

    /// The vars `var()` sees in a node of `package`, as dbt's
    /// `ModelConfiguredVar` merges them (later wins): the package's own
    /// dbt_project.yml vars, then its scope there, then the root project's
    /// vars, then the root's scope for the package, then `--vars`. `own` is
    /// the package's project (None for the root project itself).
    pub fn vars_for_package(&self, package: &str, own: Option<&Project>) -> Map<String, Value> {
        let mut v = Map::new();
        let mut add = |m: &Map<String, Value>| {
            for (k, val) in m {
                v.insert(k.clone(), val.clone());
            }
        };
        let scope = |p: &Project| match p.file_vars.get(package) {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        if let Some(own) = own {
            add(&own.file_vars);
            add(&scope(own));
        }
        add(&self.file_vars);
        add(&scope(self));
        add(&self.cli_vars);
        v
    }
}

/// `['>=1.0.0', '<2.0.0']`, as Python prints a list of strings.
fn python_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("'{s}'")).collect();
    format!("[{}]", quoted.join(", "))
}

/// Whether `version` satisfies a dbt version range like `>=1.5.0`,
/// `[">=1.3.0", "<2.0.0"]` items, `1.10.0` or `~=1.7`.
pub fn version_satisfies(version: &str, range: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> {
        s.trim()
            .split('.')
            .map(|p| {
                p.trim()
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect::<String>()
            })
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let cmp = |a: &[u64], b: &[u64]| {
        let n = a.len().max(b.len());
        for i in 0..n {
            let (x, y) = (
                a.get(i).copied().unwrap_or(0),
                b.get(i).copied().unwrap_or(0),
            );
            if x != y {
                return x.cmp(&y);
            }
        }
        std::cmp::Ordering::Equal
    };
    let v = parse(version);
    range.split(',').all(|part| {
        let part = part.trim();
        use std::cmp::Ordering::*;
        let (op, rest) = ["~=", ">=", "<=", "==", "=", ">", "<"]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("==", part));
        let w = parse(rest);
        let o = cmp(&v, &w);
        match op {
            ">=" => o != Less,
            "<=" => o != Greater,
            ">" => o == Greater,
            "<" => o == Less,
            "~=" => o != Less && v.first() == w.first(),
            _ => o == Equal,
        }
    })
}

/// The DuckDB target from profiles.yml.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Target {
    /// Target name (`dev`).
    pub name: String,
    /// Profile name.
    pub profile_name: String,
    /// Database file path as written (`:memory:` when absent).
    pub path: String,
    /// The database (catalog) models build into: the file's stem, `memory`,
    /// or (key `database`) the alias of an attached database.
    pub database: String,
    pub schema: String,
    pub threads: usize,
    /// DuckDB extensions to install (when not cached) and load.
    pub extensions: Vec<Extension>,
    /// `SET key = 'value'` on every connection, as dbt-duckdb does.
    pub settings: Map<String, Value>,
    /// Options given to DuckDB when the database opens (`config_options`).
    pub config_options: Map<String, Value>,
    /// Databases attached to every connection (`attach:`).
    pub attach: Vec<Attachment>,
    /// Where `external` models write their files by default (dbt-duckdb's
    /// `external_root`, `.` when absent).
    pub external_root: String,
    /// The profiles.yml this target came from (for error messages).
    pub file: PathBuf,
}

/// dbt-duckdb's `Attachment.to_sql`: `ATTACH IF NOT EXISTS 'path' AS
/// alias (TYPE t, READ_ONLY, KEY 'value')`. Here and not beside
/// `Attachment` because quoting the alias is the relation layer's.
pub fn attach_sql(a: &Attachment) -> String {
    let mut sql = format!("ATTACH IF NOT EXISTS '{}'", a.path.replace('\'', "''"));
    if let Some(alias) = &a.alias {
        sql.push_str(&format!(" AS {}", crate::relation::quote(alias)));
    }
    let mut opts = Vec::new();
    let opt_type = a.options.get("type").and_then(|v| v.as_str());
    if let Some(t) = a.kind.as_deref().or(opt_type) {
        opts.push(format!("TYPE {t}"));
    }
    if a.read_only || a.options.get("read_only") == Some(&Value::Bool(true)) {
        opts.push("READ_ONLY".to_string());
    }
    for (k, v) in &a.options {
        if ["type", "read_only", "secret"].contains(&k.as_str()) {
            continue;
        }
        match v {
            Value::Bool(true) => opts.push(k.to_uppercase()),
            Value::Bool(false) | Value::Null => {}
            Value::String(s) => {
                let t = s.trim();
                if (t.starts_with('\'') && t.ends_with('\''))
                    || (t.starts_with('"') && t.ends_with('"'))
                {
                    opts.push(format!("{} {s}", k.to_uppercase()));
                } else {
                    opts.push(format!("{} '{}'", k.to_uppercase(), s.replace('\'', "''")));
                }
            }
            other => opts.push(format!("{} {other}", k.to_uppercase())),
        }
    }
    if !opts.is_empty() {
        sql.push_str(&format!(" ({})", opts.join(", ")));
    }
    sql
}

impl Target {
    /// An in-memory DuckDB target (for tests and `run-operation` without a profile).
    pub fn in_memory() -> Target {
        Target {
            name: "dev".into(),
            profile_name: "default".into(),
            path: ":memory:".into(),
            database: "memory".into(),
            schema: "main".into(),
            threads: 1,
            extensions: vec![],
            settings: Map::new(),
            config_options: Map::new(),
            attach: vec![],
            external_root: ".".into(),
            file: PathBuf::new(),
        }
    }

    /// Where profiles.yml is: `--profiles-dir`, `DBT_PROFILES_DIR`, the project
    /// directory, then `~/.dbt` (dbt's order).
    pub fn find_profiles(profiles_dir: Option<&Path>, project_dir: &Path) -> Result<PathBuf> {
        let mut tried = Vec::new();
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(d) = profiles_dir {
            candidates.push(d.to_path_buf());
        } else {
            if let Ok(d) = std::env::var("DBT_PROFILES_DIR") {
                candidates.push(PathBuf::from(d));
            }
            candidates.push(project_dir.to_path_buf());
            if let Some(home) = std::env::var_os("HOME") {
                candidates.push(PathBuf::from(home).join(".dbt"));
            }
        }
        for c in candidates {
            let f = c.join("profiles.yml");
            if f.exists() {
                return Ok(f);
            }
            tried.push(f.display().to_string());
        }
        Err(Error::Profile(format!(
            "profiles.yml not found (tried {})",
            tried.join(", ")
        )))
    }

    /// Load the profile named by the project from `file`, with `target`
    /// (else the profile's `target:`).
    pub fn load(
        file: &Path,
        profile: &str,
        target: Option<&str>,
        vars: &Map<String, Value>,
    ) -> Result<Target> {
        let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        let mut raw = yaml::parse(file, &text)?;
        let bad = |message: String| Error::Yaml {
            path: file.to_path_buf(),
            message,
        };
        yaml::render_strings(&mut raw, &[], &|s| render_basic(s, vars), "").map_err(bad)?;
        let prof = raw
            .get(profile)
            .ok_or_else(|| bad(format!("no profile named {profile:?}")))?;
        let target_name = match target {
            Some(t) => t.to_string(),
            None => prof
                .get("target")
                .and_then(|v| v.as_str())
                .map(String::from)
                .unwrap_or_else(|| "default".into()),
        };
        let out = prof
            .get("outputs")
            .and_then(|o| o.get(&target_name))
            .ok_or_else(|| bad(format!("profile {profile}: no output named {target_name:?} (key {profile}.outputs.{target_name})")))?;
        let o = dbt_project::profile_file::read_output(
            out,
            &format!("{profile}.outputs.{target_name}"),
            file,
            &yaml::KeyLines::of(&text),
        )?;
        Ok(Target {
            name: target_name,
            profile_name: profile.to_string(),
            path: o.path,
            database: o.database,
            schema: o.schema,
            threads: o.threads,
            extensions: o.extensions,
            settings: o.settings,
            config_options: o.config_options,
            attach: o.attach,
            external_root: o.external_root,
            file: file.to_path_buf(),
        })
    }
}

/// `target` as dbt's context has it for a dbt-duckdb profile.
pub fn target_value(t: &Target) -> minijinja::Value {
    minijinja::context! {
        name => t.name.clone(), schema => t.schema.clone(), database => t.database.clone(),
        type => "duckdb", threads => t.threads, path => t.path.clone(),
        profile_name => t.profile_name.clone(), dbname => t.database.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ranges() {
        assert!(version_satisfies("1.10.0", ">=1.3.0"));
        assert!(version_satisfies("1.10.0", ">=1.3.0, <2.0.0"));
        assert!(!version_satisfies("1.10.0", "<1.5.0"));
        assert!(version_satisfies("1.10.0", "1.10.0"));
        assert!(!version_satisfies("1.10.0", ">=1.11"));
        // a widely used package's range holds for the version Tarmac claims
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("dbt_project.yml"),
            "name: pkg\nrequire-dbt-version: ['>=1.10.5', '<3.0.0']\n",
        )
        .unwrap();
        Project::load(d.path(), &Map::new(), None)
            .unwrap()
            .check_dbt_version()
            .unwrap();
    }

    #[test]
    fn loads_project_and_profile() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("dbt_project.yml"),
            "name: p\nprofile: prof\nrequire-dbt-version: '>=2.0.0'\nvars:\n  a: 1\n  p:\n    b: 2\nmodels:\n  p:\n    +materialized: table\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("profiles.yml"),
            "prof:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: \"{{ env_var('TARMAC_TEST_DB', 'x/dev.duckdb') }}\"\n      schema: s\n      threads: 4\n",
        )
        .unwrap();
        let p = Project::load(d.path(), &Map::new(), None).unwrap();
        assert_eq!(p.name, "p");
        assert_eq!(p.model_paths, vec!["models"]);
        assert_eq!(p.vars_for_project()["b"], 2);
        let e = p.check_dbt_version().unwrap_err().to_string();
        assert!(
            e.contains("Required version of dbt for 'p': ['>=2.0.0']")
                && e.contains("--no-version-check"),
            "{e}"
        );
        let f = Target::find_profiles(Some(d.path()), d.path()).unwrap();
        let t = Target::load(&f, &p.profile, None, &p.vars).unwrap();
        assert_eq!(t.database, "dev");
        assert_eq!(t.path, "x/dev.duckdb");
        assert_eq!(t.threads, 4);
        let e = Target::load(&f, &p.profile, Some("prod"), &p.vars).unwrap_err();
        assert!(e.to_string().contains("prof.outputs.prod"), "{e}");
    }

    /// Every problem of the file comes back at once, with its line; the
    /// typed reading is `dbt_project::project_file`'s, after rendering.
    #[test]
    fn project_file_problems_come_together_after_rendering() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("dbt_project.yml"),
            "name: p\nprofile: \"{{ var('p', 7) }}\"\ndispatch:\n  - macro_namespace: dbt_utils\nmodel-paths: [\"{{ var('m', 3) }}\"]\n",
        )
        .unwrap();
        let e = Project::load(d.path(), &Map::new(), None).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(": 3 problems\n"), "{text}");
        assert!(
            text.contains("dbt_project.yml:2: key profile: expected a string, found 7"),
            "{text}"
        );
        assert!(
            text.contains("dbt_project.yml:4: key dispatch[0].search_order: required, a list of package names"),
            "{text}"
        );
        assert!(
            text.contains("dbt_project.yml:5: key model-paths: expected a string, found 3"),
            "{text}"
        );
        std::fs::write(
            d.path().join("dbt_project.yml"),
            "name: p\ndispatch:\n  - macro_namespace: dbt_utils\n    search_order: [p, dbt_utils]\n",
        )
        .unwrap();
        let p = Project::load(d.path(), &Map::new(), None).unwrap();
        assert_eq!(p.dispatch["dbt_utils"], ["p", "dbt_utils"]);
    }
}
