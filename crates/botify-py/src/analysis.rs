//! Event logs from Python: `botify.read_log` (the fast parallel parser, as columns),
//! `botify.export_parquet` (`botify log export`) and `botify.ab` (the report `botify ab --format
//! json` prints).

use crate::columns::Columns;
use crate::{err, progress};
use botify_ab::report::{AbOptions, Guardrail, analyse};
use botify_core::events::{Message, read_events};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// (UTC day, file, rows) per file written.
type DayFiles = Vec<(String, PathBuf, u64)>;

/// Writes the events under `paths` as Parquet under `out` (new or empty; with `append`, an
/// earlier export continued), one file per UTC day and run. Returns (day, file, rows) per file
/// written and how reading went, with the experiments met.
#[pyfunction]
#[pyo3(signature = (paths, out, append=false))]
pub fn export_parquet<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
    out: PathBuf,
    append: bool,
) -> PyResult<(DayFiles, Bound<'py, PyDict>)> {
    if paths.is_empty() {
        return Err(err("give at least one log file or directory"));
    }
    let done = py
        .detach(|| botify_lab::export::export_parquet(&paths, &out, append, |_, _| {}))
        .map_err(err)?;
    let info = PyDict::new(py);
    info.set_item("files", done.read.files)?;
    info.set_item("events", done.read.events)?;
    info.set_item("skipped", done.read.skipped)?;
    info.set_item("skipped_examples", done.read.skipped_examples)?;
    info.set_item("experiments", done.experiments)?;
    info.set_item("resumed", done.resumed)?;
    Ok((done.files, info))
}

/// Off-policy evaluation of `policy` (a spec string or dict) on the logs under `paths`, against
/// the catalogue `catalog` (tracks.json): the report as JSON (estimates and diagnostics).
#[pyfunction]
#[pyo3(signature = (paths, catalog, policy, history, clip, samples, seed))]
#[allow(clippy::too_many_arguments)]
pub fn ope(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    catalog: PathBuf,
    policy: &Bound<'_, PyAny>,
    history: usize,
    clip: f64,
    samples: usize,
    seed: u64,
) -> PyResult<String> {
    if paths.is_empty() {
        return Err(err("give at least one log file or directory"));
    }
    let spec: botify_recs::spec::RecommenderSpec = match policy.extract::<String>() {
        Ok(text) => botify_recs::spec::RecommenderSpec::parse_cli(&text).map_err(err)?,
        Err(_) => crate::from_py(policy, "policy")?,
    };
    let report = py
        .detach(|| {
            let catalog = Arc::new(botify_core::Catalog::load(&catalog)?);
            let mut o = botify_lab::ope::OpeOptions::new(paths, spec);
            (o.history, o.clip, o.samples, o.seed) = (history, clip, samples, seed);
            botify_lab::ope::evaluate(catalog, &o)
        })
        .map_err(err)?;
    serde_json::to_string(&report).map_err(err)
}

/// The per-step estimators on given arrays (reward, weight π/μ, q̂ of the logged action, E_π q̂):
/// (estimator, estimate, lower, upper) rows.
#[pyfunction]
pub fn ope_steps(
    reward: Vec<f64>,
    weight: Vec<f64>,
    q: Vec<f64>,
    v: Vec<f64>,
    clip: f64,
) -> PyResult<Vec<(String, f64, f64, f64)>> {
    let n = reward.len();
    if [weight.len(), q.len(), v.len()].iter().any(|&m| m != n) || n == 0 {
        return Err(err(
            "reward, weight, q and v must be non-empty and of one length",
        ));
    }
    let steps: Vec<(f64, f64, f64, f64)> =
        (0..n).map(|i| (reward[i], weight[i], q[i], v[i])).collect();
    Ok(botify_lab::ope::step_estimates(&steps, clip))
}

