//! The `microbatch` incremental strategy, as dbt 1.9+ documents it
//! (<https://docs.getdbt.com/docs/build/incremental-microbatch>): a model
//! with `event_time`, `batch_size` (hour, day, month, year), `begin` and
//! `lookback` is built one time window ("batch") at a time. Each batch
//! renders the model again with `model.batch` set and every `ref()` /
//! `source()` of a node that has an `event_time` of its own reduced to the
//! batch's window; the first batch of a new (or fully refreshed) table
//! creates it, and every later batch replaces its window's rows
//! (`materialize::incremental`'s `microbatch` arm, dbt-duckdb's delete +
//! insert on `event_time`).
//!
//! Which batches: `--event-time-start`/`--event-time-end` when given; else
//! from `begin` on a first run or full refresh, or the last `lookback`
//! batches before now on an incremental run, up to now rounded up to the
//! batch size. A batch that fails does not stop the others, except the
//! first: when it fails the rest are skipped. The model's status is
//! `success`, `error`, or `partial success` with the batches listed in
//! `batch_results`, and `tarmac retry` runs only the failed batches again.
//!
//! As in dbt with dbt-duckdb (which declares that it can), the first batch
//! runs alone, then the middle batches run at once on up to `--threads`
//! connections when `concurrent_batches` is true, or is unset and the
//! model does not read `{{ this }}`; the last batch runs alone after them.

use crate::config::ConfigExt;
use crate::database::Database;
use crate::jinja::BatchWindow;
use crate::manifest::{Manifest, Node};
use crate::pydatetime::{parse_time, python_time};
use crate::results::{Batch, BatchResults, BuildNode, Command, NodeResult, RunOptions, Status};
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use std::sync::Arc;
use std::time::Instant;

/// `--sample`: `"3 days"` (back from now: hours, days, months or years,
/// singular or plural) or `{start: 2024-07-01, end: 2024-07-08 18:00:00}`
/// (YAML or JSON), as dbt 1.10 reads it.
pub fn parse_sample(text: &str, now: DateTime<Utc>) -> Result<crate::jinja::TimeWindow, String> {
    let t = text.trim();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_yaml_ng::from_str(t)
            .map_err(|e| format!("Cannot load SAMPLE_WINDOW from '{t}': {e}"))?;
        let get = |k: &str| -> Result<DateTime<Utc>, String> {
            let raw = match v.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => return Err(format!("Cannot load SAMPLE_WINDOW from '{t}': no '{k}'")),
            };
            parse_time(&raw).ok_or_else(|| {
                format!("Cannot load SAMPLE_WINDOW from '{t}': '{raw}' is not a timestamp")
            })
        };
        return Ok((get("start")?, get("end")?));
    }
    let parts: Vec<&str> = t.split(' ').collect();
    if parts.len() != 2 {
        return Err(format!(
            "Cannot load SAMPLE_WINDOW from '{t}'. Must be of form 'DAYS_INT GRAIN_SIZE'."
        ));
    }
    let n: i64 = parts[0]
        .parse()
        .map_err(|_| format!("Unable to convert '{}' to an integer.", parts[0]))?;
    let grain = parts[1].to_lowercase();
    let start = match grain.trim_end_matches('s') {
        "hour" => now - Duration::hours(n),
        "day" => now - Duration::days(n),
        "month" => now
            .checked_sub_months(chrono::Months::new(n as u32))
            .unwrap_or(now),
        "year" => now
            .checked_sub_months(chrono::Months::new(12 * n as u32))
            .unwrap_or(now),
        _ => {
            return Err(format!(
                "Invalid grain size '{}'. Must be one of ['hour', 'day', 'month', 'year', 'hours', 'days', 'months', 'years'].",
                parts[1]
            ))
        }
    };
    Ok((start, now))
}

/// `batch_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    Hour,
    Day,
    Month,
    Year,
}

impl Size {
    fn parse(s: &str) -> Option<Size> {
        Some(match s {
            "hour" => Size::Hour,
            "day" => Size::Day,
            "month" => Size::Month,
            "year" => Size::Year,
            _ => return None,
        })
    }

    /// The start of the batch holding `t`.
    pub fn floor(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let (y, mo, d, h) = match self {
            Size::Hour => (t.year(), t.month(), t.day(), t.hour()),
            Size::Day => (t.year(), t.month(), t.day(), 0),
            Size::Month => (t.year(), t.month(), 1, 0),
            Size::Year => (t.year(), 1, 1, 0),
        };
        Utc.with_ymd_and_hms(y, mo, d, h, 0, 0)
            .single()
            .unwrap_or(t)
    }

