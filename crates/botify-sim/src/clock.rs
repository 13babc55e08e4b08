//! Simulated time: when day 0 starts and how long days and steps are (milliseconds, the log's
//! timestamps).

/// 2026-01-01T00:00:00Z: simulated day 0 starts here.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
pub const DAY_MS: u64 = 86_400_000;
/// Simulated time between two calls of a session.
pub const STEP_MS: u64 = 1_000;
