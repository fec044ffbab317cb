//! Running a selection: nodes in DAG order on `--threads` worker threads,
//! each with its own DuckDB connection. A failed node skips its
//! descendants; the run goes on elsewhere (or stops with `--fail-fast`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::config::ConfigExt;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::graph::Dag;
use crate::manifest::{Manifest, Node};
use crate::results::{Command, NodeResult, RunOptions, Status};

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

/// A test of any kind: counted apart in the progress display.
fn is_test_node(m: &Manifest, node: &Node) -> bool {
    crate::kinds::of(node.resource_type)
        .test_name(m, node)
        .is_some()
}

fn describe(node: &Node) -> String {
    crate::kinds::of(node.resource_type).describe(node)
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
    let kind = crate::kinds::of(node.resource_type);
    let (name, code) = kind.result_event();
    let test_name = kind.test_name(m, node);
    let (text, tag, level) = match (r.status, &test_name) {
        (Status::NoOp, _) => (
            format!("{i} of {total} NO-OP {}", describe(node)),
            "NO-OP".to_string(),
            "info",
        ),
        (Status::Skipped, _) => {
            let text = if let Some(test) = &test_name {
                format!("{i} of {total} SKIP test {test}")
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
        (_, Some(test)) if !compile || r.status.is_failure() => {
            let (word, tag) = test_words(r, test);
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
        (Status::PartialSuccess, _) => (
            format!("{i} of {total} PARTIALLY created {}", describe(node)),
            r.message.clone(),
            "warn",
        ),
        (Status::Error, _) => (
            format!("{i} of {total} ERROR {}", kind.error_words(node)),
            "ERROR".to_string(),
            "error",
        ),
        _ if compile => (
            format!("{i} of {total} OK compiled {}", describe(node)),
            "OK".to_string(),
            "info",
        ),
        _ => (
            format!("{i} of {total} OK {}", kind.ok_words(node)),
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

/// Run the selected nodes and write their SQL files. Results come back
/// in completion order.
pub fn run(
    m: &Manifest,
    dag: &Dag,
    selected: &BTreeSet<String>,
    db: &Arc<dyn Database>,
    opts: &RunOptions,
) -> Result<Vec<NodeResult>> {
    let (results, written) = run_nodes(m, dag, selected, db, opts)?;
    // the files not written yet, once the scheduling's own maps are freed
    // (writing them before was +18 MB peak on a 10,000-model compile)
    crate::artifacts::write_sql(m, &results, &written)?;
    Ok(results)
}

/// [`run`]'s scheduling: the results, and the unique ids whose SQL files
/// are already written.
fn run_nodes(
    m: &Manifest,
    dag: &Dag,
    selected: &BTreeSet<String>,
    db: &Arc<dyn Database>,
    opts: &RunOptions,
) -> Result<(Vec<NodeResult>, HashSet<String>)> {
    let queue: Vec<String> = selected
        .iter()
        .filter(|id| {
            m.nodes.get(*id).is_some_and(|n| {
                crate::kinds::runs_in(opts.command, n.resource_type)
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
            .filter(|id| m.nodes.get(id.as_str()).is_some_and(|n| is_test_node(m, n)))
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
            let stores = crate::kinds::of(n.resource_type).writes_schema(m, n);
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
        let edges = crate::kinds::all()
            .iter()
            .flat_map(|k| k.build_edges(m, dag, &in_queue));
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
    // Each node's SQL files are written as its result comes in, by a
    // thread of their own, while the next nodes run in DuckDB (a test's
    // two files took as long as DuckDB's run of it where ext4 creates files
    // slowly). Not for `compile`, whose renders keep every core busy: its
    // files are written at the end on all cores, which was faster (10,000
    // models: 2.4-3.9 s against 4.4-5.0 s streamed). A file several nodes
    // share (the snapshot blocks of one .sql file) waits for the end too,
    // where the first node by unique id writes it.
    let stream = opts.command != Command::Compile;
    let target = crate::results::target_dir(m);
    let file_of = |n: &Node| {
        (
            n.package_name.clone(),
            crate::kinds::of(n.resource_type).compiled_file(n),
        )
    };
    let mut writers: HashMap<(String, String), usize> = HashMap::new();
    for id in queue.iter().filter(|_| stream) {
        *writers.entry(file_of(&m.nodes[id])).or_default() += 1;
    }
    let (file_tx, file_rx) = mpsc::sync_channel::<(String, Vec<(PathBuf, String)>)>(1024);
    let mut written: HashSet<String> = HashSet::new();
    let (job_tx, job_rx) = mpsc::channel::<String>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (res_tx, res_rx) = mpsc::channel::<(NodeResult, usize)>();
    // dbt numbers nodes in the order they start
    let counter = std::sync::atomic::AtomicUsize::new(0);
    let counter = &counter;
    let mut results = Vec::new();
    let mut skipped: HashSet<String> = HashSet::new();
    std::thread::scope(|scope| -> Result<()> {
        let writer = stream.then(|| {
            scope.spawn(move || {
                let mut done = HashSet::new();
                for (id, files) in file_rx {
                    // a file that fails is written again at the end, which
                    // reports the error
                    if files
                        .iter()
                        .all(|(p, sql)| crate::artifacts::write_sql_file(p, sql).is_ok())
                    {
                        done.insert(id);
                    }
                }
                done
            })
        });
        for _ in 0..threads.min(queue.len().max(1)) {
            // a connection of its own per worker where the database has
            // one to give (DuckDB does); else the workers share this one
            let conn = db.connection().unwrap_or_else(|| db.clone());
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
                    && crate::kinds::of(node.resource_type).starts()
                {
                    start_line(
                        node,
                        index,
                        total,
                        &started_at.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                    );
                }
                let run = crate::kinds::Run {
                    m,
                    db: &conn,
                    resolver: &resolver,
                    opts,
                };
                let r = if opts.command == Command::Clone {
                    // `clone` makes each node a view of the state's relation,
                    // whatever its kind
                    let built = crate::clone::build(m, node, &conn, &resolver, opts);
                    crate::kinds::result_of(node, started_at, t0, built)
                } else {
                    crate::kinds::of(node.resource_type).execute(&run, node)
                };
                let _ = tx.send((r, index));
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
                        test: is_test_node(m, node),
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
                if stream && writers.get(&file_of(node)) == Some(&1) {
                    let files: Vec<(PathBuf, String)> =
                        crate::artifacts::sql_files(&target, node, &r)
                            .into_iter()
                            .map(|(p, sql)| (p, sql.to_string()))
                            .collect();
                    if !files.is_empty() {
                        let _ = file_tx.send((id.clone(), files));
                    }
                }
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
        drop(file_tx);
        if let Some(w) = writer {
            written = w.join().unwrap_or_default();
        }
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
    Ok((results, written))
}

/// A whole run dispatched on a recording database: the schemas first,
/// each node after what it reads, a failure skipping what depends on it,
/// without DuckDB.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::{Call, Recording};

    /// jaffle's models run on `db`, one thread: their statuses by name,
    /// and every call the database received.
    fn run_models(db: Recording) -> (Vec<(String, Status)>, Vec<Call>) {
        let (_tmp, l) = crate::fixture_copy("jaffle", Command::Run);
        let m = &l.manifest;
        let models: BTreeSet<String> = m
            .nodes
            .values()
            .filter(|n| n.resource_type == crate::manifest::ResourceType::Model)
            .map(|n| n.unique_id.clone())
            .collect();
        let db = Arc::new(db);
        let shared: Arc<dyn Database> = db.clone();
        let results = run(
            m,
            &l.dag,
            &models,
            &shared,
            &RunOptions::quiet(Command::Run, 1),
        )
        .unwrap();
        let mut statuses: Vec<(String, Status)> = results
            .iter()
            .map(|r| (m.nodes[&r.unique_id].name.clone(), r.status))
            .collect();
        statuses.sort_by(|a, b| a.0.cmp(&b.0));
        (statuses, db.calls())
    }

    /// Where the first statement containing `needle` was sent.
    fn position(calls: &[Call], needle: &str) -> usize {
        calls
            .iter()
            .position(|c| match c {
                Call::Execute(s) => s.contains(needle),
                Call::Transaction(t) => t.iter().any(|s| s.contains(needle)),
                _ => false,
            })
            .unwrap_or_else(|| panic!("no statement with {needle:?} in {calls:#?}"))
    }

    #[test]
    fn schemas_first_then_each_model_after_what_it_reads() {
        let (statuses, calls) = run_models(Recording::new());
        assert_eq!(
            statuses,
            [
                ("customers".to_string(), Status::Success),
                ("orders".into(), Status::Success),
                ("stg_customers".into(), Status::Success),
                ("stg_orders".into(), Status::Success),
                ("stg_payments".into(), Status::Success),
            ],
            "the ephemeral customer_orders has no result of its own"
        );
        let schemas: Vec<&Call> = calls
            .iter()
            .take_while(|c| matches!(c, Call::Execute(s) if s.starts_with("CREATE SCHEMA")))
            .collect();
        assert_eq!(
            schemas,
            [
                &Call::Execute("CREATE SCHEMA IF NOT EXISTS \"jaffle\".\"main\"".into()),
                &Call::Execute("CREATE SCHEMA IF NOT EXISTS \"jaffle\".\"main_analytics\"".into()),
            ]
        );
        let view =
            |name: &str| position(&calls, &format!("view \"jaffle\".\"main\".\"{name}\" as"));
        let orders = position(&calls, "\"orders__dbt_tmp\" as");
        let customers = position(&calls, "\"customers__dbt_tmp\" as");
        assert!(view("stg_orders") < orders && view("stg_payments") < orders);
        assert!(orders < customers && view("stg_customers") < customers);
    }

    #[test]
    fn a_failing_model_skips_what_reads_it_and_nothing_else() {
        let db = Recording::new().failing(
            "create or replace view \"jaffle\".\"main\".\"stg_orders\"",
            "Binder Error: Referenced column \"id\" not found",
        );
        let (statuses, calls) = run_models(db);
        assert_eq!(
            statuses,
            [
                ("customers".to_string(), Status::Skipped),
                ("orders".into(), Status::Skipped),
                ("stg_customers".into(), Status::Success),
                ("stg_orders".into(), Status::Error),
                ("stg_payments".into(), Status::Success),
            ]
        );
        // nothing was sent for the skipped models
        assert!(
            !format!("{calls:?}").contains("orders__dbt_tmp"),
            "{calls:#?}"
        );
    }
}
