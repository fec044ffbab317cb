//! The landing zone: every response body, verbatim, before anything parses it.
//!
//! Layout (all names relative to the landing root, `/` separated; the name
//! of a body is its identity in bronze). The root is a folder or a bucket
//! ([`crate::store`]); the layout is the same in both:
//!
//! ```text
//! flightlabs/historical/code=BOG/type=arrival/date=2024-08-12/
//!     window=0000-1159.obs=1.json.zst          body: its metadata, then the response (zstd)
//! flightlabs/historical/code=BOG/_days/date=2024-08-12.json         day complete
//! flightlabs/historical/code=BOG/_days/dates=2024-08-13..2024-08-31.json  days complete
//! flightlabs/flights/code=BOG/type=arrival/date=2026-11-25/
//!     polled=20261125T001321.123Z.json.zst     one real-time poll
//! archive/historical/date=2024-08-12/
//!     source=2024-08-12.csv.sha=0123456789abcdef.json.zst           one archive file
//! _ledger/ledger.jsonl  (folder) or _ledger/ledger/writer=…/….json (bucket)
//! _rejected/…                                                        bodies that never parsed
//! ```
//!
//! A body is one object: a zstd *skippable frame* holding its metadata as
//! JSON, then the zstd frame of the response. Every zstd reader (`zstdcat`,
//! DuckDB) skips the first frame and yields the response verbatim, and the
//! metadata can never be separated from its body, which a sidecar file
//! could (a crash between two writes, or two workers writing one name).
//! Bodies landed before this format have a `.meta.json` sidecar; they are
//! still read.
//!
//! The first observation of an API window is named `obs=1` and written
//! only if no object has that name ([`Store::put_new`]): two workers that
//! fetch the same window land it once. `--force` lands the next free number.
//! Local writes are atomic (temp file, fsync, rename); object-store writes
//! are single PUTs.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use flightlabs::Direction;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{IngestError, Result};
pub use crate::store::{sync_filesystem, write_atomic, Durability};
use crate::store::{LocalStore, Store};

const BODY_EXT: &str = ".json.zst";
/// The sidecar of a body landed before bodies carried their metadata.
const LEGACY_META_EXT: &str = ".meta.json";
/// Hex characters of an archive file's SHA-256 in its body's name (64 bits).
const ARCHIVE_SHA_CHARS: usize = 16;
/// The magic number of the skippable frame that holds a body's metadata
/// (zstd reserves 0x184D2A50..=0x184D2A5F for frames readers skip).
const META_FRAME_MAGIC: u32 = 0x184D_2A5E;
/// How much of a body a listing reads for its metadata (metadata is a few
/// hundred bytes; a longer one costs a second read).
const META_HEAD: usize = 4096;
/// The ledger, as a log of the store.
const LEDGER: &str = "_ledger/ledger";

/// Where a landed body came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A FlightLabs API response.
    Api,
    /// Records converted from the old pipeline's CSV archive.
    Archive,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Archive => "archive",
        }
    }
}

/// Which FlightLabs endpoint a body answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `/historical`: a day's or window's movements (and the archive's records).
    #[default]
    Historical,
    /// `/flights`: real-time positions, one poll.
    Flights,
}

/// The sidecar of a landed body: the ledger entry of that one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LandingMeta {
    pub source: Source,
    /// Sidecars written before real-time polling existed have none: historical.
    #[serde(default)]
    pub endpoint: Endpoint,
    pub airport: String,
    /// None for an archive body, which holds both directions (one section
    /// each, see [`crate::archive`]).
    pub direction: Option<Direction>,
    /// The airport-local day for `/historical`; the UTC day of the poll for
    /// `/flights` (the ingest crate has no time-zone table).
    pub date: NaiveDate,
    /// `0000-1159`, `1200-2359` or `day` for API bodies; none for the archive
    /// and for polls.
    pub window: Option<String>,
    /// The request, access key redacted.
    pub request: Option<String>,
    pub http_status: Option<u16>,
    pub fetched_at: Option<DateTime<Utc>>,
    /// Archive: the original file name and the SHA-256 of its bytes.
    pub source_file: Option<String>,
    pub source_sha256: Option<String>,
    /// Archive bodies landed before one body per source file: which chunk
    /// of the source file this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// Size and SHA-256 of the uncompressed body.
    pub bytes: u64,
    pub sha256: String,
    pub records: u64,
}

