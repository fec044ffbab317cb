//! Snapshots: `{% snapshot %}` blocks and YAML-defined snapshots (found by
//! `crate::snapshot`), built as SQL nodes whose materialization is
//! `snapshot`.

use std::time::Instant;

use chrono::Utc;

use super::{result_of, Discover, ResourceKind, Run};
use crate::error::Result;
use crate::manifest::{Node, ResourceType};
use crate::results::{Command, NodeResult};

pub(crate) struct Snapshot;

impl ResourceKind for Snapshot {
    fn resource_type(&self) -> ResourceType {
        ResourceType::Snapshot
    }

    fn commands(&self) -> &'static [Command] {
        &[Command::Snapshot, Command::Compile, Command::Clone]
    }

    fn discover(&self, cx: &mut Discover<'_>) -> Result<()> {
        crate::snapshot::discover(
            cx.pinfo,
            cx.props,
            cx.env,
            cx.parse_resolver,
            cx.nodes,
            cx.errors,
        )
    }

    fn execute(&self, run: &Run<'_>, node: &Node) -> NodeResult {
        let (started_at, t0) = (Utc::now(), Instant::now());
        let built = super::build_node(run.m, node, run.db, run.resolver, run.opts);
        result_of(node, started_at, t0, built)
    }

    fn describe(&self, node: &Node) -> String {
        format!("snapshot {}.{}", node.schema, node.alias)
    }

    fn result_event(&self) -> (&'static str, &'static str) {
        ("LogSnapshotResult", "Q015")
    }

    fn ok_words(&self, node: &Node) -> String {
        format!("snapshotted {}.{}", node.schema, node.alias)
    }

    fn error_words(&self, node: &Node) -> String {
        format!("snapshotting {}", self.describe(node))
    }
}
