//! Where the landing zone's objects live: a local folder, or a bucket in
//! S3 (or an S3-compatible server), Google Cloud Storage or Azure Blob.
//!
//! The landing zone needs six things of a store, and nothing else, so it is
//! the same code whatever holds the bytes:
//! - `put_new`: create an object only if no object has that name, in one
//!   step. Two workers racing for the same name: one wins, the other is told
//!   so. A crashed writer leaves the whole object or nothing.
//! - `put`: create or replace (markers, whose content is the same whoever
//!   writes it);
//! - `get`, `get_head` (the first bytes: a body's metadata), `list`,
//!   `rename`, `delete`;
//! - `append` / `read_log`: the ledger, one log per writer, so no two
//!   machines ever write the same object or file.
//!
//! Local folders keep their crash guarantees with a temporary file, fsync
//! and a rename (or a hard link where the name must be new). Object stores
//! give both by themselves: a PUT is atomic, and `If-None-Match: *` (S3,
//! MinIO, R2), a generation precondition (GCS) or `If-None-Match` on Azure
//! makes it conditional. The `object_store` crate speaks all three.
//!
//! Why a synchronous trait over an async crate: every caller (the archive
//! converters, the bronze writer thread, the batch tasks' blocking sections)
//! is synchronous code, and a landing write is one request. The object-store
//! calls run on one small runtime of their own ([`cloud_runtime`]).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::error::{IngestError, Result};

/// When a local write reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file and its directory before returning: for API bodies,
    /// which cannot be fetched again for free.
    Now,
    /// Atomic (temp file and rename) but not yet synced: the caller calls
    /// [`Store::sync`] once for many files before anything that depends on
    /// them is committed. An fsync costs ~3 ms here, so an archive of
    /// thousands of files would spend most of its time in them. A killed
    /// process loses nothing either way (the page cache survives it); only a
    /// power cut before the sync can, and the archive is still there to
    /// import again. Object stores ignore it: an acknowledged PUT is durable.
    Deferred,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its name relative to the landing root, `/` separated.
    pub rel: String,
    pub size: u64,
}

/// The storage under a landing zone. Names are relative, `/` separated,
/// and never start with `.` (local temporaries do).
pub trait Store: Send + Sync {
    /// Where this is, for messages: a path or a URL, never a credential.
    fn location(&self) -> String;
    /// The local folder, for a store on the local file system.
    fn local_root(&self) -> Option<&Path>;
    /// Creates `rel` unless an object of that name exists. `Ok(false)`: one
    /// did, and it is left as it was.
    fn put_new(&self, rel: &str, bytes: &[u8], durability: Durability) -> Result<bool>;
    /// Creates or replaces `rel`, atomically.
    fn put(&self, rel: &str, bytes: &[u8], durability: Durability) -> Result<()>;
    /// The whole object, or `None` when there is none.
    fn get(&self, rel: &str) -> Result<Option<Vec<u8>>>;
    /// At most the first `len` bytes of `rel`.
    fn get_head(&self, rel: &str, len: usize) -> Result<Option<Vec<u8>>>;
    /// [`get_head`](Self::get_head) of many objects (an object store reads
    /// them at once).
    fn get_heads(&self, rels: &[String], len: usize) -> Result<Vec<Option<Vec<u8>>>> {
        rels.iter().map(|r| self.get_head(r, len)).collect()
    }
    /// Whether an object of that name exists.
    fn exists(&self, rel: &str) -> Result<bool>;
    /// Every object whose name starts with `prefix/` (or everything for an
    /// empty prefix), in no particular order.
    fn list(&self, prefix: &str) -> Result<Vec<Listed>>;
    /// Moves `from` to `to` (replacing `to`).
    fn rename(&self, from: &str, to: &str) -> Result<()>;
    /// Removes `rel`; an object that is not there is no error.
    fn delete(&self, rel: &str) -> Result<()>;
    /// Adds one line (no newline in it) to this writer's part of `log`.
    fn append(&self, log: &str, line: &[u8]) -> Result<()>;
    /// Every line of every writer of `log` (a line a kill cut short is
    /// skipped by the caller, which cannot parse it).
    fn read_log(&self, log: &str) -> Result<Vec<Vec<u8>>>;
    /// Makes every [`Durability::Deferred`] write so far durable.
    /// Sends log lines a store holds back (a bucket batches them), so a
    /// run's ledger is complete when it ends.
    fn flush_log(&self) -> Result<()> {
        Ok(())
    }
    fn sync(&self) -> Result<()>;
}

