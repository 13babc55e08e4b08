//! Listening sessions driven one step at a time, for the Gymnasium environments
//! (`botify.gym.ListenerEnv` and its vectorised form): the simulator's own episode state machine,
//! so a session here is the session `botify sim` would run for the same seed and index.

use crate::columns::Columns;
use crate::{err, world};
use botify_core::World as CoreWorld;
use botify_sim::dynamics::ListenerDynamics;
use botify_sim::episode::{Episode, Step};
use botify_sim::nearest::{NeighbourCache, TrackIndex};
use botify_sim::runner::{
    DayPlan, STEP_MS, SimParams, close_planned, episode_interest, first_track_cache, open_planned,
    plan_day,
};
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::sync::Arc;

/// `n` session slots over one world. Sessions are numbered from 0 after every seeding; slot `i`
/// of a fresh reset plays session `i`, and each later session takes the next number. Both
/// environments' native halves ([`Sessions`], [`crate::candidates::CandidateSessions`]) drive it.
pub(crate) struct Slots {
    // Declared before `world`: dropped first, since they borrow it.
    slots: Vec<Option<Episode<'static>>>,
    first: NeighbourCache,
    index: TrackIndex,
    params: SimParams,
    next: u64,
    /// With listener dynamics, sessions are the listeners' consecutive visits.
    visits: Option<Visits>,
    world: Arc<CoreWorld>,
}

/// Listeners with dynamics: their state across sessions and the current day's visits. Sessions
/// follow the day's plan in order and a day's plan is made when its first session opens (from
/// the state the sessions before it left). A day has on average two visits per listener at zero
/// satisfaction, as `botify sim`'s default day (20,000 sessions, 10,000 listeners).
struct Visits {
    dynamics: ListenerDynamics,
    plan: DayPlan,
    day: Option<u32>,
    cursor: usize,
    /// Per slot: the open session's listener and planned start (ms).
    open: Vec<Option<(usize, u64)>>,
}

impl Visits {
    fn new(world: &CoreWorld, slots: usize) -> Option<Visits> {
        Some(Visits {
            dynamics: ListenerDynamics::new(world)?,
            plan: DayPlan::default(),
            day: None,
            cursor: 0,
            open: vec![None; slots],
        })
    }

    fn params(&self, p: &SimParams, users: usize) -> SimParams {
        SimParams {
            episodes: 2 * users,
            day: self.day.unwrap_or(0),
            ..*p
        }
    }
}

/// An observation: (user, previous track, its listen time).
pub(crate) type Obs = (u32, u32, f32);

/// What a slot's session did with a track.
pub(crate) struct Played {
    pub time: f32,
    /// The observation after the play (the ended session's last, when it ended).
    pub obs: Obs,
    /// The listener ended the session.
    pub terminated: bool,
    /// The session reached the step cap with the listener still there.
    pub truncated: bool,
}

impl Slots {
    pub fn new(world: Arc<CoreWorld>, slots: usize, seed: u64, max_steps: u32) -> PyResult<Self> {
        if slots == 0 {
            return Err(err("slots must be at least 1"));
        }
        if max_steps == 0 {
            return Err(err("max_steps must be at least 1"));
        }
        if world.users.is_empty() {
            return Err(err("the world has no users"));
        }
        Ok(Slots {
            slots: (0..slots).map(|_| None).collect(),
            first: first_track_cache(&world),
            index: TrackIndex::default(),
            params: SimParams {
                episodes: 0,
                seed,
                day: 0,
                max_steps,
            },
            next: 0,
            visits: Visits::new(&world, slots),
            world,
        })
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn world(&self) -> &CoreWorld {
        &self.world
    }

    /// The open session of `slot`.
    pub fn episode(&self, slot: usize) -> Option<&Episode<'static>> {
        self.slots.get(slot)?.as_ref()
    }

    /// Plays `track` in `slot`. An ended session stays readable until [`Slots::end`].
    pub fn play(&mut self, slot: usize, track: u32) -> PyResult<Played> {
        let ep = self.slots[slot]
            .as_mut()
            .ok_or_else(|| err("the session is over (or never began): call reset() first"))?;
        let step = ep.play(track);
        let r = ep.request();
        let obs = (r.user, r.track, r.time);
        let played = match step {
            Step::Next { time } => Played {
                time,
                obs,
                terminated: false,
                truncated: false,
            },
            Step::Over { time, .. } => Played {
                time,
                obs,
                terminated: !ep.capped(),
                truncated: ep.capped(),
            },
        };
        Ok(played)
    }

