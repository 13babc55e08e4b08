//! TopPop: the most listened tracks, the same list for everyone.

use super::fitting::{TrainData, Trained};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::eval::unheard;
use crate::observer::Observer;
use botify_train::{output, toppop};
use std::path::Path;

botify_core::params! {
    /// TopPop's parameters.
    pub struct Params {
        /// Tracks in the list.
        k: usize = 100 => range(1.0, 10_000.0).shared(Setting::K);
    }
}

pub struct TopPop;

impl Model for TopPop {
    type Params = Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "toppop";
    const ABOUT: &'static str = "Top tracks by total listen time (a JSON array).";
    const FILE: &'static str = "top_tracks.json";

    fn fit(
        p: &Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        _: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let top = toppop::fit(data.train, p.k);
        if data.has_holdout() {
            let heard = data.train.heard();
            let lists = data
                .test
                .users()
                .into_iter()
                .map(|u| (u, unheard(&top, heard.get(&u))))
                .collect();
            t.metrics = data.held_out(&lists);
        }
        output::write_top(out, &top)?;
        t.written = format!("{} top tracks", top.len());
        t.files.push(out.to_path_buf());
        Ok(t)
    }
}
