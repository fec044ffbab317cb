//! `tarmac.toml`: found in the working directory or given with `--config`,
//! overridden by the environment (`FLIGHTLABS_ACCESS_KEY`, `FLIGHTLABS_BASE_URL`,
//! `FLIGHTLABS_RATE_LIMIT`: a CI job or a test against `mock-api` raises the
//! pace without editing the file).
//!
//! Relative paths in the file are relative to the file's folder, so a project
//! folder works wherever it is run from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use flightlabs::{ClientConfig, HistoricalMode, RateLimit, Secret};
use serde::Deserialize;

pub const FILE_NAME: &str = "tarmac.toml";

/// `[flightlabs] max_plan_requests` unless set: about a week of one airport
/// at two windows a day is 28 requests, a year of one airport ~1,460.
pub const DEFAULT_MAX_PLAN_REQUESTS: u64 = 500;

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
    #[serde(default)]
    realtime: RealtimeSection,
    #[serde(default)]
    lake: LakeSection,
    /// Read again, with line numbers, by the orchestrator crate.
    #[serde(default, rename = "jobs")]
    _jobs: Option<toml::Value>,
    #[serde(default, rename = "orchestrator")]
    _orchestrator: Option<toml::Value>,
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
    /// A `batch` or `delta` that needs more requests than this asks first
    /// (on a terminal) or stops (in scripts) unless given `--yes`.
    max_plan_requests: Option<u64>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LakeSection {
    /// A folder, or s3://bucket/prefix, gs://…, az://….
    path: Option<PathBuf>,
    /// The Iceberg SQL catalog: a SQLite file or a postgresql:// URL (a
    /// password belongs in PGPASSWORD, not here).
    catalog: Option<String>,
    catalog_name: Option<String>,
    layers: Option<Vec<String>>,
    keep_snapshots: Option<usize>,
    max_snapshot_age: Option<String>,
}

/// `[lake]`, resolved (`tarmac lake publish`).
#[derive(Debug, Clone)]
pub struct LakeConfig {
    /// A folder (relative to the config file's) or an object-store URL.
    pub path: String,
    pub catalog: Option<String>,
    pub catalog_name: Option<String>,
    pub layers: Vec<String>,
    pub keep_snapshots: Option<usize>,
    pub max_snapshot_age: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RealtimeSection {
    /// Default for `ingest realtime --airport` (else [ingest] airports).
    airports: Option<Vec<String>>,
    /// Time between polls: "60s", "2m", "90".
    interval: Option<String>,
    /// `limit` of each `/flights` request.
    limit: Option<u32>,
}

/// `[realtime]`, resolved.
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    pub airports: Option<Vec<String>>,
    pub interval: Duration,
    pub limit: u32,
}

/// A duration as people write one: `90` or `90s`, `500ms`, `2m`, `1h`,
/// `1m30s`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("invalid duration {text:?}: expected e.g. 60s, 500ms, 2m, 1h or 1m30s");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// The resolved configuration every command works from.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub client: ClientConfig,
    pub historical_mode: HistoricalMode,
    pub concurrency: usize,
    /// Where bodies land: a folder (relative to the config file's) or an
    /// object-store URL (`s3://bucket/prefix`, `gs://…`, `az://…`,
    /// `file://…`); see `ingest::store`.
    pub landing: String,
    pub warehouse: PathBuf,
    /// The warehouse's dbt-format project (`[warehouse] project`, default
    /// `warehouse/` beside the config file).
    pub project: PathBuf,
    pub airports: Vec<String>,
    pub realtime: RealtimeConfig,
    pub lake: LakeConfig,
    /// Whether a key was given at all (the simulator needs none).
    pub has_key: bool,
    /// Whether the rate limit was chosen (config file or flag), not defaulted.
    pub rate_limit_set: bool,
    /// `[flightlabs] max_plan_requests`: the plan size past which `batch`
    /// and `delta` want a confirmation, so a typo cannot spend a month's plan.
    pub max_plan_requests: u64,
    /// The file's text (the orchestrator parses its jobs with line numbers).
    pub text: String,
    /// The folder relative paths are resolved against.
    pub base: PathBuf,
}

