//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008): preference 1 for tracks listened at least
//! `threshold`, confidence `1 + alpha * total listen time`, alternating exact least squares
//! (Cholesky per user and per item), parallel.

use crate::dataset::Dataset;
use crate::score::Factors;
use botify_core::hash::FastMap;
use botify_core::rng::stream;
use botify_core::{TrackId, UserId};
use rand::Rng;
use rayon::prelude::*;

botify_core::params! {
    /// Implicit ALS's parameters.
    #[derive(Copy)]
    pub struct Params {
        /// Latent factors.
        factors: usize = 64 => range(1.0, 4_096.0);
        /// Alternating sweeps over users and tracks.
        iterations: usize = 10 => range(1.0, 100_000.0);
        /// λ, the L2 penalty on both factor matrices.
        regularization: f32 = 0.1 => at_least(0.0);
        /// Confidence of a like: 1 + alpha × its listen time.
        alpha: f32 = 10.0 => at_least(0.0);
        /// Liked listens: time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
        /// The seed of the initial factors.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
        /// Conjugate-gradient steps per row, warm-started as `implicit` does; 0 solves exactly with a Cholesky factorisation (slower, same fixed point).
        cg_steps: usize = 3 => range(0.0, 1_000.0);
    }
}

pub struct Model {
    pub users: FastMap<UserId, usize>,
    pub user_factors: Factors,
    pub item_factors: Factors,
}

/// Sparse rows: for each row, (column, confidence − 1, confidence × preference).
type Rows = Vec<Vec<(u32, f32, f32)>>;

pub fn fit(d: &Dataset, p: &Params, on_iteration: impl FnMut(usize, &Model)) -> Model {
    fit_weighted(d, p, None, on_iteration)
}

/// ALS with each like's term of the loss weighted by `weights[(user, track)]` (1 when absent):
/// confidence `1 + w·c` and target `w·(1 + c)/(1 + w·c)` for a like of confidence `1 + c`, the
/// exact weighted loss [`crate::ips`] derives (with `w = 1` it is plain ALS).
pub fn fit_weighted(
    d: &Dataset,
    p: &Params,
    weights: Option<&FastMap<(UserId, TrackId), f32>>,
    mut on_iteration: impl FnMut(usize, &Model),
) -> Model {
    let mut users: FastMap<UserId, usize> = FastMap::default();
    let mut weight: FastMap<(usize, u32), f32> = FastMap::default();
    let mut liked: FastMap<(usize, u32), UserId> = FastMap::default();
    for l in &d.listens {
        let n = users.len();
        let u = *users.entry(l.user).or_insert(n);
        *weight.entry((u, l.track)).or_default() += l.time;
        if l.time >= p.threshold {
            liked.insert((u, l.track), l.user);
        }
    }
    let mut by_user: Rows = vec![Vec::new(); users.len()];
    let mut by_item: Rows = vec![Vec::new(); d.tracks];
    for (&(u, t), &user) in liked.iter() {
        let c = p.alpha * weight[&(u, t)];
        let w = weights
            .and_then(|w| w.get(&(user, t)))
            .copied()
            .unwrap_or(1.0);
        let (extra, target) = (w * c, w * (1.0 + c));
        by_user[u].push((t, extra, target));
        by_item[t as usize].push((u as u32, extra, target));
    }
    let k = p.factors;
    let mut rng = stream(p.seed, b"als", 0);
    let mut init = |rows| {
        let mut f = Factors::zeros(rows, k);
        for x in &mut f.data {
            *x = (rng.random::<f32>() - 0.5) * 0.02;
        }
        f
    };
    let mut model = Model {
        user_factors: init(users.len()),
        item_factors: init(d.tracks),
        users,
    };
    for it in 0..p.iterations {
        model.user_factors = solve(&by_user, &model.item_factors, &model.user_factors, p);
        model.item_factors = solve(&by_item, &model.user_factors, &model.item_factors, p);
        on_iteration(it, &model);
    }
    model
}

