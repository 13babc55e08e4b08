//! Simulated days in-process: the listener model against a recommender configuration (the very
//! code the service runs) or against the oracle, in parallel and deterministic.
//!
//! Determinism: episode `i` of day `d` draws its user, interest, first track and listening
//! randomness from its own stream, and its recommender randomness from another. Episodes are
//! grouped by user and each user's episodes run in index order (their history carries over), so
//! the result is the same whatever the thread count.

use crate::dynamics::{Listener, ListenerDynamics, Rules};
use crate::episode::{Episode, Step, Visit, episode_start};
pub use crate::episode::{EpisodeStats, SimParams};
use crate::listener::Session;
use crate::nearest::{NeighbourCache, TrackIndex};
use crate::{Error, Result};
use botify_core::eventlog::{LogSender, LogUnavailable};
use botify_core::events::{Record, write_line};
use botify_core::hash::FastMap;
use botify_core::rng::{Rng, stream};
use botify_core::{TrackId, World};
use botify_recs::call::Answer;
use botify_recs::experiments::Router;
use botify_recs::{History, Request};
use rand::Rng as _;
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

pub use crate::clock::{DAY_MS, EPOCH_MS, STEP_MS};

/// Who picks the next track.
pub enum Agent<'a> {
    /// A recommender configuration, routed per user exactly like the service.
    Router(&'a Router),
    /// Knows the hidden embeddings: greedy best expected listen time (no replays, artist
    /// fatigue included). The upper bound learned recommenders are judged against.
    Oracle,
}

/// Mean and standard error.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct MeanSe {
    pub mean: f64,
    pub se: f64,
}

