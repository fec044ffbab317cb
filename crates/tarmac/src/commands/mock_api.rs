//! `tarmac mock-api`: the FlightLabs simulator as a server.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use flightlabs::RateLimit;
use simulator::{DayShape, FaultSpec, SimClock, SimulatorConfig};

#[derive(Args)]
pub struct MockApiArgs {
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: String,
    /// Seed of the generated data and of the faults.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Faults to inject, e.g. "429=0.1,500=0.05,timeout=0.02,truncate=0.02,malformed_record=0.01".
    #[arg(long, default_value = "")]
    faults: FaultSpec,
    /// Answer 429 beyond N requests per SECONDS, e.g. 40/10.
    #[arg(long)]
    rate_limit: Option<RateLimit>,
    /// Accept only this access key (default: any non-empty key). Read from
    /// the environment so it stays out of process listings.
    #[arg(long, env = "TARMAC_MOCK_ACCESS_KEY", hide_env_values = true)]
    access_key: Option<String>,
    /// Seconds a `timeout` fault stalls.
    #[arg(long, default_value_t = 30.0)]
    timeout_delay: f64,
    /// The instant `/flights` answers for when the server starts, e.g.
    /// 2024-08-13T01:00:00Z (default: the real clock).
    #[arg(long)]
    clock: Option<chrono::DateTime<chrono::Utc>>,
    /// Simulated seconds per real second from --clock on (0 freezes it).
    #[arg(long, default_value_t = 1.0, requires = "clock")]
    clock_rate: f64,
    /// Which hours carry traffic: realistic (both 12 h windows, BOG's 24 h
    /// curve) or archive (the shared archive's afternoons, 12:00–23:59
    /// local, for comparisons with the archive).
    #[arg(long, default_value = "realistic")]
    day_shape: DayShape,
}

pub async fn run(args: MockApiArgs) -> Result<ExitCode> {
    if !(args.clock_rate.is_finite() && args.clock_rate >= 0.0) {
        anyhow::bail!("--clock-rate must be zero or positive");
    }
    let config = SimulatorConfig {
        seed: args.seed,
        faults: args.faults,
        rate_limit: args.rate_limit,
        access_key: args.access_key,
        timeout_delay: Duration::from_secs_f64(args.timeout_delay.max(0.0)),
        clock: args.clock.map(|start| SimClock {
            start,
            rate: args.clock_rate,
        }),
        day_shape: args.day_shape,
        ..SimulatorConfig::default()
    };
    let (listener, _url) =
        crate::listen::bind_and_announce(args.addr.as_str(), "listening").await?;
    simulator::serve(listener, config).await?;
    Ok(ExitCode::SUCCESS)
}
