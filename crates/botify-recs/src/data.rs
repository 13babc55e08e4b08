//! Recommendation data files in the course's formats:
//! per-user lists `{"user": u, "tracks": [...]}`, per-track lists
//! `{"track": t, "recommendations": [...], "weights": [...]}` (weights optional) and top tracks
//! `[t, ...]`. Every id is checked against the catalogue; errors name file, line and field.

use crate::{Error, Result};
use botify_core::{TrackId, UserId};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserList {
    pub user: UserId,
    pub tracks: Vec<TrackId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrackList {
    pub track: TrackId,
    pub recommendations: Vec<TrackId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f32>>,
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| botify_core::Error::io(path, e).into())
}

fn line_err(path: &Path, line: usize, msg: impl Into<String>) -> Error {
    botify_core::Error::line(path, line, msg).into()
}

fn check_ids(path: &Path, line: usize, field: &str, ids: &[TrackId], tracks: usize) -> Result<()> {
    match ids.iter().find(|&&t| t as usize >= tracks) {
        Some(t) => Err(line_err(
            path,
            line,
            format!("field `{field}`: track {t} is not in the catalogue (0..{tracks})"),
        )),
        None => Ok(()),
    }
}

fn parse_lines<T: for<'de> Deserialize<'de> + Send>(
    path: &Path,
    text: &str,
    what: &str,
) -> Result<Vec<(usize, T)>> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .par_iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str::<T>(l)
                .map(|v| (i + 1, v))
                .map_err(|e| line_err(path, i + 1, format!("bad {what}: {e}")))
        })
        .collect()
}

/// Per-user recommendation lists, best first.
#[derive(Debug, Clone, Default)]
pub struct UserLists {
    lists: HashMap<UserId, Box<[TrackId]>>,
}

impl UserLists {
    pub fn load(path: &Path, tracks: usize) -> Result<Self> {
        Self::parse(path, &read(path)?, tracks)
    }

    /// Parses the file's `text`; `path` names it in errors.
    pub fn parse(path: &Path, text: &str, tracks: usize) -> Result<Self> {
        let mut lists = HashMap::new();
        for (line, r) in parse_lines::<UserList>(path, text, "per-user list")? {
            check_ids(path, line, "tracks", &r.tracks, tracks)?;
            if lists.insert(r.user, r.tracks.into_boxed_slice()).is_some() {
                return Err(line_err(
                    path,
                    line,
                    format!("field `user`: user {} appears twice", r.user),
                ));
            }
        }
        Ok(UserLists { lists })
    }
    pub fn from_map(lists: HashMap<UserId, Vec<TrackId>>) -> Self {
        UserLists {
            lists: lists
                .into_iter()
                .map(|(k, v)| (k, v.into_boxed_slice()))
                .collect(),
        }
    }
    /// Every (user, list), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (UserId, &[TrackId])> {
        self.lists.iter().map(|(&u, l)| (u, &**l))
    }
    pub fn get(&self, user: UserId) -> Option<&[TrackId]> {
        self.lists
            .get(&user)
            .map(|b| &**b)
            .filter(|l| !l.is_empty())
    }
    pub fn len(&self) -> usize {
        self.lists.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
}

/// One track's neighbours (best first) and their optional weights.
type Neighbours = (Box<[TrackId]>, Option<Box<[f32]>>);

/// Per-track neighbour lists, indexed by track id.
#[derive(Debug, Clone, Default)]
pub struct TrackLists {
    lists: Vec<Option<Neighbours>>,
}

impl TrackLists {
    pub fn load(path: &Path, tracks: usize) -> Result<Self> {
        Self::parse(path, &read(path)?, tracks)
    }