impl Config {
    /// `explicit`: the `--config` path (must exist); otherwise `./tarmac.toml` if present.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let (file, source, base, text) = match explicit {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
                (parse(&text, p)?, Some(p.to_path_buf()), base, text)
            }
            None => {
                let p = Path::new(FILE_NAME);
                if p.exists() {
                    let text = std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?;
                    (
                        parse(&text, p)?,
                        Some(p.to_path_buf()),
                        PathBuf::new(),
                        text,
                    )
                } else {
                    (FileConfig::default(), None, PathBuf::new(), String::new())
                }
            }
        };
        let mut c = Self::resolve(file, source, &base, |k| std::env::var(k).ok())?;
        c.text = text;
        Ok(c)
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
        let env_rate = env("FLIGHTLABS_RATE_LIMIT").filter(|s| !s.is_empty());
        let rate_limit_set = fl.rate_limit.is_some() || env_rate.is_some();
        if let Some(r) = env_rate {
            client.rate_limit = r
                .parse::<RateLimit>()
                .map_err(|e| anyhow::anyhow!("FLIGHTLABS_RATE_LIMIT: {e}"))?;
        } else if let Some(r) = fl.rate_limit {
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
        client.shared_window = shared_window_file(&client, &env);
        let at = |p: Option<PathBuf>, default: &str| {
            let p = p.unwrap_or_else(|| PathBuf::from(default));
            if p.is_absolute() {
                p
            } else {
                base.join(p)
            }
        };
        let rt = file.realtime;
        let interval = match rt.interval {
            Some(t) => {
                parse_duration(&t).map_err(|e| anyhow::anyhow!("[realtime] interval: {e}"))?
            }
            None => Duration::from_secs(60),
        };
        if interval < Duration::from_secs(1) {
            bail!("[realtime] interval must be at least 1s");
        }
        if rt.limit == Some(0) {
            bail!("[realtime] limit must be at least 1");
        }
        Ok(Config {
            source,
            realtime: RealtimeConfig {
                airports: rt.airports,
                interval,
                limit: rt
                    .limit
                    .unwrap_or(ingest::realtime::RealtimePlan::DEFAULT_LIMIT),
            },
            client,
            historical_mode: fl.historical_mode.unwrap_or_default(),
            concurrency: fl.concurrency.unwrap_or(4).max(1),
            landing: match file.landing.path {
                Some(p) if ingest::store::is_url(&p.to_string_lossy()) => {
                    p.to_string_lossy().into_owned()
                }
                p => at(p, "landing").display().to_string(),
            },
            lake: LakeConfig {
                path: match file.lake.path {
                    Some(p) if ingest::store::is_url(&p.to_string_lossy()) => {
                        p.to_string_lossy().into_owned()
                    }
                    p => at(p, "lake").display().to_string(),
                },
                catalog: file.lake.catalog.map(|c| {
                    if c.contains("://") || Path::new(&c).is_absolute() {
                        c
                    } else {
                        base.join(c).display().to_string()
                    }
                }),
                catalog_name: file.lake.catalog_name,
                layers: file
                    .lake
                    .layers
                    .unwrap_or_else(|| vec!["silver".into(), "gold".into()]),
                keep_snapshots: file.lake.keep_snapshots,
                max_snapshot_age: file.lake.max_snapshot_age,
            },
            warehouse: at(file.warehouse.path, "tarmac.duckdb"),
            project: at(file.warehouse.project, "warehouse"),
            airports: file.ingest.airports.unwrap_or_else(|| vec!["BOG".into()]),
            has_key,
            rate_limit_set,
            max_plan_requests: fl.max_plan_requests.unwrap_or(DEFAULT_MAX_PLAN_REQUESTS),
            text: String::new(),
            base: base.to_path_buf(),
        })
    }
}

impl Config {
    /// Hands the warehouse path to the project's `profiles.yml`
    /// (`env_var('TARMAC_WAREHOUSE', ...)`). A `tarmac.toml` is
    /// authoritative; without one, a value the user exported is kept.
    /// Call only while the process has one thread.
    pub fn export_warehouse(&self) {
        let var = WAREHOUSE_ENV;
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
        if is_project(Path::new(".")) {
            return None;
        }
        is_project(&self.project).then(|| self.project.clone())
    }
}

