//! The members of dbt's Jinja context that need no node and no database,
//! so every phase has them, project files included: `var()`, `env_var()`
//! (with a record of what it read, for partial parsing), `fromjson`,
//! `tojson`, `fromyaml`, `toyaml`, and the conversions between Jinja values
//! and JSON. Also whether this thread renders for the parse phase, which
//! makes `var()` lenient. Below `project`, which renders dbt_project.yml
//! with these, and below `jinja`, which builds the full context on them.

use std::cell::RefCell;
use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{Environment, Error as JError, ErrorKind, State};
use serde_json::Map;

use crate::relation::Relation;

fn err(msg: impl Into<String>) -> JError {
    JError::new(ErrorKind::InvalidOperation, msg.into())
}

/// Environment variables a render read, with the values it saw (partial
/// parsing compares them with the next run's).
pub type EnvReads = BTreeMap<String, Option<String>>;

thread_local! {
    /// Environment variables read on this thread, while [`recording_env`] runs.
    static ENV_READS: RefCell<Option<EnvReads>> = const { RefCell::new(None) };
}

/// Run `f` and return, with its result, the environment variables
/// `env_var()` read meanwhile on this thread (partial parsing must know).
pub fn recording_env<T>(f: impl FnOnce() -> T) -> (T, EnvReads) {
    let outer = ENV_READS.with(|r| r.borrow_mut().replace(Default::default()));
    let out = f();
    let reads = ENV_READS.with(|r| {
        let mut slot = r.borrow_mut();
        let mine = slot.take().unwrap_or_default();
        // a recording inside another one: the outer one saw these reads too
        *slot = outer.map(|mut o| {
            o.extend(mine.iter().map(|(k, v)| (k.clone(), v.clone())));
            o
        });
        mine
    });
    (out, reads)
}

/// Every environment variable `env_var()` read in this process, on any
/// thread, once [`record_all_env`] has started it: what a whole parse
/// depends on (the thread-local recording above is per render).
static ALL_ENV_READS: std::sync::Mutex<Option<EnvReads>> = std::sync::Mutex::new(None);

/// Start recording every environment variable read, process-wide (see
/// [`all_env_reads`]). Reads before the call are not seen.
pub fn record_all_env() {
    let mut all = ALL_ENV_READS.lock().unwrap_or_else(|p| p.into_inner());
    all.get_or_insert_with(Default::default);
}

/// The environment variables read since [`record_all_env`], with the
/// values seen (empty when it was not called).
pub fn all_env_reads() -> EnvReads {
    let all = ALL_ENV_READS.lock().unwrap_or_else(|p| p.into_inner());
    all.clone().unwrap_or_default()
}

/// `env_var(name, default)`.
pub fn env_var(name: String, default: Option<Value>) -> Result<Value, JError> {
    let value = std::env::var(&name).ok();
    ENV_READS.with(|r| {
        if let Some(m) = r.borrow_mut().as_mut() {
            m.insert(name.clone(), value.clone());
        }
    });
    if let Some(all) = ALL_ENV_READS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_mut()
    {
        all.insert(name.clone(), value.clone());
    }
    match value {
        Some(v) => Ok(Value::from(v)),
        None => default.ok_or_else(|| err(format!("Env var required but not provided: '{name}'"))),
    }
}

