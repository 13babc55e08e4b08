//! Diversity re-ranking with a determinantal point process (greedy MAP inference of Chen, Zhang
//! & Zhou, NeurIPS 2018). A list's first `depth` tracks are re-ordered so that each next pick
//! maximises the determinant of the chosen set's kernel: relevant tracks first, but a track much
//! like those already chosen (same artist, same genre) is pushed down.
//!
//! Kernel: L = diag(r)·S·diag(r) with r_i = exp(α·q_i), α = θ / (2(1 − θ)) (θ trades relevance
//! against diversity), q_i the track's relevance in [0, 1] (the list's weights, or its rank), and
//! S the similarity of metadata vectors — one-hot artist (weight `artist`), one-hot genre
//! (`genre`) and the track itself (1) — so S is positive semi-definite by construction.

use crate::Result;
use botify_core::{Catalog, TrackId};

botify_core::params! {
    /// DPP re-ranking's parameters. With the default weights two tracks of one artist are 0.67
    /// alike and of one genre 0.11: a second track of an artist must be clearly more relevant
    /// than a first one of another.
    #[derive(Copy)]
    pub struct Params {
        /// Re-rank each list's first tracks, this many (the rest follow in their order).
        depth: usize = 100 => range(2.0, 10_000.0);
        /// Relevance against diversity in [0, 1): 0 orders by diversity alone, near 1 keeps the list's order.
        theta: f64 = 0.7 => share();
        /// Similarity weight of two tracks by the same artist (0: artists do not matter).
        artist: f64 = 3.0 => at_least(0.0);
        /// Similarity weight of two tracks of the same genre.
        genre: f64 = 0.5 => at_least(0.0);
    }
}

impl Params {
    pub fn validate(&self) -> Result<()> {
        crate::check::params(self)
    }
}

/// Each track's artist and genre as small integers, from the catalogue.
pub struct Features {
    artist: Vec<u32>,
    /// `u32::MAX`: no genre (never equal to another's).
    genre: Vec<u32>,
}

impl Features {
    pub fn from_catalog(c: &Catalog) -> Features {
        let mut genres: botify_core::hash::FastMap<&str, u32> = Default::default();
        let genre = c
            .tracks
            .iter()
            .map(|t| match t.genre.as_deref() {
                Some(g) => {
                    let n = genres.len() as u32;
                    *genres.entry(g).or_insert(n)
                }
                None => u32::MAX,
            })
            .collect();
        Features {
            artist: c.track_artist.clone(),
            genre,
        }
    }

    fn similarity(&self, a: TrackId, b: TrackId, p: &Params) -> f64 {
        let norm = 1.0 + p.artist + p.genre;
        if a == b {
            return 1.0;
        }
        let (a, b) = (a as usize, b as usize);
        let same_artist = self
            .artist
            .get(a)
            .is_some_and(|x| Some(x) == self.artist.get(b));
        let same_genre = self
            .genre
            .get(a)
            .is_some_and(|&x| x != u32::MAX && Some(&x) == self.genre.get(b));
        (f64::from(u8::from(same_artist)) * p.artist + f64::from(u8::from(same_genre)) * p.genre)
            / norm
    }
}

