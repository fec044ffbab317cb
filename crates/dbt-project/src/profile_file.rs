//! A `profiles.yml` output (a DuckDB target) read into typed values,
//! every problem of the output reported at once with its line
//! (<https://docs.getdbt.com/docs/core/connect-data-platform/duckdb-setup>).
//! Finding the file, rendering its strings and choosing the profile and
//! target are the Jinja layer's (`dbt_jinja::project::Target::load`); the
//! keys dbt-duckdb takes, and which Tarmac refuses, are here.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::yaml::{KeyLines, Problems};

/// An entry of a target's `extensions:`: a name, or `{name, repo}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Extension {
    pub name: String,
    /// `INSTALL name FROM repo` (e.g. `community`); DuckDB's default otherwise.
    pub repo: Option<String>,
}

/// An entry of a target's `attach:`, as dbt-duckdb's `Attachment`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attachment {
    pub path: String,
    pub alias: Option<String>,
    /// `TYPE` (sqlite, postgres, ... through an extension); DuckDB's own by default.
    pub kind: Option<String>,
    pub read_only: bool,
    /// More `ATTACH` options (`options:` mapping).
    pub options: Map<String, Value>,
}

impl Attachment {
    /// The catalog name DuckDB gives it: the alias, else the file's stem.
    pub fn database_name(&self) -> String {
        self.alias
            .clone()
            .unwrap_or_else(|| path_database_name(&self.path))
    }
}

/// dbt-duckdb's name for a database file: `memory` for `:memory:`, else the
/// file name up to its first dot, as DuckDB names the catalog
/// (`dev.duckdb` → `dev`).
pub fn path_database_name(path: &str) -> String {
    if path == ":memory:" || path.is_empty() {
        return "memory".to_string();
    }
    Path::new(path)
        .file_name()
        .and_then(|s| s.to_str())
        .map(|s| s.split('.').next().unwrap_or(s).to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "memory".into())
}

/// One output of a profile, typed; `Target` in the Jinja layer adds its
/// names and file.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Database file path as written (`:memory:` when absent).
    pub path: String,
    /// The file's stem, `memory`, or the alias of an attached database.
    pub database: String,
    pub schema: String,
    pub threads: usize,
    pub extensions: Vec<Extension>,
    pub settings: Map<String, Value>,
    pub config_options: Map<String, Value>,
    pub attach: Vec<Attachment>,
    pub external_root: String,
}

