//! The course's recommender catalogue: Random, TopPop, StickyArtist, Indexed, Sequential,
//! Contextual and history-aware item-to-item, plus the fallback chain that wraps them.

use crate::data::{TrackLists, UserLists};
use crate::history::Listen;
use crate::{Choice, Recommender, Request, Rng};
use botify_core::{Catalog, TrackId};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn pick(list: &[TrackId], rng: &mut Rng) -> Option<TrackId> {
    (!list.is_empty()).then(|| list[rng.random_range(0..list.len())])
}

/// A uniformly random track of the catalogue.
pub struct Random {
    pub tracks: u32,
}
impl Recommender for Random {
    fn recommend(&self, _: &Request, _: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        (self.tracks > 0).then(|| rng.random_range(0..self.tracks))
    }
    fn probability(&self, _: &Request, _: &[Listen], track: TrackId) -> Option<Choice> {
        Some(uniform_track(self.tracks, track))
    }
}

/// A uniformly random track of `n`.
pub fn uniform_track(n: u32, track: TrackId) -> Choice {
    match n {
        0 => Choice::of(None, track),
        n => Choice {
            track: if track < n { 1.0 / f64::from(n) } else { 0.0 },
            nothing: 0.0,
        },
    }
}

/// With probability `epsilon` a uniformly random catalogue track, else `inner`'s pick: the
/// exploration that makes a log useful for off-policy evaluation.
pub struct Epsilon {
    pub epsilon: f64,
    pub tracks: u32,
    pub inner: Box<dyn Recommender>,
}
impl Recommender for Epsilon {
    fn recommend(&self, req: &Request, history: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        if self.tracks > 0 && rng.random::<f64>() < self.epsilon {
            return Some(rng.random_range(0..self.tracks));
        }
        self.inner.recommend(req, history, rng)
    }
    fn probability(&self, req: &Request, history: &[Listen], track: TrackId) -> Option<Choice> {
        let inner = self.inner.probability(req, history, track)?;
        Some(uniform_track(self.tracks, track).mix(self.epsilon, inner))
    }
    fn uses_history(&self) -> bool {
        self.inner.uses_history()
    }
    fn may_block(&self) -> bool {
        self.inner.may_block()
    }
    fn track_list(&self, track: TrackId) -> Option<&[TrackId]> {
        self.inner.track_list(track)
    }
}

/// A random pick among the top-K tracks by total listen time.
pub struct TopPop {
    pub top: Arc<Vec<TrackId>>,
    pub k: usize,
}
impl Recommender for TopPop {
    fn recommend(&self, _: &Request, _: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        pick(&self.top[..self.k.min(self.top.len())], rng)
    }
    fn probability(&self, _: &Request, _: &[Listen], track: TrackId) -> Option<Choice> {
        let top = &self.top[..self.k.min(self.top.len())];
        Some(Choice::uniform(top.iter().copied(), track))
    }
}

/// A random track of the previous track's artist (the course's baseline).
pub struct StickyArtist {
    pub catalog: Arc<Catalog>,
}
impl Recommender for StickyArtist {
    fn recommend(&self, req: &Request, _: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        if !self.catalog.contains(u64::from(req.track)) {
            return None;
        }
        pick(self.catalog.same_artist(req.track), rng)
    }
    fn probability(&self, req: &Request, _: &[Listen], track: TrackId) -> Option<Choice> {
        if !self.catalog.contains(u64::from(req.track)) {
            return Some(Choice::of(None, track));
        }
        let same = self.catalog.same_artist(req.track);
        Some(Choice::uniform(same.iter().copied(), track))
    }
}

/// A random pick from the user's precomputed list.
pub struct Indexed {
    pub lists: Arc<UserLists>,
}
impl Recommender for Indexed {
    fn recommend(&self, req: &Request, _: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        pick(self.lists.get(req.user)?, rng)
    }
    fn probability(&self, req: &Request, _: &[Listen], track: TrackId) -> Option<Choice> {
        let list = self.lists.get(req.user).unwrap_or(&[]);
        Some(Choice::uniform(list.iter().copied(), track))
    }
}

