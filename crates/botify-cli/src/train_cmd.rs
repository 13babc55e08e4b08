//! `botify train <model>` and `botify eval`: clap arguments mapped onto the model registry of
//! `botify_lab::models`, whose parameter structs give every default.

use crate::ui::{self, Named};
use anyhow::{Result, bail};
use botify_lab::logs::{DEFAULT_HOLDOUT, Loaded, load};
use botify_lab::models::{DifmSpec, DppSpec, MfSpec, ModelSpec, Settings, TrainData, train};
use botify_neural::{contextual, difm, dssm, sasrec};
use botify_train::metrics::Metrics;
use botify_train::{als, dpp, ease, i2i, ips, item2vec, lightgcn, mf, taste, ucf};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TrainCommand {
    /// Top tracks by total listen time (a JSON array).
    Toppop(TopArgs),
    /// Item-to-item neighbours from sessions (per-track lists with weights).
    I2i(I2iArgs),
    /// User-based collaborative filtering (per-user lists).
    Ucf(UcfArgs),
    /// Matrix factorisation, LightFM-style (per-user lists).
    Mf(MfArgs),
    /// Implicit-feedback ALS (per-user lists).
    Als(AlsArgs),
    /// EASE: closed-form item-item weights over the most-liked tracks (per-user lists).
    Ease(EaseArgs),
    /// IPS-debiased matrix factorisation: likes weighted by the inverse of how often the logged
    /// policy showed them (per-user lists).
    Ips(IpsArgs),
    /// LightGCN: BPR on the user–track graph of likes, embeddings spread over the graph
    /// (per-user lists).
    Lightgcn(LightgcnArgs),
    /// SASRec: causal self-attention over each session's liked tracks (per-track lists of
    /// predicted next tracks).
    Sasrec(SasrecArgs),
    /// Neural contextual item-to-item model (per-track lists weighted by predicted listen time).
    Contextual(ContextualArgs),
    /// item2vec: skip-gram with negative sampling over sessions (per-track lists by cosine).
    Item2vec(Item2vecArgs),
    /// Artist taste vectors learned from listen times against the session's first track
    /// (served by `session_taste`; needs --catalog).
    Taste(TasteArgs),
    /// Two-tower DSSM (per-user lists).
    Dssm(DssmArgs),
    /// DIFM listen/skip classifier re-ranking per-user candidate lists (per-user lists).
    Difm(DifmArgs),
    /// DPP diversity re-ranking of per-user or per-track lists by artist and genre (the same
    /// kind of lists).
    Dpp(DppArgs),
}

#[derive(Args, Clone)]
pub struct Common {
    /// Log files or directories.
    #[arg(long, required = true, num_args = 1..)]
    pub logs: Vec<PathBuf>,
    /// The catalogue (checks track ids; needed for item features).
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
    /// Tracks per list.
    #[arg(long, default_value_t = Settings::default().k, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    pub k: usize,
    /// Hold out the last fraction of listens (by time) to report offline metrics; 0 trains on all.
    #[arg(long, default_value_t = DEFAULT_HOLDOUT, value_parser = crate::ui::fraction)]
    pub holdout: f64,
    /// Positive listens: time at least this (the course: 0.7).
    #[arg(long, default_value_t = Settings::default().threshold)]
    pub threshold: f32,
    /// Metrics cut-off.
    #[arg(long, default_value_t = Settings::default().eval_k, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    pub eval_k: usize,
    #[arg(long, default_value_t = botify_lab::Plan::default().seed)]
    pub seed: u64,
}

#[derive(Args)]
pub struct TopArgs {
    #[command(flatten)]
    c: Common,
}

#[derive(Args)]
pub struct I2iArgs {
    #[command(flatten)]
    c: Common,
    /// `session` (pairs within a session window) or `next` (track → next track).
    #[arg(long, default_value_t = Named(i2i::Params::default().mode))]
    mode: Named<i2i::Mode>,
    /// Session mode: pair tracks at most this many positions apart.
    #[arg(long, default_value_t = i2i::Params::default().window, value_parser = crate::ui::in_range::<usize>(1, 1_000))]
    window: usize,
    /// Tracks seen fewer times than this get no list.
    #[arg(long, default_value_t = i2i::Params::default().min_count)]
    min_count: u32,
}

