//! `tarmac up`: the main job. Ingests the last days (the built-in simulator
//! when no key is set), builds the warehouse project (bronze → silver →
//! gold) with the model engine, runs its tests, and prints what it built.
//!
//! Every step is idempotent: ingestion skips what landed, silver merges on
//! the movement key, gold is rebuilt from silver. Running `up` twice changes
//! no figure.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{Duration as Days, Utc};
use clap::Args;
use engine::execute::RunEvent;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ingest::BatchPlan;

use super::ingest::{airports_or_config, run_plans_labelled, start_simulator, Guard};
use crate::config::Config;
use crate::project;

#[derive(Args)]
pub struct UpArgs {
    /// Airport codes, comma separated (default: [ingest] airports of the config).
    #[arg(long, value_delimiter = ',')]
    airport: Vec<String>,
    /// How many days back from yesterday to ingest.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Simulator seed (used when no FLIGHTLABS_ACCESS_KEY is set).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Simulator days (used when no FLIGHTLABS_ACCESS_KEY is set):
    /// realistic (BOG's 24 h curve) or archive (the shared archive's
    /// afternoons, 12:00–23:59 local).
    #[arg(long, default_value = "realistic")]
    day_shape: simulator::DayShape,
    /// Build and test what bronze holds, without ingesting.
    #[arg(long)]
    no_ingest: bool,
    /// Rebuild the incremental models (silver) from scratch.
    #[arg(long)]
    full_refresh: bool,
    /// Ingest even when it needs more requests than
    /// [flightlabs] max_plan_requests (default 500), without asking.
    #[arg(long)]
    yes: bool,
}

pub async fn run(config: &Config, args: UpArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let project_dir = config.project.clone();
    if !crate::config::is_project(&project_dir) {
        let n = project::write_project(&project_dir)?;
        println!(
            "wrote the warehouse project to {} ({n} files; yours to change, `tarmac up` builds it)",
            project_dir.display()
        );
    }

    // on a terminal, a bar per phase; in logs and pipes, the usual lines
    let phases = Phases::new();
    // 1. ingest
    let mut ingest_ok = true;
    let t = Instant::now();
    if !args.no_ingest {
        let mut config = config.clone();
        let _sim = if config.has_key {
            None
        } else {
            println!("no FLIGHTLABS_ACCESS_KEY: ingesting from the built-in simulator");
            Some(start_simulator(&mut config, args.seed, None, args.day_shape).await?)
        };
        let to = Utc::now().date_naive() - Days::days(1);
        let from = to - Days::days(i64::from(args.days.max(1)) - 1);
        let plan = BatchPlan {
            airports: airports_or_config(&config, &args.airport)?,
            from,
            to,
            force: false,
            refetch: vec![],
            mode: config.historical_mode,
            concurrency: config.concurrency,
            shard: None,
        };
        let guard = Guard {
            max_requests: config.has_key.then_some(config.max_plan_requests),
            yes: args.yes,
        };
        let label = phases.is_some().then_some("[1/3] ingest");
        ingest_ok =
            run_plans_labelled(&config, vec![plan], guard, label).await? == ExitCode::SUCCESS;
    }
    let ingest_time = t.elapsed();

    // 2. build and test (the engine's `build` runs models and tests in DAG order)
    let t = Instant::now();
    let options = engine::Options {
        project_dir: Some(project_dir.clone()),
        full_refresh: args.full_refresh,
        progress: phases.as_ref().map(Phases::listener),
        ..engine::Options::default()
    };
    let built = tokio::task::block_in_place(|| engine::execute(&options, engine::Command::Build));
    if let Some(p) = &phases {
        p.finish();
    }
    let built = built.with_context(|| {
        format!(
            "cannot build the warehouse project {}",
            project_dir.display()
        )
    })?;
    let build_time = t.elapsed();
    let results = read_results(&project_dir)?;

    // 3. summary
    let counts = tokio::task::block_in_place(|| layer_counts(&config.warehouse))?;
    println!();
    print!(
        "{}",
        summary(
            config,
            &counts,
            &results,
            ingest_time,
            build_time,
            started.elapsed()
        )
    );
    let ok = ingest_ok && built.ok() && results.failed().is_empty();
    let failed = results.failed();
    if !failed.is_empty() {
        eprintln!("failed: {}", failed.join(", "));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else if ingest_ok && built.sql_errors > 0 {
        // a model whose SQL DuckDB refused: final, as in `tarmac build`
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    })
}

