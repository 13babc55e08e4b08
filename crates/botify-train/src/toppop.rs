//! TopPop: tracks by total listen time.

use crate::dataset::Dataset;
use botify_core::TrackId;

/// The `k` tracks with the most total listening time (ties: lower id).
pub fn fit(d: &Dataset, k: usize) -> Vec<TrackId> {
    let mut total = vec![0f64; d.tracks];
    for l in &d.listens {
        total[l.track as usize] += f64::from(l.time);
    }
    let mut ids: Vec<TrackId> = (0..d.tracks as u32)
        .filter(|&t| total[t as usize] > 0.0)
        .collect();
    ids.sort_by(|&a, &b| {
        total[b as usize]
            .total_cmp(&total[a as usize])
            .then(a.cmp(&b))
    });
    ids.truncate(k);
    ids
}
