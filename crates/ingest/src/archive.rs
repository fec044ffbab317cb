//! Import of the old Python pipeline's CSV archive.
//!
//! Each CSV file (one day of one airport, both directions) is converted to
//! records of the API's shape and landed as one body, with no sidecar:
//!
//! ```text
//! {"success":true,"source":"archive",
//!  "archive":{"file":"2024-08-12.csv","sha256":"<64 hex>","date":"2024-08-12"},
//!  "sections":[{"airport":"BOG","direction":"arrival","data":[records…]},
//!              {"airport":"BOG","direction":"departure","data":[records…]}]}
//! ```
//!
//! Why one body: a file per direction plus a sidecar each was five atomic
//! writes per source file and as many files to list and sync; the body
//! carries what the sidecar said, and the loader reads it anyway. The
//! nested columns are Python literals and go through [`pyliteral`], a real
//! parser.
//!
//! Idempotence: a source file is known by its name and the SHA-256 of its
//! bytes, and its body lands at a path made of both
//! ([`LandingZone::archive_rel`]); the body is written atomically, so its
//! existence is the marker that the file was landed, and a file whose body
//! exists is not converted again. The same day under two names (the two
//! file-name styles) is two sources, kept as two observations with their
//! provenance, and so is a file whose bytes changed (a later fetch of the
//! same day).
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

use crate::bronze::{
    scheduled_utc, Bronze, LoadStats, Parsed, ParsedSection, Probed, Probes, MISSING_SCHEDULED,
};
use crate::error::{IngestError, Result};
use crate::landing::{
    sha256_hex, Durability, Endpoint, LandedFile, LandingMeta, LandingZone, Observation, Source,
};
use crate::loader::{load_pending, Writer};
use crate::Progress;

/// Converted bodies that may wait for the bronze writer (a day file each,
/// ~0.3 MB with its parsed records): bounds memory, whatever the size of
/// the archive. The queue must outlast the writer's long stalls: each time
/// a row group ([`ROW_GROUP_ROWS`]) fills, DuckDB compresses and writes it
/// on the writer thread for ~0.3 s, while the converters
/// refill a short queue in a tenth of that and then idle. perf over a
/// 1M-record import with 32 bodies showed stretches of 0.2-0.4 s with the
/// writer alone on a core; with 128 the converters keep working through
/// them (release, 2 cores, medians: 5.07 s -> 4.4 s), for ~45 MiB more
/// peak RSS, flat in the record count.
///
/// [`ROW_GROUP_ROWS`]: crate::bronze::ROW_GROUP_ROWS
const QUEUE_BODIES: usize = 128;

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
    /// Its body landed, to be loaded into bronze; the body comes parsed
    /// (see [`Parsed::archive`]).
    Landed(Box<LandedFile>, Parsed),
}

