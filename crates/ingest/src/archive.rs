//! Import of the old Python pipeline's CSV archive.
//!
//! Each CSV file (one day of one airport, both directions) is converted to
//! records of the API's shape and landed like an API response, one body per
//! (airport, direction) and chunk of [`PART_RECORDS`]: from there on the
//! archive takes the same path into bronze as the API does. The nested
//! columns are Python literals and go through [`pyliteral`], a real parser.
//!
//! Idempotence: a source file is known by its name and the SHA-256 of its
//! bytes. Its bodies land at paths derived from both, and a marker
//! `archive/_sources/<sha>-<name>.json` is written once all of them landed; a
//! file whose marker exists is not converted again, so importing the same file
//! twice adds nothing. The same day under two names (the two file-name
//! styles) is two sources, kept as two observations with their provenance,
//! and so is a file whose bytes changed (a later fetch of the same day).
//!
//! A row whose literals do not parse is landed as an error record
//! (`_tarmac_error` with the reason and the raw row) that bronze sends to
//! quarantine: nothing is dropped. Problems that make a whole file
//! unreadable (no date in its name, a missing or unknown column, an empty
//! file, a row without a direction) are an error for that file alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDate;
use flightlabs::Direction;

use crate::bronze::{Bronze, LoadStats};
use crate::error::{IngestError, Result};
use crate::landing::{
    sha256_hex, write_file, Durability, Endpoint, LandedFile, LandingMeta, LandingZone, Source,
};
use crate::loader::{load_pending, Writer};
use crate::Progress;

/// Records per landed body: bounds memory on very large archive files.
pub const PART_RECORDS: usize = 50_000;

const REQUIRED: [&str; 10] = [
    "movement",
    "number",
    "status",
    "codeshareStatus",
    "isCargo",
    "aircraft",
    "airline",
    "callSign",
    "flight_type",
    "code",
];
const OPTIONAL: [&str; 1] = ["date"];

/// The date of an archive file, from its name: `2024-08-12.csv` or `2025_03_02.csv`.
pub fn date_from_name(path: &Path) -> Option<NaiveDate> {
    let stem = path.file_stem()?.to_str()?;
    let b = stem.as_bytes();
    // the first run of the shape DDDD?DD?DD where ? is '-' or '_'
    (0..b.len().saturating_sub(9)).find_map(|i| {
        let w = &b[i..i + 10];
        let digits = [0, 1, 2, 3, 5, 6, 8, 9]
            .iter()
            .all(|&k| w[k].is_ascii_digit());
        let seps = matches!(w[4], b'-' | b'_') && w[7] == w[4];
        if !(digits && seps) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| stem[i + r.start..i + r.end].parse::<u32>().ok();
        NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
    })
}