/// Opens the store a landing setting names: `s3://bucket/prefix`,
/// `gs://bucket/prefix`, `az://container/prefix` (also `abfs://`,
/// `azure://`), `file:///path`, or a plain path.
pub fn open(location: &str) -> Result<Arc<dyn Store>> {
    match location.split_once("://") {
        None => Ok(Arc::new(LocalStore::open(PathBuf::from(location))?)),
        Some(("file", rest)) => Ok(Arc::new(LocalStore::open(PathBuf::from(rest))?)),
        Some(_) => Ok(Arc::new(CloudStore::open(location)?)),
    }
}

/// Whether a landing setting names an object store rather than a folder.
pub fn is_url(location: &str) -> bool {
    location
        .split_once("://")
        .is_some_and(|(scheme, _)| scheme != "file")
}

// ---------------------------------------------------------------------------
// Local folder

/// A landing zone in a local folder: atomic writes by temporary file and
/// rename, fsynced as [`Durability`] says.
pub struct LocalStore {
    root: PathBuf,
    logs: Mutex<std::collections::HashMap<String, File>>,
}

impl LocalStore {
    pub fn open(root: PathBuf) -> Result<Self> {
        fs::create_dir_all(&root).map_err(|e| IngestError::io(&root, e))?;
        Ok(Self {
            root,
            logs: Mutex::new(Default::default()),
        })
    }

    fn abs(&self, rel: &str) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(rel.split('/').filter(|s| !s.is_empty()));
        p
    }

    fn walk(&self, dir: &Path, out: &mut Vec<Listed>) -> Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(IngestError::io(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| IngestError::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(".tmp-") {
                sweep_temporary(&path, &name);
                continue;
            }
            if name.starts_with('.') {
                continue;
            }
            let kind = entry.file_type().map_err(|e| IngestError::io(&path, e))?;
            if kind.is_dir() {
                self.walk(&path, out)?;
            } else {
                let rel = path
                    .strip_prefix(&self.root)
                    .map(|p| {
                        p.components()
                            .map(|c| c.as_os_str().to_string_lossy())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .unwrap_or(name);
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(Listed { rel, size });
            }
        }
        Ok(())
    }
}

impl Store for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn put_new(&self, rel: &str, bytes: &[u8], durability: Durability) -> Result<bool> {
        let path = self.abs(rel);
        if path.exists() {
            return Ok(false);
        }
        write_file(&path, bytes, durability, Replace::Never)
    }

    fn put(&self, rel: &str, bytes: &[u8], durability: Durability) -> Result<()> {
        write_file(&self.abs(rel), bytes, durability, Replace::Always).map(drop)
    }

    fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let path = self.abs(rel);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(IngestError::io(&path, e)),
        }
    }

    fn get_head(&self, rel: &str, len: usize) -> Result<Option<Vec<u8>>> {
        let path = self.abs(rel);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(IngestError::io(&path, e)),
        };
        let mut out = Vec::with_capacity(len.min(1 << 16));
        file.take(len as u64)
            .read_to_end(&mut out)
            .map_err(|e| IngestError::io(&path, e))?;
        Ok(Some(out))
    }

    fn exists(&self, rel: &str) -> Result<bool> {
        Ok(self.abs(rel).exists())
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        self.walk(&self.abs(prefix), &mut out)?;
        Ok(out)
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (src, dest) = (self.abs(from), self.abs(to));
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
        }
        fs::rename(&src, &dest).map_err(|e| IngestError::io(&src, e))
    }

    fn delete(&self, rel: &str) -> Result<()> {
        let path = self.abs(rel);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(IngestError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// A local log is one file (`<log>.jsonl`) that every writer of this
    /// machine appends to: appends of one line are atomic on a local file
    /// system, and a line a kill cut short is ended before the next one.
    fn append(&self, log: &str, line: &[u8]) -> Result<()> {
        let path = self.abs(&format!("{log}.jsonl"));
        let mut logs = self.logs.lock().unwrap_or_else(|e| e.into_inner());
        if !logs.contains_key(log) {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
            }
            let mut f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&path)
                .map_err(|e| IngestError::io(&path, e))?;
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            if len > 0 {
                let mut last = [0u8; 1];
                let torn = f.seek(SeekFrom::End(-1)).is_ok()
                    && f.read_exact(&mut last).is_ok()
                    && last[0] != b'\n';
                if torn {
                    f.write_all(b"\n").map_err(|e| IngestError::io(&path, e))?;
                }
            }
            logs.insert(log.to_string(), f);
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        if let Some(f) = logs.get_mut(log) {
            f.write_all(&buf).map_err(|e| IngestError::io(&path, e))?;
        }
        Ok(())
    }

    fn read_log(&self, log: &str) -> Result<Vec<Vec<u8>>> {
        let mut lines: Vec<Vec<u8>> = Vec::new();
        if let Some(bytes) = self.get(&format!("{log}.jsonl"))? {
            lines.extend(split_lines(&bytes));
        }
        // A log that an object store's writers left (the zone was copied down)
        lines.extend(read_log_objects(self, log)?);
        Ok(lines)
    }

    fn sync(&self) -> Result<()> {
        sync_filesystem(&self.root)
    }
}

