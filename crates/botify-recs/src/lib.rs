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
pub mod memory;
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

    /// How likely `recommend` is to answer `track` (and to answer nothing) for this request and
    /// history: exact, for the log's propensities and off-policy evaluation. `None` when not
    /// known (a Python recommender): the log then carries no propensity.
    fn probability(&self, _req: &Request, _history: &[Listen], _track: TrackId) -> Option<Choice> {
        None
    }

    /// `recommend` and the [`Choice`] of its answer (for no answer: of any track it does not
    /// give), drawing exactly what `recommend` draws. Recommenders that know it while answering
    /// (the deterministic ones, fallback chains) say so without answering twice; the default
    /// asks `probability` afterwards.
    fn recommend_with_choice(
        &self,
        req: &Request,
        history: &[Listen],
        rng: &mut Rng,
    ) -> (Option<TrackId>, Option<Choice>) {
        let answer = self.recommend(req, history, rng);
        let choice = match answer {
            Some(t) => self.probability(req, history, t),
            None => Some(Choice::of(None, 0)),
        };
        (answer, choice)
    }

    /// Whether `recommend` draws nothing at random (its answer has probability 1).
    fn is_deterministic(&self) -> bool {
        false
    }
}

/// `Recommender::probability` for a recommender that draws nothing at random: its answer has
/// probability 1.
macro_rules! deterministic_probability {
    () => {
        fn probability(
            &self,
            req: &$crate::Request,
            history: &[$crate::Listen],
            track: botify_core::TrackId,
        ) -> Option<$crate::Choice> {
            Some($crate::Choice::deterministic(self, req, history, track))
        }

        fn recommend_with_choice(
            &self,
            req: &$crate::Request,
            history: &[$crate::Listen],
            rng: &mut $crate::Rng,
        ) -> (Option<botify_core::TrackId>, Option<$crate::Choice>) {
            let answer = self.recommend(req, history, rng);
            (
                answer,
                Some($crate::Choice::of(answer, answer.unwrap_or(0))),
            )
        }

        fn is_deterministic(&self) -> bool {
            true
        }
    };
}
pub(crate) use deterministic_probability;

/// How likely an answer is: the probability of one track, and of no answer at all (the
/// fallback then answers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub track: f64,
    pub nothing: f64,
}

impl Choice {
    /// A deterministic recommender's: its `answer` for sure.
    pub fn of(answer: Option<TrackId>, track: TrackId) -> Choice {
        Choice {
            track: f64::from(u8::from(answer == Some(track))),
            nothing: f64::from(u8::from(answer.is_none())),
        }
    }

    /// A uniform pick among `items` (repeats count as often as they occur); nothing when empty.
    pub fn uniform(items: impl IntoIterator<Item = TrackId>, track: TrackId) -> Choice {
        let (mut n, mut hits) = (0u64, 0u64);
        for t in items {
            n += 1;
            hits += u64::from(t == track);
        }
        if n == 0 {
            return Choice::of(None, track);
        }
        Choice {
            track: hits as f64 / n as f64,
            nothing: 0.0,
        }
    }

    /// This with probability `w`, `other` otherwise.
    pub fn mix(self, w: f64, other: Choice) -> Choice {
        Choice {
            track: w * self.track + (1.0 - w) * other.track,
            nothing: w * self.nothing + (1.0 - w) * other.nothing,
        }
    }

    /// This, and `then` where this answers nothing.
    pub fn or(self, then: Choice) -> Choice {
        Choice {
            track: self.track + self.nothing * then.track,
            nothing: self.nothing * then.nothing,
        }
    }

    /// A deterministic recommender's choice, found by asking it (it draws nothing from `rng`).
    pub fn deterministic(
        r: &(impl Recommender + ?Sized),
        req: &Request,
        history: &[Listen],
        track: TrackId,
    ) -> Choice {
        let mut unused = botify_core::rng::stream(0, b"deterministic", 0);
        Choice::of(r.recommend(req, history, &mut unused), track)
    }
}
