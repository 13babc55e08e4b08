//! Exact maximum-inner-product search without scoring the whole catalogue in float.
//!
//! Rows are grouped into leaves by a two-level k-means (built once, in parallel). A leaf keeps its
//! centre `c` and radius `r` (the largest `|x − c|` of its rows); for any query `q`,
//! `q·x = q·c + q·(x − c) ≤ q·c + |q|·r` (Cauchy–Schwarz), whatever the rows' norms. Queries are
//! grouped into blocks of similar queries; a block scores the leaf centres, visits leaves best
//! bound first, and stops when no bound can beat a query's k-th best so far.
//!
//! Inside a leaf, every row also has an 8-bit code (`x ≈ s_x·x̃`, with the exact `|x − s_x·x̃|`
//! kept), and so does the query. One integer product `q̃·x̃` (VNNI: 64 multiply-adds per
//! instruction, against 16 in float) bounds the true score from above:
//! `q·x ≤ s_q·s_x·(q̃·x̃) + |s_q·q̃|·|x − s_x·x̃| + |q − s_q·q̃|·|x|`, widened for float rounding.
//! Only rows whose bound reaches the query's k-th best are scored in float, by [`dot`], the one
//! inner product every path and the brute force use. So the answer is exactly the brute force's:
//! the `k` highest [`dot`] scores, ties by lower row index. Clustering and codes only decide how
//! much is scored, never what is returned.

use crate::rng::stream;
use crate::topk::TopK;
use rand::Rng;
use rand::seq::index::sample;
use rayon::prelude::*;

/// Rows per leaf the build aims at: a query scores `n / LEAF` centres, and leaves are scanned
/// whole. With the integer scan, per-leaf work (bounds, active queries) costs more than the
/// pruning of smaller leaves saves: a 1M-track first day took 13.4 s with 512, 11.6 s with 2048
/// and 11.3 s with 4096 (docs/BENCHMARKS.md).
pub const DEFAULT_LEAF: usize = 2048;
const KMEANS_ROUNDS: usize = 6;
/// k-means trains on at most this many points per centre.
const SAMPLE_PER_CENTRE: usize = 32;
const QUERY_BLOCK: usize = 256;
/// Queries scanned together by the integer kernel (one 512-bit register of 32-bit lanes).
const LANES: usize = 16;
/// Rows the integer kernel scans together; a leaf's codes are padded to a multiple of it.
const ROWS: usize = 8;
/// Active queries of a leaf up to which the float path scores rows in place with [`dot`]
/// instead of gathering them for a matrix product.
const DIRECT: usize = 2;
/// Rows scanned between two refreshes of the queries' thresholds (a multiple of [`ROWS`]).
const SCAN_CHUNK: usize = 64;

fn norm(a: &[f32]) -> f32 {
    a.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// The inner product every search path and the brute force compute: 16 running sums (element
/// `j` into sum `j mod 16`, fused multiply-adds in order), then added pairwise. Fused
/// multiply-adds round once, so the result is the same bits on every machine and code path.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features the function is compiled for (checked above).
        return unsafe { dot_fma(a, b) };
    }
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_fma(a: &[f32], b: &[f32]) -> f32 {
    dot_lanes(a, b)
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    for (l, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] = x.mul_add(*y, acc[l]);
    }
    let mut w = LANES / 2;
    while w > 0 {
        for l in 0..w {
            acc[l] += acc[l + w];
        }
        w /= 2;
    }
    acc[0]
}

/// The reference the index answers like: every query scored against every row with [`dot`],
/// the `k` best kept (ties by lower row index). Queries run in parallel.
pub fn brute_force<'a, Q, R>(
    data: &[f32],
    dim: usize,
    queries: &[Q],
    row: R,
    k: usize,
) -> Vec<Vec<u32>>
where
    Q: Sync,
    R: Fn(&Q) -> &'a [f32] + Sync,
{
    let dim = dim.max(1);
    queries
        .par_iter()
        .map(|q| {
            let q = &row(q)[..dim];
            let mut top = TopK::new(k);
            for (i, x) in data.chunks_exact(dim).enumerate() {
                top.push(dot(q, x), i as u32);
            }
            top.into_sorted()
        })
        .collect()
}

