//! Moving landed bodies into bronze: the single writer, the resume sweep and replay.
//!
//! DuckDB lets one connection write at a time and commits are not free, so
//! all bronze writes of a command go through one [`Writer`] thread that
//! groups files into transactions of a few thousand records.

use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::NaiveDate;

use crate::bronze::{Bronze, LoadStats, Parsed, ROW_GROUP_ROWS};
use crate::error::{IngestError, Result};
use crate::landing::{LandedFile, LandingZone};
use crate::store::Store;

/// Records per bronze transaction (files are never split across two): at
/// least four full row groups. A transaction of a row group or more is
/// merged into the table as written ([`ROW_GROUP_ROWS`]), but its last row
/// group is partly filled; DuckDB's checkpoint rewrites row groups where up
/// to four neighbours fit in fewer, so partial groups closer than that cost
/// a rewrite of their neighbours later (measured: 0.85 s at the next
/// checkpoint after a 1M-record import in transactions of one row group,
/// none at four). 1M records: 7.4 s in 100k transactions, 5.8 s now.
const BATCH_RECORDS: u64 = 4 * ROW_GROUP_ROWS;
const BATCH_FILES: usize = 1024;
/// How long the writer waits for more files before committing what it has.
const GATHER: Duration = Duration::from_millis(100);

/// A thread that owns the bronze connection and loads what it is sent.
/// Bodies are parsed by the threads that send them ([`BodySender`]): the
/// writer thread only appends, and parsing runs on every core.
pub struct Writer {
    tx: Option<BodySender>,
    handle: Option<JoinHandle<Result<(Bronze, LoadStats)>>>,
}

/// One committed transaction of the writer: which files, what it did, when
/// the commit returned (from then on every reader sees the rows).
#[derive(Debug, Clone)]
pub struct Committed {
    pub files: Vec<String>,
    pub stats: LoadStats,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl Writer {
    /// `depth` bounds how many landed bodies can wait in memory.
    pub fn spawn(bronze: Bronze, depth: usize) -> Self {
        Self::spawn_with(bronze, depth, None, None)
    }

    /// Like [`spawn`](Self::spawn), and before each commit makes the landing
    /// store `sync` durable: the bodies were landed with
    /// [`Durability::Deferred`](crate::landing::Durability::Deferred), and
    /// bronze must never hold rows whose landing file could still vanish.
    pub fn spawn_syncing(bronze: Bronze, depth: usize, sync: Option<Arc<dyn Store>>) -> Self {
        Self::spawn_with(bronze, depth, sync, None)
    }

    /// Like [`spawn`](Self::spawn), and says on `commits` when each
    /// transaction has committed: the real-time poller measures poll to
    /// queryable with it.
    pub fn spawn_notifying(bronze: Bronze, depth: usize, commits: Sender<Committed>) -> Self {
        Self::spawn_with(bronze, depth, None, Some(commits))
    }

    fn spawn_with(
        bronze: Bronze,
        depth: usize,
        sync: Option<Arc<dyn Store>>,
        commits: Option<Sender<Committed>>,
    ) -> Self {
        let (tx, rx) = sync_channel(depth.max(1));
        let handle = std::thread::Builder::new()
            .name("bronze-writer".into())
            .spawn(move || write_loop(bronze, rx, sync, commits))
            .expect("spawning a thread");
        Self {
            tx: Some(BodySender(tx)),
            handle: Some(handle),
        }
    }

    /// Parses and queues a landed body; blocks while the queue is full
    /// (back-pressure).
    pub fn send(&self, file: LandedFile, body: Vec<u8>) -> Result<()> {
        self.tx
            .as_ref()
            .ok_or(IngestError::Interrupted)?
            .send(file, body)
            .map_err(|_| IngestError::Landing("the bronze writer stopped".into()))
    }

    /// A sender for other threads or tasks.
    pub fn sender(&self) -> Option<BodySender> {
        self.tx.clone()
    }

    /// Waits for everything queued to be committed.
    pub fn finish(mut self) -> Result<(Bronze, LoadStats)> {
        drop(self.tx.take());
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Err(IngestError::Landing("the bronze writer panicked".into())),
        }
    }
}

/// Lowers the calling thread's scheduling priority a little, for threads
/// that produce work for the [`Writer`]. The writer is the one serial stage
/// of a load: when producers and the writer are all runnable on two cores,
/// a fair scheduler gives the writer two thirds of a core and the whole
/// load waits on it, while the producers only need to keep its short queue
/// from running dry. Measured on a 1M-record import (2 cores): the writer
/// was busy ~74% of the run, and ~2/3 of a core whenever both converters
/// ran. Per-thread nice values are a Linux property (elsewhere `setpriority`
/// acts on the whole process), so this is Linux-only; failure is harmless.
pub fn yield_to_writer() {
    #[cfg(target_os = "linux")]
    {
        const PRODUCER_NICE: libc::c_int = 5;
        // SAFETY: gettid and setpriority take plain integers, touch no
        // memory of ours, and on Linux PRIO_PROCESS with a thread id
        // changes that one thread.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            let current = libc::getpriority(libc::PRIO_PROCESS, tid);
            libc::setpriority(libc::PRIO_PROCESS, tid, current.max(PRODUCER_NICE));
        }
    }
}

