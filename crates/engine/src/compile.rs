//! The compile phase: render a node with `execute = true` and inline the
//! ephemeral models it references as CTEs named `__dbt__cte__<name>`, placed
//! as dbt places them (dependencies first, after an existing `with`).

use std::sync::Arc;

use crate::config::{Config, ConfigExt};
use crate::error::{Error, Result};
use crate::jinja::{self, NodeCtx, Resolver};
use crate::manifest::{Manifest, Node};
use dbt_jinja::database::Database;

/// A compiled node.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// SQL with ephemeral CTEs injected: what runs.
    pub sql: String,
    /// The node's own rendered SQL, before injection.
    pub pre_injected: String,
    /// Config after this render's `config()` calls.
    pub config: Config,
}

/// A per-node Jinja context for the execute phase.
pub fn node_ctx(
    node: &Node,
    resolver: Arc<dyn Resolver>,
    db: Option<Arc<dyn Database>>,
    is_incremental: bool,
    full_refresh: bool,
) -> Arc<NodeCtx> {
    Arc::new(NodeCtx {
        db,
        is_incremental,
        full_refresh,
        ..node.jinja_ctx(resolver)
    })
}

/// A per-node Jinja context for the parse phase (`execute = false`, no
/// database): what `config()`, `ref()` and `source()` calls record is read
/// back into the node. `deferring`: the references print as tokens, for a
/// text the compile may reuse ([`jinja::Rendered`]).
pub fn parse_ctx(
    node: &Node,
    resolver: Arc<dyn Resolver>,
    full_refresh: bool,
    deferring: bool,
) -> Arc<NodeCtx> {
    Arc::new(NodeCtx {
        execute: false,
        full_refresh,
        deferred: deferring.then(Default::default),
        ..node.jinja_ctx(resolver)
    })
}

fn render_one(
    m: &Manifest,
    node: &Node,
    resolver: &Arc<dyn Resolver>,
    db: Option<Arc<dyn Database>>,
    is_incremental: bool,
) -> Result<(String, Vec<String>, Config)> {
    // a model whose parse text holds: its references put in, no render
    if let Some(r) = &node.rendered {
        if let Some((sql, eph)) = r.resolve(&node.unique_id, resolver.as_ref()) {
            // what the render's config() calls would set again (hooks
            // count only at parse, see jinja's ConfigObj)
            let mut set = r.file_config.clone();
            set.remove("pre_hook");
            set.remove("post_hook");
            let mut config = node.config.clone();
            crate::config::merge(&mut config, &set);
            return Ok((sql, eph, config));
        }
    }
    let ctx = node_ctx(
        node,
        resolver.clone(),
        db,
        is_incremental,
        m.info.full_refresh,
    );
    // models are compiled per render (see jinja::render_model); a
    // snapshot's template is in the environment, under its unique id
    let sql = match node.resource_type {
        crate::manifest::ResourceType::Snapshot => {
            jinja::render(&m.env, node.template(), ctx.clone())
        }
        _ => jinja::render_model(
            &m.env,
            &node.original_file_path,
            &node.raw_code,
            ctx.clone(),
        ),
    }
    .map_err(|e| match jinja::database_failure(&e) {
        Some(message) => Error::Runtime(format!(
            "Runtime Error in {} {} ({})\n  {}",
            node.resource_type.as_str(),
            node.name,
            node.original_file_path,
            message.trim_end().replace('\n', "\n  ")
        )),
        None => Error::jinja(&node.unique_id, &node.original_file_path, &e),
    })?;
    let eph = ctx.ephemerals.lock().map(|e| e.clone()).unwrap_or_default();
    let cfg = ctx.config.lock().map(|c| c.clone()).unwrap_or_default();
    Ok((sql, eph, cfg))
}

/// Collect ephemeral CTEs in dbt's order: an ephemeral's own dependencies first.
fn collect_ctes(
    m: &Manifest,
    ids: &[String],
    resolver: &Arc<dyn Resolver>,
    db: &Option<Arc<dyn Database>>,
    out: &mut Vec<(String, String)>,
    depth: usize,
) -> Result<()> {
    if depth > 100 {
        return Err(Error::Graph(
            "ephemeral models nest too deeply (a cycle?)".into(),
        ));
    }
    for id in ids {
        if out.iter().any(|(i, _)| i == id) {
            continue;
        }
        let node = m
            .nodes
            .get(id)
            .ok_or_else(|| Error::Internal(format!("unknown ephemeral {id}")))?;
        let (sql, eph, _) = render_one(m, node, resolver, db.clone(), false)?;
        collect_ctes(m, &eph, resolver, db, out, depth + 1)?;
        if !out.iter().any(|(i, _)| i == id) {
            out.push((
                id.clone(),
                format!(" __dbt__cte__{} as (\n{}\n)", node.default_alias(), sql),
            ));
        }
    }
    Ok(())
}