/// Whether this CPU runs the integer scan (AVX-512 VNNI); elsewhere a visited leaf is scored by a
/// float matrix product, with the same answers. `BOTIFY_MIPS_FLOAT=1` forces the float path (to
/// measure it on a machine that has VNNI).
fn vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::env::var_os("BOTIFY_MIPS_FLOAT").is_none_or(|v| v != "1")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// A vector's 8-bit code: `x̃ = round(x / s)` with `s = max|x_j| / 127`, so `x = s·x̃ + e`.
/// Writes `x̃` (zero-padded to `out.len()`) and returns `(s, |e|)`, the latter rounded up.
fn quantise(x: &[f32], out: &mut [i8]) -> (f32, f32) {
    let top = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    out.fill(0);
    if top == 0.0 {
        return (0.0, 0.0);
    }
    let s = top / 127.0;
    let mut err = 0f64;
    for (o, &v) in out.iter_mut().zip(x) {
        let c = (v / s).round().clamp(-127.0, 127.0);
        *o = c as i8;
        err += (f64::from(v) - f64::from(s) * f64::from(c)).powi(2);
    }
    (s, up(err.sqrt()))
}

/// An `f64` rounded to an `f32` no smaller.
fn up(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) < v { f.next_up() } else { f }
}

fn exact_norm(x: &[f32]) -> f32 {
    up(x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt())
}

/// A query's code for the integer scan.
struct QueryCode {
    /// `x̃` four elements per word (the layout the kernel broadcasts).
    words: Vec<i32>,
    scale: f32,
    /// `|s·q̃|`, rounded up.
    coded_norm: f32,
    /// `|q − s·q̃|` plus the float rounding margin `δ·|q|`, rounded up.
    slack: f32,
    /// `128·Σq̃`: rows are stored as `x̃ + 128` (unsigned), so the kernel's sum carries it.
    offset: i32,
}

impl QueryCode {
    fn new(q: &[f32], groups: usize) -> QueryCode {
        let mut c = vec![0i8; groups * 4];
        let (scale, err) = quantise(q, &mut c);
        let coded: f64 = c
            .iter()
            .map(|&v| (f64::from(scale) * f64::from(v)).powi(2))
            .sum();
        // Rounding of `dot` (16-way sums of d/16 terms, then 4 pairwise levels) and of the bound's
        // own few operations, each at most a few ε·|q|·|x|: a generous multiple covers both.
        let delta = 4.0 * (q.len() as f64 / 16.0 + 16.0) * f64::from(f32::EPSILON);
        QueryCode {
            words: c
                .chunks_exact(4)
                .map(|w| i32::from_le_bytes([w[0] as u8, w[1] as u8, w[2] as u8, w[3] as u8]))
                .collect(),
            scale,
            coded_norm: up(coded.sqrt()),
            slack: up(f64::from(err) + delta * f64::from(exact_norm(q))),
            offset: 128 * c.iter().map(|&v| i32::from(v)).sum::<i32>(),
        }
    }
}

/// Up to 16 queries laid out for the integer scan: lane `l` is query `who[l]`.
struct Lanes {
    /// `groups × 16` words: group `g` of lane `l` at `g·16 + l`.
    words: Vec<i32>,
    scale: [f32; LANES],
    coded_norm: [f32; LANES],
    slack: [f32; LANES],
    offset: [i32; LANES],
    /// A row is reported for a lane when its bound reaches this (+∞ for unused lanes).
    threshold: [f32; LANES],
    who: [usize; LANES],
    used: usize,
}

impl Lanes {
    fn new(groups: usize) -> Lanes {
        Lanes {
            words: vec![0; groups * LANES],
            scale: [0.0; LANES],
            coded_norm: [0.0; LANES],
            slack: [0.0; LANES],
            offset: [0; LANES],
            threshold: [f32::INFINITY; LANES],
            who: [0; LANES],
            used: 0,
        }
    }

