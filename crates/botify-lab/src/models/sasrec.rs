//! SASRec: causal self-attention over sessions (per-track lists of predicted next tracks).

use super::fitting::{Steps, TrainData, Trained, track_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_core::TrackId;
use botify_core::hash::FastMap;
use botify_neural::sasrec;
use botify_train::item2vec;
use botify_train::metrics::{Metrics, evaluate_next};
use std::path::Path;

pub struct SasRec;

impl Model for SasRec {
    type Params = sasrec::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "sasrec";
    const ABOUT: &'static str = "SASRec: causal self-attention over each session's liked tracks (per-track lists of predicted next tracks).";
    const FILE: &'static str = "sasrec.jsonl";

    fn fit(
        p: &sasrec::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let s = data.settings;
        // The learning curve: held-out next tracks (liked) among each track's predictions.
        let pairs = data.test.next_liked_pairs(s.threshold, 2000);
        let metric = format!("next-track hit rate@{}", s.eval_k);
        let mut steps = Steps::new(Self::NAME, "epoch", p.epochs, metric, obs);
        let hit_rate = |m: &sasrec::Model| -> botify_neural::Result<Metrics> {
            let anchors: Vec<TrackId> = pairs.iter().map(|x| x.0).collect();
            let lists = m.next_tracks(&anchors, s.eval_k)?;
            let by_anchor: FastMap<TrackId, Vec<TrackId>> = anchors
                .into_iter()
                .zip(lists)
                .map(|(a, l)| (a, l.into_iter().map(|x| x.0).collect()))
                .collect();
            Ok(evaluate_next(
                &pairs,
                |t| by_anchor.get(&t).cloned(),
                s.eval_k,
                data.train.tracks,
            ))
        };
        let sequences = item2vec::sessions(data.train, p.threshold);
        let model = sasrec::fit(&sequences, data.train.tracks, p, |e, m| {
            let spent = steps.clock.lap();
            let value = if pairs.is_empty() {
                f64::NAN
            } else {
                hit_rate(m)?.recall
            };
            steps.record(spent, e.loss, f64::NAN, value, f64::NAN);
            Ok(())
        })?;
        steps.finish(out, &mut t)?;
        if !pairs.is_empty() {
            t.metrics = Some(hit_rate(&model)?);
        }
        track_lists(out, &model.neighbours(s.k)?, &mut t)?;
        Ok(t)
    }
}
