//! The Botify service: the course's endpoints (`/`, `/track/{id}`, `/next/{user}`,
//! `/last/{user}`) plus `/health`, Prometheus `/metrics` and an admin reload, with A/B routing by
//! the course's murmur3 rule, an event log written off the request path, and per-user history in
//! an embedded store or Redis. A live view (the dashboard crate) follows it through [`LiveView`].

mod accept;
mod connection;
pub mod metrics;
mod process;
mod request;
mod response;
mod routes;
mod state;
pub mod store;

pub use accept::{DASHBOARD_CONNECTIONS, Limits, serve_connections};
pub use response::{json_error, now_ms, wrong_method};
pub use routes::{ServeReport, reload_with_token, router, serve, terminate_signal};
pub use state::{AppState, LiveView, ServerConfig, build_state};
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
