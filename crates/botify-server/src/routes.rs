//! Routes, request validation, the request path of `next`/`last`, hot reload and serving.

use crate::Result;
use crate::metrics::{Endpoint, Metrics};
use crate::store::{EmbeddedStore, RedisStore, Store};
use arc_swap::ArcSwap;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use botify_core::eventlog::{LogSender, LogStatus, LogWriter, Reserve, Rotation, Slot};
use botify_core::events::{Message, Record, write_line};
use botify_core::rng::{Rng, stream};
use botify_core::{Catalog, TrackId, UserId};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::{DataSource, Hosted, RecommenderSpec};
use botify_recs::{Listen, Request};
use rand::Rng as _;
use serde_json::{Value, json};
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Request bodies are two numbers; anything bigger is refused.
pub const MAX_BODY: usize = 1024;

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
    /// The live dashboard to feed (its own server shows it); None: no live analysis.
    pub dashboard: Option<Arc<crate::Dashboard>>,
}

/// Bounds that keep the service fast and its memory finite whatever clients and Redis do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Users the embedded store remembers (least recently used forgotten first).
    pub max_users: usize,
    /// Redis history keys expire this long after their last listen; None: never.
    pub history_ttl: Option<Duration>,
    /// Longest wait for one Redis command before answering without history.
    pub redis_timeout: Duration,
    /// Longest a keep-alive connection may wait, idle, for its next request's first byte.
    pub idle_timeout: Duration,
    /// Longest a request's headers may take to arrive once its first byte has.
    pub header_timeout: Duration,
    /// Longest wait for a request's body once its headers are in.
    pub body_timeout: Duration,
    /// Open connections at most; beyond them a connection is answered 503 and closed at once.
    /// None: the process's file limit minus a reserve for log files and Redis.
    pub max_connections: Option<usize>,
    /// At shutdown, how long requests in flight may take before their connections are closed.
    pub shutdown_grace: Duration,
    /// At shutdown, how long to keep answering normally while `/health` says 503 "draining",
    /// so a load balancer's health check takes the replica out of rotation before it closes.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_users: crate::store::DEFAULT_MAX_USERS,
            history_ttl: Some(Duration::from_secs(7 * 24 * 3600)),
            redis_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: None,
            shutdown_grace: Duration::from_secs(5),
            drain: Duration::ZERO,
        }
    }
}

/// File descriptors kept free of connections: the event log, Redis, data files, the listener.
const FD_RESERVE: usize = 64;

impl Limits {
    /// The connection cap: the configured one, else the soft file limit minus a reserve.
    pub fn connection_cap(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes into the struct we own.
            let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
                lim.rlim_cur as usize
            } else {
                1024
            };
            soft.saturating_sub(FD_RESERVE).clamp(16, 1 << 20)
        })
    }
}

pub struct AppState {
    pub catalog: Arc<Catalog>,
    pub router: ArcSwap<Router>,
    pub store: Store,
    pub metrics: Metrics,
    log: LogSender,
    experiments_path: Option<PathBuf>,
    admin_token: Option<String>,
    last_warning: AtomicU64,
    /// Where recommendation data files are read: local files, or Redis shared by replicas.
    data: DataSource,
    hosted: Hosted,
    limits: Limits,
    /// When the configuration in use was loaded (ms since the epoch).
    loaded_at_ms: AtomicU64,
    pub(crate) log_dir: PathBuf,
    /// Shutting down: `/health` answers 503 while requests are still served (see `Limits::drain`).
    draining: std::sync::atomic::AtomicBool,
}