/// Whether a write may replace an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Replace {
    Always,
    Never,
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
    write_file(path, bytes, Durability::Now, Replace::Always).map(drop)
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Atomic write; synced now or left to [`Store::sync`]. With
/// [`Replace::Never`] the temporary is hard-linked to its name, which fails
/// if the name exists: of two writers, exactly one creates the file.
/// `Ok(false)`: the file existed.
fn write_file(path: &Path, bytes: &[u8], durability: Durability, replace: Replace) -> Result<bool> {
    let now = durability == Durability::Now;
    let dir = path
        .parent()
        .ok_or_else(|| IngestError::Landing(format!("{} has no parent", path.display())))?;
    fs::create_dir_all(dir).map_err(|e| IngestError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        TEMP_SEQ.fetch_add(1, Ordering::Relaxed),
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
        let created = match replace {
            Replace::Always => {
                fs::rename(&tmp, path)?;
                true
            }
            Replace::Never => {
                let linked = match fs::hard_link(&tmp, path) {
                    Ok(()) => true,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                    Err(e) => return Err(e),
                };
                fs::remove_file(&tmp)?;
                linked
            }
        };
        if now && created {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(created)
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        IngestError::io(path, e)
    })
}

fn split_lines(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
}

// ---------------------------------------------------------------------------
// Object stores

/// A landing zone in a bucket. Every write is one PUT; names that must be
/// new are written with a precondition, so no two workers ever replace each
/// other's objects.
pub struct CloudStore {
    store: Arc<dyn ObjectStore>,
    /// The URL as given (`s3://bucket/prefix`), for messages.
    url: String,
    /// The folder inside the bucket, no leading or trailing `/`.
    prefix: String,
    /// This process's name in the ledger (`<host>-<pid>-<start>`), and how
    /// many lines it wrote: each line is its own object.
    writer: String,
    /// Whether the store was seen to honour "create only if absent"
    /// ([`CloudStore::check_conditional`]), once per process.
    conditional: OnceLock<std::result::Result<(), String>>,
    seq: AtomicU64,
    /// Log lines not yet sent: one object per batch, not per line.
    pending: Mutex<PendingLog>,
    /// Secrets of the environment, to take out of any error text.
    secrets: Vec<String>,
}

/// Log lines a [`CloudStore`] holds until [`LOG_BATCH_LINES`] have gathered,
/// [`LOG_BATCH_AGE`] has passed since the first, another log is written,
/// `sync` is called or the store is dropped. A ledger entry is a record of
/// what happened, not data (a body carries its own metadata), so a worker
/// killed in between loses at most that many entries of its own ledger and
/// nothing else; in exchange a batch of 360 windows sends a handful of
/// ledger objects instead of 360.
#[derive(Default)]
struct PendingLog {
    log: String,
    bytes: Vec<u8>,
    lines: usize,
    since: Option<std::time::Instant>,
}

const LOG_BATCH_LINES: usize = 128;
const LOG_BATCH_AGE: Duration = Duration::from_secs(2);

/// How long one request may try, retries included: an unreachable store
/// fails a command in seconds, not after object_store's default 3 minutes.
const CLOUD_RETRY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many objects are read or written at once by one listing.
const CLOUD_CONCURRENCY: usize = 32;

/// The one runtime the object-store calls run on. It is never dropped
/// (dropping a runtime inside another one panics), and two threads are
/// plenty for network waits.
fn cloud_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("landing-io")
            .enable_all()
            .build()
            .expect("starting the object-store runtime")
    })
}

