//! Exact maximum-inner-product search without scoring the whole catalogue.
//!
//! Rows are grouped into leaves by a two-level k-means (built once, in parallel). A leaf keeps its
//! centre `c` and radius `r` (the largest `|x − c|` of its rows); for any query `q`,
//! `q·x = q·c + q·(x − c) ≤ q·c + |q|·r` (Cauchy–Schwarz), whatever the rows' norms. Queries are
//! grouped into blocks of similar queries; a block scores the leaf centres, visits leaves best
//! bound first, scores each leaf against the queries whose k-th best so far its bound can still
//! beat (one matrix product), and stops when no bound can. Bounds are widened for float
//! rounding, so the answer is exactly the brute force's: the `k` highest scores, ties by lower row
//! index. The clustering only decides how much is scored, never what is returned.

use crate::rng::stream;
use crate::topk::TopK;
use rand::Rng;
use rand::seq::index::sample;
use rayon::prelude::*;

/// Rows per leaf the build aims at: a query scores `n / LEAF` centres, and leaves are scored
/// whole.
pub const DEFAULT_LEAF: usize = 512;
const KMEANS_ROUNDS: usize = 6;
/// k-means trains on at most this many points per centre.
const SAMPLE_PER_CENTRE: usize = 32;
const QUERY_BLOCK: usize = 256;