/// Expands folders to the `.csv` files inside them (sorted, recursive).
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| IngestError::io(p, e))?;
        if meta.is_dir() {
            let mut inner = Vec::new();
            walk_csv(p, &mut inner)?;
            inner.sort();
            out.extend(inner);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk_csv(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))? {
        let entry = entry.map_err(|e| IngestError::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            walk_csv(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// What converting one source file produced.
#[derive(Debug)]
pub enum Converted {
    /// The file was imported before: nothing to do.
    AlreadyImported,
    /// Bodies landed, to be loaded into bronze.
    Landed(Vec<(LandedFile, Vec<u8>)>),
}

/// The marker of a source, known by its name and the hash of its bytes.
fn marker_path(zone: &LandingZone, sha: &str, file_name: &str) -> PathBuf {
    let safe: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    zone.root()
        .join("archive")
        .join("_sources")
        .join(format!("{sha}-{safe}.json"))
}

/// Converts one archive file and lands its bodies.
pub fn convert_file(zone: &LandingZone, path: &Path) -> Result<Converted> {
    let bytes = std::fs::read(path).map_err(|e| IngestError::io(path, e))?;
    let sha = sha256_hex(&bytes);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let marker = marker_path(zone, &sha, &file_name);
    if marker.exists() {
        return Ok(Converted::AlreadyImported);
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(IngestError::archive(
            path,
            "the file is empty (no header row)",
        ));
    }
    let date = date_from_name(path).ok_or_else(|| {
        IngestError::archive(
            path,
            "cannot tell the day from the file name (expected YYYY-MM-DD.csv or YYYY_MM_DD.csv)",
        )
    })?;

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(&bytes[..]);
    let headers = reader
        .headers()
        .map_err(|e| IngestError::archive(path, format!("unreadable header: {e}")))?
        .clone();
    let mut index: BTreeMap<&'static str, usize> = BTreeMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim().trim_start_matches('\u{feff}');
        let known = REQUIRED.iter().chain(OPTIONAL.iter()).find(|k| **k == h);
        match known {
            Some(k) => {
                index.insert(k, i);
            }
            None if h.is_empty() || h == "Unnamed: 0" => {} // a pandas index column
            None => {
                return Err(IngestError::archive(
                    path,
                    format!("unknown column `{h}` (expected {})", REQUIRED.join(", ")),
                ))
            }
        }
    }
    if let Some(missing) = REQUIRED.iter().find(|k| !index.contains_key(*k)) {
        return Err(IngestError::archive(
            path,
            format!("missing column `{missing}`"),
        ));
    }

    // (airport, direction) -> parts of records (JSON texts)
    let mut groups: BTreeMap<(String, Direction), Vec<String>> = BTreeMap::new();
    let mut row = csv::StringRecord::new();
    let mut line_no = 1u64;
    loop {
        match reader.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                return Err(IngestError::archive(
                    path,
                    format!("line {}: {e}", line_no + 1),
                ))
            }
        }
        line_no += 1;
        let fields = Fields {
            row: &row,
            index: &index,
        };
        let get = |name: &str| fields.get(name);
        let direction = Direction::parse(get("flight_type")).ok_or_else(|| {
            IngestError::archive(
                path,
                format!(
                    "line {line_no}: flight_type {:?} is neither arrival nor departure",
                    get("flight_type")
                ),
            )
        })?;
        let code = get("code").trim().to_ascii_uppercase();
        if code.is_empty() {
            return Err(IngestError::archive(
                path,
                format!("line {line_no}: empty `code`"),
            ));
        }
        let record = match row_to_json(&fields) {
            Ok(json) => json,
            Err(reason) => error_record(&reason, line_no, &headers, &row),
        };
        groups.entry((code, direction)).or_default().push(record);
    }

    let mut landed = Vec::new();
    for ((airport, direction), records) in groups {
        for (part, chunk) in records.chunks(PART_RECORDS).enumerate() {
            let mut body =
                String::with_capacity(chunk.iter().map(|r| r.len() + 1).sum::<usize>() + 64);
            body.push_str(r#"{"success":true,"source":"archive","data":["#);
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(r);
            }
            body.push_str("]}");
            let meta = LandingMeta {
                source: Source::Archive,
                endpoint: Endpoint::Historical,
                airport: airport.clone(),
                direction,
                date,
                window: None,
                request: None,
                http_status: None,
                fetched_at: None,
                source_file: Some(file_name.clone()),
                source_sha256: Some(sha.clone()),
                part: Some(part as u32),
                bytes: 0,
                sha256: String::new(),
                records: chunk.len() as u64,
            };
            let body = body.into_bytes();
            let file = zone.land_with(meta, &body, Durability::Deferred)?;
            landed.push((file, body));
        }
    }
    let marker_json = serde_json::json!({
        "source_file": path.display().to_string(),
        "sha256": sha,
        "files": landed.iter().map(|(f, _)| f.rel.clone()).collect::<Vec<_>>(),
    });
    write_file(
        &marker,
        &serde_json::to_vec_pretty(&marker_json).map_err(IngestError::json)?,
        Durability::Deferred,
    )?;
    Ok(Converted::Landed(landed))
}

fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping, without building a Value
    let escaped = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string());
    out.push_str(&escaped);
}

/// A CSV row read by column name.
struct Fields<'a> {
    row: &'a csv::StringRecord,
    index: &'a BTreeMap<&'static str, usize>,
}

impl<'a> Fields<'a> {
    fn get(&self, name: &str) -> &'a str {
        self.index
            .get(name)
            .and_then(|&i| self.row.get(i))
            .unwrap_or("")
    }
}

