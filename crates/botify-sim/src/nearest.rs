//! Exact nearest tracks by inner product (the course's brute force gives the same lists) through
//! an index with exact bounds ([`botify_core::mips`]), built once per world on first need.
//! Lists are memoised per query track, and may be cached in a file next to the world.

use botify_core::hash::FastMap;
use botify_core::mips::MipsIndex;
use botify_core::{Embeddings, Error, Result, TrackId};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// The `k` highest-scoring tracks for each query track, best first (ties by lower id). Builds an
/// index for this call only: reuse a [`TrackIndex`] for repeated searches.
pub fn top_k(emb: &Embeddings, queries: &[TrackId], k: usize) -> Vec<Vec<TrackId>> {
    TrackIndex::default().search(emb, queries, k, &|_| {})
}

/// The same lists by brute force (every query scored against every track with
/// [`botify_core::mips::dot`]): the reference the index is tested and benchmarked against.
pub fn brute_force(emb: &Embeddings, queries: &[TrackId], k: usize) -> Vec<Vec<TrackId>> {
    botify_core::mips::brute_force(&emb.data, emb.dim, queries, |&t| emb.row(t as usize), k)
}

/// A world's search index, built on the first search that needs it (a run whose lists all come
/// from a cache file never builds it).
#[derive(Default)]
pub struct TrackIndex(OnceLock<MipsIndex>);

impl TrackIndex {
    pub fn is_built(&self) -> bool {
        self.0.get().is_some()
    }

    pub fn get(&self, emb: &Embeddings) -> &MipsIndex {
        self.0.get_or_init(|| MipsIndex::build(&emb.data, emb.dim))
    }

    /// The `k` nearest tracks of each query; `done(n)` is told as blocks of `n` queries finish.
    pub fn search(
        &self,
        emb: &Embeddings,
        queries: &[TrackId],
        k: usize,
        done: &(dyn Fn(u64) + Sync),
    ) -> Vec<Vec<TrackId>> {
        let row = |&t: &TrackId| emb.row(t as usize);
        self.get(emb)
            .search(&emb.data, queries, row, k, &|_, _| true, done)
    }
}

/// Memoised top-k neighbours per query track.
#[derive(Default)]
pub struct NeighbourCache {
    k: usize,
    lists: FastMap<TrackId, Arc<[TrackId]>>,
    /// Lists added since the cache was last loaded or saved.
    unsaved: usize,
}

const MAGIC: &[u8; 8] = b"BOTIFYNN";
/// 2: scores are [`botify_core::mips::dot`]; version 1's matrix-product lists may order
/// near-ties differently.
const VERSION: u32 = 2;

