//! Real-time polling of `/flights`: each poll's responses are landed raw,
//! loaded into bronze `flightlabs_positions` and, in the same transaction,
//! into silver `real_time_planes` (see [`crate::positions`]).
//!
//! A poll asks, for every airport, `depIata=X` and `arrIata=X` (the
//! provider's parameters), concurrently and through the client's shared rate
//! limit and retry policy. Each response is landed as soon as it arrives and
//! handed to the one bronze [`Writer`], which commits within ~100 ms; the
//! time from the response to that commit is the poll's "queryable after"
//! figure.
//!
//! The warehouse is opened when the first response of a poll has landed and
//! closed when the poll is loaded, so other processes (the SQL shell, a
//! build) can use it between polls: DuckDB allows one writing process. When
//! another process holds it, the poller waits up to
//! [`RealtimePlan::lock_wait`], then leaves the landed files for the next
//! poll (nothing is lost: they are in the landing zone, and every ingest
//! command loads what landed but was not loaded).
//!
//! A failed request (after the client's retries) is logged in the ledger and
//! reported; the loop goes on. Only a refused key stops it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use flightlabs::{Client, ClientError, Direction};
use futures::stream::{self, StreamExt};
use tokio::sync::{mpsc, watch};

use crate::bronze::{Bronze, LoadStats};
use crate::error::{IngestError, Result};
use crate::landing::{Endpoint, LandedFile, LandingZone};
use crate::loader::{load_pending, Committed, Writer};

/// What a poll asks for.
#[derive(Debug, Clone)]
pub struct RealtimePlan {
    /// IATA codes; each is asked for departures and arrivals.
    pub airports: Vec<String>,
    /// `limit` of each request (the provider allows up to 10,000).
    pub limit: u32,
    /// Requests in flight at once (the rate limit is the client's).
    pub concurrency: usize,
    /// How long to wait for the warehouse while another process holds it.
    pub lock_wait: Duration,
}

impl RealtimePlan {
    pub const DEFAULT_LIMIT: u32 = 10_000;
}

/// What one poll did.
#[derive(Debug, Clone, Default)]
pub struct PollReport {
    pub started: Option<DateTime<Utc>>,
    /// HTTP requests made, retries included, and the retries alone.
    pub requests: u64,
    pub retries: u64,
    /// Responses landed.
    pub landed: u64,
    /// Requests that failed after all retries: "BOG departure: reason".
    pub failed: Vec<String>,
    /// What went into bronze and silver (files of earlier polls included).
    pub bronze: LoadStats,
    /// Landed files not loaded yet (the warehouse was busy); the next poll
    /// or ingest command loads them.
    pub deferred: u64,
    /// The longest time from a response of this poll arriving to its rows
    /// being committed, i.e. visible to every reader.
    pub queryable_after: Option<Duration>,
    /// A stop was requested while requests were in flight; they were dropped.
    pub cancelled: bool,
}

impl PollReport {
    /// Every request landed and every landed file is in the warehouse.
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.deferred == 0 && !self.cancelled
    }
}

type Landed = (LandedFile, Vec<u8>);

/// Polls `/flights` into the landing zone and the warehouse; keeps, between
/// polls, the files it could not load yet.
pub struct Poller {
    client: Arc<Client>,
    zone: Arc<LandingZone>,
    warehouse: PathBuf,
    carry: Vec<Landed>,
    /// A load failed: the next poll first loads everything pending.
    needs_resume: bool,
}

impl Poller {
    pub fn new(client: Arc<Client>, zone: Arc<LandingZone>, warehouse: PathBuf) -> Self {
        Self {
            client,
            zone,
            warehouse,
            carry: Vec::new(),
            needs_resume: false,
        }
    }

    /// Loads what earlier runs landed but did not load (every ingest
    /// command starts so). Blocking.
    pub fn resume(&mut self) -> Result<LoadStats> {
        let mut bronze = Bronze::open(&self.warehouse)?;
        let stats = load_pending(&self.zone, &mut bronze)?;
        self.needs_resume = false;
        Ok(stats)
    }

