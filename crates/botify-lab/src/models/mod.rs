//! The model registry. Each model is one file here implementing [`Model`] — its parameters
//! (declared once with `botify_core::params!`, usually in the library that trains it), what it
//! needs and how it fits — and one line of [`REGISTRY`]. `botify train <model>`, a plan's
//! `[train.<model>]` table, `botify.train.<model>` in Python and docs/parameters.md are all made
//! from that line; CONTRIBUTING.md, "Adding a model", walks through it.

mod fitting;
pub mod reference;
mod trainer;

pub use crate::curve::with_suffix;
pub use fitting::{
    CURVE_USERS, DEFAULT_EVAL_K, DEFAULT_K, Settings, TrainData, Trained, candidate_lists,
};
pub use trainer::{Model, NoInputs, Trainer};

use crate::observer::Observer;
use crate::{Error, Result};
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
    memory::Memory,
    dssm::Dssm,
    difm::Difm,
    dpp::Dpp,
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
