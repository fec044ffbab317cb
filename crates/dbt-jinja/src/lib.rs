//! The second phase of a dbt project: its Jinja. The minijinja environment
//! with dbt's context for each phase (parse, compile, run), the built-in
//! `dbt` macro namespace and `adapter.dispatch`, the Python stand-ins dbt
//! templates expect (`modules.datetime`, `tojson`, `zip`, …), relations and
//! their quoting, and dbt_project.yml / profiles.yml rendered (`project`).
//!
//! Below it is `dbt_project` (files read, no Jinja); above it the engine
//! (manifest, DAG, execution). The database is reached only through the
//! [`database::Database`] trait, so this crate never links DuckDB and its
//! tests run without one ([`database::Recording`]).
//!
//! Modules, lowest first (each imports only from the rows above it):
//! `blocks`, `render_error`, `pyargs`, `logfmt`, `error` → `relation`,
//! `pydatetime`, `database` → `extras` → `builtins` → `macros`, `project`
//! → `jinja`.

pub mod blocks;
pub mod builtins;
pub mod database;
pub mod error;
pub mod extras;
pub mod jinja;
pub mod logfmt;
pub mod macros;
pub mod phase;
pub mod project;
pub mod pyargs;
pub mod pydatetime;
pub mod relation;
pub mod render_error;
#[cfg(test)]
mod testing;

pub use dbt_project::{config, yaml};
pub use error::{Error, Result};
