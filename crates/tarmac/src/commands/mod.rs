//! One module per command; each parses nothing and decides little: it turns
//! the config and arguments into calls on the library crates and prints.

pub mod dbt;
pub mod docs;
pub mod ingest;
pub mod init;
pub mod lake;
pub mod mock_api;
pub mod orchestrate;
pub mod sql;
pub mod up;
