//! The Botify service (SPEC §3): the course's endpoints (`/`, `/track/{id}`, `/next/{user}`,
//! `/last/{user}`) plus `/health`, Prometheus `/metrics` and an admin reload, with A/B routing by
//! the course's murmur3 rule, an event log written off the request path, and per-user history in
//! an embedded store or Redis; a live dashboard on a port of its own.

mod connection;
pub mod dashboard;
pub mod metrics;
mod routes;
pub mod store;

pub use dashboard::{Dashboard, DashboardServer, EpochPoint};
pub use routes::{AppState, Limits, ServeReport, ServerConfig, build_state, router, serve};
pub use store::RedisTarget;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] botify_core::Error),
    #[error(transparent)]
    Recs(#[from] botify_recs::Error),
    #[error("redis: {0}")]
    Redis(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
}
pub type Result<T, E = Error> = std::result::Result<T, E>;
