//! The HTTP agent against hand-made misbehaving servers on loopback: a request whose answer was
//! lost is never sent again, and the first error stops every worker.

use botify_core::generate::{WorldParams, generate};
use botify_sim::http::Remote;
use botify_sim::runner::{SimParams, Simulator};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads one HTTP request (headers and a Content-Length body); false when the peer closed.
fn read_request(r: &mut BufReader<TcpStream>) -> bool {
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).is_ok()
}

/// A server that counts requests and answers each with `answer(n)` (None: close unanswered).
fn serve(answer: fn(u64) -> Option<&'static str>) -> (String, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let c = c.clone();
            std::thread::spawn(move || {
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                while read_request(&mut r) {
                    let n = c.fetch_add(1, Ordering::SeqCst);
                    match answer(n) {
                        Some(resp) => {
                            let _ = w.write_all(resp.as_bytes());
                        }
                        None => return,
                    }
                }
            });
        }
    });
    (url, count)
}

fn world() -> botify_core::World {
    generate(&WorldParams {
        tracks: 500,
        users: 100,
        dim: 8,
        seed: 3,
        ..Default::default()
    })
    .unwrap()
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 24\r\n\r\n{\"user\": 1, \"track\": 17}";
const FAIL: &str = "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\n{}";

#[test]
fn a_lost_answer_is_an_error_and_is_not_sent_again() {
    let w = world();
    // The connection check succeeds; the first real request is read and never answered.
    let (url, count) = serve(|_| None);
    let remote = Remote::parse(&url).unwrap();
    let mut sim = Simulator::new(&w, 10).unwrap();
    let p = SimParams {
        episodes: 1,
        ..SimParams::default()
    };
    let err = sim
        .run_day_remote(&remote, &p, 1, 1, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("not retried"), "{err}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "the request was sent again"
    );
    assert_eq!(remote.retries(), 0);
}

#[test]
fn the_first_error_stops_every_worker() {
    let w = world();
    let (url, count) = serve(|n| if n == 3 { Some(FAIL) } else { Some(OK) });
    let remote = Remote::parse(&url).unwrap();
    let mut sim = Simulator::new(&w, 10).unwrap();
    let p = SimParams {
        episodes: 2000,
        max_steps: 5,
        ..SimParams::default()
    };
    let err = sim
        .run_day_remote(&remote, &p, 8, 1, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("500"), "{err}");
    // Each of the 8 workers finishes at most the session it is in (≤ 6 requests each): far
    // fewer than the day's 2000 sessions.
    let sent = count.load(Ordering::SeqCst);
    assert!(sent <= 4 + 8 * 6, "{sent} requests after the failure");
}
