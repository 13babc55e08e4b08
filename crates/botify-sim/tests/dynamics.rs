//! Listener dynamics end to end: the same seed gives the same days whatever the thread count,
//! returns make per-user sessions follow recommendation quality, and boredom wears a greedy
//! policy's sessions down across days.

use botify_core::World;
use botify_core::dynamics::Dynamics;
use botify_core::generate::{WorldParams, generate};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{Agent, EpisodeStats, MeanSe, SimParams, Simulator};
use proptest::prelude::*;
use std::sync::Arc;

fn world(seed: u64, dynamics: Dynamics) -> World {
    generate(&WorldParams {
        tracks: 3000,
        users: 300,
        dim: 16,
        seed,
        dynamics,
        ..Default::default()
    })
    .unwrap()
}

fn every_dynamic() -> Dynamics {
    Dynamics {
        returns: 2.0,
        return_half_life: 2.0,
        drift: 0.1,
        taste_pull: 0.1,
        boredom: 0.3,
        genre_boredom: 0.02,
        boredom_half_life: 3.0,
    }
}

/// `days` days of `spec` (or the oracle) with `threads` threads; every episode of every day.
fn days(
    world: &World,
    spec: Option<RecommenderSpec>,
    threads: usize,
    n: u32,
) -> Vec<Vec<EpisodeStats>> {
    let router = spec.map(|s| {
        Router::build(
            ExperimentsConfig::single("SIM", s),
            Arc::new(world.catalog.clone()),
        )
        .unwrap()
    });
    let agent = match &router {
        Some(r) => Agent::Router(r),
        None => Agent::Oracle,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut sim = Simulator::new(world, 20).unwrap();
        (0..n)
            .map(|day| {
                let p = SimParams {
                    episodes: 900,
                    day,
                    ..Default::default()
                };
                sim.run_day(&agent, &p, None, &|_| {}).unwrap()
            })
            .collect()
    })
}

fn sticky() -> Option<RecommenderSpec> {
    Some(RecommenderSpec::StickyArtist { fallback: None })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn same_seed_same_days_whatever_the_threads(seed in 0u64..1000, drift in 0.0f32..0.5, returns in 0.0f32..4.0) {
        let w = world(seed, Dynamics { drift, returns, ..every_dynamic() });
        let one = days(&w, sticky(), 1, 3);
        let four = days(&w, sticky(), 4, 3);
        prop_assert_eq!(&one, &four);
        prop_assert_eq!(days(&w, None, 3, 2), days(&w, None, 1, 2));
    }
}

/// Sessions per listener over the days.
fn sessions_per_user(world: &World, all: &[Vec<EpisodeStats>]) -> MeanSe {
    let mut n = vec![0.0f64; world.users.len()];
    for e in all.iter().flatten() {
        n[e.user as usize] += 1.0;
    }
    MeanSe::of(n.into_iter())
}

#[test]
fn returns_follow_recommendation_quality() {
    let w = world(
        3,
        Dynamics {
            returns: 3.0,
            ..Default::default()
        },
    );
    let random = sessions_per_user(&w, &days(&w, Some(RecommenderSpec::Random {}), 2, 4));
    let good = sessions_per_user(&w, &days(&w, sticky(), 2, 4));
    let diff = good.mean - random.mean;
    let se = (good.se.powi(2) + random.se.powi(2)).sqrt();
    assert!(
        diff > 4.0 * se,
        "sessions per user: sticky {good:?}, random {random:?}"
    );
    // Without returns, per-user sessions do not depend on the recommender at all.
    let w = world(3, Dynamics::default());
    let a = days(&w, Some(RecommenderSpec::Random {}), 2, 2);
    let b = days(&w, sticky(), 2, 2);
    let users = |d: &[Vec<EpisodeStats>]| d.iter().flatten().map(|e| e.user).collect::<Vec<_>>();
    assert_eq!(users(&a), users(&b));
}

#[test]
fn boredom_wears_down_a_greedy_policy() {
    let mean = |d: &[EpisodeStats]| MeanSe::of(d.iter().map(|e| f64::from(e.reward)));
    let bored = days(
        &world(
            4,
            Dynamics {
                boredom: 0.3,
                genre_boredom: 0.02,
                ..Default::default()
            },
        ),
        None,
        2,
        4,
    );
    let (first, last) = (mean(&bored[0]), mean(&bored[3]));
    assert!(
        last.mean < 0.8 * first.mean,
        "oracle with boredom: day 1 {first:?}, day 4 {last:?}"
    );
    // Without boredom the same oracle holds its level.
    let fresh = days(&world(4, Dynamics::default()), None, 2, 4);
    let (first, last) = (mean(&fresh[0]), mean(&fresh[3]));
    assert!((last.mean - first.mean).abs() < 4.0 * (first.se.powi(2) + last.se.powi(2)).sqrt());
}

#[test]
fn every_parameter_is_documented_with_its_default() {
    use botify_core::params::Schema;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/dynamics.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let defaults = serde_json::to_value(Dynamics::default()).unwrap();
    for f in Dynamics::FIELDS {
        let v = defaults[f.name].as_f64().unwrap();
        let row = format!("| `{}` | {} |", f.name, v);
        assert!(doc.contains(&row), "docs/dynamics.md has no row {row:?}");
    }
}
