//! `tarmac source freshness` (<https://docs.getdbt.com/reference/resource-properties/freshness>):
//! for each source table with a `freshness` and a `loaded_at_field`, the age
//! of its newest row against `warn_after`/`error_after`, written to
//! `target/sources.json` (dbt's schema v3). Exit status as dbt's: any
//! `error` or `runtime error` fails the command, warnings do not.

use std::time::Instant;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::manifest::Source;
use crate::Options;

/// One threshold: `{count: 12, period: hour}`.
fn seconds(v: Option<&Value>) -> std::result::Result<Option<f64>, String> {
    let Some(Value::Object(m)) = v else {
        return Ok(None);
    };
    let count = match m.get("count") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::Null) | None => return Ok(None),
        Some(other) => return Err(format!("count: expected a number, found {other}")),
    };
    let unit = match m.get("period").and_then(|p| p.as_str()) {
        Some("minute") => 60.0,
        Some("hour") => 3600.0,
        Some("day") => 86400.0,
        other => {
            return Err(format!(
                "period: expected minute, hour or day, found {}",
                other.unwrap_or("nothing")
            ))
        }
    };
    Ok(Some(count * unit))
}

/// The outcome for one source table.
#[derive(Debug, Clone, PartialEq)]
pub struct Freshness {
    pub unique_id: String,
    pub status: String,
    pub max_loaded_at: Option<String>,
    pub snapshotted_at: Option<String>,
    pub age: Option<f64>,
    pub message: String,
}

/// Check one source (`freshness` as merged from source and table).
fn check(db: &dyn crate::database::Database, s: &Source) -> std::result::Result<Freshness, String> {
    let t = &s.table;
    let field = t
        .loaded_at_field
        .clone()
        .ok_or_else(|| "no loaded_at_field".to_string())?;
    let f = t.freshness.clone().unwrap_or(Value::Null);
    let warn = seconds(f.get("warn_after")).map_err(|e| format!("freshness.warn_after.{e}"))?;
    let error = seconds(f.get("error_after")).map_err(|e| format!("freshness.error_after.{e}"))?;
    let filter = f
        .get("filter")
        .and_then(|x| x.as_str())
        .map(|w| format!("\n    where {w}"))
        .unwrap_or_default();
    let sql = format!(
        "select cast(max({field}) as varchar), cast(current_timestamp as varchar), (epoch_us(current_timestamp) - epoch_us(max({field}))) / 1000000.0\n    from {}{filter}",
        s.relation.render()
    );
    let mut out = Freshness {
        unique_id: s.unique_id.clone(),
        status: "runtime error".into(),
        max_loaded_at: None,
        snapshotted_at: None,
        age: None,
        message: String::new(),
    };
    let q = match db.query(&sql) {
        Ok(q) => q,
        Err(e) => {
            out.message = e.to_string();
            return Ok(out);
        }
    };
    let row = q.rows.first().cloned().unwrap_or_default();
    let text = |i: usize| {
        row.get(i)
            .filter(|v| !v.is_none() && !v.is_undefined())
            .map(|v| v.to_string())
    };
    // ISO 8601 in UTC, as dbt writes them
    let iso = |s: Option<String>| {
        s.map(|s| {
            let s = s.replacen(' ', "T", 1);
            if s.ends_with("+00") {
                format!("{s}:00")
            } else if s.contains('+') || s.len() <= 10 {
                s
            } else {
                format!("{s}+00:00")
            }
        })
    };
    out.max_loaded_at = iso(text(0));
    out.snapshotted_at = iso(text(1));
    out.age = row.get(2).and_then(|v| f64::try_from(v.clone()).ok());
    let age = out.age.unwrap_or(f64::INFINITY);
    out.status = if error.is_some_and(|e| age > e) {
        "error".into()
    } else if warn.is_some_and(|w| age > w) {
        "warn".into()
    } else {
        "pass".into()
    };
    Ok(out)
}

fn quote_source(s: &Source) -> String {
    format!("{}.{}", s.table.source_name, s.table.name)
}

/// Whether a `--select`/`--exclude` atom names this source (`source:raw`,
/// `source:raw.events`, `raw.events`, `source:*`).
fn selected(s: &Source, sel: &str) -> bool {
    let v = sel.strip_prefix("source:").unwrap_or(sel);
    let v = v.trim_end_matches('+');
    v == "*" || v == s.table.source_name || v == quote_source(s)
}

