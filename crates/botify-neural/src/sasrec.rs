//! SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the listening sequence. Each
//! position sees the tracks before it (learned position embeddings, pre-norm blocks of one-head
//! attention and a ReLU feed-forward layer, residual connections) and its output scores the next
//! track by dot product with the shared track embeddings.
//!
//! Sequences are the liked tracks of each session, in order (the last `max_len`). Training uses a
//! sampled softmax with many negatives: every position's next track against `negatives` tracks
//! drawn uniformly per batch and shared by its positions (a negative that is the position's own
//! target is masked out), rather than SASRec's original single negative with a binary loss.
//! Served as item-to-item, as the course's newest year did: a track's list is the model's
//! next-track prediction for a session that has played only that track.

use crate::adam::SparseAdam;
use crate::{Error, Result};
use botify_core::TrackId;
use botify_core::hash::FastMap;
use botify_core::rng::stream;
use candle_core::{D, DType, Device, Tensor, Var};
use rand::Rng;
use rand::seq::SliceRandom;

botify_core::params! {
    /// SASRec's parameters.
    #[derive(Copy)]
    pub struct Params {
        /// Embedding and hidden size.
        dim: usize = 64 => range(1.0, 4_096.0);
        /// Self-attention blocks.
        blocks: usize = 2 => range(1.0, 64.0);
        /// Positions a session keeps (its last liked tracks).
        max_len: usize = 16 => range(2.0, 256.0).why("a next track needs two positions");
        /// Passes over the sessions.
        epochs: usize = 10 => range(1.0, 100_000.0);
        /// Sessions per batch.
        batch: usize = 128 => range(1.0, 1_000_000.0);
        /// Sampled negatives per batch (a sampled softmax), shared by its positions.
        negatives: usize = 512 => range(1.0, 100_000.0);
        /// Adam's step size.
        learning_rate: f32 = 0.002 => above(0.0).alias("lr");
        /// Tracks liked fewer times are left out (no embedding, no list).
        min_count: u32 = 1 => any();
        /// Liked listens (the sequences' tracks): time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
        /// The seed of the weights and the batches.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
    }
}

impl Params {
    pub fn validate(&self) -> Result<()> {
        crate::check_params(self)
    }
}

/// A track's list: (next track, weight), best first.
pub type List = Vec<(TrackId, f32)>;

/// One epoch's mean sampled-softmax loss over the training positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch {
    pub loss: f64,
}

/// Dense tables of one block, in this order.
const BLOCK: [&str; 11] = [
    "ln1.gain", "ln1.bias", "wq", "wk", "wv", "ln2.gain", "ln2.bias", "w1", "b1", "w2", "b2",
];

pub struct Model {
    pub params: Params,
    /// Row `r + 1` of `items` is track `vocab[r]`; row 0 is padding.
    vocab: Vec<TrackId>,
    row_of: FastMap<TrackId, u32>,
    items: SparseAdam,
    /// Positions, blocks' tables (BLOCK order), final norm gain and bias.
    dense: Vec<SparseAdam>,
    shapes: Vec<(usize, usize)>,
}

/// The dense parameters as tensors (or variables), in `Model::dense` order.
struct Weights<'a> {
    dense: &'a [Tensor],
}

impl Weights<'_> {
    fn position(&self) -> &Tensor {
        &self.dense[0]
    }
    fn block(&self, b: usize) -> &[Tensor] {
        &self.dense[1 + b * BLOCK.len()..1 + (b + 1) * BLOCK.len()]
    }
    fn final_norm(&self) -> (&Tensor, &Tensor) {
        let n = self.dense.len();
        (&self.dense[n - 2], &self.dense[n - 1])
    }
}

fn layer_norm(x: &Tensor, gain: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred
        .broadcast_div(&var.affine(1.0, 1e-6)?.sqrt()?)?
        .broadcast_mul(gain)?
        .broadcast_add(bias)
}