/// `up`'s progress display on a terminal: the ingest bar (`[1/3] ingest`,
/// drawn by the ingest reporter), then one bar for the models
/// (`[2/3] build`) and one for the tests (`[3/3] tests`) of the build,
/// which replace the line per node. They stay on screen, above the summary.
/// `None` when stdout or stderr is not a terminal: logs and pipes get the
/// plain lines, with no carriage returns.
struct Phases {
    multi: MultiProgress,
    build: ProgressBar,
    tests: ProgressBar,
}

impl Phases {
    fn new() -> Option<Phases> {
        if !(std::io::stdout().is_terminal() && std::io::stderr().is_terminal()) {
            return None;
        }
        // drawn from the build's start: the ingest bar has the screen before
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let style = ProgressStyle::with_template(
            "{prefix:<16}{bar:40.cyan/blue} {pos}/{len} {msg} [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = |prefix: &str, msg: &str| {
            let b = multi.add(ProgressBar::new(0));
            b.set_style(style.clone());
            b.set_prefix(prefix.to_string());
            b.set_message(msg.to_string());
            b
        };
        Some(Phases {
            multi: multi.clone(),
            build: bar("[2/3] build", "models"),
            tests: bar("[3/3] tests", "tests"),
        })
    }

    /// The engine's ear: sizes the bars when the build starts, moves them
    /// as nodes finish, and counts failures in their messages.
    fn listener(&self) -> engine::execute::NodeProgress {
        let (multi, build, tests) = (self.multi.clone(), self.build.clone(), self.tests.clone());
        let failed = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        engine::execute::NodeProgress(Arc::new(move |event| match event {
            RunEvent::Started { models, tests: n } => {
                for (b, len) in [(&build, models), (&tests, n)] {
                    b.set_length(len as u64);
                    b.reset_elapsed();
                }
                multi.set_draw_target(ProgressDrawTarget::stderr());
            }
            RunEvent::Finished { test, failed: f } => {
                let (b, i, what) = if test {
                    (&tests, 1, "tests")
                } else {
                    (&build, 0, "models")
                };
                b.inc(1);
                if f {
                    let n = failed[i].fetch_add(1, Ordering::Relaxed) + 1;
                    b.set_message(format!("{what}, {n} failed"));
                }
            }
            RunEvent::Done => finish(&multi, &build, &tests),
        }))
    }

    /// After a build that ended before its end (an error), if the engine
    /// said nothing more.
    fn finish(&self) {
        finish(&self.multi, &self.build, &self.tests);
    }
}

/// The bars give way to plain lines (`[2/3] build  15/15 models`) before the
/// engine's closing lines: a bar left on screen would share its line with
/// them.
fn finish(multi: &MultiProgress, build: &ProgressBar, tests: &ProgressBar) {
    if build.is_finished() {
        return;
    }
    for b in [build, tests] {
        b.finish_and_clear();
    }
    let _ = multi.clear();
    if build.length().unwrap_or(0) + tests.length().unwrap_or(0) == 0 {
        // the build stopped before it started: nothing to show
        return;
    }
    for b in [build, tests] {
        eprintln!(
            "{:<16}{}/{} {}",
            b.prefix(),
            b.position(),
            b.length().unwrap_or(0),
            b.message()
        );
    }
}

/// What `run_results.json` says about the nodes of the last build.
#[derive(Debug, Default)]
pub struct Results {
    /// (unique_id, status) of every node.
    nodes: Vec<(String, String)>,
}

impl Results {
    fn is_test(id: &str) -> bool {
        id.starts_with("test.") || id.starts_with("unit_test.")
    }

    fn tests(&self) -> impl Iterator<Item = &(String, String)> {
        self.nodes.iter().filter(|(id, _)| Self::is_test(id))
    }

    /// Tests (passed, warned, failed or errored).
    pub fn test_counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for (_, s) in self.tests() {
            match s.as_str() {
                "pass" | "success" => c.0 += 1,
                "warn" => c.1 += 1,
                "fail" | "error" => c.2 += 1,
                _ => {}
            }
        }
        c
    }

    /// Models that were built and that failed.
    pub fn model_counts(&self) -> (usize, usize) {
        let mut c = (0, 0);
        for (id, s) in &self.nodes {
            if Self::is_test(id) {
                continue;
            }
            match s.as_str() {
                "success" => c.0 += 1,
                "error" => c.1 += 1,
                _ => {}
            }
        }
        c
    }

    /// The failing nodes as `<kind> <name>`: ids are
    /// `test.<project>.<name>.<hash>`, `model.<project>.<name>`,
    /// `unit_test.<project>.<model>.<name>`.
    pub fn failed(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, s)| s == "fail" || s == "error")
            .map(|(id, _)| {
                let parts: Vec<&str> = id.split('.').collect();
                let name = if parts[0] == "unit_test" {
                    parts.last()
                } else {
                    parts.get(2)
                };
                let kind = parts[0].replace('_', " ");
                name.map_or_else(|| id.clone(), |n| format!("{kind} {n}"))
            })
            .collect()
    }
}

