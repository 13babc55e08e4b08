//! The day loop of a plan: world, cold-start traffic, training, deployment by hot reload, A/B
//! days, analysis and reports — one library call with an observer and a cancellation flag.

use crate::models::{TrainData, train};
use crate::observer::Observer;
use crate::plan::{Plan, PlannedModel};
use crate::service::{Service, ServiceConfig};
use crate::simulate::{Serving, run_day};
use crate::{Error, Result};
use botify_ab::report::{AbOptions, AbReport, analyse};
use botify_core::eventlog::{LogWriter, Rotation};
use botify_core::events::read_events;
use botify_core::{Catalog, World};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{SimParams, Simulator};
use botify_train::dataset::Dataset;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How the simulated listeners reach the recommenders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Traffic {
    /// Through the real service on a loopback port (state embedded, or in Redis).
    Http {
        redis: Option<botify_server::RedisTarget>,
    },
    /// In-process, the same recommender code without HTTP: reproducible to the bit.
    InProcess,
}

impl Traffic {
    fn label(&self) -> &'static str {
        match self {
            Traffic::Http { .. } => "HTTP",
            Traffic::InProcess => "in-process",
        }
    }
}

pub struct RunOptions {
    pub traffic: Traffic,
    /// The run directory; must be empty or absent.
    pub dir: PathBuf,
    /// Set it (e.g. on Ctrl-C) to stop the run before its next stage; what was made is kept.
    pub cancel: Arc<AtomicBool>,
    /// A live dashboard that follows the run's service (its stages come through the observer).
    pub dashboard: Option<Arc<dyn botify_server::LiveView>>,
}

/// What a finished run produced.
pub struct RunOutcome {
    /// The run directory (absolute).
    pub dir: PathBuf,
    /// C, T1, … as run.
    pub treatments: Vec<RecommenderSpec>,
    pub report: AbReport,
    /// `results.json` as written.
    pub results: serde_json::Value,
}

/// `runs/<plan name>-<unix seconds>`.
pub fn default_dir(plan: &Plan) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    PathBuf::from("runs").join(format!("{}-{secs}", plan.name))
}

/// One experiment with a treatment per spec (C, T1, …), data paths relative to the run directory.
fn split_config(name: &str, specs: &[RecommenderSpec], run: &Path) -> ExperimentsConfig {
    let mut cfg = ExperimentsConfig::split(name, specs.to_vec());
    cfg.resolve_paths(run);
    cfg
}

fn write_config(path: &Path, cfg: &ExperimentsConfig) -> Result<()> {
    let text = toml::to_string_pretty(cfg)
        .map_err(|e| Error::Invalid(format!("experiments as TOML: {e}")))?;
    crate::write(path, text)
}

struct Stages<'a> {
    obs: &'a dyn Observer,
    cancel: &'a AtomicBool,
}

impl Stages<'_> {
    fn run<T>(&self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(Error::Cancelled(name.to_string()));
        }
        let t = Instant::now();
        self.obs.stage(name);
        let r = f().map_err(|e| Error::Stage {
            stage: name.to_string(),
            source: Box::new(e),
        })?;
        self.obs.stage_done(name, t.elapsed().as_secs_f64());
        Ok(r)
    }
}

/// Runs `plan` into `opts.dir`: `plan.toml`, the world (unless the plan names one), the event
/// logs, `models/`, `report.md`, `report.html` and `results.json`.
pub fn run(plan: &Plan, opts: &RunOptions, obs: &dyn Observer) -> Result<RunOutcome> {
    plan.validate()?;
    let run = open_run_dir(&opts.dir, plan, obs)?;
    let stages = Stages {
        obs,
        cancel: &opts.cancel,
    };
    let (world_dir, world) = stages.run("world", || load_world(plan, &run, obs))?;
    let mut sim = Simulator::new(&world, botify_recs::experiments::DEFAULT_HISTORY)?;
    crate::simulate::load_neighbours(&mut sim, &world_dir, obs);
    let experiments_file = run.join("experiments.toml");
    let day1 = split_config("DAY1", &plan.day1.recommenders, &run);
    write_config(&experiments_file, &day1)?;
    let service = match &opts.traffic {
        Traffic::InProcess => None,
        Traffic::Http { redis } => Some(stages.run("service", || {
            start_service(redis, opts, &world_dir, &experiments_file, &run, obs)
        })?),
    };
    let mut r = Runner {
        plan,
        obs,
        stages,
        catalog: Arc::new(world.catalog.clone()),
        in_process: opts.traffic == Traffic::InProcess,
        mode: opts.traffic.label(),
        run,
        world_dir,
        experiments_file,
        service,
    };
    r.collection_days(&mut sim, day1)?;
    let (specs, ab_log_dir) = r.ab_days(&mut sim, &opts.cancel)?;
    if let Some(s) = r.service.as_mut() {
        let done = r.stages.run("stop service", || s.stop())?;
        obs.note(&format!(
            "{} requests answered, {} log lines written",
            done.answered, done.log_lines
        ));
    }
    let (report, results) = r.stages.run("analysis", || {
        analysis(plan, &r.run, &specs, &ab_log_dir, r.mode)
    })?;
    Ok(RunOutcome {
        dir: r.run,
        treatments: specs,
        report,
        results,
    })
}

