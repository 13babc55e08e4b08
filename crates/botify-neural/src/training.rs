//! The one training loop of the neural models: epochs of shuffled batches, a validation score
//! after each, early stopping that keeps the best epoch's weights. Each model brings its step,
//! its snapshot and what it measures after an epoch; the loop is the same for all.

use crate::Result;
use rand::Rng;

/// What every neural model's parameters say about its training, in one struct (the models keep
/// their fields flat in plan files; [`crate::contextual::Params::schedule`] and its siblings
/// give this view).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub epochs: usize,
    /// Examples per batch.
    pub batch: usize,
    /// Epochs without a better validation score before stopping.
    pub patience: usize,
    /// Smaller batches are skipped (in-batch negatives need at least two examples).
    pub min_batch: usize,
}

/// A model the loop can train.
pub(crate) trait Trainable {
    type Example;
    type Snapshot;
    /// One optimisation step on `batch`; returns its mean loss.
    fn train_step(&mut self, batch: &[Self::Example]) -> Result<f64>;
    /// A copy of the weights, taken at a new best epoch.
    fn snapshot(&self) -> Self::Snapshot;
    fn restore(&mut self, s: Self::Snapshot);
}

/// Trains `model` on `train` for `s.epochs` epochs, shuffled by `rng`. After each epoch
/// `after_epoch(model, epoch, mean training loss)` validates and reports, returning a score
/// (higher is better; NaN when there is nothing to judge). Stops after `s.patience` epochs
/// without a better score and leaves the best epoch's weights in `model`.
pub(crate) fn run<M: Trainable>(
    model: &mut M,
    train: &mut [M::Example],
    s: &Schedule,
    rng: &mut impl Rng,
    mut after_epoch: impl FnMut(&mut M, usize, f64) -> Result<f64>,
) -> Result<()> {
    let mut stopping = crate::EarlyStopping::new(s.patience);
    for epoch in 0..s.epochs {
        crate::shuffle(train, rng);
        let (mut total, mut n) = (0.0, 0usize);
        for batch in train.chunks(s.batch).filter(|b| b.len() >= s.min_batch) {
            total += model.train_step(batch)? * batch.len() as f64;
            n += batch.len();
        }
        let score = after_epoch(model, epoch, total / n.max(1) as f64)?;
        if stopping.observe(score, || model.snapshot()) {
            break;
        }
    }
    if let Some(best) = stopping.best() {
        model.restore(best);
    }
    Ok(())
}
