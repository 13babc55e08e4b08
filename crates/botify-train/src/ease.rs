//! EASE (Steck, 2019, "Embarrassingly Shallow Autoencoders for Sparse Data"): an item-item
//! weight matrix in closed form. With X the users × items matrix of liked listens and
//! P = (XᵀX + λI)⁻¹, the weights are B = I − P·diag(1/diag(P)) with a zero diagonal, and a user's
//! scores are x_u·B. Strong on sparse implicit data, and deterministic (no sampling, no epochs).
//!
//! The cost is n² memory and n³ time in the items, so EASE ranks the `max_items` tracks liked by
//! the most users (3,000 by default: 72 MB and a few seconds on two cores).

use crate::dataset::Dataset;
use crate::{Error, Result};
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use rayon::prelude::*;

botify_core::params! {
    /// EASE's parameters.
    #[derive(Copy)]
    pub struct Params {
        /// λ, the L2 penalty added to the diagonal of XᵀX.
        l2: f64 = 50.0 => above(0.0);
        /// Rank the tracks liked by the most users, at most this many (memory grows as the square, time as the cube).
        max_items: usize = 3000 => range(2.0, 20_000.0).why("memory grows as its square");
        /// Liked listens: time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
    }
}

impl Params {
    pub fn validate(&self) -> Result<()> {
        crate::check::params(self)
    }
}

/// The item-item weights over the ranked tracks.
pub struct Model {
    /// Row/column `i` is track `items[i]`.
    pub items: Vec<TrackId>,
    /// Row-major `n × n`, zero diagonal.
    pub weights: Vec<f32>,
    /// Each user's liked ranked tracks (row indices).
    liked: FastMap<UserId, Vec<u32>>,
}

