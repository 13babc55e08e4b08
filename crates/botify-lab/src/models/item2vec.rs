//! item2vec: skip-gram with negative sampling over sessions (per-track lists by cosine).

use super::fitting::{Steps, TrainData, Trained, track_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_train::item2vec;
use std::path::Path;

pub struct Item2vec;

impl Model for Item2vec {
    type Params = item2vec::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "item2vec";
    const ABOUT: &'static str =
        "item2vec: skip-gram with negative sampling over sessions (per-track lists by cosine).";
    const FILE: &'static str = "item2vec.jsonl";

    fn fit(
        p: &item2vec::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let s = data.settings;
        // The learning curve: held-out next tracks (liked) among each track's neighbours.
        let pairs = data.test.next_liked_pairs(s.threshold, 2000);
        let metric = format!("next-track hit rate@{}", s.eval_k);
        let mut steps = Steps::new(Self::NAME, "epoch", p.epochs, metric, obs);
        let model = item2vec::fit(data.train, p, |e, m| {
            let spent = steps.clock.lap();
            let hit_rate = if pairs.is_empty() {
                f64::NAN
            } else {
                m.next_track_metrics(&pairs, s.eval_k).recall
            };
            steps.record(spent, e.loss, f64::NAN, hit_rate, f64::NAN);
        })?;
        steps.finish(out, &mut t)?;
        if !pairs.is_empty() {
            t.metrics = Some(model.next_track_metrics(&pairs, s.eval_k));
        }
        track_lists(out, &model.neighbours(s.k), &mut t)?;
        Ok(t)
    }
}
