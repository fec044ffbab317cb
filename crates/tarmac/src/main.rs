//! `tarmac`: parses arguments and calls the crates that do the work.

mod commands;
mod config;
mod exit;
mod listen;
mod progress;
mod project;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// mimalloc for every Rust allocation: the engine's parse and compile make
/// millions of small ones, where glibc's malloc and free took a fifth of
/// the CPU of a 10,000-model compile (see ARCHITECTURE.md, engine
/// performance). DuckDB's C++ allocates with its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tarmac", version, about = "FlightLabs to a tested, documented DuckDB warehouse", long_about = None)]
pub struct Cli {
    /// Config file (default: ./tarmac.toml if present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The landing zone, instead of [landing] path of the config: a folder,
    /// or s3://bucket/prefix, gs://bucket/prefix, az://container/prefix.
    #[arg(long, global = true, value_name = "LOCATION", env = "TARMAC_LANDING")]
    landing: Option<String>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the main job: ingest the last days (from the built-in simulator when
    /// no FLIGHTLABS_ACCESS_KEY is set), build the warehouse, test it.
    Up(commands::up::UpArgs),
    /// Write a tarmac.toml and a copy of the warehouse project into DIR.
    Init(commands::init::InitArgs),
    /// Pull flight data into the landing zone and bronze.
    Ingest {
        #[command(subcommand)]
        command: IngestCommand,
    },
    /// Serve a simulated FlightLabs API (for demos and tests).
    MockApi(commands::mock_api::MockApiArgs),
    /// A SQL shell on the warehouse; `-c SQL` or standard input for scripts.
    Sql(commands::sql::SqlArgs),
    /// Build the models of a dbt-format project (views, tables, incrementals).
    Run(commands::dbt::DbtArgs),
    /// Load the project's seeds (CSV files) into tables.
    Seed(commands::dbt::DbtArgs),
    /// Render the project's models to SQL without running them; `-s NODE`
    /// also prints its SQL, `--inline SQL` compiles a query.
    Compile(commands::dbt::CompileArgs),
    /// Seeds, models, snapshots and tests in DAG order (a failing test skips what reads its node).
    Build(commands::dbt::DbtArgs),
    /// Run the project's snapshots (type-2 history tables).
    Snapshot(commands::dbt::DbtArgs),
    /// Run the project's data tests (generic and singular).
    Test(commands::dbt::DbtArgs),
    /// Call a macro of the project with arguments (`--args '{...}'`).
    RunOperation(commands::dbt::RunOperationArgs),
    /// List the selected nodes.
    Ls(commands::dbt::LsArgs),
    /// Preview a model's rows (`--select`) or a query (`--inline`), as dbt show.
    Show(commands::dbt::ShowArgs),
    /// Views of the --state run's relations for the selected models, seeds and snapshots (dbt clone).
    Clone(commands::dbt::DbtArgs),
    /// Run again what errored, failed or was skipped in the last build/run/seed/test (target/run_results.json).
    Retry(commands::dbt::RetryArgs),
    /// Check the profile, the project, the packages and the connection (dbt debug).
    Debug(commands::dbt::DbtArgs),
    /// Remove the project's clean-targets (default: target/), as dbt clean.
    Clean(commands::dbt::DbtArgs),
    /// Install the packages of packages.yml / dependencies.yml into dbt_packages/.
    Deps(commands::dbt::DepsArgs),
    /// Parse the project and write target/manifest.json (nothing rendered to run, nothing run).
    Parse(commands::dbt::DbtArgs),
    /// Run the jobs of tarmac.toml on their schedules, with the web UI.
    Orchestrate(commands::orchestrate::OrchestrateArgs),
    /// The run history, newest first.
    Runs(commands::orchestrate::RunsArgs),
    /// Run a job now, once, in the foreground.
    RunJob(commands::orchestrate::RunJobArgs),
    /// Run a job for each day of a range (daily partitions).
    Backfill(commands::orchestrate::BackfillArgs),
    /// Source commands (`source freshness`).
    Source {
        #[command(subcommand)]
        command: SourceCommand,
    },
    /// The lakehouse: publish the warehouse's layers as Apache Iceberg tables.
    Lake {
        #[command(subcommand)]
        command: LakeCommand,
    },
    /// The documentation catalog: catalog.json and a web site with lineage.
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
}

#[derive(Subcommand)]
enum SourceCommand {
    /// How old each source's newest row is, against its warn_after/error_after;
    /// writes target/sources.json.
    Freshness(commands::dbt::DbtArgs),
}

#[derive(Subcommand)]
enum LakeCommand {
    /// Write the layers' tables as Iceberg tables (one commit per table,
    /// only changed partitions rewritten) under an Iceberg SQL catalog.
    Publish(commands::lake::PublishArgs),
}

#[derive(Subcommand)]
enum DocsCommand {
    /// Compile the project, then write manifest.json, catalog.json,
    /// column_lineage.json and a static site into target/.
    Generate(Box<commands::dbt::DbtArgs>),
    /// Serve the catalog of target/ (127.0.0.1 unless --host says otherwise).
    Serve(commands::docs::ServeArgs),
}

#[derive(Subcommand)]
enum IngestCommand {
    /// Fetch historical flights for a range of dates.
    Batch(commands::ingest::BatchArgs),
    /// Fetch from the last fully landed day up to today.
    Delta(commands::ingest::DeltaArgs),
    /// Import CSV files (or folders) of the old Python pipeline's archive.
    Import(commands::ingest::ImportArgs),
    /// Poll real-time positions (`/flights`) into bronze and silver.real_time_planes.
    Realtime(commands::ingest::RealtimeArgs),
    /// Rebuild bronze (and silver.real_time_planes) from the landing zone alone.
    Replay(commands::ingest::ReplayArgs),
    /// Show what has landed and what bronze holds.
    Status,
}

/// Options that start the built-in simulator instead of calling FlightLabs.
#[derive(Args, Clone, Debug)]
pub struct SimulatorArgs {
    /// Use the built-in FlightLabs simulator (no key needed).
    #[arg(long)]
    simulator: bool,
    /// Simulator seed.
    #[arg(long, default_value_t = 42, requires = "simulator")]
    seed: u64,
    /// Simulator faults, e.g. "429=0.1,500=0.05".
    #[arg(long, requires = "simulator")]
    faults: Option<String>,
    /// Which hours carry traffic: realistic (BOG's 24 h curve) or archive
    /// (the shared archive's afternoons, 12:00–23:59 local).
    #[arg(long, default_value = "realistic", requires = "simulator")]
    day_shape: simulator::DayShape,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // Read before the runtime starts: the warehouse path reaches the
    // project's profiles.yml through the environment, which is only safe to
    // change while the process has a single thread.
    let mut loaded = config::Config::load(cli.config.as_deref());
    if let (Ok(c), Some(landing)) = (&mut loaded, &cli.landing) {
        c.landing = landing.clone();
        // The steps an orchestrator starts are tarmac processes too: they
        // inherit the choice (set while the process has one thread).
        std::env::set_var("TARMAC_LANDING", landing);
    }
    if let Ok(c) = &loaded {
        c.export_warehouse();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::MockApi(args) => commands::mock_api::run(args).await,
            Command::Run(a) => commands::dbt::run(engine::Command::Run, a, loaded),
            Command::Seed(a) => commands::dbt::run(engine::Command::Seed, a, loaded),
            Command::Compile(a) => commands::dbt::compile(a, loaded),
            Command::Build(a) => commands::dbt::run(engine::Command::Build, a, loaded),
            Command::Snapshot(a) => commands::dbt::run(engine::Command::Snapshot, a, loaded),
            Command::Test(a) => commands::dbt::run(engine::Command::Test, a, loaded),
            Command::Ls(a) => commands::dbt::ls(a, loaded),
            Command::Deps(a) => commands::dbt::deps(a, loaded),
            Command::Show(a) => commands::dbt::show(a, loaded),
            Command::Retry(a) => commands::dbt::retry(a, loaded),
            Command::Clone(a) => commands::dbt::run(engine::Command::Clone, a, loaded),
            Command::Debug(a) => commands::dbt::debug(a, loaded),
            Command::Clean(a) => commands::dbt::clean(a, loaded),
            Command::Parse(a) => commands::dbt::parse(a, loaded),
            Command::Init(a) => commands::init::run(a),
            Command::Source { command } => match command {
                SourceCommand::Freshness(a) => commands::dbt::freshness(a, loaded),
            },
            Command::Docs { command } => match command {
                DocsCommand::Generate(a) => commands::docs::generate(*a, loaded),
                DocsCommand::Serve(a) => commands::docs::serve(a, loaded).await,
            },
            Command::RunOperation(a) => commands::dbt::run_operation(a, loaded),
            command => {
                // A config that does not load will not load on a retry either.
                let config = loaded.map_err(exit::mark_final)?;
                match command {
                    Command::Up(args) => commands::up::run(&config, args).await,
                    Command::Ingest { command } => match command {
                        IngestCommand::Batch(a) => commands::ingest::batch(&config, a).await,
                        IngestCommand::Delta(a) => commands::ingest::delta(&config, a).await,
                        IngestCommand::Import(a) => commands::ingest::import(&config, a).await,
                        IngestCommand::Replay(a) => commands::ingest::replay(&config, a).await,
                        IngestCommand::Realtime(a) => commands::ingest::realtime(&config, a).await,
                        IngestCommand::Status => commands::ingest::status(&config).await,
                    },
                    Command::Sql(args) => commands::sql::run(&config, args).await,
                    Command::Lake { command } => match command {
                        LakeCommand::Publish(a) => commands::lake::publish(&config, a),
                    },
                    Command::Orchestrate(a) => commands::orchestrate::orchestrate(&config, a).await,
                    Command::Runs(a) => commands::orchestrate::runs(&config, a).await,
                    Command::RunJob(a) => commands::orchestrate::run_job(&config, a).await,
                    Command::Backfill(a) => commands::orchestrate::backfill(&config, a).await,
                    Command::MockApi(_)
                    | Command::Init(_)
                    | Command::Run(_)
                    | Command::Seed(_)
                    | Command::Compile(_)
                    | Command::Build(_)
                    | Command::Snapshot(_)
                    | Command::Test(_)
                    | Command::RunOperation(_)
                    | Command::Ls(_)
                    | Command::Deps(_)
                    | Command::Show(_)
                    | Command::Retry(_)
                    | Command::Clone(_)
                    | Command::Debug(_)
                    | Command::Clean(_)
                    | Command::Parse(_)
                    | Command::Source { .. }
                    | Command::Docs { .. } => unreachable!("handled above"),
                }
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // one line: the error and its causes
            // each part cut to a few KB: an error may quote its input
            let mut msg = format!("error: {}", warehouse::bounded(&e.to_string(), 4000));
            for cause in e.chain().skip(1) {
                let c = warehouse::bounded(&cause.to_string(), 4000).into_owned();
                if !msg.contains(&c) {
                    msg.push_str(": ");
                    msg.push_str(&c);
                }
            }
            eprintln!("{msg}");
            exit_code(&e)
        }
    }
}

/// The warehouse crate's code when the error is a warehouse that
/// stayed locked (75: the orchestrator retries it) or is damaged (65), else
/// 2 for a final error, 1 otherwise (see `exit`).
fn exit_code(e: &anyhow::Error) -> ExitCode {
    for cause in e.chain() {
        if let Some(w) = cause.downcast_ref::<warehouse::Error>() {
            return ExitCode::from(w.exit_code());
        }
    }
    exit::code(e)
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("TARMAC_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only for a person at a terminal: logs written to a file or a
    // pipe (CI, the orchestrator's run log) keep no escape codes, and
    // NO_COLOR (https://no-color.org) turns them off anywhere.
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
