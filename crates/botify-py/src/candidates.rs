//! The candidate-set environment's native half (`botify.gym.CandidateEnv`): the simulator's
//! sessions ([`Slots`]) with, at every step, `K` candidates from a generator and their features;
//! the action picks one of them.

use crate::columns::Columns;
use crate::env::{Played, Slots};
use crate::{err, world};
use botify_core::TrackId;
use botify_core::catalog::NO_GENRE;
use botify_core::rng::{Rng, stream};
use botify_sim::candidates::{CandidateSpace, Generator};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::sync::Arc;

/// One slot's step state: its candidates, the session's listens so far (newest last) and the
/// candidate generator's stream.
struct SlotState {
    candidates: Vec<TrackId>,
    listens: Vec<(TrackId, f32)>,
    rng: Rng,
}

#[pyclass(module = "botify._botify")]
pub struct CandidateSessions {
    s: Slots,
    space: CandidateSpace,
    /// A Python generator `(user, previous_track, session_tracks) -> track ids`, instead of the
    /// built-in one.
    callable: Option<Py<PyAny>>,
    k: usize,
    history: usize,
    genres: u32,
    state: Vec<SlotState>,
    opened: u64,
    seed: u64,
}

/// One observation per slot, flattened: `K` candidates' ids, artists, genres and features, the
/// previous track's features with its listen time, the last `history` listens before it.
#[derive(Default)]
struct Batch {
    user: Vec<u32>,
    candidates: Vec<u32>,
    artist: Vec<u32>,
    genre: Vec<u32>,
    features: Vec<f32>,
    previous: Vec<f32>,
    history: Vec<f32>,
}

impl CandidateSessions {
    fn open(&mut self, py: Python<'_>, slots: &[usize]) -> PyResult<()> {
        self.s.open(slots);
        for &slot in slots {
            let ep = self
                .s
                .episode(slot)
                .ok_or_else(|| err("no session opened"))?;
            let st = &mut self.state[slot];
            st.rng = stream(self.seed, b"candidates", self.opened);
            self.opened += 1;
            st.listens.clear();
            st.listens.push((ep.session().first, 1.0));
        }
        for &slot in slots {
            self.propose(py, slot)?;
        }
        Ok(())
    }

    /// Draws the slot's next candidates.
    fn propose(&mut self, py: Python<'_>, slot: usize) -> PyResult<()> {
        let world = self.s.world();
        let ep = self
            .s
            .episode(slot)
            .ok_or_else(|| err("no session opened"))?;
        let req = ep.request();
        let st = &mut self.state[slot];
        let mut out = std::mem::take(&mut st.candidates);
        match &self.callable {
            None => self.space.candidates(
                world,
                ep.session(),
                req.track,
                self.k,
                &mut st.rng,
                &mut out,
            ),
            Some(f) => {
                let played: Vec<TrackId> = st.listens.iter().map(|l| l.0).collect();
                let got = f.call1(py, (req.user, req.track, played))?;
                let ids: Vec<i64> = got.extract(py).map_err(|_| {
                    err("the candidates callable must return a sequence of track ids")
                })?;
                out.clear();
                let n = world.catalog.len() as i64;
                for id in ids {
                    if !(0..n).contains(&id) {
                        return Err(err(format!(
                            "the candidates callable returned {id}, not a track id in 0..{n}"
                        )));
                    }
                    if out.len() < self.k && !out.contains(&(id as TrackId)) {
                        out.push(id as TrackId);
                    }
                }
                self.space
                    .fill_random(world.catalog.len(), self.k, &mut st.rng, &mut out);
            }
        }
        st.candidates = out;
        Ok(())
    }

