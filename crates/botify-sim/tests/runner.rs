//! The in-process simulator end to end: determinism across thread counts, the event log, and the
//! listen-time distribution against the formula.
use botify_core::eventlog::{LogWriter, Rotation};

use botify_core::events::{Message, parse_line};
use botify_core::generate::{WorldParams, generate};
use botify_core::{TrackId, World};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::listener::listen_time;
use botify_sim::nearest::top_k;
use botify_sim::runner::{Agent, SimParams, Simulator};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

fn world() -> World {
    generate(&WorldParams {
        tracks: 3000,
        users: 200,
        dim: 16,
        seed: 5,
        ..Default::default()
    })
    .unwrap()
}

fn run(
    world: &World,
    spec: RecommenderSpec,
    threads: usize,
    days: u32,
) -> (Vec<botify_sim::EpisodeStats>, Vec<String>) {
    let router = Router::build(
        ExperimentsConfig::single("SIM", spec),
        Arc::new(world.catalog.clone()),
    )
    .unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut sim = Simulator::new(world, 50).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log = LogWriter::open(dir.path(), Rotation::default()).unwrap();
        let mut stats = Vec::new();
        for day in 0..days {
            let p = SimParams {
                episodes: 500,
                seed: 9,
                day,
                max_steps: 1000,
            };
            stats.extend(
                sim.run_day(&Agent::Router(&router), &p, Some(&log.sender()), &|_| {})
                    .unwrap(),
            );
        }
        log.close().unwrap();
        let text = std::fs::read_to_string(dir.path().join("data.json")).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.sort();
        (stats, lines)
    })
}

