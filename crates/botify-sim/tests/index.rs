//! The exact neighbour index against brute force on a large generated world, and its answers
//! whatever the thread count.

use botify_core::generate::{WorldParams, generate};
use botify_sim::nearest::{brute_force, top_k};

#[test]
fn the_index_equals_brute_force_on_a_large_world() {
    let world = generate(&WorldParams {
        tracks: 50_000,
        users: 2_000,
        seed: 11,
        ..WorldParams::default()
    })
    .unwrap();
    let emb = &world.embeddings;
    // The queries the simulator asks: users' interests (1,000 or more), plus a stride of tracks.
    let mut queries: Vec<u32> = world
        .users
        .iter()
        .flat_map(|u| u.interests.iter().copied())
        .chain((0..50_000).step_by(499))
        .collect();
    queries.sort_unstable();
    queries.dedup();
    assert!(queries.len() >= 1000, "{}", queries.len());
    for k in [10, 400] {
        let got = top_k(emb, &queries, k);
        assert_eq!(got, brute_force(emb, &queries, k), "k = {k}");
    }
}

#[test]
fn the_same_lists_whatever_the_thread_count() {
    let world = generate(&WorldParams {
        tracks: 20_000,
        users: 500,
        dim: 24,
        seed: 12,
        ..WorldParams::default()
    })
    .unwrap();
    let queries: Vec<u32> = (0..20_000).step_by(7).collect();
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| top_k(&world.embeddings, &queries, 25))
    };
    assert_eq!(on(1), on(3));
}
