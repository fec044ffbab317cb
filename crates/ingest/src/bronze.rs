//! Bronze: one row per record as received, with its provenance.
//!
//! Tables (schema `bronze` of the warehouse file):
//! - `flightlabs_historical`: a row per record of a landed body; the record
//!   itself as JSON and its top-level fields typed. Unique on
//!   `(landing_file, record_index)`.
//! - `quarantine`: records that cannot be parsed or lack the `number` key or
//!   `movement.scheduledTime.utc`, with the reason and the raw text.
//! - `landed_files`: every landing file loaded, with its counts. A file is
//!   loaded in the same transaction as its rows, so it is in bronze whole or
//!   not at all, and loading it again is a no-op: that is what makes every
//!   command re-runnable and a killed run resumable.

use std::collections::HashSet;
use std::ops::Range;
use std::path::Path;
use warehouse::duckdb;

use chrono::{NaiveDate, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use warehouse::duckdb::arrow;
use warehouse::duckdb::arrow::record_batch::RecordBatch;
use warehouse::duckdb::types::{TimeUnit, Value};
use warehouse::duckdb::{params, Connection};

use crate::error::Result;
use crate::landing::{sha256_hex, Endpoint, LandedFile, Source};
use crate::positions;

/// The `record` columns are compressed with zstd, named in the schema:
/// left to choose, DuckDB analyses every candidate (dictionary, FSST,
/// zstd...) for each segment at each checkpoint and picks FSST for records,
/// which are ~400-byte JSON documents with little repetition inside one.
/// Naming zstd skips that analysis: the 1M-record import went from 9.6 s
/// to 7.6 s and its warehouse from 146 MB to 41 MB (release, 2 cores).
/// Tables made before keep what they have (a column's compression cannot
/// be altered); they only miss the speed.
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
    number           VARCHAR,
    call_sign        VARCHAR,
    status           VARCHAR,
    codeshare_status VARCHAR,
    is_cargo         BOOLEAN,
    scheduled_utc    VARCHAR NOT NULL,
    record           JSON USING COMPRESSION zstd NOT NULL,
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

/// Brings a warehouse made before a record without a flight number was
/// accepted (`number` was NOT NULL) up to date; a no-op afterwards.
const MIGRATE_SQL: &str =
    "ALTER TABLE bronze.flightlabs_historical ALTER COLUMN number DROP NOT NULL";

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
    conn: warehouse::Conn,
    /// Every landing file bronze holds; None: asked of the database file by
    /// file (see [`Bronze::open_for_append`]).
    loaded: Option<HashSet<String>>,
}

/// DuckDB's memory limit on the bronze writer's connection. Appending
/// keeps committed blocks in DuckDB's buffer pool until it must evict them,
/// and its default limit is 80% of RAM, so without a cap the process grew
/// with the records imported (debug build: 272 MiB at 100k records, 497 MiB
/// at 1M). The cap must hold one row group being compressed
/// ([`ROW_GROUP_ROWS`] rows of ~500 bytes, ~65 MB) with room to spare: at
/// 64 MB DuckDB spilled each one to a zstd-compressed temporary file and
/// read it back, a sixth of the writer's time (1M records: 5.2 s at 64 MB,
/// 4.75 s at 128 MB, peak RSS 260 -> 318 MiB, flat in the record count).
/// Heavier statements on this connection (replay's set-aside, the real-time
/// silver rebuild) spill to DuckDB's temporary files instead of growing.
pub const BRONZE_MEMORY_LIMIT: &str = "128MB";

/// Rows in one DuckDB row group (its default `ROW_GROUP_SIZE`). A
/// transaction holding at least one full row group is merged into the
/// table as it is at commit: DuckDB compresses and writes each group to the
/// file as soon as it is full. One holding less is copied row by row into
/// the table, logged whole to the WAL and compressed again at the next
/// checkpoint: three passes instead of one. A warehouse made with another
/// row-group size only loses the speed.
pub const ROW_GROUP_ROWS: u64 = 122_880;

