//! `tarmac ingest batch|delta|import|replay|status`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use chrono::{NaiveDate, Utc};
use clap::Args;
use flightlabs::{Client, HistoricalMode, RateLimit, Secret};
use ingest::{BatchPlan, BatchSummary, Bronze, LandingZone, LoadStats};
use simulator::{DayShape, SimulatorConfig};

use crate::config::Config;
use crate::progress::Reporter;
use crate::SimulatorArgs;

#[derive(Args)]
pub struct BatchArgs {
    /// Airport codes, comma separated (default: [ingest] airports of the config).
    #[arg(long, value_delimiter = ',')]
    airport: Vec<String>,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    from: NaiveDate,
    /// Last day, inclusive (YYYY-MM-DD).
    #[arg(long)]
    to: NaiveDate,
    /// Fetch days again even if they landed already.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    fetch: FetchArgs,
}

#[derive(Args)]
pub struct DeltaArgs {
    /// Airport codes, comma separated (default: [ingest] airports of the config).
    #[arg(long, value_delimiter = ',')]
    airport: Vec<String>,
    #[command(flatten)]
    fetch: FetchArgs,
}

#[derive(Args)]
pub struct FetchArgs {
    /// windows (two 12-hour calls a day and direction) or daily (one call).
    #[arg(long)]
    mode: Option<HistoricalMode>,
    /// Requests allowed per window, e.g. 40/10 (default: the config's).
    #[arg(long)]
    rate_limit: Option<RateLimit>,
    /// Requests in flight at once.
    #[arg(long)]
    concurrency: Option<usize>,
    /// This worker's share when N workers (on any machines, sharing one
    /// landing zone) split the work: worker K of N fetches the airport-days
    /// that fall to it, at 1/N of the rate limit. E.g. --shard 1/3.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    shard: Option<ingest::batch::Shard>,
    /// Fetch even when the plan needs more requests than
    /// [flightlabs] max_plan_requests (default 500), without asking.
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    sim: SimulatorArgs,
}

#[derive(Args)]
pub struct RealtimeArgs {
    /// Airport codes, comma separated (default: [realtime] airports, else
    /// [ingest] airports of the config).
    #[arg(long, value_delimiter = ',')]
    airport: Vec<String>,
    /// Time between polls, e.g. 60s, 2m (default: [realtime] interval, 60s).
    #[arg(long, value_parser = crate::config::parse_duration)]
    interval: Option<std::time::Duration>,
    /// Poll once and exit: exit code 1 if a request failed after retries
    /// or the poll could not be loaded.
    #[arg(long)]
    once: bool,
    /// `limit` of each request (default: [realtime] limit, 10000).
    #[arg(long)]
    limit: Option<u32>,
    /// Requests allowed per window, e.g. 40/10 (default: the config's).
    #[arg(long)]
    rate_limit: Option<RateLimit>,
    #[command(flatten)]
    sim: SimulatorArgs,
}

#[derive(Args)]
pub struct ImportArgs {
    /// CSV files or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Worker threads converting files (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Do not make landed bodies durable before bronze counts them (no
    /// `syncfs`): for measuring what durability costs, never for real data.
    #[arg(long, hide = true)]
    no_sync: bool,
}

#[derive(Args)]
pub struct ReplayArgs {
    #[arg(long)]
    from: Option<NaiveDate>,
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Rebuild bronze in this new file instead of the configured warehouse
    /// (the way back from a damaged warehouse: then put the file in its
    /// place and run `tarmac build`). It must not exist yet.
    #[arg(long, value_name = "NEW.duckdb")]
    into: Option<std::path::PathBuf>,
}

pub fn open_landing(config: &Config) -> Result<Arc<LandingZone>> {
    Ok(Arc::new(
        LandingZone::connect(&config.landing)
            .with_context(|| format!("cannot open the landing zone {}", config.landing))?,
    ))
}

pub fn open_bronze(config: &Config) -> Result<Bronze> {
    open_bronze_at(&config.warehouse)
}

/// Opens bronze in `path`. A warehouse that stayed locked past the wait or
/// is damaged keeps the warehouse crate's error (its message, its exit code);
/// that crate alone decides what is a lock error.
/// A replay that a kill cut short is put back first, whatever the command.
pub fn open_bronze_at(path: &std::path::Path) -> Result<Bronze> {
    let mut bronze = Bronze::open(path).map_err(|e| match e {
        ingest::IngestError::Warehouse(w) => anyhow::Error::from(w),
        other => anyhow::anyhow!("cannot open the warehouse {}: {other}", path.display()),
    })?;
    ingest::replay::recover(&mut bronze).with_context(|| {
        format!(
            "cannot put back an interrupted replay in {}",
            path.display()
        )
    })?;
    Ok(bronze)
}

