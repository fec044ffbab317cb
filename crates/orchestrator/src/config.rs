//! Jobs and orchestrator settings from `tarmac.toml`.
//!
//! Jobs are `[[jobs]]` entries with a `name`, or `[jobs.NAME]` tables. Every
//! value that can be wrong is read with its span so an error names the line:
//! `tarmac.toml:14: job `nightly`: schedule `0 25 * * *`: hour 25 is out of range 0-23`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::cron::CronExpr;
use crate::error::{Error, Result};

/// What starts a job by itself (a job without one runs only when asked).
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Cron {
        expr: CronExpr,
        text: String,
        tz: Tz,
    },
    Every(Duration),
    /// New files in the landing zone, checked every `poll`.
    NewData {
        poll: Duration,
    },
    Manual,
}

impl Trigger {
    pub fn describe(&self) -> String {
        match self {
            Trigger::Cron { text, tz, .. } => format!("cron `{text}` ({tz})"),
            Trigger::Every(d) => format!("every {}", crate::duration::human(*d)),
            Trigger::NewData { poll } => {
                format!(
                    "new landed data (checked every {})",
                    crate::duration::human(*poll)
                )
            }
            Trigger::Manual => "manual".into(),
        }
    }
}

/// What to do about schedule times that passed while nothing was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CatchUp {
    Skip,
    Once,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertOn {
    Failure,
    Recovery,
    Success,
}

impl AlertOn {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertOn::Failure => "failure",
            AlertOn::Recovery => "recovery",
            AlertOn::Success => "success",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retry {
    /// Attempts after the first, per step.
    pub retries: u32,
    pub delay: Duration,
    pub max_delay: Duration,
    /// `timeout`, `exit:N`, or text matched (case-insensitively) against the
    /// step's error line.
    pub never: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    Ingest,
    Engine,
    Docs,
    /// `lake publish`: reads the warehouse, writes the lake.
    Lake,
}

/// One step: a `tarmac` subcommand line run as a child process.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub text: String,
    pub argv: Vec<String>,
    pub kind: StepKind,
    /// Calls the FlightLabs API (shares the plan's rate limit with every job).
    pub uses_api: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub name: String,
    pub line: usize,
    pub steps: Vec<Step>,
    pub trigger: Trigger,
    pub retry: Retry,
    /// Per step attempt; the child is killed when it runs longer.
    pub timeout: Option<Duration>,
    pub catch_up: CatchUp,
    /// What a schedule tick does while the job's previous run still goes.
    pub overlap: Overlap,
    pub alert_on: Vec<AlertOn>,
    pub paused: bool,
}

/// A tick that comes while the same job still runs: `queue` (the default)
/// starts a run when the previous one ends, and ticks that come while one
/// is already queued collapse into it; `skip` records the tick as a
/// `skipped` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    #[default]
    Queue,
    Skip,
}

impl Job {
    /// The job as it ran, stored with every run.
    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "steps": self.steps.iter().map(|s| &s.text).collect::<Vec<_>>(),
            "trigger": self.trigger.describe(),
            "retry": self.retry,
            "timeout_seconds": self.timeout.map(|t| t.as_secs_f64()),
            "catch_up": self.catch_up,
            "overlap": self.overlap,
            "alert_on": self.alert_on,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    Starttls,
    Tls,
    /// No encryption: only for a local relay or a test sink.
    Plain,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub from: String,
    pub to: Vec<String>,
    /// Credentials come from these environment variables, never the file.
    pub username_env: String,
    pub password_env: String,
    /// Trust this CA (PEM) for the server's certificate, in addition to the
    /// public roots: a company relay with its own CA, or a test sink.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (tests only: a sink with a self-signed one).
    /// The connection is still encrypted, but anyone on the path could read
    /// it; the orchestrator warns at start when it is set.
    pub insecure: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// A Slack URL carries its token: keep it in the environment (`url_env`);
    /// `url` is for local sinks.
    pub url: Option<String>,
    pub url_env: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub state_dir: PathBuf,
    /// Base of links in alerts (default: the address the UI listens on).
    pub ui_url: Option<String>,
    /// Where the docs catalog is served (`tarmac docs serve`).
    pub docs_url: Option<String>,
    pub email: Option<EmailSettings>,
    pub webhook: Option<WebhookSettings>,
    /// First delay before an undelivered alert is tried again (doubles).
    pub alert_retry_delay: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrchestratorConfig {
    pub file: PathBuf,
    pub jobs: Vec<Job>,
    pub settings: Settings,
}

impl OrchestratorConfig {
    pub fn job(&self, name: &str) -> Result<&Job> {
        self.jobs.iter().find(|j| j.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.jobs.iter().map(|j| j.name.as_str()).collect();
            Error::UnknownJob {
                name: name.into(),
                hint: if names.is_empty() {
                    " (tarmac.toml defines no [jobs])".into()
                } else {
                    format!(" (jobs: {})", names.join(", "))
                },
            }
        })
    }
}

