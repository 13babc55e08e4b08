//! What every trainer shares: the training data and settings, the clock and learning curve of
//! its steps, and the writers of its lists.

use crate::curve::Curve;
pub use crate::curve::with_suffix;
use crate::observer::{EpochReport, Observer};
use crate::{Error, Result};
use botify_core::hash::FastMap;
use botify_core::params::Setting;
use botify_core::{Catalog, TrackId, UserId};
use botify_train::dataset::Dataset;
use botify_train::metrics::{Metrics, evaluate};
use botify_train::{als, output};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What every model shares: list length, what counts as a positive listen, the metrics cut-off
/// and the seed. A parameter declared `shared` takes its setting's value unless given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Tracks per written list.
    pub k: usize,
    /// Positive listens: time at least this (the course's LightFM positives).
    pub threshold: f32,
    /// Metrics cut-off.
    pub eval_k: usize,
    /// The seed of everything random in training (and of the holdout split).
    pub seed: u64,
}

/// Tracks per written list when none is given.
pub const DEFAULT_K: usize = 100;
/// The metrics' cut-off when none is given.
pub const DEFAULT_EVAL_K: usize = 10;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            k: DEFAULT_K,
            threshold: botify_core::defaults::LIKED,
            eval_k: DEFAULT_EVAL_K,
            seed: botify_core::defaults::SEED,
        }
    }
}

impl Settings {
    /// The value a shared parameter takes (an `f32` by its shortest decimal, as declared).
    pub fn value(&self, s: Setting) -> Value {
        match s {
            Setting::K => Value::from(self.k),
            Setting::Threshold => Value::from(botify_core::params::short_f32(self.threshold)),
            Setting::Seed => Value::from(self.seed),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.eval_k == 0 {
            return Err(Error::Invalid("k and eval_k must be at least 1".into()));
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::Invalid(format!(
                "threshold {} is not in [0, 1]",
                self.threshold
            )));
        }
        Ok(())
    }
}

/// What a model trains on: the training listens, the held-out ones (empty: no holdout) and the
/// catalogue — never the world, whose embeddings and users are the simulator's hidden truth.
pub struct TrainData<'a> {
    pub train: &'a Dataset,
    pub test: &'a Dataset,
    pub catalog: Option<&'a Catalog>,
    pub settings: Settings,
    /// The held-out positives, computed once: the final metrics score against them.
    positives: FastMap<UserId, Vec<TrackId>>,
    /// The users learning curves score (a fixed sample of at most [`CURVE_USERS`]) and their
    /// positives.
    curve: FastMap<UserId, Vec<TrackId>>,
}

/// Learning curves score at most this many held-out users (all of them below it): a curve point
/// ranks the catalogue for each user after every epoch, which at millions of tracks and users
/// would cost more than the training.
pub const CURVE_USERS: usize = 10_000;

/// A fixed sample of at most [`CURVE_USERS`] users: the smallest by a multiplicative hash of the
/// id, so it does not depend on the map's order.
fn curve_sample(positives: &FastMap<UserId, Vec<TrackId>>) -> FastMap<UserId, Vec<TrackId>> {
    if positives.len() <= CURVE_USERS {
        return positives.clone();
    }
    let mut users: Vec<UserId> = positives.keys().copied().collect();
    let key = |u: UserId| (u64::from(u).wrapping_mul(0x9E37_79B9_7F4A_7C15), u);
    users.select_nth_unstable_by_key(CURVE_USERS, |&u| key(u));
    users.truncate(CURVE_USERS);
    users
        .into_iter()
        .map(|u| (u, positives[&u].clone()))
        .collect()
}

