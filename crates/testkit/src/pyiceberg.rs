//! pyiceberg, a separate implementation of Apache Iceberg, for reading back
//! what `tarmac lake publish` writes.
//!
//! Found at `$TARMAC_PYICEBERG` (a Python with pyiceberg, pyarrow,
//! SQLAlchemy and psycopg2; `.ci/run` makes that virtualenv from
//! `bench/lake-requirements.txt`), else `<repo>/.venv-lake/bin/python`.
//! Missing: a test skips with a message, except under `CI=true`.

use std::path::PathBuf;

use crate::{in_ci, repo_root};

pub const HOW_TO_GET_PYICEBERG: &str = "set TARMAC_PYICEBERG to a python with pyiceberg, or run: bash bench/py_venv.sh bench/lake-requirements.txt .venv-lake python";

/// The Python to run pyiceberg with, if there is one.
pub fn python(test: &str) -> Option<PathBuf> {
    let p = match std::env::var_os("TARMAC_PYICEBERG") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(".venv-lake/bin/python"),
    };
    if p.is_file() {
        return Some(p);
    }
    if std::env::var_os("TARMAC_PYICEBERG").is_some_and(|v| !v.is_empty()) {
        panic!("{test}: TARMAC_PYICEBERG={} is not a file", p.display());
    }
    if in_ci() {
        panic!("{test}: pyiceberg is required under CI=true ({HOW_TO_GET_PYICEBERG})");
    }
    eprintln!(
        "SKIP {test}: no pyiceberg at {} ({HOW_TO_GET_PYICEBERG})",
        p.display()
    );
    None
}
