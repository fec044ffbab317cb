//! Injectable faults, deterministic under the seed.
//!
//! A client's retry logic is only tested if the failures it must survive are
//! reproducible. So a fault is never drawn from a clock or a thread-local
//! RNG: each authenticated request is reduced to its canonical form (path and
//! sorted query, without the key) and to how many times this server has seen
//! that form before; the draw is a hash of (seed, canonical request, n). A
//! retry of the same request is the next n, hence a fresh but fixed draw: the
//! same client against the same seed sees the same failures in the same
//! places, whatever the timing or concurrency of *other* requests.

use std::fmt;
use std::str::FromStr;

use axum::body::Body;
use bytes::Bytes;
use serde_json::Value;

use crate::hash::{unit, Hasher};

/// A fault that replaces or damages a whole response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// HTTP 429 with `Retry-After: 1`, as a provider over quota answers.
    RateLimited,
    /// HTTP 500 with a plain-text body.
    ServerError,
    /// Stall for the configured delay, then answer normally.
    Timeout,
    /// Promise the whole body in Content-Length, send half, drop the
    /// connection.
    Truncate,
    /// Drop the connection before the first body byte.
    Reset,
    /// A complete HTTP 200 whose body is not JSON: the first half of the
    /// real body, with a matching Content-Length (what a proxy that cuts
    /// the upstream answer short sends).
    MalformedJson,
}

impl FaultKind {
    /// In the order their probability bands are stacked on [0, 1).
    pub const ALL: [FaultKind; 6] = [
        FaultKind::RateLimited,
        FaultKind::ServerError,
        FaultKind::Timeout,
        FaultKind::Truncate,
        FaultKind::Reset,
        FaultKind::MalformedJson,
    ];

    /// The name used in a fault spec.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::RateLimited => "429",
            FaultKind::ServerError => "500",
            FaultKind::Timeout => "timeout",
            FaultKind::Truncate => "truncate",
            FaultKind::Reset => "reset",
            FaultKind::MalformedJson => "malformed_json",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const MALFORMED: &str = "malformed_record";
const KNOWN: &str = "429, 500, timeout, truncate, reset, malformed_json, malformed_record";

/// Probabilities of each fault, parsed from
/// `"429=0.1,500=0.05,timeout=0.02,truncate=0.02,malformed_record=0.01,reset=0.01"`.
///
/// The five request-level faults are mutually exclusive (one draw per
/// request), so their probabilities must add up to at most 1.
/// `malformed_record` is a per-record probability inside otherwise good
/// `/historical` answers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultSpec {
    pub rate_limited: f64,
    pub server_error: f64,
    pub timeout: f64,
    pub truncate: f64,
    pub reset: f64,
    pub malformed_json: f64,
    pub malformed_record: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultSpecError {
    #[error("unknown fault {0:?} (known: {KNOWN})")]
    UnknownFault(String),
    #[error("fault {name}: probability {value:?} is not a number between 0 and 1")]
    BadProbability { name: String, value: String },
    #[error("fault spec entry {0:?} is not NAME=PROBABILITY (e.g. 429=0.1)")]
    Syntax(String),
    #[error("fault {0} is given more than once")]
    Duplicate(String),
    #[error("request-level fault probabilities add up to {0}, more than 1")]
    TooLikely(f64),
}

impl FaultSpec {
    /// No faults at all.
    pub fn none() -> Self {
        Self::default()
    }

    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Probability of a request-level fault.
    pub fn probability(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::RateLimited => self.rate_limited,
            FaultKind::ServerError => self.server_error,
            FaultKind::Timeout => self.timeout,
            FaultKind::Truncate => self.truncate,
            FaultKind::Reset => self.reset,
            FaultKind::MalformedJson => self.malformed_json,
        }
    }

    fn slot(&mut self, name: &str) -> Option<&mut f64> {
        Some(match name {
            "429" => &mut self.rate_limited,
            "500" => &mut self.server_error,
            "timeout" => &mut self.timeout,
            "truncate" => &mut self.truncate,
            "reset" => &mut self.reset,
            "malformed_json" => &mut self.malformed_json,
            MALFORMED => &mut self.malformed_record,
            _ => return None,
        })
    }

