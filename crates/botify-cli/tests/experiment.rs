//! `botify experiment run` end to end on a tiny world: in-process (bit-reproducible), over HTTP,
//! and the failure paths.

mod common;
use common::{RedisCluster, bin, outcome};
use std::path::Path;

const TINY: &str = r#"
name = "tiny"
seed = 7
[world]
tracks = 3000
users = 300
dim = 16
[day1]
episodes = 3000
[train]
k = 30
[train.als]
factors = 8
iterations = 3
[train.mf]
factors = 8
epochs = 3
[train.contextual]
dim = 16
[ab]
episodes = 3000
"#;

fn run(plan: &str, dir: &Path, extra: &[&str]) -> (bool, String, String) {
    let p = dir.join("plan.toml");
    std::fs::write(&p, plan).unwrap();
    let out = bin()
        .args([
            "experiment",
            "run",
            p.to_str().unwrap(),
            "--out",
            dir.join("run").to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    outcome(out)
}

#[test]
fn in_process_runs_are_reproducible_to_the_bit() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(TINY, a.path(), &["--in-process"]);
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("mean_time_per_session") && out.contains("report.html"),
        "{out}"
    );
    for f in [
        "plan.toml",
        "report.md",
        "report.html",
        "results.json",
        "models/als.jsonl",
        "models/i2i.jsonl",
        "models/top_tracks.json",
        "models/mf.curve.csv",
        "models/mf.curve.png",
        "models/i2i_nn.jsonl",
        "models/i2i_nn.curve.png",
        "models/i2i_nn.model.safetensors",
        "models/i2i_anchor.jsonl",
        "world/tracks.json",
    ] {
        assert!(a.path().join("run").join(f).exists(), "{f} missing");
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.path().join("run/results.json")).unwrap())
            .unwrap();
    // The default plan's 9 treatments × 5 metrics.
    assert_eq!(results["rows"].as_array().unwrap().len(), 5 * 9);
    let (ok, _, err) = run(TINY, b.path(), &["--in-process"]);
    assert!(ok, "{err}");
    let read = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("run/results.json")).unwrap()).unwrap()
    };
    // Everything but the measured latencies (and what they enter) is the same to the bit.
    assert_eq!(
        botify_lab::run::reproducible_part(&read(a.path())),
        botify_lab::run::reproducible_part(&read(b.path()))
    );
}

#[test]
fn http_run_uses_the_real_service_and_hot_reload() {
    let d = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(TINY, d.path(), &[]);
    assert!(ok, "{out}\n{err}");
    assert!(
        err.contains("hot reload") && err.contains("log lines written"),
        "{err}"
    );
    let log = std::fs::read_to_string(d.path().join("run/log/data.json")).unwrap();
    assert!(log.contains("\"DAY1\"") && log.contains("\"AB\""));
    assert!(d.path().join("run/report.html").exists());
}

#[test]
fn http_run_keeps_the_service_state_in_a_redis_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(TINY, d.path(), &["--redis-cluster", &cluster.urls()]);
    assert!(ok, "{out}\n{err}");
    assert!(err.contains("state in Redis cluster"), "{err}");
    // The service kept every simulated user's history in the cluster, spread over its masters.
    let keys = cluster.keys_per_node();
    assert!(keys.iter().all(|&n| n > 10), "{keys:?}");
    let (ok, _, err) = run(
        TINY,
        d.path(),
        &["--in-process", "--redis-cluster", &cluster.urls()],
    );
    assert!(!ok && err.contains("cannot be used with"), "{err}");
}

