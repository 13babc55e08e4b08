//! Item-to-item neighbours from sessions (per-track lists with weights).

use super::fitting::{TrainData, Trained, track_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_train::i2i;
use std::path::Path;

pub struct I2i;

impl Model for I2i {
    type Params = i2i::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "i2i";
    const ABOUT: &'static str =
        "Item-to-item neighbours from sessions (per-track lists with weights).";
    const FILE: &'static str = "i2i.jsonl";

    fn fit(
        p: &i2i::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        _: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        track_lists(out, &i2i::fit(data.train, p), &mut t)?;
        Ok(t)
    }
}