    /// The request-level fault for a uniform draw in [0, 1): the bands of
    /// the five kinds are stacked in [`FaultKind::ALL`] order.
    pub fn pick(&self, draw: f64) -> Option<FaultKind> {
        let mut edge = 0.0;
        for kind in FaultKind::ALL {
            edge += self.probability(kind);
            if draw < edge {
                return Some(kind);
            }
        }
        None
    }
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let mut spec = FaultSpec::default();
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(spec);
        }
        let mut seen: Vec<String> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| FaultSpecError::Syntax(part.to_string()))?;
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
            let slot = spec
                .slot(&name)
                .ok_or_else(|| FaultSpecError::UnknownFault(name.clone()))?;
            let p: f64 = value.parse().map_err(|_| FaultSpecError::BadProbability {
                name: name.clone(),
                value: value.to_string(),
            })?;
            if !(0.0..=1.0).contains(&p) {
                return Err(FaultSpecError::BadProbability {
                    name,
                    value: value.to_string(),
                });
            }
            *slot = p;
            if seen.contains(&name) {
                return Err(FaultSpecError::Duplicate(name));
            }
            seen.push(name);
        }
        let total: f64 = FaultKind::ALL.iter().map(|k| spec.probability(*k)).sum();
        if total > 1.0 + 1e-9 {
            return Err(FaultSpecError::TooLikely(total));
        }
        Ok(spec)
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = FaultKind::ALL
            .iter()
            .map(|k| (k.name(), self.probability(*k)))
            .chain(std::iter::once((MALFORMED, self.malformed_record)))
            .filter(|(_, p)| *p > 0.0)
            .map(|(n, p)| format!("{n}={p}"))
            .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// The request as the fault draw sees it: the path and the query pairs
/// sorted, without `access_key` (the same request with another key is the
/// same request, and the key must not reach logs).
pub(crate) fn canonical_request(path: &str, pairs: &[(String, String)]) -> String {
    let mut kv: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| k != "access_key")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    kv.sort_unstable();
    let query: Vec<String> = kv.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{path}?{}", query.join("&"))
}

/// All fault decisions of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestDraw {
    seed: u64,
}

impl RequestDraw {
    /// `n`: how many times this canonical request was seen before.
    pub(crate) fn new(seed: u64, canonical: &str, n: u64) -> Self {
        RequestDraw {
            seed: Hasher::new("fault")
                .u64(seed)
                .str(canonical)
                .u64(n)
                .finish(),
        }
    }

    pub(crate) fn request_fault(&self, spec: &FaultSpec) -> Option<FaultKind> {
        spec.pick(unit(self.seed))
    }

    /// Replaces records with broken ones, each with probability `p`; the
    /// kinds of damage cycle from a per-request offset. Returns how many.
    pub(crate) fn corrupt(&self, records: &mut [Value], p: f64) -> usize {
        self.corrupt_with(records, p, |rec, k| malform(rec, Malformed::CYCLE[k % 4]))
    }

    /// [`corrupt`](Self::corrupt) for `/flights` positions: a missing `hex`,
    /// a `lat` that is text, a missing `updated`, or a bare string.
    pub(crate) fn corrupt_positions(&self, records: &mut [Value], p: f64) -> usize {
        self.corrupt_with(records, p, malform_position)
    }

    fn corrupt_with(
        &self,
        records: &mut [Value],
        p: f64,
        damage: impl Fn(&mut Value, usize),
    ) -> usize {
        if p <= 0.0 {
            return 0;
        }
        let mut next = (Hasher::new("malformed-offset").u64(self.seed).finish() % 4) as usize;
        let mut count = 0;
        for (i, rec) in records.iter_mut().enumerate() {
            let u = unit(
                Hasher::new("malformed")
                    .u64(self.seed)
                    .u64(i as u64)
                    .finish(),
            );
            if u < p {
                damage(rec, next);
                next += 1;
                count += 1;
            }
        }
        count
    }
}

/// Ways a record comes broken, as seen from real providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    MissingNumber,
    MissingScheduledUtc,
    MovementIsString,
    Garbage,
}

