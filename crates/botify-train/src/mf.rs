//! Matrix factorisation in the spirit of LightFM: items are the sum of their feature embeddings
//! (item id, and optionally artist, genre, popularity bucket, duration bucket — so cold items get
//! embeddings), users their id embedding; BPR or WARP loss, per-parameter adagrad, L2.
//! Positives: listens with time at least `threshold` (course: 0.7).

use crate::dataset::Dataset;
use crate::score::Factors;
use crate::sigmoid;
use botify_core::hash::FastMap;
use botify_core::rng::stream;
use botify_core::{Catalog, TrackId, UserId};
use rand::Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

botify_core::choices! {
    /// MF's ranking loss.
    pub enum Loss {
        Bpr = "bpr",
        Warp = "warp",
    }
}

botify_core::choices! {
    /// Track metadata an MF item embedding adds to its own.
    pub enum Feature {
        Artist = "artist",
        Genre = "genre",
        Pop = "pop",
        Duration = "duration",
    }
}

botify_core::params! {
    /// Matrix factorisation's parameters (LightFM-style).
    pub struct Params {
        /// `warp` or `bpr`.
        loss: Loss = Loss::Warp => any();
        /// Latent factors.
        factors: usize = 64 => range(1.0, 4_096.0);
        /// Passes over the liked listens.
        epochs: usize = 20 => range(1.0, 100_000.0);
        /// SGD step (Adagrad-scaled).
        learning_rate: f32 = 0.05 => above(0.0).alias("lr");
        /// L2 penalty per update on the touched rows (LightFM's item_alpha / user_alpha).
        l2: f32 = 1e-6 => at_least(0.0);
        /// WARP: negatives tried per positive before giving up.
        max_sampled: usize = 50 => range(1.0, 100_000.0);
        /// Liked listens: time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
        /// Item features from the catalogue: artist, genre, pop, duration.
        features: Vec<Feature> = Vec::new() => any().alias("item-features");
        /// The seed of the initial factors and the sampling.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
        /// SGD threads: 1 is bit-reproducible for a seed; more run Hogwild-style (faster, but the result then depends on thread timing).
        threads: usize = 1 => range(1.0, 1_024.0);
    }
}

/// Per-epoch learning curve entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Epoch {
    pub epoch: usize,
    pub loss: f64,
}

pub struct Model {
    pub users: FastMap<UserId, usize>,
    /// User embeddings.
    pub user_factors: Factors,
    /// Feature embeddings and biases; item i is the sum over `item_features[i]`.
    feature_factors: Factors,
    feature_bias: Vec<f32>,
    item_features: ItemFeatures,
}

/// Feature ids of each item in one compact array (CSR): WARP looks up random items all the time,
/// and one contiguous array stays in cache where a vector per item would not.
#[derive(Debug, Clone)]
struct ItemFeatures {
    offsets: Vec<u32>,
    ids: Vec<u32>,
}

impl ItemFeatures {
    fn of(&self, item: usize) -> &[u32] {
        &self.ids[self.offsets[item] as usize..self.offsets[item + 1] as usize]
    }
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// Feature rows of each item: its id first, then the requested metadata features.
fn item_features(
    tracks: usize,
    catalog: Option<&Catalog>,
    features: &[Feature],
) -> (ItemFeatures, usize) {
    let mut next = tracks as u32;
    let mut ids: FastMap<(u8, String), u32> = FastMap::default();
    let mut rows: Vec<Vec<u32>> = (0..tracks as u32).map(|t| vec![t]).collect();
    if let Some(c) = catalog {
        for (t, row) in rows.iter_mut().enumerate() {
            let tr = &c.tracks[t];
            for f in features {
                let key = match f {
                    Feature::Artist => Some((0u8, tr.artist.clone())),
                    Feature::Genre => tr.genre.clone().map(|g| (1, g)),
                    Feature::Pop => tr
                        .pop
                        .map(|p| (2, ((p * 5.0).floor().min(4.0) as u8).to_string())),
                    Feature::Duration => tr.duration.map(|d| {
                        let b = if d < 150.0 {
                            0
                        } else if d < 210.0 {
                            1
                        } else if d < 300.0 {
                            2
                        } else {
                            3
                        };
                        (3, b.to_string())
                    }),
                };
                if let Some(k) = key {
                    let id = *ids.entry(k).or_insert_with(|| {
                        next += 1;
                        next - 1
                    });
                    row.push(id);
                }
            }
        }
    }
    let mut csr = ItemFeatures {
        offsets: Vec::with_capacity(rows.len() + 1),
        ids: Vec::with_capacity(rows.iter().map(Vec::len).sum()),
    };
    csr.offsets.push(0);
    for row in rows {
        csr.ids.extend(row);
        csr.offsets.push(csr.ids.len() as u32);
    }
    (csr, next as usize)
}

impl Model {
    fn item_vec(&self, i: usize, out: &mut [f32]) -> f32 {
        out.iter_mut().for_each(|x| *x = 0.0);
        let mut b = 0.0;
        for &f in self.item_features.of(i) {
            for (o, v) in out.iter_mut().zip(self.feature_factors.row(f as usize)) {
                *o += v;
            }
            b += self.feature_bias[f as usize];
        }
        b
    }

