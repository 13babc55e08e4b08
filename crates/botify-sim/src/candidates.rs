//! Candidate sets and their features for the candidate-set environment (RecSim's and KuaiSim's
//! shape): at each step a generator proposes `K` tracks and the agent picks one. Features come
//! from the catalogue, the session so far and, optionally, a learned embedding — never the
//! world's hidden embeddings.

use crate::listener::Session;
use botify_core::catalog::NO_GENRE;
use botify_core::rng::Rng;
use botify_core::{TrackId, World};
use botify_recs::data::TrackLists;
use rand::Rng as _;
use std::sync::Arc;

/// Tracks of the popularity head the default generator draws its popular candidates from.
const POPULAR_HEAD: usize = 500;

/// Where a step's candidates come from.
#[derive(Debug, Clone)]
pub enum Generator {
    /// No model needed: the previous artist's unplayed tracks (up to half), popular tracks (a
    /// quarter) and random ones.
    Default,
    /// The previous artist's tracks (unplayed first), then random ones.
    Artist,
    /// Popular tracks, then random ones.
    Popular,
    /// Uniformly random tracks.
    Random,
    /// A model's item-to-item lists (the course's per-track format): the previous track's list,
    /// unplayed first, then the default generator's.
    Lists(Arc<TrackLists>),
}

impl Generator {
    /// `default`, `artist`, `popular`, `random`, or a per-track list file.
    pub fn parse(text: &str, world: &World) -> Result<Generator, String> {
        Ok(match text {
            "default" => Generator::Default,
            "artist" => Generator::Artist,
            "popular" => Generator::Popular,
            "random" => Generator::Random,
            path => {
                let lists = TrackLists::load(std::path::Path::new(path), world.catalog.len())
                    .map_err(|e| {
                        format!(
                            "candidates {path:?} is neither default, artist, popular, random nor a readable item-to-item file: {e}"
                        )
                    })?;
                Generator::Lists(Arc::new(lists))
            }
        })
    }
}

/// What the generators and the features need of the catalogue, computed once.
pub struct CandidateSpace {
    pub generator: Generator,
    /// Tracks by popularity, most popular first (the head only).
    popular: Vec<TrackId>,
    popularity: Vec<f32>,
    pub genre_of: Vec<u32>,
    /// A learned embedding per track (`[tracks × dim]`), or none.
    embedding: Option<(Arc<[f32]>, usize)>,
}

/// Features per track before the embedding: popularity, played this session, earlier plays of
/// its artist this session (÷ 4, at most 1), same artist as the previous track, same genre.
pub const BASE_FEATURES: usize = 5;

impl CandidateSpace {
    pub fn new(
        world: &World,
        generator: Generator,
        embedding: Option<(Arc<[f32]>, usize)>,
    ) -> Self {
        let popularity: Vec<f32> = world
            .catalog
            .tracks
            .iter()
            .map(|t| t.pop.unwrap_or(0.5))
            .collect();
        let mut popular: Vec<TrackId> = (0..world.catalog.len() as TrackId).collect();
        popular.sort_by(|&a, &b| {
            popularity[b as usize]
                .total_cmp(&popularity[a as usize])
                .then(a.cmp(&b))
        });
        popular.truncate(POPULAR_HEAD);
        CandidateSpace {
            generator,
            popular,
            popularity,
            genre_of: world.catalog.genre_ids().0,
            embedding,
        }
    }

    /// Features per track: [`BASE_FEATURES`] and the embedding's dimension.
    pub fn width(&self) -> usize {
        BASE_FEATURES + self.embedding.as_ref().map_or(0, |(_, d)| *d)
    }

    /// Fills `out` with `k` distinct candidates for the session's next step (fewer only when the
    /// catalogue has fewer tracks).
    pub fn candidates(
        &self,
        world: &World,
        s: &Session,
        prev: TrackId,
        k: usize,
        rng: &mut Rng,
        out: &mut Vec<TrackId>,
    ) {
        out.clear();
        let n = world.catalog.len();
        let k = k.min(n);
        let push = |out: &mut Vec<TrackId>, t: TrackId| {
            if out.len() < k && !out.contains(&t) {
                out.push(t);
            }
        };
        let artist = world.catalog.same_artist(prev);
        let from_artist = |out: &mut Vec<TrackId>, upto: usize, rng: &mut Rng| {
            // Unplayed tracks of the artist, from a random offset so the set varies.
            let start = rng.random_range(0..artist.len());
            for j in 0..artist.len() {
                let t = artist[(start + j) % artist.len()];
                if out.len() >= upto {
                    break;
                }
                if !s.was_played(t) {
                    push(out, t);
                }
            }
        };
        let from_popular = |out: &mut Vec<TrackId>, upto: usize, rng: &mut Rng| {
            for _ in 0..4 * upto {
                if out.len() >= upto {
                    break;
                }
                let t = self.popular[rng.random_range(0..self.popular.len())];
                if !s.was_played(t) {
                    push(out, t);
                }
            }
        };
        match &self.generator {
            Generator::Default => {
                from_artist(out, k / 2, rng);
                from_popular(out, out.len() + k / 4, rng);
            }
            Generator::Artist => from_artist(out, k, rng),
            Generator::Popular => from_popular(out, k, rng),
            Generator::Random => {}
            Generator::Lists(lists) => {
                for &t in lists.get(prev).unwrap_or(&[]) {
                    if out.len() >= k {
                        break;
                    }
                    if !s.was_played(t) {
                        push(out, t);
                    }
                }
                from_artist(out, out.len().max(k / 2), rng);
                from_popular(out, out.len() + k / 4, rng);
            }
        }
        self.fill_random(n, k, rng, out);
    }

