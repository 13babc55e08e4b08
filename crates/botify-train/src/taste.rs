//! Artist taste vectors learned from listen times against the session's first track.
//!
//! In the listener model a session's taste is fixed and its first track lies near it, so every
//! later listen's time says how close its track is to the first one's taste. Tracks of one artist
//! share most of their direction, and a log holds far fewer listens per track than per artist, so
//! the model learns one vector per artist: the time of a listen of artist `b` in a session opened
//! on artist `a`, by user `u`, is `σ(scale_u · (v_a · v_b) + bias_u)` (log loss, the time as a soft
//! label). The per-user scale and bias absorb how generous each listener is. Only the first play
//! of an artist in a session is a pair: a replay earns nothing and a repeated artist is
//! discounted, whatever the taste.
//!
//! Artists of one genre lie near each other, and most artists are heard in few sessions: with
//! the genre prior an artist's vector is its genre's shared vector plus an offset of its own
//! under a stronger L2 penalty, so an artist seldom heard stays near its genre and one often
//! heard finds its own direction.
//!
//! Served by `session_taste` (botify-recs): artists ranked by cosine to the session's taste,
//! which the session's own listens move.
//!
//! Deterministic: one thread and one seeded stream.

use crate::dataset::Dataset;
use crate::{Error, Result, sigmoid};
use botify_core::rng::stream;
use botify_core::{Catalog, TrackId, UserId};
use rand::Rng as _;
use rand::seq::SliceRandom;
use std::path::Path;

pub use botify_recs::taste::ArtistTaste;

botify_core::params! {
    /// The taste model's parameters. Dimensions and epochs were measured on three generated
    /// worlds (docs/models.md): 64 and 8 beat 32 and 3 on the two larger ones and tie on the
    /// smallest; 128 or 15 epochs add little.
    #[derive(Copy)]
    pub struct Params {
        /// Vector size.
        dim: usize = 64 => range(1.0, 4_096.0);
        /// Passes over the (session anchor, listen) pairs.
        epochs: usize = 8 => range(1.0, 100_000.0);
        /// Adagrad step.
        learning_rate: f32 = 0.05 => above(0.0).alias("lr");
        /// L2 penalty on the artist vectors, per pair (with a genre prior: on an artist
        /// without a genre).
        l2: f32 = 1e-4 => at_least(0.0);
        /// The genre prior: an artist's vector is its genre's shared vector plus its own
        /// offset, and this is the L2 penalty on the offset, per pair; an artist seldom heard
        /// stays near its genre. 0: no prior (also for a catalogue without genres).
        genre_l2: f32 = 0.03 => at_least(0.0);
        /// Tracks listened fewer times are left out; an artist with none left gets no vector.
        min_count: u32 = 5 => any();
        /// The weight, in plays, of every artist's mean in each artist's `repeat` time.
        repeat_prior: f32 = 10.0 => at_least(0.0);
        /// The seed of the vectors and the pair order.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
    }
}

impl Params {
    /// Errors name the parameter.
    pub fn validate(&self) -> Result<()> {
        crate::check::params(self)
    }
}

/// An epoch's mean log loss over the pairs.
#[derive(Debug, Clone, Copy)]
pub struct Epoch {
    pub epoch: usize,
    pub loss: f64,
}

pub struct Model {
    pub artists: Vec<ArtistTaste>,
}

/// A training pair: the user, the rows of the session's first artist and of the listened one.
struct Pair {
    user: u32,
    anchor: u32,
    target: u32,
    time: f32,
}

/// Rows (artists with at least one track listened `min_count` times) and each track's row.
fn rows(d: &Dataset, catalog: &Catalog, min_count: u32) -> (Vec<ArtistTaste>, Vec<Option<u32>>) {
    let mut count = vec![0u32; d.tracks];
    for l in &d.listens {
        count[l.track as usize] += 1;
    }
    let mut row_of_artist: Vec<Option<u32>> = vec![None; catalog.artists.len()];
    let mut artists: Vec<ArtistTaste> = Vec::new();
    let mut track_row = vec![None; d.tracks];
    let mut order: Vec<TrackId> = (0..d.tracks.min(catalog.len()) as TrackId)
        .filter(|&t| count[t as usize] >= min_count.max(1))
        .collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(count[t as usize]), t));
    for t in order {
        let a = catalog.artist_of(t) as usize;
        let row = *row_of_artist[a].get_or_insert_with(|| {
            artists.push(ArtistTaste {
                artist: catalog.artists[a].clone(),
                vector: Vec::new(),
                tracks: Vec::new(),
                repeat: None,
                typical: None,
            });
            (artists.len() - 1) as u32
        });
        artists[row as usize].tracks.push(t);
        track_row[t as usize] = Some(row);
    }
    // A track left out still tells its artist's row, if the artist has one.
    for t in 0..d.tracks.min(catalog.len()) {
        if track_row[t].is_none() {
            track_row[t] = row_of_artist[catalog.artist_of(t as TrackId) as usize];
        }
    }
    (artists, track_row)
}

