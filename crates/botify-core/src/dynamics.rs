//! Listener dynamics beyond the course's model: returns that depend on satisfaction, interests
//! that drift, taste that moves within a session, and boredom with repeated artists and genres.
//! Each is a parameter of the world (`dynamics.json` beside its other files, `[dynamics]` in a
//! generator config) and 0 switches it off: with all of them 0 the world is the course's, file
//! for file and result for result. The formulas are in `docs/dynamics.md`; the simulator
//! (`botify_sim::dynamics`) applies them.

use crate::params::Schema;
use crate::{Error, Result};
use std::path::Path;

pub const DYNAMICS_FILE: &str = "dynamics.json";

crate::params! {
    /// Listener dynamics; every one is off at 0.
    pub struct Dynamics {
        /// Returns: a listener's visit rate is base × (1 + returns × satisfaction), where
        /// satisfaction is the recent mean listen time of their sessions. 0: the course's model,
        /// where each session's listener is drawn uniformly.
        returns: f32 = 0.0 => range(0.0, 100.0);
        /// Days over which satisfaction halves while the listener stays away, so the visit rate
        /// decays back to the base rate.
        return_half_life: f32 = 2.0 => above(0.0).at_most(3650.0);
        /// Interest drift: the daily probability that each of a listener's interests is replaced
        /// by a track of a related artist (of any artist with the listener's openness).
        drift: f32 = 0.0 => range(0.0, 1.0);
        /// Taste pull: within a session the taste moves towards each played track by this share
        /// times its listen time.
        taste_pull: f32 = 0.0 => range(0.0, 1.0);
        /// Artist boredom: listen time is multiplied by exp(-boredom × the listener's fatigue
        /// with the track's artist), fatigue being the listen time given to the artist in
        /// earlier sessions, decayed with time away.
        boredom: f32 = 0.0 => range(0.0, 100.0);
        /// Genre boredom: the same with the track's genre.
        genre_boredom: f32 = 0.0 => range(0.0, 100.0);
        /// Days over which fatigue halves.
        boredom_half_life: f32 = 3.0 => above(0.0).at_most(3650.0);
    }
}

impl Dynamics {
    /// Every dynamic off: the course's listener.
    pub fn is_off(&self) -> bool {
        self.returns == 0.0
            && self.drift == 0.0
            && self.taste_pull == 0.0
            && self.boredom == 0.0
            && self.genre_boredom == 0.0
    }

    /// Checks every field against its declared range; the message names the field.
    pub fn validate(&self) -> Result<()> {
        self.check()
            .map_err(|m| Error::Invalid(format!("dynamics: {m}")))
    }

    /// Reads `dir/dynamics.json`; a world without one has every dynamic off.
    pub fn load(dir: &Path) -> Result<Dynamics> {
        let path = dir.join(DYNAMICS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Dynamics::default()),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let d: Dynamics = serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, format!("bad dynamics: {e}")))?;
        d.check().map_err(|m| Error::file(&path, m))?;
        Ok(d)
    }

    /// Writes `dir/dynamics.json` when a dynamic is on, and removes a stale one when none is,
    /// so a world's files say exactly what its listeners do.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(DYNAMICS_FILE);
        if self.is_off() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&path, e)),
                _ => Ok(()),
            };
        }
        let text =
            serde_json::to_string_pretty(self).map_err(|e| Error::file(&path, e.to_string()))?;
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Dynamics::default().is_off());
        Dynamics::default().write(dir.path()).unwrap();
        assert!(!dir.path().join(DYNAMICS_FILE).exists(), "no file when off");
        let on = Dynamics {
            returns: 2.0,
            drift: 0.05,
            boredom: 0.5,
            ..Default::default()
        };
        on.write(dir.path()).unwrap();
        assert_eq!(Dynamics::load(dir.path()).unwrap(), on);
        Dynamics::default().write(dir.path()).unwrap();
        assert!(
            !dir.path().join(DYNAMICS_FILE).exists(),
            "a stale file goes"
        );
    }

    #[test]
    fn bad_files_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DYNAMICS_FILE);
        std::fs::write(&path, r#"{"drift": 1.5}"#).unwrap();
        let e = Dynamics::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("drift") && e.contains("dynamics.json"), "{e}");
        std::fs::write(&path, r#"{"dirft": 0.1}"#).unwrap();
        let e = Dynamics::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("dirft"), "{e}");
    }
}
