//! The course's original world files load unchanged and drive the simulator, paired with an
//! embedding matrix made here (the course's tracks.npy is not public).

use botify_core::catalog::Catalog;
use botify_core::npy::Embeddings;
use botify_core::{World, users};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{Agent, SimParams, Simulator};
use rand::Rng;
use std::path::PathBuf;
use std::sync::Arc;

#[path = "../../botify-server/tests/common/skip.rs"]
mod skip;
#[test]
fn course_files_load_and_simulate() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/course-data");
    if !dir.join("tracks.json").exists() {
        skip::skipped(&format!(
            "the course's files are not beside this checkout ({})",
            dir.display()
        ));
        return;
    }
    let catalog = Catalog::load(&dir.join("tracks.json")).unwrap();
    assert_eq!(catalog.len(), 50_000);
    let users = users::load(&dir.join("users.json"), catalog.len()).unwrap();
    assert_eq!(users.len(), 10_000);
    assert!(users.iter().all(|u| u.interest_neighbours.is_none()));
    // LightFM-like factors: not unit-norm, on the scale of the course's consume_bias (0–10).
    let mut rng = botify_core::rng::stream(1, b"course", 0);
    let dim = 100;
    let data: Vec<f32> = (0..catalog.len() * dim)
        .map(|_| rng.random_range(-0.6f32..0.6))
        .collect();
    let world = World {
        embeddings: Embeddings::new(catalog.len(), dim, data).unwrap(),
        catalog,
        users,
        dynamics: Default::default(),
    };
    let router = Router::build(
        ExperimentsConfig::single("SIM", RecommenderSpec::StickyArtist { fallback: None }),
        Arc::new(world.catalog.clone()),
    )
    .unwrap();
    let mut sim = Simulator::new(&world, 10).unwrap();
    let stats = sim
        .run_day(
            &Agent::Router(&router),
            &SimParams {
                episodes: 200,
                ..Default::default()
            },
            None,
            &|_| {},
        )
        .unwrap();
    assert_eq!(stats.len(), 200);
    assert!(stats.iter().all(|e| e.steps >= 1));
}