    /// Parses the file's `text`; `path` names it in errors.
    pub fn parse(path: &Path, text: &str, tracks: usize) -> Result<Self> {
        let mut lists = vec![None; tracks];
        for (line, r) in parse_lines::<TrackList>(path, text, "per-track list")? {
            if r.track as usize >= tracks {
                return Err(line_err(
                    path,
                    line,
                    format!(
                        "field `track`: track {} is not in the catalogue (0..{tracks})",
                        r.track
                    ),
                ));
            }
            check_ids(path, line, "recommendations", &r.recommendations, tracks)?;
            if let Some(w) = &r.weights {
                if w.len() != r.recommendations.len() {
                    return Err(line_err(
                        path,
                        line,
                        format!(
                            "field `weights`: {} weights for {} recommendations",
                            w.len(),
                            r.recommendations.len()
                        ),
                    ));
                }
                if let Some(x) = w.iter().find(|x| !x.is_finite()) {
                    return Err(line_err(
                        path,
                        line,
                        format!("field `weights`: {x} is not finite"),
                    ));
                }
            }
            let slot = &mut lists[r.track as usize];
            if slot.is_some() {
                return Err(line_err(
                    path,
                    line,
                    format!("field `track`: track {} appears twice", r.track),
                ));
            }
            *slot = Some((
                r.recommendations.into_boxed_slice(),
                r.weights.map(Vec::into_boxed_slice),
            ));
        }
        Ok(TrackLists { lists })
    }
    pub fn from_lists(
        tracks: usize,
        items: impl IntoIterator<Item = (TrackId, Vec<TrackId>)>,
    ) -> Self {
        let mut lists = vec![None; tracks];
        for (t, l) in items {
            lists[t as usize] = Some((l.into_boxed_slice(), None));
        }
        TrackLists { lists }
    }
    pub fn get(&self, track: TrackId) -> Option<&[TrackId]> {
        self.lists
            .get(track as usize)?
            .as_ref()
            .map(|(l, _)| &**l)
            .filter(|l| !l.is_empty())
    }
    pub fn weights(&self, track: TrackId) -> Option<&[f32]> {
        self.lists.get(track as usize)?.as_ref()?.1.as_deref()
    }
}

/// Top tracks: a JSON array of ids, most popular first.
pub fn load_top_tracks(path: &Path, tracks: usize) -> Result<Vec<TrackId>> {
    parse_top_tracks(path, &read(path)?, tracks)
}

/// Parses a top-tracks file's `text`; `path` names it in errors.
pub fn parse_top_tracks(path: &Path, text: &str, tracks: usize) -> Result<Vec<TrackId>> {
    let list: Vec<TrackId> = serde_json::from_str(text).map_err(|e| {
        botify_core::Error::file(
            path,
            format!("top tracks must be a JSON array of track ids: {e}"),
        )
    })?;
    check_ids(path, 1, "top tracks", &list, tracks)?;
    if list.is_empty() {
        return Err(botify_core::Error::file(path, "the top-tracks list is empty").into());
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(s: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), s).unwrap();
        f
    }

    #[test]
    fn loads_and_validates_user_lists() {
        let f = file("{\"user\": 3, \"tracks\": [1, 2]}\n{\"user\": 4, \"tracks\": []}\n");
        let l = UserLists::load(f.path(), 5).unwrap();
        assert_eq!(l.get(3), Some(&[1, 2][..]));
        assert_eq!(l.get(4), None);
        let f = file("{\"user\": 3, \"tracks\": [1, 9]}\n");
        let e = UserLists::load(f.path(), 5).unwrap_err().to_string();
        assert!(e.contains(":1:") && e.contains("track 9"), "{e}");
        let f = file("{\"user\": 3, \"tracks\": [1]}\n{\"user\": 3, \"tracks\": [1]}\n");
        assert!(
            UserLists::load(f.path(), 5)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
    }

    #[test]
    fn loads_and_validates_track_lists() {
        let f = file("{\"track\": 1, \"recommendations\": [2, 3], \"weights\": [0.9, 0.5]}\n");
        let l = TrackLists::load(f.path(), 5).unwrap();
        assert_eq!(l.get(1), Some(&[2, 3][..]));
        assert_eq!(l.weights(1), Some(&[0.9, 0.5][..]));
        assert_eq!(l.get(0), None);
        let f = file("{\"track\": 1, \"recommendations\": [2, 3], \"weights\": [0.9]}\n");
        assert!(
            TrackLists::load(f.path(), 5)
                .unwrap_err()
                .to_string()
                .contains("weights")
        );
        let f = file("{\"track\": 7, \"recommendations\": []}\n");
        assert!(TrackLists::load(f.path(), 5).is_err());
        let f = file("[1, 2");
        assert!(
            load_top_tracks(f.path(), 5)
                .unwrap_err()
                .to_string()
                .contains("JSON array")
        );
        let f = file("[1, 2]");
        assert_eq!(load_top_tracks(f.path(), 5).unwrap(), [1, 2]);
    }
}
