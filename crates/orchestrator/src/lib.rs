//! Tarmac's orchestrator: jobs from `tarmac.toml` run on schedules, with
//! retries, a run history in SQLite, alerts and a web UI.
//!
//! Data flow: `config` (jobs) ─▶ `scheduler` (when) ─▶ `runner` (child
//! processes, locks, retries) ─▶ `history` (runs, steps, logs) ─▶ `alerts`
//! (outbox, SMTP, webhook) and `ui` (axum, reads the history).

pub mod alerts;
pub mod config;
pub mod cron;
pub mod duration;
mod error;
pub mod history;
pub mod locks;
pub mod retry;
pub mod runner;
pub mod scheduler;
pub mod ui;

pub use config::{parse as parse_config, Job, OrchestratorConfig};
pub use error::{Error, Result};
