//! Batch and delta ingestion of `/historical`.
//!
//! A day of an airport is `directions × windows` calls. Each call that
//! succeeds is landed at once and queued for bronze; when all calls of a day
//! have landed (in this run or an earlier one), the day is marked complete.
//! That is the whole resume story: a rerun skips complete days and, inside an
//! incomplete one, the windows that already landed, and the start-of-run sweep
//! loads whatever landed but never reached bronze.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use flightlabs::{Client, ClientError, Direction, HistoricalMode, HistoricalWindow};
use futures::stream::{self, StreamExt};

use crate::bronze::{Bronze, LoadStats};
use crate::error::{IngestError, Result};
use crate::landing::{
    Durability, Endpoint, LandingMeta, LandingZone, LedgerEntry, Observation, Source,
};
use crate::loader::{load_pending, Writer};
use crate::Progress;

/// What to fetch.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    pub airports: Vec<String>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Fetch days and windows again even if landed.
    pub force: bool,
    /// Days fetched again even without `force` (delta's last landed day).
    pub refetch: Vec<(String, NaiveDate)>,
    pub mode: HistoricalMode,
    /// Calls in flight at once; the rate limit is enforced separately.
    pub concurrency: usize,
    /// This worker's share of the airport-days, when several workers split
    /// one plan (`--shard K/N`).
    pub shard: Option<Shard>,
}

/// Worker `index` (1-based) of `count` workers that split a plan: each
/// takes the airport-days whose [`Shard::owner`] is its index. The split
/// depends only on the airport and the day, never on the range or on what
/// has landed, so workers with different ranges still agree on who owns a
/// day, and a day's windows and marker all belong to one worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            IngestError::Invalid(format!(
                "--shard {text:?}: expected K/N with 1 <= K <= N, such as 1/3"
            ))
        };
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }

    /// Which worker (1-based) owns an airport-day: FNV-1a of `BOG/2024-08-12`.
    pub fn owner(airport: &str, day: NaiveDate, count: u32) -> u32 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in format!("{airport}/{day}").bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        (h % u64::from(count.max(1))) as u32 + 1
    }

    pub fn owns(&self, airport: &str, day: NaiveDate) -> bool {
        Self::owner(airport, day, self.count) == self.index
    }
}

/// The end-of-run summary.
#[derive(Debug, Default, Clone)]
pub struct BatchSummary {
    pub days: u64,
    pub days_skipped: u64,
    pub days_failed: Vec<String>,
    pub requests: u64,
    pub retries: u64,
    pub landed_files: u64,
    pub bronze: LoadStats,
    /// Files a previous, interrupted run landed and this one loaded.
    pub resumed: LoadStats,
    pub seconds: f64,
}

/// Checks an airport code before any request is made: FlightLabs takes IATA
/// (3 letters) or ICAO (4) codes.
pub fn validate_airport(code: &str) -> Result<String> {
    let c = code.trim().to_ascii_uppercase();
    if (c.len() == 3 || c.len() == 4) && c.chars().all(|ch| ch.is_ascii_alphabetic()) {
        Ok(c)
    } else {
        Err(IngestError::Invalid(format!(
            "unknown airport code {code:?}: expected a 3-letter IATA or 4-letter ICAO code such as BOG"
        )))
    }
}

/// Validates a date range.
pub fn validate_range(from: NaiveDate, to: NaiveDate) -> Result<()> {
    if from > to {
        return Err(IngestError::Invalid(format!(
            "--from {from} is after --to {to}"
        )));
    }
    Ok(())
}

/// The plan of `tarmac ingest delta`: from the last fully landed day of each
/// airport (fetched again: it may have been incomplete when fetched) to `today`.
pub fn delta_plan(
    zone: &LandingZone,
    airports: &[String],
    today: NaiveDate,
    mode: HistoricalMode,
    concurrency: usize,
) -> Result<Vec<BatchPlan>> {
    let mut plans = Vec::new();
    for airport in airports {
        let last = zone.landed_days(airport)?.last().copied().ok_or_else(|| {
            IngestError::Invalid(format!(
                "no day of {airport} has landed yet, so there is nothing to continue from: \
                 run `tarmac ingest batch --airport {airport} --from YYYY-MM-DD --to YYYY-MM-DD` first"
            ))
        })?;
        plans.push(BatchPlan {
            airports: vec![airport.clone()],
            from: last,
            to: today.max(last),
            force: false,
            refetch: vec![(airport.clone(), last)],
            mode,
            concurrency,
            shard: None,
        });
    }
    Ok(plans)
}