    /// Appends slot `slot`'s observation to `b`.
    fn observe(&self, slot: usize, b: &mut Batch) {
        let world = self.s.world();
        let width = self.space.width();
        let st = &self.state[slot];
        let Some(ep) = self.s.episode(slot) else {
            return;
        };
        let (s, prev) = (ep.session(), ep.request().track);
        b.user.push(ep.user());
        let mut f = vec![0f32; width];
        for &t in &st.candidates {
            b.candidates.push(t);
            b.artist.push(world.catalog.artist_of(t));
            let g = self.space.genre_of[t as usize];
            b.genre.push(if g == NO_GENRE { self.genres } else { g });
            self.space.features(world, s, prev, t, &mut f);
            b.features.extend_from_slice(&f);
        }
        let mut listened = |(t, time): (TrackId, f32), out: &mut Vec<f32>| {
            self.space.features(world, s, prev, t, &mut f);
            out.extend_from_slice(&f);
            out.push(time);
        };
        let (&last, before) = st
            .listens
            .split_last()
            .expect("a session has its first track");
        listened(last, &mut b.previous);
        for j in 0..self.history {
            match before.len().checked_sub(j + 1) {
                Some(i) => listened(before[i], &mut b.history),
                None => b.history.extend(std::iter::repeat_n(0.0, width + 1)),
            }
        }
    }

    fn to_columns(b: Batch, c: &mut Columns, prefix: &str) {
        c.u32(&format!("{prefix}user"), b.user)
            .u32(&format!("{prefix}candidates"), b.candidates)
            .u32(&format!("{prefix}artist"), b.artist)
            .u32(&format!("{prefix}genre"), b.genre)
            .f32(&format!("{prefix}features"), b.features)
            .f32(&format!("{prefix}previous"), b.previous)
            .f32(&format!("{prefix}history"), b.history);
    }

    fn pick(&self, slot: usize, choice: i64) -> PyResult<TrackId> {
        let c = &self.state[slot].candidates;
        usize::try_from(choice)
            .ok()
            .and_then(|i| c.get(i))
            .copied()
            .ok_or_else(|| {
                err(format!(
                    "action {choice} is not a candidate index in 0..{}",
                    c.len()
                ))
            })
    }

    /// Plays candidate `choice` in `slot` and records the listen.
    fn play(&mut self, slot: usize, choice: i64) -> PyResult<Played> {
        let track = self.pick(slot, choice)?;
        let played = self.s.play(slot, track)?;
        self.state[slot].listens.push((track, played.time));
        Ok(played)
    }
}

