//! Macros run outside a node: `tarmac run-operation MACRO --args '{...}'`
//! and the project's `on-run-start`/`on-run-end` hooks
//! (<https://docs.getdbt.com/reference/commands/run-operation>,
//! <https://docs.getdbt.com/reference/project-configs/on-run-start-on-run-end>).
//! Both render with a context that can query the warehouse (`run_query`,
//! `statement`, `adapter`), as dbt's do.

use std::sync::Arc;

use minijinja::Value;

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::jinja::NodeCtx;
use crate::manifest::Manifest;
use crate::relation::Relation;

/// A context for macros that belong to no node (`this` is the target schema).
pub fn context(m: &Manifest, db: Option<Db>, name: &str) -> Arc<NodeCtx> {
    let t = &m.info.target;
    Arc::new(NodeCtx {
        full_refresh: m.info.full_refresh,
        db: db.map(|d| Arc::new(d) as Arc<dyn dbt_jinja::database::Database>),
        ..NodeCtx::new(
            format!("operation.{}.{name}", m.info.project.name),
            name.to_string(),
            Relation {
                database: Some(t.database.clone()),
                schema: Some(t.schema.clone()),
                identifier: String::new(),
                kind: None,
                quoting: Default::default(),
                external: None,
                limit: None,
                event_time: None,
                window: None,
            },
            Config::new(),
            m.resolver(),
            Value::from(()),
        )
    })
}

/// Render `template` in an operation context with `extra` names, and run
/// the SQL it renders (hooks); returns the rendered text.
pub fn render_and_run(
    m: &Manifest,
    db: &Db,
    template: &str,
    what: &str,
    extra: &[(&'static str, Value)],
) -> Result<String> {
    let ctx = context(m, Some(db.clone()), what);
    let mut names = crate::jinja::node_context(ctx);
    for (k, v) in extra {
        names.insert(k, v.clone());
    }
    let sql = m
        .env
        .render_str(template, names)
        .map_err(|e| Error::jinja(what, "dbt_project.yml", &e))?;
    if !sql.trim().is_empty() {
        db.execute(&sql)
            .map_err(|e| Error::Project(format!("dbt_project.yml {what}: {e}")))?;
    }
    Ok(sql)
}

/// Run `on-run-start` or `on-run-end` hooks; `schemas` are the schemas the
/// run built (dbt's `schemas` and `database_schemas` in on-run-end). Each
/// hook's result is dbt's run_results.json entry for its `operation` node
/// (`operation.<project>.<project>-on-run-end-<i>`, "... passed").
pub fn run_hooks(
    m: &Manifest,
    db: &Db,
    hooks: &[String],
    which: &str,
    schemas: &[(String, String)],
) -> Result<Vec<crate::results::NodeResult>> {
    let mut results = Vec::new();
    let just: Vec<String> = schemas.iter().map(|(_, s)| s.clone()).collect();
    let both: Vec<Vec<String>> = schemas
        .iter()
        .map(|(d, s)| vec![d.clone(), s.clone()])
        .collect();
    let project = &m.info.project.name;
    for (i, h) in hooks.iter().enumerate() {
        let started = chrono::Utc::now();
        let t0 = std::time::Instant::now();
        let sql = render_and_run(
            m,
            db,
            h,
            &format!("{which}.{i}"),
            &[
                ("schemas", Value::from(just.clone())),
                ("database_schemas", Value::from(both.clone())),
            ],
        )?;
        results.push(crate::results::NodeResult {
            unique_id: format!("operation.{project}.{project}-{which}-{i}"),
            status: crate::results::Status::Success,
            message: format!("{project}.{which}.{i} passed"),
            compiled_sql: Some(sql),
            run_sql: None,
            started_at: started,
            compiled_at: started,
            completed_at: chrono::Utc::now(),
            execution_time: t0.elapsed().as_secs_f64(),
            rows_affected: None,
            failures: None,
            batch_results: None,
        });
    }
    Ok(results)
}

/// `run-operation`: call `macro_name` (`pkg.name` allowed) with `args`
/// (a YAML/JSON mapping) as keyword arguments.
pub fn call_macro(m: &Manifest, db: &Db, macro_name: &str, args: &serde_json::Value) -> Result<()> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_alphanumeric() || c == '_')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    if !macro_name.split('.').all(valid) || macro_name.split('.').count() > 2 {
        return Err(Error::Project(format!(
            "run-operation: {macro_name:?} is not a macro name"
        )));
    }
    let kwargs = match args {
        serde_json::Value::Null => serde_json::Map::new(),
        serde_json::Value::Object(o) => o.clone(),
        _ => {
            return Err(Error::Project(
                "run-operation: --args must be a YAML/JSON mapping".into(),
            ))
        }
    };
    let mut call_args = Vec::new();
    for k in kwargs.keys() {
        if !valid(k) {
            return Err(Error::Project(format!(
                "run-operation: argument {k:?} is not a valid name"
            )));
        }
        call_args.push(format!("{k}=__args[{k:?}]"));
    }
    // the macro must exist: a clear error rather than "undefined is not callable"
    let found = match macro_name.split_once('.') {
        Some((pkg, name)) => m
            .env
            .globals()
            .find(|(k, _)| *k == pkg)
            .and_then(|(_, v)| v.get_attr(name).ok())
            .is_some_and(|v| !v.is_undefined()),
        None => m.env.globals().any(|(k, _)| k == macro_name),
    };
    if !found {
        let names: Vec<String> = m.macro_names.clone();
        let close = crate::manifest::closest(macro_name, names.iter().map(String::as_str));
        let hint = if close.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", close.join(", "))
        };
        return Err(Error::Project(format!(
            "Runtime Error: dbt could not find a macro with the name '{macro_name}' in any package{hint}"
        )));
    }
    let template = format!("{{{{ {macro_name}({}) }}}}", call_args.join(", "));
    let ctx = context(m, Some(db.clone()), macro_name);
    let mut names = crate::jinja::node_context(ctx);
    names.insert("__args", Value::from_serialize(&kwargs));
    m.env
        .render_str(&template, names)
        .map_err(|e| Error::jinja(&format!("macro {macro_name}"), "run-operation", &e))?;
    Ok(())
}
