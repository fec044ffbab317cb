//! `tarmac orchestrate`, `tarmac runs`, `tarmac run-job`, `tarmac backfill`:
//! argument parsing and printing around the `orchestrator` crate.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use clap::Args;
use orchestrator::history::{History, RunFilter, RunRow};
use orchestrator::runner::{Env, Outcome};
use orchestrator::scheduler::Orchestrator;
use orchestrator::OrchestratorConfig;

use crate::config::Config;

#[derive(Args)]
pub struct OrchestrateArgs {
    /// Address of the web UI. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Token required by every UI request (header `Authorization: Bearer T`,
    /// or `?token=T` once, which sets a cookie). Prefer TARMAC_UI_TOKEN.
    #[arg(long, env = "TARMAC_UI_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Record schedule ticks as skipped runs without running anything.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
pub struct RunsArgs {
    /// Only this job's runs.
    #[arg(long)]
    job: Option<String>,
    /// Only runs with this status (queued, running, success, failed, interrupted, skipped).
    #[arg(long)]
    status: Option<String>,
    /// How many (newest first).
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RunJobArgs {
    /// The job (a `[jobs.NAME]` of tarmac.toml).
    job: String,
    /// Start at this step (1-based), e.g. to resume after a failure.
    #[arg(long, default_value_t = 1)]
    from_step: usize,
    /// Daily partition (YYYY-MM-DD) for `{{ partition }}` / `{ds}` in steps.
    #[arg(long)]
    partition: Option<NaiveDate>,
}

#[derive(Args)]
pub struct BackfillArgs {
    job: String,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    from: NaiveDate,
    /// Last day, inclusive.
    #[arg(long)]
    to: NaiveDate,
    /// Run days whose latest run already succeeded too.
    #[arg(long)]
    force: bool,
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    }
}

/// The jobs and the environment steps run in.
pub fn load(config: &Config, echo: bool) -> Result<(OrchestratorConfig, Env)> {
    let file = config
        .source
        .clone()
        .unwrap_or_else(|| PathBuf::from(crate::config::FILE_NAME));
    let base = absolute(&config.base);
    let oc = orchestrator::parse_config(&config.text, &file, &base)?;
    let mut secrets = vec![config.client.access_key.expose().to_string()];
    if let Some(e) = &oc.settings.email {
        secrets.extend(std::env::var(&e.password_env).ok());
    }
    if let Some(w) = &oc.settings.webhook {
        secrets.extend(std::env::var(&w.url_env).ok());
    }
    // a key written into the base URL (`http://user:KEY@host`) is a secret too
    secrets.extend(flightlabs::userinfo(&config.client.base_url).map(str::to_string));
    if let Some((_, password)) =
        flightlabs::userinfo(&config.client.base_url).and_then(|u| u.split_once(':'))
    {
        secrets.push(password.to_string());
    }
    secrets.retain(|s| !s.is_empty());
    let env = Env {
        exe: std::env::current_exe().context("cannot find the tarmac binary")?,
        config_file: config.source.as_deref().map(absolute),
        workdir: base,
        state_dir: oc.settings.state_dir.clone(),
        landing_mark: {
            let location = if ingest::store::is_url(&config.landing) {
                config.landing.clone()
            } else {
                absolute(std::path::Path::new(&config.landing))
                    .display()
                    .to_string()
            };
            std::sync::Arc::new(move || {
                ingest::LandingZone::connect(&location)
                    .and_then(|z| z.fingerprint())
                    .map_err(|e| e.to_string())
            })
        },
        warehouse: absolute(&config.warehouse),
        secrets,
        echo,
    };
    Ok((oc, env))
}

pub async fn runs(config: &Config, args: RunsArgs) -> Result<ExitCode> {
    let (oc, _) = load(config, false)?;
    if let Some(j) = &args.job {
        oc.job(j)?;
    }
    let path = oc.settings.state_dir.join("state.sqlite");
    if !path.exists() {
        println!("no runs yet ({} does not exist)", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    let h = History::open(&path)?;
    let rows = h.runs(&RunFilter {
        job: args.job,
        status: args.status,
        before: None,
        limit: args.limit.max(1),
    })?;
    if args.json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    print_runs(&oc, &rows);
    Ok(ExitCode::SUCCESS)
}

fn print_runs(oc: &OrchestratorConfig, rows: &[RunRow]) {
    if rows.is_empty() {
        println!("no runs");
        return;
    }
    let mut table: Vec<[String; 8]> = vec![[
        "RUN",
        "JOB",
        "STATUS",
        "TRIGGER",
        "PARTITION",
        "STARTED (UTC)",
        "DURATION",
        "STEP / ERROR",
    ]
    .map(String::from)];
    for r in rows {
        let started = r
            .started_at
            .or(Some(r.queued_at))
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let duration = match (r.started_at, r.finished_at) {
            (Some(s), Some(f)) => orchestrator::duration::human(std::time::Duration::from_millis(
                (f - s).max(0) as u64,
            )),
            (Some(s), None) => format!(
                "{}…",
                orchestrator::duration::human(std::time::Duration::from_millis(
                    (orchestrator::history::now_ms() - s).max(0) as u64
                ))
            ),
            _ => String::new(),
        };
        let step = r.failed_step.and_then(|i| {
            oc.job(&r.job)
                .ok()
                .and_then(|j| j.steps.get(i as usize))
                .map(|s| format!("{} `{}`", i + 1, s.text))
        });
        let detail = match (step, &r.error) {
            (Some(s), Some(e)) => format!("{s}: {e}"),
            (None, Some(e)) => e.clone(),
            (Some(s), None) => s,
            (None, None) => String::new(),
        };
        table.push([
            r.id.to_string(),
            r.job.clone(),
            r.status.clone(),
            r.trigger.clone(),
            r.partition.clone().unwrap_or_default(),
            started,
            duration,
            detail,
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 7 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[c]));
            }
        }
        println!("{}", line.trim_end());
    }
}

fn report(job: &str, id: i64, outcome: &Outcome, failed_alerts: &[String]) {
    match outcome {
        Outcome::Success => println!("run {id} of job `{job}` succeeded"),
        Outcome::Failed { step, error } => println!(
            "run {id} of job `{job}` failed at step {}: {error}",
            step + 1
        ),
    }
    for f in failed_alerts {
        eprintln!("warning: alert not delivered yet (kept for `tarmac orchestrate` to retry): {f}");
    }
}

pub async fn run_job(config: &Config, args: RunJobArgs) -> Result<ExitCode> {
    let (oc, env) = load(config, true)?;
    let orch = Orchestrator::open(oc, env, false)?;
    if args.from_step == 0 {
        bail!("--from-step counts from 1");
    }
    orch.recover_marks_only()?;
    let (id, outcome, failed) = orch
        .run_foreground(
            &args.job,
            "manual",
            args.partition,
            args.from_step - 1,
            None,
        )
        .await?;
    report(&args.job, id, &outcome, &failed);
    Ok(if outcome == Outcome::Success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn backfill(config: &Config, args: BackfillArgs) -> Result<ExitCode> {
    let (oc, env) = load(config, true)?;
    let orch = Orchestrator::open(oc, env, false)?;
    orch.job(&args.job)?;
    let days = orchestrator::scheduler::backfill_days(args.from, args.to)?;
    orch.recover_marks_only()?;
    let done: std::collections::HashSet<String> = {
        let h = orchestrator::runner::lock(&orch.history);
        h.partition_grid(&args.from.to_string(), &args.to.to_string())?
            .into_iter()
            .filter(|(j, _, s)| *j == args.job && s == "success")
            .map(|(_, p, _)| p)
            .collect()
    };
    let (mut ok, mut failed, mut skipped) = (0, 0, 0);
    for day in days {
        if !args.force && done.contains(&day.to_string()) {
            println!("{day}: already succeeded (--force runs it again)");
            skipped += 1;
            continue;
        }
        let (id, outcome, alerts) = orch
            .run_foreground(&args.job, "backfill", Some(day), 0, None)
            .await?;
        print!("{day}: ");
        report(&args.job, id, &outcome, &alerts);
        if outcome == Outcome::Success {
            ok += 1
        } else {
            failed += 1
        }
    }
    println!(
        "backfill of `{}`: {ok} succeeded, {failed} failed, {skipped} skipped",
        args.job
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn orchestrate(config: &Config, args: OrchestrateArgs) -> Result<ExitCode> {
    let (oc, env) = load(config, false)?;
    let addr: std::net::SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {}: expected IP:PORT", args.listen))?;
    let token = args.token.filter(|t| !t.is_empty());
    web::check_bind(addr, token.as_deref(), "--listen").map_err(anyhow::Error::msg)?;
    let orch = Orchestrator::open(oc, env, args.dry_run)?;
    let _single = orchestrator::locks::FileLock::try_acquire(
        &orch.config.settings.state_dir.join("orchestrator.lock"),
    )?
    .with_context(|| {
        format!(
            "another `tarmac orchestrate` is running on {}",
            orch.config.settings.state_dir.display()
        )
    })?;
    let retried = orch.recover()?;
    let (listener, url) = crate::listen::bind_and_announce(addr, "serving").await?;
    orch.set_ui_base(&url);
    for id in retried {
        eprintln!("retrying an interrupted run as run {id}");
    }
    eprintln!(
        "{} job(s); history in {}",
        orch.config.jobs.len(),
        orch.history_path().display()
    );
    tokio::spawn(orch.clone().schedule_loop());
    tokio::spawn(orch.clone().alert_loop());
    for (i, job) in orch.config.jobs.iter().enumerate() {
        if let orchestrator::config::Trigger::NewData { poll } = job.trigger {
            tokio::spawn(orch.clone().data_loop(i, poll));
        }
    }
    let serve = orchestrator::ui::serve(listener, Arc::clone(&orch), token);
    tokio::select! {
        r = serve => r?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopping; runs in progress end with this process and are retried at the next start"),
    }
    Ok(ExitCode::SUCCESS)
}
