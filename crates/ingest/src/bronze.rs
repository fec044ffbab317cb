//! Bronze: one row per record as received, with its provenance.
//!
//! Tables (schema `bronze` of the warehouse file):
//! - `flightlabs_historical`: a row per record of a landed body; the record
//!   itself as JSON and its top-level fields typed. Unique on
//!   `(landing_file, record_index)`.
//! - `quarantine`: records that cannot be parsed or lack `number` or
//!   `movement.scheduledTime.utc`, with the reason and the raw text.
//! - `landed_files`: every landing file loaded, with its counts. A file is
//!   loaded in the same transaction as its rows, so it is in bronze whole or
//!   not at all, and loading it again is a no-op: that is what makes every
//!   command re-runnable and a killed run resumable.

use std::collections::HashSet;
use std::path::Path;

use chrono::{NaiveDate, Utc};
use duckdb::{params, Connection};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::Result;
use crate::landing::{Endpoint, LandedFile};
use crate::positions;

pub const SCHEMA_SQL: &str = r#"
CREATE SCHEMA IF NOT EXISTS bronze;
CREATE TABLE IF NOT EXISTS bronze.landed_files (
    landing_file   VARCHAR PRIMARY KEY,
    source         VARCHAR NOT NULL,
    airport        VARCHAR NOT NULL,
    direction      VARCHAR NOT NULL,
    flight_date    DATE NOT NULL,
    fetch_window   VARCHAR,
    request        VARCHAR,
    http_status    INTEGER,
    fetched_at     TIMESTAMPTZ,
    source_file    VARCHAR,
    source_sha256  VARCHAR,
    bytes          BIGINT NOT NULL,
    sha256         VARCHAR NOT NULL,
    records        INTEGER NOT NULL,
    quarantined    INTEGER NOT NULL,
    loaded_at      TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS bronze.flightlabs_historical (
    landing_file     VARCHAR NOT NULL,
    record_index     INTEGER NOT NULL,
    source           VARCHAR NOT NULL,
    source_file      VARCHAR,
    fetched_at       TIMESTAMPTZ,
    airport          VARCHAR NOT NULL,
    direction        VARCHAR NOT NULL,
    flight_date      DATE NOT NULL,
    fetch_window     VARCHAR,
    number           VARCHAR NOT NULL,
    call_sign        VARCHAR,
    status           VARCHAR,
    codeshare_status VARCHAR,
    is_cargo         BOOLEAN,
    scheduled_utc    VARCHAR NOT NULL,
    record           JSON NOT NULL,
    loaded_at        TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS bronze.quarantine (
    landing_file   VARCHAR NOT NULL,
    record_index   INTEGER NOT NULL,
    source         VARCHAR NOT NULL,
    source_file    VARCHAR,
    fetched_at     TIMESTAMPTZ,
    airport        VARCHAR NOT NULL,
    direction      VARCHAR NOT NULL,
    flight_date    DATE NOT NULL,
    reason         VARCHAR NOT NULL,
    raw            VARCHAR NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL
);
"#;

/// What one load did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadStats {
    pub files: u64,
    /// Records into bronze (movements and positions).
    pub records: u64,
    pub quarantined: u64,
    /// Files that were loaded already and left alone.
    pub skipped: u64,
    /// Positions new to `silver.real_time_planes`.
    pub new_positions: u64,
}

impl LoadStats {
    pub fn add(&mut self, o: LoadStats) {
        self.files += o.files;
        self.records += o.records;
        self.quarantined += o.quarantined;
        self.skipped += o.skipped;
        self.new_positions += o.new_positions;
    }
}

/// Row counts for `tarmac ingest status`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BronzeCounts {
    pub files: u64,
    pub records: u64,
    pub quarantined: u64,
    pub days: u64,
}

/// One line of [`Bronze::by_source`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCount {
    pub source: String,
    pub airport: String,
    pub records: u64,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

