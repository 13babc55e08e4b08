//! item2vec (Barkan & Koenigstein, 2016): skip-gram with negative sampling over listening
//! sessions. Each session's tracks (those listened at least `threshold`), in order, form a
//! sentence; a track's
//! input vector learns to predict the tracks around it against `negatives` tracks drawn from the
//! popularity^0.75 distribution, with word2vec's subsampling of very frequent tracks and a
//! linearly decaying learning rate. Neighbours are the nearest tracks by cosine of the input
//! vectors.
//!
//! Deterministic: one thread and one seeded stream, so a seed gives the same vectors and lists
//! on every machine (the in-process pipeline is reproducible to the bit).

use crate::dataset::Dataset;
use crate::metrics::{Metrics, evaluate_next};
use crate::{Error, Result};
use botify_core::TrackId;
use botify_core::hash::FastMap;
use botify_core::rng::stream;
use rand::Rng as _;

botify_core::params! {
    /// item2vec's parameters.
    #[derive(Copy)]
    pub struct Params {
        /// Vector size.
        dim: usize = 32 => range(1.0, 4_096.0);
        /// Context: liked tracks at most this many positions apart in a session.
        window: usize = 5 => range(1.0, 1_000.0);
        /// Negative tracks per (track, context) pair, drawn by popularity^0.75.
        negatives: usize = 5 => range(1.0, 100_000.0);
        /// Passes over the sentences.
        epochs: usize = 20 => range(1.0, 100_000.0);
        /// Initial SGD step, decaying linearly to 0.01% of it; word2vec's 0.025 suits corpora of billions of words, a day of logs learns far more with 0.1 (docs/models.md).
        learning_rate: f32 = 0.1 => above(0.0).alias("lr");
        /// Listens of at least this time make the sentences; 0 keeps every listen (the held-out hit rate about doubles, yet served online the lists lose to StickyArtist: docs/models.md).
        sentence_threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0);
        /// Tracks liked fewer times than this get no vector and no list.
        min_count: u32 = 1 => any();
        /// word2vec's subsampling t: a track of frequency f is kept with probability √(t/f) + t/f (0 keeps every listen).
        subsample: f32 = 1e-3 => at_least(0.0);
        /// The seed of the vectors and the sampling.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
    }
}

impl Params {
    pub fn validate(&self) -> Result<()> {
        crate::check::params(self)
    }
}

/// Trained vectors: `tracks[i]` owns row `i` of `input` (the embedding) and of `output` (the
/// context vectors, used in training only).
pub struct Model {
    pub dim: usize,
    pub tracks: Vec<TrackId>,
    pub input: Vec<f32>,
    output: Vec<f32>,
    index: FastMap<TrackId, u32>,
}

/// What one epoch did.
#[derive(Debug, Clone, Copy)]
pub struct Epoch {
    pub index: usize,
    /// Mean negative-sampling loss per (track, context) pair.
    pub loss: f64,
    pub pairs: u64,
}

