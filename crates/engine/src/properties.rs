//! Properties YAML files (`models/*.yml`): read by
//! `dbt_project::properties_file` (typed, every problem of a file at once);
//! what needs Jinja, the rendering of `config:` values with the project-file
//! context, is here.

use std::path::Path;

use serde_json::Value;

pub use dbt_project::properties_file::{
    column_constraint, json_text, Column, NodeProps, Properties, SourceTable,
};

use crate::error::Error;

/// Whether a value holds a string with Jinja in it.
fn has_jinja(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("{{") || s.contains("{%"),
        Value::Array(a) => a.iter().any(has_jinja),
        Value::Object(m) => m.values().any(has_jinja),
        _ => false,
    }
}

/// Render the Jinja in models', seeds' and snapshots' `config:` values
/// with `env` (the project-file context: `target`, `var`, `env_var`),
/// as dbt renders properties files at parse time (a seed's
/// `column_types: {c: "{{ 'text' if target.type == 'x' else 'y' }}"}`);
/// hooks are left for run time, as in dbt_project.yml. Columns'
/// `data_type` renders the same way. Every value that fails is an error
/// in `errors`; the parse reports them with the files' other problems.
pub fn render_configs(
    props: &mut Properties,
    env: &crate::project::FileEnv,
    root: &Path,
    errors: &mut Vec<Error>,
) {
    let skip = |p: &[String]| {
        p.iter().any(|k| {
            matches!(
                k.trim_start_matches('+'),
                "pre-hook" | "post-hook" | "pre_hook" | "post_hook"
            )
        })
    };
    for (kind, map) in [
        ("models", &mut props.models),
        ("seeds", &mut props.seeds),
        ("snapshots", &mut props.snapshots),
    ] {
        for (name, p) in map.iter_mut() {
            // a column's data_type too (dbt-project-evaluator writes
            // "{{ 'UInt8' if target.type in ['clickhouse'] else 'int' }}")
            for c in p.columns.values_mut() {
                let Some(t) = c
                    .data_type
                    .as_mut()
                    .filter(|t| t.contains("{{") || t.contains("{%"))
                else {
                    continue;
                };
                match env.render_text(t) {
                    Ok(r) => *t = r,
                    Err(message) => errors.push(Error::Yaml {
                        path: root.join(&p.file),
                        message: format!("{kind} {name}: columns.{}.data_type: {message}", c.name),
                    }),
                }
            }
            if !p.config.values().any(has_jinja) {
                continue;
            }
            let mut v = Value::Object(std::mem::take(&mut p.config));
            let r = env.render_tree(&mut v, &mut vec![], &skip);
            if let Value::Object(m) = v {
                p.config = m;
            }
            if let Err(message) = r {
                errors.push(Error::Yaml {
                    path: root.join(&p.file),
                    message: format!("{kind} {name}: config: {message}"),
                });
            }
        }
    }
}