    fn fill(&mut self, queries: &[usize], codes: &[QueryCode]) {
        self.words.fill(0);
        self.scale = [0.0; LANES];
        self.coded_norm = [0.0; LANES];
        self.slack = [0.0; LANES];
        self.offset = [0; LANES];
        self.threshold = [f32::INFINITY; LANES];
        self.used = queries.len();
        for (l, &q) in queries.iter().enumerate() {
            let c = &codes[q];
            for (g, &w) in c.words.iter().enumerate() {
                self.words[g * LANES + l] = w;
            }
            self.scale[l] = c.scale;
            self.coded_norm[l] = c.coded_norm;
            self.slack[l] = c.slack;
            self.offset[l] = c.offset;
            self.who[l] = q;
        }
    }
}

/// Rows of one leaf as the integer scan reads them, [`ROWS`] at a time: for each block of rows,
/// group `g` of its rows' codes (`x̃ + 128`, four bytes a row) is contiguous. Padding rows have
/// norm −∞: their bound reaches no threshold but −∞.
struct RowCodes<'a> {
    bytes: &'a [u8],
    scale: &'a [f32],
    err: &'a [f32],
    norm: &'a [f32],
}

/// Reports `(row, lanes)` for every row whose bound reaches some lane's threshold.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn scan_vnni(lanes: &Lanes, groups: usize, rows: &RowCodes, hits: &mut Vec<(u32, u16)>) {
    use std::arch::x86_64::*;
    let n = rows.scale.len();
    assert!(n.is_multiple_of(ROWS) && rows.bytes.len() == n * groups * 4);
    assert!(lanes.words.len() == groups * LANES && rows.err.len() == n && rows.norm.len() == n);
    let load = |a: &[f32; LANES]| unsafe { _mm512_loadu_ps(a.as_ptr()) };
    let (scale, coded_norm, slack) = (
        load(&lanes.scale),
        load(&lanes.coded_norm),
        load(&lanes.slack),
    );
    let threshold = load(&lanes.threshold);
    // SAFETY (all loads): `lanes.offset` holds 16 words, `lanes.words` `groups·16`, and a
    // block's codes `groups·ROWS` words from `block·groups·ROWS` (n rows, asserted above).
    let offset = unsafe { _mm512_loadu_si512(lanes.offset.as_ptr() as *const _) };
    let words = rows.bytes.as_ptr() as *const i32;
    // Accumulators start at −128·Σq̃, so they end at the integer product q̃·x̃ itself.
    let start = _mm512_sub_epi32(_mm512_setzero_si512(), offset);
    for block in 0..n / ROWS {
        let mut acc = [start; ROWS];
        let codes = unsafe { words.add(block * groups * ROWS) };
        for g in 0..groups {
            let q = unsafe { _mm512_loadu_si512(lanes.words.as_ptr().add(g * LANES) as *const _) };
            let at = unsafe { codes.add(g * ROWS) };
            for (i, a) in acc.iter_mut().enumerate() {
                let x = unsafe { std::ptr::read_unaligned(at.add(i)) };
                *a = _mm512_dpbusd_epi32(*a, _mm512_set1_epi32(x), q);
            }
        }
        for (i, &a) in acc.iter().enumerate() {
            let row = block * ROWS + i;
            let exact = _mm512_cvtepi32_ps(a);
            let slack = _mm512_fmadd_ps(
                slack,
                _mm512_set1_ps(rows.norm[row]),
                _mm512_mul_ps(coded_norm, _mm512_set1_ps(rows.err[row])),
            );
            let bound = _mm512_fmadd_ps(
                exact,
                _mm512_mul_ps(scale, _mm512_set1_ps(rows.scale[row])),
                slack,
            );
            let m = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(bound, threshold);
            if m != 0 {
                hits.push((row as u32, m));
            }
        }
    }
}