impl MeanSe {
    pub fn of(xs: impl Iterator<Item = f64> + Clone) -> MeanSe {
        let n = xs.clone().count() as f64;
        if n == 0.0 {
            return MeanSe {
                mean: f64::NAN,
                se: f64::NAN,
            };
        }
        let mean = xs.clone().sum::<f64>() / n;
        let var = if n > 1.0 {
            xs.map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
        } else {
            0.0
        };
        MeanSe {
            mean,
            se: (var / n).sqrt(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DaySummary {
    pub day: u32,
    pub episodes: usize,
    pub reward: MeanSe,
    pub steps: MeanSe,
}

impl DaySummary {
    pub fn of(day: u32, eps: &[EpisodeStats]) -> DaySummary {
        DaySummary {
            day,
            episodes: eps.len(),
            reward: MeanSe::of(eps.iter().map(|e| f64::from(e.reward))),
            steps: MeanSe::of(eps.iter().map(|e| f64::from(e.steps))),
        }
    }
}

/// A day's sessions: each episode's interest and planned start, the episodes grouped by
/// listener (index order kept) and, with returns on, each episode's listener.
#[derive(Debug, Clone, Default)]
pub struct DayPlan {
    pub by_user: Vec<Vec<u32>>,
    pub interests: Vec<TrackId>,
    /// When each episode is due to start (ms); a listener's next session never starts before
    /// their previous one ended.
    pub starts: Vec<u64>,
    /// The listener of each episode when the day's visits chose them (returns on); else each
    /// episode's stream draws its listener uniformly (the course's model).
    pub visitors: Option<Vec<usize>>,
    /// Each episode's listener (index into `world.users`).
    pub users: Vec<usize>,
}

/// Plans day `p`: `p.episodes` sessions spread evenly over the day, each of a uniformly drawn
/// listener, or, with returns on, the visits the listeners' rates give (`p.episodes` is then
/// the day's expected sessions at zero satisfaction).
pub fn plan_day(world: &World, p: &SimParams, dynamics: Option<&ListenerDynamics>) -> DayPlan {
    let day_start = EPOCH_MS + u64::from(p.day) * DAY_MS;
    let spacing = DAY_MS / p.episodes.max(1) as u64;
    let visits = dynamics
        .filter(|d| d.rules.params.returns > 0.0)
        .map(|d| d.visits(p.seed, p.day, p.episodes as f64 / world.users.len() as f64));
    let n = visits.as_ref().map_or(p.episodes, Vec::len);
    let mut plan = DayPlan {
        by_user: vec![Vec::new(); world.users.len()],
        interests: Vec::with_capacity(n),
        starts: Vec::with_capacity(n),
        visitors: visits.as_ref().map(|v| v.iter().map(|&(_, u)| u).collect()),
        users: Vec::with_capacity(n),
    };
    for i in 0..n {
        let planned = visits.as_ref().map(|v| v[i].1);
        let (u, mut rng) = episode_start(world, p, i, planned);
        let interests = match dynamics {
            Some(d) => &d.listeners[u].interests,
            None => &world.users[u].interests,
        };
        plan.by_user[u].push(i as u32);
        plan.users.push(u);
        plan.interests
            .push(interests[rng.random_range(0..interests.len())]);
        plan.starts.push(match &visits {
            Some(v) => v[i].0,
            None => day_start + i as u64 * spacing,
        });
    }
    plan
}

/// Episode `i`'s user (index into `world.users`) and the interest its session opens on, in the
/// course's model: what [`crate::nearest::NeighbourCache::ensure`] needs before
/// [`crate::episode::Episode::open`].
pub fn episode_interest(world: &World, p: &SimParams, i: usize) -> (usize, TrackId) {
    let (u, mut rng) = episode_start(world, p, i, None);
    let user = &world.users[u];
    (u, user.interests[rng.random_range(0..user.interests.len())])
}

/// The tracks nearest a session's taste the oracle caches by default, before it widens.
pub const ORACLE_CANDIDATES: usize = 400;

/// An empty cache of the neighbours first tracks are drawn from (as many as the most exploring
/// user draws among).
pub fn first_track_cache(world: &World) -> NeighbourCache {
    let k = world
        .users
        .iter()
        .map(|u| u.interest_neighbours() as usize)
        .max()
        .unwrap_or(10);
    NeighbourCache::new(k)
}

/// Runs a day's sessions (given as a closure), e.g. inside a one-thread pool that holds a lock
/// its recommenders need — the Python package's GIL — while the day's nearest-track search
/// before them keeps every core.
#[derive(Clone)]
pub struct SessionRunner(pub std::sync::Arc<RunSessions>);

/// Called with the day's sessions; must run them once.
pub type RunSessions = dyn Fn(&mut (dyn FnMut() + Send)) + Send + Sync;

impl std::fmt::Debug for SessionRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionRunner")
    }
}

/// The simulator: the world, memoised neighbours, and every user's history across days.
pub struct Simulator<'w> {
    world: &'w World,
    index: TrackIndex,
    pub(crate) first: NeighbourCache,
    oracle: NeighbourCache,
    histories: Vec<History>,
    /// The world's listener dynamics and every listener's state (`None`: the course's model).
    pub(crate) dynamics: Option<ListenerDynamics>,
    /// The next day's plan, once asked for (its seed, day and sessions).
    planned: Option<((u64, u32, usize), DayPlan)>,
    sessions_in: Option<SessionRunner>,
    /// The embeddings' content hash, computed once if neighbour files are used.
    hash: Option<u64>,
    /// Set from outside (Ctrl-C): the day's remaining sessions are skipped and it fails.
    cancel: Option<Arc<AtomicBool>>,
}

impl<'w> Simulator<'w> {
    pub fn new(world: &'w World, history: usize) -> Result<Self> {
        if world.users.is_empty() {
            return Err(Error::Invalid("the world has no users".into()));
        }
        Ok(Simulator {
            world,
            index: TrackIndex::default(),
            first: first_track_cache(world),
            oracle: NeighbourCache::new(ORACLE_CANDIDATES),
            histories: vec![History::new(history); world.users.len()],
            dynamics: ListenerDynamics::new(world),
            planned: None,
            sessions_in: None,
            hash: None,
            cancel: None,
        })
    }

    /// The oracle caches the `k` tracks nearest each session's taste; a session that runs through
    /// them widens its search past them, so the picks are the same for every `k` (a fixed taste).
    pub fn set_oracle_candidates(&mut self, k: usize) {
        if k != self.oracle.k() {
            self.oracle = NeighbourCache::new(k.max(1));
        }
    }

    /// A flag that stops a day between sessions when set (a caller's Ctrl-C): the day then
    /// returns [`Error::Cancelled`].
    pub fn set_cancel(&mut self, cancel: Option<Arc<AtomicBool>>) {
        self.cancel = cancel;
    }

    /// Runs every later day's sessions through `runner` (the neighbour search stays outside).
    pub fn set_session_runner(&mut self, runner: Option<SessionRunner>) {
        self.sessions_in = runner;
    }

