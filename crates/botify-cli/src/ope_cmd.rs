use crate::ui;
use anyhow::{Context, Result};
use botify_core::{Catalog, World};
use botify_lab::ope::{self, ESTIMATORS, OpeOptions, ValidateOptions};
use botify_recs::spec::RecommenderSpec;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct OpeArgs {
    #[command(subcommand)]
    command: Option<OpeCommand>,
    #[command(flatten)]
    estimate: EstimateArgs,
}

#[derive(Subcommand)]
enum OpeCommand {
    /// Checks every estimator against the simulator's online truth on one world: each target
    /// run online, then repeated logged days of the logging policy estimated by every estimator
    /// (bias, RMSE, interval coverage, rank correlation).
    Validate(ValidateArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Args)]
struct EstimateArgs {
    /// Log files or directories written by the logging policies (their `next` lines carry the
    /// propensity of what they served).
    #[arg(long = "logs")]
    logs: Vec<PathBuf>,
    /// The catalogue the logged service served: its tracks.json, or a world directory.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// The target policy, a recommender spec: sticky-artist, random, or e.g.
    /// '{ type = "contextual", file = "models/i2i.jsonl" }'.
    #[arg(long)]
    policy: Option<String>,
    /// Estimators to show (repeatable; default all, dr first): dr, pdis_sn, pdis, is_sn, is,
    /// dm, pdis_clip, dr_clip.
    #[arg(long = "estimator")]
    estimators: Vec<String>,
    /// Listens kept per user by the service that wrote the logs (its experiments' `history`).
    #[arg(long, default_value_t = botify_recs::experiments::DEFAULT_HISTORY)]
    history: usize,
    /// Cap on the cumulative weights of the clipped estimators (at least 1).
    #[arg(long, default_value_t = 100.0)]
    clip: f64,
    /// Samples of the target's answer per step for the reward model's expectation (dm, dr).
    #[arg(long, default_value_t = 8, value_parser = crate::ui::in_range::<usize>(1, 1_000))]
    samples: usize,
    /// Seed of the target policy's draws (and of the simulated days in `validate`).
    #[arg(long, default_value_t = botify_core::defaults::SEED)]
    seed: u64,
    /// table, or json: an array of rows (estimator, estimate, lower, upper, ess, step_*), the
    /// default estimator's first.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Args)]
struct ValidateArgs {
    /// World directory.
    #[arg(long)]
    world: PathBuf,
    /// The logging policy (it must explore where the targets go).
    #[arg(
        long,
        default_value = r#"{ type = "epsilon", epsilon = 0.3, inner = { type = "sticky_artist" } }"#
    )]
    logging: String,
    /// A target policy (repeatable); default: random, sticky-artist and an epsilon 0.5
    /// mixture of it.
    #[arg(long = "target")]
    targets: Vec<String>,
    /// Sessions per logged day.
    #[arg(long, default_value_t = 5_000, value_parser = crate::ui::in_range::<usize>(1, 100_000_000))]
    sessions: usize,
    /// Logged days (independent seeds).
    #[arg(long, default_value_t = 10, value_parser = crate::ui::in_range::<u32>(1, 10_000))]
    repeats: u32,
    /// Sessions of each target run online for its truth.
    #[arg(long, default_value_t = 40_000, value_parser = crate::ui::in_range::<usize>(1, 100_000_000))]
    truth_sessions: usize,
    /// Seed of the target policy's draws (and of the simulated days in `validate`).
    #[arg(long, default_value_t = botify_core::defaults::SEED)]
    seed: u64,
    /// Where the logged days go (default: a temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// table, or json: the validation's rows.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn spec(text: &str, what: &str) -> Result<RecommenderSpec> {
    RecommenderSpec::parse_cli(text).with_context(|| format!("--{what} {text:?}"))
}

pub fn run(a: OpeArgs) -> Result<()> {
    match a.command {
        Some(OpeCommand::Validate(v)) => validate(v),
        None => estimate(a.estimate),
    }
}

fn estimate(a: EstimateArgs) -> Result<()> {
    let (Some(policy), Some(catalog)) = (a.policy.as_deref(), a.catalog.as_ref()) else {
        usage!("botify ope needs --logs DIR, --catalog tracks.json and --policy SPEC");
    };
    if a.logs.is_empty() {
        usage!("botify ope needs --logs DIR (the logging policies' event log)");
    }
    if let Some(bad) = a
        .estimators
        .iter()
        .find(|e| !ESTIMATORS.contains(&e.as_str()))
    {
        usage!(
            "--estimator {bad:?} is not one of {}",
            ESTIMATORS.join(", ")
        );
    }
    let file = if catalog.is_dir() {
        catalog.join(botify_core::world::TRACKS_FILE)
    } else {
        catalog.clone()
    };
    let catalog = Arc::new(Catalog::load(&file)?);
    let mut o = OpeOptions::new(a.logs, spec(policy, "policy")?);
    (o.history, o.clip, o.samples, o.seed) = (a.history, a.clip, a.samples, a.seed);
    let mut report = ope::evaluate(catalog, &o)?;
    if !a.estimators.is_empty() {
        report
            .estimates
            .retain(|e| a.estimators.contains(&e.estimator));
    }
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report.estimates)?),
        Format::Table => print!("{}", ope::to_table(&report)),
    }
    Ok(())
}

fn validate(a: ValidateArgs) -> Result<()> {
    let world = World::load(&a.world)?;
    let targets = if a.targets.is_empty() {
        vec![
            "random".to_string(),
            "sticky-artist".to_string(),
            r#"{ type = "epsilon", epsilon = 0.5, inner = { type = "sticky_artist" } }"#
                .to_string(),
        ]
    } else {
        a.targets
    };
    let tmp = tempfile_dir()?;
    let o = ValidateOptions {
        logging: spec(&a.logging, "logging")?,
        targets: targets
            .iter()
            .map(|t| spec(t, "target"))
            .collect::<Result<_>>()?,
        sessions: a.sessions,
        repeats: a.repeats,
        truth_sessions: a.truth_sessions,
        seed: a.seed,
        dir: a.dir.unwrap_or_else(|| tmp.clone()),
    };
    let term = ui::Term::new(false);
    let v = ope::validate(&world, &o, &term);
    let _ = std::fs::remove_dir_all(&tmp);
    let v = v?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        Format::Table => print!("{}", ope::validation_table(&v)),
    }
    Ok(())
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("botify-ope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
