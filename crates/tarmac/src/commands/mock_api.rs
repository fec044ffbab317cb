//! `tarmac mock-api`: the FlightLabs simulator as a server.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use flightlabs::RateLimit;
use simulator::{FaultSpec, SimulatorConfig};

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
}

pub async fn run(args: MockApiArgs) -> Result<ExitCode> {
    let config = SimulatorConfig {
        seed: args.seed,
        faults: args.faults,
        rate_limit: args.rate_limit,
        access_key: args.access_key,
        timeout_delay: Duration::from_secs_f64(args.timeout_delay.max(0.0)),
        ..SimulatorConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    simulator::serve(listener, config).await?;
    Ok(ExitCode::SUCCESS)
}
