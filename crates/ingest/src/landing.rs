//! The landing zone: every response body, verbatim, before anything parses it.
//!
//! Layout (all paths relative to the landing root, `/` separated; the relative
//! path of a body is its identity in bronze):
//!
//! ```text
//! flightlabs/historical/code=BOG/type=arrival/date=2024-08-12/
//!     window=0000-1159.fetched=20241124T211400.123Z.json.zst        body, zstd
//!     window=0000-1159.fetched=20241124T211400.123Z.json.zst.meta.json   sidecar
//! flightlabs/historical/code=BOG/_days/date=2024-08-12.json         day complete
//! archive/historical/date=2024-08-12/
//!     source=2024-08-12.csv.sha=0123456789abcdef.json.zst           one archive file, no sidecar
//! _ledger/ledger.jsonl                                               every fetch, ok or not
//! _rejected/…                                                        bodies that never parsed
//! ```
//!
//! Writes are atomic (temp file, fsync, rename, fsync of the directory), so a
//! kill -9 leaves either the whole file or none; the sidecar goes first, so a
//! body never exists without its metadata. Names that start with `.` are
//! temporaries and are ignored (and swept) by readers.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, Utc};
use flightlabs::Direction;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{IngestError, Result};

const BODY_EXT: &str = ".json.zst";
const META_EXT: &str = ".meta.json";
/// Hex characters of an archive file's SHA-256 in its body's name (64 bits).
const ARCHIVE_SHA_CHARS: usize = 16;

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

/// A body in the landing zone.
#[derive(Debug, Clone, PartialEq)]
pub struct LandedFile {
    /// Path relative to the landing root with `/` separators: the bronze key.
    pub rel: String,
    pub path: PathBuf,
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

/// When a landing write reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its directory before returning: for API bodies,
    /// which cannot be fetched again for free.
    Now,
    /// Atomic (temp file and rename) but not yet synced: the caller calls
    /// [`LandingZone::sync`] once for many files before anything that
    /// depends on them is committed. An fsync costs ~3 ms here, so an
    /// archive of thousands of files would spend most of its time in them.
    /// A killed process loses nothing either way (the page cache survives
    /// it); only a power cut before the sync can, and the archive is still
    /// there to import again.
    Deferred,
}

