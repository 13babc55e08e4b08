//! The request path: one `next`/`last` call from the request to the user's history entry and
//! the event-log record. The HTTP service and the in-process simulator both answer through
//! [`Treatment::answer`], so `--in-process` reproduces the service to the bit by construction,
//! not by two copies kept alike.

use crate::experiments::Treatment;
use crate::{Listen, Request};
use botify_core::TrackId;
use botify_core::events::{Message, Record};
use botify_core::rng::Rng;
use rand::Rng as _;

/// What one call produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    pub message: Message,
    /// The previous track and its listen time, as the call reported them.
    pub request: Request,
    /// The track served (`next` only).
    pub recommendation: Option<TrackId>,
    /// The probability with which it was chosen, when the recommender knows it.
    pub propensity: Option<f64>,
}

impl Answer {
    /// A `next` call answered with `track` (by a treatment, or by the simulator's oracle).
    pub fn next(request: Request, track: TrackId) -> Self {
        Answer {
            message: Message::Next,
            request,
            recommendation: Some(track),
            propensity: None,
        }
    }

    /// The same answer, logged with the probability its track was chosen with (kept only when
    /// above 0: a served track was possible).
    pub fn with_propensity(mut self, propensity: Option<f64>) -> Self {
        self.propensity = propensity
            .filter(|&p| p > 0.0 && p <= 1.0 + 1e-9)
            .map(|p| p.min(1.0));
        self
    }

    /// A `last` call: the session ends, nothing is recommended.
    pub fn last(request: Request) -> Self {
        Answer {
            message: Message::Last,
            request,
            recommendation: None,
            propensity: None,
        }
    }

    /// The entry appended to the user's history.
    pub fn listen(&self) -> Listen {
        Listen {
            track: self.request.track,
            time: self.request.time,
            rec: self.recommendation,
        }
    }

    /// The event-log record; `latency` is the seconds spent answering.
    pub fn record(&self, timestamp: u64, latency: f64) -> Record {
        Record {
            message: self.message,
            timestamp,
            user: self.request.user,
            track: self.request.track,
            time: self.request.time,
            latency,
            recommendation: self.recommendation,
            propensity: self.propensity,
        }
    }
}

impl Treatment {
    /// Answers one call. For `next`: the treatment's recommender's pick given the user's history
    /// (oldest first), or — when it has nothing to say or names a track outside the catalogue
    /// of `n_tracks` — a uniformly random track: Random is always the last resort. For `last`:
    /// nothing is recommended and no randomness is drawn.
    pub fn answer(
        &self,
        message: Message,
        request: Request,
        history: &[Listen],
        rng: &mut Rng,
        n_tracks: u32,
    ) -> Answer {
        match message {
            Message::Last => Answer::last(request),
            Message::Next => {
                let (track, propensity) =
                    self.next_track_with_propensity(request, history, rng, n_tracks);
                Answer::next(request, track).with_propensity(propensity)
            }
        }
    }

    /// The track a `next` call serves: see [`Treatment::answer`].
    pub fn next_track(
        &self,
        request: Request,
        history: &[Listen],
        rng: &mut Rng,
        n_tracks: u32,
    ) -> TrackId {
        self.recommender
            .recommend(&request, history, rng)
            .filter(|&t| t < n_tracks)
            .unwrap_or_else(|| rng.random_range(0..n_tracks))
    }
}

impl Treatment {
    /// [`Treatment::next_track`] and the probability it served that track with, computed as
    /// the answer is made (no second answer for deterministic recommenders): the same track,
    /// the same draws.
    pub fn next_track_with_propensity(
        &self,
        request: Request,
        history: &[Listen],
        rng: &mut Rng,
        n_tracks: u32,
    ) -> (TrackId, Option<f64>) {
        match self
            .recommender
            .recommend_with_choice(&request, history, rng)
        {
            (Some(t), choice) if t < n_tracks => (t, choice.map(|c| served(c, n_tracks, t))),
            _ => {
                let t = rng.random_range(0..n_tracks);
                (t, self.propensity(request, history, t, n_tracks))
            }
        }
    }

    /// The probability that [`Treatment::next_track`] serves `track` for this request and
    /// history: the recommender's choice, and where it answers nothing the uniform last resort.
    /// `None` when the recommender does not know its probabilities.
    pub fn propensity(
        &self,
        request: Request,
        history: &[Listen],
        track: TrackId,
        n_tracks: u32,
    ) -> Option<f64> {
        let c = self.recommender.probability(&request, history, track)?;
        Some(served(c, n_tracks, track))
    }
}

/// The probability that `track` is served given the recommender's choice: its own, and where it
/// answers nothing, the uniform last resort's.
fn served(c: crate::Choice, n_tracks: u32, track: TrackId) -> f64 {
    c.track + c.nothing * crate::baseline::uniform_track(n_tracks, track).track
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::{ExperimentsConfig, Router};
    use crate::spec::RecommenderSpec;
    use botify_core::Catalog;
    use botify_core::rng::stream;
    use std::sync::Arc;

    fn router(spec: RecommenderSpec) -> Router {
        let lines: String = (0..10)
            .map(|t| {
                format!(
                    "{{\"track\": {t}, \"artist\": \"a{}\", \"title\": \"t\"}}\n",
                    t / 5
                )
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tracks.json");
        std::fs::write(&path, lines).unwrap();
        let catalog = Arc::new(Catalog::load(&path).unwrap());
        Router::build(ExperimentsConfig::single("E", spec), catalog).unwrap()
    }

    #[test]
    fn next_answers_with_the_recommenders_pick_and_records_what_happened() {
        let r = router(RecommenderSpec::StickyArtist { fallback: None });
        let req = Request {
            user: 7,
            track: 6,
            time: 0.25,
        };
        let a = r
            .treatment(7)
            .answer(Message::Next, req, &[], &mut stream(1, b"t", 0), 10);
        let t = a.recommendation.unwrap();
        assert!((5..10).contains(&t), "same artist as track 6: {t}");
        assert_eq!(
            a.listen(),
            Listen {
                track: 6,
                time: 0.25,
                rec: Some(t)
            }
        );
        let rec = a.record(123, 0.5);
        assert_eq!((rec.user, rec.track, rec.timestamp), (7, 6, 123));
        assert_eq!(rec.recommendation, Some(t));
    }

    #[test]
    fn last_recommends_nothing_and_draws_no_randomness() {
        let r = router(RecommenderSpec::Random {});
        let req = Request {
            user: 1,
            track: 2,
            time: 1.0,
        };
        let mut rng = stream(1, b"t", 0);
        let a = r.treatment(1).answer(Message::Last, req, &[], &mut rng, 10);
        assert_eq!(a.recommendation, None);
        assert_eq!(a.listen().rec, None);
        assert_eq!(rng.random_range(0..u32::MAX), {
            let mut fresh = stream(1, b"t", 0);
            fresh.random_range(0..u32::MAX)
        });
    }

    #[test]
    fn a_pick_outside_the_catalogue_falls_back_to_a_random_track() {
        // Track 9's artist exists in the catalogue of 10, but the service was told of only 5.
        let r = router(RecommenderSpec::StickyArtist { fallback: None });
        let req = Request {
            user: 3,
            track: 9,
            time: 0.5,
        };
        for seed in 0..50 {
            let a = r
                .treatment(3)
                .answer(Message::Next, req, &[], &mut stream(seed, b"t", 0), 5);
            assert!(a.recommendation.unwrap() < 5);
        }
    }
}
