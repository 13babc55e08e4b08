//! DIFM: a listen/skip classifier re-ranking per-user candidate lists (per-user lists).

use super::trainer::Model;
use super::fitting::{Steps, TrainData, Trained, candidate_lists, user_lists, with_suffix};
use crate::observer::Observer;
use crate::Result;
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use botify_neural::difm;
use std::path::{Path, PathBuf};

botify_core::params! {
    /// The lists DIFM re-ranks.
    pub struct Candidates {
        /// Per-user candidate lists to re-rank, e.g. `botify train mf`'s output.
        candidates: PathBuf = PathBuf::new() => required();
    }
}

pub struct Difm;

impl Model for Difm {
    type Params = difm::Params;
    type Inputs = Candidates;
    const NAME: &'static str = "difm";
    const ABOUT: &'static str =
        "DIFM listen/skip classifier re-ranking per-user candidate lists (per-user lists).";
    const FILE: &'static str = "difm.jsonl";

    fn needs_catalog(_: &difm::Params) -> bool {
        true
    }

    fn validate(p: &difm::Params) -> Result<()> {
        Ok(p.validate()?)
    }

    fn fit(
        p: &difm::Params,
        c: &Candidates,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let catalog = data.needed_catalog(Self::NAME)?;
        let candidates = candidate_lists(&c.candidates, data.train.tracks)?;
        let features = difm::TrackFeatures::from_catalog(catalog, p.components, p.seed);
        obs.note(&format!(
            "track metadata: {} components keep {:.1}% of the variance",
            features.components,
            100.0 * features.explained
        ));
        let listens = data.train.listen_times();
        let mut steps = Steps::new(Self::NAME, "epoch", p.epochs, "AUC".into(), obs);
        let model = difm::fit(&listens, features, p, |e| {
            let spent = steps.clock.lap();
            if e.epoch == 0 {
                obs.note(&format!(
                    "{} examples: listens ≥ {}, each with a skip ≤ {} of the same user",
                    e.examples, p.positive, p.negative
                ));
            }
            steps.record(
                spent,
                e.train_loss,
                e.validation_loss,
                e.validation_auc,
                e.train_auc,
            );
        })?;
        steps.finish(out, &mut t)?;
        let weights = with_suffix(out, "model.safetensors");
        model.save(&weights)?;
        let ranked: FastMap<UserId, Vec<TrackId>> = model
            .rank(&candidates, data.settings.k)?
            .into_iter()
            .collect();
        let given: FastMap<UserId, Vec<TrackId>> = candidates.into_iter().collect();
        t.candidates_metrics = data.held_out(&given);
        user_lists(data, out, &ranked, &mut t)?;
        t.files.push(weights);
        Ok(t)
    }
}
