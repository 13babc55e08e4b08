//! The course's winning homework designs as configurable recommenders. Designs 3 and 4
//! need no new code: they are `contextual` over the neural model's per-track lists and `indexed`
//! over the MF-with-features lists.
//!
//! Every piece of per-user state a design keeps (liked and disliked tracks, heard tracks, the run
//! of failures, which source is active) is derived from the listen history on each request, so
//! the state backend only ever appends — correct under concurrent requests, embedded or Redis.

use crate::data::{TrackLists, UserLists};
use crate::history::{Listen, current_session};
use crate::{Choice, Recommender, Request, Rng};
use botify_core::{Catalog, TrackId};
use rand::Rng as _;
use rand::seq::IteratorRandom;
use std::sync::Arc;

/// Listen times of this session's earlier recommendations, oldest first: a session entry that
/// plays the previous entry's recommendation is its outcome, and `req` is the outcome of the last.
fn pick_outcomes<'a>(session: &'a [Listen], req: &'a Request) -> impl Iterator<Item = f32> + 'a {
    session
        .windows(2)
        .filter(|w| w[0].rec == Some(w[1].track))
        .map(|w| w[1].time)
        .chain(
            session
                .last()
                .filter(|l| l.rec == Some(req.track))
                .map(|_| req.time),
        )
}

/// Whether `t` is the request's track or appears (played or recommended) in `listens`.
fn heard_in(listens: &[Listen], req: &Request, t: TrackId) -> bool {
    t == req.track || listens.iter().any(|l| l.track == t || l.rec == Some(t))
}

/// Design 1, "DIFM list + history": the user's ranked list, with a replay of liked history after
/// a skip.
///
/// - no history for the user → the first item of the list;
/// - previous listen < `skip_below` → a random liked (≥ `liked`) track of the history, not among
///   the last `recent` listens nor this session (a replay inside a session is worth nothing);
/// - otherwise, or when no liked track qualifies → the first list item not heard in the last
///   `recent` listens or this session;
/// - nothing suitable → the fallback.
pub struct HistoryList {
    pub lists: Arc<UserLists>,
    pub recent: usize,
    pub skip_below: f32,
    pub liked: f32,
}

impl HistoryList {
    /// Liked tracks of the history before the last `recent` listens that `fresh` allows.
    fn liked_replays<'a>(
        &'a self,
        _req: &'a Request,
        history: &'a [Listen],
        fresh: impl Fn(TrackId) -> bool + 'a,
    ) -> impl Iterator<Item = TrackId> + 'a {
        let recent = history.len().min(self.recent);
        history[..history.len() - recent]
            .iter()
            .filter(move |l| l.time >= self.liked && fresh(l.track))
            .map(|l| l.track)
    }
}

impl Recommender for HistoryList {
    fn recommend(&self, req: &Request, history: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        let list = self.lists.get(req.user).unwrap_or(&[]);
        if history.is_empty() {
            return list.iter().copied().find(|&t| t != req.track);
        }
        let recent = &history[history.len().saturating_sub(self.recent)..];
        let session = current_session(history);
        let fresh = |t: TrackId| !heard_in(recent, req, t) && !heard_in(session, req, t);
        if req.time < self.skip_below {
            let liked = self.liked_replays(req, history, fresh).choose(rng);
            if liked.is_some() {
                return liked;
            }
        }
        list.iter().copied().find(|&t| fresh(t))
    }

    /// A uniform pick among the liked replays after a skip, else the deterministic list walk.
    fn probability(&self, req: &Request, history: &[Listen], track: TrackId) -> Option<Choice> {
        if history.is_empty() || req.time >= self.skip_below {
            return Some(Choice::deterministic(self, req, history, track));
        }
        let recent = &history[history.len().saturating_sub(self.recent)..];
        let session = current_session(history);
        let fresh = |t: TrackId| !heard_in(recent, req, t) && !heard_in(session, req, t);
        let replays = Choice::uniform(self.liked_replays(req, history, fresh), track);
        if replays.nothing == 0.0 {
            return Some(replays);
        }
        Some(Choice::deterministic(self, req, history, track))
    }

    fn uses_history(&self) -> bool {
        true
    }
}