/// An exact top-k index over the rows of a row-major `[n, dim]` matrix. It keeps no copy of the
/// rows: searches take the matrix it was built from.
pub struct MipsIndex {
    dim: usize,
    /// Four-element groups of a row's code.
    groups: usize,
    /// Original row index of each stored row, grouped by leaf.
    ids: Vec<u32>,
    /// Code rows (a leaf's stored rows, padded to a multiple of [`ROWS`]; see [`RowCodes`]): codes,
    /// scales, code errors `|x − s·x̃|` and norms (both rounded up; −∞ for padding).
    codes: Vec<u8>,
    code_scale: Vec<f32>,
    code_err: Vec<f32>,
    row_norm: Vec<f32>,
    /// Leaf `l`'s code rows start at `code_starts[l]`.
    code_starts: Vec<usize>,
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
            groups: dim.div_ceil(4),
            ids: Vec::with_capacity(n),
            codes: Vec::new(),
            code_scale: Vec::new(),
            code_err: Vec::new(),
            row_norm: Vec::new(),
            code_starts: Vec::new(),
            starts: vec![0],
            centres: Vec::with_capacity(built.len() * dim),
            radius: Vec::with_capacity(built.len()),
        };
        for (members, (centre, r)) in leaves.iter().zip(built) {
            index.radius.push(r + 2.0 * eps * (norm(&centre) + r));
            index.centres.extend_from_slice(&centre);
            index.ids.extend_from_slice(members);
            index.starts.push(index.ids.len());
        }
        index.encode(data);
        index
    }

    /// Codes every stored row for the integer scan, leaf by leaf (in parallel, in place), in
    /// blocks of [`ROWS`].
    fn encode(&mut self, data: &[f32]) {
        let (dim, groups) = (self.dim, self.groups);
        let padded: Vec<usize> = (0..self.leaves())
            .map(|l| (self.starts[l + 1] - self.starts[l]).next_multiple_of(ROWS))
            .collect();
        let total: usize = padded.iter().sum();
        self.code_starts = padded
            .iter()
            .scan(0, |at, &n| {
                *at += n;
                Some(*at - n)
            })
            .collect();
        let mut codes = vec![128u8; total * groups * 4];
        let mut scale = vec![0f32; total];
        let mut err = vec![0f32; total];
        let mut norms = vec![f32::NEG_INFINITY; total];
        let leaves: Vec<_> = crate::split_mut(&mut codes, padded.iter().map(|n| n * groups * 4))
            .into_iter()
            .zip(crate::split_mut(&mut scale, padded.iter().copied()))
            .zip(crate::split_mut(&mut err, padded.iter().copied()))
            .zip(crate::split_mut(&mut norms, padded.iter().copied()))
            .collect();
        let (ids, starts) = (&self.ids, &self.starts);
        leaves
            .into_par_iter()
            .enumerate()
            .for_each(|(l, (((codes, scale), err), norms))| {
                let mut c = vec![0i8; groups * 4];
                for (i, &id) in ids[starts[l]..starts[l + 1]].iter().enumerate() {
                    let x = &data[id as usize * dim..(id as usize + 1) * dim];
                    (scale[i], err[i]) = quantise(x, &mut c);
                    norms[i] = exact_norm(x);
                    let (block, within) = (i / ROWS, i % ROWS);
                    for (g, w) in c.chunks_exact(4).enumerate() {
                        let o = ((block * groups + g) * ROWS + within) * 4;
                        for (b, &v) in codes[o..o + 4].iter_mut().zip(w) {
                            *b = (i16::from(v) + 128) as u8;
                        }
                    }
                }
            });
        (self.codes, self.code_scale, self.code_err, self.row_norm) = (codes, scale, err, norms);
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

    /// For each query, the `k` rows with the highest [`dot`] against it, best first, ties by
    /// lower row index; `row(q)` gives a query's vector (length `dim`). The answer equals
    /// [`brute_force`]'s and depends only on the query. Queries are grouped by nearest leaf into
    /// blocks (run in parallel): a block visits leaves best bound first and scans one leaf for
    /// all its queries still in need of it.
    pub fn top_k<'a, Q, R>(&self, data: &[f32], queries: &[Q], row: R, k: usize) -> Vec<Vec<u32>>
    where
        Q: Sync,
        R: Fn(&Q) -> &'a [f32] + Sync,
    {
        self.search(data, queries, row, k, &|_, _| true, &|_| {})
    }

    /// [`Self::top_k`] among the rows `keep(query position, row)` accepts (e.g. tracks a user has
    /// not heard): exactly the brute force's `k` best kept rows. Rejected rows never enter a
    /// query's top, so they cost a check only when their bound would have let them in.
    /// `done(n)` is told as each block of `n` queries is answered (for a progress bar).
    pub fn search<'a, Q, R>(
        &self,
        data: &[f32],
        queries: &[Q],
        row: R,
        k: usize,
        keep: &(dyn Fn(usize, u32) -> bool + Sync),
        done: &(dyn Fn(u64) + Sync),
    ) -> Vec<Vec<u32>>
    where
        Q: Sync,
        R: Fn(&Q) -> &'a [f32] + Sync,
    {
        self.top_k_with(data, queries, row, k, keep, done, vnni())
    }

    /// The `k` best rows for one `query` among those `keep` accepts, exactly as [`Self::search`]
    /// answers it, but on the calling thread: for a request handler, where a thread pool's hand
    /// over would cost more than the search.
    pub fn search_one(
        &self,
        data: &[f32],
        query: &[f32],
        k: usize,
        keep: &(dyn Fn(u32) -> bool + Sync),
    ) -> Vec<u32> {
        if !self.searchable(data) {
            return Vec::new();
        }
        let keep = |_: usize, r: u32| keep(r);
        let mut bounds = Vec::new();
        self.search_block(
            data,
            &[0],
            &query[..self.dim],
            k,
            &keep,
            vnni(),
            &mut bounds,
        )
        .pop()
        .unwrap_or_default()
    }

    /// Whether there is anything to search; `data` must be the matrix the index was built over.
    fn searchable(&self, data: &[f32]) -> bool {
        assert_eq!(
            data.len(),
            self.len() * self.dim,
            "search the matrix the index was built over"
        );
        self.leaves() > 0
    }

    /// [`Self::search`], with the integer scan on or off (off: every row of a visited leaf is
    /// scored in float).
    #[allow(clippy::too_many_arguments)]
    fn top_k_with<'a, Q, R>(
        &self,
        data: &[f32],
        queries: &[Q],
        row: R,
        k: usize,
        keep: &(dyn Fn(usize, u32) -> bool + Sync),
        done: &(dyn Fn(u64) + Sync),
        coded: bool,
    ) -> Vec<Vec<u32>>
    where
        Q: Sync,
        R: Fn(&Q) -> &'a [f32] + Sync,
    {
        let d = self.dim;
        if !self.searchable(data) {
            return vec![Vec::new(); queries.len()];
        }
        // Coherent blocks: queries sorted by their nearest leaf centre.
        let mut order: Vec<u32> = (0..queries.len() as u32).collect();
        let home = nearest_centre(&order, &|i| &row(&queries[i])[..d], d, &self.centres);
        order.sort_by_key(|&i| (home[i as usize], i));
        // Each worker keeps its block's query-by-leaf bounds buffer (tens of megabytes for large
        // catalogues): a fresh one per block would be zeroed by the kernel each time.
        let answers: Vec<(u32, Vec<u32>)> = order
            .par_chunks(QUERY_BLOCK)
            .map_init(Vec::new, |bounds, block| {
                let a: Vec<f32> = block
                    .iter()
                    .flat_map(|&i| row(&queries[i as usize])[..d].iter().copied())
                    .collect();
                let lists = self.search_block(data, block, &a, k, keep, coded, bounds);
                done(block.len() as u64);
                block.iter().copied().zip(lists).collect::<Vec<_>>()
            })
            .flatten_iter()
            .collect();
        let mut out = vec![Vec::new(); queries.len()];
        for (i, list) in answers {
            out[i as usize] = list;
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn search_block(
        &self,
        data: &[f32],
        block: &[u32],
        a: &[f32],
        k: usize,
        keep: &(dyn Fn(usize, u32) -> bool + Sync),
        coded: bool,
        bounds: &mut Vec<f32>,
    ) -> Vec<Vec<u32>> {
        let (d, leaves) = (self.dim, self.leaves());
        let nq = a.len() / d;
        bounds.resize(nq * leaves, 0.0);
        let bounds = &mut bounds[..nq * leaves];
        crate::topk::gemm_nt(a, &self.centres, d, bounds);
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
        let codes: Vec<QueryCode> = if coded {
            a.chunks(d)
                .map(|q| QueryCode::new(q, self.groups))
                .collect()
        } else {
            Vec::new()
        };
        let mut scan = Scan {
            index: self,
            data,
            block,
            keep,
            queries: a,
            tops: (0..nq).map(|_| TopK::new(k)).collect(),
            lanes: Lanes::new(self.groups),
            hits: Vec::new(),
            margins: if coded {
                Vec::new()
            } else {
                let delta = 8.0 * (d as f32 + 16.0) * f32::EPSILON;
                a.chunks(d).map(|q| delta * exact_norm(q)).collect()
            },
            qa: Vec::new(),
            gathered: Vec::new(),
            scores: Vec::new(),
        };
        let mut active = Vec::new();
        for l in visit {
            let l = l as usize;
            let lowest = scan
                .tops
                .iter()
                .map(TopK::threshold)
                .fold(f32::INFINITY, f32::min);
            if block_bound[l] < lowest {
                break; // every later leaf is bounded lower still, for every query
            }
            active.clear();
            active.extend((0..nq).filter(|&q| bounds[q * leaves + l] >= scan.tops[q].threshold()));
            if coded {
                for lanes in active.chunks(LANES) {
                    scan.coded(lanes, &codes, l);
                }
            } else {
                scan.float(&active, l);
            }
        }
        scan.tops.into_iter().map(TopK::into_sorted).collect()
    }
}

/// One block's search state: its queries, their running top-k, and the scan's buffers.
struct Scan<'a> {
    index: &'a MipsIndex,
    /// The rows the index was built over.
    data: &'a [f32],
    /// Each block query's position among the caller's queries, and which rows it may return.
    block: &'a [u32],
    keep: &'a (dyn Fn(usize, u32) -> bool + Sync),
    /// The block's query vectors, `dim` each.
    queries: &'a [f32],
    tops: Vec<TopK>,
    lanes: Lanes,
    hits: Vec<(u32, u16)>,
    /// The float path's rounding allowance per query and `|x|`: `δ·|q|`.
    margins: Vec<f32>,
    /// The float path's buffers: active queries, a leaf's rows, their products.
    qa: Vec<f32>,
    gathered: Vec<f32>,
    scores: Vec<f32>,
}