pub struct LandingZone {
    root: PathBuf,
    ledger: Mutex<Option<File>>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl LandingZone {
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| IngestError::io(&root, e))?;
        Ok(Self {
            root,
            ledger: Mutex::new(None),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
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

    /// The relative path a body with this metadata lands at.
    pub fn rel_path(meta: &LandingMeta) -> String {
        if meta.source == Source::Archive {
            return Self::archive_rel(
                meta.source_file.as_deref().unwrap_or("unknown"),
                meta.date,
                meta.source_sha256.as_deref().unwrap_or("0"),
            );
        }
        let dir = Self::partition_rel(
            meta.source,
            meta.endpoint,
            &meta.airport,
            meta.direction.unwrap_or(Direction::Arrival),
            meta.date,
        );
        let name = match meta.endpoint {
            Endpoint::Flights => format!(
                "polled={}",
                meta.fetched_at
                    .unwrap_or_else(Utc::now)
                    .format("%Y%m%dT%H%M%S%.3fZ")
            ),
            Endpoint::Historical => format!(
                "window={}.fetched={}",
                meta.window.as_deref().unwrap_or("day"),
                meta.fetched_at
                    .unwrap_or_else(Utc::now)
                    .format("%Y%m%dT%H%M%S%.3fZ")
            ),
        };
        format!("{dir}/{name}{BODY_EXT}")
    }

    fn abs(&self, rel: &str) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(rel.split('/'));
        p
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.abs(rel).exists()
    }

    /// Stores `body` verbatim (zstd) with its sidecar, atomically and durably.
    pub fn land(&self, meta: LandingMeta, body: &[u8]) -> Result<LandedFile> {
        self.land_with(meta, body, Durability::Now)
    }

    /// [`land`](Self::land) with a choice of when the bytes must be on disk.
    pub fn land_with(
        &self,
        mut meta: LandingMeta,
        body: &[u8],
        durability: Durability,
    ) -> Result<LandedFile> {
        meta.bytes = body.len() as u64;
        meta.sha256 = sha256_hex(body);
        let rel = Self::rel_path(&meta);
        let path = self.abs(&rel);
        let compressed = zstd::bulk::compress(body, 3).map_err(|e| IngestError::io(&path, e))?;
        // An archive body carries its metadata itself (see `crate::archive`):
        // one file per source file instead of two.
        if meta.source != Source::Archive {
            let meta_json = serde_json::to_vec_pretty(&meta).map_err(IngestError::json)?;
            write_file(&sidecar(&path), &meta_json, durability)?;
        }
        write_file(&path, &compressed, durability)?;
        Ok(LandedFile { rel, path, meta })
    }

    /// Makes every deferred write of this landing zone durable.
    pub fn sync(&self) -> Result<()> {
        sync_filesystem(&self.root)
    }

    /// Reads a body back, uncompressed.
    pub fn read_body(&self, file: &LandedFile) -> Result<Vec<u8>> {
        let mut raw = Vec::new();
        File::open(&file.path)
            .and_then(|mut f| f.read_to_end(&mut raw))
            .map_err(|e| IngestError::io(&file.path, e))?;
        zstd::decode_all(&raw[..]).map_err(|e| IngestError::io(&file.path, e))
    }

    /// Whether some body for this API window is already landed.
    pub fn window_landed(
        &self,
        airport: &str,
        direction: Direction,
        date: NaiveDate,
        window: &str,
    ) -> bool {
        let dir = self.abs(&Self::partition_rel(
            Source::Api,
            Endpoint::Historical,
            airport,
            direction,
            date,
        ));
        let prefix = format!("window={window}.");
        match fs::read_dir(&dir) {
            Ok(entries) => entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(&prefix) && name.ends_with(BODY_EXT)
            }),
            Err(_) => false,
        }
    }

    fn day_marker_rel(airport: &str, date: NaiveDate) -> String {
        format!(
            "flightlabs/historical/code={airport}/_days/date={}.json",
            date.format("%Y-%m-%d")
        )
    }

    pub fn day_landed(&self, airport: &str, date: NaiveDate) -> bool {
        self.abs(&Self::day_marker_rel(airport, date)).exists()
    }

    pub fn mark_day(&self, airport: &str, date: NaiveDate, files: Vec<String>) -> Result<()> {
        let marker = DayMarker {
            airport: airport.to_string(),
            date,
            files,
            completed_at: Utc::now(),
        };
        let path = self.abs(&Self::day_marker_rel(airport, date));
        let json = serde_json::to_vec_pretty(&marker).map_err(IngestError::json)?;
        write_atomic(&path, &json)
    }

    /// Days of `airport` whose every window and direction landed, sorted.
    pub fn landed_days(&self, airport: &str) -> Vec<NaiveDate> {
        let dir = self.abs(&format!("flightlabs/historical/code={airport}/_days"));
        let mut days: Vec<NaiveDate> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let d = name.strip_prefix("date=")?.strip_suffix(".json")?;
                NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()
            })
            .collect();
        days.sort();
        days
    }

    /// Airports that have API days landed.
    pub fn airports(&self) -> Vec<String> {
        let dir = self.abs("flightlabs/historical");
        let mut v: Vec<String> = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_string_lossy()
                    .strip_prefix("code=")
                    .map(str::to_string)
            })
            .collect();
        v.sort();
        v
    }

    /// Every landed body, in path order (deterministic), optionally only the
    /// days in `[from, to]`.
    pub fn list(&self, from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Vec<LandedFile>> {
        self.list_except(from, to, |_| false)
    }

    /// [`list`](Self::list) without the bodies for which `skip(rel)` is
    /// true; their sidecars are not even read. A real-time poller lands
    /// thousands of files a day, so the resume sweep must not read the
    /// metadata of every file bronze already holds.
    pub fn list_except(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Vec<LandedFile>> {
        let mut out = Vec::new();
        for top in [
            "flightlabs/historical",
            "flightlabs/flights",
            "archive/historical",
        ] {
            let dir = self.abs(top);
            if dir.exists() {
                self.walk(&dir, from, to, &skip, &mut out)?;
            }
        }
        out.sort_by(|a, b| a.rel.cmp(&b.rel));
        Ok(out)
    }

    fn walk(
        &self,
        dir: &Path,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        skip: &dyn Fn(&str) -> bool,
        out: &mut Vec<LandedFile>,
    ) -> Result<()> {
        let entries = fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| IngestError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".tmp-") {
                sweep_temporary(&path, &name);
                continue;
            }
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                if let Some(d) = name.strip_prefix("date=") {
                    if let Ok(d) = NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                        if from.is_some_and(|f| d < f) || to.is_some_and(|t| d > t) {
                            continue;
                        }
                    }
                }
                self.walk(&path, from, to, skip, out)?;
            } else if name.ends_with(BODY_EXT) {
                let rel = path
                    .strip_prefix(&self.root)
                    .map(|p| {
                        p.components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or_else(|_| name.clone());
                if skip(&rel) {
                    continue;
                }
                let meta_path = sidecar(&path);
                let meta: LandingMeta = match fs::read(&meta_path) {
                    Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                        IngestError::Landing(format!("{}: bad sidecar: {e}", meta_path.display()))
                    })?,
                    // One body per archive file, without a sidecar: what its
                    // path says now, the rest from the body when it is loaded.
                    Err(_) if rel.starts_with("archive/") => match archive_meta_from_rel(&rel) {
                        Some(meta) => meta,
                        None => {
                            return Err(IngestError::Landing(format!(
                                "{}: not an archive body name",
                                path.display()
                            )))
                        }
                    },
                    Err(e) => return Err(IngestError::io(&meta_path, e)),
                };
                out.push(LandedFile { rel, path, meta });
            }
        }
        Ok(())
    }

    /// Appends one line to the ledger. A kill -9 can cut the last line short;
    /// readers skip a line that does not parse.
    pub fn record(&self, entry: &LedgerEntry) -> Result<()> {
        let mut guard = self.ledger.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let dir = self.root.join("_ledger");
            fs::create_dir_all(&dir).map_err(|e| IngestError::io(&dir, e))?;
            let path = dir.join("ledger.jsonl");
            let mut f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)
                .map_err(|e| IngestError::io(&path, e))?;
            // A line torn by a kill must not swallow the next one.
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len > 0 {
                use std::io::{Seek, SeekFrom};
                let mut last = [0u8; 1];
                let torn = f.seek(SeekFrom::End(-1)).is_ok()
                    && f.read_exact(&mut last).is_ok()
                    && last[0] != b'\n';
                if torn {
                    f.write_all(b"\n").map_err(|e| IngestError::io(&path, e))?;
                }
            }
            *guard = Some(f);
        }
        let mut line = serde_json::to_vec(entry).map_err(IngestError::json)?;
        line.push(b'\n');
        if let Some(f) = guard.as_mut() {
            f.write_all(&line)
                .map_err(|e| IngestError::io(&self.root.join("_ledger/ledger.jsonl"), e))?;
        }
        Ok(())
    }

    /// The ledger's entries (lines that do not parse are skipped).
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        let path = self.root.join("_ledger/ledger.jsonl");
        fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Keeps a body that never became a valid response, for a person to see.
    pub fn reject(&self, name: &str, body: &[u8]) -> Result<PathBuf> {
        let path = self.root.join("_rejected").join(sanitize(name));
        write_atomic(&path, body)?;
        Ok(path)
    }
}