fn load_config(path: Option<&PathBuf>) -> Result<ExperimentsConfig> {
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

    fn warn_store(&self, op: &str, e: &crate::Error) {
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
    async fn reserve_log(&self) -> std::result::Result<Slot<'_>, ApiError> {
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

    fn send_log(&self, slot: Slot<'_>, line: Vec<u8>) {
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

pub fn router(state: Arc<AppState>) -> axum::Router {
    axum::Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/track/{track}", get(track))
        .route("/next/{user}", post(next))
        .route("/last/{user}", post(last))
        .route("/admin/reload", post(admin_reload))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// What a finished `serve` reports.
#[derive(Debug, Clone)]
pub struct ServeReport {
    /// `next` + `last` requests answered with 2xx.
    pub answered: u64,
    /// Lines the event-log writer wrote.
    pub log_lines: u64,
    /// Lines accepted but not written: the log could not be written until the shutdown grace
    /// ran out (`log_error` says why).
    pub log_lost: u64,
    pub log_error: Option<String>,
}

/// Runs the service on `listener` until `shutdown` completes, then lets requests in flight
/// finish for at most the shutdown grace, closes what is left and flushes the event log (always).
/// SIGHUP reloads the experiments.
pub async fn serve(
    cfg: ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<ServeReport> {
    let log = match &cfg.dashboard {
        // The dashboard reads what the log already holds, then every line as it is written.
        Some(d) => {
            d.seed(&cfg.log_dir)?;
            LogWriter::open_observed(&cfg.log_dir, cfg.rotation, Some(d.log_observer()))?
        }
        None => LogWriter::open(&cfg.log_dir, cfg.rotation)?,
    };
    let state = build_state(&cfg, &log).await?;
    if let Some(d) = &cfg.dashboard {
        d.attach(state.clone());
    }
    let hup = tokio::spawn(reload_on_sighup(state.clone()));
    let drain = cfg.limits.drain;
    let draining = state.clone();
    let shutdown = async move {
        shutdown.await;
        if !drain.is_zero() {
            draining.draining.store(true, Ordering::Relaxed);
            tracing::info!(
                "draining: /health answers 503 for {drain:?}, requests are still served"
            );
            tokio::time::sleep(drain).await;
        }
    };
    accept_loop(
        &listener,
        router(state.clone()),
        &state,
        &cfg.limits,
        shutdown,
    )
    .await;
    hup.abort();
    let _ = hup.await;
    if let Some(d) = &cfg.dashboard {
        d.detach();
    }
    let answered = state.metrics.answered(Endpoint::Next) + state.metrics.answered(Endpoint::Last);
    if let Some(st) = Arc::into_inner(state) {
        drop(st);
    } else {
        tracing::warn!("service state still shared at shutdown");
    }
    // A failing log gets the shutdown grace to recover; what it still cannot write is counted.
    let closed = log.close_report(cfg.limits.shutdown_grace);
    Ok(ServeReport {
        answered,
        log_lines: closed.written,
        log_lost: closed.lost,
        log_error: closed.error,
    })
}

/// Accepts connections up to the cap (beyond it: a 503 and close, at once), serves each through
/// the connection wrapper's timeouts, and at `shutdown` stops accepting, waits up to the grace for connections to
/// finish their requests and aborts the rest.
async fn accept_loop(
    listener: &tokio::net::TcpListener,
    app: axum::Router,
    state: &AppState,
    limits: &Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let cap = limits.connection_cap();
    let permits = Arc::new(tokio::sync::Semaphore::new(cap));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // The connection wrapper times idle waits and headers apart; hyper's own header timer, which
    // starts when it waits for a request, is the backstop of both.
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout + limits.header_timeout)
        .max_buf_size(64 << 10);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => break,
            // Reap finished connection tasks as they end, so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: go on
                    // after a breath rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            state
                .metrics
                .connections_refused
                .fetch_add(1, Ordering::Relaxed);
            refuse(&stream, cap);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let io = TokioIo::new(crate::connection::Connection::new(
            stream,
            limits.idle_timeout,
            limits.header_timeout,
        ));
        let conn = graceful.watch(http.serve_connection(io, service));
        connections.spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    graceful_wait(graceful, limits.shutdown_grace).await;
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Waits for watched connections to close after their current request, at most `grace`.
async fn graceful_wait(graceful: hyper_util::server::graceful::GracefulShutdown, grace: Duration) {
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace of {grace:?} over: closing the connections still open");
    }
}

/// A connection over the cap gets a 503 without waiting on it, and is closed.
fn refuse(stream: &tokio::net::TcpStream, cap: usize) {
    let body = error_body(
        503,
        &format!("too many open connections (limit {cap}); retry later"),
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(head.as_bytes());
}

#[cfg(unix)]
async fn reload_on_sighup(state: Arc<AppState>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        let s = state.clone();
        let _ = tokio::task::spawn_blocking(move || s.reload()).await;
    }
}

#[cfg(not(unix))]
async fn reload_on_sighup(_state: Arc<AppState>) {}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The body of every error answer: `{"error": message, "status": code}`.
pub(crate) fn error_body(status: u16, message: &str) -> String {
    json!({ "error": message, "status": status }).to_string()
}

pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        error_body(status.as_u16(), &message.into()),
    )
        .into_response()
}

/// A rejected request: its status and what was wrong.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.status, self.message)
    }
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn finish(state: &AppState, e: Endpoint, started: Instant, r: Response) -> Response {
    state
        .metrics
        .record(e, r.status().as_u16(), started.elapsed());
    r
}

async fn root(State(s): State<Arc<AppState>>) -> Response {
    let t = Instant::now();
    let r = json_response(
        json!({"status": "alive", "message": "Botify recommendation service is running"})
            .to_string(),
    );
    finish(&s, Endpoint::Root, t, r)
}

/// Readiness for a load balancer: 200 while the replica can answer `next`/`last` — also when
/// degraded (Redis down: answers without history; the event log retrying: lines queue) — and
/// 503 only when it cannot (draining, or the event log refusing lines).
async fn health(State(s): State<Arc<AppState>>) -> Response {
    let t = Instant::now();
    let store_ok = s.store.healthy().await;
    let draining = s.draining.load(Ordering::Relaxed);
    let log = s.log_status();
    let router = s.router.load();
    let (status, code) = if draining {
        ("draining", StatusCode::SERVICE_UNAVAILABLE)
    } else if log.refusing() {
        ("log unavailable", StatusCode::SERVICE_UNAVAILABLE)
    } else if !store_ok || !log.writable {
        ("degraded", StatusCode::OK)
    } else {
        ("ok", StatusCode::OK)
    };
    let body = json!({
        "status": status,
        "tracks": s.catalog.len(),
        "store": s.store.name(),
        "store_ok": store_ok,
        "log": {
            "writable": log.writable,
            "queued": log.queued,
            "capacity": log.capacity,
            "written": log.written,
            "write_errors": log.write_errors,
            "error": log.last_error,
        },
        "experiment": router.route_name(),
        "treatments": router.treatments.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
    });
    let r = (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    finish(&s, Endpoint::Health, t, r)
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let t = Instant::now();
    let router = s.router.load();
    let treatments: Vec<(String, u64)> = router
        .treatments
        .iter()
        .map(|t| (t.name.clone(), t.fallbacks.load(Ordering::Relaxed)))
        .collect();
    let text = s
        .metrics
        .render(router.route_name(), &treatments, &s.log_status());
    let r = ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response();
    finish(&s, Endpoint::Metrics, t, r)
}

/// The path segment, or a JSON 400 when it is not valid UTF-8 once percent-decoded (`%ff`).
fn segment(
    p: std::result::Result<Path<String>, PathRejection>,
    what: &str,
) -> std::result::Result<String, ApiError> {
    p.map(|Path(s)| s).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{what} must be a non-negative integer; the path is not valid: {e}"),
        )
    })
}

