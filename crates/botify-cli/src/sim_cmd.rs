use crate::ui;
use anyhow::{Context, Result, bail};
use botify_core::World;
use botify_core::eventlog::{LogWriter, Rotation};
use botify_recs::experiments::{ExperimentsConfig, Router};
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{Agent, DaySummary, EpisodeStats, SimParams, Simulator};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

#[derive(Args)]
pub struct SimArgs {
    /// World directory (tracks.json, tracks.npy, users.json).
    #[arg(long)]
    world: PathBuf,
    /// Sessions per day.
    #[arg(long, default_value_t = 10_000)]
    episodes: usize,
    #[arg(long, default_value_t = 31337)]
    seed: u64,
    /// In-process recommender: `random`, `sticky-artist`, `oracle`, or an inline spec such as
    /// '{ type = "indexed", file = "recs.jsonl" }'.
    #[arg(long, conflicts_with_all = ["experiments", "remote"])]
    recommender: Option<String>,
    /// In-process experiments file (the same TOML the service reads).
    #[arg(long, conflicts_with = "remote")]
    experiments: Option<PathBuf>,
    /// Be the recommender yourself: pick each next track at the prompt.
    #[arg(long, conflicts_with_all = ["recommender", "experiments", "remote"])]
    console: bool,
    /// Drive a running service over HTTP instead of recommending in-process, e.g. http://127.0.0.1:5001.
    #[arg(long)]
    remote: Option<String>,
    /// Sessions in flight against --remote (one keep-alive connection each).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Client threads for --remote (one is fastest when the service shares the machine).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Write the event log (course format) into this directory (in-process only: the service
    /// writes its own).
    #[arg(long, conflicts_with = "remote")]
    #[arg(long)]
    log_dir: Option<PathBuf>,
    /// Number of simulated days.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// Index of the first simulated day (days differ in randomness and timestamps).
    #[arg(long, default_value_t = 0)]
    start_day: u32,
    /// Shell command run between days (e.g. retrain and reload); a failure stops the run.
    #[arg(long)]
    between: Option<String>,
    /// Safety cap on recommendations per session.
    #[arg(long, default_value_t = 1000)]
    max_steps: u32,
    /// Write per-episode statistics as JSON lines to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(a: SimArgs) -> Result<()> {
    if a.episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    let t = Instant::now();
    let world =
        World::load(&a.world).with_context(|| format!("loading world {}", a.world.display()))?;
    eprintln!(
        "loaded world {} in {:.2}s",
        a.world.display(),
        t.elapsed().as_secs_f64()
    );
    let catalog = Arc::new(world.catalog.clone());
    let oracle = a.recommender.as_deref() == Some("oracle");
    let remote = a
        .remote
        .as_deref()
        .map(botify_sim::http::Remote::parse)
        .transpose()?;
    let router = if oracle || remote.is_some() || a.console {
        None
    } else {
        let cfg = match (&a.experiments, &a.recommender) {
            (Some(f), _) => ExperimentsConfig::load(f)?,
            (None, Some(r)) => ExperimentsConfig::single("SIM", RecommenderSpec::parse_cli(r)?),
            (None, None) => {
                bail!("say who recommends: --recommender NAME|SPEC|oracle or --experiments FILE")
            }
        };
        Some(Router::build(cfg, catalog)?)
    };
    let history = router.as_ref().map_or(50, |r| r.history);
    let agent = match &router {
        Some(r) => Agent::Router(r),
        None => Agent::Oracle,
    };
    let what = match (&remote, &router) {
        _ if a.console => "console",
        (Some(_), _) => "remote",
        (None, Some(_)) => "in-process",
        (None, None) => "oracle",
    };
    let log = match &a.log_dir {
        Some(d) => Some(LogWriter::open(d, Rotation::default())?),
        None => None,
    };
    let sender = log.as_ref().map(|l| l.sender());
    let mut sim = Simulator::new(&world, history)?;
    let mut all: Vec<EpisodeStats> = Vec::new();
    let mut summaries = Vec::new();
    for day in 0..a.days {
        let p = SimParams {
            episodes: a.episodes,
            seed: a.seed,
            day,
            max_steps: a.max_steps,
        };
        let pb = if a.console {
            indicatif::ProgressBar::hidden()
        } else {
            ui::progress(a.episodes as u64, &format!("day {}", day + 1))
        };
        let t = Instant::now();
        let eps = match &remote {
            _ if a.console => sim.run_console(&p, std::io::stdin().lock(), std::io::stdout())?,
            Some(r) => {
                sim.run_day_remote(r, &p, a.concurrency, a.client_threads, &|n| pb.inc(n))?
            }
            None => sim.run_day(&agent, &p, sender.as_ref(), &|n| pb.inc(n))?,
        };
        pb.finish_and_clear();
        let secs = t.elapsed().as_secs_f64();
        let steps: u64 = eps.iter().map(|e| u64::from(e.steps)).sum();
        eprintln!(
            "day {} ({what}): {} episodes, {} steps in {:.2}s ({:.0} steps/s)",
            day + 1,
            eps.len(),
            steps,
            secs,
            steps as f64 / secs
        );
        summaries.push((
            DaySummary::of(day, &eps),
            per_treatment(&eps, router.as_ref()),
        ));
        all.extend(eps);
        if let (Some(cmd), true) = (&a.between, day + 1 < a.start_day + a.days) {
            run_between(cmd, day + 1)?;
        }
    }
    drop(sender);
    if let Some(l) = log {
        let path = l.path().to_path_buf();
        let lines = l.close()?;
        eprintln!("wrote {lines} events to {}", path.display());
    }
    print_summary(&summaries);
    if let Some(f) = &a.json {
        let items: Vec<&EpisodeStats> = all.iter().collect();
        botify_core::world::write_json_lines(f, &items)?;
    }
    Ok(())
}

