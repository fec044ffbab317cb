//! `tarmac run|seed|compile|build|ls`: dbt's commands over a dbt-format
//! project, handed to the `engine` crate.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::config::Config;

/// dbt's flags, shared by every project command.
#[derive(Args, Clone, Debug)]
pub struct DbtArgs {
    /// The project directory (holding dbt_project.yml; default: `[warehouse]
    /// project` of tarmac.toml, else the current folder, else ./warehouse).
    #[arg(long, value_name = "DIR")]
    project_dir: Option<PathBuf>,
    /// Where profiles.yml is (default: $DBT_PROFILES_DIR, the project, ~/.dbt).
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// The profile's target (default: the profile's `target:`).
    #[arg(long, short = 't')]
    target: Option<String>,
    /// Nodes to include (names, path:, tag:, config.materialized:, +, @, ...).
    #[arg(long, short = 's', num_args = 1.., value_name = "SELECTOR")]
    select: Vec<String>,
    /// Nodes to leave out.
    #[arg(long, num_args = 1.., value_name = "SELECTOR")]
    exclude: Vec<String>,
    /// Variables as YAML or JSON, e.g. '{start_date: 2024-01-01}'.
    #[arg(long)]
    vars: Option<String>,
    /// Parallel nodes (default: the profile's threads).
    #[arg(long)]
    threads: Option<usize>,
    /// Rebuild incremental models from scratch.
    #[arg(long)]
    full_refresh: bool,
    /// Stop at the first failure.
    #[arg(long, short = 'x')]
    fail_fast: bool,
    /// Parse every file again, ignoring (and not writing) target/partial_parse.json.
    #[arg(long)]
    no_partial_parse: bool,
    /// A YAML selector from selectors.yml.
    #[arg(long, value_name = "NAME")]
    selector: Option<String>,
    /// Build even when the project's `require-dbt-version` excludes the dbt
    /// version Tarmac follows (dbt-core 1.10.23).
    #[arg(long)]
    no_version_check: bool,
    /// Console output: text (default) or json (dbt's structured log lines).
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: String,
    /// Keep every test's failing rows in <schema>_dbt_test__audit (tests
    /// whose config sets store_failures/store_failures_as keep their own say).
    #[arg(long)]
    store_failures: bool,
    /// Which tests come along with the nodes they test: eager (any tested
    /// node selected), cautious (all), buildable (all, or upstream of the
    /// selection), empty (none).
    #[arg(
        long,
        env = "DBT_INDIRECT_SELECTION",
        value_name = "MODE",
        default_value = "eager",
        value_parser = ["eager", "cautious", "buildable", "empty"]
    )]
    indirect_selection: String,
    /// Only nodes of these kinds (model, seed, snapshot, test, unit_test, ...).
    #[arg(long, num_args = 1.., value_name = "TYPE")]
    resource_type: Vec<String>,
    /// Read no rows through ref() and source(): models build with their
    /// columns and no data (dbt's --empty, a schema-only dry run).
    #[arg(long)]
    empty: bool,
    /// The artifacts of an earlier run (its target/ folder, or dbt's) for
    /// state:modified, state:new, result:<status>, source_status:fresher
    /// and --defer.
    #[arg(long, env = "DBT_STATE", value_name = "DIR")]
    state: Option<PathBuf>,
    /// Refs to nodes this run does not build read the --state manifest's
    /// relations where the target lacks them (slim CI).
    #[arg(long, env = "DBT_DEFER")]
    defer: bool,
    /// With --defer: refs to unselected nodes always read the state's relations.
    #[arg(long, env = "DBT_FAVOR_STATE")]
    favor_state: bool,
    /// The artifacts to defer to, when not --state's.
    #[arg(long, env = "DBT_DEFER_STATE", value_name = "DIR")]
    defer_state: Option<PathBuf>,
    /// Microbatch models build their batches from this time (UTC; a date
    /// or a timestamp), instead of `begin` or their lookback.
    #[arg(long, value_name = "TIME")]
    event_time_start: Option<String>,
    /// Microbatch models build their batches up to this time (UTC),
    /// instead of now.
    #[arg(long, value_name = "TIME")]
    event_time_end: Option<String>,
    /// Sample mode: models read the refs and sources that have an
    /// event_time only within this window: "3 days" (back from now) or
    /// "{start: 2024-07-01, end: 2024-07-08}".
    #[arg(long, value_name = "WINDOW")]
    sample: Option<String>,
}

