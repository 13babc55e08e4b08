//! The service's state: configuration, catalogue, routing, store, metrics, the event log's
//! sender, and hot reload.

use crate::Result;
use crate::accept::Limits;
use crate::metrics::Metrics;
use crate::response::{ApiError, now_ms};
use crate::store::{EmbeddedStore, RedisStore, Store};
use arc_swap::ArcSwap;
use axum::http::StatusCode;
use botify_core::Catalog;
use botify_core::eventlog::{LogSender, LogStatus, LogWriter, Reserve, Rotation, Slot};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::{DataSource, Hosted, RecommenderSpec};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What `botify serve` needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub catalog: PathBuf,
    /// Experiments TOML; without it every user gets StickyArtist (experiment `DEFAULT`).
    pub experiments: Option<PathBuf>,
    pub log_dir: PathBuf,
    pub rotation: Rotation,
    /// Shared state (history, data files) in Redis; None: embedded.
    pub redis: Option<crate::store::RedisTarget>,
    /// Bearer token for `POST /admin/reload`; the endpoint is disabled without one.
    pub admin_token: Option<String>,
    pub limits: Limits,
    /// Recommenders the embedding process registered (`{ type = "python", name }` specs).
    pub hosted: Hosted,
    /// A live view to feed (the dashboard, on its own server); None: no live analysis.
    pub dashboard: Option<Arc<dyn LiveView>>,
}

/// What follows a running service from outside the request path (the dashboard): it reads the
/// log the service appends to, sees every batch of lines as it is written (on the log writer's
/// thread), and reads the service's state while it runs.
pub trait LiveView: Send + Sync + std::fmt::Debug {
    /// Called before the log is opened with the directory it will append to.
    fn seed(&self, log_dir: &std::path::Path) -> Result<()>;
    /// Sees every batch of lines the event-log writer writes.
    fn log_observer(self: Arc<Self>) -> botify_core::eventlog::LineObserver;
    /// The service is up.
    fn attach(&self, state: Arc<AppState>);
    /// The service is stopping.
    fn detach(&self);
}

pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub router: ArcSwap<Router>,
    pub store: Store,
    pub metrics: Metrics,
    pub(crate) log: LogSender,
    pub(crate) experiments_path: Option<PathBuf>,
    pub(crate) admin_token: Option<String>,
    pub(crate) last_warning: AtomicU64,
    /// Where recommendation data files are read: local files, or Redis shared by replicas.
    pub(crate) data: DataSource,
    pub(crate) hosted: Hosted,
    pub(crate) limits: Limits,
    /// When the configuration in use was loaded (ms since the epoch).
    pub(crate) loaded_at_ms: AtomicU64,
    /// Where the event log is written.
    pub log_dir: PathBuf,
    /// Shutting down: `/health` answers 503 while requests are still served (see `Limits::drain`).
    pub(crate) draining: std::sync::atomic::AtomicBool,
}

pub(crate) fn load_config(path: Option<&PathBuf>) -> Result<ExperimentsConfig> {
    Ok(match path {
        Some(p) => ExperimentsConfig::load(p)?,
        None => {
            ExperimentsConfig::single("DEFAULT", RecommenderSpec::StickyArtist { fallback: None })
        }
    })
}

impl AppState {
    /// Re-reads the experiments file and every data file it names, then swaps the routing in
    /// atomically: requests in flight finish on the old configuration, none is dropped. On error
    /// the old configuration stays.
    pub fn reload(&self) -> Result<String> {
        let fallbacks_before = self.metrics.data_local_fallbacks.load(Ordering::Relaxed);
        let result = load_config(self.experiments_path.as_ref()).and_then(|cfg| {
            Ok(Router::build_with(
                cfg,
                self.catalog.clone(),
                self.data.clone(),
                &self.hosted,
            )?)
        });
        match result {
            Ok(r) => {
                let local =
                    self.metrics.data_local_fallbacks.load(Ordering::Relaxed) - fallbacks_before;
                let msg = format!(
                    "reloaded: experiment {} with {} treatments{}",
                    r.route_name(),
                    r.treatments.len(),
                    if local > 0 {
                        format!(
                            "; Redis was unreachable, {local} data files were read from local files"
                        )
                    } else {
                        String::new()
                    }
                );
                let old = self.router.load();
                let arms = |r: &Router| {
                    let names: Vec<&str> = r.treatments.iter().map(|t| t.name.as_str()).collect();
                    (r.route_name().to_string(), names.join(","))
                };
                if arms(&old) != arms(&r) {
                    self.metrics.reset_treatments();
                }
                self.router.store(Arc::new(r));
                self.loaded_at_ms.store(now_ms(), Ordering::Relaxed);
                self.metrics.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!("{msg}");
                Ok(msg)
            }
            Err(e) => {
                self.metrics.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!("reload rejected, keeping the running configuration: {e}");
                Err(e)
            }
        }
    }