/// One CSV row to a record of the API's shape, as compact JSON.
fn row_to_json(fields: &Fields) -> std::result::Result<String, String> {
    let get = |name: &str| fields.get(name);
    let mut out = String::with_capacity(768);
    out.push_str("{\"movement\":");
    let movement = get("movement");
    if movement.trim().is_empty() {
        return Err("empty `movement`".into());
    }
    pyliteral::to_json(movement, &mut out).map_err(|e| format!("movement: {e}"))?;
    out.push_str(",\"number\":");
    push_json_str(&mut out, get("number").trim());
    let call_sign = get("callSign").trim();
    if !call_sign.is_empty() {
        out.push_str(",\"callSign\":");
        push_json_str(&mut out, call_sign);
    }
    out.push_str(",\"status\":");
    push_json_str(&mut out, get("status").trim());
    out.push_str(",\"codeshareStatus\":");
    push_json_str(&mut out, get("codeshareStatus").trim());
    out.push_str(",\"isCargo\":");
    match get("isCargo").trim() {
        "True" | "true" | "1" => out.push_str("true"),
        "False" | "false" | "0" => out.push_str("false"),
        "" => out.push_str("null"),
        other => return Err(format!("isCargo {other:?} is not a boolean")),
    }
    let aircraft = get("aircraft").trim();
    if !aircraft.is_empty() && aircraft != "nan" {
        out.push_str(",\"aircraft\":");
        pyliteral::to_json(aircraft, &mut out).map_err(|e| format!("aircraft: {e}"))?;
    }
    out.push_str(",\"airline\":");
    let airline = get("airline").trim();
    if airline.is_empty() || airline == "nan" {
        out.push_str("null");
    } else {
        pyliteral::to_json(airline, &mut out).map_err(|e| format!("airline: {e}"))?;
    }
    out.push('}');
    Ok(out)
}