#[pymethods]
impl CandidateSessions {
    #[new]
    #[pyo3(signature = (world, slots, seed, max_steps, k, history, candidates, embedding=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        world: &Bound<'_, PyAny>,
        slots: usize,
        seed: u64,
        max_steps: u32,
        k: usize,
        history: usize,
        candidates: &Bound<'_, PyAny>,
        embedding: Option<(Vec<u8>, usize)>,
    ) -> PyResult<Self> {
        let world = world::resolve(py, world)?.get().world.clone();
        if !(1..=4096).contains(&k) {
            return Err(err(format!("candidates per step {k} is not in 1..=4096")));
        }
        if k > world.catalog.len() {
            return Err(err(format!(
                "{k} candidates per step, but the catalogue has {} tracks",
                world.catalog.len()
            )));
        }
        if history > 1024 {
            return Err(err(format!("history {history} is not in 0..=1024")));
        }
        let embedding = match embedding {
            None => None,
            Some((bytes, dim)) => {
                let n = world.catalog.len();
                if dim == 0 || bytes.len() != n * dim * 4 {
                    return Err(err(format!(
                        "embedding: expected float32 [{n}, dim] (one row per track), got {} bytes for dim {dim}",
                        bytes.len()
                    )));
                }
                let values: Vec<f32> = bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    return Err(err(format!(
                        "embedding: row {} has a value that is not finite",
                        i / dim
                    )));
                }
                Some((Arc::<[f32]>::from(values), dim))
            }
        };
        let (generator, callable) = if candidates.is_callable() {
            (Generator::Default, Some(candidates.clone().unbind()))
        } else {
            let text: String = candidates.extract().map_err(|_| {
                err("candidates is default, artist, popular, random, an item-to-item file or a callable")
            })?;
            (Generator::parse(&text, &world).map_err(err)?, None)
        };
        let genres = world.catalog.genre_ids().1 as u32;
        let space = CandidateSpace::new(&world, generator, embedding);
        let s = Slots::new(world, slots, seed, max_steps)?;
        let state = (0..slots)
            .map(|_| SlotState {
                candidates: Vec::with_capacity(k),
                listens: Vec::new(),
                rng: stream(seed, b"candidates", 0),
            })
            .collect();
        Ok(CandidateSessions {
            s,
            space,
            callable,
            k,
            history,
            genres,
            state,
            opened: 0,
            seed,
        })
    }

    /// Features per track.
    #[getter]
    fn width(&self) -> usize {
        self.space.width()
    }

    /// Genre ids run from 0 to this (which stands for "no genre").
    #[getter]
    fn genres(&self) -> u32 {
        self.genres
    }

    /// Restarts under `seed` and opens a session in every slot; columns as `step_all`'s,
    /// without the step's.
    fn reset_all<'py>(&mut self, py: Python<'py>, seed: u64) -> PyResult<Bound<'py, PyList>> {
        self.s.reseed(seed);
        (self.seed, self.opened) = (seed, 0);
        let all: Vec<usize> = (0..self.s.len()).collect();
        self.open(py, &all)?;
        let mut b = Batch::default();
        for s in all {
            self.observe(s, &mut b);
        }
        let mut c = Columns::default();
        Self::to_columns(b, &mut c, "");
        c.into_py(py)
    }

    /// Opens the next session in `slot` (with `seed`: restarts under it first).
    #[pyo3(signature = (slot, seed=None))]
    fn reset<'py>(
        &mut self,
        py: Python<'py>,
        slot: usize,
        seed: Option<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        self.s.check_slot(slot)?;
        if let Some(seed) = seed {
            self.s.reseed(seed);
            (self.seed, self.opened) = (seed, 0);
        }
        self.open(py, &[slot])?;
        let mut b = Batch::default();
        self.observe(slot, &mut b);
        let mut c = Columns::default();
        Self::to_columns(b, &mut c, "");
        c.into_py(py)
    }

    /// Plays one candidate index per slot. Columns: the new observation (`user`, `candidates`,
    /// `artist`, `genre`, `features`, `previous`, `history`), `reward`, `terminated`,
    /// `truncated`, and the ended sessions' last observations (`final_*`, one row per ended
    /// slot, in slot order). An ended slot opens its next session at once.
    fn step_all<'py>(
        &mut self,
        py: Python<'py>,
        actions: Vec<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let n = self.s.check_step_all(actions.len())?;
        for (s, &a) in actions.iter().enumerate() {
            self.pick(s, a)?;
        }
        let (mut reward, mut term, mut trunc) = (vec![0f32; n], vec![0u8; n], vec![0u8; n]);
        let mut ended = Vec::new();
        for (s, &a) in actions.iter().enumerate() {
            let played = self.play(s, a)?;
            reward[s] = played.time;
            term[s] = u8::from(played.terminated);
            trunc[s] = u8::from(played.truncated);
            if played.terminated || played.truncated {
                ended.push(s);
            } else {
                self.propose(py, s)?;
            }
        }
        let mut fin = Batch::default();
        for &s in &ended {
            self.propose(py, s)?;
            self.observe(s, &mut fin);
            self.s.end(s);
        }
        if !ended.is_empty() {
            self.open(py, &ended)?;
        }
        let mut b = Batch::default();
        for s in 0..n {
            self.observe(s, &mut b);
        }
        let mut c = Columns::default();
        Self::to_columns(b, &mut c, "");
        c.f32("reward", reward)
            .u8("terminated", term)
            .u8("truncated", trunc);
        Self::to_columns(fin, &mut c, "final_");
        c.into_py(py)
    }

    /// Plays candidate `action` in `slot`: (observation columns, reward, terminated, truncated).
    /// An ended slot must be reset before it is stepped again; its observation is its last.
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        slot: usize,
        action: i64,
    ) -> PyResult<(Bound<'py, PyList>, f32, bool, bool)> {
        self.s.check_slot(slot)?;
        if self.s.episode(slot).is_none() {
            return Err(err(
                "the session is over (or never began): call reset() first",
            ));
        }
        let played = self.play(slot, action)?;
        self.propose(py, slot)?;
        let mut b = Batch::default();
        self.observe(slot, &mut b);
        if played.terminated || played.truncated {
            self.s.end(slot);
        }
        let mut c = Columns::default();
        Self::to_columns(b, &mut c, "");
        Ok((
            c.into_py(py)?,
            played.time,
            played.terminated,
            played.truncated,
        ))
    }

    fn __len__(&self) -> usize {
        self.s.len()
    }
}
