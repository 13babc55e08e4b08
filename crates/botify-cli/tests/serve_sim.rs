//! The real binary end to end: `botify serve` on a free loopback port driven by
//! `botify sim --remote`, graceful stop, the event log, `botify assign`, and clear failures.

mod common;
use common::{bin, expect_success, free_port, world};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `botify serve` of `world`'s catalogue on a free port, logging into `log`, once it listens.
fn serve(world: &std::path::Path, log: &std::path::Path, stderr: Stdio) -> (Server, u16) {
    let port = free_port();
    let server = bin()
        .args([
            "serve",
            "--catalog",
            world.join("tracks.json").to_str().unwrap(),
        ])
        .args([
            "--log-dir",
            log.to_str().unwrap(),
            "--port",
            &port.to_string(),
        ])
        .stderr(stderr)
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (Server(server), port)
}

#[test]
fn sim_drives_the_real_service_and_every_answer_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path(), "world", 3000, 200, 16);
    let log = dir.path().join("log");
    let (mut server, port) = serve(&world, &log, Stdio::piped());
    let out = common::sim(&world, 300)
        .args([
            "--remote",
            &format!("http://127.0.0.1:{port}"),
            "--concurrency",
            "8",
            "--json",
            dir.path().join("eps.jsonl").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    expect_success(&out);
    let eps = std::fs::read_to_string(dir.path().join("eps.jsonl")).unwrap();
    let steps: u64 = eps
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["steps"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(eps.lines().count(), 300);
    // Graceful stop: SIGTERM, then every answered request is in the log.
    kill_term(server.0.id());
    let status = server.0.wait().unwrap();
    assert!(status.success());
    let lines = std::fs::read_to_string(log.join("data.json")).unwrap();
    assert_eq!(lines.lines().count() as u64, steps + 300);
    let mut err = String::new();
    std::io::Read::read_to_string(server.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        err.contains(&format!(
            "{} next/last requests answered, {} event-log lines written",
            steps + 300,
            steps + 300
        )),
        "{err}"
    );
}

fn kill_term(pid: u32) {
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn unreachable_service_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path(), "world", 500, 10, 8);
    let port = free_port();
    let out = common::sim(&world, 5)
        .args(["--remote", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect") && err.contains(&port.to_string()),
        "{err}"
    );
}

#[test]
fn assign_prints_course_treatments() {
    let out = bin()
        .args([
            "assign",
            "PERSONALIZED",
            "--buckets",
            "2",
            "0",
            "1",
            "2",
            "3",
            "4",
            "5",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "0\tC\n1\tT1\n2\tT1\n3\tC\n4\tC\n5\tC\n"
    );
    let mut child = bin()
        .args(["assign", "PERSONALIZED", "--buckets", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"1\n\n2\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\tT1\n2\tT1\n");
    let out = bin()
        .args(["assign", "X", "--buckets", "2", "abc"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"abc\""));
}

/// A world whose listeners return, drift and tire, driven over HTTP for three days: every
/// answer is logged, and the first day's visits (planned before any recommendation) are the
/// in-process run's.
#[test]
fn listener_dynamics_drive_the_real_service() {
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path(), "world", 3000, 200, 16);
    std::fs::write(
        world.join("dynamics.json"),
        r#"{"returns": 2.0, "drift": 0.1, "taste_pull": 0.1, "boredom": 0.3, "genre_boredom": 0.02}"#,
    )
    .unwrap();
    let log = dir.path().join("log");
    let (mut server, port) = serve(&world, &log, Stdio::null());
    let sim = |extra: &[&str], json: &str| {
        let out = common::sim(&world, 300)
            .args([
                "--days",
                "3",
                "--json",
                dir.path().join(json).to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap();
        expect_success(&out);
        let text = std::fs::read_to_string(dir.path().join(json)).unwrap();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let url = format!("http://127.0.0.1:{port}");
    let remote = sim(&["--remote", &url, "--concurrency", "8"], "remote.jsonl");
    let local = sim(&["--recommender", "random"], "local.jsonl");
    let day = |eps: &[serde_json::Value], d: u64| -> Vec<u64> {
        eps.iter()
            .filter(|e| e["day"] == d)
            .map(|e| e["user"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        day(&remote, 0),
        day(&local, 0),
        "day 1's visits are planned alike"
    );
    assert!(
        (0..3).any(|d| day(&remote, d).len() != 300),
        "visits, not a fixed number of sessions a day"
    );
    kill_term(server.0.id());
    assert!(server.0.wait().unwrap().success());
    let steps: u64 = remote.iter().map(|e| e["steps"].as_u64().unwrap()).sum();
    let lines = std::fs::read_to_string(log.join("data.json")).unwrap();
    assert_eq!(lines.lines().count() as u64, steps + remote.len() as u64);
}