pub struct Bronze {
    conn: Connection,
    /// Every landing file bronze holds; None: asked of the database file by
    /// file (see [`Bronze::open_for_append`]).
    loaded: Option<HashSet<String>>,
}

impl Bronze {
    /// Opens (creating if needed) the warehouse file and the bronze tables.
    pub fn open(path: &Path) -> Result<Self> {
        Self::with_connection(Self::connect(path)?)
    }

    /// Opens the warehouse without reading the list of every loaded file:
    /// for a real-time poller that opens it once a poll to add a few files,
    /// and asks about just those.
    pub fn open_for_append(path: &Path) -> Result<Self> {
        let conn = Self::connect(path)?;
        conn.execute_batch(SCHEMA_SQL)?;
        conn.execute_batch(positions::SCHEMA_SQL)?;
        Ok(Self { conn, loaded: None })
    }

    /// Opens the file as the one writer through the warehouse crate, which
    /// waits (bounded, reported) while another process holds it.
    fn connect(path: &Path) -> Result<Connection> {
        Self::connect_waiting(path, warehouse::Wait::from_env())
    }

    fn connect_waiting(path: &Path, wait: warehouse::Wait) -> Result<Connection> {
        Ok(warehouse::open(path, warehouse::Access::Write, &[], wait)?)
    }

    /// [`Bronze::open_for_append`] with one attempt and no wait, for the
    /// real-time poller, which waits in its own loop (it must hear a stop).
    pub fn try_open_for_append(path: &Path) -> Result<Self> {
        let conn = Self::connect_waiting(path, warehouse::Wait::NONE)?;
        conn.execute_batch(SCHEMA_SQL)?;
        conn.execute_batch(positions::SCHEMA_SQL)?;
        Ok(Self { conn, loaded: None })
    }

    /// [`Bronze::open`] with one attempt and no wait (see above).
    pub fn try_open(path: &Path) -> Result<Self> {
        Self::with_connection(Self::connect_waiting(path, warehouse::Wait::NONE)?)
    }

    pub fn with_connection(conn: Connection) -> Result<Self> {
        conn.execute_batch(SCHEMA_SQL)?;
        conn.execute_batch(positions::SCHEMA_SQL)?;
        let mut bronze = Self { conn, loaded: None };
        bronze.refresh_loaded()?;
        Ok(bronze)
    }

    pub(crate) fn refresh_loaded(&mut self) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT landing_file FROM bronze.landed_files")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        self.loaded = Some(rows.collect::<std::result::Result<_, _>>()?);
        Ok(())
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub fn is_loaded(&self, rel: &str) -> bool {
        self.check_loaded(rel).unwrap_or(false)
    }

    fn check_loaded(&self, rel: &str) -> Result<bool> {
        match &self.loaded {
            Some(set) => Ok(set.contains(rel)),
            None => Ok(self.conn.query_row(
                "SELECT count(*) > 0 FROM bronze.landed_files WHERE landing_file = ?",
                [rel],
                |r| r.get(0),
            )?),
        }
    }

