//! `tarmac clone --state DIR`: each selected model, seed and snapshot of
//! the current target becomes a copy of the relation an earlier run (the
//! state manifest) built, as `dbt clone` does
//! (<https://docs.getdbt.com/reference/commands/clone>). A developer gets
//! production's relations in their own schema without building anything.
//!
//! DuckDB has no zero-copy table clone, and dbt-duckdb says so
//! (`can_clone_table` is false), so every clone is a view reading the
//! state's relation, built as the view materialization builds one: the
//! node's hooks around it, its docs persisted. As in dbt, a node whose
//! relation already exists in the target is left alone (`No-op`) unless
//! `--full-refresh` is given, a node the state does not hold (or holds as
//! ephemeral) is a `No-op` too, and the nodes are independent of each other:
//! one failing (its state relation is gone, say) skips nothing.

use crate::compile::NodeHooks;
use crate::config::ConfigExt;
use crate::database::Database;
use crate::manifest::{Manifest, Node};
use crate::materialize::{self, Outcome};
use crate::relation::Relation;
use crate::results::RunOptions;
use chrono::Utc;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The state's relation for each node of the current project that both
/// manifests hold as a refable, non-ephemeral node.
pub(crate) fn sources(
    state: &crate::state::State,
    m: &Manifest,
) -> HashMap<String, crate::relation::Relation> {
    // every such node, whether or not the target has it yet
    crate::state::deferred_relations(state, m, &BTreeSet::new(), true, &|_| false)
}

/// Clone one node: what `execute` does with each node for `clone`, whatever its kind.
pub(crate) fn build(
    m: &Manifest,
    node: &Node,
    db: &Arc<dyn Database>,
    resolver: &Arc<dyn crate::jinja::Resolver>,
    opts: &RunOptions,
) -> crate::results::Built {
    let now = Utc::now();
    let no_op = |msg: String| {
        crate::logfmt::info_line(&msg);
        (
            None,
            Ok((
                Outcome {
                    message: "No-op".into(),
                    run_sql: String::new(),
                },
                None,
            )),
            Utc::now(),
        )
    };
    let Some(from) = opts.clone_from.get(&node.unique_id) else {
        return no_op(format!(
            "No relation found in state manifest for {}",
            node.unique_id
        ));
    };
    let target = node.relation();
    let exists = match db.relation_kind(
        target.database.as_deref(),
        target.schema.as_deref().unwrap_or("main"),
        &target.identifier,
    ) {
        Ok(k) => k.is_some(),
        Err(e) => return (None, Err(e.into()), now),
    };
    if exists && !opts.full_refresh {
        return no_op(format!("Relation {} already exists", target.render()));
    }
    let r = clone_as_view(m, node, db, resolver, opts, &target, from);
    (None, r, now)
}

fn clone_as_view(
    m: &Manifest,
    node: &Node,
    db: &Arc<dyn Database>,
    resolver: &Arc<dyn crate::jinja::Resolver>,
    opts: &RunOptions,
    target: &Relation,
    from: &Relation,
) -> crate::error::Result<(Outcome, Option<usize>)> {
    let hooks = NodeHooks::of_node(m, node, db, resolver, opts.full_refresh);
    hooks.run("pre_hook")?;
    // a view's own header and docs, whatever the node is materialized as
    let mut cfg = node.config.clone();
    cfg.insert("materialized".into(), "view".into());
    debug_assert_eq!(cfg.materialized(), "view");
    let out = materialize::view(
        db.as_ref(),
        target,
        &format!("select * from {}", from.render()),
        &cfg,
    )?;
    hooks.run("post_hook")?;
    crate::persist_docs::apply(db.as_ref(), node, target, &cfg)?;
    Ok((out, None))
}

/// A clone through a recording database: what it asks before it builds,
/// and the view it makes, without DuckDB.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::{Call, Recording};
    use crate::results::Command;

    /// Clone shop's `orders` from production's `prod.main.orders`; `db`
    /// is made for the target's relation.
    fn clone_on(
        full_refresh: bool,
        in_state: bool,
        db: impl FnOnce(&Relation) -> Recording,
    ) -> (String, Vec<Call>, String) {
        let l = crate::fixture("shop", Command::Clone, |_| {});
        let m = &l.manifest;
        let node = &m.nodes["model.shop.orders"];
        let mut opts = RunOptions::quiet(Command::Clone, 1);
        opts.full_refresh = full_refresh;
        if in_state {
            opts.clone_from.insert(
                node.unique_id.clone(),
                Relation::new("prod", "main", "orders"),
            );
        }
        let db = Arc::new(db(&node.relation()));
        let shared: Arc<dyn Database> = db.clone();
        let (_, r, _) = build(m, node, &shared, &m.resolver(), &opts);
        let message = r.map(|(o, _)| o.message).unwrap_or_else(|e| e.to_string());
        (message, db.calls(), node.relation().render())
    }

    fn changes(calls: &[Call]) -> Vec<String> {
        let mut out = Vec::new();
        for c in calls {
            match c {
                Call::Execute(s) => out.push(s.clone()),
                Call::Transaction(stmts) => out.extend(stmts.iter().cloned()),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn a_missing_relation_becomes_a_view_of_the_states() {
        let (message, calls, this) = clone_on(false, true, |_| Recording::new());
        assert_eq!(message, "OK");
        assert_eq!(
            changes(&calls).last().map(String::as_str),
            Some(
                format!("create or replace view {this} as (\nselect * from \"prod\".\"main\".\"orders\"\n);")
                    .as_str()
            ),
            "{calls:#?}"
        );
    }

    #[test]
    fn an_existing_relation_is_left_alone_unless_full_refresh() {
        let holding = |rel: &Relation| Recording::new().with_relation(rel.clone(), "table", &[]);
        let (message, calls, _) = clone_on(false, true, holding);
        assert_eq!(message, "No-op");
        assert!(changes(&calls).is_empty(), "{calls:#?}");
        // --full-refresh: the table goes, in the view's transaction
        let (message, calls, this) = clone_on(true, true, holding);
        assert_eq!(message, "OK");
        let changes = changes(&calls);
        assert!(
            changes.contains(&format!("DROP TABLE IF EXISTS {this}")),
            "{changes:#?}"
        );
    }

    #[test]
    fn a_node_the_state_lacks_is_a_no_op_that_asks_nothing() {
        let (message, calls, _) = clone_on(false, false, |_| Recording::new());
        assert_eq!(message, "No-op");
        assert!(calls.is_empty(), "{calls:#?}");
    }
}
