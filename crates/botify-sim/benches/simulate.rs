//! In-process simulation throughput (StickyArtist, warm neighbour cache).
use botify_core::generate::{WorldParams, generate};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::nearest::{TrackIndex, brute_force};
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
    g.finish();

    // Exact neighbours of the queries a day asks (users' interests): the index against the
    // blocked brute force it replaced.
    let emb = &world.embeddings;
    let queries: Vec<u32> = world
        .users
        .iter()
        .flat_map(|u| u.interests.iter().copied())
        .take(2048)
        .collect();
    let mut g = c.benchmark_group("neighbours");
    g.sample_size(10);
    g.bench_function("index build, 50k x 64", |b| {
        b.iter(|| TrackIndex::default().get(emb).leaves())
    });
    let index = TrackIndex::default();
    index.get(emb);
    g.throughput(Throughput::Elements(queries.len() as u64));
    for k in [10, 400] {
        g.bench_function(format!("index, top-{k} of 50k x 64 (queries/s)"), |b| {
            b.iter(|| index.search(emb, &queries, k, &|_| {}))
        });
        g.bench_function(
            format!("brute force, top-{k} of 50k x 64 (queries/s)"),
            |b| b.iter(|| brute_force(emb, &queries, k)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
