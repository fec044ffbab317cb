//! Building a SQL node: what models and snapshots share (compile, hooks,
//! contract, materialization, persisted docs). A snapshot is a SQL node
//! whose materialization is `snapshot`.

use std::sync::Arc;

use chrono::Utc;

use crate::compile;
use crate::config::ConfigExt;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, Node, ResourceType};
use crate::materialize;
use crate::results::{Built, Command, RunOptions};

/// Build one SQL node (a model, or a snapshot) on a connection: compile
/// it (knowing whether its relation is already there, for
/// `is_incremental()`), then, unless the command only compiles, run its
/// contract check, hooks and materialization: a built-in one, or the
/// project's `{% materialization %}` block.
pub(crate) fn build_node(
    m: &Manifest,
    node: &Node,
    shared: &Arc<dyn Database>,
    resolver: &Arc<dyn crate::jinja::Resolver>,
    opts: &RunOptions,
) -> Built {
    let db: &dyn Database = shared.as_ref();
    let full_refresh = materialize::full_refresh_for(&node.config, opts.full_refresh);
    let inc =
        match materialize::is_incremental(db, &node.relation(), &node.config, opts.full_refresh) {
            Ok(b) => b,
            Err(e) => return (None, Err(e), Utc::now()),
        };
    let compiled = match compile::compile(m, node, resolver, Some(shared.clone()), inc) {
        Ok(c) => c,
        Err(e) => return (None, Err(e), Utc::now()),
    };
    let compiled_at = Utc::now();
    let sql = compiled.sql.clone();
    if opts.command == Command::Compile {
        return (
            Some(sql),
            Ok((
                materialize::Outcome {
                    message: "OK".into(),
                    run_sql: String::new(),
                },
                None,
            )),
            compiled_at,
        );
    }
    let cfg = &compiled.config;
    let rel = node.relation();
    let hook_ctx = || {
        compile::node_ctx(
            node,
            resolver.clone(),
            Some(shared.clone()),
            inc,
            full_refresh,
        )
    };
    let hook = crate::compile::NodeHooks {
        m,
        node,
        db: shared,
        resolver,
        cfg,
        inc,
        full_refresh,
    };
    let render_hooks = |key: &str| hook.render(key);
    let run_hooks = |key: &str| hook.run(key);
    let r = (|| -> Result<(materialize::Outcome, Option<usize>)> {
        let contracted =
            node.resource_type == ResourceType::Model && crate::contract::enforced(cfg);
        if contracted {
            crate::contract::check(db, node, &sql)?;
            let loose = crate::contract::unenforced_constraints(node, cfg);
            if !loose.is_empty() {
                eprintln!(
                    "warning: {}: DuckDB does not enforce constraints on a {} model; not applied: {}",
                    node.unique_id,
                    cfg.materialized(),
                    loose.join(", ")
                );
            }
        }
        let builtin = matches!(
            cfg.materialized(),
            "view" | "table" | "incremental" | "snapshot" | "ephemeral" | "external"
        );
        if !builtin {
            // a `{% materialization %}` block runs the hooks itself (run_hooks)
            let name = cfg.materialized();
            let Some(mac) = crate::materialization::find(&m.env, name) else {
                return Err(Error::Project(format!(
                    "Compilation Error in {} {} ({})\n  No materialization '{name}' was found for adapter duckdb! (searched types 'default' and 'duckdb')",
                    node.resource_type.as_str(),
                    node.name,
                    node.original_file_path
                )));
            };
            let (pre, post) = (render_hooks("pre_hook")?, render_hooks("post_hook")?);
            let main = crate::materialization::run(
                &m.env,
                &mac,
                (&node.unique_id, &node.original_file_path),
                crate::jinja::node_context(hook_ctx()),
                &sql,
                pre,
                post,
            );
            // its SQL may have created or dropped anything
            db.invalidate();
            return Ok((
                materialize::Outcome {
                    message: "OK".into(),
                    run_sql: main?,
                },
                None,
            ));
        }
        run_hooks("pre_hook")?;
        let out = match cfg.materialized() {
            "view" => materialize::view(db, &rel, &sql, cfg),
            "table" if contracted => crate::contract::table(db, node, &rel, &sql, cfg),
            "table" => materialize::table(db, &rel, &sql, cfg),
            // A contracted incremental model is created as a contracted table
            // (columns typed, constraints declared) and later runs insert into
            // it, as dbt-duckdb does, so DuckDB enforces its constraints.
            "incremental"
                if contracted && !materialize::is_incremental(db, &rel, cfg, full_refresh)? =>
            {
                crate::contract::table(db, node, &rel, &sql, cfg)
            }
            "incremental" => materialize::incremental(db, &rel, &sql, cfg, full_refresh),
            "snapshot" => {
                let custom = |exists: bool| custom_snapshot_strategy(m, node, hook_ctx(), exists);
                crate::snapshot::run(db, &rel, &sql, cfg, &custom)
            }
            "external" => materialize::external(db, &rel, &sql, cfg, &m.info.target.external_root),
            "ephemeral" => Ok(materialize::Outcome {
                message: "OK".into(),
                run_sql: String::new(),
            }),
            other => Err(Error::Internal(format!(
                "{}: materialization {other:?} is not built in",
                node.unique_id
            ))),
        }?;
        run_hooks("post_hook")?;
        if cfg.materialized() != "ephemeral" {
            crate::persist_docs::apply(db, node, &rel, cfg)?;
        }
        Ok((out, None))
    })();
    (Some(sql), r, compiled_at)
}

