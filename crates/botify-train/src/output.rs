//! Writers of the recommendation files the service loads (the course's formats).

use crate::Result;
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use botify_recs::data::{TrackList, UserList};
use std::path::Path;

pub fn write_user_lists(path: &Path, lists: &FastMap<UserId, Vec<TrackId>>) -> Result<()> {
    let mut rows: Vec<UserList> = lists
        .iter()
        .map(|(&user, t)| UserList {
            user,
            tracks: t.clone(),
        })
        .collect();
    rows.sort_by_key(|r| r.user);
    create_parent(path)?;
    Ok(botify_core::world::write_json_lines(path, &rows)?)
}

/// Per-track neighbour lists, best first, with weights.
pub fn write_track_lists(path: &Path, lists: &[(TrackId, Vec<(TrackId, f32)>)]) -> Result<()> {
    let rows: Vec<TrackList> = lists
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(t, l)| TrackList {
            track: *t,
            recommendations: l.iter().map(|x| x.0).collect(),
            weights: Some(l.iter().map(|x| (x.1 * 1e4).round() / 1e4).collect()),
        })
        .collect();
    create_parent(path)?;
    Ok(botify_core::world::write_json_lines(path, &rows)?)
}

pub fn write_top(path: &Path, top: &[TrackId]) -> Result<()> {
    create_parent(path)?;
    let text = serde_json::to_string(top).map_err(|e| crate::Error::Invalid(e.to_string()))?;
    std::fs::write(path, text + "\n").map_err(|e| botify_core::Error::io(path, e))?;
    Ok(())
}

pub(crate) fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| botify_core::Error::io(dir, e))?;
    }
    Ok(())
}
