//! The track catalogue (`tracks.json`, JSON lines) and its artist index.

use crate::{Error, Result, TrackId};
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// One catalogue record. Only `track`, `artist` and `title` are required (the course's files have
/// just those); the rest is optional metadata that models may use as item features. Unknown fields
/// are ignored here but kept verbatim in [`Catalog::record`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub track: TrackId,
    pub artist: String,
    pub title: String,
    /// A genre; files that give a list of genres keep the first here and all in `genres`.
    #[serde(
        default,
        deserialize_with = "genre_or_list",
        skip_serializing_if = "Option::is_none"
    )]
    pub genre: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<u16>,
    /// Length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mood: Option<String>,
    /// Popularity in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pop: Option<f32>,
}

impl Track {
    /// The optional numbers models read as features must make sense: a positive duration and
    /// a popularity in [0, 1].
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Some(d) = self.duration
            && !(d.is_finite() && d > 0.0)
        {
            return Err(format!(
                "field `duration`: {d} is not a positive number of seconds"
            ));
        }
        if let Some(p) = self.pop
            && !(p.is_finite() && (0.0..=1.0).contains(&p))
        {
            return Err(format!("field `pop`: {p} is not a popularity in [0, 1]"));
        }
        Ok(())
    }
}

fn genre_or_list<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum G {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<G>::deserialize(d)? {
        None => None,
        Some(G::One(s)) => Some(s),
        Some(G::Many(v)) => v.into_iter().next(),
    })
}

impl Track {
    /// A record with only what the course's files always have: id, artist and title.
    pub fn new(track: TrackId, artist: impl Into<String>, title: impl Into<String>) -> Track {
        Track {
            track,
            artist: artist.into(),
            title: title.into(),
            genre: None,
            year: None,
            duration: None,
            mood: None,
            pop: None,
        }
    }
}

/// The genre id of a track without a genre ([`Catalog::genre_ids`]).
pub const NO_GENRE: u32 = u32::MAX;

/// The catalogue with an artist index, loaded once and shared read-only.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tracks: Vec<Track>,
    /// Artist names by artist index (first-seen order over track ids).
    pub artists: Vec<String>,
    /// Artist index of each track.
    pub track_artist: Vec<u32>,
    /// Tracks of each artist, ascending ids.
    pub artist_tracks: Vec<Vec<TrackId>>,
    /// The original JSON line of each track, served verbatim by the service.
    records: Vec<Box<str>>,
}

impl Catalog {
    pub fn len(&self) -> usize {
        self.tracks.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }
    pub fn contains(&self, track: u64) -> bool {
        track < self.tracks.len() as u64
    }

    /// The catalogue record of `track` exactly as the file had it.
    pub fn record(&self, track: TrackId) -> Option<&str> {
        self.records.get(track as usize).map(|r| &**r)
    }

    pub fn artist_of(&self, track: TrackId) -> u32 {
        self.track_artist[track as usize]
    }

    /// Each track's genre as a dense id (first-seen order over track ids; [`NO_GENRE`] for a
    /// track without one) and the number of genres.
    pub fn genre_ids(&self) -> (Vec<u32>, usize) {
        let mut ids: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let of = self
            .tracks
            .iter()
            .map(|t| match t.genre.as_deref() {
                Some(g) => {
                    let n = ids.len() as u32;
                    *ids.entry(g).or_insert(n)
                }
                None => NO_GENRE,
            })
            .collect();
        (of, ids.len())
    }

    /// Tracks of the artist of `track`.
    pub fn same_artist(&self, track: TrackId) -> &[TrackId] {
        &self.artist_tracks[self.artist_of(track) as usize]
    }

    /// Builds a catalogue from records whose ids must be exactly `0..N-1` in any order.
    pub fn from_tracks(tracks: Vec<Track>) -> Result<Self> {
        let records = tracks
            .par_iter()
            .map(|t| serde_json::to_string(t).map(String::into_boxed_str))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        Self::index(
            tracks.into_iter().zip(records).enumerate().collect(),
            Path::new("<memory>"),
        )
    }

