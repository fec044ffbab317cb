//! HTTP client for FlightLabs with the provider's failure modes handled.
//!
//! What it guarantees to its callers (the ingest crate):
//! - every request waits for a slot of the shared [`SlidingWindow`], retries
//!   included, so all tasks together stay within the plan's rate;
//! - 429 and 5xx, timeouts, resets and bodies that do not parse (a truncated
//!   transfer looks like that) are retried with exponential backoff and full
//!   jitter, honouring `Retry-After`;
//! - 401/403 and `success: false` are returned at once as typed errors;
//! - every error is either retryable or final ([`ClientError::is_final`]):
//!   a final one (bad key, unknown airport, bad configuration) is never
//!   retried, here or by the callers, since no retry can change its answer;
//! - a host that cannot be reached at all (DNS failure, connection refused,
//!   no route) is given up after [`ClientConfig::max_connect_retries`] short
//!   retries, so that a machine without network learns it in seconds;
//! - the raw body is returned verbatim, so the landing zone stores exactly what
//!   was received;
//! - no error message or log line contains the access key.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rand::Rng;
use serde::Deserialize;

use crate::ratelimit::{RateLimit, SlidingWindow};
use crate::redact::{redact_url, scrub, Secret};
use crate::types::{ApiErrorBody, Direction};

/// The provider's production address.
pub const DEFAULT_BASE_URL: &str = "https://app.goflightlabs.com";

/// How `/historical` is asked for a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HistoricalMode {
    /// The documented form: `date_from`/`date_to` in airport local time, two
    /// 12-hour windows a day and direction.
    #[default]
    Windows,
    /// The old pipeline's form: `date=YYYY-MM-DD`, one call a day and direction.
    Daily,
}

impl std::str::FromStr for HistoricalMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "windows" => Ok(Self::Windows),
            "daily" => Ok(Self::Daily),
            _ => Err(format!(
                "invalid historical mode {s:?}: expected windows or daily"
            )),
        }
    }
}

/// One call's worth of a day: the whole day or a local-time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoricalWindow {
    Day(NaiveDate),
    Local {
        from: NaiveDateTime,
        to: NaiveDateTime,
    },
}

impl HistoricalWindow {
    /// The calls that cover `date` in `mode`.
    pub fn for_day(date: NaiveDate, mode: HistoricalMode) -> Vec<HistoricalWindow> {
        match mode {
            HistoricalMode::Daily => vec![HistoricalWindow::Day(date)],
            HistoricalMode::Windows => {
                let at = |h, m| date.and_hms_opt(h, m, 0).expect("valid wall-clock time");
                vec![
                    HistoricalWindow::Local {
                        from: at(0, 0),
                        to: at(11, 59),
                    },
                    HistoricalWindow::Local {
                        from: at(12, 0),
                        to: at(23, 59),
                    },
                ]
            }
        }
    }

    /// A short, path-safe label: `day`, or `0000-1159`.
    pub fn label(&self) -> String {
        match self {
            HistoricalWindow::Day(_) => "day".to_string(),
            HistoricalWindow::Local { from, to } => {
                format!("{}-{}", from.format("%H%M"), to.format("%H%M"))
            }
        }
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        match self {
            HistoricalWindow::Day(d) => vec![("date", d.format("%Y-%m-%d").to_string())],
            HistoricalWindow::Local { from, to } => vec![
                ("date_from", from.format("%Y-%m-%dT%H:%M").to_string()),
                ("date_to", to.format("%Y-%m-%dT%H:%M").to_string()),
            ],
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub base_url: String,
    pub access_key: Secret,
    /// Whole-request timeout (connect, headers and body).
    pub timeout: Duration,
    pub rate_limit: RateLimit,
    /// Retries after the first attempt.
    pub max_retries: u32,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// The file that shares `rate_limit` live with every other process on
    /// the machine (see [`crate::shared_window`]); None: this process only.
    pub shared_window: Option<std::path::PathBuf>,
    /// Retries after a failure to connect at all (DNS, refused, no route).
    /// Few and short: such a failure rarely heals within seconds, and the
    /// caller (or the orchestrator) retries the whole run later.
    pub max_connect_retries: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            access_key: Secret::default(),
            timeout: Duration::from_secs(60),
            rate_limit: RateLimit::new(10, Duration::from_secs(10)),
            max_retries: 8,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            shared_window: None,
            max_connect_retries: 2,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "FlightLabs refused the access key (HTTP {status}): {message}. Check FLIGHTLABS_ACCESS_KEY"
    )]
    Unauthorized { status: u16, message: String },
    #[error("FlightLabs answered {request} with an error: {code}: {message}")]
    Api {
        request: String,
        code: String,
        message: String,
    },
    #[error("FlightLabs answered {request} with HTTP {status} after {attempts} attempts")]
    Http {
        request: String,
        status: u16,
        attempts: u32,
    },
    #[error("request {request} failed after {attempts} attempts: {message}")]
    Transport {
        request: String,
        attempts: u32,
        message: String,
        /// The host could not be reached at all (no answer of any kind).
        unreachable: bool,
    },
    #[error(
        "FlightLabs sent an unreadable body for {request} after {attempts} attempts: {reason}"
    )]
    MalformedBody {
        request: String,
        attempts: u32,
        reason: String,
        /// The last body received, for the landing zone's rejected area.
        body: Vec<u8>,
    },
    #[error("invalid FlightLabs client configuration: {0}")]
    Config(String),
}

