//! Exact top-k by inner product for many queries at once: queries are packed into blocks and
//! scored against every item with one SIMD matrix product per block (blocks in parallel), then
//! a streaming selection keeps the best. Shared by the simulator's exact neighbours and the
//! trainers' recommendation lists.

use rayon::prelude::*;

const BLOCK: usize = 64;

/// For each query, the indices of the `k` items with the highest `query · item (+ bias)`, best
/// first, ties by lower index. `items` is row-major `[n, d]`; `row(q)` gives a query's vector
/// (length `d`); `adjust(q, scores)` may edit a query's scores before selection (e.g. set heard
/// items to −∞ to exclude them).
pub fn top_k<'a, Q, R, A>(
    queries: &[Q],
    row: R,
    items: &[f32],
    d: usize,
    bias: Option<&[f32]>,
    k: usize,
    adjust: A,
) -> Vec<Vec<u32>>
where
    Q: Sync,
    R: Fn(&Q) -> &'a [f32] + Sync,
    A: Fn(&Q, &mut [f32]) + Sync,
{
    let n = items.len().checked_div(d).unwrap_or(0);
    queries
        .par_chunks(BLOCK)
        .flat_map_iter(|chunk| {
            let q = chunk.len();
            let mut a = Vec::with_capacity(q * d);
            for query in chunk {
                a.extend_from_slice(&row(query)[..d]);
            }
            let mut c = vec![0f32; q * n];
            if let Some(b) = bias {
                for r in c.chunks_mut(n.max(1)) {
                    r.copy_from_slice(&b[..n]);
                }
            }
            if n > 0 {
                gemm(&a, items, d, &mut c, bias.is_some());
            }
            chunk
                .iter()
                .zip(c.chunks_mut(n.max(1)))
                .map(|(query, scores)| {
                    adjust(query, scores);
                    best(scores, k)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `c[q×n] = a[q×d] · b[n×d]ᵀ` (both row-major): every query row against every item row.
pub fn gemm_nt(a: &[f32], b: &[f32], d: usize, c: &mut [f32]) {
    gemm(a, b, d, c, false);
}

/// `c[q×n] += a[q×d] · b[n×d]ᵀ`.
pub fn gemm_nt_acc(a: &[f32], b: &[f32], d: usize, c: &mut [f32]) {
    gemm(a, b, d, c, true);
}

fn gemm(a: &[f32], b: &[f32], d: usize, c: &mut [f32], accumulate: bool) {
    let (q, n) = (a.len() / d.max(1), b.len() / d.max(1));
    assert!(a.len() == q * d && b.len() == n * d && c.len() == q * n);
    if q == 0 || n == 0 {
        return;
    }
    // SAFETY: the pointers and strides describe `a` [q×d], `b` read as its transpose [d×n] and
    // `c` [q×n] exactly (lengths asserted above).
    unsafe {
        matrixmultiply::sgemm(
            q,
            d,
            n,
            1.0,
            a.as_ptr(),
            d as isize,
            1,
            b.as_ptr(),
            1,
            d as isize,
            if accumulate { 1.0 } else { 0.0 },
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Indices of the `k` largest finite scores, best first (ties: lower index).
pub fn best(scores: &[f32], k: usize) -> Vec<u32> {
    let mut top = TopK::new(k);
    for (i, &s) in scores.iter().enumerate() {
        top.push(s, i as u32);
    }
    top.into_sorted()
}

/// Streaming selection of the `k` best `(score, id)` pairs (ties: lower id), with a buffer of 2k
/// candidates and a rising threshold: most scores are rejected by one comparison.
pub struct TopK {
    k: usize,
    buf: Vec<(f32, u32)>,
    threshold: f32,
}

fn better(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            buf: Vec::with_capacity(2 * k),
            threshold: if k == 0 {
                f32::INFINITY
            } else {
                f32::NEG_INFINITY
            },
        }
    }

    /// No score below this can enter the `k` best any more (−∞ until `k` scores were seen): a
    /// search may skip whatever is bounded strictly below it.
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Offers one candidate; NaN and infinite scores are never kept.
    #[inline]
    pub fn push(&mut self, score: f32, id: u32) {
        if score.is_finite() && score >= self.threshold {
            self.buf.push((score, id));
            if self.buf.len() == 2 * self.k {
                self.buf.select_nth_unstable_by(self.k - 1, better);
                self.buf.truncate(self.k);
                self.raise_threshold();
            } else if self.buf.len() == self.k && self.threshold == f32::NEG_INFINITY {
                self.raise_threshold();
            }
        }
    }

    fn raise_threshold(&mut self) {
        self.threshold = self.buf.iter().map(|x| x.0).fold(f32::INFINITY, f32::min);
    }

    /// The ids of the `k` best, best first.
    pub fn into_sorted(mut self) -> Vec<u32> {
        self.buf.sort_unstable_by(better);
        self.buf.truncate(self.k);
        self.buf.into_iter().map(|x| x.1).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_selection_agrees_with_a_full_sort() {
        let scores: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 97) as f32)
            .chain([f32::NAN, f32::NEG_INFINITY])
            .collect();
        let mut idx: Vec<u32> = (0..1000).collect();
        idx.sort_by(|&a, &b| {
            scores[b as usize]
                .total_cmp(&scores[a as usize])
                .then(a.cmp(&b))
        });
        for k in [0, 1, 5, 37, 1000, 2000] {
            assert_eq!(best(&scores, k), idx[..k.min(1000)].to_vec(), "k = {k}");
        }
    }

    #[test]
    fn scores_with_bias_and_adjustment() {
        let items = [0.1, 0.0, 0.9, 5.0, 0.5, 0.0, 0.7, 0.0];
        let q = [1.0f32, 0.0];
        let got = top_k(
            &[0usize],
            |_| &q[..],
            &items,
            2,
            None,
            2,
            |_, s| s[1] = f32::NEG_INFINITY,
        );
        assert_eq!(got, vec![vec![3, 2]]);
        let got = top_k(
            &[0usize],
            |_| &q[..],
            &items,
            2,
            Some(&[1.0, 0.0, 0.0, 0.0]),
            2,
            |_, _| {},
        );
        assert_eq!(got, vec![vec![0, 1]]);
    }
}
