//! Matrix factorisation, LightFM-style (per-user lists), with an optional random search of its
//! hyper-parameters.

use super::trainer::Model;
use super::fitting::{Steps, TrainData, Trained, user_lists, with_suffix};
use crate::observer::Observer;
use crate::{Error, Result};
use botify_core::params::Schema;
use botify_train::dataset::Split;
use botify_train::mf;
use botify_train::search::search_mf;
use std::path::Path;

botify_core::params! {
    /// What MF's run adds to the library's parameters.
    pub struct Search {
        /// Random hyper-parameter search with this many trials (scored on the holdout, or on the last 20% of the training listens without one); the best is trained on all the training listens and written to `<out>.params.json`.
        search: usize = 0 => range(0.0, 10_000.0);
    }
}

pub struct Mf;

impl Model for Mf {
    type Params = mf::Params;
    type Inputs = Search;
    const NAME: &'static str = "mf";
    const ABOUT: &'static str = "Matrix factorisation, LightFM-style (per-user lists).";
    const FILE: &'static str = "mf.jsonl";

    fn needs_catalog(p: &mf::Params) -> bool {
        !p.features.is_empty()
    }

    fn fit(
        p: &mf::Params,
        s: &Search,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let mut params = p.clone();
        if s.search > 0 {
            params = search(data, p, s.search, obs)?;
            let path = with_suffix(out, "params.json");
            let text =
                serde_json::to_string_pretty(&params).map_err(|e| Error::Invalid(e.to_string()))?;
            crate::write(&path, text)?;
            t.files.push(path);
            t.chosen = Some(params.to_map());
        }
        let heard = data.train.heard();
        let eval_k = data.settings.eval_k;
        let mut steps = Steps::new(Self::NAME, "epoch", params.epochs, data.precision_at(), obs);
        let model = mf::fit(data.train, data.catalog, &params, |e, m| {
            let spent = steps.clock.lap();
            let metric =
                data.held_out_precision(|| m.recommend_to(|u| data.scores(u), &heard, eval_k));
            steps.record(spent, e.loss, f64::NAN, metric, f64::NAN);
            true
        });
        steps.finish(out, &mut t)?;
        user_lists(data, out, &model.recommend(&heard, data.settings.k), &mut t)?;
        Ok(t)
    }
}

/// Seeded random search of MF's parameters (see `botify_train::search`).
fn search(
    data: &TrainData,
    base: &mf::Params,
    trials: usize,
    obs: &dyn Observer,
) -> Result<mf::Params> {
    let own;
    let (fit_part, held) = if data.has_holdout() {
        (data.train, data.test)
    } else {
        own = data.train.split(Split::Time, 0.2, base.seed);
        (&own.0, &own.1)
    };
    if held.listens.is_empty() {
        return Err(Error::Invalid(
            "mf search: no listens to score the trials on".into(),
        ));
    }
    let eval_k = data.settings.eval_k;
    obs.start("mf search trials", trials as u64);
    let best = search_mf(fit_part, held, data.catalog, base, trials, eval_k, |tr| {
        obs.advance(1);
        let p = &tr.params;
        obs.note(&format!(
            "trial {}/{trials}: {:?} factors {} lr {:.4} l2 {:.1e} max_sampled {} → precision@{eval_k} {:.4} at epoch {}",
            tr.index + 1,
            p.loss,
            p.factors,
            p.learning_rate,
            p.l2,
            p.max_sampled,
            tr.precision,
            p.epochs
        ));
    });
    obs.finish();
    let best = best.ok_or_else(|| Error::Invalid("mf search: no trial ran".into()))?;
    obs.note(&format!(
        "best of {trials} trials: precision@{eval_k} {:.4} with {:?}, {} factors, lr {:.4}, max_sampled {}, {} epochs",
        best.precision,
        best.params.loss,
        best.params.factors,
        best.params.learning_rate,
        best.params.max_sampled,
        best.params.epochs
    ));
    Ok(best.params)
}
