//! Event logs as training data: read, checked against the catalogue, split into training and
//! held-out listens by time.

use crate::{Error, Result};
use botify_core::Catalog;
use botify_core::events::{ReadStats, read_events};
use botify_train::dataset::{Dataset, Split};
use std::path::{Path, PathBuf};

/// The share of listens `botify train` and `botify eval` hold out by default.
pub const DEFAULT_HOLDOUT: f64 = 0.2;

/// Logs read for training.
pub struct Loaded {
    pub catalog: Option<Catalog>,
    pub train: Dataset,
    /// The last `holdout` share of listens by time (empty without a holdout).
    pub test: Dataset,
    pub stats: ReadStats,
}

impl Loaded {
    /// What was read, for people: a line on skipped malformed lines (if any), then the counts.
    pub fn summary(&self, seconds: f64) -> Vec<String> {
        let s = &self.stats;
        let skipped = (s.skipped > 0).then(|| {
            let example = s.skipped_examples.first().cloned().unwrap_or_default();
            format!("skipped {} malformed log lines, e.g. {example}", s.skipped)
        });
        let read = format!(
            "read {} events from {} files in {seconds:.2}s: {} train / {} held-out listens",
            s.events,
            s.files,
            self.train.listens.len(),
            self.test.listens.len()
        );
        skipped.into_iter().chain([read]).collect()
    }
}

/// Reads the logs under `paths` (files or directories, rotated files included), checks track
/// ids against the catalogue when given (else the largest id seen sets the track count) and
/// holds out the last `holdout` share of listens by time.
pub fn load(paths: &[PathBuf], catalog: Option<&Path>, holdout: f64, seed: u64) -> Result<Loaded> {
    if !(0.0..1.0).contains(&holdout) {
        return Err(Error::Invalid(format!(
            "holdout {holdout} is not in [0, 1)"
        )));
    }
    let (events, stats) = read_events(paths)?;
    if events.is_empty() {
        let why = match stats.skipped_examples.first() {
            Some(e) => format!(" (skipped {} malformed lines, e.g. {e})", stats.skipped),
            None => String::new(),
        };
        return Err(Error::Invalid(format!(
            "the logs hold no events to train on{why}"
        )));
    }
    let catalog = catalog.map(Catalog::load).transpose()?;
    let tracks = match &catalog {
        Some(c) => c.len(),
        None => events
            .iter()
            .map(|e| e.track as usize + 1)
            .max()
            .unwrap_or(0),
    };
    let d = Dataset::from_events(events, tracks)?;
    let (train, test) = d.split(Split::Time, holdout, seed);
    Ok(Loaded {
        catalog,
        train,
        test,
        stats,
    })
}
