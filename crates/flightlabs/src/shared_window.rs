//! The plan's rate limit, shared live by every process on the machine.
//!
//! Each client's [`SlidingWindow`](crate::SlidingWindow) counts only its own
//! requests, so an orchestrator step, a manual `ingest batch` and a real-time
//! poller running together could each use the whole plan. This window lives
//! in a small file instead: the start times (wall clock, ms) of the last N
//! requests, read and rewritten under an `flock` by whoever wants to start
//! one. The kernel drops the lock of a process that dies, and a start older
//! than the window no longer counts, so a killed process cannot block the
//! others. The critical section is one read and one write of a few hundred
//! bytes.
//!
//! Same rule as the in-process window (at most N starts in any window of S
//! seconds, plus the client's margin), so the provider never sees more than
//! its plan, whichever processes made the requests.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::ratelimit::RateLimit;

#[derive(Debug, Clone)]
pub struct SharedWindow {
    path: PathBuf,
    limit: RateLimit,
    margin: Duration,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Locked(File);

impl Drop for Locked {
    fn drop(&mut self) {
        // SAFETY: unlocking a descriptor we own; no memory is involved.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

impl SharedWindow {
    pub fn new(path: impl Into<PathBuf>, limit: RateLimit, margin: Duration) -> Self {
        Self {
            path: path.into(),
            limit,
            margin,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::io::Result<Locked> {
        if let Some(d) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d)?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&self.path)?;
        // SAFETY: flock on a descriptor we own. Held for microseconds.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Locked(f))
    }

    /// Takes a slot now if one is free; otherwise how long to wait.
    pub fn try_acquire(&self) -> std::io::Result<Result<(), Duration>> {
        self.try_acquire_at(now_ms())
    }

    fn try_acquire_at(&self, now: i64) -> std::io::Result<Result<(), Duration>> {
        let mut locked = self.lock()?;
        let f = &mut locked.0;
        let mut text = String::new();
        f.read_to_string(&mut text)?;
        let window = (self.limit.per + self.margin).as_millis() as i64;
        let mut starts: Vec<i64> = text
            .split_ascii_whitespace()
            .filter_map(|t| t.parse().ok())
            // a start in the future is a clock that stepped back: keep it
            // for one window at most
            .filter(|&t| now - t < window && t - now < window)
            .collect();
        starts.sort_unstable();
        let free = starts.len() < self.limit.requests as usize;
        let answer = if free {
            starts.push(now);
            Ok(())
        } else {
            let first = starts[starts.len() - self.limit.requests as usize];
            Err(Duration::from_millis((first + window - now).max(1) as u64))
        };
        let keep = &starts[starts.len().saturating_sub(self.limit.requests as usize)..];
        let out: String = keep.iter().map(|t| format!("{t}\n")).collect();
        f.seek(SeekFrom::Start(0))?;
        f.set_len(0)?;
        f.write_all(out.as_bytes())?;
        Ok(answer)
    }

    /// Waits until a slot is free in every process's count and takes it. A
    /// file that cannot be used (a read-only folder) is reported once and
    /// the in-process window alone applies.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire() {
                Ok(Ok(())) => return,
                Ok(Err(wait)) => tokio::time::sleep(wait).await,
                Err(e) => {
                    tracing::warn!(
                        "the shared rate-limit file {} cannot be used ({e}); this process limits itself alone",
                        self.path.display()
                    );
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(dir: &Path) -> SharedWindow {
        SharedWindow::new(
            dir.join("w"),
            RateLimit::new(3, Duration::from_secs(10)),
            Duration::ZERO,
        )
    }

    #[test]
    fn two_holders_of_one_file_share_the_limit() {
        let dir = std::env::temp_dir().join(format!("tarmac-sw-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = window(&dir);
        let b = window(&dir); // another process, as far as the file knows
        let t = 1_000_000;
        assert_eq!(a.try_acquire_at(t).unwrap(), Ok(()));
        assert_eq!(b.try_acquire_at(t + 1).unwrap(), Ok(()));
        assert_eq!(a.try_acquire_at(t + 2).unwrap(), Ok(()));
        // the fourth start within 10 s waits until the first leaves the window
        assert_eq!(
            b.try_acquire_at(t + 5_000).unwrap(),
            Err(Duration::from_millis(5_000))
        );
        assert_eq!(b.try_acquire_at(t + 10_000).unwrap(), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
