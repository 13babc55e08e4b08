//! A plan: what one run of the whole loop does — the world, the cold-start day, the models to
//! train, the A/B days. TOML on disk; every field has a default (`botify experiment default`
//! prints them), unknown fields are errors, and [`Plan::validate`] checks everything that can be
//! checked before anything runs.

use crate::models::{self, ModelSpec, Settings};
use crate::{Error, Result};
use botify_core::dynamics::Dynamics;
use botify_core::generate::WorldParams;
use botify_core::params::Kind;
use botify_recs::baseline::Walk;
use botify_recs::spec::RecommenderSpec;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
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
    /// Listener dynamics of the generated world (`[world.dynamics]`; all off by default, see
    /// docs/dynamics.md). A world from `dir` has its own (`dynamics.json`).
    #[serde(skip_serializing_if = "Dynamics::is_off")]
    pub dynamics: Dynamics,
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

/// The models a run trains. `models` names them in order; `[train.<name>]` holds each one's
/// parameters (docs/parameters.md), plus `model` — the registry name, when `<name>` is not one
/// (one model trained twice under two names) — and `out`, its file in the run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainPlan {
    pub models: Vec<String>,
    /// Tracks per list (every model's `k` unless its table sets one).
    pub k: usize,
    /// A listen at least this long is liked (every model's `threshold` unless its table sets one).
    pub threshold: f32,
    /// `[train.<name>]` tables by name.
    pub tables: BTreeMap<String, Map<String, Value>>,
}

/// One entry of `train.models`: what it trains and where it writes.
#[derive(Debug, Clone)]
pub struct PlannedModel {
    pub name: String,
    pub spec: ModelSpec,
    /// Relative to the run directory.
    pub out: PathBuf,
}

impl TrainPlan {
    /// The entry `name` of `train.models` with its table; input files (a re-ranker's candidates)
    /// resolved under `run`.
    pub fn model(&self, name: &str, run: &Path) -> Result<PlannedModel> {
        let mut table = self.tables.get(name).cloned().unwrap_or_default();
        let text = |v: Value, key: &str| match v {
            Value::String(s) => Ok(s),
            other => Err(invalid(format!(
                "train.{name}.{key}: {other} is not a string"
            ))),
        };
        let registry_name = match table.remove("model") {
            Some(v) => text(v, "model")?,
            None => name.to_string(),
        };
        let trainer = models::trainer(&registry_name).map_err(|e| {
            invalid(format!(
                "train.{name}: {e} (name a registry model with `model = \"...\"` in [train.{name}])"
            ))
        })?;
        let out = match table.remove("out") {
            Some(v) => PathBuf::from(text(v, "out")?),
            None if registry_name == name => Path::new("models").join(trainer.file()),
            None => {
                let ext = Path::new(trainer.file())
                    .extension()
                    .and_then(|e| e.to_str())
                    .unwrap_or("jsonl");
                Path::new("models").join(format!("{name}.{ext}"))
            }
        };
        for f in trainer.fields() {
            if let (Kind::Path, Some(Value::String(p))) = (f.kind, table.get_mut(f.name))
                && Path::new(p.as_str()).is_relative()
            {
                *p = run.join(p.as_str()).to_string_lossy().into_owned();
            }
        }
        Ok(PlannedModel {
            name: name.to_string(),
            spec: ModelSpec {
                trainer,
                params: table,
            },
            out,
        })
    }

    /// The table a plan prints for a model: its every parameter but the shared settings'.
    pub fn full_table(
        model: &str,
        overrides: &[(&str, Value)],
    ) -> BTreeMap<String, Map<String, Value>> {
        let registry_name = overrides
            .iter()
            .find(|(k, _)| *k == "model")
            .and_then(|(_, v)| v.as_str())
            .unwrap_or(model);
        let mut table = Map::new();
        if let Ok(t) = models::trainer(registry_name) {
            let defaults = t.defaults();
            for f in t.fields() {
                if let (None, false, Some(v)) =
                    (f.rule.shared, f.rule.required, defaults.get(f.name))
                {
                    table.insert(f.name.to_string(), v.clone());
                }
            }
        }
        for (k, v) in overrides {
            table.insert(k.to_string(), v.clone());
        }
        BTreeMap::from([(model.to_string(), table)])
    }
}

