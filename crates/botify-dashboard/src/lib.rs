//! The live dashboard: a page and a JSON API on their own port that watch a running service —
//! rates and latency from its counters sampled every second, the routing experiment analysed
//! from its event log as lines are written (the same per-user fold and statistics as
//! `botify ab`), its configuration with a reload button — and, during `botify experiment run`,
//! the run's stages, progress, training curves and final report.
//!
//! Nothing here is on the request path: counters are read by a sampler, and log lines are
//! folded on the event-log writer's thread.

use arc_swap::ArcSwapOption;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use botify_ab::report::{AbOptions, analyse_users};
use botify_ab::sessions::LiveLog;
use botify_core::eventlog::LineObserver;
use botify_lab::observer::{EpochReport, Observer};
use botify_server::metrics::{HistogramCounts, MetricsSnapshot};
use botify_server::{
    AppState, Error, LiveView, Result, json_error as error, now_ms, reload_with_token,
};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The mixing scale of the experiment's always-valid intervals (effects of about 10%), the
/// default of `botify ab --sequential`.
pub const SEQUENTIAL_TAU: f64 = 0.1;
/// Seconds of samples kept (charts show the last two minutes).
const SAMPLES: usize = 600;
const SERIES: usize = 120;
/// Latency percentiles and error rates are over this window.
const WINDOW_MS: u64 = 10_000;
const NOTES: usize = 40;

const PAGE: &str = include_str!("dashboard.html");

/// Counters at one moment.
struct Sample {
    t_ms: u64,
    metrics: MetricsSnapshot,
    /// Fallbacks taken, by treatment of the routing experiment.
    fallbacks: Vec<u64>,
}

/// A training step, as the dashboard draws it.
#[derive(Debug, Clone, Serialize)]
pub struct EpochPoint {
    pub model: String,
    /// The model's training round in this run (1 for its first training, 2 after the next
    /// collection day…): set by the dashboard as the points arrive.
    pub round: usize,
    pub step: String,
    pub index: usize,
    pub total: usize,
    pub train_loss: Option<f64>,
    pub validation_loss: Option<f64>,
    pub metric: String,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct Stage {
    name: String,
    started_ms: u64,
    seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct Progress {
    label: String,
    done: u64,
    total: u64,
}

/// What a `botify experiment run` has done so far.
#[derive(Debug, Clone, Default, Serialize)]
struct RunStatus {
    name: Option<String>,
    stages: Vec<Stage>,
    notes: VecDeque<String>,
    progress: Option<Progress>,
    epochs: Vec<EpochPoint>,
    /// `/report` once the run's report is written.
    report: Option<String>,
    finished: bool,
    error: Option<String>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("attached", &self.service.load().is_some())
            .finish_non_exhaustive()
    }
}

/// The state behind the page: attach a service with [`ServerConfig::dashboard`]
/// (botify_server::ServerConfig), serve it with [`DashboardServer`].
#[derive(Default)]
pub struct Dashboard {
    service: ArcSwapOption<AppState>,
    /// The routing experiment of the service attached last (kept once it stops).
    routing: Mutex<Option<String>>,
    live: Mutex<LiveLog>,
    samples: Mutex<VecDeque<Sample>>,
    run: Mutex<RunStatus>,
    report_file: Mutex<Option<PathBuf>>,
    /// The last experiment analysis.
    analysis: Mutex<Option<Analysis>>,
    /// Held while an analysis is computed: pollers wait for it and share its result instead of
    /// each copying the accumulators under the lock the log writer needs.
    analysing: Mutex<()>,
    /// Per experiment, what each treatment serves (`T1` → `session_taste(…), then …`), from
    /// every configuration the service ran: arms keep their names once it stops.
    labels: Mutex<HashMap<String, BTreeMap<String, String>>>,
    /// The routing configuration `labels` last read: a reload swaps it. Weak: it does not keep
    /// the old recommenders' data alive, but its address cannot be reused while held.
    labelled: Mutex<std::sync::Weak<botify_recs::experiments::Router>>,
}

/// An experiment's analysis as JSON, with the log lines it covers and when it was made.
struct Analysis {
    experiment: String,
    lines: u64,
    at: std::time::Instant,
    json: Arc<String>,
}

/// While traffic flows an analysis is reused for this long: however many clients poll, the log
/// writer's lock is taken for one copy of the accumulators a second at most.
const ANALYSIS_TTL: Duration = Duration::from_secs(1);

/// A poisoned lock only means a panic elsewhere; the data is still the best we have.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn ms(seconds: Option<f64>) -> Option<f64> {
    seconds.map(|s| s * 1000.0)
}

