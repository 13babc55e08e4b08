//! The day loop of a plan: world, cold-start traffic, training, deployment by hot reload, A/B
//! days, analysis and reports — one library call with an observer and a cancellation flag.

use crate::models::{TrainData, train};
use crate::observer::Observer;
use crate::plan::{Plan, PlannedModel};
use crate::service::{Service, ServiceConfig};
use crate::{Error, Result};
use botify_ab::report::{AbOptions, AbReport, analyse};
use botify_core::eventlog::{LogWriter, Rotation};
use botify_core::events::read_events;
use botify_core::{Catalog, World};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{Agent, SimParams, Simulator};
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
    let dir = &opts.dir;
    // A run never mixes with an earlier one (logs would append to its log).
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
    let stages = Stages {
        obs,
        cancel: &opts.cancel,
    };
    let in_process = opts.traffic == Traffic::InProcess;
    let mode = opts.traffic.label();

    let (world_dir, world) = stages.run("world", || {
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
    })?;
    let catalog = Arc::new(world.catalog.clone());
    let mut sim = Simulator::new(&world, botify_recs::experiments::DEFAULT_HISTORY)?;
    crate::simulate::load_neighbours(&mut sim, &world_dir, obs);
    let experiments_file = run.join("experiments.toml");
    let day1_cfg = split_config("DAY1", &plan.day1.recommenders, &run);
    write_config(&experiments_file, &day1_cfg)?;

    let mut service = match &opts.traffic {
        Traffic::InProcess => None,
        Traffic::Http { redis } => Some(stages.run("service", || {
            let s = Service::start(ServiceConfig {
                redis: redis.clone(),
                dashboard: opts.dashboard.clone(),
                ..ServiceConfig::new(
                    world_dir.join("tracks.json"),
                    experiments_file.clone(),
                    run.join("log"),
                )
            })?;
            let state = match redis {
                Some(target) => format!("state in Redis {}", target.describe()),
                None => "embedded state".into(),
            };
            obs.note(&format!("service on http://{} ({state})", s.addr));
            Ok(s)
        })?),
    };
    let day1_log_dir = if in_process {
        run.join("logs/day1")
    } else {
        run.join("log")
    };
    let collection = Day {
        catalog: &catalog,
        service: service.as_ref(),
        world_dir: &world_dir,
        obs,
    };
    let day1_requests = stages.run(&format!("day 1: cold-start traffic ({mode})"), || {
        let p = SimParams {
            episodes: plan.day1.episodes,
            seed: plan.seed,
            day: 0,
            max_steps: botify_core::defaults::MAX_STEPS,
        };
        let log_dir = in_process.then_some(day1_log_dir.as_path());
        collection.collect(&mut sim, &day1_cfg, false, log_dir, &p, 0)
    })?;

    // Before the last collection day only what the next day serves is trained; after it, every
    // model, on all the days.
    let models = |day: u32| {
        if day == plan.day2.collection_days() {
            plan.models(&run)
        } else {
            plan.day2_models(&run)
        }
    };
    stages.run("train", || {
        train_models(
            plan,
            &models(1)?,
            std::slice::from_ref(&day1_log_dir),
            &world.catalog,
            &run,
            obs,
        )
    })?;

    // Day 2 (and later rounds): what the days before taught serves a day, and every model
    // learns again from all the days so far.
    let mut collected: Vec<PathBuf> = vec![day1_log_dir.clone()];
    let mut requests_so_far = day1_requests;
    for day in 2..=plan.day2.collection_days() {
        let log_dir = if in_process {
            run.join(format!("logs/day{day}"))
        } else {
            run.join("log")
        };
        let cfg = split_config("DAY2", &plan.day2.recommenders, &run);
        write_config(&experiments_file, &cfg)?;
        let requests = stages.run(
            &format!("day {day}: the trained policy's traffic ({mode})"),
            || {
                let p = SimParams {
                    episodes: plan.day2.episodes,
                    seed: plan.seed,
                    day: day - 1,
                    max_steps: botify_core::defaults::MAX_STEPS,
                };
                let log_dir = in_process.then_some(log_dir.as_path());
                collection.collect(&mut sim, &cfg, true, log_dir, &p, requests_so_far)
            },
        )?;
        requests_so_far += requests;
        if in_process {
            collected.push(log_dir);
        }
        stages.run(&format!("train again on days 1–{day}"), || {
            train_models(plan, &models(day)?, &collected, &world.catalog, &run, obs)
        })?;
    }
    let first_ab_day = plan.day2.collection_days();

    let specs: Vec<RecommenderSpec> = std::iter::once(plan.ab.control.clone())
        .chain(plan.ab.treatments.iter().cloned())
        .collect();
    let ab_cfg = split_config("AB", &specs, &run);
    write_config(&experiments_file, &ab_cfg)?;
    let ab_log_dir = if in_process {
        run.join("logs/ab")
    } else {
        run.join("log")
    };
    stages.run(&format!("deploy and A/B ({mode})"), || {
        let router = Router::build(ab_cfg.clone(), catalog.clone())?;
        if let Some(s) = &service {
            obs.note(&format!("hot reload: {}", s.reload()?));
        }
        let log = in_process
            .then(|| LogWriter::open(&ab_log_dir, Rotation::default()))
            .transpose()?;
        for d in 0..plan.ab.days {
            if opts.cancel.load(Ordering::SeqCst) {
                return Err(Error::Cancelled(format!("A/B day {}", d + 1)));
            }
            let p = SimParams {
                episodes: plan.ab.episodes,
                seed: plan.seed,
                day: first_ab_day + d,
                max_steps: botify_core::defaults::MAX_STEPS,
            };
            let label = format!("A/B day {}", d + 1);
            simulate_day(
                &mut sim,
                &router,
                service.as_ref(),
                &p,
                log.as_ref(),
                &label,
                obs,
            )?;
            crate::simulate::save_neighbours(&mut sim, &world_dir, obs);
        }
        if let Some(l) = log {
            l.close()?;
        }
        Ok(())
    })?;
    if let Some(s) = service.as_mut() {
        let r = stages.run("stop service", || s.stop())?;
        obs.note(&format!(
            "{} requests answered, {} log lines written",
            r.answered, r.log_lines
        ));
    }

    let (report, results) = stages.run("analysis", || {
        let mut o = AbOptions::new("AB", vec![ab_log_dir.clone()]);
        o.confidence = plan.ab.confidence;
        o.interval = plan.ab.interval;
        o.correction = plan.ab.correction;
        o.guardrails = plan.ab.guardrails.clone();
        o.buckets = Some(plan.ab.treatments.len() as u32 + 1);
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
        let text =
            serde_json::to_string_pretty(&results).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::write(&run.join("results.json"), text + "\n")?;
        Ok((r, results))
    })?;
    Ok(RunOutcome {
        dir: run,
        treatments: specs,
        report,
        results,
    })
}