#[derive(Args)]
pub struct UcfArgs {
    #[command(flatten)]
    c: Common,
    #[arg(long, default_value_t = ucf::Params::default().neighbours, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    neighbours: usize,
}

#[derive(Args)]
pub struct MfArgs {
    #[command(flatten)]
    c: Common,
    /// `warp` or `bpr`.
    #[arg(long, default_value_t = Named(mf::Params::default().loss))]
    loss: Named<mf::Loss>,
    #[arg(long, default_value_t = mf::Params::default().factors, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    factors: usize,
    #[arg(long, default_value_t = mf::Params::default().epochs, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    epochs: usize,
    #[arg(long, default_value_t = mf::Params::default().learning_rate, value_parser = crate::ui::positive)]
    lr: f32,
    #[arg(long, default_value_t = mf::Params::default().l2)]
    l2: f32,
    #[arg(long, default_value_t = mf::Params::default().max_sampled, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    max_sampled: usize,
    /// Item features from the catalogue: artist, genre, pop, duration.
    #[arg(long, value_delimiter = ',')]
    item_features: Vec<Named<mf::Feature>>,
    /// SGD threads: 1 is bit-reproducible for a seed; more run Hogwild-style (faster, but the
    /// result then depends on thread timing).
    #[arg(long, default_value_t = mf::Params::default().threads, value_parser = crate::ui::in_range::<usize>(1, 1_024))]
    threads: usize,
    /// Random hyper-parameter search with this many trials (scored on the holdout, or on the
    /// last 20% of the training listens without one).
    #[arg(long, default_value_t = 0, value_parser = crate::ui::in_range::<usize>(0, 10_000))]
    search: usize,
}

#[derive(Args)]
pub struct AlsArgs {
    #[command(flatten)]
    c: Common,
    #[arg(long, default_value_t = als::Params::default().factors, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    factors: usize,
    #[arg(long, default_value_t = als::Params::default().iterations, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    iterations: usize,
    #[arg(long, default_value_t = als::Params::default().regularization)]
    regularization: f32,
    #[arg(long, default_value_t = als::Params::default().alpha)]
    alpha: f32,
    /// Conjugate-gradient steps per row and iteration; 0 = exact Cholesky solves.
    #[arg(long, default_value_t = als::Params::default().cg_steps, value_parser = crate::ui::in_range::<usize>(1, 1_000))]
    cg_steps: usize,
}

#[derive(Args)]
pub struct ContextualArgs {
    #[command(flatten)]
    c: Common,
    /// `previous`: learn each listen's time against the session's previous track (the course's
    /// pairs); `anchor`: against the session's first track.
    #[arg(long, default_value_t = Named(contextual::Params::default().context))]
    context: Named<contextual::Context>,
    /// Embedding size.
    #[arg(long, default_value_t = contextual::Params::default().dim, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    dim: usize,
    /// `dot`: element-wise product and a linear layer (the seminar's); `cosine` (the homework's).
    #[arg(long, default_value_t = Named(contextual::Params::default().similarity))]
    similarity: Named<contextual::Similarity>,
    /// `mse` or `mae`.
    #[arg(long, default_value_t = Named(contextual::Params::default().loss))]
    loss: Named<contextual::LossKind>,
    #[arg(long, default_value_t = contextual::Params::default().epochs, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    epochs: usize,
    #[arg(long, default_value_t = contextual::Params::default().batch, value_parser = crate::ui::in_range::<usize>(1, 1_000_000))]
    batch: usize,
    #[arg(long, default_value_t = contextual::Params::default().learning_rate, value_parser = crate::ui::positive)]
    lr: f32,
    /// Share of (track → next track) pairs held out for validation and early stopping.
    #[arg(long, default_value_t = contextual::Params::default().validation, value_parser = crate::ui::fraction)]
    validation: f64,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, default_value_t = contextual::Params::default().patience, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    patience: usize,
    /// Tracks seen fewer times than this in the pairs get no list and are nobody's neighbour.
    #[arg(long, default_value_t = contextual::Params::default().min_count)]
    min_count: usize,
}

