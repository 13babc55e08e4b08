//! The event log under faults, with real files: a real tmpfs that fills up, and the log file
//! moved away under load. No request is answered 200 unless its line reaches the log; when the
//! log cannot take more lines the service answers 503 and says why, and it resumes by itself.

mod common;

use botify_core::eventlog::Rotation;
use botify_server::ServerConfig;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

async fn start(world: &World, log_dir: PathBuf, rotation: Rotation) -> Service {
    Service::start_config(ServerConfig {
        catalog: world.catalog(),
        experiments: None,
        log_dir,
        rotation,
        redis: None,
        admin_token: None,
        limits: botify_server::Limits {
            shutdown_grace: Duration::from_secs(2),
            ..Default::default()
        },
        hosted: Default::default(),
        dashboard: None,
    })
    .await
}

/// Answers counted by status, from keep-alive clients.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    refused: AtomicU64,
    other: AtomicU64,
    /// One 503 body, to check what it says.
    refusal: std::sync::Mutex<Option<String>>,
}

/// `clients` keep-alive connections posting `next` (and a `last` every 5th request) until
/// `stop` is set or each has sent `max` requests.
async fn load(addr: SocketAddr, clients: u32, max: u32, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (stop, tally) = (stop.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            for i in 0..max {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let kind = if i % 5 == 4 { "last" } else { "next" };
                let req = hyper::Request::builder()
                    .method("POST")
                    .uri(format!("/{kind}/{}", c * 1000 + i % 50))
                    .header("host", "localhost")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(format!(
                        "{{\"track\": {}, \"time\": 0.5}}",
                        i % 1000
                    ))))
                    .unwrap();
                let resp = sender.send_request(req).await.unwrap();
                let status = resp.status().as_u16();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                match status {
                    200 => tally.ok.fetch_add(1, Ordering::Relaxed),
                    503 => {
                        let mut r = tally.refusal.lock().unwrap();
                        if r.is_none() {
                            *r = Some(String::from_utf8_lossy(&body).into_owned());
                        }
                        tally.refused.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => tally.other.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Every line of every file in `dir`, each parsed (a torn line fails the test).
fn all_lines(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.file_name().is_some_and(|f| f == "filler") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: torn line ({e}): {l}", path.display()));
            assert!(v["message"] == "next" || v["message"] == "last");
            n += 1;
        }
    }
    n
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /metrics"))
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop; None (with the reason
/// printed) where this process may not mount.
struct Tmpfs {
    path: PathBuf,
    /// Removed once unmounted (fields drop after `drop`).
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                path: dir.path().to_path_buf(),
                _dir: dir,
            }),
            Ok(o) => {
                let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
                skip(&format!("cannot mount a tmpfs here: {why}"));
                None
            }
            Err(e) => {
                skip(&format!("cannot run mount: {e}"));
                None
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

fn skip(why: &str) {
    if std::env::var_os("BOTIFY_REQUIRE_TMPFS").is_some() {
        panic!("BOTIFY_REQUIRE_TMPFS is set but {why}");
    }
    common::skipped(&format!("full-disk test: {why}"));
}

async fn wait_for(what: &str, mut ok: impl AsyncFnMut() -> bool) {
    let t = Instant::now();
    while !ok().await {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gets_503s_not_silent_loss_and_logging_resumes_when_it_has_room() {
    let Some(fs) = Tmpfs::mount("16m") else {
        return;
    };
    let world = World::new();
    // Leave about 64 KiB free: a few hundred lines, then the disk is full.
    let free_kib = 64;
    std::fs::write(fs.path.join("filler"), vec![b'x'; (16384 - free_kib) << 10]).unwrap();
    let log_dir = fs.path.join("log");
    let svc = start(
        &world,
        log_dir.clone(),
        Rotation {
            max_bytes: 16 << 10,
            backups: 1000,
        },
    )
    .await;
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let driver = tokio::spawn(load(svc.addr, 8, 100_000, stop.clone(), tally.clone()));
    wait_for("the log refuses", async || {
        tally.refused.load(Ordering::Relaxed) > 200
    })
    .await;
    let (code, body) = get(svc.addr, "/health").await;
    let health = json(&body);
    assert_eq!(
        (code, health["status"].as_str()),
        (503, Some("log unavailable"))
    );
    assert_eq!(health["log"]["writable"], false);
    assert!(
        health["log"]["error"]
            .as_str()
            .unwrap()
            .contains("No space left"),
        "{body}"
    );
    let refusal = json(tally.refusal.lock().unwrap().as_deref().unwrap());
    assert_eq!(refusal["status"], 503);
    assert!(
        refusal["error"]
            .as_str()
            .unwrap()
            .starts_with("event log unavailable"),
        "{refusal}"
    );
    // Room again: the writer resumes by itself and the service answers 200 again.
    std::fs::remove_file(fs.path.join("filler")).unwrap();
    let ok_before = tally.ok.load(Ordering::Relaxed);
    wait_for("answers resume", async || {
        tally.ok.load(Ordering::Relaxed) > ok_before + 2000
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    driver.await.unwrap();
    let (_, body) = get(svc.addr, "/health").await;
    assert_eq!(json(&body)["status"], "ok", "{body}");
    let (_, metrics) = get(svc.addr, "/metrics").await;
    let refused = tally.refused.load(Ordering::Relaxed);
    assert!(metric(&metrics, "botify_log_write_errors_total") > 0);
    assert_eq!(metric(&metrics, "botify_log_refused_total"), refused);
    assert_eq!(metric(&metrics, "botify_log_writable"), 1);
    let report = svc.stop().await;
    let ok = tally.ok.load(Ordering::Relaxed);
    assert_eq!(tally.other.load(Ordering::Relaxed), 0);
    assert_eq!(report.answered, ok);
    assert_eq!((report.log_lines, report.log_lost), (ok, 0));
    // Every answered request is in the log, once, and no line is torn.
    assert_eq!(all_lines(&log_dir) as u64, ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_moved_away_under_load_loses_nothing() {
    let world = World::new();
    let log_dir = world.path("log");
    let shipped = world.path("shipped");
    std::fs::create_dir_all(&shipped).unwrap();
    let svc = start(
        &world,
        log_dir.clone(),
        Rotation {
            max_bytes: 32 << 10,
            backups: 1000,
        },
    )
    .await;
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let driver = tokio::spawn(load(svc.addr, 4, 4000, stop.clone(), tally.clone()));
    // A log shipper takes data.json away five times while requests go on.
    for k in 0..5 {
        let before = tally.ok.load(Ordering::Relaxed);
        wait_for("traffic", async || {
            tally.ok.load(Ordering::Relaxed) > before + 500
        })
        .await;
        let _ = std::fs::rename(log_dir.join("data.json"), shipped.join(format!("{k}.json")));
    }
    driver.await.unwrap();
    let report = svc.stop().await;
    let ok = tally.ok.load(Ordering::Relaxed);
    assert_eq!(ok, 16_000);
    assert_eq!(
        (report.answered, report.log_lines, report.log_lost),
        (ok, ok, 0)
    );
    assert!(log_dir.join("data.json").exists(), "data.json was reopened");
    assert_eq!((all_lines(&log_dir) + all_lines(&shipped)) as u64, ok);
}
