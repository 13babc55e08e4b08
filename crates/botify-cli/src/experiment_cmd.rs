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
    #[arg(long, conflicts_with_all = ["redis", "redis_cluster"])]
    in_process: bool,
    /// Keep the service's user history in Redis (--redis URL or --redis-cluster URL[,URL...])
    /// instead of in-process.
    #[command(flatten)]
    redis: crate::serve_cmd::RedisArgs,
    /// Run directory (default runs/<plan name>-<timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Follow the run on a live dashboard at this address (default 127.0.0.1:5002): stages,
    /// progress, training curves, the service's traffic and the A/B test as it runs, then the
    /// report. The page stays up after the run until Ctrl-C (see --dashboard-exit).
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:5002")]
    dashboard: Option<std::net::SocketAddr>,
    /// With --dashboard: exit when the run ends instead of keeping the page up.
    #[arg(long, requires = "dashboard")]
    dashboard_exit: bool,
    /// Print every metric's rows, not only the primary metric's.
    #[arg(long)]
    all_metrics: bool,
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
    let dashboard = a
        .dashboard
        .map(botify_dashboard::DashboardServer::start)
        .transpose()?;
    if let Some(d) = &dashboard {
        println!("dashboard: {}", d.url());
    }
    let opts = RunOptions {
        traffic: if a.in_process {
            Traffic::InProcess
        } else {
            Traffic::Http {
                redis: a.redis.target()?,
            }
        },
        dir: a.out.unwrap_or_else(|| default_dir(&plan)),
        cancel: cancel.clone(),
        dashboard: dashboard
            .as_ref()
            .map(|d| d.dashboard.clone() as std::sync::Arc<dyn botify_server::LiveView>),
    };
    let term = ui::Term::new(false);
    let outcome = match &dashboard {
        Some(d) => d.run(&plan, &opts, &term),
        None => botify_lab::run::run(&plan, &opts, &term),
    };
    // The dashboard and report stay up after the run until Ctrl-C (unless one already asked).
    let keep = |d: &Option<botify_dashboard::DashboardServer>| match d {
        Some(d) if !a.dashboard_exit && !cancel.load(Ordering::SeqCst) => {
            eprintln!(
                "the run has ended; its dashboard stays at {} (Ctrl-C to exit)",
                d.url()
            );
            d.serve_until(&cancel);
        }
        _ => {}
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            if dashboard.is_some() && !a.dashboard_exit {
                eprintln!("error: {e}");
            }
            keep(&dashboard);
            return Err(e.into());
        }
    };
    println!();
    for (i, s) in outcome.treatments.iter().enumerate() {
        println!(
            "  {:<3} {}",
            botify_core::murmur::treatment_name(i as u32),
            s.label()
        );
    }
    println!();
    let table = match a.all_metrics {
        true => outcome.report.to_table(crate::ui::colour()),
        false => outcome.report.to_primary_table(crate::ui::colour()),
    };
    print!("{table}");
    println!(
        "\nrun {} finished in {:.0}s; report: {}",
        plan.name,
        t0.elapsed().as_secs_f64(),
        outcome.dir.join("report.html").display()
    );
    keep(&dashboard);
    Ok(())
}
