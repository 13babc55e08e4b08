//! A plan: what one run of the whole loop does — the world, the cold-start day, the models to
//! train, the A/B days. TOML on disk; every field has a default (`botify experiment default`
//! prints them), unknown fields are errors, and [`Plan::validate`] checks everything that can be
//! checked before anything runs.

use crate::models::{DifmSpec, DppSpec, MfSpec, ModelSpec, Settings};
use crate::{Error, Result};
use botify_core::generate::WorldParams;
use botify_recs::spec::RecommenderSpec;
use botify_train::{als, dpp, ease, i2i, ips, item2vec, lightgcn, mf, taste, ucf};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plan {
    pub name: String,
    pub seed: u64,
    pub world: WorldPlan,
    pub day1: Day1,
    /// Off (0 episodes) where a plan file has no `[day2]`; the default plan runs two rounds.
    #[serde(default = "Day2::off")]
    pub day2: Day2,
    pub train: TrainPlan,
    pub ab: AbPlan,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldPlan {
    /// A directory of world files (e.g. the course's); otherwise one is generated.
    pub dir: Option<PathBuf>,
    pub tracks: usize,
    pub users: usize,
    pub dim: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Day1 {
    pub episodes: usize,
    /// Cold-start traffic: users split evenly between these.
    pub recommenders: Vec<RecommenderSpec>,
}

/// Days of traffic after day 1, served by what the days before taught: the recommenders read
/// the models' files (relative to the run, like the A/B treatments'). Before each such day only
/// the models it serves are trained; after the last, every model is trained on all the days. A
/// policy's own traffic shows which of its candidates are listened to — exactly the pairs day 1's
/// random and same-artist traffic seldom has.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Day2 {
    /// Sessions a day; 0: no second day.
    pub episodes: usize,
    /// Users split evenly between these.
    pub recommenders: Vec<RecommenderSpec>,
    /// Days of this kind, each served by the models trained on every day before it.
    pub rounds: u32,
}

impl Day2 {
    pub fn off() -> Day2 {
        Day2 {
            episodes: 0,
            recommenders: Vec::new(),
            rounds: 1,
        }
    }

    pub fn runs(&self) -> bool {
        self.episodes > 0 && self.rounds > 0
    }

    /// Days before the A/B: day 1 and the rounds that run.
    pub fn collection_days(&self) -> u32 {
        1 + if self.runs() { self.rounds } else { 0 }
    }
}

impl Default for Day2 {
    /// The default plan's: two rounds in which half the users get the session-anchored policy
    /// over the lists learned against the session's first track and half `session_taste`
    /// (docs/models.md, "Day 2"). Either alone teaches less: the taste model fed only its own
    /// traffic learns its own picks.
    fn default() -> Self {
        Day2 {
            episodes: 60_000,
            recommenders: vec![
                session_anchor("models/i2i_anchor.jsonl"),
                session_taste("models/taste.jsonl", 0, sticky()),
            ],
            rounds: 2,
        }
    }
}

/// A model a plan trains, by registry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Toppop,
    I2i,
    Ucf,
    Als,
    Mf,
    /// MF with item features (`train.mf_features`), tuned by `train.mf_search` trials.
    MfFeatures,
    /// The neural contextual item-to-item model (`train.contextual`).
    Contextual,
    /// The same model learning each listen's time against the session's first track
    /// (`train.contextual` with `context = "anchor"`): the lists session_anchor walks.
    ContextualAnchor,
    /// item2vec neighbours (`train.item2vec`).
    Item2vec,
    /// Artist taste vectors learned against the session's first track (`train.taste`), for
    /// `session_taste`.
    Taste,
    /// EASE per-user lists (`train.ease`).
    Ease,
    /// IPS-debiased MF per-user lists (`train.ips`).
    Ips,
    /// LightGCN per-user lists (`train.lightgcn`).
    Lightgcn,
    /// SASRec per-track lists (`train.sasrec`).
    Sasrec,
    /// The two-tower DSSM (`train.dssm`).
    Dssm,
    /// DIFM re-ranking MF's lists (`train.difm`; needs `mf` earlier in `models`).
    Difm,
    /// DPP diversity re-ranking of `train.dpp_source`'s lists (`train.dpp`; the source must come
    /// earlier in `models`).
    Dpp,
}