struct Unit {
    airport: String,
    date: NaiveDate,
    direction: Direction,
    window: HistoricalWindow,
    /// Fetched again (`--force`, delta's last day): a new observation.
    again: bool,
}

/// What a plan will cost before anything is fetched: shown to the user,
/// and checked against `[flightlabs] max_plan_requests` by the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanCost {
    /// Airport-days to fetch (wholly or the windows still missing).
    pub days: u64,
    /// Airport-days already landed, skipped.
    pub days_skipped: u64,
    /// API requests, before retries.
    pub requests: u64,
}

impl PlanCost {
    /// The least time the requests take at `limit`: the first window's
    /// worth go at once, each further one waits its turn.
    pub fn duration_at(&self, limit: flightlabs::RateLimit) -> std::time::Duration {
        let beyond = self.requests.saturating_sub(u64::from(limit.requests));
        limit.per.mul_f64(beyond as f64 / f64::from(limit.requests))
    }
}

/// The calls `plan` needs given what has landed, and the windows still
/// outstanding per airport-day. One listing per airport says what landed.
fn plan_units(zone: &LandingZone, plan: &BatchPlan) -> Result<Planned> {
    let mut cost = PlanCost::default();
    let mut units = Vec::new();
    let mut pending_per_day: BTreeMap<(String, NaiveDate), usize> = BTreeMap::new();
    let mut whole_days = BTreeSet::new();
    for airport in &plan.airports {
        let landed = zone.airport_landed(airport)?;
        let mut day = plan.from;
        while day <= plan.to {
            let next = day.succ_opt();
            if plan.shard.is_some_and(|s| !s.owns(airport, day)) {
                match next {
                    Some(d) => {
                        day = d;
                        continue;
                    }
                    None => break,
                }
            }
            let again = plan.force || plan.refetch.iter().any(|(a, d)| a == airport && *d == day);
            if !again && landed.days.contains(&day) {
                cost.days_skipped += 1;
            } else {
                cost.days += 1;
                let mut n = 0;
                for direction in Direction::ALL {
                    for window in HistoricalWindow::for_day(day, plan.mode) {
                        if !again && landed.windows.contains(&(direction, day, window.label())) {
                            continue;
                        }
                        units.push(Unit {
                            airport: airport.clone(),
                            date: day,
                            direction,
                            window,
                            again,
                        });
                        n += 1;
                    }
                }
                if !again && n == 2 * HistoricalWindow::for_day(day, plan.mode).len() {
                    whole_days.insert((airport.clone(), day));
                }
                pending_per_day.insert((airport.clone(), day), n);
            }
            day = match next {
                Some(d) => d,
                None => break,
            };
        }
    }
    cost.requests = units.len() as u64;
    Ok(Planned {
        units,
        pending_per_day,
        whole_days,
        cost,
    })
}

/// What [`plan_units`] found to do.
struct Planned {
    units: Vec<Unit>,
    /// Windows still to land per airport-day (0: only the marker is missing).
    pending_per_day: BTreeMap<(String, NaiveDate), usize>,
    /// Days this run fetches every window of (first observations): their
    /// bodies' names are known without listing the store.
    whole_days: BTreeSet<(String, NaiveDate)>,
    cost: PlanCost,
}

/// What running `plan` now would cost (nothing is fetched).
pub fn plan_cost(zone: &LandingZone, plan: &BatchPlan) -> Result<PlanCost> {
    validate_range(plan.from, plan.to)?;
    Ok(plan_units(zone, plan)?.cost)
}