/// Rows the writer lets DuckDB's appender gather before handing them over
/// (a flush). A divisor of [`ROW_GROUP_ROWS`], so that flushes fill row
/// groups exactly: left to itself the appender hands over 204,800 rows at
/// a time and leaves a partial group at each hand-over. Small, because the
/// appender copies what it gathers and holds it until the flush: at a
/// whole row group per flush (~60 MB of records) the 1M-record import
/// peaked at 338-371 MiB and the 10M one at 436-477 MiB; at 6,144 rows
/// (three of DuckDB's vectors) 227-242 MiB and 277 MiB, no slower.
pub const FLUSH_ROWS: u64 = 6_144;
const _: () = assert!(ROW_GROUP_ROWS.is_multiple_of(FLUSH_ROWS));

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
        Self::create(&conn)?;
        Ok(Self { conn, loaded: None })
    }

    /// Opens the file as the one writer through the warehouse crate, which
    /// waits (bounded, reported) while another process holds it.
    fn connect(path: &Path) -> Result<warehouse::Conn> {
        Self::connect_waiting(path, warehouse::Wait::from_env())
    }

    fn connect_waiting(path: &Path, wait: warehouse::Wait) -> Result<warehouse::Conn> {
        let conn = warehouse::open(path, warehouse::Access::Write, &[], wait)?;
        conn.execute_batch(&format!("SET memory_limit = '{BRONZE_MEMORY_LIMIT}'"))?;
        Ok(conn)
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

    fn create(conn: &Connection) -> Result<()> {
        conn.execute_batch(SCHEMA_SQL)?;
        conn.execute_batch(positions::SCHEMA_SQL)?;
        let number_required: bool = conn.query_row(
            "SELECT is_nullable = 'NO' FROM information_schema.columns
             WHERE table_schema = 'bronze' AND table_name = 'flightlabs_historical'
               AND column_name = 'number'",
            [],
            |r| r.get(0),
        )?;
        if number_required {
            conn.execute_batch(MIGRATE_SQL)?;
        }
        Ok(())
    }

    pub fn with_connection(conn: impl Into<warehouse::Conn>) -> Result<Self> {
        let conn = conn.into();
        Self::create(&conn)?;
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
        let mut loading = self.begin()?;
        for (file, body) in files {
            loading.append(file, body)?;
        }
        let (stats, loaded) = loading.commit()?;
        self.mark_loaded(loaded);
        Ok(stats)
    }

    /// Opens a transaction that files are appended to one at a time (the
    /// writer appends each body as it arrives instead of waiting for a
    /// whole batch) and that [`Loading::commit`] ends.
    pub fn begin(&self) -> Result<Loading<'_>> {
        self.conn.execute_batch("BEGIN TRANSACTION")?;
        let appenders = (|| -> duckdb::Result<Appenders<'_>> {
            Ok(Appenders {
                positions: self.conn.appender_to_db("flightlabs_positions", "bronze")?,
                rows: self
                    .conn
                    .appender_to_db("flightlabs_historical", "bronze")?,
                quarantine: self.conn.appender_to_db("quarantine", "bronze")?,
                files: self.conn.appender_to_db("landed_files", "bronze")?,
            })
        })();
        let appenders = match appenders {
            Ok(a) => a,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                return Err(e.into());
            }
        };
        Ok(Loading {
            bronze: self,
            appenders: Some(appenders),
            now: Utc::now(),
            polls: Vec::new(),
            min_updated: i64::MAX,
            stats: LoadStats::default(),
            files: Vec::new(),
            done: false,
            unflushed: 0,
        })
    }

    /// Remembers files a committed [`Loading`] loaded.
    pub fn mark_loaded(&mut self, files: Vec<String>) {
        if let Some(set) = self.loaded.as_mut() {
            set.extend(files);
        }
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

struct Appenders<'c> {
    positions: duckdb::Appender<'c>,
    rows: duckdb::Appender<'c>,
    quarantine: duckdb::Appender<'c>,
    files: duckdb::Appender<'c>,
}

/// An open bronze transaction (see [`Bronze::begin`]). Dropped without
/// [`commit`](Self::commit), it rolls back: nothing of it reaches bronze.
pub struct Loading<'c> {
    bronze: &'c Bronze,
    appenders: Option<Appenders<'c>>,
    now: chrono::DateTime<Utc>,
    polls: Vec<String>,
    min_updated: i64,
    stats: LoadStats,
    files: Vec<String>,
    done: bool,
    /// Rows appended to `flightlabs_historical` since the appender last
    /// handed its rows to DuckDB (see [`FLUSH_ROWS`]).
    unflushed: u64,
}