/// The first play of each artist after a session's first track, paired with that track's artist.
fn pairs(d: &Dataset, catalog: &Catalog, track_row: &[Option<u32>]) -> (Vec<Pair>, usize) {
    let mut out = Vec::new();
    let mut users: Vec<UserId> = Vec::new();
    let mut seen: Vec<u32> = Vec::new();
    for session in d.sessions() {
        let u = session[0].user;
        let Some(anchor) = track_row[session[0].track as usize] else {
            continue;
        };
        if users.last() != Some(&u) {
            users.push(u);
        }
        for l in Dataset::fresh_artist_listens(session, catalog, &mut seen) {
            if let Some(target) = track_row[l.track as usize] {
                out.push(Pair {
                    user: (users.len() - 1) as u32,
                    anchor,
                    target,
                    time: l.time.clamp(0.0, 1.0),
                });
            }
        }
    }
    (out, users.len())
}

/// Fits the artist vectors; `on_epoch` is told each epoch's mean loss.
pub fn fit(
    d: &Dataset,
    catalog: &Catalog,
    p: &Params,
    mut on_epoch: impl FnMut(&Epoch),
) -> Result<Model> {
    p.validate()?;
    let (mut artists, track_row) = rows(d, catalog, p.min_count);
    let (mut pairs, users) = pairs(d, catalog, &track_row);
    if pairs.is_empty() {
        return Err(Error::Invalid(format!(
            "taste: no session has a later listen of another artist with enough listens (min_count {}) to learn from",
            p.min_count
        )));
    }
    let dim = p.dim;
    let mut rng = stream(p.seed, b"taste", 0);
    let mut v: Vec<f32> = (0..artists.len() * dim)
        .map(|_| (rng.random::<f32>() - 0.5) * 0.2)
        .collect();
    let mut v_acc = vec![1e-6f32; artists.len()];
    // Each row's genre (its first track's; None without one or without the prior) and the
    // genres' shared vectors.
    let (genre_of_track, genres) = catalog.genre_ids();
    let genre: Vec<Option<usize>> = artists
        .iter()
        .map(|a| {
            let g = genre_of_track[a.tracks[0] as usize];
            (p.genre_l2 > 0.0 && g != botify_core::catalog::NO_GENRE).then_some(g as usize)
        })
        .collect();
    let mut g_vec = vec![0f32; genres * dim];
    let mut g_acc = vec![1e-6f32; genres];
    // Per user: scale, bias and their Adagrad sums. A sharp listener is the usual start.
    let mut user = vec![[5.0f32, -1.0, 1e-6, 1e-6]; users];
    let (lr, l2) = (p.learning_rate, p.l2);
    // A row's vector: its own plus its genre's.
    let vector = |v: &[f32], g_vec: &[f32], row: usize, out: &mut [f32]| {
        out.copy_from_slice(&v[row * dim..(row + 1) * dim]);
        if let Some(g) = genre[row] {
            let gv = &g_vec[g * dim..(g + 1) * dim];
            out.iter_mut().zip(gv).for_each(|(x, y)| *x += y);
        }
    };
    // One Adagrad step on `w` (its accumulator `acc`) along `grad` plus `l2 · w`.
    let step = |w: &mut [f32], acc: &mut f32, grad: &[f32], l2: f32| {
        let sq: f32 = grad
            .iter()
            .zip(w.iter())
            .map(|(g, x)| (g + l2 * x) * (g + l2 * x))
            .sum::<f32>()
            / dim as f32;
        *acc += sq;
        let rate = lr / acc.sqrt();
        for (x, g) in w.iter_mut().zip(grad) {
            *x -= rate * (g + l2 * *x);
        }
    };
    let (mut va, mut vb) = (vec![0f32; dim], vec![0f32; dim]);
    let (mut ga, mut gb) = (vec![0f32; dim], vec![0f32; dim]);
    for epoch in 0..p.epochs {
        pairs.shuffle(&mut rng);
        let mut loss = 0f64;
        for x in &pairs {
            let (a, b) = (x.anchor as usize, x.target as usize);
            let u = &mut user[x.user as usize];
            vector(&v, &g_vec, a, &mut va);
            vector(&v, &g_vec, b, &mut vb);
            let dot: f32 = va.iter().zip(&vb).map(|(x, y)| x * y).sum();
            let prob = sigmoid(u[0] * dot + u[1]);
            let y = x.time;
            loss -= f64::from(y * prob.max(1e-7).ln() + (1.0 - y) * (1.0 - prob).max(1e-7).ln());
            let g = prob - y;
            for k in 0..dim {
                ga[k] = g * u[0] * vb[k];
                gb[k] = g * u[0] * va[k];
            }
            for (row, grad) in [(a, &ga), (b, &gb)] {
                let l2 = if genre[row].is_some() { p.genre_l2 } else { l2 };
                step(
                    &mut v[row * dim..(row + 1) * dim],
                    &mut v_acc[row],
                    grad,
                    l2,
                );
                if let Some(gi) = genre[row] {
                    step(
                        &mut g_vec[gi * dim..(gi + 1) * dim],
                        &mut g_acc[gi],
                        grad,
                        0.0,
                    );
                }
            }
            let (g_scale, g_bias) = (g * dot, g);
            u[2] += g_scale * g_scale;
            u[3] += g_bias * g_bias;
            u[0] -= lr * g_scale / u[2].sqrt();
            u[1] -= lr * g_bias / u[3].sqrt();
        }
        on_epoch(&Epoch {
            epoch: epoch + 1,
            loss: loss / pairs.len() as f64,
        });
    }
    for (row, a) in artists.iter_mut().enumerate() {
        a.vector = vec![0f32; dim];
        vector(&v, &g_vec, row, &mut a.vector);
    }
    set_opening_means(d, catalog, p.repeat_prior, &mut artists);
    Ok(Model { artists })
}