thread_local! {
    /// Whether this thread is rendering for the parse phase (see [`parsing`]).
    static PARSING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` as a parse-phase render. dbt renders every node once at parse
/// only to record its `config()`, `ref()` and `source()` calls, and is
/// lenient there about what can only fail for real at run time: a missing
/// `var()` is none, and names nothing defines are an object that absorbs
/// every use ([`crate::jinja::ParseUndefined`]). Those errors then come from the node's
/// compile, where they fail that node alone and the others still run.
pub fn parsing<T>(f: impl FnOnce() -> T) -> T {
    let outer = PARSING.with(|p| p.replace(true));
    let out = f();
    PARSING.with(|p| p.set(outer));
    out
}

pub fn is_parsing() -> bool {
    PARSING.with(|p| p.get())
}

/// Convert JSON to a Jinja value.
pub fn json_to_value(v: &serde_json::Value) -> Value {
    Value::from_serialize(v)
}

/// Convert a Jinja value to JSON (objects render as strings).
pub fn value_to_json(v: &Value) -> serde_json::Value {
    if let Some(r) = v.downcast_object_ref::<Relation>() {
        if r.is_deferred() {
            // a config value holding a reference takes the compile's name
            crate::phase::note_divergence();
        }
        return serde_json::Value::String(r.render());
    }
    serde_json::to_value(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()))
}

/// `fromjson`, `tojson`, `fromyaml`, `toyaml`: in every dbt context,
/// project files' included.
pub fn add_serialization(env: &mut Environment<'static>) {
    env.add_function(
        "fromjson",
        |s: String, default: Option<Value>| -> Result<Value, JError> {
            match serde_json::from_str::<serde_json::Value>(&s) {
                Ok(v) => Ok(json_to_value(&v)),
                Err(e) => default.ok_or_else(|| err(format!("fromjson: {e}"))),
            }
        },
    );
    // Python's json.dumps spacing: `{"k": [1, 2]}`
    env.add_function(
        "tojson",
        |v: Value, _default: Option<Value>, sort_keys: Option<bool>| -> Value {
            Value::from(crate::extras::py_json(
                &value_to_json(&v),
                sort_keys.unwrap_or(false),
            ))
        },
    );
    // Jinja2's `tojson` filter: json.dumps with sorted keys and Python's
    // spacing, `<`, `>`, `&` and `'` escaped for HTML, marked safe
    // (minijinja's own filter writes compact JSON)
    env.add_filter("tojson", |v: Value, _indent: Option<Value>| -> Value {
        let s = crate::extras::py_json(&value_to_json(&v), true)
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026")
            .replace('\'', "\\u0027");
        Value::from_safe_string(s)
    });
    env.add_function("fromyaml", |s: String| -> Result<Value, JError> {
        crate::yaml::parse(std::path::Path::new("fromyaml"), &s)
            .map(|v| json_to_value(&v))
            .map_err(|e| err(e.to_string()))
    });
    env.add_function("toyaml", |v: Value| -> Result<Value, JError> {
        serde_yaml_ng::to_string(&value_to_json(&v))
            .map(Value::from)
            .map_err(|e| err(e.to_string()))
    });
}

/// `var(name, default)` over one set of vars.
pub fn var_fn(vars: Map<String, serde_json::Value>) -> Value {
    Value::from_function(
        move |state: &State<'_, '_>,
              name: String,
              default: Option<Value>|
              -> Result<Value, JError> {
            match vars.get(&name) {
                Some(v) => Ok(json_to_value(v)),
                None if default.is_none() && is_parsing() => {
                    crate::phase::note_divergence();
                    Ok(Value::from(()))
                }
                None => default.ok_or_else(|| {
                    // dbt names the node and prints the vars it had as
                    // sorted JSON, indented by 4
                    let node = state
                        .lookup("model")
                        .and_then(|m| m.get_attr("name").ok())
                        .filter(|n| !n.is_undefined() && !n.is_none())
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "<model>".into());
                    let supplied = if vars.is_empty() {
                        "{}".to_string()
                    } else {
                        let sorted: BTreeMap<_, _> = vars.iter().collect();
                        let mut out = Vec::new();
                        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
                        serde::Serialize::serialize(&sorted, &mut ser)
                            .map(|_| String::from_utf8_lossy(&out).into_owned())
                            .unwrap_or_default()
                    };
                    err(format!(
                        "Required var '{name}' not found in config:\nVars supplied to {node} = {supplied}"
                    ))
                }),
            }
        },
    )
}