impl Model {
    fn new(vocab: Vec<TrackId>, p: &Params) -> Model {
        let d = p.dim;
        let mut rng = stream(p.seed, b"sasrec-init", 0);
        let mut uniform = |n: usize, scale: f32| -> Vec<f32> {
            (0..n).map(|_| rng.random_range(-scale..scale)).collect()
        };
        let glorot = (6.0 / (2 * d) as f32).sqrt();
        let mut items = uniform((vocab.len() + 1) * d, glorot);
        items[..d].iter_mut().for_each(|x| *x = 0.0);
        let mut dense = vec![SparseAdam::new(
            uniform(p.max_len * d, glorot),
            d,
            p.learning_rate,
        )];
        let mut shapes = vec![(p.max_len, d)];
        for _ in 0..p.blocks {
            for name in BLOCK {
                let (values, rows) = match name {
                    "ln1.gain" | "ln2.gain" => (vec![1.0; d], 1),
                    "ln1.bias" | "ln2.bias" | "b1" | "b2" => (vec![0.0; d], 1),
                    _ => (uniform(d * d, glorot), d),
                };
                dense.push(SparseAdam::new(values, d, p.learning_rate));
                shapes.push((rows, d));
            }
        }
        dense.push(SparseAdam::new(vec![1.0; d], d, p.learning_rate));
        dense.push(SparseAdam::new(vec![0.0; d], d, p.learning_rate));
        shapes.extend([(1, d), (1, d)]);
        Model {
            row_of: vocab
                .iter()
                .enumerate()
                .map(|(r, &t)| (t, r as u32 + 1))
                .collect(),
            vocab,
            items: SparseAdam::new(items, d, p.learning_rate),
            dense,
            shapes,
            params: *p,
        }
    }

    /// Tracks the model has an embedding for.
    pub fn tracks(&self) -> &[TrackId] {
        &self.vocab
    }

    fn dense_tensors(&self, dev: &Device) -> Result<Vec<Tensor>> {
        self.dense
            .iter()
            .zip(&self.shapes)
            .map(|(t, &s)| Ok(Tensor::from_slice(&t.values, s, dev)?))
            .collect()
    }

    /// Hidden states `[b·l, d]` of `b` sequences of `l` positions, given their input embeddings
    /// `[b·l, d]` and which positions hold a track (`[b, l]`, 1 or 0; sequences are
    /// left-padded, so their last track sits at the last position).
    fn forward(
        &self,
        inputs: &Tensor,
        present: &Tensor,
        b: usize,
        l: usize,
        w: &Weights,
    ) -> candle_core::Result<Tensor> {
        let d = self.params.dim;
        let dev = inputs.device();
        let keep = present.reshape((b, l, 1))?;
        let pos = w.position().narrow(0, self.params.max_len - l, l)?;
        let mut x = (inputs.reshape((b, l, d))? * (d as f64).sqrt())?
            .broadcast_add(&pos)?
            .broadcast_mul(&keep)?;
        // A query sees the keys at or before it that hold a track.
        let causal: Vec<f32> = (0..l * l)
            .map(|i| if i % l <= i / l { 0.0 } else { -1e9 })
            .collect();
        let causal = Tensor::from_vec(causal, (1, l, l), dev)?;
        let key_pad = ((present.reshape((b, 1, l))? - 1.0)? * 1e9)?;
        let mask = causal.broadcast_add(&key_pad)?;
        for blk in 0..self.params.blocks {
            let t = w.block(blk);
            let h = layer_norm(&x, &t[0], &t[1])?.reshape((b * l, d))?;
            let proj = |m: &Tensor| h.matmul(m)?.reshape((b, l, d));
            let (q, k, v) = (proj(&t[2])?, proj(&t[3])?, proj(&t[4])?);
            let s = (q.matmul(&k.transpose(1, 2)?.contiguous()?)? / (d as f64).sqrt())?
                .broadcast_add(&mask)?;
            let s = s.broadcast_sub(&s.max_keepdim(2)?.detach())?.exp()?;
            let attention = s.broadcast_div(&s.sum_keepdim(2)?)?;
            x = (x + attention.matmul(&v)?)?;
            let h = layer_norm(&x, &t[5], &t[6])?.reshape((b * l, d))?;
            let f = h
                .matmul(&t[7])?
                .broadcast_add(&t[8])?
                .relu()?
                .matmul(&t[9])?
                .broadcast_add(&t[10])?;
            x = (x + f.reshape((b, l, d))?)?.broadcast_mul(&keep)?;
        }
        let (gain, bias) = w.final_norm();
        layer_norm(&x, gain, bias)?.reshape((b * l, d))
    }