impl LandingMeta {
    /// The sidecar of an API answer for `airport`'s `direction` on `date`,
    /// before anything is known of the request: no window, request, status
    /// or records yet, and the size and checksum that
    /// [`LandingZone::land`] fills in. The batch, delta and real-time paths
    /// (and the tests) set the rest with struct update syntax.
    pub fn api(endpoint: Endpoint, airport: &str, direction: Direction, date: NaiveDate) -> Self {
        LandingMeta {
            source: Source::Api,
            endpoint,
            airport: airport.to_string(),
            direction: Some(direction),
            date,
            window: None,
            request: None,
            http_status: None,
            fetched_at: None,
            source_file: None,
            source_sha256: None,
            part: None,
            bytes: 0,
            sha256: String::new(),
            records: 0,
        }
    }
}

/// A body in the landing zone.
#[derive(Debug, Clone, PartialEq)]
pub struct LandedFile {
    /// Name relative to the landing root with `/` separators: the bronze key.
    pub rel: String,
    pub meta: LandingMeta,
}

/// One line of the ledger: a request and what came of it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub at: DateTime<Utc>,
    pub source: Source,
    pub request: String,
    pub http_status: Option<u16>,
    pub outcome: String,
    pub bytes: Option<u64>,
    pub sha256: Option<String>,
    pub landing_file: Option<String>,
    pub attempts: u32,
    pub error: Option<String>,
}

/// The "day complete" marker of an airport's API day.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DayMarker {
    pub airport: String,
    pub date: NaiveDate,
    pub files: Vec<String>,
    pub completed_at: DateTime<Utc>,
}

/// The marker of a run of consecutive days completed together
/// (`_days/dates=<first>..<last>.json`): a batch marks the days it
/// finished in one object per run instead of one per day, so a year into a
/// bucket costs a handful of requests for its markers, not 365. Its name
/// alone says which days it covers; the body lists each day's bodies.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaysMarker {
    pub airport: String,
    pub days: Vec<DayMarkerDay>,
    pub completed_at: DateTime<Utc>,
}

/// One day of a [`DaysMarker`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DayMarkerDay {
    pub date: NaiveDate,
    pub files: Vec<String>,
}

/// The days a marker's file name covers: `date=D.json` is one day,
/// `dates=A..B.json` every day from A to B; `None` for any other name.
fn marker_days(name: &str) -> Option<Vec<NaiveDate>> {
    let parse = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok();
    let stem = name.strip_suffix(".json")?;
    if let Some(d) = stem.strip_prefix("date=") {
        return Some(vec![parse(d)?]);
    }
    let (a, b) = stem.strip_prefix("dates=")?.split_once("..")?;
    let (a, b) = (parse(a)?, parse(b)?);
    (a <= b).then(|| a.iter_days().take_while(|d| *d <= b).collect())
}

/// Which observation of an API window a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The window's first (`obs=1`): landed only if no worker landed it.
    First,
    /// One more (`--force`): the next number no body has.
    Another,
}

/// What one airport's historical API data in the landing zone holds, read
/// with one listing: the plan of a batch needs it for every day.
#[derive(Debug, Default, Clone)]
pub struct AirportLanded {
    /// Days with a "day complete" marker.
    pub days: BTreeSet<NaiveDate>,
    /// (direction, day, window label) with at least one body.
    pub windows: HashSet<(Direction, NaiveDate, String)>,
}

pub struct LandingZone {
    store: Arc<dyn Store>,
}

