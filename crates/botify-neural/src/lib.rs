//! Neural recommenders trained from Botify's logs. Tensors and automatic
//! differentiation come from candle (CPU); embedding tables are updated sparsely — only the rows
//! a batch touches — by [`adam::SparseAdam`], since a dense optimiser step over a 50,000-row table
//! per batch would cost more than the whole forward and backward pass.

pub mod adam;
pub mod contextual;
pub mod difm;
pub mod dssm;
mod model_file;
pub mod pca;
pub mod sasrec;
pub mod tables;
pub mod training;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] botify_core::Error),
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("{0}")]
    Invalid(String),
}
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every declared parameter against its rule (see `botify_core::params`).
pub(crate) fn check_params<P: botify_core::params::Schema>(p: &P) -> Result<()> {
    p.check().map_err(Error::Invalid)
}

/// The gradient `grads` holds for `v`, flattened (zeros if the loss does not depend on it).
pub(crate) fn gradient(
    grads: &candle_core::backprop::GradStore,
    v: &candle_core::Var,
) -> Result<Vec<f32>> {
    Ok(match grads.get(v.as_tensor()) {
        Some(g) => g.flatten_all()?.to_vec1()?,
        None => vec![0.0; v.elem_count()],
    })
}

/// Splits `items` into (train, held out): each is held out with probability `share`, drawn from
/// `rng` in order, so a seed gives the same split.
pub(crate) fn split_validation<T>(
    items: impl IntoIterator<Item = T>,
    share: f64,
    rng: &mut impl rand::Rng,
) -> (Vec<T>, Vec<T>) {
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for x in items {
        if rng.random::<f64>() < share {
            held.push(x);
        } else {
            train.push(x);
        }
    }
    (train, held)
}

/// Each epoch's batch order (rand's Fisher–Yates).
pub(crate) fn shuffle<T>(v: &mut [T], rng: &mut impl rand::Rng) {
    rand::seq::SliceRandom::shuffle(v, rng);
}

/// Early stopping on a validation score (higher is better): keeps the best epoch's state and
/// says when `patience` epochs have passed without a better one.
pub(crate) struct EarlyStopping<S> {
    patience: usize,
    best: Option<(f64, S)>,
    since_best: usize,
}

impl<S> EarlyStopping<S> {
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            patience,
            best: None,
            since_best: 0,
        }
    }

    /// Records an epoch's `score` (NaN: no validation data, nothing to judge); `state` is taken
    /// only for a new best. Returns whether to stop.
    pub fn observe(&mut self, score: f64, state: impl FnOnce() -> S) -> bool {
        if score.is_nan() {
            return false;
        }
        if self.best.as_ref().is_none_or(|b| score > b.0) {
            self.best = Some((score, state()));
            self.since_best = 0;
            false
        } else {
            self.since_best += 1;
            self.since_best >= self.patience
        }
    }

    /// The best epoch's state, if any epoch was scored.
    pub fn best(self) -> Option<S> {
        self.best.map(|b| b.1)
    }
}
