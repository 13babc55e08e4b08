//! User-based collaborative filtering: cosine similarity of users over mean-centred listen
//! times, the top-N neighbours of each user vote for the tracks they liked.

use crate::dataset::Dataset;
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use rayon::prelude::*;

botify_core::params! {
    /// User-based CF's parameters.
    #[derive(Copy)]
    pub struct Params {
        /// Most similar users whose likes vote for a user's list.
        neighbours: usize = 50 => range(1.0, 100_000.0);
        /// Tracks per user list.
        k: usize = 100 => range(1.0, 10_000.0).shared(Setting::K);
    }
}

pub fn fit(
    d: &Dataset,
    p: &Params,
    exclude: &FastMap<UserId, Vec<TrackId>>,
) -> FastMap<UserId, Vec<TrackId>> {
    // Mean time per (user, track), then centred by the user's mean.
    let mut index: FastMap<UserId, usize> = FastMap::default();
    let mut cells: FastMap<(usize, TrackId), (f32, u32)> = FastMap::default();
    for l in &d.listens {
        let n = index.len();
        let u = *index.entry(l.user).or_insert(n);
        let c = cells.entry((u, l.track)).or_default();
        c.0 += l.time;
        c.1 += 1;
    }
    let n = index.len();
    let mut rows: Vec<Vec<(TrackId, f32)>> = vec![Vec::new(); n];
    for (&(u, t), &(sum, cnt)) in &cells {
        rows[u].push((t, sum / cnt as f32));
    }
    for row in &mut rows {
        row.sort_unstable_by_key(|x| x.0);
        let mean = row.iter().map(|x| x.1).sum::<f32>() / row.len().max(1) as f32;
        row.iter_mut().for_each(|x| x.1 -= mean);
    }
    let norms: Vec<f32> = rows
        .iter()
        .map(|r| r.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt())
        .collect();
    let mut by_track: FastMap<TrackId, Vec<(u32, f32)>> = FastMap::default();
    for (u, row) in rows.iter().enumerate() {
        for &(t, v) in row {
            by_track.entry(t).or_default().push((u as u32, v));
        }
    }
    let ids: Vec<UserId> = {
        let mut v = vec![0; n];
        for (&id, &u) in &index {
            v[u] = id;
        }
        v
    };
    (0..n)
        .into_par_iter()
        .map(|u| {
            let mut dots: FastMap<u32, f32> = FastMap::default();
            for &(t, v) in &rows[u] {
                for &(w, x) in &by_track[&t] {
                    if w as usize != u {
                        *dots.entry(w).or_default() += v * x;
                    }
                }
            }
            let mut sims: Vec<(u32, f32)> = dots
                .into_iter()
                .map(|(w, dot)| (w, dot / (norms[u] * norms[w as usize]).max(1e-9)))
                .filter(|x| x.1 > 0.0)
                .collect();
            sims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            sims.truncate(p.neighbours);
            let mut votes: FastMap<TrackId, f32> = FastMap::default();
            for (w, s) in sims {
                for &(t, x) in &rows[w as usize] {
                    if x > 0.0 {
                        *votes.entry(t).or_default() += s * x;
                    }
                }
            }
            let heard = exclude.get(&ids[u]);
            let mut list: Vec<(TrackId, f32)> = votes
                .into_iter()
                .filter(|(t, _)| !heard.is_some_and(|h| h.contains(t)))
                .collect();
            list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            list.truncate(p.k);
            (ids[u], list.into_iter().map(|x| x.0).collect())
        })
        .collect()
}
