//! Python objects as Botify recommenders, and the `treatments={...}` argument as an experiments
//! configuration.
//!
//! A Python recommender is any object with the course's
//! `recommend_next(user, prev_track, prev_track_time) -> int`. It is called with the GIL, from
//! whichever thread serves the request; an exception or an answer that is not a track id counts
//! as a failure and the treatment's fallback answers (the service counts it in
//! `botify_fallbacks_total`), so a bug in Python code never crashes a run or fails a request.

use crate::err;
use botify_core::TrackId;
use botify_recs::experiments::{DEFAULT_HISTORY, ExperimentSpec, ExperimentsConfig};
use botify_recs::spec::{Hosted, RecommenderSpec};
use botify_recs::{Listen, Recommender, Request, Rng};
use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Failures of one Python recommender: how many, and the first one's message.
#[derive(Default)]
pub struct Failures {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Failures {
    fn record(&self, message: impl FnOnce() -> String) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            *self.first.lock().unwrap_or_else(|p| p.into_inner()) = Some(message());
        }
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn first(&self) -> Option<String> {
        self.first.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub struct PyRecommender {
    object: Py<PyAny>,
    tracks: u32,
    failures: Arc<Failures>,
    /// The run's stop flag: set by a KeyboardInterrupt (or SystemExit) out of `recommend_next`
    /// — which stops the run instead of counting as a failure — and, once set, Python is not
    /// called again (the fallback answers the rest of the session at once).
    cancel: Arc<AtomicBool>,
}

impl Recommender for PyRecommender {
    fn may_block(&self) -> bool {
        true
    }

    fn recommend(&self, req: &Request, _history: &[Listen], _rng: &mut Rng) -> Option<TrackId> {
        if self.cancel.load(Ordering::Relaxed) {
            return None;
        }
        Python::attach(|py| {
            let answer = self
                .object
                .bind(py)
                .call_method1(
                    intern!(py, "recommend_next"),
                    (req.user, req.track, req.time),
                )
                .and_then(|v| v.extract::<i64>());
            match answer {
                Ok(t) if (0..i64::from(self.tracks)).contains(&t) => Some(t as TrackId),
                Ok(t) => {
                    self.failures.record(|| {
                        format!(
                            "recommend_next returned {t}, not a track id in 0..{}",
                            self.tracks
                        )
                    });
                    None
                }
                Err(e)
                    if e.is_instance_of::<PyKeyboardInterrupt>(py)
                        || e.is_instance_of::<PySystemExit>(py) =>
                {
                    self.cancel.store(true, Ordering::Relaxed);
                    None
                }
                Err(e) => {
                    self.failures
                        .record(|| format!("recommend_next raised {e}"));
                    None
                }
            }
        })
    }
}

/// Each Python treatment's (name, failure counter).
pub type FailureCounters = Vec<(String, Arc<Failures>)>;

/// A Python object as a recommender and its failure counter.
type Wrapped = (Arc<dyn Recommender>, Arc<Failures>);

/// A treatments argument made ready: the configuration, the Python recommenders it names and
/// their failure counters.
pub struct Treatments {
    pub config: ExperimentsConfig,
    pub hosted: Hosted,
    pub failures: Vec<(String, Arc<Failures>)>,
}

/// A recommender argument: a bare name or inline spec (`"sticky_artist"`,
/// `'{ type = "indexed", file = "recs.jsonl" }'`), a spec as a dict, or a Python object with
/// `recommend_next` (registered under `name`).
fn spec_of(
    value: &Bound<'_, PyAny>,
    name: &str,
    tracks: u32,
    hosted: &mut HashMap<String, Arc<dyn Recommender>>,
    failures: &mut Vec<(String, Arc<Failures>)>,
    cancel: &Arc<AtomicBool>,
) -> PyResult<RecommenderSpec> {
    if let Ok(s) = value.cast::<PyString>() {
        return RecommenderSpec::parse_cli(&s.to_cow()?).map_err(|e| err(format!("{name}: {e}")));
    }
    if value.is_instance_of::<PyDict>() {
        return crate::from_py(value, &format!("{name}: bad recommender spec"));
    }
    if let Some((r, f)) = python_object(value, tracks, cancel)? {
        hosted.insert(name.to_string(), r);
        failures.push((name.to_string(), f));
        return Ok(RecommenderSpec::Python {
            name: name.to_string(),
            fallback: None,
        });
    }
    Err(PyTypeError::new_err(format!(
        "{name}: a recommender is a name such as \"sticky_artist\", a spec dict such as {{\"type\": \"indexed\", \"file\": \"recs.jsonl\"}}, or an object with recommend_next(user, prev_track, prev_track_time); got {}",
        value.get_type().name()?
    )))
}

/// `value` as a recommender with its failure counter, when it has `recommend_next`.
fn python_object(
    value: &Bound<'_, PyAny>,
    tracks: u32,
    cancel: &Arc<AtomicBool>,
) -> PyResult<Option<Wrapped>> {
    if !value.hasattr(intern!(value.py(), "recommend_next"))? {
        return Ok(None);
    }
    let f = Arc::new(Failures::default());
    let r = PyRecommender {
        object: value.clone().unbind(),
        tracks,
        failures: f.clone(),
        cancel: cancel.clone(),
    };
    Ok(Some((Arc::new(r), f)))
}

/// Objects for the `{ type = "python", name = ... }` specs of an experiments file, by name.
pub fn register(objects: &Bound<'_, PyDict>, tracks: u32) -> PyResult<(Hosted, FailureCounters)> {
    let mut hosted = HashMap::new();
    let mut failures = Vec::new();
    // A service has no run to stop: its recommenders' flag is never read.
    let cancel = Arc::new(AtomicBool::new(false));
    for (k, v) in objects.iter() {
        let name: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("recommenders are named by strings"))?;
        let (r, f) = python_object(&v, tracks, &cancel)?.ok_or_else(|| {
            PyTypeError::new_err(format!(
                "recommenders[{name:?}] has no recommend_next(user, prev_track, prev_track_time)"
            ))
        })?;
        hosted.insert(name.clone(), r);
        failures.push((name, f));
    }
    Ok((Hosted::new(hosted), failures))
}

/// `{"C": ..., "T1": ...}` as one experiment named `experiment` that routes every user.
pub fn treatments(
    treatments: &Bound<'_, PyDict>,
    experiment: &str,
    tracks: u32,
    cancel: &Arc<AtomicBool>,
) -> PyResult<Treatments> {
    let mut hosted = HashMap::new();
    let mut failures = Vec::new();
    let mut specs = BTreeMap::new();
    for (k, v) in treatments.iter() {
        let name: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("treatment names are strings: C, T1, T2, …"))?;
        let spec = spec_of(&v, &name, tracks, &mut hosted, &mut failures, cancel)?;
        specs.insert(name, spec);
    }
    if specs.is_empty() {
        return Err(err("treatments is empty: give at least {\"C\": ...}"));
    }
    // One recommender serves everyone: an experiment has at least two buckets, so the other of
    // C and T1 gets it too (as `ExperimentsConfig::split` does).
    if let (1, Some((name, spec))) = (specs.len(), specs.first_key_value()) {
        let other = if name == "C" { "T1" } else { "C" };
        let spec = spec.clone();
        specs.insert(other.to_string(), spec);
    }
    let config = ExperimentsConfig {
        route: Some(experiment.to_string()),
        history: DEFAULT_HISTORY,
        experiments: vec![ExperimentSpec {
            name: experiment.to_string(),
            buckets: specs.len() as u32,
            treatments: specs,
        }],
    };
    config.validate().map_err(err)?;
    Ok(Treatments {
        config,
        hosted: Hosted::new(hosted),
        failures,
    })
}

/// Failures per Python treatment as `{name: (count, first message)}`.
pub fn failures_dict<'py>(
    py: Python<'py>,
    failures: &[(String, Arc<Failures>)],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, f) in failures {
        d.set_item(name, (f.count(), f.first()))?;
    }
    Ok(d)
}