/// Runs a future on [`cloud_runtime`] and waits for it. Safe from any
/// thread, inside another runtime too: the caller's thread only blocks.
fn block<T: Send + 'static>(fut: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let handle = cloud_runtime().spawn(fut);
    futures::executor::block_on(handle).expect("an object-store task panicked")
}

/// A bucket (or a folder in one) opened from a URL: the client, the folder,
/// and the environment's secrets to keep out of messages. The landing zone
/// and the lake (crates/lake) open their stores with it, so credentials,
/// endpoints, timeouts and retries are set in one place.
pub struct Bucket {
    pub store: Arc<dyn ObjectStore>,
    /// `scheme://bucket`, no trailing `/`.
    pub root: String,
    /// The folder inside the bucket, no leading or trailing `/`.
    pub prefix: String,
    /// Secrets of the environment, to take out of any error text.
    pub secrets: Vec<String>,
}

impl Bucket {
    /// Opens `s3://bucket/prefix` (or `gs://`, `az://`): credentials from
    /// each cloud's environment variables and (S3) `~/.aws` profile, an
    /// S3-compatible endpoint from `AWS_ENDPOINT_URL`. Nothing is sent yet.
    pub fn open(url: &str) -> Result<Bucket> {
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or_default();
        let parsed = url::Url::parse(url)
            .map_err(|e| IngestError::Invalid(format!("location {url}: {e}")))?;
        let bucket = parsed.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(IngestError::Invalid(format!(
                "location {url}: no bucket (expected {scheme}://bucket/prefix)"
            )));
        }
        let prefix = parsed.path().trim_matches('/').to_string();
        let retry = object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(4),
                base: 2.0,
            },
            max_retries: 4,
            retry_timeout: CLOUD_RETRY_TIMEOUT,
        };
        let client = object_store::ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        let bucket_url = format!("{scheme}://{bucket}");
        let store: Arc<dyn ObjectStore> = match scheme {
            "s3" | "s3a" => {
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_url(&bucket_url)
                    .with_retry(retry);
                let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                    .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                    .or_else(|_| std::env::var("AWS_ENDPOINT"))
                    .ok();
                let mut client = client;
                if let Some(endpoint) = &endpoint {
                    b = b.with_endpoint(endpoint);
                    // a local MinIO or test server speaks plain HTTP
                    if endpoint.starts_with("http://") {
                        client = client.with_allow_http(true);
                    }
                }
                if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                    if let Some(p) = aws_profile() {
                        b = b
                            .with_access_key_id(p.key_id)
                            .with_secret_access_key(p.secret);
                        if let Some(token) = p.token {
                            b = b.with_token(token);
                        }
                        if let Some(region) = p.region {
                            b = b.with_region(region);
                        }
                    }
                }
                let has_region = ["AWS_REGION", "AWS_DEFAULT_REGION"]
                    .iter()
                    .any(|k| std::env::var_os(k).is_some());
                if !has_region && endpoint.is_some() {
                    b = b.with_region("us-east-1");
                }
                Arc::new(
                    b.with_client_options(client)
                        .build()
                        .map_err(|e| cloud_error(url, "open", &e, &[]))?,
                )
            }
            "gs" => Arc::new(
                object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_url(&bucket_url)
                    .with_retry(retry)
                    .with_client_options(client)
                    .build()
                    .map_err(|e| cloud_error(url, "open", &e, &[]))?,
            ),
            "az" | "abfs" | "abfss" | "azure" => Arc::new(
                object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_url(&bucket_url)
                    .with_retry(retry)
                    .with_client_options(client)
                    .build()
                    .map_err(|e| cloud_error(url, "open", &e, &[]))?,
            ),
            other => {
                return Err(IngestError::Invalid(format!(
                    "location {url}: unknown scheme `{other}` (use s3://, gs://, az://, file:// or a path)"
                )))
            }
        };
        let secrets = [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "GOOGLE_SERVICE_ACCOUNT_KEY",
            "AZURE_STORAGE_ACCOUNT_KEY",
            "AZURE_STORAGE_ACCESS_KEY",
            "AZURE_STORAGE_SAS_KEY",
            "AZURE_CLIENT_SECRET",
        ]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .chain(aws_profile().map(|p| p.secret))
        .filter(|s| s.len() >= 4)
        .collect();
        Ok(Bucket {
            store,
            root: bucket_url,
            prefix,
            secrets,
        })
    }

    /// An object-store error as one line that says what failed where, with
    /// no credential in it.
    pub fn describe(&self, what: &str, at: &str, e: &object_store::Error) -> String {
        match cloud_error(at, what, e, &self.secrets) {
            IngestError::Landing(text) => text,
            other => other.to_string(),
        }
    }
}