impl Loading<'_> {
    /// Records appended so far.
    pub fn records(&self) -> u64 {
        self.stats.records + self.stats.quarantined
    }

    /// Files appended so far.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// Appends one landed body (skipped if bronze or this transaction
    /// holds it already).
    pub fn append(&mut self, file: &LandedFile, body: &[u8]) -> Result<()> {
        self.append_parsed(file, Parsed::new(file, body.to_vec()))
    }

    /// Appends a body [`Parsed`] on another thread: what the single writer
    /// does itself is only the appending.
    pub fn append_parsed(&mut self, file: &LandedFile, parsed: Parsed) -> Result<()> {
        if self.bronze.check_loaded(&file.rel)? || self.files.contains(&file.rel) {
            self.stats.skipped += 1;
            return Ok(());
        }
        let now = self.now;
        let Some(a) = self.appenders.as_mut() else {
            return Err(crate::IngestError::Interrupted);
        };
        let m = &file.meta;
        let prov = Provenance {
            rel: &file.rel,
            source: m.source.as_str(),
            source_file: m.source_file.as_deref(),
            fetched_at: m.fetched_at,
            airport: &m.airport,
            direction: m.direction.map(|d| d.as_str()).unwrap_or(""),
            date: m.date,
            window: m.window.as_deref(),
            now,
        };
        let mut counts = (0u64, 0u64);
        // What the landed_files row says, where the body knows better
        // than the listing (an archive body carries its own metadata).
        let mut airport = m.airport.clone();
        let mut direction = prov.direction.to_string();
        let mut source_file = m.source_file.clone();
        let mut source_sha = m.source_sha256.clone();
        let Parsed { body, kind } = parsed;
        let text = match &body {
            ParsedBody::Text(t) => t.as_str(),
            ParsedBody::Bytes(_) => "",
        };
        match kind {
            ParsedKind::Bad(reason) => {
                counts.1 += 1;
                prov.quarantine(&mut a.quarantine, -1, &reason, &body.lossy())?;
            }
            ParsedKind::Positions(records) => {
                self.polls.push(file.rel.clone());
                for (i, (range, probed)) in records.into_iter().enumerate() {
                    let raw = &text[range];
                    match probed {
                        Ok(p) => {
                            counts.0 += 1;
                            self.min_updated = self.min_updated.min(p.updated);
                            positions::append(&mut a.positions, file, i, &p, raw, now)?;
                        }
                        Err(reason) => {
                            counts.1 += 1;
                            prov.quarantine(&mut a.quarantine, i as i64, &reason, raw)?;
                        }
                    }
                }
            }
            ParsedKind::Archive {
                file: archive_file,
                sha256,
                sections,
            } => {
                let mut airports: Vec<&str> = Vec::new();
                let mut directions: Vec<&str> = Vec::new();
                let mut index = 0usize;
                for section in &sections {
                    if !airports.contains(&section.airport.as_str()) {
                        airports.push(&section.airport);
                    }
                    if !directions.contains(&section.direction.as_str()) {
                        directions.push(section.direction.as_str());
                    }
                    let sec = Provenance {
                        airport: &section.airport,
                        direction: section.direction.as_str(),
                        source_file: Some(&archive_file),
                        ..prov
                    };
                    let c = sec.append_records(
                        &mut a.rows,
                        &mut self.unflushed,
                        &mut a.quarantine,
                        index,
                        text,
                        &section.records,
                    )?;
                    counts.0 += c.0;
                    counts.1 += c.1;
                    index += section.records.len();
                }
                airport = airports.join(",");
                direction = directions.join(",");
                source_file = Some(archive_file.clone());
                source_sha = Some(sha256);
            }
            ParsedKind::Records(records) => {
                let c = prov.append_records(
                    &mut a.rows,
                    &mut self.unflushed,
                    &mut a.quarantine,
                    0,
                    text,
                    &records,
                )?;
                counts.0 += c.0;
                counts.1 += c.1;
            }
        }
        let body = body.bytes();
        let sha256 = if m.sha256.is_empty() {
            sha256_hex(body)
        } else {
            m.sha256.clone()
        };
        let (ok, bad) = counts;
        a.files.append_row(params![
            file.rel,
            m.source.as_str(),
            airport,
            direction,
            prov.date,
            m.window,
            m.request,
            m.http_status.map(i32::from),
            m.fetched_at,
            source_file,
            source_sha,
            body.len() as i64,
            sha256,
            ok as i64,
            bad as i64,
            now
        ])?;
        self.stats.files += 1;
        self.stats.records += ok;
        self.stats.quarantined += bad;

        self.files.push(file.rel.clone());
        Ok(())
    }

    /// Commits; returns what was loaded and the files, for
    /// [`Bronze::mark_loaded`].
    pub fn commit(mut self) -> Result<(LoadStats, Vec<String>)> {
        if let Some(mut a) = self.appenders.take() {
            a.rows.flush()?;
            a.positions.flush()?;
            a.quarantine.flush()?;
            a.files.flush()?;
        }
        if self.min_updated != i64::MAX {
            let polls: Vec<&str> = self.polls.iter().map(String::as_str).collect();
            self.stats.new_positions =
                positions::insert_new(&self.bronze.conn, &polls, self.now, self.min_updated)?;
        }
        self.bronze.conn.execute_batch("COMMIT")?;
        self.done = true;
        Ok((self.stats, std::mem::take(&mut self.files)))
    }
}