    /// Loads landed bodies in one transaction. Files already in bronze are
    /// skipped, so this is safe to call again with the same files.
    pub fn load(&mut self, files: &[(&LandedFile, &[u8])]) -> Result<LoadStats> {
        let mut stats = LoadStats::default();
        let mut todo: Vec<(&LandedFile, &[u8])> = Vec::new();
        for item in files {
            // The same file twice in one call counts once.
            if self.check_loaded(&item.0.rel)? || todo.iter().any(|(f, _)| f.rel == item.0.rel) {
                stats.skipped += 1;
            } else {
                todo.push(*item);
            }
        }
        if todo.is_empty() {
            return Ok(stats);
        }
        let now = Utc::now();
        let tx = self.conn.transaction()?;
        let mut polls: Vec<&str> = Vec::new();
        let mut min_updated = i64::MAX;
        {
            let mut positions_app = tx.appender_to_db("flightlabs_positions", "bronze")?;
            let mut rows = tx.appender_to_db("flightlabs_historical", "bronze")?;
            let mut quarantine = tx.appender_to_db("quarantine", "bronze")?;
            let mut files_app = tx.appender_to_db("landed_files", "bronze")?;
            for (file, body) in &todo {
                let m = &file.meta;
                let date: NaiveDate = m.date;
                let mut ok = 0u64;
                let mut bad = 0u64;
                let mut quarantine_row =
                    |index: i64, reason: &str, raw: &str| -> duckdb::Result<()> {
                        quarantine.append_row(params![
                            file.rel,
                            index,
                            m.source.as_str(),
                            m.source_file,
                            m.fetched_at,
                            m.airport,
                            m.direction.as_str(),
                            date,
                            reason,
                            raw,
                            now
                        ])
                    };
                match parse_records(body) {
                    Err(reason) => {
                        bad += 1;
                        quarantine_row(-1, &reason, &String::from_utf8_lossy(body))?;
                    }
                    Ok(records) if m.endpoint == Endpoint::Flights => {
                        polls.push(&file.rel);
                        for (i, raw) in records.iter().enumerate() {
                            match positions::probe_position(raw.get()) {
                                Ok(p) => {
                                    ok += 1;
                                    min_updated = min_updated.min(p.updated);
                                    positions::append(&mut positions_app, file, i, &p, raw, now)?;
                                }
                                Err(reason) => {
                                    bad += 1;
                                    quarantine_row(i as i64, &reason, raw.get())?;
                                }
                            }
                        }
                    }
                    Ok(records) => {
                        for (i, raw) in records.iter().enumerate() {
                            match probe(raw) {
                                Ok(p) => {
                                    ok += 1;
                                    rows.append_row(params![
                                        file.rel,
                                        i as i64,
                                        m.source.as_str(),
                                        m.source_file,
                                        m.fetched_at,
                                        m.airport,
                                        m.direction.as_str(),
                                        date,
                                        m.window,
                                        p.number,
                                        p.call_sign,
                                        p.status,
                                        p.codeshare_status,
                                        p.is_cargo,
                                        p.scheduled_utc,
                                        raw.get(),
                                        now
                                    ])?;
                                }
                                Err(reason) => {
                                    bad += 1;
                                    quarantine_row(i as i64, &reason, raw.get())?;
                                }
                            }
                        }
                    }
                }
                files_app.append_row(params![
                    file.rel,
                    m.source.as_str(),
                    m.airport,
                    m.direction.as_str(),
                    date,
                    m.window,
                    m.request,
                    m.http_status.map(i32::from),
                    m.fetched_at,
                    m.source_file,
                    m.source_sha256,
                    m.bytes as i64,
                    m.sha256,
                    ok as i64,
                    bad as i64,
                    now
                ])?;
                stats.files += 1;
                stats.records += ok;
                stats.quarantined += bad;
            }
            rows.flush()?;
            positions_app.flush()?;
            quarantine.flush()?;
            files_app.flush()?;
        }
        if min_updated != i64::MAX {
            stats.new_positions = positions::insert_new(&tx, &polls, now, min_updated)?;
        }
        tx.commit()?;
        if let Some(set) = self.loaded.as_mut() {
            for (f, _) in &todo {
                set.insert(f.rel.clone());
            }
        }
        Ok(stats)
    }