/// The `__dbt__cte__<name> as (...)` definitions for `ids` (ephemeral
/// models' unique ids) and what they read, dependencies first.
pub fn ephemeral_ctes(
    m: &Manifest,
    ids: &[String],
    resolver: &Arc<dyn Resolver>,
    db: &Option<Arc<dyn Database>>,
) -> Result<Vec<String>> {
    let mut ctes = Vec::new();
    collect_ctes(m, ids, resolver, db, &mut ctes, 0)?;
    Ok(ctes.into_iter().map(|(_, s)| s).collect())
}

/// Compile one node.
pub fn compile(
    m: &Manifest,
    node: &Node,
    resolver: &Arc<dyn Resolver>,
    db: Option<Arc<dyn Database>>,
    is_incremental: bool,
) -> Result<Compiled> {
    let (sql, eph, config) = render_one(m, node, resolver, db.clone(), is_incremental)?;
    let mut ctes = Vec::new();
    collect_ctes(m, &eph, resolver, &db, &mut ctes, 0)?;
    let injected = inject_ctes(
        &sql,
        &ctes.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>(),
    );
    Ok(Compiled {
        sql: injected,
        pre_injected: sql,
        config,
    })
}

/// Skip whitespace and SQL comments; the offset of the first token.
fn first_token(sql: &str) -> usize {
    let b = sql.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if sql[i..].starts_with("--") {
            i += sql[i..].find('\n').map(|n| n + 1).unwrap_or(sql.len() - i);
        } else if sql[i..].starts_with("/*") {
            i += sql[i..].find("*/").map(|n| n + 2).unwrap_or(sql.len() - i);
        } else {
            return i;
        }
    }
}

/// dbt's `inject_ctes_into_sql`: after a leading `with` (with the double
/// space dbt's output has), or a new `with` (and a space) before the first token.
pub fn inject_ctes(sql: &str, ctes: &[String]) -> String {
    if ctes.is_empty() {
        return sql.to_string();
    }
    let joined = ctes.join(", ");
    let i = first_token(sql);
    let word: String = sql[i..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if word.eq_ignore_ascii_case("with") {
        let after = i + word.len();
        format!("{} {},{}", &sql[..after], joined, &sql[after..])
    } else {
        // dbt 1.10 follows the injected CTEs with a space
        format!("{}with{} {}", &sql[..i], joined, &sql[i..])
    }
}

/// A node whose compiled SQL `compile` prints: dbt's `CompiledNode`
/// event ("Compiled node 'orders' is:" and the SQL).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shown {
    /// The node's name, or `inline_query`.
    pub name: String,
    pub unique_id: String,
    pub is_inline: bool,
    pub sql: String,
}

impl Shown {
    /// dbt's message: the SQL under its heading, or, with `--output json`,
    /// `{"node": ..., "compiled": ...}` (no `node` for an inline query).
    pub fn message(&self, json: bool) -> String {
        // Python's `json.dumps`, as dbt writes it (non-ASCII escaped)
        let text = crate::show::json_str;
        match (json, self.is_inline) {
            (true, true) => format!("{{\n  \"compiled\": {}\n}}", text(&self.sql)),
            (true, false) => format!(
                "{{\n  \"node\": {},\n  \"compiled\": {}\n}}",
                text(&self.name),
                text(&self.sql)
            ),
            (false, true) => format!("Compiled inline node is:\n{}", self.sql),
            (false, false) => format!("Compiled node '{}' is:\n{}", self.name, self.sql),
        }
    }
}

/// dbt's interactive compile: with `--select`, each compiled node whose
/// name is part of the first word of the selection has its SQL printed
/// (`-s orders` and `-s +orders` print `orders`, not its parents). `order`
/// is the run's order of the nodes; `sql_of` gives a node's compiled SQL,
/// or None for a node the compile did not select.
pub fn shown<'a>(
    select: &[String],
    order: impl Iterator<Item = &'a Node>,
    sql_of: impl Fn(&Node) -> Option<String>,
) -> Vec<Shown> {
    let Some(first) = select.iter().flat_map(|s| s.split_whitespace()).next() else {
        return vec![];
    };
    order
        .filter(|n| first.contains(n.name.as_str()))
        .filter_map(|n| {
            sql_of(n).map(|sql| Shown {
                name: n.name.clone(),
                unique_id: n.unique_id.clone(),
                is_inline: false,
                sql,
            })
        })
        .collect()
}