    /// Item embeddings and biases with features summed.
    pub fn item_matrix(&self) -> (Factors, Vec<f32>) {
        let k = self.feature_factors.dim;
        let mut f = Factors::zeros(self.item_features.len(), k);
        let mut bias = vec![0f32; self.item_features.len()];
        let mut v = vec![0f32; k];
        for (i, b) in bias.iter_mut().enumerate() {
            *b = self.item_vec(i, &mut v);
            f.row_mut(i).copy_from_slice(&v);
        }
        (f, bias)
    }

    pub fn recommend(
        &self,
        exclude: &FastMap<UserId, Vec<TrackId>>,
        k: usize,
    ) -> FastMap<UserId, Vec<TrackId>> {
        self.recommend_to(|_| true, exclude, k)
    }

    /// Lists for the known users that `who` accepts (e.g. only those a metric will score).
    pub fn recommend_to(
        &self,
        who: impl Fn(UserId) -> bool,
        exclude: &FastMap<UserId, Vec<TrackId>>,
        k: usize,
    ) -> FastMap<UserId, Vec<TrackId>> {
        let (items, bias) = self.item_matrix();
        crate::score::top_k_for(
            &self.users,
            who,
            &self.user_factors,
            &items,
            Some(&bias),
            exclude,
            k,
        )
    }

    pub fn similar_items(&self, k: usize) -> Vec<(TrackId, Vec<(TrackId, f32)>)> {
        crate::als::similar(&self.item_matrix().0, k)
    }
}

/// Relaxed atomic f32 cells: lock-free shared parameters for Hogwild-style parallel SGD (plain
/// loads and stores on x86, and sound Rust, unlike aliased `&mut` slices).
struct Cells(Vec<AtomicU32>);

impl Cells {
    fn new(values: &[f32]) -> Self {
        Cells(values.iter().map(|v| AtomicU32::new(v.to_bits())).collect())
    }
    fn get(&self, i: usize) -> f32 {
        f32::from_bits(self.0[i].load(Relaxed))
    }
    fn set(&self, i: usize, v: f32) {
        self.0[i].store(v.to_bits(), Relaxed);
    }
    fn add(&self, i: usize, v: f32) {
        self.set(i, self.get(i) + v);
    }
    fn to_vec(&self) -> Vec<f32> {
        (0..self.0.len()).map(|i| self.get(i)).collect()
    }
}

/// Parameters being trained, shared by the SGD threads.
struct State<'a> {
    k: usize,
    user: Cells,
    feat: Cells,
    bias: Cells,
    /// Adagrad accumulators, one per parameter (as LightFM), starting at 1.
    g_user: Cells,
    g_feat: Cells,
    g_bias: Cells,
    item_features: &'a ItemFeatures,
    user_pos: &'a [Vec<u32>],
    items: usize,
}

/// WARP's largest rank weight (LightFM's MAX_LOSS).
const MAX_WARP_WEIGHT: f32 = 10.0;