/// Design 2, "Better StickyArtist": the previous track's artist, minus what the user disliked,
/// with liked-neighbour exploration and a switch to item-to-item after a run of failures.
///
/// - never a track the user disliked (any listen ≤ `disliked` in the history) nor one already
///   played or recommended this session;
/// - after `failures` consecutive recommendations listened ≤ `disliked` → a random pick among the
///   first `neighbours` eligible item-to-item neighbours of the previous track; a success ends
///   the run and so switches back;
/// - otherwise, with probability `mix` → a diverse candidate the user should like: a neighbour of
///   a random liked (≥ `liked`) track by another artist than the previous one;
/// - otherwise → a random eligible track of the previous track's artist, then the item-to-item
///   neighbours when the artist is exhausted.
pub struct BetterSticky {
    pub catalog: Arc<Catalog>,
    pub lists: Arc<TrackLists>,
    pub liked: f32,
    pub disliked: f32,
    pub failures: usize,
    pub mix: f32,
    pub neighbours: usize,
}

impl BetterSticky {
    fn neighbour(
        &self,
        of: TrackId,
        ok: impl Fn(TrackId) -> bool,
        rng: &mut Rng,
    ) -> Option<TrackId> {
        let list = self.lists.get(of)?;
        list.iter()
            .copied()
            .filter(|&t| ok(t))
            .take(self.neighbours)
            .choose(rng)
    }
}

impl BetterSticky {
    /// What the history says: which tracks are eligible (not heard this session, never
    /// disliked) and the run of failures that ends the session so far (a success resets it).
    fn state<'a>(
        &self,
        req: &'a Request,
        history: &'a [Listen],
    ) -> (impl Fn(TrackId) -> bool + Copy + 'a, usize) {
        let session = current_session(history);
        let disliked = self.disliked;
        let ok = move |t: TrackId| {
            !heard_in(session, req, t)
                && !history.iter().any(|l| l.track == t && l.time <= disliked)
        };
        let run =
            pick_outcomes(session, req).fold(0, |run, t| if t <= disliked { run + 1 } else { 0 });
        (ok, run)
    }

    /// The probability of `track` from [`BetterSticky::neighbour`]: uniform over the first
    /// `neighbours` eligible neighbours of `of`.
    fn neighbour_choice(
        &self,
        of: TrackId,
        ok: impl Fn(TrackId) -> bool,
        track: TrackId,
    ) -> Choice {
        let list = self.lists.get(of).unwrap_or(&[]);
        Choice::uniform(
            list.iter()
                .copied()
                .filter(|&t| ok(t))
                .take(self.neighbours),
            track,
        )
    }
}

impl Recommender for BetterSticky {
    /// Every branch of `recommend`, weighted: after a run of failures the neighbours; otherwise
    /// with probability `mix` a liked anchor's neighbour (each anchor equally likely); the
    /// artist's eligible tracks, then the neighbours, where those answer nothing.
    fn probability(&self, req: &Request, history: &[Listen], track: TrackId) -> Option<Choice> {
        if !self.catalog.contains(u64::from(req.track)) {
            return Some(Choice::of(None, track));
        }
        let (ok, run) = self.state(req, history);
        let main = Choice::uniform(
            self.catalog
                .same_artist(req.track)
                .iter()
                .copied()
                .filter(|&t| ok(t)),
            track,
        )
        .or(self.neighbour_choice(req.track, ok, track));
        if run >= self.failures {
            return Some(self.neighbour_choice(req.track, ok, track).or(main));
        }
        if self.mix <= 0.0 {
            return Some(main);
        }
        let artist = self.catalog.artist_of(req.track);
        let anchors: Vec<TrackId> = history
            .iter()
            .map(|l| (l.track, l.time))
            .chain(std::iter::once((req.track, req.time)))
            .filter(|&(_, time)| time >= self.liked)
            .map(|(t, _)| t)
            .collect();
        let explore = if anchors.is_empty() {
            main
        } else {
            let share = 1.0 / anchors.len() as f64;
            let mut c = Choice {
                track: 0.0,
                nothing: 0.0,
            };
            for &a in &anchors {
                let other = |t: TrackId| {
                    self.catalog.contains(u64::from(t))
                        && self.catalog.artist_of(t) != artist
                        && ok(t)
                };
                let here = self.neighbour_choice(a, other, track).or(main);
                c.track += share * here.track;
                c.nothing += share * here.nothing;
            }
            c
        };
        Some(explore.mix(f64::from(self.mix), main))
    }