/// One half-step: every row's factors given the other side's `y` (`x0`: the current factors,
/// the warm start of conjugate gradient).
fn solve(rows: &Rows, y: &Factors, x0: &Factors, p: &Params) -> Factors {
    let (k, reg) = (y.dim, p.regularization);
    // YᵀY, shared by all rows: one SIMD matrix product.
    let mut yty32 = vec![0f32; k * k];
    // SAFETY: Yᵀ is `y.data` read as [k × rows] (row stride 1, column stride k), Y as
    // [rows × k]; the output is k × k.
    unsafe {
        matrixmultiply::sgemm(
            k,
            y.rows,
            k,
            1.0,
            y.data.as_ptr(),
            1,
            k as isize,
            y.data.as_ptr(),
            k as isize,
            1,
            0.0,
            yty32.as_mut_ptr(),
            k as isize,
            1,
        );
    }
    let yty: Vec<f64> = yty32.iter().map(|&v| f64::from(v)).collect();
    let mut out = Factors::zeros(rows.len(), k);
    if p.cg_steps > 0 {
        out.data.copy_from_slice(&x0.data);
        out.data
            .par_chunks_mut(k)
            .zip(rows.par_iter())
            .for_each(|(x, row)| {
                if row.is_empty() {
                    x.iter_mut().for_each(|v| *v = 0.0);
                } else {
                    conjugate_gradient(x, row, y, &yty32, reg, p.cg_steps);
                }
            });
        return out;
    }
    out.data
        .par_chunks_mut(k)
        .zip(rows.par_iter())
        .for_each(|(x, row)| {
            if row.is_empty() {
                return;
            }
            let mut a = yty.clone();
            let mut b = vec![0f64; k];
            for i in 0..k {
                a[i * k + i] += f64::from(reg);
            }
            for &(col, c, target) in row {
                let v = y.row(col as usize);
                let (c, target) = (f64::from(c), f64::from(target));
                for i in 0..k {
                    let vi = f64::from(v[i]);
                    b[i] += target * vi;
                    let cvi = c * vi;
                    for j in 0..k {
                        a[i * k + j] += cvi * f64::from(v[j]);
                    }
                }
            }
            if let Some(sol) = cholesky_solve(&mut a, &b, k) {
                for i in 0..k {
                    x[i] = sol[i] as f32;
                }
            }
        });
    out
}

/// Dot product with eight independent accumulators, so the compiler can use SIMD lanes.
fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// A few conjugate-gradient steps on `(YᵀY + Yᵀ(C−I)Y + λI) x = YᵀC p`, never forming the
/// row's matrix: each product costs O(k² + nnz·k) instead of the O(nnz·k² + k³) of an exact
/// solve. Single precision with SIMD-friendly loops, as `implicit` does.
fn conjugate_gradient(
    x: &mut [f32],
    row: &[(u32, f32, f32)],
    y: &Factors,
    yty: &[f32],
    reg: f32,
    steps: usize,
) {
    let k = x.len();
    let mul = |v: &[f32], out: &mut [f32]| {
        for i in 0..k {
            out[i] = dot8(&yty[i * k..(i + 1) * k], v) + reg * v[i];
        }
        for &(col, c, _) in row {
            let yr = y.row(col as usize);
            let d = dot8(yr, v) * c;
            for (o, &yv) in out.iter_mut().zip(yr) {
                *o += d * yv;
            }
        }
    };
    let mut ax = vec![0f32; k];
    mul(x, &mut ax);
    // r = b − A x with b = Σ c·p y.
    let mut r: Vec<f32> = ax.iter().map(|v| -v).collect();
    for &(col, _, target) in row {
        for (ri, &yv) in r.iter_mut().zip(y.row(col as usize)) {
            *ri += target * yv;
        }
    }
    let mut pdir = r.clone();
    let mut rs = dot8(&r, &r);
    let mut ap = vec![0f32; k];
    for _ in 0..steps {
        if rs < 1e-20 {
            break;
        }
        mul(&pdir, &mut ap);
        let alpha = rs / dot8(&pdir, &ap);
        for i in 0..k {
            x[i] += alpha * pdir[i];
            r[i] -= alpha * ap[i];
        }
        let rs_new = dot8(&r, &r);
        let beta = rs_new / rs;
        for i in 0..k {
            pdir[i] = r[i] + beta * pdir[i];
        }
        rs = rs_new;
    }
}

