//! DIFM — Dual Input-aware Factorization Machines (Lu et al., IJCAI 2020) — as a listen/skip
//! classifier that re-ranks per-user candidate lists (homework design 1, docs/homework.md).
//!
//! Six fields describe a (user, track) pair: the user, the track, its artist, its genre, its
//! popularity bucket (from the logs) and its metadata (one-hot artist, genre and mood, year,
//! duration and popularity, compressed by PCA and projected to an embedding). Each field has
//! an embedding and a first-order weight. Two parts read the embeddings and each proposes a
//! weight per field — the "input-aware factors": multi-head self-attention over the fields with
//! a residual connection (vector-wise) and a DNN over their concatenation (bit-wise). Their sum
//! rescales every field's embedding and first-order weight before a factorization machine
//! scores the pair: logit = bias + Σ mᶠ·wᶠ + Σ_{f<g} ⟨mᶠ·eᶠ, mᵍ·eᵍ⟩.
//!
//! Training data are the homework's: listens of at least `positive` (0.6) are positives, each
//! paired with one of the same user's skips (at most `negative`, 0.3) as a hard negative.

use crate::adam::SparseAdam;
use crate::pca::{SparseRows, pca};
use crate::tables::Groups;
use crate::{Error, Result};
use botify_core::rng::stream;
use botify_core::{Catalog, TrackId, UserId};
use candle_core::{Device, Tensor, Var};
use rand::Rng;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

botify_core::params! {
    /// DIFM's parameters (the homework's values where it had them).
    pub struct Params {
        /// Embedding size of every field (the homework: 16).
        dim: usize = 16 => range(1.0, 4_096.0);
        /// Self-attention heads.
        heads: usize = 2 => range(1.0, 256.0);
        /// Size of each attention head.
        head_dim: usize = 8 => range(1.0, 4_096.0);
        /// Hidden layer sizes of the bit-wise DNN, e.g. 128,64.
        hidden: Vec<usize> = vec![128, 64] => range(1.0, 65_536.0);
        /// Principal components kept of the track metadata (the homework: 150).
        components: usize = 150 => range(1.0, MAX_COMPONENTS as f64).why("the PCA's eigen-solver grows with the cube of the sketch");
        /// Popularity buckets (quantiles of play counts; tracks never played get their own).
        pop_buckets: usize = 10 => range(1.0, 1_000.0);
        /// Listens of at least this are positives …
        positive: f32 = 0.6 => range(0.0, 1.0);
        /// … each paired with one of the same user's listens of at most this.
        negative: f32 = 0.3 => range(0.0, 1.0);
        /// Passes over the examples (fewer if validation stops it).
        epochs: usize = 10 => range(1.0, 100_000.0);
        /// Examples per gradient step.
        batch: usize = 1024 => range(1.0, 1_000_000.0);
        /// Adam's step size.
        learning_rate: f32 = 0.002 => above(0.0).alias("lr");
        /// L2 penalty on the embedding rows a batch uses (as DeepCTR's `l2_reg_embedding`): it keeps rarely seen users and tracks near the shared rows.
        l2: f32 = 1e-4 => at_least(0.0);
        /// Share of examples held out for validation AUC and early stopping.
        validation: f64 = 0.1 => share();
        /// Epochs without a better validation AUC before stopping.
        patience: usize = 2 => range(1.0, 100_000.0);
        /// The seed of the embeddings, the PCA sketch, the split and the batches.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
    }
}

/// The most principal components of the track metadata a model may keep: the PCA's Jacobi
/// eigen-solver grows with the cube of the sketch (docs/BENCHMARKS.md, about 3.4 s a solve here).
pub const MAX_COMPONENTS: usize = 512;

impl Params {
    /// The training loop's view of these parameters.
    pub fn schedule(&self) -> crate::training::Schedule {
        crate::training::Schedule::new(self.epochs, self.batch, self.patience)
    }

    pub fn validate(&self) -> Result<()> {
        crate::check_params(self)?;
        if self.negative >= self.positive {
            return Err(Error::Invalid(format!(
                "need negative < positive (got negative {}, positive {})",
                self.negative, self.positive
            )));
        }
        Ok(())
    }
}

/// What DIFM knows of a track besides its id: artist, genre and compressed metadata.
#[derive(Debug, Clone)]
pub struct TrackFeatures {
    pub groups: Groups,
    /// tracks × `components`, the metadata's whitened principal components.
    pub metadata: Vec<f32>,
    pub components: usize,
    /// Share of the metadata's variance the components keep.
    pub explained: f64,
}

impl TrackFeatures {
    /// Artist and genre from the catalogue; metadata = [`metadata_rows`] compressed by PCA.
    pub fn from_catalog(c: &Catalog, components: usize, seed: u64) -> TrackFeatures {
        TrackFeatures::new(Groups::from_catalog(c), &metadata_rows(c), components, seed)
    }