fn read_results(project_dir: &Path) -> Result<Results> {
    let path = project_dir.join("target").join("run_results.json");
    let r = dbt_artifacts::RunResults::read(&path)?.unwrap_or_default();
    Ok(Results {
        nodes: r
            .results
            .into_iter()
            .map(|r| (r.unique_id, r.status))
            .collect(),
    })
}

/// Row counts of every table and view of the three layers: (schema, name, rows).
pub fn layer_counts(warehouse: &Path) -> Result<Vec<(String, String, i64)>> {
    let conn = warehouse::open(
        warehouse,
        warehouse::Access::ReadOnly,
        &[],
        warehouse::Wait::from_env(),
    )?;
    let mut stmt = conn.prepare(
        "SELECT table_schema, table_name FROM information_schema.tables \
         WHERE table_schema IN ('bronze', 'silver', 'gold') \
         ORDER BY CASE table_schema WHEN 'bronze' THEN 0 WHEN 'silver' THEN 1 ELSE 2 END, table_name",
    )?;
    let names = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for (schema, table) in names {
        let sql = format!(
            "SELECT count(*) FROM \"{}\".\"{}\"",
            schema.replace('"', "\"\""),
            table.replace('"', "\"\"")
        );
        let n: i64 = conn.query_row(&sql, [], |r| r.get(0))?;
        out.push((schema, table, n));
    }
    Ok(out)
}

fn summary(
    config: &Config,
    counts: &[(String, String, i64)],
    results: &Results,
    ingest: Duration,
    build: Duration,
    total: Duration,
) -> String {
    let mut s = format!(
        "warehouse {} — up in {:.1} s (ingest {:.1} s, build and tests {:.1} s)\n",
        config.warehouse.display(),
        total.as_secs_f64(),
        ingest.as_secs_f64(),
        build.as_secs_f64()
    );
    for layer in ["bronze", "silver", "gold"] {
        let items: Vec<String> = counts
            .iter()
            .filter(|(schema, _, _)| schema == layer)
            .map(|(_, t, n)| format!("{t} {}", thousands(*n)))
            .collect();
        // one line per layer, wrapped to stay readable in 100 columns
        let mut line = format!("  {layer:<7}");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                if line.len() + item.len() + 3 > 100 {
                    s.push_str(&line);
                    s.push('\n');
                    line = " ".repeat(9);
                } else {
                    line.push_str(" · ");
                }
            }
            line.push_str(item);
        }
        if !items.is_empty() {
            s.push_str(&line);
            s.push('\n');
        }
    }
    let (built, broken) = results.model_counts();
    let (pass, warn, fail) = results.test_counts();
    s.push_str(&format!(
        "  models {built} built, {broken} failed; tests {pass} passed, {warn} warned, {fail} failed\n"
    ));
    s.push_str("next: tarmac sql -c \"SELECT status, count(*) FROM gold.fct_flight_movements GROUP BY ALL\"\n");
    s.push_str("      tarmac docs serve      # the catalog and lineage in a browser\n");
    s.push_str("      tarmac orchestrate     # run the jobs of tarmac.toml on their schedules, with a web UI\n");
    s
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_ends_with_what_to_do_next() {
        let config = Config::load(None).unwrap();
        let s = summary(
            &config,
            &[],
            &Results::default(),
            Duration::ZERO,
            Duration::ZERO,
            Duration::ZERO,
        );
        let next: Vec<&str> = s.lines().skip_while(|l| !l.starts_with("next:")).collect();
        assert_eq!(next.len(), 3, "{s}");
        for cmd in ["tarmac sql", "tarmac docs serve", "tarmac orchestrate"] {
            assert!(next.iter().any(|l| l.contains(cmd)), "{cmd}: {s}");
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(12_471), "12,471");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
    }

    #[test]
    fn results_count_tests_and_name_failures() {
        let r = Results {
            nodes: vec![
                ("model.w.flights".into(), "success".into()),
                ("model.w.dim_date".into(), "error".into()),
                ("test.w.unique_flights_id.abc".into(), "pass".into()),
                ("test.w.not_null_flights_id.def".into(), "fail".into()),
                (
                    "unit_test.w.flights.flights_dedup_rule".into(),
                    "pass".into(),
                ),
                ("test.w.quarantine_share".into(), "warn".into()),
            ],
        };
        assert_eq!(r.test_counts(), (2, 1, 1));
        assert_eq!(r.model_counts(), (1, 1));
        assert_eq!(
            r.failed(),
            vec!["model dim_date", "test not_null_flights_id"]
        );
    }
}