    /// One step on a batch of sequences (item rows, each at most `max_len`); returns its loss.
    fn step(&mut self, batch: &[&[u32]], rng: &mut impl Rng) -> Result<f64> {
        let dev = Device::Cpu;
        let (b, l, d) = (batch.len(), self.params.max_len, self.params.dim);
        let n_items = self.vocab.len() as u32;
        // Rows this batch touches: inputs, targets, negatives; local index per row.
        let mut local: FastMap<u32, u32> = FastMap::default();
        let mut rows: Vec<u32> = Vec::new();
        let mut index = |r: u32, rows: &mut Vec<u32>| -> u32 {
            *local.entry(r).or_insert_with(|| {
                rows.push(r);
                rows.len() as u32 - 1
            })
        };
        let (mut input_idx, mut present) = (vec![0u32; b * l], vec![0f32; b * l]);
        let (mut target_pos, mut target_idx, mut target_rows) =
            (Vec::new(), Vec::new(), Vec::new());
        for (s, seq) in batch.iter().enumerate() {
            // Inputs: all but the last track, left-padded; targets: the track after each.
            let n = seq.len() - 1;
            for (j, w) in seq.windows(2).enumerate() {
                let p = s * l + (l - n) + j;
                input_idx[p] = index(w[0], &mut rows);
                present[p] = 1.0;
                target_pos.push(p as u32);
                target_idx.push(index(w[1], &mut rows));
                target_rows.push(w[1]);
            }
        }
        let negatives: Vec<u32> = (0..self.params.negatives)
            .map(|_| rng.random_range(1..=n_items))
            .collect();
        let neg_idx: Vec<u32> = negatives.iter().map(|&r| index(r, &mut rows)).collect();
        let gathered: Vec<f32> = rows
            .iter()
            .flat_map(|&r| self.items.row(r as usize).iter().copied())
            .collect();
        let emb = Var::from_vec(gathered, (rows.len(), d), &dev)?;
        let dense_vars: Vec<Var> = self
            .dense
            .iter()
            .zip(&self.shapes)
            .map(|(t, &s)| Var::from_slice(&t.values, s, &dev))
            .collect::<candle_core::Result<_>>()?;
        let dense: Vec<Tensor> = dense_vars.iter().map(|v| v.as_tensor().clone()).collect();
        let w = Weights { dense: &dense };
        let inputs = emb.index_select(&Tensor::new(input_idx.as_slice(), &dev)?, 0)?;
        let present = Tensor::from_vec(present, (b, l), &dev)?;
        let h = self.forward(&inputs, &present, b, l, &w)?;
        let m = target_pos.len();
        let h = h.index_select(&Tensor::new(target_pos.as_slice(), &dev)?, 0)?;
        let pos_e = emb.index_select(&Tensor::new(target_idx.as_slice(), &dev)?, 0)?;
        let pos_logit = (&h * &pos_e)?.sum_keepdim(1)?;
        let neg_e = emb.index_select(&Tensor::new(neg_idx.as_slice(), &dev)?, 0)?;
        // A negative that is the position's own next track is not a negative.
        let hits: Vec<f32> = target_rows
            .iter()
            .flat_map(|&t| {
                negatives
                    .iter()
                    .map(move |&n| if n == t { -1e9 } else { 0.0 })
            })
            .collect();
        let hits = Tensor::from_vec(hits, (m, negatives.len()), &dev)?;
        let neg_logits = (h.matmul(&neg_e.t()?)? + hits)?;
        let logits = Tensor::cat(&[&pos_logit, &neg_logits], 1)?;
        let max = logits.max_keepdim(1)?.detach();
        let lse = logits
            .broadcast_sub(&max)?
            .exp()?
            .sum_keepdim(1)?
            .log()?
            .add(&max)?;
        let loss = (lse - pos_logit)?.mean_all()?;
        let value = f64::from(loss.to_scalar::<f32>()?);
        let grads = loss.backward()?;
        self.items.step_rows(&rows, &crate::gradient(&grads, &emb)?);
        for (table, var) in self.dense.iter_mut().zip(&dense_vars) {
            table.step_all(&crate::gradient(&grads, var)?);
        }
        Ok(value)
    }

