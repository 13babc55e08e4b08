//! `botify.simulate`: the in-process simulator (the service's own recommender code) against a
//! treatments dict that may hold Python recommenders, or against the oracle.

use crate::columns::Columns;
use crate::recommender::{failures_dict, treatments as build_treatments};
use crate::{err, progress, world};
use botify_lab::simulate::{Recommenders, SimOptions, simulate as run_days};
use botify_sim::runner::SessionRunner;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `days` days of `episodes` sessions. Returns the episodes as columns, the treatment names
/// by bucket, per-day summaries and the Python recommenders' failures.
#[pyfunction]
#[pyo3(signature = (
    world, treatments, *, episodes=botify_core::defaults::SESSIONS,
    seed=botify_core::defaults::SEED, days=1, start_day=0,
    max_steps=botify_core::defaults::MAX_STEPS, log_dir=None, experiment="PY", threads=None,
    progress=None
))]
#[allow(clippy::too_many_arguments)]
pub fn simulate<'py>(
    py: Python<'py>,
    world: &Bound<'py, PyAny>,
    treatments: &Bound<'py, PyAny>,
    episodes: usize,
    seed: u64,
    days: u32,
    start_day: u32,
    max_steps: u32,
    log_dir: Option<PathBuf>,
    experiment: &str,
    threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let world = world::resolve(py, world)?;
    let w = world.get().world.clone();
    let tracks = w.catalog.len() as u32;
    // Ctrl-C (on the calling thread) or a KeyboardInterrupt out of a Python recommender sets
    // it; the simulator stops between sessions and Python recommenders are not called again.
    let cancel = Arc::new(AtomicBool::new(false));
    let (who, hosted, failures, names) = match treatments.cast::<PyString>() {
        Ok(s) if s.to_cow()? == "oracle" => (
            Recommenders::Oracle,
            Default::default(),
            Vec::new(),
            vec!["oracle".to_string()],
        ),
        _ => {
            let d = treatments.cast::<PyDict>().map_err(|_| {
                err("treatments is a dict such as {\"C\": \"sticky_artist\", \"T1\": MyRecommender()} or \"oracle\"")
            })?;
            let t = build_treatments(d, experiment, tracks, &cancel)?;
            let names = t.config.experiments[0].treatments.keys().cloned().collect();
            (Recommenders::Config(t.config), t.hosted, t.failures, names)
        }
    };
    let names = order_by_bucket(names);
    let threads = threads.unwrap_or_else(|| {
        // Python recommenders share one GIL: more threads only queue for it.
        if failures.is_empty() {
            rayon::current_num_threads()
        } else {
            1
        }
    });
    if threads == 0 {
        return Err(err("threads must be at least 1"));
    }
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(err)?,
    );
    // With Python recommenders on one thread, that thread holds the GIL through each day's
    // sessions, so each call re-enters it for free instead of taking it anew (18x the steps per
    // second); Python's switch interval still lets the calling thread in to show progress. The
    // day's nearest-track search runs before, on every core. Never with more threads: one would
    // wait in rayon, holding the GIL, for another waiting for the GIL.
    let hold_gil = !failures.is_empty() && threads == 1;
    let sessions_in = hold_gil.then(|| {
        let pool = pool.clone();
        SessionRunner(Arc::new(move |sessions: &mut (dyn FnMut() + Send)| {
            pool.install(|| Python::attach(|_| sessions()))
        }))
    });
    let opts = SimOptions {
        episodes,
        seed,
        days,
        start_day,
        max_steps,
        log_dir,
        hosted,
        sessions_in,
        neighbour_dir: Some(world.get().dir.clone()),
        cancel: Some(cancel.clone()),
        ..SimOptions::default()
    };
    opts.validate().map_err(err)?;
    let started = std::time::Instant::now();
    let result = progress::run_cancellable(py, progress, &cancel, |obs| {
        let days = || run_days(&w, &who, &opts, obs, &mut |_| Ok(()));
        if hold_gil { days() } else { pool.install(days) }
    })?
    .map_err(|e| {
        if cancel.load(Ordering::Relaxed) {
            PyKeyboardInterrupt::new_err(format!("simulation interrupted ({e})"))
        } else {
            err(e)
        }
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let eps: Vec<_> = result.iter().flat_map(|d| d.episodes.iter()).collect();
    let mut c = Columns::default();
    c.u32("day", eps.iter().map(|e| e.day))
        .u32("episode", eps.iter().map(|e| e.episode))
        .u32("user", eps.iter().map(|e| e.user))
        .u8("bucket", eps.iter().map(|e| e.treatment))
        .f32("reward", eps.iter().map(|e| e.reward))
        .u32("steps", eps.iter().map(|e| e.steps));
    let out = PyDict::new(py);
    out.set_item("episodes", c.into_py(py)?)?;
    out.set_item("treatments", names)?;
    out.set_item("failures", failures_dict(py, &failures)?)?;
    out.set_item("seconds", seconds)?;
    let days: Vec<(u32, usize, u64, f64)> = result
        .iter()
        .map(|d| (d.summary.day, d.episodes.len(), d.steps(), d.seconds))
        .collect();
    out.set_item("days", days)?;
    out.set_item("steps", result.iter().map(|d| d.steps()).sum::<u64>())?;
    Ok(out)
}

/// Treatment names in bucket order (C, T1, T2, …, T10: not string order).
fn order_by_bucket(mut names: Vec<String>) -> Vec<String> {
    names.sort_by_key(|n| botify_core::murmur::treatment_bucket(n).unwrap_or(u32::MAX));
    names
}
