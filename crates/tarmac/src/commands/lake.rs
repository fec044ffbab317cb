//! `tarmac lake publish`: the warehouse's layers as Iceberg tables, handed
//! to the `lake` crate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use crate::config::Config;

/// `tarmac lake publish` options.
#[derive(Args, Clone, Debug)]
pub struct PublishArgs {
    /// Layers (warehouse schemas) to publish, each an Iceberg namespace.
    #[arg(long, value_delimiter = ',', value_name = "LAYER")]
    layer: Vec<String>,
    /// Tables to publish: `name` or `layer.name`, `*` as a wildcard (default: all).
    #[arg(long, short = 's', num_args = 1.., value_name = "TABLE")]
    select: Vec<String>,
    /// The lake: a folder, or s3://bucket/prefix, gs://…, az://… (default:
    /// [lake] path of the config, else ./lake).
    #[arg(long, env = "TARMAC_LAKE", value_name = "LOCATION")]
    lake: Option<String>,
    /// The Iceberg SQL catalog: a SQLite file or a postgresql:// URL (default:
    /// [lake] catalog, else catalog.db in a folder lake, ./lake-catalog.db for a bucket).
    #[arg(
        long,
        env = "TARMAC_LAKE_CATALOG",
        hide_env_values = true,
        value_name = "URI"
    )]
    catalog: Option<String>,
    /// The catalog name tables are registered under.
    #[arg(long)]
    catalog_name: Option<String>,
    /// Snapshots kept whatever their age.
    #[arg(long, value_name = "N")]
    keep_snapshots: Option<usize>,
    /// Older snapshots than this expire (beyond --keep-snapshots): 7d, 12h, 30m.
    #[arg(long, value_name = "AGE")]
    max_snapshot_age: Option<String>,
    /// The dbt project whose target/manifest.json gives each model's
    /// `partitioned_by` (default: [warehouse] project).
    #[arg(long, value_name = "DIR")]
    project_dir: Option<PathBuf>,
    /// Print the result as JSON lines.
    #[arg(long)]
    json: bool,
}

pub fn publish(config: &Config, args: PublishArgs) -> Result<ExitCode> {
    let lake_cfg = &config.lake;
    let lake = args.lake.clone().unwrap_or_else(|| lake_cfg.path.clone());
    let catalog = match args.catalog.clone().or_else(|| lake_cfg.catalog.clone()) {
        Some(c) => c,
        None if ingest::store::is_url(&lake) => {
            config.base.join("lake-catalog.db").display().to_string()
        }
        None => Path::new(lake.strip_prefix("file://").unwrap_or(&lake))
            .join("catalog.db")
            .display()
            .to_string(),
    };
    let layers = if args.layer.is_empty() {
        lake_cfg.layers.clone()
    } else {
        args.layer.clone()
    };
    let mut retention = lake::Retention::default();
    if let Some(n) = args.keep_snapshots.or(lake_cfg.keep_snapshots) {
        retention.min_keep = n.max(1);
    }
    if let Some(age) = args
        .max_snapshot_age
        .as_ref()
        .or(lake_cfg.max_snapshot_age.as_ref())
    {
        retention.max_age = parse_age(age)?;
    }
    let project = args
        .project_dir
        .clone()
        .unwrap_or_else(|| config.project.clone());
    let partitions = partitions_of(&project)?;
    let opts = lake::Options {
        warehouse: config.warehouse.clone(),
        lake,
        catalog,
        catalog_name: args
            .catalog_name
            .clone()
            .or_else(|| lake_cfg.catalog_name.clone())
            .unwrap_or_else(|| lake::DEFAULT_CATALOG_NAME.to_string()),
        layers,
        select: args.select.clone(),
        partitions,
        retention,
    };
    let started = Instant::now();
    // the lake crate runs its own I/O runtime and a blocking PostgreSQL
    // client: both need a thread outside this command's runtime
    let reports = std::thread::spawn(move || lake::publish(&opts))
        .join()
        .map_err(|_| anyhow::anyhow!("the publish thread panicked"))?
        .map_err(|e| {
            let final_error = !matches!(
                e,
                lake::LakeError::Warehouse(_) | lake::LakeError::Conflict { .. }
            );
            let e = anyhow::Error::new(e);
            if final_error {
                crate::exit::mark_final(e)
            } else {
                e
            }
        })?;
    for r in &reports {
        if args.json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            let detail = match r.outcome {
                "unchanged" => String::new(),
                _ => format!(
                    ", {} partition(s) written: +{} file(s) -{} file(s){}",
                    r.partitions_changed,
                    r.files_added,
                    r.files_removed,
                    if r.snapshots_expired > 0 {
                        format!(", {} snapshot(s) expired", r.snapshots_expired)
                    } else {
                        String::new()
                    }
                ),
            };
            println!(
                "{:<40} {:<9} {:>10} rows{detail}",
                r.table, r.outcome, r.rows
            );
        }
    }
    if !args.json {
        let changed = reports.iter().filter(|r| r.outcome != "unchanged").count();
        println!(
            "Published {} table(s), {} changed, in {:.2}s",
            reports.len(),
            changed,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `7d`, `12h`, `30m`, `90s`, or what `parse_duration` takes.
fn parse_age(text: &str) -> Result<Duration> {
    let t = text.trim();
    if let Some(days) = t.strip_suffix('d') {
        let d: f64 = days
            .parse()
            .with_context(|| format!("invalid age {text:?}: expected e.g. 7d, 12h, 30m"))?;
        return Ok(Duration::from_secs_f64(d * 86400.0));
    }
    crate::config::parse_duration(t).map_err(|e| anyhow::anyhow!(e))
}

/// Each model's `partitioned_by` from the project's last manifest, keyed
/// `schema.alias` as the relation is named in the warehouse.
fn partitions_of(project: &Path) -> Result<BTreeMap<String, Vec<String>>> {
    let path = project.join("target").join("manifest.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            eprintln!(
                "note: no {}: tables are published unpartitioned (run `tarmac build` or `tarmac parse` first)",
                path.display()
            );
            return Ok(BTreeMap::new());
        }
    };
    let manifest: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BTreeMap::new();
    if let Some(nodes) = manifest.get("nodes").and_then(|n| n.as_object()) {
        for node in nodes.values() {
            let Some(p) = node.get("config").and_then(|c| c.get("partitioned_by")) else {
                continue;
            };
            let fields: Vec<String> = match p {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => continue,
            };
            if fields.is_empty() {
                continue;
            }
            let schema = node
                .get("schema")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let name = node
                .get("alias")
                .and_then(|v| v.as_str())
                .or_else(|| node.get("name").and_then(|v| v.as_str()))
                .unwrap_or_default();
            out.insert(format!("{schema}.{name}"), fields);
        }
    }
    Ok(out)
}