#[derive(Args)]
pub struct EaseArgs {
    #[command(flatten)]
    c: Common,
    /// λ, the L2 penalty on the item-item weights.
    #[arg(long, default_value_t = ease::Params::default().l2)]
    l2: f64,
    /// Rank the tracks liked by the most users, at most this many (memory grows as the square,
    /// time as the cube).
    #[arg(long, default_value_t = ease::Params::default().max_items, value_parser = crate::ui::in_range::<usize>(1, 20_000))]
    max_items: usize,
}

#[derive(Args)]
pub struct IpsArgs {
    #[command(flatten)]
    c: Common,
    #[arg(long, default_value_t = ips::Params::default().factors, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    factors: usize,
    #[arg(long, default_value_t = ips::Params::default().iterations, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    iterations: usize,
    /// λ, the L2 penalty on both factor matrices.
    #[arg(long, default_value_t = ips::Params::default().regularization)]
    regularization: f32,
    /// Confidence of a like: 1 + alpha × its listen time.
    #[arg(long, default_value_t = ips::Params::default().alpha)]
    alpha: f32,
    /// Inverse propensities are clipped at this many times their median; 1 turns the
    /// reweighting off.
    #[arg(long, default_value_t = ips::Params::default().max_weight)]
    max_weight: f64,
}

#[derive(Args)]
pub struct LightgcnArgs {
    #[command(flatten)]
    c: Common,
    /// Embedding size.
    #[arg(long, default_value_t = lightgcn::Params::default().dim, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    dim: usize,
    /// Propagation layers (0: plain BPR matrix factorisation).
    #[arg(long, default_value_t = lightgcn::Params::default().layers, value_parser = crate::ui::in_range::<usize>(1, 64))]
    layers: usize,
    #[arg(long, default_value_t = lightgcn::Params::default().epochs, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    epochs: usize,
    /// Triples (user, liked track, negative) per gradient step.
    #[arg(long, default_value_t = lightgcn::Params::default().batch, value_parser = crate::ui::in_range::<usize>(1, 1_000_000))]
    batch: usize,
    /// Adam's step size.
    #[arg(long, default_value_t = lightgcn::Params::default().learning_rate, value_parser = crate::ui::positive)]
    lr: f32,
    /// L2 penalty on the batch's layer-0 embeddings.
    #[arg(long, default_value_t = lightgcn::Params::default().l2)]
    l2: f32,
}

#[derive(Args)]
pub struct SasrecArgs {
    #[command(flatten)]
    c: Common,
    /// Embedding and hidden size.
    #[arg(long, default_value_t = sasrec::Params::default().dim, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    dim: usize,
    /// Self-attention blocks.
    #[arg(long, default_value_t = sasrec::Params::default().blocks, value_parser = crate::ui::in_range::<usize>(1, 64))]
    blocks: usize,
    /// Positions a session keeps (its last liked tracks).
    #[arg(long, default_value_t = sasrec::Params::default().max_len, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    max_len: usize,
    #[arg(long, default_value_t = sasrec::Params::default().epochs, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    epochs: usize,
    /// Sessions per batch.
    #[arg(long, default_value_t = sasrec::Params::default().batch, value_parser = crate::ui::in_range::<usize>(1, 1_000_000))]
    batch: usize,
    /// Sampled negatives per batch (a sampled softmax), shared by its positions.
    #[arg(long, default_value_t = sasrec::Params::default().negatives, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    negatives: usize,
    /// Adam's step size.
    #[arg(long, default_value_t = sasrec::Params::default().learning_rate, value_parser = crate::ui::positive)]
    lr: f32,
    /// Tracks liked fewer times are left out.
    #[arg(long, default_value_t = sasrec::Params::default().min_count)]
    min_count: u32,
}

