//! Retry decisions and backoff.

use std::time::Duration;

use rand::Rng;

use crate::config::Retry;

/// How a step attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    Exit {
        code: Option<i32>,
        signal: Option<i32>,
        error: String,
    },
    Timeout(Duration),
    /// Could not start the child at all.
    Spawn(String),
}

impl Failure {
    pub fn message(&self) -> String {
        match self {
            Failure::Exit { error, .. } => error.clone(),
            Failure::Timeout(d) => format!("timed out after {}", crate::duration::human(*d)),
            Failure::Spawn(e) => format!("cannot start the step: {e}"),
        }
    }
}

/// The exit code of a `tarmac` step whose error no retry can fix (no key,
/// a refused key, a bad config, an unknown airport, a model's SQL error).
pub const FINAL_EXIT: i32 = 2;

/// Whether `failure` may be retried under `policy` (attempts aside).
/// A step that exits [`FINAL_EXIT`] never is, whatever `never_retry` says;
/// `never_retry` entries add to that: `timeout`, `exit:N`, or text found in
/// the error.
pub fn retryable(policy: &Retry, failure: &Failure) -> bool {
    if matches!(
        failure,
        Failure::Exit {
            code: Some(FINAL_EXIT),
            ..
        }
    ) {
        return false;
    }
    let msg = failure.message().to_lowercase();
    !policy.never.iter().any(|p| {
        let p = p.trim().to_lowercase();
        match (&p[..], failure) {
            ("timeout", Failure::Timeout(_)) => true,
            (p, Failure::Exit { code: Some(c), .. }) if p.strip_prefix("exit:").is_some() => {
                p.strip_prefix("exit:")
                    .and_then(|n| n.trim().parse::<i32>().ok())
                    == Some(*c)
            }
            (p, _) if p == "timeout" || p.starts_with("exit:") => false,
            (p, _) => !p.is_empty() && msg.contains(p),
        }
    })
}

/// The delay before retry number `n` (1 = the first retry): `delay · 2^(n-1)`
/// capped at `max`, then "equal jitter" — uniformly in [d/2, d] — so retries
/// of many jobs failing together spread out, yet each wait still grows.
pub fn backoff(policy: &Retry, n: u32, rng: &mut impl Rng) -> Duration {
    let base = policy.delay.as_secs_f64() * 2f64.powi(n.saturating_sub(1).min(30) as i32);
    let d = base.min(policy.max_delay.as_secs_f64());
    Duration::from_secs_f64(rng.random_range(d / 2.0..=d.max(f64::MIN_POSITIVE)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn policy(never: &[&str]) -> Retry {
        Retry {
            retries: 3,
            delay: Duration::from_secs(10),
            max_delay: Duration::from_secs(60),
            never: never.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let p = policy(&[]);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for (n, lo, hi) in [
            (1, 5.0, 10.0),
            (2, 10.0, 20.0),
            (3, 20.0, 40.0),
            (4, 30.0, 60.0),
            (10, 30.0, 60.0),
        ] {
            let mut seen = Vec::new();
            for _ in 0..200 {
                let d = backoff(&p, n, &mut rng).as_secs_f64();
                assert!(d >= lo && d <= hi, "retry {n}: {d}");
                seen.push(d);
            }
            let spread = seen.iter().cloned().fold(f64::MIN, f64::max)
                - seen.iter().cloned().fold(f64::MAX, f64::min);
            assert!(spread > (hi - lo) / 2.0, "jitter spreads retry {n}");
        }
    }

    #[test]
    fn never_retry_rules() {
        let exit = |c: i32, e: &str| Failure::Exit {
            code: Some(c),
            signal: None,
            error: e.into(),
        };
        let p = policy(&["exit:2", "timeout", "401 Unauthorized"]);
        assert!(!retryable(&p, &exit(2, "usage")));
        assert!(retryable(&p, &exit(1, "HTTP 500")));
        assert!(!retryable(
            &p,
            &exit(1, "FlightLabs said 401 unauthorized: check the key")
        ));
        assert!(!retryable(&p, &Failure::Timeout(Duration::from_secs(5))));
        assert!(retryable(
            &policy(&[]),
            &Failure::Timeout(Duration::from_secs(5))
        ));
        // a final error is never retried, even with an empty never_retry
        assert!(!retryable(
            &policy(&[]),
            &exit(2, "no FlightLabs access key")
        ));
        assert!(retryable(&policy(&[]), &exit(1, "could not connect")));
    }
}
