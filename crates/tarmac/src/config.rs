//! `tarmac.toml`: found in the working directory or given with `--config`,
//! overridden by the environment (`FLIGHTLABS_ACCESS_KEY`, `FLIGHTLABS_BASE_URL`).
//!
//! Relative paths in the file are relative to the file's folder, so a project
//! folder works wherever it is run from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use flightlabs::{ClientConfig, HistoricalMode, RateLimit, Secret};
use serde::Deserialize;

pub const FILE_NAME: &str = "tarmac.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    flightlabs: FlightlabsSection,
    #[serde(default)]
    landing: PathSection,
    #[serde(default)]
    warehouse: WarehouseSection,
    #[serde(default)]
    ingest: IngestSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlightlabsSection {
    base_url: Option<String>,
    /// Allowed, but the environment is the better place for a key.
    access_key: Option<String>,
    rate_limit: Option<String>,
    historical_mode: Option<HistoricalMode>,
    timeout_seconds: Option<f64>,
    max_retries: Option<u32>,
    /// First retry delay; doubles each retry, with jitter.
    backoff_seconds: Option<f64>,
    concurrency: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PathSection {
    path: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarehouseSection {
    /// The DuckDB file ingestion and the models write.
    path: Option<PathBuf>,
    /// The dbt-format project `tarmac build|test|docs|up` use.
    project: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestSection {
    airports: Option<Vec<String>>,
}

/// The resolved configuration every command works from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub client: ClientConfig,
    pub historical_mode: HistoricalMode,
    pub concurrency: usize,
    pub landing: PathBuf,
    pub warehouse: PathBuf,
    /// The warehouse's dbt-format project (`[warehouse] project`, default
    /// `warehouse/` beside the config file).
    pub project: PathBuf,
    pub airports: Vec<String>,
    /// Whether a key was given at all (the simulator needs none).
    pub has_key: bool,
    /// Whether the rate limit was chosen (config file or flag), not defaulted.
    pub rate_limit_set: bool,
}

impl Config {
    /// `explicit`: the `--config` path (must exist); otherwise `./tarmac.toml` if present.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let (file, source, base) = match explicit {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
                (parse(&text, p)?, Some(p.to_path_buf()), base)
            }
            None => {
                let p = Path::new(FILE_NAME);
                if p.exists() {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?;
                    (parse(&text, p)?, Some(p.to_path_buf()), PathBuf::new())
                } else {
                    (FileConfig::default(), None, PathBuf::new())
                }
            }
        };
        Self::resolve(file, source, &base, |k| std::env::var(k).ok())
    }

    fn resolve(
        file: FileConfig,
        source: Option<PathBuf>,
        base: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let fl = file.flightlabs;
        let mut client = ClientConfig::default();
        if let Some(u) = env("FLIGHTLABS_BASE_URL")
            .filter(|s| !s.is_empty())
            .or(fl.base_url)
        {
            client.base_url = u;
        }
        let key = env("FLIGHTLABS_ACCESS_KEY")
            .filter(|s| !s.is_empty())
            .or(fl.access_key)
            .unwrap_or_default();
        let has_key = !key.is_empty();
        client.access_key = Secret::new(key);
        let rate_limit_set = fl.rate_limit.is_some();
        if let Some(r) = fl.rate_limit {
            client.rate_limit = r
                .parse::<RateLimit>()
                .map_err(|e| anyhow::anyhow!("[flightlabs] rate_limit: {e}"))?;
        }
        if let Some(t) = fl.timeout_seconds {
            if !(t.is_finite() && t > 0.0) {
                bail!("[flightlabs] timeout_seconds must be positive");
            }
            client.timeout = Duration::from_secs_f64(t);
        }
        if let Some(b) = fl.backoff_seconds {
            if !(b.is_finite() && b >= 0.0) {
                bail!("[flightlabs] backoff_seconds must be zero or positive");
            }
            client.backoff_initial = Duration::from_secs_f64(b);
        }
        if let Some(n) = fl.max_retries {
            client.max_retries = n;
        }
        let at = |p: Option<PathBuf>, default: &str| {
            let p = p.unwrap_or_else(|| PathBuf::from(default));
            if p.is_absolute() {
                p
            } else {
                base.join(p)
            }
        };
        Ok(Config {
            source,
            client,
            historical_mode: fl.historical_mode.unwrap_or_default(),
            concurrency: fl.concurrency.unwrap_or(4).max(1),
            landing: at(file.landing.path, "landing"),
            warehouse: at(file.warehouse.path, "tarmac.duckdb"),
            project: at(file.warehouse.project, "warehouse"),
            airports: file.ingest.airports.unwrap_or_else(|| vec!["BOG".into()]),
            has_key,
            rate_limit_set,
        })
    }
}

