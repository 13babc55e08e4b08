//! A listener's memory: what each user listened to long in the logged sessions that opened on
//! each artist — the `memory` trainer's file (botify-train), read by `session_taste`'s recall.
//!
//! The service's history holds a user's last listens only; the memory keeps every logged
//! session. In the listener model a session's taste is one of the user's few interests, so a
//! track a user liked in a session opened on the same artist is likely liked again.

use crate::Error;
use botify_core::hash::FastMap;
use botify_core::{Catalog, TrackId, UserId};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One line of a memory file: a user's tracks from sessions opened on `artist`, with their mean
/// listen time there, longest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    pub user: UserId,
    pub artist: String,
    pub tracks: Vec<TrackId>,
    pub times: Vec<f32>,
}

/// A user's tracks and mean times, longest first.
type Tracks = Box<[(TrackId, f32)]>;

/// A memory file checked against the catalogue, by (user, the catalogue's artist index).
#[derive(Debug, Default)]
pub struct Memory {
    by_anchor: FastMap<(UserId, u32), Tracks>,
}

impl Memory {
    /// Parses the file's `text`; errors name `path`, the line and the field.
    pub fn parse(path: &Path, text: &str, catalog: &Catalog) -> crate::Result<Memory> {
        let err = |line: usize, msg: String| -> Error {
            botify_core::Error::line(path, line, msg).into()
        };
        let artists: FastMap<&str, u32> = catalog
            .artists
            .iter()
            .enumerate()
            .map(|(i, a)| (a.as_str(), i as u32))
            .collect();
        let mut by_anchor = FastMap::default();
        for (i, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let line = i + 1;
            let r: Remembered =
                serde_json::from_str(l).map_err(|e| err(line, format!("bad memory line: {e}")))?;
            let Some(&artist) = artists.get(r.artist.as_str()) else {
                return Err(err(
                    line,
                    format!(
                        "field `artist`: {:?} is not in the catalogue: wrong catalogue for this file?",
                        r.artist
                    ),
                ));
            };
            if r.tracks.len() != r.times.len() {
                return Err(err(
                    line,
                    format!(
                        "fields `tracks` and `times`: {} tracks but {} times",
                        r.tracks.len(),
                        r.times.len()
                    ),
                ));
            }
            if let Some(&bad) = r.tracks.iter().find(|&&t| !catalog.contains(u64::from(t))) {
                return Err(err(
                    line,
                    format!(
                        "field `tracks`: track {bad} is not in the catalogue (0..{})",
                        catalog.len()
                    ),
                ));
            }
            if let Some(bad) = r.times.iter().find(|t| !(0.0..=1.0).contains(*t)) {
                return Err(err(line, format!("field `times`: {bad} is not in [0, 1]")));
            }
            let entries = r.tracks.into_iter().zip(r.times).collect();
            if by_anchor.insert((r.user, artist), entries).is_some() {
                return Err(err(
                    line,
                    format!("user {} and artist {:?} appear twice", r.user, r.artist),
                ));
            }
        }
        Ok(Memory { by_anchor })
    }

    /// What `user` listened to in the logged sessions opened on `artist`, longest first.
    pub fn get(&self, user: UserId, artist: u32) -> &[(TrackId, f32)] {
        self.by_anchor.get(&(user, artist)).map_or(&[], |e| e)
    }

    pub fn len(&self) -> usize {
        self.by_anchor.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_anchor.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::Track;

    fn catalog() -> Catalog {
        let t = |id: u32| Track::new(id, ["a", "b"][id as usize / 2], format!("t{id}"));
        Catalog::from_tracks((0..4).map(t).collect()).unwrap()
    }

    #[test]
    fn lines_are_found_by_user_and_artist() {
        let text = r#"{"user": 7, "artist": "b", "tracks": [0, 1], "times": [0.9, 0.6]}
{"user": 7, "artist": "a", "tracks": [3], "times": [1.0]}
"#;
        let m = Memory::parse(Path::new("m.jsonl"), text, &catalog()).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(7, 1), &[(0, 0.9), (1, 0.6)]);
        assert_eq!(m.get(7, 0), &[(3, 1.0)]);
        assert!(m.get(8, 0).is_empty());
    }

    #[test]
    fn bad_lines_are_named() {
        let c = catalog();
        for (text, says) in [
            (
                r#"{"user": 1, "artist": "z", "tracks": [0], "times": [1.0]}"#,
                "field `artist`",
            ),
            (
                r#"{"user": 1, "artist": "a", "tracks": [0, 1], "times": [1.0]}"#,
                "2 tracks but 1 times",
            ),
            (
                r#"{"user": 1, "artist": "a", "tracks": [9], "times": [1.0]}"#,
                "track 9 is not in the catalogue",
            ),
            (
                r#"{"user": 1, "artist": "a", "tracks": [0], "times": [1.5]}"#,
                "1.5 is not in [0, 1]",
            ),
            (
                "{\"user\": 1, \"artist\": \"a\", \"tracks\": [0], \"times\": [1.0]}\n{\"user\": 1, \"artist\": \"a\", \"tracks\": [1], \"times\": [1.0]}",
                "appear twice",
            ),
            ("{\"user\": 1}", "line 1"),
        ] {
            let e = Memory::parse(Path::new("m.jsonl"), text, &c)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says) && e.contains("m.jsonl"), "{e}");
        }
    }
}