/// Removes a temporary left by a process that died mid-write (its name
/// carries the writer's pid); a live writer's temporaries are left alone.
fn sweep_temporary(path: &Path, name: &str) {
    let pid = name
        .strip_prefix(".tmp-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|p| p.parse::<u32>().ok());
    // Without /proc there is no telling whether the writer lives: keep it.
    let dead = pid.is_some_and(|pid| {
        Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
    });
    if dead {
        let _ = fs::remove_file(path);
    }
}

/// What the path of a sidecar-less archive body says: its day and source
/// file name. The airport, hashes and counts are in the body; the loader
/// fills them in ([`LandingMeta::records`] is 0 until then).
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

fn sidecar(body: &Path) -> PathBuf {
    let mut s = body.as_os_str().to_owned();
    s.push(META_EXT);
    PathBuf::from(s)
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

/// Flushes the whole file system holding `path` with one `syncfs`: one
/// call for thousands of deferred writes.
pub fn sync_filesystem(path: &Path) -> Result<()> {
    let dir = File::open(path).map_err(|e| IngestError::io(path, e))?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs only reads the descriptor, which `dir` keeps open.
        let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
        if rc != 0 {
            return Err(IngestError::io(path, std::io::Error::last_os_error()));
        }
    }
    #[cfg(not(target_os = "linux"))]
    dir.sync_all().map_err(|e| IngestError::io(path, e))?;
    Ok(())
}

/// temp file in the same directory, fsync, rename, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, Durability::Now)
}