impl Dashboard {
    pub fn new() -> Arc<Dashboard> {
        Arc::new(Dashboard::default())
    }

    /// Reads the attached service's counters (the sampler calls this every second).
    pub fn sample(&self) {
        let Some(s) = self.service.load_full() else {
            return;
        };
        let router = s.router.load();
        *lock(&self.routing) = Some(router.route_name().to_string());
        self.remember_labels(&router);
        let sample = Sample {
            t_ms: now_ms(),
            metrics: s.metrics.snapshot(),
            fallbacks: router
                .treatments
                .iter()
                .map(|t| t.fallbacks.load(std::sync::atomic::Ordering::Relaxed))
                .collect(),
        };
        let mut samples = lock(&self.samples);
        if samples.len() == SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// Rates, latency percentiles and error rates of the attached (or last) service.
    pub fn live_json(&self) -> Value {
        let service = self.service.load_full();
        let treatments: Vec<String> = service
            .as_ref()
            .map(|s| {
                s.router
                    .load()
                    .treatments
                    .iter()
                    .map(|t| t.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let samples = lock(&self.samples);
        let live_lines = lock(&self.live).lines();
        let mut out = json!({
            "service": match (&service, samples.is_empty()) {
                (Some(_), _) => "running",
                (None, false) => "stopped",
                (None, true) => "waiting",
            },
            "experiment": *lock(&self.routing),
            "experiments": self.experiments(),
            "labels": lock(&self.routing).as_deref().map(|r| self.labels_of(r)),
            "now_ms": now_ms(),
            "live_lines": live_lines,
            "window_seconds": WINDOW_MS / 1000,
        });
        let (Some(last), Some(first)) = (samples.back(), samples.front()) else {
            return out;
        };
        // The window's start: the latest sample at least WINDOW_MS old, else the first.
        let start = samples
            .iter()
            .rev()
            .find(|x| x.t_ms + WINDOW_MS <= last.t_ms)
            .unwrap_or(first);
        let span = ((last.t_ms - start.t_ms) as f64 / 1000.0).max(1e-9);
        let series = series_json(&samples);
        let endpoints = endpoints_json(start, last, span);
        let by_treatment = treatments_json(&treatments, start, last);
        let (m, m0) = (&last.metrics, &start.metrics);
        let window_recs = recs(m).saturating_sub(recs(m0));
        let errors = m.store_errors.saturating_sub(m0.store_errors);
        out["rps"] = json!(window_recs as f64 / span);
        out["series"] = Value::Array(series);
        out["endpoints"] = Value::Array(endpoints);
        out["treatments"] = Value::Array(by_treatment);
        out["store_errors"] = json!(m.store_errors);
        out["store_skipped"] = json!(m.store_skipped);
        out["store_error_rate"] =
            json!((window_recs > 0).then(|| errors as f64 / window_recs as f64));
        out["reloads"] = json!(m.reloads);
        out["reload_failures"] = json!(m.reload_failures);
        out["log_lines"] = json!(m.log_lines);
        out["connections_refused"] = json!(m.connections_refused);
        out["log_flushed"] = json!(service.as_ref().map(|s| s.log_flushed()));
        out
    }

    /// Notes what each experiment's treatments serve in `router`'s configuration, once per
    /// configuration (the sampler asks every second; only a reload brings new labels).
    fn remember_labels(&self, router: &Arc<botify_recs::experiments::Router>) {
        let seen = Arc::downgrade(router);
        if std::sync::Weak::ptr_eq(
            &std::mem::replace(&mut *lock(&self.labelled), seen.clone()),
            &seen,
        ) {
            return;
        }
        let mut labels = lock(&self.labels);
        for e in &router.config.experiments {
            labels.insert(e.name.clone(), e.labels());
        }
    }

    /// What `experiment`'s treatments serve, as far as the service's configurations said.
    fn labels_of(&self, experiment: &str) -> BTreeMap<String, String> {
        lock(&self.labels)
            .get(experiment)
            .cloned()
            .unwrap_or_default()
    }

    /// The experiments the live log has seen, the routing one first.
    pub fn experiments(&self) -> Vec<String> {
        let routing = lock(&self.routing).clone();
        let mut names: Vec<String> = lock(&self.live).names().map(str::to_string).collect();
        if let Some(r) = routing
            && let Some(i) = names.iter().position(|n| *n == r)
        {
            let r = names.remove(i);
            names.insert(0, r);
        }
        names
    }

    /// The A/B report of `experiment` (default: the routing one) over every line logged so far,
    /// as `botify ab --sequential --format json` prints it. Recomputed only when lines arrived.
    pub fn experiment_json(&self, experiment: Option<&str>) -> Result<Arc<String>> {
        let name = match experiment {
            Some(n) => n.to_string(),
            None => self
                .experiments()
                .into_iter()
                .next()
                .ok_or_else(|| Error::Invalid("no event has been logged yet".into()))?,
        };
        let _one_at_a_time = lock(&self.analysing);
        let cached = |lines: Option<u64>| {
            lock(&self.analysis).as_ref().and_then(|a| {
                let fresh = a.at.elapsed() < ANALYSIS_TTL || lines == Some(a.lines);
                (a.experiment == name && fresh).then(|| a.json.clone())
            })
        };
        if let Some(json) = cached(None) {
            return Ok(json);
        }
        // Copy the experiment's accumulators and let the log writer go on while we analyse.
        let (lines, users) = {
            let live = lock(&self.live);
            let lines = live.lines();
            if let Some(json) = cached(Some(lines)) {
                return Ok(json);
            }
            let Some(u) = live.get(&name) else {
                return Err(Error::Invalid(format!(
                    "the log has no experiment {name:?}; it has {}",
                    live.names().collect::<Vec<_>>().join(", ")
                )));
            };
            (lines, u.clone())
        };
        let mut o = AbOptions::new(&name, Vec::new());
        o.sequential = Some(SEQUENTIAL_TAU);
        o.labels = self.labels_of(&name);
        let report = users
            .users()
            .and_then(|u| analyse_users(&o, u))
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let json = Arc::new(report.to_json());
        *lock(&self.analysis) = Some(Analysis {
            experiment: name,
            lines,
            at: std::time::Instant::now(),
            json: json.clone(),
        });
        Ok(json)
    }

    /// The attached service's configuration: experiments, treatments and their specs, data
    /// files and when the configuration was loaded.
    pub fn config_json(&self) -> Value {
        let Some(s) = self.service.load_full() else {
            return json!({ "service": "not running" });
        };
        let router = s.router.load();
        let files: Vec<Value> = botify_recs::experiments::Router::data_files(&router.config)
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p).ok();
                json!({
                    "path": p.display().to_string(),
                    "bytes": meta.as_ref().map(|m| m.len()),
                    "modified_ms": meta
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_millis() as u64),
                })
            })
            .collect();
        json!({
            "service": "running",
            "routing": router.route_name(),
            "treatments": router.route_spec().treatments,
            "experiments": router.config.experiments,
            "history": router.history,
            "data_files": files,
            "loaded_at_ms": s.loaded_at_ms(),
            "catalog_tracks": s.catalog.len(),
            "log_dir": s.log_dir.display().to_string(),
            "admin": s.admin_enabled(),
        })
    }