impl Drop for Loading<'_> {
    fn drop(&mut self) {
        if !self.done {
            // The appenders flush what they hold when dropped: into the
            // transaction, before it is rolled back, never after.
            drop(self.appenders.take());
            let _ = self.bronze.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Where a record came from: the provenance columns of its bronze row.
/// Dates and instants are held as DuckDB values: the `chrono` types would
/// reach the appender as text, to be formatted and parsed back for every
/// row.
#[derive(Clone, Copy)]
struct Provenance<'a> {
    rel: &'a str,
    source: &'a str,
    source_file: Option<&'a str>,
    fetched_at: Option<chrono::DateTime<Utc>>,
    airport: &'a str,
    direction: &'a str,
    date: NaiveDate,
    window: Option<&'a str>,
    now: chrono::DateTime<Utc>,
}

/// A DATE as DuckDB stores it (days since 1970-01-01).
fn date_value(d: NaiveDate) -> Value {
    Value::Date32(d.signed_duration_since(NaiveDate::default()).num_days() as i32)
}

/// A TIMESTAMPTZ as DuckDB stores it (microseconds since the epoch, UTC).
fn instant_value(t: Option<chrono::DateTime<Utc>>) -> Value {
    match t {
        Some(t) => Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros()),
        None => Value::Null,
    }
}

impl Provenance<'_> {
    fn quarantine(
        &self,
        app: &mut duckdb::Appender,
        index: i64,
        reason: &str,
        raw: &str,
    ) -> duckdb::Result<()> {
        app.append_row(params![
            self.rel,
            index,
            self.source,
            self.source_file,
            instant_value(self.fetched_at),
            self.airport,
            self.direction,
            date_value(self.date),
            reason,
            raw,
            instant_value(Some(self.now))
        ])
    }

    /// Appends movement records (numbered from `first`; their text is
    /// `body[range]`) to bronze or quarantine; returns (loaded, quarantined).
    /// `unflushed` counts the rows the appender holds: at [`FLUSH_ROWS`]
    /// they are flushed, in the middle of a body if need be (a flush moves
    /// rows into the open transaction; it commits nothing).
    fn append_records(
        &self,
        rows: &mut duckdb::Appender,
        unflushed: &mut u64,
        quarantine: &mut duckdb::Appender,
        first: usize,
        body: &str,
        records: &[(Range<usize>, std::result::Result<Probed, String>)],
    ) -> duckdb::Result<(u64, u64)> {
        let mut bad = 0;
        let mut good: Vec<(i32, &str, &Probed)> = Vec::with_capacity(records.len());
        for (i, (range, probed)) in records.iter().enumerate() {
            let index = (first + i) as i64;
            let raw = &body[range.clone()];
            match probed {
                Ok(p) => good.push((index as i32, raw, p)),
                Err(reason) => {
                    bad += 1;
                    self.quarantine(quarantine, index, reason, raw)?;
                }
            }
        }
        let mut rest = &good[..];
        while !rest.is_empty() {
            let room = (FLUSH_ROWS - *unflushed) as usize;
            let (now, later) = rest.split_at(room.min(rest.len()));
            rows.append_record_batch(self.batch(now))?;
            *unflushed += now.len() as u64;
            if *unflushed == FLUSH_ROWS {
                rows.flush()?;
                *unflushed = 0;
            }
            rest = later;
        }
        Ok((good.len() as u64, bad))
    }

    /// The rows of `good` as one Arrow batch, in the table's column order
    /// ([`HISTORICAL_COLUMNS`]).
    ///
    /// Why Arrow: the appender's row-at-a-time path binds each of the 17
    /// values through `ToSql` and a C call, with three vectors allocated per
    /// row; that was ~30% of the writer thread, the one serial stage of a
    /// load. A batch reaches DuckDB as whole vectors (the provenance columns
    /// are the same value n times). The price is that DuckDB checks each
    /// record is JSON as it casts the VARCHAR column to the table's JSON
    /// (~0.2 s per million records, measured alone), less than it saves.
    fn batch(&self, good: &[(i32, &str, &Probed)]) -> RecordBatch {
        use arrow::array::{
            ArrayRef, BooleanArray, Date32Array, Int32Array, StringArray, TimestampMicrosecondArray,
        };
        use std::sync::Arc;
        let n = good.len();
        let constant = |v: Option<&str>| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
        let instant = |t: Option<chrono::DateTime<Utc>>| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from(vec![t.map(|t| t.timestamp_micros()); n])
                    .with_timezone("UTC"),
            )
        };
        let text = |f: &dyn Fn(&Probed) -> Option<&str>| -> ArrayRef {
            Arc::new(good.iter().map(|(_, _, p)| f(p)).collect::<StringArray>())
        };
        let days = self
            .date
            .signed_duration_since(NaiveDate::default())
            .num_days() as i32;
        let columns: Vec<ArrayRef> = vec![
            constant(Some(self.rel)),
            Arc::new(good.iter().map(|g| g.0).collect::<Int32Array>()),
            constant(Some(self.source)),
            constant(self.source_file),
            instant(self.fetched_at),
            constant(Some(self.airport)),
            constant(Some(self.direction)),
            Arc::new(Date32Array::from(vec![days; n])),
            constant(self.window),
            text(&|p| p.number.as_deref()),
            text(&|p| p.call_sign.as_deref()),
            text(&|p| p.status.as_deref()),
            text(&|p| p.codeshare_status.as_deref()),
            Arc::new(
                good.iter()
                    .map(|(_, _, p)| p.is_cargo)
                    .collect::<BooleanArray>(),
            ),
            text(&|p| Some(p.scheduled_utc.as_str())),
            Arc::new(StringArray::from_iter_values(good.iter().map(|g| g.1))),
            instant(Some(self.now)),
        ];
        // Every column above has exactly `n` rows, so the batch is valid.
        RecordBatch::try_from_iter(HISTORICAL_COLUMNS.iter().copied().zip(columns))
            .expect("every column has one value per record")
    }
}

