//! Macros run outside a node: `tarmac run-operation MACRO --args '{...}'`
//! and the project's `on-run-start`/`on-run-end` hooks
//! (<https://docs.getdbt.com/reference/commands/run-operation>,
//! <https://docs.getdbt.com/reference/project-configs/on-run-start-on-run-end>).
//! Both render with a context that can query the warehouse (`run_query`,
//! `statement`, `adapter`), as dbt's do.

use std::sync::Arc;

use minijinja::Value;

use crate::config::Config;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::jinja::NodeCtx;
use crate::manifest::Manifest;
use crate::relation::Relation;

/// A context for macros that belong to no node (`this` is the target schema).
pub fn context(m: &Manifest, db: Option<Arc<dyn Database>>, name: &str) -> Arc<NodeCtx> {
    let t = &m.info.target;
    Arc::new(NodeCtx {
        full_refresh: m.info.full_refresh,
        db,
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
    db: &Arc<dyn Database>,
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
    db: &Arc<dyn Database>,
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
pub fn call_macro(
    m: &Manifest,
    db: &Arc<dyn Database>,
    macro_name: &str,
    args: &serde_json::Value,
) -> Result<()> {
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
    let ctx = context(m, Some(db.clone()), macro_name);
    let mut names = crate::jinja::node_context(ctx);
    // the macro must exist: a clear error rather than "undefined is not
    // callable". A project's or package's macro is a global; dbt's own
    // `run_query`, `log`, `statement` and the like are built into each
    // render's context, and may be named `dbt.run_query` as in dbt.
    let global = match macro_name.split_once('.') {
        Some((pkg, name)) => m
            .env
            .globals()
            .find(|(k, _)| *k == pkg)
            .and_then(|(_, v)| v.get_attr(name).ok())
            .is_some_and(|v| !v.is_undefined()),
        None => m.env.globals().any(|(k, _)| k == macro_name),
    };
    let context_macro =
        |name: &str| crate::macros::CONTEXT_MACROS.contains(&name) && names.contains_key(name);
    let callee = match macro_name.split_once('.') {
        _ if global => macro_name,
        None if context_macro(macro_name) => macro_name,
        Some(("dbt", name)) if context_macro(name) => name,
        _ => {
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
    };
    let template = format!("{{{{ {callee}({}) }}}}", call_args.join(", "));
    names.insert("__args", Value::from_serialize(&kwargs));
    m.env
        .render_str(&template, names)
        .map_err(|e| Error::jinja(&format!("macro {macro_name}"), "run-operation", &e))?;
    Ok(())
}

/// Hooks and `run-operation` through a recording database: what they send
/// and how a refusal reads, without DuckDB.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::{Call, Recording};
    use crate::Command;

    fn on(db: Recording) -> (Arc<Recording>, Arc<dyn Database>) {
        let db = Arc::new(db);
        let shared: Arc<dyn Database> = db.clone();
        (db, shared)
    }

    #[test]
    fn run_hooks_render_with_the_runs_schemas_and_run_in_order() {
        let l = crate::fixture("shop", Command::Run, |_| {});
        let m = &l.manifest;
        let (db, shared) = on(Recording::new());
        let hooks = vec![
            m.info.project.on_run_start[0].clone(),
            "{% for s in schemas %}create schema if not exists {{ s }}_audit;{% endfor %}".into(),
            // renders to nothing: nothing is sent
            "{# only a comment #}".into(),
        ];
        let schemas = [
            ("memory".to_string(), "main".to_string()),
            ("memory".to_string(), "analytics".to_string()),
        ];
        let results = run_hooks(m, &shared, &hooks, "on-run-end", &schemas).unwrap();
        let ids: Vec<&str> = results.iter().map(|r| r.unique_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "operation.shop.shop-on-run-end-0",
                "operation.shop.shop-on-run-end-1",
                "operation.shop.shop-on-run-end-2",
            ]
        );
        assert_eq!(results[1].message, "shop.on-run-end.1 passed");
        assert_eq!(
            db.calls(),
            [
                Call::Execute(m.info.project.on_run_start[0].clone()),
                Call::Execute(
                    "create schema if not exists main_audit;create schema if not exists analytics_audit;"
                        .into()
                ),
            ]
        );
    }

    #[test]
    fn a_refused_hook_stops_with_the_databases_words() {
        let l = crate::fixture("shop", Command::Run, |_| {});
        let m = &l.manifest;
        let (db, shared) = on(Recording::new().failing(
            "raw_events",
            "Catalog Error: Schema with name main does not exist!",
        ));
        let hooks = vec![m.info.project.on_run_start[0].clone(), "select 2".into()];
        let e = run_hooks(m, &shared, &hooks, "on-run-start", &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "dbt_project.yml on-run-start.0: Catalog Error: Schema with name main does not exist!"
        );
        // the second hook never ran
        assert_eq!(db.calls().len(), 1, "{:?}", db.calls());
    }

    #[test]
    fn run_operation_calls_the_macro_with_its_arguments() {
        let l = crate::fixture("shop", Command::RunOperation, |_| {});
        let m = &l.manifest;
        let (db, shared) = on(Recording::new());
        let args = serde_json::json!({"sql": "select 42 as answer"});
        // dbt's own macros are there too, bare or in the `dbt` namespace
        call_macro(m, &shared, "run_query", &args).unwrap();
        call_macro(m, &shared, "dbt.run_query", &args).unwrap();
        let asked = Call::Query("select 42 as answer".into());
        assert_eq!(db.calls(), [asked.clone(), asked]);
        // a refusal is the macro's error, in the database's words
        let (_, shared) = on(Recording::new().failing("answer", "Parser Error: syntax error"));
        let e = call_macro(m, &shared, "run_query", &args).unwrap_err();
        assert!(e.to_string().contains("Parser Error: syntax error"), "{e}");
        // a macro that is not there asks nothing of the database
        let (db, shared) = on(Recording::new());
        let e = call_macro(m, &shared, "cents_to_dollar", &args).unwrap_err();
        assert!(
            e.to_string().contains("did you mean cents_to_dollars"),
            "{e}"
        );
        assert!(db.calls().is_empty());
        // a name of the context that is not a macro in dbt is not one here
        for name in ["execute", "this", "dbt.execute"] {
            let e = call_macro(m, &shared, name, &args).unwrap_err();
            assert!(
                e.to_string().starts_with(&format!(
                    "Runtime Error: dbt could not find a macro with the name '{name}' in any package"
                )),
                "{e}"
            );
        }
    }
}
