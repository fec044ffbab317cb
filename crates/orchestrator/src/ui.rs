//! The web UI: server-rendered HTML (no scripts from elsewhere, no build
//! step), embedded in the binary, reading the run history. It wears the
//! docs catalog's look: both serve the one stylesheet of the `web` crate
//! (`/assets/tarmac.css`), so there is no CSS of its own here.
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
use chrono::{DateTime, Datelike, NaiveDate, Utc};
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
        .route(web::CSS_PATH, get(web::stylesheet))
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
    format!("<span class=\"status st-{0}\">{0}</span>", esc(status))
}

/// A job's name, cut to a narrow column with the whole name in its title.
fn job_link(name: &str) -> String {
    format!(
        "<a class=trunc href=\"/runs?job={n}\" title=\"{n}\">{n}</a>",
        n = esc(name)
    )
}

/// The pages of the top bar: (section, path, label).
const NAV: [(&str, &str, &str); 4] = [
    ("jobs", "/", "Jobs"),
    ("runs", "/runs", "Runs"),
    ("backfill", "/backfill", "Backfill"),
    ("freshness", "/freshness", "Freshness"),
];

/// A whole page: the shared stylesheet, the catalog's dark top bar with
/// this UI's sections (`section` marked current), the title and `body`.
fn page(st: &AppState, section: &str, title: &str, body: &str) -> Html<String> {
    let mut nav = String::new();
    for (key, path, label) in NAV {
        let cur = if key == section { " class=current" } else { "" };
        let _ = write!(nav, "<a href=\"{path}\"{cur}>{label}</a>");
    }
    let cur = if section == "docs" {
        " class=current"
    } else {
        ""
    };
    match &st.orch.config.settings.docs_url {
        Some(u) => {
            let _ = write!(nav, "<a href=\"{}\">Docs catalog</a>", esc(u));
        }
        // Not greyed out into a dead end: the link explains how to turn it on.
        None => {
            let _ = write!(
                nav,
                "<a href=\"/docs\"{cur} title=\"not configured: how to link the catalog\">Docs catalog</a>"
            );
        }
    }
    Html(format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">\
<title>{t} · Tarmac</title><link rel=stylesheet href=\"{css}\"></head><body>\
<header id=top><a class=brand href=\"/\">Tarmac <span>orchestrator</span></a><nav class=top>{nav}</nav></header>\
<main class=page><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title),
        css = web::CSS_PATH
    ))
}

/// A POST button; `class` is `primary` for the page's main action.
fn button(action: &str, label: &str, class: &str) -> String {
    format!(
        "<form class=inline method=post action=\"{}\"><button class=\"{class}\">{}</button></form>",
        esc(action),
        esc(label)
    )
}