/// The run directory, new or empty (a run never mixes with an earlier one: logs would append
/// to its log), absolute, with the plan saved in it.
fn open_run_dir(dir: &Path, plan: &Plan, obs: &dyn Observer) -> Result<PathBuf> {
    if std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some()) {
        return Err(Error::Invalid(format!(
            "{} already holds files (an earlier run?); choose another directory or remove it",
            dir.display()
        )));
    }
    crate::create_dir(dir)?;
    let run = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    crate::write(&run.join("plan.toml"), plan.to_toml()?)?;
    obs.note(&format!("run directory {}", run.display()));
    Ok(run)
}

/// The plan's world directory, or a world generated into the run.
fn load_world(plan: &Plan, run: &Path, obs: &dyn Observer) -> Result<(PathBuf, World)> {
    let dir = match &plan.world.dir {
        Some(d) => d.clone(),
        None => {
            let w = botify_core::generate::generate(&plan.world_params())?;
            let dir = run.join("world");
            w.write(&dir)?;
            obs.note(&format!(
                "generated {} tracks, {} users (seed {})",
                w.catalog.len(),
                w.users.len(),
                plan.seed
            ));
            dir
        }
    };
    let world = World::load(&dir)?;
    Ok((dir, world))
}

/// The real service on a free loopback port, logging into the run's `log/`.
fn start_service(
    redis: &Option<botify_server::RedisTarget>,
    opts: &RunOptions,
    world_dir: &Path,
    experiments_file: &Path,
    run: &Path,
    obs: &dyn Observer,
) -> Result<Service> {
    let s = Service::start(ServiceConfig {
        redis: redis.clone(),
        dashboard: opts.dashboard.clone(),
        ..ServiceConfig::new(
            world_dir.join("tracks.json"),
            experiments_file.to_path_buf(),
            run.join("log"),
        )
    })?;
    let state = match redis {
        Some(target) => format!("state in Redis {}", target.describe()),
        None => "embedded state".into(),
    };
    obs.note(&format!("service on http://{} ({state})", s.addr));
    Ok(s)
}

/// Reads the A/B log and writes `report.md`, `report.html` and `results.json`.
fn analysis(
    plan: &Plan,
    run: &Path,
    specs: &[RecommenderSpec],
    ab_log_dir: &Path,
    mode: &str,
) -> Result<(AbReport, serde_json::Value)> {
    let mut o = AbOptions::new("AB", vec![ab_log_dir.to_path_buf()]);
    o.confidence = plan.ab.confidence;
    o.interval = plan.ab.interval;
    o.correction = plan.ab.correction;
    o.guardrails = plan.ab.guardrails.clone();
    o.buckets = Some(plan.ab.treatments.len() as u32 + 1);
    o.labels = specs
        .iter()
        .enumerate()
        .map(|(b, spec)| (botify_core::murmur::treatment_name(b as u32), spec.label()))
        .collect();
    let r = analyse(&o)?;
    crate::write(&run.join("report.md"), r.to_markdown())?;
    crate::write(&run.join("report.html"), r.to_html())?;
    let results = serde_json::json!({
        "plan": plan.name,
        "seed": plan.seed,
        "mode": mode,
        "treatments": specs,
        "users": r.treatments,
        "srm": r.srm,
        "interval": r.interval,
        "correction": r.correction,
        "rows": r.rows,
        "decisions": r.decisions,
    });
    let text = serde_json::to_string_pretty(&results).map_err(|e| Error::Invalid(e.to_string()))?;
    crate::write(&run.join("results.json"), text + "\n")?;
    Ok((r, results))
}

