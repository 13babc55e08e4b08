//! Offline metrics of recommendation files on the held-out part of the logs — the same split and
//! metrics the trainers report: per-user lists and a top-tracks array on each user's held-out
//! positives, per-track lists on held-out next tracks (each (track, liked next track) pair a
//! query with one positive; recall is the next-track hit rate).

use crate::logs::Loaded;
use crate::{Error, Result};
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use botify_recs::data::{TrackLists, UserLists, parse_top_tracks};
use botify_train::metrics::{Metrics, evaluate, evaluate_next};
use std::path::Path;

/// What every file is scored against, computed once: the held-out positives and what each user
/// heard in training (a top-tracks array leaves it out of the user's list).
pub struct Holdout {
    positives: FastMap<UserId, Vec<TrackId>>,
    heard: FastMap<UserId, Vec<TrackId>>,
    next: Vec<(TrackId, TrackId)>,
    tracks: usize,
}

impl Holdout {
    /// The held-out positives of `l` (listens of at least `threshold`).
    pub fn new(l: &Loaded, threshold: f32) -> Result<Holdout> {
        if l.test.listens.is_empty() {
            return Err(Error::Invalid(
                "no held-out listens: metrics need a holdout > 0".into(),
            ));
        }
        Ok(Holdout {
            positives: l.test.positives(threshold),
            heard: l.train.heard(),
            next: l.test.next_liked_pairs(threshold, usize::MAX),
            tracks: l.train.tracks,
        })
    }

    /// The metrics of every file at cut-off `k` as a table, with a line on what a query is.
    pub fn table(&self, files: &[std::path::PathBuf], k: usize) -> Result<String> {
        let mut out = format!(
            "{:<40} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            "recommendations",
            "queries",
            format!("P@{k}"),
            format!("R@{k}"),
            "MRR",
            format!("NDCG@{k}"),
            "coverage"
        );
        for f in files {
            let m = self.evaluate_file(f, k)?;
            out.push_str(&format!(
                "{:<40} {:>8} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.3}\n",
                f.display().to_string(),
                m.users,
                m.precision,
                m.recall,
                m.mrr,
                m.ndcg,
                m.coverage
            ));
        }
        out.push_str(&format!(
            "queries: held-out users with a liked listen; for per-track lists, held-out (track, liked next track) pairs, so R@{k} is the next-track hit rate\n"
        ));
        Ok(out)
    }

    /// Metrics of the file at `path` at cut-off `k`. A top-tracks array is scored as every
    /// held-out user's list, without what they already heard.
    pub fn evaluate_file(&self, path: &Path, k: usize) -> Result<Metrics> {
        if k == 0 {
            return Err(Error::Invalid("k must be at least 1".into()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let lists: FastMap<UserId, Vec<TrackId>> = if text.trim_start().starts_with('[') {
            let top = parse_top_tracks(path, &text, self.tracks)?;
            self.positives
                .keys()
                .map(|&u| (u, unheard(&top, self.heard.get(&u))))
                .collect()
        } else if per_track(&text) {
            let lists = TrackLists::parse(path, &text, self.tracks)?;
            return Ok(evaluate_next(
                &self.next,
                |t| lists.get(t).map(<[TrackId]>::to_vec),
                k,
                self.tracks,
            ));
        } else {
            UserLists::parse(path, &text, self.tracks)?
                .iter()
                .map(|(u, list)| (u, list.to_vec()))
                .collect()
        };
        Ok(evaluate(&lists, &self.positives, k, self.tracks))
    }
}

/// Whether a JSON-lines file holds per-track lists (its first record has a `track` field).
pub(crate) fn per_track(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .is_some_and(|v| v.get("track").is_some())
}

/// `top` without what the user already heard: a top-tracks list as one user's list.
pub fn unheard(top: &[TrackId], heard: Option<&Vec<TrackId>>) -> Vec<TrackId> {
    top.iter()
        .copied()
        .filter(|t| heard.is_none_or(|h| !h.contains(t)))
        .collect()
}