    /// `metadata` has one row per track of `groups`.
    pub fn new(groups: Groups, metadata: &SparseRows, components: usize, seed: u64) -> Self {
        let n = groups.artist.len();
        debug_assert_eq!(metadata.rows(), n);
        let p = pca(metadata, components, seed);
        let explained = p.variances.iter().sum::<f64>() / p.total_variance.max(f64::MIN_POSITIVE);
        if p.components == 0 {
            // No variance to keep: one constant-zero column keeps the shapes valid.
            return TrackFeatures {
                groups,
                metadata: vec![0.0; n],
                components: 1,
                explained: 0.0,
            };
        }
        TrackFeatures {
            groups,
            metadata: p.scores,
            components: p.components,
            explained,
        }
    }

    fn metadata(&self, t: TrackId) -> &[f32] {
        let p = self.components;
        &self.metadata[t as usize * p..(t as usize + 1) * p]
    }
}

/// A track's metadata as one sparse row: one-hot artist, genre and mood; year, duration and
/// popularity standardised (a missing value is the mean, 0).
pub fn metadata_rows(c: &Catalog) -> SparseRows {
    let mut ids: [HashMap<&str, u32>; 2] = Default::default();
    let mut codes: Vec<[u32; 2]> = Vec::with_capacity(c.len());
    for t in &c.tracks {
        let mut code = [0; 2];
        for (i, name) in [t.genre.as_deref(), t.mood.as_deref()]
            .into_iter()
            .enumerate()
        {
            let n = ids[i].len() as u32;
            code[i] = *ids[i].entry(name.unwrap_or("")).or_insert(n);
        }
        codes.push(code);
    }
    let numbers: Vec<[Option<f64>; 3]> = c
        .tracks
        .iter()
        .map(|t| {
            [
                t.year.map(f64::from),
                t.duration.map(f64::from),
                t.pop.map(f64::from),
            ]
        })
        .collect();
    let standard: Vec<(f64, f64)> = (0..3)
        .map(|j| {
            let v: Vec<f64> = numbers.iter().filter_map(|r| r[j]).collect();
            let n = v.len().max(1) as f64;
            let mean = v.iter().sum::<f64>() / n;
            let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            (mean, if sd > 0.0 { sd } else { 1.0 })
        })
        .collect();
    let artists = c.artists.len() as u32;
    let (genres, moods) = (ids[0].len() as u32, ids[1].len() as u32);
    let numeric = artists + genres + moods;
    let mut rows = SparseRows::new(numeric as usize + 3);
    for ((&artist, code), nums) in c.track_artist.iter().zip(&codes).zip(&numbers) {
        let mut row = vec![
            (artist, 1.0),
            (artists + code[0], 1.0),
            (artists + genres + code[1], 1.0),
        ];
        for (j, (x, (mean, sd))) in nums.iter().zip(&standard).enumerate() {
            if let Some(x) = x {
                row.push((numeric + j as u32, ((x - mean) / sd) as f32));
            }
        }
        rows.push_row(row);
    }
    rows
}

/// One training example: did `user` listen to `track` (a positive) or skip it (a negative)?
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example {
    pub user: UserId,
    pub track: TrackId,
    pub listened: bool,
}

/// Every listen of at least `positive` (user, track, time), each followed by one of the same
/// user's skips (time at most `negative`) drawn at random. Users who never skipped give none:
/// a negative must be a track the user was offered and rejected.
pub fn examples(
    listens: &[(UserId, TrackId, f32)],
    positive: f32,
    negative: f32,
    seed: u64,
) -> Vec<Example> {
    let mut by_user: BTreeMap<UserId, (Vec<TrackId>, Vec<TrackId>)> = BTreeMap::new();
    for &(u, t, time) in listens {
        let e = by_user.entry(u).or_default();
        if time >= positive {
            e.0.push(t);
        } else if time <= negative {
            e.1.push(t);
        }
    }
    let mut rng = stream(seed, b"difm-negatives", 0);
    let mut out = Vec::new();
    for (user, (liked, skipped)) in by_user {
        if skipped.is_empty() {
            continue;
        }
        for track in liked {
            let skip = skipped[rng.random_range(0..skipped.len())];
            out.push(Example {
                user,
                track,
                listened: true,
            });
            out.push(Example {
                user,
                track: skip,
                listened: false,
            });
        }
    }
    out
}

/// Area under the ROC curve: the chance that a random positive outscores a random negative
/// (ties count half). NaN without both classes.
pub fn auc(scores: &[f32], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut i) = (0f64, 0);
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += mean_rank * order[i..j].iter().filter(|&&k| labels[k]).count() as f64;
        i = j;
    }
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// One epoch of the learning curve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Epoch {
    pub epoch: usize,
    /// Examples built from the listens (training and validation; the same every epoch).
    pub examples: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
    /// On a fixed sample of (at most 20,000) training examples.
    pub train_auc: f64,
    pub validation_auc: f64,
}