    fn run_json(&self) -> Value {
        serde_json::to_value(&*lock(&self.run)).unwrap_or(Value::Null)
    }

    fn with_run(&self, f: impl FnOnce(&mut RunStatus)) {
        f(&mut lock(&self.run));
    }

    /// A run named `name` begins (the page shows its stages).
    pub fn run_started(&self, name: &str) {
        self.with_run(|r| {
            *r = RunStatus {
                name: Some(name.to_string()),
                ..RunStatus::default()
            }
        });
    }

    pub fn stage(&self, name: &str) {
        self.with_run(|r| {
            r.progress = None;
            r.stages.push(Stage {
                name: name.to_string(),
                started_ms: now_ms(),
                seconds: None,
            });
        });
    }

    pub fn stage_done(&self, name: &str, seconds: f64) {
        self.with_run(|r| {
            if let Some(s) = r.stages.iter_mut().rev().find(|s| s.name == name) {
                s.seconds = Some(seconds);
            }
        });
    }

    pub fn note(&self, text: &str) {
        self.with_run(|r| {
            if r.notes.len() == NOTES {
                r.notes.pop_front();
            }
            r.notes.push_back(text.to_string());
        });
    }

    pub fn progress_start(&self, label: &str, total: u64) {
        self.with_run(|r| {
            r.progress = Some(Progress {
                label: label.to_string(),
                done: 0,
                total,
            })
        });
    }

