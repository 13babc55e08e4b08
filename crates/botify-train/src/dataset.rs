//! Events → interactions: (user, track, time) per listen, positives by a threshold, next-track
//! pairs from consecutive events of a session, and seeded random or time-based splits.

use crate::{Error, Result};
use botify_core::events::{Event, Message};
use botify_core::hash::FastMap;
use botify_core::rng::stream;
use botify_core::{Catalog, TrackId, UserId};
use rand::Rng;

/// One listen: `user` listened to `track` for `time`, at `timestamp`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Listen {
    pub user: UserId,
    pub track: TrackId,
    pub time: f32,
    pub timestamp: u64,
    /// Index of the session within the user's history (for session co-occurrence).
    pub session: u32,
    /// The service recommended this track: the session's previous event named it as its
    /// `recommendation` (a session's first track is the client's own pick).
    pub recommended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The last `fraction` of listens by timestamp are held out (what happens next).
    Time,
    /// A seeded random `fraction` of listens is held out.
    Random,
}

/// Listens of a log, ordered by (user, timestamp), over a catalogue of `tracks` tracks.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub tracks: usize,
    pub listens: Vec<Listen>,
}

impl Dataset {
    /// Builds from events; tracks outside the catalogue are an error that names them. Events are
    /// ordered by (user, timestamp) with a stable sort, so events of the same millisecond keep
    /// the order they were given in (as [`botify_core::events::read_events`] returns them).
    pub fn from_events(mut events: Vec<Event>, tracks: usize) -> Result<Dataset> {
        if events.is_empty() {
            return Err(Error::Invalid("the logs hold no events to train on".into()));
        }
        if let Some(e) = events.iter().find(|e| e.track as usize >= tracks) {
            return Err(Error::Invalid(format!(
                "the logs mention track {} (user {}, timestamp {}) but the catalogue has {tracks} tracks: wrong catalogue for these logs?",
                e.track, e.user, e.timestamp
            )));
        }
        events.sort_by_key(|e| (e.user, e.timestamp));
        let mut listens = Vec::with_capacity(events.len());
        let (mut user, mut session) = (u32::MAX, 0u32);
        // What the service recommended after the session's previous event.
        let mut offered: Option<TrackId> = None;
        for e in &events {
            if e.user != user {
                user = e.user;
                session = 0;
                offered = None;
            }
            listens.push(Listen {
                user: e.user,
                track: e.track,
                time: e.time,
                timestamp: e.timestamp,
                session,
                recommended: offered == Some(e.track),
            });
            offered = e.recommendation;
            if e.message == Message::Last {
                session += 1;
                offered = None;
            }
        }
        Ok(Dataset { tracks, listens })
    }

    /// Splits into (train, test); `fraction` of listens go to test.
    pub fn split(&self, how: Split, fraction: f64, seed: u64) -> (Dataset, Dataset) {
        if fraction <= 0.0 || self.listens.is_empty() {
            return (
                self.clone(),
                Dataset {
                    tracks: self.tracks,
                    listens: Vec::new(),
                },
            );
        }
        let mut test_mask = vec![false; self.listens.len()];
        match how {
            Split::Time => {
                let mut ts: Vec<u64> = self.listens.iter().map(|l| l.timestamp).collect();
                ts.sort_unstable();
                let cut = ts[((ts.len() as f64) * (1.0 - fraction))
                    .floor()
                    .min(ts.len() as f64 - 1.0) as usize];
                for (m, l) in test_mask.iter_mut().zip(&self.listens) {
                    *m = l.timestamp >= cut;
                }
            }
            Split::Random => {
                let mut rng = stream(seed, b"split", 0);
                for m in &mut test_mask {
                    *m = rng.random::<f64>() < fraction;
                }
            }
        }
        let pick = |want: bool| Dataset {
            tracks: self.tracks,
            listens: self
                .listens
                .iter()
                .zip(&test_mask)
                .filter(|(_, m)| **m == want)
                .map(|(l, _)| *l)
                .collect(),
        };
        (pick(false), pick(true))
    }

    /// Per user, the tracks listened at least `threshold` (deduplicated, first listen order).
    pub fn positives(&self, threshold: f32) -> FastMap<UserId, Vec<TrackId>> {
        let mut out: FastMap<UserId, Vec<TrackId>> = FastMap::default();
        for l in &self.listens {
            if l.time >= threshold {
                let v = out.entry(l.user).or_default();
                if !v.contains(&l.track) {
                    v.push(l.track);
                }
            }
        }
        out
    }

    /// Every distinct (user, track) listened at least `threshold`, sorted.
    pub fn liked_pairs(&self, threshold: f32) -> Vec<(UserId, TrackId)> {
        let mut pairs: Vec<(UserId, TrackId)> = self
            .positives(threshold)
            .into_iter()
            .flat_map(|(u, ts)| ts.into_iter().map(move |t| (u, t)))
            .collect();
        pairs.sort_unstable();
        pairs
    }

    /// Per user, every track heard (any time).
    pub fn heard(&self) -> FastMap<UserId, Vec<TrackId>> {
        let mut out: FastMap<UserId, Vec<TrackId>> = FastMap::default();
        for l in &self.listens {
            out.entry(l.user).or_default().push(l.track);
        }
        for v in out.values_mut() {
            v.sort_unstable();
            v.dedup();
        }
        out
    }

