use anyhow::{Context, Result, bail};
use botify_core::Catalog;
use botify_core::events::read_events;
use botify_core::hash::FastMap;
use botify_core::{TrackId, UserId};
use botify_train::dataset::{Dataset, Split};
use botify_train::metrics::{Metrics, evaluate};
use botify_train::search::search_mf;
use botify_train::{als, i2i, mf, output, toppop, ucf};
use clap::{Args, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Instant;

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
    /// Neural contextual item-to-item model (per-track lists weighted by predicted listen time).
    Contextual(ContextualArgs),
    /// Two-tower DSSM (per-user lists).
    Dssm(DssmArgs),
    /// DIFM listen/skip classifier re-ranking per-user candidate lists (per-user lists).
    Difm(DifmArgs),
}

#[derive(Args)]
pub struct DifmArgs {
    #[command(flatten)]
    c: Common,
    /// Per-user candidate lists to re-rank, e.g. `botify train mf`'s output.
    #[arg(long)]
    candidates: PathBuf,
    /// Embedding size of every field.
    #[arg(long, default_value_t = 16)]
    dim: usize,
    /// Self-attention heads.
    #[arg(long, default_value_t = 2)]
    heads: usize,
    /// Size of each attention head.
    #[arg(long, default_value_t = 8)]
    head_dim: usize,
    /// Hidden layer sizes of the DNN part, e.g. 128,64.
    #[arg(long, value_delimiter = ',', default_values_t = [128, 64])]
    hidden: Vec<usize>,
    /// Principal components kept of the track metadata.
    #[arg(long, default_value_t = 150)]
    components: usize,
    /// Listens of at least this are positives …
    #[arg(long, default_value_t = 0.6)]
    positive: f32,
    /// … each paired with one of the same user's listens of at most this.
    #[arg(long, default_value_t = 0.3)]
    negative: f32,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    #[arg(long, default_value_t = 0.002)]
    lr: f32,
    /// L2 penalty on the embedding rows a batch uses.
    #[arg(long, default_value_t = 1e-4)]
    l2: f32,
    /// Share of examples held out for validation AUC and early stopping.
    #[arg(long, default_value_t = 0.1)]
    validation: f64,
    /// Epochs without a better validation AUC before stopping.
    #[arg(long, default_value_t = 2)]
    patience: usize,
}

#[derive(Args)]
pub struct DssmArgs {
    #[command(flatten)]
    c: Common,
    #[arg(long, default_value_t = 64)]
    dim: usize,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Pairs per batch; the other tracks of a batch are each pair's negatives.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    /// Softmax temperature over the towers' cosines.
    #[arg(long, default_value_t = 0.1)]
    temperature: f32,
}

#[derive(Args)]
pub struct ContextualArgs {
    #[command(flatten)]
    c: Common,
    /// Embedding size.
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// `dot`: element-wise product and a linear layer (the seminar's); `cosine` (the homework's).
    #[arg(long, value_enum, default_value_t = SimilarityArg::Dot)]
    similarity: SimilarityArg,
    #[arg(long, value_enum, default_value_t = ContextualLoss::Mse)]
    loss: ContextualLoss,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 4096)]
    batch: usize,
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    /// Share of (track → next track) pairs held out for validation and early stopping.
    #[arg(long, default_value_t = 0.1)]
    validation: f64,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, default_value_t = 2)]
    patience: usize,
    /// Tracks seen fewer times than this in the pairs get no list and are nobody's neighbour.
    #[arg(long, default_value_t = 3)]
    min_count: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum SimilarityArg {
    Dot,
    Cosine,
}