/// How `sequential` walks a user's list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Walk {
    /// The course's Sequential: the item after the previous track, wrapping past the end to the
    /// start; when the previous track is not on the list (a session's first request), the item
    /// after the first — `list[(index + 1) % len]` with index 0 for a track not found.
    #[default]
    Course,
    /// From the top: the first item when the previous track is not on the list, and nothing past
    /// the end (the fallback answers), so a ranked list is served best first and never repeated.
    Once,
}

/// Walks the user's list in order (see [`Walk`]).
pub struct Sequential {
    pub lists: Arc<UserLists>,
    pub walk: Walk,
}
impl Recommender for Sequential {
    fn recommend(&self, req: &Request, _: &[Listen], _: &mut Rng) -> Option<TrackId> {
        let list = self.lists.get(req.user)?;
        let at = list.iter().position(|&t| t == req.track);
        match self.walk {
            Walk::Course if list.is_empty() => None,
            Walk::Course => list.get((at.unwrap_or(0) + 1) % list.len()).copied(),
            Walk::Once => match at {
                Some(i) => list.get(i + 1).copied(),
                None => list.first().copied(),
            },
        }
    }
    crate::deterministic_probability!();
}

/// A random pick from the previous track's precomputed similar tracks.
pub struct Contextual {
    pub lists: Arc<TrackLists>,
}
impl Recommender for Contextual {
    fn recommend(&self, req: &Request, _: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        pick(self.lists.get(req.track)?, rng)
    }
    fn probability(&self, req: &Request, _: &[Listen], track: TrackId) -> Option<Choice> {
        let list = self.lists.get(req.track).unwrap_or(&[]);
        Some(Choice::uniform(list.iter().copied(), track))
    }

    fn track_list(&self, track: TrackId) -> Option<&[TrackId]> {
        self.lists.get(track)
    }
}

/// History-aware item-to-item: picks an anchor among the current and recent listens with
/// probability proportional to listen time, and returns its first neighbour the user has not
/// heard recently.
pub struct HistoryI2I {
    pub lists: Arc<TrackLists>,
    /// How many recent listens are anchor candidates.
    pub anchors: usize,
    /// How many recent listens count as heard: their tracks (and what was recommended with
    /// them) are never recommended again. Its own window, not the service's history size, so
    /// a longer history kept for session-aware recommenders does not narrow its candidates.
    pub heard: usize,
}
impl HistoryI2I {
    /// The anchor candidates with their listen times: recent listens, then the request.
    fn anchors<'a>(
        &self,
        req: &'a Request,
        history: &'a [Listen],
    ) -> impl Iterator<Item = (TrackId, f32)> + Clone + 'a {
        let recent = &history[history.len().saturating_sub(self.anchors.saturating_sub(1))..];
        recent
            .iter()
            .map(|l| (l.track, l.time))
            .chain(std::iter::once((req.track, req.time)))
    }

    /// The first neighbour of `anchor` the user has not heard recently.
    fn answer_for(&self, anchor: TrackId, req: &Request, history: &[Listen]) -> Option<TrackId> {
        let window = &history[history.len().saturating_sub(self.heard)..];
        let heard =
            |t: TrackId| t == req.track || window.iter().any(|l| l.track == t || l.rec == Some(t));
        self.lists.get(anchor)?.iter().copied().find(|&t| !heard(t))
    }
}

impl Recommender for HistoryI2I {
    fn track_list(&self, track: TrackId) -> Option<&[TrackId]> {
        self.lists.get(track)
    }

    fn recommend(&self, req: &Request, history: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        let anchors = self.anchors(req, history);
        let total: f32 = anchors.clone().map(|(_, t)| t.max(0.0)).sum();
        if total <= 0.0 {
            return None;
        }
        let mut x = rng.random::<f32>() * total;
        let mut anchor = req.track;
        for (t, w) in anchors {
            if w > 0.0 {
                anchor = t;
                x -= w;
                if x <= 0.0 {
                    break;
                }
            }
        }
        self.answer_for(anchor, req, history)
    }