/// Fits EASE on the liked listens of `d`.
pub fn fit(d: &Dataset, p: &Params) -> Result<Model> {
    p.validate()?;
    // Distinct liked tracks per user.
    let mut by_user: FastMap<UserId, Vec<TrackId>> = FastMap::default();
    for l in d.listens.iter().filter(|l| l.time >= p.threshold) {
        by_user.entry(l.user).or_default().push(l.track);
    }
    let mut fans: FastMap<TrackId, u32> = FastMap::default();
    for v in by_user.values_mut() {
        v.sort_unstable();
        v.dedup();
        for &t in v.iter() {
            *fans.entry(t).or_default() += 1;
        }
    }
    let mut ranked: Vec<(TrackId, u32)> = fans.into_iter().collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(p.max_items);
    let mut items: Vec<TrackId> = ranked.iter().map(|&(t, _)| t).collect();
    items.sort_unstable();
    let n = items.len();
    if n < 2 {
        return Err(Error::Invalid(format!(
            "EASE needs at least two liked tracks (time ≥ {}); the logs have {n}",
            p.threshold
        )));
    }
    let row: FastMap<TrackId, u32> = items
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, i as u32))
        .collect();
    let liked: FastMap<UserId, Vec<u32>> = by_user
        .into_iter()
        .map(|(u, v)| {
            (
                u,
                v.iter()
                    .filter_map(|t| row.get(t).copied())
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    // The Gram matrix XᵀX + λI.
    let mut g = vec![0f64; n * n];
    for v in liked.values() {
        for &i in v {
            let r = &mut g[i as usize * n..(i as usize + 1) * n];
            for &j in v {
                r[j as usize] += 1.0;
            }
        }
    }
    for i in 0..n {
        g[i * n + i] += p.l2;
    }
    let inv = spd_inverse(g, n)?;
    let mut weights = vec![0f32; n * n];
    weights.par_chunks_mut(n).enumerate().for_each(|(i, w)| {
        for (j, x) in w.iter_mut().enumerate() {
            if i != j {
                *x = (-inv[i * n + j] / inv[j * n + j]) as f32;
            }
        }
    });
    Ok(Model {
        items,
        weights,
        liked,
    })
}

/// The inverse of a symmetric positive-definite matrix (row-major `n × n`) by Cholesky:
/// A = LLᵀ, then the rows of N = (L⁻¹)ᵀ by forward substitution (in parallel), and A⁻¹ = NNᵀ
/// as one single-precision matrix product (row blocks in parallel). The factorisation and the
/// substitutions run in double precision; the product's f32 keeps ~7 digits, ample for ranking.
pub fn spd_inverse(mut a: Vec<f64>, n: usize) -> Result<Vec<f32>> {
    // In place: the lower triangle becomes L (row-major, so each dot product is contiguous).
    for i in 0..n {
        for j in 0..=i {
            let (done, row_i) = a.split_at_mut(i * n);
            let li = &row_i[..n];
            let lj = if j == i { li } else { &done[j * n..j * n + n] };
            let s = li[j] - dot(&li[..j], &lj[..j]);
            let v = if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return Err(Error::Invalid(format!(
                        "the matrix is not positive definite (pivot {i}: {s})"
                    )));
                }
                s.sqrt()
            } else {
                s / a[j * n + j]
            };
            a[i * n + j] = v;
        }
    }
    let l = &a;
    // Row c of N is column c of L⁻¹: L y = e_c, zero above c.
    let rows: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|c| {
            let mut y = vec![0f64; n];
            for i in c..n {
                let b = if i == c { 1.0 } else { 0.0 };
                y[i] = (b - dot(&l[i * n + c..i * n + i], &y[c..i])) / l[i * n + i];
            }
            y.into_iter().map(|x| x as f32).collect()
        })
        .collect();
    let rows = rows.concat();
    let mut inv = vec![0f32; n * n];
    let block = n.div_ceil(rayon::current_num_threads().max(1) * 4).max(1);
    inv.par_chunks_mut(block * n)
        .zip(rows.par_chunks(block * n))
        .for_each(|(c, a)| botify_core::topk::gemm_nt(a, &rows, n, c));
    Ok(inv)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Model {
    /// Per user with liked ranked tracks, the `k` best-scored tracks not in `exclude` (what the
    /// user heard), best first; ties by lower track id.
    pub fn recommend(
        &self,
        exclude: &FastMap<UserId, Vec<TrackId>>,
        k: usize,
    ) -> FastMap<UserId, Vec<TrackId>> {
        let n = self.items.len();
        let users: Vec<(&UserId, &Vec<u32>)> = self.liked.iter().collect();
        users
            .par_iter()
            .map(|&(&u, rows)| {
                let mut scores = vec![0f32; n];
                for &r in rows {
                    let w = &self.weights[r as usize * n..(r as usize + 1) * n];
                    scores.iter_mut().zip(w).for_each(|(s, x)| *s += x);
                }
                if let Some(heard) = exclude.get(&u) {
                    for (i, t) in self.items.iter().enumerate() {
                        if heard.binary_search(t).is_ok() {
                            scores[i] = f32::NEG_INFINITY;
                        }
                    }
                }
                let best = botify_core::topk::best(&scores, k);
                let list = best
                    .into_iter()
                    .filter(|&i| scores[i as usize].is_finite())
                    .map(|i| self.items[i as usize])
                    .collect();
                (u, list)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Listen;
    use botify_core::rng::stream;
    use rand::Rng as _;

    #[test]
    fn the_inverse_times_the_matrix_is_the_identity() {
        let n = 40;
        let mut rng = stream(1, b"spd", 0);
        let m: Vec<f64> = (0..n * n).map(|_| rng.random::<f64>() - 0.5).collect();
        // MᵀM + I is symmetric positive definite.
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| m[k * n + i] * m[k * n + j]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let inv = spd_inverse(a.clone(), n).unwrap();
        for i in 0..n {
            for j in 0..n {
                let x: f64 = (0..n)
                    .map(|k| a[i * n + k] * f64::from(inv[k * n + j]))
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((x - want).abs() < 1e-4, "({i}, {j}): {x}");
            }
        }
        let not_pd = vec![1.0, 2.0, 2.0, 1.0];
        let e = spd_inverse(not_pd, 2).unwrap_err().to_string();
        assert!(e.contains("not positive definite"), "{e}");
    }

    /// Users who each like tracks of one of `groups` clusters of 10.
    fn planted(groups: u32, users: u32, seed: u64) -> Dataset {
        let mut rng = stream(seed, b"ease", 0);
        let mut listens = Vec::new();
        for u in 0..users {
            let g = u % groups;
            for step in 0..6u64 {
                listens.push(Listen {
                    user: u,
                    track: g * 10 + rng.random_range(0..10),
                    time: 1.0,
                    timestamp: step,
                    session: 0,
                    recommended: false,
                });
            }
        }
        Dataset {
            tracks: (groups * 10) as usize,
            listens,
        }
    }

    #[test]
    fn recommends_the_unheard_tracks_of_the_users_cluster() {
        let d = planted(8, 400, 2);
        let m = fit(&d, &Params::default()).unwrap();
        assert_eq!(m.items.len(), 80);
        let n = m.items.len();
        assert!((0..n).all(|i| m.weights[i * n + i] == 0.0), "zero diagonal");
        let heard = d.heard();
        let lists = m.recommend(&heard, 3);
        assert_eq!(lists.len(), 400);
        let mut in_cluster = 0;
        for (u, list) in &lists {
            assert!(
                list.iter().all(|t| !heard[u].contains(t)),
                "user {u} heard it"
            );
            in_cluster += list.iter().filter(|&&t| t / 10 == u % 8).count();
            assert!(list.len() <= 3);
        }
        let total: usize = lists.values().map(Vec::len).sum();
        assert!(
            in_cluster as f64 > 0.95 * total as f64,
            "{in_cluster} of {total}"
        );
    }

    #[test]
    fn only_the_most_liked_tracks_are_ranked_and_bad_parameters_are_named() {
        let d = planted(8, 400, 3);
        let m = fit(
            &d,
            &Params {
                max_items: 20,
                ..Params::default()
            },
        )
        .unwrap();
        assert_eq!(m.items.len(), 20);
        let e = Params {
            l2: 0.0,
            ..Params::default()
        };
        assert!(e.validate().unwrap_err().to_string().contains("l2 0"));
        let few = Dataset {
            tracks: 5,
            listens: Vec::new(),
        };
        let err = fit(&few, &Params::default()).err().unwrap().to_string();
        assert!(err.contains("at least two liked tracks"), "{err}");
    }
}