impl Model {
    /// Where the model's recommendations go, relative to the run directory.
    pub fn file(self) -> &'static str {
        match self {
            Model::Toppop => "models/top_tracks.json",
            Model::I2i => "models/i2i.jsonl",
            Model::Ucf => "models/ucf.jsonl",
            Model::Als => "models/als.jsonl",
            Model::Mf => "models/mf.jsonl",
            Model::MfFeatures => "models/mf_features.jsonl",
            Model::Contextual => "models/i2i_nn.jsonl",
            Model::ContextualAnchor => "models/i2i_anchor.jsonl",
            Model::Item2vec => "models/item2vec.jsonl",
            Model::Taste => "models/taste.jsonl",
            Model::Ease => "models/ease.jsonl",
            Model::Ips => "models/ips.jsonl",
            Model::Lightgcn => "models/lightgcn.jsonl",
            Model::Sasrec => "models/sasrec.jsonl",
            Model::Dssm => "models/dssm.jsonl",
            Model::Difm => "models/difm.jsonl",
            Model::Dpp => "models/dpp.jsonl",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainPlan {
    pub models: Vec<Model>,
    /// Tracks per list.
    pub k: usize,
    pub threshold: f32,
    pub factors: usize,
    pub als_iterations: usize,
    pub mf_epochs: usize,
    /// Item features of `mf_features` (artist, genre, pop, duration).
    pub mf_features: Vec<mf::Feature>,
    /// Random-search trials for `mf_features` (0: the default parameters), scored on the last
    /// 20% of day 1; the best is then trained on all of it.
    pub mf_search: usize,
    /// The contextual model's parameters (dim, similarity, loss, epochs, …).
    pub contextual: botify_neural::contextual::Params,
    /// item2vec's parameters (dim, window, negatives, epochs, the sentences' threshold, …).
    pub item2vec: item2vec::Params,
    /// The taste model's parameters (dim, epochs, learning rate, l2, min_count).
    pub taste: taste::Params,
    /// EASE's parameters (l2, max_items); its threshold is `threshold`.
    pub ease: ease::Params,
    /// IPS-debiased MF's parameters (factors, iterations, regularization, max_weight); its threshold
    /// is `threshold`.
    pub ips: ips::Params,
    /// LightGCN's parameters (dim, layers, epochs, batch, learning_rate, l2); its threshold is
    /// `threshold`.
    pub lightgcn: lightgcn::Params,
    /// SASRec's parameters (dim, blocks, max_len, epochs, batch, negatives, …).
    pub sasrec: botify_neural::sasrec::Params,
    /// The DSSM's parameters (dim, epochs, batch, temperature, …).
    pub dssm: botify_neural::dssm::Params,
    /// DIFM's parameters (dim, heads, hidden, components, positive, negative, …).
    pub difm: botify_neural::difm::Params,
    /// DPP re-ranking's parameters (depth, theta, artist, genre).
    pub dpp: dpp::Params,
    /// The model whose lists `dpp` re-ranks.
    pub dpp_source: Model,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbPlan {
    pub days: u32,
    pub episodes: usize,
    pub control: RecommenderSpec,
    /// T1, T2, … in order. Data files are relative to the run directory (`models/als.jsonl`).
    pub treatments: Vec<RecommenderSpec>,
    pub confidence: f64,
    /// The relative effect's interval: "delta" (default) or "course".
    pub interval: botify_ab::stats::IntervalMethod,
    /// Multiplicity correction over every (treatment, metric) pair: "maxt" (default), "holm",
    /// "bh" or "none".
    pub correction: botify_ab::stats::Correction,
    /// Guardrails as `METRIC:MARGIN`, e.g. `["mean_request_latency:50%"]`.
    pub guardrails: Vec<botify_ab::report::Guardrail>,
}

fn sticky() -> RecommenderSpec {
    RecommenderSpec::StickyArtist { fallback: None }
}

/// The session-anchored policy over a per-track list file, its default rules, StickyArtist after.
fn session_anchor(file: &str) -> RecommenderSpec {
    with_sticky(|fallback| RecommenderSpec::SessionAnchor {
        file: file.into(),
        liked: botify_core::defaults::LIKED,
        artist_plays: 1,
        skipped: 0.3,
        skip_depth: 0,
        fusion: 0.0,
        fallback,
    })
}

/// `session_taste` over an artist taste file with its default rules, handing the session to
/// `fallback` after `switch` skips in a row (0: only where it has no answer).
fn session_taste(file: &str, switch: u32, fallback: RecommenderSpec) -> RecommenderSpec {
    RecommenderSpec::SessionTaste {
        file: file.into(),
        feedback: 1.0,
        like: 0.5,
        artist_plays: 1,
        recall: 0.5,
        switch,
        fallback: Some(Box::new(fallback)),
    }
}

fn with_sticky(f: impl FnOnce(Option<Box<RecommenderSpec>>) -> RecommenderSpec) -> RecommenderSpec {
    f(Some(Box::new(sticky())))
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            name: "default".into(),
            seed: botify_core::defaults::SEED,
            world: WorldPlan::default(),
            day1: Day1::default(),
            day2: Day2::default(),
            train: TrainPlan::default(),
            ab: AbPlan::default(),
        }
    }
}

impl Default for WorldPlan {
    fn default() -> Self {
        let d = WorldParams::default();
        WorldPlan {
            dir: None,
            tracks: d.tracks,
            users: d.users,
            dim: d.dim,
        }
    }
}

impl Default for Day1 {
    fn default() -> Self {
        Day1 {
            episodes: 60_000,
            recommenders: vec![RecommenderSpec::Random {}, sticky()],
        }
    }
}

impl Default for TrainPlan {
    fn default() -> Self {
        TrainPlan {
            models: vec![
                Model::Toppop,
                Model::I2i,
                Model::Ucf,
                Model::Als,
                Model::Mf,
                Model::Contextual,
                Model::ContextualAnchor,
                Model::Taste,
            ],
            k: 100,
            threshold: botify_core::defaults::LIKED,
            factors: 64,
            als_iterations: 8,
            mf_epochs: 10,
            mf_features: vec![
                mf::Feature::Artist,
                mf::Feature::Genre,
                mf::Feature::Pop,
                mf::Feature::Duration,
            ],
            mf_search: 0,
            contextual: botify_neural::contextual::Params::default(),
            item2vec: item2vec::Params::default(),
            taste: taste::Params::default(),
            ease: ease::Params::default(),
            ips: ips::Params::default(),
            lightgcn: lightgcn::Params::default(),
            sasrec: botify_neural::sasrec::Params::default(),
            dssm: botify_neural::dssm::Params::default(),
            difm: botify_neural::difm::Params::default(),
            dpp: dpp::Params::default(),
            dpp_source: Model::Als,
        }
    }
}

impl Default for AbPlan {
    fn default() -> Self {
        AbPlan {
            days: 1,
            episodes: 40_000,
            control: sticky(),
            treatments: vec![
                with_sticky(|fallback| RecommenderSpec::HistoryI2i {
                    file: "models/i2i.jsonl".into(),
                    anchors: 10,
                    heard: 50,
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Sequential {
                    file: "models/ucf.jsonl".into(),
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Sequential {
                    file: "models/als.jsonl".into(),
                    fallback,
                }),
                // Artists ranked against the session's taste, which its listens move; after a
                // skip, T9's policy answers until a listen is liked.
                session_taste(
                    "models/taste.jsonl",
                    1,
                    session_anchor("models/i2i_anchor.jsonl"),
                ),
                with_sticky(|fallback| RecommenderSpec::Sequential {
                    file: "models/mf.jsonl".into(),
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::TopPop {
                    file: "models/top_tracks.json".into(),
                    k: 100,
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Contextual {
                    file: "models/i2i_nn.jsonl".into(),
                    fallback,
                }),
                // The same neighbours, anchored on the session's first track.
                session_anchor("models/i2i_nn.jsonl"),
                // Neighbours learned against the session's first track, walked the same way
                // (issue 18's recommender; day 2's policy).
                session_anchor("models/i2i_anchor.jsonl"),
            ],
            confidence: 0.95,
            interval: Default::default(),
            correction: Default::default(),
            guardrails: Vec::new(),
        }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

impl Plan {
    /// Reads a plan file; the error names the file and the bad field.
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| invalid(format!("{}: bad plan: {e}", path.display())))
    }

    /// The plan as TOML (what `botify experiment default` prints and a run saves).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| invalid(format!("plan as TOML: {e}")))
    }

    /// The world generator's parameters of a plan without `world.dir`.
    pub fn world_params(&self) -> WorldParams {
        WorldParams {
            tracks: self.world.tracks,
            users: self.world.users,
            dim: self.world.dim,
            seed: self.seed,
            ..WorldParams::default()
        }
    }

    /// What the models share (list length, positive threshold, metric cut-off).
    pub fn settings(&self) -> Settings {
        Settings {
            k: self.train.k,
            threshold: self.train.threshold,
            eval_k: Settings::default().eval_k,
        }
    }

    /// The registry entry of `model` with this plan's parameters; data files under `run`.
    pub fn model_spec(&self, model: Model, run: &Path) -> ModelSpec {
        let t = &self.train;
        let seed = self.seed;
        let mf = |features: Vec<mf::Feature>| mf::Params {
            factors: t.factors,
            epochs: t.mf_epochs,
            threshold: t.threshold,
            features,
            seed,
            ..Default::default()
        };
        match model {
            Model::Toppop => ModelSpec::Toppop,
            Model::I2i => ModelSpec::I2i(i2i::Params {
                k: t.k.min(50),
                threshold: t.threshold,
                ..Default::default()
            }),
            Model::Ucf => ModelSpec::Ucf(ucf::Params {
                neighbours: 50,
                k: t.k,
            }),
            Model::Als => ModelSpec::Als(als::Params {
                factors: t.factors,
                iterations: t.als_iterations,
                threshold: t.threshold,
                seed,
                ..Default::default()
            }),
            Model::Mf => ModelSpec::Mf(MfSpec {
                params: mf(Vec::new()),
                search: 0,
            }),
            Model::MfFeatures => ModelSpec::Mf(MfSpec {
                params: mf(t.mf_features.clone()),
                search: t.mf_search,
            }),
            Model::Contextual => ModelSpec::Contextual(botify_neural::contextual::Params {
                seed,
                ..t.contextual.clone()
            }),
            Model::ContextualAnchor => ModelSpec::Contextual(botify_neural::contextual::Params {
                seed,
                context: botify_neural::contextual::Context::Anchor,
                ..t.contextual.clone()
            }),
            Model::Sasrec => ModelSpec::Sasrec(botify_neural::sasrec::Params { seed, ..t.sasrec }),
            Model::Lightgcn => ModelSpec::Lightgcn(lightgcn::Params {
                threshold: t.threshold,
                seed,
                ..t.lightgcn
            }),
            Model::Ips => ModelSpec::Ips(ips::Params {
                threshold: t.threshold,
                seed,
                ..t.ips
            }),
            Model::Ease => ModelSpec::Ease(ease::Params {
                threshold: t.threshold,
                ..t.ease
            }),
            Model::Item2vec => ModelSpec::Item2vec(item2vec::Params { seed, ..t.item2vec }),
            Model::Taste => ModelSpec::Taste(taste::Params { seed, ..t.taste }),
            Model::Dssm => ModelSpec::Dssm(botify_neural::dssm::Params {
                seed,
                ..t.dssm.clone()
            }),
            Model::Dpp => ModelSpec::Dpp(DppSpec {
                params: t.dpp,
                candidates: run.join(t.dpp_source.file()),
            }),
            Model::Difm => ModelSpec::Difm(DifmSpec {
                params: botify_neural::difm::Params {
                    seed,
                    ..t.difm.clone()
                },
                candidates: run.join(Model::Mf.file()),
            }),
        }
    }

    /// Everything that can be checked before anything runs; errors name the field.
    /// The models whose files the collection days after day 1 serve, in `train.models` order.
    pub fn day2_models(&self) -> Vec<Model> {
        let files: Vec<PathBuf> = self
            .day2
            .recommenders
            .iter()
            .flat_map(RecommenderSpec::files)
            .collect();
        self.train
            .models
            .iter()
            .copied()
            .filter(|m| files.iter().any(|f| f == Path::new(m.file())))
            .collect()
    }

    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains('/') {
            return Err(invalid(format!(
                "name: {:?} must be non-empty and contain no '/'",
                self.name
            )));
        }
        if self.world.dir.is_none() {
            self.world_params()
                .validate()
                .map_err(|e| invalid(format!("world: {e}")))?;
        }
        if self.day1.episodes == 0
            || self.day1.recommenders.is_empty()
            || self.day1.recommenders.len() > 10
        {
            return Err(invalid("day1: needs episodes > 0 and 1 to 10 recommenders"));
        }
        if self.day2.runs()
            && (self.day2.recommenders.is_empty() || self.day2.recommenders.len() > 10)
        {
            return Err(invalid(
                "day2: with episodes > 0, needs 1 to 10 recommenders",
            ));
        }
        if self.ab.episodes == 0 || self.ab.days == 0 {
            return Err(invalid("ab: episodes and days must be at least 1"));
        }
        if self.ab.treatments.is_empty() || self.ab.treatments.len() > 9 {
            return Err(invalid(
                "ab.treatments: between 1 and 9 treatments (with the control, at most 10 buckets)",
            ));
        }
        if !(self.ab.confidence > 0.0 && self.ab.confidence < 1.0) {
            return Err(invalid(format!(
                "ab.confidence: {} is not in (0, 1)",
                self.ab.confidence
            )));
        }
        if self.train.k == 0 || self.train.factors == 0 {
            return Err(invalid("train: k and factors must be at least 1"));
        }
        self.settings()
            .validate()
            .map_err(|e| invalid(format!("train: {e}")))?;
        let models = &self.train.models;
        for (at, &m) in models.iter().enumerate() {
            self.model_spec(m, Path::new("."))
                .validate()
                .map_err(|e| invalid(format!("train.models[{at}]: {e}")))?;
            if m == Model::Difm && !models[..at].contains(&Model::Mf) {
                return Err(invalid(
                    "train.models: difm re-ranks mf's lists, so mf must come before difm",
                ));
            }
            if m == Model::Dpp {
                let source = self.train.dpp_source;
                if matches!(source, Model::Toppop | Model::Dpp) {
                    return Err(invalid(format!(
                        "train.dpp_source: dpp re-ranks per-user or per-track lists, not {source:?}'s output"
                    )));
                }
                if !models[..at].contains(&source) {
                    return Err(invalid(format!(
                        "train.models: dpp re-ranks {source:?}'s lists (train.dpp_source), so it must come before dpp"
                    )));
                }
            }
        }
        let produced: Vec<&str> = models.iter().map(|m| m.file()).collect();
        let day2 = if self.day2.runs() {
            &self.day2.recommenders[..]
        } else {
            &[]
        };
        let specs = std::iter::once(("ab.control".to_string(), &self.ab.control))
            .chain(
                self.ab
                    .treatments
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (format!("ab.treatments[{i}]"), t)),
            )
            .chain(
                day2.iter()
                    .enumerate()
                    .map(|(i, r)| (format!("day2.recommenders[{i}]"), r)),
            );
        for (what, spec) in specs {
            for f in spec.files() {
                let rel = f.to_string_lossy();
                if f.is_relative() && !produced.contains(&rel.as_ref()) {
                    return Err(invalid(format!(
                        "{what}: file {rel:?} is not produced by train.models {:?} (outputs: {})",
                        models,
                        produced.join(", ")
                    )));
                }
                if f.is_absolute() && !f.exists() {
                    return Err(invalid(format!(
                        "{what}: data file {} does not exist",
                        f.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_plan_is_valid_and_round_trips_through_toml() {
        let p = Plan::default();
        p.validate().unwrap();
        let back: Plan = toml::from_str(&p.to_toml().unwrap()).unwrap();
        assert_eq!(back.to_toml().unwrap(), p.to_toml().unwrap());
    }

    #[test]
    fn a_plan_file_without_day2_runs_none_and_the_default_plan_runs_one() {
        let p: Plan = toml::from_str("name = \"x\"\n").unwrap();
        assert!(!p.day2.runs());
        p.validate().unwrap();
        assert!(Plan::default().day2.runs());
        let p: Plan = toml::from_str("[day2]\nepisodes = 500\n").unwrap();
        assert_eq!(p.day2.episodes, 500);
        assert_eq!(p.day2.recommenders.len(), 2);
    }

    #[test]
    fn bad_plans_name_the_field() {
        type Edit = fn(&mut Plan);
        let cases: [(&str, Edit); 9] = [
            ("ab.confidence", |p| p.ab.confidence = 1.0),
            ("ab: episodes", |p| p.ab.days = 0),
            ("train.models[", |p| p.train.contextual.epochs = 0),
            ("mf must come before difm", |p| {
                p.train.models = vec![Model::Difm, Model::Mf]
            }),
            ("ab.treatments[0]", |p| {
                p.train.models = vec![Model::Toppop];
            }),
            ("train: threshold", |p| p.train.threshold = f32::NAN),
            ("must come before dpp", |p| {
                p.train.models = vec![Model::Dpp, Model::Als]
            }),
            ("day2: with episodes > 0", |p| p.day2.recommenders.clear()),
            (
                "day2.recommenders[0]: file \"models/i2i_anchor.jsonl\"",
                |p| {
                    p.train.models.retain(|&m| m != Model::ContextualAnchor);
                    p.ab.treatments.truncate(1);
                },
            ),
        ];
        for (want, edit) in cases {
            let mut p = Plan::default();
            edit(&mut p);
            let e = p.validate().unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} not in {e:?}");
        }
    }

    #[test]
    fn ab_statistics_settings_read_write_and_refuse_nonsense() {
        let toml_text = "[ab]\ninterval = \"course\"\ncorrection = \"bh\"\nguardrails = [\"mean_request_latency:50%\"]\n";
        let p: Plan = toml::from_str(toml_text).unwrap();
        assert_eq!(p.ab.interval, botify_ab::stats::IntervalMethod::Course);
        assert_eq!(p.ab.correction, botify_ab::stats::Correction::Bh);
        assert!((p.ab.guardrails[0].margin - 0.5).abs() < 1e-12);
        let back: Plan = toml::from_str(&p.to_toml().unwrap()).unwrap();
        assert_eq!(back.ab.guardrails, p.ab.guardrails);
        for (bad, says) in [
            ("[ab]\ninterval = \"wide\"\n", "wide"),
            ("[ab]\nguardrails = [\"latency\"]\n", "METRIC:MARGIN"),
            ("[ab]\nguardrails = [\"nope:5%\"]\n", "unknown metric"),
        ] {
            let e = toml::from_str::<Plan>(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = toml::from_str::<Plan>("[train]\nmodles = []\n").unwrap_err();
        assert!(e.to_string().contains("modles"), "{e}");
    }
}