#[test]
fn same_seed_same_sessions_whatever_the_thread_count() {
    let w = world();
    let spec = RecommenderSpec::StickyArtist { fallback: None };
    let (a, la) = run(&w, spec.clone(), 1, 2);
    let (b, lb) = run(&w, spec, 2, 2);
    assert_eq!(a, b);
    // Every field of every line is the same but the measured recommender latency.
    let without_latency = |lines: &[String]| -> Vec<String> {
        let mut v: Vec<String> = lines
            .iter()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("latency");
                v.to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(without_latency(&la), without_latency(&lb));
    // One `next` per recommendation plus one `last` per session.
    let steps: u32 = a.iter().map(|e| e.steps).sum();
    assert_eq!(la.len(), steps as usize + a.len());
    let events: Vec<_> = la
        .iter()
        .map(|l| parse_line(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(
        events.iter().filter(|e| e.message == Message::Last).count(),
        a.len()
    );
    assert!(events.iter().all(|e| e.experiments.contains_key("SIM")));
    // Per user, timestamps are strictly increasing (sessions never overlap).
    let mut by_user: HashMap<u32, Vec<u64>> = HashMap::new();
    for e in &events {
        by_user.entry(e.user).or_default().push(e.timestamp);
    }
    for ts in by_user.values_mut() {
        let n = ts.len();
        ts.sort_unstable();
        ts.dedup();
        assert_eq!(ts.len(), n);
    }
}

#[test]
fn sticky_artist_beats_random_and_oracle_beats_both() {
    let w = world();
    let mean = |s: &[botify_sim::EpisodeStats]| {
        s.iter().map(|e| e.reward as f64).sum::<f64>() / s.len() as f64
    };
    let (random, _) = run(&w, RecommenderSpec::Random {}, 2, 1);
    let (sticky, _) = run(&w, RecommenderSpec::StickyArtist { fallback: None }, 2, 1);
    let mut sim = Simulator::new(&w, 50).unwrap();
    let oracle = sim
        .run_day(
            &Agent::Oracle,
            &SimParams {
                episodes: 500,
                seed: 9,
                day: 0,
                max_steps: 1000,
            },
            None,
            &|_| {},
        )
        .unwrap();
    assert!(
        mean(&sticky) > 1.3 * mean(&random),
        "sticky {} random {}",
        mean(&sticky),
        mean(&random)
    );
    assert!(
        mean(&oracle) > 3.0 * mean(&sticky),
        "oracle {} sticky {}",
        mean(&oracle),
        mean(&sticky)
    );
}

/// A recommender that always offers the same track X: the first listen time of X in a session is
/// the formula applied to one of the user's interests, chosen uniformly.
#[test]
fn listen_times_follow_the_formula_for_fixed_user_and_track() {
    let w = world();
    let user_pos = 0usize;
    let user = w.users[user_pos].clone();
    // A track whose artist is not among any first-track candidate of the user.
    let near: HashSet<u32> = top_k(
        &w.embeddings,
        &user.interests,
        user.interest_neighbours() as usize,
    )
    .into_iter()
    .flatten()
    .map(|t| w.catalog.artist_of(t))
    .collect();
    let x: TrackId = (0..w.catalog.len() as u32)
        .find(|&t| !near.contains(&w.catalog.artist_of(t)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("top.json");
    std::fs::write(&top, format!("[{x}]")).unwrap();
    let spec = RecommenderSpec::TopPop {
        file: top,
        k: 1,
        fallback: None,
    };
    // A world with this single user, so every episode is theirs.
    let mut solo = w.clone();
    solo.users = vec![user.clone()];
    let (stats, lines) = run(&solo, spec, 2, 4);
    let expected: Vec<f32> = user
        .interests
        .iter()
        .map(|&i| {
            listen_time(
                w.dot(x as usize, i as usize),
                user.consume_bias,
                user.consume_sharpness,
                0.8,
                0,
            )
        })
        .collect();
    // Each session is: next(first track, 1.0) → X, then the event reporting X's first listen.
    let mut events: Vec<_> = lines
        .iter()
        .map(|l| parse_line(l.as_bytes()).unwrap())
        .collect();
    events.sort_by_key(|e| e.timestamp);
    let mut counts: HashMap<u32, usize> = HashMap::new();
    let mut sessions = 0;
    for session in events.split_inclusive(|e| e.message == Message::Last) {
        assert_eq!(session[0].recommendation, Some(x));
        assert_eq!((session[1].track, session[0].time), (x, 1.0));
        let t = session[1].time;
        assert!(expected.contains(&t), "time {t} not in {expected:?}");
        *counts.entry((t * 100.0).round() as u32).or_default() += 1;
        sessions += 1;
    }
    assert_eq!(sessions, stats.len());
    assert!(sessions > 100);
    // Uniform over interests: each distinct value's share matches its multiplicity (5 sigma).
    for (&v, &c) in &counts {
        let mult = expected
            .iter()
            .filter(|&&t| (t * 100.0).round() as u32 == v)
            .count() as f64;
        let p = mult / expected.len() as f64;
        let sd = (sessions as f64 * p * (1.0 - p)).sqrt().max(1.0);
        assert!(
            (c as f64 - sessions as f64 * p).abs() < 5.0 * sd,
            "value {v}: {c} of {sessions}, expected p {p}"
        );
    }
}

/// The oracle is the greedy best over the whole catalogue whatever its cache of nearest tracks:
/// generous listeners' long sessions run through 3 cached candidates many times over, and the
/// oracle then gives exactly the sessions of one whose candidates are the whole catalogue.
#[test]
fn the_oracle_widens_past_its_candidates_to_the_catalogue() {
    let w = generate(&WorldParams {
        tracks: 2000,
        users: 100,
        dim: 16,
        seed: 8,
        consume_bias: (0.0, 0.1),
        consume_sharpness: (8.0, 12.0),
        ..Default::default()
    })
    .unwrap();
    let day = |candidates: usize| {
        let mut sim = Simulator::new(&w, 50).unwrap();
        sim.set_oracle_candidates(candidates);
        let p = SimParams {
            episodes: 200,
            seed: 4,
            day: 0,
            max_steps: 1000,
        };
        sim.run_day(&Agent::Oracle, &p, None, &|_| {})
            .unwrap()
            .iter()
            .map(|e| (e.user, e.steps, e.reward))
            .collect::<Vec<_>>()
    };
    let (few, all) = (day(3), day(w.catalog.len()));
    let steps = few.iter().map(|e| e.1 as f64).sum::<f64>() / few.len() as f64;
    assert!(steps > 20.0, "sessions too short to test widening: {steps}");
    assert_eq!(few, all);
}