impl Serialize for TrainPlan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(3 + self.tables.len()))?;
        m.serialize_entry("models", &self.models)?;
        m.serialize_entry("k", &self.k)?;
        m.serialize_entry("threshold", &self.threshold)?;
        for (name, table) in &self.tables {
            m.serialize_entry(name, table)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for TrainPlan {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut raw = Map::<String, Value>::deserialize(d)?;
        let mut plan = TrainPlan::default();
        plan.tables.clear();
        let defaults = default_tables();
        if let Some(v) = raw.remove("models") {
            plan.models = serde_json::from_value(v)
                .map_err(|e| D::Error::custom(format!("train.models: {e}")))?;
        }
        if let Some(v) = raw.remove("k") {
            plan.k =
                serde_json::from_value(v).map_err(|e| D::Error::custom(format!("train.k: {e}")))?;
        }
        if let Some(v) = raw.remove("threshold") {
            plan.threshold = serde_json::from_value(v)
                .map_err(|e| D::Error::custom(format!("train.threshold: {e}")))?;
        }
        let mut given = BTreeMap::new();
        for (key, v) in raw {
            match v {
                Value::Object(table) => {
                    given.insert(key, table);
                }
                _ => {
                    return Err(D::Error::custom(format!(
                        "unknown field `{key}` in [train]: it takes models, k, threshold and a [train.<model>] table per model (docs/parameters.md)"
                    )));
                }
            }
        }
        // Each listed model: the default plan's table (or the registry's defaults), then what
        // the plan's own table sets.
        for name in &plan.models {
            let own = given.remove(name).unwrap_or_default();
            let mut table = defaults.get(name).cloned().unwrap_or_else(|| {
                let model: Vec<(&str, Value)> = own
                    .get("model")
                    .map(|m| ("model", m.clone()))
                    .into_iter()
                    .collect();
                TrainPlan::full_table(name, &model)
                    .remove(name)
                    .unwrap_or_default()
            });
            table.extend(own);
            plan.tables.insert(name.clone(), table);
        }
        // A table for a model the plan does not train is ignored (switched off); one that names
        // no model at all is a typo.
        if let Some(name) = given
            .keys()
            .find(|n| models::trainer(n).is_err() && !defaults.contains_key(n.as_str()))
        {
            return Err(D::Error::custom(format!(
                "[train.{name}]: {name:?} is neither in train.models {:?} nor a model's name",
                plan.models
            )));
        }
        Ok(plan)
    }
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
        like_weight: 0.0,
        artist_plays: 1,
        recall: 0.5,
        switch,
        memory: None,
        openers: None,
        stay: false,
        auto_like: false,
        fallback: Some(Box::new(fallback)),
    }
}

