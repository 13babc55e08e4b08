//! Botify's shared ground: the world files (catalogue, hidden embeddings, listeners), the world
//! generator, murmur3 treatment assignment, the event-log record and its reader, and seeded RNGs.
//!
//! Libraries never print: everything here returns values or [`Error`]s that name the file, line
//! and field at fault.

pub mod catalog;
pub mod defaults;
pub mod dynamics;
pub mod error;
pub mod eventlog;
pub mod events;
pub mod generate;
pub mod hash;
pub mod mips;
pub mod murmur;
mod names;
pub mod npy;
pub mod params;
pub mod rng;
pub mod topk;
pub mod users;
pub mod world;

pub use catalog::{Catalog, Track};
pub use error::{Error, Result};
pub use npy::Embeddings;
pub use users::User;
pub use world::World;

/// Track ids are dense `0..N-1`.
pub type TrackId = u32;
/// User ids as the course used them (non-negative integers).
pub type UserId = u32;

/// `slice` cut into consecutive pieces of the given lengths (which must not exceed it), for
/// filling each piece in parallel.
pub(crate) fn split_mut<T>(
    mut slice: &mut [T],
    lengths: impl IntoIterator<Item = usize>,
) -> Vec<&mut [T]> {
    lengths
        .into_iter()
        .map(|n| {
            let (piece, rest) = std::mem::take(&mut slice).split_at_mut(n);
            slice = rest;
            piece
        })
        .collect()
}
