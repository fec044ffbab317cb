//! Unit tests: `unit_tests:` entries of properties files (found and run by
//! `crate::unit_tests`).

use std::collections::HashSet;

use super::{Discover, Edge, ResourceKind, Run};
use crate::error::Result;
use crate::graph::Dag;
use crate::manifest::{Manifest, Node, ResourceType};
use crate::results::{Command, NodeResult};

pub(crate) struct UnitTests;

impl ResourceKind for UnitTests {
    fn resource_type(&self) -> ResourceType {
        ResourceType::Unit
    }

    fn commands(&self) -> &'static [Command] {
        &[Command::Test]
    }

    fn discover(&self, cx: &mut Discover<'_>) -> Result<()> {
        let found = crate::unit_tests::discover(
            &cx.pinfo.project,
            &cx.props.unit_tests,
            cx.nodes,
            cx.errors,
        );
        cx.unit_tests.extend(found);
        Ok(())
    }

    fn execute(&self, run: &Run<'_>, node: &Node) -> NodeResult {
        crate::unit_tests::run_unit_test(run.m, node, run.db, run.opts)
    }

    fn describe(&self, node: &Node) -> String {
        format!("unit_test {}", node.name)
    }

    /// `model::test`, as dbt names a unit test in its lines.
    fn test_name(&self, m: &Manifest, node: &Node) -> Option<String> {
        Some(crate::unit_tests::display_name(m, node))
    }

    fn result_event(&self) -> (&'static str, &'static str) {
        ("LogTestResult", "Q007")
    }

    /// A unit test reads fixtures only; it writes nothing.
    fn writes_schema(&self, _m: &Manifest, _node: &Node) -> bool {
        false
    }

    fn build_edges(&self, m: &Manifest, _dag: &Dag, queue: &HashSet<&String>) -> Vec<Edge> {
        crate::unit_tests::build_edges(m, queue)
    }

    fn compiled_file(&self, node: &Node) -> String {
        crate::data_tests::sql_path(node)
    }
}
