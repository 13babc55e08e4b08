//! Treatment assignment is byte-compatible with the course's Python (mmh3 3.0.0): vectors in
//! `fixtures/mmh3_vectors.tsv` were produced by that library.

use botify_core::murmur::{Splitter, murmur3_32};
use proptest::prelude::*;

#[test]
fn matches_python_mmh3_vectors() {
    let text = include_str!("fixtures/mmh3_vectors.tsv");
    let mut checked = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let (name, name_hash, buckets, user, bucket) = (
            f[0],
            f[1].parse::<i32>().unwrap(),
            f[2].parse::<u32>().unwrap(),
            f[3].parse::<u64>().unwrap(),
            f[4].parse::<u32>().unwrap(),
        );
        assert_eq!(
            murmur3_32(name.as_bytes(), 0) as i32,
            name_hash,
            "hash of {name:?}"
        );
        assert_eq!(
            Splitter::new(name, buckets).bucket(user),
            bucket,
            "{name} buckets={buckets} user={user}"
        );
        checked += 1;
    }
    assert!(checked > 1000);
}

proptest! {
    #[test]
    fn bucket_is_the_hash_of_the_decimal_user(name in ".{0,20}", buckets in 1u32..=10, user in any::<u64>()) {
        let s = Splitter::new(&name, buckets);
        let b = s.bucket(user);
        prop_assert!(b < buckets);
        let seed = murmur3_32(name.as_bytes(), 0);
        prop_assert_eq!(b, murmur3_32(user.to_string().as_bytes(), seed) % buckets);
    }

    #[test]
    fn fast_hash_equals_the_reference_algorithm(data in proptest::collection::vec(any::<u8>(), 0..64), seed in any::<u32>()) {
        prop_assert_eq!(murmur3_32(&data, seed), reference(&data, seed));
    }
}

/// MurmurHash3_x86_32 written straight from the reference C code, byte by byte.
fn reference(data: &[u8], seed: u32) -> u32 {
    let (c1, c2) = (0xcc9e2d51u32, 0x1b873593u32);
    let mut h1 = seed;
    let nblocks = data.len() / 4;
    for i in 0..nblocks {
        let b = &data[i * 4..i * 4 + 4];
        let mut k1 = (b[0] as u32) | (b[1] as u32) << 8 | (b[2] as u32) << 16 | (b[3] as u32) << 24;
        k1 = k1.wrapping_mul(c1);
        k1 = k1.rotate_left(15);
        k1 = k1.wrapping_mul(c2);
        h1 ^= k1;
        h1 = h1.rotate_left(13);
        h1 = h1.wrapping_mul(5).wrapping_add(0xe6546b64);
    }
    let tail = &data[nblocks * 4..];
    let mut k1 = 0u32;
    if tail.len() >= 3 {
        k1 ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        k1 ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        k1 ^= tail[0] as u32;
        k1 = k1.wrapping_mul(c1).rotate_left(15).wrapping_mul(c2);
        h1 ^= k1;
    }
    h1 ^= data.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85ebca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2ae35);
    h1 ^ (h1 >> 16)
}
