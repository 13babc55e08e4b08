//! The model registry. Each model is one file here implementing [`Model`] — its parameters
//! (declared once with `botify_core::params!`, usually in the library that trains it), what it
//! needs and how it fits — and one line of [`REGISTRY`]. `botify train <model>`, a plan's
//! `[train.<model>]` table, `botify.train.<model>` in Python and docs/parameters.md are all made
//! from that line; CONTRIBUTING.md, "Adding a model", walks through it.

mod fitting;
pub mod reference;

pub use crate::curve::with_suffix;
pub use fitting::{
    CURVE_USERS, DEFAULT_EVAL_K, DEFAULT_K, Settings, TrainData, Trained, candidate_lists,
};

use crate::observer::Observer;
use crate::{Error, Result};
use botify_core::params::{Field, Schema};
use serde_json::{Map, Value};
use std::path::Path;

/// Declares each model's module (`models/<module>.rs`) and lists it in [`REGISTRY`]: adding a
/// model is its file and one line here.
macro_rules! registry {
    ($($module:ident :: $model:ident),* $(,)?) => {
        $(mod $module;)*

        /// Every trainable model, in the order `botify train --help` lists them.
        pub static REGISTRY: &[&dyn Trainer] = &[$(&$module::$model),*];
    };
}

registry! {
    toppop::TopPop,
    i2i::I2i,
    ucf::Ucf,
    rp3beta::Rp3beta,
    mf::Mf,
    als::Als,
    ease::Ease,
    ips::Ips,
    lightgcn::LightGcn,
    sasrec::SasRec,
    contextual::Contextual,
    item2vec::Item2vec,
    taste::Taste,
    dssm::Dssm,
    difm::Difm,
    dpp::Dpp,
}

botify_core::params! {
    /// No parameters besides the library's.
    pub struct NoInputs {}
}

/// A trainable model (one file under `models/`, one line of [`REGISTRY`]).
pub trait Model: Sync + 'static {
    /// The library's parameters.
    type Params: Schema;
    /// The run's own parameters beside them: files it reads (a re-ranker's candidates), a
    /// search budget. [`NoInputs`] when there are none.
    type Inputs: Schema;
    /// `botify train <NAME>`, `botify.train.<NAME>`, a plan's `train.models` entry.
    const NAME: &'static str;
    /// One line: what it learns and what it writes.
    const ABOUT: &'static str;
    /// Its output's file name in a run's `models/` directory.
    const FILE: &'static str;
    /// Measured on the caller's holdout; a model that holds out its own validation data, or
    /// writes no lists to score, trains on every listen it is given.
    const USES_HOLDOUT: bool = true;

    /// Whether these parameters need the catalogue (track metadata as features).
    fn needs_catalog(_: &Self::Params) -> bool {
        false
    }

    /// Checks beyond each field's own range (e.g. one field against another).
    fn validate(p: &Self::Params) -> Result<()> {
        p.check().map_err(Error::Invalid)
    }

    /// Trains on `data` and writes the output to `out` (curves, weights beside it).
    fn fit(
        p: &Self::Params,
        inputs: &Self::Inputs,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained>;
}

/// A [`Model`] behind a name: parameters travel as a map of values (from flags, a plan table or
/// Python keywords) and become the model's typed structs only here.
pub trait Trainer: Sync {
    fn name(&self) -> &'static str;
    fn about(&self) -> &'static str;
    fn file(&self) -> &'static str;
    fn uses_holdout(&self) -> bool;
    /// The inputs' fields, then the parameters'.
    fn fields(&self) -> Vec<&'static Field>;
    /// Every field's default.
    fn defaults(&self) -> Map<String, Value>;
    /// Checks `given` (unknown names, ranges, cross-field rules) with the shared settings.
    fn check(&self, given: &Map<String, Value>, s: &Settings) -> Result<()>;
    fn needs_catalog(&self, given: &Map<String, Value>, s: &Settings) -> Result<bool>;
    fn fit(
        &self,
        given: &Map<String, Value>,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained>;
}

/// The typed parameters of `M` from `given`: shared fields take the settings' values unless
/// given; an unknown name is an error that lists the model's.
fn resolve<M: Model>(given: &Map<String, Value>, s: &Settings) -> Result<(M::Params, M::Inputs)> {
    let invalid = |e: String| Error::Invalid(format!("{}: {e}", M::NAME));
    let is_input = |k: &str| M::Inputs::FIELDS.iter().any(|f| f.name == k);
    let is_param = |k: &str| M::Params::FIELDS.iter().any(|f| f.name == k);
    if let Some(k) = given.keys().find(|k| !is_input(k) && !is_param(k)) {
        let known: Vec<&str> = M::Inputs::FIELDS
            .iter()
            .chain(M::Params::FIELDS)
            .map(|f| f.name)
            .collect();
        return Err(invalid(if known.is_empty() {
            format!("no parameter {k:?}: it takes none")
        } else {
            format!("no parameter {k:?}; its parameters: {}", known.join(", "))
        }));
    }
    let (inputs, mut params): (Map<String, Value>, Map<String, Value>) = given
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| is_input(k));
    for f in M::Params::FIELDS {
        if let Some(setting) = f.rule.shared {
            params.entry(f.name).or_insert_with(|| s.value(setting));
        }
    }
    let p = M::Params::from_map(params).map_err(invalid)?;
    let i = M::Inputs::from_map(inputs).map_err(invalid)?;
    i.check().map_err(invalid)?;
    M::validate(&p).map_err(|e| invalid(e.to_string()))?;
    Ok((p, i))
}

