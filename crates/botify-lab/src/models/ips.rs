//! IPS-debiased matrix factorisation (per-user lists).

use super::fitting::{TrainData, Trained, als_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_train::ips;
use std::path::Path;

pub struct Ips;

impl Model for Ips {
    type Params = ips::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "ips";
    const ABOUT: &'static str = "IPS-debiased matrix factorisation: likes weighted by the inverse of how often the logged policy showed them (per-user lists).";
    const FILE: &'static str = "ips.jsonl";

    fn fit(
        p: &ips::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        als_lists(Self::NAME, p.iterations, data, out, obs, &mut t, |each| {
            Ok(ips::fit(data.train, p, each)?)
        })?;
        Ok(t)
    }
}
