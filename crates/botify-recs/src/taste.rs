//! `session_taste`: artists ranked by their taste vectors against the session's taste, which the
//! session's own listens move (Rocchio's relevance feedback).
//!
//! The session's taste starts at its first track's artist. Each later listen of an artist new to
//! the session moves it towards that artist by `feedback · (time − like)`: a long listen pulls,
//! a skip pushes away. The answer is the best-scoring artist with fewer than `artist_plays` plays
//! in the session, its most listened track not yet played; when every such artist is used up,
//! the best artist with an unplayed track. Before that, a track the user liked (`recall`) in an
//! earlier session on the same first artist comes first, then the session's own artist while it
//! holds up (`stay`), then what the same listeners opened sessions on with the first track
//! (`openers`); after `switch` skips in a row the fallback answers until a like. Vectors come
//! from the `taste` trainer (botify-train), one JSON line per artist: `{"artist", "vector",
//! "tracks"}`.

use crate::data::TrackLists;
use crate::history::{current_session, earlier_sessions};
use crate::memory::Memory;
use crate::{Error, Listen, Recommender, Request, Rng};
use botify_core::mips::MipsIndex;
use botify_core::{Catalog, TrackId};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// One line of a taste file: an artist's vector and its tracks, most listened first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtistTaste {
    pub artist: String,
    pub vector: Vec<f32>,
    pub tracks: Vec<TrackId>,
    /// The mean time of a second play of the artist in the logged sessions opened on it (shrunk
    /// towards every artist's mean): what staying with a session's own artist is worth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<f32>,
    /// The mean time of the later listens in the logged sessions opened on the artist (shrunk
    /// towards every artist's mean): what its listeners typically give, the `auto_like` bar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typical: Option<f32>,
}

/// A taste file checked against the catalogue: unit vectors by row, each row's tracks, each
/// catalogue artist's row, and an exact search index over the vectors.
pub struct Tastes {
    dim: usize,
    vectors: Vec<f32>,
    tracks: Vec<Box<[TrackId]>>,
    /// Each row's `repeat` and `typical`, where the file has them.
    repeat: Vec<Option<f32>>,
    typical: Vec<Option<f32>>,
    row_of_artist: Vec<Option<u32>>,
    index: MipsIndex,
}

impl std::fmt::Debug for Tastes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tastes({} artists, dim {})", self.len(), self.dim)
    }
}

impl Tastes {
    /// Parses the file's `text`; errors name `path`, the line and the field.
    pub fn parse(path: &Path, text: &str, catalog: &Catalog) -> crate::Result<Tastes> {
        let err = |line: usize, msg: String| -> Error {
            botify_core::Error::line(path, line, msg).into()
        };
        let (mut dim, mut vectors, mut tracks) = (0, Vec::new(), Vec::new());
        let (mut repeats, mut typicals) = (Vec::new(), Vec::new());
        let mut row_of_artist = vec![None; catalog.artists.len()];
        for (i, l) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let line = i + 1;
            let a: ArtistTaste =
                serde_json::from_str(l).map_err(|e| err(line, format!("bad artist taste: {e}")))?;
            if dim == 0 {
                dim = a.vector.len();
            }
            if a.vector.is_empty() || a.vector.len() != dim {
                return Err(err(
                    line,
                    format!(
                        "field `vector`: {} numbers, the file's first line has {}",
                        a.vector.len(),
                        dim
                    ),
                ));
            }
            let norm = a.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            if !norm.is_finite() || norm == 0.0 {
                return Err(err(
                    line,
                    "field `vector`: not a finite, non-zero vector".into(),
                ));
            }
            let Some(&first) = a.tracks.first() else {
                return Err(err(
                    line,
                    "field `tracks`: an artist needs at least one track".into(),
                ));
            };
            if let Some(&bad) = a.tracks.iter().find(|&&x| !catalog.contains(u64::from(x))) {
                return Err(err(
                    line,
                    format!(
                        "field `tracks`: track {bad} is not in the catalogue (0..{})",
                        catalog.len()
                    ),
                ));
            }
            let artist = catalog.artist_of(first);
            if let Some(&other) = a.tracks.iter().find(|&&x| catalog.artist_of(x) != artist) {
                return Err(err(
                    line,
                    format!(
                        "field `tracks`: tracks {first} and {other} are by different artists in the catalogue: wrong catalogue for this file?"
                    ),
                ));
            }
            let row = tracks.len() as u32;
            if row_of_artist[artist as usize].replace(row).is_some() {
                return Err(err(line, format!("artist of track {first} appears twice")));
            }
            vectors.extend(a.vector.iter().map(|x| x / norm));
            for (name, value) in [("repeat", a.repeat), ("typical", a.typical)] {
                if let Some(v) = value.filter(|v| !(0.0..=1.0).contains(v)) {
                    return Err(err(line, format!("field `{name}`: {v} is not in [0, 1]")));
                }
            }
            repeats.push(a.repeat);
            typicals.push(a.typical);
            tracks.push(a.tracks.into_boxed_slice());
        }
        Ok(Tastes {
            index: MipsIndex::build(&vectors, dim),
            dim,
            vectors,
            tracks,
            repeat: repeats,
            typical: typicals,
            row_of_artist,
        })
    }

    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    fn vector(&self, row: usize) -> &[f32] {
        &self.vectors[row * self.dim..(row + 1) * self.dim]
    }
}