    pub fn world(&self) -> &'w World {
        self.world
    }
    /// Exact nearest tracks of session interests (memoised), from which first tracks are drawn.
    pub fn first_cache(&self) -> &NeighbourCache {
        &self.first
    }

    /// The listener dynamics' state, when the world has dynamics.
    pub fn dynamics(&self) -> Option<&ListenerDynamics> {
        self.dynamics.as_ref()
    }

    /// Day `p`'s plan (drifting the listeners' interests to it first), made once however often
    /// it is asked for before the day runs: the day's sessions are what change the state it
    /// is made from.
    fn plan(&mut self, p: &SimParams) -> &DayPlan {
        let key = (p.seed, p.day, p.episodes);
        if self.planned.as_ref().is_none_or(|(k, _)| *k != key) {
            if let Some(d) = &mut self.dynamics {
                d.begin_day(self.world, p.seed, p.day);
            }
            let plan = plan_day(self.world, p, self.dynamics.as_ref());
            self.planned = Some((key, plan));
        }
        &self.planned.as_ref().expect("planned just above").1
    }

    /// How many sessions day `p` will have: `p.episodes`, or with returns on, the listeners'
    /// visits.
    pub fn planned_sessions(&mut self, p: &SimParams) -> usize {
        self.plan(p).interests.len()
    }

    /// Plans the day and computes the exact first-track neighbours it needs; every agent
    /// starts its day here (the plan is used up: the day's sessions change what the next one
    /// is made from).
    pub(crate) fn prepare_day(&mut self, p: &SimParams) -> DayPlan {
        self.plan(p);
        let (_, plan) = self.planned.take().expect("planned just above");
        let emb = &self.world.embeddings;
        self.first
            .ensure(&self.index, emb, plan.interests.iter().copied());
        plan
    }

    /// Computes, before day `p` runs, the exact neighbour lists it will need that are not cached
    /// yet (with `oracle`, also the oracle's candidates), so a caller can show the search's
    /// progress: `start(n)` is told how many searches there are (not called when there are
    /// none), `done(n)` as blocks of `n` finish. Returns the seconds spent building the search
    /// index if this call built it (before `start`).
    pub fn search_neighbours(
        &mut self,
        p: &SimParams,
        oracle: bool,
        start: &dyn Fn(u64),
        done: &(dyn Fn(u64) + Sync),
    ) -> Option<f64> {
        self.plan(p);
        let interests = &self
            .planned
            .as_ref()
            .expect("planned just above")
            .1
            .interests;
        let first = self.first.missing(interests.iter().copied());
        let candidates = if oracle {
            self.oracle.missing(interests.iter().copied())
        } else {
            Vec::new()
        };
        let total = (first.len() + candidates.len()) as u64;
        if total == 0 {
            return None;
        }
        let emb = &self.world.embeddings;
        let built = (!self.index.is_built()).then(|| {
            let t = std::time::Instant::now();
            self.index.get(emb);
            t.elapsed().as_secs_f64()
        });
        start(total);
        self.first.fill(&self.index, emb, &first, done);
        self.oracle.fill(&self.index, emb, &candidates, done);
        built
    }

    /// Adds the neighbour lists cached in `world_dir` (files written by
    /// [`Simulator::save_neighbours`] for this world's embeddings; others are ignored). Returns
    /// how many lists were loaded.
    pub fn load_neighbours(&mut self, world_dir: &Path) -> Result<usize> {
        let (emb, hash) = (&self.world.embeddings, self.content_hash());
        let mut n = 0;
        for cache in [&mut self.first, &mut self.oracle] {
            n += cache.load(&cache.file_in(world_dir), emb, hash)?;
        }
        Ok(n)
    }

    /// Writes the neighbour lists computed since the last load or save into `world_dir`, for the
    /// next run on the same world; returns whether anything was written.
    pub fn save_neighbours(&mut self, world_dir: &Path) -> Result<bool> {
        let (emb, hash) = (&self.world.embeddings, self.content_hash());
        let mut wrote = false;
        for cache in [&mut self.first, &mut self.oracle] {
            wrote |= cache.save(&cache.file_in(world_dir), emb, hash)?;
        }
        Ok(wrote)
    }

    fn content_hash(&mut self) -> u64 {
        *self
            .hash
            .get_or_insert_with(|| self.world.embeddings.content_hash())
    }

