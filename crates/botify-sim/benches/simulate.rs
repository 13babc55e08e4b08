//! In-process simulation throughput (StickyArtist, warm neighbour cache).
use botify_core::generate::{WorldParams, generate};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::nearest::top_k;
use botify_sim::runner::{Agent, SimParams, Simulator};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let world = generate(&WorldParams::default()).unwrap();
    let router = Router::build(
        ExperimentsConfig::single("SIM", RecommenderSpec::StickyArtist { fallback: None }),
        std::sync::Arc::new(world.catalog.clone()),
    )
    .unwrap();
    let mut sim = Simulator::new(&world, 50).unwrap();
    let p = SimParams {
        episodes: 20_000,
        ..Default::default()
    };
    let warm = sim
        .run_day(&Agent::Router(&router), &p, None, &|_| {})
        .unwrap();
    let steps: u64 = warm.iter().map(|e| u64::from(e.steps)).sum();
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.throughput(Throughput::Elements(steps));
    g.bench_function("sticky-artist day, 20k sessions (steps/s)", |b| {
        b.iter(|| {
            sim.run_day(&Agent::Router(&router), &p, None, &|_| {})
                .unwrap()
        })
    });
    let queries: Vec<u32> = (0..256).collect();
    g.throughput(Throughput::Elements(queries.len() as u64));
    g.bench_function("exact top-10 neighbours, 50k x 64 (queries/s)", |b| {
        b.iter(|| top_k(&world.embeddings, &queries, 10))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