pub struct SessionTaste {
    pub tastes: Arc<Tastes>,
    pub catalog: Arc<Catalog>,
    /// How far one listen moves the session's taste.
    pub feedback: f32,
    /// A listen longer than this pulls the taste towards its artist, a shorter one pushes.
    pub like: f32,
    /// Above 0, the bar is the session's mean listen time so far instead, with `like` counted
    /// as this many listens: in a session going well a merely good listen no longer pulls.
    pub like_weight: f32,
    /// Plays of one artist in a session before it is passed over while others remain.
    pub artist_plays: u32,
    /// A track the user listened to for at least this long in an earlier session that opened on
    /// the same artist is served again first, longest listen first; above 1, never.
    pub recall: f32,
    /// After this many skips in a row (listens shorter than `like`), the fallback answers until
    /// a listen is liked again; 0, never.
    pub switch: u32,
    /// `like` is the session's first artist's `typical` time from the taste file, where it has
    /// one: a strict world's listeners give less, and what is liked there is lower.
    pub auto_like: bool,
    /// Every logged session of the user (the `memory` trainer's file): recalled as the history
    /// is, where the history does not know the track.
    pub memory: Option<Arc<Memory>>,
    /// Per track, the tracks that opened the same listeners' sessions (`i2i` in mode
    /// `openers`): a session opens near one of its listener's interests, so its first track's
    /// are near its taste. They are served after staying and before the taste's artists.
    pub openers: Option<Arc<TrackLists>>,
    /// Serve the session's own artist again while its next play is expected to beat the bar:
    /// its last time in the session (the first track's counts) times the artist's `repeat`.
    pub stay: bool,
}

/// What the user's earlier sessions that opened on `artist` tell of their tracks: each track's
/// mean time over those sessions (its first play in each; a replay's time says nothing). The
/// oldest session in a capped history may have lost its start; it counts under the artist it
/// now starts with, a small error on one session.
fn recalled(history: &[Listen], artist: u32, catalog: &Catalog) -> Vec<(TrackId, f32)> {
    let mut seen: Vec<(TrackId, f32, u32)> = Vec::new();
    for session in earlier_sessions(history) {
        if session
            .first()
            .is_none_or(|l| catalog.artist_of(l.track) != artist)
        {
            continue;
        }
        for (i, l) in session.iter().enumerate() {
            if session[..i].iter().any(|e| e.track == l.track) {
                continue;
            }
            match seen.iter_mut().find(|s| s.0 == l.track) {
                Some(s) => {
                    s.1 += l.time;
                    s.2 += 1;
                }
                None => seen.push((l.track, l.time, 1)),
            }
        }
    }
    seen.into_iter()
        .map(|(t, sum, n)| (t, sum / n as f32))
        .collect()
}

/// The bar a listen must beat to pull the taste: `like`, or with a `like_weight` the mean of
/// the session's feedback listens so far with `like` counted as that many.
struct Bar {
    like: f32,
    like_weight: f32,
    sum: f32,
    listens: f32,
}

impl Bar {
    fn new(like: f32, like_weight: f32) -> Bar {
        Bar {
            like,
            like_weight,
            sum: 0.0,
            listens: 0.0,
        }
    }

    fn level(&self) -> f32 {
        if self.like_weight > 0.0 {
            (self.like_weight * self.like + self.sum) / (self.like_weight + self.listens)
        } else {
            self.like
        }
    }