    /// Runs one day of `p.episodes` sessions; optionally writes the event log through `log`.
    /// `progress` is called with the number of episodes just finished.
    pub fn run_day(
        &mut self,
        agent: &Agent,
        p: &SimParams,
        log: Option<&LogSender>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<EpisodeStats>> {
        let world = self.world;
        let plan = self.prepare_day(p);
        if matches!(agent, Agent::Oracle) {
            self.oracle.ensure(
                &self.index,
                &world.embeddings,
                plan.interests.iter().copied(),
            );
        }
        let planned = plan.interests.len();
        let (rules, mut listeners) = split_listeners(&mut self.dynamics, world.users.len());
        // The oracle widens its search past the cached candidates through the index (built on
        // the first session that needs it).
        let oracle_index = matches!(agent, Agent::Oracle).then_some(&self.index);
        let ctx = DayContext {
            world,
            agent,
            first_nn: &self.first,
            oracle_nn: &self.oracle,
            oracle_index,
            p,
            plan: &plan,
            rules,
        };
        let histories = &mut self.histories;
        let mut stats: Vec<EpisodeStats> = Vec::new();
        let refused = OnceLock::new();
        let day_log = log.map(|sender| DayLog {
            sender,
            refused: &refused,
        });
        let cancel = self.cancel.as_deref();
        let mut sessions = || {
            stats = run_sessions(
                &ctx,
                histories,
                &mut listeners,
                day_log.as_ref(),
                cancel,
                progress,
            );
        };
        match &self.sessions_in {
            Some(SessionRunner(run)) => run(&mut sessions),
            None => sessions(),
        }
        if let Some(e) = refused.into_inner() {
            return Err(Error::Log(e));
        }
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled(format!(
                "day {} stopped after {} of {} sessions",
                p.day + 1,
                stats.len(),
                planned
            )));
        }
        stats.sort_by_key(|e| e.episode);
        Ok(stats)
    }
}

/// The rules and each user's state (`None` each without dynamics).
pub(crate) fn split_listeners(
    dynamics: &mut Option<ListenerDynamics>,
    users: usize,
) -> (Option<&Rules>, Vec<Option<&mut Listener>>) {
    match dynamics {
        Some(d) => (Some(&d.rules), d.listeners.iter_mut().map(Some).collect()),
        None => (None, (0..users).map(|_| None).collect()),
    }
}

/// Every user's sessions of the day, users in parallel, each user's in index order.
fn run_sessions(
    ctx: &DayContext,
    histories: &mut [History],
    listeners: &mut [Option<&mut Listener>],
    log: Option<&DayLog>,
    cancel: Option<&AtomicBool>,
    progress: &(dyn Fn(u64) + Sync),
) -> Vec<EpisodeStats> {
    histories
        .par_iter_mut()
        .zip(listeners.par_iter_mut())
        .zip(ctx.plan.by_user.par_iter())
        .filter(|(_, eps)| !eps.is_empty())
        .flat_map_iter(|((history, listener), eps)| {
            let mut clock = 0u64;
            let mut out = Vec::with_capacity(eps.len());
            for &i in eps {
                if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                    break;
                }
                let start = ctx.plan.starts[i as usize].max(clock + STEP_MS);
                let mut lines = Vec::new();
                let who = Who {
                    history: &mut *history,
                    listener: listener.as_deref_mut(),
                };
                let ep = run_episode(ctx, who, i, start, log.map(|_| &mut lines));
                clock = start + u64::from(ep.steps) * STEP_MS;
                if let Some(log) = log {
                    log.send(lines);
                }
                progress(1);
                out.push(ep);
            }
            out
        })
        .collect()
}

/// The day's event log; the first refusal is kept, later lines are not sent, and the day
/// ends with the error instead of results that the log does not hold.
struct DayLog<'a> {
    sender: &'a LogSender,
    refused: &'a OnceLock<LogUnavailable>,
}

impl DayLog<'_> {
    fn send(&self, lines: Vec<u8>) {
        if self.refused.get().is_none()
            && let Err(e) = self.sender.send(lines)
        {
            let _ = self.refused.set(e);
        }
    }
}

/// What every episode of a day shares.
struct DayContext<'a> {
    world: &'a World,
    agent: &'a Agent<'a>,
    first_nn: &'a NeighbourCache,
    oracle_nn: &'a NeighbourCache,
    /// The world's index, for the oracle (`None` for recommenders).
    oracle_index: Option<&'a TrackIndex>,
    p: &'a SimParams,
    plan: &'a DayPlan,
    rules: Option<&'a Rules>,
}