/// `bronze.flightlabs_historical`'s columns, in order: an appended batch is
/// matched to the table by position (a test holds this list to the schema).
const HISTORICAL_COLUMNS: [&str; 17] = [
    "landing_file",
    "record_index",
    "source",
    "source_file",
    "fetched_at",
    "airport",
    "direction",
    "flight_date",
    "fetch_window",
    "number",
    "call_sign",
    "status",
    "codeshare_status",
    "is_cargo",
    "scheduled_utc",
    "record",
    "loaded_at",
];

/// A landed body split into records and probed, ready for
/// [`Loading::append_parsed`]. Parsing is most of a load's CPU besides
/// DuckDB's own; done by whoever has the body (an import's converter
/// threads, a batch's blocking pool), it leaves the single writer thread
/// only the appending. Records are kept as byte ranges of the body, not
/// copies.
#[derive(Debug, PartialEq)]
pub struct Parsed {
    body: ParsedBody,
    kind: ParsedKind,
}

/// The body: text whenever it is UTF-8 (checked once, here), else bytes
/// (then the whole body goes to quarantine).
#[derive(Debug, PartialEq)]
enum ParsedBody {
    Text(String),
    Bytes(Vec<u8>),
}

impl ParsedBody {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Bytes(b) => b,
        }
    }

    fn lossy(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Text(t) => std::borrow::Cow::Borrowed(t),
            Self::Bytes(b) => String::from_utf8_lossy(b),
        }
    }
}

pub(crate) type Probes<T> = Vec<(Range<usize>, std::result::Result<T, String>)>;

#[derive(Debug, PartialEq)]
enum ParsedKind {
    /// The body does not parse: it is quarantined whole, with the reason.
    Bad(String),
    /// A real-time `/flights` answer.
    Positions(Probes<positions::Position>),
    /// An archive body (see [`crate::archive`]).
    Archive {
        file: String,
        sha256: String,
        sections: Vec<ParsedSection>,
    },
    /// An API answer's movement records.
    Records(Probes<Probed>),
}

/// One airport and direction of an archive body: its records' ranges in
/// the body and what [`probe`] says of each.
#[derive(Debug, PartialEq)]
pub(crate) struct ParsedSection {
    pub airport: String,
    pub direction: flightlabs::Direction,
    pub records: Probes<Probed>,
}

impl Parsed {
    /// An archive body as its converter built it: the converter knows where
    /// each record lies and its typed fields, so the body is not scanned
    /// again (that scan was a tenth of an import's CPU). It must equal
    /// [`Parsed::new`] of the same body; the archive tests hold that.
    pub(crate) fn archive(
        body: String,
        file: String,
        sha256: String,
        sections: Vec<ParsedSection>,
    ) -> Self {
        Self {
            body: ParsedBody::Text(body),
            kind: ParsedKind::Archive {
                file,
                sha256,
                sections,
            },
        }
    }

    /// The body's bytes, as landed.
    pub fn body(&self) -> &[u8] {
        self.body.bytes()
    }