/// Sends landed bodies to a [`Writer`], parsed on the sending thread.
#[derive(Clone)]
pub struct BodySender(SyncSender<(LandedFile, Parsed)>);

/// The writer has stopped (it failed; [`Writer::finish`] says why).
#[derive(Debug)]
pub struct WriterStopped;

impl BodySender {
    /// Parses `body` here, then queues it; blocks while the queue is full.
    pub fn send(&self, file: LandedFile, body: Vec<u8>) -> std::result::Result<(), WriterStopped> {
        let parsed = Parsed::new(&file, body);
        self.send_parsed(file, parsed)
    }

    /// Queues a body its producer has parsed already (an archive converter
    /// knows its records as it writes them); blocks while the queue is full.
    pub fn send_parsed(
        &self,
        file: LandedFile,
        parsed: Parsed,
    ) -> std::result::Result<(), WriterStopped> {
        self.0.send((file, parsed)).map_err(|_| WriterStopped)
    }
}

fn write_loop(
    mut bronze: Bronze,
    rx: Receiver<(LandedFile, Parsed)>,
    sync: Option<Arc<dyn Store>>,
    commits: Option<Sender<Committed>>,
) -> Result<(Bronze, LoadStats)> {
    let mut total = LoadStats::default();
    // Each body is appended as it arrives, so loading overlaps the
    // conversion or download of the next ones; the transaction is committed
    // when it is large enough, or when nothing more came for a moment (a
    // commit, and a sync, per small file would dominate the run).
    while let Ok(first) = rx.recv() {
        let mut loading = bronze.begin()?;
        let mut names: Vec<String> = Vec::new();
        let mut item = Some(first);
        while let Some((file, parsed)) = item.take() {
            if commits.is_some() {
                names.push(file.rel.clone());
            }
            loading.append_parsed(&file, parsed)?;
            if loading.records() >= BATCH_RECORDS || loading.files() >= BATCH_FILES {
                break;
            }
            item = rx.recv_timeout(GATHER).ok();
        }
        // Bronze must never count a body a power cut could still take away.
        if let Some(store) = &sync {
            store.sync()?;
        }
        let (stats, loaded) = loading.commit()?;
        bronze.mark_loaded(loaded);
        total.add(stats);
        if let Some(c) = &commits {
            // A receiver that went away only loses the notice.
            let _ = c.send(Committed {
                files: names,
                stats,
                at: chrono::Utc::now(),
            });
        }
    }
    Ok((bronze, total))
}

/// Loads every landed body that bronze does not hold yet: what a killed run
/// landed but did not get to load. Run at the start of every ingest command,
/// after putting back what a replay that was cut short had set aside.
pub fn load_pending(zone: &LandingZone, bronze: &mut Bronze) -> Result<LoadStats> {
    crate::replay::recover(bronze)?;
    let files = zone.list_except(None, None, |rel| bronze.is_loaded(rel))?;
    load_files(zone, bronze, files)
}

/// Rebuilds bronze for `[from, to]` from the landing zone alone, atomically
/// (see [`crate::replay`]): files that cannot be read are quarantined and
/// keep their bronze rows; if the reload fails, bronze is put back as it was.
pub fn replay(
    zone: &LandingZone,
    bronze: &mut Bronze,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<LoadStats> {
    crate::replay::recover(bronze)?;
    let files = zone.list(from, to)?;
    let (files, _rejected) = crate::replay::validate(zone, files)?;
    crate::replay::set_aside(bronze, &files)?;
    let reloaded = load_files(zone, bronze, files).and_then(|stats| {
        // Silver keeps the first observation of each position; replaying
        // some days may change which one that is, so recompute it whole.
        bronze.rebuild_silver()?;
        Ok(stats)
    });
    match reloaded {
        Ok(stats) => {
            crate::replay::discard(bronze)?;
            Ok(stats)
        }
        Err(e) => {
            crate::replay::recover(bronze)?;
            Err(e)
        }
    }
}

/// Loads `files` from the landing zone, a body at a time, committing every
/// [`BATCH_RECORDS`] records. Before each commit the landing zone is synced:
/// a killed run may have left bodies written but not yet durable.
fn load_files(
    zone: &LandingZone,
    bronze: &mut Bronze,
    files: Vec<LandedFile>,
) -> Result<LoadStats> {
    let mut total = LoadStats::default();
    let mut files = files.into_iter().peekable();
    while files.peek().is_some() {
        let mut loading = bronze.begin()?;
        for f in files.by_ref() {
            // a body that cannot be read (a truncated .zst) is moved aside
            // with its reason, so it stops no ingest, now or later
            let body = match crate::replay::check_body(zone, &f) {
                Ok(body) => body,
                Err(reason) => {
                    crate::replay::quarantine_file(zone, &f, &reason)?;
                    continue;
                }
            };
            loading.append_parsed(&f, Parsed::new(&f, body))?;
            if loading.records() >= BATCH_RECORDS || loading.files() >= BATCH_FILES {
                break;
            }
        }
        zone.sync()?;
        let (stats, loaded) = loading.commit()?;
        bronze.mark_loaded(loaded);
        total.add(stats);
    }
    Ok(total)
}