    /// Each of `anchors`' `k` most likely next tracks (itself excluded), with their softmax
    /// share among the `k`; a track without an embedding gets an empty list.
    pub fn next_tracks(&self, anchors: &[TrackId], k: usize) -> Result<Vec<List>> {
        let dev = Device::Cpu;
        let d = self.params.dim;
        let dense = self.dense_tensors(&dev)?;
        let w = Weights { dense: &dense };
        let known: Vec<(usize, u32)> = anchors
            .iter()
            .enumerate()
            .filter_map(|(i, t)| self.row_of.get(t).map(|&r| (i, r)))
            .collect();
        let mut hidden = Vec::with_capacity(known.len() * d);
        for chunk in known.chunks(4096) {
            let gathered: Vec<f32> = chunk
                .iter()
                .flat_map(|&(_, r)| self.items.row(r as usize).iter().copied())
                .collect();
            let n = chunk.len();
            let inputs = Tensor::from_vec(gathered, (n, d), &dev)?;
            let present = Tensor::ones((n, 1), DType::F32, &dev)?;
            let h = self.forward(&inputs, &present, n, 1, &w)?;
            hidden.extend(h.flatten_all()?.to_vec1::<f32>()?);
        }
        // Scores against every track row (padding row 0 excluded).
        let table = &self.items.values[d..];
        let queries: Vec<(usize, u32)> = (0..known.len()).map(|q| (q, known[q].1)).collect();
        let tops = botify_core::topk::top_k(
            &queries,
            |&(q, _)| &hidden[q * d..(q + 1) * d],
            table,
            d,
            None,
            k,
            |&(_, r), scores| scores[r as usize - 1] = f32::NEG_INFINITY,
        );
        let mut out = vec![Vec::new(); anchors.len()];
        for (q, (&(i, _), top)) in known.iter().zip(tops).enumerate() {
            let hq = &hidden[q * d..(q + 1) * d];
            let logits: Vec<f32> = top
                .iter()
                .map(|&r| {
                    hq.iter()
                        .zip(&table[r as usize * d..(r as usize + 1) * d])
                        .map(|(a, b)| a * b)
                        .sum()
                })
                .collect();
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let total: f32 = logits.iter().map(|x| (x - max).exp()).sum();
            out[i] = top
                .iter()
                .zip(&logits)
                .map(|(&r, &x)| (self.vocab[r as usize], (x - max).exp() / total))
                .collect();
        }
        Ok(out)
    }

    /// Every known track's list of `k`.
    pub fn neighbours(&self, k: usize) -> Result<Vec<(TrackId, List)>> {
        let lists = self.next_tracks(&self.vocab, k)?;
        Ok(self
            .vocab
            .iter()
            .copied()
            .zip(lists)
            .filter(|(_, l)| !l.is_empty())
            .collect())
    }
}