// ---- raw TOML ----

#[derive(Deserialize, Default)]
struct Root {
    #[serde(default)]
    jobs: Option<Spanned<RawJobs>>,
    #[serde(default)]
    orchestrator: Option<RawSettings>,
}

#[derive(Default)]
struct RawJobs(Vec<(Option<String>, Spanned<RawJob>)>);

impl<'de> Deserialize<'de> for RawJobs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawJobs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[[jobs]] entries or [jobs.NAME] tables")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<RawJobs, A::Error> {
                let mut out = Vec::new();
                while let Some(j) = a.next_element::<Spanned<RawJob>>()? {
                    out.push((None, j));
                }
                Ok(RawJobs(out))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<RawJobs, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Spanned<RawJob>>()? {
                    out.push((Some(k), v));
                }
                Ok(RawJobs(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Option<Spanned<String>>,
    #[serde(default)]
    steps: Vec<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    every: Option<Spanned<String>>,
    on_new_data: Option<Spanned<bool>>,
    poll: Option<Spanned<String>>,
    retries: Option<u32>,
    retry_delay: Option<Spanned<String>>,
    retry_max_delay: Option<Spanned<String>>,
    #[serde(default)]
    never_retry: Option<Vec<String>>,
    timeout: Option<Spanned<String>>,
    catch_up: Option<Spanned<String>>,
    overlap: Option<Spanned<String>>,
    alert_on: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    paused: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    state_dir: Option<PathBuf>,
    ui_url: Option<String>,
    docs_url: Option<String>,
    email: Option<Spanned<RawEmail>>,
    webhook: Option<RawWebhook>,
    alert_retry_delay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    smtp_host: String,
    smtp_port: Option<u16>,
    security: Option<SmtpSecurityRaw>,
    from: String,
    to: Vec<String>,
    username_env: Option<String>,
    password_env: Option<String>,
    ca_file: Option<PathBuf>,
    #[serde(default)]
    insecure: bool,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum SmtpSecurityRaw {
    Starttls,
    Tls,
    Plain,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Option<String>,
    url_env: Option<String>,
}

/// The line (1-based) of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Reads the jobs and `[orchestrator]` settings of a `tarmac.toml`.
/// `base`: the folder relative paths are resolved against.
pub fn parse(text: &str, file: &Path, base: &Path) -> Result<OrchestratorConfig> {
    let err = |line: Option<usize>, message: String| Error::Config {
        file: file.to_path_buf(),
        line,
        message,
    };
    let root: Root = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        err(line, e.message().to_string())
    })?;
    let mut jobs: Vec<Job> = Vec::new();
    if let Some(raw) = root.jobs {
        let mut raw = raw.into_inner().0;
        // file order (a TOML table's keys may come back sorted)
        raw.sort_by_key(|(_, j)| j.span().start);
        for (key, spanned) in raw {
            let line = line_of(text, spanned.span().start);
            let job = spanned.into_inner();
            let name = match (key, &job.name) {
                (Some(k), None) => k,
                (Some(k), Some(n)) if *n.get_ref() == k => k,
                (Some(k), Some(n)) => {
                    return Err(err(
                        Some(line_of(text, n.span().start)),
                        format!(
                            "job `{k}` has name = `{}`: leave `name` out of [jobs.NAME] tables",
                            n.get_ref()
                        ),
                    ))
                }
                (None, Some(n)) => n.get_ref().clone(),
                (None, None) => {
                    return Err(err(Some(line), "[[jobs]] entry without `name`".into()))
                }
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(err(
                    Some(line),
                    format!("job name `{name}`: use letters, digits, `_` and `-`"),
                ));
            }
            if jobs.iter().any(|j| j.name == name) {
                return Err(err(Some(line), format!("job `{name}` is defined twice")));
            }
            jobs.push(job_from_raw(text, &name, line, job).map_err(|(l, m)| err(Some(l), m))?);
        }
    }
    let s = root.orchestrator.unwrap_or_default();
    let state_dir = s.state_dir.unwrap_or_else(|| PathBuf::from(".tarmac"));
    let email = match s.email {
        None => None,
        Some(e) => {
            let line = line_of(text, e.span().start);
            let e = e.into_inner();
            if e.to.is_empty() {
                return Err(err(
                    Some(line),
                    "[orchestrator.email] `to` lists no address".into(),
                ));
            }
            let security = match e.security.unwrap_or(SmtpSecurityRaw::Starttls) {
                SmtpSecurityRaw::Starttls => SmtpSecurity::Starttls,
                SmtpSecurityRaw::Tls => SmtpSecurity::Tls,
                SmtpSecurityRaw::Plain => SmtpSecurity::Plain,
            };
            Some(EmailSettings {
                port: e.smtp_port.unwrap_or(match security {
                    SmtpSecurity::Tls => 465,
                    SmtpSecurity::Starttls => 587,
                    SmtpSecurity::Plain => 25,
                }),
                host: e.smtp_host,
                security,
                from: e.from,
                to: e.to,
                username_env: e
                    .username_env
                    .unwrap_or_else(|| "TARMAC_SMTP_USERNAME".into()),
                password_env: e
                    .password_env
                    .unwrap_or_else(|| "TARMAC_SMTP_PASSWORD".into()),
                ca_file: e
                    .ca_file
                    .map(|p| if p.is_absolute() { p } else { base.join(p) }),
                insecure: e.insecure,
            })
        }
    };
    let alert_retry_delay = match &s.alert_retry_delay {
        None => Duration::from_secs(10),
        Some(d) => crate::duration::parse(d.get_ref())
            .map_err(|e| {
                err(
                    Some(line_of(text, d.span().start)),
                    format!("[orchestrator] alert_retry_delay: {e}"),
                )
            })?
            .max(Duration::from_millis(100)),
    };
    let webhook = s.webhook.map(|w| WebhookSettings {
        url: w.url,
        url_env: w.url_env.unwrap_or_else(|| "TARMAC_WEBHOOK_URL".into()),
    });
    Ok(OrchestratorConfig {
        file: file.to_path_buf(),
        jobs,
        settings: Settings {
            state_dir: if state_dir.is_absolute() {
                state_dir
            } else {
                base.join(state_dir)
            },
            ui_url: s.ui_url.map(|u| u.trim_end_matches('/').to_string()),
            docs_url: s.docs_url,
            email,
            webhook,
            alert_retry_delay,
        },
    })
}