impl State<'_> {
    /// Item embedding (summed features) into `out`; returns the summed bias.
    fn item(&self, i: usize, out: &mut [f32]) -> f32 {
        out.iter_mut().for_each(|x| *x = 0.0);
        let mut b = 0.0;
        for &f in self.item_features.of(i) {
            let base = f as usize * self.k;
            for (c, o) in out.iter_mut().enumerate() {
                *o += self.feat.get(base + c);
            }
            b += self.bias.get(f as usize);
        }
        b
    }

    /// Score of item `i` for the user vector `pu`: summed feature biases and dot products, read
    /// straight from the shared rows (no item vector is built for the negatives WARP tries).
    fn score(&self, pu: &[f32], i: usize) -> f32 {
        let k = self.k;
        let mut b = 0.0;
        let mut lanes = [0f32; LANES];
        for &f in self.item_features.of(i) {
            let row = &self.feat.0[f as usize * k..(f as usize + 1) * k];
            let (head, tail) = row.split_at(k - k % LANES);
            for (r, u) in head.chunks_exact(LANES).zip(pu.chunks_exact(LANES)) {
                for l in 0..LANES {
                    lanes[l] += f32::from_bits(r[l].load(Relaxed)) * u[l];
                }
            }
            for (r, u) in tail.iter().zip(&pu[k - k % LANES..]) {
                b += f32::from_bits(r.load(Relaxed)) * u;
            }
            b += self.bias.get(f as usize);
        }
        b + lanes.iter().sum::<f32>()
    }

    /// Hints the CPU to load item `i`'s own embedding row (its first feature) into cache.
    fn prefetch(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let f = self.item_features.of(i)[0] as usize;
            let row = self.feat.0[f * self.k..(f + 1) * self.k].as_ptr();
            for line in (0..self.k).step_by(16) {
                // SAFETY: a prefetch is only a hint; it never faults, and the address is in bounds.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(row.add(line).cast::<i8>()) };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// One step of adagrad with L2 on the row `row` of `params`/`acc` for gradient `scale · dir`.
    /// The row is copied out and back so the arithmetic runs on plain (vectorised) slices.
    #[allow(clippy::too_many_arguments)]
    fn adagrad_row(
        &self,
        params: &Cells,
        acc: &Cells,
        row: usize,
        scale: f32,
        dir: &[f32],
        p: &Params,
        s: &mut RowScratch,
    ) {
        let base = row * self.k;
        for c in 0..self.k {
            s.w[c] = params.get(base + c);
            s.g[c] = acc.get(base + c);
        }
        for ((w, g), d) in s.w.iter_mut().zip(s.g.iter_mut()).zip(dir) {
            let grad = scale * d + p.l2 * *w;
            *w -= p.learning_rate / g.sqrt() * grad;
            *g += grad * grad;
        }
        for c in 0..self.k {
            params.set(base + c, s.w[c]);
            acc.set(base + c, s.g[c]);
        }
    }

    /// One SGD step on the positive (u, i); returns its loss (0 when WARP finds no violator).
    fn step(&self, u: usize, i: u32, p: &Params, rng: &mut impl Rng, s: &mut Scratch) -> f64 {
        let k = self.k;
        for c in 0..k {
            s.pu[c] = self.user.get(u * k + c);
        }
        let xi = self.item(i as usize, &mut s.qi) + dot(&s.pu, &s.qi);
        // (negative, weight of the pair's gradient, reported loss), as LightFM's fit_warp/fit_bpr.
        let (j, weight, loss) = match p.loss {
            Loss::Bpr => {
                let j = loop {
                    let j = rng.random_range(0..self.items as u32);
                    if !self.user_pos[u].contains(&j) {
                        break j;
                    }
                };
                let x = xi - self.score(&s.pu, j as usize);
                (j, sigmoid(-x), -f64::from(sigmoid(x).max(1e-12).ln()))
            }
            Loss::Warp => {
                let mut found = None;
                // Negatives are drawn one ahead so the next one's row is fetched from memory
                // while this one is scored: random rows are cache misses, the cost of WARP.
                let mut next = rng.random_range(0..self.items as u32);
                for trial in 1..=p.max_sampled {
                    let j = next;
                    if trial < p.max_sampled {
                        next = rng.random_range(0..self.items as u32);
                        self.prefetch(next as usize);
                    }
                    if self.user_pos[u].contains(&j) {
                        continue;
                    }
                    let xj = self.score(&s.pu, j as usize);
                    if xj > xi - 1.0 {
                        // Rank estimate from the trials it took to find a violator.
                        let rank = ((self.items - 1) / trial).max(1) as f32;
                        let w = rank.ln().min(MAX_WARP_WEIGHT);
                        found = Some((j, w, f64::from(1.0 - xi + xj)));
                        break;
                    }
                }
                match found {
                    Some(f) => f,
                    None => return 0.0,
                }
            }
        };
        if weight <= 0.0 {
            return loss;
        }
        // Descend weight · (x_uj − x_ui): the user row along (q_j − q_i), the features of i along
        // −p_u and of j along +p_u, the biases by ∓1.
        self.item(j as usize, &mut s.qj);
        for c in 0..k {
            s.d[c] = s.qj[c] - s.qi[c];
        }
        self.adagrad_row(&self.user, &self.g_user, u, weight, &s.d, p, &mut s.row);
        for (item, sign) in [(i, -1.0f32), (j, 1.0)] {
            for &f in self.item_features.of(item as usize) {
                let f = f as usize;
                self.adagrad_row(
                    &self.feat,
                    &self.g_feat,
                    f,
                    sign * weight,
                    &s.pu,
                    p,
                    &mut s.row,
                );
                let g = sign * weight;
                let acc = self.g_bias.get(f);
                self.bias.add(f, -p.learning_rate / acc.sqrt() * g);
                self.g_bias.set(f, acc + g * g);
            }
        }
        loss
    }
}

struct RowScratch {
    w: Vec<f32>,
    g: Vec<f32>,
}

struct Scratch {
    pu: Vec<f32>,
    qi: Vec<f32>,
    qj: Vec<f32>,
    d: Vec<f32>,
    row: RowScratch,
}

/// Trains; `on_epoch` sees each epoch's mean loss and the model (for validation curves) and
/// returns whether to go on (early stopping).
/// `threads > 1` runs Hogwild-style SGD over that many shards of each epoch (faster, but the
/// result then depends on thread timing); `threads = 1` is bit-reproducible for a seed.
pub fn fit(
    d: &Dataset,
    catalog: Option<&Catalog>,
    p: &Params,
    mut on_epoch: impl FnMut(Epoch, &Model) -> bool,
) -> Model {
    let mut rng = stream(p.seed, b"mf", 0);
    let mut users: FastMap<UserId, usize> = FastMap::default();
    let mut positives: Vec<(usize, u32)> = Vec::new();
    let mut user_pos: Vec<Vec<u32>> = Vec::new();
    for l in &d.listens {
        let n = users.len();
        let u = *users.entry(l.user).or_insert(n);
        if u == user_pos.len() {
            user_pos.push(Vec::new());
        }
        if l.time >= p.threshold && !user_pos[u].contains(&l.track) {
            user_pos[u].push(l.track);
            positives.push((u, l.track));
        }
    }
    let (item_features, n_features) = item_features(d.tracks, catalog, &p.features);
    let k = p.factors;
    // LightFM's initialisation: uniform in ±0.5 / k.
    let scale = 1.0 / k as f32;
    let mut init = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| (rng.random::<f32>() - 0.5) * scale)
            .collect()
    };
    let user_init = init(users.len() * k);
    let feat_init = init(n_features * k);
    let state = State {
        k,
        user: Cells::new(&user_init),
        feat: Cells::new(&feat_init),
        bias: Cells::new(&vec![0.0; n_features]),
        g_user: Cells::new(&vec![1.0; users.len() * k]),
        g_feat: Cells::new(&vec![1.0; n_features * k]),
        g_bias: Cells::new(&vec![1.0; n_features]),
        item_features: &item_features,
        user_pos: &user_pos,
        items: d.tracks,
    };
    let threads = p.threads.max(1);
    let scratch = || Scratch {
        pu: vec![0.0; k],
        qi: vec![0.0; k],
        qj: vec![0.0; k],
        d: vec![0.0; k],
        row: RowScratch {
            w: vec![0.0; k],
            g: vec![0.0; k],
        },
    };
    let snapshot = |state: &State| Model {
        users: users.clone(),
        user_factors: Factors {
            rows: users.len(),
            dim: k,
            data: state.user.to_vec(),
        },
        feature_factors: Factors {
            rows: n_features,
            dim: k,
            data: state.feat.to_vec(),
        },
        feature_bias: state.bias.to_vec(),
        item_features: item_features.clone(),
    };
    for epoch in 0..p.epochs {
        // Seeded shuffle.
        for i in (1..positives.len()).rev() {
            positives.swap(i, rng.random_range(0..=i));
        }
        let loss: f64 = if threads == 1 {
            let mut s = scratch();
            positives
                .iter()
                .map(|&(u, i)| state.step(u, i, p, &mut rng, &mut s))
                .sum()
        } else {
            let shard = positives.len().div_ceil(threads).max(1);
            positives
                .par_chunks(shard)
                .enumerate()
                .map(|(t, chunk)| {
                    let mut r = stream(p.seed, b"mf-shard", (epoch * threads + t) as u64);
                    let mut s = scratch();
                    chunk
                        .iter()
                        .map(|&(u, i)| state.step(u, i, p, &mut r, &mut s))
                        .sum::<f64>()
                })
                .sum()
        };
        if !on_epoch(
            Epoch {
                epoch,
                loss: loss / positives.len().max(1) as f64,
            },
            &snapshot(&state),
        ) {
            break;
        }
    }
    snapshot(&state)
}

/// Accumulator lanes: independent partial sums let the compiler vectorise float dot products
/// (a single running sum is a serial dependency it may not reorder).
const LANES: usize = 8;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let split = n - n % LANES;
    let mut lanes = [0f32; LANES];
    for (x, y) in a[..split]
        .chunks_exact(LANES)
        .zip(b[..split].chunks_exact(LANES))
    {
        for l in 0..LANES {
            lanes[l] += x[l] * y[l];
        }
    }
    let tail: f32 = a[split..n]
        .iter()
        .zip(&b[split..n])
        .map(|(x, y)| x * y)
        .sum();
    lanes.iter().sum::<f32>() + tail
}
