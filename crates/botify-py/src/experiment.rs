//! `botify.experiment`: the whole loop of `botify experiment run` (world, day 1, training,
//! deployment, A/B day, report) from a plan.

use crate::{err, progress};
use botify_lab::plan::Plan;
use botify_lab::run::{RunOptions, Traffic, default_dir, run};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The built-in plan as TOML (what `botify experiment default` prints).
#[pyfunction]
pub fn default_plan() -> PyResult<String> {
    Plan::default().to_toml().map_err(err)
}

/// Runs a plan (TOML text or a file; neither: the default plan). Returns the run directory, the
/// results (`results.json`) and the A/B report as JSON text. Ctrl-C stops the run before its
/// next stage, keeping what was made.
#[pyfunction]
#[pyo3(signature = (
    plan=None, plan_file=None, *, dir=None, in_process=false, redis=None, redis_cluster=None,
    progress=None
))]
#[allow(clippy::too_many_arguments)]
pub fn run_plan<'py>(
    py: Python<'py>,
    plan: Option<&str>,
    plan_file: Option<PathBuf>,
    dir: Option<PathBuf>,
    in_process: bool,
    redis: Option<String>,
    redis_cluster: Option<Vec<String>>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let plan: Plan = match (plan, plan_file) {
        (Some(text), None) => toml::from_str(text).map_err(|e| err(format!("bad plan: {e}")))?,
        (None, Some(f)) => Plan::load(&f).map_err(err)?,
        (None, None) => Plan::default(),
        (Some(_), Some(_)) => return Err(err("give a plan's text or its file, not both")),
    };
    plan.validate()
        .map_err(|e| err(format!("the plan is invalid; nothing was run: {e}")))?;
    let redis = crate::redis_target(redis, redis_cluster)?;
    if in_process && redis.is_some() {
        return Err(err("redis is for runs over HTTP, not in_process ones"));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = RunOptions {
        traffic: if in_process {
            Traffic::InProcess
        } else {
            Traffic::Http { redis }
        },
        dir: dir.unwrap_or_else(|| default_dir(&plan)),
        cancel: cancel.clone(),
        dashboard: None,
    };
    let outcome = progress::run_cancellable(py, progress, &cancel, |obs| run(&plan, &opts, obs))?
        .map_err(err)?;
    let d = PyDict::new(py);
    d.set_item("dir", &outcome.dir)?;
    d.set_item("results", outcome.results.to_string())?;
    d.set_item("report", outcome.report.to_json())?;
    Ok(d)
}