/// Fields with an embedding table, in input order; the metadata field comes last.
const TABLES: [&str; 5] = ["user", "track", "artist", "genre", "pop"];
const FIELDS: usize = TABLES.len() + 1;
// Indices into `Model::dense` (see `layout`).
const META: usize = 0;
const QUERY: usize = 1;
const KEY: usize = 2;
const VALUE: usize = 3;
const RESIDUAL: usize = 4;
const VECTOR_OUT: usize = 5;
const BIT_OUT: usize = 6;
const BIAS: usize = 7;
const LAYERS: usize = 8;

/// Names and shapes (rows, columns) of the dense weights, in `Model::dense` order.
fn layout(p: &Params, components: usize) -> Vec<(String, usize, usize)> {
    let (k, ha) = (p.dim, p.heads * p.head_dim);
    let last = p.hidden.last().copied().unwrap_or(FIELDS * k);
    let mut l: Vec<(String, usize, usize)> = [
        ("metadata", components, k + 1),
        ("attention.query", k, ha),
        ("attention.key", k, ha),
        ("attention.value", k, ha),
        ("attention.residual", k, ha),
        ("attention.out", FIELDS * ha, FIELDS),
        ("dnn.out", last, FIELDS),
        ("bias", 1, 1),
    ]
    .into_iter()
    .map(|(n, r, c)| (n.to_string(), r, c))
    .collect();
    let mut input = FIELDS * k;
    for (i, &h) in p.hidden.iter().enumerate() {
        l.push((format!("dnn.{i}.weight"), input, h));
        l.push((format!("dnn.{i}.bias"), 1, h));
        input = h;
    }
    l
}

#[derive(Clone)]
pub struct Model {
    pub params: Params,
    /// Embedding row of each user seen in training; row 0 (never trained) stands for the rest.
    users: HashMap<UserId, u32>,
    tracks: Arc<TrackFeatures>,
    /// Popularity bucket of each track (0: never played in the training logs).
    pop: Vec<u32>,
    /// One table per entry of `TABLES`; a row is an embedding and a first-order weight.
    tables: Vec<SparseAdam>,
    dense: Vec<SparseAdam>,
    shapes: Vec<(String, usize, usize)>,
}

impl Model {
    pub fn users(&self) -> usize {
        self.users.len()
    }

    fn row_of(&self, user: UserId) -> u32 {
        self.users.get(&user).copied().unwrap_or(0)
    }

    /// Field rows and metadata of a batch of (user row, track): b × 5 × (dim+1) gathered table
    /// rows, b × components metadata, and the rows per table (for the sparse updates).
    fn inputs(&self, batch: &[(u32, TrackId)]) -> (Vec<f32>, Vec<f32>, [Vec<u32>; 5]) {
        let (b, w, p) = (batch.len(), self.params.dim + 1, self.tracks.components);
        let mut rows: [Vec<u32>; 5] = Default::default();
        let mut gathered = Vec::with_capacity(b * TABLES.len() * w);
        let mut meta = Vec::with_capacity(b * p);
        let g = &self.tracks.groups;
        for &(u, t) in batch {
            let ti = t as usize;
            let ids = [u, t, g.artist[ti], g.genre[ti], self.pop[ti]];
            for ((table, r), &id) in self.tables.iter().zip(&mut rows).zip(&ids) {
                gathered.extend_from_slice(table.row(id as usize));
                r.push(id);
            }
            meta.extend_from_slice(self.tracks.metadata(t));
        }
        (gathered, meta, rows)
    }

