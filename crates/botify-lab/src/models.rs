//! The model registry: every trainable model by name, its parameters (with their `Default`, the
//! one source of the CLI's defaults), and one `train` that writes the model's output files, its
//! learning curve and weights, and measures it on a holdout. `botify train <model>` and plans
//! both call [`train`].

use crate::curve::Curve;
pub use crate::curve::with_suffix;
use crate::eval::unheard;
use crate::observer::{EpochReport, Observer};
use crate::{Error, Result};
use botify_core::hash::FastMap;
use botify_core::{Catalog, TrackId, UserId};
use botify_neural::{contextual, difm, dssm, sasrec};
use botify_train::dataset::{Dataset, Split};
use botify_train::metrics::{Metrics, evaluate, evaluate_next};
use botify_train::search::search_mf;
use botify_train::{als, dpp, ease, i2i, ips, item2vec, lightgcn, mf, output, taste, toppop, ucf};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What every model shares: list length, what counts as a positive listen, the metrics cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Tracks per written list.
    pub k: usize,
    /// Positive listens: time at least this (the course: 0.7).
    pub threshold: f32,
    /// Metrics cut-off.
    pub eval_k: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            k: 100,
            threshold: botify_core::defaults::LIKED,
            eval_k: 10,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<()> {
        positive("k", self.k)?;
        positive("eval_k", self.eval_k)?;
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(Error::Invalid(format!(
                "threshold {} is not in [0, 1]",
                self.threshold
            )));
        }
        Ok(())
    }
}

/// MF with an optional random search of its hyper-parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfSpec {
    pub params: mf::Params,
    /// Random-search trials (0: train `params` as they are). Trials are scored on the holdout,
    /// or without one on the last 20% of the training listens by time; the best parameters are
    /// then trained on all the training listens and written to `<out stem>.params.json`.
    pub search: usize,
}

/// DIFM re-ranking per-user candidate lists.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DifmSpec {
    pub params: difm::Params,
    /// Per-user candidate lists to re-rank (e.g. MF's output).
    pub candidates: PathBuf,
}

/// DPP diversity re-ranking of a list file (per-user or per-track).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DppSpec {
    pub params: dpp::Params,
    /// The lists to re-rank (e.g. ALS's or the contextual model's output).
    pub candidates: PathBuf,
}

/// A model and its parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSpec {
    /// Top tracks by total listen time (a JSON array).
    Toppop,
    /// Item-to-item neighbours from sessions (per-track lists with weights).
    I2i(i2i::Params),
    /// User-based collaborative filtering (per-user lists).
    Ucf(ucf::Params),
    /// Implicit-feedback ALS (per-user lists).
    Als(als::Params),
    /// EASE: closed-form item-item weights over the most-liked tracks (per-user lists).
    Ease(ease::Params),
    /// IPS-debiased matrix factorisation: likes weighted by the logged policy's inverse
    /// propensities (per-user lists).
    Ips(ips::Params),
    /// LightGCN: BPR on the user–track graph of likes (per-user lists).
    Lightgcn(lightgcn::Params),
    /// SASRec: causal self-attention over sessions (per-track lists of predicted next tracks).
    Sasrec(sasrec::Params),
    /// Matrix factorisation, LightFM-style (per-user lists).
    Mf(MfSpec),
    /// Neural contextual item-to-item model (per-track lists weighted by predicted listen time).
    Contextual(contextual::Params),
    /// item2vec: skip-gram with negative sampling over sessions (per-track lists by cosine).
    Item2vec(item2vec::Params),
    /// Artist taste vectors learned against the session's first track (`session_taste`).
    Taste(taste::Params),
    /// Two-tower DSSM (per-user lists).
    Dssm(dssm::Params),
    /// DIFM listen/skip classifier re-ranking candidate lists (per-user lists).
    Difm(DifmSpec),
    /// DPP diversity re-ranking of per-user or per-track lists (artist and genre from the
    /// catalogue).
    Dpp(DppSpec),
}

fn positive(name: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(Error::Invalid(format!("{name} must be at least 1")));
    }
    Ok(())
}

fn finite(name: &str, v: f32, min: f32, open: bool) -> Result<()> {
    Ok(botify_train::check::finite(
        name,
        f64::from(v),
        f64::from(min),
        !open,
    )?)
}