#[derive(Args)]
pub struct TasteArgs {
    #[command(flatten)]
    c: Common,
    /// Vector size.
    #[arg(long, default_value_t = taste::Params::default().dim, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    dim: usize,
    #[arg(long, default_value_t = taste::Params::default().epochs, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    epochs: usize,
    #[arg(long, default_value_t = taste::Params::default().learning_rate, value_parser = crate::ui::positive)]
    lr: f32,
    #[arg(long, default_value_t = taste::Params::default().l2)]
    l2: f32,
    /// Tracks listened fewer times are left out; an artist with none left gets no vector.
    #[arg(long, default_value_t = taste::Params::default().min_count)]
    min_count: u32,
}

#[derive(Args)]
pub struct Item2vecArgs {
    #[command(flatten)]
    c: Common,
    /// Vector size.
    #[arg(long, default_value_t = item2vec::Params::default().dim, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    dim: usize,
    /// Context: liked tracks at most this many positions apart in a session.
    #[arg(long, default_value_t = item2vec::Params::default().window, value_parser = crate::ui::in_range::<usize>(1, 1_000))]
    window: usize,
    /// Negative tracks per pair, drawn by popularity^0.75.
    #[arg(long, default_value_t = item2vec::Params::default().negatives, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    negatives: usize,
    #[arg(long, default_value_t = item2vec::Params::default().epochs, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    epochs: usize,
    #[arg(long, default_value_t = item2vec::Params::default().learning_rate, value_parser = crate::ui::positive)]
    lr: f32,
    /// Tracks liked fewer times than this get no vector and no list.
    #[arg(long, default_value_t = item2vec::Params::default().min_count)]
    min_count: u32,
    /// Subsampling of frequent tracks (word2vec's t; 0 keeps every listen).
    #[arg(long, default_value_t = item2vec::Params::default().subsample)]
    subsample: f32,
    /// Listens of at least this time make the sentences (0: every listen of a session);
    /// --threshold decides which next tracks the metrics count as liked.
    #[arg(long, default_value_t = item2vec::Params::default().threshold)]
    sentence_threshold: f32,
}

#[derive(Args)]
pub struct DssmArgs {
    #[command(flatten)]
    c: Common,
    #[arg(long, default_value_t = dssm::Params::default().dim, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    dim: usize,
    #[arg(long, default_value_t = dssm::Params::default().epochs, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    epochs: usize,
    /// Pairs per batch; the other tracks of a batch are each pair's negatives.
    #[arg(long, default_value_t = dssm::Params::default().batch, value_parser = crate::ui::in_range::<usize>(1, 1_000_000))]
    batch: usize,
    #[arg(long, default_value_t = dssm::Params::default().learning_rate, value_parser = crate::ui::positive)]
    lr: f32,
    /// Softmax temperature over the towers' cosines.
    #[arg(long, default_value_t = dssm::Params::default().temperature)]
    temperature: f32,
}

#[derive(Args)]
pub struct DppArgs {
    #[command(flatten)]
    c: Common,
    /// Per-user or per-track lists to re-rank (e.g. `botify train als`'s or `contextual`'s).
    #[arg(long)]
    candidates: PathBuf,
    /// Re-rank each list's first tracks, this many.
    #[arg(long, default_value_t = dpp::Params::default().depth, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    depth: usize,
    /// Relevance against diversity in [0, 1): lower spreads artists more.
    #[arg(long, default_value_t = dpp::Params::default().theta)]
    theta: f64,
    /// Similarity of two tracks by the same artist (weight; 0 ignores artists).
    #[arg(long, default_value_t = dpp::Params::default().artist)]
    artist: f64,
    /// Similarity of two tracks of the same genre (weight).
    #[arg(long, default_value_t = dpp::Params::default().genre)]
    genre: f64,
}