/// Read the rendered output `out`, found at key path `at`
/// (`profile.outputs.dev`) of file `path`.
pub fn read_output(out: &Value, at: &str, path: &Path, lines: &KeyLines) -> Result<Output> {
    let mut found = Problems::new(path, lines);
    let key = |k: &str| format!("{at}.{k}");
    let mut bad = |k: &str, message: String| found.add(&key(k), message);
    let ty = out.get("type").and_then(|v| v.as_str()).unwrap_or("");
    if ty != "duckdb" {
        bad(
            "type",
            format!(
                "key {}: Tarmac builds on DuckDB only, found type {ty:?}",
                key("type")
            ),
        );
    }
    let mut text = |k: &str, default: &str| -> String {
        match out.get(k) {
            None | Some(Value::Null) => default.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                bad(
                    k,
                    format!("key {}: expected a string, found {other}", key(k)),
                );
                default.to_string()
            }
        }
    };
    let db_path = text("path", ":memory:");
    let schema = text("schema", "main");
    let external_root = text("external_root", ".");
    let threads = match out.get("threads") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => match n.as_u64().filter(|n| *n > 0) {
            Some(n) => n as usize,
            None => {
                bad(
                    "threads",
                    format!("key {}: expected a positive integer", key("threads")),
                );
                1
            }
        },
        Some(Value::String(s)) => match crate::yaml::coerce_scalar(s).as_u64() {
            Some(n) if n > 0 => n as usize,
            _ => {
                bad(
                    "threads",
                    format!(
                        "key {}: expected a positive integer, found {s:?}",
                        key("threads")
                    ),
                );
                1
            }
        },
        Some(other) => {
            bad(
                "threads",
                format!(
                    "key {}: expected a positive integer, found {other}",
                    key("threads")
                ),
            );
            1
        }
    };
    let mut extensions = Vec::new();
    match out.get("extensions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for (i, e) in a.iter().enumerate() {
                match e {
                    Value::String(s) if !s.trim().is_empty() => extensions.push(Extension {
                        name: s.trim().to_string(),
                        repo: None,
                    }),
                    Value::Object(m) => match (m.get("name"), m.get("repo")) {
                        (Some(Value::String(n)), Some(Value::String(r))) => {
                            extensions.push(Extension {
                                name: n.clone(),
                                repo: Some(r.clone()),
                            })
                        }
                        _ => bad(
                            &format!("extensions[{i}]"),
                            format!(
                                "key {}[{i}]: an extension is a name or a mapping with name and repo, found {e}",
                                key("extensions")
                            ),
                        ),
                    },
                    other => bad(
                        &format!("extensions[{i}]"),
                        format!(
                            "key {}[{i}]: expected an extension name, found {other}",
                            key("extensions")
                        ),
                    ),
                }
            }
        }
        Some(other) => bad(
            "extensions",
            format!(
                "key {}: expected a list of extension names, found {other}",
                key("extensions")
            ),
        ),
    }
    let mut mapping = |k: &str| -> Map<String, Value> {
        match out.get(k) {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => {
                let mut ok = Map::new();
                for (name, v) in m {
                    if matches!(v, Value::Object(_) | Value::Array(_)) || name.trim().is_empty() {
                        bad(
                            &format!("{k}.{name}"),
                            format!("key {}.{name}: expected a scalar value, found {v}", key(k)),
                        );
                    } else {
                        ok.insert(name.clone(), v.clone());
                    }
                }
                ok
            }
            Some(other) => {
                bad(
                    k,
                    format!("key {}: expected a mapping, found {other}", key(k)),
                );
                Map::new()
            }
        }
    };
    let settings = mapping("settings");
    let config_options = mapping("config_options");
    for name in settings.keys() {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            bad(
                &format!("settings.{name}"),
                format!("key {}.{name}: not a DuckDB setting name", key("settings")),
            );
        }
    }
    let mut attach = Vec::new();
    match out.get("attach") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for (i, e) in a.iter().enumerate() {
                match parse_attachment(e) {
                    Ok(a) => attach.push(a),
                    Err(m) => bad(
                        &format!("attach[{i}]"),
                        format!("key {}[{i}]{m}", key("attach")),
                    ),
                }
            }
        }
        Some(other) => bad(
            "attach",
            format!(
                "key {}: expected a list of databases to attach, found {other}",
                key("attach")
            ),
        ),
    }
    for k in [
        "plugins",
        "filesystems",
        "remote",
        "secrets",
        "module_paths",
    ] {
        if out.get(k).is_some_and(|v| !v.is_null()) {
            bad(
                k,
                format!(
                    "key {}: not supported by Tarmac (it needs dbt-duckdb's Python runtime)",
                    key(k)
                ),
            );
        }
    }
    // dbt-duckdb: `database` defaults to the path's name and must equal it
    // or the alias of an attached database
    let path_db = path_database_name(&db_path);
    let database = match out.get("database") {
        None | Some(Value::Null) => path_db,
        Some(Value::String(d)) if *d == path_db => path_db,
        Some(Value::String(d)) if attach.iter().any(|a| a.alias.as_deref() == Some(d)) => d.clone(),
        Some(Value::String(_)) => {
            bad(
                "database",
                format!(
                    "key {}: Inconsistency detected between 'path' and 'database' fields in profile; the 'database' property must be set to '{path_db}' to match the 'path' (or to the alias of an attached database)",
                    key("database")
                ),
            );
            path_db
        }
        Some(other) => {
            bad(
                "database",
                format!("key {}: expected a string, found {other}", key("database")),
            );
            path_db
        }
    };
    found.finish(Output {
        path: db_path,
        database,
        schema,
        threads,
        extensions,
        settings,
        config_options,
        attach,
        external_root,
    })
}

