//! Tarmac's model engine: loads a project in the dbt format (dbt_project.yml,
//! profiles.yml, SQL + Jinja models, YAML properties, seeds, macros), renders
//! it with minijinja, orders it as a DAG, and builds it in embedded DuckDB,
//! writing dbt-compatible artifacts. Not for: argument parsing (the binary),
//! other warehouses.
//!
//! Flow: [`project`] + [`properties`] + [`config`] → [`manifest`] (parse
//! phase, `execute = false`) → [`graph`] + [`select`] → [`execute`] (per node:
//! [`compile`] with `execute = true`, then [`materialize`] or [`seed`]) →
//! [`artifacts`].

use warehouse::duckdb;
pub mod artifacts;
pub mod clone;
pub mod compile;
pub mod compile_stamp;
pub mod contract;
pub mod data_tests;
pub mod db;
pub mod error;
pub mod execute;
pub mod external_source;
pub mod freshness;
pub mod graph;
pub mod kinds;
pub mod manifest;
pub mod materialization;
pub mod materialize;
pub mod merge;
pub mod microbatch;
pub mod operation;
pub mod packages;
pub mod par;
pub mod parse;
pub mod partial;
pub mod persist_docs;
pub mod properties;
pub mod results;
pub mod seed;
pub mod select;
pub mod selectors;
pub mod show;
pub mod snapshot;
pub mod sourcemap;
pub mod state;
pub mod unit_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

// The project-file phase lives in its own crate; its modules keep their
// paths here (`crate::yaml`, `engine::config`, ...).
pub use dbt_project::{config, resources, yaml};
// the Jinja layer, under the paths it had when it lived here
pub use dbt_jinja::{
    blocks, builtins, database, extras, jinja, logfmt, macros, phase, project, pyargs, pydatetime,
    relation, render_error,
};
pub use error::{Error, Result};
pub use results::Command;

use results::Status;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub project_dir: Option<PathBuf>,
    pub profiles_dir: Option<PathBuf>,
    pub target: Option<String>,
    /// `--vars` as YAML or JSON.
    pub vars: Option<String>,
    pub select: Vec<String>,
    pub exclude: Vec<String>,
    pub threads: Option<usize>,
    pub full_refresh: bool,
    pub fail_fast: bool,
    /// Parse everything, ignoring `target/partial_parse.json` (dbt's
    /// `--no-partial-parse`); the state is not written either.
    pub no_partial_parse: bool,
    /// `--selector NAME` from selectors.yml.
    pub selector: Option<String>,
    /// A progress display (`tarmac up` on a terminal): told as nodes
    /// finish, and no line per node is printed.
    pub progress: Option<execute::NodeProgress>,
    /// dbt's `--no-version-check`: build even when `require-dbt-version`
    /// excludes the dbt version Tarmac follows.
    pub no_version_check: bool,
    /// `--store-failures`: tests that do not say otherwise keep their
    /// failing rows in `<schema>_dbt_test__audit`.
    pub store_failures: bool,
    /// `--indirect-selection` (or `DBT_INDIRECT_SELECTION`).
    pub indirect_selection: select::IndirectSelection,
    /// `--resource-type`: only nodes of these kinds (empty: all).
    pub resource_types: Vec<String>,
    /// `tarmac retry`: the nodes to run again instead of a selection.
    pub retry: Option<RetrySet>,
    /// dbt's `--empty`: `ref()`/`source()` read no rows, so models build
    /// with their columns and no data (a schema-only dry run).
    pub empty: bool,
    /// `--event-time-start`/`--event-time-end`: the window microbatch
    /// models build (a date or timestamp, UTC).
    pub event_time_start: Option<String>,
    pub event_time_end: Option<String>,
    /// `--sample`: `"3 days"` or `{start: ..., end: ...}`; models and
    /// snapshots read the relations of nodes with an `event_time` within it.
    pub sample: Option<String>,
    /// `--state DIR`: an earlier run's artifacts, for `state:`, `result:`
    /// and `source_status:` selectors (and `--defer`).
    pub state: Option<PathBuf>,
    /// `--defer`: refs to nodes this run does not build resolve to the
    /// state manifest's relations where the target lacks them.
    pub defer: bool,
    /// `--favor-state`: with `--defer`, unselected nodes always resolve
    /// to the state's relations.
    pub favor_state: bool,
    /// `--defer-state DIR`: the artifacts to defer to, when not `--state`'s.
    pub defer_state: Option<PathBuf>,
}

/// What `tarmac retry` runs again, from the last run_results.json: the
/// nodes whose status dbt's retry takes (error, fail, skipped, runtime
/// error, partial success). The nodes a `--fail-fast` run never reached
/// are among them: both tools record those as skipped.
#[derive(Debug, Clone, Default)]
pub struct RetrySet {
    pub failed: std::collections::BTreeSet<String>,
    /// The microbatch models' batches in that run: only the failed ones
    /// run again.
    pub batches: std::collections::HashMap<String, results::BatchResults>,
}

/// dbt's `RETRYABLE_STATUSES`.
const RETRYABLE: &[&str] = &[
    "error",
    "fail",
    "skipped",
    "runtime error",
    "partial success",
];

/// `tarmac retry`: the previous command and its flags, read from
/// `<--state or target-path>/run_results.json` `args` as dbt's retry reads
/// them (`--vars` and `--threads` given now win; the project and profile
/// folders are today's), with the nodes to run again. The caller runs
/// [`execute`] with them; an empty set prints dbt's "Nothing to do".
pub fn retry_plan(cli: &Options, state: Option<&std::path::Path>) -> Result<(Command, Options)> {
    let (dir, cli_vars) = dir_and_cli_vars(cli)?;
    let state_dir = match state {
        Some(s) => s.to_path_buf(),
        None => {
            let project = project::Project::load(&dir, &cli_vars, None)?;
            PathBuf::from(&project.target_path)
        }
    };
    let path = if state_dir.is_absolute() {
        state_dir.join("run_results.json")
    } else {
        dir.join(&state_dir).join("run_results.json")
    };
    let missing = || {
        Error::Project(format!(
            "Runtime Error\n  Could not find previous run in '{}' target directory",
            state_dir.display()
        ))
    };
    let prev = dbt_artifacts::RunResults::read(&path)
        .ok()
        .flatten()
        .ok_or_else(missing)?;
    let args = &prev.args;
    let which = args["which"].as_str().unwrap_or_default();
    let command = Command::from_which(which).filter(|c| *c != Command::RunOperation).ok_or_else(|| {
        Error::Project(format!(
            "Runtime Error\n  the last run ({}) was not a command tarmac retry reruns (build, run, seed, snapshot, test, compile)",
            if which.is_empty() { "unknown" } else { which }
        ))
    })?;
    let strings = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            serde_json::Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let mut failed = std::collections::BTreeSet::new();
    let mut batches = std::collections::HashMap::new();
    for r in &prev.results {
        let id = r.unique_id.as_str();
        if id.starts_with("operation.") {
            continue;
        }
        if RETRYABLE.contains(&r.status.as_str()) {
            failed.insert(id.to_string());
            if let Some(b) = r.batch_results.as_ref().filter(|b| b.is_object()) {
                batches.insert(id.to_string(), results::BatchResults::from_json(b));
            }
        }
    }
    let vars = match (&cli.vars, args.get("vars")) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(v @ serde_json::Value::Object(m))) if !m.is_empty() => Some(v.to_string()),
        _ => None,
    };
    let opts = Options {
        project_dir: cli.project_dir.clone(),
        profiles_dir: cli.profiles_dir.clone(),
        target: args["target"].as_str().map(str::to_string),
        vars,
        select: strings(&args["select"]),
        exclude: strings(&args["exclude"]),
        threads: cli
            .threads
            .or_else(|| args["threads"].as_u64().map(|t| t as usize)),
        full_refresh: args["full_refresh"].as_bool().unwrap_or(false),
        fail_fast: args["fail_fast"].as_bool().unwrap_or(false),
        no_partial_parse: cli.no_partial_parse,
        selector: args["selector"].as_str().map(str::to_string),
        progress: cli.progress.clone(),
        no_version_check: cli.no_version_check,
        store_failures: args["store_failures"].as_bool().unwrap_or(false),
        indirect_selection: args["indirect_selection"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default(),
        resource_types: strings(&args["resource_types"]),
        // a deferred run is retried deferred, against the same state
        state: cli
            .state
            .clone()
            .or_else(|| args["state"].as_str().map(PathBuf::from)),
        defer: args["defer"].as_bool().unwrap_or(false),
        favor_state: args["favor_state"].as_bool().unwrap_or(false),
        defer_state: args["defer_state"].as_str().map(PathBuf::from),
        retry: Some(RetrySet { failed, batches }),
        empty: args["empty"].as_bool().unwrap_or(false),
        event_time_start: args["event_time_start"].as_str().map(str::to_string),
        event_time_end: args["event_time_end"].as_str().map(str::to_string),
        sample: args["sample"].as_str().map(str::to_string),
    };
    Ok((command, opts))
}

/// Counts printed at the end of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub pass: usize,
    pub warn: usize,
    pub error: usize,
    pub skip: usize,
    /// Nodes with nothing to run (exposures in `build`).
    pub noop: usize,
    /// Microbatch models some of whose batches failed (also in `error`).
    pub partial: usize,
    pub total: usize,
    /// Models whose SQL DuckDB refused (does not parse, names what does not
    /// exist): final errors, which no retry fixes.
    pub sql_errors: usize,
    /// A compile that found every input as the last compile left it and
    /// kept its output ([`compile_stamp`]).
    pub kept: bool,
    /// The nodes whose compiled SQL a compile prints, for the caller to
    /// print last ([`compile::shown`]).
    pub shown: Vec<compile::Shown>,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.error == 0
    }
}