impl<'a> TrainData<'a> {
    /// The catalogue of `model`, which needs one (`train` refuses to start without it).
    pub(super) fn needed_catalog(&self, model: &str) -> Result<&'a Catalog> {
        self.catalog
            .ok_or_else(|| Error::Invalid(format!("{model} needs the catalogue")))
    }

    pub fn new(
        train: &'a Dataset,
        test: &'a Dataset,
        catalog: Option<&'a Catalog>,
        settings: Settings,
    ) -> Self {
        let positives = test.positives(settings.threshold);
        TrainData {
            train,
            test,
            catalog,
            settings,
            curve: curve_sample(&positives),
            positives,
        }
    }

    pub(super) fn has_holdout(&self) -> bool {
        !self.test.listens.is_empty()
    }

    /// Whether learning curves score `user` (a held-out user of the curve sample): curve points
    /// rank only for them.
    pub fn scores(&self, user: UserId) -> bool {
        self.curve.contains_key(&user)
    }

    /// Held-out precision of the lists `lists` makes for the curve's users (NaN without a
    /// holdout, where they are not made): the learning curves' metric.
    pub fn held_out_precision(&self, lists: impl FnOnce() -> FastMap<UserId, Vec<TrackId>>) -> f64 {
        if !self.has_holdout() {
            return f64::NAN;
        }
        let k = self.settings.eval_k;
        evaluate(&lists(), &self.curve, k, self.train.tracks).precision
    }

    /// Metrics of per-user lists on the held-out positives (None without a holdout).
    pub fn held_out(&self, lists: &FastMap<UserId, Vec<TrackId>>) -> Option<Metrics> {
        self.has_holdout().then(|| {
            evaluate(
                lists,
                &self.positives,
                self.settings.eval_k,
                self.train.tracks,
            )
        })
    }

    pub(super) fn groups(&self) -> botify_neural::tables::Groups {
        match self.catalog {
            Some(c) => botify_neural::tables::Groups::from_catalog(c),
            None => botify_neural::tables::Groups::none(self.train.tracks),
        }
    }

    pub(super) fn precision_at(&self) -> String {
        format!("precision@{}", self.settings.eval_k)
    }
}

/// What training produced.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Trained {
    /// Held-out metrics of the written lists (per-user models with a holdout).
    pub metrics: Option<Metrics>,
    /// DIFM: the candidates' metrics before re-ranking, for comparison.
    pub candidates_metrics: Option<Metrics>,
    /// What was written: `lists of 9,000 users`, `neighbours of 40,000 tracks`, …
    pub written: String,
    /// Every file written, the main output first.
    pub files: Vec<PathBuf>,
    /// Seconds spent in training steps (evaluation excluded) and their number.
    pub training_seconds: f64,
    pub steps: usize,
    /// The parameters a search chose.
    pub chosen: Option<Map<String, Value>>,
}

impl Trained {
    /// `training: 12.30s in 10 steps (1.230 s each, 2 threads)`, when there were steps.
    pub fn timing(&self) -> Option<String> {
        (self.steps > 0).then(|| {
            format!(
                "training: {:.2}s in {} steps ({:.3} s each, {} threads)",
                self.training_seconds,
                self.steps,
                self.training_seconds / self.steps as f64,
                rayon::current_num_threads()
            )
        })
    }
}

/// Splits wall time into training steps and the evaluation after each.
pub(super) struct Clock {
    training: f64,
    since: Instant,
}

impl Clock {
    pub(super) fn start() -> Clock {
        Clock {
            training: 0.0,
            since: Instant::now(),
        }
    }
    /// Ends a training step; returns its seconds.
    pub(super) fn lap(&mut self) -> f64 {
        let s = self.since.elapsed().as_secs_f64();
        self.training += s;
        self.since = Instant::now();
        s
    }
    /// Ends the evaluation after a step.
    pub(super) fn resume(&mut self) {
        self.since = Instant::now();
    }
}

/// Records each step in the curve and tells the observer.
pub(super) struct Steps<'a> {
    model: &'static str,
    step: &'static str,
    total: usize,
    curve: Curve,
    pub(super) clock: Clock,
    obs: &'a dyn Observer,
}

impl<'a> Steps<'a> {
    pub(super) fn new(
        model: &'static str,
        step: &'static str,
        total: usize,
        metric: String,
        obs: &'a dyn Observer,
    ) -> Self {
        obs.start(&format!("{model} {step}s"), total as u64);
        Steps {
            model,
            step,
            total,
            curve: Curve::new(step, metric),
            clock: Clock::start(),
            obs,
        }
    }

