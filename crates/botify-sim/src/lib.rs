//! The listener simulator. It alone reads the world's hidden embeddings and listeners.
//!
//! - [`listener`]: the course's listener model, rule by rule;
//! - [`dynamics`]: listener dynamics beyond it (returns, drift, taste pull, boredom), off by
//!   default;
//! - [`episode`]: one session as a state machine every agent drives;
//! - [`nearest`]: exact inner-product neighbours (blocked matrix products, memoised);
//! - [`runner`]: simulated days in-process, with any recommender configuration or the oracle;
//! - [`http`]: the same sessions against a running service;
//! - [`console`]: a person plays the recommender;
//! - [`candidates`]: candidate sets and their features for the RL environment;
//! - [`clock`]: simulated time.

pub mod candidates;
pub mod clock;
pub mod console;
pub mod dynamics;
pub mod episode;
pub mod http;
pub mod listener;
pub mod nearest;
pub mod runner;

pub use runner::{DaySummary, EpisodeStats, SimParams, Simulator};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] botify_core::Error),
    #[error(transparent)]
    Recs(#[from] botify_recs::Error),
    #[error("{0}")]
    Http(String),
    #[error(transparent)]
    Log(#[from] botify_core::eventlog::LogUnavailable),
    #[error("{0}")]
    Invalid(String),
    /// The caller's cancel flag was set (Ctrl-C).
    #[error("cancelled: {0}")]
    Cancelled(String),
}
pub type Result<T, E = Error> = std::result::Result<T, E>;