/// Runs a plan to the end. Failed days are reported in the summary (the
/// caller decides the exit code); a refused key stops everything at once.
pub async fn run_batch(
    client: Arc<Client>,
    zone: Arc<LandingZone>,
    bronze: Bronze,
    plan: &BatchPlan,
    progress: Arc<dyn Progress>,
) -> Result<(Bronze, BatchSummary)> {
    let started = Instant::now();
    let mut summary = BatchSummary::default();
    validate_range(plan.from, plan.to)?;
    let mut bronze = bronze;
    summary.resumed = tokio::task::block_in_place(|| load_pending(&zone, &mut bronze))?;
    if summary.resumed.files > 0 {
        progress.log(&format!(
            "loaded {} files ({} records) that an earlier run landed but did not load",
            summary.resumed.files, summary.resumed.records
        ));
    }

    let Planned {
        units,
        pending_per_day,
        whole_days,
        cost,
    } = plan_units(&zone, plan)?;
    let whole_days = Arc::new(whole_days);
    let mode = plan.mode;
    summary.days = cost.days;
    summary.days_skipped = cost.days_skipped;
    progress.begin("requests", units.len() as u64);

    // Days whose windows had all landed before: only the marker is missing.
    let markers = Arc::new(PendingMarkers::default());
    for ((airport, day), n) in &pending_per_day {
        if *n == 0 {
            let files = zone.airport_day_bodies(airport, *day)?;
            markers.push(airport, *day, files);
        }
    }

    let writer = Writer::spawn(bronze, 64);
    let sender = writer.sender();
    let pending = Arc::new(Mutex::new(pending_per_day));
    let failed: Arc<Mutex<BTreeMap<(String, NaiveDate), String>>> = Default::default();
    let fatal: Arc<Mutex<Option<(String, ClientError)>>> = Default::default();
    let requests_before = client.stats.requests.load(Ordering::Relaxed);
    let retries_before = client.stats.retries.load(Ordering::Relaxed);

    // `concurrency` bounds the API requests in flight, not the windows: a
    // window whose answer is landing (an fsync, or a PUT to a bucket) gives
    // its request slot to the next window, so a store's latency does not
    // idle the API connection. Up to LANDING_AHEAD windows per slot are
    // between fetched and landed at once.
    let requests = Arc::new(tokio::sync::Semaphore::new(plan.concurrency.max(1)));
    let results = stream::iter(units.into_iter().map(|unit| {
        let client = client.clone();
        let requests = requests.clone();
        let zone = zone.clone();
        let sender = sender.clone();
        let pending = pending.clone();
        let failed = failed.clone();
        let fatal = fatal.clone();
        let progress = progress.clone();
        let whole_days = whole_days.clone();
        let markers = markers.clone();
        async move {
            if fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                return Ok(false);
            }
            let what = format!(
                "{} {} {} {}",
                unit.airport,
                unit.date,
                unit.direction,
                unit.window.label()
            );
            let answer = {
                let _slot = requests
                    .acquire()
                    .await
                    .map_err(|e| IngestError::Landing(e.to_string()))?;
                // windows wait here for a slot: one that a final answer or
                // an unreachable host stopped the run meanwhile asks nothing
                if fatal.lock().map(|f| f.is_some()).unwrap_or(true) {
                    return Ok(false);
                }
                client
                    .historical(&unit.airport, unit.direction, &unit.window)
                    .await
            };
            match answer {
                Ok(fetched) => {
                    let meta = api_meta(
                        Endpoint::Historical,
                        &unit.airport,
                        unit.direction,
                        unit.date,
                        Some(unit.window.label()),
                        &fetched,
                    );
                    let observation = if unit.again {
                        Observation::Another
                    } else {
                        Observation::First
                    };
                    let landed = land_fetched(&zone, meta, fetched, observation).await?;
                    if let (Some(tx), Some((file, body))) = (&sender, landed) {
                        let tx = tx.clone();
                        let sent = tokio::task::spawn_blocking(move || tx.send(file, body).is_ok())
                            .await
                            .map_err(|e| IngestError::Landing(e.to_string()))?;
                        if !sent {
                            return Err(IngestError::Landing("the bronze writer stopped".into()));
                        }
                    }
                    let day_done = {
                        let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                        let key = (unit.airport.clone(), unit.date);
                        let left = p.get_mut(&key).map(|n| {
                            *n -= 1;
                            *n
                        });
                        left == Some(0)
                            && !failed
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .contains_key(&key)
                    };
                    if day_done {
                        let known = whole_days
                            .contains(&(unit.airport.clone(), unit.date))
                            .then(|| {
                                let windows: Vec<String> =
                                    HistoricalWindow::for_day(unit.date, mode)
                                        .iter()
                                        .map(|w| w.label())
                                        .collect();
                                LandingZone::first_observations(&unit.airport, unit.date, &windows)
                            });
                        let zone = zone.clone();
                        let airport = unit.airport.clone();
                        tokio::task::spawn_blocking(move || {
                            let files = match known {
                                Some(files) => files,
                                None => zone.airport_day_bodies(&airport, unit.date)?,
                            };
                            markers.push(&airport, unit.date, files);
                            if markers.due() {
                                markers.flush(&zone)?;
                            }
                            Ok::<_, IngestError>(())
                        })
                        .await
                        .map_err(|e| IngestError::Landing(e.to_string()))??;
                    }
                    if let Some(notice) = client.take_rate_notice() {
                        progress.log(&notice);
                    }
                    progress.advance(1, &what);
                    Ok(true)
                }
                Err(e) => {
                    record_failure(
                        &zone,
                        &e,
                        &format!(
                            "{}-{}-{}-{}",
                            unit.airport,
                            unit.date,
                            unit.direction,
                            unit.window.label()
                        ),
                        what.clone(),
                        match &e {
                            ClientError::Http { status, .. }
                            | ClientError::Unauthorized { status, .. } => Some(*status),
                            _ => None,
                        },
                        0,
                    )?;
                    // A final answer (bad key, unknown airport) is the same
                    // for every other request, and an unreachable host too:
                    // the first one stops the run, in one line.
                    if e.is_final() || e.is_unreachable() {
                        if let Ok(mut f) = fatal.lock() {
                            f.get_or_insert((unit.airport.clone(), e));
                        }
                        return Ok(false);
                    }
                    if let Some(notice) = client.take_rate_notice() {
                        progress.log(&notice);
                    }
                    progress.log(&format!("failed: {what}: {e}"));
                    failed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert((unit.airport.clone(), unit.date), e.to_string());
                    progress.advance(1, &what);
                    Ok(false)
                }
            }
        }
    }))
    .buffer_unordered(plan.concurrency.max(1) * LANDING_AHEAD)
    .collect::<Vec<Result<bool>>>()
    .await;
    drop(sender);
    // The days that completed are complete whatever failed after them.
    let marked = tokio::task::block_in_place(|| markers.flush(&zone));
    let (bronze, loaded) = tokio::task::block_in_place(|| writer.finish())?;
    tokio::task::block_in_place(|| zone.flush_ledger())?;
    marked?;
    progress.finish();

    if let Some((airport, e)) = fatal.lock().ok().and_then(|mut f| f.take()) {
        if let ClientError::Api { code, message, .. } = &e {
            if code == "invalid_airport" {
                return Err(IngestError::UnknownAirport {
                    airport,
                    answer: format!("{code}: {message}"),
                });
            }
        }
        return Err(IngestError::Api(e));
    }
    for r in results {
        match r {
            Ok(true) => summary.landed_files += 1,
            Ok(false) => {}
            Err(e) => return Err(e),
        }
    }
    summary.bronze = loaded;
    summary.requests = client.stats.requests.load(Ordering::Relaxed) - requests_before;
    summary.retries = client.stats.retries.load(Ordering::Relaxed) - retries_before;
    summary.days_failed = failed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|((a, d), e)| format!("{a} {d}: {e}"))
        .collect();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok((bronze, summary))
}

