//! Item-to-item neighbours from the logs: consecutive next-track pairs weighted by the listen time
//! of the next track, or co-liked tracks within a session.

use crate::dataset::Dataset;
use botify_core::TrackId;
use rayon::prelude::*;

botify_core::choices! {
    /// Which pairs of listens make the neighbours.
    pub enum Mode {
        /// (track → next track) pairs weighted by the next track's listen time.
        Next = "next",
        /// Pairs of tracks both listened ≥ threshold within `window` positions of one session.
        Session = "session",
    }
}

botify_core::params! {
    /// Item-to-item neighbours' parameters.
    #[derive(Copy)]
    pub struct Params {
        /// `session`: pairs liked within a session window; `next`: track → next track.
        mode: Mode = Mode::Session => any();
        /// Neighbours kept per track.
        k: usize = 50 => range(1.0, 10_000.0).shared(Setting::K);
        /// Liked listens: time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
        /// Session mode: pair tracks at most this many positions apart.
        window: usize = 5 => range(1.0, 1_000.0);
        /// Pairs seen fewer times than this are dropped (noise).
        min_count: u32 = 1 => any();
    }
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
