//! Running a selection: nodes in DAG order on `--threads` worker threads,
//! each with its own DuckDB connection. A failed node skips its
//! descendants; the run goes on elsewhere (or stops with `--fail-fast`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::compile;
use crate::config::ConfigExt;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::graph::Dag;
use crate::manifest::{Manifest, Node, ResourceType};
use crate::materialize;
use crate::results::{node_error, Built, Command, NodeResult, RunOptions, Status};

/// The progress display of this process's runs (`Options::progress`),
/// process-wide as the log format is (`logfmt`): one command runs at a
/// time, and `RunOptions` stays as its callers build it.
static PROGRESS: Mutex<Option<NodeProgress>> = Mutex::new(None);

/// Sets (or clears) the display told about the runs that follow.
pub(crate) fn set_progress(p: Option<NodeProgress>) {
    if let Ok(mut g) = PROGRESS.lock() {
        *g = p;
    }
}

fn progress() -> Option<NodeProgress> {
    PROGRESS.lock().ok().and_then(|g| g.clone())
}

/// What a progress display hears from a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEvent {
    /// The run is about to start this many models (seeds, snapshots: every
    /// node that is not a test) and tests (data and unit tests).
    Started { models: usize, tests: usize },
    /// A node finished.
    Finished { test: bool, failed: bool },
    /// Every node has finished or been skipped; the closing lines follow.
    Done,
}

/// A progress display's ear (`tarmac up` on a terminal): a bar per phase
/// instead of a line per node.
#[derive(Clone)]
pub struct NodeProgress(pub Arc<dyn Fn(RunEvent) + Send + Sync>);

impl std::fmt::Debug for NodeProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeProgress")
    }
}

fn is_test_node(node: &Node) -> bool {
    matches!(node.resource_type, ResourceType::Test | ResourceType::Unit)
}

pub(crate) fn describe(node: &Node) -> String {
    match node.resource_type {
        ResourceType::Seed => format!("seed file {}.{}", node.schema, node.alias),
        ResourceType::Snapshot => format!("snapshot {}.{}", node.schema, node.alias),
        ResourceType::Model => format!(
            "sql {} model {}.{}",
            if crate::microbatch::is_microbatch(node) {
                "microbatch"
            } else {
                node.config.materialized()
            },
            node.schema,
            node.alias
        ),
        ResourceType::Test => format!("test {}", node.name),
        ResourceType::Unit => format!("unit_test {}", node.name),
        ResourceType::Exposure => format!("exposure {}", node.name),
    }
}

pub(crate) fn node_info(
    node: &Node,
    status: &str,
    started: &str,
    finished: &str,
) -> serde_json::Value {
    serde_json::json!({
        "materialized": node.config.materialized(),
        "meta": node.config.get("meta").cloned().unwrap_or(serde_json::json!({})),
        "node_checksum": node.checksum,
        "node_finished_at": finished,
        "node_name": node.name,
        "node_path": node.path,
        "node_relation": {
            "alias": node.alias, "database": node.database, "schema": node.schema,
            "relation_name": node.relation().render(),
        },
        "node_started_at": started,
        "node_status": status,
        "resource_type": node.resource_type.as_str(),
        "unique_id": node.unique_id,
    })
}

/// dbt's per-node start line (`LogStartLine`).
fn start_line(node: &Node, i: usize, total: usize, started: &str) {
    let text = format!("{i} of {total} START {}", describe(node));
    crate::logfmt::event_with(
        "LogStartLine",
        "Q011",
        "info",
        &crate::logfmt::progress(&text, "RUN", None),
        || {
            serde_json::json!({
                "description": describe(node), "index": i, "total": total,
                "node_info": node_info(node, "started", started, ""),
            })
        },
    );
}