impl CloudStore {
    /// The object for the lines gathered so far, emptying the batch.
    fn take_pending(&self, p: &mut PendingLog) -> (String, Vec<u8>) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let rel = format!("{}/writer={}/{seq:010}.json", p.log, self.writer);
        p.lines = 0;
        p.since = None;
        (rel, std::mem::take(&mut p.bytes))
    }

    /// Sends the gathered log lines, if any.
    fn send_pending_log(&self) -> Result<()> {
        let batch = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            (p.lines > 0).then(|| self.take_pending(&mut p))
        };
        if let Some((rel, bytes)) = batch {
            self.put(&rel, &bytes, Durability::Now)?;
        }
        Ok(())
    }
}

impl Drop for CloudStore {
    fn drop(&mut self) {
        if let Err(e) = self.send_pending_log() {
            tracing::warn!("ledger lines not sent: {e}");
        }
    }
}

impl CloudStore {
    fn open(url: &str) -> Result<Self> {
        let Bucket {
            store,
            prefix,
            secrets,
            ..
        } = Bucket::open(url)?;
        Ok(Self {
            store,
            url: url.to_string(),
            prefix,
            writer: writer_name(),
            conditional: OnceLock::new(),
            seq: AtomicU64::new(0),
            pending: Mutex::new(PendingLog::default()),
            secrets,
        })
    }

    fn key(&self, rel: &str) -> ObjPath {
        let rel = rel.trim_matches('/');
        match (self.prefix.is_empty(), rel.is_empty()) {
            (true, _) => ObjPath::from(rel),
            (false, true) => ObjPath::from(self.prefix.as_str()),
            (false, false) => ObjPath::from(format!("{}/{rel}", self.prefix)),
        }
    }

    fn rel_of(&self, key: &ObjPath) -> String {
        let key = key.as_ref();
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            key.strip_prefix(&self.prefix)
                .map(|k| k.trim_start_matches('/'))
                .unwrap_or(key)
                .to_string()
        }
    }

    fn err(&self, what: &str, rel: &str, e: &object_store::Error) -> IngestError {
        cloud_error(
            &format!("{}/{rel}", self.url.trim_end_matches('/')),
            what,
            e,
            &self.secrets,
        )
    }
}

/// An object-store error as one line that says what failed where, with no
/// credential in it (S3 echoes the access key id in some error bodies).
fn cloud_error(at: &str, what: &str, e: &object_store::Error, secrets: &[String]) -> IngestError {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    let hint = if text.contains("NoSuchBucket") || text.contains("bucket does not exist") {
        " (the bucket does not exist)"
    } else if text.contains("InvalidAccessKeyId")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("403 Forbidden")
    {
        " (the store refused the credentials)"
    } else if text.contains("error sending request") || text.contains("connect") {
        " (the store cannot be reached)"
    } else {
        ""
    };
    IngestError::Landing(format!(
        "{what} {at}{hint}: {}",
        warehouse::bounded(&text, 600)
    ))
}

impl CloudStore {
    /// One conditional PUT.
    fn create(&self, rel: &str, bytes: &[u8]) -> Result<bool> {
        let (store, key) = (self.store.clone(), self.key(rel));
        let payload = PutPayload::from(bytes.to_vec());
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match block(async move { store.put_opts(&key, payload, opts).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e @ object_store::Error::NotImplemented { .. })
            | Err(e @ object_store::Error::NotSupported { .. }) => {
                Err(IngestError::Landing(format!(
                "{} cannot create objects only if absent ({}): Tarmac needs conditional writes \
                 (If-None-Match: *, as S3, R2, GCS, Azure and recent MinIO have) so that workers \
                 never overwrite each other",
                self.url,
                warehouse::bounded(&e.to_string(), 200)
            )))
            }
            Err(e) => Err(self.err("cannot write", rel, &e)),
        }
    }