fn err_page(st: &AppState, code: StatusCode, msg: &str) -> Response {
    (
        code,
        page(
            st,
            "",
            "Error",
            &format!("<div class=error>{}</div>", esc(msg)),
        ),
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
            "<tr><td><b>{}</b></td><td>{}</td><td>{next}</td><td>{last}</td><td>{}</td><td class=nowrap>{} {}</td></tr>",
            job_link(&j.name),
            esc(&j.trigger.describe()),
            steps.join("<br>"),
            button(&format!("/jobs/{}/run", j.name), "Run now", "primary"),
            if paused { button(&format!("/jobs/{}/resume", j.name), "Resume", "") } else { button(&format!("/jobs/{}/pause", j.name), "Pause", "") },
        );
    }
    b.push_str("</table>");
    if st.orch.config.jobs.is_empty() {
        b.push_str(
            "<p class=muted>No jobs: add <code>[jobs.NAME]</code> tables to tarmac.toml.</p>",
        );
    }
    page(&st, "jobs", "Jobs", &b).into_response()
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
    let mut b = String::from(
        "<form class=filters method=get><label>Job <select name=job><option value=\"\">all</option>",
    );
    for j in &st.orch.config.jobs {
        let sel = if f.job.as_deref() == Some(&j.name) {
            " selected"
        } else {
            ""
        };
        let _ = write!(b, "<option{sel}>{}</option>", esc(&j.name));
    }
    b.push_str(
        "</select></label><label>Status <select name=status><option value=\"\">all</option>",
    );
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
    b.push_str("</select></label><button>Filter</button></form>");
    b.push_str("<table><tr><th>Run</th><th>Job</th><th>Status</th><th>Trigger</th><th>Partition</th><th>Started (UTC)</th><th>Duration</th><th>Error</th></tr>");
    for r in &rows {
        let _ = write!(
            b,
            "<tr><td><a href=\"/runs/{id}\">#{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=nowrap>{}</td><td class=nowrap>{}</td><td class=nowrap>{}</td><td class=long>{}</td></tr>",
            job_link(&r.job),
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
            let _ = write!(
                b,
                "<p class=actions><a class=button href=\"{next}\">Older runs →</a></p>"
            );
        }
    } else {
        b.push_str("<p class=muted>No runs.</p>");
    }
    page(&st, "runs", "Runs", &b).into_response()
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
    let mut b = String::from("<div class=facts>");
    let partition = run
        .partition
        .as_deref()
        .map(esc)
        .unwrap_or_else(|| "<span class=muted>none</span>".into());
    for (k, v) in [
        ("Job", job_link(&run.job)),
        (
            "Status",
            format!("<span id=status>{}</span>", badge(&run.status)),
        ),
        ("Trigger", esc(&run.trigger)),
        ("Partition", partition),
        ("Queued (UTC)", fmt_ts(Some(run.queued_at))),
        ("Started", fmt_ts(run.started_at)),
        ("Finished", fmt_ts(run.finished_at)),
        ("Duration", dur(&run)),
    ] {
        let _ = write!(
            b,
            "<div class=fact><div class=k>{k}</div><div class=v>{v}</div></div>"
        );
    }
    b.push_str("</div>");
    if let Some(p) = run.parent_run {
        let _ = write!(b, "<p>Follows run <a href=\"/runs/{p}\">#{p}</a></p>");
    }
    if let Some(e) = &run.error {
        let _ = write!(b, "<div class=error>Error: {}</div>", esc(e));
    }
    b.push_str("<div class=actions>");
    if matches!(run.status.as_str(), "failed" | "interrupted") {
        let step = run.failed_step.map(|s| s + 1).unwrap_or(1);
        b.push_str(&button(
            &format!("/runs/{id}/rerun"),
            &format!("Re-run from step {step}"),
            "primary",
        ));
    }
    b.push_str(&button(
        &format!("/jobs/{}/run", run.job),
        "Run job now",
        "",
    ));
    b.push_str("</div>");
    b.push_str("<h2>Timeline</h2>");
    b.push_str(&timeline(&steps, run.queued_at, run.finished_at));
    b.push_str("<h2>Steps</h2><table><tr><th>#</th><th>Step</th><th>Attempt</th><th>Status</th><th>Started (UTC)</th><th>Duration</th><th>Exit</th><th>Error</th></tr>");
    for s in &steps {
        let end = s.finished_at.unwrap_or_else(now_ms);
        let _ = write!(
            b,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=nowrap>{}</td><td class=nowrap>{}</td><td>{}</td><td class=long>{}</td></tr>",
            s.idx + 1,
            esc(&s.name),
            s.attempt,
            badge(&s.status),
            fmt_ts(Some(s.started_at)),
            crate::duration::human(Duration::from_millis((end - s.started_at).max(0) as u64)),
            s.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            esc(s.error.as_deref().unwrap_or(""))
        );
    }
    b.push_str("</table>");
    if !alerts.is_empty() {
        b.push_str("<h2>Alerts</h2><table><tr><th>Kind</th><th>Channel</th><th>Status</th><th>Attempts</th><th>Last error</th></tr>");
        for a in &alerts {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=long>{}</td></tr>",
                esc(&a.kind),
                esc(&a.channel),
                esc(&a.status),
                a.attempts,
                esc(a.last_error.as_deref().unwrap_or(""))
            );
        }
        b.push_str("</table>");
    }
    let live = matches!(run.status.as_str(), "queued" | "running");
    let _ = write!(
        b,
        "<h2>Log {}</h2><pre class=logs id=logs>",
        if live {
            "<span class=live id=live>following</span>"
        } else {
            ""
        }
    );
    let mut last = 0;
    for l in &logs {
        last = l.id;
        b.push_str(&log_line(l.ts, l.step_idx, &l.stream, &l.level, &l.message));
    }
    b.push_str("</pre>");
    if live {
        // Follows the run: new lines arrive as server-sent events and are
        // appended (scrolling along when the reader is at the bottom); the
        // status badge follows too. When the run ends the stream closes and
        // the page reloads once, to show the finished timeline.
        let _ = write!(
            b,
            "<script>\
const pre=document.getElementById('logs');const es=new EventSource('/runs/{id}/events?after={last}');window.__following=true;\
es.addEventListener('log',e=>{{const d=JSON.parse(e.data);const s=document.createElement('span');s.className='l-'+d.level+(d.stream==='tarmac'?' l-tarmac':'');\
s.textContent=d.text+'\\n';const end=pre.scrollTop+pre.clientHeight>=pre.scrollHeight-5;pre.appendChild(s);if(end)pre.scrollTop=pre.scrollHeight;}});\
es.addEventListener('status',e=>{{const d=JSON.parse(e.data);const b=document.querySelector('#status .status');\
if(b&&b.textContent!==d.status){{b.textContent=d.status;b.className='status st-'+d.status;}}\
if(d.done){{es.close();window.__following=false;document.getElementById('live').textContent='finished';setTimeout(()=>location.reload(),300);}}}});\
</script>"
        );
    }
    page(&st, "runs", &format!("Run #{id}"), &b).into_response()
}