/// A run under way: what its days share.
struct Runner<'a> {
    plan: &'a Plan,
    obs: &'a dyn Observer,
    stages: Stages<'a>,
    catalog: Arc<Catalog>,
    in_process: bool,
    mode: &'static str,
    run: PathBuf,
    world_dir: PathBuf,
    experiments_file: PathBuf,
    service: Option<Service>,
}

impl Runner<'_> {
    /// Where day `name`'s events go: its own directory in-process, the service's log over HTTP.
    fn log_dir(&self, name: &str) -> PathBuf {
        if self.in_process {
            self.run.join("logs").join(name)
        } else {
            self.run.join("log")
        }
    }

    fn params(&self, episodes: usize, day: u32) -> SimParams {
        SimParams {
            episodes,
            seed: self.plan.seed,
            day,
            max_steps: botify_core::defaults::MAX_STEPS,
        }
    }

    /// Day 1 (cold start), training, then each later collection day served by what the days
    /// before taught, each followed by training on every day so far. Before the last collection
    /// day only what the next day serves is trained; after it, every model.
    fn collection_days(&mut self, sim: &mut Simulator, day1: ExperimentsConfig) -> Result<()> {
        let plan = self.plan;
        let last = plan.day2.collection_days();
        let models = |day: u32| {
            if day == last {
                plan.models(&self.run)
            } else {
                plan.day2_models(&self.run)
            }
        };
        let mut collected = vec![self.log_dir("day1")];
        let label = format!("day 1: cold-start traffic ({})", self.mode);
        let mut requests = self.stages.run(&label, || {
            let p = self.params(plan.day1.episodes, 0);
            self.collect(sim, &day1, false, &collected[0], &p, 0)
        })?;
        self.stages
            .run("train", || self.train_models(&models(1)?, &collected))?;
        for day in 2..=last {
            let log_dir = self.log_dir(&format!("day{day}"));
            let cfg = split_config("DAY2", &plan.day2.recommenders, &self.run);
            write_config(&self.experiments_file, &cfg)?;
            let label = format!("day {day}: the trained policy's traffic ({})", self.mode);
            requests += self.stages.run(&label, || {
                let p = self.params(plan.day2.episodes, day - 1);
                self.collect(sim, &cfg, true, &log_dir, &p, requests)
            })?;
            if self.in_process {
                collected.push(log_dir);
            }
            self.stages
                .run(&format!("train again on days 1–{day}"), || {
                    self.train_models(&models(day)?, &collected)
                })?;
        }
        Ok(())
    }

    /// One collection day: `cfg`'s recommenders serve it (hot-reloaded into the service first
    /// when `reload`), logged into `log_dir` in-process or by the service, whose log must then
    /// hold `logged_before` plus this day's lines before training reads it. Returns this day's
    /// requests.
    fn collect(
        &self,
        sim: &mut Simulator,
        cfg: &ExperimentsConfig,
        reload: bool,
        log_dir: &Path,
        p: &SimParams,
        logged_before: u64,
    ) -> Result<u64> {
        let router = Router::build(cfg.clone(), self.catalog.clone())?;
        if let (true, Some(s)) = (reload, &self.service) {
            self.obs.note(&format!("hot reload: {}", s.reload()?));
        }
        let log = self
            .in_process
            .then(|| LogWriter::open(log_dir, Rotation::default()))
            .transpose()?;
        let requests = self.day(sim, &router, p, log.as_ref())?;
        match (log, &self.service) {
            (Some(l), _) => {
                l.close()?;
            }
            // Every answered request must be on disk before training reads the log.
            (None, Some(s)) => s.wait_for_log(logged_before + requests)?,
            (None, None) => {}
        }
        Ok(requests)
    }

    /// The A/B: C and T1… deployed by hot reload, `ab.days` days of traffic. Returns the specs
    /// as run and where their events are.
    fn ab_days(
        &self,
        sim: &mut Simulator,
        cancel: &AtomicBool,
    ) -> Result<(Vec<RecommenderSpec>, PathBuf)> {
        let plan = self.plan;
        let specs: Vec<RecommenderSpec> = std::iter::once(plan.ab.control.clone())
            .chain(plan.ab.treatments.iter().cloned())
            .collect();
        let cfg = split_config("AB", &specs, &self.run);
        write_config(&self.experiments_file, &cfg)?;
        let log_dir = self.log_dir("ab");
        let first_day = plan.day2.collection_days();
        self.stages
            .run(&format!("deploy and A/B ({})", self.mode), || {
                let router = Router::build(cfg.clone(), self.catalog.clone())?;
                if let Some(s) = &self.service {
                    self.obs.note(&format!("hot reload: {}", s.reload()?));
                }
                let log = self
                    .in_process
                    .then(|| LogWriter::open(&log_dir, Rotation::default()))
                    .transpose()?;
                for d in 0..plan.ab.days {
                    if cancel.load(Ordering::SeqCst) {
                        return Err(Error::Cancelled(format!("A/B day {}", d + 1)));
                    }
                    let p = self.params(plan.ab.episodes, first_day + d);
                    self.day(sim, &router, &p, log.as_ref())?;
                }
                if let Some(l) = log {
                    l.close()?;
                }
                Ok(())
            })?;
        Ok((specs, log_dir))
    }

    /// One day, run as `botify sim` runs it (through the service when there is one); returns
    /// the requests made (recommendations and `last` calls).
    fn day(
        &self,
        sim: &mut Simulator,
        router: &Router,
        p: &SimParams,
        log: Option<&LogWriter>,
    ) -> Result<u64> {
        let who = match &self.service {
            Some(s) => Serving::Remote {
                remote: &s.remote,
                concurrency: 64,
                threads: 1,
            },
            None => Serving::Router(router),
        };
        let sender = log.map(|l| l.sender());
        let eps = run_day(
            sim,
            who,
            p,
            sender.as_ref(),
            Some(&self.world_dir),
            self.obs,
        )?;
        let steps: u64 = eps.iter().map(|e| u64::from(e.steps)).sum();
        self.obs.note(&format!(
            "{} sessions, {} recommendations",
            eps.len(),
            steps
        ));
        Ok(steps + eps.len() as u64)
    }

    /// Trains `models` into `run/models/` on the collection days' events in `logs`.
    fn train_models(&self, models: &[PlannedModel], logs: &[PathBuf]) -> Result<()> {
        train_models(self.plan, models, logs, &self.catalog, &self.run, self.obs)
    }
}