#[test]
fn bad_plans_are_rejected_before_anything_runs() {
    let d = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(
        &format!("{TINY}\nepisodez = 3"),
        d.path(),
        &["--in-process"],
    );
    assert!(!ok && err.contains("episodez"), "{err}");
    assert!(
        !d.path().join("run").exists(),
        "a rejected plan must not start a run"
    );
    let bad = TINY.replace(
        "[ab]",
        "[ab]\ntreatments = [{ type = \"indexed\", file = \"models/nope.jsonl\" }]",
    );
    let (ok, _, err) = run(&bad, d.path(), &["--in-process"]);
    assert!(
        !ok && err.contains("ab.treatments[0]") && err.contains("models/nope.jsonl"),
        "{err}"
    );
    // DIFM re-ranks MF's lists: a plan without mf before it is refused, naming why.
    let bad = TINY.replace("[train]", "[train]\nmodels = [\"difm\", \"mf\"]");
    let (ok, _, err) = run(&bad, d.path(), &["--in-process"]);
    assert!(
        !ok && err.contains("candidates \"models/mf.jsonl\" is not written by an earlier model"),
        "{err}"
    );
    // An existing, non-empty run directory is refused: logs would mix.
    std::fs::create_dir_all(d.path().join("run")).unwrap();
    std::fs::write(d.path().join("run/keep.txt"), "earlier run").unwrap();
    let (ok, _, err) = run(TINY, d.path(), &["--in-process"]);
    assert!(!ok && err.contains("already holds files"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("run/keep.txt")).unwrap(),
        "earlier run"
    );
    std::fs::remove_dir_all(d.path().join("run")).unwrap();
    let bad = TINY.replace("[world]", "[world]\ndir = \"/nonexistent/world\"");
    let (ok, _, err) = run(&bad, d.path(), &["--in-process"]);
    assert!(
        !ok && err.contains("stage 'world' failed") && err.contains("/nonexistent/world"),
        "{err}"
    );
    let out = bin().args(["experiment", "default"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("[ab]") && text.contains("sticky_artist"),
        "{text}"
    );
}

/// Every plan in `examples/`, shrunk to a tiny world, runs end to end (in-process) and reports
/// each of its treatments.
#[test]
fn example_plans_run() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("[ab]") {
            continue;
        }
        let mut plan: toml::Table = text.parse().unwrap();
        let set = |plan: &mut toml::Table, section: &str, key: &str, v: i64| {
            if let Some(t) = plan.get_mut(section).and_then(|s| s.as_table_mut()) {
                t.insert(key.into(), toml::Value::Integer(v));
            }
        };
        for (section, key, v) in [
            ("world", "tracks", 3000),
            ("world", "users", 300),
            ("world", "dim", 16),
            ("day1", "episodes", 3000),
            ("ab", "episodes", 2000),
        ] {
            set(&mut plan, section, key, v);
        }
        // Each listed model made small: its [train.<name>] table, created where missing.
        let train = plan["train"].as_table_mut().unwrap();
        let models: Vec<String> = train["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect();
        let mut trials = None;
        for name in &models {
            let small: &[(&str, i64)] = match name.as_str() {
                "als" | "ips" => &[("factors", 8), ("iterations", 3)],
                "mf" | "mf_features" => &[("factors", 8), ("epochs", 2)],
                "contextual" | "dssm" | "difm" => &[("dim", 8), ("epochs", 2)],
                _ => &[],
            };
            let table = train
                .entry(name.as_str())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .unwrap();
            for (key, v) in small {
                table.insert((*key).into(), toml::Value::Integer(*v));
            }
            if let Some(n) = table.get("search").and_then(|v| v.as_integer()) {
                trials = Some(n);
                table.insert("search".into(), toml::Value::Integer(n.min(2)));
            }
        }
        let treatments = plan["ab"]["treatments"].as_array().unwrap().len();
        let d = tempfile::tempdir().unwrap();
        let (ok, out, err) = run(
            &toml::to_string(&plan).unwrap(),
            d.path(),
            &["--in-process"],
        );
        assert!(ok, "{}:\n{out}\n{err}", path.display());
        let results: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.path().join("run/results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            results["rows"].as_array().unwrap().len(),
            5 * treatments,
            "{}",
            path.display()
        );
        if trials.is_some() {
            assert!(d.path().join("run/models/mf_features.params.json").exists());
        }
        ran += 1;
    }
    assert!(ran >= 6, "hw1..hw5 and homework.toml expected, ran {ran}");
}