#[derive(Clone, Copy, ValueEnum)]
enum ContextualLoss {
    Mse,
    Mae,
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
    #[arg(long, default_value_t = 100)]
    pub k: usize,
    /// Hold out the last fraction of listens (by time) to report offline metrics; 0 trains on all.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Positive listens: time at least this (the course: 0.7).
    #[arg(long, default_value_t = 0.7)]
    pub threshold: f32,
    /// Metrics cut-off.
    #[arg(long, default_value_t = 10)]
    pub eval_k: usize,
    #[arg(long, default_value_t = 31337)]
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
    #[arg(long, value_enum, default_value_t = I2iMode::Session)]
    mode: I2iMode,
    /// Session mode: pair tracks at most this many positions apart.
    #[arg(long, default_value_t = 5)]
    window: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum I2iMode {
    Session,
    Next,
}

#[derive(Args)]
pub struct UcfArgs {
    #[command(flatten)]
    c: Common,
    #[arg(long, default_value_t = 50)]
    neighbours: usize,
}

#[derive(Args)]
pub struct MfArgs {
    #[command(flatten)]
    c: Common,
    #[arg(long, value_enum, default_value_t = LossArg::Warp)]
    loss: LossArg,
    #[arg(long, default_value_t = 64)]
    factors: usize,
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    #[arg(long, default_value_t = 1e-6)]
    l2: f32,
    #[arg(long, default_value_t = 50)]
    max_sampled: usize,
    /// Item features from the catalogue: artist, genre, pop, duration.
    #[arg(long, value_delimiter = ',')]
    item_features: Vec<String>,
    /// SGD threads (Hogwild-style when > 1; 1 is bit-reproducible). Default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Random hyper-parameter search with this many trials (needs --holdout > 0).
    #[arg(long, default_value_t = 0)]
    search: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum LossArg {
    Warp,
    Bpr,
}

#[derive(Args)]
pub struct AlsArgs {
    #[command(flatten)]
    c: Common,
    #[arg(long, default_value_t = 64)]
    factors: usize,
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    #[arg(long, default_value_t = 0.1)]
    regularization: f32,
    #[arg(long, default_value_t = 10.0)]
    alpha: f32,
    /// Conjugate-gradient steps per row and iteration; 0 = exact Cholesky solves.
    #[arg(long, default_value_t = 3)]
    cg_steps: usize,
}

/// Loaded logs: the catalogue (if given), and the train/test split.
pub struct Loaded {
    pub catalog: Option<Catalog>,
    pub train: Dataset,
    pub test: Dataset,
}

pub fn load(c: &Common) -> Result<Loaded> {
    if !(0.0..1.0).contains(&c.holdout) {
        bail!("--holdout {} is not in [0, 1)", c.holdout);
    }
    let t = Instant::now();
    let (events, stats) = read_events(&c.logs)?;
    if stats.skipped > 0 {
        eprintln!(
            "skipped {} malformed log lines, e.g. {}",
            stats.skipped,
            stats.skipped_examples.first().cloned().unwrap_or_default()
        );
    }
    let catalog = match &c.catalog {
        Some(p) => Some(Catalog::load(p)?),
        None => None,
    };
    let tracks = match &catalog {
        Some(c) => c.len(),
        None => events
            .iter()
            .map(|e| e.track as usize + 1)
            .max()
            .unwrap_or(0),
    };
    let d = Dataset::from_events(events, tracks)?;
    let (train, test) = d.split(Split::Time, c.holdout, c.seed);
    eprintln!(
        "read {} events from {} files in {:.2}s: {} train / {} held-out listens",
        stats.events,
        stats.files,
        t.elapsed().as_secs_f64(),
        train.listens.len(),
        test.listens.len()
    );
    Ok(Loaded {
        catalog,
        train,
        test,
    })
}

fn report(name: &str, m: &Metrics) {
    println!(
        "{name}: held-out users {}, precision@{k} {:.4}, recall@{k} {:.4}, MRR {:.4}, NDCG@{k} {:.4}, coverage {:.3}",
        m.users,
        m.precision,
        m.recall,
        m.mrr,
        m.ndcg,
        m.coverage,
        k = m.k
    );
}

/// Reports the lists' held-out metrics (when there is a holdout) and writes them to `--out`.
fn finish_user_lists(
    name: &str,
    l: &Loaded,
    c: &Common,
    lists: &FastMap<UserId, Vec<TrackId>>,
) -> Result<()> {
    if let Some(m) = held_out(l, c, lists) {
        report(name, &m);
    }
    output::write_user_lists(&c.out, lists)?;
    println!(
        "wrote lists of {} users to {}",
        lists.len(),
        c.out.display()
    );
    Ok(())
}

/// Metrics of per-user lists on the held-out positives (None without a holdout).
fn held_out(l: &Loaded, c: &Common, lists: &FastMap<UserId, Vec<TrackId>>) -> Option<Metrics> {
    (!l.test.listens.is_empty()).then(|| {
        evaluate(
            lists,
            &l.test.positives(c.threshold),
            c.eval_k,
            l.train.tracks,
        )
    })
}

pub fn run(cmd: TrainCommand) -> Result<()> {
    match cmd {
        TrainCommand::Toppop(a) => {
            let l = load(&a.c)?;
            let top = toppop::fit(&l.train, a.c.k);
            let heard = l.train.heard();
            let lists: FastMap<UserId, Vec<TrackId>> = l
                .test
                .users()
                .into_iter()
                .map(|u| {
                    (
                        u,
                        top.iter()
                            .copied()
                            .filter(|t| heard.get(&u).is_none_or(|h| !h.contains(t)))
                            .collect(),
                    )
                })
                .collect();
            if let Some(m) = held_out(&l, &a.c, &lists) {
                report("toppop", &m);
            }
            output::write_top(&a.c.out, &top)?;
            println!("wrote {} top tracks to {}", top.len(), a.c.out.display());
        }
        TrainCommand::I2i(a) => {
            let l = load(&a.c)?;
            let p = i2i::Params {
                mode: match a.mode {
                    I2iMode::Session => i2i::Mode::Session,
                    I2iMode::Next => i2i::Mode::Next,
                },
                k: a.c.k,
                threshold: a.c.threshold,
                window: a.window,
                min_count: 1,
            };
            let lists = i2i::fit(&l.train, &p);
            output::write_track_lists(&a.c.out, &lists)?;
            println!(
                "wrote neighbours of {} tracks to {}",
                lists.len(),
                a.c.out.display()
            );
        }
        TrainCommand::Ucf(a) => {
            let l = load(&a.c)?;
            let lists = ucf::fit(
                &l.train,
                &ucf::Params {
                    neighbours: a.neighbours,
                    k: a.c.k,
                },
                &l.train.heard(),
            );
            finish_user_lists("ucf", &l, &a.c, &lists)?;
        }
        TrainCommand::Als(a) => {
            let l = load(&a.c)?;
            let p = als::Params {
                factors: a.factors,
                iterations: a.iterations,
                regularization: a.regularization,
                alpha: a.alpha,
                threshold: a.c.threshold,
                seed: a.c.seed,
                cg_steps: a.cg_steps,
            };
            let heard = l.train.heard();
            let mut curve = Curve::new("iteration", format!("precision@{}", a.c.eval_k));
            let mut clock = Clock::start();
            let model = als::fit(&l.train, &p, |it, m| {
                let spent = clock.lap();
                let metric = if l.test.listens.is_empty() {
                    f64::NAN
                } else {
                    held_out(&l, &a.c, &m.recommend(&heard, a.c.eval_k))
                        .map_or(f64::NAN, |m| m.precision)
                };
                eprintln!(
                    "iteration {}: precision@{} {:.4} (training {spent:.2}s, evaluation {:.2}s)",
                    it + 1,
                    a.c.eval_k,
                    metric,
                    clock.resume()
                );
                curve.rows.push((it + 1, f64::NAN, f64::NAN, metric));
            });
            clock.report("iterations", rayon::current_num_threads());
            curve.write(&a.c.out)?;
            let lists = model.recommend(&heard, a.c.k);
            finish_user_lists("als", &l, &a.c, &lists)?;
        }
        TrainCommand::Mf(a) => train_mf(a)?,
        TrainCommand::Contextual(a) => train_contextual(a)?,
        TrainCommand::Dssm(a) => train_dssm(a)?,
        TrainCommand::Difm(a) => train_difm(a)?,
    }
    Ok(())
}

fn parse_features(names: &[String]) -> Result<Vec<mf::Feature>> {
    names
        .iter()
        .map(|n| match n.trim() {
            "artist" => Ok(mf::Feature::Artist),
            "genre" => Ok(mf::Feature::Genre),
            "pop" => Ok(mf::Feature::Pop),
            "duration" => Ok(mf::Feature::Duration),
            other => bail!("unknown item feature {other:?}: use artist, genre, pop, duration"),
        })
        .collect()
}

fn train_mf(a: MfArgs) -> Result<()> {
    let features = parse_features(&a.item_features)?;
    if !features.is_empty() && a.c.catalog.is_none() {
        bail!("--item-features need --catalog (the features come from tracks.json)");
    }
    let l = load(&a.c)?;
    let heard = l.train.heard();
    let mut params = mf::Params {
        loss: if a.loss == LossArg::Bpr {
            mf::Loss::Bpr
        } else {
            mf::Loss::Warp
        },
        factors: a.factors,
        epochs: a.epochs,
        learning_rate: a.lr,
        l2: a.l2,
        max_sampled: a.max_sampled,
        threshold: a.c.threshold,
        features,
        seed: a.c.seed,
        threads: a.threads.unwrap_or_else(rayon::current_num_threads),
    };
    if a.search > 0 {
        if l.test.listens.is_empty() {
            bail!("--search needs a holdout to score trials (--holdout > 0)");
        }
        params = search(&l, &a.c, &params, a.search)?;
        let path = with_suffix(&a.c.out, "params.json");
        std::fs::write(&path, serde_json::to_string_pretty(&params)?)?;
        println!("best parameters written to {}", path.display());
    }
    let mut curve = Curve::new("epoch", format!("precision@{}", a.c.eval_k));
    let mut clock = Clock::start();
    let scored = l.test.positives(a.c.threshold);
    let model = mf::fit(&l.train, l.catalog.as_ref(), &params, |e, m| {
        let spent = clock.lap();
        let lists = m.recommend_to(|u| scored.contains_key(&u), &heard, a.c.eval_k);
        let metric = held_out(&l, &a.c, &lists).map_or(f64::NAN, |m| m.precision);
        eprintln!(
            "epoch {}: loss {:.4}, precision@{} {:.4} (training {spent:.2}s, evaluation {:.2}s)",
            e.epoch + 1,
            e.loss,
            a.c.eval_k,
            metric,
            clock.resume()
        );
        curve.rows.push((e.epoch + 1, e.loss, f64::NAN, metric));
        true
    });
    clock.report("epochs", params.threads);
    curve.write(&a.c.out)?;
    let lists = model.recommend(&heard, a.c.k);
    finish_user_lists("mf", &l, &a.c, &lists)?;
    Ok(())
}

/// Pairs of consecutive listens of a session from all of the logs (the model holds out its own
/// validation pairs), the neural model, its curve, weights and per-track lists.
fn train_contextual(a: ContextualArgs) -> Result<()> {
    use botify_neural::contextual::{self, LossKind, Pair, Similarity};
    let c = Common {
        holdout: 0.0,
        ..a.c.clone()
    };
    let l = load(&c)?;
    let pairs: Vec<Pair> = l.train.next_pairs().map(Pair::from).collect();
    let p = contextual::Params {
        dim: a.dim,
        similarity: match a.similarity {
            SimilarityArg::Dot => Similarity::Dot,
            SimilarityArg::Cosine => Similarity::Cosine,
        },
        loss: match a.loss {
            ContextualLoss::Mse => LossKind::Mse,
            ContextualLoss::Mae => LossKind::Mae,
        },
        epochs: a.epochs,
        batch: a.batch,
        learning_rate: a.lr,
        validation: a.validation,
        patience: a.patience,
        min_count: a.min_count,
        seed: a.c.seed,
    };
    eprintln!("{} (track → next track) pairs", pairs.len());
    let mut curve = Curve::new("epoch", "hit rate@10".into());
    let mut clock = Clock::start();
    let model = contextual::fit(&pairs, track_groups(&l), &p, |e| {
        let spent = clock.lap();
        eprintln!(
            "epoch {}: loss {:.4}, validation loss {:.4}, hit rate@10 {:.4} (training and validation {spent:.2}s)",
            e.epoch + 1,
            e.train_loss,
            e.validation_loss,
            e.hit_rate
        );
        curve
            .rows
            .push((e.epoch + 1, e.train_loss, e.validation_loss, e.hit_rate));
        clock.resume();
    })?;
    let weights = save_neural(&clock, &curve, &a.c.out, |w| model.save(w))?;
    let lists = model.neighbours(a.c.k);
    output::write_track_lists(&a.c.out, &lists)?;
    println!(
        "wrote neighbours of {} tracks to {} (weights: predicted listen time); model: {}",
        lists.len(),
        a.c.out.display(),
        weights.display()
    );
    Ok(())
}

/// What the neural models sum a track's embedding from: with a catalogue, its artist's and
/// genre's rows besides its own.
fn track_groups(l: &Loaded) -> botify_neural::tables::Groups {
    match &l.catalog {
        Some(c) => botify_neural::tables::Groups::from_catalog(c),
        None => botify_neural::tables::Groups::none(l.train.tracks),
    }
}

/// DSSM on the liked (user, track) pairs of the training split; lists scored on the holdout.
fn train_dssm(a: DssmArgs) -> Result<()> {
    use botify_neural::dssm;
    let l = load(&a.c)?;
    let pairs = l.train.liked_pairs(a.c.threshold);
    let p = dssm::Params {
        dim: a.dim,
        epochs: a.epochs,
        batch: a.batch,
        learning_rate: a.lr,
        temperature: a.temperature,
        seed: a.c.seed,
        ..Default::default()
    };
    eprintln!("{} liked (user, track) pairs", pairs.len());
    let heard = l.train.heard();
    let scored = l.test.positives(a.c.threshold);
    let mut curve = Curve::new("epoch", format!("precision@{}", a.c.eval_k));
    let mut clock = Clock::start();
    let model = dssm::fit(&pairs, track_groups(&l), &p, |e, m| {
        let spent = clock.lap();
        let lists = m.recommend_to(|u| scored.contains_key(&u), &heard, a.c.eval_k);
        let metric =
            held_out(&l, &a.c, &lists.into_iter().collect()).map_or(f64::NAN, |m| m.precision);
        eprintln!(
            "epoch {}: loss {:.4}, validation loss {:.4}, precision@{} {:.4} (training {spent:.2}s, evaluation {:.2}s)",
            e.epoch + 1,
            e.train_loss,
            e.validation_loss,
            a.c.eval_k,
            metric,
            clock.resume()
        );
        curve
            .rows
            .push((e.epoch + 1, e.train_loss, e.validation_loss, metric));
    })?;
    let weights = save_neural(&clock, &curve, &a.c.out, |w| model.save(w))?;
    let lists: FastMap<UserId, Vec<TrackId>> = model.recommend(&heard, a.c.k).into_iter().collect();
    finish_user_lists("dssm", &l, &a.c, &lists)?;
    println!("model: {}", weights.display());
    Ok(())
}

/// DIFM on the hard-negative examples of the training split, then the candidates re-ranked;
/// with a holdout, the candidates' metrics as given and re-ranked are printed side by side.
fn train_difm(a: DifmArgs) -> Result<()> {
    use botify_neural::difm;
    if a.c.catalog.is_none() {
        bail!("difm needs --catalog: track metadata is one of its features");
    }
    let p = difm::Params {
        dim: a.dim,
        heads: a.heads,
        head_dim: a.head_dim,
        hidden: a.hidden,
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
        ..Default::default()
    };
    p.validate()?;
    let l = load(&a.c)?;
    let catalog = l.catalog.as_ref().context("catalogue")?;
    let candidates = candidate_lists(&a.candidates, l.train.tracks)?;
    let t = Instant::now();
    let features = difm::TrackFeatures::from_catalog(catalog, p.components, p.seed);
    eprintln!(
        "track metadata: {} components keep {:.1}% of the variance ({:.2}s)",
        features.components,
        100.0 * features.explained,
        t.elapsed().as_secs_f64()
    );
    let listens = l.train.listen_times();
    let mut curve = Curve::new("epoch", "AUC".into());
    let mut clock = Clock::start();
    let model = difm::fit(&listens, features, &p, |e| {
        let spent = clock.lap();
        if e.epoch == 0 {
            eprintln!(
                "{} examples: listens ≥ {}, each with a skip ≤ {} of the same user",
                e.examples, p.positive, p.negative
            );
        }
        eprintln!(
            "epoch {}: loss {:.4}, validation loss {:.4}, AUC train {:.4} / validation {:.4} ({spent:.2}s)",
            e.epoch + 1,
            e.train_loss,
            e.validation_loss,
            e.train_auc,
            e.validation_auc
        );
        curve.push_auc(e);
        clock.resume();
    })?;
    let weights = save_neural(&clock, &curve, &a.c.out, |w| model.save(w))?;
    let t = Instant::now();
    let ranked = model.rank(&candidates, a.c.k)?;
    eprintln!(
        "re-ranked the candidates of {} users in {:.2}s",
        ranked.len(),
        t.elapsed().as_secs_f64()
    );
    let given: FastMap<UserId, Vec<TrackId>> = candidates.into_iter().collect();
    if let Some(m) = held_out(&l, &a.c, &given) {
        report("candidates as given", &m);
    }
    finish_user_lists("difm", &l, &a.c, &ranked.into_iter().collect())?;
    println!("model: {}", weights.display());
    Ok(())
}

/// After a neural model's last epoch: reports the training time, writes the learning curve and
/// the weights (`<out stem>.model.safetensors`); returns the weights' path.
fn save_neural(
    clock: &Clock,
    curve: &Curve,
    out: &Path,
    save: impl FnOnce(&Path) -> botify_neural::Result<()>,
) -> Result<PathBuf> {
    clock.report("epochs", rayon::current_num_threads());
    curve.write(out)?;
    let weights = with_suffix(out, "model.safetensors");
    save(&weights)?;
    Ok(weights)
}

/// A per-user list file as (user, list) pairs by user, for a re-ranker.
pub(crate) fn candidate_lists(path: &Path, tracks: usize) -> Result<Vec<(UserId, Vec<TrackId>)>> {
    let lists = botify_recs::data::UserLists::load(path, tracks)?;
    let mut out: Vec<(UserId, Vec<TrackId>)> = lists.iter().map(|(u, l)| (u, l.to_vec())).collect();
    out.sort_unstable_by_key(|c| c.0);
    Ok(out)
}

/// Splits wall time into training and the per-step evaluation, so benchmarks can quote training
/// alone (`training: … s/epoch`).
struct Clock {
    training: f64,
    steps: usize,
    since: Instant,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            training: 0.0,
            steps: 0,
            since: Instant::now(),
        }
    }

