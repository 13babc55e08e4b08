//! Each user's long listens by the artist their sessions opened on (read by `session_taste`).

use super::fitting::{TrainData, Trained};
use super::trainer::{Model, NoInputs};
use crate::observer::Observer;
use crate::Result;
use botify_train::memory;
use std::path::Path;

pub struct Memory;

impl Model for Memory {
    type Params = memory::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "memory";
    const ABOUT: &'static str = "Each user's long listens in the logged sessions, by the artist each session opened on (recalled by `session_taste`'s `memory`; needs the catalogue).";
    const FILE: &'static str = "memory.jsonl";
    /// It writes no lists to score.
    const USES_HOLDOUT: bool = false;

    fn needs_catalog(_: &memory::Params) -> bool {
        true
    }

    fn fit(
        p: &memory::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        _: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let catalog = data.needed_catalog(Self::NAME)?;
        let model = memory::fit(data.train, catalog, p)?;
        model.write(out)?;
        let tracks: usize = model.lines.iter().map(|l| l.tracks.len()).sum();
        t.written = format!(
            "{tracks} remembered tracks of {} (user, opening artist) pairs",
            model.lines.len()
        );
        t.files.insert(0, out.to_path_buf());
        Ok(t)
    }
}
