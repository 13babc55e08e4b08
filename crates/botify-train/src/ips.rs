//! IPS-debiased implicit ALS: the unbiased relevance estimator of Saito et al. (2020, "Unbiased
//! Recommender Learning from Missing-Not-At-Random Implicit Feedback") inside Hu, Koren &
//! Volinsky's weighted loss, with propensities taken from what the logged policy recommended.
//!
//! A like says "relevant *and* shown". The logged policies (Random, StickyArtist, …) showed tracks
//! very unevenly, so a model fitted to likes as they are learns the policy as much as the
//! listeners. With R the true relevance, the ideal loss is
//! `Σ_{u,i} R_ui·c_ui·(1 − s_ui)² + (1 − R_ui)·s_ui²`; replacing R by `Y/θ` (a like over its
//! exposure probability) keeps it unbiased. Expanded, a like of weight `w = 1/θ` and confidence
//! `c = 1 + α·time` becomes a weighted least-squares term of confidence `1 + w·(c − 1)` and target
//! `w·c / (1 + w·(c − 1))`, every other pair confidence 1 and target 0: exactly ALS's loss, solved
//! by the same alternating least squares ([`crate::als::fit_weighted`]).
//!
//! Propensities: p_i is track i's share of the listens the service recommended (a listen whose
//! track the session's previous event named as its `recommendation`), m_u the number of
//! recommended listens of user u, and θ_ui = 1 − (1 − p_i)^m_u, the chance that the policy showed
//! i to u at least once. The weights 1/θ of the recommended likes are clipped at `max_weight`
//! times their median (a handful of rarely shown likes must not own the fit) and self-normalised
//! to mean 1 (SNIPS), so recommended likes keep, in total, the weight they had. A track the
//! listener picked themselves (a session's first track) was not the policy's choice: its weight
//! stays 1. `max_weight = 1` turns the reweighting off: plain ALS.

use crate::dataset::Dataset;
use crate::{Error, Result, als};
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};

botify_core::params! {
    /// IPS-debiased MF's parameters (ALS with weighted confidences).
    #[derive(Copy)]
    pub struct Params {
        /// Latent factors.
        factors: usize = als::Params::default().factors => range(1.0, 4_096.0);
        /// Alternating sweeps over users and tracks.
        iterations: usize = als::Params::default().iterations => range(1.0, 100_000.0);
        /// λ, the L2 penalty on both factor matrices.
        regularization: f32 = als::Params::default().regularization => above(0.0);
        /// Confidence of a like: 1 + alpha × its total listen time.
        alpha: f32 = als::Params::default().alpha => at_least(0.0);
        /// Inverse propensities are clipped at this many times their median; 1 turns the reweighting off.
        max_weight: f64 = 10.0 => at_least(1.0);
        /// Liked listens: time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
        /// The seed of the initial factors.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
    }
}

impl Params {
    pub fn validate(&self) -> Result<()> {
        crate::check::params(self)
    }

    fn als(&self) -> als::Params {
        als::Params {
            factors: self.factors,
            iterations: self.iterations,
            regularization: self.regularization,
            alpha: self.alpha,
            threshold: self.threshold,
            seed: self.seed,
            ..als::Params::default()
        }
    }
}

/// The self-normalised, clipped inverse-propensity weight of every liked (user, track) pair of
/// `d` (see the module documentation).
pub fn weights(d: &Dataset, p: &Params) -> FastMap<(UserId, TrackId), f32> {
    let mut shown = vec![0u64; d.tracks];
    let mut shown_to: FastMap<UserId, u64> = FastMap::default();
    for l in d.listens.iter().filter(|l| l.recommended) {
        shown[l.track as usize] += 1;
        *shown_to.entry(l.user).or_default() += 1;
    }
    let total = shown.iter().sum::<u64>().max(1) as f64;
    // Per (user, track): liked, and whether the listener ever picked it themselves.
    let mut pairs: FastMap<(UserId, TrackId), (bool, bool)> = FastMap::default();
    for l in &d.listens {
        let e = pairs.entry((l.user, l.track)).or_default();
        e.0 |= l.time >= p.threshold;
        e.1 |= !l.recommended;
    }
    // (user, track) → inverse propensity; None for the listener's own pick.
    let liked: Vec<((UserId, TrackId), Option<f64>)> = pairs
        .into_iter()
        .filter(|(_, (like, _))| *like)
        .map(|((u, t), (_, own))| {
            let inverse = (!own).then(|| {
                let share = shown[t as usize] as f64 / total;
                let m = shown_to.get(&u).copied().unwrap_or(0) as f64;
                1.0 / (1.0 - (1.0 - share).powf(m))
            });
            ((u, t), inverse)
        })
        .collect();
    let mut inverse: Vec<f64> = liked.iter().filter_map(|x| x.1).collect();
    let cap = if inverse.is_empty() {
        1.0
    } else {
        let mid = inverse.len() / 2;
        *inverse.select_nth_unstable_by(mid, f64::total_cmp).1 * p.max_weight
    };
    let clipped = |w: f64| if p.max_weight <= 1.0 { 1.0 } else { w.min(cap) };
    let mean = inverse.iter().map(|&w| clipped(w)).sum::<f64>() / inverse.len().max(1) as f64;
    liked
        .into_iter()
        .map(|(pair, w)| (pair, w.map_or(1.0, |w| (clipped(w) / mean) as f32)))
        .collect()
}

