//! Experiments as configuration: names, bucket counts and, for the routing experiment, the
//! recommender each treatment serves. Users are split by the course's murmur3 rule.
//!
//! ```toml
//! route = "HW2"          # optional when only one experiment has treatments
//! history = 200          # listens kept per user
//!
//! [[experiment]]
//! name = "HW2"
//! buckets = 2
//! treatments.C = { type = "sticky_artist" }
//! treatments.T1 = { type = "indexed", file = "../data/recs.jsonl", fallback = { type = "random" } }
//!
//! [[experiment]]          # assignment only: logged, not routed
//! name = "AA"
//! buckets = 2
//! ```

use crate::spec::{Builder, Hosted, RecommenderSpec};
use crate::{Error, Recommender, Result};
use botify_core::murmur::{Splitter, treatment_bucket, treatment_name};
use botify_core::{Catalog, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

/// Listens kept per user. A session longer than this loses its start, and the session-aware
/// recommenders their anchor and which tracks were played: at 50, session_taste listened 16%
/// less per session on the default world (docs/models.md).
pub const DEFAULT_HISTORY: usize = 200;
/// Listens kept per user at most: the store's memory is users × history × 16 bytes.
pub const MAX_HISTORY: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentsConfig {
    /// The experiment whose treatments decide which recommender answers.
    #[serde(default)]
    pub route: Option<String>,
    /// Listens kept per user for the recommenders.
    #[serde(default = "default_history")]
    pub history: usize,
    #[serde(default, rename = "experiment")]
    pub experiments: Vec<ExperimentSpec>,
}

fn default_history() -> usize {
    DEFAULT_HISTORY
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    pub name: String,
    pub buckets: u32,
    #[serde(default)]
    pub treatments: BTreeMap<String, RecommenderSpec>,
}

impl ExperimentSpec {
    /// What each treatment serves, for people: `T1` → `session_taste(…), then sticky_artist`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.treatments
            .iter()
            .map(|(t, spec)| (t.clone(), spec.label()))
            .collect()
    }
}

impl ExperimentsConfig {
    /// One experiment whose every bucket serves `spec` (e.g. plain StickyArtist traffic).
    pub fn single(name: &str, spec: RecommenderSpec) -> Self {
        Self::split(name, vec![spec])
    }

    /// One experiment with a treatment per spec: C = specs[0], T1 = specs[1], …
    pub fn split(name: &str, specs: Vec<RecommenderSpec>) -> Self {
        let buckets = specs.len().max(2) as u32;
        let mut treatments: BTreeMap<String, RecommenderSpec> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (treatment_name(i as u32), s.clone()))
            .collect();
        if specs.len() == 1 {
            treatments.insert("T1".into(), specs[0].clone());
        }
        ExperimentsConfig {
            route: Some(name.into()),
            history: DEFAULT_HISTORY,
            experiments: vec![ExperimentSpec {
                name: name.into(),
                buckets,
                treatments,
            }],
        }
    }

    /// Rewrites every relative data path as relative to `base`.
    pub fn resolve_paths(&mut self, base: &Path) {
        for e in &mut self.experiments {
            for spec in e.treatments.values_mut() {
                spec.resolve_paths(base);
            }
        }
    }

    /// Reads and validates a TOML file; relative data paths are resolved against its directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| botify_core::Error::io(path, e))?;
        let mut cfg: ExperimentsConfig =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        cfg.validate()
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        Ok(cfg)
    }

    /// The routing experiment's index.
    pub fn validate(&self) -> Result<usize> {
        let err = |m: String| Err(Error::Config(m));
        if !(1..=MAX_HISTORY).contains(&self.history) {
            return err(format!(
                "history = {}: must be from 1 to {MAX_HISTORY} listens per user",
                self.history
            ));
        }
        let mut names = std::collections::HashSet::new();
        for e in &self.experiments {
            if e.name.is_empty() {
                return err("experiment.name: must not be empty".into());
            }
            if !names.insert(&e.name) {
                return err(format!("experiment {:?} is defined twice", e.name));
            }
            if !(2..=10).contains(&e.buckets) {
                return err(format!(
                    "experiment {:?}: buckets = {} is not in 2..=10",
                    e.name, e.buckets
                ));
            }
            for t in e.treatments.keys() {
                if treatment_bucket(t).is_none_or(|b| b >= e.buckets) {
                    return err(format!(
                        "experiment {:?}: treatment {t:?} is not one of C, T1..T{} for {} buckets",
                        e.name,
                        e.buckets - 1,
                        e.buckets
                    ));
                }
            }
        }
        let route = match &self.route {
            Some(r) => self
                .experiments
                .iter()
                .position(|e| &e.name == r)
                .ok_or_else(|| Error::Config(format!("route: no experiment named {r:?}")))?,
            None => {
                let with: Vec<usize> = (0..self.experiments.len())
                    .filter(|&i| !self.experiments[i].treatments.is_empty())
                    .collect();
                match with[..] {
                    [i] => i,
                    [] => return err("no experiment has treatments: say which recommender each treatment serves".into()),
                    _ => return err("several experiments have treatments: set `route` to the one that routes traffic".into()),
                }
            }
        };
        let e = &self.experiments[route];
        for b in 0..e.buckets {
            let t = treatment_name(b);
            if !e.treatments.contains_key(&t) {
                return err(format!(
                    "experiment {:?} routes traffic but treatment {t} has no recommender",
                    e.name
                ));
            }
        }
        Ok(route)
    }
}

