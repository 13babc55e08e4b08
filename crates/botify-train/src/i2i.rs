//! Item-to-item neighbours from the logs: consecutive next-track pairs weighted by the listen time
//! of the next track, co-liked tracks within a session, or tracks one listener opened sessions on.

use crate::dataset::Dataset;
use botify_core::{TrackId, UserId};
use rayon::prelude::*;

botify_core::choices! {
    /// Which pairs of listens make the neighbours.
    pub enum Mode {
        /// (track → next track) pairs weighted by the next track's listen time.
        Next = "next",
        /// Pairs of tracks both listened ≥ threshold within `window` positions of one session.
        Session = "session",
        /// Pairs of tracks that opened sessions of one listener, once per listener: a session
        /// opens near one of its listener's interests, so these share one.
        Openers = "openers",
    }
}

botify_core::params! {
    /// Item-to-item neighbours' parameters.
    #[derive(Copy)]
    pub struct Params {
        /// `session`: pairs liked within a session window; `next`: track → next track;
        /// `openers`: tracks that opened one listener's sessions (counted once per listener).
        mode: Mode = Mode::Session => any();
        /// Neighbours kept per track.
        k: usize = 50 => range(1.0, 10_000.0).shared(Setting::K);
        /// Liked listens: time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
        /// Session mode: pair tracks at most this many positions apart.
        window: usize = 5 => range(1.0, 1_000.0);
        /// Pairs seen fewer times than this are dropped (noise; `openers`: fewer listeners).
        min_count: u32 = 1 => any();
    }
}

/// Both orders of every pair of distinct tracks that opened sessions of one user, once per user.
fn opener_pairs(d: &Dataset) -> Vec<(TrackId, TrackId, f32)> {
    let mut opened: Vec<(UserId, TrackId)> =
        d.sessions().map(|s| (s[0].user, s[0].track)).collect();
    opened.sort_unstable();
    opened.dedup();
    let mut out = Vec::new();
    for user in opened.chunk_by(|x, y| x.0 == y.0) {
        for &(_, a) in user {
            out.extend(user.iter().filter(|o| o.1 != a).map(|o| (a, o.1, 1.0)));
        }
    }
    out
}

/// Per anchor track, its best `k` neighbours with weights scaled so the best is 1.
pub fn fit(d: &Dataset, p: &Params) -> Vec<(TrackId, Vec<(TrackId, f32)>)> {
    let mut pairs: Vec<(TrackId, TrackId, f32)> = match p.mode {
        Mode::Next => d.next_pairs().filter(|(a, b, _)| a != b).collect(),
        Mode::Session => {
            let mut out = Vec::new();
            let ls = &d.listens;
            let mut start = 0;
            while start < ls.len() {
                let mut end = start;
                while end < ls.len()
                    && ls[end].user == ls[start].user
                    && ls[end].session == ls[start].session
                {
                    end += 1;
                }
                let liked: Vec<TrackId> = ls[start..end]
                    .iter()
                    .filter(|l| l.time >= p.threshold)
                    .map(|l| l.track)
                    .collect();
                for (i, &a) in liked.iter().enumerate() {
                    for &b in liked.iter().skip(i + 1).take(p.window) {
                        if a != b {
                            out.push((a, b, 1.0));
                            out.push((b, a, 1.0));
                        }
                    }
                }
                start = end;
            }
            out
        }
        Mode::Openers => opener_pairs(d),
    };
    pairs.par_sort_unstable_by_key(|&(a, b, _)| (a, b));
    // Reduce equal pairs: (anchor, neighbour, summed weight, count).
    let mut reduced: Vec<(TrackId, TrackId, f32, u32)> = Vec::new();
    for (a, b, w) in pairs {
        match reduced.last_mut() {
            Some(r) if r.0 == a && r.1 == b => {
                r.2 += w;
                r.3 += 1;
            }
            _ => reduced.push((a, b, w, 1)),
        }
    }
    reduced.retain(|r| r.3 >= p.min_count && r.2 > 0.0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < reduced.len() {
        let a = reduced[i].0;
        let mut j = i;
        while j < reduced.len() && reduced[j].0 == a {
            j += 1;
        }
        let mut list: Vec<(TrackId, f32)> = reduced[i..j].iter().map(|r| (r.1, r.2)).collect();
        list.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        list.truncate(p.k);
        let top = list[0].1;
        for x in &mut list {
            x.1 /= top;
        }
        out.push((a, list));
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::event;

    /// One session per call: `user` opens on `first`, then listens to `then` (skipped).
    fn session(user: u32, first: u32, then: u32, at: u64) -> Vec<botify_core::events::Event> {
        vec![
            event(user, first, 1.0, at, false),
            event(user, then, 0.1, at + 1, true),
        ]
    }

    #[test]
    fn openers_pair_the_tracks_one_listener_opened_on_once_per_listener() {
        let mut events = Vec::new();
        // User 1 opens on 0 twice and on 1: the pair (0, 1) once. Users 2 and 3 open on 0 and 2.
        // What follows the first track (5) never counts.
        events.extend(session(1, 0, 5, 10));
        events.extend(session(1, 0, 5, 20));
        events.extend(session(1, 1, 5, 30));
        events.extend(session(2, 0, 5, 10));
        events.extend(session(2, 2, 5, 20));
        events.extend(session(3, 2, 5, 10));
        events.extend(session(3, 0, 5, 20));
        let d = Dataset::from_events(events, 6).unwrap();
        let p = Params {
            mode: Mode::Openers,
            ..Params::default()
        };
        let got = fit(&d, &p);
        // 0's: 2 (two listeners) before 1 (one), weights scaled so the best is 1.
        assert_eq!(
            got,
            vec![
                (0, vec![(2, 1.0), (1, 0.5)]),
                (1, vec![(0, 1.0)]),
                (2, vec![(0, 1.0)]),
            ]
        );
        // At least two listeners: only (0, 2) is left.
        let p = Params { min_count: 2, ..p };
        assert_eq!(fit(&d, &p), vec![(0, vec![(2, 1.0)]), (2, vec![(0, 1.0)])]);
    }
}
