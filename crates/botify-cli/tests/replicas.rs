//! Three `botify serve` replicas behind a real HAProxy (the shipped deploy/haproxy.cfg) with their
//! state in a real Redis, or in a real 3-master Redis Cluster: a history-aware recommender answers
//! the same whichever replica gets the request, a replica stopped mid-run (SIGTERM, draining)
//! loses no answered request's log line while the run goes on, and `botify ab` over the replicas'
//! log directories gives the table of their merged log.

mod common;
use common::{Redis, RedisCluster, bin, expect_success, free_port, world};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (if still running) on drop.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn haproxy() -> Option<&'static str> {
    let found = Command::new("haproxy")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("haproxy");
    }
    assert!(
        std::env::var_os("BOTIFY_REQUIRE_HAPROXY").is_none(),
        "haproxy is required (BOTIFY_REQUIRE_HAPROXY is set) but is not installed"
    );
    common::skipped("haproxy is not installed; CI installs it");
    None
}

fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    common::http(port, method, path, &[], body)
}

fn wait_for(port: u16) {
    let t = Instant::now();
    while http(port, "GET", "/", "").0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "nothing answers on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill_term(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -TERM {pid} failed");
}

/// `next` requests a replica has answered, from its /metrics.
fn answered(port: u16) -> u64 {
    let (_, text) = http(port, "GET", "/metrics", "");
    text.lines()
        .filter(|l| l.starts_with("botify_requests_total{endpoint=\"next\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A user id (outside the simulated world's) that experiment `E` puts in treatment T1.
fn user_in_t1() -> u64 {
    let out = bin()
        .args(["assign", "E", "--buckets", "2"])
        .args((100_000..100_020).map(|u: u64| u.to_string()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_suffix("\tT1")?.parse().ok())
        .expect("one of 20 users is in T1")
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// `botify sim --remote` through the balancer on `lb`: a day of `episodes` sessions, 16 at a
/// time, each session's statistics written to `eps`.
fn remote_day(world: &Path, lb: u16, episodes: usize, eps: &Path) -> Proc {
    Proc(
        bin()
            .args(["sim", "--world"])
            .arg(world)
            .args(["--remote", &format!("http://127.0.0.1:{lb}")])
            .args(["--episodes", &episodes.to_string(), "--concurrency", "16"])
            .arg("--json")
            .arg(eps)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits for a process: its exit status and what it wrote on stderr.
fn finished(p: &mut Proc) -> (std::process::ExitStatus, String) {
    let status = p.0.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = p.0.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (status, err)
}

/// Requests a finished remote day made (each session's steps and its `last` call), from its
/// statistics file, which must hold all `episodes` sessions.
fn requests_made(eps: &Path, episodes: usize) -> usize {
    let text = std::fs::read_to_string(eps).unwrap();
    assert_eq!(text.lines().count(), episodes);
    text.lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["steps"]
                .as_u64()
                .unwrap() as usize
                + 1
        })
        .sum()
}

/// One `botify serve` a log directory, each on a free port, answering before this returns.
fn start_replicas(
    world: &Path,
    exp: &Path,
    redis: &[&str],
    logs: &[PathBuf],
) -> (Vec<Proc>, Vec<u16>) {
    let mut replicas = Vec::new();
    let mut ports = Vec::new();
    for log in logs {
        let port = free_port();
        let child = bin()
            .args(["serve", "--catalog"])
            .arg(world.join("tracks.json"))
            .arg("--experiments")
            .arg(exp)
            .args(redis)
            .args(["--drain", "2", "--port"])
            .arg(port.to_string())
            .arg("--log-dir")
            .arg(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        replicas.push(Proc(child));
        wait_for(port);
        ports.push(port);
    }
    (replicas, ports)
}

/// HAProxy with the shipped deploy/haproxy.cfg, one server line per replica: (process, port).
fn balancer(dir: &Path, ports: &[u16]) -> (Proc, u16) {
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/haproxy.cfg"),
    )
    .unwrap();
    let mut cfg: String = shipped
        .lines()
        .take_while(|l| !l.contains("server r1"))
        .map(|l| format!("{l}\n"))
        .collect();
    for (i, p) in ports.iter().enumerate() {
        cfg.push_str(&format!("    server r{} 127.0.0.1:{p}\n", i + 1));
    }
    let cfg_file = dir.join("haproxy.cfg");
    std::fs::write(&cfg_file, cfg).unwrap();
    let lb = free_port();
    let balancer = Proc(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&cfg_file)
            .env("BOTIFY_LB_ADDR", format!("127.0.0.1:{lb}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(lb);
    (balancer, lb)
}

fn three_replicas_behind_haproxy(redis_flag: &str, redis_value: &str) {
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path(), "world", 3000, 300, 16);
    // StickyArtist against a history-aware item-to-item recommender: the first neighbour of the
    // current track that the user was not recommended before.
    let i2i = dir.path().join("i2i.jsonl");
    std::fs::write(&i2i, "{\"track\": 1, \"recommendations\": [2, 3, 4]}\n").unwrap();
    let exp = dir.path().join("exp.toml");
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"sticky_artist\" }\ntreatments.T1 = { type = \"history_i2i\", file = \"i2i.jsonl\" }\n").unwrap();
    // The replicas read the data file from Redis, not from disk.
    let out = bin()
        .args(["data", "push", redis_flag, redis_value, "--experiments"])
        .arg(&exp)
        .output()
        .unwrap();
    expect_success(&out);
    std::fs::remove_file(&i2i).unwrap();

    let logs: Vec<PathBuf> = (1..=3)
        .map(|i| dir.path().join(format!("log-{i}")))
        .collect();
    let (mut replicas, ports) = start_replicas(&world, &exp, &[redis_flag, redis_value], &logs);
    let (_balancer, lb) = balancer(dir.path(), &ports);

    // History lives in Redis: round robin sends these three requests to three replicas, and each
    // sees what the others recommended.
    let user = user_in_t1();
    let got: Vec<u64> = (0..3)
        .map(|_| {
            let (s, b) = http(
                lb,
                "POST",
                &format!("/next/{user}"),
                r#"{"track": 1, "time": 1.0}"#,
            );
            assert_eq!(s, 200, "{b}");
            serde_json::from_str::<serde_json::Value>(&b).unwrap()["track"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(got, vec![2, 3, 4]);
    let answered_each: Vec<u64> = ports.iter().map(|&p| answered(p)).collect();
    assert_eq!(
        answered_each,
        vec![1, 1, 1],
        "round robin over the replicas"
    );

    // A day of traffic through the balancer; replica 1 is stopped in the middle of it.
    let episodes = 3000;
    let eps = dir.path().join("eps.jsonl");
    let mut sim = remote_day(&world, lb, episodes, &eps);
    let t = Instant::now();
    while answered(ports[0]) < 300 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "replica 1 got no traffic"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        sim.0.try_wait().unwrap().is_none(),
        "the run must still be going when replica 1 stops"
    );
    kill_term(replicas[0].0.id());
    let status = replicas[0].0.wait().unwrap();
    assert!(status.success(), "replica 1 exits cleanly after draining");
    let (status, err) = finished(&mut sim);
    assert!(
        status.success(),
        "the run goes on through the others: {err}"
    );
    for r in &replicas[1..] {
        kill_term(r.0.id());
    }
    for r in &mut replicas[1..] {
        assert!(r.0.wait().unwrap().success());
    }

    // Every answered request is in exactly one replica's log.
    let requests = requests_made(&eps, episodes);
    let per_replica: Vec<usize> = logs.iter().map(|l| lines(&l.join("data.json"))).collect();
    assert_eq!(
        per_replica.iter().sum::<usize>(),
        requests + 3,
        "log lines {per_replica:?} against {requests} answered requests and 3 history checks"
    );
    assert!(per_replica.iter().all(|&n| n >= 300), "{per_replica:?}");

    // The A/B table over the three directories is the table of their merged log.
    let merged = dir.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let all: String = logs
        .iter()
        .map(|l| std::fs::read_to_string(l.join("data.json")).unwrap())
        .collect();
    std::fs::write(merged.join("data.json"), all).unwrap();
    let ab = |dirs: &[&Path]| {
        let out = bin()
            .args(["ab", "--experiment", "E"])
            .args(dirs)
            .output()
            .unwrap();
        expect_success(&out)
    };
    let over_replicas = ab(&[&logs[0], &logs[1], &logs[2]]);
    assert!(over_replicas.contains("T1"), "{over_replicas}");
    assert_eq!(over_replicas, ab(&[&merged]));
}

#[test]
fn replicas_behind_haproxy_share_state_in_redis() {
    let Some(_) = haproxy() else { return };
    let Some(redis) = Redis::start() else { return };
    three_replicas_behind_haproxy("--redis", &redis.url());
}

#[test]
fn replicas_behind_haproxy_share_state_in_a_redis_cluster() {
    let Some(_) = haproxy() else { return };
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    three_replicas_behind_haproxy("--redis-cluster", &cluster.urls());
    // Users' histories are spread over the three masters.
    let keys = cluster.keys_per_node();
    assert!(keys.iter().all(|&n| n > 10), "{keys:?}");
}

/// Redis dies in the middle of a day of traffic through the shipped balancer: the replicas are
/// degraded (no history) but ready, so they stay in rotation and every request is answered —
/// `botify sim --remote` stops at the first error, so its success means none failed.
#[test]
fn a_redis_killed_mid_load_is_no_outage_behind_the_balancer() {
    let Some(_) = haproxy() else { return };
    let Some(redis) = Redis::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path(), "world", 3000, 300, 16);
    let exp = dir.path().join("exp.toml");
    let i2i: String = (0..3000)
        .map(|t| {
            format!(
                "{{\"track\": {t}, \"recommendations\": [{}, {}]}}\n",
                (t + 1) % 3000,
                (t + 2) % 3000
            )
        })
        .collect();
    std::fs::write(dir.path().join("i2i.jsonl"), i2i).unwrap();
    std::fs::write(&exp, "[[experiment]]\nname = \"E\"\nbuckets = 2\ntreatments.C = { type = \"sticky_artist\" }\ntreatments.T1 = { type = \"history_i2i\", file = \"i2i.jsonl\" }\n").unwrap();
    let logs: Vec<PathBuf> = (1..=2)
        .map(|i| dir.path().join(format!("log-{i}")))
        .collect();
    let url = redis.url();
    let (mut replicas, ports) = start_replicas(&world, &exp, &["--redis", &url], &logs);
    let (_balancer, lb) = balancer(dir.path(), &ports);
    let episodes = 3000;
    let eps = dir.path().join("eps.jsonl");
    let mut sim = remote_day(&world, lb, episodes, &eps);
    let t = Instant::now();
    while answered(ports[0]) + answered(ports[1]) < 2000 {
        assert!(t.elapsed() < Duration::from_secs(60), "no traffic");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        sim.0.try_wait().unwrap().is_none(),
        "the run must still be going when Redis dies"
    );
    drop(redis);
    let (code, body) = http(ports[0], "GET", "/health", "");
    assert_eq!(code, 200, "{body}");
    let (status, err) = finished(&mut sim);
    assert!(status.success(), "every request was answered: {err}");
    let (_, body) = http(ports[1], "GET", "/health", "");
    assert!(body.contains("\"degraded\""), "{body}");
    for r in &replicas {
        kill_term(r.0.id());
    }
    for r in &mut replicas {
        assert!(r.0.wait().unwrap().success());
    }
    let requests = requests_made(&eps, episodes);
    let logged: usize = logs.iter().map(|l| lines(&l.join("data.json"))).sum();
    assert_eq!(logged, requests);
}