/// `spec` (a `session_taste`) recalling each user's logged sessions from the `memory` file too
/// (only tracks listened to at least 0.8), holding each listen to the session's mean so far
/// (`like_weight` 3) and its first artist's `typical` time (`auto_like`), staying with that
/// artist while it holds up, then serving what the same listeners opened sessions on with the
/// first track (`openers`; docs/models.md, "Closer to the oracle on every world").
fn remembering(mut spec: RecommenderSpec, file: &str, opener_lists: &str) -> RecommenderSpec {
    if let RecommenderSpec::SessionTaste {
        memory,
        openers,
        recall,
        like_weight,
        stay,
        auto_like,
        ..
    } = &mut spec
    {
        *memory = Some(file.into());
        *openers = Some(opener_lists.into());
        *recall = 0.8;
        *like_weight = 3.0;
        *stay = true;
        *auto_like = true;
    }
    spec
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
            dynamics: d.dynamics,
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

/// The default plan's own choices beyond the registry's defaults, for every model name it knows
/// (listed by default or not): i2i keeps 50 neighbours, ALS 8 iterations, MF 10 epochs (as the
/// course's seminars); `mf_features` is MF with every item feature; `contextual_anchor` is the
/// contextual model learned against the session's first track (session_anchor's lists);
/// `openers` is i2i over the tracks that opened one listener's sessions, the 6 shared by most
/// listeners and at least 3 (session_taste's `openers`); DIFM re-ranks MF's lists and DPP ALS's.
/// A plan's `[train.<name>]` table is applied over these.
fn default_tables() -> BTreeMap<String, Map<String, Value>> {
    let features = Value::from(vec!["artist", "genre", "pop", "duration"]);
    let overrides: [(&str, Vec<(&str, Value)>); 13] = [
        ("toppop", vec![]),
        ("i2i", vec![("k", Value::from(50))]),
        ("ucf", vec![]),
        ("als", vec![("iterations", Value::from(8))]),
        ("mf", vec![("epochs", Value::from(10))]),
        (
            "mf_features",
            vec![
                ("model", Value::from("mf")),
                ("epochs", Value::from(10)),
                ("features", features),
            ],
        ),
        ("contextual", vec![]),
        (
            "contextual_anchor",
            vec![
                ("model", Value::from("contextual")),
                ("out", Value::from("models/i2i_anchor.jsonl")),
                ("context", Value::from("anchor")),
            ],
        ),
        ("taste", vec![]),
        ("memory", vec![]),
        (
            "openers",
            vec![
                ("model", Value::from("i2i")),
                ("mode", Value::from("openers")),
                ("k", Value::from(6)),
                ("min_count", Value::from(3)),
            ],
        ),
        ("difm", vec![("candidates", Value::from("models/mf.jsonl"))]),
        ("dpp", vec![("candidates", Value::from("models/als.jsonl"))]),
    ];
    overrides
        .iter()
        .flat_map(|(m, o)| TrainPlan::full_table(m, o))
        .collect()
}

impl Default for TrainPlan {
    fn default() -> Self {
        let models = [
            "toppop",
            "i2i",
            "ucf",
            "als",
            "mf",
            "contextual",
            "contextual_anchor",
            "taste",
            "memory",
            "openers",
        ];
        let mut tables = default_tables();
        tables.retain(|name, _| models.contains(&name.as_str()));
        TrainPlan {
            models: models.iter().map(|m| m.to_string()).collect(),
            k: models::DEFAULT_K,
            threshold: botify_core::defaults::LIKED,
            tables,
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
                    walk: Walk::Course,
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Sequential {
                    file: "models/als.jsonl".into(),
                    walk: Walk::Course,
                    fallback,
                }),
                // Artists ranked against the session's taste, which its listens move, after what
                // the user liked in their logged sessions on the same artist; after a skip, T9's
                // policy answers until a listen is liked.
                remembering(
                    session_taste(
                        "models/taste.jsonl",
                        1,
                        session_anchor("models/i2i_anchor.jsonl"),
                    ),
                    "models/memory.jsonl",
                    "models/openers.jsonl",
                ),
                with_sticky(|fallback| RecommenderSpec::Sequential {
                    file: "models/mf.jsonl".into(),
                    walk: Walk::Course,
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
                // (day 2's policy).
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
            dynamics: self.world.dynamics.clone(),
            ..WorldParams::default()
        }
    }

    /// What the models share (list length, positive threshold, metric cut-off, seed).
    pub fn settings(&self) -> Settings {
        Settings {
            k: self.train.k,
            threshold: self.train.threshold,
            eval_k: Settings::default().eval_k,
            seed: self.seed,
        }
    }

    /// Every entry of `train.models`, in order; input files under `run`.
    pub fn models(&self, run: &Path) -> Result<Vec<PlannedModel>> {
        self.train
            .models
            .iter()
            .map(|m| self.train.model(m, run))
            .collect()
    }

    /// The entries whose files the collection days after day 1 serve, in `train.models` order.
    pub fn day2_models(&self, run: &Path) -> Result<Vec<PlannedModel>> {
        let files: Vec<PathBuf> = self
            .day2
            .recommenders
            .iter()
            .flat_map(RecommenderSpec::files)
            .collect();
        let mut all = self.models(run)?;
        all.retain(|m| files.contains(&m.out));
        Ok(all)
    }

    pub fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains('/') {
            return Err(invalid(format!(
                "name: {:?} must be non-empty and contain no '/'",
                self.name
            )));
        }
        if self.world.dir.is_some() && !self.world.dynamics.is_off() {
            return Err(invalid(
                "world.dynamics: a world read from world.dir has its own dynamics (its dynamics.json); set them there, or generate the world",
            ));
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
        let settings = self.settings();
        settings
            .validate()
            .map_err(|e| invalid(format!("train: {e}")))?;
        // Checked against paths as written: an input must be an earlier model's output.
        let here = Path::new("");
        let planned = self.models(here)?;
        let mut produced: Vec<String> = Vec::new();
        for (at, m) in planned.iter().enumerate() {
            let what = format!("train.models[{at}] ({})", m.name);
            m.spec
                .validate(&settings)
                .map_err(|e| invalid(format!("{what}: {e}")))?;
            for f in m.spec.trainer.fields() {
                let Some(Value::String(p)) = m.spec.params.get(f.name) else {
                    continue;
                };
                if f.kind == Kind::Path && Path::new(p).is_relative() && !produced.contains(p) {
                    return Err(invalid(format!(
                        "{what}: {} {p:?} is not written by an earlier model of train.models (they write: {})",
                        f.name,
                        if produced.is_empty() {
                            "nothing".into()
                        } else {
                            produced.join(", ")
                        }
                    )));
                }
            }
            let out = m.out.to_string_lossy().into_owned();
            if produced.contains(&out) {
                return Err(invalid(format!(
                    "{what}: {out} is written by an earlier model too; give one of them `out = \"...\"`"
                )));
            }
            produced.push(out);
        }
        let models = &self.train.models;
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
                if f.is_relative() && !produced.iter().any(|p| *p == rel) {
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
        let cases: [(&str, Edit); 10] = [
            ("ab.confidence", |p| p.ab.confidence = 1.0),
            ("ab: episodes", |p| p.ab.days = 0),
            ("train.models[5] (contextual): contextual: epochs 0", |p| {
                p.train
                    .tables
                    .get_mut("contextual")
                    .unwrap()
                    .insert("epochs".into(), Value::from(0));
            }),
            (
                "candidates \"models/mf.jsonl\" is not written by an earlier",
                |p| {
                    p.train.models = vec!["difm".into(), "mf".into()];
                    p.train.tables.insert(
                        "difm".into(),
                        Map::from_iter([("candidates".into(), Value::from("models/mf.jsonl"))]),
                    );
                },
            ),
            ("contextual: dim \"big\" must be a finite number", |p| {
                p.train
                    .tables
                    .get_mut("contextual")
                    .unwrap()
                    .insert("dim".into(), Value::from("big"));
            }),
            ("ab.treatments[0]", |p| {
                p.train.models = vec!["toppop".into()];
            }),
            ("train: threshold", |p| p.train.threshold = f32::NAN),
            ("unknown model \"alss\"", |p| {
                p.train.models.push("alss".into())
            }),
            ("day2: with episodes > 0", |p| p.day2.recommenders.clear()),
            (
                "day2.recommenders[0]: file \"models/i2i_anchor.jsonl\"",
                |p| {
                    p.train.models.retain(|m| m != "contextual_anchor");
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
    fn plan_tables_merge_over_the_defaults_and_stray_tables_are_refused() {
        let p: Plan = toml::from_str(
            "[train]\nmodels = [\"als\", \"ease\", \"mf_features\"]\n\
             [train.als]\nfactors = 32\n\
             [train.mf_features]\nmodel = \"mf\"\nfeatures = [\"artist\"]\nsearch = 2\n",
        )
        .unwrap();
        let als = &p.train.tables["als"];
        // The default plan's 8 iterations stay; the plan's factors win.
        assert_eq!(als["iterations"], Value::from(8));
        assert_eq!(als["factors"], Value::from(32));
        // A model the default plan does not train gets the registry's defaults.
        assert_eq!(p.train.tables["ease"]["max_items"], Value::from(3000));
        let planned = p.models(Path::new("/run")).unwrap();
        assert_eq!(planned[2].spec.name(), "mf");
        assert_eq!(planned[2].out, Path::new("models/mf_features.jsonl"));
        assert!(planned[2].spec.needs_catalog(&p.settings()).unwrap());
        let p: Plan =
            toml::from_str("[train]\nmodels = [\"als\"]\n[train.mf]\nepochs = 3\n").unwrap();
        assert!(!p.train.tables.contains_key("mf"));
        let e = toml::from_str::<Plan>("[train]\nmodels = [\"als\"]\n[train.alss]\nfactors = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[train.alss]") && e.contains("nor a model's name"),
            "{e}"
        );
        let e = toml::from_str::<Plan>("[train]\nmf_epochs = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("mf_epochs"), "{e}");
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
        let e = toml::from_str::<Plan>("[ab]\nepisodez = 3\n").unwrap_err();
        assert!(e.to_string().contains("episodez"), "{e}");
    }
}
