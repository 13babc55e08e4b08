//! `botify experiment run` end to end on a tiny world: in-process (bit-reproducible), over HTTP,
//! and the failure paths.

mod common;
use common::{bin, outcome};
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
factors = 8
als_iterations = 3
mf_epochs = 3
k = 30
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
        "world/tracks.json",
    ] {
        assert!(a.path().join("run").join(f).exists(), "{f} missing");
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.path().join("run/results.json")).unwrap())
            .unwrap();
    assert_eq!(results["rows"].as_array().unwrap().len(), 5 * 6);
    let (ok, _, err) = run(TINY, b.path(), &["--in-process"]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(a.path().join("run/results.json")).unwrap(),
        std::fs::read(b.path().join("run/results.json")).unwrap()
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
