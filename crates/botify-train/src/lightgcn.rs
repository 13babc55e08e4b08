//! LightGCN (He et al., SIGIR 2020): collaborative filtering on the user–track graph of likes.
//! Every user and every liked track is a node with a free embedding E⁰; embeddings are spread over
//! the graph without weights or non-linearities, E^(l+1) = Â E^l with the symmetric normalised
//! adjacency Â = D^-½ A D^-½, and a node's final embedding is the mean of its layers 0..=L. A
//! user's score for a track is the dot product of their final embeddings, trained with BPR.
//!
//! Each mini-batch propagates the whole graph (L sparse products), and its gradient flows back
//! the same way: since Â is symmetric, ∂loss/∂E⁰ = (1/(L+1)) Σ_l Â^l G for G = ∂loss/∂E. Negatives
//! are drawn afresh every epoch, uniformly among the *track* nodes the user has not liked (the
//! course notebook's flaw was an index that could land on a user node). Adam on E⁰, L2 on the
//! batch's layer-0 rows as in the paper. Deterministic for a seed: the sparse products work row
//! by row and the batch gradient is summed in order.

use crate::dataset::Dataset;
use crate::score::Factors;
use crate::sigmoid;
use crate::{Error, Result};
use botify_core::hash::FastMap;
use botify_core::rng::stream;
use botify_core::{TrackId, UserId};
use rand::Rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

botify_core::params! {
    /// LightGCN's parameters.
    #[derive(Copy)]
    pub struct Params {
        /// Embedding size.
        dim: usize = 64 => range(1.0, 4_096.0);
        /// Propagation layers (0: plain BPR matrix factorisation).
        layers: usize = 3 => range(0.0, 8.0).why("deeper propagation only smooths every embedding together");
        /// Passes over the liked listens.
        epochs: usize = 30 => range(1.0, 100_000.0);
        /// Triples (user, liked track, negative) per gradient step.
        batch: usize = 4096 => range(1.0, 1_000_000.0);
        /// Adam's step size.
        learning_rate: f32 = 0.005 => above(0.0).alias("lr");
        /// L2 penalty on the batch's layer-0 embeddings.
        l2: f32 = 1e-4 => at_least(0.0);
        /// Liked listens (the graph's edges): time at least this.
        threshold: f32 = botify_core::defaults::LIKED => range(0.0, 1.0).shared(Setting::Threshold);
        /// The seed of the initial embeddings and the sampling.
        seed: u64 = botify_core::defaults::SEED => shared(Setting::Seed);
    }
}

impl Params {
    pub fn validate(&self) -> Result<()> {
        crate::check::params(self)
    }
}

/// The user–track graph: nodes `0..users` are users, `users..` liked tracks.
struct Graph {
    users: usize,
    /// Track of item node `users + j`.
    tracks: Vec<TrackId>,
    /// Per node, its neighbours with the edge's weight 1/√(deg·deg').
    adjacency: Vec<Vec<(u32, f32)>>,
    /// Per user node, the item nodes they liked, ascending.
    liked: Vec<Vec<u32>>,
}

impl Graph {
    fn nodes(&self) -> usize {
        self.adjacency.len()
    }

    /// `out = Â x` for row-major `x` of `dim` columns.
    fn spread(&self, x: &[f32], dim: usize, out: &mut [f32]) {
        out.par_chunks_mut(dim)
            .zip(&self.adjacency)
            .for_each(|(o, edges)| {
                o.iter_mut().for_each(|v| *v = 0.0);
                for &(j, w) in edges {
                    let row = &x[j as usize * dim..(j as usize + 1) * dim];
                    for (o, &v) in o.iter_mut().zip(row) {
                        *o += w * v;
                    }
                }
            });
    }

    /// `(1/(L+1)) Σ_{l=0..=L} Â^l x` into `sum`: the final embeddings from layer 0, and (Â
    /// symmetric) the gradient of layer 0 from the final one's. `a` and `b` are scratch space;
    /// reused buffers keep a batch from allocating (and faulting in) fresh pages.
    fn mean_of_layers(&self, x: &[f32], dim: usize, layers: usize, buf: &mut Buffers) {
        let Buffers { sum, a, b } = buf;
        sum.clear();
        sum.extend_from_slice(x);
        a.clear();
        a.extend_from_slice(x);
        b.resize(x.len(), 0.0);
        for _ in 0..layers {
            self.spread(a, dim, b);
            sum.iter_mut().zip(b.iter()).for_each(|(s, v)| *s += v);
            std::mem::swap(a, b);
        }
        let scale = 1.0 / (layers + 1) as f32;
        sum.iter_mut().for_each(|s| *s *= scale);
    }
}

/// The output (`sum`) and scratch space of [`Graph::mean_of_layers`].
#[derive(Default)]
struct Buffers {
    sum: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
}

