//! The HTTP agent: the same sessions as in-process, against a running service.
//!
//! `concurrency` workers each own one keep-alive HTTP/1.1 connection (TCP_NODELAY) and take whole
//! users from a shared queue, so one listener never has two sessions at once and each user's
//! sessions run in episode order. The listener side (user, interest, first track, listening
//! draws) is the same as in-process for the same seed; the recommendations are the service's.
//!
//! Retry policy: a request that provably never reached the service (the connection was refused,
//! or found closed before the request was written) is retried on a new connection up to 3
//! times, 100 ms apart, and counted ([`Remote::retries`]); a request that was written is never
//! sent again, since the service may have logged it. An HTTP error status or a lost answer stops
//! the run with the request that caused it, and every other worker stops before its next session.

use crate::dynamics::{Listener, Rules};
use crate::episode::Step;
use crate::nearest::NeighbourCache;
use crate::runner::{
    DayPlan, EpisodeStats, STEP_MS, SimParams, Simulator, close_planned, open_planned,
    split_listeners,
};
use crate::{Error, Result};
use botify_core::{TrackId, World};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RETRIES: usize = 3;

/// Where the service is: `http://host:port` (no TLS). Clones share the retry count.
#[derive(Debug, Clone)]
pub struct Remote {
    host_port: String,
    retries: Arc<AtomicU64>,
}

impl Remote {
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            Error::Http(format!("--remote {url:?}: only http:// URLs are supported"))
        })?;
        let host_port = rest.trim_end_matches('/').to_string();
        if host_port.is_empty() || host_port.contains('/') {
            return Err(Error::Http(format!(
                "--remote {url:?}: expected http://HOST:PORT"
            )));
        }
        Ok(Remote {
            host_port,
            retries: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Requests sent again because they provably never reached the service.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

struct Conn {
    remote: Remote,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Conn {
    async fn connect(remote: &Remote) -> Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&remote.host_port)
            .await
            .map_err(|e| {
                Error::Http(format!(
                    "cannot connect to http://{}: {e}",
                    remote.host_port
                ))
            })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| {
                    Error::Http(format!(
                        "HTTP handshake with http://{} failed: {e}",
                        remote.host_port
                    ))
                })?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// POSTs a listen and returns the response body. A request is retried (on a new
    /// connection, up to 3 times, 100 ms apart) only when it provably never left this client:
    /// the connection could not be opened, or was found closed before the request was written.
    /// Once written, a lost answer is an error — the service may have logged the call, and
    /// sending it again would log it twice.
    async fn post(&mut self, path: &str, body: String) -> Result<Bytes> {
        let mut last_err = String::new();
        for attempt in 0..=RETRIES {
            if attempt > 0 {
                self.remote.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if self.sender.is_none() {
                match Conn::connect(&self.remote).await {
                    Ok(s) => self.sender = Some(s),
                    Err(e) => {
                        last_err = e.to_string();
                        continue;
                    }
                }
            }
            let Some(sender) = self.sender.as_mut() else {
                continue;
            };
            let req = hyper::Request::post(path)
                .header(hyper::header::HOST, self.remote.host_port.as_str())
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.clone())))
                .map_err(|e| Error::Http(format!("bad request {path}: {e}")))?;
            let resp = match sender.try_send_request(req).await {
                Ok(r) => r,
                Err(e) if e.message().is_some() => {
                    // Never written: safe to send again on a new connection.
                    last_err = format!("POST {path} failed: {}", e.into_error());
                    self.sender = None;
                    continue;
                }
                Err(e) => {
                    return Err(Error::Http(format!(
                        "POST http://{}{path} with {body}: the connection failed after the request was sent ({}); not retried, since the service may have logged it",
                        self.remote.host_port,
                        e.into_error()
                    )));
                }
            };
            let status = resp.status();
            let bytes = resp.into_body().collect().await.map_err(|e| {
                Error::Http(format!(
                    "POST http://{}{path} with {body}: reading the answer failed: {e}",
                    self.remote.host_port
                ))
            })?;
            let bytes = bytes.to_bytes();
            if !status.is_success() {
                return Err(Error::Http(format!(
                    "POST http://{}{path} with {body} answered {status}: {}",
                    self.remote.host_port,
                    String::from_utf8_lossy(&bytes)
                )));
            }
            return Ok(bytes);
        }
        Err(Error::Http(format!("{last_err} (after {RETRIES} retries)")))
    }
}

#[derive(serde::Deserialize)]
struct NextAnswer {
    track: TrackId,
}