    fn recommend(&self, req: &Request, history: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        if !self.catalog.contains(u64::from(req.track)) {
            return None;
        }
        let (ok, run) = self.state(req, history);
        if run >= self.failures {
            if let Some(t) = self.neighbour(req.track, ok, rng) {
                return Some(t);
            }
        } else if self.mix > 0.0 && rng.random::<f32>() < self.mix {
            let artist = self.catalog.artist_of(req.track);
            let anchor = history
                .iter()
                .map(|l| (l.track, l.time))
                .chain(std::iter::once((req.track, req.time)))
                .filter(|&(_, time)| time >= self.liked)
                .map(|(t, _)| t)
                .choose(rng);
            if let Some(a) = anchor
                && let Some(t) = self.neighbour(
                    a,
                    |t| {
                        self.catalog.contains(u64::from(t))
                            && self.catalog.artist_of(t) != artist
                            && ok(t)
                    },
                    rng,
                )
            {
                return Some(t);
            }
        }
        let same_artist = self.catalog.same_artist(req.track);
        same_artist
            .iter()
            .copied()
            .filter(|&t| ok(t))
            .choose(rng)
            .or_else(|| self.neighbour(req.track, ok, rng))
    }

    fn uses_history(&self) -> bool {
        true
    }
}

/// Which source design 5 draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    ItemToItem,
    Personal,
}

/// Design 5, "weighted i2i with switching".
///
/// - item-to-item mode: the previous track's neighbours weighing at least `min_weight` (at most
///   `max_candidates`), refilled up to `min_candidates` with the artist's most popular tracks and
///   then the global top tracks (refills weigh `min_weight`); one is drawn with probability
///   softmax(weight / `temperature`);
/// - personal mode: the first track of the user's list;
/// - never a track the user already heard (anywhere in the kept history);
/// - the session starts in item-to-item mode; a recommendation listened < `switch_below` switches
///   to the other source (i2i → personal, personal → i2i). The mode is replayed from the session's
///   history, so it needs no extra state.
pub struct WeightedI2i {
    pub catalog: Arc<Catalog>,
    pub lists: Arc<TrackLists>,
    pub personal: Arc<UserLists>,
    /// Tracks of each artist, most popular first.
    pub artist_popular: Arc<Vec<Vec<TrackId>>>,
    pub top: Arc<Vec<TrackId>>,
    pub min_weight: f32,
    pub min_candidates: usize,
    pub max_candidates: usize,
    pub switch_below: f32,
    pub temperature: f32,
}

impl WeightedI2i {
    fn source(&self, session: &[Listen], req: &Request) -> Source {
        pick_outcomes(session, req).fold(Source::ItemToItem, |s, time| {
            match (s, time < self.switch_below) {
                (s, false) => s,
                (Source::ItemToItem, true) => Source::Personal,
                (Source::Personal, true) => Source::ItemToItem,
            }
        })
    }

    fn personal(&self, req: &Request, history: &[Listen]) -> Option<TrackId> {
        let list = self.personal.get(req.user)?;
        list.iter().copied().find(|&t| !heard_in(history, req, t))
    }

    /// The weighted candidates of the previous track, refilled; best-first order is irrelevant.
    fn candidates(&self, req: &Request, history: &[Listen]) -> Vec<(TrackId, f32)> {
        let mut out: Vec<(TrackId, f32)> = Vec::with_capacity(self.max_candidates);
        let fresh = |t: TrackId, out: &[(TrackId, f32)]| {
            !heard_in(history, req, t) && !out.iter().any(|c| c.0 == t)
        };
        if let Some(list) = self.lists.get(req.track) {
            let weights = self.lists.weights(req.track);
            for (i, &t) in list.iter().enumerate() {
                if out.len() >= self.max_candidates {
                    break;
                }
                let w = weights.map_or(1.0, |w| w[i]);
                if w >= self.min_weight && fresh(t, &out) {
                    out.push((t, w));
                }
            }
        }
        let artist = self.catalog.artist_of(req.track) as usize;
        let refills = self.artist_popular[artist].iter().chain(self.top.iter());
        for &t in refills {
            if out.len() >= self.min_candidates {
                break;
            }
            if fresh(t, &out) {
                out.push((t, self.min_weight));
            }
        }
        out
    }

