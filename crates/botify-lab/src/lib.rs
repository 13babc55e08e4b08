//! Plan → run: the library every front end of Botify calls (the `botify` binary today, the Python
//! package and the dashboard next). Libraries never print: progress and training curves reach the
//! caller through an [`Observer`], and a run stops between stages when its cancellation flag is
//! set.
//!
//! Where each concept lives:
//! - [`plan`]: the plan schema (TOML), its defaults and its validation — one source of truth for
//!   every default the CLI shows;
//! - [`models`]: the model registry — name → parameters (with `Default`) → train → output files,
//!   held-out metrics and learning curves — used by `botify train <model>` and by plans alike;
//! - [`curve`]: learning curves written as CSV, PNG and HTML beside a model's output;
//! - [`service`]: an embedded `botify serve` started and stopped by a run;
//! - [`run`]: the day loop — world, cold-start traffic (in-process or over HTTP), training,
//!   deployment by hot reload, A/B days, analysis and reports;
//! - [`eval`]: offline metrics of recommendation files on a held-out split of the logs.
//!
//! Trainers receive a [`botify_core::Catalog`], never a [`botify_core::World`]: the world's
//! embeddings and users are the simulator's hidden truth.
//!
//! A run from code, with progress shown by an observer of one's own:
//!
//! ```no_run
//! use botify_lab::run::{RunOptions, Traffic, run};
//! use botify_lab::{Observer, Plan};
//! use std::sync::{Arc, atomic::AtomicBool};
//!
//! struct Stages;
//! impl Observer for Stages {
//!     fn stage(&self, name: &str) {
//!         eprintln!("stage: {name}");
//!     }
//! }
//!
//! let mut plan = Plan::default();
//! plan.ab.episodes = 10_000;
//! let opts = RunOptions {
//!     traffic: Traffic::InProcess,
//!     dir: "runs/from-code".into(),
//!     cancel: Arc::new(AtomicBool::new(false)),
//!     dashboard: None,
//! };
//! let outcome = run(&plan, &opts, &Stages)?;
//! for row in &outcome.report.rows {
//!     println!("{} {} {:+.1}%", row.treatment, row.metric, row.effect);
//! }
//! # Ok::<(), botify_lab::Error>(())
//! ```

pub mod curve;
pub mod eval;
pub mod export;
pub mod logs;
pub mod models;
pub mod observer;
pub mod ope;
pub mod plan;
pub mod run;
pub mod service;
pub mod simulate;

pub use observer::{EpochReport, Observer, Quiet};

/// Whether `cause` says a file or configuration the user gave is wrong (a line of a world or
/// log file, a field of an experiments file) rather than the run failing: a command line exits
/// with 2 for it, as for a bad flag. The libraries' errors wrap each other transparently, so
/// each wrapper is looked into.
pub fn is_bad_input(cause: &(dyn std::error::Error + 'static)) -> bool {
    fn core(e: &botify_core::Error) -> bool {
        matches!(e, botify_core::Error::Line { .. })
    }
    fn recs(e: &botify_recs::Error) -> bool {
        match e {
            botify_recs::Error::Config(_) => true,
            botify_recs::Error::Core(c) => core(c),
        }
    }
    fn sim(e: &botify_sim::Error) -> bool {
        match e {
            botify_sim::Error::Core(c) => core(c),
            botify_sim::Error::Recs(r) => recs(r),
            _ => false,
        }
    }
    fn lab(e: &Error) -> bool {
        match e {
            Error::Core(c) => core(c),
            Error::Recs(r) => recs(r),
            Error::Sim(s) => sim(s),
            Error::Stage { source, .. } => lab(source),
            Error::Invalid(_) => true,
            _ => false,
        }
    }
    cause.downcast_ref().is_some_and(core)
        || cause.downcast_ref().is_some_and(recs)
        || cause.downcast_ref().is_some_and(sim)
        || cause.downcast_ref().is_some_and(lab)
}
pub use plan::Plan;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] botify_core::Error),
    #[error(transparent)]
    Recs(#[from] botify_recs::Error),
    #[error(transparent)]
    Sim(#[from] botify_sim::Error),
    #[error(transparent)]
    Server(#[from] botify_server::Error),
    #[error(transparent)]
    Ab(#[from] botify_ab::Error),
    #[error(transparent)]
    Train(#[from] botify_train::Error),
    #[error(transparent)]
    Neural(#[from] botify_neural::Error),
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// A value that cannot work, named with its field or flag.
    #[error("{0}")]
    Invalid(String),
    /// The caller's cancellation flag was set; what was made so far is kept.
    #[error("cancelled before stage '{0}'; partial results are kept")]
    Cancelled(String),
    /// A stage failed; the cause follows.
    #[error("stage '{stage}' failed: {source}")]
    Stage { stage: String, source: Box<Error> },
}

impl Error {
    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Writes `text` to `path`, naming the path on failure.
pub(crate) fn write(path: &std::path::Path, text: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Creates `dir` and its parents, naming it on failure.
pub(crate) fn create_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}