/// One treatment of the routing experiment, ready to answer.
pub struct Treatment {
    pub name: String,
    pub recommender: Box<dyn Recommender>,
    /// Fallbacks taken anywhere in this treatment's recommender tree.
    pub fallbacks: Arc<AtomicU64>,
}

struct Split {
    name: String,
    splitter: Splitter,
    treatment_names: Vec<String>,
}

/// The built configuration: assigns users and holds each treatment's recommender.
pub struct Router {
    splits: Vec<Split>,
    route: usize,
    pub treatments: Vec<Treatment>,
    pub history: usize,
    pub config: ExperimentsConfig,
}

impl Router {
    pub fn build(config: ExperimentsConfig, catalog: Arc<Catalog>) -> Result<Self> {
        Self::build_with(config, catalog, crate::spec::files(), &Hosted::default())
    }

    /// Like [`Router::build`], reading data files through `source` and finding
    /// `{ type = "python" }` recommenders among `hosted`.
    pub fn build_with(
        config: ExperimentsConfig,
        catalog: Arc<Catalog>,
        source: crate::spec::DataSource,
        hosted: &Hosted,
    ) -> Result<Self> {
        let route = config.validate()?;
        let mut builder = Builder::with_source(catalog, source).with_hosted(hosted.clone());
        let e = &config.experiments[route];
        let mut treatments = Vec::new();
        for b in 0..e.buckets {
            let name = treatment_name(b);
            let fallbacks = Arc::new(AtomicU64::new(0));
            let recommender = builder
                .build(&e.treatments[&name], &fallbacks)
                .map_err(|err| {
                    Error::Config(format!("experiment {:?} treatment {name}: {err}", e.name))
                })?;
            treatments.push(Treatment {
                name,
                recommender,
                fallbacks,
            });
        }
        let splits = config
            .experiments
            .iter()
            .map(|e| Split {
                name: e.name.clone(),
                splitter: Splitter::new(&e.name, e.buckets),
                treatment_names: (0..e.buckets).map(treatment_name).collect(),
            })
            .collect();
        Ok(Router {
            splits,
            route,
            treatments,
            history: config.history,
            config,
        })
    }

    /// The treatment serving `user`.
    pub fn treatment(&self, user: UserId) -> &Treatment {
        let b = self.splits[self.route].splitter.bucket(u64::from(user));
        &self.treatments[b as usize]
    }