    pub fn progress_advance(&self, n: u64) {
        self.with_run(|r| {
            if let Some(p) = &mut r.progress {
                p.done += n;
            }
        });
    }

    pub fn progress_finish(&self) {
        self.with_run(|r| r.progress = None);
    }

    pub fn epoch(&self, mut e: EpochPoint) {
        self.with_run(|r| {
            // A model's step counter starting over is its next training round.
            let last = r.epochs.iter().rev().find(|p| p.model == e.model);
            e.round = match last {
                Some(p) if e.index <= p.index => p.round + 1,
                Some(p) => p.round,
                None => 1,
            };
            r.epochs.push(e)
        });
    }

    /// The run ended; its report (an HTML file) is served at `/report`.
    pub fn run_finished(&self, report: Option<&Path>, error: Option<String>) {
        *lock(&self.report_file) = report.map(Path::to_path_buf);
        self.with_run(|r| {
            r.finished = true;
            r.progress = None;
            r.report = report.map(|_| "/report".to_string());
            r.error = error;
        });
    }
}

impl LiveView for Dashboard {
    /// Starts a new live analysis from what `log_dir` already holds (the files `botify ab`
    /// would read); a missing directory is an empty log.
    fn seed(&self, log_dir: &Path) -> Result<()> {
        let mut live = LiveLog::default();
        if log_dir.is_dir() {
            // Line by line: a log of hundreds of MB is never held whole.
            for file in botify_core::events::log_files_in(log_dir)? {
                let io = |e| botify_core::Error::io(&file, e);
                let mut reader = BufReader::with_capacity(1 << 20, File::open(&file).map_err(io)?);
                let mut line = Vec::new();
                while reader.read_until(b'\n', &mut line).map_err(io)? > 0 {
                    live.push_lines(&line);
                    line.clear();
                }
            }
        }
        *lock(&self.live) = live;
        *lock(&self.analysis) = None;
        Ok(())
    }

    /// Folds every line the event-log writer writes into the live analysis.
    fn log_observer(self: Arc<Self>) -> LineObserver {
        Box::new(move |lines: &[u8]| lock(&self.live).push_lines(lines))
    }

    /// Follows a running service.
    fn attach(&self, state: Arc<AppState>) {
        *lock(&self.routing) = Some(state.router.load().route_name().to_string());
        lock(&self.samples).clear();
        self.service.store(Some(state));
        self.sample();
    }

    /// The service is stopping: take its last counters and let it go.
    fn detach(&self) {
        self.sample();
        self.service.store(None);
    }
}

/// The live dashboard shows a run's stages, notes, progress and training curves.
impl Observer for Dashboard {
    fn stage(&self, name: &str) {
        Dashboard::stage(self, name);
    }
    fn stage_done(&self, name: &str, seconds: f64) {
        Dashboard::stage_done(self, name, seconds);
    }
    fn note(&self, text: &str) {
        Dashboard::note(self, text);
    }
    fn start(&self, label: &str, total: u64) {
        self.progress_start(label, total);
    }
    fn advance(&self, n: u64) {
        self.progress_advance(n);
    }
    fn finish(&self) {
        self.progress_finish();
    }
    fn epoch(&self, e: &EpochReport) {
        Dashboard::epoch(
            self,
            EpochPoint::new(
                &e.model,
                e.step,
                e.index,
                e.total,
                e.train_loss,
                e.validation_loss,
                &e.metric,
                e.value,
            ),
        );
    }
}

