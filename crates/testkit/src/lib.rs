//! Test support shared by the integration tests of several crates (the
//! engine's and the `tarmac` binary's), so that there is one way to find
//! the dbt that live comparisons run against.
//!
//! dbt is only ever a yardstick in tests and benchmarks, never used at run
//! time. It is found, in this order, at
//! 1. `$TARMAC_DBT`: the path of a `dbt` executable (`.ci/run` sets it to the
//!    virtualenv it keeps outside the clone);
//! 2. `<repo>/.venv-dbt/bin/dbt`, a virtualenv beside the sources.
//!
//! Without either, a comparison test skips with a message saying how to get
//! dbt, except under `CI=true`, where it fails: CI must run every comparison.

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod modules;
pub mod postgres;
pub mod pyiceberg;
pub mod s3;

/// The repository's root directory. `cargo test` tells the test binary
/// its own package's directory (`crates/<name>`) when it starts; that is
/// preferred over this crate's directory as compiled in, because a target
/// directory shared between clones (CI's cache, a worktree) may hold a
/// testkit compiled in another clone, whose path it would still name.
pub fn repo_root() -> PathBuf {
    let compiled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(package) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return compiled;
    };
    let root = Path::new(&package).join("../..");
    if root.join("Cargo.lock").is_file() {
        root
    } else {
        compiled
    }
}

/// Copy the directory tree `from` to `to` (a fixture project into a
/// temporary folder), making `to` and every folder below it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Whether this is a CI run (`CI` set to `true` or `1`, as CI services do).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// How to get dbt, for the skip and failure messages.
pub const HOW_TO_GET_DBT: &str = "set TARMAC_DBT to a dbt executable, or create the repository's .venv-dbt: python3 -m venv .venv-dbt && .venv-dbt/bin/pip install dbt-core==1.10.23 dbt-duckdb==1.11.1 (the versions .ci/run pins)";

/// Where dbt would be, without checking that it is there: `$TARMAC_DBT`,
/// else the repository's `.venv-dbt`.
pub fn dbt_location() -> PathBuf {
    match std::env::var_os("TARMAC_DBT") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(".venv-dbt/bin/dbt"),
    }
}

/// dbt for the live comparison `test`, if there is one. Missing dbt: `None`
/// with a message on stderr (the test should return early), or a panic
/// under CI. A `TARMAC_DBT` that names nothing always panics: it is a
/// mistake, not an absent tool.
pub fn dbt(test: &str) -> Option<PathBuf> {
    let p = dbt_location();
    if p.is_file() {
        return Some(p);
    }
    if std::env::var_os("TARMAC_DBT").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: TARMAC_DBT={} is not a file", p.display());
    }
    if in_ci() {
        panic!(
            "{test}: dbt is required under CI=true but was not found at {} ({HOW_TO_GET_DBT})",
            p.display()
        );
    }
    eprintln!("SKIP {test}: no dbt at {} ({HOW_TO_GET_DBT})", p.display());
    None
}

/// The Python of dbt's virtualenv (beside `dbt` in its `bin/`), which has
/// the `duckdb` module dbt-duckdb depends on.
pub fn python_beside(dbt: &Path) -> PathBuf {
    dbt.with_file_name("python")
}

/// `dbt ARGS --project-dir DIR --profiles-dir DIR` run in `dir`, with
/// dbt's anonymous usage statistics off (no network calls from tests).
pub fn dbt_command(dbt: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(dbt);
    cmd.args(args)
        .arg("--project-dir")
        .arg(dir)
        .arg("--profiles-dir")
        .arg(dir)
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .current_dir(dir);
    cmd
}

/// The version `dbt --version` reports for dbt-core (`Core: installed:
/// 1.10.23` in its output).
pub fn dbt_core_version(dbt: &Path) -> String {
    let out = Command::new(dbt)
        .arg("--version")
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", dbt.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    parse_core_version(&text)
        .unwrap_or_else(|| panic!("no dbt-core version in `dbt --version`:\n{text}"))
}

/// The `installed:` version under `Core:` in `dbt --version`'s output.
pub fn parse_core_version(text: &str) -> Option<String> {
    let mut in_core = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("Core:") {
            in_core = true;
        } else if in_core {
            if let Some(v) = t.strip_prefix("- installed:") {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dbt_core_version() {
        let out = "Core:\n  - installed: 1.10.23\n  - latest:    1.12.6  - Update available!\n\nPlugins:\n  - duckdb: 1.11.1 - Up to date!\n";
        assert_eq!(parse_core_version(out).as_deref(), Some("1.10.23"));
        assert_eq!(parse_core_version("Plugins:\n  - duckdb: 1.11.1\n"), None);
    }

    #[test]
    fn repo_root_holds_the_workspace() {
        assert!(repo_root().join("Cargo.toml").is_file());
        assert!(repo_root().join("crates/engine").is_dir());
    }
}
