//! The world's listener dynamics ([`botify_core::dynamics::Dynamics`]) applied: what each
//! listener carries from session to session and day to day, and the formulas of
//! `docs/dynamics.md`, each a small pure function.
//!
//! Time is in days from the simulation's epoch (day `d` is `[d, d + 1)`). Every random draw comes
//! from a stream of (seed, purpose, day, user), so a day's result does not depend on the thread
//! count or on the order in which users run.

use crate::clock::{DAY_MS, EPOCH_MS};
use botify_core::dynamics::Dynamics;
use botify_core::rng::stream;
use botify_core::{TrackId, World};
use rand::Rng;
use std::sync::Arc;

use botify_core::catalog::NO_GENRE;
/// Fatigue below this is forgotten (its factor is above 0.99 at boredom 1).
const FORGET: f32 = 0.01;

/// `x` after `dt` days of halving every `half_life` days.
pub fn decayed(x: f32, dt: f64, half_life: f32) -> f32 {
    if dt <= 0.0 {
        return x;
    }
    x * (-dt / f64::from(half_life)).exp2() as f32
}

/// Visits per day: `base × (1 + returns × satisfaction)`.
pub fn visit_rate(base: f64, returns: f32, satisfaction: f32) -> f64 {
    base * (1.0 + f64::from(returns) * f64::from(satisfaction))
}

/// Satisfaction after a session whose recommended tracks were listened to `mean_time` on
/// average: the mean of the decayed satisfaction and the session's.
pub fn satisfaction_after(decayed_satisfaction: f32, mean_time: f32) -> f32 {
    (decayed_satisfaction + mean_time) / 2.0
}

/// The factor boredom puts on a listen time: `exp(-(boredom × artist + genre_boredom × genre))`.
pub fn boredom_factor(boredom: f32, artist: f32, genre_boredom: f32, genre: f32) -> f32 {
    (-(boredom * artist + genre_boredom * genre)).exp()
}

/// The taste after a listen of `time` to `track`: moved towards it by `pull × time`, rescaled to
/// the norm it had (so listen times stay on the world's scale).
pub fn pulled(taste: &mut [f32], track: &[f32], pull: f32, time: f32) {
    let w = pull * time;
    if w <= 0.0 {
        return;
    }
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let before = norm(taste);
    for (t, x) in taste.iter_mut().zip(track) {
        *t = (1.0 - w) * *t + w * x;
    }
    let after = norm(taste);
    if after > 0.0 {
        taste.iter_mut().for_each(|t| *t *= before / after);
    }
}

/// Times in `[0, 1)` (fractions of the day) of a day's visits by a listener whose rate decays
/// from `rate(0)` towards `rate(∞)` (a non-increasing rate): Lewis–Shedler thinning.
pub fn visits_in_day(rate: impl Fn(f64) -> f64, rng: &mut impl Rng) -> Vec<f64> {
    let top = rate(0.0);
    let mut out = Vec::new();
    if top <= 0.0 {
        return out;
    }
    let mut t = 0.0;
    loop {
        t += -(1.0 - rng.random::<f64>()).ln() / top;
        if t >= 1.0 {
            return out;
        }
        if rng.random::<f64>() * top < rate(t) {
            out.push(t);
        }
    }
}

/// What one listener carries across sessions and days.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Current interests (the world's until they drift).
    pub interests: Vec<TrackId>,
    pub satisfaction: f32,
    /// When `satisfaction` was last set (days).
    satisfied_at: f64,
    /// Listen time given to each artist and genre in earlier sessions, as of `fatigue_at`.
    artist_fatigue: Vec<(u32, f32)>,
    genre_fatigue: Vec<(u32, f32)>,
    fatigue_at: f64,
}

/// What a session starts with from earlier ones: fatigue as of its start, and how strong the
/// dynamics that act within it are.
#[derive(Debug, Clone, Default)]
pub struct Carried {
    pub taste_pull: f32,
    boredom: f32,
    genre_boredom: f32,
    artist_fatigue: Vec<(u32, f32)>,
    genre_fatigue: Vec<(u32, f32)>,
    genre_of: Arc<[u32]>,
}