    fn add(&mut self, time: f32) {
        self.sum += time;
        self.listens += 1.0;
    }
}

impl Recommender for SessionTaste {
    crate::deterministic_probability!();

    fn recommend(&self, req: &Request, history: &[Listen], _rng: &mut Rng) -> Option<TrackId> {
        let t = &*self.tastes;
        let tracks: Vec<(TrackId, f32)> = current_session(history)
            .iter()
            .map(|l| (l.track, l.time))
            .chain(std::iter::once((req.track, req.time)))
            .collect();
        let row = |track: TrackId| t.row_of_artist[self.catalog.artist_of(track) as usize];
        let anchor_artist = self.catalog.artist_of(tracks[0].0);
        let anchor = row(tracks[0].0);
        // What the listeners of sessions opened on this artist typically give, or `like`.
        let like = anchor
            .and_then(|r| t.typical[r as usize])
            .filter(|_| self.auto_like)
            .unwrap_or(self.like);
        let skips = tracks[1..].iter().rev().take_while(|l| l.1 < like).count();
        if self.switch > 0 && skips >= self.switch as usize {
            return None;
        }
        let anchor = anchor? as usize;
        let mut taste = t.vector(anchor).to_vec();
        // Plays per artist in the session; an artist's first listen after the anchor is feedback
        // (a repeated artist's time is discounted whatever the taste).
        let mut plays: Vec<(u32, u32)> = Vec::with_capacity(tracks.len());
        let mut bar = Bar::new(like, self.like_weight);
        for (i, &(track, time)) in tracks.iter().enumerate() {
            let artist = self.catalog.artist_of(track);
            match plays.iter_mut().find(|p| p.0 == artist) {
                Some(p) => p.1 += 1,
                None => {
                    plays.push((artist, 1));
                    if let Some(r) = row(track).filter(|_| i > 0) {
                        let w = self.feedback * (time - bar.level());
                        bar.add(time);
                        for (x, v) in taste.iter_mut().zip(t.vector(r as usize)) {
                            *x += w * v;
                        }
                    }
                }
            }
        }
        let played = |x: TrackId| tracks.iter().any(|p| p.0 == x);
        let plays_of = |track: TrackId| {
            let artist = self.catalog.artist_of(track);
            plays.iter().find(|p| p.0 == artist).map_or(0, |p| p.1)
        };
        // Unplayed, of an artist with fewer than `artist_plays` plays in the session.
        let servable = |x: TrackId| !played(x) && plays_of(x) < self.artist_plays;
        // What the user liked in earlier sessions on this artist comes first: the recent
        // history's time of a track, else the memory's.
        if self.recall <= 1.0 {
            let recent = recalled(history, anchor_artist, &self.catalog);
            let remembered = self
                .memory
                .as_deref()
                .map_or(&[][..], |m| m.get(req.user, anchor_artist));
            let best = remembered
                .iter()
                .copied()
                .filter(|r| !recent.iter().any(|h| h.0 == r.0))
                .chain(recent.iter().copied())
                .filter(|&(x, time)| time >= self.recall && servable(x))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((x, _)) = best {
                return Some(x);
            }
        }
        let unplayed = |r: u32| t.tracks[r as usize].iter().copied().find(|&x| !played(x));
        // The session's own artist is the nearest to its taste; where its tracks hold up after
        // the discount (a strict listener, a big tight artist), staying beats any fresh artist.
        if self.stay
            && let Some(repeat) = t.repeat[anchor]
        {
            let last = tracks
                .iter()
                .rev()
                .find(|p| self.catalog.artist_of(p.0) == anchor_artist)
                .map_or(0.0, |p| p.1);
            if last * repeat > bar.level()
                && let Some(x) = unplayed(anchor as u32)
            {
                return Some(x);
            }
        }
        // What the listeners who opened sessions on the first track also opened them on lies
        // near its interest whatever the artist; in list order (the plan keeps the first six).
        let opener = self.openers.as_deref().and_then(|o| o.get(tracks[0].0));
        if let Some(x) = opener.and_then(|l| l.iter().copied().find(|&x| servable(x))) {
            return Some(x);
        }
        // The best fresh artist; when none is left, the best with an unplayed track. An exact
        // search, so the answer is a full scan's (ties to the lower row) at a fraction of the
        // cost on large catalogues.
        let best = |fresh: bool| {
            let keep =
                |r: u32| unplayed(r).is_some_and(|x| !fresh || plays_of(x) < self.artist_plays);
            let top = t.index.search_one(&t.vectors, &taste, 1, &keep);
            top.first().and_then(|&r| unplayed(r))
        };
        best(true).or_else(|| best(false))
    }

