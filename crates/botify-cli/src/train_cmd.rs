//! `botify train <model>` and `botify eval`. Each model of the registry
//! (`botify_lab::models::REGISTRY`) is a subcommand whose flags are made from the parameters it
//! declares: their names, defaults, ranges and help are written once, in the model's file.

use crate::ui;
use anyhow::Result;
use botify_core::params::{Field, show};
use botify_lab::logs::{DEFAULT_HOLDOUT, Loaded, load};
use botify_lab::models::{ModelSpec, REGISTRY, Settings, TrainData, Trainer, train, trainer};
use clap::{ArgMatches, Args, FromArgMatches};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// `botify train <model> [flags]`: the model, the shared flags and the parameters given.
pub struct TrainCommand {
    trainer: &'static dyn Trainer,
    common: Common,
    params: Map<String, Value>,
}

/// A field as a flag: its help with the valid range and default, parsed and checked by kind.
fn flag(f: &'static Field, default: Option<&Value>) -> clap::Arg {
    let mut help = f.help().trim_end_matches('.').to_string();
    let bounds = f.bounds();
    if !bounds.is_empty() {
        help.push_str(&format!(" ({bounds})"));
    }
    let mut arg = clap::Arg::new(f.name)
        .long(f.flag())
        .help(help)
        .value_parser(move |s: &str| f.parse(s));
    if let Some(a) = f.rule.alias {
        arg = arg.visible_alias(a);
    }
    arg = arg.value_name(f.kind.placeholder());
    match default.map(show) {
        _ if f.rule.required => arg.required(true),
        Some(shown) if !shown.is_empty() => arg.default_value(shown),
        _ => arg,
    }
}