/// Run `source freshness`; returns whether every source passed or warned.
pub fn run(opts: &Options) -> Result<bool> {
    let t0 = Instant::now();
    let l = crate::load(opts, crate::Command::Run)?;
    let m = &l.manifest;
    let chosen: Vec<&Source> = m
        .sources
        .values()
        .filter(|s| s.table.freshness.as_ref().is_some_and(|f| !f.is_null()))
        .filter(|s| {
            let atoms: Vec<&str> = opts
                .select
                .iter()
                .flat_map(|x| x.split_whitespace())
                .collect();
            atoms.is_empty() || atoms.iter().any(|a| selected(s, a))
        })
        .filter(|s| {
            !opts
                .exclude
                .iter()
                .flat_map(|x| x.split_whitespace())
                .any(|a| selected(s, a))
        })
        .collect();
    // a freshness without a loaded_at_field is a project error, as in dbt
    for s in &chosen {
        if s.table.loaded_at_field.is_none() {
            return Err(Error::Project(format!(
                "{}: key sources.{}.tables.{}: freshness is set but there is no loaded_at_field",
                s.table.file, s.table.source_name, s.table.name
            )));
        }
    }
    let db = crate::open_db(&m.info.target)?.shared();
    crate::operation::run_hooks(m, &db, &m.info.project.on_run_start, "on-run-start", &[])?;
    println!(
        "{}  Running with tarmac (dbt {}) — {} sources with freshness",
        chrono::Local::now().format("%H:%M:%S"),
        crate::project::DBT_VERSION,
        chosen.len()
    );
    let total = chosen.len();
    let mut results = Vec::new();
    let mut ok = true;
    for (i, s) in chosen.iter().enumerate() {
        let started = chrono::Utc::now();
        let ts = Instant::now();
        let f = check(&*db, s).map_err(|e| {
            Error::Project(format!(
                "{}: key sources.{}.tables.{}.{e}",
                s.table.file, s.table.source_name, s.table.name
            ))
        })?;
        let secs = ts.elapsed().as_secs_f64();
        let tag = match f.status.as_str() {
            "pass" => "PASS",
            "warn" => "WARN",
            "error" => "ERROR STALE",
            _ => "ERROR",
        };
        let prefix = format!(
            "{}  {} of {total} {tag} freshness of {} ",
            chrono::Local::now().format("%H:%M:%S"),
            i + 1,
            quote_source(s)
        );
        let dots = 80usize.saturating_sub(prefix.chars().count()).max(1);
        println!("{prefix}{} [{tag} in {secs:.2}s]", ".".repeat(dots));
        if f.status == "runtime error" {
            eprintln!("  {}", f.message.replace('\n', "\n  "));
        }
        if f.status == "error" || f.status == "runtime error" {
            ok = false;
        }
        let fr = s.table.freshness.clone().unwrap_or(Value::Null);
        let ts_fmt = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        };
        let mut item = json!({
            "unique_id": f.unique_id,
            "status": f.status,
            "timing": [
                {"name": "compile", "started_at": ts_fmt(started), "completed_at": ts_fmt(started)},
                {"name": "execute", "started_at": ts_fmt(started), "completed_at": ts_fmt(chrono::Utc::now())},
            ],
            "thread_id": "Thread-1",
            "execution_time": secs,
            "adapter_response": {},
        });
        if f.status == "runtime error" {
            item["error"] = json!(f.message);
        } else {
            item["max_loaded_at"] = json!(f.max_loaded_at);
            item["snapshotted_at"] = json!(f.snapshotted_at);
            item["max_loaded_at_time_ago_in_s"] = json!(f.age);
            item["criteria"] = json!({
                "warn_after": fr.get("warn_after").cloned().unwrap_or(json!({"count": null, "period": null})),
                "error_after": fr.get("error_after").cloned().unwrap_or(json!({"count": null, "period": null})),
                "filter": fr.get("filter").cloned().unwrap_or(Value::Null),
            });
        }
        results.push(item);
    }
    crate::operation::run_hooks(m, &db, &m.info.project.on_run_end, "on-run-end", &[])?;
    let doc = json!({
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/sources/v3.json",
            "dbt_version": crate::project::DBT_VERSION,
            "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "invocation_id": m.info.invocation_id,
            "env": {},
        },
        "results": results,
        "elapsed_time": t0.elapsed().as_secs_f64(),
    });
    crate::artifacts::write_json(m, "sources.json", &doc)?;
    let count = |st: &str| {
        doc["results"]
            .as_array()
            .map(|a| a.iter().filter(|r| r["status"] == st).count())
            .unwrap_or(0)
    };
    println!(
        "\nDone. PASS={} WARN={} ERROR={} TOTAL={total}",
        count("pass"),
        count("warn"),
        count("error") + count("runtime error")
    );
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!(
            seconds(Some(&json!({"count": 2, "period": "hour"}))),
            Ok(Some(7200.0))
        );
        assert_eq!(
            seconds(Some(&json!({"count": null, "period": "hour"}))),
            Ok(None)
        );
        assert_eq!(seconds(None), Ok(None));
        assert!(seconds(Some(&json!({"count": 2, "period": "week"}))).is_err());
    }

    /// shop's `raw.events` (warn after an hour, error after a day) and
    /// `raw.orders` (a filter, error after 30 days), checked on a recording
    /// database whose `max(loaded_at)` is `age` seconds old.
    mod recorded {
        use super::*;
        use crate::database::{Call, Recording};

        fn check_on(table: &str, age: Option<f64>) -> (Freshness, Vec<Call>) {
            let l = crate::fixture("shop", crate::Command::Run, |_| {});
            let s = &l.manifest.sources[&format!("source.shop.raw.{table}")];
            let row = match age {
                Some(a) => vec![
                    "2026-12-07 10:00:00+00".into(),
                    "2026-12-07 12:00:00.5+00".into(),
                    a.into(),
                ],
                None => vec![().into(), "2026-12-07 12:00:00+00".into(), ().into()],
            };
            let db = Recording::new().answering("max(", &["max", "now", "age"], vec![row]);
            let f = check(&db, s).unwrap();
            (f, db.calls())
        }

        #[test]
        fn the_age_of_the_newest_row_against_warn_and_error_after() {
            let (f, calls) = check_on("events", Some(7200.0));
            assert_eq!(f.status, "warn");
            assert_eq!(f.age, Some(7200.0));
            assert_eq!(
                f.max_loaded_at.as_deref(),
                Some("2026-12-07T10:00:00+00:00")
            );
            assert_eq!(
                f.snapshotted_at.as_deref(),
                Some("2026-12-07T12:00:00.5+00:00")
            );
            let [Call::Query(sql)] = &calls[..] else {
                panic!("{calls:?}")
            };
            assert!(
                sql.starts_with("select cast(max(loaded_at) as varchar)"),
                "{sql}"
            );
            assert_eq!(check_on("events", Some(60.0)).0.status, "pass");
            assert_eq!(check_on("events", Some(90_000.0)).0.status, "error");
            // no rows at all: no age, so past every threshold
            let (f, _) = check_on("events", None);
            assert_eq!((f.status.as_str(), f.max_loaded_at), ("error", None));
        }

        #[test]
        fn a_tables_own_field_and_filter_reach_the_query() {
            // orders keeps its source's warn_after (an hour) and sets its
            // own error_after (30 days), as dbt merges them
            let (f, calls) = check_on("orders", Some(90_000.0));
            assert_eq!(f.status, "warn");
            let [Call::Query(sql)] = &calls[..] else {
                panic!("{calls:?}")
            };
            assert!(sql.contains("max(cast(order_date as timestamp))"), "{sql}");
            assert!(sql.ends_with("\n    where status <> 'returned'"), "{sql}");
        }

        #[test]
        fn a_refused_query_is_a_runtime_error_of_that_source() {
            let l = crate::fixture("shop", crate::Command::Run, |_| {});
            let s = &l.manifest.sources["source.shop.raw.events"];
            let db = Recording::new().failing(
                "raw_events",
                "Catalog Error: Table with name raw_events does not exist!",
            );
            let f = check(&db, s).unwrap();
            assert_eq!(f.status, "runtime error");
            assert_eq!(
                f.message,
                "Catalog Error: Table with name raw_events does not exist!"
            );
        }
    }
}
