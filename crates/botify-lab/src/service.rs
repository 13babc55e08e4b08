//! An embedded `botify serve` for a run over HTTP: started on a free loopback port with a random
//! admin token, reloaded through its admin endpoint, stopped (draining requests and flushing the
//! event log) when the run ends or is dropped.

use crate::{Error, Result};
use botify_core::eventlog::Rotation;
use botify_sim::http::{Remote, admin_reload};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a starting service may take to answer, and a log to reach a line count.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const LOG_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Service {
    runtime: tokio::runtime::Runtime,
    pub remote: Remote,
    pub addr: std::net::SocketAddr,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<botify_server::Result<botify_server::ServeReport>>>,
}

/// What the service needs: the catalogue, the experiments file, where to log, optional Redis.
pub struct ServiceConfig {
    pub catalog: PathBuf,
    pub experiments: PathBuf,
    pub log_dir: PathBuf,
    pub redis: Option<botify_server::RedisTarget>,
    /// Where to listen; port 0 picks a free one.
    pub addr: std::net::SocketAddr,
    /// Recommenders registered by the embedding process (the Python package).
    pub hosted: botify_recs::spec::Hosted,
    /// The live dashboard to feed while the service runs.
    pub dashboard: Option<std::sync::Arc<dyn botify_server::LiveView>>,
}

impl ServiceConfig {
    /// On a free loopback port, with no hosted recommenders.
    pub fn new(catalog: PathBuf, experiments: PathBuf, log_dir: PathBuf) -> Self {
        ServiceConfig {
            catalog,
            experiments,
            log_dir,
            redis: None,
            addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            hosted: Default::default(),
            dashboard: None,
        }
    }
}

fn runtime_error(e: std::io::Error) -> Error {
    Error::Invalid(format!("cannot start the service's runtime: {e}"))
}

impl Service {
    /// Starts the service and waits until it accepts connections; an error if it stopped or
    /// never answered within 10 s.
    pub fn start(cfg: ServiceConfig) -> Result<Service> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(runtime_error)?;
        let token = admin_token()?;
        let bind = cfg.addr.to_string();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(cfg.addr))
            .map_err(|e| Error::io(&bind, e))?;
        let addr = listener.local_addr().map_err(|e| Error::io(&bind, e))?;
        let server = botify_server::ServerConfig {
            catalog: cfg.catalog,
            experiments: Some(cfg.experiments),
            log_dir: cfg.log_dir,
            rotation: Rotation::default(),
            redis: cfg.redis,
            admin_token: Some(token.clone()),
            limits: botify_server::Limits::default(),
            hosted: cfg.hosted,
            dashboard: cfg.dashboard,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = runtime.spawn(botify_server::serve(server, listener, async move {
            let _ = rx.await;
        }));
        let remote = Remote::parse(&format!("http://{addr}"))?;
        let started = Instant::now();
        loop {
            if handle.is_finished() {
                let r = runtime
                    .block_on(handle)
                    .map_err(|e| Error::Invalid(format!("the service task failed: {e}")))?;
                r?;
                return Err(Error::Invalid(
                    "the service stopped right after starting".into(),
                ));
            }
            // An answer, not a connection: the socket accepts connections before the service
            // has loaded its configuration (which may still fail).
            if botify_sim::http::get(&remote, "/").is_ok() {
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(Error::Invalid(format!(
                    "the service on http://{addr} did not answer within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Service {
            runtime,
            remote,
            addr,
            token,
            stop: Some(tx),
            handle: Some(handle),
        })
    }

    /// The admin token `POST /admin/reload` takes.
    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// Reloads the experiments file and its data files; returns the service's answer.
    pub fn reload(&self) -> Result<String> {
        Ok(admin_reload(&self.remote, &self.token)?)
    }

    /// Waits until the event log holds `lines` lines on disk, polling the service's
    /// `botify_log_lines_flushed_total` (the writer flushes whenever it is idle).
    pub fn wait_for_log(&self, lines: u64) -> Result<()> {
        let started = Instant::now();
        loop {
            let metrics = botify_sim::http::get(&self.remote, "/metrics")?;
            let flushed = metrics
                .lines()
                .find_map(|l| l.strip_prefix("botify_log_lines_flushed_total "))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::Invalid("the service's /metrics has no flushed-lines count".into())
                })?;
            if flushed >= lines {
                return Ok(());
            }
            if started.elapsed() > LOG_TIMEOUT {
                return Err(Error::Invalid(format!(
                    "the service's event log holds {flushed} lines after {} s; {lines} were expected",
                    LOG_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the service: requests in flight finish, the event log is flushed.
    pub fn stop(&mut self) -> Result<botify_server::ServeReport> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let handle = self
            .handle
            .take()
            .ok_or_else(|| Error::Invalid("the service was already stopped".into()))?;
        let r = self
            .runtime
            .block_on(handle)
            .map_err(|e| Error::Invalid(format!("the service task failed: {e}")))??;
        if r.log_lost > 0 {
            return Err(Error::Invalid(format!(
                "the service answered {} requests but {} of their event-log lines could not be \
                 written: {}",
                r.answered,
                r.log_lost,
                r.log_error.unwrap_or_default()
            )));
        }
        Ok(r)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.stop();
        }
    }
}

/// 128 bits from the operating system's random source, as hex: the admin token of a service a
/// program starts for itself (nobody can guess it from the process id or the clock).
fn admin_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io("/dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod token_tests {
    #[test]
    fn admin_tokens_are_random_and_128_bits() {
        let a = super::admin_token().unwrap();
        let b = super::admin_token().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