impl ModelSpec {
    /// The registry name (`botify train <name>`, a plan's `train.models`).
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::Toppop => "toppop",
            ModelSpec::I2i(_) => "i2i",
            ModelSpec::Ucf(_) => "ucf",
            ModelSpec::Als(_) => "als",
            ModelSpec::Ease(_) => "ease",
            ModelSpec::Ips(_) => "ips",
            ModelSpec::Lightgcn(_) => "lightgcn",
            ModelSpec::Sasrec(_) => "sasrec",
            ModelSpec::Mf(_) => "mf",
            ModelSpec::Contextual(_) => "contextual",
            ModelSpec::Item2vec(_) => "item2vec",
            ModelSpec::Taste(_) => "taste",
            ModelSpec::Dssm(_) => "dssm",
            ModelSpec::Difm(_) => "difm",
            ModelSpec::Dpp(_) => "dpp",
        }
    }

    /// Every parameter checked before any data is read; errors name the parameter.
    pub fn validate(&self) -> Result<()> {
        let name = self.name();
        let r = match self {
            ModelSpec::Toppop => Ok(()),
            ModelSpec::I2i(p) => positive("k", p.k).and(positive("window", p.window)),
            ModelSpec::Ucf(p) => positive("neighbours", p.neighbours).and(positive("k", p.k)),
            ModelSpec::Als(p) => positive("factors", p.factors)
                .and(positive("iterations", p.iterations))
                .and(finite("regularization", p.regularization, 0.0, false))
                .and(finite("alpha", p.alpha, 0.0, false)),
            ModelSpec::Mf(s) => {
                let p = &s.params;
                positive("factors", p.factors)
                    .and(positive("epochs", p.epochs))
                    .and(positive("max_sampled", p.max_sampled))
                    .and(positive("threads", p.threads))
                    .and(finite("learning rate", p.learning_rate, 0.0, true))
                    .and(finite("l2", p.l2, 0.0, false))
            }
            ModelSpec::Ease(p) => p.validate().map_err(Error::from),
            ModelSpec::Ips(p) => p.validate().map_err(Error::from),
            ModelSpec::Lightgcn(p) => p.validate().map_err(Error::from),
            ModelSpec::Sasrec(p) => p.validate().map_err(Error::from),
            ModelSpec::Contextual(p) => p.validate().map_err(Error::from),
            ModelSpec::Item2vec(p) => p.validate().map_err(Error::from),
            ModelSpec::Taste(p) => p.validate().map_err(Error::from),
            ModelSpec::Dssm(p) => p.validate().map_err(Error::from),
            ModelSpec::Difm(s) => s.params.validate().map_err(Error::from),
            ModelSpec::Dpp(s) => s.params.validate().map_err(Error::from),
        };
        r.map_err(|e| Error::Invalid(format!("{name}: {e}")))
    }

    /// Whether the model needs the catalogue (track metadata as features).
    pub fn needs_catalog(&self) -> bool {
        match self {
            ModelSpec::Difm(_) | ModelSpec::Dpp(_) | ModelSpec::Taste(_) => true,
            ModelSpec::Mf(s) => !s.params.features.is_empty(),
            _ => false,
        }
    }

    /// Whether the model is measured on the caller's holdout. The contextual model holds out
    /// its own validation pairs and the taste model has no per-user lists to score, so they
    /// train on all the listens they are given.
    pub fn uses_holdout(&self) -> bool {
        !matches!(self, ModelSpec::Contextual(_) | ModelSpec::Taste(_))
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

    fn has_holdout(&self) -> bool {
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

    fn groups(&self) -> botify_neural::tables::Groups {
        match self.catalog {
            Some(c) => botify_neural::tables::Groups::from_catalog(c),
            None => botify_neural::tables::Groups::none(self.train.tracks),
        }
    }

    fn precision_at(&self) -> String {
        format!("precision@{}", self.settings.eval_k)
    }
}

/// What training produced.
#[derive(Debug, Clone, Default)]
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
    pub chosen: Option<mf::Params>,
}

/// Splits wall time into training steps and the evaluation after each.
struct Clock {
    training: f64,
    since: Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            training: 0.0,
            since: Instant::now(),
        }
    }
    /// Ends a training step; returns its seconds.
    fn lap(&mut self) -> f64 {
        let s = self.since.elapsed().as_secs_f64();
        self.training += s;
        self.since = Instant::now();
        s
    }
    /// Ends the evaluation after a step.
    fn resume(&mut self) {
        self.since = Instant::now();
    }
}

/// Records each step in the curve and tells the observer.
struct Steps<'a> {
    model: &'static str,
    step: &'static str,
    total: usize,
    curve: Curve,
    clock: Clock,
    obs: &'a dyn Observer,
}

