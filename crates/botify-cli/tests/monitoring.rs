//! Monitoring as a user sets it up: the service's `/metrics` passes Prometheus's own linter, a
//! real Prometheus scrapes it with the shipped alert rules loaded, and every query of the shipped
//! Grafana dashboard runs against what it scraped. Needs `prometheus` and `promtool` (Debian's
//! `prometheus` package; CI installs it). Grafana itself is not run here: its dashboard JSON is
//! checked for the structure Grafana's provisioning reads.

mod common;
use common::{bin, free_port, http, world};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn installed() -> bool {
    let ok = ["prometheus", "promtool"].iter().all(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        assert!(
            std::env::var_os("BOTIFY_REQUIRE_PROMETHEUS").is_none(),
            "prometheus is required (BOTIFY_REQUIRE_PROMETHEUS is set) but is not installed"
        );
        common::skipped("prometheus/promtool are not installed; CI installs them");
    }
    ok
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query(prom: u16, expr: &str) -> Value {
    let (status, body) = http(
        prom,
        "GET",
        &format!("/api/v1/query?query={}", encode(expr)),
        &[],
        "",
    );
    assert_eq!(status, 200, "{expr}: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success", "{expr}: {body}");
    v["data"]["result"].clone()
}

/// Every PromQL expression of the shipped dashboard, with Grafana's interval variable filled in.
fn dashboard_queries() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(repo().join("deploy/grafana/dashboards/botify.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dash["uid"], "botify");
    let panels = dash["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    let mut out = Vec::new();
    for p in panels {
        let title = p["title"].as_str().unwrap().to_string();
        assert_eq!(p["datasource"]["uid"], "prometheus", "{title}");
        for key in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}");
        for t in targets {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "30s");
            out.push((title.clone(), expr));
        }
    }
    out
}

#[test]
fn the_shipped_prometheus_config_and_alert_rules_are_valid() {
    if !installed() {
        return;
    }
    let dir = repo().join("deploy/prometheus");
    let (ok, out) = promtool(
        &["check", "rules", dir.join("alerts.yml").to_str().unwrap()],
        None,
    );
    assert!(ok, "{out}");
    let (ok, out) = promtool(
        &[
            "check",
            "config",
            dir.join("prometheus.yml").to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{out}");
}

#[test]
fn prometheus_scrapes_the_service_and_every_dashboard_query_answers() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let w = world(dir.path(), "world", 2000, 300, 16);
    let port = free_port();
    let _service = Killed(
        bin()
            .args([
                "serve",
                "--catalog",
                w.join("tracks.json").to_str().unwrap(),
            ])
            .args(["--port", &port.to_string(), "--log-format", "json"])
            .args(["--log-dir", dir.path().join("log").to_str().unwrap()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while http(port, "GET", "/health", &[], "").0 != 200 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the service never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Traffic, so that every series has samples.
    let traffic = || {
        let ok = common::sim(&w, 300)
            .args(["--remote", &format!("http://127.0.0.1:{port}"), "-q"])
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    traffic();

    // Prometheus's own parser and linter accept the exposition.
    let (status, metrics) = http(port, "GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    let (ok, lint) = promtool(&["check", "metrics"], Some(&metrics));
    assert!(
        ok && lint.trim().is_empty(),
        "promtool check metrics: {lint}"
    );

    // A real Prometheus scraping it every second, with the shipped alert rules.
    let prom = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: botify\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n",
            repo().join("deploy/prometheus/alerts.yml").display()
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Up, scraped at least a few times (rates need two samples).
    let t = Instant::now();
    loop {
        let up = http(
            prom,
            "GET",
            "/api/v1/query?query=count_over_time(up%5B1m%5D)",
            &[],
            "",
        );
        let scrapes = serde_json::from_str::<Value>(&up.1).ok().and_then(|v| {
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|n| n.parse::<u32>().ok())
        });
        if scrapes.is_some_and(|n| n >= 4) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "prometheus never scraped: {up:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    traffic();
    std::thread::sleep(Duration::from_secs(2));
    let (_, targets) = http(prom, "GET", "/api/v1/targets", &[], "");
    let targets: Value = serde_json::from_str(&targets).unwrap();
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!(target["health"], "up", "{target}");
    assert_eq!(target["lastError"], "", "{target}");

    // The gauges, the process metrics and the build are there.
    for name in [
        "botify_connections_open",
        "botify_requests_in_flight",
        "botify_history_users",
        "botify_log_queued",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert_eq!(query(prom, name).as_array().unwrap().len(), 1, "{name}");
    }
    let users = query(prom, "botify_history_users");
    assert!(
        users[0]["value"][1]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            > 0.0
    );
    let build = query(prom, "botify_build_info");
    assert_eq!(build[0]["metric"]["version"], env!("CARGO_PKG_VERSION"));

    // Every dashboard query is valid PromQL that finds data.
    for (title, expr) in dashboard_queries() {
        let result = query(prom, &expr);
        assert!(
            !result.as_array().unwrap().is_empty(),
            "dashboard panel {title:?}: {expr} finds nothing"
        );
    }

    // The alert rules are loaded and evaluate without error; with a healthy service none fires.
    let (_, rules) = http(prom, "GET", "/api/v1/rules", &[], "");
    let rules: Value = serde_json::from_str(&rules).unwrap();
    let loaded: Vec<&Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect();
    assert_eq!(loaded.len(), 9, "{rules}");
    for r in &loaded {
        assert_eq!(r["health"], "ok", "{r}");
        assert_eq!(r["state"], "inactive", "{r}");
    }
}