    /// Closes the ended session of `slot` (its listener takes it in); the slot is empty until
    /// opened again.
    pub fn end(&mut self, slot: usize) {
        self.close(slot);
        self.slots[slot] = None;
    }

    fn world_ref(&self) -> &'static CoreWorld {
        // SAFETY: the world lives in an Arc this struct owns and never mutates; every borrow
        // handed out (the episodes in `slots`) is dropped before it (field order, and `slots`
        // is only ever replaced while `self.world` is alive).
        unsafe { &*Arc::as_ptr(&self.world) }
    }

    fn params_of(&self, number: u64) -> (SimParams, usize) {
        let p = SimParams {
            day: (number >> 32) as u32,
            ..self.params
        };
        (p, number as u32 as usize)
    }

    /// Opens the next sessions in `slots`, computing their first-track neighbours in one batch.
    pub fn open(&mut self, slots: &[usize]) {
        if self.visits.is_some() {
            return self.open_visits(slots);
        }
        let world = self.world_ref();
        let numbers: Vec<u64> = (0..slots.len() as u64).map(|k| self.next + k).collect();
        self.next += slots.len() as u64;
        let interests: Vec<_> = numbers
            .iter()
            .map(|&n| {
                let (p, i) = self.params_of(n);
                episode_interest(world, &p, i).1
            })
            .collect();
        self.first.ensure(&self.index, &world.embeddings, interests);
        for (&slot, &n) in slots.iter().zip(&numbers) {
            let (p, i) = self.params_of(n);
            self.slots[slot] = Some(Episode::open(
                world,
                &self.first,
                i as u32,
                &p,
                Default::default(),
            ));
        }
    }

    /// Opens the next visits in `slots`, starting the next day when the current one has no
    /// more (its first-track neighbours in one batch).
    fn open_visits(&mut self, slots: &[usize]) {
        let world = self.world_ref();
        let Some(v) = self.visits.as_mut() else {
            return;
        };
        for &slot in slots {
            while v.day.is_none() || v.cursor == v.plan.users.len() {
                let day = v.day.map_or(0, |d| d + 1);
                v.day = Some(day);
                v.dynamics.begin_day(world, self.params.seed, day);
                let p = v.params(&self.params, world.users.len());
                v.plan = plan_day(world, &p, Some(&v.dynamics));
                v.cursor = 0;
                self.first.ensure(
                    &self.index,
                    &world.embeddings,
                    v.plan.interests.iter().copied(),
                );
            }
            let i = v.cursor;
            v.cursor += 1;
            self.next += 1;
            let (u, start) = (v.plan.users[i], v.plan.starts[i]);
            let p = v.params(&self.params, world.users.len());
            let day = (&p, &v.plan, Some(&v.dynamics.rules));
            let listener = Some(&v.dynamics.listeners[u]);
            self.slots[slot] = Some(open_planned(
                world,
                &self.first,
                day,
                i as u32,
                listener,
                start,
            ));
            v.open[slot] = Some((u, start));
        }
    }

    /// The listener of the session in `slot`, which just ended, takes it in (dynamics on).
    fn close(&mut self, slot: usize) {
        let (Some(v), Some(ep)) = (self.visits.as_mut(), self.slots[slot].as_ref()) else {
            return;
        };
        if let Some((u, start)) = v.open[slot].take() {
            let end = start + u64::from(ep.stats(0).steps) * STEP_MS;
            let listener = Some(&mut v.dynamics.listeners[u]);
            close_planned(Some(&v.dynamics.rules), listener, ep, end);
        }
    }

    /// Restarts numbering (and, with dynamics, the listeners' state) under `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.params.seed = seed;
        self.next = 0;
        self.visits = Visits::new(&self.world, self.slots.len());
    }

    pub fn obs(&self, slot: usize) -> Obs {
        match &self.slots[slot] {
            Some(ep) => {
                let r = ep.request();
                (r.user, r.track, r.time)
            }
            None => (0, 0, 0.0),
        }
    }

    /// Checks that a step of every slot has one action per slot and every slot a session open;
    /// returns the number of slots.
    pub fn check_step_all(&self, actions: usize) -> PyResult<usize> {
        let n = self.len();
        if actions != n {
            return Err(err(format!("{actions} actions for {n} slots")));
        }
        if (0..n).any(|s| self.episode(s).is_none()) {
            return Err(err("call reset() before step()"));
        }
        Ok(n)
    }

    pub fn check_slot(&self, slot: usize) -> PyResult<()> {
        if slot >= self.slots.len() {
            return Err(err(format!(
                "slot {slot} is out of range: there are {} slots",
                self.slots.len()
            )));
        }
        Ok(())
    }

    pub fn check_action(&self, action: i64) -> PyResult<u32> {
        let n = self.world.catalog.len() as i64;
        if !(0..n).contains(&action) {
            return Err(err(format!("action {action} is not a track id in 0..{n}")));
        }
        Ok(action as u32)
    }
}