/// A running in-process simulator, stopped when dropped.
pub struct LocalSimulator(tokio::task::JoinHandle<std::io::Result<()>>);

impl Drop for LocalSimulator {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the simulator on 127.0.0.1 and points `config` at it.
pub async fn start_simulator(
    config: &mut Config,
    seed: u64,
    faults: Option<&str>,
    day_shape: DayShape,
) -> Result<LocalSimulator> {
    let faults = faults
        .unwrap_or("")
        .parse()
        .map_err(|e| anyhow::anyhow!("--faults: {e}"))?;
    let (addr, handle) = simulator::spawn(SimulatorConfig {
        seed,
        faults,
        day_shape,
        ..SimulatorConfig::default()
    })
    .await
    .context("cannot start the built-in simulator")?;
    config.client.base_url = format!("http://{addr}");
    if config.client.access_key.is_empty() {
        config.client.access_key = Secret::new("simulator");
    }
    // The built-in simulator has no plan to protect: unless the config or
    // --rate-limit chose a rate, don't make a demo wait for one.
    if !config.rate_limit_set {
        config.client.rate_limit = RateLimit::new(200, std::time::Duration::from_secs(1));
    }
    eprintln!(
        "using the built-in FlightLabs simulator at http://{addr} (seed {seed}, {day_shape} days)"
    );
    Ok(LocalSimulator(handle))
}

pub fn airports_or_config(config: &Config, given: &[String]) -> Result<Vec<String>> {
    let list = if given.is_empty() {
        &config.airports
    } else {
        given
    };
    let mut out = Vec::new();
    for a in list {
        let a = ingest::validate_airport(a)?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        bail!("no airport given: pass --airport BOG or set [ingest] airports in tarmac.toml");
    }
    Ok(out)
}

fn parse_shard(text: &str) -> std::result::Result<ingest::batch::Shard, String> {
    ingest::batch::Shard::parse(text).map_err(|e| e.to_string())
}

/// A worker's share of a rate limit that N workers split: the same window
/// with 1/N of its requests, or a window N times as long when there are
/// fewer requests than workers.
fn share_of(limit: RateLimit, workers: u32) -> RateLimit {
    let workers = workers.max(1);
    if limit.requests >= workers {
        RateLimit::new(limit.requests / workers, limit.per)
    } else {
        RateLimit::new(limit.requests.max(1), limit.per * workers)
    }
}

async fn prepare(config: &Config, fetch: &FetchArgs) -> Result<(Config, Option<LocalSimulator>)> {
    let mut config = config.clone();
    if let Some(r) = fetch.rate_limit {
        config.client.rate_limit = r;
        config.rate_limit_set = true;
    }
    if let Some(m) = fetch.mode {
        config.historical_mode = m;
    }
    if let Some(c) = fetch.concurrency {
        config.concurrency = c.max(1);
    }
    let sim = if fetch.sim.simulator {
        Some(
            start_simulator(
                &mut config,
                fetch.sim.seed,
                fetch.sim.faults.as_deref(),
                fetch.sim.day_shape,
            )
            .await?,
        )
    } else {
        require_key(&config)?;
        None
    };
    if let Some(shard) = fetch.shard {
        config.client.rate_limit = share_of(config.client.rate_limit, shard.count);
    }
    Ok((config, sim))
}

/// A missing key is final: no retry of the same command can find one.
fn require_key(config: &Config) -> Result<()> {
    if !config.has_key {
        return Err(crate::exit::final_error(
            "no FlightLabs access key: set FLIGHTLABS_ACCESS_KEY, or add --simulator to use the built-in simulator",
        ));
    }
    Ok(())
}

/// How much of the API quota a command may spend without asking.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// Plans needing more requests than this ask first; None: the built-in
    /// simulator, which has no quota to protect.
    pub max_requests: Option<u64>,
    /// `--yes`: go ahead without asking.
    pub yes: bool,
}

