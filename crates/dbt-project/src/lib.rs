//! A dbt project's files, read: the first phase of the engine.
//!
//! The engine is split by phase, as dbt Labs' Rust engine and DataFusion
//! split theirs (see ARCHITECTURE.md, "The engine by phase"): this crate
//! holds what needs neither Jinja nor a database (YAML with `file:line`
//! errors, dbt_project.yml's hierarchical config trees and their merge
//! rules, the properties-file resources that are not SQL nodes). Because it
//! links neither minijinja nor DuckDB, `cargo test -p dbt-project` builds
//! in seconds; `crates/testkit/tests/crate_deps.rs` keeps it that way.

pub mod config;
pub mod error;
pub mod packages_file;
pub mod profile_file;
pub mod project_file;
pub mod properties_file;
pub mod quoting;
pub mod resources;
pub mod selectors_file;
pub mod yaml;

pub use error::{Error, Problem, Result};

/// The dbt version whose behaviour Tarmac follows, and the one it is
/// compared against (the dbt-core pinned in bench/dbt-requirements.txt):
/// what `require-dbt-version` is checked against, `dbt_version` in Jinja and
/// the artifacts' metadata. Tests hold it equal to the pin and to the
/// comparison dbt's `dbt --version`, so the claim moves with the yardstick.
pub const DBT_VERSION: &str = "1.10.23";