/// The track-id environment's native half: observation (user, previous track, its listen time).
#[pyclass(module = "botify._botify")]
pub struct Sessions {
    s: Slots,
}

#[pymethods]
impl Sessions {
    #[new]
    #[pyo3(signature = (world, slots, seed, max_steps))]
    fn new(
        py: Python<'_>,
        world: &Bound<'_, PyAny>,
        slots: usize,
        seed: u64,
        max_steps: u32,
    ) -> PyResult<Self> {
        let world = world::resolve(py, world)?.get().world.clone();
        Ok(Sessions {
            s: Slots::new(world, slots, seed, max_steps)?,
        })
    }

    /// Restarts numbering from session 0 under `seed` and opens a session in every slot.
    fn reset_all<'py>(&mut self, py: Python<'py>, seed: u64) -> PyResult<Bound<'py, PyList>> {
        self.s.reseed(seed);
        let all: Vec<usize> = (0..self.s.len()).collect();
        self.s.open(&all);
        let mut c = Columns::default();
        let obs: Vec<Obs> = all.iter().map(|&s| self.s.obs(s)).collect();
        c.u32("user", obs.iter().map(|o| o.0))
            .u32("track", obs.iter().map(|o| o.1))
            .f32("time", obs.iter().map(|o| o.2));
        c.into_py(py)
    }

    /// Opens the next session in `slot` (after seeding, when `seed` is given, session 0).
    #[pyo3(signature = (slot, seed=None))]
    fn reset(&mut self, slot: usize, seed: Option<u64>) -> PyResult<(Obs, u64)> {
        self.s.check_slot(slot)?;
        if let Some(seed) = seed {
            self.s.reseed(seed);
        }
        let number = self.s.next;
        self.s.open(&[slot]);
        Ok((self.s.obs(slot), number))
    }

    /// Plays `action` in `slot`: (observation, listen time, terminated, truncated). A finished
    /// slot must be reset before it is stepped again.
    fn step(&mut self, slot: usize, action: i64) -> PyResult<(Obs, f32, bool, bool)> {
        self.s.check_slot(slot)?;
        let track = self.s.check_action(action)?;
        let played = self.s.play(slot, track)?;
        if played.terminated || played.truncated {
            self.s.end(slot);
        }
        Ok((played.obs, played.time, played.terminated, played.truncated))
    }

    /// Plays one action per slot; a slot whose session ends opens the next one at once and its
    /// row shows the new session's first observation (the ended one's last observation is in
    /// `final_*`). Columns: user, track, time, reward, terminated, truncated, final_user,
    /// final_track, final_time.
    fn step_all<'py>(
        &mut self,
        py: Python<'py>,
        actions: Vec<i64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let n = self.s.check_step_all(actions.len())?;
        let tracks = actions
            .iter()
            .map(|&a| self.s.check_action(a))
            .collect::<PyResult<Vec<u32>>>()?;
        let (mut reward, mut term, mut trunc) = (vec![0f32; n], vec![0u8; n], vec![0u8; n]);
        let mut fin = vec![(0, 0, 0.0); n];
        let mut ended = Vec::new();
        for (s, &t) in tracks.iter().enumerate() {
            let played = self.s.play(s, t)?;
            reward[s] = played.time;
            if played.terminated || played.truncated {
                term[s] = u8::from(played.terminated);
                trunc[s] = u8::from(played.truncated);
                fin[s] = played.obs;
                ended.push(s);
            }
        }
        for &s in &ended {
            self.s.end(s);
        }
        if !ended.is_empty() {
            self.s.open(&ended);
        }
        let obs: Vec<Obs> = (0..n).map(|s| self.s.obs(s)).collect();
        let mut c = Columns::default();
        c.u32("user", obs.iter().map(|o| o.0))
            .u32("track", obs.iter().map(|o| o.1))
            .f32("time", obs.iter().map(|o| o.2))
            .f32("reward", reward)
            .u8("terminated", term)
            .u8("truncated", trunc)
            .u32("final_user", fin.iter().map(|o| o.0))
            .u32("final_track", fin.iter().map(|o| o.1))
            .f32("final_time", fin.iter().map(|o| o.2));
        c.into_py(py)
    }

    /// The number of slots.
    fn __len__(&self) -> usize {
        self.s.len()
    }
}
