//! A session-aware item-to-item policy. In the listener model a session's taste is fixed and its
//! first track is drawn near it, so the first track anchors the whole session: candidates are the
//! anchor's neighbours in similarity order, never a track already played in the session, and an
//! artist already heard is passed over while a fresh one is available (the listener discounts
//! repeated artists). When the anchor's list runs dry the lists of the session's liked tracks
//! follow, best liked first. A skip says the session's taste lies away from that track, so the
//! skipped track's nearest neighbours are passed over too while other candidates remain.

use crate::data::TrackLists;
use crate::history::current_session;
use crate::{Listen, Recommender, Request};
use botify_core::rng::Rng;
use botify_core::{Catalog, TrackId};
use std::sync::Arc;

pub struct SessionAnchor {
    pub lists: Arc<TrackLists>,
    pub catalog: Arc<Catalog>,
    /// A listen at least this long makes a track a secondary anchor.
    pub liked: f32,
    /// Plays of one artist in a session before its tracks are passed over while others remain.
    pub artist_plays: u32,
    /// A listen shorter than this is a skip.
    pub skipped: f32,
    /// A skipped track's nearest this-many neighbours are passed over while others remain (0:
    /// skips change nothing).
    pub skip_depth: usize,
    /// 0: candidates in anchor order (the first track's list, then each liked track's). Above
    /// 0: one ranking fused from all anchors' lists, reciprocal-rank style — a candidate scores
    /// Σ time(anchor) / (fusion + rank in the anchor's list) — so a track near several liked
    /// tracks comes first.
    pub fusion: f32,
}

impl SessionAnchor {
    /// With `fusion`: the candidates from the anchors (track, listen time), by fused score.
    fn fused(&self, anchors: &[(TrackId, f32)]) -> Vec<TrackId> {
        let list = |a: TrackId| self.lists.get(a).unwrap_or(&[]);
        // (candidate, fused score) in first-seen order; the stable sort keeps it for ties.
        let mut scored: Vec<(TrackId, f32)> = Vec::new();
        let mut at: botify_core::hash::FastMap<TrackId, usize> = Default::default();
        for &(a, time) in anchors {
            for (rank, &c) in list(a).iter().enumerate() {
                let gain = time / (self.fusion + rank as f32 + 1.0);
                match at.get(&c) {
                    Some(&i) => scored[i].1 += gain,
                    None => {
                        at.insert(c, scored.len());
                        scored.push((c, gain));
                    }
                }
            }
        }
        scored.sort_by(|x, y| y.1.total_cmp(&x.1));
        scored.into_iter().map(|x| x.0).collect()
    }
}

impl Recommender for SessionAnchor {
    crate::deterministic_probability!();

    fn recommend(&self, req: &Request, history: &[Listen], _rng: &mut Rng) -> Option<TrackId> {
        let past = current_session(history);
        let tracks: Vec<(TrackId, f32)> = past
            .iter()
            .map(|l| (l.track, l.time))
            .chain(std::iter::once((req.track, req.time)))
            .collect();
        let played = |t: TrackId| tracks.iter().any(|&(p, _)| p == t);
        let artist_count = |t: TrackId| {
            let a = self.catalog.artist_of(t);
            tracks
                .iter()
                .filter(|&&(p, _)| self.catalog.artist_of(p) == a)
                .count() as u32
        };
        // Anchors: the session's first track, then its liked tracks, longest listens first.
        let mut liked: Vec<(TrackId, f32)> = tracks[1..]
            .iter()
            .copied()
            .filter(|&(_, time)| time >= self.liked)
            .collect();
        liked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let anchors: Vec<(TrackId, f32)> =
            std::iter::once((tracks[0].0, 1.0)).chain(liked).collect();
        // In anchor order, lazily (the answer is usually among the first few); fused, at once.
        let (mut ordered, mut fused);
        let candidates: &mut dyn Iterator<Item = TrackId> = if self.fusion > 0.0 {
            fused = self.fused(&anchors).into_iter();
            &mut fused
        } else {
            ordered = anchors
                .iter()
                .flat_map(|&(a, _)| self.lists.get(a).unwrap_or(&[]))
                .copied();
            &mut ordered
        };
        // Near a skipped track: the nearest neighbours of the session's skips.
        let near_skip: Vec<TrackId> = if self.skip_depth == 0 {
            Vec::new()
        } else {
            tracks[1..]
                .iter()
                .filter(|&&(_, time)| time < self.skipped)
                .flat_map(|&(t, _)| {
                    let list = self.lists.get(t).unwrap_or(&[]);
                    list[..list.len().min(self.skip_depth)].iter().copied()
                })
                .collect()
        };
        // The first candidate that breaks no rule, else the first unplayed one.
        let mut fallback: Option<TrackId> = None;
        for c in candidates {
            if played(c) || !self.catalog.contains(u64::from(c)) {
                continue;
            }
            if artist_count(c) < self.artist_plays && !near_skip.contains(&c) {
                return Some(c);
            }
            fallback.get_or_insert(c);
        }
        fallback
    }

    fn uses_history(&self) -> bool {
        true
    }

