//! Test harness: a world on disk, the real service on a free loopback port, a real HTTP client,
//! and a real redis-server when one is installed.
#![allow(dead_code)]

use botify_core::eventlog::Rotation;
use botify_core::generate::{WorldParams, generate};
use botify_server::ServeReport;
use botify_server::{RedisTarget, ServerConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;

pub struct World {
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let w = generate(&WorldParams {
            tracks: 2000,
            users: 100,
            dim: 8,
            ..Default::default()
        })
        .unwrap();
        w.write(&dir.path().join("world")).unwrap();
        World { dir }
    }
    pub fn catalog(&self) -> PathBuf {
        self.dir.path().join("world/tracks.json")
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub struct Service {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<botify_server::Result<ServeReport>>,
}

impl Service {
    pub async fn start(
        world: &World,
        experiments: Option<PathBuf>,
        redis: Option<RedisTarget>,
        token: Option<&str>,
    ) -> Service {
        // Tests share two cores: a generous Redis timeout keeps a slow moment from opening
        // the circuit breaker where a test counts on history.
        let limits = botify_server::Limits {
            redis_timeout: std::time::Duration::from_secs(1),
            ..botify_server::Limits::default()
        };
        Service::start_with(world, experiments, redis, token, limits).await
    }

    pub async fn start_with(
        world: &World,
        experiments: Option<PathBuf>,
        redis: Option<RedisTarget>,
        token: Option<&str>,
        limits: botify_server::Limits,
    ) -> Service {
        Service::start_config(ServerConfig {
            catalog: world.catalog(),
            experiments,
            log_dir: world.path("log"),
            rotation: Rotation {
                max_bytes: 64 << 10,
                backups: 1000,
            },
            redis,
            admin_token: token.map(String::from),
            limits,
            hosted: Default::default(),
            dashboard: None,
        })
        .await
    }

    /// The service with this configuration on a free loopback port, answering before this
    /// returns.
    pub async fn start_config(cfg: ServerConfig) -> Service {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(botify_server::serve(cfg, listener, async move {
            let _ = rx.await;
        }));
        // Wait until it answers.
        for _ in 0..200 {
            if get(addr, "/").await.0 == 200 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Service {
            addr,
            stop: Some(tx),
            handle,
        }
    }

    pub async fn stop(mut self) -> ServeReport {
        let _ = self.stop.take().unwrap().send(());
        self.handle.await.unwrap().unwrap()
    }
}

/// One request on a fresh connection: (status, body).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, String) {
    let headers: Vec<(&str, &str)> = content_type
        .map(|ct| ("content-type", ct))
        .into_iter()
        .collect();
    request_with(addr, method, path, &headers, body).await
}

/// `POST /admin/reload` with a bearer token.
pub async fn admin_reload(addr: SocketAddr, token: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    request_with(
        addr,
        "POST",
        "/admin/reload",
        &[("authorization", &auth)],
        Vec::new(),
    )
    .await
}

pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::from(body))).unwrap();
    let stream = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(_) => return (0, String::new()),
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path, None, Vec::new()).await
}

pub async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    request(
        addr,
        "POST",
        path,
        Some("application/json"),
        body.as_bytes().to_vec(),
    )
    .await
}

pub fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

pub fn log_lines(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        out.extend(text.lines().map(json));
    }
    out
}

#[path = "redis_servers.rs"]
mod redis_servers;
#[allow(unused_imports)] // not every test binary starts Redis
pub use redis_servers::*;

mod skip;
pub use skip::skipped;
