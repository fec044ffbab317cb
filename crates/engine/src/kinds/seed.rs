//! Seeds: CSV files under the seed paths, loaded into a table of their
//! own (with their hooks and persisted docs around the load).

use std::path::Path;
use std::time::Instant;

use chrono::Utc;

use super::{result_of, Discover, ResourceKind, Run};
use crate::config::{self, ConfigExt};
use crate::error::{Error, Result};
use crate::manifest::{walk, Manifest, Node, ResourceType};
use crate::materialize;
use crate::partial;
use crate::results::{Built, Command, NodeResult, RunOptions};

pub(crate) struct Seed;

impl ResourceKind for Seed {
    fn resource_type(&self) -> ResourceType {
        ResourceType::Seed
    }

    fn commands(&self) -> &'static [Command] {
        &[Command::Seed, Command::Clone]
    }

    fn discover(&self, cx: &mut Discover<'_>) -> Result<()> {
        let project = &cx.pinfo.project;
        let root = &project.root;
        let target = &cx.info.target;
        let (props, nodes) = (cx.props, &mut *cx.nodes);
        for sp in &project.seed_paths {
            for (abs, rel) in walk(&root.join(sp), &["csv"])? {
                let name = Path::new(&rel)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
                    .to_string();
                let folders: Vec<String> = rel.split('/').map(String::from).collect();
                let folders = &folders[..folders.len().saturating_sub(1)];
                let mut cfg = project.tree_config(|p| &p.seeds_config, folders, &name);
                let p = props.seeds.get(&name);
                if let Some(p) = p {
                    config::merge(&mut cfg, &p.config);
                }
                cfg.insert("materialized".into(), "seed".into());
                let bytes = std::fs::read(&abs).map_err(|e| Error::io(&abs, e))?;
                let unique_id = format!("seed.{}.{name}", project.name);
                let mut fqn = vec![project.name.clone()];
                fqn.extend(folders.iter().cloned());
                fqn.push(name.clone());
                if !cfg.enabled() {
                    continue;
                }
                nodes.insert(
                    unique_id.clone(),
                    Node {
                        original_file_path: format!("{sp}/{rel}"),
                        path: rel.clone(),
                        fqn,
                        checksum: seed_checksum(&bytes, &format!("{sp}/{rel}")),
                        config: cfg,
                        ..Node::in_project(
                            unique_id,
                            ResourceType::Seed,
                            name.clone(),
                            project,
                            (&target.database, &target.schema),
                        )
                        .documented(p)
                    },
                );
            }
        }
        Ok(())
    }

    fn execute(&self, run: &Run<'_>, node: &Node) -> NodeResult {
        let (started_at, t0) = (Utc::now(), Instant::now());
        let built = load(run.m, node, run.db, run.resolver, run.opts);
        result_of(node, started_at, t0, built)
    }

    fn describe(&self, node: &Node) -> String {
        format!("seed file {}.{}", node.schema, node.alias)
    }

    fn result_event(&self) -> (&'static str, &'static str) {
        ("LogSeedResult", "Q016")
    }

    fn ok_words(&self, node: &Node) -> String {
        format!("loaded {}", self.describe(node))
    }

    fn error_words(&self, node: &Node) -> String {
        format!("loading {}", self.describe(node))
    }
}

/// A seed's checksum as dbt computes it: sha256 of the stripped file, or,
/// past 1 MiB, `path:<original_file_path>` (dbt's checksum named `path`,
/// written so by the manifest).
fn seed_checksum(bytes: &[u8], original_file_path: &str) -> String {
    if bytes.len() > 1024 * 1024 {
        return format!("path:{original_file_path}");
    }
    partial::sha256_hex(String::from_utf8_lossy(bytes).trim().as_bytes())
}

/// Load one seed: its hooks around the load of its file, then its docs.
fn load(
    m: &Manifest,
    node: &Node,
    db: &std::sync::Arc<dyn crate::database::Database>,
    resolver: &std::sync::Arc<dyn crate::jinja::Resolver>,
    opts: &RunOptions,
) -> Built {
    let root = m.info.project.root.clone();
    // a package's seed file lies in the package (its original_file_path
    // is relative to the package, as in dbt's manifest)
    let base = m
        .info
        .packages
        .iter()
        .find(|p| p.name == node.package_name && node.package_name != m.info.project.name)
        .map(|p| p.root.clone())
        .unwrap_or(root.clone());
    let path = base.join(&node.original_file_path);
    // dbt-core 1.10's seed materialization says "CREATE n" on a full
    // refresh (the flag or the seed's `full_refresh` config) and
    // "INSERT n" otherwise, a new table included
    let rel = node.relation();
    let verb = if materialize::full_refresh_for(&node.config, opts.full_refresh) {
        "CREATE"
    } else {
        "INSERT"
    };
    let flag = |k: &str| match node.config.get(k) {
        Some(serde_json::Value::Bool(b)) => Some(*b),
        Some(serde_json::Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    };
    let seed_opts = crate::seed::SeedOptions {
        column_types: node.config.get("column_types"),
        delimiter: node
            .config
            .str_of("delimiter")
            .and_then(|d| d.chars().next()),
        quote_columns: flag("quote_columns"),
        fast: flag("fast"),
    };
    // dbt's seed materialization runs the seed's hooks around the load
    let hooks = crate::compile::NodeHooks::of_node(m, node, db, resolver, opts.full_refresh);
    let r = hooks
        .run("pre_hook")
        .and_then(|()| crate::seed::load(db.as_ref(), &path, &rel, &seed_opts))
        .and_then(|n| {
            hooks.run("post_hook")?;
            crate::persist_docs::apply(db.as_ref(), node, &rel, &node.config)?;
            Ok(n)
        })
        .map(|n| {
            (
                materialize::Outcome {
                    message: format!("{verb} {n}"),
                    run_sql: String::new(),
                },
                Some(n),
            )
        });
    (None, r, Utc::now())
}