    /// Parses and probes `body`, landed as `file`.
    pub fn new(file: &LandedFile, body: Vec<u8>) -> Self {
        let body = match String::from_utf8(body) {
            Ok(text) => text,
            Err(e) => {
                // the JSON parser names where (it never accepts such a body)
                let bytes = e.into_bytes();
                let reason = match Self::kind(file, &bytes) {
                    ParsedKind::Bad(reason) => reason,
                    _ => "landed body is not valid JSON: it is not UTF-8".to_string(),
                };
                return Self {
                    kind: ParsedKind::Bad(reason),
                    body: ParsedBody::Bytes(bytes),
                };
            }
        };
        let kind = Self::kind(file, body.as_bytes());
        Self {
            body: ParsedBody::Text(body),
            kind,
        }
    }

    fn kind(file: &LandedFile, bytes: &[u8]) -> ParsedKind {
        // where a record borrowed from `bytes` lies in it
        let range = |raw: &RawValue| {
            let start = raw.get().as_ptr() as usize - bytes.as_ptr() as usize;
            start..start + raw.get().len()
        };
        let m = &file.meta;
        if m.endpoint == Endpoint::Flights {
            match parse_records(bytes) {
                Err(reason) => ParsedKind::Bad(reason),
                Ok(records) => ParsedKind::Positions(
                    records
                        .iter()
                        .map(|raw| (range(raw), positions::probe_position(raw.get())))
                        .collect(),
                ),
            }
        } else if m.source == Source::Archive && m.direction.is_none() {
            match parse_archive(bytes) {
                Err(reason) => ParsedKind::Bad(reason),
                Ok(archive) => ParsedKind::Archive {
                    file: archive.archive.file,
                    sha256: archive.archive.sha256,
                    sections: archive
                        .sections
                        .into_iter()
                        .map(|s| ParsedSection {
                            airport: s.airport,
                            direction: s.direction,
                            records: s.data.iter().map(|raw| (range(raw), probe(raw))).collect(),
                        })
                        .collect(),
                },
            }
        } else {
            match parse_records(bytes) {
                Err(reason) => ParsedKind::Bad(reason),
                Ok(records) => ParsedKind::Records(
                    records.iter().map(|raw| (range(raw), probe(raw))).collect(),
                ),
            }
        }
    }
}

/// The header of an archive body: which source file it holds.
#[derive(Deserialize)]
pub(crate) struct ArchiveHeader {
    pub file: String,
    pub sha256: String,
}

/// The records of one airport and direction in an archive body.
#[derive(Deserialize)]
pub(crate) struct ArchiveSection<'a> {
    pub airport: String,
    pub direction: flightlabs::Direction,
    #[serde(borrow)]
    pub data: Vec<&'a RawValue>,
}

/// An archive body (see [`crate::archive`]).
#[derive(Deserialize)]
pub(crate) struct ArchiveBody<'a> {
    pub archive: ArchiveHeader,
    #[serde(borrow)]
    pub sections: Vec<ArchiveSection<'a>>,
}

pub(crate) fn parse_archive(body: &[u8]) -> std::result::Result<ArchiveBody<'_>, String> {
    serde_json::from_slice(body).map_err(|e| format!("landed archive body is not valid: {e}"))
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
    /// None when the record has no flight number (cargo and general
    /// aviation movements often have none: they are real movements).
    pub number: Option<String>,
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

pub(crate) const MISSING_SCHEDULED: &str = "missing `movement.scheduledTime.utc`";

/// `scheduledTime.utc` of a record's `movement` (its JSON text), if it is
/// a string that is not blank.
pub(crate) fn scheduled_utc(movement: &str) -> Option<String> {
    serde_json::from_str::<ProbeMovement>(movement)
        .ok()
        .and_then(|m| m.scheduled_time)
        .and_then(|t| serde_json::from_str::<ProbeTime>(t.get()).ok())
        .and_then(|t| string_of(t.utc))
        .filter(|s| !s.trim().is_empty())
}

