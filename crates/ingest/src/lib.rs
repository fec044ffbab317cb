//! Ingestion: sources (the FlightLabs API, the old CSV archive) → the landing
//! zone → bronze tables in the DuckDB warehouse.
//!
//! Every record takes the same road whatever its source: it is landed raw
//! first ([`landing`]), then loaded into bronze ([`bronze`]) by the single
//! writer ([`loader`]). Replaying the landing zone rebuilds bronze exactly.

pub mod archive;
pub mod batch;
pub mod bronze;
pub mod error;
pub mod landing;
pub mod loader;
pub mod positions;
pub mod realtime;
pub mod replay;
pub mod store;

pub use archive::{import, ImportOptions, ImportSummary};
pub use batch::{
    delta_plan, plan_cost, run_batch, validate_airport, validate_range, BatchPlan, BatchSummary,
    PlanCost,
};
pub use bronze::{Bronze, BronzeCounts, LoadStats};
pub use error::{IngestError, Result};
pub use landing::{Endpoint, LandedFile, LandingMeta, LandingZone, Source};
pub use loader::{load_pending, replay};

/// How a long-running ingest reports progress; the binary draws a bar on a
/// terminal and prints plain lines otherwise.
pub trait Progress: Send + Sync {
    /// Work of `total` units begins.
    fn begin(&self, unit: &str, total: u64);
    /// `n` units done; `what` names the last one.
    fn advance(&self, n: u64, what: &str);
    /// A line worth showing (a retry, a skipped file).
    fn log(&self, line: &str);
    fn finish(&self);
}

/// Progress that goes nowhere (tests, library use).
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64, _: &str) {}
    fn log(&self, _: &str) {}
    fn finish(&self) {}
}