/// What a listener brings to a session and takes from it: the history the recommenders see and,
/// with dynamics, their state.
struct Who<'a> {
    history: &'a mut History,
    listener: Option<&'a mut Listener>,
}

/// Opens episode `i` of the plan for `listener` starting at `start_ms`.
pub fn open_planned<'w>(
    world: &'w World,
    first_nn: &NeighbourCache,
    (p, plan, rules): (&SimParams, &DayPlan, Option<&Rules>),
    i: u32,
    listener: Option<&Listener>,
    start_ms: u64,
) -> Episode<'w> {
    let visit = Visit {
        user: plan.visitors.as_ref().map(|v| v[i as usize]),
        interests: listener.map(|l| &l.interests[..]),
        carried: rules.zip(listener).map(|(r, l)| r.carried(l, start_ms)),
    };
    Episode::open(world, first_nn, i, p, visit)
}

/// After a session of `ep` that ended at `end_ms`, the listener's state takes it in.
pub fn close_planned(
    rules: Option<&Rules>,
    listener: Option<&mut Listener>,
    ep: &Episode,
    end_ms: u64,
) {
    if let (Some(r), Some(l)) = (rules, listener) {
        r.after_session(l, end_ms, ep.mean_time(), ep.session().listens());
    }
}

/// Runs episode `i` against the day's agent from `start_ms`, keeping the user's history and
/// state and writing its log lines into `log`.
fn run_episode(
    ctx: &DayContext,
    who: Who,
    i: u32,
    start_ms: u64,
    mut log: Option<&mut Vec<u8>>,
) -> EpisodeStats {
    let DayContext {
        world,
        agent,
        first_nn,
        oracle_nn,
        oracle_index,
        p,
        plan,
        rules,
    } = *ctx;
    let Who { history, listener } = who;
    let mut ep = open_planned(
        world,
        first_nn,
        (p, plan, rules),
        i,
        listener.as_deref(),
        start_ms,
    );
    let user = ep.user();
    let mut rec_rng = stream(
        p.seed,
        b"recommender",
        (u64::from(p.day) << 32) | u64::from(i),
    );
    let (treatment, experiments): (_, Vec<(&str, &str)>) = match agent {
        Agent::Router(r) => (Some(r.treatment(user)), r.assignments(user).collect()),
        Agent::Oracle => (None, Vec::new()),
    };
    let bucket = treatment
        .and_then(|t| botify_core::murmur::treatment_bucket(&t.name))
        .unwrap_or(0) as u8;
    let candidates = oracle_nn.get(ep.session().interest).unwrap_or(&[]);
    let mut scan = OracleScan::default();
    let mut ts = start_ms;
    let n = world.catalog.len() as u32;
    let line = |buf: &mut Option<&mut Vec<u8>>, r: Record| {
        if let Some(buf) = buf.as_deref_mut() {
            write_line(buf, &r, experiments.iter().copied());
        }
    };
    loop {
        let req = ep.request();
        // The recommender's own compute time, as the service logs its handler's: measured only
        // when the line is written (the clock is not free at millions of steps per second).
        let started = log.is_some().then(std::time::Instant::now);
        // The log's propensity, as the service computes it (only for a written line).
        let (rec, propensity) = match treatment {
            Some(t) if log.is_some() => {
                t.next_track_with_propensity(req, history.as_slice(), &mut rec_rng, n)
            }
            Some(t) => (t.next_track(req, history.as_slice(), &mut rec_rng, n), None),
            None => (
                oracle_pick(
                    (world, oracle_index),
                    ep.session(),
                    candidates,
                    &mut scan,
                    &mut rec_rng,
                ),
                None,
            ),
        };
        let answer = Answer::next(req, rec).with_propensity(propensity);
        let latency = started.map_or(0.0, |t| t.elapsed().as_secs_f64());
        line(&mut log, answer.record(ts, latency));
        history.push(answer.listen());
        ts += STEP_MS;
        if let Step::Over { track, time } = ep.play(rec) {
            let last = Answer::last(Request { user, track, time });
            line(&mut log, last.record(ts, 0.0));
            history.push(last.listen());
            close_planned(rules, listener, &ep, ts);
            return ep.stats(bucket);
        }
    }
}

