//! Cross-process locks in the state folder.
//!
//! DuckDB lets one process at a time open the warehouse for writing, and a
//! reader's lock blocks a writer too; steps run as child processes, possibly
//! from a `tarmac orchestrate` and a `tarmac run-job` at once. So every step
//! holds `warehouse.lock` (an `flock`, released by the kernel when the holder
//! dies, kill -9 included) while it runs: one writer at a time across jobs and
//! processes.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A held `flock`; dropping it releases the lock.
#[derive(Debug)]
pub struct FileLock {
    _file: File,
    pub path: PathBuf,
}

fn open(path: &Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(format!("cannot open lock file {}", path.display()), e))
}

fn try_flock(f: &File) -> bool {
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

impl FileLock {
    /// Takes the lock now or returns None.
    pub fn try_acquire(path: &Path) -> Result<Option<FileLock>> {
        let f = open(path)?;
        Ok(try_flock(&f).then(|| FileLock {
            _file: f,
            path: path.to_path_buf(),
        }))
    }

    /// Waits for the lock, polling every 50 ms (an async task cannot block in
    /// `flock`). `on_wait` is called once if the lock is not free at once.
    pub async fn acquire(path: &Path, mut on_wait: impl FnMut()) -> Result<FileLock> {
        let f = open(path)?;
        let mut told = false;
        loop {
            if try_flock(&f) {
                return Ok(FileLock {
                    _file: f,
                    path: path.to_path_buf(),
                });
            }
            if !told {
                on_wait();
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Spaces out steps that call the FlightLabs API. Each step's own client
/// keeps at most N request starts in any window of S seconds; two steps one
/// after the other could still put 2N in one window. Steps that use the API
/// already run one at a time (they hold the warehouse lock), so starting the
/// next one at least one window after the last one ended keeps the whole
/// schedule within the plan. The end time lives in a file so `run-job` and
/// `orchestrate` agree.
pub struct ApiGate {
    path: PathBuf,
    window: Duration,
}

impl ApiGate {
    pub fn new(state_dir: &Path, window: Duration) -> ApiGate {
        ApiGate {
            path: state_dir.join("api_last_end"),
            window,
        }
    }

    /// How long until an API step may start.
    pub fn wait_needed(&self) -> Duration {
        let last = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok());
        match last {
            None => Duration::ZERO,
            Some(ms) => {
                let ready = ms + self.window.as_millis() as i64;
                let now = crate::history::now_ms();
                Duration::from_millis((ready - now).clamp(0, self.window.as_millis() as i64) as u64)
            }
        }
    }

    pub fn finished(&self) {
        let _ = std::fs::write(&self.path, crate::history::now_ms().to_string());
    }
}

/// Measures how long something waited, for log lines.
pub fn since(t: Instant) -> String {
    crate::duration::human(t.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("warehouse.lock");
        let a = FileLock::try_acquire(&p).unwrap().expect("free");
        assert!(FileLock::try_acquire(&p).unwrap().is_none(), "held");
        let p2 = p.clone();
        let waiter = tokio::spawn(async move {
            let mut waited = false;
            let _l = FileLock::acquire(&p2, || waited = true).await.unwrap();
            waited
        });
        tokio::time::sleep(Duration::from_millis(120)).await;
        drop(a);
        assert!(waiter.await.unwrap(), "had to wait");
    }

    #[test]
    fn api_gate_spaces_steps() {
        let dir = tempfile::tempdir().unwrap();
        let g = ApiGate::new(dir.path(), Duration::from_secs(10));
        assert_eq!(g.wait_needed(), Duration::ZERO);
        g.finished();
        let w = g.wait_needed();
        assert!(
            w > Duration::from_secs(9) && w <= Duration::from_secs(10),
            "{w:?}"
        );
    }
}