    /// Forgets what bronze holds for the days in `[from, to]` (all days when
    /// both are None), so that replay can load them again from landing.
    pub fn clear(&mut self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<()> {
        let from = from.unwrap_or(NaiveDate::MIN);
        let to = to.unwrap_or(NaiveDate::MAX);
        let tx = self.conn.transaction()?;
        for table in ["flightlabs_historical", "quarantine", "landed_files"] {
            tx.execute(
                &format!("DELETE FROM bronze.{table} WHERE flight_date BETWEEN ? AND ?"),
                params![from, to],
            )?;
        }
        positions::clear(&tx, from, to)?;
        tx.commit()?;
        self.refresh_loaded()
    }

    /// Recomputes `silver.real_time_planes` from bronze (after a replay).
    pub fn rebuild_silver(&mut self) -> Result<u64> {
        positions::rebuild_silver(&self.conn)
    }

    pub fn position_counts(&self) -> Result<positions::PositionCounts> {
        positions::counts(&self.conn)
    }

    /// Records per source and airport with their first and last day.
    pub fn by_source(&self) -> Result<Vec<SourceCount>> {
        let mut stmt = self.conn.prepare(
            "SELECT source, airport, count(*), min(flight_date), max(flight_date)
             FROM bronze.flightlabs_historical GROUP BY ALL ORDER BY ALL",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SourceCount {
                source: r.get(0)?,
                airport: r.get(1)?,
                records: r.get::<_, i64>(2)? as u64,
                first: r.get(3)?,
                last: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn counts(&self) -> Result<BronzeCounts> {
        let q = |sql: &str| -> Result<u64> {
            Ok(self.conn.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
        };
        Ok(BronzeCounts {
            files: q("SELECT count(*) FROM bronze.landed_files WHERE landing_file NOT LIKE 'flightlabs/flights/%'")?,
            records: q("SELECT count(*) FROM bronze.flightlabs_historical")?,
            quarantined: q("SELECT count(*) FROM bronze.quarantine")?,
            days: q("SELECT count(DISTINCT (airport, flight_date)) FROM bronze.landed_files WHERE landing_file NOT LIKE 'flightlabs/flights/%'")?,
        })
    }
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default)]
    data: Option<Vec<&'a RawValue>>,
}

/// Splits a landed body (an API envelope) into its raw records.
fn parse_records(body: &[u8]) -> std::result::Result<Vec<&RawValue>, String> {
    let parsed: Body =
        serde_json::from_slice(body).map_err(|e| format!("landed body is not valid JSON: {e}"))?;
    parsed
        .data
        .ok_or_else(|| "landed body has no `data` array".to_string())
}

/// The typed top-level fields of a record.
#[derive(Debug, PartialEq)]
pub struct Probed {
    pub number: String,
    pub call_sign: Option<String>,
    pub status: Option<String>,
    pub codeshare_status: Option<String>,
    pub is_cargo: Option<bool>,
    pub scheduled_utc: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProbeRecord<'a> {
    #[serde(borrow, default)]
    number: Option<&'a RawValue>,
    #[serde(borrow, default)]
    call_sign: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    codeshare_status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    is_cargo: Option<&'a RawValue>,
    #[serde(borrow, default)]
    movement: Option<&'a RawValue>,
    /// Set by the archive importer on a row it could not convert.
    #[serde(rename = "_tarmac_error", default)]
    tarmac_error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProbeMovement<'a> {
    #[serde(borrow, default)]
    scheduled_time: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ProbeTime<'a> {
    #[serde(borrow, default)]
    utc: Option<&'a RawValue>,
}

fn string_of(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(|r| serde_json::from_str::<String>(r.get()).ok())
}

/// Checks what bronze requires of a record and extracts its typed fields.
pub fn probe(raw: &RawValue) -> std::result::Result<Probed, String> {
    let rec: ProbeRecord =
        serde_json::from_str(raw.get()).map_err(|_| "record is not a JSON object".to_string())?;
    if let Some(reason) = rec.tarmac_error {
        return Err(reason);
    }
    let number = string_of(rec.number)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| "missing `number`".to_string())?;
    let scheduled_utc = rec
        .movement
        .and_then(|m| serde_json::from_str::<ProbeMovement>(m.get()).ok())
        .and_then(|m| m.scheduled_time)
        .and_then(|t| serde_json::from_str::<ProbeTime>(t.get()).ok())
        .and_then(|t| string_of(t.utc))
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| "missing `movement.scheduledTime.utc`".to_string())?;
    let is_cargo = rec
        .is_cargo
        .and_then(|r| serde_json::from_str::<bool>(r.get()).ok());
    Ok(Probed {
        number,
        call_sign: string_of(rec.call_sign).filter(|s| !s.is_empty()),
        status: string_of(rec.status),
        codeshare_status: string_of(rec.codeshare_status),
        is_cargo,
        scheduled_utc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landing::{Endpoint, LandingMeta, LandingZone, Source};
    use flightlabs::Direction;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn probes_required_fields() {
        let ok = raw(
            r#"{"number":"AV 1","status":"Arrived","isCargo":false,"callSign":"",
                "movement":{"scheduledTime":{"utc":"2024-08-12 17:00Z"}}}"#,
        );
        let p = probe(&ok).unwrap();
        assert_eq!(p.number, "AV 1");
        assert_eq!(p.call_sign, None);
        assert_eq!(p.is_cargo, Some(false));
        assert_eq!(p.scheduled_utc, "2024-08-12 17:00Z");
        assert_eq!(
            probe(&raw(r#"{"movement":{"scheduledTime":{"utc":"x"}}}"#)).unwrap_err(),
            "missing `number`"
        );
        assert_eq!(
            probe(&raw(r#"{"number":"AV 1","movement":"oops"}"#)).unwrap_err(),
            "missing `movement.scheduledTime.utc`"
        );
        assert_eq!(
            probe(&raw(r#""garbage""#)).unwrap_err(),
            "record is not a JSON object"
        );
    }

    #[test]
    fn loads_once_and_quarantines() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path().join("landing")).unwrap();
        let mut bronze = Bronze::open(&dir.path().join("w.duckdb")).unwrap();
        let body = br#"{"success":true,"data":[
            {"number":"AV 1","movement":{"scheduledTime":{"utc":"2024-08-12 17:00Z","local":"x"}}},
            {"movement":{"scheduledTime":{"utc":"2024-08-12 17:00Z"}}},
            "garbage"]}"#;
        let meta = LandingMeta {
            source: Source::Api,
            endpoint: Endpoint::Historical,
            airport: "BOG".into(),
            direction: Direction::Departure,
            date: NaiveDate::from_ymd_opt(2024, 8, 12).unwrap(),
            window: Some("day".into()),
            request: Some("r".into()),
            http_status: Some(200),
            fetched_at: Some(Utc::now()),
            source_file: None,
            source_sha256: None,
            part: None,
            bytes: 0,
            sha256: String::new(),
            records: 3,
        };
        let f = zone.land(meta, body).unwrap();
        let s = bronze.load(&[(&f, body)]).unwrap();
        assert_eq!((s.files, s.records, s.quarantined), (1, 1, 2));
        let again = bronze.load(&[(&f, body)]).unwrap();
        assert_eq!(again.skipped, 1);
        let c = bronze.counts().unwrap();
        assert_eq!((c.files, c.records, c.quarantined), (1, 1, 2));
        // reopening keeps the memory of what was loaded
        drop(bronze);
        let mut bronze = Bronze::open(&dir.path().join("w.duckdb")).unwrap();
        assert_eq!(bronze.load(&[(&f, body)]).unwrap().skipped, 1);
        let reasons: Vec<String> = bronze
            .connection()
            .prepare("SELECT reason FROM bronze.quarantine ORDER BY record_index")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(reasons, ["missing `number`", "record is not a JSON object"]);
        let json_ok: bool = bronze
            .connection()
            .query_row(
                "SELECT record->>'$.number' = number FROM bronze.flightlabs_historical",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(json_ok);
        bronze.clear(None, None).unwrap();
        assert_eq!(bronze.counts().unwrap(), BronzeCounts::default());
        assert_eq!(bronze.load(&[(&f, body)]).unwrap().records, 1);
    }
}
