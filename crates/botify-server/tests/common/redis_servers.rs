//! Real Redis servers for tests: one redis-server, or a 3-master Redis Cluster, on free loopback
//! ports, killed on drop. Shared by the server's and the binary's tests.
#![allow(dead_code)]

use botify_server::RedisTarget;
use std::process::{Child, Command, Stdio};

/// A real redis-server on a free loopback port, killed on drop.
pub struct Redis {
    pub port: u16,
    child: Child,
}

impl Redis {
    /// `None` (with a printed reason) when redis-server is not installed, unless
    /// `BOTIFY_REQUIRE_REDIS` is set (CI sets it, so Redis tests never pass vacuously there).
    pub fn start() -> Option<Redis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Redis::start_on(port)
    }

    pub fn start_on(port: u16) -> Option<Redis> {
        Redis::start_with(port, &[])
    }

    fn start_with(port: u16, extra: &[&str]) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if std::env::var_os("BOTIFY_REQUIRE_REDIS").is_some() => {
                panic!(
                    "redis-server is required (BOTIFY_REQUIRE_REDIS is set) but did not start: {e}"
                )
            }
            Err(e) => {
                super::skipped(&format!(
                    "redis-server is not installed ({e}); CI installs it"
                ));
                return None;
            }
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Redis { port, child });
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("redis-server did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn target(&self) -> RedisTarget {
        RedisTarget::Single(self.url())
    }

    /// `redis-cli` against this server: its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (from redis-tools) runs");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Hangs the server (SIGSTOP): connections stay open, nothing answers.
    pub fn hang(&self) {
        self.signal("-STOP");
    }

    /// Resumes a hung server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} redis-server failed");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real 3-master Redis Cluster on loopback (`redis-server --cluster-enabled yes`, joined with
/// `redis-cli --cluster create`), killed on drop. `None` as for [`Redis::start`].
pub struct RedisCluster {
    pub nodes: Vec<Redis>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> Option<RedisCluster> {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        for i in 0..3 {
            let node_dir = dir.path().join(format!("node{i}"));
            std::fs::create_dir(&node_dir).unwrap();
            let node = Redis::start_with(
                cluster_port(),
                &[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--dir",
                    node_dir.to_str().unwrap(),
                ],
            )?;
            nodes.push(node);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli (from redis-tools) is needed to create a cluster");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // Every node must see all 16,384 slots served before the cluster takes commands.
        for n in &nodes {
            let mut ok = false;
            for _ in 0..300 {
                if n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                    ok = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(ok, "the cluster did not become ready on port {}", n.port);
        }
        Some(RedisCluster { nodes, _dir: dir })
    }

    pub fn target(&self) -> RedisTarget {
        RedisTarget::Cluster(self.nodes.iter().map(Redis::url).collect())
    }

    /// Empties every master, so checks that share the cluster start clean.
    pub fn flush(&self) {
        for n in &self.nodes {
            n.cli(&["FLUSHALL"]);
        }
    }

    /// Keys stored on each master.
    pub fn keys_per_node(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .map(|n| n.cli(&["DBSIZE"]).trim().parse().unwrap())
            .collect()
    }

    /// The nodes' URLs, comma-separated, as `--redis-cluster` takes them.
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(Redis::url)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A free port whose cluster bus port (+10,000) is free too.
fn cluster_port() -> u16 {
    use std::net::TcpListener;
    loop {
        let p = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < 55_000 && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok() {
            return p;
        }
    }
}
