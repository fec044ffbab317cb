//! `tarmac up`: the main job. Until the warehouse models land (a later issue)
//! it ingests the last days into bronze and says how to look at them.

use std::process::ExitCode;

use anyhow::Result;
use chrono::{Duration, Utc};
use clap::Args;
use ingest::BatchPlan;

use super::ingest::{airports_or_config, open_bronze, run_plans, start_simulator};
use crate::config::Config;

#[derive(Args)]
pub struct UpArgs {
    /// How many days back from yesterday to ingest.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Simulator seed (used when no FLIGHTLABS_ACCESS_KEY is set).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub async fn run(config: &Config, args: UpArgs) -> Result<ExitCode> {
    let mut config = config.clone();
    let _sim = if config.has_key {
        None
    } else {
        Some(start_simulator(&mut config, args.seed, None).await?)
    };
    let to = Utc::now().date_naive() - Duration::days(1);
    let from = to - Duration::days(i64::from(args.days.max(1)) - 1);
    let plan = BatchPlan {
        airports: airports_or_config(&config, &[])?,
        from,
        to,
        force: false,
        refetch: vec![],
        mode: config.historical_mode,
        concurrency: config.concurrency,
    };
    let code = run_plans(&config, vec![plan]).await?;
    let c = open_bronze(&config)?.counts()?;
    println!(
        "bronze now holds {} records ({} quarantined) in {}",
        c.records,
        c.quarantined,
        config.warehouse.display()
    );
    println!("next: `tarmac ingest status`, or look at it in the SQL shell:");
    println!("  tarmac sql -c \"SELECT airport, flight_date, count(*) FROM bronze.flightlabs_historical GROUP BY ALL ORDER BY ALL\"");
    Ok(code)
}
