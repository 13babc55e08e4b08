//! A world directory: `tracks.json` (catalogue), `tracks.npy` (hidden embeddings),
//! `users.json` (hidden listeners) and, when its listeners have dynamics beyond the course's,
//! `dynamics.json`. Loading validates everything the simulator relies on.

use crate::catalog::Catalog;
use crate::dynamics::Dynamics;
use crate::npy::Embeddings;
use crate::users::{self, User};
use crate::{Error, Result};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

pub const TRACKS_FILE: &str = "tracks.json";
pub const EMBEDDINGS_FILE: &str = "tracks.npy";
pub const USERS_FILE: &str = "users.json";

#[derive(Debug, Clone)]
pub struct World {
    pub catalog: Catalog,
    pub embeddings: Embeddings,
    pub users: Vec<User>,
    /// Off (the course's listener) unless the world's `dynamics.json` says otherwise.
    pub dynamics: Dynamics,
}

impl World {
    /// Loads and validates a world directory (ours or the course's files).
    pub fn load(dir: &Path) -> Result<Self> {
        let catalog = Catalog::load(&dir.join(TRACKS_FILE))?;
        let embeddings = load_embeddings(&dir.join(EMBEDDINGS_FILE), catalog.len())?;
        let users = users::load(&dir.join(USERS_FILE), catalog.len())?;
        let dynamics = Dynamics::load(dir)?;
        Ok(World {
            catalog,
            embeddings,
            users,
            dynamics,
        })
    }

    /// Writes the world's files into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.catalog.write(&dir.join(TRACKS_FILE))?;
        self.embeddings.write(&dir.join(EMBEDDINGS_FILE))?;
        write_json_lines(&dir.join(USERS_FILE), &self.users)?;
        self.dynamics.write(dir)
    }

    pub fn dot(&self, a: usize, b: usize) -> f32 {
        dot(self.embeddings.row(a), self.embeddings.row(b))
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Loads `tracks.npy` and checks it against a catalogue of `tracks` tracks: row count and finite
/// values (the error names the first bad row).
pub fn load_embeddings(path: &Path, tracks: usize) -> Result<Embeddings> {
    let e = Embeddings::load(path)?;
    if e.rows != tracks {
        return Err(Error::file(
            path,
            format!(
                "has {} rows but the catalogue has {tracks} tracks (one row per track id)",
                e.rows
            ),
        ));
    }
    if let Some(i) = e.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::file(
            path,
            format!(
                "row {} (track {}) holds a non-finite value ({})",
                i / e.dim,
                i / e.dim,
                e.data[i]
            ),
        ));
    }
    Ok(e)
}

/// Writes serialisable records as JSON lines.
pub fn write_json_lines<T: Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    for it in items {
        serde_json::to_writer(&mut w, it).map_err(|e| Error::file(path, e.to_string()))?;
        w.write_all(b"\n").map_err(|e| Error::io(path, e))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

/// What `botify world check` reports about a directory: what was found valid, what is missing.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub tracks: usize,
    pub artists: usize,
    pub embeddings: Option<(usize, usize)>,
    pub users: Option<usize>,
    pub notes: Vec<String>,
}

/// The world files already in `dir` (none when it does not exist).
pub fn existing_files(dir: &Path) -> Vec<&'static str> {
    [
        TRACKS_FILE,
        USERS_FILE,
        EMBEDDINGS_FILE,
        crate::dynamics::DYNAMICS_FILE,
    ]
    .into_iter()
    .filter(|f| dir.join(f).exists())
    .collect()
}

