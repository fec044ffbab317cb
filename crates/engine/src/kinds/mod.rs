//! The kinds of node, each one implementation of [`ResourceKind`]: models,
//! seeds, snapshots, data tests, unit tests and exposures.
//!
//! The phases iterate over [`all`] (parse, to discover a project's nodes)
//! or look a node's kind up with [`of`] (a run, to execute one node, word
//! its console line and order `build`; artifacts, to place its compiled
//! SQL). They never name a kind, so a new kind is one new file here and one
//! line in [`all`], not a match arm in every phase. What a kind does lives
//! in its own module below (`seed`, `snapshot`, `data_tests`, `unit_tests`,
//! `microbatch`, `materialize`); the files here only adapt each to the
//! trait, which is why this module sits just above all of them and just
//! below `parse` and `execute`.

mod build;
mod data_test;
mod exposure;
mod model;
mod seed;
mod snapshot;
mod unit_test;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;
use minijinja::Environment;

use crate::database::Database;
use crate::error::Result;
use crate::graph::Dag;
use crate::jinja::{Resolver, RunInfo};
use crate::manifest::{Manifest, Node, ResourceType, Source, TestMeta, UnitTest};
use crate::partial;
use crate::properties::Properties;
use crate::results::{node_error, Built, Command, NodeResult, RunOptions, Status};

pub(crate) use build::build_node;

/// One kind of node, through every phase: discover (parse), execute (a
/// run), and what the run's log and artifacts say of it.
pub(crate) trait ResourceKind: Sync {
    /// The kind's tag on its nodes.
    fn resource_type(&self) -> ResourceType;

    /// The commands that run nodes of this kind (`build` runs every kind).
    fn commands(&self) -> &'static [Command];

    /// Parse: add this kind's nodes (and metadata) of one project.
    fn discover(&self, cx: &mut Discover<'_>) -> Result<()>;

    /// A run: build or check one node on the worker's connection.
    fn execute(&self, run: &Run<'_>, node: &Node) -> NodeResult;

    /// How dbt's log names a node of this kind: `seed file s.t`, `sql
    /// table model s.t`, `test not_null_t_id`.
    fn describe(&self, node: &Node) -> String;

    /// The name of a test in its PASS/FAIL line (a unit test's is
    /// `model::test`); `None` for a kind that is not a test, whose lines
    /// speak of the relation it builds.
    fn test_name(&self, _m: &Manifest, _node: &Node) -> Option<String> {
        None
    }

    /// dbt's structured-log event for the node's result line, and its code.
    fn result_event(&self) -> (&'static str, &'static str) {
        ("LogModelResult", "Q012")
    }

    /// What follows `OK ` in the result line (`created sql view model s.v`).
    fn ok_words(&self, node: &Node) -> String {
        format!("created {}", self.describe(node))
    }

    /// What follows `ERROR ` in the result line.
    fn error_words(&self, node: &Node) -> String {
        format!("creating {}", self.describe(node))
    }

    /// Whether the run prints a START line for the node (dbt prints none
    /// for a node that runs nothing).
    fn starts(&self) -> bool {
        true
    }

    /// Whether running the node writes into its schema, which the run then
    /// creates first (a test does only when it stores its failures).
    fn writes_schema(&self, _m: &Manifest, _node: &Node) -> bool {
        true
    }

    /// `build` only: extra (before, after) edges among the queued nodes,
    /// beyond the DAG's (a model waits for the tests of what it reads).
    fn build_edges(&self, _m: &Manifest, _dag: &Dag, _queue: &HashSet<&String>) -> Vec<Edge> {
        Vec::new()
    }

    /// The file under `target/compiled/<package>/` its compiled SQL goes
    /// to. A YAML-defined node compiles to `<file.yml>/<name>.sql`, as in
    /// dbt.
    fn compiled_file(&self, node: &Node) -> String {
        if node.original_file_path.ends_with(".yml") || node.original_file_path.ends_with(".yaml") {
            format!("{}/{}.sql", node.original_file_path, node.name)
        } else {
            node.original_file_path.clone()
        }
    }
}

/// An extra `build` edge: the first node runs before the second.
pub(crate) type Edge = (String, String);

/// Every kind, in the order parse discovers them: models before the
/// snapshots and seeds whose names they may share, and the tests last, as
/// they attach to the nodes before them.
pub(crate) fn all() -> &'static [&'static dyn ResourceKind] {
    &[
        &model::Model,
        &snapshot::Snapshot,
        &seed::Seed,
        &data_test::DataTest,
        &unit_test::UnitTests,
        &exposure::Exposure,
    ]
}

/// The kind of nodes tagged `t`.
pub(crate) fn of(t: ResourceType) -> &'static dyn ResourceKind {
    all()
        .iter()
        .copied()
        .find(|k| k.resource_type() == t)
        .unwrap_or(&model::Model)
}

