//! Request-rate limits of the form "N requests per S seconds".
//!
//! FlightLabs plans are sold as "roughly 10 to 40 requests per 10 s". A token
//! bucket would allow a burst of N at once and then N/S a second, which breaks
//! a provider that counts a sliding window; so both sides use the same sliding
//! window: at most N request starts in any window of S seconds. The client uses
//! [`SlidingWindow::acquire`] (async, waits for a slot), the simulator uses
//! [`SlidingWindow::try_acquire`] (answers 429 with the wait instead).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// "40/10" = 40 requests per 10 seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub requests: u32,
    pub per: Duration,
}

impl RateLimit {
    pub fn new(requests: u32, per: Duration) -> Self {
        Self { requests, per }
    }

    /// Requests per second this limit allows in the long run.
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.per.as_secs_f64()
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.requests, self.per.as_secs_f64())
    }
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("invalid rate limit {s:?}: expected N/SECONDS, e.g. 40/10");
        let (n, secs) = s.trim().split_once('/').ok_or_else(bad)?;
        let requests: u32 = n.trim().parse().map_err(|_| bad())?;
        let secs = secs.trim().trim_end_matches('s');
        let secs: f64 = secs.parse().map_err(|_| bad())?;
        if requests == 0 || !secs.is_finite() || secs <= 0.0 {
            return Err(bad());
        }
        Ok(RateLimit::new(requests, Duration::from_secs_f64(secs)))
    }
}

/// Sliding-window limiter shared by every task that talks to one API.
#[derive(Debug)]
pub struct SlidingWindow {
    limit: RateLimit,
    /// Extra width of the client's window, so that network jitter between the
    /// client's clock and the provider's never puts N+1 starts in one provider
    /// window. Zero on the server side.
    margin: Duration,
    starts: Mutex<VecDeque<Instant>>,
}

impl SlidingWindow {
    pub fn new(limit: RateLimit) -> Self {
        Self::with_margin(limit, Duration::ZERO)
    }

    pub fn with_margin(limit: RateLimit, margin: Duration) -> Self {
        Self {
            limit,
            margin,
            starts: Mutex::new(VecDeque::with_capacity(limit.requests as usize + 1)),
        }
    }

    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes a slot now if one is free; otherwise returns how long to wait.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        self.try_acquire_at(Instant::now())
    }

    fn try_acquire_at(&self, now: Instant) -> Result<(), Duration> {
        let window = self.limit.per + self.margin;
        let mut starts = self.starts.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&first) = starts.front() {
            if now.duration_since(first) >= window {
                starts.pop_front();
            } else {
                break;
            }
        }
        if starts.len() < self.limit.requests as usize {
            starts.push_back(now);
            Ok(())
        } else {
            let first = *starts.front().expect("window is full, so not empty");
            Err(window.saturating_sub(now.duration_since(first)))
        }
    }

    /// Waits until a slot is free and takes it.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire() {
                Ok(()) => return,
                Err(wait) => tokio::time::sleep(wait.max(Duration::from_millis(1))).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rate_limits() {
        assert_eq!(
            "40/10".parse::<RateLimit>().unwrap(),
            RateLimit::new(40, Duration::from_secs(10))
        );
        assert_eq!(
            "5/1s".parse::<RateLimit>().unwrap(),
            RateLimit::new(5, Duration::from_secs(1))
        );
        for bad in ["", "40", "0/10", "40/0", "x/10", "40/-1"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn window_admits_n_then_reports_wait() {
        let w = SlidingWindow::new(RateLimit::new(3, Duration::from_secs(10)));
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(w.try_acquire_at(t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = w.try_acquire_at(t0 + Duration::from_secs(4)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(6));
        assert!(w.try_acquire_at(t0 + Duration::from_secs(10)).is_ok());
        assert!(w.try_acquire_at(t0 + Duration::from_secs(10)).is_err());
    }
}