async fn track(
    State(s): State<Arc<AppState>>,
    raw: std::result::Result<Path<String>, PathRejection>,
) -> Response {
    let t = Instant::now();
    let raw = match segment(raw, "track") {
        Ok(r) => r,
        Err(e) => return finish(&s, Endpoint::Track, t, e.into_response()),
    };
    let r = match raw.parse::<u64>() {
        Err(_) => error(
            StatusCode::BAD_REQUEST,
            format!("track must be a non-negative integer id, got {raw:?}"),
        ),
        Ok(id) => match u32::try_from(id)
            .ok()
            .and_then(|id| Some((id, s.catalog.record(id)?)))
        {
            Some((id, rec)) => json_response(with_recommendations(rec, &s.router.load(), id)),
            None => error(
                StatusCode::NOT_FOUND,
                format!(
                    "track {id} is not in the catalogue (0..{})",
                    s.catalog.len()
                ),
            ),
        },
    };
    finish(&s, Endpoint::Track, t, r)
}

/// A track's record with the course's `recommendations`: the per-track list of the routing
/// experiment's control recommender when it has one (an item-to-item model), else `[]`.
fn with_recommendations(record: &str, router: &Router, track: TrackId) -> String {
    let list = router
        .treatments
        .first()
        .and_then(|t| t.recommender.track_list(track))
        .unwrap_or(&[]);
    let mut out = record.trim_end().to_string();
    if out.ends_with('}') {
        out.pop();
        let ids: Vec<String> = list.iter().map(u32::to_string).collect();
        let sep = if out.trim_end().ends_with('{') {
            ""
        } else {
            ", "
        };
        out.push_str(&format!("{sep}\"recommendations\": [{}]}}", ids.join(", ")));
    }
    out
}