    /// Some S3-compatible servers ignore `If-None-Match` and overwrite:
    /// workers would then replace each other's bodies without a word. Before
    /// its first conditional write, a process creates a probe object twice
    /// under `_probe/` and expects the second attempt to be refused.
    fn check_conditional(&self) -> std::result::Result<(), String> {
        let rel = format!("_probe/{}.json", self.writer);
        let first = self.create(&rel, b"{}").map_err(|e| e.to_string())?;
        let second = self.create(&rel, b"{}").map_err(|e| e.to_string())?;
        let _ = self.delete(&rel);
        if first && second {
            return Err(format!(
                "{} ignores conditional writes (If-None-Match: *): a second create of the same \
                 object succeeded. Tarmac needs them so that workers never overwrite each \
                 other; use a store that has them (S3, R2, GCS, Azure, MinIO since 2024)",
                self.url
            ));
        }
        Ok(())
    }
}

impl Store for CloudStore {
    fn location(&self) -> String {
        self.url.clone()
    }

    fn local_root(&self) -> Option<&Path> {
        None
    }

    fn put_new(&self, rel: &str, bytes: &[u8], _: Durability) -> Result<bool> {
        self.conditional
            .get_or_init(|| self.check_conditional())
            .clone()
            .map_err(IngestError::Landing)?;
        self.create(rel, bytes)
    }

    fn put(&self, rel: &str, bytes: &[u8], _: Durability) -> Result<()> {
        let (store, key) = (self.store.clone(), self.key(rel));
        let payload = PutPayload::from(bytes.to_vec());
        block(async move { store.put(&key, payload).await })
            .map(drop)
            .map_err(|e| self.err("cannot write", rel, &e))
    }

