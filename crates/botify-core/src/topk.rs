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
                // SAFETY: the pointers and strides describe `a` [q×d], `items` read as its
                // transpose [d×n] and `c` [q×n] exactly.
                unsafe {
                    matrixmultiply::sgemm(
                        q,
                        d,
                        n,
                        1.0,
                        a.as_ptr(),
                        d as isize,
                        1,
                        items.as_ptr(),
                        1,
                        d as isize,
                        if bias.is_some() { 1.0 } else { 0.0 },
                        c.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
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

/// Indices of the `k` largest finite scores, best first (ties: lower index). One pass with a
/// buffer of 2k candidates and a rising threshold: most scores are rejected by one comparison.
pub fn best(scores: &[f32], k: usize) -> Vec<u32> {
    if k == 0 {
        return Vec::new();
    }
    let better = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let mut buf: Vec<(f32, u32)> = Vec::with_capacity(2 * k);
    let mut threshold = f32::NEG_INFINITY;
    for (i, &s) in scores.iter().enumerate() {
        if s.is_finite() && s >= threshold {
            buf.push((s, i as u32));
            if buf.len() == 2 * k {
                buf.select_nth_unstable_by(k - 1, better);
                buf.truncate(k);
                threshold = buf.iter().map(|x| x.0).fold(f32::INFINITY, f32::min);
            }
        }
    }
    buf.sort_unstable_by(better);
    buf.truncate(k);
    buf.into_iter().map(|x| x.1).collect()
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
