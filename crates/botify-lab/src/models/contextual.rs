//! The neural contextual item-to-item model (per-track lists weighted by predicted listen time).

use super::fitting::{Steps, TrainData, Trained, track_lists, with_suffix};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_neural::contextual::{self, Context, Pair};
use std::path::Path;

pub struct Contextual;

impl Model for Contextual {
    type Params = contextual::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "contextual";
    const ABOUT: &'static str =
        "Neural contextual item-to-item model (per-track lists weighted by predicted listen time).";
    /// The course's name for its lists.
    const FILE: &'static str = "i2i_nn.jsonl";
    /// It holds out its own validation pairs.
    const USES_HOLDOUT: bool = false;

    fn fit(
        p: &contextual::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let pairs: Vec<Pair> = match p.context {
            Context::Previous => data.train.next_pairs().map(Pair::from).collect(),
            Context::Anchor => data
                .train
                .anchor_pairs()
                .into_iter()
                .map(Pair::from)
                .collect(),
        };
        let mut steps = Steps::new(Self::NAME, "epoch", p.epochs, "hit rate@10".into(), obs);
        let model = contextual::fit(&pairs, data.groups(), p, |e| {
            let spent = steps.clock.lap();
            steps.record(spent, e.train_loss, e.validation_loss, e.hit_rate, f64::NAN);
        })?;
        steps.finish(out, &mut t)?;
        let weights = with_suffix(out, "model.safetensors");
        model.save(&weights)?;
        track_lists(out, &model.neighbours(data.settings.k), &mut t)?;
        t.files.push(weights);
        Ok(t)
    }
}
