//! Exact nearest tracks by inner product, as the course computed them (brute force), made fast:
//! queries are batched into blocks and scored with one matrix product per block
//! ([`botify_core::topk`]), and results are memoised per query track.

use botify_core::{Embeddings, TrackId};
use std::collections::HashMap;
use std::sync::Arc;

/// The `k` highest-scoring tracks for each query row, best first (ties by lower id).
pub fn top_k(emb: &Embeddings, queries: &[TrackId], k: usize) -> Vec<Vec<TrackId>> {
    botify_core::topk::top_k(
        queries,
        |&t| emb.row(t as usize),
        &emb.data,
        emb.dim,
        None,
        k,
        |_, _| {},
    )
}

/// Memoised top-k neighbours per query track.
#[derive(Default)]
pub struct NeighbourCache {
    k: usize,
    lists: HashMap<TrackId, Arc<[TrackId]>>,
}

impl NeighbourCache {
    pub fn new(k: usize) -> Self {
        NeighbourCache {
            k,
            lists: HashMap::new(),
        }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    /// Computes (in parallel blocks) whatever of `queries` is not cached yet.
    pub fn ensure(&mut self, emb: &Embeddings, queries: impl IntoIterator<Item = TrackId>) {
        let mut missing: Vec<TrackId> = queries
            .into_iter()
            .filter(|q| !self.lists.contains_key(q))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let lists = top_k(emb, &missing, self.k);
        for (q, l) in missing.into_iter().zip(lists) {
            self.lists.insert(q, l.into());
        }
    }

    pub fn get(&self, q: TrackId) -> Option<&[TrackId]> {
        self.lists.get(&q).map(|l| &**l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_brute_force() {
        let (n, d) = (300, 7);
        let data: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let emb = Embeddings::new(n, d, data).unwrap();
        let queries: Vec<u32> = (0..n as u32).step_by(3).collect();
        let got = top_k(&emb, &queries, 10);
        for (q, list) in queries.iter().zip(&got) {
            let dot = |t: usize| -> f32 {
                emb.row(*q as usize)
                    .iter()
                    .zip(emb.row(t))
                    .map(|(a, b)| a * b)
                    .sum()
            };
            let mut all: Vec<u32> = (0..n as u32).collect();
            all.sort_by(|&a, &b| dot(b as usize).total_cmp(&dot(a as usize)).then(a.cmp(&b)));
            // Scores equal to float precision: compare the score sequence, not only the ids.
            let want: Vec<f32> = all[..10].iter().map(|&t| dot(t as usize)).collect();
            let have: Vec<f32> = list.iter().map(|&t| dot(t as usize)).collect();
            for (w, h) in want.iter().zip(&have) {
                assert!((w - h).abs() < 1e-5, "query {q}: {want:?} vs {have:?}");
            }
        }
        let mut cache = NeighbourCache::new(5);
        cache.ensure(&emb, [3, 3, 6]);
        assert_eq!(cache.get(3).unwrap(), &top_k(&emb, &[3], 5)[0][..]);
        assert!(cache.get(4).is_none());
        assert_eq!(top_k(&emb, &[1], 1000)[0].len(), n);
    }
}