impl EpochPoint {
    /// From the lab's epoch report, where NaN means "this model has no such value".
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &str,
        step: &str,
        index: usize,
        total: usize,
        train_loss: f64,
        validation_loss: f64,
        metric: &str,
        value: f64,
    ) -> Self {
        EpochPoint {
            model: model.to_string(),
            round: 1,
            step: step.to_string(),
            index,
            total,
            train_loss: finite(train_loss),
            validation_loss: finite(validation_loss),
            metric: metric.to_string(),
            value: finite(value),
        }
    }
}

fn json_body(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// The page's own scripts and styles are inline; nothing else is loaded, and no other site
/// may frame it.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   img-src data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// An HTML answer with the headers that keep it from being framed or sniffed.
fn html(body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    html(PAGE)
}

async fn api_live(State(d): State<Arc<Dashboard>>) -> Response {
    json_body(StatusCode::OK, d.live_json().to_string())
}

#[derive(serde::Deserialize)]
struct ExperimentQuery {
    experiment: Option<String>,
}

async fn api_experiment(
    State(d): State<Arc<Dashboard>>,
    Query(q): Query<ExperimentQuery>,
) -> Response {
    let r = tokio::task::spawn_blocking(move || d.experiment_json(q.experiment.as_deref())).await;
    match r {
        Ok(Ok(json)) => json_body(StatusCode::OK, json.as_str().to_string()),
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn api_experiments(State(d): State<Arc<Dashboard>>) -> Response {
    json_body(StatusCode::OK, json!(d.experiments()).to_string())
}

async fn api_config(State(d): State<Arc<Dashboard>>) -> Response {
    json_body(StatusCode::OK, d.config_json().to_string())
}

async fn api_run(State(d): State<Arc<Dashboard>>) -> Response {
    json_body(StatusCode::OK, d.run_json().to_string())
}

async fn api_reload(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> Response {
    match d.service.load_full() {
        Some(s) => reload_with_token(&s, &headers).await,
        None => error(StatusCode::SERVICE_UNAVAILABLE, "no service is running"),
    }
}

async fn report(State(d): State<Arc<Dashboard>>) -> Response {
    let Some(path) = lock(&d.report_file).clone() else {
        return error(StatusCode::NOT_FOUND, "the run has no report yet");
    };
    // A small file read once per click: no need to leave the runtime's thread.
    match std::fs::read(&path) {
        Ok(report) => html(report),
        Err(e) => error(
            StatusCode::NOT_FOUND,
            format!("cannot read the report {}: {e}", path.display()),
        ),
    }
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such page; the dashboard is at /dashboard",
    )
}

pub fn dashboard_router(d: Arc<Dashboard>) -> axum::Router {
    axum::Router::new()
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/dashboard") }),
        )
        .route("/dashboard", get(page))
        .route("/api/live", get(api_live))
        .route("/api/experiment", get(api_experiment))
        .route("/api/experiments", get(api_experiments))
        .route("/api/config", get(api_config))
        .route("/api/run", get(api_run))
        .route("/api/reload", post(api_reload))
        .route("/report", get(report))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(check_host))
        .with_state(d)
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let allowed = if uri.path() == "/api/reload" {
        "POST"
    } else {
        "GET"
    };
    botify_server::wrong_method(&method, uri.path(), allowed)
}

/// Against DNS rebinding: a page of another site that makes its own name resolve to this
/// address still sends its own name as `Host`. Only an IP address or `localhost` is answered.
async fn check_host(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if host_allowed(host) {
        next.run(req).await
    } else {
        error(
            StatusCode::FORBIDDEN,
            format!("Host {host:?} is not this dashboard's: open it by IP address or localhost"),
        )
    }
}

/// `localhost`, an IPv4 address or a bracketed IPv6 address, with or without a port.
fn host_allowed(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// The dashboard's own HTTP server and sampler, on a thread of their own (so a synchronous
/// caller such as `botify experiment run` can keep one up). Stopped when dropped.
pub struct DashboardServer {
    pub dashboard: Arc<Dashboard>,
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DashboardServer {
    /// Blocks while the dashboard serves, until `stop` is set (e.g. by Ctrl-C).
    pub fn serve_until(&self, stop: &std::sync::atomic::AtomicBool) {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Runs `plan` with this dashboard following it — stages, learning curves, then the report
    /// or the error — while `obs` sees the same.
    pub fn run(
        &self,
        plan: &botify_lab::Plan,
        opts: &botify_lab::run::RunOptions,
        obs: &dyn botify_lab::Observer,
    ) -> botify_lab::Result<botify_lab::run::RunOutcome> {
        self.dashboard.run_started(&plan.name);
        let both = botify_lab::observer::Both(obs, &*self.dashboard);
        let r = botify_lab::run::run(plan, opts, &both);
        match &r {
            Ok(o) => self
                .dashboard
                .run_finished(Some(&o.dir.join("report.html")), None),
            Err(e) => self.dashboard.run_finished(None, Some(e.to_string())),
        }
        r
    }

    /// Binds `addr` (port 0: a free one) and starts serving.
    pub fn start(addr: SocketAddr) -> Result<DashboardServer> {
        let listener = std::net::TcpListener::bind(addr).map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("cannot listen on {addr} for the dashboard: {e}"),
            ))
        })?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let dashboard = Dashboard::new();
        let d = dashboard.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let sampler = d.clone();
                    let sampling = tokio::spawn(async move {
                        let mut tick = tokio::time::interval(Duration::from_secs(1));
                        loop {
                            tick.tick().await;
                            sampler.sample();
                        }
                    });
                    // The service's connection handling: a cap, a per-address cap, idle and
                    // header timeouts; the cap is the budget the service leaves it.
                    let limits = botify_server::Limits {
                        max_connections: Some(botify_server::DASHBOARD_CONNECTIONS),
                        max_per_address: Some(botify_server::DASHBOARD_CONNECTIONS / 2),
                        shutdown_grace: Duration::from_secs(1),
                        ..Default::default()
                    };
                    let refused = std::sync::atomic::AtomicU64::new(0);
                    botify_server::serve_connections(
                        &listener,
                        dashboard_router(d),
                        &limits,
                        &refused,
                        Default::default(),
                        async move {
                            let _ = rx.await;
                        },
                    )
                    .await;
                    sampling.abort();
                });
            })?;
        Ok(DashboardServer {
            dashboard,
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}/dashboard", self.addr)
    }
}