/// Atomic write; synced now or left to [`LandingZone::sync`].
pub fn write_file(path: &Path, bytes: &[u8], durability: Durability) -> Result<()> {
    let now = durability == Durability::Now;
    let dir = path
        .parent()
        .ok_or_else(|| IngestError::Landing(format!("{} has no parent", path.display())))?;
    fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if now {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if now {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        IngestError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(window: &str, at: &str) -> LandingMeta {
        LandingMeta {
            source: Source::Api,
            endpoint: Endpoint::Historical,
            airport: "BOG".into(),
            direction: Some(Direction::Arrival),
            date: NaiveDate::from_ymd_opt(2024, 8, 12).unwrap(),
            window: Some(window.into()),
            request: Some("http://x/historical?access_key=***".into()),
            http_status: Some(200),
            fetched_at: Some(at.parse().unwrap()),
            source_file: None,
            source_sha256: None,
            part: None,
            bytes: 0,
            sha256: String::new(),
            records: 1,
        }
    }

    #[test]
    fn lands_reads_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let body = br#"{"success":true,"data":[{"number":"AV 1"}]}"#;
        let f = zone
            .land(meta("0000-1159", "2024-08-13T01:02:03.456Z"), body)
            .unwrap();
        assert_eq!(
            f.rel,
            "flightlabs/historical/code=BOG/type=arrival/date=2024-08-12/window=0000-1159.fetched=20240813T010203.456Z.json.zst"
        );
        assert_eq!(zone.read_body(&f).unwrap(), body);
        assert_eq!(f.meta.sha256, sha256_hex(body));
        assert!(zone.window_landed("BOG", Direction::Arrival, f.meta.date, "0000-1159"));
        assert!(!zone.window_landed("BOG", Direction::Arrival, f.meta.date, "1200-2359"));
        let listed = zone.list(None, None).unwrap();
        assert_eq!(listed, vec![f.clone()]);
        let d = f.meta.date;
        assert!(zone
            .list(Some(d.succ_opt().unwrap()), None)
            .unwrap()
            .is_empty());
        // no temporaries left behind
        let names: Vec<_> = fs::read_dir(f.path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    }

    #[test]
    fn day_markers() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let d1 = NaiveDate::from_ymd_opt(2024, 8, 12).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2024, 8, 14).unwrap();
        assert!(zone.landed_days("BOG").is_empty());
        zone.mark_day("BOG", d2, vec![]).unwrap();
        zone.mark_day("BOG", d1, vec![]).unwrap();
        assert_eq!(zone.landed_days("BOG"), vec![d1, d2]);
        assert!(zone.day_landed("BOG", d1));
        assert!(!zone.day_landed("MDE", d1));
        assert_eq!(zone.airports(), vec!["BOG".to_string()]);
    }

    #[test]
    fn ledger_skips_torn_lines() {
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
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("_ledger/ledger.jsonl"))
            .unwrap();
        f.write_all(b"{\"at\":\"20").unwrap();
        drop(f);
        let zone = LandingZone::open(dir.path()).unwrap();
        zone.record(&e).unwrap();
        assert_eq!(zone.ledger().len(), 2);
    }

    #[test]
    fn sweeps_temporaries_of_dead_writers_only() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let part = dir
            .path()
            .join("flightlabs/historical/code=BOG/type=arrival/date=2024-08-12");
        fs::create_dir_all(&part).unwrap();
        // pid 0 is never a live process here; our own pid is alive
        let dead = part.join(".tmp-0-window=day.fetched=x.json.zst");
        let live = part.join(format!(
            ".tmp-{}-window=day.fetched=y.json.zst",
            std::process::id()
        ));
        fs::write(&dead, b"partial").unwrap();
        fs::write(&live, b"partial").unwrap();
        assert!(zone.list(None, None).unwrap().is_empty());
        assert!(!dead.exists());
        assert!(live.exists());
    }

    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize("a b/c'd.csv"), "a_b_c_d.csv");
    }
}
