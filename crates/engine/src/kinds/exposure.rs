//! Exposures: `exposures:` of properties files. They run nothing; `build`
//! lists them (NO-OP) once what they depend on is built, as dbt 1.10 does.

use super::{Discover, ResourceKind, Run};
use crate::error::Result;
use crate::manifest::{Manifest, Node, ResourceType};
use crate::results::{Command, NodeResult, Status};

pub(crate) struct Exposure;

impl ResourceKind for Exposure {
    fn resource_type(&self) -> ResourceType {
        ResourceType::Exposure
    }

    /// Only `build`, which runs every kind.
    fn commands(&self) -> &'static [Command] {
        &[]
    }

    /// Nothing here: an exposure becomes a node when parse links the
    /// properties' resources (`Manifest::link_resources`), because its
    /// `depends_on` names nodes of every other kind.
    fn discover(&self, _cx: &mut Discover<'_>) -> Result<()> {
        Ok(())
    }

    fn execute(&self, _run: &Run<'_>, node: &Node) -> NodeResult {
        let mut r = NodeResult::skipped(node.unique_id.clone(), "NO-OP".into());
        r.status = Status::NoOp;
        r
    }

    fn describe(&self, node: &Node) -> String {
        format!("exposure {}", node.name)
    }

    fn result_event(&self) -> (&'static str, &'static str) {
        ("LogNodeNoOpResult", "Q019")
    }

    fn starts(&self) -> bool {
        false
    }

    fn writes_schema(&self, _m: &Manifest, _node: &Node) -> bool {
        false
    }
}