impl Carried {
    /// The factor on the listen time of a track by `artist` (1 with no fatigue).
    pub fn factor(&self, track: TrackId, artist: u32) -> f32 {
        let find = |list: &[(u32, f32)], key: u32| {
            list.iter()
                .find(|(k, _)| *k == key)
                .map_or(0.0, |&(_, f)| f)
        };
        let a = find(&self.artist_fatigue, artist);
        let g = match self.genre_of.get(track as usize) {
            Some(&g) if g != NO_GENRE => find(&self.genre_fatigue, g),
            _ => 0.0,
        };
        if a == 0.0 && g == 0.0 {
            1.0
        } else {
            boredom_factor(self.boredom, a, self.genre_boredom, g)
        }
    }
}

/// The dynamics of one world and what they need of its catalogue.
pub struct Rules {
    pub params: Dynamics,
    genre_of: Arc<[u32]>,
    /// Artists by genre (an artist's genre is its first track's), for drift.
    genre_artists: Vec<Vec<u32>>,
    artist_genre: Vec<u32>,
}

/// The rules of one world and every listener's state.
pub struct ListenerDynamics {
    pub rules: Rules,
    pub listeners: Vec<Listener>,
    /// The day the listeners' interests are current for (drift is applied day by day up to it).
    day: Option<u32>,
}

impl ListenerDynamics {
    /// `None` when the world's listeners have no dynamics (the course's model).
    pub fn new(world: &World) -> Option<Self> {
        if world.dynamics.is_off() {
            return None;
        }
        let (genre_of, genres) = world.catalog.genre_ids();
        let genre_of: Arc<[u32]> = genre_of.into();
        let artist_genre: Vec<u32> = world
            .catalog
            .artist_tracks
            .iter()
            .map(|ts| ts.first().map_or(NO_GENRE, |&t| genre_of[t as usize]))
            .collect();
        let mut genre_artists = vec![Vec::new(); genres];
        for (a, &g) in artist_genre.iter().enumerate() {
            if g != NO_GENRE {
                genre_artists[g as usize].push(a as u32);
            }
        }
        let listeners = world
            .users
            .iter()
            .map(|u| Listener {
                interests: u.interests.clone(),
                satisfaction: 0.0,
                satisfied_at: 0.0,
                artist_fatigue: Vec::new(),
                genre_fatigue: Vec::new(),
                fatigue_at: 0.0,
            })
            .collect();
        Some(ListenerDynamics {
            rules: Rules {
                params: world.dynamics.clone(),
                genre_of,
                genre_artists,
                artist_genre,
            },
            listeners,
            day: None,
        })
    }

    /// Brings every listener's interests to `day`: one drift step per day since the last call
    /// (none on the first day simulated).
    pub fn begin_day(&mut self, world: &World, seed: u64, day: u32) {
        let from = *self.day.get_or_insert(day);
        if day <= from {
            return;
        }
        self.day = Some(day);
        if self.rules.params.drift == 0.0 {
            return;
        }
        use rayon::prelude::*;
        let rules = &self.rules;
        self.listeners
            .par_iter_mut()
            .enumerate()
            .for_each(|(u, l)| {
                for d in from + 1..=day {
                    let mut rng = stream(seed, b"drift", (u64::from(d) << 32) | u as u64);
                    rules.drift_step(world, &mut l.interests, world.users[u].openness(), &mut rng);
                }
            });
    }

    /// The day's visits with returns on: (time in ms, user index), in time order; `base` is the
    /// visit rate per listener and day at zero satisfaction.
    pub fn visits(&self, seed: u64, day: u32, base: f64) -> Vec<(u64, usize)> {
        use rayon::prelude::*;
        let p = &self.rules.params;
        let (returns, half) = (p.returns, p.return_half_life);
        let day_start = f64::from(day);
        let mut all: Vec<(u64, usize)> = self
            .listeners
            .par_iter()
            .enumerate()
            .flat_map_iter(|(u, l)| {
                let mut rng = stream(seed, b"visits", (u64::from(day) << 32) | u as u64);
                let s0 = decayed(l.satisfaction, day_start - l.satisfied_at, half);
                let rate = |t: f64| visit_rate(base, returns, decayed(s0, t, half));
                visits_in_day(rate, &mut rng)
                    .into_iter()
                    .map(move |t| (to_ms(day_start + t), u))
            })
            .collect();
        all.sort_unstable();
        all
    }
}

