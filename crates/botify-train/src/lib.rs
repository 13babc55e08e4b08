//! Offline training from the service's own event logs: the course's notebooks as fast
//! library functions. Every model is `fit` on a [`Dataset`] and produces recommendation lists in
//! the formats the service serves; [`metrics`] scores lists against a held-out split.

pub mod als;
pub mod dataset;
pub mod dpp;
pub mod ease;
pub mod i2i;
pub mod ips;
pub mod item2vec;
pub mod lightgcn;
pub mod memory;
pub mod metrics;
pub mod mf;
pub mod output;
pub mod score;
pub mod search;
pub mod taste;
pub mod toppop;
pub mod ucf;

pub use dataset::{Dataset, Split};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] botify_core::Error),
    #[error("{0}")]
    Invalid(String),
}
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The logistic function of the SGD trainers (MF, LightGCN, taste).
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Parameter checks shared by the trainers; errors name the parameter.
pub mod check {
    use super::{Error, Result};

    /// Every declared parameter against its rule (see `botify_core::params`).
    pub fn params<P: botify_core::params::Schema>(p: &P) -> Result<()> {
        p.check().map_err(Error::Invalid)
    }

    /// A listen-time threshold in [0, 1].
    pub fn threshold(name: &str, v: f32) -> Result<()> {
        if !(0.0..=1.0).contains(&v) {
            return Err(Error::Invalid(format!("{name} {v} is not in [0, 1]")));
        }
        Ok(())
    }

    /// A finite number above `min` (or at least `min` when `inclusive`).
    pub fn finite(name: &str, v: f64, min: f64, inclusive: bool) -> Result<()> {
        let ok = v.is_finite() && if inclusive { v >= min } else { v > min };
        if !ok {
            let bound = if inclusive { "≥" } else { ">" };
            return Err(Error::Invalid(format!(
                "{name} {v} must be a finite number {bound} {min}"
            )));
        }
        Ok(())
    }
}
