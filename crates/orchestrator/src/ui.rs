//! The web UI: server-rendered HTML (no scripts from elsewhere, no build
//! step), embedded in the binary, reading the run history.
//!
//! Security: it binds loopback unless `--listen` says otherwise, and then a
//! token is required. Requests to a loopback UI must name a loopback Host
//! (no DNS rebinding). Every state-changing request is a POST that carries
//! the token as a bearer header or comes from the UI's own pages (its
//! `Origin`, or `Sec-Fetch-Site: same-origin`, matches): a page on another
//! site cannot make a browser press "run now".

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;

use crate::history::{now_ms, RunFilter, RunRow};
use crate::runner::lock;
use crate::scheduler::Orchestrator;

/// A freshness reading: when, and the tables or why there are none.
type Reading = (i64, Result<Vec<Fresh>, String>);

#[derive(Clone)]
struct AppState {
    orch: Arc<Orchestrator>,
    freshness: Arc<Mutex<Option<Reading>>>,
}

/// Serves the UI on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    orch: Arc<Orchestrator>,
    token: Option<String>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let state = AppState {
        orch,
        freshness: Arc::new(Mutex::new(None)),
    };
    axum::serve(listener, router(state, web::Policy::new(local, token))).await
}

/// The UI's routes behind the binary's one web security layer (`web`).
fn router(state: AppState, policy: web::Policy) -> Router {
    web::protect(routes(state), policy)
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(overview))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/events", get(run_events))
        .route("/runs/{id}/rerun", post(rerun))
        .route("/jobs/{name}/run", post(run_now))
        .route("/jobs/{name}/pause", post(pause))
        .route("/jobs/{name}/resume", post(resume))
        .route("/backfill", get(backfill_page).post(backfill_start))
        .route("/freshness", get(freshness_page))
        .route("/docs", get(docs_page))
        .route("/api/runs", get(api_runs))
        .route("/api/runs/{id}", get(api_run))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

// ---- rendering helpers ----

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn fmt_ts(ms: Option<i64>) -> String {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "—".into())
}

fn rel(ms: i64) -> String {
    let d = ms - now_ms();
    let h = crate::duration::human(Duration::from_millis(d.unsigned_abs()));
    if d >= 0 {
        format!("in {h}")
    } else {
        format!("{h} ago")
    }
}

fn dur(r: &RunRow) -> String {
    match (r.started_at, r.finished_at) {
        (Some(s), Some(f)) => crate::duration::human(Duration::from_millis((f - s).max(0) as u64)),
        (Some(s), None) => format!(
            "{}…",
            crate::duration::human(Duration::from_millis((now_ms() - s).max(0) as u64))
        ),
        _ => "—".into(),
    }
}

