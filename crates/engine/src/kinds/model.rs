//! Models: SQL files under the model paths, rendered once at parse for
//! their `config()`, `ref()` and `source()` calls (or taken from the
//! partial parse state when nothing they read changed), and built by their
//! materialization, or batch by batch when they are microbatch models.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use minijinja::Environment;

use super::{result_of, state_key_in, Discover, ResourceKind, Run};
use crate::config::{self, Config, ConfigExt};
use crate::error::{Error, Result};
use crate::jinja::{self, Resolver, RunInfo};
use crate::manifest::{read, walk, ModelVersion, Node, ResourceType};
use crate::partial;
use crate::properties::{NodeProps, Properties};
use crate::results::{Command, NodeResult};

pub(crate) struct Model;

impl ResourceKind for Model {
    fn resource_type(&self) -> ResourceType {
        ResourceType::Model
    }

    fn commands(&self) -> &'static [Command] {
        &[Command::Run, Command::Compile, Command::Clone]
    }

    /// Every model file of the project, read and rendered on all cores.
    fn discover(&self, cx: &mut Discover<'_>) -> Result<()> {
        let project = &cx.pinfo.project;
        let mut files = Vec::new();
        for mp in &project.model_paths {
            for (abs, rel) in walk(&project.root.join(mp), &["sql"])? {
                files.push((mp.as_str(), abs, rel));
            }
        }
        let model_props = ModelProps::new(cx.props);
        let (pinfo, env, resolver, prev) = (cx.pinfo, &*cx.env, cx.parse_resolver, cx.prev);
        let root = cx.info.project.name.as_str();
        // the root project's models render once (a package's macros
        // resolve in its own namespace, which the check does not follow)
        let check = (pinfo.project.name == root)
            .then(|| crate::macros::PhaseCheck::new(env))
            .flatten();
        let parsed = crate::par::map(&files, |(mp, abs, rel)| {
            parse_model(
                pinfo,
                &model_props,
                (env, check.as_ref()),
                resolver,
                (mp, abs, rel),
                prev,
                root,
            )
        });
        for p in parsed {
            match p? {
                Err(e) => cx.errors.push(e),
                Ok((node, entry, fresh)) => {
                    *cx.reparsed += usize::from(fresh);
                    let enabled = node.config.enabled();
                    let key = cx.state_key(&node.original_file_path);
                    cx.state.models.insert(key, entry);
                    if !enabled {
                        continue;
                    }
                    if let Some(prev) = cx.nodes.get(&node.unique_id) {
                        cx.errors.push(format!(
                            "two models are named {}: {} and {}",
                            node.name, prev.original_file_path, node.original_file_path
                        ));
                        continue;
                    }
                    cx.nodes.insert(node.unique_id.clone(), node);
                }
            }
        }
        Ok(())
    }

    fn execute(&self, run: &Run<'_>, node: &Node) -> NodeResult {
        let (started_at, t0) = (Utc::now(), Instant::now());
        if crate::microbatch::applies(node, run.opts.command) {
            return crate::microbatch::run_model(
                run.m,
                node,
                run.db,
                run.resolver,
                run.opts,
                &super::build_node,
            );
        }
        let built = super::build_node(run.m, node, run.db, run.resolver, run.opts);
        result_of(node, started_at, t0, built)
    }

    fn describe(&self, node: &Node) -> String {
        format!(
            "sql {} model {}.{}",
            if crate::microbatch::is_microbatch(node) {
                "microbatch"
            } else {
                node.config.materialized()
            },
            node.schema,
            node.alias
        )
    }
}

/// The properties files' entries as a model's parse looks them up.
struct ModelProps<'a> {
    all: &'a Properties,
    /// The models with versions, looked up for every file: a scan of all
    /// 10,000 models' entries per file was a third of a parse.
    versioned: Vec<(&'a String, &'a NodeProps)>,
}

impl<'a> ModelProps<'a> {
    fn new(all: &'a Properties) -> Self {
        let versioned = all
            .models
            .iter()
            .filter(|(_, p)| !p.versions.is_empty())
            .collect();
        Self { all, versioned }
    }
}

