//! Per-user recent listens: the state every recommender reads.

use botify_core::TrackId;
use serde::{Deserialize, Serialize};

/// One answered call: the user listened to `track` for `time`; we answered `rec`
/// (`None` for a `last` call, which ends a session).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Listen {
    pub track: TrackId,
    pub time: f32,
    pub rec: Option<TrackId>,
}

impl Listen {
    /// A compact 12-byte encoding (for Redis): track, time, rec (u32::MAX for none), little-endian.
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.track.to_le_bytes());
        b[4..8].copy_from_slice(&self.time.to_le_bytes());
        b[8..].copy_from_slice(&self.rec.unwrap_or(u32::MAX).to_le_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Listen> {
        let b: &[u8; 12] = b.try_into().ok()?;
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        let rec = u32::from_le_bytes(word(8));
        Some(Listen {
            track: u32::from_le_bytes(word(0)),
            time: f32::from_le_bytes(word(4)),
            rec: (rec != u32::MAX).then_some(rec),
        })
    }
}

/// The last `cap` listens of one user, contiguous for cheap slicing; amortised O(1) push. The
/// buffer never holds (nor reserves) more than `cap + max(cap / 4, 1)` listens: a store of a
/// million users is bounded by that, not by how long each one listened.
#[derive(Debug, Clone, Default)]
pub struct History {
    buf: Vec<Listen>,
    cap: usize,
}

impl History {
    pub fn new(cap: usize) -> Self {
        History {
            buf: Vec::new(),
            cap: cap.max(1),
        }
    }

    /// Listens the buffer holds at most: the oldest beyond `cap` are dropped in one move every
    /// `cap / 4` pushes, so each push copies at most about four listens on average.
    fn limit(&self) -> usize {
        self.cap + (self.cap / 4).max(1)
    }

    pub fn push(&mut self, l: Listen) {
        let limit = self.limit();
        if self.buf.len() >= limit {
            self.buf.drain(..self.buf.len() - self.cap + 1);
        }
        if self.buf.len() == self.buf.capacity() {
            // Grow by doubling, but never past the limit (Vec's own growth would overshoot it).
            let want = (self.buf.len() * 2).max(4).min(limit);
            self.buf
                .reserve_exact(want.saturating_sub(self.buf.len()).max(1));
        }
        self.buf.push(l);
    }

    /// Heap bytes the buffer holds (its capacity).
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<Listen>()
    }

    /// The last `cap` listens, oldest first.
    pub fn as_slice(&self) -> &[Listen] {
        &self.buf[self.buf.len().saturating_sub(self.cap)..]
    }
}

/// Listens of the current session: those after the last `last` call.
pub fn current_session(history: &[Listen]) -> &[Listen] {
    match history.iter().rposition(|l| l.rec.is_none()) {
        Some(i) => &history[i + 1..],
        None => history,
    }
}

/// The closed sessions before the current one, oldest first, each ending with its `last` call.
/// The oldest may have lost its start to the history's cap.
pub fn earlier_sessions(history: &[Listen]) -> impl Iterator<Item = &[Listen]> {
    let current = current_session(history).len();
    history[..history.len() - current].split_inclusive(|l| l.rec.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_with_a_last_call() {
        let l = |track: u32, rec: Option<u32>| Listen {
            track,
            time: 1.0,
            rec,
        };
        let h = [l(1, Some(2)), l(2, None), l(3, None), l(4, Some(5))];
        assert_eq!(current_session(&h), &h[3..]);
        let earlier: Vec<&[Listen]> = earlier_sessions(&h).collect();
        assert_eq!(earlier, vec![&h[..2], &h[2..3]]);
        assert_eq!(earlier_sessions(&h[..3]).count(), 2);
        assert_eq!(earlier_sessions(&h[3..]).count(), 0);
    }
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keeps_the_last_cap_in_order(cap in 1usize..300, n in 0usize..2000) {
            let mut h = History::new(cap);
            for i in 0..n {
                h.push(Listen { track: i as u32, time: 0.5, rec: Some(0) });
            }
            let got: Vec<u32> = h.as_slice().iter().map(|l| l.track).collect();
            let want: Vec<u32> = (n.saturating_sub(cap)..n).map(|i| i as u32).collect();
            prop_assert_eq!(got, want);
            // Memory is bounded by the cap, not by how many listens were pushed.
            let limit = (cap + (cap / 4).max(1)).max(4);
            prop_assert!(h.heap_bytes() <= limit * std::mem::size_of::<Listen>());
        }

        #[test]
        fn bytes_round_trip(track in any::<u32>(), t in 0u32..=100, rec in proptest::option::of(0u32..u32::MAX)) {
            let l = Listen { track, time: t as f32 / 100.0, rec };
            prop_assert_eq!(Listen::from_bytes(&l.to_bytes()), Some(l));
        }
    }

    #[test]
    fn session_starts_after_last_call() {
        let l = |track, rec| Listen {
            track,
            time: 1.0,
            rec,
        };
        let h = [l(1, Some(2)), l(2, None), l(3, Some(4)), l(4, Some(5))];
        assert_eq!(current_session(&h).len(), 2);
        assert_eq!(current_session(&h[..2]).len(), 0);
        assert_eq!(current_session(&h[..1]).len(), 1);
    }
}
