//! End-to-end analysis throughput (parse + sessionise + statistics) on a simulated log.
use botify_ab::report::{AbOptions, analyse};
use botify_core::eventlog::{LogWriter, Rotation};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{Agent, SimParams, Simulator};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let world = botify_core::generate::generate(&botify_core::generate::WorldParams {
        tracks: 20_000,
        users: 5_000,
        dim: 32,
        ..Default::default()
    })
    .unwrap();
    let router = Router::build(
        ExperimentsConfig::split(
            "EXP",
            vec![
                RecommenderSpec::StickyArtist { fallback: None },
                RecommenderSpec::Random {},
            ],
        ),
        std::sync::Arc::new(world.catalog.clone()),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = LogWriter::open(dir.path(), Rotation::default()).unwrap();
    let mut sim = Simulator::new(&world, 10).unwrap();
    sim.run_day(
        &Agent::Router(&router),
        &SimParams {
            episodes: 30_000,
            ..Default::default()
        },
        Some(&log.sender()),
        &|_| {},
    )
    .unwrap();
    let events = log.close().unwrap();
    let opts = AbOptions::new("EXP", vec![dir.path().to_path_buf()]);
    let mut g = c.benchmark_group("ab");
    g.throughput(Throughput::Elements(events));
    g.sample_size(10);
    g.bench_function("analyse simulated log", |b| {
        b.iter(|| analyse(&opts).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
