use crate::ui;
use anyhow::{Context, Result};
use botify_core::World;
use botify_lab::simulate::{Recommenders, SimOptions, simulate};
use botify_recs::experiments::ExperimentsConfig;
use botify_recs::spec::RecommenderSpec;
use botify_sim::runner::{EpisodeStats, SimParams, Simulator};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct SimArgs {
    /// World directory (tracks.json, tracks.npy, users.json).
    #[arg(long)]
    world: PathBuf,
    /// Sessions per day (1 to 100,000,000); on a world whose listeners return by satisfaction
    /// (docs/dynamics.md), the day's expected sessions at zero satisfaction.
    #[arg(long, default_value_t = SimOptions::default().episodes,
          value_parser = crate::ui::in_range::<usize>(1, 100_000_000))]
    episodes: usize,
    /// Seed of the listeners' sessions: the same seed gives the same sessions.
    #[arg(long, default_value_t = SimOptions::default().seed)]
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
    /// Sessions in flight against --remote (one keep-alive connection each; 1 to 10,000).
    #[arg(long, default_value_t = 64, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    concurrency: usize,
    /// Client threads for --remote (one is fastest when the service shares the machine).
    #[arg(long, default_value_t = 1, value_parser = crate::ui::in_range::<usize>(1, 1_024))]
    client_threads: usize,
    /// Write the event log (course format) into this directory (in-process only: the service
    /// writes its own).
    #[arg(long, conflicts_with = "remote")]
    log_dir: Option<PathBuf>,
    /// Number of simulated days.
    #[arg(long, default_value_t = SimOptions::default().days)]
    days: u32,
    /// Index of the first simulated day (days differ in randomness and timestamps).
    #[arg(long, default_value_t = SimOptions::default().start_day)]
    start_day: u32,
    /// Shell command run between days (e.g. retrain and reload); a failure stops the run.
    #[arg(long)]
    between: Option<String>,
    /// Safety cap on recommendations per session.
    #[arg(long, default_value_t = SimOptions::default().max_steps)]
    max_steps: u32,
    /// Write per-episode statistics as JSON lines to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// With `--recommender oracle`: the tracks nearest each session's taste it caches per day (1
    /// to 100,000). Its picks are the same whatever the number: when a long session runs through
    /// them it widens its search to the rest of the catalogue. More is faster on worlds of long
    /// sessions and costs memory.
    #[arg(long, default_value_t = botify_sim::runner::ORACLE_CANDIDATES,
          value_parser = crate::ui::in_range::<usize>(1, 100_000))]
    oracle_candidates: usize,
}

pub fn run(a: SimArgs) -> Result<()> {
    let t = Instant::now();
    let world =
        World::load(&a.world).with_context(|| format!("loading world {}", a.world.display()))?;
    note!(
        "loaded world {} in {:.2}s",
        a.world.display(),
        t.elapsed().as_secs_f64()
    );
    let opts = SimOptions {
        episodes: a.episodes,
        seed: a.seed,
        days: a.days,
        start_day: a.start_day,
        max_steps: a.max_steps,
        log_dir: a.log_dir.clone(),
        hosted: Default::default(),
        sessions_in: None,
        neighbour_dir: Some(a.world.clone()),
        cancel: None,
        oracle_candidates: a.oracle_candidates,
    };
    opts.validate()?;
    if a.console {
        return console(&world, &opts);
    }
    let who = match (&a.remote, &a.experiments, a.recommender.as_deref()) {
        (Some(url), _, _) => Recommenders::Remote {
            remote: botify_sim::http::Remote::parse(url)?,
            concurrency: a.concurrency,
            threads: a.client_threads,
        },
        (None, Some(f), _) => Recommenders::File(f.clone()),
        (None, None, Some("oracle")) => Recommenders::Oracle,
        (None, None, Some(r)) => Recommenders::Config(ExperimentsConfig::single(
            "SIM",
            RecommenderSpec::parse_cli(r)?,
        )),
        (None, None, None) => {
            usage!("say who recommends: --recommender NAME|SPEC|oracle or --experiments FILE")
        }
    };
    let what = match &who {
        Recommenders::Remote { .. } => "remote",
        Recommenders::Oracle => "oracle",
        _ => "in-process",
    };
    let obs = ui::Term::new(false);
    let days = simulate(&world, &who, &opts, &obs, &mut |day| {
        a.between
            .as_deref()
            .map_or(Ok(()), |cmd| run_between(cmd, day))
    })?;
    for d in &days {
        let steps = d.steps();
        note!(
            "day {} ({what}): {} episodes, {} steps in {:.2}s ({:.0} steps/s)",
            d.summary.day + 1,
            d.episodes.len(),
            steps,
            d.seconds,
            steps as f64 / d.seconds
        );
    }
    print!("{}", botify_lab::simulate::summary_table(&days));
    if let Some(f) = &a.json {
        let items: Vec<&EpisodeStats> = days.iter().flat_map(|d| &d.episodes).collect();
        botify_core::world::write_json_lines(f, &items)?;
    }
    Ok(())
}

/// A person plays the recommender, day after day.
fn console(world: &World, o: &SimOptions) -> Result<()> {
    let mut sim = Simulator::new(world, botify_recs::experiments::DEFAULT_HISTORY)?;
    for day in o.start_day..o.start_day + o.days {
        let p = SimParams {
            episodes: o.episodes,
            seed: o.seed,
            day,
            max_steps: o.max_steps,
        };
        sim.run_console(&p, std::io::stdin().lock(), std::io::stdout())?;
    }
    Ok(())
}

/// Runs the `--between` command before `day` (0-based, in `BOTIFY_DAY`).
fn run_between(cmd: &str, day: u32) -> botify_lab::Result<()> {
    note!("between days: {cmd}");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("BOTIFY_DAY", day.to_string())
        .status()
        .map_err(|e| {
            botify_lab::Error::Invalid(format!("running --between command {cmd:?}: {e}"))
        })?;
    if !status.success() {
        return Err(botify_lab::Error::Invalid(format!(
            "--between command {cmd:?} failed before day {} ({status})",
            day + 1
        )));
    }
    Ok(())
}