/// A loaded project, ready to select and run.
pub struct Loaded {
    pub manifest: manifest::Manifest,
    pub dag: graph::Dag,
}

fn new_invocation_id() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The project directory (`--project-dir`, else `.`) and the `--vars`
/// mapping, which every command that loads the project needs first.
fn dir_and_cli_vars(
    opts: &Options,
) -> Result<(PathBuf, serde_json::Map<String, serde_json::Value>)> {
    let dir = opts
        .project_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("."));
    let cli_vars = match &opts.vars {
        Some(v) if !v.trim().is_empty() => match yaml::parse(std::path::Path::new("--vars"), v)? {
            serde_json::Value::Object(m) => m,
            _ => return Err(Error::Project("--vars must be a YAML/JSON mapping".into())),
        },
        _ => serde_json::Map::new(),
    };
    Ok((dir, cli_vars))
}

/// Load and parse the project.
pub fn load(opts: &Options, command: Command) -> Result<Loaded> {
    let info = run_info(opts, command)?;
    load_info(info, opts)
}

/// What every phase of a command reads: the profile's target, the root
/// project and the installed packages (their versions checked), the vars,
/// and this invocation's id and start time.
pub fn run_info(opts: &Options, command: Command) -> Result<jinja::RunInfo> {
    let (dir, cli_vars) = dir_and_cli_vars(opts)?;
    // as dbt: the profile first (its name from the project file), so that
    // the project files render with `target`
    let profile = project::Project::profile_name(&dir, &cli_vars)?;
    let profiles = project::Target::find_profiles(opts.profiles_dir.as_deref(), &dir)?;
    let mut target = project::Target::load(&profiles, &profile, opts.target.as_deref(), &cli_vars)?;
    if let Some(t) = opts.threads {
        target.threads = t.max(1);
    }
    let mut project = project::Project::load(&dir, &cli_vars, Some(&target))?;
    if !opts.no_version_check {
        project.check_dbt_version()?;
    }
    let installed = packages::load_installed(&project, Some(&target))?;
    if !opts.no_version_check {
        for p in &installed {
            p.check_dbt_version()?;
        }
    }
    project.dependencies = installed.iter().map(|p| p.name.clone()).collect();
    let project = Arc::new(project);
    let installed: Vec<Arc<project::Project>> = installed
        .into_iter()
        .map(|mut p| {
            p.overrides = Some(project.clone());
            Arc::new(p)
        })
        .collect();
    let vars = project.vars_for_project();
    Ok(jinja::RunInfo {
        project,
        packages: installed,
        target,
        invocation_id: new_invocation_id(),
        run_started_at: chrono::Utc::now(),
        full_refresh: opts.full_refresh,
        vars,
        which: command.as_str().to_string(),
        store_failures: opts.store_failures,
    })
}

/// `target/partial_parse.json` of a project, unless partial parsing is off.
fn partial_state_path(info: &jinja::RunInfo, opts: &Options) -> Option<PathBuf> {
    (!opts.no_partial_parse)
        .then(|| results::target_dir_of(&info.project).join("partial_parse.json"))
}

/// Print the warnings of a load, as text or as JSON log events.
fn print_warnings(warnings: &[String]) {
    for w in warnings {
        if logfmt::is_json() {
            logfmt::event("Note", "Z050", "warn", w, serde_json::json!({"msg": w}));
        } else {
            eprintln!("warning: {w}");
        }
    }
}

/// Parse the project of `info` (see [`load`]).
pub fn load_info(info: jinja::RunInfo, opts: &Options) -> Result<Loaded> {
    let t0 = Instant::now();
    let state_path = partial_state_path(&info, opts);
    let manifest = manifest::Manifest::load_with(info, state_path.as_deref())?;
    tracing::debug!("timing: parsed in {:?}", t0.elapsed());
    tracing::debug!(
        "{} of {} models keep the text their parse rendered (no render at compile)",
        manifest
            .nodes
            .values()
            .filter(|n| n.rendered.is_some())
            .count(),
        manifest
            .nodes
            .values()
            .filter(|n| n.resource_type == manifest::ResourceType::Model)
            .count()
    );
    print_warnings(&manifest.warnings);
    let dag = graph::Dag::build(&manifest)?;
    let mut manifest = manifest;
    // `graph` costs a manifest's worth of JSON: only for projects that use it
    let uses_graph = manifest
        .nodes
        .values()
        .any(|n| n.raw_code.contains("graph"))
        || manifest
            .macro_files
            .iter()
            .any(|f| f.text.contains("graph"))
        || manifest
            .info
            .project
            .on_run_start
            .iter()
            .chain(&manifest.info.project.on_run_end)
            .any(|h| h.contains("graph"));
    if uses_graph {
        let mj = artifacts::manifest_json(&manifest, &dag, &BTreeMap::new());
        let g = serde_json::json!({
            "nodes": mj["nodes"], "sources": mj["sources"], "macros": {},
            "exposures": mj["exposures"], "metrics": mj["metrics"], "groups": mj["groups"],
            "semantic_models": mj["semantic_models"], "saved_queries": mj["saved_queries"],
            "unit_tests": {},
        });
        // Python dicts and lists, as dbt's: packages update a node's config
        // dict they read from the graph (dbt-activity-schema's data_types)
        manifest.env.add_global(
            "graph",
            extras::py_mutable(minijinja::Value::from_serialize(&g)),
        );
        jinja::install_context(&mut manifest.env);
    }
    Ok(Loaded { manifest, dag })
}

/// `tarmac deps`: install the packages of packages.yml / dependencies.yml
/// (see [`packages`]); `fetch` is an HTTP GET for hub packages.
pub fn deps(opts: &Options, fetch: packages::Fetch<'_>) -> Result<packages::DepsReport> {
    let (dir, cli_vars) = dir_and_cli_vars(opts)?;
    // `target` where the profile loads (dbt deps needs none)
    let target = project::Project::profile_name(&dir, &cli_vars)
        .ok()
        .and_then(|profile| {
            let f = project::Target::find_profiles(opts.profiles_dir.as_deref(), &dir).ok()?;
            project::Target::load(&f, &profile, opts.target.as_deref(), &cli_vars).ok()
        });
    let project = project::Project::load(&dir, &cli_vars, target.as_ref())?;
    packages::deps(&project, fetch)
}

/// `tarmac ls`: the selected nodes as `dbt ls` prints them (`project.folder.name`).
pub fn list(opts: &Options) -> Result<Vec<String>> {
    let l = load(opts, Command::Compile)?;
    let chosen = choose(&l, opts)?;
    let mut out: Vec<String> = chosen
        .iter()
        .filter_map(|id| l.manifest.nodes.get(id))
        .map(ls_name)
        .collect();
    out.sort();
    Ok(out)
}

/// How `dbt ls` names a node by default: its fqn joined with dots, an
/// exposure as `exposure:<package>.<name>`, a unit test as
/// `unit_test:<package>.<name>`.
fn ls_name(n: &manifest::Node) -> String {
    match n.resource_type {
        manifest::ResourceType::Exposure => format!("exposure:{}.{}", n.package_name, n.name),
        manifest::ResourceType::Unit => format!("unit_test:{}.{}", n.package_name, n.name),
        _ => n.fqn.join("."),
    }
}

/// What `tarmac show` previews: the selected models (`--select`), or an
/// inline query (`--inline`), with `--limit` rows (negative: all).
#[derive(Debug, Clone)]
pub struct ShowRequest {
    pub inline: Option<String>,
    pub limit: i64,
}

/// One previewed node: dbt's `ShowNode` event.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The model's name, or `inline_query`.
    pub node_name: String,
    pub unique_id: String,
    pub is_inline: bool,
    pub table: show::Table,
}

/// dbt's header lines of a command that connects: version, what was
/// found, the concurrency line.
fn print_header(m: &manifest::Manifest, node_count: usize) {
    print_header_with(&m.info, &found_stats(m), node_count);
}

/// [`print_header`] from what it prints: the run, dbt's "Found" stats and
/// the node count.
fn print_header_with(info: &jinja::RunInfo, stat: &str, node_count: usize) {
    logfmt::set_invocation(&info.invocation_id);
    logfmt::event(
        "MainReportVersion",
        "A001",
        "info",
        &format!(
            "Running with dbt={} (tarmac {})",
            project::DBT_VERSION,
            env!("CARGO_PKG_VERSION")
        ),
        serde_json::json!({"log_version": 3, "version": format!("={}", project::DBT_VERSION)}),
    );
    logfmt::event(
        "FoundStats",
        "W006",
        "info",
        &format!("Found {stat}"),
        serde_json::json!({"stat_line": stat}),
    );
    logfmt::blank();
    let threads = info.target.threads;
    logfmt::event(
        "ConcurrencyLine",
        "Q027",
        "info",
        &format!(
            "Concurrency: {threads} threads (target='{}')",
            info.target.name
        ),
        serde_json::json!({"node_count": node_count, "num_threads": threads, "target_name": info.target.name}),
    );
    logfmt::blank();
}