/// The sidecar of an API answer before landing (size and checksum are
/// filled in by [`LandingZone::land`]); batch, delta and real-time polls
/// differ only in the endpoint, the day and the window.
pub(crate) fn api_meta(
    endpoint: Endpoint,
    airport: &str,
    direction: Direction,
    date: NaiveDate,
    window: Option<String>,
    fetched: &flightlabs::client::Fetched,
) -> LandingMeta {
    LandingMeta {
        window,
        request: Some(fetched.request.clone()),
        http_status: Some(fetched.status),
        fetched_at: Some(fetched.fetched_at),
        records: fetched.records as u64,
        ..LandingMeta::api(endpoint, airport, direction, date)
    }
}

/// Records a request that failed (after the client's retries) in the
/// ledger; a body that never parsed is first kept aside under
/// `_rejected/<name>-<time>.body` and the entry says `rejected`, else
/// `failed`. Batch, delta and real-time polls all record failures here.
pub(crate) fn record_failure(
    zone: &LandingZone,
    e: &ClientError,
    name: &str,
    request: String,
    http_status: Option<u16>,
    attempts: u32,
) -> Result<()> {
    let rejected = match e {
        ClientError::MalformedBody { body, .. } => Some(zone.reject(
            &format!("{name}-{}.body", Utc::now().format("%Y%m%dT%H%M%S%.3fZ")),
            body,
        )?),
        _ => None,
    };
    zone.record(&LedgerEntry {
        at: Utc::now(),
        source: Source::Api,
        request,
        http_status,
        outcome: if rejected.is_some() {
            "rejected"
        } else {
            "failed"
        }
        .into(),
        bytes: None,
        sha256: None,
        landing_file: rejected,
        attempts,
        error: Some(e.to_string()),
    })
}