fn norm(a: &[f32]) -> f32 {
    a.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// An exact top-k index over the rows of a row-major `[n, dim]` matrix.
pub struct MipsIndex {
    dim: usize,
    /// Original row index of each stored row, grouped by leaf.
    ids: Vec<u32>,
    vectors: Vec<f32>,
    /// Leaf `l` holds stored rows `starts[l]..starts[l + 1]`.
    starts: Vec<usize>,
    centres: Vec<f32>,
    /// Per leaf, the largest `|x − c|`, widened to cover float rounding of every score.
    radius: Vec<f32>,
}

impl MipsIndex {
    /// Builds the index over `data` (`rows × dim`, finite values) with the default leaf size.
    pub fn build(data: &[f32], dim: usize) -> MipsIndex {
        Self::build_with_leaf(data, dim, DEFAULT_LEAF)
    }

    pub fn build_with_leaf(data: &[f32], dim: usize, leaf: usize) -> MipsIndex {
        let dim = dim.max(1);
        let n = data.len() / dim;
        let leaf = leaf.max(1);
        let row = |i: usize| &data[i * dim..(i + 1) * dim];
        let all: Vec<u32> = (0..n as u32).collect();
        // Two levels: about √(leaves) groups, then each group split into leaves of its own.
        let leaves_total = n.div_ceil(leaf);
        let groups = (leaves_total as f64).sqrt().ceil() as usize;
        let members = split(&all, row, dim, groups, 0);
        let leaves: Vec<Vec<u32>> = members
            .into_par_iter()
            .enumerate()
            .flat_map_iter(|(g, m)| {
                let k = m.len().div_ceil(leaf);
                split(&m, row, dim, k, 1 + g as u64)
            })
            .filter(|l| !l.is_empty())
            .collect();
        let built: Vec<(Vec<f32>, f32)> = leaves
            .par_iter()
            .map(|members| centre_and_radius(members, row, dim))
            .collect();
        // A computed product is within d·ε·|q|·|x| of the exact one, and so is each term of the
        // bound; widening the radius by a few times that (a floor for tiny dims) covers both.
        let eps = 4.0 * (dim as f32 + 2.0) * f32::EPSILON + 1e-6;
        let mut index = MipsIndex {
            dim,
            ids: Vec::with_capacity(n),
            vectors: Vec::with_capacity(n * dim),
            starts: vec![0],
            centres: Vec::with_capacity(built.len() * dim),
            radius: Vec::with_capacity(built.len()),
        };
        for (members, (centre, r)) in leaves.iter().zip(built) {
            index.radius.push(r + 2.0 * eps * (norm(&centre) + r));
            index.centres.extend_from_slice(&centre);
            for &id in members {
                index.ids.push(id);
                index.vectors.extend_from_slice(row(id as usize));
            }
            index.starts.push(index.ids.len());
        }
        index
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn leaves(&self) -> usize {
        self.starts.len() - 1
    }

    /// For each query, the `k` rows with the highest score against it, best first, ties by
    /// lower row index; `row(q)` gives a query's vector (length `dim`). Scores are the
    /// [`crate::topk::gemm_nt`] products, each computed the same way whatever else is in its
    /// batch, so the answer equals [`crate::topk::top_k`]'s brute force and depends only on the
    /// query. Queries are grouped by nearest leaf into blocks (run in parallel): a block visits
    /// leaves best bound first and scores one leaf against all its queries still in need of it
    /// with one matrix product.
    pub fn top_k<'a, Q, R>(&self, queries: &[Q], row: R, k: usize) -> Vec<Vec<u32>>
    where
        Q: Sync,
        R: Fn(&Q) -> &'a [f32] + Sync,
    {
        let (d, leaves) = (self.dim, self.leaves());
        if leaves == 0 {
            return vec![Vec::new(); queries.len()];
        }
        // Coherent blocks: queries sorted by their nearest leaf centre.
        let mut order: Vec<u32> = (0..queries.len() as u32).collect();
        let home = nearest_centre(&order, &|i| &row(&queries[i])[..d], d, &self.centres);
        order.sort_by_key(|&i| (home[i as usize], i));
        let answers: Vec<(u32, Vec<u32>)> = order
            .par_chunks(QUERY_BLOCK)
            .flat_map_iter(|block| {
                let a: Vec<f32> = block
                    .iter()
                    .flat_map(|&i| row(&queries[i as usize])[..d].iter().copied())
                    .collect();
                block.iter().copied().zip(self.search_block(&a, k))
            })
            .collect();
        let mut out = vec![Vec::new(); queries.len()];
        for (i, list) in answers {
            out[i as usize] = list;
        }
        out
    }

    fn search_block(&self, a: &[f32], k: usize) -> Vec<Vec<u32>> {
        let (d, leaves) = (self.dim, self.leaves());
        let nq = a.len() / d;
        let mut bounds = vec![0f32; nq * leaves];
        crate::topk::gemm_nt(a, &self.centres, d, &mut bounds);
        let norms: Vec<f32> = a.chunks(d).map(norm).collect();
        let mut block_bound = vec![f32::NEG_INFINITY; leaves];
        for (b, &qn) in bounds.chunks_mut(leaves).zip(&norms) {
            for (l, v) in b.iter_mut().enumerate() {
                *v += qn * self.radius[l];
                block_bound[l] = block_bound[l].max(*v);
            }
        }
        let mut visit: Vec<u32> = (0..leaves as u32).collect();
        visit.sort_unstable_by(|&x, &y| {
            block_bound[y as usize]
                .total_cmp(&block_bound[x as usize])
                .then(x.cmp(&y))
        });
        let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(k)).collect();
        let (mut active, mut qa, mut scores) = (Vec::new(), Vec::new(), Vec::new());
        for l in visit {
            let l = l as usize;
            let lowest = tops
                .iter()
                .map(TopK::threshold)
                .fold(f32::INFINITY, f32::min);
            if block_bound[l] < lowest {
                break; // every later leaf is bounded lower still, for every query
            }
            active.clear();
            active.extend((0..nq).filter(|&q| bounds[q * leaves + l] >= tops[q].threshold()));
            if active.is_empty() {
                continue;
            }
            qa.clear();
            for &q in &active {
                qa.extend_from_slice(&a[q * d..(q + 1) * d]);
            }
            let (start, end) = (self.starts[l], self.starts[l + 1]);
            scores.clear();
            scores.resize(active.len() * (end - start), 0f32);
            crate::topk::gemm_nt(&qa, &self.vectors[start * d..end * d], d, &mut scores);
            for (&q, s) in active.iter().zip(scores.chunks(end - start)) {
                let top = &mut tops[q];
                for (&id, &v) in self.ids[start..end].iter().zip(s) {
                    top.push(v, id);
                }
            }
        }
        tops.into_iter().map(TopK::into_sorted).collect()
    }
}

/// A leaf's mean and the largest distance of a member to it.
fn centre_and_radius<'a>(
    ids: &[u32],
    row: impl Fn(usize) -> &'a [f32],
    dim: usize,
) -> (Vec<f32>, f32) {
    let mut sum = vec![0f64; dim];
    for &i in ids {
        for (c, &x) in sum.iter_mut().zip(row(i as usize)) {
            *c += f64::from(x);
        }
    }
    let centre: Vec<f32> = sum.iter().map(|c| (c / ids.len() as f64) as f32).collect();
    let radius = ids
        .iter()
        .map(|&i| {
            let r: f32 = row(i as usize)
                .iter()
                .zip(&centre)
                .map(|(x, c)| (x - c) * (x - c))
                .sum();
            r.sqrt()
        })
        .fold(0f32, f32::max);
    (centre, radius)
}