    fn uses_history(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::Track;
    use botify_core::rng::stream;

    /// Artists a (0, 1), b (2, 3), c (4, 5), d (6, 7).
    fn catalog() -> Arc<Catalog> {
        let t = |id: u32| Track::new(id, ["a", "b", "c", "d"][id as usize / 2], format!("t{id}"));
        Arc::new(Catalog::from_tracks((0..8).map(t).collect()).unwrap())
    }

    /// a and b point one way, c between them and the second axis, d away from c.
    const FILE: &str = r#"{"artist": "a", "vector": [1.0, 0.0], "tracks": [1, 0]}
{"artist": "b", "vector": [0.9, 0.1], "tracks": [2, 3]}
{"artist": "c", "vector": [0.5, 0.8], "tracks": [5, 4]}
{"artist": "d", "vector": [-0.2, -1.0], "tracks": [6, 7]}
"#;

    fn policy(feedback: f32) -> SessionTaste {
        policy_over(catalog(), FILE, feedback)
    }

    /// The spec's defaults but `recall` off, over the taste file `text`.
    fn policy_over(catalog: Arc<Catalog>, text: &str, feedback: f32) -> SessionTaste {
        SessionTaste {
            tastes: Arc::new(Tastes::parse(Path::new("t.jsonl"), text, &catalog).unwrap()),
            catalog,
            feedback,
            like: 0.5,
            like_weight: 0.0,
            artist_plays: 1,
            recall: 2.0,
            switch: 0,
            memory: None,
            openers: None,
            stay: false,
            auto_like: false,
        }
    }

    fn ask(p: &SessionTaste, history: &[Listen], track: TrackId, time: f32) -> Option<TrackId> {
        let req = Request {
            user: 1,
            track,
            time,
        };
        p.recommend(&req, history, &mut stream(1, b"test", 0))
    }

    /// A session's last listen (`last` carries no recommendation).
    fn last(track: TrackId, time: f32) -> Listen {
        Listen {
            track,
            time,
            rec: None,
        }
    }

    fn listen(track: TrackId, time: f32, rec: TrackId) -> Listen {
        Listen {
            track,
            time,
            rec: Some(rec),
        }
    }

    #[test]
    fn the_nearest_fresh_artist_comes_first_with_its_most_listened_track() {
        let p = policy(1.0);
        // Anchor on a: b is nearest, and its first listed track comes first.
        assert_eq!(ask(&p, &[], 0, 1.0), Some(2));
        // After b, c; the anchor's own artist is passed over while a fresh one remains.
        assert_eq!(ask(&p, &[listen(0, 1.0, 2)], 2, 0.5), Some(5));
    }

    #[test]
    fn a_skip_pushes_the_taste_away_and_a_like_pulls_it() {
        // Anchor on a, then c: skipped, the taste turns away from c towards d; liked, towards b.
        let p = policy(3.0);
        let h = [listen(0, 1.0, 5)];
        // c skipped: the taste moves away from c, so d beats b.
        assert_eq!(ask(&p, &h, 5, 0.0), Some(6));
        // c liked: b stays first.
        assert_eq!(ask(&p, &h, 5, 1.0), Some(2));
    }

    #[test]
    fn no_replay_and_a_closed_session_does_not_count() {
        let p = policy(0.0);
        // Every artist used up: the best artist with an unplayed track, never a played one.
        let h = [listen(0, 1.0, 2), listen(2, 1.0, 5), listen(5, 1.0, 6)];
        assert_eq!(ask(&p, &h, 6, 1.0), Some(1));
        let h = [
            listen(0, 1.0, 2),
            listen(2, 1.0, 5),
            listen(5, 1.0, 6),
            listen(6, 1.0, 1),
        ];
        assert_eq!(ask(&p, &h, 1, 1.0), Some(3));
        // A `last` closes the session: the next one anchors afresh on d, and a and b are fresh
        // again (a is nearest to d; counted, c would be the answer).
        let closed = [listen(0, 1.0, 2), last(2, 1.0)];
        assert_eq!(ask(&p, &closed, 6, 1.0), Some(1));
    }

    /// Five artists a..e of two tracks each: a and b one way, c across, d and e on either side
    /// of c's axis.
    fn five(like_weight: f32, memory: Option<&str>) -> SessionTaste {
        let t = |id: u32| {
            Track::new(
                id,
                ["a", "b", "c", "d", "e"][id as usize / 2],
                format!("t{id}"),
            )
        };
        let catalog = Arc::new(Catalog::from_tracks((0..10).map(t).collect()).unwrap());
        let file = r#"{"artist": "a", "vector": [1.0, 0.0], "tracks": [0, 1]}
{"artist": "b", "vector": [1.0, 0.0], "tracks": [2, 3]}
{"artist": "c", "vector": [0.0, -1.0], "tracks": [4, 5]}
{"artist": "d", "vector": [0.6, 0.8], "tracks": [6, 7]}
{"artist": "e", "vector": [0.6, -0.8], "tracks": [8, 9]}
"#;
        SessionTaste {
            memory: memory
                .map(|m| Arc::new(Memory::parse(Path::new("m.jsonl"), m, &catalog).unwrap())),
            like_weight,
            recall: 0.8,
            ..policy_over(catalog.clone(), file, 20.0)
        }
    }

    #[test]
    fn with_a_like_weight_a_listen_must_beat_the_sessions_mean_to_pull() {
        // a, then b liked fully, then c at 0.6: above `like`, below the session's bar.
        let h = [listen(0, 1.0, 2), listen(2, 1.0, 4)];
        // `like` alone: c pulls, so e (on c's side) beats d.
        assert_eq!(ask(&five(0.0, None), &h, 4, 0.6), Some(8));
        // The bar is (3 × 0.5 + 1.0) / 4 = 0.625: c pushes, so d beats e.
        assert_eq!(ask(&five(3.0, None), &h, 4, 0.6), Some(6));
        // The first listen after the anchor is held to `like` either way: b at 0.6 pulls.
        assert_eq!(
            ask(&five(3.0, None), &[listen(0, 1.0, 2)], 2, 0.6),
            ask(&five(0.0, None), &[listen(0, 1.0, 2)], 2, 0.6)
        );
    }

    #[test]
    fn staying_with_the_sessions_artist_while_its_next_play_beats_the_bar() {
        let catalog = catalog();
        // a's tracks hold up after a repeat (0.9), b's do not (0.3).
        let file = r#"{"artist": "a", "vector": [1.0, 0.0], "tracks": [1, 0], "repeat": 0.9}
{"artist": "b", "vector": [0.9, 0.1], "tracks": [2, 3], "repeat": 0.3}
{"artist": "c", "vector": [0.5, 0.8], "tracks": [5, 4]}
"#;
        let mut p = policy(0.0);
        p.tastes = Arc::new(Tastes::parse(Path::new("t.jsonl"), file, &catalog).unwrap());
        p.stay = true;
        // Opened on a: 1.0 × 0.9 beats the bar (like, 0.5): a's other track.
        assert_eq!(ask(&p, &[], 0, 1.0), Some(1));
        // Off, the nearest fresh artist.
        p.stay = false;
        assert_eq!(ask(&p, &[], 0, 1.0), Some(2));
        p.stay = true;
        // a's second play went to 0.5: 0.5 × 0.9 is below the bar, so on to b.
        assert_eq!(ask(&p, &[listen(0, 1.0, 1)], 1, 0.5), Some(2));
        // Opened on b: 0.3 is below the bar, so a (nearest), its first listed track.
        assert_eq!(ask(&p, &[], 2, 1.0), Some(1));
        // A file without `repeat` never stays.
        let mut q = policy(0.0);
        q.stay = true;
        assert_eq!(ask(&q, &[], 0, 1.0), Some(2));
        // `repeat` outside [0, 1] is named.
        let bad = r#"{"artist": "a", "vector": [1.0, 0.0], "tracks": [1], "repeat": 1.5}"#;
        refused(&catalog, bad, "field `repeat`");
    }

    /// The taste file `text` is refused with an error that says `says`.
    fn refused(catalog: &Catalog, text: &str, says: &str) {
        let e = Tastes::parse(Path::new("t.jsonl"), text, catalog)
            .unwrap_err()
            .to_string();
        assert!(e.contains(says), "{e}");
    }

    #[test]
    fn auto_like_takes_the_opening_artists_typical_time_as_the_bar() {
        let catalog = catalog();
        // Listeners of sessions opened on a typically give 0.2.
        let file = r#"{"artist": "a", "vector": [1.0, 0.0], "tracks": [1, 0], "typical": 0.2}
{"artist": "b", "vector": [0.9, 0.1], "tracks": [2, 3]}
{"artist": "c", "vector": [0.5, 0.8], "tracks": [5, 4]}
"#;
        let mut p = policy_over(catalog.clone(), file, 0.0);
        p.switch = 1;
        let h = [listen(0, 1.0, 2)];
        // b at 0.3 is a skip against `like` 0.5: the fallback's turn.
        assert_eq!(ask(&p, &h, 2, 0.3), None);
        // Against a's typical 0.2 it is liked: the taste answers (c, its first listed track).
        p.auto_like = true;
        assert_eq!(ask(&p, &h, 2, 0.3), Some(5));
        // Opened on b, which has no typical time: `like` again.
        assert_eq!(ask(&p, &[listen(2, 1.0, 0)], 0, 0.3), None);
        let bad = r#"{"artist": "a", "vector": [1.0], "tracks": [1], "typical": -0.5}"#;
        refused(&catalog, bad, "field `typical`");
    }

    #[test]
    fn the_memory_is_recalled_where_the_recent_history_says_nothing() {
        let memory = r#"{"user": 1, "artist": "a", "tracks": [6, 4, 2], "times": [0.9, 0.85, 0.6]}
{"user": 2, "artist": "a", "tracks": [8], "times": [1.0]}
"#;
        let p = five(0.0, Some(memory));
        // Opened on a: the longest remembered listen first, then the next; 2 (0.6) is below
        // `recall`, so then the taste answers (b is nearest to a).
        assert_eq!(ask(&p, &[], 0, 1.0), Some(6));
        assert_eq!(ask(&p, &[listen(0, 1.0, 6)], 6, 1.0), Some(4));
        assert_eq!(
            ask(&p, &[listen(0, 1.0, 6), listen(6, 1.0, 4)], 4, 1.0),
            Some(2)
        );
        // Opened on b: nothing remembered.
        assert_eq!(ask(&p, &[], 2, 1.0), Some(0));
        // The recent history knows 6 from a session on a, skipped: it wins over the memory.
        let past = [listen(1, 1.0, 6), last(6, 0.3)];
        assert_eq!(ask(&p, &past, 0, 1.0), Some(4));
    }

    #[test]
    fn what_the_same_listeners_opened_on_comes_after_recall_and_before_the_taste() {
        let memory = r#"{"user": 1, "artist": "a", "tracks": [4], "times": [0.9]}"#;
        let lists = r#"{"track": 0, "recommendations": [1, 8, 6]}"#;
        let mut p = five(0.0, Some(memory));
        p.openers = Some(Arc::new(
            TrackLists::parse(Path::new("o.jsonl"), lists, 10).unwrap(),
        ));
        // The remembered 4 first; then 0's list, passing over a's own 1 (a played artist): 8,
        // then 6; then the taste's artist, b.
        assert_eq!(ask(&p, &[], 0, 1.0), Some(4));
        let h = [listen(0, 1.0, 4)];
        assert_eq!(ask(&p, &h, 4, 0.9), Some(8));
        let h = [listen(0, 1.0, 4), listen(4, 0.9, 8)];
        assert_eq!(ask(&p, &h, 8, 0.9), Some(6));
        let h = [listen(0, 1.0, 4), listen(4, 0.9, 8), listen(8, 0.9, 6)];
        assert_eq!(ask(&p, &h, 6, 0.9), Some(2));
        // A session opened on a track without a list goes to the taste straight after recall:
        // with c liked, e is nearest.
        assert_eq!(ask(&p, &[], 1, 1.0), Some(4));
        assert_eq!(ask(&p, &[listen(1, 1.0, 4)], 4, 0.9), Some(8));
    }

    #[test]
    fn recall_serves_again_what_a_session_on_the_same_artist_liked() {
        // An earlier session on a (track 0): c's 5 liked, d's 6 skipped. Another on d: b's 3
        // liked.
        let past = [
            listen(0, 1.0, 5),
            listen(5, 0.9, 6),
            last(6, 0.1),
            listen(7, 1.0, 3),
            last(3, 1.0),
        ];
        let mut p = policy(0.0);
        // Off: b is nearest to a.
        assert_eq!(ask(&p, &past, 1, 1.0), Some(2));
        p.recall = 0.7;
        // On: the liked 5 comes first; the skipped 6 and the other anchor's 3 are not recalled.
        assert_eq!(ask(&p, &past, 1, 1.0), Some(5));
        let now = [listen(1, 1.0, 5)];
        assert_eq!(ask(&p, &[&past[..], &now].concat(), 5, 1.0), Some(2));
        // Anchored on d, the session on d is recalled, not the one on a.
        assert_eq!(ask(&p, &past, 6, 1.0), Some(3));
        // Below the threshold, a track is not recalled.
        p.recall = 0.95;
        assert_eq!(ask(&p, &past, 1, 1.0), Some(2));
    }

    #[test]
    fn skips_in_a_row_hand_the_session_to_the_fallback_until_a_like() {
        let mut p = policy(0.0);
        p.switch = 2;
        let h = [listen(0, 1.0, 2)];
        // One skip: still answered.
        assert_eq!(ask(&p, &h, 2, 0.1), Some(5));
        // Two in a row: the fallback's turn (no answer here), and on while they are skipped.
        let h = [listen(0, 1.0, 2), listen(2, 0.1, 5)];
        assert_eq!(ask(&p, &h, 5, 0.2), None);
        let h = [listen(0, 1.0, 2), listen(2, 0.1, 5), listen(5, 0.2, 7)];
        assert_eq!(ask(&p, &h, 7, 0.3), None);
        // A liked listen ends the streak.
        assert_eq!(ask(&p, &h, 7, 0.9), Some(1));
        // The session's first track is no skip, and 0 never switches.
        p.switch = 1;
        assert_eq!(ask(&p, &[], 0, 1.0), Some(2));
        p.switch = 0;
        assert_eq!(ask(&p, &h, 7, 0.0), Some(1));
    }

    #[test]
    fn an_anchor_without_a_vector_gets_no_answer_and_bad_files_are_named() {
        let catalog = catalog();
        let only_b = r#"{"artist": "b", "vector": [1.0, 0.0], "tracks": [2]}"#;
        let p = SessionTaste {
            tastes: Arc::new(Tastes::parse(Path::new("t.jsonl"), only_b, &catalog).unwrap()),
            catalog: catalog.clone(),
            feedback: 1.0,
            like: 0.5,
            like_weight: 0.0,
            artist_plays: 1,
            recall: 2.0,
            switch: 0,
            memory: None,
            openers: None,
            stay: false,
            auto_like: false,
        };
        assert_eq!(ask(&p, &[], 0, 1.0), None);
        // An empty file loads (no artist has a vector) and answers nothing.
        let empty = Tastes::parse(Path::new("t.jsonl"), "\n", &catalog).unwrap();
        assert!(empty.is_empty());
        let p = SessionTaste {
            tastes: Arc::new(empty),
            ..p
        };
        assert_eq!(ask(&p, &[], 0, 1.0), None);
        for (text, needle) in [
            (
                r#"{"artist": "a", "vector": [1.0], "tracks": [0, 2]}"#,
                "different artists",
            ),
            (
                r#"{"artist": "a", "vector": [1.0], "tracks": [99]}"#,
                "not in the catalogue",
            ),
            (
                r#"{"artist": "a", "vector": [0.0], "tracks": [0]}"#,
                "non-zero",
            ),
            (
                r#"{"artist": "a", "vector": [1.0], "tracks": []}"#,
                "at least one track",
            ),
            (
                "{\"artist\": \"a\", \"vector\": [1.0], \"tracks\": [0]}\n{\"artist\": \"b\", \"vector\": [1.0, 2.0], \"tracks\": [2]}",
                "first line has 1",
            ),
            (
                "{\"artist\": \"a\", \"vector\": [1.0], \"tracks\": [0]}\n{\"artist\": \"a\", \"vector\": [1.0], \"tracks\": [1]}",
                "appears twice",
            ),
            ("not json", "bad artist taste"),
        ] {
            let e = Tastes::parse(Path::new("t.jsonl"), text, &catalog)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle) && e.contains("t.jsonl"), "{e}");
        }
    }
}