/// Trains `models` into `run/models/` on the collection days' events in `logs` (experiments
/// DAY1 and DAY2; never the A/B's).
fn train_models(
    plan: &Plan,
    models: &[PlannedModel],
    logs: &[PathBuf],
    catalog: &Catalog,
    run: &Path,
    obs: &dyn Observer,
) -> Result<()> {
    let (events, stats) = read_events(logs)?;
    let events: Vec<_> = events
        .into_iter()
        .filter(|e| e.experiments.contains_key("DAY1") || e.experiments.contains_key("DAY2"))
        .collect();
    obs.note(&format!(
        "{} collection events from {} files",
        events.len(),
        stats.files
    ));
    let d = Dataset::from_events(events, catalog.len())?;
    let empty = Dataset {
        tracks: d.tracks,
        listens: Vec::new(),
    };
    let data = TrainData::new(&d, &empty, Some(catalog), plan.settings());
    for m in models {
        let started = Instant::now();
        train(&m.spec, &data, &run.join(&m.out), obs)?;
        obs.note(&format!(
            "{} → {} ({:.1}s)",
            m.name,
            m.out.display(),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// The part of a `results.json` that an in-process run reproduces to the bit: everything but
/// what depends on measured wall time — the `mean_request_latency` rows and the adjusted
/// p-values and decisions, which the latency rows' p-values enter through the correction.
pub fn reproducible_part(results: &serde_json::Value) -> serde_json::Value {
    let mut v = results.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("decisions");
    }
    if let Some(rows) = v.get_mut("rows").and_then(|r| r.as_array_mut()) {
        rows.retain(|r| r["metric"] != "mean_request_latency");
        for r in rows.iter_mut().filter_map(|r| r.as_object_mut()) {
            r.remove("p_adjusted");
            r.remove("significant_adjusted");
        }
    }
    v
}
