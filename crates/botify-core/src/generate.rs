//! The world generator: genres → artists (heavy-tailed popularity) → tracks, embeddings
//! clustered by genre and artist, and listeners whose interests chain across related artists.
//!
//! Deterministic: every random draw comes from a stream derived from (seed, purpose, index), and
//! parallel work is split by index, so the same parameters give byte-identical files whatever the
//! thread count.

use crate::catalog::{Catalog, Track};
use crate::dynamics::Dynamics;
use crate::names;
use crate::npy::Embeddings;
use crate::rng::stream;
use crate::users::User;
use crate::world::World;
use crate::{Error, Result, TrackId};
use rand::Rng;
use rand_distr::weighted::WeightedAliasIndex;
use rand_distr::{Distribution, LogNormal, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Generator parameters; the defaults are the calibrated world of `docs/world.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldParams {
    pub tracks: usize,
    pub users: usize,
    pub dim: usize,
    pub seed: u64,
    /// Number of genres (at most the built-in list of names; more get numbered).
    pub genres: usize,
    /// Median number of tracks per artist (log-normal sizes, capped at `max_artist_tracks`).
    pub median_artist_tracks: f64,
    pub max_artist_tracks: usize,
    /// Zipf exponent of artist popularity by rank.
    pub artist_popularity_exponent: f64,
    /// Cosine of an artist's centre to its genre's centre.
    pub artist_to_genre: f32,
    /// Range of the cosine of a track to its artist's centre (per artist).
    pub track_to_artist: (f32, f32),
    /// Probability that an artist also leans towards a second genre.
    pub crossover: f64,
    /// Range of the number of interests per user.
    pub interests: (usize, usize),
    /// Range of per-user probability of jumping to an unrelated artist between interests.
    pub openness: (f64, f64),
    pub consume_bias: (f32, f32),
    pub consume_sharpness: (f32, f32),
    /// Listener dynamics beyond the course's model (all off by default).
    pub dynamics: Dynamics,
}

impl Default for WorldParams {
    fn default() -> Self {
        WorldParams {
            tracks: 50_000,
            users: 10_000,
            dim: 64,
            seed: crate::defaults::SEED,
            genres: 24,
            median_artist_tracks: 6.0,
            max_artist_tracks: 60,
            artist_popularity_exponent: 0.9,
            artist_to_genre: 0.7,
            track_to_artist: (0.8, 0.92),
            crossover: 0.15,
            interests: (3, 8),
            openness: (0.05, 0.35),
            consume_bias: (0.1, 0.6),
            consume_sharpness: (4.0, 15.0),
            dynamics: Dynamics::default(),
        }
    }
}

impl WorldParams {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.tracks == 0 || self.tracks > u32::MAX as usize / 2 {
            return bad(format!("tracks: {} is not in 1..2^31", self.tracks));
        }
        if self.users == 0 {
            return bad("users: must be at least 1".into());
        }
        if self.dim == 0 || self.dim > 4096 {
            return bad(format!("dim: {} is not in 1..=4096", self.dim));
        }
        if self.genres == 0 {
            return bad("genres: must be at least 1".into());
        }
        if self.median_artist_tracks.is_nan()
            || self.median_artist_tracks < 1.0
            || self.max_artist_tracks == 0
        {
            return bad("median_artist_tracks and max_artist_tracks must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.artist_to_genre)
            || !(0.0..=1.0).contains(&self.track_to_artist.0)
            || !(self.track_to_artist.0..=1.0).contains(&self.track_to_artist.1)
        {
            return bad(
                "artist_to_genre and track_to_artist must be cosines in [0, 1] (low <= high)"
                    .into(),
            );
        }
        if self.interests.0 == 0 || self.interests.0 > self.interests.1 {
            return bad(format!(
                "interests: range {:?} must be 1 <= low <= high",
                self.interests
            ));
        }
        for (name, (lo, hi)) in [
            ("consume_bias", self.consume_bias),
            ("consume_sharpness", self.consume_sharpness),
        ] {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return bad(format!(
                    "{name}: range ({lo}, {hi}) must be finite with low <= high"
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.openness.0)
            || !(self.openness.0..=1.0).contains(&self.openness.1)
        {
            return bad(format!(
                "openness: range {:?} must lie in [0, 1]",
                self.openness
            ));
        }
        self.dynamics.validate()
    }
}

struct Artist {
    name: String,
    genre: usize,
    size: usize,
    popularity: f64,
    first_track: usize,
    year: u16,
}

fn gaussian_unit(rng: &mut impl Rng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| StandardNormal.sample(rng)).collect();
    normalise(&mut v);
    v
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// `normalise(a·x + b·y)`.
fn blend(a: f32, x: &[f32], b: f32, y: &[f32]) -> Vec<f32> {
    let mut v = vec![0f32; x.len()];
    blend_into(&mut v, a, x, b, y);
    v
}

/// [`blend`] into `out`.
fn blend_into(out: &mut [f32], a: f32, x: &[f32], b: f32, y: &[f32]) {
    for (o, (x, y)) in out.iter_mut().zip(x.iter().zip(y)) {
        *o = a * x + b * y;
    }
    normalise(out);
}

/// Generates a whole world in memory.
pub fn generate(p: &WorldParams) -> Result<World> {
    p.validate()?;
    let genres = Genres::new(p)?;
    let artists = artists(p, &genres)?;
    let mut data = vec![0f32; p.tracks * p.dim];
    let (tracks, weights) = tracks(p, &genres, &artists, &mut data);
    let users = listeners(p, &genres, &artists, &weights)?;
    let catalog = Catalog::from_tracks(tracks)?;
    let embeddings = Embeddings::new(p.tracks, p.dim, data)?;
    Ok(World {
        catalog,
        embeddings,
        users,
        dynamics: p.dynamics.clone(),
    })
}

/// Genres: names, centres around a few "super-genre" directions (so related genres exist) and
/// skewed sizes.
struct Genres {
    names: Vec<String>,
    /// The super-genre of each genre.
    family: Vec<usize>,
    centres: Vec<Vec<f32>>,
    pick: WeightedAliasIndex<f64>,
}

impl Genres {
    fn new(p: &WorldParams) -> Result<Genres> {
        let (seed, dim) = (p.seed, p.dim);
        // Genres: centres around a few "super-genre" directions so related genres exist.
        let supers: Vec<Vec<f32>> = (0..4.max(p.genres / 4))
            .map(|i| gaussian_unit(&mut stream(seed, b"super", i as u64), dim))
            .collect();
        let genre_names: Vec<String> = (0..p.genres)
            .map(|g| match names::GENRES.get(g) {
                Some(n) => n.to_string(),
                None => format!("genre {g}"),
            })
            .collect();
        let genre_super: Vec<usize> = (0..p.genres).map(|g| g % supers.len()).collect();
        let genre_centres: Vec<Vec<f32>> = (0..p.genres)
            .map(|g| {
                let u = gaussian_unit(&mut stream(seed, b"genre", g as u64), dim);
                blend(0.5, &supers[genre_super[g]], 0.866, &u)
            })
            .collect();
        // Genre sizes are skewed too: a few big genres, a long tail.
        let genre_weights: Vec<f64> = (0..p.genres)
            .map(|g| 1.0 / (g as f64 + 1.0).powf(0.6))
            .collect();
        let genre_pick =
            WeightedAliasIndex::new(genre_weights).map_err(|e| Error::Invalid(e.to_string()))?;

        Ok(Genres {
            names: genre_names,
            family: genre_super,
            centres: genre_centres,
            pick: genre_pick,
        })
    }
}

/// Artists, sequentially (cheap) so their sizes add up exactly to `p.tracks`, with a
/// heavy-tailed popularity.
fn artists(p: &WorldParams, genres: &Genres) -> Result<Vec<Artist>> {
    let seed = p.seed;
    let genre_pick = &genres.pick;
    let mut rng = stream(seed, b"artists", 0);
    let size_dist = LogNormal::new(p.median_artist_tracks.ln(), 0.8)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut artists: Vec<Artist> = Vec::new();
    let mut used_names: HashSet<String> = HashSet::new();
    let mut total = 0;
    while total < p.tracks {
        let size = (size_dist.sample(&mut rng).round() as usize)
            .clamp(1, p.max_artist_tracks)
            .min(p.tracks - total);
        let mut name = names::artist(&mut rng);
        while !used_names.insert(name.clone()) {
            name = names::artist(&mut rng);
        }
        artists.push(Artist {
            name,
            genre: genre_pick.sample(&mut rng),
            size,
            popularity: 0.0,
            first_track: total,
            year: rng.random_range(1960..=2025),
        });
        total += size;
    }
    // Heavy-tailed popularity: Zipf by a random rank.
    let mut ranks: Vec<usize> = (0..artists.len()).collect();
    for i in (1..ranks.len()).rev() {
        ranks.swap(i, rng.random_range(0..=i));
    }
    for (a, &r) in artists.iter_mut().zip(&ranks) {
        a.popularity = 1.0 / (r as f64 + 1.0).powf(p.artist_popularity_exponent);
    }

    Ok(artists)
}

/// Every track's metadata and popularity weight; the embeddings are written into `data`
/// (tracks × dim), parallel by artist.
fn tracks(
    p: &WorldParams,
    genres: &Genres,
    artists: &[Artist],
    data: &mut [f32],
) -> (Vec<Track>, Vec<f64>) {
    let (seed, dim) = (p.seed, p.dim);
    let (genre_centres, genre_names) = (&genres.centres, &genres.names);
    // Artist centres (parallel, one stream per artist).
    let artist_centres: Vec<(Vec<f32>, f32)> = artists
        .par_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut r = stream(seed, b"artist-centre", i as u64);
            let own = gaussian_unit(&mut r, dim);
            let mut base = genre_centres[a.genre].clone();
            if r.random_bool(p.crossover) {
                let other = r.random_range(0..p.genres);
                base = blend(0.8, &base, 0.6, &genre_centres[other]);
            }
            let c = p.artist_to_genre;
            let centre = blend(c, &base, (1.0 - c * c).sqrt(), &own);
            let tightness = r.random_range(p.track_to_artist.0..=p.track_to_artist.1);
            (centre, tightness)
        })
        .collect();

    // Tracks: metadata, popularity and embeddings (parallel by artist).
    // Each artist writes its tracks' embeddings straight into its rows of the matrix: no vector
    // per track (at 10M tracks those small allocations cost more than the rows themselves).
    let rows = crate::split_mut(data, artists.iter().map(|a| a.size * dim));
    let per_artist: Vec<Vec<(Track, f64)>> = artists
        .par_iter()
        .zip(rows)
        .enumerate()
        .map(|(ai, (a, rows))| {
            let mut r = stream(seed, b"tracks", ai as u64);
            let (centre, tight) = &artist_centres[ai];
            let mut used_titles: HashSet<String> = HashSet::new();
            rows.chunks_mut(dim)
                .enumerate()
                .map(|(k, row)| {
                    let mut title = names::title(&mut r);
                    while !used_titles.insert(title.clone()) && used_titles.len() < 500 {
                        title = names::title(&mut r);
                    }
                    let own = gaussian_unit(&mut r, dim);
                    blend_into(row, *tight, centre, (1.0 - tight * tight).sqrt(), &own);
                    let weight = a.popularity * (r.random::<f64>() * 1.2 - 0.6).exp();
                    let duration = (LogNormal::new(5.35f64, 0.25)
                        .map(|d| d.sample(&mut r))
                        .unwrap_or(210.0))
                    .clamp(60.0, 900.0)
                    .round() as f32;
                    let track = Track {
                        track: (a.first_track + k) as TrackId,
                        artist: a.name.clone(),
                        title,
                        genre: Some(genre_names[a.genre].clone()),
                        year: Some((a.year + r.random_range(0..6)).min(2026)),
                        duration: Some(duration),
                        mood: Some(names::MOODS[r.random_range(0..names::MOODS.len())].to_string()),
                        pop: None,
                    };
                    (track, weight)
                })
                .collect()
        })
        .collect();
    let mut tracks = Vec::with_capacity(p.tracks);
    let mut weights = Vec::with_capacity(p.tracks);
    for (t, w) in per_artist.into_iter().flatten() {
        tracks.push(t);
        weights.push(w);
    }
    // `pop` is the popularity percentile in [0, 1] (rounded so files stay short).
    let mut order: Vec<usize> = (0..tracks.len()).collect();
    order.sort_by(|&a, &b| weights[a].total_cmp(&weights[b]).then(a.cmp(&b)));
    let denom = (tracks.len().max(2) - 1) as f32;
    for (rank, &i) in order.iter().enumerate() {
        tracks[i].pop = Some((rank as f32 / denom * 1000.0).round() / 1000.0);
    }

    (tracks, weights)
}

/// Listeners: interests chain over related artists, picked by popularity.
fn listeners(
    p: &WorldParams,
    genres: &Genres,
    artists: &[Artist],
    weights: &[f64],
) -> Result<Vec<User>> {
    let seed = p.seed;
    let genre_super = &genres.family;
    let artist_pick =
        WeightedAliasIndex::new(artists.iter().map(|a| a.popularity).collect::<Vec<_>>())
            .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut genre_artists: Vec<Vec<usize>> = vec![Vec::new(); p.genres];
    for (i, a) in artists.iter().enumerate() {
        genre_artists[a.genre].push(i);
    }
    let genre_artist_pick: Vec<Option<WeightedAliasIndex<f64>>> = genre_artists
        .iter()
        .map(|list| {
            WeightedAliasIndex::new(list.iter().map(|&i| artists[i].popularity).collect()).ok()
        })
        .collect();
    let users: Vec<User> = (0..p.users)
        .into_par_iter()
        .map(|u| {
            let mut r = stream(seed, b"user", u as u64);
            let n = r.random_range(p.interests.0..=p.interests.1);
            let openness = r.random_range(p.openness.0..=p.openness.1);
            let mut interests: Vec<TrackId> = Vec::with_capacity(n);
            let mut artist = artist_pick.sample(&mut r);
            for i in 0..n * 4 {
                if interests.len() == n {
                    break;
                }
                if i > 0 {
                    artist = if r.random_bool(openness) {
                        artist_pick.sample(&mut r)
                    } else {
                        // A related artist: same genre, or a sibling genre under the same super-genre.
                        let mut g = artists[artist].genre;
                        if r.random_bool(0.2) {
                            let siblings: Vec<usize> = (0..p.genres)
                                .filter(|&h| {
                                    genre_super[h] == genre_super[g]
                                        && genre_artist_pick[h].is_some()
                                })
                                .collect();
                            g = siblings[r.random_range(0..siblings.len())];
                        }
                        match &genre_artist_pick[g] {
                            Some(pick) => genre_artists[g][pick.sample(&mut r)],
                            None => artist,
                        }
                    };
                }
                let a = &artists[artist];
                let mut acc = 0.0;
                let total: f64 = (0..a.size).map(|k| weights[a.first_track + k]).sum();
                let target = r.random::<f64>() * total;
                let mut chosen = a.first_track + a.size - 1;
                for k in 0..a.size {
                    acc += weights[a.first_track + k];
                    if acc >= target {
                        chosen = a.first_track + k;
                        break;
                    }
                }
                let t = chosen as TrackId;
                if !interests.contains(&t) {
                    interests.push(t);
                }
            }
            let round4 = |x: f32| (x * 10_000.0).round() / 10_000.0;
            User {
                user: u as u32,
                interests,
                consume_bias: round4(r.random_range(p.consume_bias.0..=p.consume_bias.1)),
                consume_sharpness: round4(
                    r.random_range(p.consume_sharpness.0..=p.consume_sharpness.1),
                ),
                interest_neighbours: None,
                session_budget: None,
                artist_discount_gamma: None,
                // Drifting interests follow the listener's openness; without drift the users'
                // file stays the course's.
                openness: (p.dynamics.drift > 0.0).then_some(openness as f32),
            }
        })
        .collect();

    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> WorldParams {
        WorldParams {
            tracks: 2000,
            users: 300,
            dim: 16,
            ..Default::default()
        }
    }

    #[test]
    fn structure_matches_the_spec() {
        let w = generate(&small()).unwrap();
        assert_eq!(w.catalog.len(), 2000);
        assert_eq!(w.embeddings.rows, 2000);
        assert_eq!(w.users.len(), 300);
        for i in 0..w.embeddings.rows {
            let n: f32 = w.embeddings.row(i).iter().map(|x| x * x).sum();
            assert!((n - 1.0).abs() < 1e-4);
        }
        // Same-artist tracks are far more similar than random pairs.
        let dot = |a: usize, b: usize| -> f32 {
            w.embeddings
                .row(a)
                .iter()
                .zip(w.embeddings.row(b))
                .map(|(x, y)| x * y)
                .sum()
        };
        let (mut same, mut ns, mut other, mut no) = (0.0, 0, 0.0, 0);
        for t in 0..1999usize {
            if w.catalog.artist_of(t as u32) == w.catalog.artist_of(t as u32 + 1) {
                same += dot(t, t + 1);
                ns += 1;
            }
            other += dot(t, (t * 7919) % 2000);
            no += 1;
        }
        assert!(
            same / ns as f32 > 0.5,
            "same-artist cosine {}",
            same / ns as f32
        );
        assert!((other / no as f32).abs() < 0.2);
        // Artist sizes are heavy-tailed: some artists have many tracks, many have few.
        let max = w.catalog.artist_tracks.iter().map(Vec::len).max().unwrap();
        assert!(max >= 15, "largest artist has {max} tracks");
        // Readable, unique artist names.
        assert!(
            w.catalog
                .artists
                .iter()
                .all(|a| a.chars().any(char::is_alphabetic) && !a.contains('_'))
        );
        for u in &w.users {
            u.validate(2000).unwrap();
            assert!(u.interests.len() >= 3 && u.interests.len() <= 8);
        }
    }

    #[test]
    fn deterministic_across_thread_counts() {
        let p = small();
        let a = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| generate(&p).unwrap());
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| generate(&p).unwrap());
        assert_eq!(a.embeddings, b.embeddings);
        assert_eq!(a.catalog.tracks, b.catalog.tracks);
        assert_eq!(a.users, b.users);
        let c = generate(&WorldParams { seed: 1, ..p }).unwrap();
        assert_ne!(a.embeddings, c.embeddings);
    }

    #[test]
    fn rejects_bad_params() {
        assert!(
            generate(&WorldParams {
                tracks: 0,
                ..small()
            })
            .is_err()
        );
        assert!(
            generate(&WorldParams {
                interests: (5, 2),
                ..small()
            })
            .is_err()
        );
        assert!(generate(&WorldParams { dim: 0, ..small() }).is_err());
    }
}
