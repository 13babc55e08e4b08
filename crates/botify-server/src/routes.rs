//! The endpoints: the course's (`/`, `/track/{id}`, `/next/{user}`, `/last/{user}`), `/health`,
//! `/metrics` and the admin reload, the request path of `next`/`last`, and `serve`.

use crate::Result;
use crate::accept::serve_connections;
use crate::metrics::Endpoint;
use crate::request::*;
use crate::response::*;
use crate::state::{AppState, ServerConfig, build_state};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use botify_core::TrackId;
use botify_core::eventlog::LogWriter;
use botify_core::events::{Message, write_line};
use botify_core::rng::{Rng, stream};
use botify_recs::Request;
use botify_recs::experiments::Router;
use serde_json::json;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

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

/// A request being handled: in `botify_requests_in_flight` from its start until dropped (also
/// when the client goes away mid-request and its future is dropped), and timed from its start.
struct Handling {
    state: Arc<AppState>,
    started: Instant,
}

impl Handling {
    fn start(state: &Arc<AppState>) -> Handling {
        state.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        Handling {
            state: state.clone(),
            started: Instant::now(),
        }
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.state.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
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
            LogWriter::open_observed(&cfg.log_dir, cfg.rotation, Some(d.clone().log_observer()))?
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
    // A dashboard's connections come out of the same file descriptors: its budget is taken off
    // the service's default cap, so idle sockets on the dashboard can never starve the service.
    let mut limits = cfg.limits.clone();
    if cfg.dashboard.is_some() && limits.max_connections.is_none() {
        limits.max_connections = Some(
            limits
                .connection_cap()
                .saturating_sub(crate::accept::DASHBOARD_CONNECTIONS)
                .max(16),
        );
    }
    serve_connections(
        &listener,
        router(state.clone()),
        &limits,
        &state.metrics.connections_refused,
        state.metrics.connections_open.clone(),
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

/// Resolves at Ctrl-C or SIGTERM (what a process manager sends): the `shutdown` future a
/// standalone service passes to [`serve`].
pub async fn terminate_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down: finishing requests in flight and flushing the event log");
}

fn finish(state: &AppState, e: Endpoint, started: Instant, r: Response) -> Response {
    state
        .metrics
        .record(e, r.status().as_u16(), started.elapsed());
    r
}

async fn root(State(s): State<Arc<AppState>>) -> Response {
    let handling = Handling::start(&s);
    let t = handling.started;
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
    let handling = Handling::start(&s);
    let t = handling.started;
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
    let handling = Handling::start(&s);
    let t = handling.started;
    let router = s.router.load();
    let treatments: Vec<(String, u64)> = router
        .treatments
        .iter()
        .map(|t| (t.name.clone(), t.fallbacks.load(Ordering::Relaxed)))
        .collect();
    let gauges = crate::metrics::StateGauges {
        history: match &s.store {
            crate::store::Store::Embedded(e) => Some((e.users(), e.bytes())),
            crate::store::Store::Redis(_) => None,
        },
    };
    let text = s
        .metrics
        .render(router.route_name(), &treatments, &s.log_status(), gauges);
    let r = ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response();
    finish(&s, Endpoint::Metrics, t, r)
}

async fn track(
    State(s): State<Arc<AppState>>,
    raw: std::result::Result<Path<String>, PathRejection>,
) -> Response {
    let handling = Handling::start(&s);
    let t = handling.started;
    let raw = match segment(raw, "track") {
        Ok(r) => r,
        Err(e) => return finish(&s, Endpoint::Track, t, e.into_response()),
    };
    let r = match raw.parse::<u64>() {
        Err(_) => json_error(
            StatusCode::BAD_REQUEST,
            format!("track must be a non-negative integer id, got {raw:?}"),
        ),
        Ok(id) => match u32::try_from(id)
            .ok()
            .and_then(|id| Some((id, s.catalog.record(id)?)))
        {
            Some((id, rec)) => json_response(with_recommendations(rec, &s.router.load(), id)),
            None => json_error(
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
    let handling = Handling::start(&s);
    let t = handling.started;
    let r = json_error(
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
    let handling = Handling::start(&s);
    let t = handling.started;
    let allowed = if uri.path().starts_with("/next/")
        || uri.path().starts_with("/last/")
        || uri.path() == "/admin/reload"
    {
        "POST"
    } else {
        "GET"
    };
    let r = wrong_method(&method, uri.path(), allowed);
    finish(&s, Endpoint::Other, t, r)
}

async fn admin_reload(State(s): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let handling = Handling::start(&s);
    let t = handling.started;
    let r = reload_with_token(&s, &headers).await;
    finish(&s, Endpoint::Admin, t, r)
}

/// Reloads when the request carries the admin token (the admin endpoint and the dashboard's
/// reload button).
pub async fn reload_with_token(s: &Arc<AppState>, headers: &HeaderMap) -> Response {
    match &s.admin_token {
        None => json_error(
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
                json_error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
            } else {
                let st = s.clone();
                match tokio::task::spawn_blocking(move || st.reload()).await {
                    Ok(Ok(msg)) => {
                        json_response(json!({"status": "ok", "message": msg}).to_string())
                    }
                    Ok(Err(e)) => json_error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!("reload rejected, the running configuration stays: {e}"),
                    ),
                    Err(e) => json_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("reload failed: {e}"),
                    ),
                }
            }
        }
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
    let handling = Handling::start(&s);
    let started = handling.started;
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
    let request = Request { user, track, time };
    let history = if message == Message::Next && treatment.recommender.uses_history() {
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
    let n = s.catalog.len() as u32;
    let answer = |rng: &mut Rng| treatment.answer(message, request, &history, rng, n);
    let answer = if message == Message::Next && treatment.recommender.may_block() {
        // A recommender that may wait (Python, for the interpreter's lock) gives up this worker
        // thread first, so the other treatments' requests on it are served meanwhile.
        tokio::task::block_in_place(|| RNG.with(|r| answer(&mut r.borrow_mut())))
    } else {
        RNG.with(|r| answer(&mut r.borrow_mut()))
    };
    if let Err(e) = s.store.push(user, answer.listen(), cap).await {
        s.warn_store("append", &e);
    }
    let latency = started.elapsed();
    let mut line = Vec::with_capacity(192);
    write_line(
        &mut line,
        &answer.record(now_ms(), latency.as_secs_f64()),
        router.assignments(user),
    );
    s.send_log(slot, line);
    let bucket = botify_core::murmur::treatment_bucket(&treatment.name).unwrap_or(0) as usize;
    s.metrics.record_treatment(bucket, latency);
    let body = match answer.recommendation {
        Some(rec) => format!("{{\"user\": {user}, \"track\": {rec}}}"),
        None => format!("{{\"user\": {user}}}"),
    };
    finish(&s, endpoint, started, json_response(body))
}
