//! Custom materializations: `{% materialization name, adapter='duckdb' %}`
//! (or `default`) blocks in macro paths, used by models configured with
//! `materialized: name`
//! (<https://docs.getdbt.com/guides/create-new-materializations>).
//!
//! A block is registered as the macro `materialization_<name>_<adapter>`,
//! as dbt does, and called in the model's context with dbt's contract:
//! `sql`/`compiled_code` (the compiled SQL), `this`, `config`, `model`,
//! `adapter`, `statement('main')`, `pre_hooks`/`post_hooks` with
//! `run_hooks`, and it must `return({'relations': [...]})`. The built-in
//! materializations stay in Rust (`materialize`); a project's block for a
//! built-in name (`table`, `view`, ...) is not used.

use crate::error::{Error, Result};

/// Turn `{% materialization name, adapter='duckdb' %}…{% endmaterialization %}`
/// into `{% macro materialization_name_duckdb() %}…{% endmacro %}`
/// (`default` when no adapter is given).
pub fn rewrite_blocks(text: &str) -> String {
    crate::blocks::blocks_to_macros(text, "materialization", |t| {
        t.rest.starts_with(char::is_whitespace).then(|| {
            let args = t.args();
            let name: String = args
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let adapter = adapter_of(args).unwrap_or_else(|| "default".into());
            format!("materialization_{name}_{adapter}() {}", t.trail())
        })
    })
    .into_owned()
}

/// `adapter='duckdb'` in a block's header.
fn adapter_of(args: &str) -> Option<String> {
    let i = args.find("adapter")?;
    let rest = args[i + "adapter".len()..].trim_start().strip_prefix('=')?;
    let rest = rest.trim_start();
    let q = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = &rest[1..];
    let end = body.find(q)?;
    Some(body[..end].to_string())
}

/// The macro implementing materialization `name` on DuckDB: dbt looks for
/// the adapter's (`duckdb`) before `default`.
pub fn find(env: &minijinja::Environment<'static>, name: &str) -> Option<String> {
    if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    ["duckdb", "default"].iter().find_map(|adapter| {
        let m = format!("materialization_{name}_{adapter}");
        env.render_str(&format!("{{% if {m} is defined %}}yes{{% endif %}}"), ())
            .ok()
            .filter(|s| s == "yes")
            .map(|_| m.clone())
            // an installed package's block (dbt searches every package)
            .or_else(|| crate::macros::qualified_in_packages(env, &m))
    })
}

/// Call the materialization macro with the node's context plus `sql`,
/// `compiled_code`, `pre_hooks` and `post_hooks` (rendered hook SQL, as
/// `{sql, transaction}`). Returns the SQL of its `main` statement.
pub fn run(
    env: &minijinja::Environment<'static>,
    macro_name: &str,
    node_label: (&str, &str),
    mut ctx: std::collections::BTreeMap<&'static str, minijinja::Value>,
    sql: &str,
    pre_hooks: Vec<String>,
    post_hooks: Vec<String>,
) -> Result<String> {
    use minijinja::Value;
    let hooks = |h: Vec<String>| {
        Value::from(
            h.into_iter()
                .map(|s| minijinja::context! { sql => s, transaction => true })
                .collect::<Vec<_>>(),
        )
    };
    ctx.insert("sql", Value::from(sql));
    ctx.insert("compiled_code", Value::from(sql));
    ctx.insert("pre_hooks", hooks(pre_hooks));
    ctx.insert("post_hooks", hooks(post_hooks));
    let (unique_id, file) = node_label;
    let tpl = format!(
        "{{%- set __result = {macro_name}() -%}}\
         {{%- if __result is mapping and 'relations' in __result -%}}ok{{%- else -%}}bad{{%- endif -%}}\
         {{%- set __main = load_result('main') -%}}|{{{{ __main['_sql'] if __main else '' }}}}"
    );
    let out = env
        .render_str(&tpl, ctx)
        .map_err(|e| Error::jinja(unique_id, file, &e))?;
    let (verdict, main_sql) = out.split_once('|').unwrap_or((&out, ""));
    if verdict != "ok" {
        return Err(Error::Project(format!(
            "Compilation Error in {} ({file})\n  The materialization (\"{}\") did not explicitly return a list of relations to add to the cache.",
            crate::error::describe_node(unique_id),
            macro_name
                .rsplit('.')
                .next()
                .unwrap_or(macro_name)
                .trim_start_matches("materialization_")
                .trim_end_matches("_duckdb")
                .trim_end_matches("_default")
        )));
    }
    Ok(main_sql.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_blocks() {
        assert_eq!(
            rewrite_blocks(
                "{% materialization my_view, adapter='duckdb' %}x{% endmaterialization %}"
            ),
            "{% macro materialization_my_view_duckdb() %}x{% endmacro %}"
        );
        assert_eq!(
            rewrite_blocks("{%- materialization snap, default, supported_languages=['sql'] -%}x{%- endmaterialization -%}"),
            "{%- macro materialization_snap_default() -%}x{%- endmacro -%}"
        );
        assert_eq!(
            rewrite_blocks("{% if materialization %}"),
            "{% if materialization %}"
        );
    }
}