/// What a collection day needs besides the simulator and its recommenders.
struct Day<'a> {
    catalog: &'a Arc<Catalog>,
    service: Option<&'a Service>,
    world_dir: &'a Path,
    obs: &'a dyn Observer,
}

impl Day<'_> {
    /// One collection day: `cfg`'s recommenders serve it (hot-reloaded into the service first
    /// when `reload`), logged into `log_dir` in-process or by the service, whose log must then
    /// hold `logged_before` plus this day's lines before training reads it. Returns this day's
    /// requests.
    fn collect(
        &self,
        sim: &mut Simulator,
        cfg: &ExperimentsConfig,
        reload: bool,
        log_dir: Option<&Path>,
        p: &SimParams,
        logged_before: u64,
    ) -> Result<u64> {
        let router = Router::build(cfg.clone(), self.catalog.clone())?;
        if let (true, Some(s)) = (reload, self.service) {
            self.obs.note(&format!("hot reload: {}", s.reload()?));
        }
        let log = log_dir
            .map(|d| LogWriter::open(d, Rotation::default()))
            .transpose()?;
        let label = format!("day {}", p.day + 1);
        let requests = simulate_day(
            sim,
            &router,
            self.service,
            p,
            log.as_ref(),
            &label,
            self.obs,
        )?;
        crate::simulate::save_neighbours(sim, self.world_dir, self.obs);
        match (log, self.service) {
            (Some(l), _) => {
                l.close()?;
            }
            // Every answered request must be on disk before training reads the log.
            (None, Some(s)) => s.wait_for_log(logged_before + requests)?,
            (None, None) => {}
        }
        Ok(requests)
    }
}

/// Runs one day; returns the number of requests made (recommendations + `last` calls).
fn simulate_day(
    sim: &mut Simulator,
    router: &Router,
    service: Option<&Service>,
    p: &SimParams,
    log: Option<&LogWriter>,
    label: &str,
    obs: &dyn Observer,
) -> Result<u64> {
    obs.start(label, p.episodes as u64);
    let progress = |n| obs.advance(n);
    let eps = match service {
        Some(s) => sim.run_day_remote(&s.remote, p, 64, 1, &progress)?,
        None => {
            let sender = log.map(|l| l.sender());
            sim.run_day(&Agent::Router(router), p, sender.as_ref(), &progress)?
        }
    };
    obs.finish();
    let steps: u64 = eps.iter().map(|e| u64::from(e.steps)).sum();
    obs.note(&format!(
        "{} sessions, {} recommendations",
        eps.len(),
        steps
    ));
    Ok(steps + eps.len() as u64)
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
