//! The FlightLabs API: wire types, key redaction, rate limits and a client.
//!
//! The lowest crate of the workspace: it knows the provider, nothing about
//! where responses go.
pub mod client;
pub mod ratelimit;
pub mod redact;
pub mod shared_window;
pub mod types;

pub use client::{
    check_envelope, Client, ClientConfig, ClientError, EnvelopeError, Fetched, HistoricalMode,
    HistoricalWindow, DEFAULT_BASE_URL,
};
pub use ratelimit::{RateLimit, SlidingWindow};
pub use redact::{redact_url, scrub, scrub_all, userinfo, Secret};
pub use types::*;
