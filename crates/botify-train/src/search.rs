//! Seeded random hyper-parameter search for matrix factorisation, scored by held-out
//! precision@k, with early stopping inside each trial.

use crate::dataset::Dataset;
use crate::metrics::evaluate;
use crate::mf;
use botify_core::Catalog;
use botify_core::rng::stream;
use rand::Rng;
use rayon::prelude::*;

/// One finished trial: its parameters (with `epochs` set to the best epoch) and best score.
#[derive(Debug, Clone)]
pub struct Trial {
    pub index: usize,
    pub params: mf::Params,
    pub precision: f64,
}

/// Epochs without a better held-out precision after which a trial stops.
pub const PATIENCE: usize = 3;

/// Tries `trials` random draws around `base` (loss, factors, learning rate, L2, max_sampled;
/// features, threshold and the epoch budget are kept), scoring each epoch's lists of `k` on the
/// positives of `test`. Trials run in parallel; `on_trial` sees each as it ends. Returns the
/// best trial (the same for a seed whatever the thread count).
pub fn search_mf(
    train: &Dataset,
    test: &Dataset,
    catalog: Option<&Catalog>,
    base: &mf::Params,
    trials: usize,
    k: usize,
    mut on_trial: impl FnMut(&Trial) + Send,
) -> Option<Trial> {
    let heard = train.heard();
    let positives = test.positives(base.threshold);
    // Draw every trial's parameters first, so the draws do not depend on the order trials end.
    let mut rng = stream(base.seed, b"search", 0);
    let drawn: Vec<mf::Params> = (0..trials)
        .map(|_| {
            let mut p = base.clone();
            p.loss = if rng.random_bool(0.5) {
                mf::Loss::Warp
            } else {
                mf::Loss::Bpr
            };
            p.factors = [16, 32, 64, 128][rng.random_range(0..4)];
            p.learning_rate = 10f32.powf(rng.random_range(-2.3f32..-0.7));
            p.l2 = 10f32.powf(rng.random_range(-7.0f32..-4.0));
            p.max_sampled = [10, 30, 50, 100][rng.random_range(0..4)];
            p.epochs = base.epochs.max(1);
            p
        })
        .collect();
    // Trials run in parallel, each on one thread, so each is reproducible on its own.
    let on_trial = std::sync::Mutex::new(&mut on_trial);
    let done: Vec<Trial> = drawn
        .into_par_iter()
        .enumerate()
        .map(|(index, mut p)| {
            p.threads = 1;
            let mut scores: Vec<f64> = Vec::new();
            mf::fit(train, catalog, &p, |_, m| {
                // Only users the metric scores need lists.
                let lists = m.recommend_to(|u| positives.contains_key(&u), &heard, k);
                scores.push(evaluate(&lists, &positives, k, train.tracks).precision);
                let best = scores.iter().copied().fold(0.0, f64::max);
                let since_best =
                    scores.len() - 1 - scores.iter().rposition(|&s| s == best).unwrap_or(0);
                since_best < PATIENCE
            });
            let (best_epoch, precision) =
                scores.iter().enumerate().filter(|(_, s)| !s.is_nan()).fold(
                    (0, 0.0),
                    |acc, (i, &s)| if s > acc.1 { (i + 1, s) } else { acc },
                );
            p.epochs = best_epoch.max(1);
            p.threads = base.threads;
            let trial = Trial {
                index,
                params: p,
                precision,
            };
            if let Ok(mut f) = on_trial.lock() {
                f(&trial);
            }
            trial
        })
        .collect();
    // The first of equally good trials wins, whatever the order they finished in.
    done.into_iter()
        .fold(None, |best: Option<Trial>, t| match best {
            Some(b) if b.precision >= t.precision => Some(b),
            _ => Some(t),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::events::{Event, Message};
    use std::collections::BTreeMap;

    /// Users 0..60 in two taste groups: even users like tracks 0..10, odd users 10..20.
    fn planted() -> Dataset {
        let mut events = Vec::new();
        let mut ts = 0;
        for user in 0..60u32 {
            for i in 0..10u32 {
                let track = (user % 2) * 10 + (i + user) % 10;
                ts += 1;
                events.push(Event {
                    message: Message::Next,
                    timestamp: ts,
                    user,
                    track,
                    time: 1.0,
                    latency: 0.001,
                    recommendation: Some(0),
                    experiments: BTreeMap::new(),
                    propensity: None,
                });
            }
        }
        Dataset::from_events(events, 20).unwrap()
    }

    #[test]
    fn search_is_seeded_and_returns_its_best_trial() {
        let d = planted();
        let (train, test) = d.split(crate::Split::Random, 0.3, 7);
        let base = mf::Params {
            epochs: 4,
            seed: 5,
            ..Default::default()
        };
        let mut seen = Vec::new();
        let best = search_mf(&train, &test, None, &base, 3, 5, |t| seen.push(t.clone())).unwrap();
        assert_eq!(seen.len(), 3);
        let top = seen.iter().map(|t| t.precision).fold(0.0, f64::max);
        assert_eq!(best.precision, top);
        // Two taste groups of 10 tracks: a learned list of 5 beats random picks (5/20 · 10 held-out).
        assert!(best.precision > 0.3, "{}", best.precision);
        assert!((1..=4).contains(&best.params.epochs));
        let again = search_mf(&train, &test, None, &base, 3, 5, |_| {}).unwrap();
        assert_eq!(again.params.factors, best.params.factors);
        assert_eq!(again.precision, best.precision);
        assert!(search_mf(&train, &test, None, &base, 0, 5, |_| {}).is_none());
    }
}
