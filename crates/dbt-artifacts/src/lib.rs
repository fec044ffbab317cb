//! The artifacts a build leaves in `target/`, as typed values: one
//! definition that the engine writes and every reader uses (the shell's
//! `.models`, `tarmac up`'s summary, the docs site, `--state` selection and
//! `retry`), where each used to walk `serde_json::Value` on its own.
//!
//! Today: `run_results.json` (dbt's schema v6), `catalog.json` (v1,
//! [`catalog`]), and `manifest.json` (v12) for reading ([`manifest`]). The field order of each
//! struct is the order the engine writes keys in, which the goldens and
//! dbt's own files share. Reading is lenient as dbt's readers are: a field
//! dbt leaves out or writes as null reads as its default, so a
//! `run_results.json` written by dbt itself (a `--state` folder) reads too.

use std::path::{Path, PathBuf};

pub mod catalog;
pub mod manifest;
pub use catalog::Catalog;
pub use manifest::Manifest;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why an artifact could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid {what}: {source}")]
    Json {
        path: PathBuf,
        /// The artifact expected (`run_results.json`, `manifest.json`).
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// `run_results.json`: what a command did to each node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunResults {
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub results: Vec<RunResult>,
    #[serde(default)]
    pub elapsed_time: f64,
    /// The command's flags as dbt records them (`which`, `select`, …): what
    /// `retry` runs again with. Kept as written, since every command has
    /// its own.
    #[serde(default)]
    pub args: Value,
}

/// The `metadata` block every artifact starts with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub dbt_schema_version: String,
    #[serde(default)]
    pub dbt_version: String,
    #[serde(default)]
    pub generated_at: String,
    #[serde(default)]
    pub invocation_id: Option<String>,
    #[serde(default)]
    pub env: serde_json::Map<String, Value>,
    /// Written by Tarmac; absent from dbt's own run results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
}

/// One node's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunResult {
    pub unique_id: String,
    /// `success`, `error`, `skipped`, `pass`, `fail`, `warn`, `no-op`,
    /// `partial success`.
    pub status: String,
    #[serde(default)]
    pub timing: Vec<Timing>,
    #[serde(default)]
    pub thread_id: String,
    #[serde(default)]
    pub execution_time: f64,
    #[serde(default)]
    pub message: Option<String>,
    /// A data test's failing rows.
    #[serde(default)]
    pub failures: Option<i64>,
    /// What the database said; its keys differ by node kind.
    #[serde(default)]
    pub adapter_response: Value,
    #[serde(default)]
    pub compiled: Option<bool>,
    #[serde(default)]
    pub compiled_code: Option<String>,
    #[serde(default)]
    pub relation_name: Option<String>,
    /// A microbatch model's batches (`successful`, `failed`: pairs of times).
    #[serde(default)]
    pub batch_results: Option<Value>,
}

/// One phase of a node's run (`compile`, `execute`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timing {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub completed_at: Option<String>,
}

impl RunResult {
    /// When the node finished: the end of its last timed phase.
    pub fn completed_at(&self) -> Option<&str> {
        self.timing
            .iter()
            .rev()
            .find_map(|t| t.completed_at.as_deref())
    }
}

impl RunResults {
    /// Reads `path`; `Ok(None)` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<RunResults>, Error> {
        read_artifact(path, "run_results.json")
    }

    /// The results whose status is `status`.
    pub fn with_status<'a>(&'a self, status: &'a str) -> impl Iterator<Item = &'a RunResult> {
        self.results.iter().filter(move |r| r.status == status)
    }
}

/// Reads the artifact `what` from `path`; `Ok(None)` when there is no such
/// file.
fn read_artifact<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<Option<T>, Error> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| Error::Json {
            path: path.to_path_buf(),
            what,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result as dbt-core 1.10 writes it (keys in dbt's order, nulls,
    /// a thread name, no Tarmac metadata).
    const DBT_WRITTEN: &str = r#"{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json", "dbt_version": "1.10.23", "generated_at": "2026-01-02T03:04:05.678901Z", "invocation_id": "abc", "invocation_started_at": "2026-01-02T03:04:00Z", "env": {}}, "results": [{"status": "fail", "timing": [{"name": "compile", "started_at": "a", "completed_at": "b"}, {"name": "execute", "started_at": "b", "completed_at": "c"}], "thread_id": "Thread-1 (worker)", "execution_time": 0.1, "adapter_response": {"_message": "OK"}, "message": "Got 2 results, configured to fail if != 0", "failures": 2, "unique_id": "test.p.not_null_x.1", "compiled": true, "compiled_code": "select 1", "relation_name": null, "batch_results": null}, {"status": "success", "timing": [], "thread_id": "Thread-2", "execution_time": 0.0, "adapter_response": {}, "message": null, "failures": null, "unique_id": "source.p.s.t", "compiled": null, "compiled_code": null, "relation_name": null}], "elapsed_time": 1.5, "args": {"which": "build", "select": ["x"]}}"#;

    #[test]
    fn reads_what_dbt_writes() {
        let r: RunResults = serde_json::from_str(DBT_WRITTEN).unwrap();
        assert_eq!(r.metadata.dbt_version, "1.10.23");
        assert_eq!(r.metadata.project_name, None);
        assert_eq!(r.results.len(), 2);
        let t = &r.results[0];
        assert_eq!(
            (t.unique_id.as_str(), t.status.as_str()),
            ("test.p.not_null_x.1", "fail")
        );
        assert_eq!(t.failures, Some(2));
        assert_eq!(t.completed_at(), Some("c"));
        assert_eq!(r.results[1].compiled, None);
        assert_eq!(r.results[1].completed_at(), None);
        assert_eq!(r.args["which"], "build");
        let failed: Vec<_> = r
            .with_status("fail")
            .map(|r| r.unique_id.as_str())
            .collect();
        assert_eq!(failed, ["test.p.not_null_x.1"]);
    }

    #[test]
    fn writes_keys_in_the_engines_order_and_reads_back() {
        let r = RunResults {
            metadata: Metadata {
                dbt_version: "1.10.23".into(),
                generator: Some("tarmac".into()),
                ..Default::default()
            },
            results: vec![RunResult {
                unique_id: "model.p.m".into(),
                status: "success".into(),
                compiled: Some(true),
                ..Default::default()
            }],
            elapsed_time: 0.5,
            args: serde_json::json!({"which": "run"}),
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.starts_with(r#"{"metadata":{"dbt_schema_version":"","dbt_version":"1.10.23","generated_at":"","invocation_id":null,"env":{},"generator":"tarmac"},"results":[{"unique_id":"model.p.m","status":"success","timing":[],"thread_id":"","execution_time":0.0,"message":null,"failures":null,"adapter_response":null,"compiled":true,"compiled_code":null,"relation_name":null,"batch_results":null}]"#),
            "{text}"
        );
        let back: RunResults = serde_json::from_str(&text).unwrap();
        assert_eq!(back.results[0].unique_id, "model.p.m");
    }

    #[test]
    fn a_missing_file_is_none_and_a_bad_one_names_itself() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("run_results.json");
        assert!(RunResults::read(&p).unwrap().is_none());
        std::fs::write(&p, "{").unwrap();
        let e = RunResults::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("run_results.json is not a valid run_results.json"),
            "{e}"
        );
    }
}