    /// Each anchor is drawn with probability its listen time ÷ their total.
    fn probability(&self, req: &Request, history: &[Listen], track: TrackId) -> Option<Choice> {
        let anchors = self.anchors(req, history);
        let total: f32 = anchors.clone().map(|(_, t)| t.max(0.0)).sum();
        if total <= 0.0 {
            return Some(Choice::of(None, track));
        }
        let mut c = Choice {
            track: 0.0,
            nothing: 0.0,
        };
        let total: f64 = anchors.clone().map(|(_, w)| f64::from(w.max(0.0))).sum();
        for (a, w) in anchors.filter(|&(_, w)| w > 0.0) {
            let share = f64::from(w) / total;
            let here = Choice::of(self.answer_for(a, req, history), track);
            c.track += share * here.track;
            c.nothing += share * here.nothing;
        }
        Some(c)
    }

    fn uses_history(&self) -> bool {
        true
    }
}

/// `primary`, or `fallback` when the primary has nothing to say; counts fallbacks.
pub struct Chain {
    pub primary: Box<dyn Recommender>,
    pub fallback: Box<dyn Recommender>,
    pub fallbacks: Arc<AtomicU64>,
}
impl Recommender for Chain {
    fn recommend(&self, req: &Request, history: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        self.primary.recommend(req, history, rng).or_else(|| {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            self.fallback.recommend(req, history, rng)
        })
    }

    fn uses_history(&self) -> bool {
        self.primary.uses_history() || self.fallback.uses_history()
    }

    fn may_block(&self) -> bool {
        self.primary.may_block() || self.fallback.may_block()
    }

    fn track_list(&self, track: TrackId) -> Option<&[TrackId]> {
        self.primary
            .track_list(track)
            .or_else(|| self.fallback.track_list(track))
    }

    fn probability(&self, req: &Request, history: &[Listen], track: TrackId) -> Option<Choice> {
        let first = self.primary.probability(req, history, track)?;
        if first.nothing == 0.0 {
            return Some(first);
        }
        Some(first.or(self.fallback.probability(req, history, track)?))
    }