/// Prints what `plans` will cost, and past the guard's threshold asks on a
/// terminal or stops (final, exit 2) in a script unless `--yes` was given.
/// Returns false when the user declined.
fn check_plans(
    config: &Config,
    zone: &LandingZone,
    plans: &[BatchPlan],
    guard: Guard,
) -> Result<bool> {
    let limit = config.client.rate_limit;
    let mut total = ingest::PlanCost::default();
    for plan in plans {
        let cost = ingest::plan_cost(zone, plan)?;
        eprintln!(
            "plan: {} {}..{}: {} days to fetch ({} already landed), {} requests, {} at the rate limit {limit}",
            plan.airports.join(","),
            plan.from,
            plan.to,
            cost.days,
            cost.days_skipped,
            cost.requests,
            about(cost.duration_at(limit)),
        );
        total.days += cost.days;
        total.requests += cost.requests;
    }
    let Some(max) = guard.max_requests else {
        return Ok(true);
    };
    if total.requests <= max || guard.yes {
        return Ok(true);
    }
    let what = format!(
        "this needs {} requests, more than [flightlabs] max_plan_requests = {max}",
        total.requests
    );
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        eprint!("{what}. Fetch them? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        let yes = matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
        if !yes {
            eprintln!("nothing fetched");
        }
        return Ok(yes);
    }
    Err(crate::exit::final_error(format!(
        "{what}; nothing fetched. Pass --yes to fetch them, narrow the days or airports, or raise max_plan_requests"
    )))
}

/// "about 2 min 10 s", "under a second".
fn about(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        "under a second".to_string()
    } else {
        format!("about {}", orchestrator::duration::human(d))
    }
}

pub async fn run_plans(config: &Config, plans: Vec<BatchPlan>, guard: Guard) -> Result<ExitCode> {
    run_plans_labelled(config, plans, guard, None).await
}

/// `run_plans` with its progress bar (on a terminal) labelled and kept on
/// screen when done (`tarmac up`'s ingest phase).
pub async fn run_plans_labelled(
    config: &Config,
    plans: Vec<BatchPlan>,
    guard: Guard,
    label: Option<&'static str>,
) -> Result<ExitCode> {
    let zone = open_landing(config)?;
    if !check_plans(config, &zone, &plans, guard)? {
        return Ok(ExitCode::FAILURE);
    }
    let client = Arc::new(Client::new(config.client.clone())?);
    let mut bronze = open_bronze(config)?;
    let mut failed = false;
    for plan in plans {
        let progress = Arc::new(Reporter::labelled(label));
        let (b, summary) =
            ingest::run_batch(client.clone(), zone.clone(), bronze, &plan, progress).await?;
        bronze = b;
        print_batch(&plan, &summary);
        failed |= !summary.days_failed.is_empty();
    }
    if failed {
        eprintln!("some days failed; run the same command again to fetch them");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn batch(config: &Config, args: BatchArgs) -> Result<ExitCode> {
    ingest::validate_range(args.from, args.to)?;
    let airports = airports_or_config(config, &args.airport)?;
    let (config, _sim) = prepare(config, &args.fetch).await?;
    let plan = BatchPlan {
        airports,
        from: args.from,
        to: args.to,
        force: args.force,
        refetch: vec![],
        mode: config.historical_mode,
        concurrency: config.concurrency,
        shard: args.fetch.shard,
    };
    run_plans(&config, vec![plan], guard(&config, &args.fetch)).await
}

fn guard(config: &Config, fetch: &FetchArgs) -> Guard {
    Guard {
        max_requests: (!fetch.sim.simulator).then_some(config.max_plan_requests),
        yes: fetch.yes,
    }
}

pub async fn delta(config: &Config, args: DeltaArgs) -> Result<ExitCode> {
    let airports = airports_or_config(config, &args.airport)?;
    let zone = open_landing(config)?;
    let today = Utc::now().date_naive();
    let (config, _sim) = prepare(config, &args.fetch).await?;
    let mut plans = ingest::delta_plan(
        &zone,
        &airports,
        today,
        config.historical_mode,
        config.concurrency,
    )?;
    for plan in &mut plans {
        plan.shard = args.fetch.shard;
    }
    run_plans(&config, plans, guard(&config, &args.fetch)).await
}

/// Turns the first Ctrl-C or SIGTERM into a stop request (the poll in
/// progress loads what landed, then the command exits 0); a second one
/// exits at once with 130.
fn stop_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut first = true;
        loop {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let mut term = match signal(SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => {
                        let _ = tokio::signal::ctrl_c().await;
                        let _ = tx.send(true);
                        return;
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
            }
            if !first {
                eprintln!("stopped");
                std::process::exit(130);
            }
            first = false;
            eprintln!("stopping after this poll (again to stop now)");
            let _ = tx.send(true);
        }
    });
    rx
}