/// Reads every event under `paths` (files or directories, rotated files included), sorted by
/// user, then time. Returns the columns and how reading went (files, events, skipped lines).
#[pyfunction]
pub fn read_log<'py>(
    py: Python<'py>,
    paths: Vec<PathBuf>,
) -> PyResult<(Bound<'py, pyo3::types::PyList>, Bound<'py, PyDict>)> {
    if paths.is_empty() {
        return Err(err("give at least one log file or directory"));
    }
    let (events, stats) = py.detach(|| read_events(&paths)).map_err(err)?;
    let mut experiments: BTreeMap<&str, BTreeMap<&str, i32>> = BTreeMap::new();
    for e in &events {
        for (k, v) in &e.experiments {
            experiments.entry(k).or_default().entry(v).or_insert(0);
        }
    }
    let mut c = Columns::default();
    c.category(
        "message",
        events.iter().map(|e| match e.message {
            Message::Next => 0,
            Message::Last => 1,
        }),
        vec!["next".into(), "last".into()],
    )
    .i64("timestamp", events.iter().map(|e| e.timestamp as i64))
    // int64 ids, as the Parquet export writes them.
    .i64("user", events.iter().map(|e| i64::from(e.user)))
    .i64("track", events.iter().map(|e| i64::from(e.track)))
    .f32("time", events.iter().map(|e| e.time))
    .f64("latency", events.iter().map(|e| e.latency))
    .i64(
        "recommendation",
        events
            .iter()
            .map(|e| e.recommendation.map_or(-1, i64::from)),
    )
    .f64(
        "propensity",
        events.iter().map(|e| e.propensity.unwrap_or(f64::NAN)),
    );
    for (name, treatments) in &mut experiments {
        for (code, v) in treatments.values_mut().enumerate() {
            *v = code as i32;
        }
        let codes = events.iter().map(|e| {
            e.experiments
                .get(*name)
                .and_then(|t| treatments.get(t.as_str()))
                .copied()
                .unwrap_or(-1)
        });
        let cats = treatments.keys().map(|s| s.to_string()).collect();
        c.category(name, codes, cats);
    }
    let info = PyDict::new(py);
    info.set_item("files", stats.files)?;
    info.set_item("events", stats.events)?;
    info.set_item("skipped", stats.skipped)?;
    info.set_item("skipped_examples", stats.skipped_examples)?;
    Ok((c.into_py(py)?, info))
}

/// A lower-case option value (`"delta"`, `"maxt"`) as its enum, the error listing the choices.
fn choice<T: serde::de::DeserializeOwned>(what: &str, value: &str, choices: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|_| err(format!("{what} {value:?} is not one of {choices}")))
}

/// The A/B report of `experiment` over `logs` as `botify ab --format json` prints it.
#[pyfunction]
#[pyo3(signature = (
    logs, experiment, *, confidence=AbOptions::new("", Vec::new()).confidence, buckets=None,
    pre=None, metrics=None,
    interval=botify_ab::stats::IntervalMethod::default().name(),
    correction=botify_ab::stats::Correction::default().name(),
    primary=AbOptions::new("", Vec::new()).primary.name(), guardrails=Vec::new(),
    sequential=None, progress=None
))]
#[allow(clippy::too_many_arguments)]
pub fn ab(
    py: Python<'_>,
    logs: Vec<PathBuf>,
    experiment: &str,
    confidence: f64,
    buckets: Option<u32>,
    pre: Option<Vec<PathBuf>>,
    metrics: Option<Vec<String>>,
    interval: &str,
    correction: &str,
    primary: &str,
    guardrails: Vec<String>,
    sequential: Option<f64>,
    progress: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    if logs.is_empty() {
        return Err(err("give at least one log file or directory"));
    }
    let mut o = AbOptions::new(experiment, logs);
    o.confidence = confidence;
    o.buckets = buckets;
    o.pre = pre.filter(|p| !p.is_empty());
    if let Some(m) = metrics.filter(|m| !m.is_empty()) {
        o.metrics = m
            .iter()
            .map(|name| name.parse())
            .collect::<Result<_, botify_ab::Error>>()
            .map_err(err)?;
    }
    o.interval = choice("interval", interval, "delta, course")?;
    o.correction = choice("correction", correction, "maxt, holm, bh, none")?;
    o.primary = primary.parse().map_err(|e: botify_ab::Error| err(e))?;
    o.guardrails = guardrails
        .iter()
        .map(|g| g.parse::<Guardrail>())
        .collect::<Result<_, _>>()
        .map_err(err)?;
    o.sequential = sequential;
    let report = progress::run(py, progress, |_| analyse(&o))?.map_err(err)?;
    Ok(report.to_json())
}