impl Config {
    /// Hands the warehouse path to the project's `profiles.yml`
    /// (`env_var('TARMAC_WAREHOUSE', ...)`). A `tarmac.toml` is
    /// authoritative; without one, a value the user exported is kept.
    /// Call only while the process has one thread.
    pub fn export_warehouse(&self) {
        let var = crate::project::WAREHOUSE_ENV;
        if self.source.is_none() && std::env::var_os(var).is_some() {
            return;
        }
        let path = std::path::absolute(&self.warehouse).unwrap_or_else(|_| self.warehouse.clone());
        std::env::set_var(var, path);
    }

    /// The project a dbt command works on when no `--project-dir` is given:
    /// with a `tarmac.toml`, its `[warehouse] project`; without one, the
    /// current folder if it is a dbt project (as dbt does), else
    /// `./warehouse` if that is one.
    pub fn default_project(&self) -> Option<PathBuf> {
        if self.source.is_some() {
            return Some(self.project.clone());
        }
        if crate::project::is_project(Path::new(".")) {
            return None;
        }
        crate::project::is_project(&self.project).then(|| self.project.clone())
    }
}

fn parse(text: &str, path: &Path) -> Result<FileConfig> {
    toml::from_str(text).with_context(|| format!("invalid config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str, env: &[(&str, &str)]) -> Result<Config> {
        let file = parse(text, Path::new("t.toml"))?;
        Config::resolve(file, None, Path::new("proj"), |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.landing, Path::new("proj/landing"));
        assert_eq!(c.warehouse, Path::new("proj/tarmac.duckdb"));
        assert_eq!(c.project, Path::new("proj/warehouse"));
        assert_eq!(c.client.base_url, flightlabs::DEFAULT_BASE_URL);
        assert!(!c.has_key);
        assert_eq!(c.historical_mode, HistoricalMode::Windows);
    }

    #[test]
    fn file_and_environment() {
        let text = r#"
            [flightlabs]
            base_url = "http://file"
            rate_limit = "40/10"
            historical_mode = "daily"
            [warehouse]
            path = "/abs/w.duckdb"
            project = "models"
        "#;
        let c = resolve(
            text,
            &[
                ("FLIGHTLABS_BASE_URL", "http://env"),
                ("FLIGHTLABS_ACCESS_KEY", "k"),
            ],
        )
        .unwrap();
        assert_eq!(c.client.base_url, "http://env");
        assert_eq!(c.client.access_key.expose(), "k");
        assert!(c.has_key);
        assert_eq!(c.client.rate_limit.requests, 40);
        assert_eq!(c.historical_mode, HistoricalMode::Daily);
        assert_eq!(c.warehouse, Path::new("/abs/w.duckdb"));
        assert_eq!(c.project, Path::new("proj/models"));
    }

    #[test]
    fn bad_config_is_an_error() {
        assert!(resolve("[flightlabs]\nrate_limit = \"fast\"", &[]).is_err());
        assert!(resolve("[flightlabs]\nbogus = 1", &[]).is_err());
        assert!(resolve("[flightlabs]\nhistorical_mode = \"weekly\"", &[]).is_err());
    }
}