/// `tarmac run-operation MACRO --args '{...}'`.
#[derive(Args, Clone, Debug)]
pub struct RunOperationArgs {
    /// The macro to call (`name` or `package.name`).
    #[arg(value_name = "MACRO")]
    macro_name: String,
    /// Keyword arguments as a YAML/JSON mapping.
    #[arg(long)]
    args: Option<String>,
    #[command(flatten)]
    common: DbtArgs,
}

/// `tarmac compile`: dbt compile's flags over the common ones.
#[derive(Args, Clone, Debug)]
pub struct CompileArgs {
    /// A query to compile instead of the project (`ref()`/`source()`
    /// resolve); its SQL is printed.
    #[arg(long, value_name = "SQL")]
    inline: Option<String>,
    /// How the SQL of `--inline` or of the `--select`ed node is printed:
    /// text (under a heading) or json.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    output: String,
    #[command(flatten)]
    common: DbtArgs,
}

/// `tarmac compile`: the project compiled as by `run`, then, as dbt's
/// interactive compile, the SQL of the node `--select` names (or of the
/// `--inline` query, compiled alone) printed last, bare, for a user or a
/// pipe to read.
pub fn compile(args: CompileArgs, config: Result<Config>) -> Result<ExitCode> {
    let selection = args.common.selection();
    let opts = args.common.options(config)?;
    let result = match &args.inline {
        Some(sql) => engine::compile_inline(&opts, sql).map(|shown| engine::Summary {
            pass: 1,
            total: 1,
            shown: vec![shown],
            ..Default::default()
        }),
        None => engine::execute(&opts, engine::Command::Compile),
    };
    if let Ok(s) = &result {
        if s.ok() {
            print_compiled(&s.shown, &args.output);
        }
    }
    Ok(exit_code(result, selection))
}

/// dbt's `CompiledNode` events: each node's SQL, bare on standard output
/// (or as the structured log line under `--log-format json`).
fn print_compiled(shown: &[engine::compile::Shown], output: &str) {
    let json = output == "json";
    for s in shown {
        print_result(
            ("CompiledNode", "Q042"),
            &s.message(json),
            serde_json::json!({
                "compiled": s.sql, "is_inline": s.is_inline, "node_name": s.name,
                "output_format": output, "quiet": false, "unique_id": s.unique_id,
            }),
        );
    }
}

/// What a command was asked to print (a preview, compiled SQL): bare on
/// standard output, without a timestamp, as dbt prints it, or as dbt's
/// structured log line `event` (name, code) under `--log-format json`.
fn print_result(event: (&str, &str), msg: &str, data: serde_json::Value) {
    if engine::logfmt::is_json() {
        engine::logfmt::event(event.0, event.1, "info", msg, data);
    } else {
        println!("{msg}");
    }
}

/// `tarmac show`: dbt show's flags over the common ones.
#[derive(Args, Clone, Debug)]
pub struct ShowArgs {
    /// A query to preview instead of a model; `ref()`/`source()` resolve.
    #[arg(long, value_name = "SQL")]
    inline: Option<String>,
    /// Rows to show (-1: all).
    #[arg(long, default_value_t = 5, allow_negative_numbers = true)]
    limit: i64,
    /// text (a table) or json.
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    output: String,
    #[command(flatten)]
    common: DbtArgs,
}