/// `tarmac show`: compile each selected model (or the inline query, whose
/// `ref`/`source` resolve as a root-project model's) and run it against
/// the profile's database with dbt's `limit` appended. Seeds are read
/// whole, as dbt shows a seed's file. Nothing is built; an `--inline`
/// query's SQL and run_results.json are written, as dbt's.
pub fn show(opts: &Options, req: &ShowRequest) -> Result<Vec<Preview>> {
    if req.inline.is_none() && opts.select.is_empty() && opts.selector.is_none() {
        return Err(Error::Project(
            "Runtime Error\n  Either --select or --inline must be passed to show".into(),
        ));
    }
    let l = load(opts, Command::Compile)?;
    let m = &l.manifest;
    let resolver = m.resolver();
    let mut todo: Vec<manifest::Node> = Vec::new();
    if let Some(sql) = &req.inline {
        todo.push(inline_node(m, sql));
    } else {
        let chosen = choose(&l, opts)?;
        // upstream first, as dbt's runner takes them
        for id in l.dag.order() {
            if !chosen.contains(&id) {
                continue;
            }
            if let Some(n) = m.nodes.get(&id) {
                if matches!(
                    n.resource_type,
                    manifest::ResourceType::Model
                        | manifest::ResourceType::Seed
                        | manifest::ResourceType::Snapshot
                ) {
                    todo.push(n.clone());
                }
            }
        }
    }
    let t0 = Instant::now();
    if req.inline.is_some() {
        print_inline_header(m);
    } else {
        print_header(m, todo.len());
    }
    let db = open_db(&m.info.target)?;
    let mut out = Vec::new();
    for n in &todo {
        let started = chrono::Utc::now();
        let runtime = |e: &dyn std::fmt::Display| {
            let what = if req.inline.is_some() {
                "sql_operation inline_query".to_string()
            } else {
                format!("{} {}", n.resource_type.as_str(), n.name)
            };
            Error::Runtime(format!(
                "Runtime Error in {what} ({})\n  {}",
                n.original_file_path,
                e.to_string().replace('\n', "\n  ")
            ))
        };
        let (compiled, sql) = if n.resource_type == manifest::ResourceType::Seed {
            let sql = format!("select * from {}", n.relation().render());
            (sql.clone(), sql)
        } else {
            let c = compile::compile(m, n, &resolver, Some(db.shared()), false)?;
            let limited = show::limited_sql(&c.sql, req.limit);
            (c.sql, limited)
        };
        let compiled_at = chrono::Utc::now();
        let table = show::query(&db, &sql).map_err(|e| runtime(&e))?;
        if req.inline.is_some() {
            let result = inline_result(n, sql.clone(), started, compiled_at);
            write_inline_artifacts(opts, m, (result, &compiled), "show", t0)?;
        }
        out.push(Preview {
            node_name: n.name.clone(),
            unique_id: n.unique_id.clone(),
            is_inline: req.inline.is_some(),
            table,
        });
    }
    drop_in_background(l);
    Ok(out)
}

/// dbt's node for an `--inline` query (`show`, `compile`): a model of the
/// root project named `inline_query`, in the target's schema, whose
/// `ref`/`source` resolve as a root-project model's.
fn inline_node(m: &manifest::Manifest, sql: &str) -> manifest::Node {
    let root = &m.info.project;
    manifest::Node {
        original_file_path: "from remote system.sql".into(),
        path: "from remote system.sql".into(),
        fqn: vec![root.name.clone(), "inline_query".into()],
        raw_code: sql.to_string(),
        database: m.info.target.database.clone(),
        schema: m.info.target.schema.clone(),
        quoting: root.quoting,
        ..manifest::Node::new(
            format!("sql_operation.{}.inline_query", root.name),
            manifest::ResourceType::Model,
            "inline_query",
            root.name.clone(),
        )
    }
}

/// dbt's header of an `--inline` command: the query counts as one "sql
/// operation" among what was found.
fn print_inline_header(m: &manifest::Manifest) {
    print_header_with(&m.info, &found_stats_with(m, 1), 1);
}

/// What dbt 1.10 writes after an `--inline` query succeeds (`compile`,
/// `show`): its compiled SQL (`compiled`: without show's `limit`) as
/// `target/compiled/<project>/from remote system.sql/sql/inline_query`,
/// and run_results.json with its one result
/// (`sql_operation.<project>.inline_query`, no relation). `which` is the
/// command's name in the results' `args`.
fn write_inline_artifacts(
    opts: &Options,
    m: &manifest::Manifest,
    (result, compiled): (results::NodeResult, &str),
    which: &str,
    t0: Instant,
) -> Result<()> {
    let path = results::target_dir(m)
        .join("compiled")
        .join(&m.info.project.name)
        .join("from remote system.sql/sql/inline_query");
    artifacts::write_sql_file(&path, compiled)?;
    let mut args = run_args(opts, Command::Compile, &m.info.project.root)?;
    args["which"] = which.into();
    args["inline"] = opts_inline(&result);
    artifacts::write_json(
        m,
        "run_results.json",
        &artifacts::run_results_json(
            m,
            &[result],
            t0.elapsed().as_secs_f64(),
            Command::Compile,
            args,
        ),
    )
}

/// The inline query's text as run_results.json's `args.inline` holds it.
fn opts_inline(result: &results::NodeResult) -> serde_json::Value {
    result
        .run_sql
        .clone()
        .map(serde_json::Value::String)
        .unwrap_or_default()
}

/// The inline node's result: compiled (and, for `show`, run) with success.
fn inline_result(
    node: &manifest::Node,
    sql: String,
    started_at: chrono::DateTime<chrono::Utc>,
    compiled_at: chrono::DateTime<chrono::Utc>,
) -> results::NodeResult {
    let now = chrono::Utc::now();
    results::NodeResult {
        unique_id: node.unique_id.clone(),
        status: Status::Success,
        message: String::new(),
        compiled_sql: Some(sql),
        // the query as given, for `args.inline` (no run SQL is written)
        run_sql: Some(node.raw_code.clone()),
        started_at,
        compiled_at,
        completed_at: now,
        execution_time: (now - started_at).num_microseconds().unwrap_or(0) as f64 / 1e6,
        rows_affected: None,
        failures: None,
        batch_results: None,
    }
}

/// `tarmac compile --inline SQL`: the query compiled as dbt compiles an
/// inline node (its `ref`/`source` resolved, its Jinja run with a
/// connection, as `run_query` may ask the warehouse). Nothing is built;
/// the query's compiled SQL and run_results.json are written, as dbt's.
pub fn compile_inline(opts: &Options, sql: &str) -> Result<compile::Shown> {
    let t0 = Instant::now();
    let l = load(opts, Command::Compile)?;
    let m = &l.manifest;
    let node = inline_node(m, sql);
    print_inline_header(m);
    let db = open_db(&m.info.target)?;
    let started = chrono::Utc::now();
    let c = compile::compile(m, &node, &m.resolver(), Some(db.shared()), false)?;
    let result = inline_result(&node, c.sql.clone(), started, chrono::Utc::now());
    write_inline_artifacts(opts, m, (result, &c.sql), "compile", t0)?;
    let shown = compile::Shown {
        name: node.name.clone(),
        unique_id: node.unique_id.clone(),
        is_inline: true,
        sql: c.sql,
    };
    drop_in_background(l);
    Ok(shown)
}