/// Trains on `sequences` (each session's liked tracks in order) over a catalogue of `tracks`;
/// `on_epoch` sees each epoch's loss and the model after it.
pub fn fit(
    sequences: &[Vec<TrackId>],
    tracks: usize,
    p: &Params,
    mut on_epoch: impl FnMut(&Epoch, &Model) -> Result<()>,
) -> Result<Model> {
    p.validate()?;
    let mut count = vec![0u32; tracks];
    for &t in sequences.iter().flatten() {
        let slot = count.get_mut(t as usize).ok_or_else(|| {
            Error::Invalid(format!(
                "track {t} is outside the catalogue of {tracks} tracks"
            ))
        })?;
        *slot += 1;
    }
    let vocab: Vec<TrackId> = (0..tracks as TrackId)
        .filter(|&t| count[t as usize] >= p.min_count.max(1))
        .collect();
    let mut model = Model::new(vocab, p);
    // Sequences of item rows: known tracks only, the last `max_len`, at least two.
    let mut rows: Vec<Vec<u32>> = sequences
        .iter()
        .map(|s| {
            let r: Vec<u32> = s
                .iter()
                .filter_map(|t| model.row_of.get(t).copied())
                .collect();
            r[r.len().saturating_sub(p.max_len)..].to_vec()
        })
        .filter(|r| r.len() >= 2)
        .collect();
    if rows.is_empty() {
        return Err(Error::Invalid(
            "no session has two liked tracks: there is no next track to learn".into(),
        ));
    }
    let mut rng = stream(p.seed, b"sasrec", 0);
    for _ in 0..p.epochs {
        rows.shuffle(&mut rng);
        let (mut total, mut n) = (0.0, 0usize);
        for batch in rows.chunks(p.batch) {
            let seqs: Vec<&[u32]> = batch.iter().map(Vec::as_slice).collect();
            total += model.step(&seqs, &mut rng)? * batch.len() as f64;
            n += batch.len();
        }
        on_epoch(
            &Epoch {
                loss: total / n as f64,
            },
            &model,
        )?;
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions walking a cycle of 30 tracks: after track t comes t + 1 (mod 30) nine times in
    /// ten, a random track otherwise.
    fn walks(n: usize, seed: u64) -> Vec<Vec<TrackId>> {
        let mut rng = stream(seed, b"test", 0);
        (0..n)
            .map(|_| {
                let mut t = rng.random_range(0..30);
                let len = rng.random_range(3..10);
                (0..len)
                    .map(|_| {
                        let now = t;
                        t = if rng.random::<f32>() < 0.9 {
                            (t + 1) % 30
                        } else {
                            rng.random_range(0..30)
                        };
                        now
                    })
                    .collect()
            })
            .collect()
    }

    fn small() -> Params {
        Params {
            dim: 16,
            blocks: 1,
            max_len: 8,
            epochs: 12,
            batch: 64,
            negatives: 16,
            learning_rate: 0.01,
            ..Params::default()
        }
    }

    #[test]
    fn learns_the_direction_of_a_walk_and_the_loss_falls() {
        let seqs = walks(1500, 1);
        let mut losses = Vec::new();
        let model = fit(&seqs, 40, &small(), |e, _| {
            losses.push(e.loss);
            Ok(())
        })
        .unwrap();
        assert_eq!(losses.len(), 12);
        assert!(losses[11] < 0.6 * losses[0], "{losses:?}");
        // Tracks 30..40 never play: no embedding, no list.
        assert_eq!(model.tracks().len(), 30);
        let lists = model.neighbours(3).unwrap();
        assert_eq!(lists.len(), 30);
        let right = lists.iter().filter(|(t, l)| l[0].0 == (t + 1) % 30).count();
        assert!(
            right >= 27,
            "{right} of 30 tracks predict their successor first"
        );
        for (t, l) in &lists {
            assert!(l.iter().all(|x| x.0 != *t && x.0 < 30));
            let total: f32 = l.iter().map(|x| x.1).sum();
            assert!((total - 1.0).abs() < 1e-4 && l.windows(2).all(|w| w[0].1 >= w[1].1));
        }
        assert_eq!(model.next_tracks(&[35], 3).unwrap(), vec![Vec::new()]);
    }

    #[test]
    fn a_seed_gives_the_same_lists() {
        let seqs = walks(300, 2);
        let p = Params {
            epochs: 2,
            ..small()
        };
        let a = fit(&seqs, 30, &p, |_, _| Ok(())).unwrap();
        let b = fit(&seqs, 30, &p, |_, _| Ok(())).unwrap();
        assert_eq!(a.neighbours(5).unwrap(), b.neighbours(5).unwrap());
    }

    #[test]
    fn bad_parameters_and_data_are_named() {
        let seqs = walks(10, 3);
        let err = |p: Params, s: &[Vec<TrackId>], n: usize| {
            fit(s, n, &p, |_, _| Ok(())).err().unwrap().to_string()
        };
        assert!(
            err(
                Params {
                    max_len: 1,
                    ..small()
                },
                &seqs,
                30
            )
            .contains("max_len 1")
        );
        assert!(
            err(
                Params {
                    blocks: 0,
                    ..small()
                },
                &seqs,
                30
            )
            .contains("blocks")
        );
        assert!(
            err(
                Params {
                    learning_rate: f32::NAN,
                    ..small()
                },
                &seqs,
                30
            )
            .contains("learning_rate")
        );
        assert!(err(small(), &seqs, 10).contains("outside the catalogue"));
        assert!(err(small(), &[vec![1], vec![2]], 30).contains("two liked tracks"));
    }
}