    fn track_list(&self, track: TrackId) -> Option<&[TrackId]> {
        self.lists.get(track)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::Track;
    use botify_core::rng::stream;

    /// Artist a: 0..5, artist b: 5..10, artist c: 10..20.
    fn catalog() -> Arc<Catalog> {
        let t = |id: u32| {
            Track::new(
                id,
                ["a", "b", "c"][(id / 5).min(2) as usize],
                format!("t{id}"),
            )
        };
        Arc::new(Catalog::from_tracks((0..20).map(t).collect()).unwrap())
    }

    fn policy(lists: Vec<(TrackId, Vec<TrackId>)>, artist_plays: u32) -> SessionAnchor {
        SessionAnchor {
            lists: Arc::new(TrackLists::from_lists(20, lists)),
            catalog: catalog(),
            liked: 0.7,
            artist_plays,
            skipped: 0.3,
            skip_depth: 0,
            fusion: 0.0,
        }
    }

    fn listen(track: TrackId, time: f32, rec: Option<TrackId>) -> Listen {
        Listen { track, time, rec }
    }

    fn ask(p: &SessionAnchor, history: &[Listen], track: TrackId, time: f32) -> Option<TrackId> {
        let mut rng = stream(1, b"session", 0);
        p.recommend(
            &Request {
                user: 3,
                track,
                time,
            },
            history,
            &mut rng,
        )
    }

    #[test]
    fn the_first_track_anchors_the_session_and_nothing_is_replayed() {
        let p = policy(vec![(10, vec![5, 11, 0, 12]), (5, vec![19, 18])], 1);
        // A new session starts on track 10: its nearest neighbour.
        assert_eq!(ask(&p, &[], 10, 1.0), Some(5));
        // Later in the session the anchor stays 10 (not the current track 5): 5 is played, 11 is
        // by the anchor's artist, already heard, so 0 (a fresh artist) comes first.
        let h = [listen(10, 1.0, Some(5))];
        assert_eq!(ask(&p, &h, 5, 0.9), Some(0));
        // An earlier session (closed by a listen without a recommendation) does not count: its
        // artist-a track 3 does not make 0 stale.
        let h = [listen(3, 0.4, None), listen(10, 1.0, Some(5))];
        assert_eq!(ask(&p, &h, 5, 0.9), Some(0));
    }

    #[test]
    fn fresh_artists_first_then_the_rest_then_liked_anchors() {
        let p = policy(vec![(10, vec![11, 12, 5]), (5, vec![6, 0])], 1);
        // Artist c (10, 11, 12) already played: 5 (artist b) comes before 12.
        let h = [listen(10, 1.0, Some(11))];
        assert_eq!(ask(&p, &h, 11, 0.9), Some(5));
        // 5 played and liked: its list follows the anchor's, fresh artist a first (0 over 6).
        let h = [listen(10, 1.0, Some(11)), listen(11, 0.9, Some(5))];
        assert_eq!(ask(&p, &h, 5, 0.8), Some(0));
        // Without fresh artists anywhere, the first unplayed candidate.
        let h = [
            listen(10, 1.0, Some(11)),
            listen(11, 0.9, Some(5)),
            listen(5, 0.8, Some(0)),
        ];
        assert_eq!(ask(&p, &h, 0, 0.8), Some(12));
        // A looser artist rule takes the anchor's order as it is.
        let loose = policy(vec![(10, vec![11, 12, 5])], 3);
        assert_eq!(ask(&loose, &[listen(10, 1.0, Some(11))], 11, 0.9), Some(12));
    }

    #[test]
    fn a_skipped_tracks_neighbours_are_passed_over_while_others_remain() {
        let lists = vec![(10, vec![5, 0, 1, 3]), (5, vec![0, 1, 2])];
        let p = SessionAnchor {
            skip_depth: 2,
            ..policy(lists.clone(), 1)
        };
        // 5 was skipped (0.1): its two nearest (0, 1) are passed over, so 3 comes before 0.
        let h = [listen(10, 1.0, Some(5))];
        assert_eq!(ask(&p, &h, 5, 0.1), Some(3));
        // A listen above `skipped` is no skip; and depth 0 turns the rule off.
        assert_eq!(ask(&p, &h, 5, 0.5), Some(0));
        assert_eq!(ask(&policy(lists, 1), &h, 5, 0.1), Some(0));
        // When every candidate is near a skip, the first unplayed one still plays.
        let p = SessionAnchor {
            skip_depth: 3,
            ..policy(vec![(10, vec![5, 0]), (5, vec![0, 1])], 1)
        };
        assert_eq!(ask(&p, &h, 5, 0.1), Some(0));
    }

    #[test]
    fn fusion_ranks_a_track_near_several_liked_tracks_first() {
        // 3 is third in the anchor's list but also first in liked track 4's list.
        let lists = vec![(10, vec![4, 0, 1, 3]), (4, vec![3, 2])];
        let h = [listen(10, 1.0, Some(4))];
        let ordered = policy(lists.clone(), 1);
        assert_eq!(ask(&ordered, &h, 4, 0.9), Some(0));
        let fused = SessionAnchor {
            fusion: 1.0,
            ..policy(lists.clone(), 1)
        };
        // 0: 1/(1+2) = 0.33; 3: 1/(1+4) + 0.9/(1+1) = 0.65.
        assert_eq!(ask(&fused, &h, 4, 0.9), Some(3));
        // A skip (0.1) is no anchor: the anchor's order stands.
        assert_eq!(ask(&fused, &h, 4, 0.1), Some(0));
        // The rules still apply to the fused order: with 3 played, 0 is next.
        let h = [listen(10, 1.0, Some(4)), listen(4, 0.9, Some(3))];
        assert_eq!(ask(&fused, &h, 3, 0.9), Some(0));
    }

    #[test]
    fn nothing_to_say_without_lists() {
        let p = policy(vec![(10, vec![10])], 1);
        assert_eq!(ask(&p, &[], 10, 1.0), None);
        assert_eq!(ask(&p, &[], 3, 1.0), None);
    }
}
