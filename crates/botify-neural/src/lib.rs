//! Neural recommenders trained from Botify's logs (SPEC §4). Tensors and automatic
//! differentiation come from candle (CPU); embedding tables are updated sparsely — only the rows
//! a batch touches — by [`adam::SparseAdam`], since a dense optimiser step over a 50,000-row table
//! per batch would cost more than the whole forward and backward pass.

pub mod adam;
pub mod contextual;
pub mod difm;
pub mod dssm;
pub mod pca;
pub mod tables;

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