#[derive(Args)]
pub struct DifmArgs {
    #[command(flatten)]
    c: Common,
    /// Per-user candidate lists to re-rank, e.g. `botify train mf`'s output.
    #[arg(long)]
    candidates: PathBuf,
    /// Embedding size of every field.
    #[arg(long, default_value_t = difm::Params::default().dim, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    dim: usize,
    /// Self-attention heads.
    #[arg(long, default_value_t = difm::Params::default().heads, value_parser = crate::ui::in_range::<usize>(1, 256))]
    heads: usize,
    /// Size of each attention head.
    #[arg(long, default_value_t = difm::Params::default().head_dim, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    head_dim: usize,
    /// Hidden layer sizes of the DNN part, e.g. 128,64 (default: the model's).
    #[arg(long, value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Principal components kept of the track metadata.
    #[arg(long, default_value_t = difm::Params::default().components, value_parser = crate::ui::in_range::<usize>(1, 4_096))]
    components: usize,
    /// Listens of at least this are positives …
    #[arg(long, default_value_t = difm::Params::default().positive)]
    positive: f32,
    /// … each paired with one of the same user's listens of at most this.
    #[arg(long, default_value_t = difm::Params::default().negative)]
    negative: f32,
    #[arg(long, default_value_t = difm::Params::default().epochs, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    epochs: usize,
    #[arg(long, default_value_t = difm::Params::default().batch, value_parser = crate::ui::in_range::<usize>(1, 1_000_000))]
    batch: usize,
    #[arg(long, default_value_t = difm::Params::default().learning_rate, value_parser = crate::ui::positive)]
    lr: f32,
    /// L2 penalty on the embedding rows a batch uses.
    #[arg(long, default_value_t = difm::Params::default().l2)]
    l2: f32,
    /// Share of examples held out for validation AUC and early stopping.
    #[arg(long, default_value_t = difm::Params::default().validation, value_parser = crate::ui::fraction)]
    validation: f64,
    /// Epochs without a better validation AUC before stopping.
    #[arg(long, default_value_t = difm::Params::default().patience, value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    patience: usize,
}