/// Splits `members` into at most `k` groups by k-means (Lloyd's rounds on a sample, then every
/// member to its nearest centre). Deterministic for a given `seed`, whatever the thread count.
fn split<'a>(
    members: &[u32],
    row: impl Fn(usize) -> &'a [f32] + Sync,
    dim: usize,
    k: usize,
    seed: u64,
) -> Vec<Vec<u32>> {
    if k <= 1 {
        return vec![members.to_vec()];
    }
    if members.len() <= k {
        return members.iter().map(|&m| vec![m]).collect();
    }
    let mut rng = stream(seed, b"mips-kmeans", members.len() as u64);
    let sample_len = members.len().min(k * SAMPLE_PER_CENTRE);
    let sample_ids: Vec<u32> = sample(&mut rng, members.len(), sample_len)
        .into_iter()
        .map(|i| members[i])
        .collect();
    let mut centres: Vec<f32> = sample_ids[..k]
        .iter()
        .flat_map(|&i| row(i as usize).iter().copied())
        .collect();
    for _ in 0..KMEANS_ROUNDS {
        let assigned = nearest_centre(&sample_ids, &row, dim, &centres);
        let mut sums = vec![0f64; k * dim];
        let mut counts = vec![0usize; k];
        for (&i, &c) in sample_ids.iter().zip(&assigned) {
            counts[c as usize] += 1;
            let s = &mut sums[c as usize * dim..(c as usize + 1) * dim];
            for (s, &x) in s.iter_mut().zip(row(i as usize)) {
                *s += f64::from(x);
            }
        }
        for c in 0..k {
            let centre = &mut centres[c * dim..(c + 1) * dim];
            if counts[c] == 0 {
                // An empty centre restarts at a random sample point.
                let i = sample_ids[rng.random_range(0..sample_ids.len())];
                centre.copy_from_slice(row(i as usize));
            } else {
                for (x, s) in centre.iter_mut().zip(&sums[c * dim..(c + 1) * dim]) {
                    *x = (s / counts[c] as f64) as f32;
                }
            }
        }
    }
    let assigned = nearest_centre(members, &row, dim, &centres);
    let mut groups = vec![Vec::new(); k];
    for (&m, &c) in members.iter().zip(&assigned) {
        groups[c as usize].push(m);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// Index of the nearest centre (Euclidean) of each point: the highest `x·c − |c|²/2`.
fn nearest_centre<'a>(
    points: &[u32],
    row: &(impl Fn(usize) -> &'a [f32] + Sync),
    dim: usize,
    centres: &[f32],
) -> Vec<u32> {
    let k = centres.len() / dim;
    let half_norms: Vec<f32> = centres
        .chunks(dim)
        .map(|c| -0.5 * norm(c).powi(2))
        .collect();
    points
        .par_chunks(256)
        .flat_map_iter(|chunk| {
            let mut a = Vec::with_capacity(chunk.len() * dim);
            for &p in chunk {
                a.extend_from_slice(row(p as usize));
            }
            let mut s = vec![0f32; chunk.len() * k];
            for r in s.chunks_mut(k) {
                r.copy_from_slice(&half_norms);
            }
            crate::topk::gemm_nt_acc(&a, centres, dim, &mut s);
            s.chunks(k)
                .map(|r| {
                    let mut best = 0;
                    for (j, &v) in r.iter().enumerate() {
                        if v > r[best] {
                            best = j;
                        }
                    }
                    best as u32
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;
    use rand_distr::{Distribution, StandardNormal};

    fn brute(data: &[f32], dim: usize, q: &[f32], k: usize) -> Vec<u32> {
        let mut scores = vec![0f32; data.len() / dim];
        crate::topk::gemm_nt(q, data, dim, &mut scores);
        crate::topk::best(&scores, k)
    }

    fn check(data: &[f32], dim: usize, leaf: usize, ks: &[usize]) {
        let index = MipsIndex::build_with_leaf(data, dim, leaf);
        let n = data.len() / dim;
        assert_eq!(index.len(), n);
        let queries: Vec<usize> = (0..n).step_by((n / 97).max(1)).collect();
        for &k in ks {
            let got = index.top_k(&queries, |&q| &data[q * dim..(q + 1) * dim], k);
            for (&q, list) in queries.iter().zip(&got) {
                assert_eq!(
                    list,
                    &brute(data, dim, &data[q * dim..(q + 1) * dim], k),
                    "query {q}, k {k}"
                );
            }
        }
    }

    fn gaussian(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = stream(seed, b"test", 0);
        (0..n * dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect()
    }

    #[test]
    fn equals_brute_force_on_gaussian_rows() {
        check(&gaussian(3000, 16, 1), 16, 64, &[1, 10, 400]);
    }

    #[test]
    fn equals_brute_force_with_skewed_norms() {
        // Norms spread over four orders of magnitude: nearest by angle is not top by product.
        let dim = 12;
        let mut data = gaussian(2500, dim, 2);
        for (i, r) in data.chunks_mut(dim).enumerate() {
            let s = 10f32.powf((i % 41) as f32 / 10.0 - 2.0);
            r.iter_mut().for_each(|x| *x *= s);
        }
        check(&data, dim, 50, &[5, 100]);
    }

    #[test]
    fn equals_brute_force_with_duplicates_and_ties() {
        // Rows drawn from 40 distinct vectors on a coarse grid: many exact duplicates and ties,
        // which must come back in row order.
        let dim = 5;
        let base = gaussian(40, dim, 3);
        let mut rng = stream(4, b"test", 0);
        let data: Vec<f32> = (0..2000)
            .flat_map(|_| {
                let j = rng.random_range(0..40);
                base[j * dim..(j + 1) * dim]
                    .iter()
                    .map(|x| (x * 2.0).round() / 2.0)
                    .collect::<Vec<_>>()
            })
            .collect();
        check(&data, dim, 30, &[1, 7, 60]);
    }

    #[test]
    fn small_and_degenerate_inputs() {
        check(&gaussian(1, 3, 5), 3, 512, &[0, 1, 5]);
        check(&gaussian(700, 9, 6), 9, 1, &[3]);
        check(&vec![0.0; 300], 3, 8, &[4]);
        let index = MipsIndex::build(&[], 4);
        assert!(index.is_empty());
        let q = [1f32; 4];
        assert_eq!(index.top_k(&[0], |_| &q[..], 3), vec![Vec::<u32>::new()]);
    }
}