/// Call a custom snapshot strategy's macro in the snapshot's context as
/// dbt's `strategy_dispatch` does: `(node, "snapshotted_data",
/// "source_data", config, target_exists)`; its result as JSON. A macro that
/// is not there is dbt's compilation error.
fn custom_snapshot_strategy(
    m: &Manifest,
    node: &Node,
    ctx: Arc<crate::jinja::NodeCtx>,
    exists: bool,
) -> Result<serde_json::Value> {
    use crate::config::ConfigExt;
    let name = node.config.str_of("strategy").unwrap_or_default();
    let (package, path) = crate::snapshot::strategy_macro(name);
    let bare = name.rsplit('.').next().unwrap_or(name);
    let mut extra = std::collections::BTreeMap::new();
    extra.insert(
        "__target_exists".to_string(),
        minijinja::Value::from(exists),
    );
    let scope = crate::jinja::scoped(&m.env, &ctx, extra);
    let tpl = format!(
        "{{%- if {path} is defined -%}}{{{{ tojson({path}(model, 'snapshotted_data', 'source_data', config, __target_exists)) }}}}{{%- else -%}}__missing{{%- endif -%}}"
    );
    let out = m
        .env
        .render_str(&tpl, scope)
        .map_err(|e| Error::jinja(&node.unique_id, &node.original_file_path, &e))?;
    if out == "__missing" {
        return Err(Error::Project(format!(
            "Compilation Error in snapshot {} ({})\n  The specified strategy macro '{bare}' was not found in package '{}'",
            node.name,
            node.original_file_path,
            package.unwrap_or("None")
        )));
    }
    serde_json::from_str(&out).map_err(|e| {
        Error::Project(format!(
            "Compilation Error in snapshot {} ({})\n  the strategy macro {path} returned no mapping: {e}",
            node.name, node.original_file_path
        ))
    })
}