    /// One poll of every airport and direction. Returns Err only when no
    /// later poll can succeed (a refused key) or the landing zone fails;
    /// failed requests are in the report.
    pub async fn poll(
        &mut self,
        plan: &RealtimePlan,
        stop: &watch::Receiver<bool>,
    ) -> Result<PollReport> {
        let started = Utc::now();
        let requests_before = self.client.stats.requests.load(ORDER);
        let retries_before = self.client.stats.retries.load(ORDER);
        let carry = std::mem::take(&mut self.carry);
        let needs_resume = self.needs_resume;
        let (tx, rx) = mpsc::unbounded_channel::<(Landed, DateTime<Utc>)>();

        let units: Vec<(String, Direction)> = plan
            .airports
            .iter()
            .flat_map(|a| [Direction::Departure, Direction::Arrival].map(|d| (a.clone(), d)))
            .collect();
        let fetch_all =
            {
                let client = self.client.clone();
                let zone = self.zone.clone();
                async move {
                    stream::iter(units.into_iter().map(|(airport, direction)| {
                        let client = client.clone();
                        let zone = zone.clone();
                        let tx = tx.clone();
                        async move {
                            fetch_one(&client, &zone, &airport, direction, plan.limit, &tx).await
                        }
                    }))
                    .buffer_unordered(plan.concurrency.max(1))
                    .collect::<Vec<Result<Option<String>>>>()
                    .await
                    // `tx` is dropped here: the loader sees the end of the poll.
                }
            };
        let fetch = async {
            let mut stop = stop.clone();
            tokio::select! {
                r = fetch_all => Some(r),
                _ = stopped(&mut stop) => None,
            }
        };
        let load = load_poll(
            self.warehouse.clone(),
            self.zone.clone(),
            carry,
            rx,
            plan.lock_wait,
            needs_resume,
            stop.clone(),
        );
        let (fetched, loaded) = tokio::join!(fetch, load);

        let mut report = PollReport {
            started: Some(started),
            ..PollReport::default()
        };
        match fetched {
            None => report.cancelled = true,
            Some(results) => {
                for r in results {
                    if let Some(failure) = r? {
                        report.failed.push(failure);
                    }
                }
            }
        }
        report.failed.sort();
        match loaded {
            Ok(l) => {
                report.landed = l.landed;
                report.bronze = l.stats;
                report.deferred = l.deferred.len() as u64;
                report.queryable_after = l.queryable_after;
                self.carry = l.deferred;
                if l.resumed {
                    self.needs_resume = false;
                }
            }
            Err(e) => {
                // The rows are in the landing zone; load them next time.
                tracing::warn!("loading the poll into the warehouse failed: {e}");
                report.failed.push(format!("warehouse: {e}"));
                self.needs_resume = true;
            }
        }
        report.requests = self.client.stats.requests.load(ORDER) - requests_before;
        report.retries = self.client.stats.retries.load(ORDER) - retries_before;
        // a poll's ledger lines go out with the poll, not with the next one
        let zone = self.zone.clone();
        tokio::task::spawn_blocking(move || zone.flush_ledger())
            .await
            .map_err(|e| IngestError::Landing(e.to_string()))??;
        Ok(report)
    }

    /// Polls every `interval` until `stop` turns true, calling `on_poll`
    /// after each poll. A poll that overruns the interval delays the next
    /// one (missed ticks are skipped, never bunched). Stops cleanly between
    /// polls; a stop during a poll drops its requests still in flight and
    /// loads what had landed.
    pub async fn run(
        &mut self,
        plan: &RealtimePlan,
        interval: Duration,
        stop: watch::Receiver<bool>,
        mut on_poll: impl FnMut(&PollReport),
    ) -> Result<()> {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(100)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut wait = stop.clone();
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stopped(&mut wait) => return Ok(()),
            }
            if *stop.borrow() {
                return Ok(());
            }
            let report = self.poll(plan, &stop).await?;
            on_poll(&report);
            if report.cancelled {
                return Ok(());
            }
        }
    }
}

