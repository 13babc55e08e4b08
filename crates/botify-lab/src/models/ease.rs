//! EASE: closed-form item-item weights over the most-liked tracks (per-user lists).

use super::fitting::{TrainData, Trained, user_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_train::ease;
use std::path::Path;
use std::time::Instant;

pub struct Ease;

impl Model for Ease {
    type Params = ease::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "ease";
    const ABOUT: &'static str =
        "EASE: closed-form item-item weights over the most-liked tracks (per-user lists).";
    const FILE: &'static str = "ease.jsonl";

    fn fit(
        p: &ease::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        _: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let clock = Instant::now();
        let model = ease::fit(data.train, p)?;
        t.training_seconds = clock.elapsed().as_secs_f64();
        t.steps = 1;
        let lists = model.recommend(&data.train.heard(), data.settings.k);
        user_lists(data, out, &lists, &mut t)?;
        Ok(t)
    }
}