impl Drop for DashboardServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Recommendation requests (`/next` and `/last`) answered so far.
fn recs(m: &MetricsSnapshot) -> u64 {
    m.requests
        .iter()
        .filter(|(n, _)| matches!(*n, "next" | "last"))
        .map(|(_, c)| c.iter().sum::<u64>())
        .sum()
}

/// The latency histogram of recommendation requests.
fn rec_latency(m: &MetricsSnapshot) -> HistogramCounts {
    let mut h = HistogramCounts::default();
    for (n, c) in &m.latency {
        if matches!(*n, "next" | "last") {
            for (a, b) in h.buckets.iter_mut().zip(&c.buckets) {
                *a += b;
            }
            h.sum_seconds += c.sum_seconds;
        }
    }
    h
}

/// Requests per second and latency between consecutive samples, the last [`SERIES`] of them.
fn series_json(samples: &VecDeque<Sample>) -> Vec<Value> {
    samples
        .iter()
        .zip(samples.iter().skip(1))
        .skip(samples.len().saturating_sub(SERIES + 1))
        .map(|(a, b)| {
            let dt = ((b.t_ms - a.t_ms) as f64 / 1000.0).max(1e-9);
            let h = rec_latency(&b.metrics).since(&rec_latency(&a.metrics));
            json!({
                "t_ms": b.t_ms,
                "rps": recs(&b.metrics).saturating_sub(recs(&a.metrics)) as f64 / dt,
                "p50_ms": ms(h.quantile(0.5)),
                "p99_ms": ms(h.quantile(0.99)),
            })
        })
        .collect()
}

