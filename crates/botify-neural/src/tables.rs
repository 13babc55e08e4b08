//! Track embedding tables shared by the neural models: a track's vector is the sum of its own
//! row, its artist's and its genre's, each table updated sparsely.

use crate::adam::SparseAdam;
use botify_core::TrackId;
use std::collections::HashMap;

/// What a track's embedding is summed from besides its own row: its artist's and its genre's
/// rows, so a track heard a few times borrows what its artist's other tracks taught the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Groups {
    pub artist: Vec<u32>,
    pub genre: Vec<u32>,
    pub artists: usize,
    pub genres: usize,
}

impl Groups {
    /// Artist and genre (first genre; tracks without one share an "unknown" genre) per track.
    pub fn from_catalog(c: &botify_core::Catalog) -> Groups {
        let mut names: HashMap<&str, u32> = HashMap::new();
        let genre: Vec<u32> = c
            .tracks
            .iter()
            .map(|t| {
                let n = names.len() as u32;
                *names.entry(t.genre.as_deref().unwrap_or("")).or_insert(n)
            })
            .collect();
        Groups {
            artist: c.track_artist.clone(),
            genre,
            artists: c.artists.len().max(1),
            genres: names.len().max(1),
        }
    }

    /// No metadata (no catalogue): every track in one artist and one genre, a shared offset.
    pub fn none(tracks: usize) -> Groups {
        Groups {
            artist: vec![0; tracks],
            genre: vec![0; tracks],
            artists: 1,
            genres: 1,
        }
    }
}

/// One side's embedding tables (the previous track's, or the next track's).
#[derive(Debug, Clone)]
pub(crate) struct Tower {
    pub id: SparseAdam,
    pub artist: SparseAdam,
    pub genre: SparseAdam,
}

impl Tower {
    pub fn new(g: &Groups, d: usize, lr: f32, init: &mut impl FnMut(usize) -> Vec<f32>) -> Tower {
        Tower {
            id: SparseAdam::new(init(g.artist.len() * d), d, lr),
            artist: SparseAdam::new(init(g.artists * d), d, lr),
            genre: SparseAdam::new(init(g.genres * d), d, lr),
        }
    }

    /// Appends track `t`'s embedding (its row + its artist's + its genre's) to `out`.
    pub fn vector(&self, g: &Groups, t: TrackId, out: &mut Vec<f32>) {
        let t = t as usize;
        let (i, a, r) = (
            self.id.row(t),
            self.artist.row(g.artist[t] as usize),
            self.genre.row(g.genre[t] as usize),
        );
        out.extend(i.iter().zip(a).zip(r).map(|((x, y), z)| x + y + z));
    }

    /// The gradient of each track's embedding reaches all three of its rows.
    pub fn step(&mut self, g: &Groups, tracks: &[TrackId], grads: &[f32]) {
        self.id.step_rows(tracks, grads);
        let artists: Vec<u32> = tracks.iter().map(|&t| g.artist[t as usize]).collect();
        self.artist.step_rows(&artists, grads);
        let genres: Vec<u32> = tracks.iter().map(|&t| g.genre[t as usize]).collect();
        self.genre.step_rows(&genres, grads);
    }

    #[cfg(test)]
    pub fn set_lr(&mut self, lr: f32) {
        for t in [&mut self.id, &mut self.artist, &mut self.genre] {
            t.lr = lr;
        }
    }
}