/// Validates whatever world files `dir` holds. `tracks.json` is required; a missing
/// `tracks.npy` or `users.json` is a note (the course ships no embeddings), a broken one an error.
pub fn check(dir: &Path) -> Result<CheckReport> {
    let catalog = Catalog::load(&dir.join(TRACKS_FILE))?;
    let mut notes = Vec::new();
    let npy = dir.join(EMBEDDINGS_FILE);
    let embeddings = if npy.exists() {
        let e = load_embeddings(&npy, catalog.len())?;
        let norms: Vec<f32> = (0..e.rows)
            .map(|i| dot(e.row(i), e.row(i)).sqrt())
            .collect();
        let off = norms.iter().filter(|n| (**n - 1.0).abs() > 1e-3).count();
        if off > 0 {
            notes.push(format!(
                "{off} embedding rows are not unit-norm (fine for course files; consume_bias is then on the embeddings' own scale)"
            ));
        }
        Some((e.rows, e.dim))
    } else {
        notes.push(format!(
            "{EMBEDDINGS_FILE} is missing: the service and trainers can run, the simulator cannot"
        ));
        None
    };
    let dynamics = Dynamics::load(dir)?;
    if !dynamics.is_off() {
        notes.push(format!(
            "listener dynamics ({}): {}",
            crate::dynamics::DYNAMICS_FILE,
            serde_json::to_string(&dynamics).unwrap_or_default()
        ));
    }
    let upath = dir.join(USERS_FILE);
    let users = if upath.exists() {
        let all = users::load(&upath, catalog.len())?;
        let negative = all.iter().filter(|u| u.consume_bias < 0.0).count();
        if negative > 0 {
            notes.push(format!(
                "{negative} users have a negative consume_bias: they listen at least half of \
                 every track whatever it is (allowed, but rarely meant)"
            ));
        }
        Some(all.len())
    } else {
        notes.push(format!("{USERS_FILE} is missing: the simulator needs it"));
        None
    };
    Ok(CheckReport {
        tracks: catalog.len(),
        artists: catalog.artists.len(),
        embeddings,
        users,
        notes,
    })
}

/// Summary statistics of a world for `botify world stats`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub tracks: usize,
    pub artists: usize,
    pub genres: usize,
    pub users: usize,
    /// Embedding size; None without `tracks.npy` (the course's files).
    pub dim: Option<usize>,
    /// Tracks per artist: min, median, 90th percentile, max.
    pub artist_tracks: [usize; 4],
    /// Share of all users' interests on the most popular 1% / 10% of artists (popularity curve).
    pub interest_share_top_artists: [f64; 2],
    /// Share of tracks that are someone's interest.
    pub interest_coverage: f64,
    pub interests_per_user: f64,
    /// Embedding norms: min, mean, max (None without embeddings).
    pub norms: Option<[f32; 3]>,
    /// Mean inner product of track pairs: same artist, same genre (other artist), random.
    pub mean_dot: Option<[f32; 3]>,
    pub consume_bias: [f32; 2],
    pub consume_sharpness: [f32; 2],
}

impl Stats {
    /// The statistics as `botify world stats` prints them.
    pub fn to_text(&self, dir: &Path) -> String {
        let s = self;
        let mut out = vec![
            format!("world {}", dir.display()),
            format!("  tracks                 {}", s.tracks),
            format!("  artists                {}", s.artists),
            format!("  genres                 {}", s.genres),
            format!("  users                  {}", s.users),
            match s.dim {
                Some(d) => format!("  embedding dim          {d}"),
                None => format!("  embedding dim          - (no {EMBEDDINGS_FILE})"),
            },
        ];
        let [min, med, p90, max] = s.artist_tracks;
        out.push(format!(
            "  tracks per artist      min {min}, median {med}, p90 {p90}, max {max}"
        ));
        out.push(format!(
            "  interests on top 1% / 10% of artists   {:.1}% / {:.1}%",
            100.0 * s.interest_share_top_artists[0],
            100.0 * s.interest_share_top_artists[1]
        ));
        out.push(format!(
            "  tracks that are someone's interest     {:.1}%   ({:.2} interests per user)",
            100.0 * s.interest_coverage,
            s.interests_per_user
        ));
        if let Some([lo, mean, hi]) = s.norms {
            out.push(format!(
                "  embedding norms        min {lo:.4}, mean {mean:.4}, max {hi:.4}"
            ));
        }
        if let Some([artist, genre, random]) = s.mean_dot {
            out.push(format!(
                "  mean inner product     same artist {artist:.3}, same genre {genre:.3}, random pair {random:.3}"
            ));
        }
        out.push(format!(
            "  consume_bias           {:.3} .. {:.3}",
            s.consume_bias[0], s.consume_bias[1]
        ));
        out.push(format!(
            "  consume_sharpness      {:.3} .. {:.3}",
            s.consume_sharpness[0], s.consume_sharpness[1]
        ));
        out.join("\n") + "\n"
    }
}