fn per_treatment(eps: &[EpisodeStats], router: Option<&Router>) -> Vec<(String, DaySummary)> {
    let Some(r) = router else { return Vec::new() };
    let specs: Vec<_> = r.route_spec().treatments.values().collect();
    if specs.windows(2).all(|w| w[0] == w[1]) {
        return Vec::new();
    }
    r.treatments
        .iter()
        .enumerate()
        .map(|(b, t)| {
            let sub: Vec<EpisodeStats> = eps
                .iter()
                .filter(|e| e.treatment as usize == b)
                .cloned()
                .collect();
            (
                t.name.clone(),
                DaySummary::of(eps.first().map_or(0, |e| e.day), &sub),
            )
        })
        .collect()
}

fn run_between(cmd: &str, day: u32) -> Result<()> {
    eprintln!("between days: {cmd}");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("BOTIFY_DAY", day.to_string())
        .status()
        .with_context(|| format!("running --between command {cmd:?}"))?;
    if !status.success() {
        bail!("--between command {cmd:?} failed after day {day} ({status})");
    }
    Ok(())
}

fn print_summary(rows: &[(DaySummary, Vec<(String, DaySummary)>)]) {
    println!(
        "{:>5} {:>10} {:>10}  {:>22} {:>22}",
        "day", "treatment", "episodes", "mean reward ± se", "mean steps ± se"
    );
    let line = |day: u32, t: &str, s: &DaySummary| {
        println!(
            "{:>5} {:>10} {:>10}  {:>22} {:>22}",
            day + 1,
            t,
            s.episodes,
            format!("{:.3} ± {:.3}", s.reward.mean, s.reward.se),
            format!("{:.3} ± {:.3}", s.steps.mean, s.steps.se)
        )
    };
    for (s, per) in rows {
        line(s.day, "all", s);
        for (name, t) in per {
            line(s.day, name, t);
        }
    }
}