/// `tarmac show`: 0 when every preview ran, 2 when the project does not
/// load or a query fails (dbt's exit code for both).
pub fn show(args: ShowArgs, config: Result<Config>) -> Result<ExitCode> {
    let json = args.output == "json";
    let req = engine::ShowRequest {
        inline: args.inline,
        limit: args.limit,
    };
    let opts = args.common.options(config)?;
    match engine::show(&opts, &req) {
        Ok(previews) => {
            for p in previews {
                print_result(
                    ("ShowNode", "Q041"),
                    &engine::show::message(&p.node_name, p.is_inline, &p.table, json),
                    serde_json::json!({
                        "is_inline": p.is_inline, "node_name": p.node_name,
                        "output_format": args.output, "preview": p.table.json_compact(),
                        "quiet": false, "unique_id": p.unique_id,
                    }),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(engine_exit(&e))
        }
    }
}

/// `tarmac retry`: dbt retry's flags (the rest comes from the last run).
#[derive(Args, Clone, Debug)]
pub struct RetryArgs {
    /// The project directory (default as for `tarmac build`).
    #[arg(long, value_name = "DIR")]
    project_dir: Option<PathBuf>,
    /// Where profiles.yml is (default: $DBT_PROFILES_DIR, the project, ~/.dbt).
    #[arg(long, value_name = "DIR")]
    profiles_dir: Option<PathBuf>,
    /// Where the last run's run_results.json is (default: the project's target-path).
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Variables (default: the last run's --vars).
    #[arg(long)]
    vars: Option<String>,
    /// Parallel nodes (default: the last run's --threads, else the profile's).
    #[arg(long)]
    threads: Option<usize>,
    /// Parse every file again, ignoring target/partial_parse.json.
    #[arg(long)]
    no_partial_parse: bool,
    /// Console output: text (default) or json.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: String,
}

/// `tarmac retry`: the last build/run/seed/snapshot/test/compile again,
/// with its flags, over the nodes that errored, failed or were skipped;
/// exit codes as that command's.
pub fn retry(args: RetryArgs, config: Result<Config>) -> Result<ExitCode> {
    let project_dir = match args.project_dir {
        Some(p) => Some(p),
        None => config?.default_project(),
    };
    let format: engine::logfmt::Format = args
        .log_format
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    engine::logfmt::set_format(format);
    let cli = engine::Options {
        project_dir,
        profiles_dir: args.profiles_dir,
        vars: args.vars,
        threads: args.threads,
        no_partial_parse: args.no_partial_parse,
        ..engine::Options::default()
    };
    let (command, opts) = match engine::retry_plan(&cli, args.state.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(engine_exit(&e));
        }
    };
    match engine::execute(&opts, command) {
        Ok(s) if s.ok() => Ok(ExitCode::SUCCESS),
        Ok(s) if s.sql_errors > 0 => Ok(ExitCode::from(2)),
        Ok(_) => Ok(ExitCode::from(1)),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(engine_exit(&e))
        }
    }
}

/// `tarmac clean`: 0 when every clean target is gone, 2 when the project
/// does not load or a target is refused (a source path, or outside the
/// project), as dbt.
pub fn clean(args: DbtArgs, config: Result<Config>) -> Result<ExitCode> {
    let opts = args.options(config)?;
    let report = |p: &std::path::Path, done: bool| {
        let verb = if done { "Cleaned" } else { "Checking" };
        engine::logfmt::info_line(&format!("{verb} {}/*", p.display()));
    };
    match engine::clean(&opts, &report) {
        Ok(_) => {
            engine::logfmt::info_line("Finished cleaning all paths.");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// `tarmac debug`: dbt debug's report (where the profile and project are,
/// whether each is found and valid, the connection's settings and a
/// `select 1` through it), plus whether the packages are installed. Exit 1
/// when a check fails, as dbt.
pub fn debug(args: DbtArgs, config: Result<Config>) -> Result<ExitCode> {
    let opts = args.options(config)?;
    let r = engine::debug(&opts);
    let line = |m: &str| engine::logfmt::info_line(m);
    line(&format!(
        "Running with dbt={} (tarmac {})",
        engine::project::DBT_VERSION,
        env!("CARGO_PKG_VERSION")
    ));
    line(&format!("dbt version: {}", engine::project::DBT_VERSION));
    line(&format!("tarmac version: {}", env!("CARGO_PKG_VERSION")));
    line(&format!(
        "os info: {}-{}",
        std::env::consts::OS,
        std::env::consts::ARCH
    ));
    let shown = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(none)".into())
    };
    line(&format!("Using profiles dir at {}", shown(&r.profiles_dir)));
    line(&format!(
        "Using profiles.yml file at {}",
        r.profiles_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("{}/profiles.yml", shown(&r.profiles_dir)))
    ));
    line(&format!(
        "Using dbt_project.yml file at {}",
        r.project_file.display()
    ));
    if r.profile.is_ok() {
        line("adapter type: duckdb");
        line(&format!(
            "adapter version: DuckDB {}",
            engine::db::duckdb_version()
        ));
    }
    let verdict = |res: &std::result::Result<(), String>| match res {
        Ok(()) => "OK found and valid".to_string(),
        Err(e) if e == "not found" => "ERROR not found".to_string(),
        Err(_) => "ERROR invalid".to_string(),
    };
    line("Configuration:");
    line(&format!("  profiles.yml file [{}]", verdict(&r.profile)));
    line(&format!("  dbt_project.yml file [{}]", verdict(&r.project)));
    line("Required dependencies:");
    let git = std::process::Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    line(&format!(
        " - git [{}]",
        if git { "OK found" } else { "ERROR not found" }
    ));
    match &r.packages {
        Ok(n) => line(&format!(" - packages [OK {n} installed]")),
        Err(_) => line(" - packages [ERROR not installed: run tarmac deps]"),
    }
    engine::logfmt::blank();
    match &r.connection_test {
        None => line("Connection test skipped since no profile was found"),
        Some(t) => {
            line("Connection:");
            for (k, v) in &r.connection {
                line(&format!("  {k}: {v}"));
            }
            match t {
                Ok(()) => line("  Connection test: [OK connection ok]"),
                Err(_) => line("  Connection test: [ERROR]"),
            }
            engine::logfmt::blank();
        }
    }
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = &r.profile {
        problems.push(if e == "not found" {
            format!(
                "dbt looked for a profiles.yml file in {}/profiles.yml, but did not find one.",
                shown(&r.profiles_dir)
            )
        } else {
            format!("Profile loading failed for the following reason:\n{e}")
        });
    }
    if let Err(e) = &r.project {
        problems.push(if e == "not found" {
            format!(
                "Project loading failed for the following reason:\n project path <{}> not found",
                r.project_file.display()
            )
        } else {
            format!("Project loading failed for the following reason:\n{e}")
        });
    }
    if let Err(e) = &r.packages {
        problems.push(format!("Packages are not installed:\n{e}"));
    }
    if let Some(Err(e)) = &r.connection_test {
        problems.push(format!("Connection test failed:\n{e}"));
    }
    if problems.is_empty() {
        line("All checks passed!");
        Ok(ExitCode::SUCCESS)
    } else {
        line(&format!(
            "{} check{} failed:",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
        for p in problems {
            line(&p);
            engine::logfmt::blank();
        }
        Ok(ExitCode::from(1))
    }
}

/// `tarmac deps`.
#[derive(Args, Clone, Debug)]
pub struct DepsArgs {
    /// The project directory (default as for `tarmac build`).
    #[arg(long, value_name = "DIR")]
    project_dir: Option<PathBuf>,
    /// Variables as YAML or JSON (packages.yml may use `var()`).
    #[arg(long)]
    vars: Option<String>,
}

/// `tarmac deps`: 0 when every package is installed, 2 otherwise (one
/// line per package that could not be).
pub fn deps(args: DepsArgs, config: Result<Config>) -> Result<ExitCode> {
    let project_dir = match args.project_dir {
        Some(p) => Some(p),
        None => config?.default_project(),
    };
    let opts = engine::Options {
        project_dir,
        vars: args.vars,
        ..engine::Options::default()
    };
    let fetch = |url: &str| -> std::result::Result<Vec<u8>, String> { http_get(url) };
    match engine::deps(&opts, &fetch) {
        Ok(report) => {
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            if report.installed.is_empty() && report.warnings.is_empty() {
                println!("No packages were found in packages.yml");
            }
            for p in &report.installed {
                match &p.version {
                    Some(v) => println!("Installed from {} {}: {} ({v})", p.source, p.name, p.name),
                    None => println!("Installed from {}: {}", p.source, p.name),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            Ok(ExitCode::from(2))
        }
    }
}

/// One HTTP GET for `deps` (hub.getdbt.com's index and tarballs), with a
/// timeout; errors name the failure, never a panic.
fn http_get(url: &str) -> std::result::Result<Vec<u8>, String> {
    let get = async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| e.without_url().to_string())?;
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        resp.bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| e.without_url().to_string())
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) => tokio::task::block_in_place(|| h.block_on(get)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(get),
    }
}

impl DbtArgs {
    /// The selection as the user gave it (`--select` words, or
    /// `--selector NAME`), for a message when it selects nothing.
    fn selection(&self) -> Option<String> {
        if let Some(sel) = &self.selector {
            return Some(format!("--selector {sel}"));
        }
        (!self.select.is_empty()).then(|| self.select.join(" "))
    }

    /// The engine's options. Without `--project-dir` the project comes from
    /// the configuration, which must then have loaded.
    pub fn options(self, config: Result<Config>) -> Result<engine::Options> {
        let project_dir = match self.project_dir {
            Some(p) => Some(p),
            None => config?.default_project(),
        };
        let format: engine::logfmt::Format = self
            .log_format
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?;
        engine::logfmt::set_format(format);
        Ok(engine::Options {
            project_dir,
            profiles_dir: self.profiles_dir,
            target: self.target,
            vars: self.vars,
            select: self.select,
            exclude: self.exclude,
            threads: self.threads,
            full_refresh: self.full_refresh,
            fail_fast: self.fail_fast,
            no_partial_parse: self.no_partial_parse,
            selector: self.selector,
            no_version_check: self.no_version_check,
            store_failures: self.store_failures,
            indirect_selection: self
                .indirect_selection
                .parse()
                .map_err(|e: String| anyhow::anyhow!(e))?,
            resource_types: self.resource_type,
            state: self.state,
            defer: self.defer,
            favor_state: self.favor_state,
            defer_state: self.defer_state,
            progress: None,
            retry: None,
            empty: self.empty,
            event_time_start: self.event_time_start,
            event_time_end: self.event_time_end,
            sample: self.sample,
        })
    }
}

/// Exit codes as dbt's: 0 success, 1 node failures, 2 errors before running
/// and models whose SQL DuckDB refused (final: a retry cannot fix them);
/// a warehouse that stayed locked past the wait or is damaged exits with
/// the warehouse crate's codes (75 is retried by the orchestrator, 2 is not).
///
/// A selection (`--select`, `--selector`) that selects nothing is a warning,
/// and in an orchestrator step (`TARMAC_RUN_ID` set) a final error: a job
/// whose build does nothing is a mistake in the job, not a success.
pub fn run(command: engine::Command, args: DbtArgs, config: Result<Config>) -> Result<ExitCode> {
    let selection = args.selection();
    let result = engine::execute(&args.options(config)?, command);
    Ok(exit_code(result, selection))
}

/// A dbt command's exit code from its summary, with the warning (or, in an
/// orchestrated job, the error) for a `selection` that selects nothing.
fn exit_code(result: engine::Result<engine::Summary>, selection: Option<String>) -> ExitCode {
    match result {
        Ok(s) if s.total == 0 && selection.is_some() => {
            let what = format!(
                "the selection `{}` selects nothing in this project",
                selection.unwrap_or_default()
            );
            if std::env::var_os("TARMAC_RUN_ID").is_some() {
                eprintln!("error: {what}: fix the job's step");
                ExitCode::from(2)
            } else {
                eprintln!("warning: {what}");
                ExitCode::SUCCESS
            }
        }
        Ok(s) if s.ok() => ExitCode::SUCCESS,
        // a model whose SQL DuckDB refused: final, the orchestrator does
        // not retry it (see `crate::exit`)
        Ok(s) if s.sql_errors > 0 => ExitCode::from(2),
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            engine_exit(&e)
        }
    }
}

/// 2 (dbt's "error before running"), or the warehouse's own exit code.
pub fn engine_exit(e: &engine::Error) -> ExitCode {
    match e {
        engine::Error::Warehouse(w) => ExitCode::from(w.exit_code()),
        _ => ExitCode::from(2),
    }
}

/// `tarmac parse`: dbt's `parse`, manifest.json without compiled SQL.
pub fn parse(args: DbtArgs, config: Result<Config>) -> Result<ExitCode> {
    match engine::parse(&args.options(config)?) {
        Ok(parsed) => {
            println!("{}", parsed.line);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// `source freshness`: exit 1 when a source is stale past `error_after` or
/// cannot be queried, 2 when the project does not load.
pub fn freshness(args: DbtArgs, config: Result<Config>) -> Result<ExitCode> {
    match engine::freshness::run(&args.options(config)?) {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(1)),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(engine_exit(&e))
        }
    }
}

/// `tarmac ls`: dbt ls's flags over the common ones.
#[derive(Args, Clone, Debug)]
pub struct LsArgs {
    /// selector (project.folder.name, the default), name, path or json.
    #[arg(long, short = 'o', value_name = "FORMAT", default_value = "selector", value_parser = ["selector", "name", "path", "json"])]
    output: String,
    /// With --output json: only these keys of each node.
    #[arg(long, num_args = 1.., value_name = "KEY")]
    output_keys: Vec<String>,
    #[command(flatten)]
    common: DbtArgs,
}

/// `tarmac ls`: the selected nodes in dbt's order (by unique id), one a
/// line, as dbt ls prints them.
pub fn ls(args: LsArgs, config: Result<Config>) -> Result<ExitCode> {
    let keys: Vec<String> = args
        .output_keys
        .iter()
        .flat_map(|k| k.split([',', ' ']))
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    match engine::list_json(&args.common.options(config)?) {
        Ok(nodes) => {
            for (fqn, n) in nodes {
                let text = |k: &str| n[k].as_str().unwrap_or_default().to_string();
                let line = match args.output.as_str() {
                    // a source's name is `source.table`, as dbt prints it
                    "name" if n["resource_type"] == "source" => {
                        format!("{}.{}", text("source_name"), text("name"))
                    }
                    "name" => text("name"),
                    "path" => text("original_file_path"),
                    "json" if keys.is_empty() => engine::show::py_json(&n),
                    "json" => {
                        let mut o = serde_json::Map::new();
                        if let serde_json::Value::Object(m) = &n {
                            for (k, v) in m {
                                if keys.contains(k) {
                                    o.insert(k.clone(), v.clone());
                                }
                            }
                        }
                        engine::show::py_json(&serde_json::Value::Object(o))
                    }
                    _ => fqn,
                };
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

/// Exit codes as dbt's: 0 success, 1 when the macro fails, 2 before it runs.
pub fn run_operation(args: RunOperationArgs, config: Result<Config>) -> Result<ExitCode> {
    match engine::run_operation(
        &args.common.options(config)?,
        &args.macro_name,
        args.args.as_deref(),
    ) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
