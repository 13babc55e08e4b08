//! LightGCN: BPR on the user–track graph of likes (per-user lists).

use super::fitting::{Steps, TrainData, Trained, user_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_train::lightgcn;
use std::path::Path;

pub struct LightGcn;

impl Model for LightGcn {
    type Params = lightgcn::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "lightgcn";
    const ABOUT: &'static str = "LightGCN: BPR on the user–track graph of likes, embeddings spread over the graph (per-user lists).";
    const FILE: &'static str = "lightgcn.jsonl";

    fn fit(
        p: &lightgcn::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let heard = data.train.heard();
        let eval_k = data.settings.eval_k;
        let mut steps = Steps::new(Self::NAME, "epoch", p.epochs, data.precision_at(), obs);
        let model = lightgcn::fit(data.train, p, |e, m| {
            let spent = steps.clock.lap();
            let metric =
                data.held_out_precision(|| m.recommend_to(|u| data.scores(u), &heard, eval_k));
            steps.record(spent, e.loss, f64::NAN, metric, f64::NAN);
        })?;
        steps.finish(out, &mut t)?;
        user_lists(data, out, &model.recommend(&heard, data.settings.k), &mut t)?;
        Ok(t)
    }
}