type LineErr = (usize, String);

fn job_from_raw(text: &str, name: &str, line: usize, j: RawJob) -> Result<Job, LineErr> {
    let at = |sp: std::ops::Range<usize>| line_of(text, sp.start);
    let dur = |v: &Option<Spanned<String>>, key: &str| -> Result<Option<Duration>, LineErr> {
        match v {
            None => Ok(None),
            Some(s) => crate::duration::parse(s.get_ref())
                .map(Some)
                .map_err(|e| (at(s.span()), format!("job `{name}`: {key}: {e}"))),
        }
    };
    if j.steps.is_empty() {
        return Err((line, format!("job `{name}` has no steps")));
    }
    let mut steps = Vec::new();
    for s in &j.steps {
        steps.push(parse_step(s.get_ref()).map_err(|e| {
            (
                at(s.span()),
                format!("job `{name}`: step `{}`: {e}", s.get_ref()),
            )
        })?);
    }
    let mut triggers = 0;
    let mut trigger = Trigger::Manual;
    if let Some(s) = &j.schedule {
        triggers += 1;
        let expr: CronExpr = s.get_ref().parse().map_err(|e| {
            (
                at(s.span()),
                format!("job `{name}`: schedule `{}`: {e}", s.get_ref()),
            )
        })?;
        let tz: Tz = match &j.timezone {
            None => Tz::UTC,
            Some(t) => t.get_ref().parse().map_err(|_| {
                (at(t.span()), format!("job `{name}`: unknown time zone `{}` (use an IANA name such as America/Bogota)", t.get_ref()))
            })?,
        };
        if expr.next_after(chrono::Utc::now(), tz).is_none() {
            return Err((
                at(s.span()),
                format!("job `{name}`: schedule `{}` never fires", s.get_ref()),
            ));
        }
        trigger = Trigger::Cron {
            expr,
            text: s.get_ref().clone(),
            tz,
        };
    } else if let Some(t) = &j.timezone {
        return Err((
            at(t.span()),
            format!("job `{name}`: `timezone` needs a `schedule`"),
        ));
    }
    if let Some(e) = &j.every {
        triggers += 1;
        let d = dur(&j.every, "every")?.unwrap_or_default();
        if d < Duration::from_secs(1) {
            return Err((at(e.span()), format!("job `{name}`: every: at least 1s")));
        }
        trigger = Trigger::Every(d);
    }
    if let Some(n) = &j.on_new_data {
        if *n.get_ref() {
            triggers += 1;
            let poll = dur(&j.poll, "poll")?
                .unwrap_or(Duration::from_secs(30))
                .max(Duration::from_millis(200));
            trigger = Trigger::NewData { poll };
        }
    } else if let Some(p) = &j.poll {
        return Err((
            at(p.span()),
            format!("job `{name}`: `poll` needs `on_new_data = true`"),
        ));
    }
    if triggers > 1 {
        return Err((
            line,
            format!("job `{name}`: choose one trigger: `schedule`, `every` or `on_new_data`"),
        ));
    }
    let catch_up = match &j.catch_up {
        None => CatchUp::Once,
        Some(c) => match c.get_ref().as_str() {
            "skip" => CatchUp::Skip,
            "once" => CatchUp::Once,
            "all" => CatchUp::All,
            other => {
                return Err((
                    at(c.span()),
                    format!("job `{name}`: catch_up `{other}`: expected skip, once or all"),
                ))
            }
        },
    };
    let overlap = match &j.overlap {
        None => Overlap::Queue,
        Some(o) => match o.get_ref().as_str() {
            "queue" => Overlap::Queue,
            "skip" => Overlap::Skip,
            other => {
                return Err((
                    at(o.span()),
                    format!("job `{name}`: overlap `{other}`: expected queue or skip"),
                ))
            }
        },
    };
    let mut alert_on = Vec::new();
    match &j.alert_on {
        None => alert_on = vec![AlertOn::Failure, AlertOn::Recovery],
        Some(list) => {
            for a in list {
                alert_on.push(match a.get_ref().as_str() {
                    "failure" => AlertOn::Failure,
                    "recovery" => AlertOn::Recovery,
                    "success" => AlertOn::Success,
                    other => return Err((at(a.span()), format!("job `{name}`: alert_on `{other}`: expected failure, recovery or success"))),
                });
            }
        }
    }
    let delay = dur(&j.retry_delay, "retry_delay")?.unwrap_or(Duration::from_secs(30));
    let max_delay = dur(&j.retry_max_delay, "retry_max_delay")?
        .unwrap_or(Duration::from_secs(600))
        .max(delay);
    let timeout = dur(&j.timeout, "timeout")?;
    if timeout == Some(Duration::ZERO) {
        return Err((line, format!("job `{name}`: timeout must be positive")));
    }
    Ok(Job {
        name: name.to_string(),
        line,
        steps,
        trigger,
        retry: Retry {
            retries: j.retries.unwrap_or(0),
            delay,
            max_delay,
            never: j
                .never_retry
                .unwrap_or_else(|| vec!["exit:2".into(), "exit:65".into()]),
        },
        timeout,
        catch_up,
        overlap,
        alert_on,
        paused: j.paused,
    })
}

