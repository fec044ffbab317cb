//! Exit codes: 0 success, 1 a failure a later try may not meet (network,
//! 429/5xx after the client's retries, a busy warehouse), 2 a final error no
//! retry can fix (no key, a refused key, a bad config, an unknown airport,
//! bad input). The orchestrator never retries exit 2, so a step that cannot
//! succeed fails once, at once, instead of waiting through its retries.

use std::process::ExitCode;

/// An error the binary knows to be final, whatever crate it came from.
#[derive(Debug)]
pub struct Final(String);

impl std::fmt::Display for Final {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Final {}

/// A final error with this message.
pub fn final_error(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Final(message.into()))
}

/// `e` marked final, its causes kept in the one-line message.
pub fn mark_final(e: anyhow::Error) -> anyhow::Error {
    if is_final(&e) {
        return e;
    }
    final_error(format!("{e:#}"))
}

/// Whether any cause of `e` is final.
pub fn is_final(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<Final>().is_some()
            || cause
                .downcast_ref::<flightlabs::ClientError>()
                .is_some_and(|c| c.is_final())
            || cause
                .downcast_ref::<ingest::IngestError>()
                .is_some_and(|i| i.is_final())
    })
}

/// The exit code for an error that ended a command.
pub fn code(e: &anyhow::Error) -> ExitCode {
    if is_final(e) {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_errors_are_found_anywhere_in_the_chain() {
        let refused = flightlabs::ClientError::Unauthorized {
            status: 401,
            message: "invalid_access_key".into(),
        };
        assert!(is_final(&anyhow::Error::new(refused).context("batch")));
        let net = flightlabs::ClientError::Transport {
            request: "http://h/x".into(),
            attempts: 3,
            message: "could not connect to h".into(),
            unreachable: true,
        };
        assert!(!is_final(&anyhow::Error::new(net)));
        let e = mark_final(anyhow::anyhow!("bad toml").context("tarmac.toml"));
        assert!(is_final(&e));
        assert_eq!(e.to_string(), "tarmac.toml: bad toml");
        assert!(!is_final(&anyhow::anyhow!("disk full")));
        let unknown = ingest::IngestError::UnknownAirport {
            airport: "XYZ".into(),
            answer: "invalid_airport: not valid".into(),
        };
        assert!(is_final(&anyhow::Error::new(unknown)));
    }
}