/// dbt's per-node result line (`LogModelResult`, `LogSeedResult`, ...).
fn result_line(m: &Manifest, node: &Node, r: &NodeResult, i: usize, total: usize, compile: bool) {
    let ts = |t: &DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let (name, code) = match node.resource_type {
        ResourceType::Seed => ("LogSeedResult", "Q016"),
        ResourceType::Snapshot => ("LogSnapshotResult", "Q015"),
        ResourceType::Model => ("LogModelResult", "Q012"),
        ResourceType::Test | ResourceType::Unit => ("LogTestResult", "Q007"),
        ResourceType::Exposure => ("LogNodeNoOpResult", "Q019"),
    };
    let (text, tag, level) = match (r.status, node.resource_type) {
        (Status::NoOp, _) => (
            format!("{i} of {total} NO-OP {}", describe(node)),
            "NO-OP".to_string(),
            "info",
        ),
        (Status::Skipped, _) => {
            let text = if matches!(node.resource_type, ResourceType::Test | ResourceType::Unit) {
                format!(
                    "{i} of {total} SKIP test {}",
                    crate::unit_tests::display_name(m, node)
                )
            } else {
                // dbt's words, whatever the cause (an upstream error or
                // partial success)
                format!(
                    "{i} of {total} SKIP relation {}.{}",
                    node.schema, node.alias
                )
            };
            crate::logfmt::event_with(
                "SkippingDetails",
                "Q034",
                "info",
                &crate::logfmt::progress(&text, "SKIP", None),
                || {
                    serde_json::json!({
                        "resource_type": node.resource_type.as_str(), "schema": node.schema,
                        "node_name": node.alias, "index": i, "total": total,
                        "node_info": node_info(node, "skipped", &ts(&r.started_at), &ts(&r.completed_at)),
                    })
                },
            );
            return;
        }
        (_, ResourceType::Test | ResourceType::Unit) if !compile || r.status.is_failure() => {
            let (word, tag) = test_words(r, &crate::unit_tests::display_name(m, node));
            (
                format!("{i} of {total} {word}"),
                tag,
                if r.status.is_failure() {
                    "error"
                } else {
                    "info"
                },
            )
        }
        (Status::Error, ResourceType::Snapshot) => (
            format!("{i} of {total} ERROR snapshotting {}", describe(node)),
            "ERROR".to_string(),
            "error",
        ),
        (Status::Error, ResourceType::Seed) => (
            format!("{i} of {total} ERROR loading {}", describe(node)),
            "ERROR".to_string(),
            "error",
        ),
        (Status::PartialSuccess, _) => (
            format!("{i} of {total} PARTIALLY created {}", describe(node)),
            r.message.clone(),
            "warn",
        ),
        (Status::Error, _) => (
            format!("{i} of {total} ERROR creating {}", describe(node)),
            "ERROR".to_string(),
            "error",
        ),
        _ if compile => (
            format!("{i} of {total} OK compiled {}", describe(node)),
            "OK".to_string(),
            "info",
        ),
        (_, ResourceType::Seed) => (
            format!("{i} of {total} OK loaded {}", describe(node)),
            r.message.clone(),
            "info",
        ),
        (_, ResourceType::Snapshot) => (
            format!(
                "{i} of {total} OK snapshotted {}.{}",
                node.schema, node.alias
            ),
            r.message.clone(),
            "info",
        ),
        _ => (
            format!("{i} of {total} OK created {}", describe(node)),
            r.message.clone(),
            "info",
        ),
    };
    crate::logfmt::event_with(
        name,
        code,
        level,
        &crate::logfmt::progress(&text, &tag, Some(r.execution_time)),
        || {
            serde_json::json!({
                "description": describe(node), "status": match r.status { Status::Error => "error".to_string(), Status::Fail => "fail".into(), Status::Warn => "warn".into(), Status::Pass => "pass".into(), _ => r.message.clone() },
                "index": i, "total": total, "execution_time": r.execution_time,
                "node_info": node_info(node, if r.status.is_failure() { "error" } else { "success" }, &ts(&r.started_at), &ts(&r.completed_at)),
            })
        },
    );
}