impl<'a> Steps<'a> {
    fn new(
        spec: &ModelSpec,
        step: &'static str,
        total: usize,
        metric: String,
        obs: &'a dyn Observer,
    ) -> Self {
        obs.start(&format!("{} {step}s", spec.name()), total as u64);
        Steps {
            model: spec.name(),
            step,
            total,
            curve: Curve::new(step, metric),
            clock: Clock::start(),
            obs,
        }
    }

    /// One step: `seconds` of training, then the losses and metrics measured after it.
    fn record(
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
    fn finish(self, out: &Path, t: &mut Trained) -> Result<()> {
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
fn als_lists(
    spec: &ModelSpec,
    iterations: usize,
    data: &TrainData,
    out: &Path,
    obs: &dyn Observer,
    t: &mut Trained,
    fit: impl FnOnce(&mut dyn FnMut(usize, &als::Model)) -> Result<als::Model>,
) -> Result<()> {
    let heard = data.train.heard();
    let eval_k = data.settings.eval_k;
    let mut steps = Steps::new(spec, "iteration", iterations, data.precision_at(), obs);
    let model = fit(&mut |_, m| {
        let spent = steps.clock.lap();
        let precision =
            data.held_out_precision(|| m.recommend_to(|u| data.scores(u), &heard, eval_k));
        steps.record(spent, f64::NAN, f64::NAN, precision, f64::NAN);
    })?;
    steps.finish(out, t)?;
    user_lists(data, out, &model.recommend(&heard, data.settings.k), t)
}

fn user_lists(
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

fn track_lists(
    out: &Path,
    lists: &[(TrackId, Vec<(TrackId, f32)>)],
    t: &mut Trained,
) -> Result<()> {
    output::write_track_lists(out, lists)?;
    t.written = format!("neighbours of {} tracks", lists.len());
    t.files.insert(0, out.to_path_buf());
    Ok(())
}

/// Trains `spec` on `data` and writes its output to `out` (with curves, weights and chosen
/// parameters beside it). The observer sees every step as it ends.
pub fn train(
    spec: &ModelSpec,
    data: &TrainData,
    out: &Path,
    obs: &dyn Observer,
) -> Result<Trained> {
    spec.validate()?;
    data.settings.validate()?;
    if spec.needs_catalog() && data.catalog.is_none() {
        return Err(Error::Invalid(format!(
            "{} needs the catalogue: track metadata is one of its features",
            spec.name()
        )));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::create_dir(dir)?;
    }
    let s = data.settings;
    let mut t = Trained::default();
    match spec {
        ModelSpec::Toppop => {
            let top = toppop::fit(data.train, s.k);
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
        }
        ModelSpec::I2i(p) => track_lists(out, &i2i::fit(data.train, p), &mut t)?,
        ModelSpec::Ucf(p) => {
            let lists = ucf::fit(data.train, p, &data.train.heard());
            user_lists(data, out, &lists, &mut t)?;
        }
        ModelSpec::Als(p) => als_lists(spec, p.iterations, data, out, obs, &mut t, |each| {
            Ok(als::fit(data.train, p, each))
        })?,
        ModelSpec::Mf(m) => {
            let mut params = m.params.clone();
            if m.search > 0 {
                params = search(data, &m.params, m.search, obs)?;
                let path = with_suffix(out, "params.json");
                let text = serde_json::to_string_pretty(&params)
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                crate::write(&path, text)?;
                t.files.push(path);
                t.chosen = Some(params.clone());
            }
            let heard = data.train.heard();
            let mut steps = Steps::new(spec, "epoch", params.epochs, data.precision_at(), obs);
            let model = mf::fit(data.train, data.catalog, &params, |e, m| {
                let spent = steps.clock.lap();
                let metric = data
                    .held_out_precision(|| m.recommend_to(|u| data.scores(u), &heard, s.eval_k));
                steps.record(spent, e.loss, f64::NAN, metric, f64::NAN);
                true
            });
            steps.finish(out, &mut t)?;
            user_lists(data, out, &model.recommend(&heard, s.k), &mut t)?;
        }
        ModelSpec::Contextual(p) => {
            let pairs: Vec<contextual::Pair> = match p.context {
                contextual::Context::Previous => data
                    .train
                    .next_pairs()
                    .map(contextual::Pair::from)
                    .collect(),
                contextual::Context::Anchor => data
                    .train
                    .anchor_pairs()
                    .into_iter()
                    .map(contextual::Pair::from)
                    .collect(),
            };
            let mut steps = Steps::new(spec, "epoch", p.epochs, "hit rate@10".into(), obs);
            let model = contextual::fit(&pairs, data.groups(), p, |e| {
                let spent = steps.clock.lap();
                steps.record(spent, e.train_loss, e.validation_loss, e.hit_rate, f64::NAN);
            })?;
            steps.finish(out, &mut t)?;
            let weights = with_suffix(out, "model.safetensors");
            model.save(&weights)?;
            track_lists(out, &model.neighbours(s.k), &mut t)?;
            t.files.push(weights);
        }
        ModelSpec::Ips(p) => als_lists(spec, p.iterations, data, out, obs, &mut t, |each| {
            Ok(ips::fit(data.train, p, each)?)
        })?,
        ModelSpec::Lightgcn(p) => {
            let heard = data.train.heard();
            let mut steps = Steps::new(spec, "epoch", p.epochs, data.precision_at(), obs);
            let model = lightgcn::fit(data.train, p, |e, m| {
                let spent = steps.clock.lap();
                let metric = data
                    .held_out_precision(|| m.recommend_to(|u| data.scores(u), &heard, s.eval_k));
                steps.record(spent, e.loss, f64::NAN, metric, f64::NAN);
            })?;
            steps.finish(out, &mut t)?;
            user_lists(data, out, &model.recommend(&heard, s.k), &mut t)?;
        }
        ModelSpec::Ease(p) => {
            let clock = Instant::now();
            let model = ease::fit(data.train, p)?;
            t.training_seconds = clock.elapsed().as_secs_f64();
            t.steps = 1;
            let lists = model.recommend(&data.train.heard(), s.k);
            user_lists(data, out, &lists, &mut t)?;
        }
        ModelSpec::Item2vec(p) => {
            // The learning curve: held-out next tracks (liked) among each track's neighbours.
            let pairs = data.test.next_liked_pairs(s.threshold, 2000);
            let metric = format!("next-track hit rate@{}", s.eval_k);
            let mut steps = Steps::new(spec, "epoch", p.epochs, metric, obs);
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
        }
        ModelSpec::Taste(p) => {
            let catalog = data
                .catalog
                .ok_or_else(|| Error::Invalid("taste needs the catalogue".into()))?;
            let mut steps = Steps::new(spec, "epoch", p.epochs, "—".into(), obs);
            let model = taste::fit(data.train, catalog, p, |e| {
                let spent = steps.clock.lap();
                steps.record(spent, e.loss, f64::NAN, f64::NAN, f64::NAN);
            })?;
            steps.finish(out, &mut t)?;
            model.write(out)?;
            t.written = format!("taste vectors of {} artists", model.artists.len());
            t.files.insert(0, out.to_path_buf());
        }
        ModelSpec::Sasrec(p) => {
            // The learning curve: held-out next tracks (liked) among each track's predictions.
            let pairs = data.test.next_liked_pairs(s.threshold, 2000);
            let metric = format!("next-track hit rate@{}", s.eval_k);
            let mut steps = Steps::new(spec, "epoch", p.epochs, metric, obs);
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
        }
        ModelSpec::Dssm(p) => {
            let pairs = data.train.liked_pairs(s.threshold);
            let heard = data.train.heard();
            let mut steps = Steps::new(spec, "epoch", p.epochs, data.precision_at(), obs);
            let model = dssm::fit(&pairs, data.groups(), p, |e, m| {
                let spent = steps.clock.lap();
                let metric = data.held_out_precision(|| {
                    let lists = m.recommend_to(|u| data.scores(u), &heard, s.eval_k);
                    lists.into_iter().collect()
                });
                steps.record(spent, e.train_loss, e.validation_loss, metric, f64::NAN);
            })?;
            steps.finish(out, &mut t)?;
            let weights = with_suffix(out, "model.safetensors");
            model.save(&weights)?;
            let lists = model.recommend(&heard, s.k).into_iter().collect();
            user_lists(data, out, &lists, &mut t)?;
            t.files.push(weights);
        }
        ModelSpec::Dpp(d) => {
            let catalog = data
                .catalog
                .ok_or_else(|| Error::Invalid("dpp needs the catalogue".into()))?;
            let features = dpp::Features::from_catalog(catalog);
            let clock = Instant::now();
            let text =
                std::fs::read_to_string(&d.candidates).map_err(|e| Error::io(&d.candidates, e))?;
            if crate::eval::per_track(&text) {
                let lists =
                    botify_recs::data::TrackLists::parse(&d.candidates, &text, data.train.tracks)?;
                let anchors: Vec<TrackId> = (0..data.train.tracks as TrackId)
                    .filter(|&t| lists.get(t).is_some())
                    .collect();
                let ranked: Vec<(TrackId, Vec<(TrackId, f32)>)> = anchors
                    .par_iter()
                    .map(|&a| {
                        let (list, w) = (lists.get(a).unwrap_or_default(), lists.weights(a));
                        let order = dpp::rerank(list, w, &features, &d.params);
                        let weight = |t: TrackId| {
                            w.and_then(|w| list.iter().position(|&x| x == t).map(|i| w[i]))
                                .unwrap_or(1.0)
                        };
                        let top = order.into_iter().take(s.k).map(|t| (t, weight(t)));
                        (a, top.collect())
                    })
                    .collect();
                t.training_seconds = clock.elapsed().as_secs_f64();
                track_lists(out, &ranked, &mut t)?;
            } else {
                let given = sorted_user_lists(botify_recs::data::UserLists::parse(
                    &d.candidates,
                    &text,
                    data.train.tracks,
                )?);
                let ranked: FastMap<UserId, Vec<TrackId>> = given
                    .par_iter()
                    .map(|(u, list)| {
                        let order = dpp::rerank(list, None, &features, &d.params);
                        (*u, order.into_iter().take(s.k).collect())
                    })
                    .collect();
                t.training_seconds = clock.elapsed().as_secs_f64();
                let given: FastMap<UserId, Vec<TrackId>> = given.into_iter().collect();
                t.candidates_metrics = data.held_out(&given);
                user_lists(data, out, &ranked, &mut t)?;
            }
            t.steps = 1;
        }
        ModelSpec::Difm(d) => {
            let p = &d.params;
            let catalog = data
                .catalog
                .ok_or_else(|| Error::Invalid("difm needs the catalogue".into()))?;
            let candidates = candidate_lists(&d.candidates, data.train.tracks)?;
            let features = difm::TrackFeatures::from_catalog(catalog, p.components, p.seed);
            obs.note(&format!(
                "track metadata: {} components keep {:.1}% of the variance",
                features.components,
                100.0 * features.explained
            ));
            let listens = data.train.listen_times();
            let mut steps = Steps::new(spec, "epoch", p.epochs, "AUC".into(), obs);
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
            let ranked: FastMap<UserId, Vec<TrackId>> =
                model.rank(&candidates, s.k)?.into_iter().collect();
            let given: FastMap<UserId, Vec<TrackId>> = candidates.into_iter().collect();
            t.candidates_metrics = data.held_out(&given);
            user_lists(data, out, &ranked, &mut t)?;
            t.files.push(weights);
        }
    }
    Ok(t)
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
    obs.start("mf search trials", trials as u64);
    let best = search_mf(
        fit_part,
        held,
        data.catalog,
        base,
        trials,
        data.settings.eval_k,
        |tr| {
            obs.advance(1);
            let p = &tr.params;
            obs.note(&format!(
            "trial {}/{trials}: {:?} factors {} lr {:.4} l2 {:.1e} max_sampled {} → precision@{} {:.4} at epoch {}",
            tr.index + 1,
            p.loss,
            p.factors,
            p.learning_rate,
            p.l2,
            p.max_sampled,
            data.settings.eval_k,
            tr.precision,
            p.epochs
        ));
        },
    );
    obs.finish();
    let best = best.ok_or_else(|| Error::Invalid("mf search: no trial ran".into()))?;
    obs.note(&format!(
        "best of {trials} trials: precision@{} {:.4} with {:?}, {} factors, lr {:.4}, max_sampled {}, {} epochs",
        data.settings.eval_k,
        best.precision,
        best.params.loss,
        best.params.factors,
        best.params.learning_rate,
        best.params.max_sampled,
        best.params.epochs
    ));
    Ok(best.params)
}

/// A per-user list file as (user, list) pairs by user, for a re-ranker.
pub fn candidate_lists(path: &Path, tracks: usize) -> Result<Vec<(UserId, Vec<TrackId>)>> {
    Ok(sorted_user_lists(botify_recs::data::UserLists::load(
        path, tracks,
    )?))
}

/// The lists by user id, ascending.
fn sorted_user_lists(lists: botify_recs::data::UserLists) -> Vec<(UserId, Vec<TrackId>)> {
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