    /// Tops `out` up to `k` with uniformly random tracks.
    pub fn fill_random(&self, n: usize, k: usize, rng: &mut Rng, out: &mut Vec<TrackId>) {
        let k = k.min(n);
        while out.len() < k {
            let t = rng.random_range(0..n as TrackId);
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }

    /// Writes `track`'s features, seen from a session whose previous track is `prev`, into
    /// `out` (`width()` values).
    pub fn features(
        &self,
        world: &World,
        s: &Session,
        prev: TrackId,
        track: TrackId,
        out: &mut [f32],
    ) {
        let c = &world.catalog;
        let genre = self.genre_of[track as usize];
        out[0] = self.popularity[track as usize];
        out[1] = f32::from(u8::from(s.was_played(track)));
        out[2] = (s.artist_plays(track) as f32 / 4.0).min(1.0);
        out[3] = f32::from(u8::from(c.artist_of(track) == c.artist_of(prev)));
        out[4] = f32::from(u8::from(
            genre != NO_GENRE && genre == self.genre_of[prev as usize],
        ));
        if let Some((e, d)) = &self.embedding {
            let t = track as usize;
            out[BASE_FEATURES..BASE_FEATURES + d].copy_from_slice(&e[t * d..(t + 1) * d]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::generate::{WorldParams, generate};
    use botify_core::rng::stream;

    fn world() -> World {
        generate(&WorldParams {
            tracks: 3000,
            users: 20,
            dim: 8,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn default_candidates_are_distinct_and_mix_the_artist_popular_and_random() {
        let w = world();
        let space = CandidateSpace::new(&w, Generator::Default, None);
        let user = &w.users[0];
        let prev = w
            .catalog
            .artist_tracks
            .iter()
            .find(|a| a.len() >= 12)
            .unwrap()[0];
        let s = Session::start(&w, user, prev, prev);
        let mut rng = stream(1, b"c", 0);
        let mut out = Vec::new();
        space.candidates(&w, &s, prev, 16, &mut rng, &mut out);
        assert_eq!(out.len(), 16);
        let mut sorted = out.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 16, "distinct");
        let same = out
            .iter()
            .filter(|&&t| w.catalog.artist_of(t) == w.catalog.artist_of(prev))
            .count();
        assert!(same >= 8, "half from the previous artist: {same}");
        assert!(!out.contains(&prev), "the played track is not offered");
    }

    #[test]
    fn features_describe_the_track_from_the_session() {
        let w = world();
        let d = 3;
        let emb: Arc<[f32]> = (0..w.catalog.len() * d)
            .map(|i| i as f32)
            .collect::<Vec<_>>()
            .into();
        let space = CandidateSpace::new(&w, Generator::Random, Some((emb, d)));
        assert_eq!(space.width(), BASE_FEATURES + 3);
        let prev = w
            .catalog
            .artist_tracks
            .iter()
            .find(|a| a.len() >= 3)
            .unwrap()[0];
        let mate = w.catalog.same_artist(prev)[1];
        let s = Session::start(&w, &w.users[0], prev, prev);
        let mut f = vec![0.0; space.width()];
        space.features(&w, &s, prev, prev, &mut f);
        assert_eq!(
            &f[1..4],
            &[1.0, 0.25, 1.0],
            "played, one play of its artist, same artist"
        );
        space.features(&w, &s, prev, mate, &mut f);
        assert_eq!(&f[1..5], &[0.0, 0.25, 1.0, 1.0]);
        let m = mate as usize;
        assert_eq!(
            &f[5..],
            &[(m * 3) as f32, (m * 3 + 1) as f32, (m * 3 + 2) as f32]
        );
    }
}