async fn not_found(State(s): State<Arc<AppState>>, uri: axum::http::Uri) -> Response {
    let t = Instant::now();
    let r = error(
        StatusCode::NOT_FOUND,
        format!(
            "no such endpoint {}: use /, /track/ID, /next/USER, /last/USER, /health, /metrics",
            uri.path()
        ),
    );
    finish(&s, Endpoint::Other, t, r)
}

async fn method_not_allowed(
    State(s): State<Arc<AppState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    let t = Instant::now();
    let allowed = if uri.path().starts_with("/next/")
        || uri.path().starts_with("/last/")
        || uri.path() == "/admin/reload"
    {
        "POST"
    } else {
        "GET"
    };
    let r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}: use {allowed}", uri.path()),
    );
    finish(&s, Endpoint::Other, t, r)
}

async fn admin_reload(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let t = Instant::now();
    let r = reload_with_token(&s, &headers).await;
    finish(&s, Endpoint::Admin, t, r)
}

/// Reloads when the request carries the admin token (the admin endpoint and the dashboard's
/// reload button).
pub(crate) async fn reload_with_token(s: &Arc<AppState>, headers: &HeaderMap) -> Response {
    match &s.admin_token {
        None => error(
            StatusCode::FORBIDDEN,
            "the admin endpoint is disabled: start the service with BOTIFY_ADMIN_TOKEN set",
        ),
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
                error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
            } else {
                let st = s.clone();
                match tokio::task::spawn_blocking(move || st.reload()).await {
                    Ok(Ok(msg)) => {
                        json_response(json!({"status": "ok", "message": msg}).to_string())
                    }
                    Ok(Err(e)) => error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("reload rejected, the running configuration stays: {e}"),
                    ),
                    Err(e) => error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("reload failed: {e}"),
                    ),
                }
            }
        }
    }
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

/// The request's Content-Type, without cloning the whole header map.
struct JsonContentType(Option<axum::http::HeaderValue>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for JsonContentType {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(JsonContentType(
            parts.headers.get(header::CONTENT_TYPE).cloned(),
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn next(
    s: State<Arc<AppState>>,
    user: std::result::Result<Path<String>, PathRejection>,
    headers: JsonContentType,
    body: axum::body::Body,
) -> Response {
    listen_call(s, user, headers, body, Message::Next).await
}

async fn last(
    s: State<Arc<AppState>>,
    user: std::result::Result<Path<String>, PathRejection>,
    headers: JsonContentType,
    body: axum::body::Body,
) -> Response {
    listen_call(s, user, headers, body, Message::Last).await
}

thread_local! {
    static RNG: RefCell<Rng> = RefCell::new(stream(
        now_ms() ^ u64::from(std::process::id()),
        b"service",
        {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            NEXT.fetch_add(1, Ordering::Relaxed)
        },
    ));
}

async fn listen_call(
    State(s): State<Arc<AppState>>,
    raw_user: std::result::Result<Path<String>, PathRejection>,
    headers: JsonContentType,
    body: axum::body::Body,
    message: Message,
) -> Response {
    let started = Instant::now();
    let endpoint = if message == Message::Next {
        Endpoint::Next
    } else {
        Endpoint::Last
    };
    let parsed = match segment(raw_user, "user")
        .and_then(|raw| parse_user(&raw))
        .and_then(|user| check_json(&headers).map(|()| user))
    {
        Ok(user) => read_body(body, s.limits.body_timeout)
            .await
            .and_then(|b| parse_listen(&b, &s.catalog))
            .map(|(track, time)| (user, track, time)),
        Err(e) => Err(e),
    };
    let (user, track, time) = match parsed {
        Ok(v) => v,
        Err(e) => return finish(&s, endpoint, started, e.into_response()),
    };
    let slot = match s.reserve_log().await {
        Ok(slot) => slot,
        Err(e) => return finish(&s, endpoint, started, e.into_response()),
    };
    let router = s.router.load();
    let cap = router.history;
    let treatment = router.treatment(user);
    let recommendation = if message == Message::Next {
        let history = if treatment.recommender.uses_history() {
            match s.store.history(user, cap).await {
                Ok(h) => h,
                Err(e) => {
                    s.warn_store("read", &e);
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let req = Request { user, track, time };
        let n = s.catalog.len() as u32;
        let rec = RNG.with(|r| {
            let rng = &mut *r.borrow_mut();
            treatment
                .recommender
                .recommend(&req, &history, rng)
                .filter(|&t| t < n)
                .unwrap_or_else(|| rng.random_range(0..n))
        });
        Some(rec)
    } else {
        None
    };
    if let Err(e) = s
        .store
        .push(
            user,
            Listen {
                track,
                time,
                rec: recommendation,
            },
            cap,
        )
        .await
    {
        s.warn_store("append", &e);
    }
    let latency = started.elapsed();
    let mut line = Vec::with_capacity(192);
    write_line(
        &mut line,
        &Record {
            message,
            timestamp: now_ms(),
            user,
            track,
            time,
            latency: latency.as_secs_f64(),
            recommendation,
        },
        router.assignments(user),
    );
    s.send_log(slot, line);
    let bucket = botify_core::murmur::treatment_bucket(&treatment.name).unwrap_or(0) as usize;
    s.metrics.record_treatment(bucket, latency);
    let body = match recommendation {
        Some(rec) => format!("{{\"user\": {user}, \"track\": {rec}}}"),
        None => format!("{{\"user\": {user}}}"),
    };
    finish(&s, endpoint, started, json_response(body))
}

fn parse_user(raw: &str) -> std::result::Result<UserId, ApiError> {
    match raw.parse::<u64>() {
        Ok(u) => u32::try_from(u).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("user {u} is out of range (0..={})", u32::MAX),
            )
        }),
        Err(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("user must be a non-negative integer, got {raw:?}"),
        )),
    }
}

/// The request must say its body is JSON: `application/json; charset=utf-8` yes,
/// `application/jsonx` no.
fn check_json(headers: &JsonContentType) -> std::result::Result<(), ApiError> {
    let ct = headers
        .0
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!(
            "Content-Type must be application/json, got {:?}",
            if ct.is_empty() { "nothing" } else { ct }
        ),
    ))
}

/// The body, at most `MAX_BODY` bytes, received within `timeout`: a client that stalls
/// mid-body gets a 408 instead of holding its connection.
async fn read_body(
    body: axum::body::Body,
    timeout: Duration,
) -> std::result::Result<Bytes, ApiError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {timeout:?}"),
        )),
        Ok(Err(e)) => {
            let too_big = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            Err(if too_big {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("request body is larger than {MAX_BODY} bytes"),
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                )
            })
        }
        Ok(Ok(b)) => Ok(b),
    }
}

