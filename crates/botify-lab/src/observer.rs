//! How a long call tells its caller what it is doing, without printing.

/// One step (epoch, iteration) of a model's training, as it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// The model's registry name (`mf`, `contextual`, …).
    pub model: String,
    /// `epoch` or `iteration`.
    pub step: &'static str,
    /// 1-based.
    pub index: usize,
    pub total: usize,
    /// NaN where the model has no such value (ALS has no loss).
    pub train_loss: f64,
    pub validation_loss: f64,
    /// The metric's name, e.g. `precision@10`, and its held-out value (NaN without a holdout).
    pub metric: String,
    pub value: f64,
    /// The metric on training data where the model measures it (DIFM's AUC), else NaN.
    pub train_value: f64,
    /// Seconds the step's training took (its evaluation excluded).
    pub seconds: f64,
}

/// Receives a run's progress. Every method has an empty default, so an observer implements only
/// what it shows. Methods take `&self` and the observer is `Sync`: simulated days report from
/// many threads.
pub trait Observer: Sync {
    /// A stage begins (`world`, `train`, `A/B day 1`, …).
    fn stage(&self, _name: &str) {}
    /// The stage ended after `seconds`.
    fn stage_done(&self, _name: &str, _seconds: f64) {}
    /// A line worth showing (counts, file names, chosen parameters).
    fn note(&self, _text: &str) {}
    /// Work of `total` units begins (episodes, epochs, trials).
    fn start(&self, _label: &str, _total: u64) {}
    /// `n` more units are done.
    fn advance(&self, _n: u64) {}
    /// The work begun by `start` is over.
    fn finish(&self) {}
    /// A training step ended.
    fn epoch(&self, _e: &EpochReport) {}
}

/// Shows nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// Tells two observers everything (the terminal and the dashboard).
pub struct Both<'a>(pub &'a dyn Observer, pub &'a dyn Observer);

impl Observer for Both<'_> {
    fn stage(&self, name: &str) {
        self.0.stage(name);
        self.1.stage(name);
    }
    fn stage_done(&self, name: &str, seconds: f64) {
        self.0.stage_done(name, seconds);
        self.1.stage_done(name, seconds);
    }
    fn note(&self, text: &str) {
        self.0.note(text);
        self.1.note(text);
    }
    fn start(&self, label: &str, total: u64) {
        self.0.start(label, total);
        self.1.start(label, total);
    }
    fn advance(&self, n: u64) {
        self.0.advance(n);
        self.1.advance(n);
    }
    fn finish(&self) {
        self.0.finish();
        self.1.finish();
    }
    fn epoch(&self, e: &EpochReport) {
        self.0.epoch(e);
        self.1.epoch(e);
    }
}
