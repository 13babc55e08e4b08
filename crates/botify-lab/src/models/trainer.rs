//! The trait a model implements ([`Model`]) and the name-keyed face the registry keeps of it
//! ([`Trainer`]): parameters travel as maps of values and become the model's typed structs here.

use super::fitting::{Settings, TrainData, Trained};
use crate::observer::Observer;
use crate::{Error, Result};
use botify_core::params::{Field, Schema};
use serde_json::{Map, Value};
use std::path::Path;

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
