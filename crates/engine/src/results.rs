//! What a run is asked to do and what it gives back: the command, the
//! caller's options, each node's result (with a microbatch model's
//! batches) and how a node's error reads. Every kind of node (models,
//! seeds, snapshots, tests, unit tests, microbatch models, clones) builds
//! its result from these, and `execute`, which dispatches to the kinds,
//! sits above them all; keeping these types out of `execute` is what lets
//! a kind not import its dispatcher.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::database::Database;
use crate::error::{Error, Result};
use crate::jinja::Resolver;
use crate::manifest::{Manifest, Node};
use crate::materialize;
use crate::pydatetime::parse_time;

/// Which command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Run,
    Seed,
    Build,
    Compile,
    Snapshot,
    Test,
    RunOperation,
    /// `clone --state DIR`: a view of the state's relation for each
    /// selected model, seed and snapshot (see [`crate::clone`]).
    Clone,
}

impl Command {
    /// The command a run_results.json `args.which` names.
    pub fn from_which(which: &str) -> Option<Command> {
        Some(match which {
            "run" => Command::Run,
            "seed" => Command::Seed,
            "build" => Command::Build,
            "compile" => Command::Compile,
            "snapshot" => Command::Snapshot,
            "test" => Command::Test,
            "run-operation" => Command::RunOperation,
            "clone" => Command::Clone,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Seed => "seed",
            Command::Build => "build",
            Command::Compile => "compile",
            Command::Snapshot => "snapshot",
            Command::Test => "test",
            Command::RunOperation => "run-operation",
            Command::Clone => "clone",
        }
    }
}

/// A node's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Success,
    Error,
    Skipped,
    /// A data test found nothing (or less than its thresholds).
    Pass,
    /// A data test of severity error crossed `error_if`.
    Fail,
    /// A data test crossed `warn_if` (or failed with severity warn).
    Warn,
    /// Nothing to run (an exposure in `build`): dbt's `no-op`.
    #[serde(rename = "no-op")]
    NoOp,
    /// A microbatch model some of whose batches failed.
    #[serde(rename = "partial success")]
    PartialSuccess,
}

impl Status {
    /// Counts as an error for the summary and the exit code.
    pub fn is_failure(&self) -> bool {
        matches!(self, Status::Error | Status::Fail | Status::PartialSuccess)
    }
}

/// One node's result, as run_results.json records it.
#[derive(Debug, Clone)]
pub struct NodeResult {
    pub unique_id: String,
    pub status: Status,
    pub message: String,
    pub compiled_sql: Option<String>,
    pub run_sql: Option<String>,
    pub started_at: DateTime<Utc>,
    pub compiled_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub execution_time: f64,
    pub rows_affected: Option<usize>,
    /// A data test's failing-row count (`failures` in run_results.json).
    pub failures: Option<i64>,
    /// A microbatch model's batches (`batch_results` in run_results.json).
    pub batch_results: Option<BatchResults>,
}

impl NodeResult {
    /// A node that did not run (an upstream failure, or `--fail-fast`).
    pub(crate) fn skipped(unique_id: String, message: String) -> Self {
        let now = Utc::now();
        NodeResult {
            unique_id,
            status: Status::Skipped,
            message,
            compiled_sql: None,
            run_sql: None,
            started_at: now,
            compiled_at: now,
            completed_at: now,
            execution_time: 0.0,
            rows_affected: None,
            failures: None,
            batch_results: None,
        }
    }
}

/// What the caller asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub command: Command,
    pub threads: usize,
    pub fail_fast: bool,
    pub full_refresh: bool,
    /// Print one line per node.
    pub verbose_lines: bool,
    /// `clone`: the state's relation of each node that has one.
    pub clone_from: HashMap<String, crate::relation::Relation>,
    /// `--event-time-start`/`--event-time-end`: the window microbatch
    /// models build.
    pub event_time_start: Option<DateTime<Utc>>,
    pub event_time_end: Option<DateTime<Utc>>,
    /// When the invocation started: "now" for microbatch models (a retry
    /// passes the original run's, so it redoes the same batches).
    pub invoked_at: DateTime<Utc>,
    /// `retry`: each microbatch model's batches in the run retried.
    pub previous_batches: HashMap<String, BatchResults>,
}