    /// Ends a training step (epoch, iteration); returns its seconds.
    fn lap(&mut self) -> f64 {
        let s = self.since.elapsed().as_secs_f64();
        self.training += s;
        self.steps += 1;
        self.since = Instant::now();
        s
    }

    /// Ends the evaluation after a step; returns its seconds.
    fn resume(&mut self) -> f64 {
        let s = self.since.elapsed().as_secs_f64();
        self.since = Instant::now();
        s
    }

    fn report(&self, unit: &str, threads: usize) {
        eprintln!(
            "training: {:.2}s in {} {unit} ({:.3} s each, {threads} threads)",
            self.training,
            self.steps,
            self.training / self.steps.max(1) as f64
        );
    }
}

/// Seeded random search (see `botify_train::search`), printing each trial.
fn search(l: &Loaded, c: &Common, base: &mf::Params, trials: usize) -> Result<mf::Params> {
    let best = search_mf(&l.train, &l.test, l.catalog.as_ref(), base, trials, c.eval_k, |t| {
        let p = &t.params;
        eprintln!(
            "trial {}/{}: {:?} factors {} lr {:.4} l2 {:.1e} max_sampled {} → precision@{} {:.4} at epoch {}",
            t.index + 1,
            trials,
            p.loss,
            p.factors,
            p.learning_rate,
            p.l2,
            p.max_sampled,
            c.eval_k,
            t.precision,
            p.epochs
        );
    })
    .context("no trial ran")?;
    println!(
        "best trial: precision@{} {:.4} with {:?}",
        c.eval_k, best.precision, best.params
    );
    Ok(best.params)
}