/// Validates a `{"track": int, "time": float}` body: every problem gets its own message.
fn parse_listen(body: &[u8], catalog: &Catalog) -> std::result::Result<(TrackId, f32), ApiError> {
    // Fast path: a well-formed body parses without allocating; anything else is diagnosed below.
    // Only an object: serde would also read the struct from an array such as `[10, 0.3]`.
    let is_object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if is_object && let Ok(b) = serde_json::from_slice::<Body>(body) {
        return validate(b.track, b.time, catalog);
    }
    let bad = |m: String| Err(ApiError::new(StatusCode::BAD_REQUEST, m));
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return bad(format!(
                "body is not valid JSON ({e}); expected {{\"track\": int, \"time\": float}}"
            ));
        }
    };
    let Value::Object(map) = value else {
        return bad("body must be a JSON object {\"track\": int, \"time\": float}".into());
    };
    if let Some(k) = map.keys().find(|k| *k != "track" && *k != "time") {
        return bad(format!(
            "unknown field {k:?}: the body has exactly \"track\" and \"time\""
        ));
    }
    let track = match map.get("track") {
        None => return bad("missing field \"track\"".into()),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) => t,
            None => {
                return bad(format!(
                    "field \"track\" must be a non-negative integer, got {n}"
                ));
            }
        },
        Some(v) => return bad(format!("field \"track\" must be an integer, got {v}")),
    };
    let time = match map.get("time") {
        None => return bad("missing field \"time\"".into()),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
        Some(v) => return bad(format!("field \"time\" must be a number, got {v}")),
    };
    validate(track, time, catalog)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    track: u64,
    time: f64,
}

fn validate(
    track: u64,
    time: f64,
    catalog: &Catalog,
) -> std::result::Result<(TrackId, f32), ApiError> {
    if !(0.0..=1.0).contains(&time) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("field \"time\" must be in [0, 1], got {time}"),
        ));
    }
    if !catalog.contains(track) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "track {track} is not in the catalogue (0..{})",
                catalog.len()
            ),
        ));
    }
    Ok((track as TrackId, time as f32))
}
