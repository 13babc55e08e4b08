//! The course's listener model, as small pure functions and a session state.

use crate::dynamics::{Carried, pulled};
use botify_core::{TrackId, User, World};
use rand::Rng;

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Listen fraction of a not-yet-played track: `sigmoid((dot - bias) * sharpness)` times
/// `gamma ^ artist_plays`, rounded to two decimals.
pub fn listen_time(dot: f32, bias: f32, sharpness: f32, gamma: f32, artist_plays: u32) -> f32 {
    bored_listen_time(dot, bias, sharpness, gamma, artist_plays, 1.0)
}

/// [`listen_time`] with boredom's factor applied before the rounding (a factor of 1 changes
/// nothing: the course's value).
pub fn bored_listen_time(
    dot: f32,
    bias: f32,
    sharpness: f32,
    gamma: f32,
    artist_plays: u32,
    boredom: f32,
) -> f32 {
    let raw = sigmoid((dot - bias) * sharpness) * gamma.powi(artist_plays as i32) * boredom;
    (raw * 100.0).round() / 100.0
}

/// Whether the session budget drops after a listen of `time`: with probability `1 - time`.
pub fn budget_drops(time: f32, rng: &mut impl Rng) -> bool {
    rng.random::<f32>() >= time
}

/// One listening session of one user: the hidden session embedding and what was played.
pub struct Session<'w> {
    world: &'w World,
    pub user: &'w User,
    /// Track whose embedding is the session embedding (one of the user's interests).
    pub interest: TrackId,
    /// The first track, played before any recommendation.
    pub first: TrackId,
    played: Vec<TrackId>,
    artist_plays: Vec<(u32, u32)>,
    pub budget: u32,
    gamma: f32,
    /// What earlier sessions left (fatigue), with listener dynamics on.
    carried: Option<Carried>,
    /// The session's taste when it moves (taste pull on): starts as the interest's embedding.
    taste: Option<Vec<f32>>,
    /// Listen time of each played track, with listener dynamics on (fatigue is made of them).
    times: Vec<f32>,
}

impl<'w> Session<'w> {
    /// Starts a session on `interest`; `first` (one of its nearest tracks) counts as listened fully.
    pub fn start(world: &'w World, user: &'w User, interest: TrackId, first: TrackId) -> Self {
        Self::start_carrying(world, user, interest, first, None)
    }

    /// [`Session::start`] for a listener with dynamics: `carried` is what earlier sessions left.
    pub fn start_carrying(
        world: &'w World,
        user: &'w User,
        interest: TrackId,
        first: TrackId,
        carried: Option<Carried>,
    ) -> Self {
        let taste = carried
            .as_ref()
            .filter(|c| c.taste_pull > 0.0)
            .map(|_| world.embeddings.row(interest as usize).to_vec());
        let mut s = Session {
            world,
            user,
            interest,
            first,
            played: Vec::with_capacity(32),
            artist_plays: Vec::with_capacity(16),
            budget: user.session_budget(),
            gamma: user.artist_discount_gamma(),
            carried,
            taste,
            times: Vec::new(),
        };
        s.mark_played(first);
        s.listened(first, 1.0);
        s
    }

    /// Records a listen for the dynamics: the taste moves, fatigue will grow.
    fn listened(&mut self, track: TrackId, time: f32) {
        let Some(c) = &self.carried else { return };
        self.times.push(time);
        if let Some(taste) = &mut self.taste {
            pulled(
                taste,
                self.world.embeddings.row(track as usize),
                c.taste_pull,
                time,
            );
        }
    }