    fn draw(&self, candidates: &[(TrackId, f32)], rng: &mut Rng) -> Option<TrackId> {
        let max = candidates.iter().map(|c| c.1).fold(f32::MIN, f32::max);
        let total: f32 = candidates
            .iter()
            .map(|c| ((c.1 - max) / self.temperature).exp())
            .sum();
        let mut x = rng.random::<f32>() * total;
        for &(t, w) in candidates {
            x -= ((w - max) / self.temperature).exp();
            if x <= 0.0 {
                return Some(t);
            }
        }
        candidates.last().map(|c| c.0)
    }
}

impl Recommender for WeightedI2i {
    fn track_list(&self, track: TrackId) -> Option<&[TrackId]> {
        self.lists.get(track)
    }

    fn recommend(&self, req: &Request, history: &[Listen], rng: &mut Rng) -> Option<TrackId> {
        if !self.catalog.contains(u64::from(req.track)) {
            return None;
        }
        let session = current_session(history);
        if self.source(session, req) == Source::Personal
            && let Some(t) = self.personal(req, history)
        {
            return Some(t);
        }
        let candidates = self.candidates(req, history);
        self.draw(&candidates, rng)
            .or_else(|| self.personal(req, history))
    }

    /// The personal pick when that source answers, else softmax(weight / temperature) over the
    /// candidates, else the personal pick.
    fn probability(&self, req: &Request, history: &[Listen], track: TrackId) -> Option<Choice> {
        if !self.catalog.contains(u64::from(req.track)) {
            return Some(Choice::of(None, track));
        }
        let session = current_session(history);
        let personal = self.personal(req, history);
        if self.source(session, req) == Source::Personal && personal.is_some() {
            return Some(Choice::of(personal, track));
        }
        let candidates = self.candidates(req, history);
        if candidates.is_empty() {
            return Some(Choice::of(personal, track));
        }
        let max = candidates.iter().map(|c| c.1).fold(f32::MIN, f32::max);
        let weight = |w: f32| f64::from(((w - max) / self.temperature).exp());
        let total: f64 = candidates.iter().map(|c| weight(c.1)).sum();
        let hit: f64 = candidates
            .iter()
            .filter(|c| c.0 == track)
            .map(|c| weight(c.1))
            .sum();
        Some(Choice {
            track: hit / total,
            nothing: 0.0,
        })
    }

    fn uses_history(&self) -> bool {
        true
    }
}