pub async fn realtime(config: &Config, args: RealtimeArgs) -> Result<ExitCode> {
    let given: &[String] = if !args.airport.is_empty() {
        &args.airport
    } else {
        config.realtime.airports.as_deref().unwrap_or(&[])
    };
    let airports = airports_or_config(config, given)?;
    let mut config = config.clone();
    if let Some(r) = args.rate_limit {
        config.client.rate_limit = r;
        config.rate_limit_set = true;
    }
    let interval = args.interval.unwrap_or(config.realtime.interval);
    if interval < std::time::Duration::from_secs(1) {
        bail!("--interval must be at least 1s");
    }
    let limit = args.limit.unwrap_or(config.realtime.limit);
    if limit == 0 {
        bail!("--limit must be at least 1");
    }
    let _sim = if args.sim.simulator {
        Some(
            start_simulator(
                &mut config,
                args.sim.seed,
                args.sim.faults.as_deref(),
                args.sim.day_shape,
            )
            .await?,
        )
    } else {
        require_key(&config)?;
        None
    };
    let client = Arc::new(Client::new(config.client.clone())?);
    let zone = open_landing(&config)?;
    let plan = ingest::realtime::RealtimePlan {
        airports,
        limit,
        concurrency: config.concurrency,
        // A single poll can wait as long as the SQL shell does; a loop must
        // not fall behind: it leaves the files for its next poll instead.
        lock_wait: if args.once {
            std::time::Duration::from_secs(30)
        } else {
            (interval / 2).min(std::time::Duration::from_secs(30))
        },
    };
    let mut poller = ingest::realtime::Poller::new(client, zone, config.warehouse.clone());
    let resumed = tokio::task::block_in_place(|| poller.resume()).map_err(|e| {
        if e.to_string().contains("lock") {
            anyhow::anyhow!(
                "the warehouse {} is in use by another process (DuckDB allows one writer); wait for it to finish",
                config.warehouse.display()
            )
        } else {
            anyhow::anyhow!("cannot open the warehouse {}: {e}", config.warehouse.display())
        }
    })?;
    print_resumed(&resumed);
    let stop = stop_on_signals();
    if args.once {
        let report = poller.poll(&plan, &stop).await?;
        print_poll(&plan, &report);
        return Ok(if report.ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    eprintln!(
        "polling {} every {:?}; Ctrl-C stops after the current poll",
        plan.airports.join(","),
        interval
    );
    let per_poll = plan.airports.len() as f64 * 2.0;
    let rate = config.client.rate_limit;
    let allowed = f64::from(rate.requests) / rate.per.as_secs_f64().max(0.001);
    if per_poll / interval.as_secs_f64() > allowed {
        eprintln!(
            "warning: {per_poll} requests every {:?} is more than the rate limit {rate} allows; polls will wait for it",
            interval
        );
    }
    poller
        .run(&plan, interval, stop, |r| print_poll(&plan, r))
        .await?;
    Ok(ExitCode::SUCCESS)
}

fn print_poll(plan: &ingest::realtime::RealtimePlan, r: &ingest::realtime::PollReport) {
    let at = r
        .started
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let queryable = match r.queryable_after {
        Some(d) => format!("; queryable {:.3} s after the response", d.as_secs_f64()),
        None => String::new(),
    };
    println!(
        "{at} {}: {} of {} responses landed, {} failed; {} requests ({} retries); {} positions into bronze, {} quarantined, {} new in silver.real_time_planes{queryable}",
        plan.airports.join(","),
        r.landed,
        plan.airports.len() * 2,
        r.failed.len(),
        r.requests,
        r.retries,
        r.bronze.records,
        r.bronze.quarantined,
        r.bronze.new_positions,
    );
    for f in &r.failed {
        eprintln!("failed: {f}");
    }
    if r.deferred > 0 {
        eprintln!(
            "{} landed files wait for the warehouse (held by another process); the next poll loads them",
            r.deferred
        );
    }
    if r.cancelled {
        eprintln!("stopped: requests still in flight were dropped");
    }
}

pub async fn import(config: &Config, args: ImportArgs) -> Result<ExitCode> {
    let zone = open_landing(config)?;
    let bronze = open_bronze(config)?;
    let mut options = ingest::ImportOptions::default();
    if let Some(t) = args.threads {
        options.threads = t;
    }
    options.durable = !args.no_sync;
    let progress = Arc::new(Reporter::new());
    let (_, s) = tokio::task::block_in_place(|| {
        ingest::import(&zone, bronze, &args.paths, options, progress)
    })?;
    println!(
        "imported {} files ({} already imported, {} failed): {} records into bronze, {} quarantined, in {:.1} s",
        s.files,
        s.already_imported,
        s.failed.len(),
        s.bronze.records,
        s.bronze.quarantined,
        s.seconds
    );
    print_resumed(&s.resumed);
    if !s.failed.is_empty() {
        for f in &s.failed {
            eprintln!("error: {f}");
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn replay(config: &Config, args: ReplayArgs) -> Result<ExitCode> {
    if let (Some(f), Some(t)) = (args.from, args.to) {
        ingest::validate_range(f, t)?;
    }
    let zone = open_landing(config)?;
    let mut bronze = match &args.into {
        Some(p) if p.exists() => {
            anyhow::bail!("{} exists: --into makes a new file", p.display())
        }
        Some(p) => open_bronze_at(p)?,
        None => open_bronze(config)?,
    };
    let s = tokio::task::block_in_place(|| ingest::replay(&zone, &mut bronze, args.from, args.to))?;
    println!(
        "replayed {} landing files: {} records into bronze, {} quarantined",
        s.files, s.records, s.quarantined
    );
    if let Some(p) = &args.into {
        println!(
            "bronze rebuilt in {}: put it in place of {} (or point [warehouse] path at it), then run `tarmac build`",
            p.display(),
            config.warehouse.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn status(config: &Config) -> Result<ExitCode> {
    let zone = open_landing(config)?;
    let bronze = open_bronze(config)?;
    match &config.source {
        Some(p) => println!("config: {}", p.display()),
        None => println!("config: none (defaults; see README for tarmac.toml)"),
    }
    println!("landing zone: {}", config.landing);
    for airport in zone.airports()? {
        let days = zone.landed_days(&airport)?;
        if let (Some(first), Some(last)) = (days.first(), days.last()) {
            println!(
                "  {airport}: {} days landed from the API, {first} .. {last}",
                days.len()
            );
        }
    }
    let c = bronze.counts()?;
    println!("warehouse: {}", config.warehouse.display());
    println!(
        "  bronze.flightlabs_historical: {} records from {} landing files ({} airport-days)",
        c.records, c.files, c.days
    );
    for s in bronze.by_source()? {
        println!(
            "    {} {}: {} records, {} .. {}",
            s.source, s.airport, s.records, s.first, s.last
        );
    }
    println!("  bronze.quarantine: {} records", c.quarantined);
    let p = bronze.position_counts()?;
    println!(
        "  bronze.flightlabs_positions: {} records; silver.real_time_planes: {} positions of {} aircraft{}",
        p.bronze,
        p.silver,
        p.aircraft,
        p.last_updated
            .map(|t| format!(", latest signal {}", t.format("%Y-%m-%d %H:%M:%SZ")))
            .unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

fn print_resumed(s: &LoadStats) {
    if s.files > 0 {
        println!(
            "resumed: loaded {} files ({} records) landed by an interrupted run",
            s.files, s.records
        );
    }
}

fn print_batch(plan: &BatchPlan, s: &BatchSummary) {
    println!(
        "{} {}..{}: {} days fetched, {} already landed, {} failed; {} requests ({} retries); {} records into bronze, {} quarantined; {:.1} s",
        plan.airports.join(","),
        plan.from,
        plan.to,
        s.days,
        s.days_skipped,
        s.days_failed.len(),
        s.requests,
        s.retries,
        s.bronze.records,
        s.bronze.quarantined,
        s.seconds
    );
    print_resumed(&s.resumed);
    for f in &s.days_failed {
        eprintln!("failed: {f}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_shard_takes_its_share_of_the_rate_limit() {
        let s = Duration::from_secs;
        let l = share_of(RateLimit::new(10, s(10)), 2);
        assert_eq!((l.requests, l.per), (5, s(10)));
        let l = share_of(RateLimit::new(2, s(1)), 3);
        assert_eq!((l.requests, l.per), (2, s(3)));
        let l = share_of(RateLimit::new(7, s(1)), 1);
        assert_eq!((l.requests, l.per), (7, s(1)));
    }
}
