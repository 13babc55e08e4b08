//! Every recommender's propensities are exact: over all tracks they sum to 1 (the uniform last
//! resort included), and the frequencies of many draws from the very code the service runs
//! match them, for random requests and histories that reach every branch.

use botify_core::rng::stream;
use botify_core::{Catalog, TrackId};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_recs::{Listen, Request};
use rand::Rng;
use std::path::Path;
use std::sync::Arc;

const TRACKS: u32 = 60;
const USERS: u32 = 5;

/// Six artists of ten tracks in two genres, and the data files every recommender reads.
fn setup(dir: &Path) -> Arc<Catalog> {
    let catalog: String = (0..TRACKS)
        .map(|t| {
            let genre = if t / 10 < 3 { "rock" } else { "jazz" };
            format!(
                "{{\"track\": {t}, \"artist\": \"a{}\", \"title\": \"t\", \"genre\": \"{genre}\", \"pop\": {}}}\n",
                t / 10,
                f64::from(t % 10) / 10.0
            )
        })
        .collect();
    std::fs::write(dir.join("tracks.json"), catalog).unwrap();
    let mut rng = stream(1, b"lists", 0);
    // Neighbour lists with weights for two thirds of the tracks (the others: the fallback).
    let lists: String = (0..TRACKS)
        .filter(|t| t % 3 != 0)
        .map(|t| {
            let recs: Vec<u32> = (0..8).map(|_| rng.random_range(0..TRACKS)).collect();
            let weights: Vec<f32> = (0..8).map(|i| 1.0 - i as f32 * 0.1).collect();
            format!("{{\"track\": {t}, \"recommendations\": {recs:?}, \"weights\": {weights:?}}}\n")
        })
        .collect();
    std::fs::write(dir.join("i2i.jsonl"), lists).unwrap();
    let users: String = (0..USERS - 1)
        .map(|u| {
            let tracks: Vec<u32> = (0..6).map(|_| rng.random_range(0..TRACKS)).collect();
            format!("{{\"user\": {u}, \"tracks\": {tracks:?}}}\n")
        })
        .collect();
    std::fs::write(dir.join("users.jsonl"), users).unwrap();
    std::fs::write(dir.join("top.json"), "[5, 17, 5, 33, 41, 59]").unwrap();
    let tastes: String = (0..6)
        .map(|a| {
            let tracks: Vec<u32> = (a * 10..a * 10 + 10).collect();
            let angle = a as f32;
            format!(
                "{{\"artist\": \"a{a}\", \"vector\": [{}, {}], \"tracks\": {tracks:?}}}\n",
                angle.cos(),
                angle.sin()
            )
        })
        .collect();
    std::fs::write(dir.join("taste.jsonl"), tastes).unwrap();
    Arc::new(Catalog::load(&dir.join("tracks.json")).unwrap())
}