impl Model {
    /// The unit-length embeddings, row by row (a zero row stays zero).
    fn unit_rows(&self) -> Vec<f32> {
        let mut rows = self.input.clone();
        for r in rows.chunks_mut(self.dim) {
            let n = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                r.iter_mut().for_each(|x| *x /= n);
            }
        }
        rows
    }

    /// For each anchor that has a vector, its `k` nearest tracks by cosine (itself excluded),
    /// best first, with the cosines; anchors without a vector get an empty list.
    pub fn similar(&self, anchors: &[TrackId], k: usize) -> Vec<Vec<(TrackId, f32)>> {
        let d = self.dim;
        let unit = self.unit_rows();
        let rows: Vec<Option<u32>> = anchors.iter().map(|t| self.index.get(t).copied()).collect();
        let known: Vec<u32> = rows.iter().flatten().copied().collect();
        let lists = botify_core::topk::top_k(
            &known,
            |&i| &unit[i as usize * d..(i as usize + 1) * d],
            &unit,
            d,
            None,
            k,
            |&i, scores| scores[i as usize] = f32::NEG_INFINITY,
        );
        let mut lists = lists.into_iter();
        rows.iter()
            .map(|r| match r {
                None => Vec::new(),
                Some(i) => {
                    let q = &unit[*i as usize * d..(*i as usize + 1) * d];
                    lists
                        .next()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|j| {
                            let row = &unit[j as usize * d..(j as usize + 1) * d];
                            let cos = q.iter().zip(row).map(|(a, b)| a * b).sum::<f32>();
                            (self.tracks[j as usize], cos)
                        })
                        .collect()
                }
            })
            .collect()
    }

    /// Every track's `k` nearest tracks by cosine, with the cosines.
    pub fn neighbours(&self, k: usize) -> Vec<(TrackId, Vec<(TrackId, f32)>)> {
        self.tracks
            .iter()
            .copied()
            .zip(self.similar(&self.tracks, k))
            .filter(|(_, l)| !l.is_empty())
            .collect()
    }

    /// Offline metrics of the `k` nearest tracks on `(track, next track)` pairs (recall is the
    /// next-track hit rate); a track without a vector answers nothing.
    pub fn next_track_metrics(&self, pairs: &[(TrackId, TrackId)], k: usize) -> Metrics {
        let anchors: Vec<TrackId> = pairs.iter().map(|p| p.0).collect();
        let lists: FastMap<TrackId, Vec<TrackId>> = anchors
            .iter()
            .copied()
            .zip(self.similar(&anchors, k))
            .map(|(a, l)| (a, l.into_iter().map(|(t, _)| t).collect()))
            .collect();
        let tracks = self.tracks.iter().max().map_or(0, |&t| t as usize + 1);
        evaluate_next(pairs, |t| lists.get(&t).cloned(), k, tracks)
    }
}

/// The tracks of each session listened at least `threshold`, in order: item2vec's sentences.
pub fn sessions(d: &Dataset, threshold: f32) -> Vec<Vec<TrackId>> {
    let mut out: Vec<Vec<TrackId>> = Vec::new();
    let mut current = (None, 0);
    for l in &d.listens {
        if current != (Some(l.user), l.session) {
            current = (Some(l.user), l.session);
            out.push(Vec::new());
        }
        if l.time >= threshold
            && let Some(s) = out.last_mut()
        {
            s.push(l.track);
        }
    }
    out.retain(|s| s.len() > 1);
    out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x.clamp(-30.0, 30.0)).exp())
}

/// The sentences as rows of the vocabulary (tracks seen at least `min_count` times), with each
/// row's keep probability (word2vec's subsampling) and the negative-sampling table.
struct Corpus {
    tracks: Vec<TrackId>,
    index: FastMap<TrackId, u32>,
    sentences: Vec<Vec<u32>>,
    keep: Vec<f32>,
    table: Vec<u32>,
}

fn corpus(d: &Dataset, p: &Params) -> Result<Corpus> {
    let raw = sessions(d, p.sentence_threshold);
    let mut counts: FastMap<TrackId, u64> = FastMap::default();
    for s in &raw {
        for &t in s {
            *counts.entry(t).or_default() += 1;
        }
    }
    let mut tracks: Vec<TrackId> = counts
        .iter()
        .filter(|&(_, &c)| c >= u64::from(p.min_count))
        .map(|(&t, _)| t)
        .collect();
    tracks.sort_unstable();
    if tracks.len() < 2 {
        return Err(Error::Invalid(format!(
            "item2vec needs sessions with at least two listens of time ≥ {}; the logs have {} such tracks",
            p.sentence_threshold,
            tracks.len()
        )));
    }
    let index: FastMap<TrackId, u32> = tracks
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, i as u32))
        .collect();
    let sentences: Vec<Vec<u32>> = raw
        .iter()
        .map(|s| {
            s.iter()
                .filter_map(|t| index.get(t).copied())
                .collect::<Vec<_>>()
        })
        .filter(|s| s.len() > 1)
        .collect();
    let freq: Vec<u64> = tracks.iter().map(|t| counts[t]).collect();
    let total: u64 = freq.iter().sum();
    // Keep probability per track (word2vec's formula), and the negative-sampling table.
    let keep: Vec<f32> = freq
        .iter()
        .map(|&c| {
            if p.subsample == 0.0 {
                return 1.0;
            }
            let r = p.subsample as f64 * total as f64 / c as f64;
            (r.sqrt() + r).min(1.0) as f32
        })
        .collect();
    let table = negative_table(&freq);

    Ok(Corpus {
        tracks,
        index,
        sentences,
        keep,
        table,
    })
}

