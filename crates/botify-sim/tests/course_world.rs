//! The course's original world files load unchanged and drive the simulator, paired with an
//! embedding matrix made here (the course's tracks.npy is not public).

use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{Agent, SimParams, Simulator};
use std::sync::Arc;

#[path = "common/course.rs"]
mod course;

#[test]
fn course_files_load_and_simulate() {
    let Some(world) = course::course_world() else {
        return;
    };
    assert_eq!(world.catalog.len(), 50_000);
    assert_eq!(world.users.len(), 10_000);
    assert!(world.users.iter().all(|u| u.interest_neighbours.is_none()));
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