impl ClientError {
    /// Errors no retry can fix: a refused key, a bad configuration, or an
    /// answer the provider will give again (an unknown airport, a 4xx other
    /// than 429). The rest (network, 429, 5xx, cut bodies) are retryable.
    pub fn is_final(&self) -> bool {
        match self {
            ClientError::Unauthorized { .. } | ClientError::Config(_) => true,
            ClientError::Api { code, message, .. } => !is_rate_limit_answer(code, message),
            ClientError::Http { status, .. } => *status != 429 && *status < 500,
            ClientError::Transport { .. } | ClientError::MalformedBody { .. } => false,
        }
    }

    /// The API host could not be reached at all: every further request of
    /// this run would fail the same way, so callers stop the run (retryable
    /// later, unlike [`is_final`](Self::is_final) errors).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::Transport {
                unreachable: true,
                ..
            }
        )
    }
}

/// Whether a `success: false` answer says "too many requests" (retryable)
/// rather than something about the request itself (final).
fn is_rate_limit_answer(code: &str, message: &str) -> bool {
    let lower = format!("{code} {message}").to_ascii_lowercase();
    lower.contains("rate_limit") || lower.contains("too many")
}

/// A response that parsed as a successful envelope.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The request URL with the key redacted.
    pub request: String,
    pub status: u16,
    /// The body exactly as received.
    pub body: Vec<u8>,
    pub fetched_at: DateTime<Utc>,
    /// How many records `data` holds.
    pub records: usize,
    /// Attempts that failed before this one.
    pub retries: u32,
}

/// Counters the caller can show in its summary.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: std::sync::atomic::AtomicU64,
    pub retries: std::sync::atomic::AtomicU64,
    /// Time requests spent waiting for a slot of our own rate limit.
    pub paced_ms: std::sync::atomic::AtomicU64,
    /// Answers that were 429 or carried `Retry-After`: the provider's limit,
    /// not ours, paced them.
    pub pushed_back: std::sync::atomic::AtomicU64,
    /// The longest `Retry-After` seen, in milliseconds.
    pub retry_after_ms: std::sync::atomic::AtomicU64,
    paced_told: std::sync::atomic::AtomicBool,
    pushed_back_told: std::sync::atomic::AtomicBool,
}

/// Where a user changes the client's rate limit; named in every notice
/// about pacing so that the fix is in the message.
const RATE_LIMIT_HINT: &str = "[flightlabs] rate_limit in tarmac.toml or --rate-limit";

/// Our own limit must hold a run back this long before we say so: a
/// moment's wait at the start of a run is normal and not worth a line.
const PACED_NOTICE_AFTER: Duration = Duration::from_secs(2);

pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    limiter: SlidingWindow,
    shared: Option<crate::shared_window::SharedWindow>,
    pub stats: ClientStats,
}

