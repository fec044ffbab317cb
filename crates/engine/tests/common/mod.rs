//! Helpers shared by the engine's integration tests (`jaffle.rs`,
//! `features.rs`): fixture projects copied to a temporary directory, engine
//! options for them, and golden files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use engine::Options;

pub use testkit::copy_dir;

/// A copy of fixture `tests/fixtures/<name>` in a temporary directory, its
/// profile pointing at the absolute `<dir>/<db_name>.duckdb` (the catalog
/// stays the file's stem, `db_name`). Keep the `TempDir` alive while the
/// test uses the directory.
pub fn fixture(name: &str, db_name: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join(name);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
        &dir,
    );
    let db = dir.join(format!("{db_name}.duckdb"));
    let prof = std::fs::read_to_string(dir.join("profiles.yml")).unwrap();
    let prof = prof.replace(
        &format!("{{{{ env_var('TARMAC_DB', '{db_name}.duckdb') }}}}"),
        &db.display().to_string(),
    );
    std::fs::write(dir.join("profiles.yml"), prof).unwrap();
    (d, dir)
}

/// Engine options for the project (and its profiles.yml) in `dir`.
pub fn opts(dir: &Path) -> Options {
    Options {
        project_dir: Some(dir.to_path_buf()),
        profiles_dir: Some(dir.to_path_buf()),
        ..Options::default()
    }
}

/// Compare `actual` with `tests/golden/<name>`; with `UPDATE_GOLDEN` (or
/// `TARMAC_UPDATE_GOLDEN`) set, write it instead.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some()
        || std::env::var_os("TARMAC_UPDATE_GOLDEN").is_some()
    {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden {} (UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "golden {name} differs (UPDATE_GOLDEN=1 rewrites it)"
    );
}