fn graph(d: &Dataset, threshold: f32) -> (Graph, FastMap<UserId, usize>) {
    let mut pairs: Vec<(UserId, TrackId)> = d
        .listens
        .iter()
        .filter(|l| l.time >= threshold)
        .map(|l| (l.user, l.track))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut users: FastMap<UserId, usize> = FastMap::default();
    let mut user_ids: Vec<UserId> = pairs.iter().map(|p| p.0).collect();
    user_ids.dedup();
    for (i, &u) in user_ids.iter().enumerate() {
        users.insert(u, i);
    }
    let mut tracks: Vec<TrackId> = pairs.iter().map(|p| p.1).collect();
    tracks.sort_unstable();
    tracks.dedup();
    let nu = user_ids.len();
    let item_node: FastMap<TrackId, u32> = tracks
        .iter()
        .enumerate()
        .map(|(j, &t)| (t, (nu + j) as u32))
        .collect();
    let mut neighbours: Vec<Vec<u32>> = vec![Vec::new(); nu + tracks.len()];
    for &(u, t) in &pairs {
        let (a, b) = (users[&u] as u32, item_node[&t]);
        neighbours[a as usize].push(b);
        neighbours[b as usize].push(a);
    }
    let degree: Vec<f32> = neighbours.iter().map(|n| n.len() as f32).collect();
    let adjacency = neighbours
        .iter()
        .enumerate()
        .map(|(a, n)| {
            n.iter()
                .map(|&b| (b, 1.0 / (degree[a] * degree[b as usize]).sqrt()))
                .collect()
        })
        .collect();
    let liked = neighbours[..nu].to_vec();
    (
        Graph {
            users: nu,
            tracks,
            adjacency,
            liked,
        },
        users,
    )
}

/// One epoch's mean BPR loss (without the L2 term).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Epoch {
    pub loss: f64,
}

pub struct Model {
    pub users: FastMap<UserId, usize>,
    /// Final (layer-mean) embeddings of the users, rows as in `users`.
    pub user_factors: Factors,
    /// Final embeddings of every track of the catalogue (zero for tracks nobody liked).
    pub item_factors: Factors,
    /// 0 for tracks in the graph, −∞ for the others (never recommended).
    known: Vec<f32>,
}

impl Model {
    /// Top `k` tracks per known user by dot product, excluding `exclude`.
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
        crate::score::top_k_for(
            &self.users,
            who,
            &self.user_factors,
            &self.item_factors,
            Some(&self.known),
            exclude,
            k,
        )
    }
}

/// Trains on the liked listens of `d`; `on_epoch` sees each epoch's loss and model.
pub fn fit(d: &Dataset, p: &Params, mut on_epoch: impl FnMut(Epoch, &Model)) -> Result<Model> {
    p.validate()?;
    let (g, users) = graph(d, p.threshold);
    if g.users == 0 {
        return Err(Error::Invalid(format!(
            "no listen reaches the threshold {}: the graph has no edges",
            p.threshold
        )));
    }
    if g.tracks.len() < 2 {
        return Err(Error::Invalid(
            "only one track is liked: there is nothing to rank".into(),
        ));
    }
    let (dim, n) = (p.dim, g.nodes());
    let mut rng = stream(p.seed, b"lightgcn", 0);
    // Uniform of standard deviation 0.1.
    let half_width = 0.1 * 3f32.sqrt();
    let mut e0: Vec<f32> = (0..n * dim)
        .map(|_| rng.random_range(-half_width..half_width))
        .collect();
    let mut adam = Adam::new(e0.len(), p.learning_rate);
    let edges: Vec<(u32, u32)> = g
        .liked
        .iter()
        .enumerate()
        .flat_map(|(u, items)| items.iter().map(move |&i| (u as u32, i)))
        .collect();
    let items = g.tracks.len() as u32;
    let mut model = Model {
        users,
        user_factors: Factors::zeros(g.users, dim),
        item_factors: Factors::zeros(d.tracks, dim),
        known: vec![f32::NEG_INFINITY; d.tracks],
    };
    for &t in &g.tracks {
        model.known[t as usize] = 0.0;
    }
    let mut order: Vec<usize> = (0..edges.len()).collect();
    let (mut forward, mut backward) = (Buffers::default(), Buffers::default());
    let mut grad = vec![0f32; e0.len()];
    for _ in 0..p.epochs {
        // Fresh negatives every epoch: item nodes the user has not liked.
        let negatives: Vec<u32> = edges
            .iter()
            .map(|&(u, _)| {
                loop {
                    let j = g.users as u32 + rng.random_range(0..items);
                    if g.liked[u as usize].binary_search(&j).is_err() {
                        break j;
                    }
                    if g.liked[u as usize].len() as u32 >= items {
                        break j; // liked everything: any negative is as good
                    }
                }
            })
            .collect();
        order.shuffle(&mut rng);
        let mut loss = 0f64;
        for batch in order.chunks(p.batch) {
            g.mean_of_layers(&e0, dim, p.layers, &mut forward);
            let e = &forward.sum;
            grad.iter_mut().for_each(|v| *v = 0.0);
            let scale = 1.0 / batch.len() as f32;
            for &b in batch {
                let (u, i) = edges[b];
                let j = negatives[b];
                let row = |x: u32| &e[x as usize * dim..(x as usize + 1) * dim];
                let (eu, ei, ej) = (row(u), row(i), row(j));
                let x: f32 = eu
                    .iter()
                    .zip(ei.iter().zip(ej))
                    .map(|(a, (b, c))| a * (b - c))
                    .sum();
                loss += f64::from(softplus(-x));
                let s = -sigmoid(-x) * scale; // ∂(−log σ(x))/∂x over the batch
                for c in 0..dim {
                    let (a, bi, bj) = (eu[c], ei[c], ej[c]);
                    grad[u as usize * dim + c] += s * (bi - bj);
                    grad[i as usize * dim + c] += s * a;
                    grad[j as usize * dim + c] -= s * a;
                }
            }
            g.mean_of_layers(&grad, dim, p.layers, &mut backward);
            let grad = &mut backward.sum;
            for &b in batch {
                let (u, i) = edges[b];
                for node in [u, i, negatives[b]] {
                    let r = node as usize * dim..(node as usize + 1) * dim;
                    for (gv, &w) in grad[r.clone()].iter_mut().zip(&e0[r]) {
                        *gv += p.l2 * scale * w;
                    }
                }
            }
            adam.step(&mut e0, grad);
        }
        finalise(&g, &e0, p, &mut forward, &mut model);
        on_epoch(
            Epoch {
                loss: loss / edges.len() as f64,
            },
            &model,
        );
    }
    Ok(model)
}