/// Per endpoint: totals, and rate and latency over the window from `start` to `last`.
fn endpoints_json(start: &Sample, last: &Sample, span: f64) -> Vec<Value> {
    last.metrics
        .requests
        .iter()
        .zip(&last.metrics.latency)
        .zip(start.metrics.requests.iter().zip(&start.metrics.latency))
        .filter(|(((_, total), _), _)| total.iter().sum::<u64>() > 0)
        .map(
            |(((name, total), (_, lat)), ((_, before), (_, lat_before)))| {
                let h = lat.since(lat_before);
                let d = |c: usize| total[c].saturating_sub(before[c]);
                json!({
                    "endpoint": name,
                    "requests": total.iter().sum::<u64>(),
                    "rps": (d(0) + d(1) + d(2)) as f64 / span,
                    "errors_4xx": total[1],
                    "errors_5xx": total[2],
                    "p50_ms": ms(h.quantile(0.5)),
                    "p90_ms": ms(h.quantile(0.9)),
                    "p99_ms": ms(h.quantile(0.99)),
                })
            },
        )
        .collect()
}

/// Per treatment of the routing experiment: requests, latency and fallbacks over the window.
fn treatments_json(treatments: &[String], start: &Sample, last: &Sample) -> Vec<Value> {
    treatments
        .iter()
        .enumerate()
        .filter_map(|(b, name)| {
            let lat = last.metrics.treatment_latency.get(b)?;
            let h = lat.since(start.metrics.treatment_latency.get(b)?);
            let fallbacks = last.fallbacks.get(b).copied().unwrap_or(0);
            let fb_window = fallbacks.saturating_sub(start.fallbacks.get(b).copied().unwrap_or(0));
            Some(json!({
                "treatment": name,
                "requests": lat.count(),
                "p50_ms": ms(h.quantile(0.5)),
                "p90_ms": ms(h.quantile(0.9)),
                "p99_ms": ms(h.quantile(0.99)),
                "fallbacks": fallbacks,
                "fallback_rate": (h.count() > 0).then(|| fb_window as f64 / h.count() as f64),
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_reads_the_logs_files_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dashboard::new();
        // A directory without a log yet (a load script keeps its stderr there) is an empty log.
        std::fs::write(dir.path().join("serve.err"), "not a log\n").unwrap();
        d.seed(dir.path()).unwrap();
        assert_eq!(lock(&d.live).lines(), 0);
        d.seed(&dir.path().join("absent")).unwrap();
        let line = "{\"message\": \"last\", \"timestamp\": 5, \"user\": 1, \"track\": 2, \"time\": 0.5, \"latency\": 0.001, \"experiments\": {\"E\": \"C\"}}\n";
        std::fs::write(dir.path().join("data.json"), line.repeat(3)).unwrap();
        std::fs::write(dir.path().join("data.json.1"), line).unwrap();
        d.seed(dir.path()).unwrap();
        assert_eq!(lock(&d.live).lines(), 4);
        assert_eq!(d.experiments(), ["E"]);
        let report: Value = serde_json::from_str(&d.experiment_json(None).unwrap()).unwrap();
        assert_eq!(report["treatments"][0]["sessions"], 4);
        // Lines written later are folded in by the writer's observer.
        let mut see = d.clone().log_observer();
        see(line.as_bytes());
        assert_eq!(lock(&d.live).lines(), 5);
        assert!(d.experiment_json(Some("F")).is_err());
    }

    #[test]
    fn run_status_follows_stages_progress_and_the_report() {
        let d = Dashboard::new();
        d.run_started("plan");
        d.stage("world");
        d.progress_start("episodes", 10);
        d.progress_advance(4);
        assert_eq!(d.run_json()["progress"]["done"], 4);
        d.stage_done("world", 1.5);
        d.epoch(EpochPoint::new(
            "mf",
            "epoch",
            1,
            3,
            0.5,
            f64::NAN,
            "precision@10",
            f64::NAN,
        ));
        d.run_finished(Some(Path::new("/tmp/report.html")), None);
        let r = d.run_json();
        assert_eq!(r["stages"][0]["seconds"], 1.5);
        assert!(r["epochs"][0]["validation_loss"].is_null());
        assert_eq!(
            (r["finished"].clone(), r["report"].clone()),
            (json!(true), json!("/report"))
        );
        assert_eq!(d.live_json()["service"], "waiting");
    }
}
