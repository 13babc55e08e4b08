//! `botify.serve`: the real Rust service (HTTP, event log, A/B routing) on a port of this
//! process, answering with built-in and Python recommenders alike. Handlers call Python with the
//! GIL; the Python thread that started the server keeps running (a notebook stays usable).

use crate::recommender::{Failures, failures_dict, register, treatments as build_treatments};
use crate::{err, world};
use botify_lab::service::{Service, ServiceConfig};
use botify_recs::experiments::ExperimentsConfig;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// A running service; `stop()` (or leaving a `with` block) drains requests in flight and
/// flushes the event log.
#[pyclass(module = "botify._botify", frozen)]
pub struct Server {
    service: Mutex<Option<Service>>,
    url: String,
    log_dir: PathBuf,
    experiments_file: PathBuf,
    admin_token: String,
    failures: Vec<(String, Arc<Failures>)>,
    /// Stopped after the service (fields drop after `Drop::drop`).
    dashboard: Option<botify_dashboard::DashboardServer>,
}

impl Server {
    fn take(&self) -> Option<Service> {
        self.service
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Starts the service. With `treatments`, writes them as `experiments_file` (experiment
/// `experiment`); without, serves the existing `experiments_file`, whose
/// `{ type = "python", name = ... }` specs find their objects in `recommenders`.
#[pyfunction]
#[pyo3(signature = (
    world, *, experiments_file, log_dir, treatments=None, recommenders=None, experiment="PY",
    host="127.0.0.1", port=0, redis=None, redis_cluster=None, dashboard=None
))]
#[allow(clippy::too_many_arguments)]
pub fn serve(
    py: Python<'_>,
    world: &Bound<'_, PyAny>,
    experiments_file: PathBuf,
    log_dir: PathBuf,
    treatments: Option<&Bound<'_, PyDict>>,
    recommenders: Option<&Bound<'_, PyDict>>,
    experiment: &str,
    host: &str,
    port: u16,
    redis: Option<String>,
    redis_cluster: Option<Vec<String>>,
    dashboard: Option<String>,
) -> PyResult<Server> {
    let world = world::resolve(py, world)?;
    let w = world.get();
    let tracks = w.world.catalog.len() as u32;
    let ip: IpAddr = host.parse().map_err(|_| {
        err(format!(
            "host {host:?} is not an IP address such as 127.0.0.1"
        ))
    })?;
    let (hosted, failures) = match (treatments, recommenders) {
        (Some(t), None) => {
            let t = build_treatments(
                t,
                experiment,
                tracks,
                &Arc::new(std::sync::atomic::AtomicBool::new(false)),
            )?;
            let text = toml::to_string(&t.config).map_err(err)?;
            std::fs::write(&experiments_file, text)
                .map_err(|e| err(format!("writing {}: {e}", experiments_file.display())))?;
            (t.hosted, t.failures)
        }
        (None, objects) => {
            // Fail before starting on a file the service would refuse.
            ExperimentsConfig::load(&experiments_file).map_err(err)?;
            match objects {
                Some(o) => register(o, tracks)?,
                None => Default::default(),
            }
        }
        (Some(_), Some(_)) => {
            return Err(err(
                "give treatments (Python objects go right in them) or recommenders with an experiments file, not both",
            ));
        }
    };
    let dashboard = match dashboard {
        Some(addr) => {
            let addr: SocketAddr = addr.parse().map_err(|_| {
                err(format!(
                    "dashboard {addr:?} is not an address such as 127.0.0.1:5002"
                ))
            })?;
            Some(botify_dashboard::DashboardServer::start(addr).map_err(err)?)
        }
        None => None,
    };
    let cfg = ServiceConfig {
        redis: crate::redis_target(redis, redis_cluster)?,
        dashboard: dashboard
            .as_ref()
            .map(|d| d.dashboard.clone() as std::sync::Arc<dyn botify_server::LiveView>),
        addr: SocketAddr::new(ip, port),
        hosted,
        ..ServiceConfig::new(w.catalog_file(), experiments_file.clone(), log_dir.clone())
    };
    let service = py.detach(|| Service::start(cfg)).map_err(err)?;
    Ok(Server {
        url: format!("http://{}", service.addr),
        admin_token: service.admin_token().to_string(),
        service: Mutex::new(Some(service)),
        log_dir,
        experiments_file,
        failures,
        dashboard,
    })
}

#[pymethods]
impl Server {
    /// `http://host:port`.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn log_dir(&self) -> PathBuf {
        self.log_dir.clone()
    }

    #[getter]
    fn experiments_file(&self) -> PathBuf {
        self.experiments_file.clone()
    }

    /// The bearer token `POST /admin/reload` takes.
    #[getter]
    fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The live dashboard's page, when the server was started with one.
    #[getter]
    fn dashboard_url(&self) -> Option<String> {
        self.dashboard.as_ref().map(|d| d.url())
    }

    /// Python recommenders' failures so far: `{name: (count, first message)}`.
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        failures_dict(py, &self.failures)
    }

    /// Reads the experiments file and its data files again (the Python objects stay).
    fn reload(&self, py: Python<'_>) -> PyResult<String> {
        let guard = self.service.lock().unwrap_or_else(|p| p.into_inner());
        let s = guard.as_ref().ok_or_else(|| err("the server is stopped"))?;
        py.detach(|| s.reload()).map_err(err)
    }

    /// Stops the service: requests in flight finish, the event log is flushed. Returns
    /// `(requests answered, log lines written)`; stopping twice is harmless.
    fn stop(&self, py: Python<'_>) -> PyResult<Option<(u64, u64)>> {
        let Some(mut s) = self.take() else {
            return Ok(None);
        };
        let report = py.detach(|| s.stop()).map_err(err)?;
        Ok(Some((report.answered, report.log_lines)))
    }

    /// Whether the service is running.
    #[getter]
    fn running(&self) -> bool {
        self.service
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn __repr__(&self) -> String {
        format!(
            "Server({}, log_dir={:?})",
            self.url,
            self.log_dir.display().to_string()
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut s) = self.take() {
            // Handlers may be waiting for the GIL: let go of it while the service drains.
            Python::attach(|py| py.detach(|| drop(s.stop())));
        }
    }
}
