use crate::ui::paint;
use anyhow::{Context, Result, bail};
use botify_ab::power::PowerQuery;
use botify_ab::report::{AbOptions, AbReport, analyse};
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
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write a self-contained HTML report with charts.
    #[arg(long)]
    html: Option<PathBuf>,
    /// A/A mode: expect no difference and say whether the check passes.
    #[arg(long)]
    aa: bool,
    /// Pre-period logs for CUPED variance reduction.
    #[arg(long)]
    pre: Vec<PathBuf>,
    #[arg(long, default_value_t = 0.95)]
    confidence: f64,
    /// Configured number of buckets (for the sample-ratio check; default: buckets seen).
    #[arg(long)]
    buckets: Option<u32>,
    /// Metrics to compare (default: all five).
    #[arg(long, value_delimiter = ',')]
    metrics: Vec<String>,
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
    #[arg(long, default_value = "mean_time_per_session")]
    metric: String,
    /// Logs of the current system (baseline variance and mean).
    #[arg(long, required = true)]
    baseline_log: Vec<PathBuf>,
    /// Experiment whose control group is the baseline; default: all users of the log's first experiment.
    #[arg(long)]
    experiment: Option<String>,
    /// Relative effect to detect, e.g. 2% or 0.02.
    #[arg(long)]
    effect: Option<String>,
    /// Users per group you can have: prints the minimum detectable effect instead.
    #[arg(long)]
    users: Option<f64>,
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
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
        bail!("say which experiment to analyse: botify ab --experiment NAME LOG_DIR...");
    };
    if a.logs.is_empty() {
        bail!("give at least one log file or directory");
    }
    let mut o = AbOptions::new(&experiment, a.logs);
    o.confidence = a.confidence;
    o.buckets = a.buckets;
    o.pre = (!a.pre.is_empty()).then_some(a.pre);
    if !a.metrics.is_empty() {
        o.metrics = a.metrics;
    }
    let report = analyse(&o)?;
    match a.format {
        Format::Table => print_table(&report),
        Format::Md => print!("{}", report.to_markdown()),
        Format::Json => println!("{}", report.to_json()),
        Format::Csv => print!("{}", report.to_csv()),
    }
    if let Some(path) = &a.html {
        std::fs::write(path, report.to_html())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("HTML report: {}", path.display());
    }
    if a.aa {
        if report.aa_passes() && !report.srm.mismatch {
            println!(
                "{}",
                paint(
                    "A/A check passed: no metric differs significantly (Holm) and the split is even.",
                    "32"
                )
            );
        } else {
            println!(
                "{}",
                paint(
                    "A/A check FAILED: an A/A experiment shows a difference or a broken split.",
                    "1;31"
                )
            );
            bail!("A/A check failed");
        }
    }
    Ok(())
}

fn fmt(x: f64, d: usize) -> String {
    if x.is_nan() {
        "—".into()
    } else {
        format!("{x:.d$}")
    }
}

/// The course's coloured table: green for a significant gain, red for a significant loss.
pub fn print_table(r: &AbReport) {
    let users: Vec<String> = r
        .treatments
        .iter()
        .map(|t| format!("{} {}", t.name, t.users))
        .collect();
    println!(
        "experiment {} — users: {}{}",
        r.experiment,
        users.join(", "),
        if r.cuped { " — CUPED" } else { "" }
    );
    if r.srm.mismatch {
        println!(
            "{}",
            paint(
                &format!(
                    "SAMPLE RATIO MISMATCH (chi² {:.1}, p {:.1e}): do not trust these results",
                    r.srm.chi2, r.srm.p
                ),
                "1;31"
            )
        );
    }
    let ci = format!("{:.0}% CI", r.confidence * 100.0);
    println!(
        "{:<10} {:<24} {:>12} {:>12} {:>9} {:>20} {:>9} {:>9}",
        "treatment", "metric", "control", "treatment", "effect %", ci, "p", "p Holm"
    );
    for row in &r.rows {
        let effect = if row.effect.is_nan() {
            "—".to_string()
        } else {
            format!("{:+.2}", row.effect)
        };
        let interval = if row.lower.is_nan() {
            "—".to_string()
        } else {
            format!("[{:+.2}, {:+.2}]", row.lower, row.upper)
        };
        let line = format!(
            "{:<10} {:<24} {:>12} {:>12} {:>9} {:>20} {:>9} {:>9}",
            row.treatment,
            row.metric,
            fmt(row.control_mean, 4),
            fmt(row.treatment_mean, 4),
            effect,
            interval,
            fmt(row.p_value, 4),
            fmt(row.p_holm, 4)
        );
        // Green for a significant improvement, whichever direction that is for the metric.
        let code = match (row.significant_holm, row.significant, row.improves()) {
            (true, _, true) => "1;32",
            (true, _, false) => "1;31",
            (false, true, _) => "33",
            _ => "2",
        };
        println!("{}", paint(&line, code));
    }
    for n in &r.notes {
        println!("note: {n}");
    }
}

fn power(p: PowerArgs) -> Result<()> {
    let q = PowerQuery {
        metric: p.metric,
        baseline_logs: p.baseline_log,
        experiment: p.experiment,
        effect: p.effect.as_deref().map(parse_effect).transpose()?,
        users: p.users,
        alpha: p.alpha,
        power: p.power,
    };
    let a = q.answer()?;
    println!(
        "baseline {}: {} users, mean {:.4}, sd {:.4}",
        q.metric,
        a.baseline.n,
        a.baseline.mean,
        a.baseline.var.sqrt()
    );
    if let (Some(rel), Some(n)) = (q.effect, a.users_needed) {
        println!(
            "to detect {:+.2}% with power {:.0}% at alpha {}: {} users per group ({} for C + T1)",
            rel.abs() * 100.0,
            q.power * 100.0,
            q.alpha,
            n,
            2.0 * n
        );
    }
    println!(
        "with {:.0} users per group the minimum detectable effect is {:.2}% ({:.4} absolute)",
        a.users,
        a.mde_relative * 100.0,
        a.mde
    );
    Ok(())
}

fn parse_effect(e: &str) -> Result<f64> {
    let v = match e.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => e.trim().parse::<f64>(),
    }
    .with_context(|| format!("--effect {e:?} is not a number (e.g. 2% or 0.02)"))?;
    Ok(v)
}
