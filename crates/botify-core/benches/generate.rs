//! World generation and murmur3 assignment throughput.
use botify_core::generate::{WorldParams, generate};
use botify_core::murmur::Splitter;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("world");
    g.sample_size(10);
    g.bench_function("generate 50k tracks 10k users dim 64", |b| {
        b.iter(|| generate(black_box(&WorldParams::default())).unwrap())
    });
    g.finish();
    let s = Splitter::new("PERSONALIZED", 2);
    c.bench_function("murmur3 assignment", |b| {
        let mut u = 0u64;
        b.iter(|| {
            u += 1;
            black_box(s.bucket(black_box(u)))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