    /// The routing experiment's configuration.
    pub fn route_spec(&self) -> &ExperimentSpec {
        &self.config.experiments[self.route]
    }

    /// Every data file the configured recommenders read (for publishing them to a shared store).
    pub fn data_files(config: &ExperimentsConfig) -> Vec<std::path::PathBuf> {
        let mut out: Vec<std::path::PathBuf> = config
            .experiments
            .iter()
            .flat_map(|e| e.treatments.values())
            .flat_map(RecommenderSpec::files)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn route_name(&self) -> &str {
        &self.splits[self.route].name
    }

    /// (experiment, treatment) for every configured experiment, as logged.
    pub fn assignments(&self, user: UserId) -> impl Iterator<Item = (&str, &str)> {
        self.splits.iter().map(move |s| {
            let b = s.splitter.bucket(u64::from(user));
            (s.name.as_str(), s.treatment_names[b as usize].as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(s: &str) -> Result<ExperimentsConfig> {
        let c: ExperimentsConfig = toml::from_str(s).map_err(|e| Error::Config(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn parses_and_validates() {
        let c = cfg(r#"
            [[experiment]]
            name = "HW"
            buckets = 2
            treatments.C = { type = "sticky_artist" }
            treatments.T1 = { type = "indexed", file = "r.jsonl", fallback = { type = "random" } }
            [[experiment]]
            name = "AA"
            buckets = 3
        "#)
        .unwrap();
        assert_eq!(c.validate().unwrap(), 0);
        assert_eq!(c.history, DEFAULT_HISTORY);

        let bad = |s: &str, want: &str| {
            let e = cfg(s).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should mention {want}");
        };
        bad(
            "[[experiment]]\nname = \"X\"\nbuckets = 1\ntreatments.C = { type = \"random\" }",
            "buckets = 1",
        );
        bad(
            "[[experiment]]\nname = \"X\"\nbuckets = 2\ntreatments.C = { type = \"random\" }",
            "treatment T1",
        );
        bad(
            "[[experiment]]\nname = \"X\"\nbuckets = 2\ntreatments.T2 = { type = \"random\" }",
            "\"T2\"",
        );
        bad(
            "[[experiment]]\nname = \"X\"\nbuckets = 2\ntreatments.C = { type = \"nope\" }",
            "nope",
        );
        bad(
            "[[experiment]]\nname = \"X\"\nbuckets = 2\nbucket = 3",
            "bucket",
        );
        bad(
            "route = \"Y\"\n[[experiment]]\nname = \"X\"\nbuckets = 2",
            "no experiment named",
        );
        bad(
            "[[experiment]]\nname = \"X\"\nbuckets = 2",
            "no experiment has treatments",
        );
    }

    #[test]
    fn routes_by_the_course_hash() {
        let catalog = Arc::new(
            Catalog::from_tracks(
                (0..4)
                    .map(|i| botify_core::Track::new(i, format!("a{}", i % 2), "t"))
                    .collect(),
            )
            .unwrap(),
        );
        let mut c = ExperimentsConfig::split(
            "PERSONALIZED",
            vec![
                RecommenderSpec::Random {},
                RecommenderSpec::StickyArtist { fallback: None },
            ],
        );
        c.experiments.push(ExperimentSpec {
            name: "AA".into(),
            buckets: 2,
            treatments: BTreeMap::new(),
        });
        let r = Router::build(c, catalog).unwrap();
        let got: Vec<&str> = (0..6).map(|u| r.treatment(u).name.as_str()).collect();
        assert_eq!(got, ["C", "T1", "T1", "C", "C", "C"]);
        let a: Vec<(&str, &str)> = r.assignments(1).collect();
        assert_eq!(a[0], ("PERSONALIZED", "T1"));
        assert_eq!(a[1].0, "AA");
    }
}
