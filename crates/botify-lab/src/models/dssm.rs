//! The two-tower DSSM (per-user lists).

use super::fitting::{Steps, TrainData, Trained, user_lists, with_suffix};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_neural::dssm;
use std::path::Path;

pub struct Dssm;

impl Model for Dssm {
    type Params = dssm::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "dssm";
    const ABOUT: &'static str = "Two-tower DSSM (per-user lists).";
    const FILE: &'static str = "dssm.jsonl";

    fn fit(
        p: &dssm::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let s = data.settings;
        let pairs = data.train.liked_pairs(s.threshold);
        let heard = data.train.heard();
        let mut steps = Steps::new(Self::NAME, "epoch", p.epochs, data.precision_at(), obs);
        let model = dssm::fit(&pairs, data.groups(), p, |e, m| {
            let spent = steps.clock.lap();
            let metric = data.held_out_precision(|| {
                let lists = m.recommend_to(|u| data.scores(u), &heard, s.eval_k);
                lists.into_iter().collect()
            });
            steps.record(spent, e.train_loss, e.validation_loss, metric, f64::NAN);
        })?;
        steps.finish(out, &mut t)?;
        let weights = with_suffix(out, "model.safetensors");
        model.save(&weights)?;
        let lists = model.recommend(&heard, s.k).into_iter().collect();
        user_lists(data, out, &lists, &mut t)?;
        t.files.push(weights);
        Ok(t)
    }
}
