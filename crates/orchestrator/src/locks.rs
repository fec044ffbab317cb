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
}