/// One poll as a step of something else (the orchestrator): loads what
/// earlier runs left, polls once, closes the warehouse. The report says
/// whether it went well ([`PollReport::ok`]).
pub async fn poll_once(
    client: Arc<Client>,
    zone: Arc<LandingZone>,
    warehouse: PathBuf,
    plan: &RealtimePlan,
) -> Result<PollReport> {
    let mut poller = Poller::new(client, zone, warehouse);
    let resumed = tokio::task::spawn_blocking(move || {
        let stats = poller.resume();
        (poller, stats)
    })
    .await
    .map_err(|e| IngestError::Landing(e.to_string()))?;
    let (mut poller, stats) = resumed;
    let stats = stats?;
    let (_keep, never) = watch::channel(false);
    let mut report = poller.poll(plan, &never).await?;
    report.bronze.add(stats);
    Ok(report)
}

const ORDER: std::sync::atomic::Ordering = std::sync::atomic::Ordering::Relaxed;

/// Resolves when `stop` turns true; never if its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Fetches one airport and direction and lands the answer. Ok(None): landed;
/// Ok(Some(reason)): failed after retries (in the ledger); Err: fatal.
async fn fetch_one(
    client: &Client,
    zone: &Arc<LandingZone>,
    airport: &str,
    direction: Direction,
    limit: u32,
    tx: &mpsc::UnboundedSender<(Landed, DateTime<Utc>)>,
) -> Result<Option<String>> {
    let what = format!("{airport} {direction}");
    match client.flights(airport, direction, limit).await {
        Ok(fetched) => {
            let meta = crate::batch::api_meta(
                Endpoint::Flights,
                airport,
                direction,
                fetched.fetched_at.date_naive(),
                None,
                &fetched,
            );
            let fetched_at = fetched.fetched_at;
            let landed =
                crate::batch::land_fetched(zone, meta, fetched, crate::landing::Observation::First)
                    .await?;
            // None: another poller landed this very instant's poll.
            if let Some(landed) = landed {
                // The loader stops listening only when the poll is over.
                let _ = tx.send((landed, fetched_at));
            }
            Ok(None)
        }
        Err(e) => {
            let (status, attempts) = match &e {
                ClientError::Http {
                    status, attempts, ..
                } => (Some(*status), *attempts),
                ClientError::Unauthorized { status, .. } => (Some(*status), 1),
                ClientError::Transport { attempts, .. }
                | ClientError::MalformedBody { attempts, .. } => (None, *attempts),
                _ => (None, 0),
            };
            crate::batch::record_failure(
                zone,
                &e,
                &format!("flights-{airport}-{direction}"),
                format!("flights {what}"),
                status,
                attempts,
            )?;
            if e.is_final() {
                return Err(IngestError::Api(e));
            }
            tracing::warn!("poll of {what} failed: {e}");
            Ok(Some(format!("{what}: {e}")))
        }
    }
}

struct PollLoad {
    /// This poll's responses that landed (a stop may drop a request after
    /// its answer landed: it counts).
    landed: u64,
    stats: LoadStats,
    deferred: Vec<Landed>,
    queryable_after: Option<Duration>,
    resumed: bool,
}

/// Whether an open failed because another process holds the file (the
/// warehouse crate decides; a waiting writer's intent counts too).
fn is_lock_error(e: &IngestError) -> bool {
    matches!(e, IngestError::Warehouse(warehouse::Error::Locked { .. }))
}

