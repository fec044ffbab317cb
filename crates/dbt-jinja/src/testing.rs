//! What the Jinja layer's unit tests share: a run of a one-line project
//! and a resolver that knows no names.

use std::sync::Arc;

use crate::jinja::{Resolver, RunInfo};
use crate::project::{Project, Target};
use crate::relation::Relation;

/// A `run` of the project `p` (a `dbt_project.yml` of one line) on the
/// in-memory target. The folder lives as long as the returned guard.
pub(crate) fn run_info() -> (tempfile::TempDir, RunInfo) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("dbt_project.yml"), "name: p\n").unwrap();
    let project = Project::load(d.path(), &Default::default(), None).unwrap();
    let info = RunInfo {
        project: Arc::new(project),
        target: Target::in_memory(),
        invocation_id: String::new(),
        run_started_at: chrono::Utc::now(),
        full_refresh: false,
        vars: Default::default(),
        which: "run".into(),
        packages: vec![],
        store_failures: false,
    };
    (d, info)
}

/// A resolver for renders that name no model or source: each `ref()` and
/// `source()` fails with the name asked for.
#[derive(Debug)]
pub(crate) struct NoRefs;

impl Resolver for NoRefs {
    fn resolve_ref(&self, _: Option<&str>, n: &str) -> Result<(Relation, Option<String>), String> {
        Err(n.to_string())
    }
    fn resolve_source(&self, s: &str, _: &str) -> Result<Relation, String> {
        Err(s.to_string())
    }
}

/// The parse's resolver: every model in the target's schema `s`, every
/// source in its schema, as the engine's parse places them.
#[derive(Debug)]
pub(crate) struct Parse;

impl Resolver for Parse {
    fn resolve_ref(&self, _: Option<&str>, n: &str) -> Result<(Relation, Option<String>), String> {
        Ok((Relation::new("d", "s", n), None))
    }
    fn resolve_source(&self, s: &str, t: &str) -> Result<Relation, String> {
        Ok(Relation::new("d", s, t))
    }
}
