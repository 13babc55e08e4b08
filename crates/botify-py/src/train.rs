//! `botify.train`: the trainers of `botify train`, on logs, writing the files the service reads,
//! with their learning curves and held-out metrics.

use crate::{err, progress};
use botify_lab::logs::{DEFAULT_HOLDOUT, load};
use botify_lab::models::{DEFAULT_EVAL_K, DEFAULT_K, ModelSpec, Settings, TrainData, train as fit};
use botify_lab::observer::{EpochReport, Observer};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Mutex;

/// Collects the learning curve while passing everything on.
struct Recording<'a> {
    inner: &'a dyn Observer,
    epochs: Mutex<Vec<EpochReport>>,
}

impl Observer for Recording<'_> {
    fn stage(&self, n: &str) {
        self.inner.stage(n)
    }
    fn stage_done(&self, n: &str, s: f64) {
        self.inner.stage_done(n, s)
    }
    fn note(&self, t: &str) {
        self.inner.note(t)
    }
    fn start(&self, l: &str, t: u64) {
        self.inner.start(l, t)
    }
    fn advance(&self, n: u64) {
        self.inner.advance(n)
    }
    fn finish(&self) {
        self.inner.finish()
    }
    fn epoch(&self, e: &EpochReport) {
        self.epochs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e.clone());
        self.inner.epoch(e)
    }
}

/// Trains `model` on the logs and writes its output to `out` (what `botify train <model>`
/// does). Returns what was written, the held-out metrics and the learning curve.
#[pyfunction]
#[pyo3(signature = (
    model, logs, out, *, params=None, catalog=None, holdout=DEFAULT_HOLDOUT,
    seed=botify_core::defaults::SEED, k=DEFAULT_K, threshold=botify_core::defaults::LIKED,
    eval_k=DEFAULT_EVAL_K,
    progress=None
))]
#[allow(clippy::too_many_arguments)]
pub fn train<'py>(
    py: Python<'py>,
    model: &str,
    logs: Vec<PathBuf>,
    out: PathBuf,
    params: Option<&Bound<'py, PyDict>>,
    catalog: Option<PathBuf>,
    holdout: f64,
    seed: u64,
    k: usize,
    threshold: f32,
    eval_k: usize,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    if logs.is_empty() {
        return Err(err("give at least one log file or directory"));
    }
    let given: Map<String, Value> = match params {
        Some(d) => crate::from_py(d, &format!("{model} parameters"))?,
        None => Map::new(),
    };
    let spec = ModelSpec::new(model, given).map_err(err)?;
    let settings = Settings {
        k,
        threshold,
        eval_k,
        seed,
    };
    settings.validate().map_err(err)?;
    spec.validate(&settings).map_err(err)?;
    if spec.needs_catalog(&settings).map_err(err)? && catalog.is_none() {
        return Err(err(format!(
            "{model} needs catalog=PATH (tracks.json): track metadata is one of its features"
        )));
    }
    let holdout = if spec.uses_holdout() { holdout } else { 0.0 };
    let (trained, epochs, read) = progress::run(py, progress, |relay| {
        let rec = Recording {
            inner: relay,
            epochs: Mutex::new(Vec::new()),
        };
        rec.stage("read logs");
        let l = load(&logs, catalog.as_deref(), holdout, seed)?;
        rec.stage(&format!("train {model}"));
        let data = TrainData::new(&l.train, &l.test, l.catalog.as_ref(), settings);
        let t = fit(&spec, &data, &out, &rec)?;
        let read = (l.stats.events, l.train.listens.len(), l.test.listens.len());
        Ok::<_, botify_lab::Error>((t, rec.epochs.into_inner().unwrap_or_default(), read))
    })?
    .map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("model", model)?;
    d.set_item("written", &trained.written)?;
    d.set_item("files", &trained.files)?;
    d.set_item("training_seconds", trained.training_seconds)?;
    d.set_item("steps", trained.steps)?;
    d.set_item("events", read.0)?;
    d.set_item("train_listens", read.1)?;
    d.set_item("test_listens", read.2)?;
    let metrics =
        |m: &Option<botify_train::metrics::Metrics>| -> PyResult<Option<Bound<'py, PyDict>>> {
            m.as_ref()
                .map(|m| {
                    let d = PyDict::new(py);
                    d.set_item("users", m.users)?;
                    d.set_item("k", m.k)?;
                    d.set_item("precision", m.precision)?;
                    d.set_item("recall", m.recall)?;
                    d.set_item("mrr", m.mrr)?;
                    d.set_item("ndcg", m.ndcg)?;
                    d.set_item("coverage", m.coverage)?;
                    Ok(d)
                })
                .transpose()
        };
    d.set_item("metrics", metrics(&trained.metrics)?)?;
    d.set_item("candidates_metrics", metrics(&trained.candidates_metrics)?)?;
    let curve: Vec<(usize, f64, f64, f64, f64, f64)> = epochs
        .iter()
        .map(|e| {
            (
                e.index,
                e.train_loss,
                e.validation_loss,
                e.value,
                e.train_value,
                e.seconds,
            )
        })
        .collect();
    d.set_item("curve", curve)?;
    d.set_item(
        "curve_metric",
        epochs.first().map(|e| e.metric.clone()).unwrap_or_default(),
    )?;
    Ok(d)
}