/// The registry entry and the shared arguments of a `botify train` command.
fn spec(cmd: TrainCommand) -> (ModelSpec, Common) {
    match cmd {
        TrainCommand::Toppop(a) => (ModelSpec::Toppop, a.c),
        TrainCommand::I2i(a) => {
            let p = i2i::Params {
                mode: a.mode.0,
                k: a.c.k,
                threshold: a.c.threshold,
                window: a.window,
                min_count: a.min_count,
            };
            (ModelSpec::I2i(p), a.c)
        }
        TrainCommand::Ucf(a) => {
            let p = ucf::Params {
                neighbours: a.neighbours,
                k: a.c.k,
            };
            (ModelSpec::Ucf(p), a.c)
        }
        TrainCommand::Als(a) => {
            let p = als::Params {
                factors: a.factors,
                iterations: a.iterations,
                regularization: a.regularization,
                alpha: a.alpha,
                threshold: a.c.threshold,
                seed: a.c.seed,
                cg_steps: a.cg_steps,
            };
            (ModelSpec::Als(p), a.c)
        }
        TrainCommand::Mf(a) => {
            let params = mf::Params {
                loss: a.loss.0,
                factors: a.factors,
                epochs: a.epochs,
                learning_rate: a.lr,
                l2: a.l2,
                max_sampled: a.max_sampled,
                threshold: a.c.threshold,
                features: a.item_features.into_iter().map(|f| f.0).collect(),
                seed: a.c.seed,
                threads: a.threads,
            };
            let s = MfSpec {
                params,
                search: a.search,
            };
            (ModelSpec::Mf(s), a.c)
        }
        TrainCommand::Contextual(a) => {
            let p = contextual::Params {
                context: a.context.0,
                dim: a.dim,
                similarity: a.similarity.0,
                loss: a.loss.0,
                epochs: a.epochs,
                batch: a.batch,
                learning_rate: a.lr,
                validation: a.validation,
                patience: a.patience,
                min_count: a.min_count,
                seed: a.c.seed,
            };
            (ModelSpec::Contextual(p), a.c)
        }
        TrainCommand::Ease(a) => {
            let p = ease::Params {
                l2: a.l2,
                max_items: a.max_items,
                threshold: a.c.threshold,
            };
            (ModelSpec::Ease(p), a.c)
        }
        TrainCommand::Sasrec(a) => {
            let p = sasrec::Params {
                dim: a.dim,
                blocks: a.blocks,
                max_len: a.max_len,
                epochs: a.epochs,
                batch: a.batch,
                negatives: a.negatives,
                learning_rate: a.lr,
                min_count: a.min_count,
                threshold: a.c.threshold,
                seed: a.c.seed,
            };
            (ModelSpec::Sasrec(p), a.c)
        }
        TrainCommand::Lightgcn(a) => {
            let p = lightgcn::Params {
                dim: a.dim,
                layers: a.layers,
                epochs: a.epochs,
                batch: a.batch,
                learning_rate: a.lr,
                l2: a.l2,
                threshold: a.c.threshold,
                seed: a.c.seed,
            };
            (ModelSpec::Lightgcn(p), a.c)
        }
        TrainCommand::Ips(a) => {
            let p = ips::Params {
                factors: a.factors,
                iterations: a.iterations,
                regularization: a.regularization,
                alpha: a.alpha,
                max_weight: a.max_weight,
                threshold: a.c.threshold,
                seed: a.c.seed,
            };
            (ModelSpec::Ips(p), a.c)
        }
        TrainCommand::Item2vec(a) => {
            let p = item2vec::Params {
                dim: a.dim,
                window: a.window,
                negatives: a.negatives,
                epochs: a.epochs,
                learning_rate: a.lr,
                threshold: a.sentence_threshold,
                min_count: a.min_count,
                subsample: a.subsample,
                seed: a.c.seed,
            };
            (ModelSpec::Item2vec(p), a.c)
        }
        TrainCommand::Taste(a) => {
            let p = taste::Params {
                dim: a.dim,
                epochs: a.epochs,
                learning_rate: a.lr,
                l2: a.l2,
                min_count: a.min_count,
                seed: a.c.seed,
            };
            (ModelSpec::Taste(p), a.c)
        }
        TrainCommand::Dssm(a) => {
            let p = dssm::Params {
                dim: a.dim,
                epochs: a.epochs,
                batch: a.batch,
                learning_rate: a.lr,
                temperature: a.temperature,
                seed: a.c.seed,
                ..Default::default()
            };
            (ModelSpec::Dssm(p), a.c)
        }
        TrainCommand::Dpp(a) => {
            let params = dpp::Params {
                depth: a.depth,
                theta: a.theta,
                artist: a.artist,
                genre: a.genre,
            };
            let s = DppSpec {
                params,
                candidates: a.candidates,
            };
            (ModelSpec::Dpp(s), a.c)
        }
        TrainCommand::Difm(a) => {
            let d = difm::Params::default();
            let params = difm::Params {
                dim: a.dim,
                heads: a.heads,
                head_dim: a.head_dim,
                hidden: if a.hidden.is_empty() {
                    d.hidden
                } else {
                    a.hidden
                },
                components: a.components,
                positive: a.positive,
                negative: a.negative,
                epochs: a.epochs,
                batch: a.batch,
                learning_rate: a.lr,
                l2: a.l2,
                validation: a.validation,
                patience: a.patience,
                seed: a.c.seed,
                ..d
            };
            let s = DifmSpec {
                params,
                candidates: a.candidates,
            };
            (ModelSpec::Difm(s), a.c)
        }
    }
}

fn print_metrics(name: &str, m: &Metrics) {
    println!(
        "{name}: held-out queries {}, precision@{k} {:.4}, recall@{k} {:.4}, MRR {:.4}, NDCG@{k} {:.4}, coverage {:.3}",
        m.users,
        m.precision,
        m.recall,
        m.mrr,
        m.ndcg,
        m.coverage,
        k = m.k
    );
}