/// A node's `pre_hook`s and `post_hook`s, rendered in the node's context
/// (`this`, `{% do adapter.drop_relation(this) %}`, ...) and run in order.
pub(crate) struct NodeHooks<'a> {
    pub(crate) m: &'a Manifest,
    pub(crate) node: &'a Node,
    pub(crate) db: &'a Arc<dyn Database>,
    pub(crate) resolver: &'a Arc<dyn crate::jinja::Resolver>,
    pub(crate) cfg: &'a crate::config::Config,
    pub(crate) inc: bool,
    pub(crate) full_refresh: bool,
}

impl<'a> NodeHooks<'a> {
    /// The hooks of a node that builds no incremental relation (a seed,
    /// a clone), from the node's own config.
    pub(crate) fn of_node(
        m: &'a Manifest,
        node: &'a Node,
        db: &'a Arc<dyn Database>,
        resolver: &'a Arc<dyn crate::jinja::Resolver>,
        full_refresh: bool,
    ) -> Self {
        NodeHooks {
            m,
            node,
            db,
            resolver,
            cfg: &node.config,
            inc: false,
            full_refresh,
        }
    }

    pub(crate) fn render(&self, key: &str) -> Result<Vec<String>> {
        let node = self.node;
        let mut out = Vec::new();
        for h in self.cfg.hooks(key) {
            // a package's node renders its hooks with its package's macros
            // in scope, as its SQL (dbt's node-package namespace)
            let ctx = crate::jinja::scoped(
                &self.m.env,
                &node_ctx(
                    node,
                    self.resolver.clone(),
                    Some(self.db.clone()),
                    self.inc,
                    self.full_refresh,
                ),
                Default::default(),
            );
            let s = self.m.env.render_str(&h, ctx).map_err(|e| {
                Error::jinja(
                    &node.unique_id,
                    &format!("{} ({key})", node.original_file_path),
                    &e,
                )
            })?;
            if !s.trim().is_empty() {
                out.push(s);
            }
        }
        Ok(out)
    }

    pub(crate) fn run(&self, key: &str) -> Result<()> {
        for s in self.render(key)? {
            self.db
                .execute(&s)
                .map_err(|e| Error::Project(format!("{} {key}: {e}", self.node.unique_id)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactive_compile_shows_what_the_first_selector_word_names() {
        use crate::manifest::ResourceType;
        let nodes: Vec<Node> = ["stg_orders", "orders", "customers"]
            .iter()
            .map(|n| Node::new(format!("model.p.{n}"), ResourceType::Model, *n, "p"))
            .collect();
        let compiled: std::collections::BTreeMap<String, String> = nodes
            .iter()
            .map(|n| (n.unique_id.clone(), format!("select '{}'", n.name)))
            .collect();
        let names = |select: &[&str]| -> Vec<String> {
            let select: Vec<String> = select.iter().map(|s| s.to_string()).collect();
            shown(&select, nodes.iter(), |n| {
                compiled.get(&n.unique_id).cloned()
            })
            .into_iter()
            .map(|s| s.name)
            .collect()
        };
        // a name is shown when the first word holds it, as dbt's `in`
        assert_eq!(names(&["+orders"]), ["orders"]);
        assert_eq!(names(&["stg_orders"]), ["stg_orders", "orders"]);
        assert_eq!(names(&["customers orders"]), ["customers"]);
        assert_eq!(names(&["customers", "orders"]), ["customers"]);
        assert!(names(&[]).is_empty());
        let s = &shown(&["orders".to_string()], nodes.iter(), |n| {
            compiled.get(&n.unique_id).cloned()
        })[0];
        assert_eq!(
            s.message(false),
            "Compiled node 'orders' is:\nselect 'orders'"
        );
        assert_eq!(
            s.message(true),
            "{\n  \"node\": \"orders\",\n  \"compiled\": \"select 'orders'\"\n}"
        );
        let inline = Shown {
            is_inline: true,
            sql: "select \"é\"\n".into(),
            ..s.clone()
        };
        assert_eq!(
            inline.message(false),
            "Compiled inline node is:\nselect \"é\"\n"
        );
        assert_eq!(
            inline.message(true),
            "{\n  \"compiled\": \"select \\\"\\u00e9\\\"\\n\"\n}"
        );
    }

    #[test]
    fn injects_like_dbt() {
        let c = vec![" __dbt__cte__a as (\nselect 1\n)".to_string()];
        assert_eq!(
            inject_ctes("select * from __dbt__cte__a", &c),
            "with __dbt__cte__a as (\nselect 1\n) select * from __dbt__cte__a"
        );
        assert_eq!(
            inject_ctes("\nwith b as (select 2) select * from b", &c),
            "\nwith  __dbt__cte__a as (\nselect 1\n), b as (select 2) select * from b"
        );
        assert_eq!(
            inject_ctes("-- c\nselect 1", &c),
            "-- c\nwith __dbt__cte__a as (\nselect 1\n) select 1"
        );
    }
}