/// A row that could not be converted: kept whole, for quarantine.
fn error_record(
    reason: &str,
    line: u64,
    headers: &csv::StringRecord,
    row: &csv::StringRecord,
) -> String {
    let fields: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .zip(row.iter())
        .map(|(h, v)| (h.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    serde_json::json!({
        "_tarmac_error": format!("archive line {line}: {reason}"),
        "_archive_row": fields,
    })
    .to_string()
}

/// The end-of-run summary of an import.
#[derive(Debug, Default, Clone)]
pub struct ImportSummary {
    pub files: u64,
    /// Files imported before (same bytes): nothing added.
    pub already_imported: u64,
    /// `file: reason` for each file that could not be read.
    pub failed: Vec<String>,
    pub bronze: LoadStats,
    pub resumed: LoadStats,
    pub seconds: f64,
}

/// Imports archive files and folders into landing and bronze.
///
/// Files are converted on `threads` workers while one writer loads bronze;
/// the queue between them is short, so memory stays flat however large the
/// archive. A file that fails is reported and the others go on.
pub fn import(
    zone: &LandingZone,
    bronze: Bronze,
    paths: &[PathBuf],
    threads: usize,
    progress: Arc<dyn Progress>,
) -> Result<(Bronze, ImportSummary)> {
    let started = Instant::now();
    let files = collect_files(paths)?;
    let mut bronze = bronze;
    let mut summary = ImportSummary {
        resumed: load_pending(zone, &mut bronze)?,
        ..Default::default()
    };
    progress.begin("files", files.len() as u64);
    // A queue of 64 bodies (a day file each, ~0.5 MB) keeps memory flat while
    // letting the writer gather large transactions.
    let writer = Writer::spawn_syncing(bronze, 64, Some(zone.root().to_path_buf()));
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(usize, std::result::Result<bool, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            let Some(tx) = writer.sender() else { break };
            let (next, files, outcomes, progress) = (&next, &files, &outcomes, &progress);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = files.get(i) else { break };
                let outcome = match convert_file(zone, path) {
                    Ok(Converted::AlreadyImported) => Ok(false),
                    Ok(Converted::Landed(landed)) => {
                        let mut sent = Ok(true);
                        for item in landed {
                            if tx.send(item).is_err() {
                                sent = Err("the bronze writer stopped".to_string());
                                break;
                            }
                        }
                        sent
                    }
                    Err(e) => {
                        progress.log(&format!("skipped: {e}"));
                        Err(e.to_string())
                    }
                };
                progress.advance(1, &path.display().to_string());
                outcomes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, outcome));
            });
        }
    });
    let (bronze, loaded) = writer.finish()?;
    progress.finish();
    let mut outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    outcomes.sort_by_key(|(i, _)| *i);
    for (_, o) in outcomes {
        match o {
            Ok(true) => summary.files += 1,
            Ok(false) => summary.already_imported += 1,
            Err(e) => summary.failed.push(e),
        }
    }
    summary.bronze = loaded;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok((bronze, summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_from_both_name_styles() {
        let d = NaiveDate::from_ymd_opt(2024, 8, 12).unwrap();
        assert_eq!(date_from_name(Path::new("x/2024-08-12.csv")), Some(d));
        assert_eq!(date_from_name(Path::new("2024_08_12.csv")), Some(d));
        assert_eq!(date_from_name(Path::new("BOG_2024_08_12.csv")), Some(d));
        assert_eq!(date_from_name(Path::new("flights.csv")), None);
        assert_eq!(date_from_name(Path::new("2024-13-12.csv")), None);
    }

    const HEADER: &str = "movement,number,status,codeshareStatus,isCargo,aircraft,airline,callSign,flight_type,code\n";
    const ROW: &str = "\"{'airport': {'icao': 'SKCC', 'iata': 'CUC', 'name': 'Cúcuta', 'timeZone': 'America/Bogota'}, 'scheduledTime': {'utc': '2025-03-02 16:59Z', 'local': '2025-03-02 11:59-05:00'}, 'quality': ['Basic', 'Live']}\",AV 9407,Arrived,IsOperator,False,{'model': 'Airbus A320'},\"{'name': \"\"Côte d'Azur\"\", 'iata': 'AV', 'icao': 'AVA'}\",,arrival,BOG\n";

    fn import(dir: &Path, name: &str, content: &str) -> (LandingZone, Result<Converted>) {
        let zone = LandingZone::open(dir.join("landing")).unwrap();
        let file = dir.join(name);
        std::fs::write(&file, content).unwrap();
        let r = convert_file(&zone, &file);
        (zone, r)
    }

    #[test]
    fn converts_rows_to_api_records() {
        let dir = tempfile::tempdir().unwrap();
        let (zone, r) = import(dir.path(), "2025_03_02.csv", &format!("{HEADER}{ROW}"));
        let Converted::Landed(files) = r.unwrap() else {
            panic!("expected landed")
        };
        assert_eq!(files.len(), 1);
        let (f, body) = &files[0];
        assert_eq!(f.meta.direction, Direction::Arrival);
        assert_eq!(f.meta.date, NaiveDate::from_ymd_opt(2025, 3, 2).unwrap());
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        let rec = &v["data"][0];
        assert_eq!(rec["movement"]["airport"]["name"], "Cúcuta");
        assert_eq!(rec["airline"]["name"], "Côte d'Azur");
        assert_eq!(rec["isCargo"], false);
        assert_eq!(rec["movement"]["quality"][1], "Live");
        assert!(rec.get("callSign").is_none());
        assert_eq!(zone.read_body(f).unwrap(), *body);
        // the same bytes again: nothing to do
        let again = convert_file(&zone, &dir.path().join("2025_03_02.csv")).unwrap();
        assert!(matches!(again, Converted::AlreadyImported));
    }

    #[test]
    fn bad_literal_becomes_an_error_record() {
        let dir = tempfile::tempdir().unwrap();
        let bad = ROW.replace("{'model': 'Airbus A320'}", "{'model': 'Airbus A320}");
        let (_, r) = import(dir.path(), "2025-03-02.csv", &format!("{HEADER}{bad}"));
        let Converted::Landed(files) = r.unwrap() else {
            panic!()
        };
        let v: serde_json::Value = serde_json::from_slice(&files[0].1).unwrap();
        let err = v["data"][0]["_tarmac_error"].as_str().unwrap();
        assert!(err.starts_with("archive line 2: aircraft:"), "{err}");
        assert_eq!(v["data"][0]["_archive_row"]["number"], "AV 9407");
    }

    #[test]
    fn file_level_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let (_, r) = import(dir.path(), "2025-03-02.csv", "");
        assert!(r.unwrap_err().to_string().contains("empty"));
        let (_, r) = import(dir.path(), "flights.csv", &format!("{HEADER}{ROW}"));
        assert!(r.unwrap_err().to_string().contains("file name"));
        let extra = HEADER.replace("code\n", "code,extra\n");
        let (_, r) = import(
            dir.path(),
            "2025-03-03.csv",
            &format!("{extra}{}", ROW.replace("BOG\n", "BOG,x\n")),
        );
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("unknown column `extra`"));
        let (_, r) = import(
            dir.path(),
            "2025-03-04.csv",
            &ROW.replace("arrival", "sideways"),
        );
        assert!(r.is_err());
    }
}
