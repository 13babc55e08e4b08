//! Offline ranking metrics of recommendation lists against held-out positives.

use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use serde::Serialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Users with at least one held-out positive (the denominator).
    pub users: usize,
    pub k: usize,
    pub precision: f64,
    pub recall: f64,
    pub mrr: f64,
    pub ndcg: f64,
    /// Distinct recommended tracks (top k of every list) over the catalogue size.
    pub coverage: f64,
}

impl Metrics {
    /// One line for people: `held-out queries 7004, precision@10 0.0212, …`.
    pub fn line(&self) -> String {
        format!(
            "held-out queries {}, precision@{k} {:.4}, recall@{k} {:.4}, MRR {:.4}, NDCG@{k} {:.4}, coverage {:.3}",
            self.users,
            self.precision,
            self.recall,
            self.mrr,
            self.ndcg,
            self.coverage,
            k = self.k
        )
    }
}

/// Scores the first `k` items of each user's list against that user's held-out positives.
/// Users without positives are skipped; users without a list score 0.
pub fn evaluate(
    lists: &FastMap<UserId, Vec<TrackId>>,
    positives: &FastMap<UserId, Vec<TrackId>>,
    k: usize,
    tracks: usize,
) -> Metrics {
    let mut m = Metrics {
        k,
        ..Metrics::default()
    };
    for (user, pos) in positives {
        if pos.is_empty() {
            continue;
        }
        m.users += 1;
        let Some(list) = lists.get(user) else {
            continue;
        };
        let top = &list[..list.len().min(k)];
        let mut hits = 0usize;
        let mut dcg = 0.0;
        let mut first = None;
        for (rank, t) in top.iter().enumerate() {
            if pos.contains(t) {
                hits += 1;
                dcg += 1.0 / ((rank + 2) as f64).log2();
                first.get_or_insert(rank);
            }
        }
        let ideal: f64 = (0..pos.len().min(k))
            .map(|r| 1.0 / ((r + 2) as f64).log2())
            .sum();
        m.precision += hits as f64 / k as f64;
        m.recall += hits as f64 / pos.len() as f64;
        m.mrr += first.map_or(0.0, |r| 1.0 / (r + 1) as f64);
        m.ndcg += dcg / ideal;
    }
    if m.users > 0 {
        let n = m.users as f64;
        m.precision /= n;
        m.recall /= n;
        m.mrr /= n;
        m.ndcg /= n;
    }
    let mut seen = vec![false; tracks];
    for list in lists.values() {
        for &t in &list[..list.len().min(k)] {
            if let Some(s) = seen.get_mut(t as usize) {
                *s = true;
            }
        }
    }
    m.coverage = seen.iter().filter(|&&s| s).count() as f64 / tracks.max(1) as f64;
    m
}

/// Per-track lists scored on next tracks: each `(track, next)` pair is one query whose only
/// positive is `next`, answered by `list(track)`. `users` counts the pairs; recall is the
/// next-track hit rate.
pub fn evaluate_next(
    pairs: &[(TrackId, TrackId)],
    list: impl Fn(TrackId) -> Option<Vec<TrackId>>,
    k: usize,
    tracks: usize,
) -> Metrics {
    let mut lists = FastMap::default();
    let mut positives = FastMap::default();
    for (i, &(track, next)) in pairs.iter().enumerate() {
        if let Some(l) = list(track) {
            lists.insert(i as UserId, l);
        }
        positives.insert(i as UserId, vec![next]);
    }
    evaluate(&lists, &positives, k, tracks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_hand_computed_values() {
        let lists: FastMap<u32, Vec<u32>> = [(1, vec![5, 6, 7, 8]), (2, vec![1, 2, 3, 4])]
            .into_iter()
            .collect();
        let pos: FastMap<u32, Vec<u32>> = [(1, vec![6, 9]), (2, vec![9]), (3, vec![1])]
            .into_iter()
            .collect();
        let m = evaluate(&lists, &pos, 2, 10);
        // user 1: hit at rank 2 → P 1/2, R 1/2, RR 1/2, DCG 1/log2(3), IDCG 1 + 1/log2(3).
        // users 2 and 3: nothing.
        assert_eq!(m.users, 3);
        assert!((m.precision - 0.5 / 3.0).abs() < 1e-12);
        assert!((m.recall - 0.5 / 3.0).abs() < 1e-12);
        assert!((m.mrr - 0.5 / 3.0).abs() < 1e-12);
        let ndcg1 = (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((m.ndcg - ndcg1 / 3.0).abs() < 1e-12);
        assert!((m.coverage - 0.4).abs() < 1e-12); // 5, 6, 1, 2 of 10
    }

    #[test]
    fn next_track_pairs_are_queries_with_one_positive() {
        let list = |t: u32| (t < 2).then(|| vec![t + 1, t + 2, t + 3]);
        // Hit at rank 2, a miss, and a track without a list.
        let m = evaluate_next(&[(0, 2), (1, 9), (5, 6)], list, 3, 10);
        assert_eq!(m.users, 3);
        assert!((m.recall - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.mrr - 0.5 / 3.0).abs() < 1e-12);
        assert!((m.precision - 1.0 / 9.0).abs() < 1e-12);
    }
}