impl Malformed {
    pub(crate) const CYCLE: [Malformed; 4] = [
        Malformed::MissingNumber,
        Malformed::MissingScheduledUtc,
        Malformed::MovementIsString,
        Malformed::Garbage,
    ];
}

pub(crate) fn malform(rec: &mut Value, how: Malformed) {
    match how {
        Malformed::MissingNumber => {
            if let Some(o) = rec.as_object_mut() {
                o.remove("number");
            }
        }
        Malformed::MissingScheduledUtc => {
            if let Some(t) = rec
                .pointer_mut("/movement/scheduledTime")
                .and_then(Value::as_object_mut)
            {
                t.remove("utc");
            }
        }
        Malformed::MovementIsString => {
            if let Some(o) = rec.as_object_mut() {
                o.insert(
                    "movement".to_string(),
                    Value::String("movement data unavailable".to_string()),
                );
            }
        }
        Malformed::Garbage => *rec = Value::String("garbage".to_string()),
    }
}

/// The `kind % 4`-th way a position record comes broken.
pub(crate) fn malform_position(rec: &mut Value, kind: usize) {
    match kind % 4 {
        0 => {
            if let Some(o) = rec.as_object_mut() {
                o.remove("hex");
            }
        }
        1 => {
            if let Some(o) = rec.as_object_mut() {
                o.insert("lat".to_string(), Value::String("n/a".to_string()));
            }
        }
        2 => {
            if let Some(o) = rec.as_object_mut() {
                o.remove("updated");
            }
        }
        _ => *rec = Value::String("garbage".to_string()),
    }
}

fn broken_pipe() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "simulated fault: connection dropped",
    )
}

/// The first half of `full`, then an error: hyper aborts the connection, so
/// a client told Content-Length = full length gets an incomplete body. The
/// error comes a moment later, because hyper drops its unflushed write buffer
/// when a body fails, and the half must actually reach the client.
pub(crate) fn truncated_body(full: Bytes) -> Body {
    use futures::StreamExt;
    let half = full.slice(..full.len() / 2);
    let first = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(half) });
    let then_fail = futures::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err::<Bytes, std::io::Error>(broken_pipe())
    });
    Body::from_stream(first.chain(then_fail))
}

