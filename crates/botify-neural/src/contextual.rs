//! The contextual item-to-item model of the course's seminar and homework design 3: every track
//! has an input embedding (as the previous track) and an output embedding (as the next one); the
//! predicted listen time of `next` after `prev` is
//!
//! - `dot`: sigmoid(Σ w_c · in[prev]_c · out[next]_c + b) — the seminar's element-wise product
//!   followed by a linear layer;
//! - `cosine`: sigmoid(s · cos(in[prev], out[next]) + b) — the homework's variant;
//!
//! trained on (track → next track, listen time) pairs from the log with MSE or MAE. The service
//! serves each track's best neighbours by predicted time, with the predictions as weights.

use crate::adam::SparseAdam;
use crate::tables::Groups;
use crate::tables::Tower;
use crate::{Error, Result};
use botify_core::TrackId;
use botify_core::rng::stream;
use candle_core::{DType, Device, Tensor, Var};
use rand::Rng;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

botify_core::choices! {
    /// How the contextual model compares two tracks.
    pub enum Similarity {
        /// Element-wise product and a linear layer (the seminar's).
        Dot = "dot",
        /// Cosine of the embeddings (the homework's).
        Cosine = "cosine",
    }
}

botify_core::choices! {
    /// The contextual model's regression loss on listen times.
    pub enum LossKind {
        Mse = "mse",
        Mae = "mae",
    }
}

botify_core::choices! {
    /// What a training pair's first track is (the caller builds the pairs).
    pub enum Context {
        /// The previous track of the session (the course's pairs).
        Previous = "previous",
        /// The session's first track, paired with every later track.
        Anchor = "anchor",
    }
}

botify_core::params! {
    /// The contextual item-to-item model's parameters.
    pub struct Params {
        /// `previous`: learn each listen's time against the session's previous track (the course's pairs); `anchor`: against the session's first track.
        context: Context = Context::Previous => any();
        /// Embedding size.
        dim: usize = 128 => range(1.0, 4_096.0);
        /// `dot`: element-wise product and a linear layer (the seminar's); `cosine` (the homework's).
        similarity: Similarity = Similarity::Dot => any();
        /// `mse` or `mae`.
        loss: LossKind = LossKind::Mse => any();
        /// Passes over the training pairs (fewer if validation stops it).
        epochs: usize = 10 => range(1.0, 100_000.0);
        /// Pairs per gradient step.
        batch: usize = 4096 => range(1.0, 1_000_000.0);
        /// Adam's step size.
        learning_rate: f32 = 0.01 => above(0.0).alias("lr");
        /// Share of (track → next track) pairs held out for validation loss, hit rate and early stopping.
        validation: f64 = 0.1 => share();
        /// Epochs without a better validation loss before stopping.
        patience: usize = 2 => range(1.0, 100_000.0);
        /// Tracks seen fewer times than this in the pairs get no list and are nobody's neighbour: their embeddings have seen too little data to be more than noise.
        min_count: usize = 3 => any();
        /// The seed of the embeddings, the split and the batches.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
    }
}

impl Params {
    /// The training loop's view of these parameters.
    pub fn schedule(&self) -> crate::training::Schedule {
        crate::training::Schedule::new(self.epochs, self.batch, self.patience)
    }

    /// Checks the parameters; errors name the field.
    pub fn validate(&self) -> Result<()> {
        crate::check_params(self)
    }
}

/// One training example: after `prev`, the user listened to `next` for `time`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub prev: TrackId,
    pub next: TrackId,
    pub time: f32,
}

impl From<(TrackId, TrackId, f32)> for Pair {
    /// From a dataset's (previous track, next track, listen time).
    fn from((prev, next, time): (TrackId, TrackId, f32)) -> Pair {
        Pair { prev, next, time }
    }
}

/// One epoch of the learning curve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Epoch {
    pub epoch: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
    /// Share of held-out liked pairs whose next track is among the previous track's
    /// 10 best neighbours.
    pub hit_rate: f64,
}

/// Liked pairs scored for the hit rate (a sample keeps the per-epoch cost small).
const HIT_SAMPLE: usize = 2000;
const HIT_K: usize = 10;