    /// The batch start `n` batches after (or before) the one holding `t`.
    pub fn shift(self, t: DateTime<Utc>, n: i64) -> DateTime<Utc> {
        let f = self.floor(t);
        match self {
            Size::Hour => f + Duration::hours(n),
            Size::Day => f + Duration::days(n),
            Size::Month => {
                let months = f.year() as i64 * 12 + (f.month() as i64 - 1) + n;
                Utc.with_ymd_and_hms(
                    months.div_euclid(12) as i32,
                    months.rem_euclid(12) as u32 + 1,
                    1,
                    0,
                    0,
                    0,
                )
                .single()
                .unwrap_or(f)
            }
            Size::Year => Utc
                .with_ymd_and_hms(f.year() + n as i32, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or(f),
        }
    }

    /// `t` rounded up to a batch boundary (itself when it is one).
    pub fn ceil(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let f = self.floor(t);
        if f == t {
            t
        } else {
            self.shift(f, 1)
        }
    }

    /// The batch's start at this size's precision: `2024-01-02`, `2024-01-02T16`.
    pub fn label(self, t: &DateTime<Utc>) -> String {
        t.format(match self {
            Size::Hour => "%Y-%m-%dT%H",
            Size::Day => "%Y-%m-%d",
            Size::Month => "%Y-%m",
            Size::Year => "%Y",
        })
        .to_string()
    }
}

/// Whether `node` is a microbatch model.
pub fn is_microbatch(node: &Node) -> bool {
    node.config.materialized() == "incremental"
        && node.config.str_of("incremental_strategy") == Some("microbatch")
}

/// Whether this command builds `node` batch by batch.
pub(crate) fn applies(node: &Node, command: Command) -> bool {
    matches!(command, Command::Run | Command::Build) && is_microbatch(node)
}

/// The batches from `start` to `end`: whole batches, the last cut at `end`.
pub fn batches(size: Size, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut s = start;
    let mut e = size.shift(s, 1);
    out.push((s, e));
    while e < end {
        s = e;
        e = size.shift(s, 1);
        out.push((s, e));
    }
    if let Some(last) = out.last_mut() {
        last.1 = end;
    }
    out
}

/// What one model's run must cover, or the config error that stops it.
fn plan(node: &Node, incremental: bool, opts: &RunOptions) -> Result<(Size, Vec<Batch>), String> {
    let name = &node.name;
    if node.config.str_of("event_time").is_none() {
        return Err(format!(
            "Microbatch model '{name}' must provide an 'event_time' (string) config that indicates the name of the event time column."
        ));
    }
    let size = node
        .config
        .str_of("batch_size")
        .and_then(Size::parse)
        .ok_or_else(|| {
            format!(
                "Microbatch model '{name}' does not have a 'batch_size' config (one of ['hour', 'day', 'month', 'year']) specificed."
            )
        })?;
    if let Some(prev) = opts
        .previous_batches
        .get(&node.unique_id)
        .filter(|p| !p.failed.is_empty())
    {
        return Ok((size, prev.failed.clone()));
    }
    let end = size.ceil(opts.event_time_end.unwrap_or(opts.invoked_at));
    let start = if let Some(s) = opts.event_time_start {
        size.floor(s)
    } else if !incremental {
        let begin = match node.config.get("begin") {
            Some(serde_json::Value::String(s)) => parse_time(s),
            _ => None,
        }
        .ok_or_else(|| format!("Microbatch model '{name}' requires a 'begin' configuration."))?;
        size.floor(begin)
    } else {
        let lookback = node
            .config
            .get("lookback")
            .and_then(|v| v.as_i64())
            .unwrap_or(1);
        // `end` is on a boundary, so the batch ending there counts too
        size.shift(end, -(lookback + 1))
    };
    Ok((size, batches(size, start, end)))
}

/// dbt's `Batch i of n ...` lines.
fn batch_line(
    node: &Node,
    size: Size,
    b: &Batch,
    i: usize,
    n: usize,
    outcome: Option<(&str, f64)>,
) {
    let what = format!(
        "batch {} of {}.{}",
        size.label(&b.0),
        node.schema,
        node.alias
    );
    let (text, tag, time, level, name, code) = match outcome {
        None => (
            format!("{i} of {n} START {what}"),
            "RUN".to_string(),
            None,
            "info",
            "LogStartBatch",
            "Q045",
        ),
        Some(("error", t)) => (
            format!("{i} of {n} ERROR creating {what}"),
            "ERROR".to_string(),
            Some(t),
            "error",
            "LogBatchResult",
            "Q046",
        ),
        Some(("skipped", t)) => (
            format!("{i} of {n} SKIP {what}"),
            "SKIPPED".to_string(),
            Some(t),
            "info",
            "LogBatchResult",
            "Q046",
        ),
        Some((msg, t)) => (
            format!("{i} of {n} OK created {what}"),
            msg.to_string(),
            Some(t),
            "info",
            "LogBatchResult",
            "Q046",
        ),
    };
    let line = format!("Batch {}", crate::logfmt::progress(&text, &tag, time));
    crate::logfmt::event(
        name,
        code,
        level,
        &line,
        serde_json::json!({"description": what, "batch_index": i, "total_batches": n}),
    );
}

/// Build one microbatch model, batch by batch: its result, with
/// `batch_results`. The caller prints the model's own lines.
pub(crate) fn run_model(
    m: &Manifest,
    node: &Node,
    db: &Arc<dyn Database>,
    resolver: &Arc<dyn crate::jinja::Resolver>,
    opts: &RunOptions,
    build: BuildNode<'_>,
) -> NodeResult {
    let started_at = Utc::now();
    let t0 = Instant::now();
    let rel = node.relation();
    let incremental =
        crate::materialize::is_incremental(db.as_ref(), &rel, &node.config, opts.full_refresh);
    let planned = incremental
        .map_err(|e| e.to_string())
        .and_then(|inc| plan(node, inc, opts).map(|p| (inc, p)));
    let (_, (size, todo)) = match planned {
        Ok(p) => p,
        Err(e) => {
            let mut r = NodeResult::skipped(node.unique_id.clone(), String::new());
            r.status = Status::Error;
            r.message = crate::results::node_error(node, &crate::Error::Project(e), None);
            r.started_at = started_at;
            r.execution_time = t0.elapsed().as_secs_f64();
            return r;
        }
    };
    let n = todo.len();
    let job = BatchJob {
        m,
        node,
        resolver,
        opts,
        build,
        size,
        batches: &todo,
    };
    // dbt's order: the first batch alone (it may create the table; when it
    // fails the others are skipped), then the middle ones, at once when
    // they may be (see `concurrently`), the last one alone after them all
    // (it runs the post-hooks)
    let mut done: Vec<(usize, BatchDone)> = Vec::new();
    if n > 0 {
        done.push((0, job.run(0, db)));
    }
    let first_failed = done.first().is_some_and(|(_, d)| d.result.is_err());
    let middle: Vec<usize> = (1..n.saturating_sub(1)).collect();
    if first_failed {
        for i in 1..n {
            done.push((i, job.skip(i)));
        }
    } else {
        let workers = opts.threads.min(middle.len());
        if workers > 1 && concurrently(&node.config, &node.raw_code) {
            done.extend(job.run_many(&middle, db, workers));
        } else {
            done.extend(middle.iter().map(|&i| (i, job.run(i, db))));
        }
        if n > 1 {
            done.push((n - 1, job.run(n - 1, db)));
        }
    }
    done.sort_by_key(|(i, _)| *i);
    let mut results = BatchResults::default();
    let mut compiled_files = Vec::new();
    for (i, d) in done {
        match d.result {
            Ok(run_sql) => {
                compiled_files.push((size.label(&todo[i].0), d.sql, Some(run_sql)));
                results.successful.push(todo[i]);
            }
            Err(None) => results.failed.push(todo[i]),
            Err(Some(_)) => {
                compiled_files.push((size.label(&todo[i].0), d.sql, None));
                results.failed.push(todo[i]);
            }
        }
    }
    write_batch_files(m, node, &compiled_files);
    results.successful.sort();
    results.failed.sort();
    let (ok, bad) = (results.successful.len(), results.failed.len());
    let (status, message) = if bad == 0 {
        (Status::Success, "SUCCESS".to_string())
    } else if ok == 0 {
        (Status::Error, "ERROR".to_string())
    } else {
        (
            Status::PartialSuccess,
            format!("PARTIAL SUCCESS ({ok}/{})", ok + bad),
        )
    };
    // a retry keeps the batches the earlier run built
    if let Some(prev) = opts.previous_batches.get(&node.unique_id) {
        results.successful.extend(prev.successful.iter().copied());
    }
    NodeResult {
        unique_id: node.unique_id.clone(),
        status,
        message,
        compiled_sql: None,
        run_sql: None,
        started_at,
        compiled_at: started_at,
        completed_at: Utc::now(),
        execution_time: t0.elapsed().as_secs_f64(),
        rows_affected: None,
        failures: None,
        batch_results: Some(results),
    }
}

/// Whether a model's middle batches may run at once, as dbt decides for
/// an adapter that can (dbt-duckdb declares it can): `concurrent_batches`
/// when set, else only when the model does not read `this` (a batch that
/// reads the table it writes must see the batches before it).
fn concurrently(config: &crate::config::Config, raw_code: &str) -> bool {
    match config.get("concurrent_batches") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => !reads_this(raw_code),
    }
}