/// Splits a step line into words (`'…'` and `"…"` quote) and checks that it
/// names a subcommand a job may run.
pub fn parse_step(text: &str) -> Result<Step, String> {
    let argv = split_words(text)?;
    let first = argv.first().map(String::as_str).unwrap_or("");
    let second = argv.get(1).map(String::as_str).unwrap_or("");
    let (kind, uses_api) = match (first, second) {
        ("ingest", "delta" | "batch" | "realtime") => (StepKind::Ingest, !argv.iter().any(|a| a == "--simulator")),
        ("ingest", "import" | "replay" | "status") => (StepKind::Ingest, false),
        ("ingest", other) => {
            return Err(format!(
                "unknown ingest step `{other}`: expected ingest delta, batch, realtime, import, replay or status"
            ))
        }
        ("build" | "run" | "seed" | "test", _) => (StepKind::Engine, false),
        ("docs", "generate") => (StepKind::Docs, false),
        ("lake", "publish") => (StepKind::Lake, false),
        ("", _) => return Err("empty step".into()),
        _ => {
            return Err(
                "unknown step: expected `ingest delta|batch|realtime|import|replay …`, `build …`, `run …`, `seed …`, `test …`, `docs generate …` or `lake publish …`".into(),
            )
        }
    };
    if argv
        .iter()
        .any(|a| a == "--config" || a.starts_with("--config="))
    {
        return Err("steps run with the orchestrator's --config; leave it out".into());
    }
    Ok(Step {
        text: text.to_string(),
        argv,
        kind,
        uses_api,
    })
}

fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => match chars.next() {
                            Some(x) => cur.push(x),
                            None => return Err("unfinished quote".into()),
                        },
                        Some(x) => cur.push(x),
                        None => return Err("unfinished quote".into()),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// Step arguments for one daily partition: `{{ partition }}` and `{ds}` are
/// replaced by the date; an `ingest batch` step without `--from` gets
/// `--from D --to D`.
pub fn partition_args(step: &Step, partition: Option<chrono::NaiveDate>) -> Vec<String> {
    let Some(p) = partition else {
        return step.argv.clone();
    };
    let ds = p.format("%Y-%m-%d").to_string();
    // substitute in the text, so `{{ partition }}` with its spaces works
    let text = step
        .text
        .replace("{{ partition }}", &ds)
        .replace("{{partition}}", &ds)
        .replace("{ds}", &ds);
    let mut args = split_words(&text).unwrap_or_else(|_| step.argv.clone());
    let batch = step.argv.get(1).map(String::as_str) == Some("batch") && step.argv[0] == "ingest";
    if batch
        && !args
            .iter()
            .any(|a| a == "--from" || a.starts_with("--from="))
    {
        args.extend(["--from".into(), ds.clone(), "--to".into(), ds]);
    }
    args
}

/// Names of jobs, for messages.
pub fn job_names(jobs: &[Job]) -> BTreeMap<&str, usize> {
    jobs.iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<OrchestratorConfig> {
        parse(text, Path::new("tarmac.toml"), Path::new("/p"))
    }
    fn err(text: &str) -> String {
        cfg(text).unwrap_err().to_string()
    }

    #[test]
    fn both_job_forms() {
        let c = cfg(r#"
[warehouse]
path = "w.duckdb"

[[jobs]]
name = "hourly"
steps = ["ingest delta --airport BOG", "build --select staging+"]
schedule = "0 * * * *"
timezone = "America/Bogota"
retries = 2
retry_delay = "10s"
timeout = "30m"
catch_up = "all"
"#)
        .unwrap();
        let j = &c.jobs[0];
        assert_eq!(j.name, "hourly");
        assert_eq!(j.line, 5);
        assert!(matches!(j.trigger, Trigger::Cron { .. }));
        assert_eq!(j.retry.retries, 2);
        assert_eq!(j.timeout, Some(Duration::from_secs(1800)));
        assert_eq!(j.catch_up, CatchUp::All);
        assert!(j.steps[0].uses_api);
        assert_eq!(j.steps[1].kind, StepKind::Engine);
        assert_eq!(c.settings.state_dir, Path::new("/p/.tarmac"));

        let c = cfg(r#"
[jobs.realtime]
steps = ["ingest realtime --airport BOG --once"]
every = "60s"
[jobs.models]
steps = ["build", "test", "docs generate"]
on_new_data = true
poll = "5s"
alert_on = ["failure", "success"]
"#)
        .unwrap();
        assert_eq!(c.jobs[0].trigger, Trigger::Every(Duration::from_secs(60)));
        assert_eq!(
            c.jobs[1].trigger,
            Trigger::NewData {
                poll: Duration::from_secs(5)
            }
        );
        assert_eq!(c.jobs[1].alert_on, [AlertOn::Failure, AlertOn::Success]);
        assert!(c.job("nope").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let e = err("[jobs.a]\nsteps = [\"build\"]\nschedule = \"0 25 * * *\"\n");
        assert_eq!(
            e,
            "tarmac.toml:3: job `a`: schedule `0 25 * * *`: hour 25 is out of range 0-23"
        );
        // the line and what is wrong, at the start of the message
        for (toml, start) in [
            (
                "[jobs.a]\nsteps = [\n  \"build\",\n  \"deploy prod\",\n]\n",
                "tarmac.toml:4: job `a`: step `deploy prod`: unknown step",
            ),
            ("[jobs.a]\nsteps = [\"ingest everything\"]\n", "tarmac.toml:2: "),
            (
                "[jobs.a]\nsteps = [\"build\"]\nschedule = \"0 1 * * *\"\ntimezone = \"Mars/Olympus\"\n",
                "tarmac.toml:4: job `a`: unknown time zone",
            ),
            (
                "[jobs.a]\nsteps = [\"build\"]\nbogus = 1\n",
                "tarmac.toml:3: unknown field `bogus`",
            ),
            (
                "[jobs.a]\nsteps = [\"build\"]\nevery = \"soon\"\n",
                "tarmac.toml:3: job `a`: every: bad duration",
            ),
            (
                "[jobs.a]\nsteps = [\"build\"]\ncatch_up = \"maybe\"\n",
                "tarmac.toml:3:",
            ),
        ] {
            let e = err(toml);
            assert!(e.starts_with(start), "{toml:?}: {e}");
        }
        // errors without a line still say what to do
        for (toml, part) in [
            (
                "[jobs.a]\nsteps = [\"build\"]\nschedule = \"* * * * *\"\nevery = \"1m\"\n",
                "choose one trigger",
            ),
            ("[[jobs]]\nsteps = [\"build\"]\n", "without `name`"),
            (
                "[jobs.a]\nsteps = [\"build --config x.toml\"]\n",
                "leave it out",
            ),
        ] {
            let e = err(toml);
            assert!(e.contains(part), "{toml:?}: {e}");
        }
    }

    #[test]
    fn step_words_and_partitions() {
        let s = parse_step("build --select 'tag:daily model_b' --vars \"{d: '{ds}'}\"").unwrap();
        assert_eq!(
            s.argv,
            [
                "build",
                "--select",
                "tag:daily model_b",
                "--vars",
                "{d: '{ds}'}"
            ]
        );
        let d = chrono::NaiveDate::from_ymd_opt(2024, 8, 12);
        assert_eq!(partition_args(&s, d)[4], "{d: '2024-08-12'}");
        let lake = parse_step("lake publish --layer silver").unwrap();
        assert_eq!(lake.kind, StepKind::Lake);
        assert!(!lake.uses_api);
        assert!(parse_step("lake drop").is_err());
        let b = parse_step("ingest batch --airport BOG").unwrap();
        assert_eq!(
            partition_args(&b, d),
            [
                "ingest",
                "batch",
                "--airport",
                "BOG",
                "--from",
                "2024-08-12",
                "--to",
                "2024-08-12"
            ]
        );
        // both placeholder spellings, with and without spaces
        for step in [
            "ingest batch --from {{ partition }} --to {ds}",
            "ingest batch --from {{partition}} --to {ds}",
        ] {
            assert_eq!(
                partition_args(&parse_step(step).unwrap(), d),
                [
                    "ingest",
                    "batch",
                    "--from",
                    "2024-08-12",
                    "--to",
                    "2024-08-12"
                ],
                "{step}"
            );
        }
        assert!(parse_step("build 'open").is_err());
        assert!(!parse_step("ingest batch --simulator").unwrap().uses_api);
    }
}
