//! Offline training from the service's own event logs (SPEC §4–5): the course's notebooks as fast
//! library functions. Every model is `fit` on a [`Dataset`] and produces recommendation lists in
//! the formats the service serves; [`metrics`] scores lists against a held-out split.

pub mod als;
pub mod dataset;
pub mod ease;
pub mod i2i;
pub mod item2vec;
pub mod metrics;
pub mod mf;
pub mod output;
pub mod score;
pub mod search;
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