    /// The primary's answer and choice as it answers; where it says nothing, the fallback's,
    /// with the primary's probability of that track (0 for a deterministic primary: no second
    /// answer is computed).
    fn recommend_with_choice(
        &self,
        req: &Request,
        history: &[Listen],
        rng: &mut Rng,
    ) -> (Option<TrackId>, Option<Choice>) {
        let (answer, choice) = self.primary.recommend_with_choice(req, history, rng);
        match answer {
            Some(t) => {
                let choice = match choice {
                    Some(c) if c.nothing == 0.0 => Some(c),
                    Some(c) => self.fallback.probability(req, history, t).map(|f| c.or(f)),
                    None => None,
                };
                (Some(t), choice)
            }
            None => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                let (t, then) = self.fallback.recommend_with_choice(req, history, rng);
                let first = match t {
                    _ if self.primary.is_deterministic() => choice,
                    Some(t) => self.primary.probability(req, history, t),
                    None => choice,
                };
                (t, first.zip(then).map(|(f, then)| f.or(then)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::Track;
    use botify_core::rng::stream;
    use std::collections::HashMap;

    fn catalog() -> Arc<Catalog> {
        let t = |id: u32, artist: &str| Track::new(id, artist, format!("t{id}"));
        Arc::new(
            Catalog::from_tracks(vec![t(0, "a"), t(1, "a"), t(2, "b"), t(3, "a"), t(4, "c")])
                .unwrap(),
        )
    }
    fn req(track: u32, time: f32) -> Request {
        Request {
            user: 7,
            track,
            time,
        }
    }

    #[test]
    fn sticky_artist_stays_with_the_artist() {
        let r = StickyArtist { catalog: catalog() };
        let mut rng = stream(1, b"t", 0);
        for _ in 0..50 {
            let t = r.recommend(&req(1, 1.0), &[], &mut rng).unwrap();
            assert!([0, 1, 3].contains(&t));
        }
        assert_eq!(r.recommend(&req(2, 1.0), &[], &mut rng), Some(2));
        assert_eq!(r.recommend(&req(99, 1.0), &[], &mut rng), None);
    }

    #[test]
    fn sequential_walks_the_list_and_indexed_samples_it() {
        let lists = Arc::new(UserLists::from_map(HashMap::from([(7, vec![3, 1, 4])])));
        let s = Sequential {
            lists: lists.clone(),
            walk: Walk::Once,
        };
        let mut rng = stream(1, b"t", 0);
        assert_eq!(s.recommend(&req(0, 1.0), &[], &mut rng), Some(3));
        assert_eq!(s.recommend(&req(3, 1.0), &[], &mut rng), Some(1));
        assert_eq!(s.recommend(&req(1, 1.0), &[], &mut rng), Some(4));
        assert_eq!(s.recommend(&req(4, 1.0), &[], &mut rng), None);
        let i = Indexed { lists };
        let mut seen = [false; 5];
        for _ in 0..100 {
            seen[i.recommend(&req(0, 1.0), &[], &mut rng).unwrap() as usize] = true;
        }
        assert_eq!(seen, [false, true, false, true, true]);
        assert_eq!(
            i.recommend(
                &Request {
                    user: 8,
                    track: 0,
                    time: 1.0
                },
                &[],
                &mut rng
            ),
            None
        );
    }

    #[test]
    fn history_i2i_skips_heard_tracks_and_weights_by_time() {
        let lists = Arc::new(TrackLists::from_lists(
            5,
            [(0, vec![1, 2, 3]), (4, vec![2])],
        ));
        let r = HistoryI2I {
            lists,
            anchors: 10,
            heard: 50,
        };
        let mut rng = stream(1, b"t", 0);
        let hist = [Listen {
            track: 4,
            time: 0.0,
            rec: Some(1),
        }];
        // Only the current track has positive time: anchor 0; 1 was already recommended.
        for _ in 0..20 {
            assert_eq!(r.recommend(&req(0, 0.9), &hist, &mut rng), Some(2));
        }
        assert_eq!(r.recommend(&req(0, 0.0), &hist, &mut rng), None);
        // Heard means within its own window: a listen older than `heard` no longer excludes.
        let older = [
            hist[0],
            Listen {
                track: 3,
                time: 0.0,
                rec: Some(3),
            },
        ];
        let short = HistoryI2I {
            lists: r.lists.clone(),
            anchors: 1,
            heard: 1,
        };
        assert_eq!(short.recommend(&req(0, 0.9), &older, &mut rng), Some(1));
        assert_eq!(r.recommend(&req(0, 0.9), &older, &mut rng), Some(2));
        assert!(r.uses_history());
        let chained = Chain {
            primary: Box::new(r),
            fallback: Box::new(Random { tracks: 5 }),
            fallbacks: Default::default(),
        };
        assert!(chained.uses_history());
        assert!(!StickyArtist { catalog: catalog() }.uses_history());
    }

    #[test]
    fn chain_falls_back_and_counts() {
        let lists = Arc::new(UserLists::default());
        let fallbacks = Arc::new(AtomicU64::new(0));
        let c = Chain {
            primary: Box::new(Indexed { lists }),
            fallback: Box::new(Random { tracks: 5 }),
            fallbacks: fallbacks.clone(),
        };
        let mut rng = stream(1, b"t", 0);
        assert!(c.recommend(&req(0, 1.0), &[], &mut rng).unwrap() < 5);
        assert_eq!(fallbacks.load(Ordering::Relaxed), 1);
        let top = TopPop {
            top: Arc::new(vec![4, 2, 0]),
            k: 2,
        };
        for _ in 0..20 {
            assert!([4, 2].contains(&top.recommend(&req(0, 1.0), &[], &mut rng).unwrap()));
        }
    }
}