fn percentile(sorted: &[usize], q: f64) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

impl Stats {
    pub fn of(w: &World) -> Stats {
        Stats::of_parts(&w.catalog, &w.users, Some(&w.embeddings))
    }

    /// Statistics of a catalogue and its users; those of the embeddings only when given.
    pub fn of_parts(c: &Catalog, users: &[User], e: Option<&Embeddings>) -> Stats {
        let mut sizes: Vec<usize> = c.artist_tracks.iter().map(Vec::len).collect();
        sizes.sort_unstable();
        let mut per_artist = vec![0usize; c.artists.len()];
        let mut interest_tracks = vec![false; c.len()];
        let mut total = 0usize;
        for u in users {
            for &t in &u.interests {
                per_artist[c.artist_of(t) as usize] += 1;
                interest_tracks[t as usize] = true;
                total += 1;
            }
        }
        per_artist.sort_unstable_by(|a, b| b.cmp(a));
        let share = |frac: f64| {
            let k = ((per_artist.len() as f64 * frac).ceil() as usize).max(1);
            per_artist[..k].iter().sum::<usize>() as f64 / total.max(1) as f64
        };
        let genres: std::collections::HashSet<&str> =
            c.tracks.iter().filter_map(|t| t.genre.as_deref()).collect();
        let n = c.len();
        let norms = e.map(|e| {
            let norms: Vec<f32> = (0..e.rows)
                .map(|i| dot(e.row(i), e.row(i)).sqrt())
                .collect();
            [
                norms.iter().copied().fold(f32::INFINITY, f32::min),
                norms.iter().sum::<f32>() / n.max(1) as f32,
                norms.iter().copied().fold(0.0, f32::max),
            ]
        });
        let mean_dot = e.map(|e| mean_dots(c, e));
        let range = |f: fn(&User) -> f32| {
            users
                .iter()
                .map(f)
                .fold([f32::INFINITY, f32::NEG_INFINITY], |[lo, hi], v| {
                    [lo.min(v), hi.max(v)]
                })
        };
        Stats {
            tracks: n,
            artists: c.artists.len(),
            genres: genres.len(),
            users: users.len(),
            dim: e.map(|e| e.dim),
            artist_tracks: [
                percentile(&sizes, 0.0),
                percentile(&sizes, 0.5),
                percentile(&sizes, 0.9),
                percentile(&sizes, 1.0),
            ],
            interest_share_top_artists: [share(0.01), share(0.1)],
            interest_coverage: interest_tracks.iter().filter(|&&b| b).count() as f64
                / n.max(1) as f64,
            interests_per_user: total as f64 / users.len().max(1) as f64,
            norms,
            mean_dot,
            consume_bias: range(|u| u.consume_bias),
            consume_sharpness: range(|u| u.consume_sharpness),
        }
    }
}

/// Mean inner product of track pairs: same artist, same genre (other artist), random.
fn mean_dots(c: &Catalog, e: &Embeddings) -> [f32; 3] {
    let n = c.len();
    // Deterministic pair samples: neighbours within an artist, a genre, and a fixed stride.
    let (mut sums, mut counts) = ([0f64; 3], [0usize; 3]);
    for i in (0..n.saturating_sub(1)).step_by((n / 20_000).max(1)) {
        let j = (i * 7919 + 13) % n;
        sums[2] += f64::from(dot(e.row(i), e.row(j)));
        counts[2] += 1;
        if c.artist_of(i as u32) == c.artist_of(i as u32 + 1) {
            sums[0] += f64::from(dot(e.row(i), e.row(i + 1)));
            counts[0] += 1;
        }
        if c.artist_of(i as u32) != c.artist_of(j as u32)
            && c.tracks[i].genre.is_some()
            && c.tracks[i].genre == c.tracks[j].genre
        {
            sums[1] += f64::from(dot(e.row(i), e.row(j)));
            counts[1] += 1;
        }
    }
    [0, 1, 2].map(|k| (sums[k] / counts[k].max(1) as f64) as f32)
}
