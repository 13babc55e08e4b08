//! `botify.World`: generate (the very files `botify world generate` writes) or load a world
//! directory, ours or the course's.

use crate::columns::Columns;
use crate::{err, progress};
use botify_core::World as CoreWorld;
use botify_core::generate::{WorldParams, generate};
use botify_core::world::{EMBEDDINGS_FILE, Stats, TRACKS_FILE};
use botify_lab::observer::Observer;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use std::sync::Arc;

/// A world: its catalogue, hidden track embeddings and hidden listeners, and the directory that
/// holds its files (`tracks.json`, `tracks.npy`, `users.json`).
#[pyclass(module = "botify._botify", frozen)]
pub struct World {
    pub world: Arc<CoreWorld>,
    pub dir: PathBuf,
}

impl World {
    pub fn catalog_file(&self) -> PathBuf {
        self.dir.join(TRACKS_FILE)
    }
}

/// Generator parameters: the defaults, then `config` (a TOML file or a dict of any
/// `WorldParams` field), then the keyword arguments that were given.
fn params(
    config: Option<&Bound<'_, PyAny>>,
    given: [(&str, Option<u64>); 5],
    dynamics: Option<&Bound<'_, PyAny>>,
) -> PyResult<WorldParams> {
    let mut p = match config {
        None => WorldParams::default(),
        Some(c) if c.is_instance_of::<PyDict>() => crate::from_py(c, "config")?,
        Some(c) => {
            let path: PathBuf = c.extract().map_err(|_| {
                err("config is a path to a TOML file of world parameters or a dict of them")
            })?;
            let text = std::fs::read_to_string(&path)
                .map_err(|e| err(format!("config {}: {e}", path.display())))?;
            toml::from_str(&text)
                .map_err(|e| err(format!("{}: bad world parameters: {e}", path.display())))?
        }
    };
    for (name, v) in given {
        let Some(v) = v else { continue };
        let v_usize = usize::try_from(v).map_err(|_| err(format!("{name} {v} is too large")))?;
        match name {
            "tracks" => p.tracks = v_usize,
            "users" => p.users = v_usize,
            "dim" => p.dim = v_usize,
            "genres" => p.genres = v_usize,
            _ => p.seed = v,
        }
    }
    if let Some(d) = dynamics {
        p.dynamics = crate::from_py(d, "dynamics")?;
    }
    p.validate().map_err(err)?;
    Ok(p)
}

#[pymethods]
impl World {
    /// Generates a world and writes it to `out`: the same parameters and seed give the same
    /// bytes as `botify world generate` on any machine.
    #[staticmethod]
    #[pyo3(signature = (out, *, tracks=None, users=None, dim=None, seed=None, genres=None, config=None, dynamics=None, progress=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        py: Python<'_>,
        out: PathBuf,
        tracks: Option<u64>,
        users: Option<u64>,
        dim: Option<u64>,
        seed: Option<u64>,
        genres: Option<u64>,
        config: Option<&Bound<'_, PyAny>>,
        dynamics: Option<&Bound<'_, PyAny>>,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<World> {
        let p = params(
            config,
            [
                ("tracks", tracks),
                ("users", users),
                ("dim", dim),
                ("seed", seed),
                ("genres", genres),
            ],
            dynamics,
        )?;
        let world = progress::run(py, progress, |obs| {
            obs.stage("generate");
            let w = generate(&p)?;
            obs.stage("write");
            w.write(&out)?;
            Ok::<_, botify_core::Error>(w)
        })?
        .map_err(err)?;
        Ok(World {
            world: Arc::new(world),
            dir: out,
        })
    }

    /// Loads and validates a world directory (ours, or the course's files).
    #[staticmethod]
    fn load(py: Python<'_>, dir: PathBuf) -> PyResult<World> {
        let world = py
            .detach(|| CoreWorld::load(&dir))
            .map_err(|e| err(format!("loading world {}: {e}", dir.display())))?;
        Ok(World {
            world: Arc::new(world),
            dir,
        })
    }

    /// The directory holding the world's files.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    #[getter]
    fn n_tracks(&self) -> usize {
        self.world.catalog.len()
    }

    #[getter]
    fn n_users(&self) -> usize {
        self.world.users.len()
    }

    #[getter]
    fn dim(&self) -> usize {
        self.world.embeddings.dim
    }

    /// The listeners' dynamics (`dynamics.json`; every value 0 when the world has none).
    #[getter]
    fn dynamics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let text = serde_json::to_string(&self.world.dynamics).map_err(err)?;
        Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
    }

    /// `tracks.npy`, which `World.embeddings` maps into memory.
    #[getter]
    fn embeddings_file(&self) -> PathBuf {
        self.dir.join(EMBEDDINGS_FILE)
    }

    /// Statistics as `botify world stats --json` prints them.
    fn stats(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let text = serde_json::to_string(&Stats::of(&self.world)).map_err(err)?;
        Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
    }

    /// The catalogue as columns (see `World.tracks`).
    fn _tracks_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let t = &self.world.catalog.tracks;
        let mut c = Columns::default();
        c.u32("track", t.iter().map(|t| t.track))
            .strings("artist", t.iter().map(|t| t.artist.clone()))
            .strings("title", t.iter().map(|t| t.title.clone()))
            .strings(
                "genre",
                t.iter().map(|t| t.genre.clone().unwrap_or_default()),
            )
            .i64("year", t.iter().map(|t| t.year.map_or(-1, i64::from)))
            .f32("duration", t.iter().map(|t| t.duration.unwrap_or(f32::NAN)))
            .strings("mood", t.iter().map(|t| t.mood.clone().unwrap_or_default()))
            .f32("pop", t.iter().map(|t| t.pop.unwrap_or(f32::NAN)));
        c.into_py(py)
    }

    /// The listeners as columns (see `World.users`); interests travel as offsets into one array.
    fn _users_columns<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let u = &self.world.users;
        let mut c = Columns::default();
        c.u32("user", u.iter().map(|u| u.user))
            .f32("consume_bias", u.iter().map(|u| u.consume_bias))
            .f32("consume_sharpness", u.iter().map(|u| u.consume_sharpness))
            .u32(
                "interest_neighbours",
                u.iter().map(|u| u.interest_neighbours()),
            )
            .u32("session_budget", u.iter().map(|u| u.session_budget()));
        let mut interests = Columns::default();
        interests
            .u32(
                "offsets",
                std::iter::once(0).chain(u.iter().scan(0u32, |n, u| {
                    *n += u.interests.len() as u32;
                    Some(*n)
                })),
            )
            .u32(
                "interests",
                u.iter().flat_map(|u| u.interests.iter().copied()),
            );
        Ok((c.into_py(py)?, interests.into_py(py)?))
    }

    fn __repr__(&self) -> String {
        format!(
            "World({} tracks, {} users, dim {}, dir={:?})",
            self.world.catalog.len(),
            self.world.users.len(),
            self.world.embeddings.dim,
            self.dir.display().to_string()
        )
    }
}

/// The world a call was given (a `World` or a directory to load).
pub fn resolve(py: Python<'_>, world: &Bound<'_, PyAny>) -> PyResult<Py<World>> {
    if let Ok(w) = world.cast::<World>() {
        return Ok(w.clone().unbind());
    }
    let dir: PathBuf = world
        .extract()
        .map_err(|_| err("world is a botify.World or the path of a world directory"))?;
    Py::new(py, World::load(py, dir)?)
}