/// The environment variable the warehouse project's `profiles.yml` reads
/// the warehouse path from (`env_var('TARMAC_WAREHOUSE', 'tarmac.duckdb')`).
pub const WAREHOUSE_ENV: &str = "TARMAC_WAREHOUSE";

/// Whether `dir` holds a dbt project.
pub fn is_project(dir: &Path) -> bool {
    dir.join("dbt_project.yml").is_file()
}

fn parse(text: &str, path: &Path) -> Result<FileConfig> {
    toml::from_str(text).with_context(|| format!("invalid config file {}", path.display()))
}

/// The file that shares the plan's rate limit between every process of this
/// user that calls the same API with the same key (see
/// `flightlabs::shared_window`): `$TARMAC_STATE_HOME` (else
/// `$XDG_STATE_HOME/tarmac`, else `~/.local/state/tarmac`)
/// `/api-window-<hash of base URL and key>`. The key itself never appears
/// in the name. None without any of those folders.
fn shared_window_file(
    client: &ClientConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Option<PathBuf> {
    let dir = env("TARMAC_STATE_HOME")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            env("XDG_STATE_HOME")
                .filter(|s| !s.is_empty())
                .map(|d| PathBuf::from(d).join("tarmac"))
        })
        .or_else(|| {
            env("HOME")
                .filter(|s| !s.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state/tarmac"))
        })?;
    // FNV-1a: stable across builds (std's hasher is not promised to be)
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in client
        .base_url
        .bytes()
        .chain([0])
        .chain(client.access_key.expose().bytes())
    {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    Some(dir.join(format!("api-window-{h:016x}")))
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
        assert_eq!(Path::new(&c.landing), Path::new("proj/landing"));
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
        let fast = resolve(text, &[("FLIGHTLABS_RATE_LIMIT", "1000/1")]).unwrap();
        assert_eq!(fast.client.rate_limit.requests, 1000);
        assert!(resolve(text, &[("FLIGHTLABS_RATE_LIMIT", "fast")]).is_err());
        assert_eq!(c.warehouse, Path::new("/abs/w.duckdb"));
        assert_eq!(c.project, Path::new("proj/models"));
    }

    #[test]
    fn realtime_section() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.realtime.interval, Duration::from_secs(60));
        assert_eq!(c.realtime.airports, None);
        let c = resolve(
            "[realtime]\nairports = [\"BOG\", \"MDE\"]\ninterval = \"1m30s\"\nlimit = 500",
            &[],
        )
        .unwrap();
        assert_eq!(c.realtime.interval, Duration::from_secs(90));
        assert_eq!(c.realtime.limit, 500);
        assert_eq!(c.realtime.airports.unwrap(), ["BOG", "MDE"]);
        let e = resolve("[realtime]\ninterval = \"soon\"", &[]).unwrap_err();
        assert!(e.to_string().contains("[realtime] interval"), "{e}");
        assert!(resolve("[realtime]\ninterval = \"100ms\"", &[]).is_err());
        assert!(resolve("[realtime]\nlimit = 0", &[]).is_err());
        assert!(resolve("[realtime]\nbogus = 1", &[]).is_err());
    }

    #[test]
    fn durations() {
        let ok = [
            ("60", 60_000),
            ("60s", 60_000),
            ("500ms", 500),
            ("2m", 120_000),
            ("1h", 3_600_000),
            ("1m30s", 90_000),
            ("1.5s", 1500),
        ];
        for (t, ms) in ok {
            assert_eq!(parse_duration(t).unwrap(), Duration::from_millis(ms), "{t}");
        }
        for t in ["", "s", "10x", "-5", "1m-", "m1"] {
            assert!(parse_duration(t).is_err(), "{t}");
        }
    }

    #[test]
    fn bad_config_is_an_error() {
        assert!(resolve("[flightlabs]\nrate_limit = \"fast\"", &[]).is_err());
        assert!(resolve("[flightlabs]\nbogus = 1", &[]).is_err());
        assert!(resolve("[flightlabs]\nhistorical_mode = \"weekly\"", &[]).is_err());
    }
}