/// Tracks of each artist ordered by the catalogue's `pop` (most popular first; ties and missing
/// popularity keep id order).
pub fn artist_popular(catalog: &Catalog) -> Vec<Vec<TrackId>> {
    catalog
        .artist_tracks
        .iter()
        .map(|tracks| {
            let mut v = tracks.clone();
            let pop = |t: &TrackId| catalog.tracks[*t as usize].pop.unwrap_or(0.0);
            v.sort_by(|a, b| pop(b).total_cmp(&pop(a)).then(a.cmp(b)));
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::Track;
    use botify_core::rng::stream;
    use std::collections::{HashMap, HashSet};

    /// Artist a: 0..5, artist b: 5..10, artist c: 10..20. Popularity rises with the id.
    fn catalog() -> Arc<Catalog> {
        let t = |id: u32| Track {
            pop: Some(id as f32),
            ..Track::new(
                id,
                ["a", "b", "c"][(id / 5).min(2) as usize],
                format!("t{id}"),
            )
        };
        Arc::new(Catalog::from_tracks((0..20).map(t).collect()).unwrap())
    }
    fn req(track: u32, time: f32) -> Request {
        Request {
            user: 7,
            track,
            time,
        }
    }
    /// A session as the simulator makes it: each listen plays the previous recommendation.
    fn session(listens: &[(u32, f32)], last_rec: u32) -> Vec<Listen> {
        let mut out: Vec<Listen> = listens
            .iter()
            .map(|&(track, time)| Listen {
                track,
                time,
                rec: None,
            })
            .collect();
        for i in 0..out.len() {
            out[i].rec = Some(out.get(i + 1).map_or(last_rec, |l| l.track));
        }
        out
    }
    fn end_of_session(mut h: Vec<Listen>) -> Vec<Listen> {
        if let Some(l) = h.last_mut() {
            l.rec = None;
        }
        h
    }
    fn user_lists(list: Vec<u32>) -> Arc<UserLists> {
        Arc::new(UserLists::from_map(HashMap::from([(7, list)])))
    }

    #[test]
    fn outcomes_follow_our_recommendations_only() {
        let s = session(&[(1, 0.9), (2, 0.1), (3, 0.5)], 4);
        let o: Vec<f32> = pick_outcomes(&s, &req(4, 0.3)).collect();
        assert_eq!(o, [0.1, 0.5, 0.3]);
        // The user played something else than our last answer: not an outcome of ours.
        let o: Vec<f32> = pick_outcomes(&s, &req(9, 0.3)).collect();
        assert_eq!(o, [0.1, 0.5]);
        assert_eq!(pick_outcomes(&[], &req(4, 0.3)).count(), 0);
    }

    fn design1() -> HistoryList {
        HistoryList {
            lists: user_lists(vec![3, 4, 5, 6]),
            recent: 2,
            skip_below: 0.7,
            liked: 0.8,
        }
    }

    #[test]
    fn design1_starts_with_the_list_head() {
        let mut rng = stream(1, b"t", 0);
        assert_eq!(design1().recommend(&req(9, 0.0), &[], &mut rng), Some(3));
        // The head is the current track: the next item.
        assert_eq!(design1().recommend(&req(3, 0.0), &[], &mut rng), Some(4));
    }

    #[test]
    fn design1_replays_liked_history_after_a_skip() {
        let mut rng = stream(1, b"t", 0);
        // An older session with liked 10 and 11 (0.8 counts, 0.79 does not), then a new session.
        let mut h = end_of_session(session(&[(10, 0.8), (11, 0.9), (12, 0.79)], 0));
        h.extend(session(&[(13, 1.0), (14, 1.0)], 15));
        let mut seen = HashSet::new();
        for _ in 0..100 {
            seen.insert(design1().recommend(&req(15, 0.69), &h, &mut rng).unwrap());
        }
        assert_eq!(seen, HashSet::from([10, 11]));
        // Listened ≥ 0.7: walk the list instead.
        assert_eq!(design1().recommend(&req(15, 0.7), &h, &mut rng), Some(3));
    }

    #[test]
    fn design1_skips_what_was_heard_recently_and_falls_back_when_nothing_fits() {
        let mut rng = stream(1, b"t", 0);
        // 3 and 4 were just heard (recent = 2); 5 is in this session; 6 is fresh.
        let h = session(&[(5, 1.0), (3, 1.0), (4, 1.0)], 8);
        assert_eq!(design1().recommend(&req(8, 0.9), &h, &mut rng), Some(6));
        // A skip with no liked history outside the recent window and session: the list.
        assert_eq!(design1().recommend(&req(8, 0.1), &h, &mut rng), Some(6));
        let h = session(&[(5, 1.0), (3, 1.0), (4, 1.0), (6, 1.0)], 8);
        assert_eq!(design1().recommend(&req(8, 0.9), &h, &mut rng), None);
        let other = Request {
            user: 8,
            track: 1,
            time: 1.0,
        };
        assert_eq!(design1().recommend(&other, &h, &mut rng), None);
    }

    fn design2(failures: usize, mix: f32) -> BetterSticky {
        BetterSticky {
            catalog: catalog(),
            // Neighbours of 0: 1, 6, 7, 11; of 12 (a liked track): 13, 2, 8.
            lists: Arc::new(TrackLists::from_lists(
                20,
                [(0, vec![1, 6, 7, 11]), (12, vec![13, 2, 8])],
            )),
            liked: 0.8,
            disliked: 0.2,
            failures,
            mix,
            neighbours: 10,
        }
    }

    #[test]
    fn design2_never_recommends_disliked_or_session_tracks() {
        let mut rng = stream(1, b"t", 0);
        // Disliked 1 in an earlier session (0.2 counts), 2 this session; 3 liked 0.21 is fine.
        let mut h = end_of_session(session(&[(1, 0.2), (3, 0.21)], 0));
        h.extend(session(&[(2, 0.5)], 0));
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.insert(
                design2(5, 0.0)
                    .recommend(&req(0, 0.9), &h, &mut rng)
                    .unwrap(),
            );
        }
        assert_eq!(seen, HashSet::from([3, 4]));
        // The artist exhausted: item-to-item neighbours, still never the disliked 1.
        let mut h = end_of_session(session(&[(1, 0.2)], 0));
        h.extend(session(&[(2, 0.5), (3, 0.5), (4, 0.5)], 0));
        let r = design2(5, 0.0)
            .recommend(&req(0, 0.9), &h, &mut rng)
            .unwrap();
        assert!([6, 7, 11].contains(&r), "{r}");
    }

    #[test]
    fn design2_switches_to_neighbours_after_k_failures_and_back_on_success() {
        let d = design2(3, 0.0);
        let mut rng = stream(2, b"t", 0);
        // Our picks 2, 3 failed (≤ 0.2), and the request says 4 failed too: three in a row.
        // Track 4 has no neighbours, so the artist answers: 0 is all that is left (1 heard, 2
        // and 3 disliked).
        let h = session(&[(1, 0.9), (2, 0.1), (3, 0.2)], 4);
        for _ in 0..50 {
            assert_eq!(d.recommend(&req(4, 0.15), &h, &mut rng), Some(0));
        }
        let h = session(&[(9, 0.9), (1, 0.1), (2, 0.2)], 0);
        for _ in 0..50 {
            let r = d.recommend(&req(0, 0.0), &h, &mut rng).unwrap();
            assert!([6, 7, 11].contains(&r), "neighbour expected, got {r}");
        }
        // Two failures only: still the artist.
        let h = session(&[(9, 0.9), (1, 0.9), (2, 0.1)], 0);
        for _ in 0..50 {
            let r = d.recommend(&req(0, 0.1), &h, &mut rng).unwrap();
            assert!([3, 4].contains(&r), "artist expected, got {r}");
        }
        // A success (0.9) ends the run even after many failures.
        let h = session(&[(9, 0.9), (1, 0.1), (2, 0.1), (3, 0.1)], 0);
        for _ in 0..50 {
            assert_eq!(d.recommend(&req(0, 0.9), &h, &mut rng), Some(4));
        }
    }

    #[test]
    fn design2_mixes_in_neighbours_of_liked_tracks_by_other_artists() {
        let d = design2(5, 1.0);
        let mut rng = stream(3, b"t", 0);
        // 12 was liked; its neighbours by another artist than 0's (a): 13 (c), 8 (b).
        let h = end_of_session(session(&[(12, 0.9)], 0));
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.insert(d.recommend(&req(0, 0.5), &h, &mut rng).unwrap());
        }
        assert_eq!(seen, HashSet::from([13, 8]));
        // Without liked tracks it stays with the artist.
        let r = d.recommend(&req(0, 0.5), &[], &mut rng).unwrap();
        assert!([1, 2, 3, 4].contains(&r));
    }

    fn design5(personal: Vec<u32>) -> WeightedI2i {
        let c = catalog();
        WeightedI2i {
            artist_popular: Arc::new(artist_popular(&c)),
            catalog: c,
            // Neighbours of 0 with predicted times; 8 is below 0.5.
            lists: Arc::new(
                TrackLists::parse(
                    std::path::Path::new("t"),
                    "{\"track\":0,\"recommendations\":[5,6,8,11],\"weights\":[0.9,0.6,0.4,0.5]}\n",
                    20,
                )
                .unwrap(),
            ),
            personal: user_lists(personal),
            top: Arc::new(vec![19, 18, 17]),
            min_weight: 0.5,
            min_candidates: 6,
            max_candidates: 8,
            switch_below: 0.7,
            temperature: 1.0,
        }
    }

    #[test]
    fn design5_drops_weak_neighbours_and_refills_from_artist_then_top() {
        let d = design5(vec![]);
        let got: Vec<(u32, f32)> = d.candidates(&req(0, 1.0), &[]);
        // 5, 6, 11 kept (8 dropped); refill with artist a by popularity (4, 3, 2), then stop at 6.
        assert_eq!(
            got,
            [(5, 0.9), (6, 0.6), (11, 0.5), (4, 0.5), (3, 0.5), (2, 0.5)]
        );
        // Heard tracks never come back; the artist runs out and the global top refills.
        let h = session(&[(4, 1.0), (3, 1.0), (2, 1.0), (5, 1.0)], 0);
        let got: Vec<u32> = d.candidates(&req(0, 1.0), &h).iter().map(|c| c.0).collect();
        assert_eq!(got, [6, 11, 1, 19, 18, 17]);
        // At most max_candidates neighbours.
        let mut d = design5(vec![]);
        d.max_candidates = 2;
        d.min_candidates = 1;
        assert_eq!(d.candidates(&req(0, 1.0), &[]).len(), 2);
    }

    #[test]
    fn design5_draws_by_softmax_of_the_weights() {
        let mut d = design5(vec![]);
        d.min_candidates = 0;
        let mut rng = stream(4, b"t", 0);
        let mut counts: HashMap<u32, u32> = HashMap::new();
        let n = 60_000;
        for _ in 0..n {
            *counts
                .entry(d.recommend(&req(0, 1.0), &[], &mut rng).unwrap())
                .or_default() += 1;
        }
        let z: f32 = [0.9f32, 0.6, 0.5].iter().map(|w| w.exp()).sum();
        for (t, w) in [(5, 0.9f32), (6, 0.6), (11, 0.5)] {
            let want = w.exp() / z;
            let got = counts[&t] as f32 / n as f32;
            assert!((got - want).abs() < 0.01, "track {t}: {got} vs {want}");
        }
        assert_eq!(counts.len(), 3);
        // A low temperature makes it greedy.
        d.temperature = 0.01;
        for _ in 0..100 {
            assert_eq!(d.recommend(&req(0, 1.0), &[], &mut rng), Some(5));
        }
    }

    #[test]
    fn design5_switches_source_on_failures_and_back() {
        let d = design5(vec![15, 16, 17]);
        let mut rng = stream(5, b"t", 0);
        let i2i: HashSet<u32> = [5, 6, 11, 4, 3, 2, 1].into();
        // Session start: item-to-item.
        let r = d.recommend(&req(0, 1.0), &[], &mut rng).unwrap();
        assert!(i2i.contains(&r));
        // Our pick 0 was listened 0.69 < 0.7: personal, first unheard item.
        let h = session(&[(9, 1.0)], 0);
        assert_eq!(d.recommend(&req(0, 0.69), &h, &mut rng), Some(15));
        // Personal picks listened well stay personal; 15 heard → 16.
        let h = session(&[(9, 1.0), (0, 0.5)], 15);
        assert_eq!(d.recommend(&req(15, 0.9), &h, &mut rng), Some(16));
        // A personal pick below 0.7 switches back to item-to-item.
        let h = session(&[(9, 1.0), (12, 0.5)], 15);
        // (Personal would always say 16; item-to-item draws among the artist's popular tracks.)
        let drawn: HashSet<u32> = (0..200)
            .map(|_| d.recommend(&req(15, 0.3), &h, &mut rng).unwrap())
            .collect();
        assert_eq!(drawn, HashSet::from([19, 18, 17, 16, 14, 13]));
        // The mode is per session: a new session starts with item-to-item again.
        let mut h = end_of_session(session(&[(9, 1.0), (12, 0.5)], 0));
        h.extend(session(&[(13, 1.0)], 0));
        let r = d.recommend(&req(0, 0.9), &h, &mut rng).unwrap();
        assert!(i2i.contains(&r), "{r}");
        // Personal list exhausted: item-to-item answers.
        let h = session(&[(15, 1.0), (16, 1.0), (17, 1.0), (9, 1.0)], 0);
        let r = d.recommend(&req(0, 0.1), &h, &mut rng).unwrap();
        assert!(i2i.contains(&r), "{r}");
    }

    #[test]
    fn design5_never_repeats_a_heard_track() {
        let d = design5(vec![1, 2, 3]);
        let mut rng = stream(6, b"t", 0);
        let mut h: Vec<Listen> = Vec::new();
        let mut track = 0;
        for step in 0..20 {
            let time = if step % 3 == 0 { 0.2 } else { 0.9 };
            let Some(next) = d.recommend(&req(track, time), &h, &mut rng) else {
                // It stops only when every source is exhausted.
                assert!(d.candidates(&req(track, time), &h).is_empty());
                assert_eq!(d.personal(&req(track, time), &h), None);
                break;
            };
            assert!(
                !heard_in(&h, &req(track, time), next),
                "step {step}: {next}"
            );
            h.push(Listen {
                track,
                time,
                rec: Some(next),
            });
            track = next;
        }
        assert!(h.len() > 10, "{}", h.len());
    }
}