/// A test's console line: `PASS name`, `FAIL 3 name`, `WARN 1 name`, `ERROR name`.
fn test_words(r: &NodeResult, name: &str) -> (String, String) {
    let n = r.failures.unwrap_or(0);
    let tag = match r.status {
        Status::Pass | Status::Success => "PASS".to_string(),
        Status::Fail => format!("FAIL {n}"),
        Status::Warn => format!("WARN {n}"),
        Status::Skipped => "SKIP".to_string(),
        Status::NoOp => "NO-OP".to_string(),
        Status::Error | Status::PartialSuccess => "ERROR".to_string(),
    };
    (format!("{tag} {name}"), tag)
}

/// Build one node on a connection.
pub(crate) fn build_node(
    m: &Manifest,
    node: &Node,
    db: &Db,
    resolver: &Arc<dyn crate::jinja::Resolver>,
    opts: &RunOptions,
) -> Built {
    if opts.command == Command::Clone {
        return crate::clone::build(m, node, db, resolver, opts);
    }
    let root = m.info.project.root.clone();
    if node.resource_type == ResourceType::Seed {
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
        let hooks = crate::compile::NodeHooks {
            m,
            node,
            db,
            resolver,
            cfg: &node.config,
            inc: false,
            full_refresh: opts.full_refresh,
        };
        let r = hooks
            .run("pre_hook")
            .and_then(|()| crate::seed::load(db, &path, &rel, &seed_opts))
            .and_then(|n| {
                hooks.run("post_hook")?;
                crate::persist_docs::apply(db, node, &rel, &node.config)?;
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
        return (None, r, Utc::now());
    }
    let full_refresh = materialize::full_refresh_for(&node.config, opts.full_refresh);
    let inc =
        match materialize::is_incremental(db, &node.relation(), &node.config, opts.full_refresh) {
            Ok(b) => b,
            Err(e) => return (None, Err(e), Utc::now()),
        };
    let compiled = match compile::compile(m, node, resolver, Some(db.clone()), inc) {
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
    let hook_ctx =
        || compile::node_ctx(node, resolver.clone(), Some(db.clone()), inc, full_refresh);
    let hook = crate::compile::NodeHooks {
        m,
        node,
        db,
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

/// Run the selected nodes. Results come back in completion order.
pub fn run(
    m: &Manifest,
    dag: &Dag,
    selected: &BTreeSet<String>,
    db: &Db,
    opts: &RunOptions,
) -> Result<Vec<NodeResult>> {
    let queue: Vec<String> = selected
        .iter()
        .filter(|id| {
            m.nodes.get(*id).is_some_and(|n| {
                opts.command.includes(n.resource_type)
                    && !(opts.command == Command::Clone && n.is_ephemeral())
            })
        })
        .cloned()
        .collect();
    // clone's nodes are independent of each other (dbt's Independent
    // mode): none waits for another, a failure skips nothing
    let independent = opts.command == Command::Clone;
    let in_queue: HashSet<&String> = queue.iter().collect();
    // ephemerals are compiled into their children, never run on their own
    let printable: Vec<&String> = queue
        .iter()
        .filter(|id| !m.nodes[*id].is_ephemeral())
        .collect();
    let total = printable.len();
    let display = progress();
    if let Some(p) = &display {
        let tests = printable
            .iter()
            .filter(|id| m.nodes.get(id.as_str()).is_some_and(is_test_node))
            .count();
        (p.0)(RunEvent::Started {
            models: total - tests,
            tests,
        });
    }
    // schemas first, on one connection: concurrent CREATE SCHEMA conflicts in DuckDB
    if opts.command != Command::Compile {
        let mut schemas = BTreeSet::new();
        for id in &queue {
            let n = &m.nodes[id];
            let stores = match n.resource_type {
                ResourceType::Test => {
                    crate::data_tests::TestConfig::of(&n.config).stores(m.info.store_failures)
                }
                ResourceType::Unit | ResourceType::Exposure => false,
                _ => true,
            };
            if !n.is_ephemeral() && stores {
                schemas.insert((n.database.clone(), n.schema.clone()));
            }
        }
        for (d, s) in schemas {
            db.execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {}.{}",
                crate::relation::quote(&d),
                crate::relation::quote(&s)
            ))?;
        }
    }
    // in `build`, a node also waits for the tests of what it reads
    let mut test_children: HashMap<String, Vec<String>> = HashMap::new();
    let mut test_parents: HashMap<String, usize> = HashMap::new();
    if opts.command == Command::Build {
        let mut edges = crate::data_tests::build_edges(m, dag, &in_queue);
        edges.extend(crate::unit_tests::build_edges(m, &in_queue));
        for (t, n) in edges {
            *test_parents.entry(n.clone()).or_default() += 1;
            test_children.entry(t).or_default().push(n);
        }
    }
    let children_of = |id: &str| -> Vec<String> {
        let mut c = dag.children(id);
        if let Some(more) = test_children.get(id) {
            c.extend(more.iter().cloned());
        }
        c
    };
    let descendants_of = |id: &str| -> Vec<String> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        let mut stack = vec![id.to_string()];
        while let Some(n) = stack.pop() {
            for c in children_of(&n) {
                if seen.insert(c.clone()) {
                    out.push(c.clone());
                    stack.push(c);
                }
            }
        }
        // dbt lists skipped nodes in DAG order
        out.sort_by_key(|d| queue.iter().position(|q| q == d).unwrap_or(usize::MAX));
        out
    };
    let mut waiting: HashMap<String, usize> = HashMap::new();
    for id in queue.iter().filter(|_| !independent) {
        let n = dag
            .parents(id)
            .into_iter()
            .filter(|p| in_queue.contains(p))
            .count();
        waiting.insert(id.clone(), n + test_parents.get(id).copied().unwrap_or(0));
    }
    let resolver = m.resolver();
    let threads = opts.threads.max(1);
    let (job_tx, job_rx) = mpsc::channel::<String>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (res_tx, res_rx) = mpsc::channel::<(NodeResult, usize)>();
    // dbt numbers nodes in the order they start
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let counter = &counter;
    let mut results = Vec::new();
    let mut skipped: HashSet<String> = HashSet::new();
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..threads.min(queue.len().max(1)) {
            let conn = db.try_clone()?;
            let rx = job_rx.clone();
            let tx = res_tx.clone();
            let resolver = resolver.clone();
            scope.spawn(move || loop {
                let id = match rx.lock() {
                    Ok(r) => match r.recv() {
                        Ok(id) => id,
                        Err(_) => break,
                    },
                    Err(_) => break,
                };
                let Some(node) = m.nodes.get(&id) else {
                    continue;
                };
                let started_at = Utc::now();
                let t0 = Instant::now();
                let index = if node.is_ephemeral() {
                    0
                } else {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
                };
                // dbt prints no START line for a node it does not run
                if opts.verbose_lines
                    && index > 0
                    && opts.command != Command::Compile
                    && node.resource_type != ResourceType::Exposure
                {
                    start_line(
                        node,
                        index,
                        total,
                        &started_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                    );
                }
                if node.resource_type == ResourceType::Test {
                    let _ = tx.send((
                        crate::data_tests::run_test(m, node, &conn, &resolver, opts),
                        index,
                    ));
                    continue;
                }
                if node.resource_type == ResourceType::Exposure {
                    let now = Utc::now();
                    let _ = tx.send((
                        NodeResult {
                            unique_id: id,
                            status: Status::NoOp,
                            message: "NO-OP".into(),
                            compiled_sql: None,
                            run_sql: None,
                            started_at,
                            compiled_at: now,
                            completed_at: now,
                            execution_time: t0.elapsed().as_secs_f64(),
                            rows_affected: None,
                            failures: None,
                            batch_results: None,
                        },
                        index,
                    ));
                    continue;
                }
                if node.resource_type == ResourceType::Unit {
                    let _ = tx.send((
                        crate::unit_tests::run_unit_test(m, node, &conn, opts),
                        index,
                    ));
                    continue;
                }
                if crate::microbatch::applies(node, opts.command) {
                    let _ = tx.send((
                        crate::microbatch::run_model(m, node, &conn, &resolver, opts, &build_node),
                        index,
                    ));
                    continue;
                }
                let (compiled_sql, r, compiled_at) = build_node(m, node, &conn, &resolver, opts);
                let (status, message, run_sql, rows) = match r {
                    Ok((o, rows)) => (Status::Success, o.message, Some(o.run_sql), rows),
                    Err(e) => (
                        Status::Error,
                        node_error(node, &e, compiled_sql.as_deref()),
                        None,
                        None,
                    ),
                };
                let _ = tx.send((
                    NodeResult {
                        unique_id: id,
                        status,
                        message,
                        compiled_sql,
                        run_sql,
                        started_at,
                        compiled_at,
                        completed_at: Utc::now(),
                        execution_time: t0.elapsed().as_secs_f64(),
                        rows_affected: rows,
                        failures: None,
                        batch_results: None,
                    },
                    index,
                ));
            });
        }
        drop(res_tx);
        let mut in_flight = 0usize;
        let mut done = 0usize;
        let mut stop = false;
        for id in &queue {
            if waiting.get(id).copied().unwrap_or(0) == 0 {
                job_tx
                    .send(id.clone())
                    .map_err(|e| Error::Internal(e.to_string()))?;
                in_flight += 1;
            }
        }
        while in_flight > 0 {
            let Ok((r, index)) = res_rx.recv() else { break };
            in_flight -= 1;
            done += 1;
            let node = &m.nodes[&r.unique_id];
            let failed = r.status.is_failure();
            if let Some(p) = &display {
                if !node.is_ephemeral() {
                    (p.0)(RunEvent::Finished {
                        test: is_test_node(node),
                        failed,
                    });
                }
            }
            if opts.verbose_lines && (!node.is_ephemeral() || failed) {
                let i = if index == 0 {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
                } else {
                    index
                };
                result_line(m, node, &r, i, total, opts.command == Command::Compile);
                if r.status == Status::Error {
                    eprintln!("  {}", r.message.replace('\n', "\n  "));
                }
            }
            let id = r.unique_id.clone();
            if !node.is_ephemeral() || failed {
                results.push(r);
            }
            if independent {
                if failed && opts.fail_fast {
                    stop = true;
                }
            } else if failed {
                if opts.fail_fast {
                    stop = true;
                }
                for d in descendants_of(&id) {
                    if in_queue.contains(&d)
                        && skipped.insert(d.clone())
                        && !m.nodes[&d].is_ephemeral()
                    {
                        let sk = NodeResult::skipped(
                            d.clone(),
                            format!("skipped: upstream {id} failed"),
                        );
                        if opts.verbose_lines {
                            let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            result_line(m, &m.nodes[&d], &sk, i, total, false);
                        }
                        results.push(sk);
                    }
                }
            } else if !stop {
                for c in children_of(&id) {
                    if let Some(w) = waiting.get_mut(&c) {
                        *w -= 1;
                        if *w == 0 && !skipped.contains(&c) {
                            job_tx
                                .send(c.clone())
                                .map_err(|e| Error::Internal(e.to_string()))?;
                            in_flight += 1;
                        }
                    }
                }
            }
        }
        drop(job_tx);
        let _ = done;
        if stop {
            let seen: HashSet<String> = results.iter().map(|r| r.unique_id.clone()).collect();
            for id in &queue {
                if !seen.contains(id) && !m.nodes[id].is_ephemeral() {
                    results.push(NodeResult::skipped(
                        id.clone(),
                        "skipped: --fail-fast".into(),
                    ));
                }
            }
        }
        Ok(())
    })?;
    if let Some(p) = &display {
        (p.0)(RunEvent::Done);
    }
    Ok(results)
}