/// A body that fails before its first byte.
pub(crate) fn reset_body() -> Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Err(broken_pipe())];
    Body::from_stream(futures::stream::iter(chunks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_spec() {
        let s: FaultSpec =
            "429=0.1,500=0.05,timeout=0.02,truncate=0.02,malformed_record=0.01,reset=0.01"
                .parse()
                .unwrap();
        assert_eq!(s.rate_limited, 0.1);
        assert_eq!(s.server_error, 0.05);
        assert_eq!(s.timeout, 0.02);
        assert_eq!(s.truncate, 0.02);
        assert_eq!(s.reset, 0.01);
        assert_eq!(s.malformed_record, 0.01);
        // Display round-trips.
        assert_eq!(s.to_string().parse::<FaultSpec>().unwrap(), s);
        assert_eq!(" 429 = 1 ".parse::<FaultSpec>().unwrap().rate_limited, 1.0);
    }

    #[test]
    fn empty_and_none_mean_no_faults() {
        for s in ["", "none", "NONE", "  "] {
            let spec: FaultSpec = s.parse().unwrap();
            assert!(spec.is_none());
            assert_eq!(spec.to_string(), "none");
        }
    }

    #[test]
    fn rejects_bad_specs_clearly() {
        let err = |s: &str| s.parse::<FaultSpec>().unwrap_err();
        assert!(matches!(err("404=0.1"), FaultSpecError::UnknownFault(n) if n == "404"));
        assert!(matches!(
            err("429=1.5"),
            FaultSpecError::BadProbability { .. }
        ));
        assert!(matches!(
            err("429=-0.1"),
            FaultSpecError::BadProbability { .. }
        ));
        assert!(matches!(
            err("429=NaN"),
            FaultSpecError::BadProbability { .. }
        ));
        assert!(matches!(
            err("429=abc"),
            FaultSpecError::BadProbability { .. }
        ));
        assert!(matches!(err("429"), FaultSpecError::Syntax(_)));
        assert!(matches!(
            err("429=0.1,429=0.2"),
            FaultSpecError::Duplicate(_)
        ));
        assert!(matches!(
            err("429=0.6,500=0.6"),
            FaultSpecError::TooLikely(_)
        ));
        // The message names the culprit and the known faults.
        let msg = err("slow=0.1").to_string();
        assert!(
            msg.contains("slow") && msg.contains("malformed_record"),
            "{msg}"
        );
        // A per-record probability does not count against the request budget.
        assert!("429=0.5,500=0.5,malformed_record=1"
            .parse::<FaultSpec>()
            .is_ok());
    }

    #[test]
    fn bands_are_stacked() {
        let s: FaultSpec = "429=0.1,500=0.1,timeout=0.1,truncate=0.1,reset=0.1"
            .parse()
            .unwrap();
        assert_eq!(s.pick(0.05), Some(FaultKind::RateLimited));
        assert_eq!(s.pick(0.15), Some(FaultKind::ServerError));
        assert_eq!(s.pick(0.25), Some(FaultKind::Timeout));
        assert_eq!(s.pick(0.35), Some(FaultKind::Truncate));
        assert_eq!(s.pick(0.45), Some(FaultKind::Reset));
        assert_eq!(s.pick(0.55), None);
        assert_eq!(FaultSpec::none().pick(0.0), None);
    }

    #[test]
    fn canonical_request_ignores_key_and_order() {
        let a = canonical_request(
            "/historical",
            &[
                ("type".into(), "arrival".into()),
                ("access_key".into(), "secret".into()),
                ("code".into(), "BOG".into()),
            ],
        );
        let b = canonical_request(
            "/historical",
            &[
                ("code".into(), "BOG".into()),
                ("type".into(), "arrival".into()),
            ],
        );
        assert_eq!(a, b);
        assert_eq!(a, "/historical?code=BOG&type=arrival");
        assert!(!a.contains("secret"));
    }

    #[test]
    fn draws_are_deterministic_and_retries_differ() {
        let spec: FaultSpec = "500=0.5".parse().unwrap();
        let draws: Vec<_> = (0..64)
            .map(|n| RequestDraw::new(1, "/x?a=1", n).request_fault(&spec))
            .collect();
        let again: Vec<_> = (0..64)
            .map(|n| RequestDraw::new(1, "/x?a=1", n).request_fault(&spec))
            .collect();
        assert_eq!(draws, again);
        let faults = draws.iter().filter(|d| d.is_some()).count();
        assert!((16..48).contains(&faults), "{faults}");
        let other_seed: Vec<_> = (0..64)
            .map(|n| RequestDraw::new(2, "/x?a=1", n).request_fault(&spec))
            .collect();
        assert_ne!(draws, other_seed);
    }

    #[test]
    fn corruption_cycles_through_the_kinds() {
        let rec =
            json!({"number": "AV 1", "movement": {"scheduledTime": {"utc": "x", "local": "y"}}});
        let mut recs = vec![rec.clone(); 8];
        let n = RequestDraw::new(9, "/h?", 0).corrupt(&mut recs, 1.0);
        assert_eq!(n, 8);
        let missing_number = recs
            .iter()
            .filter(|r| r.is_object() && r.get("number").is_none())
            .count();
        let missing_utc = recs
            .iter()
            .filter(|r| {
                r.pointer("/movement/scheduledTime")
                    .is_some_and(|t| t.get("utc").is_none())
            })
            .count();
        let movement_string = recs
            .iter()
            .filter(|r| r.get("movement").is_some_and(Value::is_string))
            .count();
        let garbage = recs.iter().filter(|r| **r == json!("garbage")).count();
        assert_eq!(
            (missing_number, missing_utc, movement_string, garbage),
            (2, 2, 2, 2)
        );
        let mut clean = vec![rec; 8];
        assert_eq!(RequestDraw::new(9, "/h?", 0).corrupt(&mut clean, 0.0), 0);
    }
}