/// Solves `A x = b` for symmetric positive-definite `A` (overwritten with its factor).
pub fn cholesky_solve(a: &mut [f64], b: &[f64], k: usize) -> Option<Vec<f64>> {
    for j in 0..k {
        let mut s = a[j * k + j];
        for p in 0..j {
            s -= a[j * k + p] * a[j * k + p];
        }
        if s <= 0.0 {
            return None;
        }
        let d = s.sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for p in 0..j {
                s -= a[i * k + p] * a[j * k + p];
            }
            a[i * k + j] = s / d;
        }
    }
    let mut y = vec![0f64; k];
    for i in 0..k {
        let mut s = b[i];
        for p in 0..i {
            s -= a[i * k + p] * y[p];
        }
        y[i] = s / a[i * k + i];
    }
    let mut x = vec![0f64; k];
    for i in (0..k).rev() {
        let mut s = y[i];
        for p in i + 1..k {
            s -= a[p * k + i] * x[p];
        }
        x[i] = s / a[i * k + i];
    }
    Some(x)
}

impl Model {
    /// Top `k` tracks per known user, excluding `exclude`.
    pub fn recommend(
        &self,
        exclude: &FastMap<UserId, Vec<TrackId>>,
        k: usize,
    ) -> FastMap<UserId, Vec<TrackId>> {
        self.recommend_to(|_| true, exclude, k)
    }

    /// Lists for the known users that `who` accepts (e.g. only those a metric will score).
    pub fn recommend_to(
        &self,
        who: impl Fn(UserId) -> bool,
        exclude: &FastMap<UserId, Vec<TrackId>>,
        k: usize,
    ) -> FastMap<UserId, Vec<TrackId>> {
        crate::score::top_k_for(
            &self.users,
            who,
            &self.user_factors,
            &self.item_factors,
            None,
            exclude,
            k,
        )
    }

    /// Per track, its `k` nearest tracks by cosine of item factors (for item-to-item serving).
    pub fn similar_items(&self, k: usize) -> Vec<(TrackId, Vec<(TrackId, f32)>)> {
        similar(&self.item_factors, k)
    }
}

/// Cosine neighbours of every non-zero row.
pub fn similar(f: &Factors, k: usize) -> Vec<(TrackId, Vec<(TrackId, f32)>)> {
    let mut normed = f.clone();
    let mut live = Vec::new();
    for r in 0..normed.rows {
        let row = normed.row_mut(r);
        let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if n > 0.0 {
            row.iter_mut().for_each(|x| *x /= n);
            live.push(r);
        }
    }
    let users: Vec<(UserId, usize)> = live.iter().map(|&r| (r as UserId, r)).collect();
    let exclude: FastMap<UserId, Vec<TrackId>> = live
        .iter()
        .map(|&r| (r as UserId, vec![r as TrackId]))
        .collect();
    let tops = crate::score::top_k(&users, &normed, &normed, None, &exclude, k);
    let mut out: Vec<(TrackId, Vec<(TrackId, f32)>)> = tops
        .into_iter()
        .map(|(t, list)| {
            let a = normed.row(t as usize);
            let scored = list
                .into_iter()
                .map(|b| {
                    (
                        b,
                        a.iter()
                            .zip(normed.row(b as usize))
                            .map(|(x, y)| x * y)
                            .sum::<f32>()
                            .max(0.0),
                    )
                })
                .collect();
            (t, scored)
        })
        .collect();
    out.sort_by_key(|(t, _)| *t);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_spd_systems() {
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let x = cholesky_solve(&mut a, &[2.0, 1.0], 2).unwrap();
        // [4 2; 2 3] x = [2 1] → x = [0.5, 0]
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12);
        let mut bad = vec![0.0, 1.0, 1.0, 0.0];
        assert!(cholesky_solve(&mut bad, &[1.0, 1.0], 2).is_none());
    }
}