    /// Every played track with its artist and listen time (the first track's is 1), for the
    /// listener's fatigue; empty without dynamics.
    pub fn listens(&self) -> impl Iterator<Item = (TrackId, u32, f32)> + '_ {
        self.played
            .iter()
            .zip(&self.times)
            .map(|(&t, &time)| (t, self.world.catalog.artist_of(t), time))
    }

    /// Whether the taste moves within the session (then the interest's nearest tracks are no
    /// longer sorted by what the listener likes now).
    pub fn taste_moves(&self) -> bool {
        self.taste.is_some()
    }

    /// Earlier plays of `track`'s artist in this session.
    pub fn artist_plays(&self, track: TrackId) -> u32 {
        let a = self.world.catalog.artist_of(track);
        self.artist_plays
            .iter()
            .find(|(x, _)| *x == a)
            .map_or(0, |&(_, n)| n)
    }

    fn mark_played(&mut self, track: TrackId) {
        self.played.push(track);
        let a = self.world.catalog.artist_of(track);
        match self.artist_plays.iter_mut().find(|(x, _)| *x == a) {
            Some((_, n)) => *n += 1,
            None => self.artist_plays.push((a, 1)),
        }
    }

    /// The discount of each earlier play of a track's artist in the session.
    pub fn gamma(&self) -> f32 {
        self.gamma
    }

    /// The session's tracks so far, the first one first.
    pub fn played(&self) -> &[TrackId] {
        &self.played
    }

    pub fn was_played(&self, track: TrackId) -> bool {
        self.played.contains(&track)
    }

    /// The listen time the user would give `track` now, without playing it (the oracle's view).
    pub fn expected_time(&self, track: TrackId) -> f32 {
        if self.was_played(track) {
            return 0.0;
        }
        let dot = match &self.taste {
            Some(taste) => {
                botify_core::world::dot(self.world.embeddings.row(track as usize), taste)
            }
            None => self.world.dot(track as usize, self.interest as usize),
        };
        let boredom = self.carried.as_ref().map_or(1.0, |c| {
            c.factor(track, self.world.catalog.artist_of(track))
        });
        bored_listen_time(
            dot,
            self.user.consume_bias,
            self.user.consume_sharpness,
            self.gamma,
            self.artist_plays(track),
            boredom,
        )
    }

    /// Plays a recommended track: returns its listen time and updates the budget.
    pub fn play(&mut self, track: TrackId, rng: &mut impl Rng) -> f32 {
        let time = self.expected_time(track);
        self.mark_played(track);
        self.listened(track, time);
        if budget_drops(time, rng) {
            self.budget = self.budget.saturating_sub(1);
        }
        time
    }

    pub fn is_over(&self) -> bool {
        self.budget == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::generate::{WorldParams, generate};
    use botify_core::rng::stream;

    #[test]
    fn time_formula_rounding_and_discount() {
        assert_eq!(listen_time(0.5, 0.5, 10.0, 0.8, 0), 0.5);
        // sigmoid(2) = 0.8808 → 0.88; one earlier play of the artist: 0.8808 * 0.8 = 0.7046 → 0.7.
        assert_eq!(listen_time(0.7, 0.5, 10.0, 0.8, 0), 0.88);
        assert_eq!(listen_time(0.7, 0.5, 10.0, 0.8, 1), 0.7);
        assert_eq!(listen_time(0.7, 0.5, 10.0, 0.8, 2), 0.56);
        assert_eq!(listen_time(-5.0, 0.5, 10.0, 0.8, 0), 0.0);
    }

    #[test]
    fn budget_drops_with_probability_one_minus_time() {
        let mut rng = stream(3, b"b", 0);
        for (time, want) in [(0.0f32, 1.0f64), (1.0, 0.0), (0.3, 0.7), (0.75, 0.25)] {
            let n = 100_000;
            let drops = (0..n).filter(|_| budget_drops(time, &mut rng)).count();
            let p = drops as f64 / n as f64;
            assert!(
                (p - want).abs() < 0.01,
                "time {time}: drop rate {p}, want {want}"
            );
        }
    }

    #[test]
    fn replays_get_zero_and_artists_are_discounted() {
        let w = generate(&WorldParams {
            tracks: 500,
            users: 10,
            dim: 8,
            ..Default::default()
        })
        .unwrap();
        let user = &w.users[0];
        let interest = user.interests[0];
        let mut s = Session::start(&w, user, interest, interest);
        assert_eq!(
            s.expected_time(interest),
            0.0,
            "the first track is already played"
        );
        let mates: Vec<u32> = w
            .catalog
            .same_artist(interest)
            .iter()
            .copied()
            .filter(|&t| t != interest)
            .collect();
        if let Some(&mate) = mates.first() {
            let dot = w.dot(mate as usize, interest as usize);
            let want = listen_time(dot, user.consume_bias, user.consume_sharpness, 0.8, 1);
            assert_eq!(s.expected_time(mate), want);
        }
        let mut rng = stream(1, b"x", 0);
        let other = (0..500u32)
            .find(|&t| w.catalog.artist_of(t) != w.catalog.artist_of(interest))
            .unwrap();
        let t = s.play(other, &mut rng);
        assert_eq!(
            t,
            listen_time(
                w.dot(other as usize, interest as usize),
                user.consume_bias,
                user.consume_sharpness,
                0.8,
                0
            )
        );
        assert_eq!(s.play(other, &mut rng), 0.0);
        // A zero listen always drops the budget.
        let b = s.budget;
        s.play(other, &mut rng);
        assert_eq!(s.budget, b - 1);
    }
}
