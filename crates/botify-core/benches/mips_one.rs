//! One query against an exact MIPS index on the calling thread (`MipsIndex::search_one`, as
//! session_taste searches its artists per request) against a full scan, at catalogue sizes from
//! the default world's artists (8,300) to a 10M-track world's (1.2 M).
use botify_core::generate::{WorldParams, generate};
use botify_core::mips::{MipsIndex, dot};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("mips one query, top 1 of kept rows");
    g.sample_size(10);
    for rows in [8_300usize, 100_000, 1_200_000] {
        // Clustered unit vectors, as learned taste vectors are: a generated world's embeddings.
        let w = generate(&WorldParams {
            tracks: rows,
            users: 10,
            dim: 64,
            ..WorldParams::default()
        })
        .unwrap();
        let data = w.embeddings.data.clone();
        let dim = 64;
        let index = MipsIndex::build(&data, dim);
        // Two sessions' tastes: a session's start (its first artist's vector, that artist
        // played) and a taste moved by feedback towards one row and away from another. Every
        // 97th row counts as played.
        let start: Vec<f32> = data[..dim].to_vec();
        let moved: Vec<f32> = (0..dim)
            .map(|k| data[k] + 0.5 * data[dim + k] - 0.3 * data[2 * dim + k])
            .collect();
        let played = |r: u32| r.is_multiple_of(97);
        for (name, query) in [("start", &start), ("moved", &moved)] {
            g.bench_with_input(
                BenchmarkId::new(format!("index, {name}"), rows),
                &rows,
                |b, _| b.iter(|| index.search_one(&data, black_box(query), 1, &|r| !played(r))),
            );
            g.bench_with_input(
                BenchmarkId::new(format!("scan, {name}"), rows),
                &rows,
                |b, _| {
                    b.iter(|| {
                        let mut best = (f32::NEG_INFINITY, u32::MAX);
                        for (r, x) in data.chunks_exact(dim).enumerate() {
                            let s = dot(x, black_box(query));
                            if s > best.0 && !played(r as u32) {
                                best = (s, r as u32);
                            }
                        }
                        best.1
                    })
                },
            );
            let scan_best = data
                .chunks_exact(dim)
                .enumerate()
                .filter(|(r, _)| !played(*r as u32))
                .map(|(r, x)| (dot(x, query), r as u32))
                .fold(
                    (f32::NEG_INFINITY, u32::MAX),
                    |a, b| if b.0 > a.0 { b } else { a },
                );
            assert_eq!(
                index.search_one(&data, query, 1, &|r| !played(r)),
                vec![scan_best.1]
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
