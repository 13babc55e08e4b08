//! MurmurHash3 x86 32-bit and the course's treatment assignment.
//!
//! The course assigned user `u` of experiment `name` with
//! `mmh3.hash(str(u), mmh3.hash(name), signed=False) % buckets` (mmh3 3.0.0): the signed hash of
//! the name is used as its unsigned 32-bit value for the seed.

/// MurmurHash3_x86_32 of `data` with `seed`, as an unsigned value (Python `mmh3.hash(.., signed=False)`).
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    let mut k = 0u32;
    for (i, &b) in tail.iter().enumerate() {
        k |= u32::from(b) << (8 * i);
    }
    if !tail.is_empty() {
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Treatment names by bucket: `C`, `T1`, `T2`, …
pub fn treatment_name(bucket: u32) -> String {
    if bucket == 0 {
        "C".to_string()
    } else {
        format!("T{bucket}")
    }
}

/// Bucket of a treatment name (`C` → 0, `T3` → 3).
pub fn treatment_bucket(name: &str) -> Option<u32> {
    if name == "C" {
        return Some(0);
    }
    name.strip_prefix('T')?.parse().ok().filter(|&b| b > 0)
}

/// An experiment's split: precomputes the name hash once.
#[derive(Debug, Clone)]
pub struct Splitter {
    seed: u32,
    buckets: u32,
}

impl Splitter {
    /// `buckets` must be at least 1 (the caller validates 2..=10 for configured experiments).
    pub fn new(name: &str, buckets: u32) -> Self {
        Splitter {
            seed: murmur3_32(name.as_bytes(), 0),
            buckets: buckets.max(1),
        }
    }

    pub fn bucket(&self, user: u64) -> u32 {
        let mut buf = itoa_buf(user);
        let s = buf.as_str();
        murmur3_32(s.as_bytes(), self.seed) % self.buckets
    }
}

/// Decimal text of a user id without allocating.
struct ItoaBuf {
    bytes: [u8; 20],
    start: usize,
}
impl ItoaBuf {
    fn as_str(&mut self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.bytes[self.start..]).unwrap_or("")
    }
}
fn itoa_buf(mut n: u64) -> ItoaBuf {
    let mut bytes = [0u8; 20];
    let mut i = 20;
    loop {
        i -= 1;
        bytes[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    ItoaBuf { bytes, start: i }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_python_mmh3() {
        // mmh3.hash("abc") == -1277324294 (signed); as u32 that is 3017643002.
        assert_eq!(murmur3_32(b"abc", 0) as i32, -1277324294);
        assert_eq!(murmur3_32(b"PERSONALIZED", 0) as i32, -75199368);
        assert_eq!(murmur3_32(b"", 0), 0);
    }

    #[test]
    fn personalized_two_buckets_matches_course() {
        let s = Splitter::new("PERSONALIZED", 2);
        let got: Vec<String> = (0..6).map(|u| treatment_name(s.bucket(u))).collect();
        assert_eq!(got, ["C", "T1", "T1", "C", "C", "C"]);
    }

    #[test]
    fn treatment_names_round_trip() {
        for b in 0..10 {
            assert_eq!(treatment_bucket(&treatment_name(b)), Some(b));
        }
        assert_eq!(treatment_bucket("T0"), None);
        assert_eq!(treatment_bucket("X"), None);
    }
}