enum Attempt {
    Done(Fetched),
    Fatal(ClientError),
    Retry {
        after: Option<Duration>,
        error: ClientError,
    },
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        if config.access_key.is_empty() {
            return Err(ClientError::Config("no access key set".into()));
        }
        reqwest::Url::parse(&config.base_url).map_err(|e| {
            ClientError::Config(format!("base URL {:?}: {e}", redact_url(&config.base_url)))
        })?;
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // A connection that takes longer than this is not coming: with
            // a few connect retries the run still learns it in seconds.
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("tarmac/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(e.without_url().to_string()))?;
        // A 2% wider window than the plan's keeps jitter between our clock and
        // the provider's from ever showing it N+1 requests in one window.
        let margin = config.rate_limit.per.mul_f64(0.02) + Duration::from_millis(20);
        let limiter = SlidingWindow::with_margin(config.rate_limit, margin);
        let shared = config
            .shared_window
            .as_ref()
            .map(|p| crate::shared_window::SharedWindow::new(p, config.rate_limit, margin));
        Ok(Self {
            http,
            config,
            limiter,
            shared,
            stats: ClientStats::default(),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// A line, once per client and cause, saying which rate limit paces the
    /// run and how to change it: the provider's (it answered 429 or sent
    /// `Retry-After`), or ours (it held requests back while the provider
    /// never pushed back, so the plan may allow more). None when neither
    /// applies or the line was already given. Callers show it in their
    /// progress output.
    pub fn take_rate_notice(&self) -> Option<String> {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &self.stats;
        let limit = self.config.rate_limit;
        let pushed = s.pushed_back.load(Relaxed);
        if pushed > 0 {
            if s.pushed_back_told.swap(true, Relaxed) {
                return None;
            }
            let after = s.retry_after_ms.load(Relaxed);
            let wait = if after > 0 {
                format!(
                    " and asked to wait up to {:.1} s (Retry-After)",
                    after as f64 / 1000.0
                )
            } else {
                String::new()
            };
            return Some(format!(
                "rate limit: the provider's limit paces this run: it answered 429{wait}, \
                 so it allows fewer than the configured {limit} ({} requests per {} s); \
                 lower {RATE_LIMIT_HINT} to your plan's rate",
                limit.requests,
                limit.per.as_secs_f64()
            ));
        }
        let paced = Duration::from_millis(s.paced_ms.load(Relaxed));
        if paced >= PACED_NOTICE_AFTER && !s.paced_told.swap(true, Relaxed) {
            return Some(format!(
                "rate limit: the configured {limit} ({} requests per {} s) paces this run \
                 (requests waited {:.1} s for it so far, and the provider has not pushed back); \
                 if your plan allows more, raise {RATE_LIMIT_HINT}",
                limit.requests,
                limit.per.as_secs_f64(),
                paced.as_secs_f64()
            ));
        }
        None
    }

    /// `GET /historical` for one airport, direction and window.
    pub async fn historical(
        &self,
        code: &str,
        direction: Direction,
        window: &HistoricalWindow,
    ) -> Result<Fetched, ClientError> {
        let mut query = vec![
            ("code", code.to_string()),
            ("type", direction.as_str().to_string()),
        ];
        query.extend(window.query());
        self.get("historical", &query).await
    }

    /// `GET /flights` (real-time positions) departing from or arriving at `iata`.
    pub async fn flights(
        &self,
        iata: &str,
        direction: Direction,
        limit: u32,
    ) -> Result<Fetched, ClientError> {
        let key = match direction {
            Direction::Departure => "depIata",
            Direction::Arrival => "arrIata",
        };
        let query = vec![(key, iata.to_string()), ("limit", limit.to_string())];
        self.get("flights", &query).await
    }

    async fn get(
        &self,
        endpoint: &str,
        query: &[(&'static str, String)],
    ) -> Result<Fetched, ClientError> {
        let base = self.config.base_url.trim_end_matches('/');
        let mut url = reqwest::Url::parse(&format!("{base}/{endpoint}"))
            .map_err(|e| ClientError::Config(format!("bad URL for {endpoint}: {e}")))?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("access_key", self.config.access_key.expose());
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        let shown = redact_url(url.as_str());
        let mut attempt = 0u32;
        let mut connect_failures = 0u32;
        loop {
            // The rate limit's slot is taken here and only here, right
            // before a real request: nothing that fails earlier waits for it.
            let asked = std::time::Instant::now();
            self.limiter.acquire().await;
            if let Some(shared) = &self.shared {
                shared.acquire().await;
            }
            self.stats.paced_ms.fetch_add(
                asked.elapsed().as_millis() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
            self.stats
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match self.attempt(url.clone(), &shown, attempt).await {
                Attempt::Done(f) => return Ok(f),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry { after, error } => {
                    if error.is_unreachable() {
                        connect_failures += 1;
                        if connect_failures > self.config.max_connect_retries {
                            return Err(error);
                        }
                    }
                    if attempt >= self.config.max_retries {
                        return Err(error);
                    }
                    let wait = match after {
                        Some(a) => a,
                        // Unreachable: short waits, the run learns it soon.
                        None if error.is_unreachable() => {
                            self.backoff(attempt).min(Duration::from_secs(2))
                        }
                        None => self.backoff(attempt),
                    };
                    // The error names the request (redacted) once; the line
                    // does not repeat it.
                    tracing::warn!(
                        attempt = attempt + 1,
                        wait_ms = wait.as_millis() as u64,
                        "retrying: {error}"
                    );
                    self.stats
                        .retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Exponential backoff with full jitter: uniform in [0, min(max, initial·2ⁿ)],
    /// never below a tenth of the cap so that retries do not hammer.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .backoff_initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.config.backoff_max);
        let lo = cap / 10;
        let span = cap.saturating_sub(lo).as_millis() as u64;
        lo + Duration::from_millis(rand::rng().random_range(0..=span))
    }

    async fn attempt(&self, url: reqwest::Url, shown: &str, attempt: u32) -> Attempt {
        let attempts = attempt + 1;
        let host = url.host_str().unwrap_or("the API host").to_string();
        let transport = |e: reqwest::Error| ClientError::Transport {
            request: shown.to_string(),
            attempts,
            message: scrub(&describe(&e, &host), &self.config.access_key),
            unreachable: e.is_connect(),
        };
        let response = match self.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    after: None,
                    error: transport(e),
                }
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(3600.0)));
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                return Attempt::Retry {
                    after: None,
                    error: transport(e),
                }
            }
        };
        let fetched_at = Utc::now();
        if status == 401 || status == 403 {
            let message = error_body(&body)
                .and_then(|e| e.message.or(e.info))
                .unwrap_or_else(|| "access denied".to_string());
            return Attempt::Fatal(ClientError::Unauthorized {
                status,
                message: scrub(&message, &self.config.access_key),
            });
        }
        if status == 429 || retry_after.is_some() {
            use std::sync::atomic::Ordering::Relaxed;
            self.stats.pushed_back.fetch_add(1, Relaxed);
            if let Some(d) = retry_after {
                self.stats
                    .retry_after_ms
                    .fetch_max(d.as_millis() as u64, Relaxed);
            }
        }
        if status == 429 || status >= 500 {
            let after = retry_after.map(|d| {
                // Honour Retry-After, with a little jitter so that many tasks
                // told the same second do not all return in it.
                d + Duration::from_millis(rand::rng().random_range(0..250))
            });
            return Attempt::Retry {
                after,
                error: ClientError::Http {
                    request: shown.to_string(),
                    status,
                    attempts,
                },
            };
        }
        if !(200..300).contains(&status) {
            return Attempt::Fatal(ClientError::Http {
                request: shown.to_string(),
                status,
                attempts,
            });
        }
        match check_envelope(&body) {
            Ok(records) => Attempt::Done(Fetched {
                request: shown.to_string(),
                status,
                body,
                fetched_at,
                records,
                retries: attempt,
            }),
            Err(EnvelopeError::Api { code, message }) => {
                let message = scrub(&message, &self.config.access_key);
                let lower = format!("{code} {message}").to_ascii_lowercase();
                if lower.contains("access_key") || lower.contains("access key") {
                    Attempt::Fatal(ClientError::Unauthorized { status, message })
                } else if is_rate_limit_answer(&code, &message) {
                    Attempt::Retry {
                        after: retry_after,
                        error: ClientError::Api {
                            request: shown.to_string(),
                            code,
                            message,
                        },
                    }
                } else {
                    Attempt::Fatal(ClientError::Api {
                        request: shown.to_string(),
                        code,
                        message,
                    })
                }
            }
            // A body that does not parse is most often a cut transfer: retry.
            Err(EnvelopeError::Malformed(reason)) => Attempt::Retry {
                after: None,
                error: ClientError::MalformedBody {
                    request: shown.to_string(),
                    attempts,
                    reason,
                    body,
                },
            },
        }
    }
}

/// reqwest's Display of an error names the URL (with the key) and hides the
/// cause; this gives "timed out" / "could not connect to HOST: dns error..."
/// without the URL.
fn describe(e: &reqwest::Error, host: &str) -> String {
    use std::error::Error as _;
    let mut msg = if e.is_connect() {
        format!("could not connect to {host}")
    } else if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_body() || e.is_decode() {
        "the body was cut off".to_string()
    } else {
        "transport error".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

#[derive(Debug, PartialEq)]
pub enum EnvelopeError {
    Api { code: String, message: String },
    Malformed(String),
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(default)]
    success: Option<bool>,
    #[serde(default, borrow)]
    data: Option<Vec<&'a serde_json::value::RawValue>>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// Checks that `body` is a successful envelope and counts its records.
///
/// `success: false`, an `error` object, or a missing `data` are errors, not
/// "no flights": the provider says so that way when a plan's quota is used up.
pub fn check_envelope(body: &[u8]) -> Result<usize, EnvelopeError> {
    let env: RawEnvelope = serde_json::from_slice(body).map_err(|e| {
        EnvelopeError::Malformed(format!(
            "response is not valid JSON ({e}); {} bytes",
            body.len()
        ))
    })?;
    if env.success == Some(false) || env.error.is_some() {
        let err = env
            .error
            .and_then(|v| serde_json::from_value::<ApiErrorBody>(v).ok());
        let code = err
            .as_ref()
            .and_then(|e| e.code.as_ref())
            .map(|c| {
                c.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| c.to_string())
            })
            .or_else(|| err.as_ref().and_then(|e| e.kind.clone()))
            .unwrap_or_else(|| "error".to_string());
        let message = err
            .and_then(|e| e.message.or(e.info))
            .unwrap_or_else(|| "success: false with no message".to_string());
        return Err(EnvelopeError::Api { code, message });
    }
    match env.data {
        Some(d) => Ok(d.len()),
        None => Err(EnvelopeError::Api {
            code: "no_data".into(),
            message: "the response has no `data` array".into(),
        }),
    }
}

fn error_body(body: &[u8]) -> Option<ApiErrorBody> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_json::from_value(v.get("error")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_success_and_errors() {
        assert_eq!(
            check_envelope(br#"{"success":true,"status":200,"data":[{},{}]}"#),
            Ok(2)
        );
        assert_eq!(check_envelope(br#"{"success":true,"data":[]}"#), Ok(0));
        assert_eq!(
            check_envelope(br#"{"success":false,"error":{"code":"x","message":"quota"}}"#),
            Err(EnvelopeError::Api {
                code: "x".into(),
                message: "quota".into()
            })
        );
        assert!(matches!(
            check_envelope(br#"{"success":true}"#),
            Err(EnvelopeError::Api { .. })
        ));
        assert!(matches!(
            check_envelope(br#"{"success":true,"data":[{"a":"#),
            Err(EnvelopeError::Malformed(_))
        ));
    }

    #[test]
    fn windows_cover_the_day() {
        let d = NaiveDate::from_ymd_opt(2024, 8, 12).unwrap();
        let w = HistoricalWindow::for_day(d, HistoricalMode::Windows);
        assert_eq!(w.len(), 2);
        assert_eq!(w[0].label(), "0000-1159");
        assert_eq!(w[1].label(), "1200-2359");
        assert_eq!(
            w[1].query(),
            vec![
                ("date_from", "2024-08-12T12:00".to_string()),
                ("date_to", "2024-08-12T23:59".to_string())
            ]
        );
        let d1 = HistoricalWindow::for_day(d, HistoricalMode::Daily);
        assert_eq!(d1, vec![HistoricalWindow::Day(d)]);
        assert_eq!(d1[0].label(), "day");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let c = Client::new(ClientConfig {
            access_key: Secret::new("k"),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
            ..Default::default()
        })
        .unwrap();
        for attempt in 0..30 {
            let b = c.backoff(attempt);
            assert!(b <= Duration::from_secs(1), "{attempt}: {b:?}");
        }
        assert!(c.backoff(0) <= Duration::from_millis(100));
    }

    #[test]
    fn client_requires_a_key() {
        assert!(matches!(
            Client::new(ClientConfig::default()),
            Err(ClientError::Config(_))
        ));
    }
}