/// A model built through a recording database: its contract checked, its
/// table created with the constraints, its hooks and docs around it, in
/// the order dbt runs them, without DuckDB.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::{Call, Recording};

    /// DuckDB's `DESCRIBE` of the model's query (whose `total` is `total`)
    /// and of the contract's declared types.
    fn describing(total: &str) -> Recording {
        let cols = |t: &str| {
            vec![
                vec!["payment_method".into(), "VARCHAR".into()],
                vec!["payments".into(), "BIGINT".into()],
                vec!["total".into(), t.into()],
            ]
        };
        Recording::new()
            .answering("model_subq", &["column_name", "column_type"], cols(total))
            .answering("DESCRIBE", &["column_name", "column_type"], cols("DOUBLE"))
    }

    /// Build shop's contracted `order_summary`, with `config` over its
    /// own, on the database `db` makes for its relation.
    fn build(
        config: serde_json::Value,
        db: impl FnOnce(&crate::relation::Relation) -> Recording,
    ) -> (Result<String>, Vec<Call>, String) {
        let l = crate::fixture("shop", Command::Run, |_| {});
        let m = &l.manifest;
        let mut node = m.nodes["model.shop.order_summary"].clone();
        node.config
            .extend(config.as_object().cloned().unwrap_or_default());
        let db = Arc::new(db(&node.relation()));
        let shared: Arc<dyn Database> = db.clone();
        let opts = RunOptions::quiet(Command::Run, 1);
        let (_, r, _) = build_node(m, &node, &shared, &m.resolver(), &opts);
        let r = r.map(|(o, _)| o.run_sql);
        (r, db.calls(), node.relation().render())
    }

    /// What changed the database, in order: statements and transactions.
    fn changes(calls: &[Call]) -> Vec<&Call> {
        calls
            .iter()
            .filter(|c| matches!(c, Call::Execute(_) | Call::Transaction(_)))
            .collect()
    }

    #[test]
    fn a_contracted_table_is_created_with_its_constraints_between_its_hooks() {
        let config = serde_json::json!({
            "pre_hook": ["insert into audit values ('{{ this.name }} started')"],
            "post_hook": ["insert into audit values ('{{ this.name }} done')"],
            "persist_docs": {"relation": true},
        });
        let (r, calls, this) = build(config, |rel| {
            describing("DOUBLE").with_relation(
                rel.clone(),
                "table",
                &[
                    ("payment_method", "VARCHAR"),
                    ("payments", "BIGINT"),
                    ("total", "DOUBLE"),
                ],
            )
        });
        let run_sql = r.unwrap();
        let changes = changes(&calls);
        assert_eq!(changes.len(), 4, "{changes:#?}");
        assert_eq!(
            changes[0],
            &Call::Execute("insert into audit values ('order_summary started')".into())
        );
        let Call::Transaction(stmts) = changes[1] else {
            panic!("{changes:#?}")
        };
        let tmp = this.replace("\"order_summary\"", "\"order_summary__dbt_tmp\"");
        assert_eq!(stmts[1], format!("DROP TABLE IF EXISTS {tmp}"));
        assert_eq!(stmts[2], run_sql);
        assert!(
            run_sql.starts_with(&format!(
                "create table {tmp} (\n    \"payment_method\" varchar not null primary key,\n    \"payments\" bigint,\n    \"total\" double,\n    check (payments > 0)\n);\ninsert into {tmp} (\"payment_method\", \"payments\", \"total\") ("
            )),
            "{run_sql}"
        );
        // the table it replaces goes in the same transaction
        assert_eq!(stmts[3], format!("DROP TABLE IF EXISTS {this}"));
        assert_eq!(
            stmts[4],
            format!("ALTER TABLE {tmp} RENAME TO \"order_summary\"")
        );
        assert_eq!(
            changes[2],
            &Call::Execute("insert into audit values ('order_summary done')".into())
        );
        assert_eq!(
            changes[3],
            &Call::Execute(format!(
                "comment on table {this} is $dbt_comment_literal_block$Payments by method, under an enforced contract.$dbt_comment_literal_block$;"
            ))
        );
        // the contract was checked before anything changed
        let first_change = calls
            .iter()
            .position(|c| matches!(c, Call::Execute(_)))
            .unwrap();
        assert!(
            calls[..first_change]
                .iter()
                .any(|c| matches!(c, Call::Query(q) if q.contains("model_subq"))),
            "{calls:#?}"
        );
    }

    #[test]
    fn a_contract_the_model_breaks_builds_nothing() {
        let (r, calls, _) = build(serde_json::json!({}), |_| describing("INTEGER"));
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("This model has an enforced contract that failed."),
            "{e}"
        );
        assert!(
            e.contains(&format!(
                "| {:<11} | {:<15} | {:<13} | data type mismatch |",
                "total", "INTEGER", "DOUBLE"
            )),
            "{e}"
        );
        assert!(changes(&calls).is_empty(), "{calls:#?}");
    }

    #[test]
    fn rows_that_break_a_constraint_fail_the_model_in_the_databases_words() {
        let (r, _, _) = build(serde_json::json!({}), |_| {
            describing("DOUBLE").failing(
                "insert into",
                "Constraint Error: NOT NULL constraint failed: order_summary__dbt_tmp.payment_method",
            )
        });
        assert_eq!(
            r.unwrap_err().to_string(),
            "model.shop.order_summary (models/marts/order_summary.sql): the rows break a constraint of the contract: Constraint Error: NOT NULL constraint failed: order_summary__dbt_tmp.payment_method"
        );
    }
}