/// Opens the warehouse, waiting up to `wait` while another process holds
/// it. Ok(None): still held (or a stop came) after the wait.
async fn open_waiting(
    warehouse: PathBuf,
    zone: Arc<LandingZone>,
    wait: Duration,
    resume: bool,
    mut stop: watch::Receiver<bool>,
) -> Result<Option<(Bronze, LoadStats)>> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut told = false;
    loop {
        let path = warehouse.clone();
        let zone = zone.clone();
        let opened = tokio::task::spawn_blocking(move || -> Result<(Bronze, LoadStats)> {
            if resume {
                let mut bronze = Bronze::try_open(&path)?;
                let stats = load_pending(&zone, &mut bronze)?;
                Ok((bronze, stats))
            } else {
                Ok((Bronze::try_open_for_append(&path)?, LoadStats::default()))
            }
        })
        .await
        .map_err(|e| IngestError::Landing(e.to_string()))?;
        match opened {
            Ok(b) => return Ok(Some(b)),
            Err(e) if is_lock_error(&e) => {
                if tokio::time::Instant::now() >= deadline || *stop.borrow() {
                    tracing::warn!(
                        "the warehouse is held by another process; this poll's files stay landed and load later"
                    );
                    return Ok(None);
                }
                if !told {
                    // progress output (and an orchestrator step's log)
                    let holder = match &e {
                        IngestError::Warehouse(warehouse::Error::Locked { holder, .. }) => {
                            holder.to_string()
                        }
                        _ => String::new(),
                    };
                    eprintln!(
                        "tarmac: the warehouse is held by another process{holder}; this poll waits up to {} s",
                        wait.as_secs()
                    );
                    told = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = stopped(&mut stop) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Receives the poll's landed files and loads them through one writer,
/// opened at the first file and closed at the end of the poll.
async fn load_poll(
    warehouse: PathBuf,
    zone: Arc<LandingZone>,
    carry: Vec<Landed>,
    mut rx: mpsc::UnboundedReceiver<(Landed, DateTime<Utc>)>,
    lock_wait: Duration,
    resume: bool,
    stop: watch::Receiver<bool>,
) -> Result<PollLoad> {
    let mut pending: Vec<Landed> = carry;
    let mut fetched_at: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut writer: Option<(Writer, std::sync::mpsc::Receiver<Committed>)> = None;
    let mut unavailable = false;
    let mut stats = LoadStats::default();
    let mut resumed = false;
    let mut more = true;
    while more || !pending.is_empty() {
        if more && (pending.is_empty() || writer.is_some() || unavailable) {
            match rx.recv().await {
                Some((item, at)) => {
                    fetched_at.insert(item.0.rel.clone(), at);
                    pending.push(item);
                }
                None => more = false,
            }
        }
        if pending.is_empty() {
            continue;
        }
        if writer.is_none() && !unavailable {
            match open_waiting(
                warehouse.clone(),
                zone.clone(),
                lock_wait,
                resume,
                stop.clone(),
            )
            .await?
            {
                Some((bronze, resumed_stats)) => {
                    stats.add(resumed_stats);
                    resumed = resume;
                    let (ctx, crx) = std::sync::mpsc::channel();
                    writer = Some((Writer::spawn_notifying(bronze, 1024, ctx), crx));
                }
                None => unavailable = true,
            }
        }
        if unavailable {
            if !more {
                break;
            }
            continue;
        }
        if let Some((w, _)) = &writer {
            for item in pending.drain(..) {
                w.send(item.0, item.1)?;
            }
        }
    }
    let mut queryable_after = None;
    if let Some((w, commits)) = writer {
        let (_, loaded) = tokio::task::spawn_blocking(move || w.finish())
            .await
            .map_err(|e| IngestError::Landing(e.to_string()))??;
        stats.add(loaded);
        for c in commits.try_iter() {
            for f in &c.files {
                if let Some(at) = fetched_at.get(f) {
                    let lag = (c.at - *at).to_std().unwrap_or_default();
                    queryable_after = Some(queryable_after.map_or(lag, |q: Duration| q.max(lag)));
                }
            }
        }
    }
    Ok(PollLoad {
        landed: fetched_at.len() as u64,
        stats,
        deferred: pending,
        queryable_after,
        resumed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flightlabs::{ClientConfig, RateLimit, Secret};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server that answers every request with `status` and `body`.
    async fn serve(status: u16, body: String) -> (String, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(head.as_bytes()).await;
                    let _ = s.write_all(body.as_bytes()).await;
                });
            }
        });
        (format!("http://{addr}"), handle)
    }

    fn poller(url: &str, dir: &std::path::Path) -> Poller {
        let client = Client::new(ClientConfig {
            base_url: url.to_string(),
            access_key: Secret::new("unit-test-key"),
            rate_limit: RateLimit::new(1000, Duration::from_secs(1)),
            max_retries: 1,
            backoff_initial: Duration::from_millis(1),
            ..ClientConfig::default()
        })
        .unwrap();
        let zone = LandingZone::open(dir.join("landing")).unwrap();
        Poller::new(Arc::new(client), Arc::new(zone), dir.join("w.duckdb"))
    }

    fn plan() -> RealtimePlan {
        RealtimePlan {
            airports: vec!["BOG".into()],
            limit: 100,
            concurrency: 4,
            lock_wait: Duration::from_secs(5),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_poll_lands_loads_and_measures() {
        let now = Utc::now().timestamp();
        let body = format!(
            r#"{{"success":true,"data":[{{"hex":"A1","lat":4.7,"lng":-74.1,"updated":{now}}},{{"hex":"B2","lat":5.0,"lng":-75.0,"updated":{now}}}]}}"#
        );
        let (url, server) = serve(200, body).await;
        let dir = tempfile::tempdir().unwrap();
        let mut p = poller(&url, dir.path());
        let (_tx, stop) = watch::channel(false);
        let r = p.poll(&plan(), &stop).await.unwrap();
        assert!(r.ok(), "{r:?}");
        assert_eq!((r.landed, r.requests, r.retries), (2, 2, 0));
        // Both directions answered the same two aircraft: four rows, two keys.
        assert_eq!((r.bronze.files, r.bronze.records), (2, 4));
        assert_eq!(r.bronze.new_positions, 2);
        let lag = r.queryable_after.expect("measured");
        assert!(lag < Duration::from_secs(5), "{lag:?}");
        // The same answers again: bronze grows, silver does not.
        let r = p.poll(&plan(), &stop).await.unwrap();
        assert_eq!((r.bronze.records, r.bronze.new_positions), (4, 0));
        let ledger = p.zone.ledger().unwrap();
        assert_eq!(ledger.len(), 4);
        assert!(ledger.iter().all(|e| e.outcome == "landed"
            && e.request.contains("access_key=***")
            && !e.request.contains("unit-test-key")));
        server.abort();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn failed_requests_are_reported_and_in_the_ledger() {
        let (url, server) = serve(500, "Internal Server Error".into()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut p = poller(&url, dir.path());
        let (_tx, stop) = watch::channel(false);
        let r = p.poll(&plan(), &stop).await.unwrap();
        assert!(!r.ok());
        assert_eq!(r.landed, 0);
        assert_eq!(r.failed.len(), 2, "{r:?}");
        assert!(r.failed[0].starts_with("BOG arrival: "), "{:?}", r.failed);
        assert_eq!((r.requests, r.retries), (4, 2));
        let ledger = p.zone.ledger().unwrap();
        assert_eq!(ledger.iter().filter(|e| e.outcome == "failed").count(), 2);
        assert!(ledger
            .iter()
            .all(|e| e.attempts == 2 && e.http_status == Some(500)));
        // Nothing landed, so the warehouse was not even opened.
        assert!(!dir.path().join("w.duckdb").exists());
        server.abort();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn failed_polls_do_not_stop_the_loop() {
        let (url, server) = serve(500, "Internal Server Error".into()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut p = poller(&url, dir.path());
        let (tx, stop) = watch::channel(false);
        let mut reports = Vec::new();
        p.run(&plan(), Duration::from_millis(100), stop, |r| {
            reports.push(r.clone());
            if reports.len() == 3 {
                let _ = tx.send(true);
            }
        })
        .await
        .unwrap();
        assert_eq!(reports.len(), 3);
        assert!(reports.iter().all(|r| r.failed.len() == 2 && !r.cancelled));
        assert_eq!(p.zone.ledger().unwrap().len(), 6);
        server.abort();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_stop_before_the_poll_cancels_it() {
        let (url, server) = serve(200, r#"{"success":true,"data":[]}"#.into()).await;
        let dir = tempfile::tempdir().unwrap();
        let mut p = poller(&url, dir.path());
        let (tx, stop) = watch::channel(false);
        tx.send(true).unwrap();
        let r = p.poll(&plan(), &stop).await.unwrap();
        assert!(r.cancelled && !r.ok());
        // The loop does not even start a poll.
        p.run(&plan(), Duration::from_secs(1), stop, |_| panic!("no poll"))
            .await
            .unwrap();
        server.abort();
    }

    #[test]
    fn lock_errors_are_told_apart() {
        let e = IngestError::Invalid("could not set lock".into());
        assert!(!is_lock_error(&e), "only the warehouse crate's lock errors");
        let e = IngestError::Warehouse(warehouse::Error::Locked {
            path: "w.duckdb".into(),
            holder: warehouse::Holder::default(),
            waited: Duration::ZERO,
        });
        assert!(is_lock_error(&e));
    }
}
