//! The day loop as a library call: a small plan runs in-process without spawning a process, the
//! observer sees every stage, the result is reproducible, and the cancellation flag stops a run.

use botify_lab::run::{RunOptions, Traffic, reproducible_part, run};
use botify_lab::{EpochReport, Error, Observer, Plan};
use botify_recs::baseline::Walk;
use botify_recs::spec::RecommenderSpec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Record {
    stages: Mutex<Vec<String>>,
    epochs: Mutex<Vec<EpochReport>>,
}

impl Observer for Record {
    fn stage(&self, name: &str) {
        self.stages.lock().unwrap().push(name.to_string());
    }
    fn epoch(&self, e: &EpochReport) {
        self.epochs.lock().unwrap().push(e.clone());
    }
}

fn small_plan() -> Plan {
    let mut p = Plan {
        name: "small".into(),
        ..Plan::default()
    };
    p.world.tracks = 2_000;
    p.world.users = 300;
    p.world.dim = 16;
    p.day1.episodes = 3_000;
    p.ab.episodes = 3_000;
    p.train.models = vec!["toppop".into(), "i2i".into(), "als".into()];
    p.train
        .tables
        .get_mut("als")
        .unwrap()
        .insert("iterations".into(), 3.into());
    let sticky = || Some(Box::new(RecommenderSpec::StickyArtist { fallback: None }));
    // Day 2 served by what day 1 trained, then everything trained again on both days.
    p.day2.episodes = 2_000;
    p.day2.rounds = 2;
    p.day2.recommenders = vec![RecommenderSpec::SessionAnchor {
        file: "models/i2i.jsonl".into(),
        liked: 0.7,
        artist_plays: 1,
        skipped: 0.3,
        skip_depth: 0,
        fusion: 0.0,
        fallback: sticky(),
    }];
    p.ab.treatments = vec![
        RecommenderSpec::HistoryI2i {
            file: "models/i2i.jsonl".into(),
            anchors: 10,
            heard: 50,
            fallback: sticky(),
        },
        RecommenderSpec::Sequential {
            file: "models/als.jsonl".into(),
            walk: Walk::Course,
            fallback: sticky(),
        },
    ];
    p
}

fn options(dir: &std::path::Path) -> RunOptions {
    RunOptions {
        traffic: Traffic::InProcess,
        dir: dir.to_path_buf(),
        cancel: Arc::new(AtomicBool::new(false)),
        dashboard: None,
    }
}

#[test]
fn a_plan_runs_in_process_reproducibly_and_reports_its_stages() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = small_plan();
    let obs = Record::default();
    let a = run(&plan, &options(&tmp.path().join("a")), &obs).unwrap();
    let stages = obs.stages.lock().unwrap().clone();
    assert_eq!(stages[0], "world");
    let at = |name: &str| stages.iter().position(|s| s.starts_with(name));
    assert!(at("train") < at("day 2: the trained policy's traffic"));
    assert!(at("day 2") < at("train again on days 1–2"));
    assert!(at("train again on days 1–2") < at("day 3: the trained policy's traffic"));
    assert!(at("day 3") < at("train again on days 1–3"));
    assert!(at("train again on days 1–3") < at("deploy and A/B"));
    assert_eq!(stages.last().map(String::as_str), Some("analysis"));
    // ALS reports each of its 3 iterations, trained once: before the last day only i2i, which
    // day 2 serves, is trained.
    let epochs = obs.epochs.lock().unwrap();
    assert_eq!(epochs.iter().filter(|e| e.model == "als").count(), 3);
    // Every day keeps its own log.
    for day in ["logs/day1", "logs/day2", "logs/day3"] {
        assert!(a.dir.join(day).join("data.json").is_file(), "{day} missing");
    }
    for f in [
        "plan.toml",
        "results.json",
        "report.md",
        "report.html",
        "models/i2i.jsonl",
    ] {
        assert!(a.dir.join(f).exists(), "{f} missing");
    }
    assert_eq!(a.report.treatments.len(), 3);
    // The same plan again gives the same results to the bit, but for measured latencies.
    let b = run(&plan, &options(&tmp.path().join("b")), &botify_lab::Quiet).unwrap();
    assert_eq!(reproducible_part(&a.results), reproducible_part(&b.results));
    assert!(
        a.results["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["metric"] == "mean_request_latency"
                && r["control_mean"].as_f64().unwrap() > 0.0)
    );
    // A run never mixes with an earlier one.
    let again = run(&plan, &options(&tmp.path().join("a")), &botify_lab::Quiet);
    assert!(matches!(again, Err(Error::Invalid(m)) if m.contains("already holds files")));
}

#[test]
fn a_set_cancellation_flag_stops_before_the_next_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = options(&tmp.path().join("c"));
    opts.cancel.store(true, Ordering::SeqCst);
    match run(&small_plan(), &opts, &botify_lab::Quiet) {
        Err(Error::Cancelled(stage)) => assert_eq!(stage, "world"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a cancelled run finished"),
    }
    // What was made before stopping is kept.
    assert!(tmp.path().join("c/plan.toml").exists());
}

#[test]
fn an_invalid_plan_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut plan = small_plan();
    plan.train.models = vec!["toppop".into()];
    let e = run(&plan, &options(&tmp.path().join("d")), &botify_lab::Quiet)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("ab.treatments[0]"), "{e}");
    assert!(!tmp.path().join("d").exists());
}
