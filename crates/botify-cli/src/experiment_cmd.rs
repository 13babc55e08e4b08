//! `botify experiment run`: one turn of the whole loop through `botify_lab::run`, shown on the
//! terminal; `botify experiment default` prints the built-in plan.

use crate::ui;
use anyhow::{Context, Result};
use botify_lab::Plan;
use botify_lab::run::{RunOptions, Traffic, default_dir};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Subcommand)]
pub enum ExperimentCommand {
    /// Run a plan (the built-in default when no file is given).
    Run(RunArgs),
    /// Print the built-in default plan (a starting point for your own).
    Default,
}

#[derive(Args)]
pub struct RunArgs {
    /// Plan file (TOML); default: the built-in plan.
    plan: Option<PathBuf>,
    /// Skip HTTP: simulate against the recommenders in-process (reproducible to the bit).
    #[arg(long)]
    in_process: bool,
    /// Keep the service's user history in Redis instead of in-process.
    #[arg(long, conflicts_with = "in_process")]
    redis: Option<String>,
    /// Run directory (default runs/<plan name>-<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// First Ctrl-C: finish the current stage, stop the service, keep what was made. Second: exit now.
fn watch_ctrl_c(cancel: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                while tokio::signal::ctrl_c().await.is_ok() {
                    if cancel.swap(true, Ordering::SeqCst) {
                        eprintln!("\ninterrupted again: exiting now");
                        std::process::exit(130);
                    }
                    eprintln!(
                        "\ninterrupted: stopping after the current stage (Ctrl-C again to exit now)"
                    );
                }
            });
        });
}

pub fn run(cmd: ExperimentCommand) -> Result<()> {
    match cmd {
        ExperimentCommand::Default => {
            print!("{}", Plan::default().to_toml()?);
            Ok(())
        }
        ExperimentCommand::Run(a) => run_plan(a),
    }
}

fn run_plan(a: RunArgs) -> Result<()> {
    let t0 = Instant::now();
    let plan = match &a.plan {
        Some(p) => Plan::load(p)?,
        None => Plan::default(),
    };
    plan.validate()
        .context("the plan is invalid; nothing was run")?;
    let cancel = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(cancel.clone());
    let opts = RunOptions {
        traffic: if a.in_process {
            Traffic::InProcess
        } else {
            Traffic::Http { redis: a.redis }
        },
        dir: a.out.unwrap_or_else(|| default_dir(&plan)),
        cancel,
    };
    let obs = ui::Term::new(false);
    let outcome = botify_lab::run::run(&plan, &opts, &obs)?;
    println!();
    for (i, s) in outcome.treatments.iter().enumerate() {
        println!(
            "  {:<3} {}",
            botify_core::murmur::treatment_name(i as u32),
            serde_json::to_string(s)?
        );
    }
    println!();
    crate::ab_cmd::print_table(&outcome.report);
    println!(
        "\nrun {} finished in {:.0}s; report: {}",
        plan.name,
        t0.elapsed().as_secs_f64(),
        outcome.dir.join("report.html").display()
    );
    Ok(())
}
