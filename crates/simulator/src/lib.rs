//! A deterministic FlightLabs API simulator with injectable faults.
//!
//! Why it exists: the real API costs money per call, cannot be asked to fail
//! on demand, and changes its answers over time. Demos and tests need an API
//! that answers like the real one (same shapes, same quirks, volumes and mixes
//! calibrated on a real archive of Bogotá) but reproducibly: the same seed
//! gives the same records and the same injected failures, byte for byte,
//! whatever the order or concurrency of requests.
//!
//! # HTTP API
//!
//! Every call needs `access_key` (401 `missing_access_key` /
//! `invalid_access_key` otherwise; the key is never echoed or logged).
//!
//! - `GET /historical?code=BOG&type=arrival|departure&date=YYYY-MM-DD`: the
//!   local day. Or `&date_from=YYYY-MM-DDTHH:MM&date_to=…` (airport local
//!   time, at most 12 h, both bounds inclusive): the records scheduled in that
//!   window. Two windows covering a day give exactly the day answer.
//!   `{"success":true,"status":200,"data":[…]}`.
//! - `GET /flights?depIata=BOG` or `arrIata=BOG` (both: one route), `limit`
//!   (default 100, at most 10,000): real-time positions,
//!   `{"success":true,"data":[…]}`.
//! - Request errors are HTTP 200 with `{"success":false,"error":{"code",
//!   "message"}}`: `invalid_airport`, `invalid_type`, `invalid_date`
//!   (unparsable, missing, or more than a year ahead), `invalid_date_range`
//!   (window over 12 h, reversed, half given, or mixed with `date`),
//!   `missing_parameter` (`/flights` without an airport).
//! - Over the configured rate limit: 429, `Retry-After`, `rate_limit_reached`.
//!
//! # Modules
//!
//! - [`airports`]: the built-in airport table.
//! - [`generate`]: deterministic historical data (`/historical`).
//! - [`positions`]: real-time positions (`/flights`).
//! - [`faults`]: the fault spec and deterministic fault draws.
//! - `server`: the axum handlers.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let config = simulator::SimulatorConfig {
//!     faults: "429=0.1,truncate=0.02".parse().expect("valid spec"),
//!     ..Default::default()
//! };
//! let (addr, _server) = simulator::spawn(config).await?;
//! println!("FlightLabs simulator on http://{addr}/historical");
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use flightlabs::RateLimit;

pub mod airports;
mod calibration;
pub mod faults;
pub mod generate;
mod hash;
pub mod positions;
mod server;

pub use airports::{Airport, AIRPORTS};
pub use faults::{FaultKind, FaultSpec, FaultSpecError};
pub use generate::{
    historical_day, historical_day_at, historical_day_shaped, Clock, DayShape, DayShapeError,
};

/// Default seed: demos and docs quote data generated with it.
pub const DEFAULT_SEED: u64 = 42;
/// How long a `timeout` fault stalls: longer than any sane client timeout.
pub const DEFAULT_TIMEOUT_DELAY: Duration = Duration::from_secs(30);

/// How a simulator instance behaves.
#[derive(Clone)]
pub struct SimulatorConfig {
    /// Everything generated (records, positions, fault draws) derives from it.
    pub seed: u64,
    pub faults: FaultSpec,
    /// Server-side sliding window; None = unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Some(k): only k is accepted. None: any non-empty key is.
    pub access_key: Option<String>,
    /// How long a `timeout` fault stalls before answering normally.
    pub timeout_delay: Duration,
    /// "Today" for statuses (today's flights are then judged at local noon,
    /// reproducibly). None: the real clock.
    pub today: Option<NaiveDate>,
    /// The instant `/flights` answers for. None: the real clock (on the
    /// pinned `today`, if any).
    pub clock: Option<SimClock>,
    /// Which hours of the day carry traffic, for `/historical` and
    /// `/flights` alike. Archive (the default): the archive's afternoons, as
    /// the pinned outputs and archive comparisons need.
    pub day_shape: DayShape,
}

