use anyhow::{Context, Result};
use botify_ab::Metric;
use botify_ab::power::PowerQuery;
use botify_ab::report::{AbOptions, Guardrail, analyse};
use botify_ab::stats::{Correction, IntervalMethod};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AbArgs {
    #[command(subcommand)]
    command: Option<AbCommand>,
    #[command(flatten)]
    analyse: AnalyseArgs,
}

#[derive(Subcommand)]
enum AbCommand {
    /// Users needed to detect an effect (or the effect detectable with the users you have).
    Power(PowerArgs),
}

#[derive(Args)]
struct AnalyseArgs {
    /// The experiment to analyse (its name in the logs' "experiments").
    #[arg(long)]
    experiment: Option<String>,
    /// Log files or directories (data.json and rotated data.json.N); several replicas welcome.
    logs: Vec<PathBuf>,
    /// table (coloured in a terminal), md, json or csv.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write a self-contained HTML report with charts.
    #[arg(long)]
    html: Option<PathBuf>,
    /// A/A mode: expect no difference and say whether the check passes (no (treatment, metric)
    /// pair significant after the correction, and an even split).
    #[arg(long)]
    aa: bool,
    /// Interval of the relative effect: delta (delta method of the ratio of means) or course
    /// (the course notebook's Welch interval ÷ control mean, too narrow for gains).
    #[arg(long, default_value_t = IntervalMethod::default())]
    interval: IntervalMethod,
    /// Multiplicity correction over every (treatment, metric) pair: maxt (Westfall–Young
    /// step-down maxT, family-wise error using the statistics' correlation), holm (family-wise
    /// error under any dependence, conservative), bh (Benjamini–Hochberg false discovery rate)
    /// or none.
    #[arg(long, default_value_t = Correction::default())]
    correction: Correction,
    /// The metric the ship / don't ship decision rests on.
    #[arg(long, default_value_t = AbOptions::new("", Vec::new()).primary)]
    primary: Metric,
    /// A metric that may not get worse by more than a margin, e.g. mean_request_latency:10%
    /// (repeatable).
    #[arg(long = "guardrail")]
    guardrails: Vec<Guardrail>,
    /// Also show always-valid intervals (mixture SPRT) that may be looked at while traffic runs.
    #[arg(long)]
    sequential: bool,
    /// Mixing scale of the always-valid interval, as a relative effect (0.1: effects near 10%).
    #[arg(long, default_value_t = 0.1, requires = "sequential")]
    sequential_tau: f64,
    /// The experiments file the service ran with: the experiment's bucket count is read from it
    /// (for the sample-ratio check), and its recommenders name the arms in the reports.
    #[arg(long, conflicts_with = "buckets")]
    experiments: Option<PathBuf>,
    /// Pre-period logs for CUPED variance reduction.
    #[arg(long)]
    pre: Vec<PathBuf>,
    /// Confidence level of the intervals.
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Configured number of buckets (2 to 10; for the sample-ratio check; default: buckets seen).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=10))]
    buckets: Option<u32>,
    /// Metrics to compare (default: the course's five per-user metrics; the session-level
    /// ratio_time_per_session and ratio_tracks_per_session can be added).
    #[arg(long, value_delimiter = ',')]
    metrics: Vec<Metric>,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Table,
    Md,
    Json,
    Csv,
}

#[derive(Args)]
struct PowerArgs {
    /// The metric to power the test for.
    #[arg(long, default_value_t = Metric::MeanTimePerSession)]
    metric: Metric,
    /// Logs of the current system (baseline variance and mean).
    #[arg(long, required = true)]
    baseline_log: Vec<PathBuf>,
    /// Experiment whose control group is the baseline; default: all users of the log's first experiment.
    #[arg(long)]
    experiment: Option<String>,
    /// Relative effect to detect, e.g. 2% or 0.02 (0.01% to 1000% in size).
    #[arg(long, value_parser = parse_effect)]
    effect: Option<f64>,
    /// Users per group you can have: prints the minimum detectable effect instead.
    #[arg(long)]
    users: Option<f64>,
    /// Significance level (two-sided).
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    /// Probability of detecting the effect when it is there.
    #[arg(long, default_value_t = 0.8)]
    power: f64,
}