fn badge(status: &str) -> String {
    format!("<span class=\"st st-{0}\">{0}</span>", esc(status))
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:center}
header a{color:#cfe0ff;text-decoration:none}header b{color:#fff;margin-right:12px}
main{padding:16px 20px;max-width:1300px}
table{border-collapse:collapse;background:#fff;width:100%;margin:8px 0 18px}
th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef0f3;font-weight:600}
.st{padding:1px 7px;border-radius:9px;font-size:12px;color:#fff;background:#8a93a3}
.st-success{background:#23863a}.st-failed{background:#c62828}.st-running{background:#1565c0}
.st-queued{background:#6b7a90}.st-interrupted{background:#ef6c00}.st-skipped{background:#b0b6c0}.st-timeout{background:#ad1457}
form.inline{display:inline;margin:0}button{cursor:pointer;padding:3px 9px}
pre.logs{background:#11151c;color:#d7dde8;padding:10px;max-height:520px;overflow:auto;font-size:12px;white-space:pre-wrap}
.l-error{color:#ff8a80}.l-warn{color:#ffd180}.l-tarmac{color:#80d8ff}
.tl{position:relative;height:18px;background:#eef0f3;min-width:300px}
.tl div{position:absolute;top:2px;height:14px;border-radius:3px}
.grid td{width:22px;height:22px;padding:0;text-align:center}
.grid td.c-success{background:#23863a}.grid td.c-failed{background:#c62828}.grid td.c-running,.grid td.c-queued{background:#1565c0}
.grid td.c-interrupted{background:#ef6c00}.grid td a{display:block;width:100%;height:100%}
.muted{color:#6b7480}.err{color:#c62828}
"#;

fn page(st: &AppState, title: &str, body: &str) -> Html<String> {
    let docs = match &st.orch.config.settings.docs_url {
        Some(u) => format!("<a href=\"{}\">Docs catalog</a>", esc(u)),
        // Not greyed out into a dead end: the link explains how to turn it on.
        None => {
            "<a href=\"/docs\" title=\"not configured: how to link the catalog\">Docs catalog</a>"
                .into()
        }
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{t} · Tarmac</title><style>{CSS}</style></head><body>\
<header><b>Tarmac</b><a href=\"/\">Jobs</a><a href=\"/runs\">Runs</a><a href=\"/backfill\">Backfill</a><a href=\"/freshness\">Freshness</a>{docs}</header>\
<main><h2>{t}</h2>{body}</main></body></html>",
        t = esc(title)
    ))
}

fn button(action: &str, label: &str) -> String {
    format!(
        "<form class=inline method=post action=\"{}\"><button>{}</button></form>",
        esc(action),
        esc(label)
    )
}

fn err_page(st: &AppState, code: StatusCode, msg: &str) -> Response {
    (
        code,
        page(st, "Error", &format!("<p class=err>{}</p>", esc(msg))),
    )
        .into_response()
}

// ---- pages ----

async fn overview(State(st): State<AppState>) -> Response {
    let names: Vec<&str> = st
        .orch
        .config
        .jobs
        .iter()
        .map(|j| j.name.as_str())
        .collect();
    let (latest, states) = {
        let h = lock(&st.orch.history);
        let latest = match h.latest_per_job(&names) {
            Ok(l) => l,
            Err(e) => return err_page(&st, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        let states: HashMap<String, bool> = names
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    h.job_state(n).map(|s| s.paused).unwrap_or(false),
                )
            })
            .collect();
        (latest, states)
    };
    let latest: HashMap<&str, &RunRow> = latest.iter().map(|r| (r.job.as_str(), r)).collect();
    let mut b = String::from("<table><tr><th>Job</th><th>Trigger</th><th>Next run</th><th>Last run</th><th>Steps</th><th></th></tr>");
    for j in &st.orch.config.jobs {
        let paused = j.paused || states.get(&j.name).copied().unwrap_or(false);
        let next = if paused {
            "<span class=muted>paused</span>".to_string()
        } else {
            match st.orch.next_fire(&j.name) {
                Some(t) => format!("{} <span class=muted>({})</span>", fmt_ts(Some(t)), rel(t)),
                None => "<span class=muted>—</span>".into(),
            }
        };
        let last = match latest.get(j.name.as_str()) {
            Some(r) => format!(
                "<a href=\"/runs/{}\">#{}</a> {} {}",
                r.id,
                r.id,
                badge(&r.status),
                fmt_ts(r.started_at.or(Some(r.queued_at)))
            ),
            None => "<span class=muted>never</span>".into(),
        };
        let steps: Vec<String> = j
            .steps
            .iter()
            .map(|s| format!("<code>{}</code>", esc(&s.text)))
            .collect();
        let _ = write!(
            b,
            "<tr><td><a href=\"/runs?job={n}\"><b>{n}</b></a></td><td>{}</td><td>{next}</td><td>{last}</td><td>{}</td><td>{} {}</td></tr>",
            esc(&j.trigger.describe()),
            steps.join("<br>"),
            button(&format!("/jobs/{}/run", j.name), "Run now"),
            if paused { button(&format!("/jobs/{}/resume", j.name), "Resume") } else { button(&format!("/jobs/{}/pause", j.name), "Pause") },
            n = esc(&j.name),
        );
    }
    b.push_str("</table>");
    if st.orch.config.jobs.is_empty() {
        b.push_str(
            "<p class=muted>No jobs: add <code>[jobs.NAME]</code> tables to tarmac.toml.</p>",
        );
    }
    page(&st, "Jobs", &b).into_response()
}

#[derive(Deserialize, Default)]
struct RunsQuery {
    job: Option<String>,
    status: Option<String>,
    before: Option<i64>,
    limit: Option<usize>,
}

impl RunsQuery {
    fn filter(&self) -> RunFilter {
        RunFilter {
            job: self.job.clone().filter(|s| !s.is_empty()),
            status: self.status.clone().filter(|s| !s.is_empty()),
            before: self.before,
            limit: self.limit.unwrap_or(50).clamp(1, 500),
        }
    }
}

async fn runs_page(State(st): State<AppState>, Query(q): Query<RunsQuery>) -> Response {
    let f = q.filter();
    let rows = match lock(&st.orch.history).runs(&f) {
        Ok(r) => r,
        Err(e) => return err_page(&st, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut b =
        String::from("<form method=get>Job <select name=job><option value=\"\">all</option>");
    for j in &st.orch.config.jobs {
        let sel = if f.job.as_deref() == Some(&j.name) {
            " selected"
        } else {
            ""
        };
        let _ = write!(b, "<option{sel}>{}</option>", esc(&j.name));
    }
    b.push_str("</select> Status <select name=status><option value=\"\">all</option>");
    for s in [
        "queued",
        "running",
        "success",
        "failed",
        "interrupted",
        "skipped",
    ] {
        let sel = if f.status.as_deref() == Some(s) {
            " selected"
        } else {
            ""
        };
        let _ = write!(b, "<option{sel}>{s}</option>");
    }
    b.push_str("</select> <button>Filter</button></form>");
    b.push_str("<table><tr><th>Run</th><th>Job</th><th>Status</th><th>Trigger</th><th>Partition</th><th>Started (UTC)</th><th>Duration</th><th>Error</th></tr>");
    for r in &rows {
        let _ = write!(
            b,
            "<tr><td><a href=\"/runs/{id}\">#{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.job),
            badge(&r.status),
            esc(&r.trigger),
            esc(r.partition.as_deref().unwrap_or("")),
            fmt_ts(r.started_at.or(Some(r.queued_at))),
            dur(r),
            esc(r.error.as_deref().unwrap_or("")),
            id = r.id
        );
    }
    b.push_str("</table>");
    if let Some(last) = rows.last() {
        if rows.len() == f.limit {
            let mut next = format!("/runs?before={}&limit={}", last.id, f.limit);
            if let Some(j) = &f.job {
                let _ = write!(next, "&job={}", esc(j));
            }
            if let Some(s) = &f.status {
                let _ = write!(next, "&status={}", esc(s));
            }
            let _ = write!(b, "<a href=\"{next}\">Older runs →</a>");
        }
    } else {
        b.push_str("<p class=muted>No runs.</p>");
    }
    page(&st, "Runs", &b).into_response()
}

async fn run_page(State(st): State<AppState>, Path(id): Path<i64>) -> Response {
    let (run, steps, logs, alerts) = {
        let h = lock(&st.orch.history);
        let run = match h.run(id) {
            Ok(r) => r,
            Err(e) => return err_page(&st, StatusCode::NOT_FOUND, &e.to_string()),
        };
        (
            run,
            h.steps(id).unwrap_or_default(),
            h.logs_tail(id, 2000).unwrap_or_default(),
            h.alerts_for_run(id).unwrap_or_default(),
        )
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>Job <a href=\"/runs?job={j}\"><b>{j}</b></a> · status <span id=status>{}</span> · trigger {} {} · queued {} · started {} · finished {} · duration {}</p>",
        badge(&run.status),
        esc(&run.trigger),
        run.partition.as_deref().map(|p| format!("· partition {}", esc(p))).unwrap_or_default(),
        fmt_ts(Some(run.queued_at)),
        fmt_ts(run.started_at),
        fmt_ts(run.finished_at),
        dur(&run),
        j = esc(&run.job)
    );
    if let Some(p) = run.parent_run {
        let _ = write!(b, "<p>Follows run <a href=\"/runs/{p}\">#{p}</a></p>");
    }
    if let Some(e) = &run.error {
        let _ = write!(b, "<p class=err>Error: {}</p>", esc(e));
    }
    if matches!(run.status.as_str(), "failed" | "interrupted") {
        let step = run.failed_step.map(|s| s + 1).unwrap_or(1);
        b.push_str(&button(
            &format!("/runs/{id}/rerun"),
            &format!("Re-run from step {step}"),
        ));
        b.push(' ');
    }
    b.push_str(&button(&format!("/jobs/{}/run", run.job), "Run job now"));
    // timeline: one bar per attempt, scaled to the run's span
    let t0 = steps
        .iter()
        .map(|s| s.started_at)
        .min()
        .unwrap_or(run.queued_at);
    let t1 = run
        .finished_at
        .unwrap_or_else(now_ms)
        .max(
            steps
                .iter()
                .filter_map(|s| s.finished_at)
                .max()
                .unwrap_or(t0),
        )
        .max(t0 + 1);
    b.push_str("<h3>Steps</h3><table><tr><th>#</th><th>Step</th><th>Attempt</th><th>Status</th><th>Started</th><th>Duration</th><th style=\"width:40%\">Timeline</th><th>Error</th></tr>");
    for s in &steps {
        let end = s.finished_at.unwrap_or_else(now_ms);
        let left = (s.started_at - t0) as f64 * 100.0 / (t1 - t0) as f64;
        let width = ((end - s.started_at) as f64 * 100.0 / (t1 - t0) as f64).max(0.5);
        let color = match s.status.as_str() {
            "success" => "#23863a",
            "running" => "#1565c0",
            "interrupted" => "#ef6c00",
            _ => "#c62828",
        };
        let _ = write!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><div class=tl><div style=\"left:{left:.2}%;width:{width:.2}%;background:{color}\"></div></div></td><td>{}</td></tr>",
            s.idx + 1,
            esc(&s.name),
            s.attempt,
            badge(&s.status),
            fmt_ts(Some(s.started_at)),
            crate::duration::human(Duration::from_millis((end - s.started_at).max(0) as u64)),
            esc(s.error.as_deref().unwrap_or(""))
        );
    }
    b.push_str("</table>");
    if !alerts.is_empty() {
        b.push_str("<h3>Alerts</h3><table><tr><th>Kind</th><th>Channel</th><th>Status</th><th>Attempts</th><th>Last error</th></tr>");
        for a in &alerts {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.kind),
                esc(&a.channel),
                esc(&a.status),
                a.attempts,
                esc(a.last_error.as_deref().unwrap_or(""))
            );
        }
        b.push_str("</table>");
    }
    b.push_str("<h3>Logs</h3><pre class=logs id=logs>");
    let mut last = 0;
    for l in &logs {
        last = l.id;
        b.push_str(&log_line(l.ts, l.step_idx, &l.stream, &l.level, &l.message));
    }
    b.push_str("</pre>");
    let live = matches!(run.status.as_str(), "queued" | "running");
    if live {
        let _ = write!(
            b,
            "<script>\
const pre=document.getElementById('logs');const es=new EventSource('/runs/{id}/events?after={last}');\
es.addEventListener('log',e=>{{const d=JSON.parse(e.data);const s=document.createElement('span');s.className='l-'+d.level+(d.stream==='tarmac'?' l-tarmac':'');\
s.textContent=d.text+'\\n';const end=pre.scrollTop+pre.clientHeight>=pre.scrollHeight-5;pre.appendChild(s);if(end)pre.scrollTop=pre.scrollHeight;}});\
es.addEventListener('status',e=>{{const d=JSON.parse(e.data);if(d.done){{es.close();setTimeout(()=>location.reload(),300);}}}});\
</script>"
        );
    }
    page(&st, &format!("Run #{id}"), &b).into_response()
}

fn log_text(ts: i64, step: Option<i64>, stream: &str, message: &str) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(ts)
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_default();
    let step = step
        .map(|s| format!("step {}", s + 1))
        .unwrap_or_else(|| "run".into());
    format!("{t} [{step} {stream}] {message}")
}

fn log_line(ts: i64, step: Option<i64>, stream: &str, level: &str, message: &str) -> String {
    let cls = if stream == "tarmac" {
        format!("l-{level} l-tarmac")
    } else {
        format!("l-{level}")
    };
    format!(
        "<span class=\"{cls}\">{}\n</span>",
        esc(&log_text(ts, step, stream, message))
    )
}

#[derive(Deserialize)]
struct After {
    after: Option<i64>,
}

/// Live logs: polls the history (which other processes write too) every
/// 250 ms and sends new lines; ends when the run has finished.
async fn run_events(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<After>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let history = st.orch.history.clone();
    let s = stream::unfold((q.after.unwrap_or(0), false, true), move |(after, done, first)| {
        let history = history.clone();
        async move {
            if done {
                return None;
            }
            if !first {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let (logs, status) = {
                let h = lock(&history);
                (h.logs_after(id, after, 1000).unwrap_or_default(), h.run(id).map(|r| r.status).unwrap_or_else(|_| "unknown".into()))
            };
            let mut events = Vec::new();
            let mut last = after;
            for l in &logs {
                last = l.id;
                let data = serde_json::json!({"id": l.id, "level": l.level, "stream": l.stream, "text": log_text(l.ts, l.step_idx, &l.stream, &l.message)});
                events.push(Ok(Event::default().event("log").data(data.to_string())));
            }
            let finished = !matches!(status.as_str(), "queued" | "running");
            // keep streaming while a backlog of lines remains
            let done = finished && logs.len() < 1000;
            events.push(Ok(Event::default().event("status").data(serde_json::json!({"status": status, "done": done}).to_string())));
            Some((stream::iter(events), (last, done, false)))
        }
    })
    .flatten();
    Sse::new(s).keep_alive(KeepAlive::default())
}

fn action_result(st: &AppState, r: crate::error::Result<i64>) -> Response {
    match r {
        Ok(id) => Redirect::to(&format!("/runs/{id}")).into_response(),
        Err(e) => err_page(st, StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn run_now(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    let r = st.orch.launch(&name, "manual", None, 0, None);
    action_result(&st, r)
}

async fn rerun(State(st): State<AppState>, Path(id): Path<i64>) -> Response {
    let r = st.orch.rerun(id);
    action_result(&st, r)
}

async fn pause(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    match st.orch.set_paused(&name, true) {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => err_page(&st, StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

async fn resume(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    match st.orch.set_paused(&name, false) {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => err_page(&st, StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct GridQuery {
    days: Option<i64>,
    end: Option<NaiveDate>,
}

async fn backfill_page(State(st): State<AppState>, Query(q): Query<GridQuery>) -> Response {
    let days = q.days.unwrap_or(14).clamp(1, 120);
    let end = q.end.unwrap_or_else(|| Utc::now().date_naive());
    let start = end - chrono::Duration::days(days - 1);
    let grid = match lock(&st.orch.history).partition_grid(&start.to_string(), &end.to_string()) {
        Ok(g) => g,
        Err(e) => return err_page(&st, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let cells: HashMap<(String, String), String> =
        grid.into_iter().map(|(j, p, s)| ((j, p), s)).collect();
    let mut b = format!(
        "<p>Latest run per job and daily partition, {start} to {end}. <a href=\"/backfill?days={days}&end={}\">← earlier</a> · <a href=\"/backfill?days={days}&end={}\">later →</a></p><table class=grid><tr><th>Job</th>",
        start - chrono::Duration::days(1),
        end + chrono::Duration::days(days)
    );
    let dates: Vec<NaiveDate> = start.iter_days().take(days as usize).collect();
    for d in &dates {
        let _ = write!(b, "<th title=\"{d}\">{}</th>", d.format("%d"));
    }
    b.push_str("</tr>");
    for j in &st.orch.config.jobs {
        let _ = write!(b, "<tr><th>{}</th>", esc(&j.name));
        for d in &dates {
            let key = (j.name.clone(), d.to_string());
            match cells.get(&key) {
                Some(s) => {
                    let _ = write!(b, "<td class=\"c-{s}\" title=\"{} {d}: {s}\"><a href=\"/runs?job={}\"></a></td>", esc(&j.name), esc(&j.name));
                }
                None => b.push_str("<td></td>"),
            }
        }
        b.push_str("</tr>");
    }
    b.push_str("</table><h3>Start a backfill</h3><form method=post action=\"/backfill\">Job <select name=job>");
    for j in &st.orch.config.jobs {
        let _ = write!(b, "<option>{}</option>", esc(&j.name));
    }
    let _ = write!(b, "</select> from <input type=date name=from value=\"{start}\"> to <input type=date name=to value=\"{end}\"> <button>Backfill</button></form>");
    page(&st, "Backfill", &b).into_response()
}

#[derive(Deserialize)]
struct BackfillForm {
    job: String,
    from: NaiveDate,
    to: NaiveDate,
}

async fn backfill_start(State(st): State<AppState>, Form(f): Form<BackfillForm>) -> Response {
    match st.orch.backfill(&f.job, f.from, f.to) {
        Ok(ids) => {
            Redirect::to(&format!("/runs?job={}&limit={}", f.job, ids.len().max(1))).into_response()
        }
        Err(e) => err_page(&st, StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

#[derive(Clone, serde::Serialize)]
struct Fresh {
    schema: String,
    table: String,
    rows: i64,
    column: Option<String>,
    latest: Option<String>,
}

/// Reads table freshness from the warehouse: for each table, the newest
/// value of its load-time column (`loaded_at` in bronze, `_loaded_at`,
/// `updated_timestamp`, `fetched_at`). Holds the warehouse lock while it
/// reads, so it never blocks a step; when a step is writing, the last
/// reading is shown.
fn read_freshness(path: &std::path::Path) -> Result<Vec<Fresh>, String> {
    if !path.exists() {
        return Err(format!("no warehouse at {} yet", path.display()));
    }
    // a reader: one attempt, and none while a writer waits for the file
    let conn = warehouse::open(
        path,
        warehouse::Access::ReadOnly,
        &[],
        warehouse::Wait::NONE,
    )
    .map_err(|e| e.to_string())?;
    let mut st = conn
        .prepare(
            "SELECT t.schema_name, t.table_name, coalesce(t.estimated_size, 0),
                (SELECT c.column_name FROM duckdb_columns() c WHERE c.schema_name = t.schema_name AND c.table_name = t.table_name
                   AND c.column_name IN ('loaded_at', '_loaded_at', 'updated_timestamp', 'fetched_at')
                 ORDER BY CASE c.column_name WHEN 'loaded_at' THEN 0 WHEN '_loaded_at' THEN 1 WHEN 'updated_timestamp' THEN 2 ELSE 3 END LIMIT 1)
             FROM duckdb_tables() t WHERE NOT t.internal ORDER BY 1, 2",
        )
        .map_err(|e| e.to_string())?;
    let tables: Vec<(String, String, i64, Option<String>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(|e| e.to_string())?
        .filter_map(|r| r.ok())
        .collect();
    let mut out = Vec::new();
    for (schema, table, rows, column) in tables.into_iter().take(500) {
        let latest = column.as_ref().and_then(|c| {
            let q = format!(
                "SELECT CAST(max(\"{}\") AS VARCHAR) FROM \"{}\".\"{}\"",
                c.replace('"', "\"\""),
                schema.replace('"', "\"\""),
                table.replace('"', "\"\"")
            );
            conn.query_row(&q, [], |r| r.get::<_, Option<String>>(0))
                .ok()
                .flatten()
        });
        out.push(Fresh {
            schema,
            table,
            rows,
            column,
            latest,
        });
    }
    Ok(out)
}

/// Where the "Docs catalog" link goes: the catalog when `[orchestrator]
/// docs_url` names it, else a page that says how to set that up.
async fn docs_page(State(st): State<AppState>) -> Response {
    if let Some(u) = &st.orch.config.settings.docs_url {
        return Redirect::to(u).into_response();
    }
    page(
        &st,
        "Docs catalog",
        "<p>The orchestrator links to the documentation catalog once it knows where it is served.</p>\
<ol><li>Build the catalog: <code>tarmac docs generate</code> (or a job step <code>docs generate</code>).</li>\
<li>Serve it: <code>tarmac docs serve</code> (it prints its address, e.g. <code>http://127.0.0.1:8080</code>).</li>\
<li>Tell the orchestrator, in <code>tarmac.toml</code>, and restart it:\
<pre>[orchestrator]\ndocs_url = \"http://127.0.0.1:8080\"</pre></li></ol>",
    )
    .into_response()
}

async fn freshness_page(State(st): State<AppState>) -> Response {
    let path = st.orch.env.warehouse.clone();
    let lock_path = st.orch.config.settings.state_dir.join("warehouse.lock");
    // opening DuckDB costs a few hundred ms: a reading younger than 15 s is shown as is
    let recent = st
        .freshness
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .is_some_and(|(t, _)| now_ms() - t < 15_000);
    let fresh = tokio::task::spawn_blocking(move || {
        if recent {
            return None;
        }
        match crate::locks::FileLock::try_acquire(&lock_path) {
            Ok(Some(_l)) => Some(read_freshness(&path)),
            Ok(None) => None,
            Err(e) => Some(Err(e.to_string())),
        }
    })
    .await
    .unwrap_or(None);
    let (taken, result, note) = {
        let mut cache = st.freshness.lock().unwrap_or_else(|p| p.into_inner());
        match fresh {
            Some(r) => {
                *cache = Some((now_ms(), r.clone()));
                (now_ms(), r, String::new())
            }
            None => match cache.clone() {
                Some((t, r)) if recent => (t, r, String::new()),
                Some((t, r)) => (
                    t,
                    r,
                    "A step is writing the warehouse: showing the last reading.".into(),
                ),
                None => (
                    now_ms(),
                    Err("a step is writing the warehouse; reload in a moment".into()),
                    String::new(),
                ),
            },
        }
    };
    let mut b = format!(
        "<p class=muted>Read {} UTC. {}</p>",
        fmt_ts(Some(taken)),
        esc(&note)
    );
    match result {
        Err(e) => {
            let _ = write!(b, "<p class=err>{}</p>", esc(&e));
        }
        Ok(rows) => {
            b.push_str("<table><tr><th>Schema</th><th>Table</th><th>Rows (est.)</th><th>Load-time column</th><th>Newest</th></tr>");
            for f in rows {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&f.schema),
                    esc(&f.table),
                    f.rows,
                    esc(f.column.as_deref().unwrap_or("—")),
                    esc(f.latest.as_deref().unwrap_or("—"))
                );
            }
            b.push_str("</table>");
        }
    }
    page(&st, "Table freshness", &b).into_response()
}

async fn api_runs(State(st): State<AppState>, Query(q): Query<RunsQuery>) -> Response {
    match lock(&st.orch.history).runs(&q.filter()) {
        Ok(r) => Json(r).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn api_run(State(st): State<AppState>, Path(id): Path<i64>, _h: HeaderMap) -> Response {
    let h = lock(&st.orch.history);
    match h.run(id) {
        Ok(run) => Json(serde_json::json!({
            "run": run,
            "steps": h.steps(id).unwrap_or_default(),
            "alerts": h.alerts_for_run(id).unwrap_or_default(),
        }))
        .into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}