    /// Reads `tracks.json` (JSON lines). Blank lines are skipped; any malformed line, duplicate or
    /// missing id is an error naming the file and line.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let parsed: Vec<(usize, (Track, Box<str>))> = text
            .lines()
            .collect::<Vec<_>>()
            .par_iter()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str::<Track>(l)
                    .map_err(|e| format!("bad track record: {e}"))
                    .and_then(|t| t.validate().map(|()| t))
                    .map(|t| (i + 1, (t, l.trim().into())))
                    .map_err(|e| Error::line(path, i + 1, e))
            })
            .collect::<Result<_>>()?;
        Self::index(parsed, path)
    }

    fn index(parsed: Vec<(usize, (Track, Box<str>))>, path: &Path) -> Result<Self> {
        let n = parsed.len();
        if n == 0 {
            return Err(Error::file(path, "the catalogue has no tracks"));
        }
        let mut slots: Vec<Option<(Track, Box<str>)>> = vec![None; n];
        let mut seen_line = vec![0usize; n];
        for (line, (t, raw)) in parsed {
            let id = t.track as usize;
            if id >= n {
                return Err(Error::line(
                    path,
                    line,
                    format!(
                        "field `track`: id {id} is outside 0..{n}; ids must be dense 0..N-1 for N = {n} records"
                    ),
                ));
            }
            if slots[id].is_some() {
                return Err(Error::line(
                    path,
                    line,
                    format!(
                        "field `track`: duplicate id {id} (first seen on line {})",
                        seen_line[id]
                    ),
                ));
            }
            seen_line[id] = line;
            slots[id] = Some((t, raw));
        }
        let mut tracks = Vec::with_capacity(n);
        let mut records = Vec::with_capacity(n);
        for (t, raw) in slots.into_iter().flatten() {
            tracks.push(t);
            records.push(raw);
        }
        let mut by_name: HashMap<&str, u32> = HashMap::new();
        let mut artists = Vec::new();
        let mut track_artist = Vec::with_capacity(n);
        let mut artist_tracks: Vec<Vec<TrackId>> = Vec::new();
        for t in &tracks {
            let a = *by_name.entry(t.artist.as_str()).or_insert_with(|| {
                artists.push(t.artist.clone());
                artist_tracks.push(Vec::new());
                (artists.len() - 1) as u32
            });
            track_artist.push(a);
            artist_tracks[a as usize].push(t.track);
        }
        Ok(Catalog {
            tracks,
            artists,
            track_artist,
            artist_tracks,
            records,
        })
    }

    /// Writes `tracks.json` (JSON lines in id order): each track's record as it was read or
    /// built, so a catalogue written back reads the same.
    pub fn write(&self, path: &Path) -> Result<()> {
        let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        for r in &self.records {
            w.write_all(r.as_bytes())
                .and_then(|()| w.write_all(b"\n"))
                .map_err(|e| Error::io(path, e))?;
        }
        w.flush().map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load_str(s: &str) -> Result<Catalog> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(s.as_bytes()).unwrap();
        Catalog::load(f.path())
    }

    #[test]
    fn loads_course_format_and_indexes_artists() {
        let c = load_str(
            "{\"artist\": \"A\", \"title\": \"x\", \"track\": 1}\n\
             {\"artist\": \"B\", \"title\": \"y\", \"track\": 0, \"genre\": [\"rock\", \"pop\"], \"extra\": 3}\n\
             \n{\"artist\": \"A\", \"title\": \"z\", \"track\": 2}\n",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.tracks[0].genre.as_deref(), Some("rock"));
        assert_eq!(c.same_artist(1), &[1, 2]);
        assert!(c.record(0).unwrap().contains("\"extra\": 3"));
    }

    #[test]
    fn rejects_gaps_duplicates_and_bad_lines() {
        let e = load_str("{\"artist\":\"A\",\"title\":\"x\",\"track\":0}\n{\"artist\":\"A\",\"title\":\"x\",\"track\":0}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":2:") && e.contains("duplicate id 0"), "{e}");
        let e = load_str("{\"artist\":\"A\",\"title\":\"x\",\"track\":5}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside 0..1"), "{e}");
        let e = load_str("{\"artist\":\"A\",\"track\":0}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1:") && e.contains("title"), "{e}");
        let e = load_str("{\"artist\":\"A\",\"title\":\"x\",\"track\":-1}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains(":1:"), "{e}");
        assert!(load_str("").is_err());
    }
}