fn specs(dir: &Path) -> Vec<String> {
    let f = |name: &str| dir.join(name).display().to_string();
    let (i2i, users, top, taste) = (
        f("i2i.jsonl"),
        f("users.jsonl"),
        f("top.json"),
        f("taste.jsonl"),
    );
    vec![
        r#"{ type = "random" }"#.to_string(),
        format!(r#"{{ type = "top_pop", file = "{top}", k = 4 }}"#),
        r#"{ type = "sticky_artist" }"#.to_string(),
        format!(r#"{{ type = "indexed", file = "{users}" }}"#),
        format!(
            r#"{{ type = "sequential", file = "{users}", fallback = {{ type = "sticky_artist" }} }}"#
        ),
        format!(
            r#"{{ type = "contextual", file = "{i2i}", fallback = {{ type = "sticky_artist" }} }}"#
        ),
        format!(r#"{{ type = "history_i2i", file = "{i2i}", anchors = 4, heard = 6 }}"#),
        format!(r#"{{ type = "session_anchor", file = "{i2i}" }}"#),
        format!(
            r#"{{ type = "session_taste", file = "{taste}", switch = 1, fallback = {{ type = "sticky_artist" }} }}"#
        ),
        format!(r#"{{ type = "history_list", file = "{users}", recent = 3 }}"#),
        format!(
            r#"{{ type = "better_sticky", file = "{i2i}", failures = 2, mix = 0.4, neighbours = 3 }}"#
        ),
        format!(
            r#"{{ type = "weighted_i2i", file = "{i2i}", personal = "{users}", top = "{top}", min_candidates = 5, max_candidates = 6, temperature = 0.3 }}"#
        ),
        format!(
            r#"{{ type = "epsilon", epsilon = 0.3, inner = {{ type = "contextual", file = "{i2i}", fallback = {{ type = "sticky_artist" }} }} }}"#
        ),
    ]
}

/// A random request and a history of sessions (a `last` call ends each) that reaches every
/// branch: skips and likes, repeats, recommendations followed or not.
fn scenario(rng: &mut impl Rng) -> (Request, Vec<Listen>) {
    let n = rng.random_range(0..14);
    let mut history = Vec::with_capacity(n);
    let mut prev_rec: Option<TrackId> = None;
    for _ in 0..n {
        let track = match prev_rec {
            Some(r) if rng.random_bool(0.7) => r,
            _ => rng.random_range(0..TRACKS),
        };
        let time = [0.0f32, 0.1, 0.5, 0.8, 1.0][rng.random_range(0..5)];
        let rec = (!rng.random_bool(0.15)).then(|| rng.random_range(0..TRACKS));
        history.push(Listen { track, time, rec });
        prev_rec = rec;
    }
    let track = match prev_rec {
        Some(r) if rng.random_bool(0.7) => r,
        _ => rng.random_range(0..TRACKS),
    };
    let req = Request {
        user: rng.random_range(0..USERS),
        track,
        time: [0.0f32, 0.1, 0.5, 0.9][rng.random_range(0..4)],
    };
    (req, history)
}

#[test]
fn propensities_sum_to_one_and_match_the_draws() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = setup(dir.path());
    let mut rng = stream(7, b"scenarios", 0);
    for text in specs(dir.path()) {
        let spec = RecommenderSpec::parse_cli(&text).unwrap();
        let router = Router::build(ExperimentsConfig::single("E", spec), catalog.clone()).unwrap();
        let t = &router.treatments[0];
        for case in 0..25 {
            let (req, history) = scenario(&mut rng);
            let p: Vec<f64> = (0..TRACKS)
                .map(|track| {
                    t.propensity(req, &history, track, TRACKS)
                        .unwrap_or_else(|| panic!("{text}: no propensity"))
                })
                .collect();
            let total: f64 = p.iter().sum();
            assert!(
                (total - 1.0).abs() < 1e-9,
                "{text}, case {case}: propensities sum to {total}"
            );
            // Served with its propensity as the service serves it: the same track from the same
            // draws, and the probability the replay gives.
            for k in 0..20 {
                let mut a = stream(case, b"same", k);
                let mut b = stream(case, b"same", k);
                let plain = t.next_track(req, &history, &mut a, TRACKS);
                let (served, p_served) =
                    t.next_track_with_propensity(req, &history, &mut b, TRACKS);
                assert_eq!(plain, served, "{text}, case {case}");
                let want = p[served as usize];
                let got = p_served.unwrap();
                assert!(
                    (got - want).abs() < 1e-12,
                    "{text}, case {case}: served {served} with {got}, replay says {want}"
                );
            }
            let draws = 3_000;
            let mut counts = vec![0u32; TRACKS as usize];
            let mut draw_rng = stream(case, text.as_bytes(), 1);
            for _ in 0..draws {
                counts[t.next_track(req, &history, &mut draw_rng, TRACKS) as usize] += 1;
            }
            for (track, (&c, &q)) in counts.iter().zip(&p).enumerate() {
                let freq = f64::from(c) / f64::from(draws);
                let tolerance =
                    5.0 * (q * (1.0 - q) / f64::from(draws)).sqrt() + 2.0 / f64::from(draws);
                assert!(
                    (freq - q).abs() <= tolerance,
                    "{text}, case {case}: track {track} drawn {freq}, propensity {q} ({req:?}, {history:?})"
                );
            }
        }
    }
}

#[test]
fn hand_computed_propensities() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = setup(dir.path());
    let build = |text: &str| {
        let spec = RecommenderSpec::parse_cli(text).unwrap();
        Router::build(ExperimentsConfig::single("E", spec), catalog.clone()).unwrap()
    };
    let req = Request {
        user: 0,
        track: 12,
        time: 1.0,
    };
    let sticky = build(r#"{ type = "sticky_artist" }"#);
    let t = &sticky.treatments[0];
    // One of the artist's ten tracks; none of another artist's.
    assert_eq!(t.propensity(req, &[], 15, TRACKS), Some(0.1));
    assert_eq!(t.propensity(req, &[], 25, TRACKS), Some(0.0));
    let eps = build(r#"{ type = "epsilon", epsilon = 0.3, inner = { type = "sticky_artist" } }"#);
    let t = &eps.treatments[0];
    // 0.3 / 60 + 0.7 × 1/10, and 0.3 / 60 off the artist.
    assert!((t.propensity(req, &[], 15, TRACKS).unwrap() - (0.3 / 60.0 + 0.07)).abs() < 1e-15);
    assert!((t.propensity(req, &[], 25, TRACKS).unwrap() - 0.005).abs() < 1e-15);
    let top = build(&format!(
        r#"{{ type = "top_pop", file = "{}", k = 4 }}"#,
        dir.path().join("top.json").display()
    ));
    // The top four are 5, 17, 5, 33: track 5 twice.
    assert_eq!(top.treatments[0].propensity(req, &[], 5, TRACKS), Some(0.5));
    let python_like = RecommenderSpec::parse_cli(r#"{ type = "random" }"#).unwrap();
    assert_eq!(python_like.label(), "random");
}