/// Converts one archive file and lands its body.
pub fn convert_file(zone: &LandingZone, path: &Path, durability: Durability) -> Result<Converted> {
    let bytes = std::fs::read(path).map_err(|e| IngestError::io(path, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
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
    let sha = sha256_hex(&bytes);
    if zone.exists(&LandingZone::archive_rel(&file_name, date, &sha))? {
        return Ok(Converted::AlreadyImported);
    }

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
    let columns = Columns::new(&index);

    // (airport, direction) -> the records' JSON texts, comma-separated, and
    // each record's range in that text with what bronze's probe says of it
    let mut groups: BTreeMap<(String, Direction), (String, Probes<Probed>)> = BTreeMap::new();
    let mut row = csv::StringRecord::new();
    let mut line_no = 1u64;
    let mut records = 0u64;
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
            columns: &columns,
        };
        let direction = Direction::parse(fields.get(Col::FlightType)).ok_or_else(|| {
            IngestError::archive(
                path,
                format!(
                    "line {line_no}: flight_type {:?} is neither arrival nor departure",
                    fields.get(Col::FlightType)
                ),
            )
        })?;
        let code = fields.get(Col::Code).trim();
        if code.is_empty() {
            return Err(IngestError::archive(
                path,
                format!("line {line_no}: empty `code`"),
            ));
        }
        let (out, probes) = match groups.get_mut(&(code.to_string(), direction)) {
            Some(g) => g,
            None => groups
                .entry((code.to_ascii_uppercase(), direction))
                .or_insert_with(|| (String::with_capacity(bytes.len()), Vec::new())),
        };
        if !probes.is_empty() {
            out.push(',');
        }
        let mark = out.len();
        let probed = row_to_json(&fields, out).map_err(|reason| {
            out.truncate(mark);
            let reason = format!("archive line {line_no}: {reason}");
            out.push_str(&error_record(&reason, &headers, &row));
            reason
        });
        probes.push((mark..out.len(), probed.and_then(|p| p)));
        records += 1;
    }

    let mut body =
        String::with_capacity(groups.values().map(|(g, _)| g.len() + 64).sum::<usize>() + 256);
    body.push_str(r#"{"success":true,"source":"archive","archive":{"file":"#);
    push_json_str(&mut body, &file_name);
    body.push_str(r#","sha256":""#);
    body.push_str(&sha);
    body.push_str(r#"","date":""#);
    body.push_str(&date.format("%Y-%m-%d").to_string());
    body.push_str(r#""},"sections":["#);
    let mut airports: Vec<String> = Vec::new();
    let mut sections = Vec::with_capacity(groups.len());
    for (i, ((airport, direction), (data, mut probes))) in groups.into_iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(r#"{"airport":"#);
        push_json_str(&mut body, &airport);
        body.push_str(r#","direction":""#);
        body.push_str(direction.as_str());
        body.push_str(r#"","data":["#);
        let at = body.len();
        body.push_str(&data);
        body.push_str("]}");
        for (range, _) in &mut probes {
            *range = range.start + at..range.end + at;
        }
        if airports.last() != Some(&airport) {
            airports.push(airport.clone());
        }
        sections.push(ParsedSection {
            airport,
            direction,
            records: probes,
        });
    }
    body.push_str("]}");
    let airport = airports.join(",");
    let meta = LandingMeta {
        source: Source::Archive,
        endpoint: Endpoint::Historical,
        airport,
        direction: None,
        date,
        window: None,
        request: None,
        http_status: None,
        fetched_at: None,
        source_file: Some(file_name.clone()),
        source_sha256: Some(sha.clone()),
        part: None,
        bytes: 0,
        sha256: String::new(),
        records,
    };
    // None: another importer landed the same file since the check above.
    match zone.land_with(meta, body.as_bytes(), durability, Observation::First)? {
        Some(file) => Ok(Converted::Landed(
            Box::new(file),
            Parsed::archive(body, file_name, sha, sections),
        )),
        None => Ok(Converted::AlreadyImported),
    }
}

/// Appends `s` as a JSON string (quotes, backslashes and control
/// characters escaped; everything else copied).
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The columns the converter reads, resolved to their positions once per file.
#[derive(Clone, Copy)]
enum Col {
    Movement,
    Number,
    Status,
    CodeshareStatus,
    IsCargo,
    Aircraft,
    Airline,
    CallSign,
    FlightType,
    Code,
}

struct Columns([usize; 10]);

impl Columns {
    fn new(index: &BTreeMap<&'static str, usize>) -> Self {
        let mut at = [usize::MAX; 10];
        for (i, name) in REQUIRED.iter().enumerate() {
            at[i] = index.get(name).copied().unwrap_or(usize::MAX);
        }
        Columns(at)
    }
}

/// A CSV row read by column name.
struct Fields<'a> {
    row: &'a csv::StringRecord,
    columns: &'a Columns,
}

impl<'a> Fields<'a> {
    fn get(&self, col: Col) -> &'a str {
        self.row.get(self.columns.0[col as usize]).unwrap_or("")
    }
}

/// What bronze's [`probe`](crate::bronze::probe) says of a record.
type RowProbe = std::result::Result<Probed, String>;

/// One CSV row to a record of the API's shape, appended to `out` as compact
/// JSON (on error `out` may hold part of it; the caller truncates). Ok
/// holds what the probe would say of the record, read from the fields it
/// was made of instead of from the JSON just written.
fn row_to_json(fields: &Fields, out: &mut String) -> std::result::Result<RowProbe, String> {
    let get = |col: Col| fields.get(col);
    out.push_str("{\"movement\":");
    let movement = get(Col::Movement);
    if movement.trim().is_empty() {
        return Err("empty `movement`".into());
    }
    let at = out.len();
    pyliteral::to_json(movement, out).map_err(|e| format!("movement: {e}"))?;
    let scheduled = scheduled_utc(&out[at..]);
    out.push_str(",\"number\":");
    let number = get(Col::Number).trim();
    push_json_str(out, number);
    let call_sign = get(Col::CallSign).trim();
    if !call_sign.is_empty() {
        out.push_str(",\"callSign\":");
        push_json_str(out, call_sign);
    }
    let status = get(Col::Status).trim();
    out.push_str(",\"status\":");
    push_json_str(out, status);
    let codeshare_status = get(Col::CodeshareStatus).trim();
    out.push_str(",\"codeshareStatus\":");
    push_json_str(out, codeshare_status);
    out.push_str(",\"isCargo\":");
    let is_cargo = match get(Col::IsCargo).trim() {
        "True" | "true" | "1" => Some(true),
        "False" | "false" | "0" => Some(false),
        "" => None,
        other => return Err(format!("isCargo {other:?} is not a boolean")),
    };
    out.push_str(match is_cargo {
        Some(true) => "true",
        Some(false) => "false",
        None => "null",
    });
    let aircraft = get(Col::Aircraft).trim();
    if !aircraft.is_empty() && aircraft != "nan" {
        out.push_str(",\"aircraft\":");
        pyliteral::to_json(aircraft, out).map_err(|e| format!("aircraft: {e}"))?;
    }
    out.push_str(",\"airline\":");
    let airline = get(Col::Airline).trim();
    if airline.is_empty() || airline == "nan" {
        out.push_str("null");
    } else {
        pyliteral::to_json(airline, out).map_err(|e| format!("airline: {e}"))?;
    }
    out.push('}');
    Ok(match scheduled {
        None => Err(MISSING_SCHEDULED.to_string()),
        Some(scheduled_utc) => Ok(Probed {
            number: Some(number.to_string()).filter(|n| !n.is_empty()),
            call_sign: Some(call_sign.to_string()).filter(|c| !c.is_empty()),
            status: Some(status.to_string()),
            codeshare_status: Some(codeshare_status.to_string()),
            is_cargo,
            scheduled_utc,
        }),
    })
}

/// A row that could not be converted: kept whole, for quarantine.
fn error_record(reason: &str, headers: &csv::StringRecord, row: &csv::StringRecord) -> String {
    let fields: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .zip(row.iter())
        .map(|(h, v)| (h.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    serde_json::json!({
        "_tarmac_error": reason,
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

/// How an import runs.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Converter threads (the bronze writer is one more).
    pub threads: usize,
    /// Make landed bodies durable (one `syncfs` before each bronze commit)
    /// before bronze counts them. Off only to measure what that costs
    /// (`bench/import.sh`): a power cut could then leave bronze rows whose
    /// landing file is gone.
    pub durable: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            durable: true,
        }
    }
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
    options: ImportOptions,
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
    // A short queue of bodies (a day file each, ~0.5 MB) keeps memory flat
    // while letting the writer gather large transactions.
    let sync = options.durable.then(|| zone.store());
    let writer = Writer::spawn_syncing(bronze, QUEUE_BODIES, sync);
    let next = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(usize, std::result::Result<bool, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..options.threads.max(1) {
            let Some(tx) = writer.sender() else { break };
            let (next, files, outcomes, progress) = (&next, &files, &outcomes, &progress);
            scope.spawn(move || {
                crate::loader::yield_to_writer();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let outcome = match convert_file(zone, path, Durability::Deferred) {
                        Ok(Converted::AlreadyImported) => Ok(false),
                        Ok(Converted::Landed(file, parsed)) => {
                            match tx.send_parsed(*file, parsed) {
                                Ok(()) => Ok(true),
                                Err(_) => Err("the bronze writer stopped".to_string()),
                            }
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
                }
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
        let r = convert_file(&zone, &file, Durability::Deferred);
        (zone, r)
    }

    #[test]
    fn converts_rows_to_api_records() {
        let dir = tempfile::tempdir().unwrap();
        let dep = ROW.replace(",arrival,", ",departure,");
        let (zone, r) = import(dir.path(), "2025_03_02.csv", &format!("{HEADER}{ROW}{dep}"));
        let Converted::Landed(f, parsed) = r.unwrap() else {
            panic!("expected landed")
        };
        let body = parsed.body().to_vec();
        // one body for the whole file, no sidecar
        assert_eq!(f.meta.direction, None);
        assert_eq!(f.meta.airport, "BOG");
        assert_eq!(f.meta.records, 2);
        assert_eq!(f.meta.date, NaiveDate::from_ymd_opt(2025, 3, 2).unwrap());
        assert!(f
            .rel
            .starts_with("archive/historical/date=2025-03-02/source=2025_03_02.csv.sha="));
        let siblings = std::fs::read_dir(
            dir.path()
                .join("landing")
                .join(f.rel.rsplit_once('/').unwrap().0),
        )
        .unwrap()
        .count();
        assert_eq!(siblings, 1);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["archive"]["file"], "2025_03_02.csv");
        assert_eq!(v["archive"]["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(v["sections"][0]["direction"], "arrival");
        assert_eq!(v["sections"][1]["direction"], "departure");
        assert_eq!(v["sections"][1]["airport"], "BOG");
        let rec = &v["sections"][0]["data"][0];
        assert_eq!(rec["movement"]["airport"]["name"], "Cúcuta");
        assert_eq!(rec["airline"]["name"], "Côte d'Azur");
        assert_eq!(rec["isCargo"], false);
        assert_eq!(rec["movement"]["quality"][1], "Live");
        assert!(rec.get("callSign").is_none());
        assert_eq!(zone.read_body(&f).unwrap(), body);
        // the listing knows it without a sidecar
        let listed = zone.list(None, None).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].rel, f.rel);
        assert_eq!(listed[0].meta.source, Source::Archive);
        // the same bytes again: nothing to do
        let again = convert_file(
            &zone,
            &dir.path().join("2025_03_02.csv"),
            Durability::Deferred,
        )
        .unwrap();
        assert!(matches!(again, Converted::AlreadyImported));
    }

    /// The converter hands bronze its records already split and probed;
    /// that must be exactly what bronze would find in the landed body.
    fn assert_handover_matches_bronze(zone: &LandingZone, path: &Path) {
        match convert_file(zone, path, Durability::Deferred).unwrap() {
            Converted::Landed(file, parsed) => {
                let again = Parsed::new(&file, parsed.body().to_vec());
                assert_eq!(parsed, again, "{}", path.display());
            }
            Converted::AlreadyImported => panic!("{} was imported before", path.display()),
        }
    }

    #[test]
    fn handover_equals_bronze_parse_on_edge_rows() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path().join("landing")).unwrap();
        let rows = [
            ROW.to_string(),
            ROW.replace(",arrival,", ",departure,"),
            // no flight number, a callsign, cargo unknown, another airport in lower case
            ROW.replace("AV 9407", "")
                .replace(",False,", ",,")
                .replace(",,arrival,BOG", ",TAES123,arrival,mde"),
            // a number and status with spaces and a control character to escape
            ROW.replace("AV 9407,Arrived", "\" AV\u{1} 1 \",\" Landed \""),
            // not a boolean, a bad literal: error records
            ROW.replace(",False,", ",maybe,"),
            ROW.replace("{'model': 'Airbus A320'}", "{'model': 'Airbus A320}"),
            // no scheduled time, a blank one, a movement that is not a dict
            ROW.replace("'scheduledTime'", "'revisedTime'"),
            ROW.replace("'utc': '2025-03-02 16:59Z'", "'utc': '  '"),
            ROW.replacen(&ROW[..ROW.find(",AV").unwrap()], "\"'just text'\"", 1),
            // nan cells, as pandas wrote them
            ROW.replace("{'model': 'Airbus A320'}", "nan"),
        ];
        let file = dir.path().join("2025-03-02.csv");
        std::fs::write(&file, format!("{HEADER}{}", rows.concat())).unwrap();
        assert_handover_matches_bronze(&zone, &file);
    }

    #[test]
    fn handover_equals_bronze_parse_on_the_shared_archive() {
        let archive =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/flightlabs-archive/BOG");
        if !archive.is_dir() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the shared archive is missing at {}",
                archive.display()
            );
            eprintln!("skipping: no shared archive at {}", archive.display());
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path().join("landing")).unwrap();
        let files = collect_files(&[archive]).unwrap();
        assert!(files.len() >= 21, "{files:?}");
        for path in files {
            assert_handover_matches_bronze(&zone, &path);
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn bad_literal_becomes_an_error_record() {
        let dir = tempfile::tempdir().unwrap();
        let bad = ROW.replace("{'model': 'Airbus A320'}", "{'model': 'Airbus A320}");
        let (_, r) = import(dir.path(), "2025-03-02.csv", &format!("{HEADER}{bad}{ROW}"));
        let Converted::Landed(_, parsed) = r.unwrap() else {
            panic!()
        };
        let body = parsed.body();
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        let data = &v["sections"][0]["data"];
        let err = data[0]["_tarmac_error"].as_str().unwrap();
        assert!(err.starts_with("archive line 2: aircraft:"), "{err}");
        assert_eq!(data[0]["_archive_row"]["number"], "AV 9407");
        // the next row is whole: the failed one left nothing behind
        assert_eq!(data[1]["number"], "AV 9407");
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
