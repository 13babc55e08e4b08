//! Implicit-feedback ALS (per-user lists).

use super::fitting::{TrainData, Trained, als_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_train::als;
use std::path::Path;

pub struct Als;

impl Model for Als {
    type Params = als::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "als";
    const ABOUT: &'static str = "Implicit-feedback ALS (per-user lists).";
    const FILE: &'static str = "als.jsonl";

    fn fit(
        p: &als::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        als_lists(Self::NAME, p.iterations, data, out, obs, &mut t, |each| {
            Ok(als::fit(data.train, p, each))
        })?;
        Ok(t)
    }
}