/// Per catalogue artist, (sum, count) of times over the sessions opened on it.
type Sums = Vec<(f64, u32)>;

/// Each artist's `repeat` and `typical` (see [`ArtistTaste`]) from the sessions opened on it.
fn set_opening_means(d: &Dataset, catalog: &Catalog, prior: f32, artists: &mut [ArtistTaste]) {
    let mut repeats: Sums = vec![(0.0, 0); catalog.artists.len()];
    let mut later: Sums = vec![(0.0, 0); catalog.artists.len()];
    let add = |e: &mut (f64, u32), time: f32| {
        e.0 += f64::from(time.clamp(0.0, 1.0));
        e.1 += 1;
    };
    for session in d.sessions() {
        let first = session[0].track;
        let anchor = catalog.artist_of(first) as usize;
        let second = session[1..]
            .iter()
            .find(|l| l.track != first && catalog.artist_of(l.track) as usize == anchor);
        if let Some(l) = second {
            add(&mut repeats[anchor], l.time);
        }
        for l in &session[1..] {
            add(&mut later[anchor], l.time);
        }
    }
    let repeat = shrunk_means(&repeats, f64::from(prior));
    let typical = shrunk_means(&later, TYPICAL_PRIOR);
    for a in artists.iter_mut() {
        // Every row has a track (rows are made from tracks).
        let artist = catalog.artist_of(a.tracks[0]) as usize;
        a.repeat = repeat.as_ref().map(|r| r[artist]);
        a.typical = typical.as_ref().map(|r| r[artist]);
    }
}

/// The weight, in listens, of every artist's mean in each artist's `typical` time.
const TYPICAL_PRIOR: f64 = 50.0;

/// Each artist's mean, shrunk towards every artist's with the weight of `prior` observations
/// (every artist's mean where it has none), to three decimals; None where nothing was observed.
fn shrunk_means(sums: &Sums, prior: f64) -> Option<Vec<f32>> {
    let (sum, n) = sums
        .iter()
        .fold((0f64, 0u32), |a, e| (a.0 + e.0, a.1 + e.1));
    if n == 0 {
        return None;
    }
    let mean = sum / f64::from(n);
    Some(
        sums.iter()
            .map(|&(s, n)| {
                let m = if n == 0 {
                    mean
                } else {
                    (s + prior * mean) / (f64::from(n) + prior)
                };
                ((m * 1000.0).round() / 1000.0) as f32
            })
            .collect(),
    )
}

