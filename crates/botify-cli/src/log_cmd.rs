//! `botify log export`: event logs in a warehouse's format.

use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum LogCommand {
    /// Write event logs as Parquet (typed columns, the experiments as a map, one directory per
    /// UTC day; `--append` adds only what was logged since) for DuckDB, Spark or a warehouse:
    /// docs/deploy.md shows the A/B table in SQL.
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
    /// Output directory (new or empty, or an earlier export with --append):
    /// DIR/day=YYYY-MM-DD/part-N.parquet.
    #[arg(long)]
    out: PathBuf,
    /// Continue the export in --out: write only the lines logged since it last ran (files are
    /// followed across rotation).
    #[arg(long)]
    append: bool,
    /// Log files or directories (every replica's; rotated files included).
    #[arg(required = true)]
    logs: Vec<PathBuf>,
    /// What to print about the export (cargo's flag name: --format is the files' format): text,
    /// or json (files written with their days and rows, experiments, how reading went).
    #[arg(long, value_enum, default_value_t = crate::ui::Output::Text)]
    message_format: crate::ui::Output,
}

pub fn run(cmd: LogCommand) -> Result<()> {
    let LogCommand::Export(a) = cmd;
    match a.format {
        Format::Parquet => {}
    }
    let t = std::time::Instant::now();
    let bar = crate::ui::progress(0, "log files");
    let done = botify_lab::export::export_parquet(&a.logs, &a.out, a.append, |i, n| {
        bar.set_length(n as u64);
        bar.set_position(i as u64);
    })?;
    bar.finish_and_clear();
    if a.message_format == crate::ui::Output::Json {
        println!("{}", serde_json::to_string(&done)?);
        return Ok(());
    }
    for (day, file, rows) in &done.files {
        println!("{day}: {rows} events → {}", file.display());
    }
    let experiments = if done.experiments.is_empty() {
        "none".to_string()
    } else {
        done.experiments.join(", ")
    };
    let resumed = if done.resumed > 0 {
        format!(
            " ({} continued where the last export stopped)",
            done.resumed
        )
    } else {
        String::new()
    };
    println!(
        "{} new events from {} log files{resumed} in {:.1}s; experiments: {experiments}",
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