/// A simulated clock for `/flights`: it reads `start` when the server
/// starts and runs at `rate` times real time (0 freezes it). Positions are a
/// pure function of (seed, query, instant), so a frozen clock makes every
/// poll answer the same, and two servers frozen a minute apart show what
/// two polls a minute apart would.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimClock {
    pub start: DateTime<Utc>,
    pub rate: f64,
}

impl SimClock {
    /// The simulated instant `elapsed` (real time) after the start.
    pub fn at(&self, elapsed: Duration) -> DateTime<Utc> {
        let ms = (elapsed.as_secs_f64() * self.rate.max(0.0) * 1000.0).min(1e15) as i64;
        self.start + chrono::Duration::milliseconds(ms)
    }
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seed: DEFAULT_SEED,
            faults: FaultSpec::none(),
            rate_limit: None,
            access_key: None,
            timeout_delay: DEFAULT_TIMEOUT_DELAY,
            today: None,
            clock: None,
            day_shape: DayShape::Archive,
        }
    }
}

/// Hand-written so that a configured key never reaches a log line.
impl fmt::Debug for SimulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorConfig")
            .field("seed", &self.seed)
            .field("faults", &self.faults.to_string())
            .field("rate_limit", &self.rate_limit.map(|r| r.to_string()))
            .field(
                "access_key",
                &self.access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout_delay", &self.timeout_delay)
            .field("today", &self.today)
            .field("clock", &self.clock)
            .field("day_shape", &self.day_shape)
            .finish()
    }
}

/// The simulator as an axum router, for in-process tests.
pub fn router(config: SimulatorConfig) -> axum::Router {
    server::router(config)
}

/// Serves the simulator on `listener` until the task is dropped or fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: SimulatorConfig,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, ?config, "FlightLabs simulator listening");
    }
    axum::serve(listener, router(config)).await
}

/// Binds 127.0.0.1 on a free port and serves there in a background task.
/// Returns the address and the task (abort it to stop the server).
pub async fn spawn(
    config: SimulatorConfig,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let handle = tokio::spawn(serve(listener, config));
    Ok((addr, handle))
}

/// A minimal HTTP/1.1 client over a raw socket, for unit tests that need to
/// see exactly what went over the wire (Content-Length versus the bytes that
/// actually arrived).
#[cfg(test)]
pub(crate) mod test_http {
    use std::collections::HashMap;
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::SimulatorConfig;

    pub(crate) struct Served {
        pub addr: SocketAddr,
        handle: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    impl Served {
        pub(crate) async fn start(config: SimulatorConfig) -> Served {
            let (addr, handle) = super::spawn(config).await.expect("bind 127.0.0.1");
            Served { addr, handle }
        }
    }

    impl Drop for Served {
        fn drop(&mut self) {
            self.handle.abort();
        }
    }

    pub(crate) struct Raw {
        pub status: u16,
        /// Lower-case names.
        pub headers: HashMap<String, String>,
        pub body: Vec<u8>,
    }

    pub(crate) async fn get(addr: SocketAddr, path_and_query: &str) -> Raw {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req =
            format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("send");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(buf.len());
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        let body = buf.get(split + 4..).unwrap_or_default().to_vec();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Raw {
            status,
            headers,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_key() {
        let c = SimulatorConfig {
            access_key: Some("top-secret".into()),
            ..Default::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("top-secret"), "{s}");
        assert!(s.contains("redacted"));
    }

    #[test]
    fn defaults() {
        let c = SimulatorConfig::default();
        assert_eq!(c.seed, 42);
        assert!(c.faults.is_none());
        assert!(c.rate_limit.is_none() && c.access_key.is_none() && c.today.is_none());
        assert_eq!(c.timeout_delay, Duration::from_secs(30));
        assert_eq!(c.day_shape, DayShape::Archive);
    }
}
