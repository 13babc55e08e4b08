//! One session of the listener model as a state machine that any agent drives: the in-process
//! runner, the HTTP agent and the console all ask [`Episode::request`] what to recommend for and
//! tell [`Episode::play`] what they recommended. The rules — the listener's draws, the step
//! count, the reward, the step cap, when the session ends — live here once.

use crate::dynamics::Carried;
use crate::listener::Session;
use crate::nearest::NeighbourCache;
use botify_core::rng::{Rng, stream};
use botify_core::{TrackId, UserId, World};
use botify_recs::Request;
use rand::Rng as _;
use serde::Serialize;

pub struct Episode<'w> {
    session: Session<'w>,
    /// The listener's stream (user, interest, first track, listening draws).
    rng: Rng,
    index: u32,
    day: u32,
    max_steps: u32,
    prev: TrackId,
    prev_time: f32,
    steps: u32,
    reward: f32,
}

/// What the listener did with a recommendation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Listened for `time`; the session goes on.
    Next { time: f32 },
    /// Listened to `track` for `time` and the session is over: the agent says `last`.
    Over { track: TrackId, time: f32 },
}

/// Who a session is for, beyond the course's model (where everything comes from the episode's
/// stream): the listener the day's visits planned, their drifted interests, what earlier
/// sessions left them.
#[derive(Default)]
pub struct Visit<'a> {
    /// Index into `world.users` when the day's plan chose the listener (returns on).
    pub user: Option<usize>,
    /// The listener's current interests, when they drift.
    pub interests: Option<&'a [TrackId]>,
    pub carried: Option<Carried>,
}

impl<'w> Episode<'w> {
    /// Opens episode `i` of the day `p`: the user (index into `world.users`) is drawn from the
    /// episode's own stream, so every agent meets the same listener for the same seed — unless
    /// `visit` names one (listener dynamics).
    pub fn open(
        world: &'w World,
        first_nn: &NeighbourCache,
        i: u32,
        p: &SimParams,
        visit: Visit,
    ) -> Self {
        let (u, mut rng) = episode_start(world, p, i as usize, visit.user);
        let interests = visit.interests.unwrap_or(&world.users[u].interests);
        let session = open_session(world, first_nn, u, interests, visit.carried, &mut rng);
        let first = session.first;
        Episode {
            session,
            rng,
            index: i,
            day: p.day,
            max_steps: p.max_steps,
            prev: first,
            prev_time: 1.0,
            steps: 0,
            reward: 0.0,
        }
    }

    pub fn user(&self) -> UserId {
        self.session.user.user
    }

    pub fn session(&self) -> &Session<'w> {
        &self.session
    }

    /// The request the recommender answers: the previous track and its listen time.
    pub fn request(&self) -> Request {
        Request {
            user: self.user(),
            track: self.prev,
            time: self.prev_time,
        }
    }

    /// The listener plays `track`.
    pub fn play(&mut self, track: TrackId) -> Step {
        self.steps += 1;
        let time = self.session.play(track, &mut self.rng);
        self.reward += time;
        self.prev = track;
        self.prev_time = time;
        if self.session.is_over() || self.steps >= self.max_steps {
            Step::Over { track, time }
        } else {
            Step::Next { time }
        }
    }

    /// Whether the episode ended at the step cap with the listener still listening (a
    /// truncation, in Gymnasium's terms, not the listener's end).
    pub fn capped(&self) -> bool {
        self.steps >= self.max_steps && !self.session.is_over()
    }

    /// Mean listen time of the recommended tracks so far (0 before any).
    pub fn mean_time(&self) -> f32 {
        if self.steps == 0 {
            0.0
        } else {
            self.reward / self.steps as f32
        }
    }

    /// The episode's statistics so far; `treatment` is the bucket that served it.
    pub fn stats(&self, treatment: u8) -> EpisodeStats {
        EpisodeStats {
            day: self.day,
            episode: self.index,
            user: self.user(),
            treatment,
            reward: self.reward,
            steps: self.steps,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SimParams {
    pub episodes: usize,
    pub seed: u64,
    pub day: u32,
    /// Safety cap on recommendations per session (a perfect recommender could go on forever).
    pub max_steps: u32,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            episodes: botify_core::defaults::SESSIONS,
            seed: botify_core::defaults::SEED,
            day: 0,
            max_steps: botify_core::defaults::MAX_STEPS,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EpisodeStats {
    pub day: u32,
    pub episode: u32,
    pub user: u32,
    /// Treatment bucket of the routing experiment (0 = C); 0 for the oracle.
    pub treatment: u8,
    /// Sum of listen times of the recommended tracks.
    pub reward: f32,
    /// Number of recommendations.
    pub steps: u32,
}

/// Draws the session's interest (among `interests`) and first track (uniform among the
/// interest's nearest tracks).
pub(crate) fn open_session<'w>(
    world: &'w World,
    first_nn: &NeighbourCache,
    u: usize,
    interests: &[TrackId],
    carried: Option<Carried>,
    rng: &mut Rng,
) -> Session<'w> {
    let user = &world.users[u];
    let interest = interests[rng.random_range(0..interests.len())];
    let near = first_nn.get(interest).unwrap_or(&[]);
    let near = &near[..near.len().min(user.interest_neighbours() as usize)];
    let first = if near.is_empty() {
        interest
    } else {
        near[rng.random_range(0..near.len())]
    };
    Session::start_carrying(world, user, interest, first, carried)
}

/// The episode's user (index into `world.users`) and its listener stream: drawn from the
/// episode's stream, or the planned visitor's own.
pub(crate) fn episode_start(
    world: &World,
    p: &SimParams,
    i: usize,
    planned: Option<usize>,
) -> (usize, Rng) {
    let index = (u64::from(p.day) << 32) | i as u64;
    match planned {
        Some(u) => (u, stream(p.seed, b"visit", index)),
        None => {
            let mut rng = stream(p.seed, b"episode", index);
            let u = rng.random_range(0..world.users.len());
            (u, rng)
        }
    }
}