    /// (previous track, next track, next listen time) for consecutive listens of a session.
    pub fn next_pairs(&self) -> impl Iterator<Item = (TrackId, TrackId, f32)> + '_ {
        self.listens
            .windows(2)
            .filter(|w| w[0].user == w[1].user && w[0].session == w[1].session)
            .map(|w| (w[0].track, w[1].track, w[1].time))
    }

    /// Each session's listens, in order (a session is never empty).
    pub fn sessions(&self) -> impl Iterator<Item = &[Listen]> + '_ {
        self.listens
            .chunk_by(|a, b| a.user == b.user && a.session == b.session)
    }

    /// The listens of `session` after its first track that are the first of their artist in it
    /// (the first track's artist counts as played): a repeated artist's time is discounted
    /// whatever the taste. `seen` is a buffer the caller keeps between sessions.
    pub fn fresh_artist_listens<'a>(
        session: &'a [Listen],
        catalog: &'a Catalog,
        seen: &'a mut Vec<u32>,
    ) -> impl Iterator<Item = &'a Listen> + 'a {
        seen.clear();
        seen.push(catalog.artist_of(session[0].track));
        session[1..].iter().filter(move |l| {
            let artist = catalog.artist_of(l.track);
            let fresh = !seen.contains(&artist);
            if fresh {
                seen.push(artist);
            }
            fresh
        })
    }

    /// (session's first track, later track, its listen time) for every later listen of a
    /// session. In the listener model a listen's time depends on the session's taste, which the
    /// first track (drawn near it) stands for better than the previous track does.
    pub fn anchor_pairs(&self) -> Vec<(TrackId, TrackId, f32)> {
        self.sessions()
            .flat_map(|s| s[1..].iter().map(|l| (s[0].track, l.track, l.time)))
            .collect()
    }

    /// `(track, next track)` pairs of a session where the next track was liked (time ≥
    /// `threshold`): what per-track lists are scored on. At most `max`, evenly spaced.
    pub fn next_liked_pairs(&self, threshold: f32, max: usize) -> Vec<(TrackId, TrackId)> {
        let all: Vec<(TrackId, TrackId)> = self
            .next_pairs()
            .filter(|&(a, b, t)| t >= threshold && a != b)
            .map(|(a, b, _)| (a, b))
            .collect();
        if all.len() <= max {
            return all;
        }
        let step = all.len() as f64 / max as f64;
        (0..max).map(|i| all[(i as f64 * step) as usize]).collect()
    }

    /// (user, track, listen time) of every listen, in order.
    pub fn listen_times(&self) -> Vec<(UserId, TrackId, f32)> {
        self.listens
            .iter()
            .map(|l| (l.user, l.track, l.time))
            .collect()
    }

    /// Users ids present, ascending.
    pub fn users(&self) -> Vec<UserId> {
        let mut u: Vec<UserId> = self.listens.iter().map(|l| l.user).collect();
        u.dedup();
        u
    }
}

/// A log event for tests: `user` listened to `track` for `time`; `last` ends the session.
#[cfg(test)]
pub(crate) fn event(user: u32, track: u32, time: f32, timestamp: u64, last: bool) -> Event {
    Event {
        message: if last { Message::Last } else { Message::Next },
        timestamp,
        user,
        track,
        time,
        latency: 0.0,
        recommendation: None,
        experiments: Default::default(),
        propensity: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ev(user: u32, ts: u64, track: u32, time: f32, last: bool) -> Event {
        Event {
            message: if last { Message::Last } else { Message::Next },
            timestamp: ts,
            user,
            track,
            time,
            latency: 0.0,
            recommendation: None,
            experiments: BTreeMap::new(),
            propensity: None,
        }
    }

    #[test]
    fn sessions_pairs_positives_and_splits() {
        let events = vec![
            ev(1, 3, 12, 0.9, true),
            ev(1, 1, 10, 1.0, false),
            ev(1, 2, 11, 0.2, false),
            ev(1, 4, 13, 0.8, false),
            ev(2, 5, 10, 0.75, true),
        ];
        let d = Dataset::from_events(events, 20).unwrap();
        let pairs: Vec<_> = d.next_pairs().collect();
        assert_eq!(pairs, vec![(10, 11, 0.2), (11, 12, 0.9)]);
        // The session's first track (10) against every later one; 13 opens a new session.
        assert_eq!(d.anchor_pairs(), vec![(10, 11, 0.2), (10, 12, 0.9)]);
        let pos = d.positives(0.7);
        assert_eq!(pos[&1], vec![10, 12, 13]);
        assert_eq!(pos[&2], vec![10]);
        assert_eq!(d.liked_pairs(0.7), vec![(1, 10), (1, 12), (1, 13), (2, 10)]);
        let (train, test) = d.split(Split::Time, 0.4, 0);
        assert_eq!(
            test.listens.iter().map(|l| l.timestamp).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert_eq!(train.listens.len(), 3);
        let (a, b) = d.split(Split::Random, 0.5, 9);
        assert_eq!(a.listens.len() + b.listens.len(), 5);
        assert!(
            Dataset::from_events(vec![ev(1, 1, 99, 0.5, false)], 20)
                .unwrap_err()
                .to_string()
                .contains("track 99")
        );
        assert!(Dataset::from_events(vec![], 20).is_err());
    }

    #[test]
    fn a_listen_is_recommended_when_the_sessions_previous_event_named_it() {
        let rec = |mut e: Event, r: u32| {
            e.recommendation = Some(r);
            e
        };
        let events = vec![
            rec(ev(1, 1, 10, 1.0, false), 11),
            rec(ev(1, 2, 11, 1.0, false), 99), // followed
            rec(ev(1, 3, 12, 1.0, true), 13),  // not what was offered; ends the session
            rec(ev(1, 4, 13, 1.0, false), 14), // a new session's own pick, though 13 was offered
            rec(ev(2, 5, 14, 1.0, false), 1),  // another user: own pick
        ];
        let d = Dataset::from_events(events, 100).unwrap();
        let flags: Vec<bool> = d.listens.iter().map(|l| l.recommended).collect();
        assert_eq!(flags, vec![false, true, false, false, false]);
    }
}