/// One `attach:` entry; the error continues the key (`.alias: ...`).
fn parse_attachment(v: &Value) -> std::result::Result<Attachment, String> {
    let Value::Object(m) = v else {
        return Err(format!(
            ": expected a mapping with path (and alias, type, read_only), found {v}"
        ));
    };
    let text = |k: &str| -> std::result::Result<Option<String>, String> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(format!(".{k}: expected a string, found {other}")),
        }
    };
    for k in m.keys() {
        if ![
            "path",
            "alias",
            "type",
            "read_only",
            "options",
            "secret",
            "is_ducklake",
        ]
        .contains(&k.as_str())
        {
            return Err(format!(
                ".{k}: unknown key (path, alias, type, read_only, options)"
            ));
        }
    }
    if m.get("secret").is_some_and(|v| !v.is_null()) {
        return Err(".secret: secrets are not supported by Tarmac".into());
    }
    let path = text("path")?.ok_or_else(|| ".path: required".to_string())?;
    let alias = text("alias")?;
    if let Some(a) = &alias {
        if a.trim().is_empty() {
            return Err(".alias: must not be empty".into());
        }
    }
    let read_only = match m.get("read_only") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if matches!(crate::yaml::coerce_scalar(s), Value::Bool(_)) => {
            crate::yaml::coerce_scalar(s).as_bool().unwrap_or(false)
        }
        Some(other) => return Err(format!(".read_only: expected true or false, found {other}")),
    };
    let options = match m.get("options") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(other) => return Err(format!(".options: expected a mapping, found {other}")),
    };
    let kind = text("type")?;
    for (field, set) in [("type", kind.is_some()), ("read_only", read_only)] {
        if set && options.contains_key(field) {
            return Err(format!(
                ".options.{field}: also given directly; specify each option in one place"
            ));
        }
    }
    Ok(Attachment {
        path,
        alias,
        kind,
        read_only,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn read(text: &str) -> Result<Output> {
        let path = Path::new("profiles.yml");
        let v = crate::yaml::parse(path, text)?;
        read_output(
            &v["p"]["outputs"]["dev"],
            "p.outputs.dev",
            path,
            &KeyLines::of(text),
        )
    }

    #[test]
    fn defaults_and_values() {
        let o = read("p:\n  outputs:\n    dev:\n      type: duckdb\n      path: x/dev.duckdb\n      threads: \"4\"\n      extensions: [httpfs, {name: h3, repo: community}]\n").unwrap();
        assert_eq!(o.database, "dev");
        assert_eq!(o.schema, "main");
        assert_eq!(o.threads, 4);
        assert_eq!(o.extensions[1].repo.as_deref(), Some("community"));
        assert_eq!(path_database_name(":memory:"), "memory");
    }

    #[test]
    fn every_problem_with_its_line() {
        let e = read(
            "p:\n  outputs:\n    dev:\n      type: postgres\n      threads: 0\n      settings:\n        bad name: 1\n      plugins: [x]\n      database: other\n",
        )
        .unwrap_err();
        let Error::Invalid { problems, .. } = &e else {
            panic!("{e:?}")
        };
        let lines: Vec<Option<usize>> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [Some(4), Some(5), Some(7), Some(8), Some(9)], "{e}");
        assert!(
            problems[0].message.contains("found type \"postgres\""),
            "{e}"
        );
        assert!(
            problems[2].message.contains("not a DuckDB setting name"),
            "{e}"
        );
        assert!(
            problems[4].message.contains("Inconsistency detected"),
            "{e}"
        );
    }
}
