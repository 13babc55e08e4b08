//! `botify.train`: the trainers of `botify train`, on logs, writing the files the service reads,
//! with their learning curves and held-out metrics.

use crate::{err, progress};
use botify_lab::logs::load;
use botify_lab::models::{DifmSpec, DppSpec, MfSpec, ModelSpec, Settings, TrainData, train as fit};
use botify_lab::observer::{EpochReport, Observer};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Mutex;

/// The model `name` with its default parameters.
fn default_spec(name: &str, candidates: Option<PathBuf>) -> PyResult<ModelSpec> {
    Ok(match name {
        "toppop" => ModelSpec::Toppop,
        "i2i" => ModelSpec::I2i(Default::default()),
        "ucf" => ModelSpec::Ucf(Default::default()),
        "als" => ModelSpec::Als(Default::default()),
        "mf" => ModelSpec::Mf(MfSpec {
            params: Default::default(),
            search: 0,
        }),
        "contextual" => ModelSpec::Contextual(Default::default()),
        "item2vec" => ModelSpec::Item2vec(Default::default()),
        "taste" => ModelSpec::Taste(Default::default()),
        "ease" => ModelSpec::Ease(Default::default()),
        "ips" => ModelSpec::Ips(Default::default()),
        "lightgcn" => ModelSpec::Lightgcn(Default::default()),
        "sasrec" => ModelSpec::Sasrec(Default::default()),
        "dssm" => ModelSpec::Dssm(Default::default()),
        "dpp" => ModelSpec::Dpp(DppSpec {
            params: Default::default(),
            candidates: candidates
                .ok_or_else(|| err("dpp re-ranks lists: give candidates=PATH"))?,
        }),
        "difm" => ModelSpec::Difm(DifmSpec {
            params: Default::default(),
            candidates: candidates
                .ok_or_else(|| err("difm re-ranks candidate lists: give candidates=PATH"))?,
        }),
        _ => {
            return Err(err(format!(
                "unknown model {name:?}: toppop, i2i, ucf, als, mf, ease, ips, lightgcn, contextual, item2vec, taste, sasrec, dssm, difm, dpp"
            )));
        }
    })
}

/// `given` over the model's default parameters; a parameter the model does not have is an
/// error that lists those it has.
fn with_params(spec: ModelSpec, given: Map<String, Value>, search: usize) -> PyResult<ModelSpec> {
    let name = spec.name();
    let mut whole = serde_json::to_value(&spec).map_err(err)?;
    let inner = match &mut whole {
        Value::Object(m) => m.get_mut(name),
        _ => None,
    };
    let params = match inner {
        // MF and DIFM nest their parameters under `params`.
        Some(Value::Object(m)) if m.contains_key("params") => m.get_mut("params"),
        other => other,
    };
    match params {
        Some(Value::Object(p)) => {
            for (k, v) in given {
                if !p.contains_key(&k) {
                    let mut known: Vec<&String> = p.keys().collect();
                    known.sort();
                    return Err(err(format!(
                        "{name} has no parameter {k:?}; it has: {}",
                        known
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                p.insert(k, v);
            }
        }
        _ if !given.is_empty() => {
            return Err(err(format!("{name} takes no parameters")));
        }
        _ => {}
    }
    if let (Some(Value::Object(m)), true) = (whole.get_mut(name), name == "mf") {
        m.insert("search".into(), Value::from(search));
    } else if search > 0 {
        return Err(err(
            "search (random search of hyper-parameters) is for mf only",
        ));
    }
    serde_json::from_value(whole).map_err(|e| err(format!("{name}: {e}")))
}

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
#[pyo3(signature = (model, logs, out, *, params, catalog, candidates, search, holdout, seed, k, threshold, eval_k, progress))]
#[allow(clippy::too_many_arguments)]
pub fn train<'py>(
    py: Python<'py>,
    model: &str,
    logs: Vec<PathBuf>,
    out: PathBuf,
    params: Option<&Bound<'py, PyDict>>,
    catalog: Option<PathBuf>,
    candidates: Option<PathBuf>,
    search: usize,
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
    let spec = with_params(default_spec(model, candidates)?, given, search)?;
    spec.validate().map_err(err)?;
    let settings = Settings {
        k,
        threshold,
        eval_k,
    };
    settings.validate().map_err(err)?;
    if spec.needs_catalog() && catalog.is_none() {
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