impl Scan<'_> {
    fn query(&self, q: usize) -> &[f32] {
        let d = self.index.dim;
        &self.queries[q * d..(q + 1) * d]
    }

    /// Scores stored row `r` for query `q` in float and offers it.
    fn score(&mut self, q: usize, r: usize) {
        let d = self.index.dim;
        let id = self.index.ids[r] as usize;
        if !(self.keep)(self.block[q] as usize, id as u32) {
            return;
        }
        let s = dot(self.query(q), &self.data[id * d..(id + 1) * d]);
        self.tops[q].push(s, id as u32);
    }

    /// Where the CPU has no integer scan: one matrix product scores `leaf` for all `queries`, and
    /// a row is scored again by [`dot`] when that score, widened by both products' rounding
    /// (`δ·|q|·|x|` each), reaches the query's k-th best.
    fn float(&mut self, queries: &[usize], leaf: usize) {
        let (d, index) = (self.index.dim, self.index);
        let (start, end) = (index.starts[leaf], index.starts[leaf + 1]);
        if queries.len() <= DIRECT {
            // A request's one query: gathering the leaf's rows for a matrix product would cost
            // more than scoring each row in place with `dot`, the exact score itself.
            for &q in queries {
                let query = &self.queries[q * d..(q + 1) * d];
                for &id in &index.ids[start..end] {
                    let s = dot(query, &self.data[id as usize * d..(id as usize + 1) * d]);
                    // `score`, with the row's filter asked only of what could enter the top k.
                    if s >= self.tops[q].threshold() && (self.keep)(self.block[q] as usize, id) {
                        self.tops[q].push(s, id);
                    }
                }
            }
            return;
        }
        let first = index.code_starts[leaf];
        let all = self.queries;
        self.qa.clear();
        for &q in queries {
            self.qa.extend_from_slice(&all[q * d..(q + 1) * d]);
        }
        self.gathered.clear();
        for &id in &index.ids[start..end] {
            self.gathered
                .extend_from_slice(&self.data[id as usize * d..(id as usize + 1) * d]);
        }
        let mut scores = std::mem::take(&mut self.scores);
        scores.clear();
        scores.resize(queries.len() * (end - start), 0.0);
        crate::topk::gemm_nt(&self.qa, &self.gathered, d, &mut scores);
        for (&q, s) in queries.iter().zip(scores.chunks(end - start)) {
            let margin = self.margins[q];
            for (i, &v) in s.iter().enumerate() {
                if v + margin * index.row_norm[first + i] >= self.tops[q].threshold() {
                    self.score(q, start + i);
                }
            }
        }
        self.scores = scores;
    }

    /// The integer scan of `rows` for up to 16 queries; rows it cannot rule out are scored in
    /// float. Thresholds are refreshed every [`SCAN_CHUNK`] rows, as the top-k fill up.
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    fn coded(&mut self, queries: &[usize], codes: &[QueryCode], leaf: usize) {
        let rows = self.index.starts[leaf]..self.index.starts[leaf + 1];
        #[cfg(target_arch = "x86_64")]
        {
            self.lanes.fill(queries, codes);
            let (g, index) = (self.index.groups, self.index);
            let leaf_rows = rows.end - rows.start;
            let first = index.code_starts[leaf];
            let end = first + leaf_rows.next_multiple_of(ROWS);
            let mut start = first;
            while start < end {
                let stop = (start + SCAN_CHUNK).min(end);
                for l in 0..self.lanes.used {
                    self.lanes.threshold[l] = self.tops[self.lanes.who[l]].threshold();
                }
                let chunk = RowCodes {
                    bytes: &index.codes[start * g * 4..stop * g * 4],
                    scale: &index.code_scale[start..stop],
                    err: &index.code_err[start..stop],
                    norm: &index.row_norm[start..stop],
                };
                let mut hits = std::mem::take(&mut self.hits);
                hits.clear();
                // SAFETY: `coded` is only on when the CPU has these features (see `vnni`).
                unsafe { scan_vnni(&self.lanes, g, &chunk, &mut hits) };
                for &(r, mut lanes) in &hits {
                    let row = rows.start + (start - first) + r as usize;
                    if row >= rows.end {
                        continue; // padding, reported only while a threshold is still −∞
                    }
                    while lanes != 0 {
                        let l = lanes.trailing_zeros() as usize;
                        lanes &= lanes - 1;
                        if l < self.lanes.used {
                            self.score(self.lanes.who[l], row);
                        }
                    }
                }
                self.hits = hits;
                start = stop;
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("the integer scan runs only where the CPU has it");
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

    fn check(data: &[f32], dim: usize, leaf: usize, ks: &[usize]) {
        let index = MipsIndex::build_with_leaf(data, dim, leaf);
        let n = data.len() / dim;
        assert_eq!(index.len(), n);
        let queries: Vec<usize> = (0..n).step_by((n / 97).max(1)).collect();
        let row = |&q: &usize| &data[q * dim..(q + 1) * dim];
        for &k in ks {
            let want = brute_force(data, dim, &queries, row, k);
            // Both paths where this CPU has the integer scan; the float one everywhere.
            // One query alone: the float path scores a leaf's rows in place.
            for (i, want) in want.iter().enumerate().step_by(7) {
                let one = &queries[i..i + 1];
                let got = index.top_k_with(data, one, row, k, &|_, _| true, &|_| {}, false);
                assert_eq!(&got[0], want, "query {} alone, k {k}", one[0]);
            }
            for coded in [false, vnni()] {
                let got = index.top_k_with(data, &queries, row, k, &|_, _| true, &|_| {}, coded);
                for ((q, list), want) in queries.iter().zip(&got).zip(&want) {
                    assert_eq!(list, want, "query {q}, k {k}, coded {coded}");
                }
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
    fn queries_that_are_not_rows() {
        // Queries of every scale (and a zero one) against rows of skewed norms: the codes' bounds
        // scale with both sides.
        let dim = 20;
        let mut data = gaussian(3000, dim, 7);
        for (i, r) in data.chunks_mut(dim).enumerate() {
            let s = 10f32.powf((i % 13) as f32 / 4.0 - 1.5);
            r.iter_mut().for_each(|x| *x *= s);
        }
        let mut vectors = gaussian(60, dim, 8);
        for (i, q) in vectors.chunks_mut(dim).enumerate() {
            q.iter_mut()
                .for_each(|x| *x *= 10f32.powi(i as i32 % 7 - 3));
        }
        vectors.extend([0.0; 20]);
        let queries: Vec<usize> = (0..61).collect();
        let row = |&q: &usize| &vectors[q * dim..(q + 1) * dim];
        let index = MipsIndex::build_with_leaf(&data, dim, 40);
        for k in [1, 10, 300] {
            let want = brute_force(&data, dim, &queries, row, k);
            for coded in [false, vnni()] {
                assert_eq!(
                    index.top_k_with(&data, &queries, row, k, &|_, _| true, &|_| {}, coded),
                    want,
                    "k {k}"
                );
            }
        }
    }

    #[test]
    fn excluded_rows_never_come_back_and_the_rest_is_exact() {
        // Each query rejects its own brute-force top 20 and every row whose index shares its
        // residue mod 3; query 0 rejects everything.
        let dim = 10;
        let data = gaussian(4000, dim, 12);
        let queries: Vec<usize> = (0..4000).step_by(37).collect();
        let row = |&q: &usize| &data[q * dim..(q + 1) * dim];
        let first = brute_force(&data, dim, &queries, row, 20);
        let keep = |q: usize, r: u32| q != 0 && r as usize % 3 != q % 3 && !first[q].contains(&r);
        let index = MipsIndex::build_with_leaf(&data, dim, 64);
        for k in [1, 10, 200] {
            let want: Vec<Vec<u32>> = queries
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    let mut top = TopK::new(k);
                    for (r, x) in data.chunks_exact(dim).enumerate() {
                        if keep(i, r as u32) {
                            top.push(dot(row(q), x), r as u32);
                        }
                    }
                    top.into_sorted()
                })
                .collect();
            assert!(want[0].is_empty() && want[1].len() == k);
            for coded in [false, vnni()] {
                let answered = std::sync::atomic::AtomicU64::new(0);
                let done = |n| {
                    answered.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                };
                assert_eq!(
                    index.top_k_with(&data, &queries, row, k, &keep, &done, coded),
                    want,
                    "k {k}, coded {coded}"
                );
                assert_eq!(answered.into_inner(), queries.len() as u64);
            }
            for (i, q) in queries.iter().enumerate() {
                let one = index.search_one(&data, row(q), k, &|r| keep(i, r));
                assert_eq!(one, want[i], "one query, k {k}");
            }
        }
    }

    #[test]
    fn dot_is_the_same_bits_on_every_path() {
        let a = gaussian(4 * 67, 1, 9);
        for (x, y) in a.chunks(67).zip(a.chunks(67).skip(1)) {
            for d in [1, 15, 16, 17, 64, 67] {
                let (x, y) = (&x[..d], &y[..d]);
                assert_eq!(dot(x, y).to_bits(), dot_lanes(x, y).to_bits());
                let naive: f64 = x
                    .iter()
                    .zip(y)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                assert!((f64::from(dot(x, y)) - naive).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn small_and_degenerate_inputs() {
        check(&gaussian(1, 3, 5), 3, 512, &[0, 1, 5]);
        check(&gaussian(700, 9, 6), 9, 1, &[3]);
        check(&vec![0.0; 300], 3, 8, &[4]);
        let index = MipsIndex::build(&[], 4);
        assert!(index.is_empty());
        let q = [1f32; 4];
        assert_eq!(
            index.top_k(&[], &[0], |_| &q[..], 3),
            vec![Vec::<u32>::new()]
        );
    }
}