fn load_logs(c: &Common, holdout: f64) -> Result<Loaded> {
    let t = std::time::Instant::now();
    let l = load(&c.logs, c.catalog.as_deref(), holdout, c.seed)?;
    if l.stats.skipped > 0 {
        eprintln!(
            "skipped {} malformed log lines, e.g. {}",
            l.stats.skipped,
            l.stats
                .skipped_examples
                .first()
                .cloned()
                .unwrap_or_default()
        );
    }
    eprintln!(
        "read {} events from {} files in {:.2}s: {} train / {} held-out listens",
        l.stats.events,
        l.stats.files,
        t.elapsed().as_secs_f64(),
        l.train.listens.len(),
        l.test.listens.len()
    );
    Ok(l)
}

pub fn run(cmd: TrainCommand) -> Result<()> {
    let (spec, c) = spec(cmd);
    // Everything the flags say is checked before the logs are read.
    spec.validate()?;
    let settings = Settings {
        k: c.k,
        threshold: c.threshold,
        eval_k: c.eval_k,
    };
    settings.validate()?;
    if spec.needs_catalog() && c.catalog.is_none() {
        bail!(
            "{} needs --catalog: track metadata is one of its features",
            spec.name()
        );
    }
    // The contextual model holds out its own validation pairs.
    let holdout = if spec.uses_holdout() { c.holdout } else { 0.0 };
    let l = load_logs(&c, holdout)?;
    let data = TrainData::new(&l.train, &l.test, l.catalog.as_ref(), settings);
    let obs = ui::Term::new(true);
    let t = train(&spec, &data, &c.out, &obs)?;
    if t.steps > 0 {
        eprintln!(
            "training: {:.2}s in {} steps ({:.3} s each, {} threads)",
            t.training_seconds,
            t.steps,
            t.training_seconds / t.steps as f64,
            rayon::current_num_threads()
        );
    }
    if let Some(m) = &t.candidates_metrics {
        print_metrics("candidates as given", m);
    }
    if let Some(m) = &t.metrics {
        print_metrics(spec.name(), m);
    }
    if let Some(p) = &t.chosen {
        println!("best parameters: {p:?}");
    }
    println!("wrote {} to {}", t.written, c.out.display());
    for f in t.files.iter().skip(1) {
        println!("  and {}", f.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long, required = true, num_args = 1..)]
    logs: Vec<PathBuf>,
    /// Per-user list files ({"user", "tracks"}), per-track list files ({"track",
    /// "recommendations"}) or top-tracks arrays to compare.
    #[arg(long, required = true, num_args = 1..)]
    recs: Vec<PathBuf>,
    #[arg(long, default_value_t = Settings::default().eval_k, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    k: usize,
    /// The held-out fraction (the same split the trainers use).
    #[arg(long, default_value_t = DEFAULT_HOLDOUT, value_parser = crate::ui::fraction)]
    holdout: f64,
    #[arg(long, default_value_t = Settings::default().threshold)]
    threshold: f32,
    #[arg(long)]
    catalog: Option<PathBuf>,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    if a.k == 0 {
        bail!("--k must be at least 1");
    }
    if !(a.holdout > 0.0 && a.holdout < 1.0) {
        bail!(
            "--holdout {} must be in (0, 1): metrics need held-out listens",
            a.holdout
        );
    }
    let c = Common {
        logs: a.logs,
        catalog: a.catalog,
        out: PathBuf::new(),
        k: a.k,
        holdout: a.holdout,
        threshold: a.threshold,
        eval_k: a.k,
        seed: botify_lab::Plan::default().seed,
    };
    let l = load_logs(&c, a.holdout)?;
    let holdout = botify_lab::eval::Holdout::new(&l, a.threshold)?;
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "recommendations",
        "queries",
        format!("P@{}", a.k),
        format!("R@{}", a.k),
        "MRR",
        format!("NDCG@{}", a.k),
        "coverage"
    );
    for f in &a.recs {
        let m = holdout.evaluate_file(f, a.k)?;
        println!(
            "{:<40} {:>8} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.3}",
            f.display().to_string(),
            m.users,
            m.precision,
            m.recall,
            m.mrr,
            m.ndcg,
            m.coverage
        );
    }
    println!(
        "queries: held-out users with a liked listen; for per-track lists, held-out (track, liked next track) pairs, so R@{} is the next-track hit rate",
        a.k
    );
    Ok(())
}