/// What the oracle keeps through a session: its candidates widened past the cached ones, the
/// session's played tracks as bits and its plays by artist, so a long session's scan passes over
/// played tracks and discounted artists at once. (The session's own lists are searched linearly,
/// right for the one lookup a step of every other agent; asked for each scanned candidate they
/// made the oracle 2.5–3 times slower.)
#[derive(Default)]
struct OracleScan {
    /// The nearest unplayed tracks when widened, `asked` of them asked for (0: not widened).
    wider: Vec<TrackId>,
    asked: usize,
    played: Vec<u64>,
    artist_plays: FastMap<u32, u32>,
    marked: usize,
}

impl OracleScan {
    fn mark_played(&mut self, world: &World, s: &Session) {
        if self.played.is_empty() {
            self.played = vec![0; world.catalog.len().div_ceil(64)];
        }
        let artist_of = |t| world.catalog.artist_of(t);
        for &t in &s.played()[self.marked..] {
            self.played[t as usize / 64] |= 1 << (t % 64);
            *self.artist_plays.entry(artist_of(t)).or_default() += 1;
        }
        self.marked = s.played().len();
    }

    fn was_played(&self, t: TrackId) -> bool {
        self.played[t as usize / 64] & (1 << (t % 64)) != 0
    }
}

/// Greedy best expected time over the whole catalogue. Candidates come sorted by inner product
/// with the taste, and the undiscounted time bounds the discounted one, so the scan stops at the
/// first candidate that cannot beat the best so far. When the interest's nearest `candidates` run
/// out before that (a long session has played or discounted their artists), the scan goes on over
/// the catalogue's nearest unplayed tracks, eight times as many at a time, searched in the
/// world's exact index, so the pick is the true greedy best and does not depend on how many
/// candidates were cached. A taste that moves within the session (dynamics' taste pull) is no
/// longer sorted with the candidates: then every cached candidate is scored and none beyond them
/// (docs/dynamics.md).
fn oracle_pick(
    (world, index): (&World, Option<&TrackIndex>),
    s: &Session,
    candidates: &[TrackId],
    scan: &mut OracleScan,
    rng: &mut Rng,
) -> TrackId {
    let n = world.catalog.len();
    scan.mark_played(world, s);
    loop {
        // How far the search has looked: the cache's candidates, or the last widening's.
        let (pool, asked): (&[TrackId], _) = match scan.asked {
            0 => (candidates, candidates.len()),
            asked => (&scan.wider, asked),
        };
        let (best, settled) = oracle_scan(world, s, pool, scan);
        match index {
            Some(index) if !settled && !s.taste_moves() && asked < n => {
                let (emb, wider) = (&world.embeddings, (asked * 8).max(4096).min(n));
                let taste = emb.row(s.interest as usize);
                scan.wider = index
                    .get(emb)
                    .search_one(&emb.data, taste, wider, &|t| !scan.was_played(t));
                scan.asked = wider;
            }
            _ => {
                return match best {
                    Some((_, t)) => t,
                    None => rng.random_range(0..n as u32),
                };
            }
        }
    }
}

/// The best expected time among `pool`'s unplayed tracks (`pool` sorted by inner product with the
/// session's starting taste), and whether the scan stopped at a candidate that could not beat it
/// — no track beyond the pool can then either.
fn oracle_scan(
    world: &World,
    s: &Session,
    pool: &[TrackId],
    scan: &OracleScan,
) -> (Option<(f32, TrackId)>, bool) {
    let (b, k) = (s.user.consume_bias, s.user.consume_sharpness);
    let mut best: Option<(f32, TrackId)> = None;
    // A moving taste is no longer sorted with the candidates: then every one is scored.
    let sorted = !s.taste_moves();
    for &t in pool {
        if scan.was_played(t) {
            continue;
        }
        let dot = world.dot(t as usize, s.interest as usize);
        let bound = crate::listener::sigmoid((dot - b) * k);
        if sorted && best.is_some_and(|(v, _)| bound < v) {
            return (best, true);
        }
        if sorted && let Some((v, _)) = best {
            // The time without boredom bounds it: a discounted artist seldom needs the rest.
            let artist = world.catalog.artist_of(t);
            let plays = scan.artist_plays.get(&artist).copied().unwrap_or(0);
            if crate::listener::bored_listen_time(dot, b, k, s.gamma(), plays, 1.0) <= v {
                continue;
            }
        }
        let v = s.expected_time(t);
        if best.is_none_or(|(bv, _)| v > bv) {
            best = Some((v, t));
        }
    }
    (best, false)
}
