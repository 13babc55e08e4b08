//! RP3beta (Paudel et al., "Updatable, Accurate, Diverse, and Scalable Recommendations for
//! Interactive Applications", TiiS 2017): a three-step random walk on the user–track graph of
//! likes, user → liked track → another user who liked it → that user's liked track, with each
//! transition probability raised to `alpha` and the end track's score divided by its likes to
//! the power `beta`, so that a walk does not simply end on the most liked tracks. No training
//! beyond counting; strong on sparse implicit data.

use super::fitting::{TrainData, Trained, user_lists};
use super::trainer::{Model, NoInputs};
use crate::Result;
use crate::observer::Observer;
use botify_core::hash::FastMap;
use botify_core::topk::TopK;
use botify_core::{TrackId, UserId};
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

botify_core::params! {
    /// RP3beta's parameters.
    #[derive(Copy)]
    pub struct Params {
        /// Exponent of the walk's transition probabilities (1: the plain walk, P³; below 1 flattens them).
        alpha: f32 = 0.5 => above(0.0);
        /// Popularity penalty: a track's score is divided by its likes to this power (0: none).
        beta: f32 = 0.1 => range(0.0, 1.0);
        /// Tracks per user list.
        k: usize = 100 => range(1.0, 10_000.0).shared(Setting::K);
        /// Liked listens (the graph's edges): time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
    }
}

pub struct Rp3beta;

impl Model for Rp3beta {
    type Params = Params;
    type Inputs = NoInputs;
    const NAME: &'static str = "rp3beta";
    const ABOUT: &'static str = "RP3beta: a random walk user → liked track → user → liked track, popular tracks penalised (per-user lists).";
    const FILE: &'static str = "rp3beta.jsonl";

    fn fit(
        p: &Params,
        _: &NoInputs,
        data: &TrainData,
        out: &Path,
        _: &dyn Observer,
    ) -> Result<Trained> {
        let mut t = Trained::default();
        let clock = Instant::now();
        let liked = data.train.positives(p.threshold);
        let lists = recommend(&liked, &data.train.heard(), data.train.tracks, p);
        t.training_seconds = clock.elapsed().as_secs_f64();
        t.steps = 1;
        user_lists(data, out, &lists, &mut t)?;
        Ok(t)
    }
}

/// Each user's `p.k` best tracks by the walk's score, none of them heard before.
fn recommend(
    liked: &FastMap<UserId, Vec<TrackId>>,
    heard: &FastMap<UserId, Vec<TrackId>>,
    tracks: usize,
    p: &Params,
) -> FastMap<UserId, Vec<TrackId>> {
    // The graph both ways, users as dense rows.
    let users: Vec<(UserId, &[TrackId])> = liked.iter().map(|(&u, l)| (u, &l[..])).collect();
    let mut fans: Vec<Vec<u32>> = vec![Vec::new(); tracks];
    for (row, (_, l)) in users.iter().enumerate() {
        for &j in *l {
            if let Some(f) = fans.get_mut(j as usize) {
                f.push(row as u32);
            }
        }
    }
    let alpha = f64::from(p.alpha);
    let step = |degree: usize| (degree.max(1) as f64).powf(-alpha) as f32;
    let user_step: Vec<f32> = users.iter().map(|(_, l)| step(l.len())).collect();
    let track_step: Vec<f32> = fans.iter().map(|f| step(f.len())).collect();
    let penalty: Vec<f32> = fans
        .iter()
        .map(|f| (f.len().max(1) as f64).powf(-f64::from(p.beta)) as f32)
        .collect();
    users
        .par_iter()
        .map_init(
            || (vec![0f32; users.len()], vec![0f32; tracks], Vec::new()),
            |(via, score, touched), &(u, l)| {
                // Step 2: to every user who liked one of u's tracks (u's own step is a constant
                // factor of every score, so it is left out).
                let mut others = Vec::new();
                for &i in l {
                    let w = track_step[i as usize];
                    for &v in &fans[i as usize] {
                        if via[v as usize] == 0.0 {
                            others.push(v);
                        }
                        via[v as usize] += w;
                    }
                }
                // Step 3: to their liked tracks.
                for &v in &others {
                    let w = via[v as usize] * user_step[v as usize];
                    via[v as usize] = 0.0;
                    for &j in users[v as usize].1 {
                        if score[j as usize] == 0.0 {
                            touched.push(j);
                        }
                        score[j as usize] += w;
                    }
                }
                let seen = heard.get(&u).map(|h| &h[..]).unwrap_or(&[]);
                let mut top = TopK::new(p.k);
                for &j in touched.iter() {
                    let s = score[j as usize] * penalty[j as usize];
                    score[j as usize] = 0.0;
                    if seen.binary_search(&j).is_err() {
                        top.push(s, j);
                    }
                }
                touched.clear();
                (u, top.into_sorted())
            },
        )
        .filter(|(_, list)| !list.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(likes: &[(UserId, &[TrackId])]) -> FastMap<UserId, Vec<TrackId>> {
        likes.iter().map(|&(u, l)| (u, l.to_vec())).collect()
    }

    #[test]
    fn walks_reach_co_liked_tracks_and_skip_what_was_heard() {
        let liked = graph(&[(0, &[0, 1]), (1, &[0, 1, 2]), (2, &[1, 2, 3]), (3, &[4])]);
        let p = Params::default();
        let lists = recommend(&liked, &liked, 5, &p);
        // Track 2 is reached through two users, track 3 through one; 4 is nobody's neighbour.
        assert_eq!(lists[&0], vec![2, 3]);
        assert_eq!(lists[&1], vec![3]);
        // A user alone with their tracks has nothing to be walked to.
        assert!(!lists.contains_key(&3));
        // Heard tracks are left out even when they were not liked.
        let mut heard = liked.clone();
        heard.get_mut(&0).unwrap().push(2);
        assert_eq!(recommend(&liked, &heard, 5, &p)[&0], vec![3]);
    }

    #[test]
    fn beta_pushes_popular_tracks_down() {
        // Track 9 is liked by everyone, track 5 by user 0's only neighbour besides.
        let liked = graph(&[(0, &[1, 9]), (1, &[1, 5, 9]), (2, &[9, 6]), (3, &[9, 7])]);
        let plain = Params {
            beta: 0.0,
            ..Params::default()
        };
        let penalised = Params {
            beta: 1.0,
            ..Params::default()
        };
        let mut heard = liked.clone();
        heard.get_mut(&0).unwrap().retain(|&t| t != 9);
        assert_eq!(recommend(&liked, &heard, 10, &plain)[&0][0], 9);
        assert_eq!(recommend(&liked, &heard, 10, &penalised)[&0][0], 5);
    }
}
