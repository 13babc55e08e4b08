//! One session of the listener model as a state machine that any agent drives: the in-process
//! runner, the HTTP agent and the console all ask [`Episode::request`] what to recommend for and
//! tell [`Episode::play`] what they recommended. The rules — the listener's draws, the step
//! count, the reward, the step cap, when the session ends — live here once.

use crate::listener::Session;
use crate::nearest::NeighbourCache;
use crate::runner::{EpisodeStats, SimParams, episode_start, open_session};
use botify_core::rng::Rng;
use botify_core::{TrackId, UserId, World};
use botify_recs::Request;

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

impl<'w> Episode<'w> {
    /// Opens episode `i` of the day `p`: the user (index into `world.users`) is drawn from the
    /// episode's own stream, so every agent meets the same listener for the same seed.
    pub fn open(world: &'w World, first_nn: &NeighbourCache, i: u32, p: &SimParams) -> Self {
        let (u, mut rng) = episode_start(world, p, i as usize);
        let session = open_session(world, first_nn, u, &mut rng);
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