    pub(crate) fn warn_store(&self, op: &str, e: &crate::Error) {
        self.metrics.store_errors.fetch_add(1, Ordering::Relaxed);
        let now = now_ms() / 1000;
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + 5
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!("state store {op} failed, answering without history: {e}");
        }
    }

    /// A place in the event log's queue for this request's line, taken before anything is
    /// recommended or stored: while the writer writes, a full queue means wait (back-pressure);
    /// when it cannot write and its queue is full the request is refused with a 503, so no
    /// request is answered unless its line will reach the log.
    pub(crate) async fn reserve_log(&self) -> std::result::Result<Slot<'_>, ApiError> {
        loop {
            match self.log.try_reserve() {
                Reserve::Slot(slot) => return Ok(slot),
                Reserve::Full => tokio::time::sleep(Duration::from_millis(1)).await,
                Reserve::Unavailable(e) => {
                    self.metrics.log_refused.fetch_add(1, Ordering::Relaxed);
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!("event log unavailable, the request was not served: {e}"),
                    ));
                }
            }
        }
    }

    pub(crate) fn send_log(&self, slot: Slot<'_>, line: Vec<u8>) {
        self.metrics.log_lines.fetch_add(1, Ordering::Relaxed);
        slot.send(line);
    }

    /// The event log's writer: writable, queue, lines written, errors.
    pub fn log_status(&self) -> LogStatus {
        self.log.status()
    }
}

/// Loads the catalogue and experiments and connects the store.
pub async fn build_state(cfg: &ServerConfig, log: &LogWriter) -> Result<Arc<AppState>> {
    let catalog = Arc::new(Catalog::load(&cfg.catalog)?);
    let experiments = load_config(cfg.experiments.as_ref())?;
    let metrics = Metrics::default();
    let data = match &cfg.redis {
        Some(target) => {
            crate::store::redis_data_source(target, metrics.data_local_fallbacks.clone())?
        }
        None => botify_recs::spec::files(),
    };
    // Reading data may block on Redis: keep it off the async workers.
    let router = tokio::task::block_in_place(|| {
        Router::build_with(experiments, catalog.clone(), data.clone(), &cfg.hosted)
    })?;
    let store = match &cfg.redis {
        Some(target) => Store::Redis(
            RedisStore::connect(target, &cfg.limits, metrics.store_skipped.clone()).await?,
        ),
        None => Store::Embedded(EmbeddedStore::new(
            cfg.limits.max_users,
            cfg.limits.max_history_bytes,
            metrics.evictions.clone(),
        )),
    };
    Ok(Arc::new(AppState {
        catalog,
        router: ArcSwap::from_pointee(router),
        store,
        metrics,
        log: log.sender(),
        experiments_path: cfg.experiments.clone(),
        admin_token: cfg.admin_token.clone(),
        last_warning: AtomicU64::new(0),
        data,
        hosted: cfg.hosted.clone(),
        limits: cfg.limits.clone(),
        loaded_at_ms: AtomicU64::new(now_ms()),
        log_dir: cfg.log_dir.clone(),
        draining: std::sync::atomic::AtomicBool::new(false),
    }))
}

impl AppState {
    /// When the configuration in use was loaded, ms since the epoch.
    pub fn loaded_at_ms(&self) -> u64 {
        self.loaded_at_ms.load(Ordering::Relaxed)
    }

    pub fn admin_enabled(&self) -> bool {
        self.admin_token.is_some()
    }

    /// Lines the event-log writer has written to the file.
    pub fn log_flushed(&self) -> u64 {
        self.log.status().written
    }
}