pub struct Model {
    pub params: Params,
    pub tracks: usize,
    groups: Groups,
    input: Tower,
    output: Tower,
    /// One row: w (dim), cosine scale, bias.
    head: SparseAdam,
    /// Tracks seen as a previous track (they get neighbour lists) and as a next track (they can
    /// be neighbours); the others kept their random initial embeddings.
    anchors: Vec<TrackId>,
    candidates: Vec<TrackId>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl Model {
    fn new(params: &Params, groups: Groups, pairs: &[Pair]) -> Model {
        let d = params.dim;
        let tracks = groups.artist.len();
        let mut rng = stream(params.seed, b"contextual", 0);
        let mut init =
            |n: usize| -> Vec<f32> { (0..n).map(|_| (rng.random::<f32>() - 0.5) * 0.2).collect() };
        let input = Tower::new(&groups, d, params.learning_rate, &mut init);
        let output = Tower::new(&groups, d, params.learning_rate, &mut init);
        let mean = pairs.iter().map(|p| f64::from(p.time)).sum::<f64>() / pairs.len().max(1) as f64;
        let mean = mean.clamp(0.01, 0.99) as f32;
        let mut head = vec![1.0; d];
        // Start at the mean listen time: bias = logit(mean); a cosine needs a scale to move.
        head.extend([5.0, (mean / (1.0 - mean)).ln()]);
        let seen = |f: fn(&Pair) -> TrackId| {
            let mut count = vec![0usize; tracks];
            for p in pairs {
                count[f(p) as usize] += 1;
            }
            (0..tracks as TrackId)
                .filter(|&t| count[t as usize] >= params.min_count.max(1))
                .collect::<Vec<_>>()
        };
        Model {
            params: params.clone(),
            tracks,
            anchors: seen(|p| p.prev),
            candidates: seen(|p| p.next),
            groups,
            input,
            output,
            head: SparseAdam::new(head, d + 2, params.learning_rate),
        }
    }

    fn vec_in(&self, t: TrackId) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.params.dim);
        self.input.vector(&self.groups, t, &mut v);
        v
    }

    fn vec_out(&self, t: TrackId) -> Vec<f32> {
        let mut v = Vec::with_capacity(self.params.dim);
        self.output.vector(&self.groups, t, &mut v);
        v
    }

    fn w(&self) -> &[f32] {
        &self.head.row(0)[..self.params.dim]
    }
    fn scale(&self) -> f32 {
        self.head.row(0)[self.params.dim]
    }
    fn bias(&self) -> f32 {
        self.head.row(0)[self.params.dim + 1]
    }

    /// The model's logit for `next` after `prev`.
    fn logit(&self, prev: TrackId, next: TrackId) -> f32 {
        let (a, b) = (self.vec_in(prev), self.vec_out(next));
        match self.params.similarity {
            Similarity::Dot => {
                a.iter()
                    .zip(&b)
                    .zip(self.w())
                    .map(|((x, y), w)| x * y * w)
                    .sum::<f32>()
                    + self.bias()
            }
            Similarity::Cosine => self.scale() * cosine(&a, &b) + self.bias(),
        }
    }

    /// Predicted listen time of `next` after `prev`.
    pub fn predict(&self, prev: TrackId, next: TrackId) -> f32 {
        sigmoid(self.logit(prev, next))
    }

    /// Each trained track's `k` best next tracks by predicted listen time (itself excluded),
    /// with the predictions.
    pub fn neighbours(&self, k: usize) -> Vec<(TrackId, Vec<(TrackId, f32)>)> {
        let lists = self.top(&self.anchors, k);
        self.anchors
            .iter()
            .zip(lists)
            .map(|(&a, list)| {
                let scored: Vec<(TrackId, f32)> =
                    list.into_iter().map(|b| (b, self.predict(a, b))).collect();
                (a, scored)
            })
            .filter(|(_, l)| !l.is_empty())
            .collect()
    }

    /// The `k` best candidates for each query track, best first.
    fn top(&self, queries: &[TrackId], k: usize) -> Vec<Vec<TrackId>> {
        let d = self.params.dim;
        let cosine = self.params.similarity == Similarity::Cosine;
        // Ranking by the logit: a query vector against candidate rows (unit rows for cosine;
        // the sign of the cosine scale decides the direction).
        let mut items = Vec::with_capacity(self.candidates.len() * d);
        for &c in &self.candidates {
            let row = self.vec_out(c);
            let n = if cosine { norm(&row).max(1e-12) } else { 1.0 };
            items.extend(row.iter().map(|x| x / n));
        }
        let mut query_rows = Vec::with_capacity(queries.len() * d);
        for &q in queries {
            let a = self.vec_in(q);
            if cosine {
                let n = norm(&a).max(1e-12) * self.scale().signum();
                query_rows.extend(a.iter().map(|x| x / n));
            } else {
                query_rows.extend(a.iter().zip(self.w()).map(|(x, w)| x * w));
            }
        }
        let qs: Vec<(TrackId, usize)> = queries.iter().copied().zip(0..).collect();
        let position: HashMap<TrackId, usize> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i))
            .collect();
        botify_core::topk::top_k(
            &qs,
            |q| &query_rows[q.1 * d..(q.1 + 1) * d],
            &items,
            d,
            None,
            k,
            |q, scores| {
                if let Some(&i) = position.get(&q.0) {
                    scores[i] = f32::NEG_INFINITY;
                }
            },
        )
        .into_iter()
        .map(|l| l.into_iter().map(|i| self.candidates[i as usize]).collect())
        .collect()
    }

    /// Writes the model (parameters, metadata groups and weights) as one safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dev = Device::Cpu;
        let d = self.params.dim;
        let table = |t: &SparseAdam| Tensor::from_slice(&t.values, (t.values.len() / d, d), &dev);
        let ids = |v: &[u32]| Tensor::from_slice(v, v.len(), &dev);
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        tensors.insert(
            "params_json".into(),
            crate::model_file::params_tensor(&self.params)?,
        );
        for (side, tower) in [("input", &self.input), ("output", &self.output)] {
            tensors.insert(format!("{side}.id"), table(&tower.id)?);
            tensors.insert(format!("{side}.artist"), table(&tower.artist)?);
            tensors.insert(format!("{side}.genre"), table(&tower.genre)?);
        }
        tensors.insert(
            "head".into(),
            Tensor::from_slice(&self.head.values, d + 2, &dev)?,
        );
        tensors.insert("artist_of".into(), ids(&self.groups.artist)?);
        tensors.insert("genre_of".into(), ids(&self.groups.genre)?);
        tensors.insert("anchors".into(), ids(&self.anchors)?);
        tensors.insert("candidates".into(), ids(&self.candidates)?);
        candle_core::safetensors::save(&tensors, path)?;
        Ok(())
    }

    /// Reads a model written by [`Model::save`]; a file that is not one is an error naming it.
    pub fn load(path: &Path) -> Result<Model> {
        let mut file = crate::model_file::Reader::open(path, "contextual")?;
        let params: Params = file.params()?;
        let (d, lr) = (params.dim, params.learning_rate);
        let mut tower = |side: &str| -> Result<Tower> {
            let mut table = |name: &str| -> Result<SparseAdam> {
                let v: Vec<f32> = file
                    .take(&format!("{side}.{name}"))?
                    .flatten_all()?
                    .to_vec1()?;
                Ok(SparseAdam::new(v, d, lr))
            };
            Ok(Tower {
                id: table("id")?,
                artist: table("artist")?,
                genre: table("genre")?,
            })
        };
        let (input, output) = (tower("input")?, tower("output")?);
        let head: Vec<f32> = file.take("head")?.to_vec1()?;
        let artist: Vec<u32> = file.take("artist_of")?.to_vec1()?;
        let genre: Vec<u32> = file.take("genre_of")?.to_vec1()?;
        let anchors: Vec<u32> = file.take("anchors")?.to_vec1()?;
        let candidates: Vec<u32> = file.take("candidates")?.to_vec1()?;
        let tracks = artist.len();
        let rows = |t: &SparseAdam| t.values.len() / d.max(1);
        let groups = Groups {
            artists: rows(&input.artist),
            genres: rows(&input.genre),
            artist,
            genre,
        };
        let consistent = d > 0
            && head.len() == d + 2
            && groups.genre.len() == tracks
            && [&input, &output].iter().all(|w| {
                rows(&w.id) == tracks
                    && rows(&w.artist) == groups.artists
                    && rows(&w.genre) == groups.genres
                    && [&w.id, &w.artist, &w.genre]
                        .iter()
                        .all(|t| t.values.len() % d == 0)
            })
            && groups.artist.iter().all(|&a| (a as usize) < groups.artists)
            && groups.genre.iter().all(|&g| (g as usize) < groups.genres)
            && anchors
                .iter()
                .chain(&candidates)
                .all(|&t| (t as usize) < tracks);
        if !consistent {
            return Err(file.bad("inconsistent tensor shapes"));
        }
        Ok(Model {
            tracks,
            groups,
            input,
            output,
            head: SparseAdam::new(head, d + 2, lr),
            anchors,
            candidates,
            params,
        })
    }

    /// Mean loss over `pairs` with the current weights.
    fn loss_on(&self, pairs: &[Pair]) -> f64 {
        let sum: f64 = pairs
            .iter()
            .map(|p| {
                let e = f64::from(self.predict(p.prev, p.next) - p.time);
                match self.params.loss {
                    LossKind::Mse => e * e,
                    LossKind::Mae => e.abs(),
                }
            })
            .sum();
        sum / pairs.len().max(1) as f64
    }

    fn hit_rate(&self, liked: &[Pair]) -> f64 {
        if liked.is_empty() {
            return f64::NAN;
        }
        let queries: Vec<TrackId> = liked.iter().map(|p| p.prev).collect();
        let tops = self.top(&queries, HIT_K);
        let hits = liked
            .iter()
            .zip(&tops)
            .filter(|(p, top)| top.contains(&p.next))
            .count();
        hits as f64 / liked.len() as f64
    }

    /// One optimisation step on a batch: forward and backward with candle, sparse Adam updates.
    fn step(&mut self, batch: &[Pair], dev: &Device) -> Result<f64> {
        let (n, d) = (batch.len(), self.params.dim);
        let mut a = Vec::with_capacity(n * d);
        let mut b = Vec::with_capacity(n * d);
        for p in batch {
            self.input.vector(&self.groups, p.prev, &mut a);
            self.output.vector(&self.groups, p.next, &mut b);
        }
        let y: Vec<f32> = batch.iter().map(|p| p.time).collect();
        let a = Var::from_vec(a, (n, d), dev)?;
        let b = Var::from_vec(b, (n, d), dev)?;
        let head = Var::from_slice(self.head.row(0), d + 2, dev)?;
        let y = Tensor::from_vec(y, n, dev)?;
        let bias = head.narrow(0, d + 1, 1)?;
        let logit = match self.params.similarity {
            Similarity::Dot => {
                let w = head.narrow(0, 0, d)?;
                (a.as_tensor() * b.as_tensor())?
                    .broadcast_mul(&w)?
                    .sum(1)?
                    .broadcast_add(&bias)?
            }
            Similarity::Cosine => {
                let scale = head.narrow(0, d, 1)?;
                let dot = (a.as_tensor() * b.as_tensor())?.sum(1)?;
                let na = a.sqr()?.sum(1)?.sqrt()?;
                let nb = b.sqr()?.sum(1)?.sqrt()?;
                (dot / (na * nb)?.affine(1.0, 1e-6)?)?
                    .broadcast_mul(&scale)?
                    .broadcast_add(&bias)?
            }
        };
        let pred = logit.neg()?.exp()?.affine(1.0, 1.0)?.recip()?;
        let diff = (pred - y)?;
        let loss = match self.params.loss {
            LossKind::Mse => diff.sqr()?.mean_all()?,
            LossKind::Mae => diff.abs()?.mean_all()?,
        };
        let grads = loss.backward()?;
        let grad = |v: &Var| crate::gradient(&grads, v);
        let (ga, gb, gh) = (grad(&a)?, grad(&b)?, grad(&head)?);
        let prevs: Vec<u32> = batch.iter().map(|p| p.prev).collect();
        let nexts: Vec<u32> = batch.iter().map(|p| p.next).collect();
        self.input.step(&self.groups, &prevs, &ga);
        self.output.step(&self.groups, &nexts, &gb);
        self.head.step(0, &gh);
        Ok(f64::from(loss.to_dtype(DType::F32)?.to_scalar::<f32>()?))
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (norm(a) * norm(b) + 1e-6)
}

