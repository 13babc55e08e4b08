//! Artist taste vectors learned against the session's first track (served by `session_taste`).

use super::fitting::{Steps, TrainData, Trained};
use super::trainer::{Model, NoInputs};
use crate::observer::Observer;
use crate::Result;
use botify_train::taste;
use std::path::Path;

pub struct Taste;

impl Model for Taste {
    type Params = taste::Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "taste";
    const ABOUT: &'static str = "Artist taste vectors learned from listen times against the session's first track (served by `session_taste`; needs the catalogue).";
    const FILE: &'static str = "taste.jsonl";
    /// It writes no lists to score.
    const USES_HOLDOUT: bool = false;

    fn needs_catalog(_: &taste::Params) -> bool {
        true
    }

    fn fit(
        p: &taste::Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let catalog = data.needed_catalog(Self::NAME)?;
        let mut steps = Steps::new(Self::NAME, "epoch", p.epochs, "—".into(), obs);
        let model = taste::fit(data.train, catalog, p, |e| {
            let spent = steps.clock.lap();
            steps.record(spent, e.loss, f64::NAN, f64::NAN, f64::NAN);
        })?;
        steps.finish(out, &mut t)?;
        model.write(out)?;
        t.written = format!("taste vectors of {} artists", model.artists.len());
        t.files.insert(0, out.to_path_buf());
        Ok(t)
    }
}
