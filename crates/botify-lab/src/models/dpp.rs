//! DPP diversity re-ranking of per-user or per-track lists by artist and genre (the same kind of
//! lists).

use super::trainer::Model;
use super::fitting::{TrainData, Trained, sorted_user_lists, track_lists, user_lists};
use crate::observer::Observer;
use crate::{Error, Result};
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use botify_recs::data::{TrackLists, UserLists};
use botify_train::dpp;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

botify_core::params! {
    /// The lists DPP re-ranks.
    pub struct Candidates {
        /// Per-user or per-track lists to re-rank (e.g. `botify train als`'s or `contextual`'s).
        candidates: PathBuf = PathBuf::new() => required();
    }
}

pub struct Dpp;

impl Model for Dpp {
    type Params = dpp::Params;
    type Inputs = Candidates;
    const NAME: &'static str = "dpp";
    const ABOUT: &'static str = "DPP diversity re-ranking of per-user or per-track lists by artist and genre (the same kind of lists).";
    const FILE: &'static str = "dpp.jsonl";

    fn needs_catalog(_: &dpp::Params) -> bool {
        true
    }

    fn fit(
        p: &dpp::Params,
        c: &Candidates,
        data: &TrainData,
        out: &Path,
        _: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let k = data.settings.k;
        let catalog = data.needed_catalog(Self::NAME)?;
        let features = dpp::Features::from_catalog(catalog);
        let clock = Instant::now();
        let path = &c.candidates;
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        if crate::eval::per_track(&text) {
            let lists = TrackLists::parse(path, &text, data.train.tracks)?;
            let anchors: Vec<TrackId> = (0..data.train.tracks as TrackId)
                .filter(|&t| lists.get(t).is_some())
                .collect();
            let ranked: Vec<(TrackId, Vec<(TrackId, f32)>)> = anchors
                .par_iter()
                .map(|&a| {
                    let (list, w) = (lists.get(a).unwrap_or_default(), lists.weights(a));
                    let order = dpp::rerank(list, w, &features, p);
                    let weight = |t: TrackId| {
                        w.and_then(|w| list.iter().position(|&x| x == t).map(|i| w[i]))
                            .unwrap_or(1.0)
                    };
                    let top = order.into_iter().take(k).map(|t| (t, weight(t)));
                    (a, top.collect())
                })
                .collect();
            t.training_seconds = clock.elapsed().as_secs_f64();
            track_lists(out, &ranked, &mut t)?;
        } else {
            let given = sorted_user_lists(UserLists::parse(path, &text, data.train.tracks)?);
            let ranked: FastMap<UserId, Vec<TrackId>> = given
                .par_iter()
                .map(|(u, list)| {
                    let order = dpp::rerank(list, None, &features, p);
                    (*u, order.into_iter().take(k).collect())
                })
                .collect();
            t.training_seconds = clock.elapsed().as_secs_f64();
            let given: FastMap<UserId, Vec<TrackId>> = given.into_iter().collect();
            t.candidates_metrics = data.held_out(&given);
            user_lists(data, out, &ranked, &mut t)?;
        }
        t.steps = 1;
        Ok(t)
    }
}