/// Trains on `pairs` over the tracks of `groups` (from the catalogue, or [`Groups::none`]). A
/// seeded `validation` share of the pairs is held out; training stops after `patience` epochs
/// without a better validation loss and returns the best epoch's weights. `on_epoch` sees the
/// learning curve as it goes.
pub fn fit(
    pairs: &[Pair],
    groups: Groups,
    p: &Params,
    mut on_epoch: impl FnMut(&Epoch),
) -> Result<Model> {
    let tracks = groups.artist.len();
    p.validate()?;
    if let Some(bad) = pairs
        .iter()
        .find(|x| x.prev as usize >= tracks || x.next as usize >= tracks)
    {
        return Err(Error::Invalid(format!(
            "pair {} → {} mentions a track outside the catalogue of {tracks} tracks",
            bad.prev, bad.next
        )));
    }
    if let Some(bad) = pairs.iter().find(|x| !(0.0..=1.0).contains(&x.time)) {
        return Err(Error::Invalid(format!(
            "listen time {} is not in [0, 1]",
            bad.time
        )));
    }
    let mut rng = stream(p.seed, b"contextual-split", 0);
    let (mut train, held) = crate::split_validation(pairs.iter().copied(), p.validation, &mut rng);
    if train.is_empty() {
        return Err(Error::Invalid(
            "no (track → next track) pairs to train on".into(),
        ));
    }
    let liked: Vec<Pair> = held
        .iter()
        .filter(|x| x.time >= botify_core::defaults::LIKED)
        .take(HIT_SAMPLE)
        .copied()
        .collect();
    let mut model = Model::new(p, groups, &train);
    crate::training::run(
        &mut model,
        &mut train,
        &p.schedule(),
        &mut rng,
        |m, epoch, train_loss| {
            let validation_loss = if held.is_empty() {
                f64::NAN
            } else {
                m.loss_on(&held)
            };
            on_epoch(&Epoch {
                epoch,
                train_loss,
                validation_loss,
                hit_rate: m.hit_rate(&liked),
            });
            Ok(-validation_loss)
        },
    )?;
    Ok(model)
}

