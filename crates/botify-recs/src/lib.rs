//! Recommenders: one trait, the course's catalogue of recommenders, the per-user listen history
//! they read, and the experiment configuration that builds them from data files.
//!
//! The same code answers the HTTP service and the in-process simulator. Recommenders are pure
//! functions of (request, the user's recent history, a random stream): every piece of per-user
//! state a design needs (heard tracks, failure counters, which source made the last pick) is
//! derived from the history, so the only state operation is an atomic append — safe under
//! concurrent requests for the same user, and the same for the embedded and Redis backends.

pub mod baseline;
pub mod call;
pub mod data;
pub mod experiments;
pub mod history;
pub mod homework;
pub mod session;
pub mod spec;
pub mod taste;

pub use botify_core::rng::Rng;
use botify_core::{TrackId, UserId};
pub use history::{History, Listen};

/// A `next` request: the user listened to `track` for fraction `time` and wants the next track.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    pub user: UserId,
    pub track: TrackId,
    pub time: f32,
}

/// Errors building recommenders from configuration and data files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] botify_core::Error),
    #[error("{0}")]
    Config(String),
}
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub trait Recommender: Send + Sync {
    /// The next track for `req` given the user's recent history (oldest first, not including
    /// `req` itself), or `None` when this recommender has nothing to say (its fallback answers).
    fn recommend(&self, req: &Request, history: &[Listen], rng: &mut Rng) -> Option<TrackId>;

    /// Whether `recommend` reads the history; when no recommender of a tree does, the service
    /// skips fetching it (a Redis round trip saved).
    fn uses_history(&self) -> bool {
        false
    }

    /// Whether `recommend` may wait (a Python recommender waits for the interpreter's lock and
    /// runs whatever its author wrote): the service then calls it where a wait holds up no other
    /// request.
    fn may_block(&self) -> bool {
        false
    }

    /// The per-track list this recommender draws from for `track`, if it has one (item-to-item
    /// models): what the course's `/track/{id}` shows as `recommendations`.
    fn track_list(&self, _track: TrackId) -> Option<&[TrackId]> {
        None
    }
}
