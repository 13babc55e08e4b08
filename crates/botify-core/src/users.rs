//! Simulated listeners (`users.json`, JSON lines). Hidden truth: only the simulator reads them.

use crate::{Error, Result, TrackId, UserId};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const DEFAULT_INTEREST_NEIGHBOURS: u32 = 10;
pub const DEFAULT_SESSION_BUDGET: u32 = 5;
pub const DEFAULT_ARTIST_DISCOUNT_GAMMA: f32 = 0.8;
/// The middle of the generator's default openness range, for listeners whose file has none.
pub const DEFAULT_OPENNESS: f32 = 0.2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub user: UserId,
    pub interests: Vec<TrackId>,
    pub consume_bias: f32,
    pub consume_sharpness: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interest_neighbours: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_budget: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist_discount_gamma: Option<f32>,
    /// Probability that a drifting interest jumps to an unrelated artist (only with interest
    /// drift on; the generator writes it then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openness: Option<f32>,
}

impl User {
    pub fn interest_neighbours(&self) -> u32 {
        self.interest_neighbours
            .unwrap_or(DEFAULT_INTEREST_NEIGHBOURS)
    }
    pub fn session_budget(&self) -> u32 {
        self.session_budget.unwrap_or(DEFAULT_SESSION_BUDGET)
    }
    pub fn openness(&self) -> f32 {
        self.openness.unwrap_or(DEFAULT_OPENNESS)
    }
    pub fn artist_discount_gamma(&self) -> f32 {
        self.artist_discount_gamma
            .unwrap_or(DEFAULT_ARTIST_DISCOUNT_GAMMA)
    }

    /// Checks the record against a catalogue of `tracks` tracks; the message names the field.
    pub fn validate(&self, tracks: usize) -> std::result::Result<(), String> {
        if self.interests.is_empty() {
            return Err("field `interests`: a user needs at least one interest".into());
        }
        if let Some(&t) = self.interests.iter().find(|&&t| t as usize >= tracks) {
            return Err(format!(
                "field `interests`: track {t} is outside the catalogue (0..{tracks})"
            ));
        }
        for (name, v) in [
            ("consume_bias", self.consume_bias),
            ("consume_sharpness", self.consume_sharpness),
        ] {
            if !v.is_finite() {
                return Err(format!("field `{name}`: {v} is not a finite number"));
            }
        }
        if self.consume_sharpness <= 0.0 {
            return Err(format!(
                "field `consume_sharpness`: {} must be above 0 (at 0 every listen is 0.5, below 0 \
                 listeners prefer what is least like their taste)",
                self.consume_sharpness
            ));
        }
        if self.interest_neighbours == Some(0) {
            return Err("field `interest_neighbours`: must be at least 1".into());
        }
        if self.session_budget == Some(0) {
            return Err("field `session_budget`: must be at least 1".into());
        }
        if let Some(o) = self.openness
            && !(o.is_finite() && (0.0..=1.0).contains(&o))
        {
            return Err(format!("field `openness`: {o} is not in [0, 1]"));
        }
        if let Some(g) = self.artist_discount_gamma
            && !(g.is_finite() && (0.0..=1.0).contains(&g))
        {
            return Err(format!(
                "field `artist_discount_gamma`: {g} is not in [0, 1]"
            ));
        }
        Ok(())
    }
}

/// Reads `users.json`; validates each record against a catalogue of `tracks` tracks.
pub fn load(path: &Path, tracks: usize) -> Result<Vec<User>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let users: Vec<User> = text
        .lines()
        .collect::<Vec<_>>()
        .par_iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let u: User = serde_json::from_str(l)
                .map_err(|e| Error::line(path, i + 1, format!("bad user record: {e}")))?;
            u.validate(tracks)
                .map_err(|m| Error::line(path, i + 1, format!("user {}: {m}", u.user)))?;
            Ok(u)
        })
        .collect::<Result<_>>()?;
    if users.is_empty() {
        return Err(Error::file(path, "no users"));
    }
    let mut ids: Vec<UserId> = users.iter().map(|u| u.user).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::file(path, format!("duplicate user id {}", w[0])));
    }
    Ok(users)
}
