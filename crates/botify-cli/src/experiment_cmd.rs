//! `botify experiment run`: one turn of the whole loop — world, a day of traffic, training,
//! deployment by hot reload, an A/B day against StickyArtist, analysis and reports.

use crate::ui;
use anyhow::{Context, Result, bail};
use botify_ab::report::{AbOptions, analyse};
use botify_core::World;
use botify_core::eventlog::{LogWriter, Rotation};
use botify_core::events::read_events;
use botify_core::generate::{WorldParams, generate};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::http::{Remote, admin_reload};
use botify_sim::runner::{Agent, SimParams, Simulator};
use botify_train::dataset::{Dataset, Split};
use botify_train::search::search_mf;
use botify_train::{als, i2i, mf, output, toppop, ucf};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Subcommand)]
pub enum ExperimentCommand {
    /// Run a plan (the built-in default when no file is given).
    Run(RunArgs),
    /// Print the built-in default plan (a starting point for your own).
    Default,
}

#[derive(Args)]
pub struct RunArgs {
    /// Plan file (TOML); default: the built-in plan.
    plan: Option<PathBuf>,
    /// Skip HTTP: simulate against the recommenders in-process (reproducible to the bit).
    #[arg(long)]
    in_process: bool,
    /// Keep the service's user history in Redis instead of in-process.
    #[arg(long, conflicts_with = "in_process")]
    redis: Option<String>,
    /// Run directory (default runs/<plan name>-<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Plan {
    pub name: String,
    pub seed: u64,
    pub world: WorldPlan,
    pub day1: Day1,
    pub train: TrainPlan,
    pub ab: AbPlan,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldPlan {
    /// A directory of world files (e.g. the course's); otherwise one is generated.
    pub dir: Option<PathBuf>,
    pub tracks: usize,
    pub users: usize,
    pub dim: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Day1 {
    pub episodes: usize,
    /// Cold-start traffic: users split evenly between these.
    pub recommenders: Vec<RecommenderSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Toppop,
    I2i,
    Ucf,
    Als,
    Mf,
    /// MF with item features (`train.mf_features`), tuned by `train.mf_search` trials.
    MfFeatures,
    /// The neural contextual item-to-item model (`train.contextual`).
    Contextual,
    /// The two-tower DSSM (`train.dssm`).
    Dssm,
    /// DIFM re-ranking MF's lists (`train.difm`; needs `mf` earlier in `models`).
    Difm,
}

impl Model {
    /// Where the model's recommendations go, relative to the run directory.
    fn file(self) -> &'static str {
        match self {
            Model::Toppop => "models/top_tracks.json",
            Model::I2i => "models/i2i.jsonl",
            Model::Ucf => "models/ucf.jsonl",
            Model::Als => "models/als.jsonl",
            Model::Mf => "models/mf.jsonl",
            Model::MfFeatures => "models/mf_features.jsonl",
            Model::Contextual => "models/i2i_nn.jsonl",
            Model::Dssm => "models/dssm.jsonl",
            Model::Difm => "models/difm.jsonl",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainPlan {
    pub models: Vec<Model>,
    /// Tracks per list.
    pub k: usize,
    pub threshold: f32,
    pub factors: usize,
    pub als_iterations: usize,
    pub mf_epochs: usize,
    /// Item features of `mf_features` (artist, genre, pop, duration).
    pub mf_features: Vec<mf::Feature>,
    /// Random-search trials for `mf_features` (0: the default parameters), scored on the last
    /// 20% of day 1; the best is then trained on all of it.
    pub mf_search: usize,
    /// The contextual model's parameters (dim, similarity, loss, epochs, …).
    pub contextual: botify_neural::contextual::Params,
    /// The DSSM's parameters (dim, epochs, batch, temperature, …).
    pub dssm: botify_neural::dssm::Params,
    /// DIFM's parameters (dim, heads, hidden, components, positive, negative, …).
    pub difm: botify_neural::difm::Params,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbPlan {
    pub days: u32,
    pub episodes: usize,
    pub control: RecommenderSpec,
    /// T1, T2, … in order. Data files are relative to the run directory (`models/als.jsonl`).
    pub treatments: Vec<RecommenderSpec>,
    pub confidence: f64,
}

fn sticky() -> RecommenderSpec {
    RecommenderSpec::StickyArtist { fallback: None }
}

fn with_sticky(f: impl FnOnce(Option<Box<RecommenderSpec>>) -> RecommenderSpec) -> RecommenderSpec {
    f(Some(Box::new(sticky())))
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            name: "default".into(),
            seed: 31337,
            world: WorldPlan::default(),
            day1: Day1::default(),
            train: TrainPlan::default(),
            ab: AbPlan::default(),
        }
    }
}
impl Default for WorldPlan {
    fn default() -> Self {
        let d = WorldParams::default();
        WorldPlan {
            dir: None,
            tracks: d.tracks,
            users: d.users,
            dim: d.dim,
        }
    }
}
impl Default for Day1 {
    fn default() -> Self {
        Day1 {
            episodes: 60_000,
            recommenders: vec![RecommenderSpec::Random, sticky()],
        }
    }
}
impl Default for TrainPlan {
    fn default() -> Self {
        TrainPlan {
            models: vec![
                Model::Toppop,
                Model::I2i,
                Model::Ucf,
                Model::Als,
                Model::Mf,
                Model::Contextual,
            ],
            k: 100,
            threshold: 0.7,
            factors: 64,
            als_iterations: 8,
            mf_epochs: 10,
            mf_features: vec![
                mf::Feature::Artist,
                mf::Feature::Genre,
                mf::Feature::Pop,
                mf::Feature::Duration,
            ],
            mf_search: 0,
            contextual: botify_neural::contextual::Params::default(),
            dssm: botify_neural::dssm::Params::default(),
            difm: botify_neural::difm::Params::default(),
        }
    }
}
impl Default for AbPlan {
    fn default() -> Self {
        AbPlan {
            days: 1,
            episodes: 40_000,
            control: sticky(),
            treatments: vec![
                with_sticky(|fallback| RecommenderSpec::HistoryI2i {
                    file: "models/i2i.jsonl".into(),
                    anchors: 10,
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Sequential {
                    file: "models/ucf.jsonl".into(),
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Sequential {
                    file: "models/als.jsonl".into(),
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Indexed {
                    file: "models/als.jsonl".into(),
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Sequential {
                    file: "models/mf.jsonl".into(),
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::TopPop {
                    file: "models/top_tracks.json".into(),
                    k: 100,
                    fallback,
                }),
                with_sticky(|fallback| RecommenderSpec::Contextual {
                    file: "models/i2i_nn.jsonl".into(),
                    fallback,
                }),
            ],
            confidence: 0.95,
        }
    }
}

impl Plan {
    /// Everything that can be checked before anything runs; errors name the field.
    fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains('/') {
            bail!("name: {:?} must be non-empty and contain no '/'", self.name);
        }
        if self.world.dir.is_none() {
            WorldParams {
                tracks: self.world.tracks,
                users: self.world.users,
                dim: self.world.dim,
                ..WorldParams::default()
            }
            .validate()
            .context("world")?;
        }
        if self.day1.episodes == 0
            || self.day1.recommenders.is_empty()
            || self.day1.recommenders.len() > 10
        {
            bail!("day1: needs episodes > 0 and 1 to 10 recommenders");
        }
        if self.ab.episodes == 0 || self.ab.days == 0 {
            bail!("ab: episodes and days must be at least 1");
        }
        if self.ab.treatments.is_empty() || self.ab.treatments.len() > 9 {
            bail!(
                "ab.treatments: between 1 and 9 treatments (with the control, at most 10 buckets)"
            );
        }
        if !(self.ab.confidence > 0.0 && self.ab.confidence < 1.0) {
            bail!("ab.confidence: {} is not in (0, 1)", self.ab.confidence);
        }
        if self.train.k == 0 || self.train.factors == 0 {
            bail!("train: k and factors must be at least 1");
        }
        let models = &self.train.models;
        if models.contains(&Model::Contextual) {
            self.train
                .contextual
                .validate()
                .context("train.contextual")?;
        }
        if models.contains(&Model::Dssm) {
            self.train.dssm.validate().context("train.dssm")?;
        }
        if let Some(at) = models.iter().position(|m| *m == Model::Difm) {
            self.train.difm.validate().context("train.difm")?;
            if !models[..at].contains(&Model::Mf) {
                bail!("train.models: difm re-ranks mf's lists, so mf must come before difm");
            }
        }
        let produced: Vec<&str> = self.train.models.iter().map(|m| m.file()).collect();
        for (i, spec) in std::iter::once(&self.ab.control)
            .chain(&self.ab.treatments)
            .enumerate()
        {
            for f in spec.files() {
                let rel = f.to_string_lossy();
                if f.is_relative() && !produced.contains(&rel.as_ref()) {
                    let what = if i == 0 {
                        "ab.control".to_string()
                    } else {
                        format!("ab.treatments[{}]", i - 1)
                    };
                    bail!(
                        "{what}: file {rel:?} is not produced by train.models {:?} (outputs: {})",
                        self.train.models,
                        produced.join(", ")
                    );
                }
                if f.is_absolute() && !f.exists() {
                    bail!("ab: data file {} does not exist", f.display());
                }
            }
        }
        Ok(())
    }
}

/// One experiment with a treatment per spec (C, T1, …), data paths relative to the run directory.
fn split_config(name: &str, specs: &[RecommenderSpec], run: &Path) -> ExperimentsConfig {
    let mut cfg = ExperimentsConfig::split(name, specs.to_vec());
    cfg.resolve_paths(run);
    cfg
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// First Ctrl-C: finish the current stage, stop the service, keep what was made. Second: exit now.
fn watch_ctrl_c() {
    let _ = std::thread::Builder::new().name("ctrl-c".into()).spawn(|| {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            while tokio::signal::ctrl_c().await.is_ok() {
                if INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    eprintln!("\ninterrupted again: exiting now");
                    std::process::exit(130);
                }
                eprintln!(
                    "\ninterrupted: stopping after the current stage (Ctrl-C again to exit now)"
                );
            }
        });
    });
}

fn stage<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        bail!("interrupted before stage '{name}'; partial results are kept");
    }
    let t = Instant::now();
    eprintln!("{} {name}", ui::paint("==>", "1;34"));
    let r = f().with_context(|| format!("stage '{name}' failed"))?;
    eprintln!("    {name}: done in {:.1}s", t.elapsed().as_secs_f64());
    Ok(r)
}

pub fn run(cmd: ExperimentCommand) -> Result<()> {
    match cmd {
        ExperimentCommand::Default => {
            print!("{}", toml::to_string_pretty(&Plan::default())?);
            Ok(())
        }
        ExperimentCommand::Run(a) => run_plan(a),
    }
}

/// The running service of an HTTP experiment.
struct Service {
    runtime: tokio::runtime::Runtime,
    remote: Remote,
    token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<botify_server::Result<botify_server::ServeReport>>>,
}

impl Service {
    fn start(
        run: &Path,
        catalog: PathBuf,
        experiments: PathBuf,
        redis: Option<String>,
    ) -> Result<Service> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let token = format!(
            "{:016x}",
            botify_core::rng::mix64(std::process::id() as u64 ^ now_nanos())
        );
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let cfg = botify_server::ServerConfig {
            catalog,
            experiments: Some(experiments),
            log_dir: run.join("log"),
            rotation: Rotation::default(),
            redis,
            admin_token: Some(token.clone()),
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = runtime.spawn(botify_server::serve(cfg, listener, async move {
            let _ = rx.await;
        }));
        let remote = Remote::parse(&format!("http://{addr}"))?;
        // Wait until it answers (or failed to start).
        for _ in 0..500 {
            if handle.is_finished() {
                let r = runtime.block_on(handle)?;
                r.context("the service did not start")?;
                bail!("the service stopped right after starting");
            }
            if std::net::TcpStream::connect(addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        eprintln!("    service on http://{addr} (embedded state unless --redis)");
        Ok(Service {
            runtime,
            remote,
            token,
            stop: Some(tx),
            handle: Some(handle),
        })
    }

    fn stop(&mut self) -> Result<botify_server::ServeReport> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let handle = self
            .handle
            .take()
            .context("the service was already stopped")?;
        Ok(self.runtime.block_on(handle)??)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.stop();
        }
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Runs one day; returns the number of requests made (recommendations + `last` calls).
fn simulate_day(
    sim: &mut Simulator,
    agent: Agent,
    service: Option<&Service>,
    p: &SimParams,
    log: Option<&LogWriter>,
    label: &str,
) -> Result<u64> {
    let pb = ui::progress(p.episodes as u64, label);
    let eps = match service {
        Some(s) => sim.run_day_remote(&s.remote, p, 64, 1, &|n| pb.inc(n))?,
        None => {
            let sender = log.map(|l| l.sender());
            sim.run_day(&agent, p, sender.as_ref(), &|n| pb.inc(n))?
        }
    };
    pb.finish_and_clear();
    let steps: u64 = eps.iter().map(|e| u64::from(e.steps)).sum();
    eprintln!("    {} sessions, {} recommendations", eps.len(), steps);
    Ok(steps + eps.len() as u64)
}

/// Waits until the service's log holds `lines` lines (the writer flushes when idle).
fn wait_for_log(dir: &Path, lines: u64) -> Result<()> {
    for _ in 0..500 {
        let mut n = 0u64;
        for f in botify_core::events::log_files(&[dir.to_path_buf()]).unwrap_or_default() {
            n += std::fs::read(&f)
                .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
                .unwrap_or(0);
        }
        if n >= lines {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    bail!("the service's event log did not reach {lines} lines")
}

fn run_plan(a: RunArgs) -> Result<()> {
    let t0 = Instant::now();
    let plan: Plan = match &a.plan {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading plan {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{}: bad plan", p.display()))?
        }
        None => Plan::default(),
    };
    plan.validate()
        .context("the plan is invalid; nothing was run")?;
    watch_ctrl_c();
    let run = match &a.out {
        Some(o) => o.clone(),
        None => {
            PathBuf::from("runs").join(format!("{}-{}", plan.name, now_nanos() / 1_000_000_000))
        }
    };
    // A run never mixes with an earlier one (logs would append to its log).
    if std::fs::read_dir(&run).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} already holds files (an earlier run?); choose another --out or remove it",
            run.display()
        );
    }
    std::fs::create_dir_all(&run).with_context(|| format!("creating {}", run.display()))?;
    let run = run.canonicalize()?;
    std::fs::write(run.join("plan.toml"), toml::to_string_pretty(&plan)?)?;
    eprintln!("run directory {}", run.display());
    let mode = if a.in_process { "in-process" } else { "HTTP" };

    let (world_dir, world) = stage("world", || {
        let dir = match &plan.world.dir {
            Some(d) => d.clone(),
            None => {
                let p = WorldParams {
                    tracks: plan.world.tracks,
                    users: plan.world.users,
                    dim: plan.world.dim,
                    seed: plan.seed,
                    ..WorldParams::default()
                };
                let w = generate(&p)?;
                let dir = run.join("world");
                w.write(&dir)?;
                eprintln!(
                    "    generated {} tracks, {} users (seed {})",
                    w.catalog.len(),
                    w.users.len(),
                    plan.seed
                );
                dir
            }
        };
        let world =
            World::load(&dir).with_context(|| format!("loading world {}", dir.display()))?;
        Ok((dir, world))
    })?;
    let catalog = Arc::new(world.catalog.clone());
    let mut sim = Simulator::new(&world, botify_recs::experiments::DEFAULT_HISTORY)?;
    let experiments_file = run.join("experiments.toml");
    let day1_cfg = split_config("DAY1", &plan.day1.recommenders, &run);
    std::fs::write(&experiments_file, toml::to_string_pretty(&day1_cfg)?)?;

    let mut service = if a.in_process {
        None
    } else {
        Some(stage("service", || {
            Service::start(
                &run,
                world_dir.join("tracks.json"),
                experiments_file.clone(),
                a.redis.clone(),
            )
        })?)
    };
    let day1_log_dir = if a.in_process {
        run.join("logs/day1")
    } else {
        run.join("log")
    };
    stage(&format!("day 1: cold-start traffic ({mode})"), || {
        let router = Router::build(day1_cfg.clone(), catalog.clone())?;
        let log = if a.in_process {
            Some(LogWriter::open(&day1_log_dir, Rotation::default())?)
        } else {
            None
        };
        let p = SimParams {
            episodes: plan.day1.episodes,
            seed: plan.seed,
            day: 0,
            max_steps: 1000,
        };
        let requests = simulate_day(
            &mut sim,
            Agent::Router(&router),
            service.as_ref(),
            &p,
            log.as_ref(),
            "day 1",
        )?;
        match log {
            Some(l) => {
                l.close()?;
            }
            // Every answered request must be on disk before training reads the log.
            None => wait_for_log(&day1_log_dir, requests)?,
        }
        Ok(())
    })?;

    stage("train", || train(&plan, &day1_log_dir, &world, &run))?;

    let ab_cfg = split_config(
        "AB",
        &std::iter::once(plan.ab.control.clone())
            .chain(plan.ab.treatments.iter().cloned())
            .collect::<Vec<_>>(),
        &run,
    );
    std::fs::write(&experiments_file, toml::to_string_pretty(&ab_cfg)?)?;
    let ab_log_dir = if a.in_process {
        run.join("logs/ab")
    } else {
        run.join("log")
    };
    stage(&format!("deploy and A/B ({mode})"), || {
        let router = Router::build(ab_cfg.clone(), catalog.clone())
            .context("building the A/B recommenders")?;
        if let Some(s) = &service {
            let msg = admin_reload(&s.remote, &s.token)?;
            eprintln!("    hot reload: {msg}");
        }
        let log = if a.in_process {
            Some(LogWriter::open(&ab_log_dir, Rotation::default())?)
        } else {
            None
        };
        for d in 0..plan.ab.days {
            let p = SimParams {
                episodes: plan.ab.episodes,
                seed: plan.seed,
                day: 1 + d,
                max_steps: 1000,
            };
            simulate_day(
                &mut sim,
                Agent::Router(&router),
                service.as_ref(),
                &p,
                log.as_ref(),
                &format!("A/B day {}", d + 1),
            )?;
        }
        if let Some(l) = log {
            l.close()?;
        }
        Ok(())
    })?;
    if let Some(s) = service.as_mut() {
        let r = stage("stop service", || s.stop())?;
        eprintln!(
            "    {} requests answered, {} log lines written",
            r.answered, r.log_lines
        );
    }

    let report = stage("analysis", || {
        let mut o = AbOptions::new("AB", vec![ab_log_dir.clone()]);
        o.confidence = plan.ab.confidence;
        o.buckets = Some(plan.ab.treatments.len() as u32 + 1);
        let r = analyse(&o)?;
        std::fs::write(run.join("report.md"), r.to_markdown())?;
        std::fs::write(run.join("report.html"), r.to_html())?;
        let results = serde_json::json!({
            "plan": plan.name,
            "seed": plan.seed,
            "mode": mode,
            "treatments": std::iter::once(&plan.ab.control).chain(&plan.ab.treatments).collect::<Vec<_>>(),
            "users": r.treatments,
            "srm": r.srm,
            "rows": r.rows,
        });
        std::fs::write(
            run.join("results.json"),
            serde_json::to_string_pretty(&results)? + "\n",
        )?;
        Ok(r)
    })?;
    println!();
    for (i, s) in std::iter::once(&plan.ab.control)
        .chain(&plan.ab.treatments)
        .enumerate()
    {
        println!(
            "  {:<3} {}",
            botify_core::murmur::treatment_name(i as u32),
            serde_json::to_string(s)?
        );
    }
    println!();
    crate::ab_cmd::print_table(&report);
    println!(
        "\nrun {} finished in {:.0}s; report: {}",
        plan.name,
        t0.elapsed().as_secs_f64(),
        run.join("report.html").display()
    );
    Ok(())
}

/// Fits MF with a progress bar and writes its training-loss curve next to `out`.
fn fit_mf(d: &Dataset, world: &World, p: &mf::Params, out: &Path) -> Result<mf::Model> {
    let pb = ui::progress(p.epochs as u64, "mf epochs");
    let mut curve = crate::train_cmd::Curve::new("epoch", "precision@10".into());
    let model = mf::fit(d, Some(&world.catalog), p, |e, _| {
        pb.inc(1);
        curve.rows.push((e.epoch + 1, e.loss, f64::NAN, f64::NAN));
        true
    });
    pb.finish_and_clear();
    curve.write(out)?;
    Ok(model)
}

fn train(plan: &Plan, logs: &Path, world: &World, run: &Path) -> Result<()> {
    let (events, stats) = read_events(&[logs.to_path_buf()])?;
    let events: Vec<_> = events
        .into_iter()
        .filter(|e| e.experiments.contains_key("DAY1"))
        .collect();
    eprintln!(
        "    {} day-1 events from {} files",
        events.len(),
        stats.files
    );
    let d = Dataset::from_events(events, world.catalog.len())?;
    let heard = d.heard();
    // What the neural models sum a track's embedding from (its artist's and genre's rows).
    let groups = botify_neural::tables::Groups::from_catalog(&world.catalog);
    let t = &plan.train;
    for m in &t.models {
        let started = Instant::now();
        let out = run.join(m.file());
        match m {
            Model::Toppop => output::write_top(&out, &toppop::fit(&d, t.k))?,
            Model::I2i => output::write_track_lists(
                &out,
                &i2i::fit(
                    &d,
                    &i2i::Params {
                        k: t.k.min(50),
                        threshold: t.threshold,
                        ..Default::default()
                    },
                ),
            )?,
            Model::Ucf => output::write_user_lists(
                &out,
                &ucf::fit(
                    &d,
                    &ucf::Params {
                        neighbours: 50,
                        k: t.k,
                    },
                    &heard,
                ),
            )?,
            Model::Als => {
                let p = als::Params {
                    factors: t.factors,
                    iterations: t.als_iterations,
                    threshold: t.threshold,
                    seed: plan.seed,
                    ..Default::default()
                };
                output::write_user_lists(&out, &als::fit(&d, &p, |_, _| {}).recommend(&heard, t.k))?
            }
            Model::Mf => {
                let p = mf::Params {
                    factors: t.factors,
                    epochs: t.mf_epochs,
                    threshold: t.threshold,
                    seed: plan.seed,
                    ..Default::default()
                };
                let model = fit_mf(&d, world, &p, &out)?;
                output::write_user_lists(&out, &model.recommend(&heard, t.k))?
            }
            Model::Contextual => {
                let pairs: Vec<botify_neural::contextual::Pair> = d
                    .next_pairs()
                    .map(botify_neural::contextual::Pair::from)
                    .collect();
                let p = botify_neural::contextual::Params {
                    seed: plan.seed,
                    ..t.contextual.clone()
                };
                let pb = ui::progress(p.epochs as u64, "contextual epochs");
                let mut curve = crate::train_cmd::Curve::new("epoch", "hit rate@10".into());
                let model = botify_neural::contextual::fit(&pairs, groups.clone(), &p, |e| {
                    pb.inc(1);
                    curve
                        .rows
                        .push((e.epoch + 1, e.train_loss, e.validation_loss, e.hit_rate));
                })?;
                pb.finish_and_clear();
                curve.write(&out)?;
                model.save(&run.join("models/i2i_nn.model.safetensors"))?;
                output::write_track_lists(&out, &model.neighbours(t.k))?
            }
            Model::Dssm => {
                let pairs = d.liked_pairs(t.threshold);
                let p = botify_neural::dssm::Params {
                    seed: plan.seed,
                    ..t.dssm.clone()
                };
                let pb = ui::progress(p.epochs as u64, "dssm epochs");
                let mut curve = crate::train_cmd::Curve::new("epoch", "precision@10".into());
                let model = botify_neural::dssm::fit(&pairs, groups.clone(), &p, |e, _| {
                    pb.inc(1);
                    curve
                        .rows
                        .push((e.epoch + 1, e.train_loss, e.validation_loss, f64::NAN));
                })?;
                pb.finish_and_clear();
                curve.write(&out)?;
                model.save(&run.join("models/dssm.model.safetensors"))?;
                let lists: botify_core::hash::FastMap<_, _> =
                    model.recommend(&heard, t.k).into_iter().collect();
                output::write_user_lists(&out, &lists)?
            }
            Model::Difm => {
                let p = botify_neural::difm::Params {
                    seed: plan.seed,
                    ..t.difm.clone()
                };
                let features = botify_neural::difm::TrackFeatures::from_catalog(
                    &world.catalog,
                    p.components,
                    p.seed,
                );
                let listens = d.listen_times();
                let pb = ui::progress(p.epochs as u64, "difm epochs");
                let mut curve = crate::train_cmd::Curve::new("epoch", "AUC".into());
                let model = botify_neural::difm::fit(&listens, features, &p, |e| {
                    pb.inc(1);
                    curve.push_auc(e);
                })?;
                pb.finish_and_clear();
                curve.write(&out)?;
                model.save(&run.join("models/difm.model.safetensors"))?;
                let candidates =
                    crate::train_cmd::candidate_lists(&run.join(Model::Mf.file()), d.tracks)?;
                let lists: botify_core::hash::FastMap<_, _> =
                    model.rank(&candidates, t.k)?.into_iter().collect();
                output::write_user_lists(&out, &lists)?
            }
            Model::MfFeatures => {
                let mut p = mf::Params {
                    factors: t.factors,
                    epochs: t.mf_epochs,
                    threshold: t.threshold,
                    features: t.mf_features.clone(),
                    seed: plan.seed,
                    ..Default::default()
                };
                if t.mf_search > 0 {
                    let (fit_part, held) = d.split(Split::Time, 0.2, plan.seed);
                    let pb = ui::progress(t.mf_search as u64, "mf search trials");
                    let best = search_mf(
                        &fit_part,
                        &held,
                        Some(&world.catalog),
                        &p,
                        t.mf_search,
                        10,
                        |_| pb.inc(1),
                    )
                    .context("no search trial ran")?;
                    pb.finish_and_clear();
                    eprintln!(
                        "    best of {} trials: precision@10 {:.4} with {:?}, {} factors, lr {:.4}, max_sampled {}, {} epochs",
                        t.mf_search,
                        best.precision,
                        best.params.loss,
                        best.params.factors,
                        best.params.learning_rate,
                        best.params.max_sampled,
                        best.params.epochs
                    );
                    std::fs::create_dir_all(run.join("models"))?;
                    std::fs::write(
                        run.join("models/mf_features.params.json"),
                        serde_json::to_string_pretty(&best.params)?,
                    )?;
                    p = best.params;
                }
                let model = fit_mf(&d, world, &p, &out)?;
                output::write_user_lists(&out, &model.recommend(&heard, t.k))?
            }
        }
        eprintln!(
            "    {:?} → {} ({:.1}s)",
            m,
            m.file(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
