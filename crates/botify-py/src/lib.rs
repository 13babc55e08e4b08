//! `botify._botify`: the native half of the Python package. Every function here calls the Botify
//! library (never the CLI); the Python half (`python/botify`) turns the columns it returns into
//! numpy arrays and pandas DataFrames.
//!
//! Long calls run without the GIL on a worker thread while the calling thread relays progress to
//! Python ([`progress`]); Python recommenders are called back with the GIL ([`recommender`]).

use pyo3::prelude::*;

mod analysis;
mod candidates;
mod columns;
mod env;
mod experiment;
mod progress;
mod recommender;
mod service;
mod simulate;
mod train;
mod world;

pyo3::create_exception!(
    _botify,
    BotifyError,
    pyo3::exceptions::PyValueError,
    "Bad input or a failed Botify call; the message names the problem."
);

/// Any library error as a Python `BotifyError` (a `ValueError`) carrying its message.
pub(crate) fn err(e: impl std::fmt::Display) -> PyErr {
    BotifyError::new_err(e.to_string())
}

/// `redis=URL` or `redis_cluster=[URL, ...]` (at most one) as the service's state backend.
pub(crate) fn redis_target(
    redis: Option<String>,
    cluster: Option<Vec<String>>,
) -> PyResult<Option<botify_server::RedisTarget>> {
    if redis.is_some() && cluster.is_some() {
        return Err(err("give redis or redis_cluster, not both"));
    }
    botify_server::RedisTarget::from_flags(redis, cluster.map(|c| c.join(",")).as_deref())
        .map_err(err)
}

/// A Python value (dict, list, numbers) as a serde type, through Python's own `json.dumps`.
pub(crate) fn from_py<T: serde::de::DeserializeOwned>(
    value: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<T> {
    let text: String = value
        .py()
        .import("json")?
        .call_method1("dumps", (value,))?
        .extract()?;
    serde_json::from_str(&text).map_err(|e| err(format!("{what}: {e} in {text}")))
}

/// Runs the `botify` command line `argv` (the program's name first) with the GIL released and
/// returns its exit code: the `botify` console command of the package. It owns the process (it
/// restores SIGPIPE's default disposition), so it is for that command, not for notebooks.
#[pyfunction]
fn cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(|| botify_cli::run(argv))
}

#[pymodule]
fn _botify(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BotifyError", m.py().get_type::<BotifyError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The platform's shared defaults (botify_core::defaults), so Python never repeats them.
    m.add("DEFAULT_SEED", botify_core::defaults::SEED)?;
    m.add("DEFAULT_SESSIONS", botify_core::defaults::SESSIONS)?;
    m.add("DEFAULT_MAX_STEPS", botify_core::defaults::MAX_STEPS)?;
    // Through its shortest decimal form, so Python sees 0.7 and not the f32's 0.699999988.
    let liked = botify_core::params::short_f32(botify_core::defaults::LIKED);
    m.add("DEFAULT_LIKED", liked)?;
    m.add("DEFAULT_K", botify_lab::models::DEFAULT_K)?;
    m.add("DEFAULT_EVAL_K", botify_lab::models::DEFAULT_EVAL_K)?;
    m.add("DEFAULT_HOLDOUT", botify_lab::logs::DEFAULT_HOLDOUT)?;
    m.add_class::<world::World>()?;
    m.add_class::<env::Sessions>()?;
    m.add_class::<candidates::CandidateSessions>()?;
    m.add_class::<service::Server>()?;
    m.add_function(wrap_pyfunction!(simulate::simulate, m)?)?;
    m.add_function(wrap_pyfunction!(service::serve, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::read_log, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::ope, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::ope_steps, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::export_parquet, m)?)?;
    m.add_function(wrap_pyfunction!(analysis::ab, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(cli, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::run_plan, m)?)?;
    m.add_function(wrap_pyfunction!(experiment::default_plan, m)?)?;
    Ok(())
}
