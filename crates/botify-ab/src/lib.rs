//! A/B analysis of event logs: the course's method — sessions, user-level metrics,
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
pub mod table;

pub use report::{AbOptions, AbReport, Row, analyse};
pub use sessions::{Metric, UserMetrics, read_users};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] botify_core::Error),
    #[error("{0}")]
    Invalid(String),
}
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A relative amount written as a percentage (`10%`) or a fraction (`0.1`): 0.1 either way.
pub fn parse_fraction(s: &str) -> Option<f64> {
    let s = s.trim();
    match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok().map(|x| x / 100.0),
        None => s.parse().ok(),
    }
}