/// Whether a model's Jinja names `this` (read from its template, not by
/// rendering it, as dbt does).
fn reads_this(raw_code: &str) -> bool {
    let source = crate::extras::preprocess(raw_code);
    minijinja::Environment::new()
        .template_from_str(&source)
        .map(|t| t.undeclared_variables(false).contains("this"))
        // a template that does not parse fails anyway; run it alone
        .unwrap_or(true)
}

/// One batch's outcome: its compiled SQL and its run SQL, or its error
/// (`None`: skipped, never compiled).
struct BatchDone {
    sql: Option<String>,
    result: std::result::Result<String, Option<crate::Error>>,
}

/// What every batch of one model's run shares.
struct BatchJob<'a> {
    m: &'a Manifest,
    node: &'a Node,
    resolver: &'a Arc<dyn crate::jinja::Resolver>,
    opts: &'a RunOptions,
    build: BuildNode<'a>,
    size: Size,
    batches: &'a [Batch],
}

impl BatchJob<'_> {
    /// Build batch `i` on `db`, printing its lines. The first batch
    /// creates the table unless it is there already (or replaces it on a
    /// full refresh); every later batch replaces its window's rows.
    /// Pre-hooks run before the first batch only, post-hooks after the last.
    fn run(&self, i: usize, db: &Arc<dyn Database>) -> BatchDone {
        let (node, size, n) = (self.node, self.size, self.batches.len());
        let b = &self.batches[i];
        let verbose = self.opts.verbose_lines;
        if verbose {
            batch_line(node, size, b, i + 1, n, None);
        }
        let bt = Instant::now();
        let window = BatchWindow {
            id: size.label(&b.0).replace('-', ""),
            start: python_time(&b.0),
            end: python_time(&b.1),
            range: *b,
        };
        let mut batch_opts = self.opts.clone();
        batch_opts.command = Command::Run;
        if i > 0 {
            batch_opts.full_refresh = false;
        }
        let mut batch_node = node.clone();
        if i > 0 {
            batch_node.config.remove("pre_hook");
        }
        if i + 1 < n {
            batch_node.config.remove("post_hook");
        }
        let (sql, outcome, _) = crate::jinja::with_batch(Some(window), || {
            (self.build)(self.m, &batch_node, db, self.resolver, &batch_opts)
        });
        let result = outcome.map(|(o, _)| o.run_sql);
        if verbose {
            let word = if result.is_ok() { "OK" } else { "error" };
            batch_line(
                node,
                size,
                b,
                i + 1,
                n,
                Some((word, bt.elapsed().as_secs_f64())),
            );
            if let Err(e) = &result {
                eprintln!(
                    "  {}",
                    crate::results::node_error(node, e, sql.as_deref()).replace('\n', "\n  ")
                );
            }
        }
        BatchDone {
            sql,
            result: result.map_err(Some),
        }
    }

    /// Batch `i` skipped: the first batch failed.
    fn skip(&self, i: usize) -> BatchDone {
        if self.opts.verbose_lines {
            let (b, n) = (&self.batches[i], self.batches.len());
            batch_line(self.node, self.size, b, i + 1, n, None);
            batch_line(self.node, self.size, b, i + 1, n, Some(("skipped", 0.0)));
        }
        BatchDone {
            sql: None,
            result: Err(None),
        }
    }

    /// Batches `ids` at once on `workers` connections of their own (a
    /// DuckDB connection runs one statement at a time; each batch's
    /// staging table is a temporary table, private to its connection, and
    /// the windows' rows do not overlap).
    fn run_many(
        &self,
        ids: &[usize],
        db: &Arc<dyn Database>,
        workers: usize,
    ) -> Vec<(usize, BatchDone)> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    let conn = db.connection();
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = ids.get(k) else { break };
                        // no connection of its own: the model's, shared one
                        // statement at a time
                        let out = self.run(i, conn.as_ref().unwrap_or(db));
                        if let Ok(mut d) = done.lock() {
                            d.push((i, out));
                        }
                    }
                });
            }
        });
        done.into_inner().unwrap_or_default()
    }
}