fn with_suffix(out: &Path, suffix: &str) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    out.with_file_name(format!("{stem}.{suffix}"))
}

/// A learning curve: per step (epoch, iteration), the training loss, the validation loss and a
/// held-out metric; NaN marks what was not measured (no loss for ALS, no metric without a
/// holdout). Written as CSV, PNG and HTML next to the model's output.
pub(crate) struct Curve {
    pub step: &'static str,
    /// The metric's name, e.g. `precision@10`.
    pub metric: String,
    pub rows: Vec<(usize, f64, f64, f64)>,
    /// The metric on training data, per row, where a model measures it (DIFM's AUC).
    pub train_metric: Vec<f64>,
}

impl Curve {
    pub fn new(step: &'static str, metric: String) -> Curve {
        Curve {
            step,
            metric,
            rows: Vec::new(),
            train_metric: Vec::new(),
        }
    }

    /// A DIFM epoch: the losses, validation AUC as the metric and training AUC beside it.
    pub fn push_auc(&mut self, e: &botify_neural::difm::Epoch) {
        let row = (
            e.epoch + 1,
            e.train_loss,
            e.validation_loss,
            e.validation_auc,
        );
        self.rows.push(row);
        self.train_metric.push(e.train_auc);
    }

    /// Writes `<out stem>.curve.csv`, `.curve.png` and `.curve.html`.
    pub fn write(&self, out: &Path) -> Result<()> {
        let metric_column = self.metric.replace('@', "_at_").replace(' ', "_");
        let trained = !self.train_metric.is_empty();
        let train_column = if trained {
            format!(",train_{metric_column}")
        } else {
            String::new()
        };
        let mut csv = format!(
            "{},loss,validation_loss{train_column},{metric_column}\n",
            self.step
        );
        for (i, (e, loss, val, m)) in self.rows.iter().enumerate() {
            let train = match self.train_metric.get(i) {
                Some(t) => format!(",{t}"),
                None if trained => ",NaN".into(),
                None => String::new(),
            };
            csv.push_str(&format!("{e},{loss},{val}{train},{m}\n"));
        }
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(with_suffix(out, "curve.csv"), csv)?;
        use botify_ab::chart::Series;
        let series = |label: &str, value: fn(&(usize, f64, f64, f64)) -> f64| Series {
            label: label.to_string(),
            points: self
                .rows
                .iter()
                .filter(|c| value(c).is_finite())
                .map(|c| (c.0 as f64, value(c)))
                .collect(),
        };
        let losses: Vec<Series> = [series("training", |c| c.1), series("validation", |c| c.2)]
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect();
        let training = Series {
            label: "training".into(),
            points: self
                .rows
                .iter()
                .zip(&self.train_metric)
                .filter(|(_, t)| t.is_finite())
                .map(|(c, &t)| (c.0 as f64, t))
                .collect(),
        };
        let held_out = series(if trained { "validation" } else { &self.metric }, |c| c.3);
        let metric: Vec<Series> = [training, held_out]
            .into_iter()
            .filter(|s| !s.points.is_empty())
            .collect();
        let metric_title = if trained {
            self.metric.clone()
        } else {
            format!("held-out {}", self.metric)
        };
        let mut charts: Vec<(&str, &str, &[Series])> = Vec::new();
        if !losses.is_empty() {
            charts.push(("loss", self.step, &losses));
        }
        if !metric.is_empty() {
            charts.push((&metric_title, self.step, &metric));
        }
        std::fs::write(
            with_suffix(out, "curve.png"),
            botify_ab::png::stacked(&charts),
        )?;
        let charts: String = charts
            .iter()
            .map(|(title, x, s)| botify_ab::svg::lines(title, x, s))
            .collect();
        let html = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>learning curve</title></head><body>{charts}</body></html>\n"
        );
        std::fs::write(with_suffix(out, "curve.html"), html)?;
        Ok(())
    }
}

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long, required = true, num_args = 1..)]
    logs: Vec<PathBuf>,
    /// Per-user list files ({"user", "tracks"}) or top-tracks arrays to compare.
    #[arg(long, required = true, num_args = 1..)]
    recs: Vec<PathBuf>,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// The held-out fraction (the same split the trainers use).
    #[arg(long, default_value_t = 0.2)]
    holdout: f64,
    #[arg(long, default_value_t = 0.7)]
    threshold: f32,
    #[arg(long)]
    catalog: Option<PathBuf>,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    if a.holdout <= 0.0 {
        bail!("--holdout must be > 0: metrics need held-out listens");
    }
    let c = Common {
        logs: a.logs,
        catalog: a.catalog,
        out: PathBuf::new(),
        k: a.k,
        holdout: a.holdout,
        threshold: a.threshold,
        eval_k: a.k,
        seed: 0,
    };
    let l = load(&c)?;
    let pos = l.test.positives(a.threshold);
    let heard = l.train.heard();
    println!(
        "{:<40} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "recommendations",
        "users",
        format!("P@{}", a.k),
        format!("R@{}", a.k),
        "MRR",
        format!("NDCG@{}", a.k),
        "coverage"
    );
    for f in &a.recs {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let lists: FastMap<UserId, Vec<TrackId>> = if text.trim_start().starts_with('[') {
            let top = botify_recs::data::load_top_tracks(f, l.train.tracks)?;
            pos.keys()
                .map(|&u| {
                    (
                        u,
                        top.iter()
                            .copied()
                            .filter(|t| heard.get(&u).is_none_or(|h| !h.contains(t)))
                            .collect(),
                    )
                })
                .collect()
        } else {
            let mut m = FastMap::default();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let r: botify_recs::data::UserList = serde_json::from_str(line)
                    .with_context(|| format!("{}:{}: not a per-user list", f.display(), i + 1))?;
                m.insert(r.user, r.tracks);
            }
            m
        };
        let m = evaluate(&lists, &pos, a.k, l.train.tracks);
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
    Ok(())
}