impl Model {
    /// One JSON line per artist: `{"artist", "vector", "tracks", "repeat", "typical"}`.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::output::create_parent(path)?;
        Ok(botify_core::world::write_json_lines(path, &self.artists)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::event;
    use botify_core::Track;

    /// Artists 0..8 of two tastes (even, odd), two tracks each. Sessions open on one artist and
    /// visit the others; same-taste listens last long, the others are skips.
    fn planted() -> (Dataset, Catalog) {
        let tracks: Vec<Track> = (0..16)
            .map(|t| Track::new(t, format!("artist {}", t / 2), format!("t{t}")))
            .collect();
        let catalog = Catalog::from_tracks(tracks).unwrap();
        (Dataset::from_events(planted_events(), 16).unwrap(), catalog)
    }

    /// The planted world's log.
    fn planted_events() -> Vec<botify_core::events::Event> {
        let mut rng = stream(7, b"planted", 0);
        let mut events = Vec::new();
        let mut ts = 0u64;
        for user in 0..60u32 {
            for _session in 0..6 {
                let anchor_artist = rng.random_range(0..8u32);
                let mut track = anchor_artist * 2 + rng.random_range(0..2);
                let mut time = 1.0;
                let mut order: Vec<u32> = (0..8).filter(|&a| a != anchor_artist).collect();
                order.shuffle(&mut rng);
                for a in order {
                    let next = a * 2 + rng.random_range(0..2);
                    events.push(event(user, track, time, ts, false));
                    ts += 1;
                    track = next;
                    time = if a % 2 == anchor_artist % 2 { 0.9 } else { 0.1 };
                }
                events.push(event(user, track, time, ts, true));
                ts += 1;
            }
        }
        events
    }

    /// Cosine of two artists' vectors (by row).
    fn cosine(m: &Model, a: usize, b: usize) -> f32 {
        let (x, y) = (&m.artists[a].vector, &m.artists[b].vector);
        let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        dot / (n(x) * n(y))
    }

    #[test]
    fn repeat_and_typical_are_shrunk_means_over_the_sessions_opened_on_the_artist() {
        let t = |id: u32| Track::new(id, ["a", "b", "c"][id as usize / 2], format!("t{id}"));
        let catalog = Catalog::from_tracks((0..6).map(t).collect()).unwrap();
        let events = vec![
            // On a: the first track replayed (not a second play of a), then a's 1 at 0.8.
            event(1, 0, 1.0, 1, false),
            event(1, 0, 0.0, 2, false),
            event(1, 1, 0.8, 3, false),
            event(1, 2, 0.9, 4, true),
            // On a again: 0 at 0.6.
            event(1, 1, 1.0, 5, false),
            event(1, 0, 0.6, 6, false),
            event(1, 4, 0.5, 7, true),
            // On b: 3 at 0.2.
            event(1, 2, 1.0, 8, false),
            event(1, 3, 0.2, 9, false),
            event(1, 4, 0.7, 10, true),
            // On c: no second play of c.
            event(1, 4, 1.0, 11, false),
            event(1, 0, 0.9, 12, true),
        ];
        let d = Dataset::from_events(events, 6).unwrap();
        let repeat = |prior: f32| {
            let p = Params {
                dim: 2,
                min_count: 1,
                repeat_prior: prior,
                ..Params::default()
            };
            let m = fit(&d, &catalog, &p, |_| {}).unwrap();
            let of = |name: &str| {
                m.artists
                    .iter()
                    .find(|a| a.artist == name)
                    .and_then(|a| a.repeat)
                    .unwrap()
            };
            [of("a"), of("b"), of("c")]
        };
        // Unshrunk: a 0.7, b 0.2; c has none, so every artist's mean, 1.6 / 3.
        assert_eq!(repeat(0.0), [0.7, 0.2, 0.533]);
        // With the weight of ten plays on the mean.
        assert_eq!(repeat(10.0), [0.561, 0.503, 0.533]);
        // `typical`: every later listen of the sessions opened on the artist (a 2.8 / 5, b
        // 0.9 / 2, c 0.9 / 1; all 4.6 / 8), with the weight of 50 listens on every artist's mean.
        let p = Params {
            dim: 2,
            min_count: 1,
            ..Params::default()
        };
        let m = fit(&d, &catalog, &p, |_| {}).unwrap();
        let typical: Vec<f32> = ["a", "b", "c"]
            .iter()
            .map(|&n| {
                m.artists
                    .iter()
                    .find(|a| a.artist == n)
                    .unwrap()
                    .typical
                    .unwrap()
            })
            .collect();
        assert_eq!(typical, [0.574, 0.570, 0.581]);
    }

    #[test]
    fn artists_of_one_taste_end_up_close() {
        let (d, catalog) = planted();
        let p = Params {
            dim: 4,
            epochs: 30,
            min_count: 1,
            ..Params::default()
        };
        let mut losses = Vec::new();
        let m = fit(&d, &catalog, &p, |e| losses.push(e.loss)).unwrap();
        assert_eq!(m.artists.len(), 8);
        assert!(losses[losses.len() - 1] < losses[0], "{losses:?}");
        let row = |name: &str| m.artists.iter().position(|a| a.artist == name).unwrap();
        for a in 0..8 {
            for b in 0..8 {
                if a == b {
                    continue;
                }
                let c = cosine(&m, row(&format!("artist {a}")), row(&format!("artist {b}")));
                if a % 2 == b % 2 {
                    assert!(c > 0.5, "artists {a}, {b} of one taste: cosine {c}");
                } else {
                    assert!(c < 0.0, "artists {a}, {b} of two tastes: cosine {c}");
                }
            }
        }
        // Same data, same seed: the same vectors.
        let again = fit(&d, &catalog, &p, |_| {}).unwrap();
        assert_eq!(again.artists, m.artists);
    }

    #[test]
    fn an_artist_seldom_heard_stays_near_its_genre() {
        // The planted world with genres (even artists one, odd the other) and a ninth artist of
        // the odd genre heard twice, after an even artist, for half its length: its listens say
        // little, its genre says where it belongs.
        let tracks: Vec<Track> = (0..18)
            .map(|t| {
                let mut track = Track::new(t, format!("artist {}", t / 2), format!("t{t}"));
                let odd = t / 2 % 2 == 1 || t / 2 == 8;
                track.genre = Some(if odd { "odd" } else { "even" }.to_string());
                track
            })
            .collect();
        let catalog = Catalog::from_tracks(tracks).unwrap();
        let mut events = planted_events();
        let end = events.iter().map(|e| e.timestamp).max().unwrap() + 1;
        for (k, user) in [3u32, 4].into_iter().enumerate() {
            let ts = end + k as u64 * 10;
            events.push(event(user, 0, 1.0, ts, false));
            events.push(event(user, 16, 0.5, ts + 1, true));
        }
        let d = Dataset::from_events(events, 18).unwrap();
        let closeness = |genre_l2: f32| {
            let p = Params {
                dim: 4,
                epochs: 30,
                min_count: 1,
                genre_l2,
                ..Params::default()
            };
            let m = fit(&d, &catalog, &p, |_| {}).unwrap();
            let row = |name: &str| m.artists.iter().position(|a| a.artist == name).unwrap();
            let rare = row("artist 8");
            [1, 3, 5, 7]
                .iter()
                .map(|a| cosine(&m, rare, row(&format!("artist {a}"))))
                .sum::<f32>()
                / 4.0
        };
        let (with, without) = (closeness(0.03), closeness(0.0));
        assert!(with > 0.5, "with the prior: mean cosine {with}");
        assert!(with > without + 0.2, "with {with}, without {without}");
    }

    #[test]
    fn a_catalogue_without_genres_trains_as_without_the_prior() {
        let (d, catalog) = planted();
        let fit_with = |genre_l2: f32| {
            let p = Params {
                dim: 4,
                min_count: 1,
                genre_l2,
                ..Params::default()
            };
            fit(&d, &catalog, &p, |_| {}).unwrap().artists
        };
        assert_eq!(fit_with(0.03), fit_with(0.0));
    }

    #[test]
    fn rare_tracks_are_left_out_and_bad_parameters_named() {
        let (d, catalog) = planted();
        let m = fit(&d, &catalog, &Params::default(), |_| {}).unwrap();
        for a in &m.artists {
            assert!(!a.tracks.is_empty());
            assert_eq!(a.vector.len(), Params::default().dim);
        }
        let err = fit(
            &d,
            &catalog,
            &Params {
                min_count: 1_000_000,
                ..Params::default()
            },
            |_| {},
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("min_count"), "{err}");
        let bad = Params {
            learning_rate: 0.0,
            ..Params::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("learning_rate")
        );
    }
}