/// Lands an API answer (off the async runtime: the write fsyncs or is a
/// request) and records it in the ledger; returns the landed file and its
/// body for the loader, or `None` when another worker landed that window
/// first (its body is the one that counts; this one is dropped).
/// Batch, delta and real-time polls all land through here.
pub(crate) async fn land_fetched(
    zone: &Arc<LandingZone>,
    meta: LandingMeta,
    fetched: flightlabs::client::Fetched,
    observation: Observation,
) -> Result<Option<(crate::landing::LandedFile, Vec<u8>)>> {
    let zone2 = zone.clone();
    let body = fetched.body;
    let (file, body) = tokio::task::spawn_blocking(move || {
        zone2
            .land_with(meta, &body, Durability::Now, observation)
            .map(|f| (f, body))
    })
    .await
    .map_err(|e| IngestError::Landing(e.to_string()))??;
    let zone2 = zone.clone();
    let entry = LedgerEntry {
        at: Utc::now(),
        source: Source::Api,
        request: fetched.request,
        http_status: Some(fetched.status),
        outcome: if file.is_some() {
            "landed"
        } else {
            "landed by another worker"
        }
        .into(),
        bytes: Some(body.len() as u64),
        sha256: file.as_ref().map(|f| f.meta.sha256.clone()),
        landing_file: file.as_ref().map(|f| f.rel.clone()),
        attempts: fetched.retries + 1,
        error: None,
    };
    tokio::task::spawn_blocking(move || zone2.record(&entry))
        .await
        .map_err(|e| IngestError::Landing(e.to_string()))??;
    Ok(file.map(|f| (f, body)))
}

/// Days a batch completed whose "day complete" marker is not written yet.
///
/// Markers go out as runs of consecutive days ([`LandingZone::mark_days`]),
/// every [`MARK_EVERY`] completed days and at the end of the batch: in a
/// bucket, one PUT per day was a fifth of a batch's requests. A batch
/// killed in between loses at most those markers, never a body: its rerun
/// finds every window of those days landed, plans nothing for them and
/// marks them (listing their bodies) before it fetches anything.
#[derive(Default)]
struct PendingMarkers {
    days: Mutex<Vec<(String, NaiveDate, Vec<String>)>>,
}

/// Windows per request slot that may be fetched and still landing (see
/// [`run_batch`]); their bodies are in memory meanwhile (~150 KB each).
const LANDING_AHEAD: usize = 4;

/// How many completed days wait for their markers at most (a month).
const MARK_EVERY: usize = 31;

impl PendingMarkers {
    fn push(&self, airport: &str, day: NaiveDate, files: Vec<String>) {
        self.lock().push((airport.to_string(), day, files));
    }

    fn due(&self) -> bool {
        self.lock().len() >= MARK_EVERY
    }