impl<M: Model> Trainer for M {
    fn name(&self) -> &'static str {
        M::NAME
    }
    fn about(&self) -> &'static str {
        M::ABOUT
    }
    fn file(&self) -> &'static str {
        M::FILE
    }
    fn uses_holdout(&self) -> bool {
        M::USES_HOLDOUT
    }
    fn fields(&self) -> Vec<&'static Field> {
        M::Inputs::FIELDS.iter().chain(M::Params::FIELDS).collect()
    }
    fn defaults(&self) -> Map<String, Value> {
        let mut m = M::Inputs::default().to_map();
        m.extend(M::Params::default().to_map());
        m
    }
    fn check(&self, given: &Map<String, Value>, s: &Settings) -> Result<()> {
        resolve::<M>(given, s).map(|_| ())
    }
    fn needs_catalog(&self, given: &Map<String, Value>, s: &Settings) -> Result<bool> {
        resolve::<M>(given, s).map(|(p, _)| M::needs_catalog(&p))
    }
    fn fit(
        &self,
        given: &Map<String, Value>,
        data: &TrainData,
        out: &Path,
        obs: &dyn Observer,
    ) -> Result<Trained> {
        let (p, i) = resolve::<M>(given, &data.settings)?;
        M::fit(&p, &i, data, out, obs)
    }
}

/// The registry entry called `name`; an unknown name is an error that lists them.
pub fn trainer(name: &str) -> Result<&'static dyn Trainer> {
    REGISTRY
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = REGISTRY.iter().map(|t| t.name()).collect();
            Error::Invalid(format!(
                "unknown model {name:?}; the models: {}",
                names.join(", ")
            ))
        })
}

/// A model and the parameters given for it (the rest take their defaults).
#[derive(Clone)]
pub struct ModelSpec {
    pub trainer: &'static dyn Trainer,
    pub params: Map<String, Value>,
}

impl std::fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.trainer.name(), self.params)
    }
}

impl ModelSpec {
    pub fn new(name: &str, params: Map<String, Value>) -> Result<ModelSpec> {
        Ok(ModelSpec {
            trainer: trainer(name)?,
            params,
        })
    }

    pub fn name(&self) -> &'static str {
        self.trainer.name()
    }

    /// Every parameter checked before any data is read; errors name the model and parameter.
    pub fn validate(&self, s: &Settings) -> Result<()> {
        self.trainer.check(&self.params, s)
    }

    pub fn needs_catalog(&self, s: &Settings) -> Result<bool> {
        self.trainer.needs_catalog(&self.params, s)
    }

    pub fn uses_holdout(&self) -> bool {
        self.trainer.uses_holdout()
    }
}

/// Trains `spec` on `data` and writes its output to `out` (with curves, weights and chosen
/// parameters beside it). The observer sees every step as it ends.
pub fn train(
    spec: &ModelSpec,
    data: &TrainData,
    out: &Path,
    obs: &dyn Observer,
) -> Result<Trained> {
    data.settings.validate()?;
    if spec.needs_catalog(&data.settings)? && data.catalog.is_none() {
        return Err(Error::Invalid(format!(
            "{} needs the catalogue: track metadata is one of its features",
            spec.name()
        )));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::create_dir(dir)?;
    }
    spec.trainer.fit(&spec.params, data, out, obs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_parameters_never_hide_a_shared_setting() {
        // Python and the CLI add these beside each model's own parameters.
        let common = [
            "logs",
            "out",
            "catalog",
            "holdout",
            "seed",
            "k",
            "threshold",
            "eval_k",
            "progress",
            "model",
        ];
        let mut names: Vec<&str> = REGISTRY.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        for t in REGISTRY {
            let mut seen = Vec::new();
            for f in t.fields() {
                assert!(!seen.contains(&f.name), "{}: {} twice", t.name(), f.name);
                seen.push(f.name);
                if f.rule.shared.is_none() {
                    assert!(
                        !common.contains(&f.name),
                        "{}: {} is a common argument",
                        t.name(),
                        f.name
                    );
                }
                assert!(!f.help().is_empty(), "{}: {} has no help", t.name(), f.name);
            }
            // The defaults are valid and complete.
            let defaults = t.defaults();
            assert_eq!(defaults.len(), t.fields().len(), "{}", t.name());
            let required = t.fields().iter().any(|f| f.rule.required);
            let s = Settings::default();
            assert_eq!(t.check(&Map::new(), &s).is_ok(), !required, "{}", t.name());
        }
    }

    #[test]
    fn unknown_models_and_parameters_are_named_with_the_known_ones() {
        let e = ModelSpec::new("alss", Map::new()).unwrap_err().to_string();
        assert!(e.contains("\"alss\"") && e.contains("toppop, i2i"), "{e}");
        let mut given = Map::new();
        given.insert("factorz".into(), Value::from(8));
        let spec = ModelSpec::new("als", given).unwrap();
        let e = spec.validate(&Settings::default()).unwrap_err().to_string();
        assert!(e.starts_with("als: no parameter \"factorz\""), "{e}");
        assert!(e.contains("factors, iterations"), "{e}");
        let mut given = Map::new();
        given.insert("factors".into(), Value::from(0));
        let e = ModelSpec::new("als", given)
            .unwrap()
            .validate(&Settings::default())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "als: factors 0 must be from 1 to 4096");
    }
}