/// Trains on `d`'s sessions; `on_epoch` sees each epoch's loss and the model after it.
pub fn fit(d: &Dataset, p: &Params, mut on_epoch: impl FnMut(&Epoch, &Model)) -> Result<Model> {
    p.validate()?;
    let Corpus {
        tracks,
        index,
        sentences,
        keep,
        table,
    } = corpus(d, p)?;
    let (n, dim) = (tracks.len(), p.dim);
    let mut rng = stream(p.seed, b"item2vec", 0);
    let mut model = Model {
        dim,
        input: (0..n * dim)
            .map(|_| (rng.random::<f32>() - 0.5) / dim as f32)
            .collect(),
        output: vec![0.0; n * dim],
        tracks,
        index,
    };
    let planned = (sentences.iter().map(Vec::len).sum::<usize>() * p.epochs).max(1) as f64;
    let mut seen = 0usize;
    let mut grad = vec![0f32; dim];
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    let mut kept: Vec<u32> = Vec::new();
    for epoch in 0..p.epochs {
        // A fresh order of sessions each epoch.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let (mut loss, mut pairs) = (0f64, 0u64);
        for &si in &order {
            let s = &sentences[si];
            seen += s.len();
            let lr = p.learning_rate * (1.0 - seen as f64 / planned).max(1e-4) as f32;
            kept.clear();
            kept.extend(
                s.iter()
                    .copied()
                    .filter(|&t| rng.random::<f32>() < keep[t as usize]),
            );
            for (i, &centre) in kept.iter().enumerate() {
                // word2vec's shrunk window: nearer context counts more often.
                let w = rng.random_range(1..=p.window);
                let lo = i.saturating_sub(w);
                let hi = (i + w + 1).min(kept.len());
                for (j, &context) in kept[lo..hi].iter().enumerate() {
                    if lo + j == i {
                        continue;
                    }
                    let c = centre as usize * dim;
                    grad.iter_mut().for_each(|g| *g = 0.0);
                    for neg in 0..=p.negatives {
                        let (target, label) = if neg == 0 {
                            (context, 1.0)
                        } else {
                            let t = table[rng.random_range(0..table.len())];
                            if t == context {
                                continue;
                            }
                            (t, 0.0)
                        };
                        let o = target as usize * dim;
                        let input = &model.input[c..c + dim];
                        let output = &mut model.output[o..o + dim];
                        let dot: f32 = input.iter().zip(output.iter()).map(|(a, b)| a * b).sum();
                        let f = sigmoid(dot);
                        loss -= f64::from(if label > 0.5 { f } else { 1.0 - f }.max(1e-7).ln());
                        let g = lr * (label - f);
                        for ((acc, out), x) in grad.iter_mut().zip(output.iter_mut()).zip(input) {
                            *acc += g * *out;
                            *out += g * x;
                        }
                    }
                    for (x, acc) in model.input[c..c + dim].iter_mut().zip(&grad) {
                        *x += acc;
                    }
                    pairs += 1;
                }
            }
        }
        let e = Epoch {
            index: epoch + 1,
            loss: if pairs > 0 {
                loss / pairs as f64
            } else {
                f64::NAN
            },
            pairs,
        };
        on_epoch(&e, &model);
    }
    Ok(model)
}

