//! The flight warehouse shipped inside the binary: the dbt-format project in
//! `warehouse/` at the workspace root, embedded at build time (see
//! `build.rs`). `tarmac init` and `tarmac up` write a copy the user owns and
//! may change; Tarmac then builds that copy, never the embedded one, so a
//! user's edits are never overwritten.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/warehouse_files.rs"));
}

/// The embedded project's files: path relative to the project, contents.
pub fn files() -> &'static [(&'static str, &'static [u8])] {
    embedded::FILES
}

/// Writes the embedded project into `dir` (created if needed). Refuses to
/// touch a folder that already has files, so nothing of the user's is lost.
pub fn write_project(dir: &Path) -> Result<usize> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty; the warehouse project was not written",
                dir.display()
            );
        }
    }
    for (rel, bytes) in files() {
        let path = rel.split('/').fold(dir.to_path_buf(), |p, c| p.join(c));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(files().len())
}

/// The `tarmac.toml` that `tarmac init` writes.
pub const CONFIG_TEMPLATE: &str = r#"# Tarmac's configuration; paths are relative to this file.
# See `tarmac --help` and the README for every key.

[flightlabs]
# The key comes from the environment: export FLIGHTLABS_ACCESS_KEY=...
# Without one, `tarmac up` uses the built-in simulator.
# rate_limit = "10/10"          # requests per seconds, as your plan allows

[landing]
path = "landing"                # raw API bodies, as received; or s3://bucket/prefix, gs://…, az://…

[warehouse]
path = "tarmac.duckdb"          # the DuckDB file ingestion and the models write
project = "warehouse"           # the dbt-format project: edit its models freely

[ingest]
airports = ["BOG"]
"#;

/// `tarmac init DIR`: a `tarmac.toml` and a copy of the warehouse project.
pub fn init(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let config = dir.join(crate::config::FILE_NAME);
    if config.exists() {
        bail!("{} already exists; nothing was written", config.display());
    }
    let project = dir.join("warehouse");
    write_project(&project)?;
    std::fs::write(&config, CONFIG_TEMPLATE)
        .with_context(|| format!("cannot write {}", config.display()))?;
    Ok((config, project))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeds_the_whole_project() {
        let names: Vec<&str> = files().iter().map(|(n, _)| *n).collect();
        for expected in [
            "dbt_project.yml",
            "profiles.yml",
            "models/sources.yml",
            "models/silver/flights.sql",
            "models/gold/star/fct_flight_movements.sql",
            "macros/generate_schema_name.sql",
        ] {
            assert!(
                names.contains(&expected),
                "{expected} missing from {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.starts_with("target/")), "{names:?}");
        let profiles = files()
            .iter()
            .find(|(n, _)| *n == "profiles.yml")
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        assert!(
            profiles.contains(crate::config::WAREHOUSE_ENV),
            "{profiles}"
        );
    }

    #[test]
    fn init_writes_config_and_project_and_never_overwrites() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (config, project) = init(tmp.path()).expect("init");
        assert!(config.is_file());
        assert!(crate::config::is_project(&project));
        let parsed: toml::Value = toml::from_str(CONFIG_TEMPLATE).expect("template parses");
        assert_eq!(parsed["warehouse"]["project"].as_str(), Some("warehouse"));
        // a second init refuses and leaves the user's changes alone
        std::fs::write(project.join("dbt_project.yml"), "changed").expect("write");
        assert!(init(tmp.path()).is_err());
        assert_eq!(
            std::fs::read_to_string(project.join("dbt_project.yml")).expect("read"),
            "changed"
        );
        let other = tmp.path().join("other");
        std::fs::create_dir(&other).expect("mkdir");
        std::fs::write(other.join("x"), "x").expect("write");
        assert!(write_project(&other).is_err());
    }
}