/// Checks what bronze requires of a record and extracts its typed fields.
pub fn probe(raw: &RawValue) -> std::result::Result<Probed, String> {
    let rec: ProbeRecord =
        serde_json::from_str(raw.get()).map_err(|_| "record is not a JSON object".to_string())?;
    if let Some(reason) = rec.tarmac_error {
        return Err(reason);
    }
    // The key must be there (the provider always sends it); its value may
    // be empty or null: a movement without a flight number.
    let number = match rec.number.map(|r| r.get()) {
        None => return Err("missing `number`".to_string()),
        Some("null") => None,
        Some(text) => Some(
            serde_json::from_str::<String>(text)
                .map_err(|_| "`number` is not a string".to_string())?
                .trim()
                .to_string(),
        )
        .filter(|s| !s.is_empty()),
    };
    let scheduled_utc = rec
        .movement
        .and_then(|m| scheduled_utc(m.get()))
        .ok_or_else(|| MISSING_SCHEDULED.to_string())?;
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
    use crate::landing::{Endpoint, LandingMeta, LandingZone};
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
        assert_eq!(p.number.as_deref(), Some("AV 1"));
        let cargo = raw(r#"{"number":"","callSign":"TAES123",
                "movement":{"scheduledTime":{"utc":"2024-08-12 17:00Z"}}}"#);
        assert_eq!(probe(&cargo).unwrap().number, None);
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
    fn parsed_bodies_keep_each_record_verbatim_and_bad_bytes_go_whole_to_quarantine() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path().join("landing")).unwrap();
        let bronze = Bronze::open(&dir.path().join("w.duckdb")).unwrap();
        let meta = |day: u32| LandingMeta {
            window: Some("day".into()),
            http_status: Some(200),
            ..LandingMeta::api(
                Endpoint::Historical,
                "BOG",
                Direction::Arrival,
                NaiveDate::from_ymd_opt(2024, 8, day).unwrap(),
            )
        };
        let first =
            r#"{ "number" : "AV 1", "movement":{"scheduledTime":{"utc":"2024-08-12 17:00Z"}}}"#;
        let second = r#"{"number":"Ñ 2","movement":{"scheduledTime":{"utc":"2024-08-12 18:00Z"}}}"#;
        let body = format!("{{\"data\":[ {first},\n{second} ]}}");
        let f = zone.land(meta(12), body.as_bytes()).unwrap().unwrap();
        let mut not_utf8 = br#"{"data":[{"number":"AV 3"}]}"#.to_vec();
        not_utf8[20] = 0xff;
        let g = zone.land(meta(13), &not_utf8).unwrap().unwrap();
        let mut loading = bronze.begin().unwrap();
        loading
            .append_parsed(&f, Parsed::new(&f, body.clone().into_bytes()))
            .unwrap();
        loading
            .append_parsed(&g, Parsed::new(&g, not_utf8.clone()))
            .unwrap();
        loading.commit().unwrap();
        let records: Vec<String> = bronze
            .connection()
            .prepare(
                "SELECT record::VARCHAR FROM bronze.flightlabs_historical ORDER BY record_index",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(records, [first, second]);
        let (reason, raw): (String, String) = bronze
            .connection()
            .query_row(
                "SELECT reason, raw FROM bronze.quarantine WHERE record_index = -1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(
            reason.starts_with("landed body is not valid JSON"),
            "{reason}"
        );
        assert_eq!(raw, String::from_utf8_lossy(&not_utf8));
    }

    /// The schema names zstd for records (see [`SCHEMA_SQL`]); this checks
    /// that DuckDB stores them so once checkpointed, for movements and positions.
    /// Rows reach DuckDB [`FLUSH_ROWS`] at a time, even in the middle of a
    /// body: a large transaction is then whole row groups and one partial.
    #[test]
    fn large_transactions_fill_whole_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path().join("landing")).unwrap();
        let bronze = Bronze::open(&dir.path().join("w.duckdb")).unwrap();
        let meta = |day: u32| LandingMeta {
            window: Some("day".into()),
            http_status: Some(200),
            ..LandingMeta::api(
                Endpoint::Historical,
                "BOG",
                Direction::Arrival,
                NaiveDate::from_ymd_opt(2024, 8, day).unwrap(),
            )
        };
        let body = |n: u64| {
            let records: Vec<String> = (0..n)
                .map(|i| {
                    format!(r#"{{"number":"{i}","movement":{{"scheduledTime":{{"utc":"x"}}}}}}"#)
                })
                .collect();
            format!(r#"{{"data":[{}]}}"#, records.join(","))
        };
        // two bodies; the row-group boundaries fall inside them
        let sizes = [ROW_GROUP_ROWS + 7, 2 * ROW_GROUP_ROWS + 3];
        let mut loading = bronze.begin().unwrap();
        for (day, n) in [12, 13].into_iter().zip(sizes) {
            let b = body(n);
            let f = zone.land(meta(day), b.as_bytes()).unwrap().unwrap();
            loading.append(&f, b.as_bytes()).unwrap();
        }
        let (stats, _) = loading.commit().unwrap();
        assert_eq!(stats.records, sizes.iter().sum::<u64>());
        let groups: Vec<i64> = bronze
            .connection()
            .prepare(
                "SELECT max(count) FROM pragma_storage_info('bronze.flightlabs_historical')
                 WHERE column_name = 'record_index' GROUP BY row_group_id ORDER BY row_group_id",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let full = ROW_GROUP_ROWS as i64;
        assert_eq!(groups, [full, full, full, 10]);
    }

    #[test]
    fn records_are_stored_with_zstd() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.duckdb");
        let bronze = Bronze::open(&path).unwrap();
        let c = bronze.connection();
        c.execute_batch(
            "INSERT INTO bronze.flightlabs_historical
               (landing_file, record_index, source, airport, direction, flight_date,
                scheduled_utc, record, loaded_at)
             SELECT 'f', i, 'api', 'BOG', 'arrival', DATE '2024-08-12', '2024-08-12 17:00Z',
                    printf('{\"number\":\"AV %d\"}', i), now()
             FROM range(500) r(i);
             CHECKPOINT;",
        )
        .unwrap();
        let compression = |table: &str| -> Vec<String> {
            c.prepare(&format!(
                "SELECT DISTINCT compression FROM pragma_storage_info('bronze.{table}')
                 WHERE column_name = 'record' AND segment_type = 'JSON'"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
        };
        assert_eq!(compression("flightlabs_historical"), ["ZSTD"]);
        // positions: the column's declared compression, in the catalog
        let sql: String = c
            .query_row(
                "SELECT sql FROM duckdb_tables()
                 WHERE schema_name = 'bronze' AND table_name = 'flightlabs_positions'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(sql.contains("record JSON USING COMPRESSION ZSTD"), "{sql}");
    }

    #[test]
    fn batch_columns_follow_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let bronze = Bronze::open(&dir.path().join("w.duckdb")).unwrap();
        let names: Vec<String> = bronze
            .connection()
            .prepare(
                "SELECT column_name FROM duckdb_columns()
                 WHERE schema_name = 'bronze' AND table_name = 'flightlabs_historical'
                 ORDER BY column_index",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(names, HISTORICAL_COLUMNS);
    }

    /// Every column of a loaded movement, as DuckDB reads it back: the
    /// batch path must put each value in its column with its type (dates,
    /// instants in UTC, NULLs, indexes that skip a quarantined record).
    #[test]
    fn every_column_lands_as_appended() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path().join("landing")).unwrap();
        let mut bronze = Bronze::open(&dir.path().join("w.duckdb")).unwrap();
        let body = br#"{"success":true,"data":[
            {"number":"AV 1","callSign":"AVA1","status":"Arrived","codeshareStatus":"IsOperator","isCargo":false,"movement":{"scheduledTime":{"utc":"2024-08-12 17:00Z"}}},
            "garbage",
            {"number":"","isCargo":true,"movement":{"scheduledTime":{"utc":"2024-08-12 18:05Z"}}}]}"#;
        let fetched = chrono::DateTime::parse_from_rfc3339("2024-08-13T01:02:03.456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let meta = LandingMeta {
            window: Some("day".into()),
            request: Some("r".into()),
            http_status: Some(200),
            fetched_at: Some(fetched),
            records: 3,
            ..LandingMeta::api(
                Endpoint::Historical,
                "BOG",
                Direction::Arrival,
                NaiveDate::from_ymd_opt(2024, 8, 12).unwrap(),
            )
        };
        let f = zone.land(meta, body).unwrap().unwrap();
        let s = bronze.load(&[(&f, body)]).unwrap();
        assert_eq!((s.records, s.quarantined), (2, 1));
        let rows: Vec<String> = bronze
            .connection()
            .prepare(
                "SELECT concat_ws('|', landing_file = ?, record_index, source,
                        coalesce(source_file, 'NULL'),
                        epoch_us(fetched_at),
                        airport, direction, flight_date, fetch_window,
                        coalesce(number, 'NULL'), coalesce(call_sign, 'NULL'),
                        coalesce(status, 'NULL'), coalesce(codeshare_status, 'NULL'),
                        is_cargo, scheduled_utc, json_valid(record), typeof(record),
                        loaded_at > now() - INTERVAL 1 HOUR)
                 FROM bronze.flightlabs_historical ORDER BY record_index",
            )
            .unwrap()
            .query_map([&f.rel], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let us = fetched.timestamp_micros();
        assert_eq!(us, 1_723_510_923_456_789);
        assert_eq!(
            rows,
            [
                format!("true|0|api|NULL|{us}|BOG|arrival|2024-08-12|day|AV 1|AVA1|Arrived|IsOperator|false|2024-08-12 17:00Z|true|JSON|true"),
                format!("true|2|api|NULL|{us}|BOG|arrival|2024-08-12|day|NULL|NULL|NULL|NULL|true|2024-08-12 18:05Z|true|JSON|true"),
            ]
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
            window: Some("day".into()),
            request: Some("r".into()),
            http_status: Some(200),
            fetched_at: Some(Utc::now()),
            records: 3,
            ..LandingMeta::api(
                Endpoint::Historical,
                "BOG",
                Direction::Departure,
                NaiveDate::from_ymd_opt(2024, 8, 12).unwrap(),
            )
        };
        let f = zone.land(meta, body).unwrap().unwrap();
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
