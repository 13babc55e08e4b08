//! A/B analysis of event logs (SPEC §6): the course's method — sessions, user-level metrics,
//! Welch t tests of the difference as % of control — with a delta-method relative interval,
//! multiplicity control over every (treatment, metric) pair, sample-ratio-mismatch checks, CUPED
//! with a balance check, ratio metrics, guardrails and a ship decision, an always-valid
//! sequential interval, t-based power, and reports people would rather look at than read.

pub mod chart;
pub mod png;
pub mod power;
pub mod report;
pub mod sessions;
pub mod stats;
pub mod svg;

pub use report::{AbOptions, AbReport, Row, analyse};
pub use sessions::{METRICS, RATIO_METRICS, UserMetrics, read_users};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] botify_core::Error),
    #[error("{0}")]
    Invalid(String),
}
pub type Result<T, E = Error> = std::result::Result<T, E>;