impl NeighbourCache {
    pub fn new(k: usize) -> Self {
        NeighbourCache {
            k,
            ..Default::default()
        }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Computes (in parallel) whatever of `queries` is not cached yet; returns how many.
    pub fn ensure(
        &mut self,
        index: &TrackIndex,
        emb: &Embeddings,
        queries: impl IntoIterator<Item = TrackId>,
    ) -> usize {
        let missing = self.missing(queries);
        self.fill(index, emb, &missing, &|_| {});
        missing.len()
    }

    /// The queries not cached yet, sorted, each once.
    pub fn missing(&self, queries: impl IntoIterator<Item = TrackId>) -> Vec<TrackId> {
        let mut missing: Vec<TrackId> = queries
            .into_iter()
            .filter(|q| !self.lists.contains_key(q))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Computes (in parallel) the lists of `missing` (queries not cached yet); `done(n)` is told
    /// as blocks of `n` queries finish.
    pub fn fill(
        &mut self,
        index: &TrackIndex,
        emb: &Embeddings,
        missing: &[TrackId],
        done: &(dyn Fn(u64) + Sync),
    ) {
        if missing.is_empty() {
            return;
        }
        let lists = index.search(emb, missing, self.k, done);
        self.unsaved += missing.len();
        for (q, l) in missing.iter().zip(lists) {
            self.lists.insert(*q, l.into());
        }
    }

    pub fn get(&self, q: TrackId) -> Option<&[TrackId]> {
        self.lists.get(&q).map(|l| &**l)
    }

    /// Where a world directory keeps the lists of this cache's `k`.
    pub fn file_in(&self, world_dir: &Path) -> PathBuf {
        world_dir.join(format!("neighbours-k{}.bin", self.k))
    }

    /// Adds the lists of `path` if it was written for these embeddings (same content hash) and
    /// this `k`; returns how many were added (0 for a missing file or one of another world). A
    /// damaged file is an error naming it; nothing is added from it.
    pub fn load(&mut self, path: &Path, emb: &Embeddings, hash: u64) -> Result<usize> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(path, e)),
        };
        let bad = |m: &str| Error::file(path, format!("neighbour cache: {m}"));
        let word = |i: usize| -> u32 {
            u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes"))
        };
        if bytes.len() < 32 || &bytes[..8] != MAGIC || bytes.len() % 4 != 0 {
            return Err(bad("not a Botify neighbour file"));
        }
        let (version, k) = (word(2), word(3) as usize);
        let file_hash = u64::from(word(4)) | (u64::from(word(5)) << 32);
        let (count, len) = (word(6) as usize, word(7) as usize);
        if version > VERSION {
            return Err(bad(&format!("version {version}, expected {VERSION}")));
        }
        if version < VERSION || file_hash != hash || k != self.k {
            // Stale lists, another world, or lists of another length: not ours to use (the next
            // save replaces the file).
            return Ok(0);
        }
        if len != self.k.min(emb.rows) || bytes.len() != 32 + count * (1 + len) * 4 {
            return Err(bad("its size does not match its header"));
        }
        let ids = |i: usize| word(8 + i);
        let rows = emb.rows as u32;
        if (0..count * (1 + len)).any(|i| ids(i) >= rows) {
            return Err(bad("a track id outside the catalogue"));
        }
        let before = self.lists.len();
        for q in 0..count {
            let list: Arc<[TrackId]> = (0..len).map(|j| ids(count + q * len + j)).collect();
            self.lists.entry(ids(q)).or_insert(list);
        }
        Ok(self.lists.len() - before)
    }

    /// Writes every list to `path` (through a temporary file renamed over it, so a reader never
    /// sees half a file) if lists were added since the last load or save; returns whether it
    /// wrote.
    pub fn save(&mut self, path: &Path, emb: &Embeddings, hash: u64) -> Result<bool> {
        if self.unsaved == 0 {
            return Ok(false);
        }
        let len = self.k.min(emb.rows);
        let mut queries: Vec<TrackId> = self.lists.keys().copied().collect();
        queries.sort_unstable();
        let mut out = Vec::with_capacity(32 + queries.len() * (1 + len) * 4);
        out.extend_from_slice(MAGIC);
        for w in [VERSION, self.k as u32, hash as u32, (hash >> 32) as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&(queries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(len as u32).to_le_bytes());
        for q in &queries {
            out.extend_from_slice(&q.to_le_bytes());
        }
        for q in &queries {
            for t in &self.lists[q][..] {
                out.extend_from_slice(&t.to_le_bytes());
            }
        }
        // Unique per process and call: concurrent saves never share a temporary file.
        static SAVES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&out))
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Error::io(path, e)
            })?;
        self.unsaved = 0;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embeddings() -> Embeddings {
        let (n, d) = (300, 7);
        let data: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        Embeddings::new(n, d, data).unwrap()
    }

    #[test]
    fn matches_the_brute_force() {
        let emb = embeddings();
        let queries: Vec<u32> = (0..emb.rows as u32).step_by(3).collect();
        assert_eq!(top_k(&emb, &queries, 10), brute_force(&emb, &queries, 10));
        assert_eq!(top_k(&emb, &[1], 1000)[0].len(), emb.rows);
    }

    #[test]
    fn caches_and_files_round_trip() {
        let emb = embeddings();
        let index = TrackIndex::default();
        let mut cache = NeighbourCache::new(5);
        assert_eq!(cache.ensure(&index, &emb, [3, 3, 6]), 2);
        assert_eq!(cache.ensure(&index, &emb, [3, 6]), 0);
        assert_eq!(cache.get(3).unwrap(), &top_k(&emb, &[3], 5)[0][..]);
        assert!(cache.get(4).is_none());

        let dir = tempfile::tempdir().unwrap();
        let path = cache.file_in(dir.path());
        let hash = emb.content_hash();
        assert!(cache.save(&path, &emb, hash).unwrap());
        assert!(
            !cache.save(&path, &emb, hash).unwrap(),
            "nothing new to write"
        );
        let mut again = NeighbourCache::new(5);
        assert_eq!(again.load(&path, &emb, hash).unwrap(), 2);
        assert_eq!(again.get(6), cache.get(6));
        // Another world's hash, or another k: the file is not used.
        assert_eq!(
            NeighbourCache::new(5).load(&path, &emb, hash ^ 1).unwrap(),
            0
        );
        assert_eq!(NeighbourCache::new(4).load(&path, &emb, hash).unwrap(), 0);
        assert_eq!(
            NeighbourCache::new(5)
                .load(&dir.path().join("none.bin"), &emb, hash)
                .unwrap(),
            0
        );
        // An older version's lists are stale: not used, and replaced by the next save. A newer
        // version is an error.
        let bytes = std::fs::read(&path).unwrap();
        for (version, stale) in [(VERSION - 1, true), (VERSION + 1, false)] {
            let mut other = bytes.clone();
            other[8..12].copy_from_slice(&version.to_le_bytes());
            std::fs::write(&path, &other).unwrap();
            let loaded = NeighbourCache::new(5).load(&path, &emb, hash);
            if stale {
                assert_eq!(loaded.unwrap(), 0);
            } else {
                assert!(loaded.unwrap_err().to_string().contains("version"));
            }
        }
        // A truncated file is an error that names it, and adds nothing.
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let mut damaged = NeighbourCache::new(5);
        let e = damaged.load(&path, &emb, hash).unwrap_err().to_string();
        assert!(e.contains("neighbours-k5.bin") && e.contains("size"), "{e}");
        assert!(damaged.is_empty());
    }

    #[test]
    fn a_changed_world_has_another_hash() {
        let emb = embeddings();
        let mut other = emb.clone();
        other.data[17] += 1e-6;
        assert_ne!(emb.content_hash(), other.content_hash());
        assert_eq!(emb.content_hash(), embeddings().content_hash());
    }
}