pub fn run(a: AbArgs) -> Result<()> {
    match a.command {
        Some(AbCommand::Power(p)) => power(p),
        None => run_analysis(a.analyse),
    }
}

fn run_analysis(a: AnalyseArgs) -> Result<()> {
    let Some(experiment) = a.experiment else {
        usage!("say which experiment to analyse: botify ab --experiment NAME LOG_DIR...");
    };
    if a.logs.is_empty() {
        usage!("give at least one log file or directory");
    }
    let mut o = AbOptions::new(&experiment, distinct(a.logs)?);
    o.confidence = a.confidence;
    o.buckets = match &a.experiments {
        Some(path) => {
            let config = botify_recs::experiments::ExperimentsConfig::load(path)
                .with_context(|| format!("reading --experiments {}", path.display()))?;
            let e = config.experiments.iter().find(|e| e.name == experiment);
            let e = e.with_context(|| {
                format!(
                    "--experiments {} has no experiment {experiment:?}",
                    path.display()
                )
            })?;
            o.labels = e.labels();
            Some(e.buckets)
        }
        None => a.buckets,
    };
    o.pre = (!a.pre.is_empty()).then_some(a.pre);
    o.interval = a.interval;
    o.correction = a.correction;
    o.primary = a.primary;
    o.guardrails = a.guardrails;
    o.sequential = a.sequential.then_some(a.sequential_tau);
    if !a.metrics.is_empty() {
        o.metrics = a.metrics;
    }
    let report = analyse(&o)?;
    match a.format {
        Format::Table => print!("{}", report.to_table(crate::ui::colour())),
        Format::Md => print!("{}", report.to_markdown()),
        Format::Json => println!("{}", report.to_json()),
        Format::Csv => print!("{}", report.to_csv()),
    }
    if let Some(path) = &a.html {
        std::fs::write(path, report.to_html())
            .with_context(|| format!("writing {}", path.display()))?;
        note!("HTML report: {}", path.display());
    }
    if a.aa {
        let (passed, text) = report.aa_verdict(crate::ui::colour());
        // A JSON or CSV document stays parseable: the verdict goes beside it, on stderr.
        match a.format {
            Format::Json | Format::Csv => eprintln!("{text}"),
            Format::Table | Format::Md => println!("{text}"),
        }
        if !passed {
            return Err(crate::Failure::CheckFailed("A/A check failed".into()).into());
        }
    }
    Ok(())
}

fn power(p: PowerArgs) -> Result<()> {
    let q = PowerQuery {
        metric: p.metric,
        baseline_logs: p.baseline_log,
        experiment: p.experiment,
        effect: p.effect,
        users: p.users,
        alpha: p.alpha,
        power: p.power,
    };
    print!("{}", q.answer()?.to_text(&q));
    Ok(())
}

/// A relative effect between 0.01% and 1000%: beyond that no test is needed, and the search
/// for the users needed would run for minutes.
fn parse_effect(e: &str) -> std::result::Result<f64, String> {
    let v = botify_ab::parse_fraction(e)
        .ok_or_else(|| format!("{e:?} is not a number (e.g. 2% or 0.02)"))?;
    if !(v.abs() >= 1e-4 && v.abs() <= 10.0) {
        return Err(format!(
            "{e}: a relative effect must be between 0.01% and 1000% in size"
        ));
    }
    Ok(v)
}

/// The log paths with each file or directory once (the same one named twice would count every
/// event twice); a path that does not exist is an error naming it.
fn distinct(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for p in paths {
        let real = std::fs::canonicalize(&p)
            .with_context(|| format!("log path {}: cannot read it", p.display()))?;
        if seen.insert(real) {
            out.push(p);
        } else {
            note!("note: {} is named twice; read once", p.display());
        }
    }
    Ok(out)
}
