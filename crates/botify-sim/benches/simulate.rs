//! In-process simulation throughput (StickyArtist, warm neighbour cache).
use botify_core::dynamics::Dynamics;
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
    dynamics_day(c);

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

/// The same day on the same world with every listener dynamic on (docs/dynamics.md). Each
/// iteration is the next simulated day; the exact neighbours of the interests that drifted that
/// day are searched before the clock starts (they are the day's cold part, as on a first day).
fn dynamics_day(c: &mut Criterion) {
    let world = generate(&WorldParams {
        dynamics: Dynamics {
            returns: 2.0,
            drift: 0.02,
            taste_pull: 0.05,
            boredom: 0.1,
            genre_boredom: 0.01,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let router = Router::build(
        ExperimentsConfig::single("SIM", RecommenderSpec::StickyArtist { fallback: None }),
        std::sync::Arc::new(world.catalog.clone()),
    )
    .unwrap();
    let mut sim = Simulator::new(&world, 50).unwrap();
    let params = |day| SimParams {
        episodes: 20_000,
        day,
        ..Default::default()
    };
    let mut day = 0;
    let mut steps = 0;
    for _ in 0..3 {
        let eps = sim
            .run_day(&Agent::Router(&router), &params(day), None, &|_| {})
            .unwrap();
        steps = eps.iter().map(|e| u64::from(e.steps)).sum();
        day += 1;
    }
    let mut g = c.benchmark_group("sim");
    g.sample_size(10);
    g.throughput(Throughput::Elements(steps));
    g.bench_function("sticky-artist day, every dynamic on (steps/s)", |b| {
        b.iter_custom(|iters| {
            let mut spent = std::time::Duration::ZERO;
            for _ in 0..iters {
                let p = params(day);
                sim.search_neighbours(&p, false, &|_| {}, &|_| {});
                let t = std::time::Instant::now();
                sim.run_day(&Agent::Router(&router), &p, None, &|_| {})
                    .unwrap();
                spent += t.elapsed();
                day += 1;
            }
            spent
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