impl FromArgMatches for TrainCommand {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, sub)) = m.subcommand() else {
            return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
        };
        let trainer = trainer(name)
            .map_err(|e| clap::Error::raw(clap::error::ErrorKind::InvalidSubcommand, e))?;
        let mut params = Map::new();
        // Shared fields are the common flags' (--k, --threshold, --seed), read below.
        for f in trainer
            .fields()
            .into_iter()
            .filter(|f| f.rule.shared.is_none())
        {
            // Only what the command line says: the rest is the model's default.
            let given = sub.value_source(f.name) == Some(clap::parser::ValueSource::CommandLine);
            if let (true, Some(v)) = (given, sub.get_one::<Value>(f.name)) {
                params.insert(f.name.to_string(), v.clone());
            }
        }
        Ok(TrainCommand {
            trainer,
            common: Common::from_arg_matches(sub)?,
            params,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Subcommand for TrainCommand {
    fn augment_subcommands(cmd: clap::Command) -> clap::Command {
        REGISTRY.iter().fold(cmd, |cmd, t| {
            let defaults = t.defaults();
            let own = t.fields().into_iter().filter(|f| f.rule.shared.is_none());
            let sub = clap::Command::new(t.name()).about(t.about());
            let sub = own.fold(Common::augment_args(sub), |sub, f| {
                sub.arg(flag(f, defaults.get(f.name)))
            });
            cmd.subcommand(sub)
        })
    }

    fn augment_subcommands_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        trainer(name).is_ok()
    }
}

#[derive(Args, Clone)]
pub struct Common {
    /// Log files or directories.
    #[arg(long, required = true, num_args = 1..)]
    pub logs: Vec<PathBuf>,
    /// The catalogue (checks track ids; needed for item features).
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Where the model's output goes (its learning curve and weights beside it).
    #[arg(long)]
    pub out: PathBuf,
    /// Tracks per list.
    #[arg(long, default_value_t = Settings::default().k, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    pub k: usize,
    /// Hold out the last fraction of listens (by time) to report offline metrics; 0 trains on all.
    #[arg(long, default_value_t = DEFAULT_HOLDOUT, value_parser = crate::ui::fraction)]
    pub holdout: f64,
    /// Positive listens: time at least this (the course's LightFM positives).
    #[arg(long, default_value_t = Settings::default().threshold)]
    pub threshold: f32,
    /// Metrics cut-off.
    #[arg(long, default_value_t = Settings::default().eval_k, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    pub eval_k: usize,
    /// Seed of the split, sampling and initialisation: the same seed gives the same files.
    #[arg(long, default_value_t = botify_core::defaults::SEED)]
    pub seed: u64,
    /// text, or json: one object (model, metrics, chosen parameters, files written, timing).
    #[arg(long, value_enum, default_value_t = ui::Output::Text)]
    pub format: ui::Output,
}

fn load_logs(c: &Common, holdout: f64) -> Result<Loaded> {
    let t = std::time::Instant::now();
    let l = load(&c.logs, c.catalog.as_deref(), holdout, c.seed)?;
    l.summary(t.elapsed().as_secs_f64())
        .iter()
        .for_each(|line| note!("{line}"));
    Ok(l)
}

pub fn run(cmd: TrainCommand) -> Result<()> {
    let c = cmd.common;
    let spec = ModelSpec {
        trainer: cmd.trainer,
        params: cmd.params,
    };
    let settings = Settings {
        k: c.k,
        threshold: c.threshold,
        eval_k: c.eval_k,
        seed: c.seed,
    };
    // Everything the flags say is checked before the logs are read.
    settings.validate()?;
    spec.validate(&settings)?;
    if spec.needs_catalog(&settings)? && c.catalog.is_none() {
        usage!(
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
    if c.format == ui::Output::Json {
        let mut doc = serde_json::to_value(&t)?;
        if let Some(o) = doc.as_object_mut() {
            o.insert("model".into(), Value::from(spec.name()));
        }
        println!("{doc}");
        return Ok(());
    }
    if let Some(line) = t.timing() {
        note!("{line}");
    }
    if let Some(m) = &t.candidates_metrics {
        println!("candidates as given: {}", m.line());
    }
    if let Some(m) = &t.metrics {
        println!("{}: {}", spec.name(), m.line());
    }
    if let Some(p) = &t.chosen {
        println!("best parameters: {}", Value::Object(p.clone()));
    }
    println!("wrote {} to {}", t.written, c.out.display());
    for f in t.files.iter().skip(1) {
        println!("  and {}", f.display());
    }
    Ok(())
}

#[derive(Args)]
pub struct EvalArgs {
    /// Log files or directories: the last --holdout of listens (by time) is held out.
    #[arg(long, required = true, num_args = 1..)]
    logs: Vec<PathBuf>,
    /// Per-user list files ({"user", "tracks"}), per-track list files ({"track",
    /// "recommendations"}) or top-tracks arrays to compare.
    #[arg(long, required = true, num_args = 1..)]
    recs: Vec<PathBuf>,
    /// Metrics cut-off (P@k, R@k, NDCG@k).
    #[arg(long, default_value_t = Settings::default().eval_k, value_parser = crate::ui::in_range::<usize>(1, 10_000))]
    k: usize,
    /// The held-out fraction (the same split the trainers use).
    #[arg(long, default_value_t = DEFAULT_HOLDOUT, value_parser = crate::ui::fraction)]
    holdout: f64,
    /// Held-out positives: listens with time at least this.
    #[arg(long, default_value_t = Settings::default().threshold)]
    threshold: f32,
    /// The catalogue (checks track ids and gives coverage its denominator).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// table, or json: an array of {file, users, k, precision, recall, mrr, ndcg, coverage}.
    #[arg(long, value_enum, default_value_t = ui::Output::Text)]
    format: ui::Output,
}

pub fn eval(a: EvalArgs) -> Result<()> {
    if !(a.holdout > 0.0 && a.holdout < 1.0) {
        usage!(
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
        seed: botify_core::defaults::SEED,
        format: a.format,
    };
    let l = load_logs(&c, a.holdout)?;
    let holdout = botify_lab::eval::Holdout::new(&l, a.threshold)?;
    if a.format == ui::Output::Json {
        let mut rows = Vec::new();
        for f in &a.recs {
            let mut row = serde_json::to_value(holdout.evaluate_file(f, a.k)?)?;
            if let Some(o) = row.as_object_mut() {
                o.insert("file".into(), Value::from(f.display().to_string()));
            }
            rows.push(row);
        }
        println!("{}", Value::Array(rows));
        return Ok(());
    }
    print!("{}", holdout.table(&a.recs, a.k)?);
    Ok(())
}