/// zstd's level for landed bodies. Level 1 rather than zstd's default 3:
/// FlightLabs JSON repeats itself so much that level 1 already gives ~10x
/// (the 1M-record archive's bodies: 36 MB at level 1, 35 MB at 3), at
/// about half the compression time, which an import spends on the same two
/// cores as parsing and the bronze writer.
pub const BODY_ZSTD_LEVEL: i32 = 1;

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl LandingZone {
    /// A landing zone in a local folder.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Ok(Self {
            store: Arc::new(LocalStore::open(root.as_ref().to_path_buf())?),
        })
    }

    /// A landing zone wherever `location` says: a folder, `file://…`,
    /// `s3://…`, `gs://…` or `az://…` ([`crate::store::open`]).
    pub fn connect(location: &str) -> Result<Self> {
        Ok(Self {
            store: crate::store::open(location)?,
        })
    }

    /// Where it is, for messages (never with a credential).
    pub fn location(&self) -> String {
        self.store.location()
    }

    /// The store under it.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    fn partition_rel(
        source: Source,
        endpoint: Endpoint,
        airport: &str,
        direction: Direction,
        date: NaiveDate,
    ) -> String {
        let top = match (source, endpoint) {
            (Source::Api, Endpoint::Historical) => "flightlabs/historical",
            (Source::Api, Endpoint::Flights) => "flightlabs/flights",
            (Source::Archive, _) => "archive/historical",
        };
        format!(
            "{top}/code={airport}/type={}/date={}",
            direction.as_str(),
            date.format("%Y-%m-%d")
        )
    }

    /// The folder of a body's API partition (airport, direction, day).
    fn partition_of(meta: &LandingMeta) -> String {
        Self::partition_rel(
            meta.source,
            meta.endpoint,
            &meta.airport,
            meta.direction.unwrap_or(Direction::Arrival),
            meta.date,
        )
    }

    /// Where the body of an archive source file lands: known from the file's
    /// name, day and hash alone, before its rows are read, so a file landed
    /// before is recognised without converting it again.
    pub fn archive_rel(file_name: &str, date: NaiveDate, sha256: &str) -> String {
        format!(
            "archive/historical/date={}/source={}.sha={}{BODY_EXT}",
            date.format("%Y-%m-%d"),
            sanitize(file_name),
            &sha256[..ARCHIVE_SHA_CHARS.min(sha256.len())]
        )
    }

    /// The name a body with this metadata lands at; an API window's names
    /// differ only in their observation number.
    fn rel_path(meta: &LandingMeta, obs: u32) -> String {
        if meta.source == Source::Archive {
            return Self::archive_rel(
                meta.source_file.as_deref().unwrap_or("unknown"),
                meta.date,
                meta.source_sha256.as_deref().unwrap_or("0"),
            );
        }
        let dir = Self::partition_of(meta);
        let name = match meta.endpoint {
            Endpoint::Flights => format!(
                "polled={}",
                meta.fetched_at
                    .unwrap_or_else(Utc::now)
                    .format("%Y%m%dT%H%M%S%.3fZ")
            ),
            Endpoint::Historical => format!(
                "window={}.obs={obs}",
                meta.window.as_deref().unwrap_or("day"),
            ),
        };
        format!("{dir}/{name}{BODY_EXT}")
    }

    pub fn exists(&self, rel: &str) -> Result<bool> {
        self.store.exists(rel)
    }

    /// Stores `body` verbatim (zstd) with its metadata, durably, as the
    /// first observation of its window. `None`: another writer landed it.
    pub fn land(&self, meta: LandingMeta, body: &[u8]) -> Result<Option<LandedFile>> {
        self.land_with(meta, body, Durability::Now, Observation::First)
    }

    /// [`land`](Self::land) with a choice of when the bytes must be on disk
    /// and of which observation this is.
    pub fn land_with(
        &self,
        mut meta: LandingMeta,
        body: &[u8],
        durability: Durability,
        observation: Observation,
    ) -> Result<Option<LandedFile>> {
        meta.bytes = body.len() as u64;
        meta.sha256 = sha256_hex(body);
        let compressed = zstd::bulk::compress(body, BODY_ZSTD_LEVEL)
            .map_err(|e| IngestError::Landing(format!("compressing a body: {e}")))?;
        // An archive body says what it holds itself (see `crate::archive`).
        let object = if meta.source == Source::Archive {
            compressed
        } else {
            let meta_json = serde_json::to_vec(&meta).map_err(IngestError::json)?;
            with_meta_frame(&meta_json, &compressed)
        };
        let windowed = meta.source == Source::Api && meta.endpoint == Endpoint::Historical;
        let mut obs = match observation {
            Observation::Another if windowed => self.next_observation(&meta)?,
            _ => 1,
        };
        loop {
            let rel = Self::rel_path(&meta, obs);
            if self.store.put_new(&rel, &object, durability)? {
                return Ok(Some(LandedFile { rel, meta }));
            }
            // Taken: by another worker's first observation (that window has
            // landed), or, for `--force`, by a concurrent new one.
            if observation == Observation::First || !windowed {
                return Ok(None);
            }
            obs += 1;
        }
    }

    /// The lowest observation number above every body of `meta`'s window.
    fn next_observation(&self, meta: &LandingMeta) -> Result<u32> {
        let dir = Self::partition_of(meta);
        let prefix = format!("window={}.", meta.window.as_deref().unwrap_or("day"));
        let mut next = 1;
        for l in self.store.list(&dir)? {
            let name = l.rel.rsplit('/').next().unwrap_or_default();
            let Some(rest) = name.strip_prefix(&prefix) else {
                continue;
            };
            if !name.ends_with(BODY_EXT) {
                continue;
            }
            // Bodies named by fetch time (before observation numbers)
            // count as one each.
            let n = rest
                .strip_prefix("obs=")
                .and_then(|r| r.strip_suffix(BODY_EXT))
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(0);
            next = next.max(n + 1);
        }
        Ok(next)
    }

    /// Sends the ledger lines this process holds back (see
    /// `store::CloudStore`), at the end of a run.
    pub fn flush_ledger(&self) -> Result<()> {
        self.store.flush_log()
    }

    /// Makes every deferred write of this landing zone durable.
    pub fn sync(&self) -> Result<()> {
        self.store.sync()
    }

    /// Reads a body back, uncompressed: the response as it came.
    pub fn read_body(&self, file: &LandedFile) -> Result<Vec<u8>> {
        let raw = self.store.get(&file.rel)?.ok_or_else(|| {
            IngestError::Landing(format!("{} is gone from {}", file.rel, self.location()))
        })?;
        let frame = match meta_frame(&raw) {
            MetaFrame::Whole(_, rest) => rest,
            _ => &raw[..],
        };
        zstd::decode_all(frame).map_err(|e| IngestError::Io {
            path: file.rel.clone(),
            source: e,
        })
    }

    /// What has landed of `airport`'s historical API data: one listing.
    pub fn airport_landed(&self, airport: &str) -> Result<AirportLanded> {
        let mut out = AirportLanded::default();
        let top = format!("flightlabs/historical/code={airport}");
        for l in self.store.list(&top)? {
            let rest = l.rel.strip_prefix(&top).unwrap_or(&l.rel);
            let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
            match parts.as_slice() {
                ["_days", name] => out.days.extend(marker_days(name).unwrap_or_default()),
                [ty, date, name] if name.ends_with(BODY_EXT) => {
                    let direction = match ty.strip_prefix("type=") {
                        Some("arrival") => Direction::Arrival,
                        Some("departure") => Direction::Departure,
                        _ => continue,
                    };
                    let Some(date) = date
                        .strip_prefix("date=")
                        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    else {
                        continue;
                    };
                    if let Some(window) = name
                        .strip_prefix("window=")
                        .and_then(|w| w.split('.').next())
                    {
                        out.windows.insert((direction, date, window.to_string()));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn markers_rel(airport: &str) -> String {
        format!("flightlabs/historical/code={airport}/_days")
    }

    /// Whether `date` of `airport` has a "day complete" marker (its own or
    /// a run's): one listing of the markers.
    pub fn day_landed(&self, airport: &str, date: NaiveDate) -> Result<bool> {
        Ok(self.landed_days(airport)?.binary_search(&date).is_ok())
    }

    /// The names of a day's first observations of `windows`, both
    /// directions, sorted: the bodies of a day whose every window landed
    /// once, whichever worker landed each (a window's first body has that
    /// name by construction). What a batch that fetched the whole day marks
    /// it with, without listing the store.
    pub fn first_observations(airport: &str, date: NaiveDate, windows: &[String]) -> Vec<String> {
        let mut names: Vec<String> = Direction::ALL
            .iter()
            .flat_map(|direction| {
                let dir = Self::partition_rel(
                    Source::Api,
                    Endpoint::Historical,
                    airport,
                    *direction,
                    date,
                );
                windows
                    .iter()
                    .map(move |w| format!("{dir}/window={w}.obs=1{BODY_EXT}"))
            })
            .collect();
        names.sort();
        names
    }

    /// Marks a day complete. Two workers may both mark it, with the same
    /// list of bodies: replacing is harmless.
    pub fn mark_day(&self, airport: &str, date: NaiveDate, files: Vec<String>) -> Result<()> {
        self.mark_days(airport, vec![(date, files)])
    }

    /// Marks days complete, one object per run of consecutive days: a lone
    /// day gets `date=D.json` (a [`DayMarker`]), a run `dates=A..B.json` (a
    /// [`DaysMarker`]). Markers of overlapping runs may coexist (two
    /// workers, or a rerun): a day is complete if any marker covers it.
    pub fn mark_days(&self, airport: &str, days: Vec<(NaiveDate, Vec<String>)>) -> Result<()> {
        let mut days = days;
        days.sort_by_key(|(d, _)| *d);
        days.dedup_by_key(|(d, _)| *d);
        let completed_at = Utc::now();
        let mut runs: Vec<Vec<(NaiveDate, Vec<String>)>> = Vec::new();
        for day in days {
            match runs.last_mut() {
                Some(run) if run.last().and_then(|(d, _)| d.succ_opt()) == Some(day.0) => {
                    run.push(day)
                }
                _ => runs.push(vec![day]),
            }
        }
        let dir = Self::markers_rel(airport);
        for mut run in runs {
            let (rel, json) = if run.len() == 1 {
                let (date, files) = run.pop().expect("a run has a day");
                let marker = DayMarker {
                    airport: airport.to_string(),
                    date,
                    files,
                    completed_at,
                };
                (
                    format!("{dir}/date={}.json", date.format("%Y-%m-%d")),
                    serde_json::to_vec_pretty(&marker),
                )
            } else {
                let (first, last) = (run[0].0, run[run.len() - 1].0);
                let marker = DaysMarker {
                    airport: airport.to_string(),
                    days: run
                        .into_iter()
                        .map(|(date, files)| DayMarkerDay { date, files })
                        .collect(),
                    completed_at,
                };
                (
                    format!(
                        "{dir}/dates={}..{}.json",
                        first.format("%Y-%m-%d"),
                        last.format("%Y-%m-%d")
                    ),
                    serde_json::to_vec_pretty(&marker),
                )
            };
            let json = json.map_err(IngestError::json)?;
            self.store.put(&rel, &json, Durability::Now)?;
        }
        Ok(())
    }

    /// Days of `airport` whose every window and direction landed, sorted.
    pub fn landed_days(&self, airport: &str) -> Result<Vec<NaiveDate>> {
        let days: BTreeSet<NaiveDate> = self
            .store
            .list(&Self::markers_rel(airport))?
            .into_iter()
            .filter_map(|l| marker_days(l.rel.rsplit('/').next()?))
            .flatten()
            .collect();
        Ok(days.into_iter().collect())
    }

    /// Airports that have API days landed.
    pub fn airports(&self) -> Result<Vec<String>> {
        let mut v: Vec<String> = self
            .store
            .list("flightlabs/historical")?
            .into_iter()
            .filter_map(|l| {
                let rest = l.rel.strip_prefix("flightlabs/historical/")?;
                let code = rest.split('/').next()?.strip_prefix("code=")?;
                Some(code.to_string())
            })
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// Every landed body, in name order (deterministic), optionally only the
    /// days in `[from, to]`.
    pub fn list(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Vec<LandedFile>> {
        self.list_except(from, to, |_| false)
    }

    /// [`list`](Self::list) without the bodies for which `skip(rel)` is
    /// true; their metadata is not even read. A real-time poller lands
    /// thousands of files a day, so the resume sweep must not read the
    /// metadata of every file bronze already holds.
    pub fn list_except(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Vec<LandedFile>> {
        self.list_under(
            &[
                "flightlabs/historical",
                "flightlabs/flights",
                "archive/historical",
            ],
            from,
            to,
            &skip,
        )
    }

    /// The names of the API bodies of one airport's day (what its day
    /// marker lists), sorted: a listing per direction, no body read.
    pub fn airport_day_bodies(&self, airport: &str, date: NaiveDate) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for direction in Direction::ALL {
            let dir =
                Self::partition_rel(Source::Api, Endpoint::Historical, airport, direction, date);
            names.extend(
                self.store
                    .list(&dir)?
                    .into_iter()
                    .map(|l| l.rel)
                    .filter(|rel| rel.ends_with(BODY_EXT)),
            );
        }
        names.sort();
        Ok(names)
    }

    fn list_under(
        &self,
        tops: &[&str],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        skip: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<LandedFile>> {
        let mut bodies = Vec::new();
        for top in tops {
            for l in self.store.list(top)? {
                let rel = l.rel;
                if !rel.ends_with(BODY_EXT) || rel.split('/').any(|p| p.starts_with('_')) {
                    continue;
                }
                let day = rel
                    .split('/')
                    .find_map(|p| p.strip_prefix("date="))
                    .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
                if let Some(d) = day {
                    if from.is_some_and(|f| d < f) || to.is_some_and(|t| d > t) {
                        continue;
                    }
                }
                if skip(&rel) {
                    continue;
                }
                bodies.push(rel);
            }
        }
        bodies.sort();
        let heads = self.store.get_heads(&bodies, META_HEAD)?;
        let mut out = Vec::with_capacity(bodies.len());
        for (rel, head) in bodies.into_iter().zip(heads) {
            // gone since the listing (quarantined by another process)
            let Some(head) = head else { continue };
            let meta = self.meta_of(&rel, &head)?;
            out.push(LandedFile { rel, meta });
        }
        Ok(out)
    }

    /// The metadata of the body `rel`, whose first bytes are `head`.
    fn meta_of(&self, rel: &str, head: &[u8]) -> Result<LandingMeta> {
        let bad = |e: String| IngestError::Landing(format!("{rel}: bad metadata: {e}"));
        match meta_frame(head) {
            MetaFrame::Whole(json, _) => {
                serde_json::from_slice(json).map_err(|e| bad(e.to_string()))
            }
            MetaFrame::Longer(len) => {
                let head = self
                    .store
                    .get_head(rel, 8 + len)?
                    .ok_or_else(|| bad("the body vanished".into()))?;
                match meta_frame(&head) {
                    MetaFrame::Whole(json, _) => {
                        serde_json::from_slice(json).map_err(|e| bad(e.to_string()))
                    }
                    _ => Err(bad("the metadata frame is cut short".into())),
                }
            }
            MetaFrame::None => {
                if let Some(bytes) = self.store.get(&format!("{rel}{LEGACY_META_EXT}"))? {
                    return serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()));
                }
                // One body per archive file: what its name says now, the
                // rest from the body when it is loaded.
                if rel.starts_with("archive/") {
                    return archive_meta_from_rel(rel)
                        .ok_or_else(|| bad("not an archive body name".into()));
                }
                Err(bad("no metadata frame and no sidecar".into()))
            }
        }
    }

    /// Appends one entry to the ledger (this writer's part of it). A kill
    /// can cut the last line of a local ledger short; readers skip a line
    /// that does not parse.
    pub fn record(&self, entry: &LedgerEntry) -> Result<()> {
        let line = serde_json::to_vec(entry).map_err(IngestError::json)?;
        self.store.append(LEDGER, &line)
    }

    /// The ledger's entries, every writer's (lines that do not parse are
    /// skipped).
    pub fn ledger(&self) -> Result<Vec<LedgerEntry>> {
        Ok(self
            .store
            .read_log(LEDGER)?
            .iter()
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect())
    }

    /// Keeps a body that never became a valid response, for a person to
    /// see; returns where it is.
    pub fn reject(&self, name: &str, body: &[u8]) -> Result<String> {
        let rel = format!("_rejected/{}", sanitize(name));
        self.store.put(&rel, body, Durability::Now)?;
        Ok(self.describe(&rel))
    }

    /// Moves a body (and a legacy sidecar) under `_rejected/landing/`,
    /// beside `<name>.reason.txt`; returns where it went.
    pub fn quarantine(&self, rel: &str, reason: &str) -> Result<String> {
        let dest = format!("_rejected/landing/{rel}");
        self.store.put(
            &format!("{dest}.reason.txt"),
            reason.as_bytes(),
            Durability::Now,
        )?;
        let sidecar = format!("{rel}{LEGACY_META_EXT}");
        if self.store.exists(&sidecar)? {
            self.store
                .rename(&sidecar, &format!("{dest}{LEGACY_META_EXT}"))?;
        }
        self.store.rename(rel, &dest)?;
        Ok(self.describe(&dest))
    }

    /// Where `rel` is, for a person: a path or a URL.
    pub fn describe(&self, rel: &str) -> String {
        match self.store.local_root() {
            Some(root) => {
                let mut p = root.to_path_buf();
                p.extend(rel.split('/'));
                p.display().to_string()
            }
            None => format!("{}/{rel}", self.location().trim_end_matches('/')),
        }
    }

    /// A digest of what the landing zone holds (names and sizes of its
    /// bodies and markers): the orchestrator's "did new data land" test.
    pub fn fingerprint(&self) -> Result<String> {
        let mut entries: Vec<(String, u64)> = Vec::new();
        for top in ["flightlabs", "archive"] {
            entries.extend(self.store.list(top)?.into_iter().map(|l| (l.rel, l.size)));
        }
        entries.sort();
        let mut h = Sha256::new();
        for (rel, size) in entries {
            h.update(rel.as_bytes());
            h.update(size.to_le_bytes());
        }
        Ok(hex::encode(h.finalize()))
    }
}

/// The metadata frame at the start of a body, if any.
enum MetaFrame<'a> {
    /// The metadata JSON and the rest of the object (the response frame).
    Whole(&'a [u8], &'a [u8]),
    /// A frame of this many bytes of metadata, longer than what was read.
    Longer(usize),
    /// No metadata frame (an archive body, or a body with a sidecar).
    None,
}

fn meta_frame(bytes: &[u8]) -> MetaFrame<'_> {
    if bytes.len() < 8 || bytes[..4] != META_FRAME_MAGIC.to_le_bytes() {
        return MetaFrame::None;
    }
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    match bytes.get(8..8 + len) {
        Some(json) => MetaFrame::Whole(json, &bytes[8 + len..]),
        None => MetaFrame::Longer(len),
    }
}

/// `meta` in a zstd skippable frame, then the compressed body.
fn with_meta_frame(meta: &[u8], compressed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + meta.len() + compressed.len());
    out.extend_from_slice(&META_FRAME_MAGIC.to_le_bytes());
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(meta);
    out.extend_from_slice(compressed);
    out
}

/// What the name of an archive body says: its day and source file name.
/// The airport, hashes and counts are in the body; the loader fills them
/// in ([`LandingMeta::records`] is 0 until then).
fn archive_meta_from_rel(rel: &str) -> Option<LandingMeta> {
    let mut parts = rel.rsplit('/');
    let name = parts.next()?;
    let date = parts.next()?.strip_prefix("date=")?;
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let stem = name.strip_prefix("source=")?.strip_suffix(BODY_EXT)?;
    let (file, sha) = stem.rsplit_once(".sha=")?;
    Some(LandingMeta {
        source: Source::Archive,
        endpoint: Endpoint::Historical,
        airport: String::new(),
        direction: None,
        date,
        window: None,
        request: None,
        http_status: None,
        fetched_at: None,
        source_file: Some(file.to_string()),
        source_sha256: Some(sha.to_string()),
        part: None,
        bytes: 0,
        sha256: String::new(),
        records: 0,
    })
}

/// Makes a string safe as one path component.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(window: &str, at: &str) -> LandingMeta {
        LandingMeta {
            window: Some(window.into()),
            request: Some("http://x/historical?access_key=***".into()),
            http_status: Some(200),
            fetched_at: Some(at.parse().unwrap()),
            records: 1,
            ..LandingMeta::api(
                Endpoint::Historical,
                "BOG",
                Direction::Arrival,
                NaiveDate::from_ymd_opt(2024, 8, 12).unwrap(),
            )
        }
    }

    #[test]
    fn lands_reads_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let body = br#"{"success":true,"data":[{"number":"AV 1"}]}"#;
        let f = zone
            .land(meta("0000-1159", "2024-08-13T01:02:03.456Z"), body)
            .unwrap()
            .unwrap();
        assert_eq!(
            f.rel,
            "flightlabs/historical/code=BOG/type=arrival/date=2024-08-12/window=0000-1159.obs=1.json.zst"
        );
        assert_eq!(zone.read_body(&f).unwrap(), body);
        assert_eq!(f.meta.sha256, sha256_hex(body));
        let landed = zone.airport_landed("BOG").unwrap();
        let d = f.meta.date;
        assert!(landed
            .windows
            .contains(&(Direction::Arrival, d, "0000-1159".to_string())));
        assert_eq!(landed.windows.len(), 1);
        let listed = zone.list(None, None).unwrap();
        assert_eq!(listed, vec![f.clone()]);
        assert!(zone
            .list(Some(d.succ_opt().unwrap()), None)
            .unwrap()
            .is_empty());
        // one file, no sidecar, no temporaries
        let names: Vec<_> = std::fs::read_dir(dir.path().join(f.rel.rsplit_once('/').unwrap().0))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["window=0000-1159.obs=1.json.zst".to_string()]);
    }

    #[test]
    fn a_body_is_a_zstd_file_any_reader_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let body = br#"{"success":true,"data":[]}"#;
        let f = zone
            .land(meta("day", "2024-08-13T01:02:03.456Z"), body)
            .unwrap()
            .unwrap();
        // a plain zstd decoder skips the metadata frame
        let raw = std::fs::read(dir.path().join(&f.rel)).unwrap();
        assert_eq!(zstd::decode_all(&raw[..]).unwrap(), body);
    }

    #[test]
    fn a_window_lands_once_and_force_adds_observations() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let m = meta("0000-1159", "2024-08-13T01:02:03.456Z");
        assert!(zone.land(m.clone(), b"{}").unwrap().is_some());
        // a second worker's first observation of the same window
        assert!(zone.land(m.clone(), b"{\"x\":1}").unwrap().is_none());
        let again = zone
            .land_with(
                m.clone(),
                b"{\"x\":2}",
                Durability::Now,
                Observation::Another,
            )
            .unwrap()
            .unwrap();
        assert!(
            again.rel.ends_with("window=0000-1159.obs=2.json.zst"),
            "{}",
            again.rel
        );
        let listed = zone.list(None, None).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(zone.read_body(&listed[0]).unwrap(), b"{}");
    }

    #[test]
    fn bodies_with_a_sidecar_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let rel = "flightlabs/historical/code=BOG/type=arrival/date=2024-08-12/window=day.fetched=20240813T010203.456Z.json.zst";
        let mut m = meta("day", "2024-08-13T01:02:03.456Z");
        m.sha256 = sha256_hex(b"{}");
        m.bytes = 2;
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, zstd::bulk::compress(b"{}", 3).unwrap()).unwrap();
        std::fs::write(
            format!("{}.meta.json", path.display()),
            serde_json::to_vec(&m).unwrap(),
        )
        .unwrap();
        let listed = zone.list(None, None).unwrap();
        assert_eq!(
            listed,
            vec![LandedFile {
                rel: rel.into(),
                meta: m.clone()
            }]
        );
        assert_eq!(zone.read_body(&listed[0]).unwrap(), b"{}");
        // --force after it numbers from there
        let again = zone
            .land_with(m, b"{}", Durability::Now, Observation::Another)
            .unwrap()
            .unwrap();
        assert!(
            again.rel.ends_with("window=day.obs=1.json.zst"),
            "{}",
            again.rel
        );
        // and quarantine moves both
        let moved = zone.quarantine(rel, "bad").unwrap();
        assert!(moved.contains("_rejected/landing/"), "{moved}");
        assert!(!path.exists());
        assert!(dir
            .path()
            .join(format!("_rejected/landing/{rel}.meta.json"))
            .exists());
    }

    #[test]
    fn runs_of_days_share_a_marker() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let days = [
            "2024-02-27",
            "2024-02-28",
            "2024-02-29",
            "2024-03-01",
            "2024-03-03",
        ];
        zone.mark_days(
            "BOG",
            days.iter()
                .rev()
                .map(|s| (d(s), vec![format!("{s}.json.zst")]))
                .collect(),
        )
        .unwrap();
        let markers = dir.path().join("flightlabs/historical/code=BOG/_days");
        let mut names: Vec<String> = std::fs::read_dir(&markers)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["date=2024-03-03.json", "dates=2024-02-27..2024-03-01.json"]
        );
        let run: DaysMarker = serde_json::from_slice(
            &std::fs::read(markers.join("dates=2024-02-27..2024-03-01.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(run.days.len(), 4);
        assert_eq!(run.days[3].files, ["2024-03-01.json.zst"]);
        let expected: Vec<NaiveDate> = days.iter().map(|s| d(s)).collect();
        assert_eq!(zone.landed_days("BOG").unwrap(), expected);
        assert!(zone.day_landed("BOG", d("2024-02-29")).unwrap());
        assert!(!zone.day_landed("BOG", d("2024-03-02")).unwrap());
        let landed = zone.airport_landed("BOG").unwrap();
        assert_eq!(landed.days.into_iter().collect::<Vec<_>>(), expected);
        // an overlapping marker (a rerun, another worker) changes nothing
        zone.mark_days(
            "BOG",
            vec![(d("2024-03-01"), vec![]), (d("2024-03-02"), vec![])],
        )
        .unwrap();
        assert_eq!(zone.landed_days("BOG").unwrap().len(), 6);
        assert_eq!(marker_days("dates=2024-03-02..2024-03-01.json"), None);
        assert_eq!(marker_days("notes.txt"), None);
    }

    #[test]
    fn day_markers() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let d1 = NaiveDate::from_ymd_opt(2024, 8, 12).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2024, 8, 14).unwrap();
        assert!(zone.landed_days("BOG").unwrap().is_empty());
        zone.mark_day("BOG", d2, vec![]).unwrap();
        zone.mark_day("BOG", d1, vec![]).unwrap();
        assert_eq!(zone.landed_days("BOG").unwrap(), vec![d1, d2]);
        assert!(zone.day_landed("BOG", d1).unwrap());
        assert!(!zone.day_landed("MDE", d1).unwrap());
        assert_eq!(zone.airports().unwrap(), vec!["BOG".to_string()]);
        assert_eq!(
            zone.airport_landed("BOG")
                .unwrap()
                .days
                .into_iter()
                .collect::<Vec<_>>(),
            vec![d1, d2]
        );
    }

    #[test]
    fn the_ledger_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let e = LedgerEntry {
            at: Utc::now(),
            source: Source::Api,
            request: "r".into(),
            http_status: Some(200),
            outcome: "landed".into(),
            bytes: Some(1),
            sha256: None,
            landing_file: None,
            attempts: 1,
            error: None,
        };
        zone.record(&e).unwrap();
        zone.record(&e).unwrap();
        assert_eq!(zone.ledger().unwrap().len(), 2);
        assert!(dir.path().join("_ledger/ledger.jsonl").exists());
    }

    #[test]
    fn the_fingerprint_follows_the_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let a = zone.fingerprint().unwrap();
        zone.record(&LedgerEntry {
            at: Utc::now(),
            source: Source::Api,
            request: "r".into(),
            http_status: None,
            outcome: "failed".into(),
            bytes: None,
            sha256: None,
            landing_file: None,
            attempts: 1,
            error: None,
        })
        .unwrap();
        assert_eq!(zone.fingerprint().unwrap(), a, "the ledger is not data");
        zone.land(meta("day", "2024-08-13T01:02:03.456Z"), b"{}")
            .unwrap();
        assert_ne!(zone.fingerprint().unwrap(), a);
    }

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize("a b/c'd.csv"), "a_b_c_d.csv");
    }
}