async fn remote_episode(
    world: &World,
    first_nn: &NeighbourCache,
    conn: &mut Conn,
    i: u32,
    day: (&SimParams, &DayPlan, Option<&Rules>),
    mut listener: Option<&mut Listener>,
    start: u64,
) -> Result<EpisodeStats> {
    let mut ep = open_planned(world, first_nn, day, i, listener.as_deref(), start);
    let user = ep.user();
    let n = world.catalog.len() as u32;
    let next_path = format!("/next/{user}");
    loop {
        let req = ep.request();
        let body = format!("{{\"track\": {}, \"time\": {}}}", req.track, req.time);
        let bytes = conn.post(&next_path, body).await?;
        let rec = serde_json::from_slice::<NextAnswer>(&bytes)
            .map_err(|e| {
                Error::Http(format!(
                    "POST {next_path}: unexpected answer {:?}: {e}",
                    String::from_utf8_lossy(&bytes)
                ))
            })?
            .track;
        if rec >= n {
            return Err(Error::Http(format!(
                "POST {next_path}: recommended track {rec} is not in the catalogue (0..{n})"
            )));
        }
        if let Step::Over { track, time } = ep.play(rec) {
            let body = format!("{{\"track\": {track}, \"time\": {time}}}");
            conn.post(&format!("/last/{user}"), body).await?;
            let stats = ep.stats(0);
            let end = start + u64::from(stats.steps) * STEP_MS;
            close_planned(day.2, listener.as_deref_mut(), &ep, end);
            return Ok(stats);
        }
    }
}

impl Simulator<'_> {
    /// Runs one day against the service at `remote` with `concurrency` sessions in flight,
    /// spread over `threads` client threads (each a single-threaded async runtime).
    pub fn run_day_remote(
        &mut self,
        remote: &Remote,
        p: &SimParams,
        concurrency: usize,
        threads: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<EpisodeStats>> {
        let world = self.world();
        let plan = self.prepare_day(p);
        let first_nn = &self.first;
        let (rules, listeners) = split_listeners(&mut self.dynamics, world.users.len());
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Error::Http(format!("cannot start the HTTP client runtime: {e}")))
        };
        // Fail fast and clearly when the service is not there.
        runtime()?.block_on(Conn::connect(remote))?;
        let queue: Mutex<VecDeque<(&[u32], Option<&mut Listener>)>> = Mutex::new(
            plan.by_user
                .iter()
                .map(Vec::as_slice)
                .zip(listeners)
                .filter(|(e, _)| !e.is_empty())
                .collect(),
        );
        // The first error stops every worker: none starts another session after it.
        let failed = AtomicBool::new(false);
        let worker = || async {
            let mut conn = Conn {
                remote: remote.clone(),
                sender: None,
            };
            let mut out = Vec::new();
            let r: Result<()> = async {
                loop {
                    let next = queue
                        .lock()
                        .map_err(|_| Error::Invalid("queue poisoned".into()))?
                        .pop_front();
                    let Some((eps, mut listener)) = next else {
                        break;
                    };
                    // The listener's clock, as in-process: a session starts when planned, never
                    // before the previous one ended.
                    let mut clock = 0u64;
                    for &i in eps {
                        if failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let start = plan.starts[i as usize].max(clock + STEP_MS);
                        let day = (p, &plan, rules);
                        let l = listener.as_deref_mut();
                        let ep =
                            remote_episode(world, first_nn, &mut conn, i, day, l, start).await?;
                        clock = start + u64::from(ep.steps) * STEP_MS;
                        out.push(ep);
                        progress(1);
                    }
                }
                Ok(())
            }
            .await;
            if r.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            r.map(|()| out)
        };
        let threads = threads.clamp(1, concurrency.max(1));
        let per_thread: Vec<usize> = (0..threads)
            .map(|t| concurrency.max(1) / threads + usize::from(t < concurrency.max(1) % threads))
            .collect();
        let results: Vec<Result<Vec<Result<Vec<EpisodeStats>>>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = per_thread
                .iter()
                .map(|&n| {
                    let worker = &worker;
                    scope.spawn(move || {
                        Ok(runtime()?
                            .block_on(futures_util::future::join_all((0..n).map(|_| worker()))))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::Http("an HTTP client thread panicked".into()))
                    })
                })
                .collect()
        });
        let mut stats = Vec::with_capacity(p.episodes);
        for thread in results {
            for r in thread? {
                stats.extend(r?);
            }
        }
        stats.sort_by_key(|e| e.episode);
        Ok(stats)
    }
}

/// One request on a fresh connection; returns the status and the body as text.
fn call(
    remote: &Remote,
    method: hyper::Method,
    path: &str,
    token: Option<&str>,
) -> Result<(hyper::StatusCode, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Http(format!("cannot start the HTTP client runtime: {e}")))?;
    rt.block_on(async {
        let mut sender = Conn::connect(remote).await?;
        let mut req = hyper::Request::builder()
            .method(method.clone())
            .uri(path)
            .header(hyper::header::HOST, remote.host_port.as_str());
        if let Some(t) = token {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Http(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Error::Http(format!("{method} {path} failed: {e}")))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Http(format!("{method} {path}: {e}")))?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    })
}

/// Asks the service to reload its experiments (`POST /admin/reload` with a bearer token) and
/// returns its answer.
pub fn admin_reload(remote: &Remote, token: &str) -> Result<String> {
    let (status, text) = call(remote, hyper::Method::POST, "/admin/reload", Some(token))?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(Error::Http(format!("reload refused ({status}): {text}")))
    }
}

/// `GET path` on the service; an error status is an error naming it.
pub fn get(remote: &Remote, path: &str) -> Result<String> {
    let (status, text) = call(remote, hyper::Method::GET, path, None)?;
    if status.is_success() {
        Ok(text)
    } else {
        Err(Error::Http(format!("GET {path} answered {status}: {text}")))
    }
}