/// The model's final embeddings from layer 0.
fn finalise(g: &Graph, e0: &[f32], p: &Params, buf: &mut Buffers, model: &mut Model) {
    let dim = p.dim;
    g.mean_of_layers(e0, dim, p.layers, buf);
    let e = &buf.sum;
    model.user_factors.data.copy_from_slice(&e[..g.users * dim]);
    for (j, &t) in g.tracks.iter().enumerate() {
        let node = g.users + j;
        model
            .item_factors
            .row_mut(t as usize)
            .copy_from_slice(&e[node * dim..(node + 1) * dim]);
    }
}

/// log(1 + eˣ), stable for large |x|.
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// Dense Adam (Kingma & Ba) over one flat parameter vector.
struct Adam {
    lr: f32,
    t: i32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(len: usize, lr: f32) -> Adam {
        Adam {
            lr,
            t: 0,
            m: vec![0.0; len],
            v: vec![0.0; len],
        }
    }

    fn step(&mut self, x: &mut [f32], g: &[f32]) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let lr = self.lr * (1.0 - B2.powi(self.t)).sqrt() / (1.0 - B1.powi(self.t));
        x.par_chunks_mut(4096)
            .zip(self.m.par_chunks_mut(4096))
            .zip(self.v.par_chunks_mut(4096))
            .zip(g.par_chunks(4096))
            .for_each(|(((x, m), v), g)| {
                for (((x, m), v), &g) in x.iter_mut().zip(m).zip(v).zip(g) {
                    *m = B1 * *m + (1.0 - B1) * g;
                    *v = B2 * *v + (1.0 - B2) * g * g;
                    *x -= lr * *m / (v.sqrt() + 1e-8);
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Listen;

    fn listen(user: UserId, track: TrackId, time: f32) -> Listen {
        Listen {
            user,
            track,
            time,
            timestamp: 0,
            session: 0,
            recommended: true,
        }
    }

    /// Users of group g (u % 3) like a random third of group g's tracks (t % 3).
    fn planted() -> Dataset {
        let mut rng = stream(9, b"test", 0);
        let mut listens = Vec::new();
        for u in 0..240u32 {
            for t in 0..90u32 {
                if t % 3 == u % 3 && rng.random::<f32>() < 0.3 {
                    listens.push(listen(u, t, 1.0));
                } else if rng.random::<f32>() < 0.05 {
                    listens.push(listen(u, t, 0.1)); // a skip: not an edge
                }
            }
        }
        Dataset {
            tracks: 100, // tracks 90..100 are never liked
            listens,
        }
    }

    #[test]
    fn propagation_is_the_symmetric_normalised_adjacency() {
        // Users 0 and 1 like track 5; user 1 also likes track 7.
        let d = Dataset {
            tracks: 10,
            listens: vec![listen(0, 5, 1.0), listen(1, 5, 1.0), listen(1, 7, 1.0)],
        };
        let (g, users) = graph(&d, 0.7);
        assert_eq!((g.users, g.tracks.clone(), users.len()), (2, vec![5, 7], 2));
        // Nodes: u0, u1, t5, t7; one-hot columns spread once.
        let x: Vec<f32> = (0..16)
            .map(|i| if i % 5 == 0 { 1.0 } else { 0.0 })
            .collect();
        let mut y = vec![0f32; 16];
        g.spread(&x, 4, &mut y);
        let w = |a: f32, b: f32| 1.0 / (a * b).sqrt();
        // Row of t5 (degree 2): its neighbours u0 (degree 1) and u1 (degree 2).
        assert!((y[2 * 4] - w(2.0, 1.0)).abs() < 1e-6);
        assert!((y[2 * 4 + 1] - w(2.0, 2.0)).abs() < 1e-6);
        assert_eq!(y[2 * 4 + 2], 0.0);
        // Symmetric: Â[u1][t7] = Â[t7][u1].
        assert_eq!(y[4 + 3], y[3 * 4 + 1]);
        assert_eq!(g.liked[1], vec![2, 3]);
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        // Loss L(E⁰) = Σ_n c_n·E_n with E the mean of layers: ∂L/∂E⁰ = mean_of_layers(c).
        let d = planted();
        let (g, _) = graph(&d, 0.7);
        let (dim, layers) = (2, 2);
        let mut rng = stream(3, b"test", 0);
        let e0: Vec<f32> = (0..g.nodes() * dim).map(|_| rng.random()).collect();
        let c: Vec<f32> = (0..g.nodes() * dim)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        let mut buf = Buffers::default();
        let mut loss = |e0: &[f32]| -> f64 {
            g.mean_of_layers(e0, dim, layers, &mut buf);
            buf.sum.iter().zip(&c).map(|(a, b)| f64::from(a * b)).sum()
        };
        let mut grad_buf = Buffers::default();
        g.mean_of_layers(&c, dim, layers, &mut grad_buf);
        let grad = grad_buf.sum;
        for k in [0, 7, 300, g.nodes() * dim - 1] {
            let mut plus = e0.clone();
            plus[k] += 0.01;
            let numeric = (loss(&plus) - loss(&e0)) / 0.01;
            assert!(
                (numeric - f64::from(grad[k])).abs() < 1e-3,
                "coordinate {k}: {numeric} vs {}",
                grad[k]
            );
        }
    }

    #[test]
    fn learns_planted_groups_and_the_loss_falls() {
        let d = planted();
        let p = Params {
            dim: 16,
            layers: 2,
            epochs: 25,
            batch: 256,
            learning_rate: 0.01,
            ..Params::default()
        };
        let mut losses = Vec::new();
        let model = fit(&d, &p, |e, _| losses.push(e.loss)).unwrap();
        assert_eq!(losses.len(), 25);
        assert!(losses[24] < 0.5 * losses[0], "{losses:?}");
        let lists = model.recommend(&d.heard(), 5);
        assert_eq!(lists.len(), 240);
        let right = lists
            .iter()
            .flat_map(|(u, l)| l.iter().map(move |t| t % 3 == u % 3))
            .filter(|&ok| ok)
            .count();
        assert!(
            right as f64 >= 0.95 * 240.0 * 5.0,
            "{right} of 1200 in the user's group"
        );
        assert!(
            lists.values().flatten().all(|&t| t < 90),
            "never a track nobody liked"
        );
        // Deterministic for a seed.
        let again = fit(&d, &p, |_, _| {}).unwrap();
        assert_eq!(again.item_factors, model.item_factors);
    }

    #[test]
    fn bad_parameters_and_empty_graphs_are_named() {
        let d = planted();
        let err = |p: Params, d: &Dataset| fit(d, &p, |_, _| {}).err().unwrap().to_string();
        assert!(
            err(
                Params {
                    dim: 0,
                    ..Params::default()
                },
                &d
            )
            .contains("dim")
        );
        assert!(
            err(
                Params {
                    layers: 9,
                    ..Params::default()
                },
                &d
            )
            .contains("layers 9")
        );
        assert!(
            err(
                Params {
                    learning_rate: 0.0,
                    ..Params::default()
                },
                &d
            )
            .contains("learning_rate")
        );
        assert!(
            err(
                Params {
                    threshold: 2.0,
                    ..Params::default()
                },
                &d
            )
            .contains("threshold 2")
        );
        let skips = Dataset {
            tracks: 3,
            listens: vec![listen(0, 1, 0.1)],
        };
        assert!(err(Params::default(), &skips).contains("no edges"));
    }
}
