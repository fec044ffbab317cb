//! `dbt_project.yml` and `profiles.yml`: where the project's files are, its
//! variables and configs, and the DuckDB target to build into.
//! Follows <https://docs.getdbt.com/reference/dbt_project.yml> and
//! <https://github.com/duckdb/dbt-duckdb#configuring-your-profile>.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::yaml;

/// The dbt version Tarmac reports to `require-dbt-version` checks.
pub const DBT_VERSION: &str = "1.10.0";

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
    /// Warnings found while loading (unsatisfied `require-dbt-version`, ...).
    pub warnings: Vec<String>,
}

fn string_list(v: Option<&Value>, default: &[&str], file: &Path, key: &str) -> Result<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(default.iter().map(|s| s.to_string()).collect()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                other => Err(Error::Yaml {
                    path: file.to_path_buf(),
                    message: format!("key {key}: expected a string, found {other}"),
                }),
            })
            .collect(),
        Some(other) => Err(Error::Yaml {
            path: file.to_path_buf(),
            message: format!("key {key}: expected a list of strings, found {other}"),
        }),
    }
}

/// Render a string from a project file with `env_var()` and `var()` only
/// (what dbt allows before the project is parsed).
pub fn render_basic(text: &str, vars: &Map<String, Value>) -> std::result::Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.add_function("env_var", crate::jinja::env_var);
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
    /// Load `<dir>/dbt_project.yml`; `cli_vars` (from `--vars`) win over the
    /// file's vars.
    pub fn load(dir: &Path, cli_vars: &Map<String, Value>) -> Result<Project> {
        let root = std::path::absolute(dir).map_err(|e| Error::io(dir, e))?;
        let file = root.join("dbt_project.yml");
        if !file.exists() {
            return Err(Error::Project(format!(
                "no dbt_project.yml in {} (use --project-dir)",
                root.display()
            )));
        }
        let mut raw = yaml::read(&file)?;
        let Value::Object(_) = raw else {
            return Err(Error::Yaml {
                path: file,
                message: "expected a mapping at the top".into(),
            });
        };
        // vars first (they may be used by other keys), rendered with env_var only
        let mut all_vars = raw.get("vars").cloned().unwrap_or(Value::Null);
        yaml::render_strings(&mut all_vars, &[], &|s| render_basic(s, cli_vars), "vars").map_err(
            |message| Error::Yaml {
                path: file.clone(),
                message,
            },
        )?;
        let name = match raw.get("name") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(Error::Yaml {
                    path: file,
                    message: "key name: required, a string".into(),
                })
            }
        };
        let mut vars = Map::new();
        let mut package_vars: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        if let Value::Object(m) = &all_vars {
            for (k, v) in m {
                // dbt: a key that is a project/package name and holds a mapping is package-scoped
                match v {
                    Value::Object(inner) if *k == name => {
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
        let mut render_vars = vars.clone();
        if let Some(p) = package_vars.get(&name) {
            render_vars.extend(p.clone());
        }
        yaml::render_strings(
            &mut raw,
            &[
                "pre_hook",
                "post_hook",
                "on_run_start",
                "on_run_end",
                "vars",
            ],
            &|s| render_basic(s, &render_vars),
            "",
        )
        .map_err(|message| Error::Yaml {
            path: file.clone(),
            message,
        })?;
        let get = |k: &str| raw.get(k);
        let profile = match get("profile") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => name.clone(),
            Some(other) => {
                return Err(Error::Yaml {
                    path: file,
                    message: format!("key profile: expected a string, found {other}"),
                })
            }
        };
        let mut warnings = Vec::new();
        if let Some(req) = get("require-dbt-version") {
            let ranges: Vec<String> = match req {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                _ => vec![],
            };
            if !ranges.iter().all(|r| version_satisfies(DBT_VERSION, r)) {
                warnings.push(format!(
                    "{}: require-dbt-version {:?} is not satisfied by dbt {DBT_VERSION} (the version Tarmac follows); building anyway",
                    file.display(),
                    ranges
                ));
            }
        }
        let hooks = |k: &str| -> Vec<String> {
            match raw.get(k).or_else(|| raw.get(k.replace('-', "_"))) {
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect(),
                _ => vec![],
            }
        };
        let on_run_start = hooks("on-run-start");
        let on_run_end = hooks("on-run-end");
        let known = [
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
        if let Value::Object(m) = &raw {
            for k in m.keys() {
                if !known.contains(&k.as_str()) {
                    warnings.push(format!("{}: unknown key {k} ignored", file.display()));
                }
            }
        }
        Ok(Project {
            model_paths: string_list(
                get("model-paths").or(get("source-paths")),
                &["models"],
                &file,
                "model-paths",
            )?,
            seed_paths: string_list(
                get("seed-paths").or(get("data-paths")),
                &["seeds"],
                &file,
                "seed-paths",
            )?,
            macro_paths: string_list(get("macro-paths"), &["macros"], &file, "macro-paths")?,
            test_paths: string_list(get("test-paths"), &["tests"], &file, "test-paths")?,
            snapshot_paths: string_list(
                get("snapshot-paths"),
                &["snapshots"],
                &file,
                "snapshot-paths",
            )?,
            analysis_paths: string_list(
                get("analysis-paths"),
                &["analyses"],
                &file,
                "analysis-paths",
            )?,
            target_path: match get("target-path") {
                Some(Value::String(s)) => s.clone(),
                _ => "target".into(),
            },
            models_config: get("models").cloned().unwrap_or(Value::Null),
            seeds_config: get("seeds").cloned().unwrap_or(Value::Null),
            snapshots_config: get("snapshots").cloned().unwrap_or(Value::Null),
            sources_config: get("sources").cloned().unwrap_or(Value::Null),
            tests_config: get("data_tests")
                .or(get("tests"))
                .cloned()
                .unwrap_or(Value::Null),
            root,
            name,
            profile,
            vars,
            package_vars,
            on_run_start,
            on_run_end,
            dispatch: crate::macros::dispatch_config(get("dispatch")).map_err(|message| {
                Error::Yaml {
                    path: file.clone(),
                    message,
                }
            })?,
            dependencies: vec![],
            warnings,
        })
    }

    /// The vars visible to nodes of this project (globals, then its own scope).
    pub fn vars_for_project(&self) -> Map<String, Value> {
        let mut v = self.vars.clone();
        if let Some(p) = self.package_vars.get(&self.name) {
            for (k, val) in p {
                v.entry(k.clone()).or_insert_with(|| val.clone());
            }
        }
        v
    }
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
    /// The database (catalog) name: the file's stem, or `memory`.
    pub database: String,
    pub schema: String,
    pub threads: usize,
    pub extensions: Vec<String>,
    pub settings: Map<String, Value>,
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
        let mut raw = yaml::read(file)?;
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
        let key = |k: &str| format!("{profile}.outputs.{target_name}.{k}");
        let ty = out.get("type").and_then(|v| v.as_str()).unwrap_or("");
        if ty != "duckdb" {
            return Err(bad(format!(
                "key {}: Tarmac builds on DuckDB only, found type {ty:?}",
                key("type")
            )));
        }
        let path = match out.get("path") {
            None | Some(Value::Null) => ":memory:".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "key {}: expected a string, found {other}",
                    key("path")
                )))
            }
        };
        let database = if path == ":memory:" || path.is_empty() {
            "memory".to_string()
        } else {
            // dbt-duckdb: the catalog is the file's stem (`dev.duckdb` -> `dev`)
            let p = Path::new(&path);
            p.file_stem()
                .and_then(|s| s.to_str())
                .map(|s| s.split('.').next().unwrap_or(s).to_string())
                .unwrap_or_else(|| "memory".into())
        };
        let schema = match out.get("schema") {
            None | Some(Value::Null) => "main".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                return Err(bad(format!(
                    "key {}: expected a string, found {other}",
                    key("schema")
                )))
            }
        };
        let threads = match out.get("threads") {
            None | Some(Value::Null) => 1,
            Some(Value::Number(n)) => n.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                bad(format!(
                    "key {}: expected a positive integer",
                    key("threads")
                ))
            })? as usize,
            Some(Value::String(s)) => match yaml::coerce_scalar(s).as_u64() {
                Some(n) if n > 0 => n as usize,
                _ => {
                    return Err(bad(format!(
                        "key {}: expected a positive integer, found {s:?}",
                        key("threads")
                    )))
                }
            },
            Some(other) => {
                return Err(bad(format!(
                    "key {}: expected a positive integer, found {other}",
                    key("threads")
                )))
            }
        };
        let extensions = match out.get("extensions") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    Value::Object(m) => m
                        .get("name")
                        .and_then(|n| n.as_str())
                        .unwrap_or_default()
                        .to_string(),
                    _ => String::new(),
                })
                .filter(|s| !s.is_empty())
                .collect(),
            _ => vec![],
        };
        let settings = match out.get("settings") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        Ok(Target {
            name: target_name,
            profile_name: profile.to_string(),
            path,
            database,
            schema,
            threads,
            extensions,
            settings,
        })
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
        let p = Project::load(d.path(), &Map::new()).unwrap();
        assert_eq!(p.name, "p");
        assert_eq!(p.model_paths, vec!["models"]);
        assert_eq!(p.vars_for_project()["b"], 2);
        assert_eq!(p.warnings.len(), 1);
        let f = Target::find_profiles(Some(d.path()), d.path()).unwrap();
        let t = Target::load(&f, &p.profile, None, &p.vars).unwrap();
        assert_eq!(t.database, "dev");
        assert_eq!(t.path, "x/dev.duckdb");
        assert_eq!(t.threads, 4);
        let e = Target::load(&f, &p.profile, Some("prod"), &p.vars).unwrap_err();
        assert!(e.to_string().contains("prof.outputs.prod"), "{e}");
    }
}