    /// Logits for gathered field rows (b × 5 × (dim+1)) and metadata (b × components).
    fn forward(&self, fields: &Tensor, meta: &Tensor, w: &[Tensor]) -> candle_core::Result<Tensor> {
        let p = &self.params;
        let (k, h, a, f) = (p.dim, p.heads, p.head_dim, FIELDS);
        let b = fields.dim(0)?;
        let projected = meta.matmul(&w[META])?.reshape((b, 1, k + 1))?;
        let x = Tensor::cat(&[fields, &projected], 1)?;
        let e = x.narrow(2, 0, k)?.contiguous()?;
        let first_order = x.narrow(2, k, 1)?.squeeze(2)?;
        let flat = e.reshape((b * f, k))?;
        // Vector-wise: multi-head self-attention over the fields, with a residual connection.
        let heads = |wi: &Tensor| {
            flat.matmul(wi)?
                .reshape((b, f, h, a))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, key, v) = (heads(&w[QUERY])?, heads(&w[KEY])?, heads(&w[VALUE])?);
        let s = (q.matmul(&key.transpose(2, 3)?.contiguous()?)? / (a as f64).sqrt())?;
        let s = s.broadcast_sub(&s.max_keepdim(3)?.detach())?.exp()?;
        let attention = s.broadcast_div(&s.sum_keepdim(3)?)?;
        let heads_out = attention
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, f, h * a))?;
        let residual = flat.matmul(&w[RESIDUAL])?.reshape((b, f, h * a))?;
        let vector_wise = (heads_out + residual)?
            .relu()?
            .reshape((b, f * h * a))?
            .matmul(&w[VECTOR_OUT])?;
        // Bit-wise: a DNN over the concatenated embeddings.
        let mut z = e.reshape((b, f * k))?;
        for layer in w[LAYERS..].chunks(2) {
            z = z.matmul(&layer[0])?.broadcast_add(&layer[1])?.relu()?;
        }
        let bit_wise = z.matmul(&w[BIT_OUT])?;
        // The input-aware factors rescale every field's first-order weight and embedding.
        let m = (vector_wise + bit_wise)?;
        let linear = (&m * &first_order)?
            .sum(1)?
            .broadcast_add(&w[BIAS].reshape(1)?)?;
        let refined = e.broadcast_mul(&m.unsqueeze(2)?)?;
        let square_of_sum = refined.sum(1)?.sqr()?.sum(1)?;
        let sum_of_squares = refined.sqr()?.sum((1, 2))?;
        linear + ((square_of_sum - sum_of_squares)? * 0.5)?
    }

    fn dense_tensors(&self, dev: &Device) -> Result<Vec<Tensor>> {
        self.dense
            .iter()
            .zip(&self.shapes)
            .map(|(t, (_, r, c))| Ok(Tensor::from_slice(&t.values, (*r, *c), dev)?))
            .collect()
    }

    /// Logits of (user row, track) pairs, in chunks scored in parallel.
    fn logits(&self, pairs: &[(u32, TrackId)]) -> Result<Vec<f32>> {
        use rayon::prelude::*;
        let dev = Device::Cpu;
        let w = self.dense_tensors(&dev)?;
        let (wd, p) = (self.params.dim + 1, self.tracks.components);
        let chunks = pairs
            .par_chunks(2048)
            .map(|chunk| -> Result<Vec<f32>> {
                let b = chunk.len();
                let (fields, meta, _) = self.inputs(chunk);
                let fields = Tensor::from_vec(fields, (b, TABLES.len(), wd), &dev)?;
                let meta = Tensor::from_vec(meta, (b, p), &dev)?;
                Ok(self.forward(&fields, &meta, &w)?.to_vec1::<f32>()?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(chunks.concat())
    }

    /// Probability that each user listens to each track (≥ `positive`) rather than skipping it.
    /// Users the model never saw share one untrained row: their scores rest on the track alone.
    pub fn predict(&self, pairs: &[(UserId, TrackId)]) -> Result<Vec<f32>> {
        let n = self.pop.len();
        if let Some(bad) = pairs.iter().find(|p| p.1 as usize >= n) {
            return Err(Error::Invalid(format!(
                "track {} (user {}) is outside the model's catalogue of {n} tracks",
                bad.1, bad.0
            )));
        }
        let rows: Vec<(u32, TrackId)> = pairs.iter().map(|&(u, t)| (self.row_of(u), t)).collect();
        Ok(self
            .logits(&rows)?
            .into_iter()
            .map(|z| 1.0 / (1.0 + (-z).exp()))
            .collect())
    }

    /// Each user's candidates ordered by predicted listen probability, the best `k` kept.
    pub fn rank(
        &self,
        candidates: &[(UserId, Vec<TrackId>)],
        k: usize,
    ) -> Result<Vec<(UserId, Vec<TrackId>)>> {
        let pairs: Vec<(UserId, TrackId)> = candidates
            .iter()
            .flat_map(|(u, ts)| ts.iter().map(move |&t| (*u, t)))
            .collect();
        let scores = self.predict(&pairs)?;
        let mut at = 0;
        Ok(candidates
            .iter()
            .map(|(u, ts)| {
                let s = &scores[at..at + ts.len()];
                at += ts.len();
                let mut order: Vec<usize> = (0..ts.len()).collect();
                order.sort_by(|&a, &b| s[b].total_cmp(&s[a]));
                (*u, order.into_iter().take(k).map(|i| ts[i]).collect())
            })
            .collect())
    }

    /// Mean log loss and AUC over examples (user row, track, listened).
    fn evaluate(&self, ex: &[(u32, TrackId, bool)]) -> Result<(f64, f64)> {
        if ex.is_empty() {
            return Ok((f64::NAN, f64::NAN));
        }
        let pairs: Vec<(u32, TrackId)> = ex.iter().map(|e| (e.0, e.1)).collect();
        let z = self.logits(&pairs)?;
        let labels: Vec<bool> = ex.iter().map(|e| e.2).collect();
        let loss = z
            .iter()
            .zip(&labels)
            .map(|(&z, &y)| {
                let z = f64::from(z);
                z.max(0.0) - if y { z } else { 0.0 } + (-z.abs()).exp().ln_1p()
            })
            .sum::<f64>()
            / ex.len() as f64;
        Ok((loss, auc(&z, &labels)))
    }

    /// One Adam step on a batch; returns its mean log loss.
    fn step(&mut self, batch: &[(u32, TrackId, bool)], dev: &Device) -> Result<f64> {
        let (b, wd, p) = (batch.len(), self.params.dim + 1, self.tracks.components);
        let pairs: Vec<(u32, TrackId)> = batch.iter().map(|e| (e.0, e.1)).collect();
        let (fields, meta, rows) = self.inputs(&pairs);
        let fields = Var::from_vec(fields, (b, TABLES.len(), wd), dev)?;
        let meta = Tensor::from_vec(meta, (b, p), dev)?;
        let vars = self
            .dense
            .iter()
            .zip(&self.shapes)
            .map(|(t, (_, r, c))| Var::from_slice(&t.values, (*r, *c), dev))
            .collect::<candle_core::Result<Vec<Var>>>()?;
        let w: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let z = self.forward(fields.as_tensor(), &meta, &w)?;
        let y: Vec<f32> = batch.iter().map(|e| f32::from(u8::from(e.2))).collect();
        let y = Tensor::from_vec(y, b, dev)?;
        // Log loss from logits, stable for any z: max(z, 0) − z·y + ln(1 + e^−|z|).
        let loss = ((z.relu()? - (&z * &y)?)? + z.abs()?.neg()?.exp()?.affine(1.0, 1.0)?.log()?)?
            .mean_all()?;
        let value = f64::from(loss.to_scalar::<f32>()?);
        let grads = loss.backward()?;
        let g = crate::gradient(&grads, &fields)?;
        for (f, (table, rows)) in self.tables.iter_mut().zip(&rows).enumerate() {
            // The penalty l2·mean‖e‖² adds 2·l2·e/b to each use of a row.
            let decay = 2.0 * self.params.l2 / b as f32;
            let per_row: Vec<f32> = (0..b)
                .flat_map(|i| {
                    let at = (i * TABLES.len() + f) * wd;
                    let row = table.row(rows[i] as usize);
                    g[at..at + wd]
                        .iter()
                        .zip(row)
                        .map(move |(g, w)| g + decay * w)
                })
                .collect();
            table.step_rows(rows, &per_row);
        }
        for (t, v) in self.dense.iter_mut().zip(&vars) {
            t.step_all(&crate::gradient(&grads, v)?);
        }
        Ok(value)
    }

    /// Writes parameters, user ids, track features, popularity buckets and every table as one
    /// safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dev = Device::Cpu;
        let mut ids: Vec<(u32, UserId)> = self.users.iter().map(|(&u, &r)| (r, u)).collect();
        ids.sort_unstable();
        let ids: Vec<u32> = ids.into_iter().map(|x| x.1).collect();
        let table =
            |t: &SparseAdam| Tensor::from_slice(&t.values, (t.values.len() / t.dim, t.dim), &dev);
        let tr = &self.tracks;
        let n = self.pop.len();
        let mut t: HashMap<String, Tensor> = HashMap::new();
        t.insert(
            "params_json".into(),
            crate::model_file::params_tensor(&self.params)?,
        );
        t.insert(
            "user_ids".into(),
            Tensor::from_slice(&ids, ids.len(), &dev)?,
        );
        t.insert(
            "artist_of".into(),
            Tensor::from_slice(&tr.groups.artist, n, &dev)?,
        );
        t.insert(
            "genre_of".into(),
            Tensor::from_slice(&tr.groups.genre, n, &dev)?,
        );
        t.insert("pop_of".into(), Tensor::from_slice(&self.pop, n, &dev)?);
        t.insert(
            "metadata".into(),
            Tensor::from_slice(&tr.metadata, (n, tr.components), &dev)?,
        );
        t.insert(
            "explained".into(),
            Tensor::from_slice(&[tr.explained], 1, &dev)?,
        );
        for (name, tab) in TABLES.iter().zip(&self.tables) {
            t.insert(format!("table.{name}"), table(tab)?);
        }
        for ((name, _, _), tab) in self.shapes.iter().zip(&self.dense) {
            t.insert(format!("dense.{name}"), table(tab)?);
        }
        candle_core::safetensors::save(&t, path)?;
        Ok(())
    }

    /// Reads a model written by [`Model::save`]; anything else is an error naming the file.
    pub fn load(path: &Path) -> Result<Model> {
        let mut file = crate::model_file::Reader::open(path, "DIFM")?;
        let params: Params = file.params()?;
        params.validate().map_err(|e| file.bad(e.to_string()))?;
        let lr = params.learning_rate;
        let ids: Vec<u32> = file.take("user_ids")?.to_vec1()?;
        let artist: Vec<u32> = file.take("artist_of")?.to_vec1()?;
        let genre: Vec<u32> = file.take("genre_of")?.to_vec1()?;
        let pop: Vec<u32> = file.take("pop_of")?.to_vec1()?;
        let metadata = file.take("metadata")?;
        let components = metadata.dims().get(1).copied().unwrap_or(0);
        let metadata: Vec<f32> = metadata.flatten_all()?.to_vec1()?;
        let explained: Vec<f64> = file.take("explained")?.to_vec1()?;
        let mut matrix = |n: &str| -> Result<(usize, SparseAdam)> {
            let x = file.take(n)?;
            let (rows, cols) = x
                .dims2()
                .map_err(|_| file.bad(format!("`{n}` is not a matrix")))?;
            Ok((rows, SparseAdam::new(x.flatten_all()?.to_vec1()?, cols, lr)))
        };
        let mut tables = Vec::new();
        let mut rows = Vec::new();
        for name in TABLES {
            let (r, tab) = matrix(&format!("table.{name}"))?;
            rows.push(r);
            tables.push(tab);
        }
        let shapes = layout(&params, components);
        let mut dense = Vec::new();
        for (name, r, c) in &shapes {
            let (rr, tab) = matrix(&format!("dense.{name}"))?;
            if (rr, tab.dim) != (*r, *c) {
                return Err(file.bad(format!("`dense.{name}` is {rr}×{}, not {r}×{c}", tab.dim)));
            }
            dense.push(tab);
        }
        let n = artist.len();
        let ok = tables.iter().all(|t| t.dim == params.dim + 1)
            && rows[0] == ids.len() + 1
            && rows[1] == n
            && [genre.len(), pop.len()] == [n, n]
            && metadata.len() == n * components
            && artist.iter().all(|&a| (a as usize) < rows[2])
            && genre.iter().all(|&g| (g as usize) < rows[3])
            && pop.iter().all(|&p| (p as usize) < rows[4]);
        if !ok {
            return Err(file.bad("inconsistent tensor shapes"));
        }
        let groups = Groups {
            artist,
            genre,
            artists: rows[2],
            genres: rows[3],
        };
        Ok(Model {
            users: ids.into_iter().zip(1..).collect(),
            tracks: Arc::new(TrackFeatures {
                groups,
                metadata,
                components,
                explained: explained.first().copied().unwrap_or(f64::NAN),
            }),
            pop,
            tables,
            dense,
            shapes,
            params,
        })
    }
}

/// Popularity bucket per track: quantiles of play counts among the tracks played (1..=`buckets`),
/// 0 for tracks never played.
fn pop_buckets(listens: &[(UserId, TrackId, f32)], tracks: usize, buckets: usize) -> Vec<u32> {
    let mut plays = vec![0u32; tracks];
    for l in listens {
        plays[l.1 as usize] += 1;
    }
    let mut played: Vec<usize> = (0..tracks).filter(|&t| plays[t] > 0).collect();
    played.sort_by_key(|&t| plays[t]);
    let mut out = vec![0u32; tracks];
    let n = played.len().max(1);
    for (rank, &t) in played.iter().enumerate() {
        out[t] = 1 + (rank * buckets / n) as u32;
    }
    out
}

/// Trains on the hard-negative examples of `listens` (user, track, listen time) over the
/// tracks of `features`. A seeded `validation` share is held out; the epoch with the best
/// validation AUC is kept.
pub fn fit(
    listens: &[(UserId, TrackId, f32)],
    features: TrackFeatures,
    p: &Params,
    mut on_epoch: impl FnMut(&Epoch),
) -> Result<Model> {
    p.validate()?;
    let n = features.groups.artist.len();
    if let Some(bad) = listens.iter().find(|l| l.1 as usize >= n) {
        return Err(Error::Invalid(format!(
            "track {} (user {}) is outside the catalogue of {n} tracks",
            bad.1, bad.0
        )));
    }
    let ex = examples(listens, p.positive, p.negative, p.seed);
    if ex.is_empty() {
        return Err(Error::Invalid(format!(
            "no examples: no user has both a listen ≥ {} and a skip ≤ {}",
            p.positive, p.negative
        )));
    }
    let mut users: HashMap<UserId, u32> = HashMap::new();
    let mut rng = stream(p.seed, b"difm", 0);
    let rows = ex.iter().map(|e| {
        let next = users.len() as u32 + 1;
        (*users.entry(e.user).or_insert(next), e.track, e.listened)
    });
    let (mut train, held) = crate::split_validation(rows, p.validation, &mut rng);
    if train.is_empty() {
        return Err(Error::Invalid(
            "every example was held out for validation".into(),
        ));
    }
    let (k, lr) = (p.dim, p.learning_rate);
    let shapes = layout(p, features.components);
    let mut uniform = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| (rng.random::<f32>() - 0.5) * 2.0 * scale)
            .collect()
    };
    let table_rows = [
        users.len() + 1,
        n,
        features.groups.artists,
        features.groups.genres,
        p.pop_buckets + 1,
    ];
    let mut tables: Vec<SparseAdam> = table_rows
        .iter()
        .map(|&r| SparseAdam::new(uniform(r * (k + 1), 0.01), k + 1, lr))
        .collect();
    // The unknown user's row stays zero: it is never trained.
    tables[0].values[..k + 1].fill(0.0);
    let dense = shapes
        .iter()
        .map(|(name, r, c)| {
            let glorot = (6.0 / (r + c) as f32).sqrt();
            let v = if name.ends_with("bias") {
                vec![0.0; r * c]
            } else {
                uniform(r * c, glorot)
            };
            SparseAdam::new(v, *c, lr)
        })
        .collect();
    let mut model = Model {
        params: p.clone(),
        users,
        pop: pop_buckets(listens, n, p.pop_buckets),
        tracks: Arc::new(features),
        tables,
        dense,
        shapes,
    };
    let mut sample = train.clone();
    let mut shuffle = stream(p.seed, b"difm-shuffle", 0);
    crate::shuffle(&mut sample, &mut shuffle);
    sample.truncate(20_000);
    crate::training::run(
        &mut model,
        &mut train,
        &p.schedule(),
        &mut shuffle,
        |m, epoch, train_loss| {
            let (_, train_auc) = m.evaluate(&sample)?;
            let (validation_loss, validation_auc) = m.evaluate(&held)?;
            on_epoch(&Epoch {
                epoch,
                examples: ex.len(),
                train_loss,
                validation_loss,
                train_auc,
                validation_auc,
            });
            Ok(validation_auc)
        },
    )?;
    Ok(model)
}