    /// One step: `seconds` of training, then the losses and metrics measured after it.
    pub(super) fn record(
        &mut self,
        seconds: f64,
        train_loss: f64,
        validation_loss: f64,
        value: f64,
        train_value: f64,
    ) {
        let index = self.curve.points.len() + 1;
        self.curve
            .push(index, train_loss, validation_loss, value, train_value);
        self.obs.advance(1);
        self.obs.epoch(&EpochReport {
            model: self.model.to_string(),
            step: self.step,
            index,
            total: self.total,
            train_loss,
            validation_loss,
            metric: self.curve.metric.clone(),
            value,
            train_value,
            seconds,
        });
        self.clock.resume();
    }

    /// Writes the curve beside `out`; fills the timing of `t`.
    pub(super) fn finish(self, out: &Path, t: &mut Trained) -> Result<()> {
        self.obs.finish();
        self.curve.write(out)?;
        t.training_seconds = self.clock.training;
        t.steps = self.curve.points.len();
        t.files.extend(Curve::files(out));
        Ok(())
    }
}

/// Trains an ALS-family model (`fit` calls its argument after each iteration) with its learning
/// curve of held-out precision, and writes its per-user lists.
pub(super) fn als_lists(
    model: &'static str,
    iterations: usize,
    data: &TrainData,
    out: &Path,
    obs: &dyn Observer,
    t: &mut Trained,
    fit: impl FnOnce(&mut dyn FnMut(usize, &als::Model)) -> Result<als::Model>,
) -> Result<()> {
    let heard = data.train.heard();
    let eval_k = data.settings.eval_k;
    let mut steps = Steps::new(model, "iteration", iterations, data.precision_at(), obs);
    let model = fit(&mut |_, m| {
        let spent = steps.clock.lap();
        let precision =
            data.held_out_precision(|| m.recommend_to(|u| data.scores(u), &heard, eval_k));
        steps.record(spent, f64::NAN, f64::NAN, precision, f64::NAN);
    })?;
    steps.finish(out, t)?;
    user_lists(data, out, &model.recommend(&heard, data.settings.k), t)
}

pub(super) fn user_lists(
    data: &TrainData,
    out: &Path,
    lists: &FastMap<UserId, Vec<TrackId>>,
    t: &mut Trained,
) -> Result<()> {
    t.metrics = data.held_out(lists);
    output::write_user_lists(out, lists)?;
    t.written = format!("lists of {} users", lists.len());
    t.files.insert(0, out.to_path_buf());
    Ok(())
}

pub(super) fn track_lists(
    out: &Path,
    lists: &[(TrackId, Vec<(TrackId, f32)>)],
    t: &mut Trained,
) -> Result<()> {
    output::write_track_lists(out, lists)?;
    t.written = format!("neighbours of {} tracks", lists.len());
    t.files.insert(0, out.to_path_buf());
    Ok(())
}

/// A per-user list file as (user, list) pairs by user, for a re-ranker.
pub fn candidate_lists(path: &Path, tracks: usize) -> Result<Vec<(UserId, Vec<TrackId>)>> {
    Ok(sorted_user_lists(botify_recs::data::UserLists::load(
        path, tracks,
    )?))
}

/// The lists by user id, ascending.
pub(super) fn sorted_user_lists(
    lists: botify_recs::data::UserLists,
) -> Vec<(UserId, Vec<TrackId>)> {
    let mut out: Vec<(UserId, Vec<TrackId>)> = lists.iter().map(|(u, l)| (u, l.to_vec())).collect();
    out.sort_unstable_by_key(|c| c.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_score_a_fixed_sample_of_held_out_users() {
        let small: FastMap<UserId, Vec<TrackId>> = (0..50).map(|u| (u, vec![u])).collect();
        assert_eq!(curve_sample(&small), small);
        let many: FastMap<UserId, Vec<TrackId>> = (0..3 * CURVE_USERS as u32)
            .map(|u| (u, vec![u, 1]))
            .collect();
        let sample = curve_sample(&many);
        assert_eq!(sample.len(), CURVE_USERS);
        assert!(sample.iter().all(|(u, p)| many[u] == *p));
        // Built in another order, the same users.
        let reversed: FastMap<UserId, Vec<TrackId>> = (0..3 * CURVE_USERS as u32)
            .rev()
            .map(|u| (u, vec![u, 1]))
            .collect();
        assert_eq!(curve_sample(&reversed), sample);
        // Spread over the ids, not the first ones.
        assert!(sample.keys().any(|&u| u >= 2 * CURVE_USERS as u32));
    }
}
