//! Top-k items per user from factor matrices, exact, through the neighbour index; already-heard
//! tracks excluded.

use botify_core::hash::FastMap;
use botify_core::mips::MipsIndex;
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

/// [`top_k`] for the users of a user → factor-row map that `who` accepts (e.g. only those a
/// metric will score).
pub fn top_k_for(
    users: &FastMap<UserId, usize>,
    who: impl Fn(UserId) -> bool,
    u: &Factors,
    v: &Factors,
    bias: Option<&[f32]>,
    exclude: &FastMap<UserId, Vec<TrackId>>,
    k: usize,
) -> FastMap<UserId, Vec<TrackId>> {
    let users: Vec<(UserId, usize)> = users
        .iter()
        .filter(|&(&u, _)| who(u))
        .map(|(&u, &r)| (u, r))
        .collect();
    top_k(&users, u, v, bias, exclude, k)
}

/// For each `(user, row)` the `k` best items by `U[row] · V[item] + bias[item]`, skipping the
/// user's `exclude` set and items of bias −∞. Exact, through the neighbour index (`botify_core::mips`): a catalogue of
/// millions is not scored whole for every user. A bias is folded in as one more dimension,
/// `[u, 1] · [v, b]`.
pub fn top_k(
    users: &[(UserId, usize)],
    u: &Factors,
    v: &Factors,
    bias: Option<&[f32]>,
    exclude: &FastMap<UserId, Vec<TrackId>>,
    k: usize,
) -> FastMap<UserId, Vec<TrackId>> {
    // Sorted copies, searched for each candidate that could enter a user's top.
    let skip: Vec<Vec<TrackId>> = users
        .iter()
        .map(|(user, _)| {
            let mut s = exclude.get(user).cloned().unwrap_or_default();
            s.sort_unstable();
            s
        })
        .collect();
    // A −∞ bias marks an item that is never recommended (LightGCN's tracks outside its graph).
    let listed = |item: u32| bias.is_none_or(|b| b[item as usize].is_finite());
    let keep = |q: usize, item: u32| listed(item) && skip[q].binary_search(&item).is_err();
    let lists = match bias {
        None => {
            let index = MipsIndex::build(&v.data, v.dim);
            index.search(&v.data, users, |&(_, r)| u.row(r), k, &keep, &|_| {})
        }
        Some(b) => {
            let items = with_last(v, |i| if b[i].is_finite() { b[i] } else { 0.0 });
            // The queried users' rows, each followed by a 1.
            let data: Vec<f32> = users
                .iter()
                .flat_map(|&(_, r)| u.row(r).iter().copied().chain([1.0]))
                .collect();
            let queries = Factors {
                rows: users.len(),
                dim: u.dim + 1,
                data,
            };
            let index = MipsIndex::build(&items.data, items.dim);
            let positions: Vec<usize> = (0..users.len()).collect();
            index.search(
                &items.data,
                &positions,
                |&q| queries.row(q),
                k,
                &keep,
                &|_| {},
            )
        }
    };
    users.iter().map(|&(user, _)| user).zip(lists).collect()
}

/// `f` with one more column, `last(row)`.
fn with_last(f: &Factors, last: impl Fn(usize) -> f32) -> Factors {
    let dim = f.dim + 1;
    let mut data = Vec::with_capacity(f.rows * dim);
    for r in 0..f.rows {
        data.extend_from_slice(f.row(r));
        data.push(last(r));
    }
    Factors {
        rows: f.rows,
        dim,
        data,
    }
}