impl crate::training::Trainable for Model {
    type Example = Pair;
    type Snapshot = (Tower, Tower, Vec<f32>);
    fn train_step(&mut self, batch: &[Pair]) -> Result<f64> {
        self.step(batch, &Device::Cpu)
    }
    fn snapshot(&self) -> Self::Snapshot {
        (
            self.input.clone(),
            self.output.clone(),
            self.head.values.clone(),
        )
    }
    fn restore(&mut self, (input, output, head): Self::Snapshot) {
        self.input = input;
        self.output = output;
        self.head.values = head;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 40 tracks in 4 clusters of 10: a next track of the same cluster is listened fully, another
    /// cluster's is skipped.
    fn planted(n: usize, seed: u64) -> Vec<Pair> {
        let mut rng = stream(seed, b"planted", 0);
        (0..n)
            .map(|_| {
                let prev = rng.random_range(0..40u32);
                let next = rng.random_range(0..40u32);
                let same = prev / 10 == next / 10;
                Pair {
                    prev,
                    next,
                    time: if same { 0.95 } else { 0.05 },
                }
            })
            .collect()
    }

    fn params(similarity: Similarity, loss: LossKind) -> Params {
        Params {
            context: Context::Previous,
            dim: 16,
            similarity,
            loss,
            epochs: 30,
            batch: 256,
            learning_rate: 0.05,
            validation: 0.2,
            patience: 3,
            min_count: 1,
            seed: 7,
        }
    }

    #[test]
    fn every_variant_learns_the_planted_clusters() {
        let pairs = planted(8000, 1);
        let mean = pairs.iter().map(|p| f64::from(p.time)).sum::<f64>() / pairs.len() as f64;
        // Predicting the mean everywhere (the best constant) has this MSE.
        let baseline: f64 = pairs
            .iter()
            .map(|p| (f64::from(p.time) - mean).powi(2))
            .sum::<f64>()
            / pairs.len() as f64;
        for sim in [Similarity::Dot, Similarity::Cosine] {
            for loss in [LossKind::Mse, LossKind::Mae] {
                let mut curve = Vec::new();
                let m = fit(&pairs, Groups::none(40), &params(sim, loss), |e| {
                    curve.push(*e)
                })
                .unwrap();
                let last = curve.last().unwrap();
                let mse = pairs
                    .iter()
                    .map(|p| f64::from(m.predict(p.prev, p.next) - p.time).powi(2))
                    .sum::<f64>()
                    / pairs.len() as f64;
                assert!(
                    mse < baseline / 4.0,
                    "{sim:?}/{loss:?}: {mse} vs {baseline}"
                );
                // Neighbours are the track's own cluster (random: 9/39 would be).
                let lists = m.neighbours(9);
                assert_eq!(lists.len(), 40);
                let same = lists
                    .iter()
                    .flat_map(|(a, l)| l.iter().map(move |(b, _)| a / 10 == b / 10))
                    .filter(|&s| s)
                    .count();
                assert!(same as f64 > 0.9 * 360.0, "{sim:?}/{loss:?}: {same}/360");
                assert!(
                    lists
                        .iter()
                        .all(|(a, l)| l.iter().all(|(b, w)| a != b && *w > 0.5))
                );
                assert!(last.hit_rate > 0.8, "{sim:?}/{loss:?}: {last:?}");
            }
        }
    }

    #[test]
    fn the_candle_forward_and_the_serving_path_agree() {
        let pairs = planted(2000, 2);
        for sim in [Similarity::Dot, Similarity::Cosine] {
            let mut p = params(sim, LossKind::Mse);
            p.epochs = 3;
            let mut m = fit(&pairs, Groups::none(40), &p, |_| {}).unwrap();
            let before = m.loss_on(&pairs[..64]);
            // A step with a zero learning rate reports the loss of the current weights.
            m.input.set_lr(0.0);
            m.output.set_lr(0.0);
            m.head.lr = 0.0;
            let candle = m.step(&pairs[..64], &Device::Cpu).unwrap();
            assert!(
                (candle - before).abs() < 1e-5,
                "{sim:?}: {candle} vs {before}"
            );
        }
    }

    #[test]
    fn saved_models_reload_to_the_same_predictions() {
        let pairs = planted(2000, 3);
        let mut p = params(Similarity::Cosine, LossKind::Mae);
        p.epochs = 2;
        let m = fit(&pairs, Groups::none(40), &p, |_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        m.save(&path).unwrap();
        let r = Model::load(&path).unwrap();
        assert_eq!(r.params, m.params);
        for x in &pairs[..100] {
            assert_eq!(r.predict(x.prev, x.next), m.predict(x.prev, x.next));
        }
        assert_eq!(r.neighbours(5), m.neighbours(5));
        std::fs::write(&path, b"not a model").unwrap();
        let e = Model::load(&path).err().unwrap().to_string();
        assert!(
            e.contains("m.safetensors") && e.contains("not a contextual model"),
            "{e}"
        );
    }

    #[test]
    fn bad_input_is_rejected_clearly() {
        let pairs = planted(100, 4);
        let p = params(Similarity::Dot, LossKind::Mse);
        let e = |pairs: &[Pair], p: &Params, tracks| {
            fit(pairs, Groups::none(tracks), p, |_| {})
                .err()
                .unwrap()
                .to_string()
        };
        assert!(e(&pairs, &p, 20).contains("outside the catalogue of 20 tracks"));
        assert!(e(&[], &p, 40).contains("no (track → next track) pairs"));
        let bad_time = [Pair {
            prev: 1,
            next: 2,
            time: 1.5,
        }];
        assert!(e(&bad_time, &p, 40).contains("listen time 1.5"));
        let zero = Params {
            dim: 0,
            ..p.clone()
        };
        assert!(e(&pairs, &zero, 40).contains("dim"));
        let lr = Params {
            learning_rate: -1.0,
            ..p
        };
        assert!(e(&pairs, &lr, 40).contains("learning_rate"));
    }
}
