//! Top-k items per user from factor matrices: blocked matrix products (SIMD sgemm) in parallel,
//! already-heard tracks excluded.

use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};

/// Dense row-major factors.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    pub rows: usize,
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Factors {
    pub fn zeros(rows: usize, dim: usize) -> Self {
        Factors {
            rows,
            dim,
            data: vec![0.0; rows * dim],
        }
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// [`top_k`] for every user of a user → factor-row map.
pub fn top_k_all(
    users: &FastMap<UserId, usize>,
    u: &Factors,
    v: &Factors,
    bias: Option<&[f32]>,
    exclude: &FastMap<UserId, Vec<TrackId>>,
    k: usize,
) -> FastMap<UserId, Vec<TrackId>> {
    let users: Vec<(UserId, usize)> = users.iter().map(|(&u, &r)| (u, r)).collect();
    top_k(&users, u, v, bias, exclude, k)
}

/// For each `(user, row)` the `k` best items by `U[row] · V[item] + bias[item]`, skipping the
/// user's `exclude` set.
pub fn top_k(
    users: &[(UserId, usize)],
    u: &Factors,
    v: &Factors,
    bias: Option<&[f32]>,
    exclude: &FastMap<UserId, Vec<TrackId>>,
    k: usize,
) -> FastMap<UserId, Vec<TrackId>> {
    let lists = botify_core::topk::top_k(
        users,
        |&(_, r)| u.row(r),
        &v.data,
        v.dim,
        bias,
        k,
        |&(user, _), scores| {
            if let Some(ex) = exclude.get(&user) {
                for &t in ex {
                    if let Some(s) = scores.get_mut(t as usize) {
                        *s = f32::NEG_INFINITY;
                    }
                }
            }
        },
    );
    users.iter().map(|&(user, _)| user).zip(lists).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_dot_plus_bias_and_excludes() {
        let u = Factors {
            rows: 1,
            dim: 2,
            data: vec![1.0, 0.0],
        };
        let v = Factors {
            rows: 4,
            dim: 2,
            data: vec![0.1, 0.0, 0.9, 5.0, 0.5, 0.0, 0.7, 0.0],
        };
        let ex: FastMap<u32, Vec<u32>> = [(7, vec![1])].into_iter().collect();
        let got = top_k(&[(7, 0)], &u, &v, None, &ex, 2);
        assert_eq!(got[&7], vec![3, 2]);
        let bias = [1.0, 0.0, 0.0, 0.0];
        let got = top_k(&[(7, 0)], &u, &v, Some(&bias), &FastMap::default(), 2);
        assert_eq!(got[&7], vec![0, 1]);
    }
}