impl RunOptions {
    /// `command` on `threads`, quiet (no line per node), invoked now,
    /// with none of the flags set: what an embedding caller (`docs
    /// generate`, a test) starts from, overriding the rest by name.
    pub fn quiet(command: Command, threads: usize) -> RunOptions {
        RunOptions {
            command,
            threads,
            fail_fast: false,
            full_refresh: false,
            verbose_lines: false,
            clone_from: HashMap::new(),
            event_time_start: None,
            event_time_end: None,
            invoked_at: Utc::now(),
            previous_batches: HashMap::new(),
        }
    }
}

/// A failed node's message: DuckDB's own words under dbt's "Runtime Error
/// in model x (file)" heading; the engine's errors (which already name the
/// node) as they are. When DuckDB's error carries a position inside the
/// model's compiled SQL, it is shown as the model file's line and column
/// with the source line and a caret (`crate::sourcemap`), in place of
/// DuckDB's excerpt of the SQL the engine ran.
pub(crate) fn node_error(node: &Node, e: &Error, compiled_sql: Option<&str>) -> String {
    let message = match e {
        Error::Database(d) => d.to_string(),
        Error::Refused(d) => d.to_string(),
        other => return other.to_string(),
    };
    let located = compiled_sql.and_then(|sql| {
        crate::sourcemap::locate(&node.original_file_path, &node.raw_code, sql, &message)
    });
    format!(
        "Runtime Error in {} {} ({})\n  {}",
        node.resource_type.as_str(),
        node.name,
        node.original_file_path,
        located.unwrap_or(message).trim_end().replace('\n', "\n  ")
    )
}

/// Whether a node's error message says DuckDB refused the model's SQL
/// itself (see `sourcemap::is_sql_error`): a final error, no retry fixes it.
pub fn is_sql_error_message(message: &str) -> bool {
    message.starts_with("Runtime Error in ")
        && message.lines().nth(1).is_some_and(|l| {
            let l = l.trim_start();
            // past a `file:line:col: ` prefix
            let gist = match l.find(": ") {
                Some(i) if l[..i].matches(':').count() == 2 => &l[i + 2..],
                _ => l,
            };
            crate::sourcemap::is_sql_error(gist)
        })
}

/// A node's compiled SQL, its outcome (with rows affected) and when compilation ended.
pub(crate) type Built = (
    Option<String>,
    Result<(materialize::Outcome, Option<usize>)>,
    DateTime<Utc>,
);

/// How to build one SQL node (`kinds::build_node`), handed to the kinds that
/// build nodes of their own (a microbatch model builds each batch as a
/// node), so that they need not import the dispatcher that calls them.
pub(crate) type BuildNode<'a> = &'a (dyn Fn(&Manifest, &Node, &Arc<dyn Database>, &Arc<dyn Resolver>, &RunOptions) -> Built
         + Sync);

/// Where compiled and run SQL go.
pub fn target_dir(m: &Manifest) -> PathBuf {
    target_dir_of(&m.info.project)
}

/// A project's target folder (`target-path`, relative to its root).
pub fn target_dir_of(project: &crate::project::Project) -> PathBuf {
    project.root.join(&project.target_path)
}

/// A batch: `[start, end)` in UTC.
pub type Batch = (DateTime<Utc>, DateTime<Utc>);

/// `batch_results` of run_results.json: which batches succeeded and failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchResults {
    pub successful: Vec<Batch>,
    pub failed: Vec<Batch>,
}

impl BatchResults {
    /// As dbt writes it: each batch `[start, end]` in ISO 8601 with `+00:00`.
    pub fn to_json(&self) -> serde_json::Value {
        let list =
            |v: &[Batch]| -> Vec<[String; 2]> { v.iter().map(|(s, e)| [iso(s), iso(e)]).collect() };
        serde_json::json!({"successful": list(&self.successful), "failed": list(&self.failed)})
    }

    /// The batches of a `batch_results` object (for `retry`).
    pub fn from_json(v: &serde_json::Value) -> BatchResults {
        let list = |k: &str| -> Vec<Batch> {
            v.get(k)
                .and_then(|l| l.as_array())
                .into_iter()
                .flatten()
                .filter_map(|pair| {
                    let s = parse_time(pair.get(0)?.as_str()?)?;
                    let e = parse_time(pair.get(1)?.as_str()?)?;
                    Some((s, e))
                })
                .collect()
        };
        BatchResults {
            successful: list("successful"),
            failed: list("failed"),
        }
    }
}

fn iso(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}
