//! Replay that never leaves bronze emptier than it was, and landing files
//! that cannot be read moved aside instead of stopping every ingest.
//!
//! A replay reads every landing file of its days first. One that does not
//! decompress (a truncated `.zst`) is quarantined: moved with its sidecar under `_rejected/landing/`, beside
//! a `.reason.txt`, and its rows already in bronze are kept as loaded. The
//! rows of the other files are then set aside in `bronze._replay_*` tables in
//! the same transaction that deletes them, the files are loaded again, and
//! the saved rows are dropped once silver is recomputed. If anything fails on
//! the way, or the process dies, the saved rows are put back in one
//! transaction (at once, or by the next ingest command's start-up sweep), so
//! bronze ends as it was before or as the replay made it, never in between.
//! Other processes never see the middle either: the replay holds the
//! warehouse (DuckDB's one writer) from start to end.

use crate::bronze::Bronze;
use crate::error::{IngestError, Result};
use crate::landing::{LandedFile, LandingZone};

/// The bronze tables a replay reloads, each keyed by `landing_file`.
const TABLES: [&str; 4] = [
    "flightlabs_historical",
    "quarantine",
    "landed_files",
    "flightlabs_positions",
];

/// The body of a landing file, or why it cannot be read (a truncated or
/// damaged `.zst` does not decompress).
pub fn check_body(zone: &LandingZone, f: &LandedFile) -> std::result::Result<Vec<u8>, String> {
    zone.read_body(f).map_err(|e| match e {
        IngestError::Io { source, .. } => format!("the body does not decompress: {source}"),
        other => other.to_string(),
    })
}

/// Moves a landing file that cannot be loaded (and a legacy sidecar) under
/// `_rejected/landing/<its name>`, with `<name>.reason.txt` saying why.
/// Later ingests no longer see it; a person can. Returns where it went.
pub fn quarantine_file(zone: &LandingZone, f: &LandedFile, reason: &str) -> Result<String> {
    let text = format!(
        "{}\nquarantined {} from {}\n",
        warehouse::bounded(reason, 500),
        chrono::Utc::now().to_rfc3339(),
        f.rel
    );
    let dest = zone.quarantine(&f.rel, &text)?;
    tracing::warn!(
        "landing file {} cannot be loaded ({}); moved to {dest}",
        f.rel,
        warehouse::bounded(reason, 300),
    );
    Ok(dest)
}

/// Splits `files` into those that load and those quarantined (moved aside).
pub fn validate(
    zone: &LandingZone,
    files: Vec<LandedFile>,
) -> Result<(Vec<LandedFile>, Vec<String>)> {
    let mut good = Vec::with_capacity(files.len());
    let mut rejected = Vec::new();
    for f in files {
        match check_body(zone, &f) {
            Ok(_) => good.push(f),
            Err(reason) => {
                quarantine_file(zone, &f, &reason)?;
                rejected.push(f.rel);
            }
        }
    }
    Ok((good, rejected))
}

/// Sets aside and deletes the bronze rows of `files` (the landing files
/// about to be loaded again), in one transaction. Rows of files that are not
/// reloaded (quarantined now or before) stay as they are.
pub fn set_aside(bronze: &mut Bronze, files: &[LandedFile]) -> Result<()> {
    let conn = bronze.connection();
    conn.execute_batch("BEGIN TRANSACTION")?;
    let run = || -> Result<()> {
        conn.execute_batch(
            "CREATE TABLE bronze._replay_state (started_at TIMESTAMP DEFAULT current_timestamp);
             INSERT INTO bronze._replay_state DEFAULT VALUES;
             CREATE TABLE bronze._replay_files (landing_file VARCHAR);",
        )?;
        {
            let mut app = conn.appender_to_db("_replay_files", "bronze")?;
            for f in files {
                app.append_row([f.rel.as_str()])?;
            }
            app.flush()?;
        }
        for table in TABLES {
            let chosen = "landing_file IN (SELECT landing_file FROM bronze._replay_files)";
            conn.execute_batch(&format!(
                "CREATE TABLE bronze._replay_{table} AS SELECT * FROM bronze.{table} WHERE {chosen};
                 DELETE FROM bronze.{table} WHERE {chosen};"
            ))?;
        }
        Ok(())
    };
    match run() {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    bronze.refresh_loaded()
}

/// The replay succeeded: forget the saved rows.
pub fn discard(bronze: &mut Bronze) -> Result<()> {
    let mut sql = String::from("BEGIN TRANSACTION;");
    for table in TABLES {
        sql.push_str(&format!("DROP TABLE IF EXISTS bronze._replay_{table};"));
    }
    sql.push_str("DROP TABLE IF EXISTS bronze._replay_files; DROP TABLE IF EXISTS bronze._replay_state; COMMIT;");
    bronze.connection().execute_batch(&sql)?;
    Ok(())
}

/// Puts back the rows a replay set aside, if one was cut short (failed, or
/// killed): in one transaction, the replayed days go back to what they held
/// before it. Then silver is recomputed from bronze. Ok(false): nothing to do.
pub fn recover(bronze: &mut Bronze) -> Result<bool> {
    let conn = bronze.connection();
    let pending: bool = conn.query_row(
        "SELECT count(*) > 0 FROM duckdb_tables() WHERE schema_name = 'bronze' AND table_name = '_replay_state'",
        [],
        |r| r.get(0),
    )?;
    if !pending {
        return Ok(false);
    }
    conn.execute_batch("BEGIN TRANSACTION")?;
    let run = || -> Result<()> {
        for table in TABLES {
            conn.execute_batch(&format!(
                "DELETE FROM bronze.{table} WHERE landing_file IN (SELECT landing_file FROM bronze._replay_files);
                 INSERT INTO bronze.{table} SELECT * FROM bronze._replay_{table};
                 DROP TABLE bronze._replay_{table};"
            ))?;
        }
        conn.execute_batch("DROP TABLE bronze._replay_files; DROP TABLE bronze._replay_state;")?;
        Ok(())
    };
    match run() {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    bronze.refresh_loaded()?;
    bronze.rebuild_silver()?;
    tracing::warn!("a replay was cut short; bronze is back as it was before it");
    Ok(true)
}
