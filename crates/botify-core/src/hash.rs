//! Hash maps for integer keys on hot paths, with rustc's Fx hash (rustc-hash). Keys here are ids
//! from our own logs, not attacker-chosen, so SipHash's DoS resistance buys nothing.

pub type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;
pub type FastSet<K> = rustc_hash::FxHashSet<K>;