/// One model file: its node with configs (project tree < properties <
/// `config()`), refs and sources from a render with `execute = false`, or
/// from the partial parse state when the file, its properties and the
/// environment variables it read are unchanged (then `false` is returned
/// beside the node: not parsed again). The outer error is fatal (I/O, a
/// poisoned lock); the inner one is a model's own error, reported with the
/// others.
fn parse_model(
    info: &RunInfo,
    props: &ModelProps<'_>,
    (env, check): (&Environment<'static>, Option<&crate::macros::PhaseCheck>),
    parse_resolver: &Arc<dyn Resolver>,
    (mp, abs, rel): (&str, &Path, &str),
    prev: Option<&partial::State>,
    root: &str,
) -> Result<std::result::Result<(Node, partial::ModelEntry, bool), String>> {
    let project = &info.project;
    let target = &info.target;
    let raw = read(abs)?;
    let stem = Path::new(rel)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    // a version of a versioned model: the model's name, its properties, and
    // the version's entry (its own config over the model's)
    let versioned = props.versioned.iter().find_map(|(n, p)| {
        p.version_for(n, &stem)
            .map(|ver| ((*n).clone(), *p, ver.clone()))
    });
    let name = versioned
        .as_ref()
        .map(|(n, _, _)| n.clone())
        .unwrap_or_else(|| stem.clone());
    let ofp = format!("{mp}/{rel}");
    let folders: Vec<String> = rel.split('/').map(String::from).collect::<Vec<_>>();
    let folders = &folders[..folders.len().saturating_sub(1)];
    let mut cfg = project.tree_config(|p| &p.models_config, folders, &name);
    let p = match &versioned {
        Some((_, p, _)) => Some(*p),
        None => props.all.models.get(&name),
    };
    if let Some(p) = p {
        config::merge(&mut cfg, &p.config);
    }
    let version = versioned.as_ref().map(|(_, p, ver)| {
        if let Some(serde_json::Value::Object(c)) = ver.get("config") {
            config::merge(&mut cfg, c);
        }
        let date = ver
            .get("deprecation_date")
            .or_else(|| p.versions.is_empty().then_some(&serde_json::Value::Null))
            .and_then(|d| d.as_str())
            .map(|d| {
                // dbt writes a date as midnight UTC
                if d.len() == 10 {
                    format!("{d}T00:00:00+00:00")
                } else {
                    d.to_string()
                }
            });
        ModelVersion {
            v: ver.get("v").cloned().unwrap_or(serde_json::Value::Null),
            latest: p.latest(),
            deprecation_date: date,
        }
    });
    let props_hash = p
        .map(|p| {
            // Column::tests is not in a column's JSON: hashed beside it
            let tests: Vec<&Vec<serde_json::Value>> =
                p.columns.values().map(|c| &c.tests).collect();
            partial::sha256_json(&(p, tests))
        })
        .unwrap_or_default();
    let unique_id = match &version {
        Some(v) => format!("model.{}.{name}.v{}", project.name, v.v_str()),
        None => format!("model.{}.{name}", project.name),
    };
    let mut fqn = vec![project.name.clone()];
    fqn.extend(folders.iter().cloned());
    fqn.push(name.clone());
    if let Some(v) = &version {
        fqn.push(format!("v{}", v.v_str()));
    }
    // dbt strips a file's contents before checksumming (and storing) them
    let checksum = partial::sha256_hex(raw.trim().as_bytes());
    let mut node = Node {
        original_file_path: ofp,
        path: rel.to_string(),
        fqn,
        checksum: checksum.clone(),
        raw_code: raw,
        config: cfg,
        alias: match &version {
            Some(v) => format!("{name}_v{}", v.v_str()),
            None => name.clone(),
        },
        version: version.clone(),
        time_spine: p.and_then(|p| p.time_spine.clone()),
        ..Node::in_project(
            unique_id.clone(),
            ResourceType::Model,
            name.clone(),
            project,
            (&target.database, &target.schema),
        )
        .documented(p)
    };
    if let Some(e) = prev.and_then(|s| {
        s.models
            .get(&state_key_in(&project.name, root, &node.original_file_path))
    }) {
        if e.checksum == checksum && e.props == props_hash && partial::env_unchanged(&e.env) {
            config::merge(&mut node.config, &e.file_config);
            node.refs = e.refs.clone();
            node.sources = e.sources.clone();
            node.macros = e.macros.clone();
            return Ok(Ok((node, e.clone(), false)));
        }
    }
    // a file holding what a deferred reference prints as is rendered again
    let deferring = check.is_some()
        && !node
            .raw_code
            .contains([crate::phase::TOKEN_START, crate::phase::TOKEN_END]);
    let ctx =
        crate::compile::parse_ctx(&node, parse_resolver.clone(), info.full_refresh, deferring);
    let (((rendered, diverged), env_reads), mut macros) = crate::macros::recording_macros(|| {
        crate::builtins::recording_env(|| {
            crate::builtins::parsing(|| {
                crate::phase::watching_divergence(|| {
                    jinja::render_model_names(
                        env,
                        &node.original_file_path,
                        &node.raw_code,
                        ctx.clone(),
                        deferring,
                    )
                })
            })
        })
    });
    let (text, names) = match rendered {
        Ok(r) => r,
        Err(e) => {
            return Ok(Err(
                Error::jinja(&unique_id, &node.original_file_path, &e).to_string()
            ))
        }
    };
    let lock_err = || Error::Internal("parse lock poisoned".into());
    // the references of the model's text (the hooks below add theirs)
    let references = match &ctx.deferred {
        Some(d) => std::mem::take(&mut *d.lock().map_err(|_| lock_err())?),
        None => vec![],
    };
    let file_config = ctx.file_config.lock().map_err(|_| lock_err())?.clone();
    config::merge(&mut node.config, &file_config);
    if let (Some(check), Some(names)) = (check, names) {
        if !diverged && check.independent(env, &node.raw_code, &names) {
            node.rendered = Some(Arc::new(jinja::Rendered {
                text,
                references,
                file_config: file_config.clone(),
            }));
        }
    }
    // dbt renders hooks at parse time too: the macros they call are the
    // node's dependencies (a failure here is the run's to report)
    for key in ["pre_hook", "post_hook"] {
        for h in node.config.hooks(key) {
            let ((), calls) = crate::macros::recording_macros(|| {
                let scope = jinja::scoped(env, &ctx, Default::default());
                let _ = env.render_str(&h, scope);
            });
            for c in calls {
                if !macros.contains(&c) {
                    macros.push(c);
                }
            }
        }
    }
    node.macros = macros;
    node.refs = ctx.refs.lock().map_err(|_| lock_err())?.clone();
    node.sources = ctx.sources.lock().map_err(|_| lock_err())?.clone();
    let entry = partial::ModelEntry {
        checksum,
        props: props_hash,
        file_config,
        refs: node.refs.clone(),
        sources: node.sources.clone(),
        env: env_reads,
        config: Config::new(),
        names: None,
        macros: node.macros.clone(),
    };
    Ok(Ok((node, entry, true)))
}

/// A microbatch model's batches on a recording database: one
/// delete-and-insert per window, and how a failed batch reads, without
/// DuckDB.
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::database::{Call, Database, Recording};
    use crate::kinds::build_node;
    use crate::results::Status;

    /// microbatch's `daily_events` over 2024-01-01..04 (three day batches)
    /// on a database that already holds its table, with `failing` SQL.
    fn run_batches(failing: Option<&str>) -> (NodeResult, Vec<Call>) {
        let (_tmp, l) = crate::fixture_copy("microbatch", Command::Run);
        let m = &l.manifest;
        let node = &m.nodes["model.microbatch.daily_events"];
        let mut db = Recording::new().with_relation(
            node.relation(),
            "table",
            &[
                ("id", "INTEGER"),
                ("event_at", "TIMESTAMP"),
                ("amount", "INTEGER"),
            ],
        );
        if let Some(needle) = failing {
            db = db.failing(needle, "Invalid Input Error: batch failed on purpose");
        }
        let db = Arc::new(db);
        let shared: Arc<dyn Database> = db.clone();
        let mut opts = crate::results::RunOptions::quiet(Command::Run, 2);
        let day = |d: &str| crate::pydatetime::parse_time(d).unwrap();
        opts.event_time_start = Some(day("2024-01-01"));
        opts.event_time_end = Some(day("2024-01-04"));
        let r = crate::microbatch::run_model(m, node, &shared, &m.resolver(), &opts, &build_node);
        (r, db.calls())
    }

    /// Each batch's statements, by the batch id its SQL carries.
    fn by_batch(calls: &[Call]) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for c in calls {
            let text = match c {
                Call::Execute(s) => s.clone(),
                Call::Transaction(t) => t.join("\n"),
                _ => continue,
            };
            for id in ["20240101", "20240102", "20240103"] {
                if text.contains(&format!("'{id}' as batch_id")) {
                    *out.entry(id.to_string()).or_default() += 1;
                }
            }
        }
        out
    }

    #[test]
    fn each_window_is_one_batch_of_its_own() {
        let (r, calls) = run_batches(None);
        assert_eq!((r.status, r.message.as_str()), (Status::Success, "SUCCESS"));
        let batches = r.batch_results.unwrap();
        assert_eq!((batches.successful.len(), batches.failed.len()), (3, 0));
        let ids: Vec<String> = by_batch(&calls).into_keys().collect();
        assert_eq!(ids, ["20240101", "20240102", "20240103"], "{calls:#?}");
    }

    #[test]
    fn a_failed_middle_batch_is_a_partial_success_and_a_failed_first_skips_the_rest() {
        let (r, _) = run_batches(Some("'20240102' as batch_id"));
        assert_eq!(
            (r.status, r.message.as_str()),
            (Status::PartialSuccess, "PARTIAL SUCCESS (2/3)")
        );
        let b = r.batch_results.unwrap();
        assert_eq!((b.successful.len(), b.failed.len()), (2, 1));
        let (r, calls) = run_batches(Some("'20240101' as batch_id"));
        assert_eq!(r.status, Status::Error);
        assert_eq!(r.batch_results.unwrap().failed.len(), 3);
        // the later batches were never sent
        let sent = by_batch(&calls);
        assert!(
            !sent.contains_key("20240102") && !sent.contains_key("20240103"),
            "{sent:?}"
        );
    }
}