impl Rules {
    /// One day of drift: each interest is replaced with probability `drift`, by a track of
    /// another artist of its genre or, with probability `openness`, by any track.
    fn drift_step(
        &self,
        world: &World,
        interests: &mut [TrackId],
        openness: f32,
        rng: &mut impl Rng,
    ) {
        let n = world.catalog.len() as u32;
        for k in 0..interests.len() {
            if rng.random::<f32>() >= self.params.drift {
                continue;
            }
            let old = interests[k];
            let genre = self.artist_genre[world.catalog.artist_of(old) as usize];
            let related = self
                .genre_artists
                .get(genre as usize)
                .filter(|a| a.len() > 1);
            let new = match related {
                Some(artists) if rng.random::<f32>() >= openness => {
                    let a = artists[rng.random_range(0..artists.len())];
                    let tracks = &world.catalog.artist_tracks[a as usize];
                    tracks[rng.random_range(0..tracks.len())]
                }
                _ => rng.random_range(0..n),
            };
            if !interests.contains(&new) {
                interests[k] = new;
            }
        }
    }

    /// What a session of `listener` starting at `start_ms` carries.
    pub fn carried(&self, listener: &Listener, start_ms: u64) -> Carried {
        let p = &self.params;
        let bored = p.boredom > 0.0 || p.genre_boredom > 0.0;
        let now = to_days(start_ms);
        let decay = |list: &[(u32, f32)]| -> Vec<(u32, f32)> {
            if !bored {
                return Vec::new();
            }
            list.iter()
                .map(|&(k, f)| {
                    (
                        k,
                        decayed(f, now - listener.fatigue_at, p.boredom_half_life),
                    )
                })
                .collect()
        };
        Carried {
            taste_pull: p.taste_pull,
            boredom: p.boredom,
            genre_boredom: p.genre_boredom,
            artist_fatigue: decay(&listener.artist_fatigue),
            genre_fatigue: decay(&listener.genre_fatigue),
            genre_of: self.genre_of.clone(),
        }
    }

    /// Updates `listener` after a session that ended at `end_ms`: its satisfaction from the mean
    /// listen time of the recommended tracks, its fatigue from every track played (`(track,
    /// artist, listen time)`, the first track included).
    pub fn after_session(
        &self,
        listener: &mut Listener,
        end_ms: u64,
        mean_time: f32,
        played: impl Iterator<Item = (TrackId, u32, f32)>,
    ) {
        let p = &self.params;
        let now = to_days(end_ms);
        let s = decayed(
            listener.satisfaction,
            now - listener.satisfied_at,
            p.return_half_life,
        );
        listener.satisfaction = satisfaction_after(s, mean_time);
        listener.satisfied_at = now;
        if p.boredom == 0.0 && p.genre_boredom == 0.0 {
            return;
        }
        let dt = now - listener.fatigue_at;
        for (_, f) in listener
            .artist_fatigue
            .iter_mut()
            .chain(&mut listener.genre_fatigue)
        {
            *f = decayed(*f, dt, p.boredom_half_life);
        }
        listener.fatigue_at = now;
        for (track, artist, time) in played {
            add(&mut listener.artist_fatigue, artist, time);
            let g = self.genre_of[track as usize];
            if g != NO_GENRE {
                add(&mut listener.genre_fatigue, g, time);
            }
        }
        listener.artist_fatigue.retain(|(_, f)| *f >= FORGET);
        listener.genre_fatigue.retain(|(_, f)| *f >= FORGET);
    }
}

fn add(list: &mut Vec<(u32, f32)>, key: u32, x: f32) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, f)) => *f += x,
        None => list.push((key, x)),
    }
}

fn to_days(ms: u64) -> f64 {
    ms.saturating_sub(EPOCH_MS) as f64 / DAY_MS as f64
}

