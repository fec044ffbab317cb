//! `tarmac sql`: parses the arguments and hands over to the `shell` crate.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;

use crate::config::Config;

#[derive(Args)]
pub struct SqlArgs {
    /// Database file (default: the warehouse, [warehouse] path in tarmac.toml;
    /// `:memory:` for an empty in-memory database).
    #[arg(value_name = "DB")]
    db: Option<PathBuf>,
    /// Run SQL (or a dot command) and exit instead of reading standard
    /// input; may be repeated.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    command: Vec<String>,
    /// Output mode: duckbox, box, table, csv, json, jsonl, markdown, line
    /// (default: duckbox on a terminal, csv when piped).
    #[arg(long, value_parser = |s: &str| s.parse::<shell::Mode>())]
    mode: Option<shell::Mode>,
    /// Seconds to wait while another process is writing the warehouse
    /// before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    wait: f64,
    /// Open the database read-only.
    #[arg(long)]
    read_only: bool,
    /// Create the database file if it does not exist.
    #[arg(long)]
    create: bool,
}

pub async fn run(config: &Config, args: SqlArgs) -> Result<ExitCode> {
    if !(args.wait.is_finite() && args.wait >= 0.0) {
        bail!("--wait must be zero or a positive number of seconds");
    }
    let database = match args.db {
        Some(p) if p.as_os_str() == ":memory:" => None,
        Some(p) => Some(p),
        None => Some(config.warehouse.clone()),
    };
    // `.models` reads the dbt artifacts (target/) of the project that
    // `tarmac build` builds: [warehouse] project, else the current folder.
    let project_dir = config
        .default_project()
        .unwrap_or_else(|| PathBuf::from("."));
    let options = shell::Options {
        database,
        create: args.create,
        read_only: args.read_only,
        commands: args.command,
        mode: args.mode,
        wait: Duration::from_secs_f64(args.wait),
        project_dir,
        history_file: None,
    };
    let code = tokio::task::block_in_place(|| shell::run(options))?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
