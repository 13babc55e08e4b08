//! Accepting connections: a cap on open connections (and on those of one address), the
//! connection wrapper's timeouts, and a graceful end. The service and the dashboard both serve
//! through [`serve_connections`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bounds that keep the service fast and its memory finite whatever clients and Redis do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Users the embedded store remembers (least recently used forgotten first).
    pub max_users: usize,
    /// Heap bytes the embedded store's histories may hold (least recently used users forgotten
    /// first past it).
    pub max_history_bytes: usize,
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
    /// Open connections from one client address at most, so one client cannot hold them all.
    /// None: a quarter of the connection cap (at least 16). Behind a balancer every connection
    /// comes from its address: raise it there.
    pub max_per_address: Option<usize>,
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
            max_history_bytes: crate::store::DEFAULT_MAX_HISTORY_BYTES,
            history_ttl: Some(Duration::from_secs(7 * 24 * 3600)),
            redis_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: None,
            max_per_address: None,
            shutdown_grace: Duration::from_secs(5),
            drain: Duration::ZERO,
        }
    }
}

/// Connections the live dashboard may hold (its own port); a service with a dashboard takes
/// them off its default cap.
pub const DASHBOARD_CONNECTIONS: usize = 64;

/// File descriptors kept free of connections: the event log, Redis, data files, the listener.
pub(crate) const FD_RESERVE: usize = 64;

impl Limits {
    /// The per-address cap: the configured one, else a quarter of the connection cap.
    pub fn per_address_cap(&self) -> usize {
        self.max_per_address
            .unwrap_or_else(|| (self.connection_cap() / 4).max(16))
    }

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

/// Accepts connections up to the cap, and up to the per-address cap from any one address
/// (beyond either: a JSON 503 and close, at once, counted in `refused`), serves each through the
/// connection wrapper's timeouts, and at `shutdown` stops accepting, waits up to the grace for
/// connections to finish their requests and aborts the rest.
pub async fn serve_connections(
    listener: &tokio::net::TcpListener,
    app: axum::Router,
    limits: &Limits,
    refused: &AtomicU64,
    open: Arc<AtomicU64>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let cap = limits.connection_cap();
    let per_address = limits.per_address_cap();
    let permits = Arc::new(tokio::sync::Semaphore::new(cap));
    let by_address = Arc::new(std::sync::Mutex::new(PerAddress::default()));
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
        let (stream, peer) = tokio::select! {
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
            refused.fetch_add(1, Ordering::Relaxed);
            refuse(
                &stream,
                &format!("too many open connections (limit {cap}); retry later"),
            );
            continue;
        };
        let Some(slot) = AddressSlot::take(&by_address, peer.ip(), per_address) else {
            refused.fetch_add(1, Ordering::Relaxed);
            refuse(
                &stream,
                &format!(
                    "too many open connections from {} (limit {per_address} per address); retry later",
                    peer.ip()
                ),
            );
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
        let open = Open::count(&open);
        connections.spawn(async move {
            let _ = conn.await;
            drop(slot);
            drop(permit);
            drop(open);
        });
    }
    graceful_wait(graceful, limits.shutdown_grace).await;
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// One open connection in `botify_connections_open`, for as long as it lives (also when its task
/// is aborted at shutdown).
struct Open(Arc<AtomicU64>);

impl Open {
    fn count(open: &Arc<AtomicU64>) -> Open {
        open.fetch_add(1, Ordering::Relaxed);
        Open(open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Open connections by client address.
#[derive(Default)]
pub(crate) struct PerAddress(rustc_hash::FxHashMap<std::net::IpAddr, usize>);

/// One open connection counted against its address; dropping it gives the place back.
pub(crate) struct AddressSlot {
    table: Arc<std::sync::Mutex<PerAddress>>,
    ip: std::net::IpAddr,
}

impl AddressSlot {
    pub(crate) fn take(
        table: &Arc<std::sync::Mutex<PerAddress>>,
        ip: std::net::IpAddr,
        cap: usize,
    ) -> Option<AddressSlot> {
        let mut t = table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = t.0.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut t = self
            .table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = t.0.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.0.remove(&self.ip);
            }
        }
    }
}

/// Waits for watched connections to close after their current request, at most `grace`.
pub(crate) async fn graceful_wait(
    graceful: hyper_util::server::graceful::GracefulShutdown,
    grace: Duration,
) {
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace of {grace:?} over: closing the connections still open");
    }
}

/// A connection over a cap gets a 503 without waiting on it, and is closed.
pub(crate) fn refuse(stream: &tokio::net::TcpStream, message: &str) {
    let body = crate::response::error_body(503, message);
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.try_write(head.as_bytes());
}