/// The step timeline: one row per step attempt, its bar placed on a time
/// axis from the first step's start to the run's end (now while it runs),
/// coloured by status; the axis has five labelled ticks.
fn timeline(steps: &[crate::history::StepRow], queued: i64, finished: Option<i64>) -> String {
    if steps.is_empty() {
        return "<p class=muted>No step has started yet.</p>".into();
    }
    let t0 = steps.iter().map(|s| s.started_at).min().unwrap_or(queued);
    let t1 = finished
        .unwrap_or_else(now_ms)
        .max(
            steps
                .iter()
                .filter_map(|s| s.finished_at)
                .max()
                .unwrap_or(t0),
        )
        .max(t0 + 1);
    let span = (t1 - t0) as f64;
    let human = |ms: i64| crate::duration::human(Duration::from_millis(ms.max(0) as u64));
    let mut b = String::from("<div class=timeline>");
    for s in steps {
        let end = s.finished_at.unwrap_or_else(now_ms);
        let left = (s.started_at - t0) as f64 * 100.0 / span;
        let width = ((end - s.started_at) as f64 * 100.0 / span).clamp(0.0, 100.0 - left);
        let attempt = if s.attempt > 1 {
            format!(" <span class=muted>attempt {}</span>", s.attempt)
        } else {
            String::new()
        };
        let started = DateTime::<Utc>::from_timestamp_millis(s.started_at)
            .map(|t| t.format("%H:%M:%S").to_string())
            .unwrap_or_default();
        let _ = write!(
            b,
            "<div class=tl-row><div class=tl-label title=\"{name}\"><span class=n>{n}</span>{name}{attempt}</div>\
<div class=tl-track><div class=\"bar st-{st}\" style=\"left:{left:.2}%;width:{width:.2}%\" title=\"step {n}: {st}, started {started} UTC (+{off}), took {took}\"></div></div>\
<div class=tl-dur>{took}</div></div>",
            n = s.idx + 1,
            name = esc(&s.name),
            st = esc(&s.status),
            off = human(s.started_at - t0),
            took = human(end - s.started_at),
        );
    }
    let start = DateTime::<Utc>::from_timestamp_millis(t0)
        .map(|t| t.format("%H:%M:%S UTC").to_string())
        .unwrap_or_default();
    b.push_str("<div class=tl-row><div></div><div class=axis>");
    for k in 0..=4 {
        let label = if k == 0 {
            start.clone()
        } else {
            format!("+{}", human((t1 - t0) * k / 4))
        };
        let _ = write!(b, "<span style=\"left:{}%\">{label}</span>", k * 25);
    }
    b.push_str("</div><div></div></div></div>");
    b
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
    /// `YYYY-MM`; by default the newest month whose days have runs.
    month: Option<String>,
}

/// The first day of `YYYY-MM`, or why it is not one.
fn parse_month(m: &str) -> Result<NaiveDate, String> {
    let ok = m.len() == 7
        && m.as_bytes()[4] == b'-'
        && m.bytes()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit());
    ok.then(|| NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| format!("month `{m}`: expected YYYY-MM, e.g. 2024-08"))
}

fn next_month(first: NaiveDate) -> NaiveDate {
    first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first)
}