/// Each batch's compiled and run SQL, as dbt writes them:
/// `<model path without .sql>/<name>_<batch start>.sql`.
fn write_batch_files(
    m: &Manifest,
    node: &Node,
    files: &[(String, Option<String>, Option<String>)],
) {
    let target = crate::results::target_dir(m);
    let dir = node
        .original_file_path
        .strip_suffix(".sql")
        .unwrap_or(&node.original_file_path);
    for (label, compiled, run) in files {
        let file = format!("{dir}/{}_{label}.sql", node.name);
        for (kind, text) in [("compiled", compiled), ("run", run)] {
            if let Some(text) = text {
                let p = target.join(kind).join(&node.package_name).join(&file);
                if let Some(parent) = p.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::write(&p, text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    #[test]
    fn sizes_floor_shift_and_ceil_as_dbt() {
        let x = t("2024-09-17 16:06:00");
        assert_eq!(Size::Hour.shift(x, -1), t("2024-09-17 15:00:00"));
        assert_eq!(Size::Day.shift(x, 1), t("2024-09-18"));
        assert_eq!(Size::Month.shift(x, -1), t("2024-08-01"));
        assert_eq!(Size::Month.shift(t("2024-01-15"), -1), t("2023-12-01"));
        assert_eq!(Size::Month.shift(t("2024-12-15"), 1), t("2025-01-01"));
        assert_eq!(Size::Year.shift(x, 1), t("2025-01-01"));
        assert_eq!(Size::Day.ceil(x), t("2024-09-18"));
        assert_eq!(Size::Day.ceil(t("2024-09-17")), t("2024-09-17"));
        assert_eq!(Size::Hour.label(&x), "2024-09-17T16");
        assert_eq!(t("2024-01-02T00:00:00+00:00"), t("2024-01-02"));
    }

    #[test]
    fn samples_as_dbt_reads_them() {
        let now = t("2024-03-31 10:00:00");
        assert_eq!(
            parse_sample("3 days", now).unwrap(),
            (t("2024-03-28 10:00:00"), now)
        );
        assert_eq!(
            parse_sample("1 month", now).unwrap().0,
            t("2024-02-29 10:00:00")
        );
        assert_eq!(
            parse_sample("2 Hours", now).unwrap().0,
            t("2024-03-31 08:00:00")
        );
        assert_eq!(
            parse_sample(
                "{start: 2024-01-02 00:00:00, end: '2024-01-03T12:00:00'}",
                now
            )
            .unwrap(),
            (t("2024-01-02"), t("2024-01-03 12:00:00"))
        );
        assert!(parse_sample("3", now)
            .unwrap_err()
            .contains("DAYS_INT GRAIN_SIZE"));
        assert!(parse_sample("x days", now)
            .unwrap_err()
            .contains("'x' to an integer"));
        assert_eq!(
            python_time(&t("2024-01-02 03:04:05.25")),
            "2024-01-02 03:04:05.250000+00:00"
        );
    }

    #[test]
    fn batches_run_at_once_unless_the_model_reads_this_or_says_no() {
        let cfg = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        let plain = "select * from {{ ref('events') }}";
        let reads = "select * from {{ ref('events') }}\n{% if is_incremental() %}where x > (select max(x) from {{ this }}){% endif %}";
        assert!(concurrently(&cfg(serde_json::json!({})), plain));
        assert!(!concurrently(&cfg(serde_json::json!({})), reads));
        assert!(concurrently(
            &cfg(serde_json::json!({"concurrent_batches": true})),
            reads
        ));
        assert!(!concurrently(
            &cfg(serde_json::json!({"concurrent_batches": false})),
            plain
        ));
        // `this` in SQL text or a comment is not Jinja's `this`
        assert!(!reads_this("select 'this' as word -- this\n"));
        assert!(reads_this("{% set t = this.identifier %}select 1"));
    }

    #[test]
    fn batches_cover_the_range() {
        let b = batches(Size::Day, t("2024-01-01"), t("2024-01-04"));
        assert_eq!(b.len(), 3);
        assert_eq!(b[2], (t("2024-01-03"), t("2024-01-04")));
        let j = BatchResults {
            successful: b.clone(),
            failed: vec![],
        }
        .to_json();
        assert_eq!(j["successful"][0][0], "2024-01-01T00:00:00+00:00");
        assert_eq!(BatchResults::from_json(&j).successful, b);
    }
}
