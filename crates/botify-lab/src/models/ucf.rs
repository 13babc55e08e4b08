//! User-based collaborative filtering (per-user lists).

use super::fitting::{TrainData, Trained, user_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_train::ucf;
use std::path::Path;

pub struct Ucf;

impl Model for Ucf {
    type Params = ucf::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "ucf";
    const ABOUT: &'static str = "User-based collaborative filtering (per-user lists).";
    const FILE: &'static str = "ucf.jsonl";

    fn fit(
        p: &ucf::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        _: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let lists = ucf::fit(data.train, p, &data.train.heard());
        user_lists(data, out, &lists, &mut t)?;
        Ok(t)
    }
}
