//! `botify log export`: event logs in a warehouse's format.

use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum LogCommand {
    /// Write event logs as Parquet (typed columns, one column per experiment, one directory per
    /// UTC day) for DuckDB, Spark or a warehouse: docs/deploy.md shows the A/B table in SQL.
    Export(ExportArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Parquet,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "parquet")]
    format: Format,
    /// Output directory (new or empty): DIR/day=YYYY-MM-DD/part-0.parquet.
    #[arg(long)]
    out: PathBuf,
    /// Log files or directories (every replica's; rotated files included).
    #[arg(required = true)]
    logs: Vec<PathBuf>,
}

pub fn run(cmd: LogCommand) -> Result<()> {
    let LogCommand::Export(a) = cmd;
    match a.format {
        Format::Parquet => {}
    }
    let t = std::time::Instant::now();
    let bar = crate::ui::progress(0, "log files");
    let done = botify_lab::export::export_parquet(&a.logs, &a.out, |i, n| {
        bar.set_length(n as u64);
        bar.set_position(i as u64);
    })?;
    bar.finish_and_clear();
    for (day, file, rows) in &done.files {
        println!("{day}: {rows} events → {}", file.display());
    }
    let experiments = if done.experiments.is_empty() {
        "none".to_string()
    } else {
        done.experiments.join(", ")
    };
    println!(
        "{} events from {} log files in {:.1}s; experiment columns: {experiments}",
        done.read.events,
        done.read.files,
        t.elapsed().as_secs_f64()
    );
    if done.read.skipped > 0 {
        eprintln!(
            "skipped {} malformed lines, e.g. {}",
            done.read.skipped,
            done.read.skipped_examples.join("; ")
        );
    }
    Ok(())
}