/// Fits the weighted ALS; `on_iteration` sees each iteration's model.
pub fn fit(
    d: &Dataset,
    p: &Params,
    on_iteration: impl FnMut(usize, &als::Model),
) -> Result<als::Model> {
    p.validate()?;
    let w = weights(d, p);
    if w.is_empty() {
        return Err(Error::Invalid(format!(
            "no listen reaches the threshold {}: nothing to learn from",
            p.threshold
        )));
    }
    Ok(als::fit_weighted(d, &p.als(), Some(&w), on_iteration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Listen;
    use botify_core::rng::stream;
    use rand::Rng;

    fn listen(user: UserId, track: TrackId, time: f32, recommended: bool) -> Listen {
        Listen {
            user,
            track,
            time,
            timestamp: 0,
            session: 0,
            recommended,
        }
    }

    #[test]
    fn rarely_shown_likes_weigh_more_and_own_picks_keep_weight_one() {
        // The policy shows track 0 to everyone, tracks 1..=3 once each.
        let mut listens = Vec::new();
        for u in 0..20 {
            listens.push(listen(u, 0, 1.0, true));
            listens.push(listen(u, 0, 1.0, true));
        }
        listens.push(listen(0, 1, 1.0, true));
        listens.push(listen(3, 4, 1.0, true));
        listens.push(listen(4, 5, 1.0, true));
        listens.push(listen(1, 2, 1.0, false)); // user 1 picked track 2 themselves
        listens.push(listen(2, 3, 0.1, true)); // skipped: not a like
        let d = Dataset { tracks: 6, listens };
        let p = Params {
            max_weight: 100.0,
            ..Params::default()
        };
        let of = |w: &FastMap<(UserId, TrackId), f32>, u: UserId, t: TrackId| w[&(u, t)];
        let w = weights(&d, &p);
        assert!(
            of(&w, 0, 1) > 5.0 * of(&w, 0, 0),
            "{} vs {}",
            of(&w, 0, 1),
            of(&w, 0, 0)
        );
        assert_eq!(of(&w, 1, 2), 1.0);
        assert!(!w.contains_key(&(2, 3)));
        // Self-normalised: the recommended likes' weights average 1.
        let rec: Vec<f32> = w.iter().filter(|x| x.0.1 != 2).map(|x| *x.1).collect();
        let mean = rec.iter().sum::<f32>() / rec.len() as f32;
        assert!((mean - 1.0).abs() < 1e-5, "mean {mean}");
        // Clipped at max_weight × the median; max_weight 1 makes every weight 1.
        let clipped = weights(
            &d,
            &Params {
                max_weight: 2.0,
                ..p
            },
        );
        let mut ws: Vec<f32> = clipped
            .iter()
            .filter(|x| x.0.1 != 2)
            .map(|x| *x.1)
            .collect();
        ws.sort_by(f32::total_cmp);
        let (median, hi) = (ws[ws.len() / 2], ws[ws.len() - 1]);
        assert!(hi / median <= 2.0 + 1e-5, "{ws:?}");
        let flat = weights(
            &d,
            &Params {
                max_weight: 1.0,
                ..p
            },
        );
        assert!(flat.values().all(|&x| x == 1.0));
    }

    #[test]
    fn learns_planted_groups() {
        // Users of group g (u % 3) like the tracks of group g (t % 3) and skip the others; the
        // policy showed each user a random half of the tracks.
        let mut rng = stream(5, b"test", 0);
        let mut listens = Vec::new();
        for u in 0..300u32 {
            for t in 0..60u32 {
                if rng.random::<f32>() < 0.3 {
                    let time = if t % 3 == u % 3 { 1.0 } else { 0.05 };
                    listens.push(listen(u, t, time, rng.random::<f32>() < 0.8));
                }
            }
        }
        let d = Dataset {
            tracks: 60,
            listens,
        };
        let p = Params {
            factors: 3,
            iterations: 8,
            ..Params::default()
        };
        let mut iterations = 0;
        let model = fit(&d, &p, |_, _| iterations += 1).unwrap();
        assert_eq!(iterations, 8);
        let lists = model.recommend(&d.heard(), 5);
        assert_eq!(lists.len(), 300);
        for (u, list) in &lists {
            assert_eq!(list.len(), 5);
            assert!(list.iter().all(|t| t % 3 == u % 3), "user {u}: {list:?}");
        }
        // Deterministic for a seed.
        let again = fit(&d, &p, |_, _| {}).unwrap();
        assert_eq!(again.item_factors, model.item_factors);
    }

    #[test]
    fn bad_parameters_and_no_likes_are_named() {
        let d = Dataset {
            tracks: 2,
            listens: vec![listen(0, 1, 0.1, true)],
        };
        let err = |p: Params| fit(&d, &p, |_, _| {}).err().unwrap().to_string();
        assert!(
            err(Params {
                max_weight: 0.5,
                ..Params::default()
            })
            .contains("max_weight 0.5")
        );
        assert!(
            err(Params {
                max_weight: f64::NAN,
                ..Params::default()
            })
            .contains("max_weight")
        );
        assert!(
            err(Params {
                factors: 0,
                ..Params::default()
            })
            .contains("factors")
        );
        assert!(
            err(Params {
                regularization: 0.0,
                ..Params::default()
            })
            .contains("regularization")
        );
        assert!(
            err(Params {
                alpha: -1.0,
                ..Params::default()
            })
            .contains("alpha")
        );
        assert!(err(Params::default()).contains("threshold 0.7"));
    }
}
