//! Offline metrics of recommendation files (per-user lists or a top-tracks array) on the
//! held-out positives of the logs — the same split and metrics the trainers report.

use crate::logs::Loaded;
use crate::{Error, Result};
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use botify_recs::data::{UserLists, parse_top_tracks};
use botify_train::metrics::{Metrics, evaluate};
use std::path::Path;

/// Metrics of the file at `path` at cut-off `k`, for positives of at least `threshold`. A
/// top-tracks array is scored as every held-out user's list, without what they already heard.
pub fn evaluate_file(l: &Loaded, path: &Path, k: usize, threshold: f32) -> Result<Metrics> {
    if k == 0 {
        return Err(Error::Invalid("k must be at least 1".into()));
    }
    if l.test.listens.is_empty() {
        return Err(Error::Invalid(
            "no held-out listens: metrics need a holdout > 0".into(),
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let positives = l.test.positives(threshold);
    let tracks = l.train.tracks;
    let lists: FastMap<UserId, Vec<TrackId>> = if text.trim_start().starts_with('[') {
        let top = parse_top_tracks(path, &text, tracks)?;
        let heard = l.train.heard();
        positives
            .keys()
            .map(|&u| (u, crate::models::unheard(&top, heard.get(&u))))
            .collect()
    } else {
        UserLists::parse(path, &text, tracks)?
            .iter()
            .map(|(u, list)| (u, list.to_vec()))
            .collect()
    };
    Ok(evaluate(&lists, &positives, k, tracks))
}