impl crate::training::Trainable for Model {
    type Example = (u32, TrackId, bool);
    type Snapshot = Model;
    fn train_step(&mut self, batch: &[(u32, TrackId, bool)]) -> Result<f64> {
        self.step(batch, &Device::Cpu)
    }
    fn snapshot(&self) -> Model {
        self.clone()
    }
    fn restore(&mut self, s: Model) {
        *self = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use botify_core::catalog::Track;

    /// 40 tracks: genre g (0..4) = tracks 10g..10g+9, two artists per genre, moods at random.
    fn catalog() -> Catalog {
        let tracks = (0..40u32)
            .map(|t| {
                let mut x = Track::new(t, format!("artist {}", t / 5), format!("song {t}"));
                x.genre = Some(format!("genre {}", t / 10));
                x.mood = Some(["calm", "dark", "happy"][t as usize % 3].into());
                x.year = Some(1990 + (t % 7) as u16);
                x.duration = Some(120.0 + t as f32);
                x
            })
            .collect();
        Catalog::from_tracks(tracks).unwrap()
    }

    /// 200 users; a user of taste g mostly (90%) listens through tracks of genres g and g+1
    /// (mod 4) — but of genre g+1 only the first five (one artist) — and mostly skips the rest.
    fn listens(seed: u64) -> Vec<(UserId, TrackId, f32)> {
        let mut rng = stream(seed, b"planted", 0);
        (0..20_000)
            .map(|_| {
                let u = rng.random_range(0..200u32);
                let t = rng.random_range(0..40u32);
                let (taste, genre) = (u % 4, t / 10);
                let taste_match = genre == taste || (genre == (taste + 1) % 4 && t % 10 < 5);
                let liked = rng.random::<f32>() < if taste_match { 0.9 } else { 0.1 };
                let time = if liked {
                    0.6 + 0.4 * rng.random::<f32>()
                } else {
                    0.3 * rng.random::<f32>()
                };
                (u, t, time)
            })
            .collect()
    }

    fn params() -> Params {
        Params {
            dim: 8,
            heads: 2,
            head_dim: 4,
            hidden: vec![32, 16],
            components: 10,
            epochs: 8,
            batch: 256,
            learning_rate: 0.01,
            patience: 3,
            seed: 5,
            ..Params::default()
        }
    }

    #[test]
    fn auc_counts_ordered_pairs_and_ties() {
        assert_eq!(auc(&[0.1, 0.9, 0.5], &[false, true, false]), 1.0);
        assert_eq!(auc(&[0.9, 0.1], &[false, true]), 0.0);
        assert_eq!(auc(&[0.5, 0.5, 0.5, 0.5], &[true, false, true, false]), 0.5);
        assert_eq!(auc(&[0.2, 0.4, 0.6], &[true, false, true]), 0.5);
        assert!(auc(&[0.2], &[true]).is_nan());
    }

    #[test]
    fn every_positive_gets_one_skip_of_the_same_user() {
        let listens = [
            (1, 10, 0.9),
            (1, 11, 0.1),
            (1, 12, 0.5), // neither
            (1, 13, 0.6),
            (2, 20, 1.0), // user 2 never skipped: no examples
            (3, 30, 0.3),
        ];
        let ex = examples(&listens, 0.6, 0.3, 1);
        let expect = |u, t, l| Example {
            user: u,
            track: t,
            listened: l,
        };
        assert_eq!(
            ex,
            [
                expect(1, 10, true),
                expect(1, 11, false),
                expect(1, 13, true),
                expect(1, 11, false)
            ]
        );
    }

    #[test]
    fn metadata_rows_are_one_hot_and_standardised() {
        let c = catalog();
        let m = metadata_rows(&c);
        // 8 artists + 4 genres + 3 moods + year, duration, pop.
        assert_eq!((m.rows(), m.cols), (40, 18));
        let row: Vec<(usize, f64)> = m.row(7).collect();
        assert_eq!(&row[..3], &[(1, 1.0), (8, 1.0), (8 + 4 + 1, 1.0)]);
        assert_eq!(row.len(), 5, "no pop in the test catalogue: {row:?}");
        let years: f64 = (0..40).map(|i| m.row(i).nth(3).unwrap().1).sum();
        assert!(years.abs() < 1e-4, "standardised years sum to {years}");
    }

    #[test]
    fn learns_planted_tastes_and_ranks_candidates_by_them() {
        let c = catalog();
        let features = TrackFeatures::from_catalog(&c, 10, 1);
        assert_eq!(features.components, 10);
        let mut curve = Vec::new();
        let m = fit(&listens(1), features, &params(), |e| curve.push(*e)).unwrap();
        let last = curve.last().unwrap();
        assert!(curve[0].train_loss > last.train_loss, "{curve:?}");
        let best = curve.iter().map(|e| e.validation_auc).fold(0.0, f64::max);
        // With 10% of labels flipped the best possible AUC is about 0.9; random is 0.5.
        assert!(best > 0.85, "validation AUC {best}: {curve:?}");
        assert!(last.train_auc > 0.85, "{curve:?}");
        // User 2 (taste 2) likes genre 2 and tracks 30..34; 35..39 and genre 0 are skips.
        let ranked = m.rank(&[(2, vec![0, 35, 31, 22, 5, 38])], 3).unwrap();
        let mut top = ranked[0].1[..2].to_vec();
        top.sort_unstable();
        assert_eq!(top, [22, 31], "{ranked:?}");
        assert_eq!(ranked[0].1.len(), 3);
        // An unknown user still gets scores (from the track's fields alone).
        assert_eq!(m.predict(&[(9999, 3)]).unwrap().len(), 1);
    }

    #[test]
    fn saved_models_reload_to_the_same_predictions_and_bad_input_is_rejected() {
        let c = catalog();
        let p = Params {
            epochs: 1,
            ..params()
        };
        let data = listens(2);
        let m = fit(&data, TrackFeatures::from_catalog(&c, 10, 1), &p, |_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("difm.safetensors");
        m.save(&path).unwrap();
        let r = Model::load(&path).unwrap();
        let pairs: Vec<(UserId, TrackId)> = data[..200].iter().map(|l| (l.0, l.1)).collect();
        assert_eq!(r.predict(&pairs).unwrap(), m.predict(&pairs).unwrap());
        assert_eq!(r.users(), m.users());
        std::fs::write(&path, b"junk").unwrap();
        let err = Model::load(&path).err().unwrap().to_string();
        assert!(err.contains("not a DIFM model file"), "{err}");
        let e = |listens: &[(UserId, TrackId, f32)], p: &Params| {
            fit(listens, TrackFeatures::from_catalog(&c, 10, 1), p, |_| {})
                .err()
                .unwrap()
                .to_string()
        };
        assert!(e(&[(1, 40, 1.0)], &p).contains("outside the catalogue of 40 tracks"));
        assert!(e(&[(1, 3, 1.0), (2, 4, 0.1)], &p).contains("no examples"));
        let swapped = Params {
            positive: 0.2,
            negative: 0.5,
            ..p.clone()
        };
        assert!(e(&data, &swapped).contains("negative < positive"));
        let no_heads = Params { heads: 0, ..p };
        assert!(e(&data, &no_heads).contains("heads"));
        assert!(
            m.predict(&[(1, 40)])
                .err()
                .unwrap()
                .to_string()
                .contains("outside the model's catalogue")
        );
    }
}
