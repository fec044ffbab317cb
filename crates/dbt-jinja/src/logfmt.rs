//! Console output as dbt prints it: text lines (`HH:MM:SS  message`) or,
//! with `--log-format json`, one JSON object a line with dbt's structure
//! (`{"data": {...}, "info": {"name", "code", "level", "msg", "ts",
//! "invocation_id", "pid", "thread", "category", "extra"}}`) and dbt's
//! event names and codes (<https://docs.getdbt.com/reference/events-logging>),
//! so log shippers written for dbt read Tarmac's.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

static JSON: AtomicBool = AtomicBool::new(false);
static INVOCATION: Mutex<String> = Mutex::new(String::new());

/// Text (dbt's default) or JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" | "default" | "debug" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(format!(
                "--log-format {other:?}: expected text, default, debug or json"
            )),
        }
    }
}

/// Choose the format for this process.
pub fn set_format(f: Format) {
    JSON.store(f == Format::Json, Ordering::Relaxed);
}

pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// The invocation id printed in JSON lines.
pub fn set_invocation(id: &str) {
    if let Ok(mut g) = INVOCATION.lock() {
        *g = id.to_string();
    }
}

/// Print one event: `msg` as text, or the whole event as JSON.
pub fn event(name: &str, code: &str, level: &str, msg: &str, data: Value) {
    event_with(name, code, level, msg, || data)
}

/// [`event`] with the JSON `data` built only when JSON lines are printed:
/// per-node lines are printed 20,000 times by a 10,000-model compile, and
/// building their `node_info` for text output cost more than printing them.
pub fn event_with(name: &str, code: &str, level: &str, msg: &str, data: impl FnOnce() -> Value) {
    let mut out = std::io::stdout().lock();
    if is_json() {
        let data = data();
        let ts = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        let inv = INVOCATION.lock().map(|g| g.clone()).unwrap_or_default();
        let thread = std::thread::current()
            .name()
            .map(|n| {
                if n == "main" {
                    "MainThread".to_string()
                } else {
                    n.to_string()
                }
            })
            .unwrap_or_else(|| "Thread-1".into());
        let line = json!({
            "data": data,
            "info": {
                "category": "", "code": code, "extra": {}, "invocation_id": inv,
                "level": level, "msg": msg, "name": name,
                "pid": std::process::id(), "thread": thread, "ts": ts,
            }
        });
        let _ = writeln!(out, "{line}");
    } else {
        let now = chrono::Local::now().format("%H:%M:%S");
        if msg.is_empty() {
            let _ = writeln!(out, "{now}  ");
        } else {
            for l in msg.lines() {
                let _ = writeln!(out, "{now}  {l}");
            }
        }
    }
}

/// `log(msg, info=True)` from Jinja (dbt's `JinjaLogInfo`).
pub fn info_line(msg: &str) {
    event("JinjaLogInfo", "I062", "info", msg, json!({"msg": msg}));
}

/// An empty line (dbt's `Formatting` event).
pub fn blank() {
    event("Formatting", "Z017", "info", "", json!({"msg": ""}));
}

/// A node's progress line: `i of n OK created sql view model s.x .... [OK in 0.1s]`.
pub fn progress(text: &str, status: &str, secs: Option<f64>) -> String {
    let suffix = match secs {
        Some(s) => format!("[{status} in {s:.2}s]"),
        None => format!("[{status}]"),
    };
    let dots = 80usize.saturating_sub(text.chars().count() + 1).max(1);
    format!("{text} {} {suffix}", ".".repeat(dots))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_are_padded_like_dbts() {
        let l = progress("1 of 2 START sql view model main.a", "RUN", None);
        assert_eq!(l.find('['), Some(81));
        assert!(l.ends_with("... [RUN]"));
        assert!("yaml".parse::<Format>().is_err());
    }
}