    /// Writes the markers of every waiting day, one run at a time.
    fn flush(&self, zone: &LandingZone) -> Result<()> {
        let days = std::mem::take(&mut *self.lock());
        let mut per_airport: BTreeMap<String, Vec<(NaiveDate, Vec<String>)>> = BTreeMap::new();
        for (airport, day, files) in days {
            per_airport.entry(airport).or_default().push((day, files));
        }
        for (airport, days) in per_airport {
            zone.mark_days(&airport, days)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(String, NaiveDate, Vec<String>)>> {
        self.days.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn airport_codes() {
        assert_eq!(validate_airport(" bog ").unwrap(), "BOG");
        assert_eq!(validate_airport("SKBO").unwrap(), "SKBO");
        for bad in ["", "BO", "B0G", "BOGOTA", "B-G"] {
            let e = validate_airport(bad).unwrap_err().to_string();
            assert!(e.contains("unknown airport code"), "{e}");
        }
    }

    #[test]
    fn ranges() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert!(validate_range(d("2024-08-01"), d("2024-08-01")).is_ok());
        let e = validate_range(d("2024-08-02"), d("2024-08-01")).unwrap_err();
        assert_eq!(e.to_string(), "--from 2024-08-02 is after --to 2024-08-01");
    }

    #[test]
    fn shards_split_airport_days_whatever_the_range() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        for bad in ["0/2", "3/2", "1", "a/b", "1/0", ""] {
            let e = Shard::parse(bad).unwrap_err().to_string();
            assert!(e.contains("expected K/N"), "{bad}: {e}");
        }
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let days: Vec<NaiveDate> = start.iter_days().take(366).collect();
        let mut per = [0usize; 3];
        for d in &days {
            for airport in ["BOG", "MDE"] {
                let owners: Vec<u32> = (1..=3)
                    .filter(|k| {
                        Shard {
                            index: *k,
                            count: 3,
                        }
                        .owns(airport, *d)
                    })
                    .collect();
                // exactly one owner, the same every time it is asked
                assert_eq!(owners.len(), 1, "{airport} {d}");
                assert_eq!(owners[0], Shard::owner(airport, *d, 3));
                per[owners[0] as usize - 1] += 1;
            }
        }
        // and a fair share each (732 airport-days)
        assert!(per.iter().all(|n| (200..=290).contains(n)), "{per:?}");
    }

    #[test]
    fn a_shard_plans_only_its_days() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let plan = |shard| BatchPlan {
            airports: vec!["BOG".into()],
            from: NaiveDate::from_ymd_opt(2024, 3, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 3, 20).unwrap(),
            force: false,
            refetch: vec![],
            mode: HistoricalMode::Windows,
            concurrency: 1,
            shard,
        };
        let whole = plan_cost(&zone, &plan(None)).unwrap();
        assert_eq!(whole.days, 20);
        let parts: Vec<u64> = (1..=2)
            .map(|k| {
                plan_cost(&zone, &plan(Some(Shard { index: k, count: 2 })))
                    .unwrap()
                    .days
            })
            .collect();
        assert_eq!(parts.iter().sum::<u64>(), 20, "{parts:?}");
        assert!(parts.iter().all(|n| *n > 0), "{parts:?}");
    }

    #[test]
    fn delta_needs_a_landed_day() {
        let dir = tempfile::tempdir().unwrap();
        let zone = LandingZone::open(dir.path()).unwrap();
        let today = NaiveDate::from_ymd_opt(2024, 8, 20).unwrap();
        let e = delta_plan(&zone, &["BOG".into()], today, HistoricalMode::Windows, 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tarmac ingest batch --airport BOG"), "{e}");
        zone.mark_day("BOG", NaiveDate::from_ymd_opt(2024, 8, 12).unwrap(), vec![])
            .unwrap();
        zone.mark_day("BOG", NaiveDate::from_ymd_opt(2024, 8, 15).unwrap(), vec![])
            .unwrap();
        let p = delta_plan(&zone, &["BOG".into()], today, HistoricalMode::Windows, 4).unwrap();
        assert_eq!(p[0].from, NaiveDate::from_ymd_opt(2024, 8, 15).unwrap());
        assert_eq!(p[0].to, today);
        assert_eq!(p[0].refetch, vec![("BOG".to_string(), p[0].from)]);
    }
}
