//! Helpers shared by the `botify` binary's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_botify"))
}

/// `botify sim --world WORLD --episodes N`, for the test to add its recommender, service or log.
pub fn sim(world: &Path, episodes: u32) -> Command {
    let mut c = bin();
    c.args(["sim", "--world", world.to_str().unwrap()])
        .args(["--episodes", &episodes.to_string()]);
    c
}

/// Generates a world into `dir/name` with the real binary and returns its path.
pub fn world(dir: &Path, name: &str, tracks: u32, users: u32, dim: u32) -> PathBuf {
    let out = dir.join(name);
    let ok = bin()
        .args(["world", "generate", "--out", out.to_str().unwrap()])
        .args([
            "--tracks",
            &tracks.to_string(),
            "--users",
            &users.to_string(),
            "--dim",
            &dim.to_string(),
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "world generate failed");
    out
}

/// An experiments file `E` (2 buckets) with the given control and treatment specs.
pub fn experiment(dir: &Path, control: &str, treatment: &str) -> PathBuf {
    let p = dir.join("exp.toml");
    std::fs::write(&p, format!("[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = {control}\ntreatments.T1 = {treatment}\n")).unwrap();
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `botify` with `args`: (exit code, stdout, stderr).
pub fn run_code(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `botify` with `args`: (success, stdout, stderr).
pub fn botify(args: &[&str]) -> (bool, String, String) {
    outcome(bin().args(args).output().unwrap())
}

pub fn outcome(out: std::process::Output) -> (bool, String, String) {
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A command's stdout, asserting that it succeeded (its stderr is the failure message).
pub fn expect_success(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One HTTP/1.1 request to 127.0.0.1:`port` on a fresh connection, with extra header lines
/// (`"authorization: Bearer x"`): (status, body), or (0, "") when nothing answers. Chunked
/// bodies are decoded.
pub fn http(port: u16, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(30)));
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n{extra}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let Some((head, mut rest)) = text.split_once("\r\n\r\n") else {
        return (status, String::new());
    };
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (status, rest.to_string());
    }
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    (status, out)
}

/// An installed Chromium (or Chrome), if any: browser checks skip without one (CI installs it).
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Headless `browser` with flags for a closed network, as root, with the fresh `profile`.
pub fn headless(browser: &str, profile: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(extra)
        .output()
        .unwrap()
}

/// A 3,000-track world (`dir/world`), experiment `E` (StickyArtist against Random,
/// `dir/exp.toml`) and a day of `episodes` sessions simulated in-process into `dir/log`.
pub fn logged_day(dir: &Path, episodes: u32) {
    world(dir, "world", 3000, 300, 16);
    let exp = experiment(dir, "{ type = \"sticky_artist\" }", "{ type = \"random\" }");
    let ok = bin()
        .args(["sim", "--world", dir.join("world").to_str().unwrap()])
        .args(["--experiments", exp.to_str().unwrap()])
        .args(["--episodes", &episodes.to_string()])
        .args(["--log-dir", dir.join("log").to_str().unwrap()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "botify sim failed");
}

#[path = "../../../botify-server/tests/common/redis_servers.rs"]
mod redis_servers;
#[path = "../../../botify-server/tests/common/skip.rs"]
mod skip;
#[allow(unused_imports)]
pub use redis_servers::*;
pub use skip::skipped;