/// Whether `command` runs nodes of kind `t`.
pub fn runs_in(command: Command, t: ResourceType) -> bool {
    command == Command::Build || of(t).commands().contains(&command)
}

/// What a kind's discovery reads and fills, for one project of the run
/// (the root, then each package).
pub(crate) struct Discover<'a> {
    /// The root project's run (target, `--full-refresh`).
    pub info: &'a RunInfo,
    /// This project's run: its project, vars and target.
    pub pinfo: &'a RunInfo,
    /// This project's properties files.
    pub props: &'a Properties,
    /// The Jinja environment: generic tests and snapshot blocks add their
    /// macros to it.
    pub env: &'a mut Environment<'static>,
    pub macro_names: &'a [String],
    /// `ref()`/`source()` as a parse render answers them.
    pub parse_resolver: &'a Arc<dyn Resolver>,
    /// This project's sources (generic tests attach to them).
    pub sources: &'a IndexMap<String, Source>,
    /// The partial parse state: what the last parse left (`prev`), what
    /// this one keeps, and how many files it parsed again.
    pub prev: Option<&'a partial::State>,
    pub state: &'a mut partial::State,
    pub reparsed: &'a mut usize,
    pub nodes: &'a mut IndexMap<String, Node>,
    pub tests: &'a mut IndexMap<String, TestMeta>,
    pub unit_tests: &'a mut IndexMap<String, UnitTest>,
    /// The nodes' own errors, all reported at the end of the parse.
    pub errors: &'a mut Vec<String>,
}

impl Discover<'_> {
    /// A file's key in the partial parse state: its path, prefixed with
    /// `pkg://` in a package (their paths may repeat the root's).
    pub fn state_key(&self, original_file_path: &str) -> String {
        state_key_in(
            &self.pinfo.project.name,
            &self.info.project.name,
            original_file_path,
        )
    }
}

/// [`Discover::state_key`] for a file of package `package` when the root
/// project is `root`.
pub(crate) fn state_key_in(package: &str, root: &str, original_file_path: &str) -> String {
    if package == root {
        original_file_path.to_string()
    } else {
        format!("{package}://{original_file_path}")
    }
}

/// What one node's execution is handed: the manifest, the worker's own
/// connection, the run's resolver and options.
pub(crate) struct Run<'a> {
    pub m: &'a Manifest,
    pub db: &'a Arc<dyn Database>,
    pub resolver: &'a Arc<dyn Resolver>,
    pub opts: &'a RunOptions,
}

/// The result of a node built through [`build_node`] (or the `clone`
/// command's build): success with its message and rows, or the error as
/// dbt words it.
pub(crate) fn result_of(
    node: &Node,
    started_at: DateTime<Utc>,
    t0: Instant,
    built: Built,
) -> NodeResult {
    let (compiled_sql, r, compiled_at) = built;
    let (status, message, run_sql, rows) = match r {
        Ok((o, rows)) => (Status::Success, o.message, Some(o.run_sql), rows),
        Err(e) => (
            Status::Error,
            node_error(node, &e, compiled_sql.as_deref()),
            None,
            None,
        ),
    };
    NodeResult {
        unique_id: node.unique_id.clone(),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_type_has_exactly_one_kind() {
        for t in [
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Snapshot,
            ResourceType::Test,
            ResourceType::Unit,
            ResourceType::Exposure,
        ] {
            let n = all().iter().filter(|k| k.resource_type() == t).count();
            assert_eq!(n, 1, "{t:?} has {n} kinds");
            assert_eq!(of(t).resource_type(), t);
        }
    }

    #[test]
    fn commands_run_the_kinds_dbt_runs() {
        use ResourceType as T;
        let runs = |c: Command| -> Vec<&str> {
            [
                T::Model,
                T::Seed,
                T::Snapshot,
                T::Test,
                T::Unit,
                T::Exposure,
            ]
            .into_iter()
            .filter(|t| runs_in(c, *t))
            .map(|t| t.as_str())
            .collect()
        };
        assert_eq!(runs(Command::Run), ["model"]);
        assert_eq!(runs(Command::Seed), ["seed"]);
        assert_eq!(runs(Command::Snapshot), ["snapshot"]);
        assert_eq!(runs(Command::Test), ["test", "unit_test"]);
        assert_eq!(runs(Command::Compile), ["model", "snapshot", "test"]);
        assert_eq!(runs(Command::Clone), ["model", "seed", "snapshot"]);
        assert_eq!(
            runs(Command::Build),
            ["model", "seed", "snapshot", "test", "unit_test", "exposure"]
        );
        assert!(runs(Command::RunOperation).is_empty());
    }
}
