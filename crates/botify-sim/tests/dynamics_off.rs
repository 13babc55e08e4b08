//! With the listener dynamics off, the default world and the course's files give bit-identical
//! results to the course model before the dynamics existed: the world's files, every episode's
//! statistics and every log line (latency aside: it is measured) hash to the figures recorded
//! from the build before the dynamics were added. The oracle's day was recorded again when the
//! oracle became exact (2026-12-07: it searches past its cached candidates); the days before it
//! kept their hash.

use botify_core::World;
use botify_core::eventlog::{LogWriter, Rotation};
use botify_core::generate::{WorldParams, generate};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{Agent, SimParams, Simulator};
use std::path::Path;
use std::sync::Arc;

#[path = "common/course.rs"]
mod course;

/// FNV-1a, 64 bits.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}
const FNV0: u64 = 0xcbf2_9ce4_8422_2325;

/// The log's lines without their measured latency, sorted (users run in parallel).
fn log_hash(dir: &Path) -> u64 {
    let text = std::fs::read_to_string(dir.join("data.json")).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            // Measured, and added since (the serving recommender's propensity).
            v.as_object_mut().unwrap().remove("latency");
            v.as_object_mut().unwrap().remove("propensity");
            v.to_string()
        })
        .collect();
    lines.sort();
    lines.iter().fold(FNV0, |h, l| fnv(h, l.as_bytes()))
}

/// Two days of StickyArtist and one of Random (logged, histories carrying over) and a day of the
/// oracle: the hash of every episode's statistics and of the logs, without and with the oracle's.
fn run_hash(world: &World, episodes: usize) -> (u64, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let mut sim = Simulator::new(world, 10).unwrap();
    let mut h = FNV0;
    let specs = [
        RecommenderSpec::StickyArtist { fallback: None },
        RecommenderSpec::StickyArtist { fallback: None },
        RecommenderSpec::Random {},
    ];
    for (day, spec) in specs.into_iter().enumerate() {
        let router = Router::build(
            ExperimentsConfig::single("SIM", spec),
            Arc::new(world.catalog.clone()),
        )
        .unwrap();
        let dir = tmp.path().join(format!("day{day}"));
        let log = LogWriter::open(&dir, Rotation::default()).unwrap();
        let p = SimParams {
            episodes,
            day: day as u32,
            ..Default::default()
        };
        let stats = sim
            .run_day(&Agent::Router(&router), &p, Some(&log.sender()), &|_| {})
            .unwrap();
        log.close().unwrap();
        h = fnv(h, &log_hash(&dir).to_le_bytes());
        h = fnv(h, serde_json::to_string(&stats).unwrap().as_bytes());
    }
    let p = SimParams {
        episodes,
        day: 3,
        ..Default::default()
    };
    let oracle = sim.run_day(&Agent::Oracle, &p, None, &|_| {}).unwrap();
    (
        h,
        fnv(h, serde_json::to_string(&oracle).unwrap().as_bytes()),
    )
}

fn files_hash(world: &World) -> u64 {
    let tmp = tempfile::tempdir().unwrap();
    world.write(tmp.path()).unwrap();
    ["tracks.json", "users.json", "tracks.npy"]
        .iter()
        .fold(FNV0, |h, f| {
            fnv(h, &std::fs::read(tmp.path().join(f)).unwrap())
        })
}

#[test]
fn default_world_is_bit_identical() {
    let world = generate(&WorldParams::default()).unwrap();
    assert_eq!(files_hash(&world), 17817389910770946136, "world files");
    let (days, with_oracle) = run_hash(&world, 3_000);
    assert_eq!(days, 5832297179390268927, "simulation");
    assert_eq!(with_oracle, 13383074087655872832, "the oracle's day");
}

#[test]
fn course_files_are_bit_identical() {
    let Some(world) = course::course_world() else {
        return;
    };
    let (days, with_oracle) = run_hash(&world, 2_000);
    assert_eq!(days, 17818260254247501882, "simulation");
    assert_eq!(with_oracle, 1194920901349184048, "the oracle's day");
}
