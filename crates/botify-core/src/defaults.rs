//! Defaults the whole platform shares, written once: every crate, flag, plan field and Python
//! keyword that has one of these defaults names the constant instead of repeating the number.

/// The seed of everything random when none is given: worlds, simulations, training.
pub const SEED: u64 = 31337;

/// A listen at least this long counts as liked: the positives of the trained models and the
/// "liked" rule of the session policies (the course's LightFM positives were time > 0.7).
pub const LIKED: f32 = 0.7;

/// Recommendations per session at most: a perfect recommender could go on forever.
pub const MAX_STEPS: u32 = 1_000;

/// Sessions a simulated day has when none is given (`botify sim`, `botify.simulate`).
pub const SESSIONS: usize = 20_000;
