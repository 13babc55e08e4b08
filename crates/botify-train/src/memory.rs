//! Each user's memory: the tracks they listened to long in the logged sessions that opened on
//! each artist, with the mean time (served by `session_taste`'s recall, botify-recs).
//!
//! In the listener model a session's taste is one of the user's few interests and its first
//! track lies near it, so sessions of one user opened on one artist mostly share their taste, and
//! a track's time there is what the next such session will give it. Only a listen of an artist
//! new to the session counts: a repeated artist's time is discounted, whatever the taste.

use crate::dataset::Dataset;
use crate::{Error, Result};
use botify_core::hash::FastMap;
use botify_core::{Catalog, TrackId, UserId};
use std::collections::BTreeMap;
use std::path::Path;

pub use botify_recs::memory::Remembered;

botify_core::params! {
    /// The memory's parameters.
    #[derive(Copy)]
    pub struct Params {
        /// Tracks whose mean time falls below this are left out (the recall threshold serves
        /// only longer ones anyway).
        min_time: f32 = 0.5 => range(0.0, 1.0);
        /// At most this many tracks per user and opening artist, longest first.
        per_anchor: usize = 50 => range(1.0, 100_000.0);
    }
}

impl Params {
    /// Errors name the parameter.
    pub fn validate(&self) -> Result<()> {
        crate::check::params(self)
    }
}

pub struct Model {
    pub lines: Vec<Remembered>,
}

/// (time sum, listens) per track, per (user, opening artist) in order.
type Sums = BTreeMap<(UserId, u32), FastMap<TrackId, (f32, u32)>>;

/// Gathers every user's long listens by the artist their session opened on.
pub fn fit(d: &Dataset, catalog: &Catalog, p: &Params) -> Result<Model> {
    p.validate()?;
    let mut sums: Sums = BTreeMap::new();
    let mut seen: Vec<u32> = Vec::new();
    for session in d.sessions() {
        let first = &session[0];
        let tracks = sums
            .entry((first.user, catalog.artist_of(first.track)))
            .or_default();
        for l in Dataset::fresh_artist_listens(session, catalog, &mut seen) {
            let e = tracks.entry(l.track).or_default();
            e.0 += l.time.clamp(0.0, 1.0);
            e.1 += 1;
        }
    }
    let mut lines = Vec::new();
    for (key, tracks) in sums {
        let mut kept: Vec<(TrackId, f32)> = tracks
            .iter()
            .map(|(&t, &(sum, n))| (t, sum / n as f32))
            .filter(|&(_, time)| time >= p.min_time)
            .collect();
        if kept.is_empty() {
            continue;
        }
        kept.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        kept.truncate(p.per_anchor);
        lines.push(Remembered {
            user: key.0,
            artist: catalog.artists[key.1 as usize].clone(),
            tracks: kept.iter().map(|k| k.0).collect(),
            times: kept
                .iter()
                .map(|k| (k.1 * 1000.0).round() / 1000.0)
                .collect(),
        });
    }
    if lines.is_empty() {
        return Err(Error::Invalid(format!(
            "memory: no session has a listen of another artist at least {} long to remember",
            p.min_time
        )));
    }
    Ok(Model { lines })
}

impl Model {
    /// One JSON line per user and opening artist: `{"user", "artist", "tracks", "times"}`.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::output::create_parent(path)?;
        Ok(botify_core::world::write_json_lines(path, &self.lines)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::event;
    use botify_core::Track;

    /// Artists a (0, 1), b (2, 3), c (4, 5).
    fn catalog() -> Catalog {
        let t = |id: u32| Track::new(id, ["a", "b", "c"][id as usize / 2], format!("t{id}"));
        Catalog::from_tracks((0..6).map(t).collect()).unwrap()
    }

    #[test]
    fn long_first_plays_of_an_artist_are_remembered_by_the_opening_artist() {
        let events = vec![
            // User 1 opens on a: b's 2 liked, b's 3 a repeated artist (not counted), c's 4 skipped.
            event(1, 0, 1.0, 1, false),
            event(1, 2, 0.9, 2, false),
            event(1, 3, 0.8, 3, false),
            event(1, 4, 0.1, 4, true),
            // Again on a: 2 at 0.7 (mean 0.8), 5 liked.
            event(1, 1, 1.0, 5, false),
            event(1, 2, 0.7, 6, false),
            event(1, 5, 1.0, 7, true),
            // On c: 0 liked.
            event(1, 4, 1.0, 8, false),
            event(1, 0, 0.6, 9, true),
            // User 2 skips everything: nothing to remember.
            event(2, 0, 1.0, 1, false),
            event(2, 2, 0.2, 2, true),
        ];
        let d = Dataset::from_events(events, 6).unwrap();
        let m = fit(&d, &catalog(), &Params::default()).unwrap();
        let got: Vec<(u32, &str, Vec<u32>, Vec<f32>)> = m
            .lines
            .iter()
            .map(|l| (l.user, l.artist.as_str(), l.tracks.clone(), l.times.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "a", vec![5, 2], vec![1.0, 0.8]),
                (1, "c", vec![0], vec![0.6]),
            ]
        );
    }

    #[test]
    fn the_cap_and_the_threshold_hold_and_an_empty_memory_is_an_error() {
        let events = vec![
            event(1, 0, 1.0, 1, false),
            event(1, 2, 0.9, 2, false),
            event(1, 4, 0.95, 3, true),
        ];
        let d = Dataset::from_events(events, 6).unwrap();
        let p = Params {
            per_anchor: 1,
            ..Params::default()
        };
        let m = fit(&d, &catalog(), &p).unwrap();
        assert_eq!(m.lines[0].tracks, vec![4]);
        let p = Params {
            min_time: 0.99,
            ..Params::default()
        };
        let e = fit(&d, &catalog(), &p).err().unwrap().to_string();
        assert!(e.contains("0.99"), "{e}");
    }
}