/// The list re-ordered: its first `depth` tracks by greedy DPP MAP, then the rest as given.
/// `weights` (same length as `list`, higher is more relevant) give the relevance; without them
/// the rank does (1 for the first track down to 1/ln(n + 1)).
pub fn rerank(list: &[TrackId], weights: Option<&[f32]>, f: &Features, p: &Params) -> Vec<TrackId> {
    let m = list.len().min(p.depth);
    if m < 2 {
        return list.to_vec();
    }
    let cand = &list[..m];
    let q: Vec<f64> = match weights {
        Some(w) if w.len() >= m => {
            let (lo, hi) = w[..m]
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(f64::from(x)), hi.max(f64::from(x)))
                });
            let span = (hi - lo).max(1e-12);
            w[..m].iter().map(|&x| (f64::from(x) - lo) / span).collect()
        }
        _ => (0..m)
            .map(|r| 1.0 / ((r + 2) as f64).ln() * 2f64.ln())
            .collect(),
    };
    let alpha = p.theta / (2.0 * (1.0 - p.theta));
    // Scaled by the largest (q ≤ 1), so a θ near 1 cannot overflow.
    let r: Vec<f64> = q.iter().map(|x| (alpha * (x - 1.0)).exp()).collect();
    let kernel = |i: usize, j: usize| r[i] * r[j] * f.similarity(cand[i], cand[j], p);
    // Incremental Cholesky of the chosen set's kernel (Chen et al., Algorithm 1).
    let mut c: Vec<Vec<f64>> = vec![Vec::with_capacity(m); m];
    let mut d2: Vec<f64> = (0..m).map(|i| kernel(i, i)).collect();
    let mut chosen = Vec::with_capacity(m);
    let mut taken = vec![false; m];
    while chosen.len() < m {
        // The best gain; ties to the earlier (more relevant) track.
        let Some(j) = (0..m)
            .filter(|&i| !taken[i])
            .max_by(|&a, &b| d2[a].total_cmp(&d2[b]).then(b.cmp(&a)))
        else {
            break;
        };
        if d2[j] <= 1e-300 {
            // Nothing left adds volume: the rest keep their order.
            break;
        }
        taken[j] = true;
        chosen.push(j);
        let dj = d2[j].sqrt();
        let cj = c[j].clone();
        for i in 0..m {
            if taken[i] {
                continue;
            }
            let e = (kernel(j, i) - cj.iter().zip(&c[i]).map(|(a, b)| a * b).sum::<f64>()) / dj;
            c[i].push(e);
            d2[i] -= e * e;
        }
    }
    let mut out: Vec<TrackId> = chosen.iter().map(|&i| cand[i]).collect();
    out.extend((0..m).filter(|&i| !taken[i]).map(|i| cand[i]));
    out.extend_from_slice(&list[m..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tracks 0..12: artist = track / 4 (three artists of four tracks), no genres.
    fn features() -> Features {
        Features {
            artist: (0..12).map(|t| t / 4).collect(),
            genre: vec![u32::MAX; 12],
        }
    }

    #[test]
    fn artists_are_spread_and_nothing_is_lost() {
        let list: Vec<TrackId> = (0..12).collect();
        let p = Params {
            theta: 0.5,
            artist: 3.0,
            ..Params::default()
        };
        let out = rerank(&list, None, &features(), &p);
        let mut sorted = out.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, list, "a permutation of the list");
        // The first three picks are three different artists, the most relevant first.
        assert_eq!(out[0], 0);
        let first: Vec<u32> = out[..3].iter().map(|t| t / 4).collect();
        assert_eq!(first, vec![0, 1, 2], "{out:?}");
    }

    #[test]
    fn without_similarity_or_with_high_theta_the_order_stays() {
        let list: Vec<TrackId> = (0..12).collect();
        let p = Params {
            artist: 0.0,
            genre: 0.0,
            ..Params::default()
        };
        assert_eq!(rerank(&list, None, &features(), &p), list);
        let p = Params {
            theta: 0.999,
            ..Params::default()
        };
        assert_eq!(rerank(&list, None, &features(), &p)[..4], [0, 1, 2, 3]);
    }

    #[test]
    fn weights_set_relevance_and_the_tail_follows_unchanged() {
        // Reversed relevance: the last candidate is the most relevant.
        let list: Vec<TrackId> = (0..12).collect();
        let w: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let p = Params {
            depth: 8,
            ..Params::default()
        };
        let out = rerank(&list, Some(&w), &features(), &p);
        assert_eq!(out[0], 7);
        assert_eq!(out[8..], [8, 9, 10, 11]);
        assert!(Params { theta: 1.0, ..p }.validate().is_err());
    }
}