/// A table of track rows in proportion to count^0.75, for O(1) negative draws.
fn negative_table(freq: &[u64]) -> Vec<u32> {
    let size = (freq.len() * 20).clamp(1 << 16, 1 << 24);
    let weights: Vec<f64> = freq.iter().map(|&c| (c as f64).powf(0.75)).collect();
    let sum: f64 = weights.iter().sum();
    let mut table = Vec::with_capacity(size);
    let mut cumulative = 0.0;
    for (i, w) in weights.iter().enumerate() {
        cumulative += w / sum;
        let upto = ((cumulative * size as f64).round() as usize).min(size);
        while table.len() < upto {
            table.push(i as u32);
        }
    }
    while table.len() < size {
        table.push((freq.len() - 1) as u32);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Listen;

    /// Sessions that each stay inside one of `groups` clusters of 20 tracks, in random order:
    /// the planted structure item2vec must recover.
    fn planted(groups: u32, sessions: u32, seed: u64) -> Dataset {
        let mut rng = stream(seed, b"planted", 0);
        let mut listens = Vec::new();
        for s in 0..sessions {
            let g = rng.random_range(0..groups);
            for step in 0..8u64 {
                listens.push(Listen {
                    user: s / 4,
                    track: g * 20 + rng.random_range(0..20),
                    time: if rng.random::<f32>() < 0.9 { 1.0 } else { 0.1 },
                    timestamp: u64::from(s) * 100 + step,
                    session: s % 4,
                    recommended: false,
                });
            }
        }
        Dataset {
            tracks: (groups * 20) as usize,
            listens,
        }
    }

    #[test]
    fn neighbours_recover_planted_clusters() {
        let d = planted(10, 3000, 1);
        let p = Params {
            epochs: 5,
            dim: 16,
            ..Params::default()
        };
        let mut losses = Vec::new();
        let model = fit(&d, &p, |e, _| losses.push(e.loss)).unwrap();
        assert_eq!(losses.len(), 5);
        assert!(losses[4] < losses[0], "{losses:?}");
        let lists = model.neighbours(10);
        assert_eq!(lists.len(), 200);
        let same = lists
            .iter()
            .flat_map(|(a, l)| l.iter().map(move |(b, _)| a / 20 == b / 20))
            .filter(|&s| s)
            .count();
        // 19 same-cluster tracks exist for each; nearly all ten nearest must be among them.
        assert!(
            same as f64 / 2000.0 > 0.9,
            "{same} of 2000 in the same cluster"
        );
        for (a, l) in &lists {
            assert!(
                l.iter().all(|(b, _)| b != a),
                "a track is not its own neighbour"
            );
            assert!(l.windows(2).all(|w| w[0].1 >= w[1].1 - 1e-5), "best first");
        }
        let held = planted(10, 300, 2);
        let pairs = held.next_liked_pairs(0.7, 1000);
        let hr = model.next_track_metrics(&pairs, 10).recall;
        // Random lists would hit 10 of 199 tracks; within-cluster ones about 10 of 19.
        assert!(hr > 0.35, "hit rate {hr}");
    }

    #[test]
    fn sentences_are_sessions_of_listens_above_the_threshold() {
        let l = |user, session, track, time| Listen {
            user,
            track,
            time,
            timestamp: 0,
            session,
            recommended: false,
        };
        let d = Dataset {
            tracks: 10,
            listens: vec![
                l(1, 0, 1, 1.0),
                l(1, 0, 2, 0.1),
                l(1, 0, 3, 0.9),
                l(1, 1, 4, 1.0),
                l(2, 1, 5, 1.0),
                l(2, 1, 6, 1.0),
            ],
        };
        // A one-track session is no sentence; a new user starts a new one.
        assert_eq!(sessions(&d, 0.0), vec![vec![1, 2, 3], vec![5, 6]]);
        assert_eq!(sessions(&d, 0.7), vec![vec![1, 3], vec![5, 6]]);
    }

    #[test]
    fn a_seed_gives_the_same_vectors() {
        let d = planted(5, 500, 3);
        let p = Params {
            epochs: 2,
            ..Params::default()
        };
        let a = fit(&d, &p, |_, _| {}).unwrap();
        let b = fit(&d, &p, |_, _| {}).unwrap();
        assert_eq!(a.input, b.input);
        let c = fit(&d, &Params { seed: 9, ..p }, |_, _| {}).unwrap();
        assert_ne!(a.input, c.input);
    }

    #[test]
    fn bad_parameters_and_empty_logs_are_named() {
        let e = Params {
            negatives: 0,
            ..Params::default()
        };
        assert!(e.validate().unwrap_err().to_string().contains("negatives"));
        let empty = Dataset {
            tracks: 10,
            listens: Vec::new(),
        };
        let err = fit(&empty, &Params::default(), |_, _| {})
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("at least two listens"), "{err}");
    }

    #[test]
    fn the_negative_table_follows_count_to_the_three_quarters() {
        let t = negative_table(&[1, 16]);
        let ones = t.iter().filter(|&&i| i == 1).count() as f64 / t.len() as f64;
        // 16^0.75 = 8: eight times as often as the count-1 track.
        assert!((ones - 8.0 / 9.0).abs() < 1e-3, "{ones}");
    }
}