/// The backfill grid: one month of days per job, each cell the latest run
/// of that job for that daily partition (linking to it). It opens on the
/// newest month that has runs (a backfill of last year shows, not an empty
/// fortnight), pages by month (`?month=YYYY-MM`, previous/next links) and
/// lists the months that have runs. Job names keep to a narrow column.
async fn backfill_page(State(st): State<AppState>, Query(q): Query<GridQuery>) -> Response {
    let months = match lock(&st.orch.history).partition_months() {
        Ok(m) => m,
        Err(e) => return err_page(&st, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let first = match q.month.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => match parse_month(m) {
            Ok(d) => d,
            Err(e) => return err_page(&st, StatusCode::BAD_REQUEST, &e),
        },
        None => months
            .first()
            .and_then(|(m, _)| parse_month(m).ok())
            .unwrap_or_else(|| {
                let t = Utc::now().date_naive();
                t - chrono::Duration::days(i64::from(t.day0()))
            }),
    };
    let after = next_month(first);
    let last = after - chrono::Duration::days(1);
    let cells = match lock(&st.orch.history).partition_runs(&first.to_string(), &last.to_string()) {
        Ok(g) => g,
        Err(e) => return err_page(&st, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let cells: HashMap<(String, String), (i64, String)> = cells
        .into_iter()
        .map(|(j, p, id, s)| ((j, p), (id, s)))
        .collect();
    let prev = first - chrono::Duration::days(1);
    let this = first.format("%Y-%m").to_string();
    let mut b = format!(
        "<div class=month><a class=button rel=prev href=\"/backfill?month={}\">← {}</a><strong>{}</strong><a class=button rel=next href=\"/backfill?month={}\">{} →</a></div>",
        prev.format("%Y-%m"),
        prev.format("%B %Y"),
        first.format("%B %Y"),
        after.format("%Y-%m"),
        after.format("%B %Y"),
    );
    if months.is_empty() {
        b.push_str("<p class=muted>No run has a daily partition yet: start a backfill below, or <code>tarmac backfill JOB --from … --to …</code>.</p>");
    } else {
        b.push_str("<div class=months><span class=muted>Months with runs:</span>");
        for (m, n) in &months {
            let cur = if *m == this { " class=current" } else { "" };
            let _ = write!(
                b,
                "<a href=\"/backfill?month={m}\"{cur} title=\"{n} job-day(s)\">{m}</a>",
                m = esc(m)
            );
        }
        b.push_str("</div>");
    }
    let dates: Vec<NaiveDate> = first.iter_days().take_while(|d| *d < after).collect();
    b.push_str("<table class=grid><tr><th class=job>Job</th>");
    for d in &dates {
        let we = if d.weekday().number_from_monday() >= 6 {
            " we"
        } else {
            ""
        };
        let _ = write!(
            b,
            "<th class=\"day{we}\" title=\"{d} {}\">{}</th>",
            d.format("%a"),
            d.format("%d")
        );
    }
    b.push_str("</tr>");
    for j in &st.orch.config.jobs {
        let _ = write!(
            b,
            "<tr><th class=job title=\"{n}\"><div class=trunc>{n}</div></th>",
            n = esc(&j.name)
        );
        for d in &dates {
            match cells.get(&(j.name.clone(), d.to_string())) {
                Some((id, s)) => {
                    let _ = write!(
                        b,
                        "<td class=\"c-{s}\" title=\"{n} {d}: {s} (run #{id})\"><a href=\"/runs/{id}\"></a></td>",
                        s = esc(s),
                        n = esc(&j.name)
                    );
                }
                None => b.push_str("<td class=none></td>"),
            }
        }
        b.push_str("</tr>");
    }
    b.push_str("</table><div class=legend>");
    for s in ["success", "failed", "running", "interrupted"] {
        let _ = write!(b, "<span><i class=c-{s}></i>{s}</span>");
    }
    b.push_str("<span><i class=none></i>no run</span></div>");
    b.push_str("<h2>Start a backfill</h2><form class=filters method=post action=\"/backfill\"><label>Job <select name=job>");
    for j in &st.orch.config.jobs {
        let _ = write!(b, "<option>{}</option>", esc(&j.name));
    }
    let _ = write!(b, "</select></label><label>from <input type=date name=from value=\"{first}\"></label><label>to <input type=date name=to value=\"{last}\"></label> <button class=primary>Backfill</button></form>");
    page(&st, "backfill", "Backfill", &b).into_response()
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
        "docs",
        "Docs catalog",
        "<p>The orchestrator links to the documentation catalog once it knows where it is served.</p>\
<ol><li>Build the catalog: <code>tarmac docs generate</code> (or a job step <code>docs generate</code>).</li>\
<li>Serve it: <code>tarmac docs serve</code> (it prints its address, e.g. <code>http://127.0.0.1:8080</code>).</li>\
<li>Tell the orchestrator, in <code>tarmac.toml</code>, and restart it:\
<pre class=code>[orchestrator]\ndocs_url = \"http://127.0.0.1:8080\"</pre></li></ol>",
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
            let _ = write!(b, "<div class=error>{}</div>", esc(&e));
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
    page(&st, "freshness", "Table freshness", &b).into_response()
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
