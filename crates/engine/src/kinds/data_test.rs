//! Data tests: generic tests from properties files and singular tests
//! from the test paths (found and run by `crate::data_tests`).

use std::collections::HashSet;

use super::{Discover, Edge, ResourceKind, Run};
use crate::error::Result;
use crate::graph::Dag;
use crate::manifest::{Manifest, Node, ResourceType};
use crate::results::{Command, NodeResult};

pub(crate) struct DataTest;

impl ResourceKind for DataTest {
    fn resource_type(&self) -> ResourceType {
        ResourceType::Test
    }

    fn commands(&self) -> &'static [Command] {
        &[Command::Test, Command::Compile]
    }

    fn discover(&self, cx: &mut Discover<'_>) -> Result<()> {
        let target = &cx.info.target;
        // a generic test's `config:` renders now, as dbt renders
        // properties files: `target`, `var` (this package's), `env_var`...
        let props_env = crate::project::FileEnv::new(&cx.pinfo.vars, Some(target));
        let found = crate::data_tests::discover(
            &crate::data_tests::DiscoverCtx {
                project: &cx.pinfo.project,
                props_env: &props_env,
                target_db: &target.database,
                target_schema: &target.schema,
                macro_names: cx.macro_names,
                parse_resolver: cx.parse_resolver.clone(),
                full_refresh: cx.info.full_refresh,
            },
            cx.env,
            cx.props,
            cx.nodes,
            cx.sources,
            cx.errors,
        )?;
        cx.tests.extend(found);
        Ok(())
    }

    fn execute(&self, run: &Run<'_>, node: &Node) -> NodeResult {
        crate::data_tests::run_test(run.m, node, run.db, run.resolver, run.opts)
    }

    fn describe(&self, node: &Node) -> String {
        format!("test {}", node.name)
    }

    fn test_name(&self, _m: &Manifest, node: &Node) -> Option<String> {
        Some(node.name.clone())
    }

    fn result_event(&self) -> (&'static str, &'static str) {
        ("LogTestResult", "Q007")
    }

    /// Only a test that stores its failures writes a table.
    fn writes_schema(&self, m: &Manifest, node: &Node) -> bool {
        crate::data_tests::TestConfig::of(&node.config).stores(m.info.store_failures)
    }

    fn build_edges(&self, m: &Manifest, dag: &Dag, queue: &HashSet<&String>) -> Vec<Edge> {
        crate::data_tests::build_edges(m, dag, queue)
    }

    fn compiled_file(&self, node: &Node) -> String {
        crate::data_tests::sql_path(node)
    }
}
