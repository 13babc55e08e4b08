//! `botify ope` end to end: a logged day with exploration, the JSON rows the issue promises, and
//! clear errors for what it cannot do.

mod common;
use common::{bin, expect_success, world};

#[test]
fn ope_estimates_from_a_logged_day_and_explains_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let world = world(dir.path(), "world", 3000, 300, 16);
    let log = dir.path().join("log");
    let logging = r#"{ type = "epsilon", epsilon = 0.3, inner = { type = "sticky_artist" } }"#;
    let out = common::sim(&world, 2000)
        .args(["--recommender", logging, "--log-dir", log.to_str().unwrap()])
        .output()
        .unwrap();
    expect_success(&out);
    let ope = |extra: &[&str]| {
        bin()
            .args([
                "ope",
                "--logs",
                log.to_str().unwrap(),
                "--catalog",
                world.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let policy = r#"{ type = "epsilon", epsilon = 0.6, inner = { type = "sticky_artist" } }"#;
    let out = ope(&["--policy", policy, "--format", "json"]);
    expect_success(&out);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[0]["estimator"], "dr", "the default estimator first");
    for r in &rows {
        let (e, lo, hi) = (
            r["estimate"].as_f64().unwrap(),
            r["lower"].as_f64().unwrap(),
            r["upper"].as_f64().unwrap(),
        );
        assert!(
            lo <= e && e <= hi && r["ess"].as_f64().unwrap() > 0.0,
            "{r}"
        );
        // A session has its first track (1.0) and some listening after it.
        assert!(e > 1.0 && e < 20.0, "{r}");
    }
    let out = ope(&[
        "--policy",
        "sticky-artist",
        "--estimator",
        "dr",
        "--estimator",
        "pdis_sn",
    ]);
    expect_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("support") && text.contains("pdis_sn") && !text.contains("\nis "),
        "{text}"
    );
    let out = ope(&["--policy", "sticky-artist", "--estimator", "magic"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"magic\" is not one of"));
    let out = ope(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--policy"));
}