fn to_ms(days: f64) -> u64 {
    EPOCH_MS + (days * DAY_MS as f64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_halves_per_half_life() {
        assert_eq!(decayed(1.0, 2.0, 2.0), 0.5);
        assert_eq!(decayed(0.8, 6.0, 3.0), 0.2);
        assert_eq!(decayed(0.8, 0.0, 3.0), 0.8);
        assert_eq!(decayed(0.8, -1.0, 3.0), 0.8, "never grows");
    }

    #[test]
    fn rate_satisfaction_and_boredom_formulas() {
        assert_eq!(visit_rate(2.0, 0.0, 0.9), 2.0);
        assert_eq!(visit_rate(2.0, 3.0, 0.5), 5.0);
        assert_eq!(satisfaction_after(0.2, 0.6), 0.4);
        assert_eq!(boredom_factor(0.0, 5.0, 0.0, 5.0), 1.0);
        assert!((boredom_factor(0.5, 2.0, 0.1, 5.0) - (-1.5f32).exp()).abs() < 1e-7);
    }

    #[test]
    fn pull_moves_towards_the_track_and_keeps_the_norm() {
        let mut taste = vec![1.0, 0.0];
        pulled(&mut taste, &[0.0, 1.0], 0.5, 1.0);
        // (0.5, 0.5) rescaled to norm 1.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((taste[0] - h).abs() < 1e-6 && (taste[1] - h).abs() < 1e-6);
        let mut same = vec![0.3, 0.4];
        pulled(&mut same, &[1.0, 0.0], 0.5, 0.0);
        assert_eq!(same, vec![0.3, 0.4], "a zero listen does not pull");
    }

    #[test]
    fn thinning_matches_the_integrated_rate() {
        // rate(t) = 2 (1 + 3 · 0.8 · 2^(-t/0.5)): expected visits ∫₀¹ rate = 2 + 4.8 · 0.5/ln 2 · (1 - 2^-2).
        let rate = |t: f64| visit_rate(2.0, 3.0, decayed(0.8, t, 0.5));
        let want = 2.0 + 4.8 * 0.5 / std::f64::consts::LN_2 * 0.75;
        let mut rng = stream(7, b"t", 0);
        let n = 40_000;
        let total: usize = (0..n).map(|_| visits_in_day(rate, &mut rng).len()).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - want).abs() < 0.03, "mean {mean}, want {want}");
        let one = visits_in_day(rate, &mut rng);
        assert!(
            one.windows(2).all(|w| w[0] < w[1]) && one.iter().all(|&t| (0.0..1.0).contains(&t))
        );
    }

    fn small(dynamics: Dynamics) -> World {
        botify_core::generate::generate(&botify_core::generate::WorldParams {
            tracks: 2000,
            users: 50,
            dim: 8,
            dynamics,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn drift_replaces_interests_within_their_genre() {
        let mut w = small(Dynamics {
            drift: 1.0,
            ..Default::default()
        });
        w.users.iter_mut().for_each(|u| u.openness = Some(0.0));
        let mut d = ListenerDynamics::new(&w).unwrap();
        d.begin_day(&w, 1, 3);
        let before: Vec<_> = d.listeners.iter().map(|l| l.interests.clone()).collect();
        d.begin_day(&w, 1, 3);
        assert!(
            d.listeners
                .iter()
                .zip(&before)
                .all(|(l, b)| &l.interests == b),
            "the same day drifts once"
        );
        d.begin_day(&w, 1, 4);
        let genre = |t: TrackId| d.rules.artist_genre[w.catalog.artist_of(t) as usize];
        let (mut moved, mut total) = (0, 0);
        for (l, b) in d.listeners.iter().zip(&before) {
            for (&new, &old) in l.interests.iter().zip(b) {
                total += 1;
                if new != old {
                    moved += 1;
                    assert_eq!(genre(new), genre(old), "a related artist's track");
                }
            }
        }
        assert!(
            moved * 10 >= total * 9,
            "{moved} of {total} moved at drift 1"
        );
    }

    #[test]
    fn fatigue_grows_with_listening_and_halves_with_time_away() {
        let w = small(Dynamics {
            boredom: 0.5,
            boredom_half_life: 2.0,
            ..Default::default()
        });
        let d = ListenerDynamics::new(&w).unwrap();
        let mut l = d.listeners[0].clone();
        let t = w.catalog.artist_tracks[0][0];
        let artist = w.catalog.artist_of(t);
        let end = EPOCH_MS + DAY_MS;
        d.rules.after_session(
            &mut l,
            end,
            0.5,
            [(t, artist, 1.0), (t, artist, 0.5)].into_iter(),
        );
        assert_eq!(l.satisfaction, 0.25, "(0 + 0.5) / 2");
        let now = d.rules.carried(&l, end).factor(t, artist);
        assert!((now - (-0.5f32 * 1.5).exp()).abs() < 1e-6, "{now}");
        let later = d.rules.carried(&l, end + 2 * DAY_MS).factor(t, artist);
        assert!((later - (-0.5f32 * 0.75).exp()).abs() < 1e-6, "{later}");
        let other = w.catalog.artist_tracks[1][0];
        assert_eq!(
            d.rules.carried(&l, end).factor(other, 1),
            1.0,
            "other artists are fresh"
        );
    }
}