/// `tarmac clean`: the folders of `clean-targets` removed, as dbt 1.10's
/// clean: paths relative to the project; a source path (models, seeds,
/// macros, snapshots, analyses, tests) or a path outside the project is
/// refused with dbt's message before anything is removed. Returns the
/// absolute paths, sorted, each removed (a missing one is no error);
/// `report` is told before and after each.
pub fn clean(opts: &Options, report: &dyn Fn(&std::path::Path, bool)) -> Result<Vec<PathBuf>> {
    let (dir, cli_vars) = dir_and_cli_vars(opts)?;
    let project = project::Project::load(&dir, &cli_vars, None)?;
    let root = project.root.clone();
    let abs = |p: &str| normalize(&root.join(p));
    let targets: std::collections::BTreeSet<PathBuf> =
        project.clean_targets.iter().map(|p| abs(p)).collect();
    let sources: std::collections::BTreeSet<PathBuf> = project
        .model_paths
        .iter()
        .chain(&project.seed_paths)
        .chain(&project.macro_paths)
        .chain(&project.snapshot_paths)
        .chain(&project.analysis_paths)
        .chain(&project.test_paths)
        .map(|p| abs(p))
        .collect();
    let list = |v: Vec<&PathBuf>| {
        format!(
            "[{}]",
            v.iter()
                .map(|p| format!("'{}'", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let protected: Vec<&PathBuf> = targets.intersection(&sources).collect();
    if !protected.is_empty() {
        return Err(Error::Project(format!(
            "Runtime Error\n  dbt will not clean the following source paths: {}",
            list(protected)
        )));
    }
    let outside: Vec<&PathBuf> = targets
        .iter()
        .filter(|p| !p.starts_with(&root) || **p == root)
        .collect();
    if !outside.is_empty() {
        return Err(Error::Project(format!(
            "Runtime Error\n  dbt will not clean the following directories outside the project: {}",
            list(outside)
        )));
    }
    for p in &targets {
        report(p, false);
        match std::fs::remove_dir_all(p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // a file named in clean-targets: dbt's rmtree ignores errors
            Err(_) if p.is_file() => {}
            Err(e) => {
                return Err(Error::Io {
                    path: p.clone(),
                    source: e,
                })
            }
        }
        report(p, true);
    }
    Ok(targets.into_iter().collect())
}

/// `a/./b/../c` → `a/c` without touching the filesystem (Python's
/// `Path.resolve()` on paths that need not exist, less symlinks).
fn normalize(p: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What `tarmac debug` found: dbt debug's checks, plus the packages.
#[derive(Debug)]
pub struct DebugReport {
    pub profiles_dir: Option<PathBuf>,
    pub profiles_file: Option<PathBuf>,
    pub project_file: PathBuf,
    /// `Err` holds why (not found, or the error).
    pub profile: std::result::Result<(), String>,
    pub project: std::result::Result<(), String>,
    /// How many packages are installed, or why they are not usable.
    pub packages: std::result::Result<usize, String>,
    /// The target's fields, as dbt debug lists them.
    pub connection: Vec<(String, String)>,
    /// `None`: skipped (no valid profile).
    pub connection_test: Option<std::result::Result<(), String>>,
}

impl DebugReport {
    pub fn ok(&self) -> bool {
        self.profile.is_ok()
            && self.project.is_ok()
            && self.packages.is_ok()
            && matches!(self.connection_test, Some(Ok(())))
    }
}

/// `tarmac debug`: the checks of `dbt debug` (profiles.yml found and
/// valid, dbt_project.yml found and valid, a connection that runs
/// `select 1`) and whether the packages of packages.yml are installed.
pub fn debug(opts: &Options) -> DebugReport {
    let mut r = DebugReport {
        profiles_dir: None,
        profiles_file: None,
        project_file: PathBuf::from("dbt_project.yml"),
        profile: Err("not found".into()),
        project: Err("not found".into()),
        packages: Ok(0),
        connection: Vec::new(),
        connection_test: None,
    };
    let (dir, cli_vars) = match dir_and_cli_vars(opts) {
        Ok(v) => v,
        Err(e) => {
            r.project = Err(e.to_string());
            return r;
        }
    };
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    r.project_file = dir.join("dbt_project.yml");
    let profiles = project::Target::find_profiles(opts.profiles_dir.as_deref(), &dir);
    if let Ok(f) = &profiles {
        r.profiles_dir = f.parent().map(|p| p.to_path_buf());
        r.profiles_file = Some(f.clone());
    } else {
        r.profiles_dir = opts.profiles_dir.clone();
    }
    let target = match (&profiles, project::Project::profile_name(&dir, &cli_vars)) {
        (Ok(f), Ok(name)) => {
            match project::Target::load(f, &name, opts.target.as_deref(), &cli_vars) {
                Ok(t) => {
                    r.profile = Ok(());
                    Some(t)
                }
                Err(e) => {
                    r.profile = Err(e.to_string());
                    None
                }
            }
        }
        (Ok(_), Err(e)) if r.project_file.is_file() => {
            r.profile = Err(e.to_string());
            None
        }
        (Ok(_), Err(_)) => {
            r.profile = Err("no dbt_project.yml names a profile".into());
            None
        }
        (Err(_), _) => {
            if opts.profiles_dir.is_none() {
                r.profiles_dir = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".dbt"));
            }
            r.profile = Err("not found".into());
            None
        }
    };
    if r.project_file.is_file() {
        match project::Project::load(&dir, &cli_vars, target.as_ref()) {
            Ok(p) => {
                r.project = Ok(());
                r.packages = packages::load_installed(&p, target.as_ref())
                    .map(|v| v.len())
                    .map_err(|e| e.to_string());
            }
            Err(e) => r.project = Err(e.to_string()),
        }
    }
    if let Some(t) = &target {
        let json = |v: &serde_json::Map<String, serde_json::Value>| {
            if v.is_empty() {
                "{}".to_string()
            } else {
                serde_json::Value::Object(v.clone()).to_string()
            }
        };
        r.connection = vec![
            ("database".into(), t.database.clone()),
            ("schema".into(), t.schema.clone()),
            ("path".into(), t.path.clone()),
            ("config_options".into(), json(&t.config_options)),
            (
                "extensions".into(),
                if t.extensions.is_empty() {
                    "None".into()
                } else {
                    t.extensions
                        .iter()
                        .map(|e| e.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
            ("settings".into(), json(&t.settings)),
            ("external_root".into(), t.external_root.clone()),
            (
                "attach".into(),
                if t.attach.is_empty() {
                    "None".into()
                } else {
                    t.attach
                        .iter()
                        .map(|a| a.path.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
        ];
        r.connection_test = Some(
            open_db(t)
                .and_then(|db| db.query("select 1").map(|_| ()))
                .map_err(|e| e.to_string()),
        );
    }
    r
}

/// `tarmac ls --output json|name|path|selector`: the selected nodes in
/// dbt's order (by unique id), each as dbt's `ls` JSON holds it (`name`,
/// `resource_type`, `package_name`, `original_file_path`, `unique_id`,
/// `alias`, `config`, `tags`, `depends_on`, from the manifest's node),
/// with its selector name (`project.folder.name`).
pub fn list_json(opts: &Options) -> Result<Vec<(String, serde_json::Value)>> {
    let l = load(opts, Command::Compile)?;
    let mut chosen = choose(&l, opts)?;
    chosen.extend(listed_sources(&l, opts)?);
    let mj = artifacts::manifest_json(&l.manifest, &l.dag, &BTreeMap::new());
    const KEYS: &[&str] = &[
        "name",
        "resource_type",
        "package_name",
        "original_file_path",
        "unique_id",
        "alias",
        "config",
        "tags",
        "depends_on",
    ];
    const UNIT_TEST_KEYS: &[&str] = &[
        "name",
        "resource_type",
        "package_name",
        "original_file_path",
        "unique_id",
        "depends_on",
        "config",
    ];
    let mut out = Vec::new();
    for id in &chosen {
        if let Some(source) = mj["sources"].get(id) {
            out.push(ls_source(source));
            continue;
        }
        let node = mj["nodes"].get(id).or_else(|| mj["unit_tests"].get(id));
        let Some(node) = node else { continue };
        let mut o = serde_json::Map::new();
        // a unit test's entry has no tags, and depends_on before config
        let keys: &[&str] = if mj["unit_tests"].get(id).is_some() {
            UNIT_TEST_KEYS
        } else {
            KEYS
        };
        for k in keys {
            if let Some(v) = node.get(*k) {
                let v = match (*k, v) {
                    // dbt's ls lists a node's parents only where the node
                    // kind has them (a seed: macros alone)
                    ("depends_on", serde_json::Value::Object(d))
                        if l.manifest
                            .nodes
                            .get(id)
                            .is_some_and(|n| n.resource_type == manifest::ResourceType::Seed) =>
                    {
                        serde_json::json!({"macros": d.get("macros").cloned().unwrap_or_default()})
                    }
                    _ => v.clone(),
                };
                o.insert(k.to_string(), v);
            }
        }
        let name = match l.manifest.nodes.get(id) {
            Some(n) => ls_name(n),
            None => continue,
        };
        out.push((name, serde_json::Value::Object(o)));
    }
    drop_in_background(l);
    Ok(out)
}

/// A source as `dbt ls` lists it: `source:<package>.<source>.<table>`, and
/// in JSON the keys dbt keeps for a source, in the order of its manifest
/// entry (no alias, no depends_on; its source_name).
fn ls_source(source: &serde_json::Value) -> (String, serde_json::Value) {
    let text = |k: &str| source[k].as_str().unwrap_or_default().to_string();
    let name = format!(
        "source:{}.{}.{}",
        text("package_name"),
        text("source_name"),
        text("name")
    );
    let mut o = serde_json::Map::new();
    for k in [
        "name",
        "resource_type",
        "package_name",
        "original_file_path",
        "unique_id",
        "source_name",
        "tags",
        "config",
    ] {
        o.insert(k.to_string(), source[k].clone());
    }
    (name, serde_json::Value::Object(o))
}

/// `tarmac parse`: load the project (partial parsing applies) and write
/// `manifest.json` without compiled SQL.
///
/// With partial parsing on, a project whose every input is as the last
/// parse left it keeps that parse's manifest, with new metadata (see
/// [`partial::Stamp`]): the same document, without building it again.
pub fn parse(opts: &Options) -> Result<Parsed> {
    let t0 = Instant::now();
    let partial = !opts.no_partial_parse;
    if partial {
        dbt_jinja::builtins::record_all_env();
    }
    let info = run_info(opts, Command::Compile)?;
    let target = results::target_dir_of(&info.project);
    let (manifest_path, stamp_path) = (
        target.join("manifest.json"),
        target.join(partial::STAMP_FILE),
    );
    let inputs = if partial {
        Some(partial::inputs_key(&info)?)
    } else {
        None
    };
    let found = |counts: &[(String, usize)]| {
        let n = |k: &str| counts.iter().find(|c| c.0 == k).map_or(0, |c| c.1);
        format!(
            "Found {} models, {} seeds, {} sources; parsed in {:.2}s",
            n("models"),
            n("seeds"),
            n("sources"),
            t0.elapsed().as_secs_f64()
        )
    };
    if let Some(inputs) = &inputs {
        if let Some(mut stamp) = partial::Stamp::load_valid(&stamp_path, inputs, &manifest_path) {
            match artifacts::restamp_manifest(&manifest_path, &info) {
                Ok(()) => {
                    tracing::debug!("parse: nothing changed, manifest.json kept");
                    print_warnings(&stamp.warnings);
                    if let Some((len, mtime)) = partial::file_stamp(&manifest_path) {
                        (stamp.manifest_len, stamp.manifest_mtime_ns) = (len, mtime);
                        if let Err(e) = stamp.save(&stamp_path) {
                            tracing::debug!("parse: cannot write {}: {e}", stamp_path.display());
                        }
                    }
                    return Ok(Parsed {
                        line: found(&stamp.counts),
                        manifest_kept: true,
                    });
                }
                Err(e) => tracing::debug!("parse: manifest.json not kept: {e}"),
            }
        }
    }
    let l = load_info(info, opts)?;
    let m = &l.manifest;
    artifacts::write_manifest(m, &l.dag, &BTreeMap::new())?;
    let count =
        |t: manifest::ResourceType| m.nodes.values().filter(|n| n.resource_type == t).count();
    let counts = vec![
        ("models".to_string(), count(manifest::ResourceType::Model)),
        ("seeds".to_string(), count(manifest::ResourceType::Seed)),
        ("sources".to_string(), m.sources.len()),
    ];
    if let (Some(inputs), Some((len, mtime))) = (inputs, partial::file_stamp(&manifest_path)) {
        let stamp = partial::Stamp {
            format: partial::FORMAT,
            tarmac_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs,
            env: dbt_jinja::builtins::all_env_reads(),
            manifest_len: len,
            manifest_mtime_ns: mtime,
            warnings: m.warnings.clone(),
            counts: counts.clone(),
        };
        if let Err(e) = stamp.save(&stamp_path) {
            tracing::debug!("parse: cannot write {}: {e}", stamp_path.display());
        }
    }
    let line = found(&counts);
    drop_in_background(l);
    Ok(Parsed {
        line,
        manifest_kept: false,
    })
}

/// What `tarmac parse` did.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// dbt's "Found ..." line.
    pub line: String,
    /// Nothing had changed: the last parse's manifest was kept, with new
    /// metadata ([`partial::Stamp`]).
    pub manifest_kept: bool,
}

/// Free a big value (a loaded 10,000-model project is ~10^6 allocations,
/// ~0.1 s to free) on another thread: a command-line run exits without
/// waiting for it, a long-lived caller still gets the memory back.
pub fn drop_in_background<T: Send + 'static>(value: T) {
    if std::thread::Builder::new()
        .name("drop".into())
        .spawn(move || drop(value))
        .is_err()
    {
        // could not spawn: the value was moved into the closure and
        // dropped with it, on this thread
    }
}

/// "0 hours 0 minutes and 0.86 seconds", as dbt words it.
fn hms(secs: f64) -> String {
    let h = (secs / 3600.0).floor();
    let m = ((secs - h * 3600.0) / 60.0).floor();
    format!(
        "0 hours {m} minutes and {:.2} seconds",
        secs - h * 3600.0 - m * 60.0
    )
    .replacen("0 hours", &format!("{h} hours"), 1)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "2 models, 4 snapshots, 2 seeds, 472 macros" (dbt's `FoundStats`): the
/// count of each kind, in dbt's order. dbt counts the manifest's nodes in
/// the order it parsed them (models, snapshots, singular data tests, seeds,
/// the projects' hooks as operations, then the generic tests of the
/// properties files), so data tests come before seeds only when a project
/// has a singular one; then sources, exposures, metrics, macros, groups,
/// semantic models, saved queries and unit tests.
fn found_stats(m: &manifest::Manifest) -> String {
    found_stats_with(m, 0)
}

/// [`found_stats`] with `sql_operations` inline queries among them.
fn found_stats_with(m: &manifest::Manifest, sql_operations: usize) -> String {
    use manifest::ResourceType as T;
    let count = |t: T| m.nodes.values().filter(|n| n.resource_type == t).count();
    let singular = m
        .tests
        .values()
        .any(|t| matches!(t.kind, manifest::TestKind::Singular));
    let operations: usize = std::iter::once(&m.info.project)
        .chain(m.info.packages.iter())
        .map(|p| p.on_run_start.len() + p.on_run_end.len())
        .sum();
    let resources = |kind: &str| m.resources.iter().filter(|r| r.kind == kind).count();
    let tests = (count(T::Test), "data test", "data tests");
    let mut parts = vec![
        (count(T::Model), "model", "models"),
        (count(T::Snapshot), "snapshot", "snapshots"),
    ];
    if singular {
        parts.push(tests);
    }
    parts.push((count(T::Seed), "seed", "seeds"));
    parts.push((operations, "operation", "operations"));
    if !singular {
        parts.push(tests);
    }
    // dbt adds the inline query's node after parsing: last of the nodes
    parts.push((sql_operations, "sql operation", "sql operations"));
    parts.extend([
        (m.sources.len(), "source", "sources"),
        (resources("exposures"), "exposure", "exposures"),
        (resources("metrics"), "metric", "metrics"),
        (m.macro_names.len(), "macro", "macros"),
        (resources("groups"), "group", "groups"),
        (
            resources("semantic_models"),
            "semantic model",
            "semantic models",
        ),
        (resources("saved_queries"), "saved query", "saved queries"),
        (m.unit_tests.len(), "unit test", "unit tests"),
    ]);
    parts
        .into_iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| plural(n, one, many))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "2 seeds, 4 snapshots, 1 table model" (dbt's `FinishedRunningStats`).
fn ran_stats(m: &manifest::Manifest, results: &[results::NodeResult]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in results {
        if let Some(n) = m.nodes.get(&r.unique_id) {
            let key = match n.resource_type {
                manifest::ResourceType::Model => {
                    format!("{} model", config::ConfigExt::materialized(&n.config))
                }
                other => other.as_str().to_string(),
            };
            *counts.entry(key).or_default() += 1;
        }
    }
    let parts: Vec<String> = counts
        .into_iter()
        .map(|(k, n)| {
            if n == 1 {
                format!("1 {k}")
            } else {
                format!("{n} {k}s")
            }
        })
        .collect();
    if parts.is_empty() {
        "0 nodes".into()
    } else {
        parts.join(", ")
    }
}

/// `tarmac run-operation MACRO --args '{...}'`.
pub fn run_operation(opts: &Options, macro_name: &str, args: Option<&str>) -> Result<()> {
    let l = load(opts, Command::RunOperation)?;
    let args = match args {
        Some(a) if !a.trim().is_empty() => yaml::parse(std::path::Path::new("--args"), a)?,
        _ => serde_json::Value::Null,
    };
    let db = open_db(&l.manifest.info.target)?;
    operation::call_macro(&l.manifest, &db.shared(), macro_name, &args)
}

/// The nodes to run: `--selector`, else `--select`/`--exclude`, else the
/// default YAML selector, else everything.
fn choose(l: &Loaded, opts: &Options) -> Result<std::collections::BTreeSet<String>> {
    if let Some(r) = &opts.retry {
        return Ok(r
            .failed
            .iter()
            .filter(|id| l.manifest.nodes.contains_key(*id))
            .cloned()
            .collect());
    }
    let state = opts.state.as_deref().map(state::State::load).transpose()?;
    let state = state.as_ref();
    let select = |sel: &[String], ex: &[String]| {
        select::select_with_state(&l.manifest, &l.dag, sel, ex, opts.indirect_selection, state)
    };
    let mut sels = selectors::Selectors::load(&l.manifest.info.project.root)?;
    sels.indirect = opts.indirect_selection;
    sels.state = state.cloned();
    let nothing_given = opts.select.iter().all(|s| s.trim().is_empty()) && opts.exclude.is_empty();
    let name = opts.selector.clone().or_else(|| {
        if nothing_given {
            sels.default.clone()
        } else {
            None
        }
    });
    let mut chosen = match name {
        Some(n) => {
            let mut chosen = sels.evaluate(&n, &l.manifest, &l.dag)?;
            if !opts.select.is_empty() {
                let also = select(&opts.select, &[])?;
                chosen.retain(|id| also.contains(id));
            }
            if !opts.exclude.is_empty() {
                let all = ["*".to_string()];
                let ex = select(&all, &[])?;
                let keep = select(&all, &opts.exclude)?;
                chosen.retain(|id| keep.contains(id) || !ex.contains(id));
            }
            chosen
        }
        None => select(&opts.select, &opts.exclude)?,
    };
    if !opts.resource_types.is_empty() {
        let wanted = resource_types(&opts.resource_types)?;
        chosen.retain(|id| {
            l.manifest
                .nodes
                .get(id)
                .is_some_and(|n| wanted.contains(&n.resource_type))
        });
    }
    Ok(chosen)
}

/// The sources `ls` lists beside [`choose`]'s nodes: those `--select`
/// and `--exclude` choose, when `--resource-type` (if given) names
/// sources. A YAML selector or a retry lists no sources.
fn listed_sources(l: &Loaded, opts: &Options) -> Result<std::collections::BTreeSet<String>> {
    let named = |t: &str| {
        opts.resource_types
            .iter()
            .flat_map(|n| n.split([',', ' ']))
            .any(|n| n == t)
    };
    let wanted =
        opts.resource_types.is_empty() || named("source") || named("all") || named("default");
    let nothing_given = opts.select.iter().all(|s| s.trim().is_empty()) && opts.exclude.is_empty();
    let yaml_default = nothing_given
        && selectors::Selectors::load(&l.manifest.info.project.root)?
            .default
            .is_some();
    if !wanted || opts.retry.is_some() || opts.selector.is_some() || yaml_default {
        return Ok(Default::default());
    }
    let state = opts.state.as_deref().map(state::State::load).transpose()?;
    select::selected_sources(
        &l.manifest,
        &l.dag,
        &opts.select,
        &opts.exclude,
        opts.indirect_selection,
        state.as_ref(),
    )
}

/// `--defer`: the relations refs to nodes this run does not build resolve
/// to (`--defer-state`, else `--state`).
fn defer_to(
    l: &Loaded,
    opts: &Options,
    command: Command,
    chosen: &std::collections::BTreeSet<String>,
    db: &db::Db,
) -> Result<std::collections::HashMap<String, relation::Relation>> {
    let dir = opts
        .defer_state
        .as_deref()
        .or(opts.state.as_deref())
        .ok_or_else(|| {
            Error::Project(
                "--defer needs the artifacts to defer to: --state DIR (or --defer-state DIR)"
                    .into(),
            )
        })?;
    let state = state::State::load(dir)?;
    // what this run builds (compile builds nothing)
    let built: std::collections::BTreeSet<String> = chosen
        .iter()
        .filter(|id| {
            command != Command::Compile
                && l.manifest
                    .nodes
                    .get(*id)
                    .is_some_and(|n| kinds::runs_in(command, n.resource_type))
        })
        .cloned()
        .collect();
    let exists = |r: &relation::Relation| {
        db.relation_kind(
            r.database.as_deref(),
            r.schema.as_deref().unwrap_or_default(),
            &r.identifier,
        )
        .ok()
        .flatten()
        .is_some()
    };
    Ok(state::deferred_relations(
        &state,
        &l.manifest,
        &built,
        opts.favor_state,
        &exists,
    ))
}

/// `--resource-type` values as dbt accepts them; kinds Tarmac has no
/// nodes for (sources, exposures, ...) select nothing.
fn resource_types(names: &[String]) -> Result<Vec<manifest::ResourceType>> {
    use manifest::ResourceType as R;
    let mut out = Vec::new();
    for n in names
        .iter()
        .flat_map(|n| n.split([',', ' ']))
        .filter(|n| !n.is_empty())
    {
        match n {
            "model" => out.push(R::Model),
            "seed" => out.push(R::Seed),
            "snapshot" => out.push(R::Snapshot),
            "test" => out.push(R::Test),
            "unit_test" => out.push(R::Unit),
            "all" | "default" => {
                out.extend([R::Model, R::Seed, R::Snapshot, R::Test, R::Unit]);
            }
            "source" | "analysis" | "exposure" | "metric" | "saved_query" | "semantic_model" => {}
            other => {
                return Err(Error::Selector {
                    selector: format!("--resource-type {other}"),
                    message: "expected one of model, seed, snapshot, test, unit_test, source, analysis, exposure, metric, saved_query, semantic_model, all, default".into(),
                })
            }
        }
    }
    Ok(out)
}

/// Open the target's database as dbt-duckdb's `initialize_db` does:
/// `config_options` when opening, then the extensions, the attached
/// databases, and `settings` (on this and every later connection).
pub fn open_db(target: &project::Target) -> Result<db::Db> {
    let bad = |k: &str, message: String| Error::Yaml {
        path: target.file.clone(),
        message: format!(
            "key {}.outputs.{}.{k}: {message}",
            target.profile_name, target.name
        ),
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let settings: Vec<(String, String)> = target
        .config_options
        .iter()
        .map(|(k, v)| (k.clone(), text(v)))
        .collect();
    // the warehouse crate opens the file: damage probe, the writer's bounded
    // and reported wait, lock errors classified in one place
    let (path, wait) = if target.path == ":memory:" {
        (PathBuf::from(":memory:"), warehouse::Wait::NONE)
    } else {
        (PathBuf::from(&target.path), warehouse::Wait::from_env())
    };
    let conn =
        warehouse::open(&path, warehouse::Access::Write, &settings, wait).map_err(|e| match e {
            warehouse::Error::Config { key, message } => {
                bad(&format!("config_options.{key}"), message)
            }
            other => Error::Warehouse(other),
        })?;
    for (i, e) in target.extensions.iter().enumerate() {
        load_extension(&conn, e).map_err(|m| bad(&format!("extensions[{i}]"), m))?;
    }
    for (i, a) in target.attach.iter().enumerate() {
        if let Some(d) = std::path::Path::new(&a.path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && a.kind.is_none() && !a.read_only)
        {
            let _ = std::fs::create_dir_all(d);
        }
        conn.execute_batch(&project::attach_sql(a)).map_err(|e| {
            bad(
                &format!("attach[{i}]"),
                format!("cannot attach {}: {e}", a.path),
            )
        })?;
    }
    let mut init = Vec::new();
    for (k, v) in &target.settings {
        // dbt-duckdb sets every value as a string; DuckDB casts it
        let sql = format!("SET {k} = '{}'", text(v).replace('\'', "''"));
        conn.execute_batch(&sql)
            .map_err(|e| bad(&format!("settings.{k}"), e.to_string()))?;
        init.push(sql);
    }
    db::Db::new(conn).with_init(init)
}

/// `INSTALL` (only when DuckDB's extension cache lacks it, so an offline
/// machine works with cached extensions) then `LOAD`.
fn load_extension(
    conn: &duckdb::Connection,
    e: &project::Extension,
) -> std::result::Result<(), String> {
    let state: Option<(bool, bool)> = conn
        .query_row(
            "SELECT loaded, installed FROM duckdb_extensions() WHERE extension_name = lower(?)",
            [&e.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok();
    if state.is_some_and(|(loaded, _)| loaded) {
        return Ok(());
    }
    let ident = crate::relation::quote(&e.name);
    if !state.is_some_and(|(_, installed)| installed) {
        let install = match &e.repo {
            Some(r) if r.contains(['/', ':']) => {
                format!("INSTALL {ident} FROM '{}'", r.replace('\'', "''"))
            }
            Some(r) => format!("INSTALL {ident} FROM {}", crate::relation::quote(r)),
            None => format!("INSTALL {ident}"),
        };
        conn.execute_batch(&install).map_err(|err| {
            format!(
                "DuckDB extension '{}' is not in the local extension cache and could not be installed (offline? install it once with network access): {err}",
                e.name
            )
        })?;
    }
    conn.execute_batch(&format!("LOAD {ident}"))
        .map_err(|err| format!("DuckDB extension '{}' could not be loaded: {err}", e.name))
}

/// dbt's closing block (`print_run_result_error`): each failure, error and
/// warning with its message and where its compiled SQL (and stored
/// failures) are, as log events so `--log-format json` stays JSON.
fn print_problems(m: &manifest::Manifest, results: &[results::NodeResult]) {
    let bad: Vec<&results::NodeResult> = results
        .iter()
        .filter(|r| matches!(r.status, Status::Error | Status::Fail | Status::Warn))
        .collect();
    let target = &m.info.project.target_path;
    // dbt lists errors first, then warnings
    let (errors, warnings): (Vec<_>, Vec<_>) =
        bad.into_iter().partition(|r| r.status != Status::Warn);
    for r in errors.into_iter().chain(warnings) {
        let Some(n) = m.nodes.get(&r.unique_id) else {
            continue;
        };
        let warn = r.status == Status::Warn;
        let head = format!(
            "{} in {} {} ({})",
            if warn { "Warning" } else { "Failure" },
            n.resource_type.as_str(),
            n.name,
            n.original_file_path
        );
        let fields = serde_json::json!({
            "resource_type": n.resource_type.as_str(), "node_name": n.name,
            "path": n.original_file_path,
        });
        logfmt::blank();
        if warn {
            logfmt::event("RunResultWarning", "Z021", "warn", &head, fields);
            logfmt::event(
                "RunResultWarningMessage",
                "Z046",
                "warn",
                &format!("  {}", r.message.replace('\n', "\n  ")),
                serde_json::json!({"msg": r.message}),
            );
        } else {
            logfmt::event("RunResultFailure", "Z022", "error", &head, fields);
            logfmt::event(
                "RunResultError",
                "Z024",
                "error",
                &format!("  {}", r.message.replace('\n', "\n  ")),
                serde_json::json!({"msg": r.message}),
            );
        }
        if r.compiled_sql.is_some() {
            let path = format!(
                "{target}/compiled/{}/{}",
                n.package_name,
                kinds::of(n.resource_type).compiled_file(n)
            );
            logfmt::blank();
            logfmt::event(
                "SQLCompiledPath",
                "Z026",
                "info",
                &format!("  compiled code at {path}"),
                serde_json::json!({"path": path}),
            );
        }
        if n.resource_type == manifest::ResourceType::Test
            && r.status != Status::Error
            && data_tests::TestConfig::of(&n.config).stores(m.info.store_failures)
        {
            let rel = data_tests::audit_relation(n).render();
            logfmt::blank();
            logfmt::event(
                "CheckNodeTestFailure",
                "Z027",
                "info",
                &format!("  See test failures:\n  select * from {rel}"),
                serde_json::json!({"relation_name": rel}),
            );
        }
    }
}

/// A retry with nothing to run again: dbt's "Nothing to do" line, and a
/// run_results.json without results that keeps the previous command's
/// flags (so the next retry also finds nothing).
fn nothing_to_retry(
    opts: &Options,
    command: Command,
    m: &manifest::Manifest,
    t0: Instant,
) -> Result<Summary> {
    logfmt::set_invocation(&m.info.invocation_id);
    logfmt::event(
        "MainReportVersion",
        "A001",
        "info",
        &format!(
            "Running with dbt={} (tarmac {})",
            project::DBT_VERSION,
            env!("CARGO_PKG_VERSION")
        ),
        serde_json::json!({"log_version": 3, "version": format!("={}", project::DBT_VERSION)}),
    );
    let stat = found_stats(m);
    logfmt::event(
        "FoundStats",
        "W006",
        "info",
        &format!("Found {stat}"),
        serde_json::json!({"stat_line": stat}),
    );
    logfmt::event(
        "NothingToDo",
        "Q035",
        "warn",
        "Nothing to do. Try checking your model configs and model specification args",
        serde_json::json!({}),
    );
    let args = run_args(opts, command, &m.info.project.root)?;
    artifacts::write_json(
        m,
        "run_results.json",
        &artifacts::run_results_json(m, &[], t0.elapsed().as_secs_f64(), command, args),
    )?;
    Ok(Summary::default())
}

/// run_results.json's `args` as dbt writes them (the flags of the
/// command line: `vars` is `--vars` only, `threads` only when given), which
/// `tarmac retry` (and dbt's) reads back.
fn run_args(opts: &Options, command: Command, root: &Path) -> Result<serde_json::Value> {
    let (_, cli_vars) = dir_and_cli_vars(opts)?;
    let mut args = serde_json::json!({
        "which": command.as_str(),
        "select": opts.select, "exclude": opts.exclude,
        "full_refresh": opts.full_refresh, "fail_fast": opts.fail_fast,
        "target": opts.target,
        "project_dir": root.display().to_string(),
        "vars": cli_vars,
        "indirect_selection": opts.indirect_selection.as_str(),
        "store_failures": opts.store_failures,
        "resource_types": opts.resource_types,
        "empty": opts.empty,
    });
    if let Some(t) = opts.threads {
        args["threads"] = t.into();
    }
    if let Some(s) = &opts.selector {
        args["selector"] = s.clone().into();
    }
    // dbt's keys, which `retry` reads back
    if let Some(s) = &opts.state {
        args["state"] = s.display().to_string().into();
    }
    if let Some(s) = &opts.defer_state {
        args["defer_state"] = s.display().to_string().into();
    }
    if opts.defer {
        args["defer"] = true.into();
        args["favor_state"] = opts.favor_state.into();
    }
    if let Some(s) = &opts.sample {
        args["sample"] = s.clone().into();
    }
    // as dbt records them: naive ISO timestamps
    for (key, v) in [
        ("event_time_start", &opts.event_time_start),
        ("event_time_end", &opts.event_time_end),
    ] {
        if let Some(t) = v.as_deref().and_then(pydatetime::parse_time) {
            args[key] = t.format("%Y-%m-%dT%H:%M:%S").to_string().into();
        }
    }
    Ok(args)
}

/// `run`, `seed`, `build`, `compile`: select, run, write artifacts, print a summary.
pub fn execute(opts: &Options, command: Command) -> Result<Summary> {
    let t0 = Instant::now();
    jinja::set_empty(opts.empty);
    let event_time = |flag: &str,
                      v: &Option<String>|
     -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        v.as_deref()
            .map(|t| {
                pydatetime::parse_time(t).ok_or_else(|| {
                    Error::Project(format!(
                        "--{flag} {t:?}: not a date or timestamp (e.g. 2024-01-01 or 2024-01-01T06:00:00)"
                    ))
                })
            })
            .transpose()
    };
    // dbt's usage errors: the two come together
    match (&opts.event_time_start, &opts.event_time_end) {
        (Some(_), None) => return Err(Error::Project("The flag `--event-time-start` was specified, but `--event-time-end` was not. When specifying `--event-time-start`, `--event-time-end` must also be present.".into())),
        (None, Some(_)) => return Err(Error::Project("The flag `--event-time-end` was specified, but `--event-time-start` was not. When specifying `--event-time-end`, `--event-time-start` must also be present.".into())),
        _ => {}
    }
    let mut event_time_start = event_time("event-time-start", &opts.event_time_start)?;
    let mut event_time_end = event_time("event-time-end", &opts.event_time_end)?;
    let sample = opts
        .sample
        .as_deref()
        .map(|t| microbatch::parse_sample(t, chrono::Utc::now()))
        .transpose()
        .map_err(Error::Project)?;
    jinja::set_sample(sample);
    // under --sample, microbatch models build the sample's batches
    if let Some((s, e)) = sample {
        event_time_start = Some(s);
        event_time_end = Some(e);
    }
    if let (Some(s), Some(e)) = (event_time_start, event_time_end) {
        if s >= e {
            return Err(Error::Project(
                "Value for `--event-time-start` must be less than `--event-time-end`".into(),
            ));
        }
    }
    let reuse = compile_stamp::eligible(opts, command);
    let info = run_info(opts, command)?;
    let stamp_paths = compile_stamp::Paths::new(
        &results::target_dir_of(&info.project),
        compile_stamp::Kind::Compile,
    );
    let stamp_inputs = if reuse {
        let inputs = compile_stamp::inputs(&info, opts, "")?;
        tracing::debug!("timing: compile inputs hashed at {:?}", t0.elapsed());
        if compile_stamp::may_keep(opts) {
            if let Some(s) = compiled_unchanged(opts, &info, &inputs, &stamp_paths, t0)? {
                return Ok(s);
            }
        }
        Some(inputs)
    } else {
        None
    };
    let mut l = load_info(info, opts)?;
    tracing::debug!("timing: DAG built at {:?}", t0.elapsed());
    let chosen = choose(&l, opts)?;
    tracing::debug!("timing: nodes selected at {:?}", t0.elapsed());
    l.manifest.env.add_global(
        "selected_resources",
        minijinja::Value::from(chosen.iter().cloned().collect::<Vec<_>>()),
    );
    if opts.retry.is_some()
        && !chosen.iter().any(|id| {
            l.manifest
                .nodes
                .get(id)
                .is_some_and(|n| kinds::runs_in(command, n.resource_type) && !n.is_ephemeral())
        })
    {
        return nothing_to_retry(opts, command, &l.manifest, t0);
    }
    let clone_from = if command == Command::Clone {
        let dir = opts.state.as_deref().ok_or_else(|| {
            Error::Project(
                "clone needs the artifacts to clone from: --state DIR (the target/ of an earlier run)"
                    .into(),
            )
        })?;
        clone::sources(&state::State::load(dir)?, &l.manifest)
    } else {
        Default::default()
    };
    let db = open_db(&l.manifest.info.target)?;
    tracing::debug!("timing: database opened at {:?}", t0.elapsed());
    if stamp_inputs.is_some() {
        db.watch();
    }
    if opts.defer {
        l.manifest.deferred = defer_to(&l, opts, command, &chosen, &db)?;
    }
    let m = &l.manifest;
    let threads = m.info.target.threads;
    print_header(m, chosen.len());
    // dbt runs on-run-start/end hooks for the commands that build
    let run_hooks = !matches!(command, Command::Compile | Command::Clone);
    let schemas: Vec<(String, String)> = chosen
        .iter()
        .filter_map(|id| m.nodes.get(id))
        .filter(|n| !n.is_ephemeral())
        .map(|n| (n.database.clone(), n.schema.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // the hooks' results go to run_results.json only, as dbt's
    let mut hook_results = Vec::new();
    if run_hooks {
        hook_results = operation::run_hooks(
            m,
            &db.shared(),
            &m.info.project.on_run_start,
            "on-run-start",
            &schemas,
        )?;
    }
    let ropts = results::RunOptions {
        command,
        threads,
        fail_fast: opts.fail_fast,
        full_refresh: opts.full_refresh,
        // dbt's clone prints no line per node, only what the nodes log;
        // its compile prints none either (a failure stops it, below)
        verbose_lines: opts.progress.is_none()
            && !matches!(command, Command::Clone | Command::Compile),
        clone_from,
        event_time_start,
        event_time_end,
        invoked_at: chrono::Utc::now(),
        previous_batches: opts
            .retry
            .as_ref()
            .map(|r| r.batches.clone())
            .unwrap_or_default(),
    };
    execute::set_progress(opts.progress.clone());
    tracing::debug!("timing: loaded and connected at {:?}", t0.elapsed());
    let results = execute::run(m, &l.dag, &chosen, &db.shared(), &ropts)?;
    tracing::debug!("timing: nodes done at {:?}", t0.elapsed());
    if run_hooks {
        hook_results.extend(operation::run_hooks(
            m,
            &db.shared(),
            &m.info.project.on_run_end,
            "on-run-end",
            &schemas,
        )?);
    }
    let compiled: BTreeMap<&str, &str> = results
        .iter()
        .filter_map(|r| Some((r.unique_id.as_str(), r.compiled_sql.as_deref()?)))
        .collect();
    tracing::debug!("timing: SQL files written at {:?}", t0.elapsed());
    let shown = if command == Command::Compile && !opts.select.is_empty() {
        let order = l.dag.order();
        // an ephemeral model has no result of its own: compiled again,
        // alone, when it is the one to show (as dbt shows its SQL); the
        // resolver (a map of every node) only built then
        let resolver = std::cell::OnceCell::new();
        let sql_of = |n: &manifest::Node| match compiled.get(n.unique_id.as_str()) {
            Some(sql) => Some(sql.to_string()),
            None if n.is_ephemeral() && chosen.contains(&n.unique_id) => {
                let resolver = resolver.get_or_init(|| m.resolver());
                compile::compile(m, n, resolver, Some(db.shared()), false)
                    .ok()
                    .map(|c| c.sql)
            }
            None => None,
        };
        compile::shown(
            &opts.select,
            order.iter().filter_map(|id| m.nodes.get(id)),
            sql_of,
        )
    } else {
        vec![]
    };
    let mut s = Summary::default();
    for r in &results {
        match r.status {
            Status::Success | Status::Pass => s.pass += 1,
            Status::Warn => s.warn += 1,
            Status::Error | Status::Fail => {
                s.error += 1;
                // a model's own SQL only: a data test that errors (a column
                // its YAML names is missing, say) stays exit 1, as in dbt
                if r.status == Status::Error
                    && command != Command::Clone
                    && r.unique_id.starts_with("model.")
                    && results::is_sql_error_message(&r.message)
                {
                    s.sql_errors += 1;
                }
            }
            Status::PartialSuccess => {
                s.error += 1;
                s.partial += 1;
            }
            Status::Skipped => s.skip += 1,
            Status::NoOp => s.noop += 1,
        }
    }
    s.total = results.len();
    s.shown = shown;
    // as dbt's compile, a failed one writes the manifest and what did
    // compile, and not run_results.json (the last command's stays)
    let failure = (command == Command::Compile)
        .then(|| compile_failure(&results))
        .flatten();
    let keep = match (&stamp_inputs, &failure) {
        (Some(inputs), None) => {
            let all_ok = s.pass == s.total && hook_results.is_empty();
            compile_stamp::keepable(&db, inputs, m, &chosen, all_ok)
        }
        _ => None,
    };
    artifacts::write_manifest(m, &l.dag, &compiled)?;
    tracing::debug!(
        "timing: manifest.json written at {:?}; {:?} spent inside DuckDB",
        t0.elapsed(),
        db::time_in_duckdb()
    );
    if let Some(e) = failure {
        if stamp_inputs.is_some() {
            compile_stamp::remove(&stamp_paths);
        }
        drop_in_background((l, results));
        return Err(e);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let args = run_args(opts, command, &m.info.project.root)?;
    let all: std::borrow::Cow<[results::NodeResult]> = if hook_results.is_empty() {
        std::borrow::Cow::Borrowed(&results)
    } else {
        hook_results.iter().chain(&results).cloned().collect()
    };
    artifacts::write_json(
        m,
        "run_results.json",
        &artifacts::run_results_json(m, &all, elapsed, command, args),
    )?;
    tracing::debug!("timing: run_results.json written at {:?}", t0.elapsed());
    if let Some(inputs) = stamp_inputs {
        match keep {
            Some(lookups) => {
                let mut stamp = compile_stamp::Stamp {
                    warnings: m.warnings.clone(),
                    found: found_stats(m),
                    node_count: chosen.len(),
                    pass: s.pass,
                    shown: s.shown.clone(),
                    ..compile_stamp::Stamp::new(inputs, lookups, &stamp_paths)
                };
                if let Err(e) = stamp.save(&stamp_paths) {
                    tracing::debug!("compile: cannot write {}: {e}", stamp_paths.stamp.display());
                }
            }
            None => compile_stamp::remove(&stamp_paths),
        }
        tracing::debug!("timing: compile stamp written at {:?}", t0.elapsed());
    }
    // dbt's compile prints nothing after its header (but the SQL of the
    // nodes it was asked to show); its clone task no "Finished running" line
    if command == Command::Compile {
        drop_in_background((l, results));
        return Ok(s);
    }
    if command != Command::Clone {
        print_finished(&ran_stats(m, &results), elapsed);
    } else {
        logfmt::blank();
    }
    print_outcome(&s);
    print_problems(m, &results);
    drop_in_background((l, results));
    print_stats(&s);
    Ok(s)
}

/// A compile whose nodes did not all compile fails as dbt's does: with the
/// nodes' errors under "Runtime Error", and exit 2, instead of a summary.
fn compile_failure(results: &[results::NodeResult]) -> Option<Error> {
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r.status.is_failure())
        .map(|r| format!("  {}", r.message.trim_end().replace('\n', "\n  ")))
        .collect();
    (!failed.is_empty()).then(|| Error::Runtime(format!("Runtime Error\n{}", failed.join("\n"))))
}

/// dbt's "Finished running" line, between blank lines.
fn print_finished(ran: &str, elapsed: f64) {
    logfmt::blank();
    logfmt::event(
        "FinishedRunningStats",
        "E047",
        "info",
        &format!(
            "Finished running {ran} in {} ({elapsed:.2}s).",
            hms(elapsed)
        ),
        serde_json::json!({"execution": format!(" in {}", hms(elapsed)), "execution_time": elapsed, "stat_line": ran}),
    );
    logfmt::blank();
}

/// dbt 1.10's EndOfRunSummary: "Completed successfully", or with what.
fn print_outcome(s: &Summary) {
    let warnings = if s.warn == 1 {
        "1 warning".to_string()
    } else {
        format!("{} warnings", s.warn)
    };
    let errors = s.error - s.partial;
    let partials = format!(
        "{} partial {}",
        s.partial,
        if s.partial == 1 {
            "success"
        } else {
            "successes"
        }
    );
    let summary = if errors > 0 {
        format!(
            "Completed with {}, {partials}, and {warnings}:",
            plural(errors, "error", "errors")
        )
    } else if s.partial > 0 {
        format!("Completed with {partials} and {warnings}")
    } else if s.warn > 0 {
        format!("Completed with {warnings}:")
    } else {
        "Completed successfully".to_string()
    };
    logfmt::event(
        "EndOfRunSummary",
        "Z030",
        if errors > 0 {
            "error"
        } else if s.partial > 0 {
            "warn"
        } else {
            "info"
        },
        &summary,
        serde_json::json!({"keyboard_interrupt": false, "num_errors": errors, "num_partial_success": s.partial, "num_warnings": s.warn}),
    );
}

/// dbt's closing "Done. PASS=..." line, after a blank one.
fn print_stats(s: &Summary) {
    logfmt::blank();
    logfmt::event(
        "StatsLine",
        "Z023",
        "info",
        &format!(
            "Done. PASS={} WARN={} ERROR={} SKIP={} NO-OP={} TOTAL={}",
            s.pass, s.warn, s.error, s.skip, s.noop, s.total
        ),
        serde_json::json!({"stats": {"error": s.error, "noop": s.noop, "pass": s.pass, "skip": s.skip, "total": s.total, "warn": s.warn}}),
    );
}

/// `tarmac compile` with every input as the last compile left it (see
/// [`compile_stamp`]): that compile's files are kept, its two artifacts
/// get this run's metadata, and the same lines are printed. None when the
/// stamp does not stand (the caller compiles).
fn compiled_unchanged(
    opts: &Options,
    info: &jinja::RunInfo,
    inputs: &compile_stamp::Inputs,
    paths: &compile_stamp::Paths,
    t0: Instant,
) -> Result<Option<Summary>> {
    let Some(mut stamp) = compile_stamp::standing(paths, inputs, &info.target)? else {
        return Ok(None);
    };
    tracing::debug!("timing: compile stamp checked at {:?}", t0.elapsed());
    if let Err(e) = artifacts::restamp_manifest(&paths.manifest, info) {
        tracing::debug!("compile: manifest.json not kept: {e}");
        return Ok(None);
    }
    tracing::debug!("timing: manifest.json restamped at {:?}", t0.elapsed());
    let args = run_args(opts, Command::Compile, &info.project.root)?;
    if let Some(p) = &paths.run_results {
        artifacts::restamp_run_results(p, info, t0.elapsed().as_secs_f64(), args)?;
    }
    if let Err(e) = stamp.save(paths) {
        tracing::debug!("compile: cannot write {}: {e}", paths.stamp.display());
    }
    tracing::debug!("compile: nothing changed, the last compile's output kept");
    print_warnings(&stamp.warnings);
    print_header_with(info, &stamp.found, stamp.node_count);
    Ok(Some(Summary {
        pass: stamp.pass,
        total: stamp.pass,
        kept: true,
        shown: std::mem::take(&mut stamp.shown),
        ..Default::default()
    }))
}

/// A project of `tests/fixtures` parsed afresh for a unit test, with
/// `tweak` applied to its options. No database is opened: parsing needs
/// none, and the recorded tests hand the phases a `Recording` instead.
#[cfg(test)]
pub(crate) fn fixture(name: &str, command: Command, tweak: impl FnOnce(&mut Options)) -> Loaded {
    fixture_at(&fixture_dir(name), command, tweak)
}

/// [`fixture`] copied to a temporary folder first, for a test that runs
/// nodes (a run writes their SQL under the project's `target/`).
#[cfg(test)]
pub(crate) fn fixture_copy(name: &str, command: Command) -> (tempfile::TempDir, Loaded) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    testkit::copy_dir(&fixture_dir(name), &dir);
    let l = fixture_at(&dir, command, |_| {});
    (tmp, l)
}

#[cfg(test)]
fn fixture_dir(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[cfg(test)]
fn fixture_at(dir: &std::path::Path, command: Command, tweak: impl FnOnce(&mut Options)) -> Loaded {
    let mut opts = Options {
        project_dir: Some(dir.to_path_buf()),
        profiles_dir: Some(dir.to_path_buf()),
        no_partial_parse: true,
        ..Default::default()
    };
    tweak(&mut opts);
    load(&opts, command).unwrap()
}