    fn get(&self, rel: &str) -> Result<Option<Vec<u8>>> {
        let (store, key) = (self.store.clone(), self.key(rel));
        let got = block(async move {
            match store.get(&key).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| self.err("cannot read", rel, &e))
    }

    fn get_head(&self, rel: &str, len: usize) -> Result<Option<Vec<u8>>> {
        let (store, key) = (self.store.clone(), self.key(rel));
        let len = len as u64;
        let got = block(async move {
            let opts = object_store::GetOptions {
                range: Some(object_store::GetRange::Bounded(0..len)),
                ..Default::default()
            };
            match store.get_opts(&key, opts).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        got.map(|b| b.map(|b| b.to_vec()))
            .map_err(|e| self.err("cannot read", rel, &e))
    }

    fn get_heads(&self, rels: &[String], len: usize) -> Result<Vec<Option<Vec<u8>>>> {
        self.get_many(rels, Some(len))
    }

    fn exists(&self, rel: &str) -> Result<bool> {
        let (store, key) = (self.store.clone(), self.key(rel));
        match block(async move { store.head(&key).await }) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err("cannot read", rel, &e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>> {
        let store = self.store.clone();
        let key = self.key(prefix);
        let whole = self.prefix.is_empty() && prefix.trim_matches('/').is_empty();
        let found = block(async move {
            let stream = if whole {
                store.list(None)
            } else {
                store.list(Some(&key))
            };
            stream.try_collect::<Vec<_>>().await
        })
        .map_err(|e| self.err("cannot list", prefix, &e))?;
        Ok(found
            .into_iter()
            .map(|m| Listed {
                rel: self.rel_of(&m.location),
                size: m.size,
            })
            .collect())
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (store, a, b) = (self.store.clone(), self.key(from), self.key(to));
        block(async move { store.rename(&a, &b).await })
            .map_err(|e| self.err("cannot move", from, &e))
    }

    fn delete(&self, rel: &str) -> Result<()> {
        let (store, key) = (self.store.clone(), self.key(rel));
        match block(async move { store.delete(&key).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("cannot delete", rel, &e)),
        }
    }

    /// An object store cannot append: each line is an object of its own,
    /// `<log>/writer=<name>/<seq>.json`, named by this process so no other
    /// writer can ever touch it.
    fn append(&self, log: &str, line: &[u8]) -> Result<()> {
        let full = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let other_log = p.lines > 0 && p.log != log;
            let earlier = if other_log {
                Some(self.take_pending(&mut p))
            } else {
                None
            };
            p.log = log.to_string();
            p.bytes.extend_from_slice(line);
            p.bytes.push(b'\n');
            p.lines += 1;
            let since = *p.since.get_or_insert_with(std::time::Instant::now);
            let now = (p.lines >= LOG_BATCH_LINES || since.elapsed() >= LOG_BATCH_AGE)
                .then(|| self.take_pending(&mut p));
            [earlier, now]
        };
        for (rel, bytes) in full.into_iter().flatten() {
            self.put(&rel, &bytes, Durability::Now)?;
        }
        Ok(())
    }

    fn read_log(&self, log: &str) -> Result<Vec<Vec<u8>>> {
        self.send_pending_log()?;
        let mut lines = Vec::new();
        if let Some(bytes) = self.get(&format!("{log}.jsonl"))? {
            lines.extend(split_lines(&bytes));
        }
        lines.extend(read_log_objects(self, log)?);
        Ok(lines)
    }

    fn sync(&self) -> Result<()> {
        self.send_pending_log()
    }

    fn flush_log(&self) -> Result<()> {
        self.send_pending_log()
    }
}

impl CloudStore {
    /// Reads many objects at once (a listing's worth of small objects, one
    /// request each, would otherwise wait on every round trip in turn).
    fn get_many(&self, rels: &[String], head: Option<usize>) -> Result<Vec<Option<Vec<u8>>>> {
        let store = self.store.clone();
        let keys: Vec<ObjPath> = rels.iter().map(|r| self.key(r)).collect();
        let got = block(async move {
            futures::stream::iter(keys.into_iter().map(|key| {
                let store = store.clone();
                async move {
                    let opts = object_store::GetOptions {
                        range: head.map(|n| object_store::GetRange::Bounded(0..n as u64)),
                        ..Default::default()
                    };
                    match store.get_opts(&key, opts).await {
                        Ok(r) => r.bytes().await.map(|b| Some(b.to_vec())),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(e),
                    }
                }
            }))
            .buffered(CLOUD_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await
        });
        got.map_err(|e| self.err("cannot read", "", &e))
    }
}

/// The lines that object-store writers left under `<log>/`, in name order
/// (each writer's lines in the order it wrote them).
fn read_log_objects(store: &dyn Store, log: &str) -> Result<Vec<Vec<u8>>> {
    let mut objects: Vec<String> = store
        .list(log)?
        .into_iter()
        .map(|l| l.rel)
        .filter(|r| r.ends_with(".json"))
        .collect();
    objects.sort();
    let mut out = Vec::with_capacity(objects.len());
    for rel in objects {
        if let Some(bytes) = store.get(&rel)? {
            out.extend(split_lines(&bytes));
        }
    }
    Ok(out)
}

/// `<host>-<pid>-<start time>`: unique among the writers of one landing
/// zone, and says who wrote what.
fn writer_name() -> String {
    let host = hostname().unwrap_or_else(|| "host".into());
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{host}-{}-{}",
        std::process::id(),
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    )
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, and
    // gethostname NUL-terminates within it or truncates.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// Credentials of a named AWS profile (`AWS_PROFILE`, else `default`) from
/// the shared files, for machines configured with `aws configure` rather
/// than the environment. object_store reads the environment, web identity
/// and instance metadata itself, but not these files.
struct AwsProfile {
    key_id: String,
    secret: String,
    token: Option<String>,
    region: Option<String>,
}

fn aws_profile() -> Option<AwsProfile> {
    let home = std::env::var_os("HOME").map(PathBuf::from)?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let creds_path = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    let config_path = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/config"));
    let creds = ini_section(&fs::read_to_string(creds_path).ok()?, &profile);
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    let config = fs::read_to_string(config_path)
        .map(|t| ini_section(&t, &config_section))
        .unwrap_or_default();
    Some(AwsProfile {
        key_id: creds.get("aws_access_key_id")?.clone(),
        secret: creds.get("aws_secret_access_key")?.clone(),
        token: creds.get("aws_session_token").cloned(),
        region: config.get("region").cloned(),
    })
}

/// The `key = value` pairs of one `[section]` of an INI text.
fn ini_section(text: &str, section: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_put_new_creates_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(dir.path().to_path_buf()).unwrap();
        assert!(s.put_new("a/b.txt", b"one", Durability::Now).unwrap());
        assert!(!s.put_new("a/b.txt", b"two", Durability::Deferred).unwrap());
        assert_eq!(s.get("a/b.txt").unwrap().unwrap(), b"one");
        assert_eq!(s.get_head("a/b.txt", 2).unwrap().unwrap(), b"on");
        assert_eq!(s.get("a/none").unwrap(), None);
        s.put("a/b.txt", b"three", Durability::Now).unwrap();
        assert_eq!(s.get("a/b.txt").unwrap().unwrap(), b"three");
        // no temporaries left behind
        let names: Vec<_> = fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["b.txt".to_string()]);
    }

    #[test]
    fn local_put_new_races_have_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let s = Arc::new(LocalStore::open(dir.path().to_path_buf()).unwrap());
        let winners: usize = (0..8)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    s.put_new("x/y", format!("{i}").as_bytes(), Durability::Deferred)
                        .unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(winners, 1);
    }

    #[test]
    fn local_list_rename_delete_and_logs() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(dir.path().to_path_buf()).unwrap();
        s.put("p/q/1", b"1", Durability::Now).unwrap();
        s.put("p/2", b"22", Durability::Now).unwrap();
        s.put("other", b"3", Durability::Now).unwrap();
        let mut l = s.list("p").unwrap();
        l.sort_by(|a, b| a.rel.cmp(&b.rel));
        assert_eq!(
            l,
            vec![
                Listed {
                    rel: "p/2".into(),
                    size: 2
                },
                Listed {
                    rel: "p/q/1".into(),
                    size: 1
                }
            ]
        );
        assert_eq!(s.list("").unwrap().len(), 3);
        assert!(s.list("missing").unwrap().is_empty());
        s.rename("p/2", "r/2").unwrap();
        assert_eq!(s.get("r/2").unwrap().unwrap(), b"22");
        s.delete("r/2").unwrap();
        s.delete("r/2").unwrap();
        assert_eq!(s.get("r/2").unwrap(), None);

        s.append("_log/l", b"{\"a\":1}").unwrap();
        s.append("_log/l", b"{\"a\":2}").unwrap();
        assert_eq!(
            s.read_log("_log/l").unwrap(),
            vec![b"{\"a\":1}".to_vec(), b"{\"a\":2}".to_vec()]
        );
    }

    #[test]
    fn a_torn_log_line_does_not_swallow_the_next() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("_l")).unwrap();
        fs::write(dir.path().join("_l/log.jsonl"), b"{\"ok\":1}\n{\"at\":\"20").unwrap();
        let s = LocalStore::open(dir.path().to_path_buf()).unwrap();
        s.append("_l/log", b"{\"ok\":2}").unwrap();
        let lines = s.read_log("_l/log").unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], b"{\"ok\":2}");
    }

    #[test]
    fn sweeps_temporaries_of_dead_writers_only() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(dir.path().to_path_buf()).unwrap();
        let part = dir.path().join("a/b");
        fs::create_dir_all(&part).unwrap();
        // pid 0 is never a live process here; our own pid is alive
        let dead = part.join(".tmp-0-1-x.json.zst");
        let live = part.join(format!(".tmp-{}-1-y.json.zst", std::process::id()));
        fs::write(&dead, b"partial").unwrap();
        fs::write(&live, b"partial").unwrap();
        assert!(s.list("").unwrap().is_empty());
        assert!(!dead.exists());
        assert!(live.exists());
    }

    #[test]
    fn locations_are_parsed() {
        assert!(is_url("s3://b/p"));
        assert!(is_url("gs://b"));
        assert!(!is_url("file:///srv/landing"));
        assert!(!is_url("landing"));
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().display());
        let s = open(&url).unwrap();
        assert_eq!(s.local_root(), Some(dir.path()));
        let e = open("ftp://host/x").err().unwrap().to_string();
        assert!(e.contains("unknown scheme `ftp`"), "{e}");
        let e = open("s3:///x").err().unwrap().to_string();
        assert!(e.contains("no bucket"), "{e}");
    }

    #[test]
    fn reads_an_aws_profile_section() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key=B\n\n[other]\naws_access_key_id = C\n";
        let d = ini_section(text, "default");
        assert_eq!(d.get("aws_access_key_id").unwrap(), "A");
        assert_eq!(d.get("aws_secret_access_key").unwrap(), "B");
        assert_eq!(ini_section(text, "other").len(), 1);
        assert!(ini_section(text, "none").is_empty());
    }

    #[test]
    fn cloud_errors_hide_secrets_and_say_why() {
        let e = object_store::Error::Generic {
            store: "S3",
            source: "403 Forbidden: InvalidAccessKeyId AKIASECRET".into(),
        };
        let msg = cloud_error("s3://b/x", "cannot write", &e, &["AKIASECRET".into()]).to_string();
        assert!(!msg.contains("AKIASECRET"), "{msg}");
        assert!(msg.contains("refused the credentials"), "{msg}");
        assert!(msg.contains("s3://b/x"), "{msg}");
    }
}
