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

impl Schedule {
    /// Every batch counts (`min_batch` 1).
    pub fn new(epochs: usize, batch: usize, patience: usize) -> Schedule {
        Schedule {
            epochs,
            batch,
            patience,
            min_batch: 1,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::rng::stream;

    /// Counts its steps; its "weights" are the number of epochs run.
    struct Toy {
        epochs: usize,
        steps: usize,
        batches: Vec<usize>,
    }

    impl Trainable for Toy {
        type Example = u32;
        type Snapshot = usize;
        fn train_step(&mut self, batch: &[u32]) -> Result<f64> {
            self.steps += 1;
            self.batches.push(batch.len());
            Ok(1.0)
        }
        fn snapshot(&self) -> usize {
            self.epochs
        }
        fn restore(&mut self, s: usize) {
            self.epochs = s;
        }
    }

    #[test]
    fn stops_after_patience_and_keeps_the_best_epoch() {
        let scores = [1.0, 3.0, 2.0, 2.5, 9.0];
        let mut toy = Toy {
            epochs: 0,
            steps: 0,
            batches: Vec::new(),
        };
        let mut data: Vec<u32> = (0..10).collect();
        let s = Schedule {
            min_batch: 2,
            ..Schedule::new(5, 4, 2)
        };
        let mut seen = Vec::new();
        run(
            &mut toy,
            &mut data,
            &s,
            &mut stream(1, b"t", 0),
            |m, epoch, loss| {
                m.epochs = epoch + 1;
                seen.push((epoch, loss));
                Ok(scores[epoch])
            },
        )
        .unwrap();
        // Best at epoch 2 (score 3); two epochs without better, then stop before epoch 5.
        assert_eq!(seen.len(), 4);
        assert_eq!(toy.epochs, 2);
        // Batches of 4, 4 and 2 (the last kept: min_batch 2), every epoch.
        assert_eq!(toy.batches[..3], [4, 4, 2]);
        assert_eq!(toy.steps, 12);
        // The data is a permutation of what it was.
        data.sort_unstable();
        assert_eq!(data, (0..10).collect::<Vec<_>>());
    }
}
