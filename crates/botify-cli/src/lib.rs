//! `botify`: the commands that wire Botify's crates together, for the binary and for the Python
//! package's console entry point alike. Only this crate talks to the terminal (progress bars,
//! tables, colours).

mod ab_cmd;
mod experiment_cmd;
mod log_cmd;
mod ope_cmd;
mod serve_cmd;
mod sim_cmd;
mod train_cmd;
mod ui;
mod world_cmd;

use clap::{Parser, Subcommand};
use std::ffi::OsString;

#[derive(Parser)]
#[command(
    name = "botify",
    version,
    about = "Build, simulate and A/B-test music recommenders."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate, check and describe simulated worlds.
    #[command(subcommand)]
    World(world_cmd::WorldCommand),
    /// Simulate listeners: in-process against a recommender, the oracle, or a running service.
    Sim(sim_cmd::SimArgs),
    /// Run the recommendation service (course-compatible HTTP API).
    Serve(serve_cmd::ServeArgs),
    /// Share recommendation data through Redis for several service replicas.
    #[command(subcommand)]
    Data(serve_cmd::DataCommand),
    /// Analyse an A/B experiment from event logs.
    Ab(ab_cmd::AbArgs),
    /// Off-policy evaluation: a policy's value estimated from other policies' logs.
    Ope(ope_cmd::OpeArgs),
    /// Event logs for warehouses (Parquet).
    #[command(subcommand)]
    Log(log_cmd::LogCommand),
    /// The whole loop in one command: world, a day of traffic, training, deployment, A/B, report.
    #[command(subcommand)]
    Experiment(experiment_cmd::ExperimentCommand),
    /// Train recommenders from event logs.
    #[command(subcommand)]
    Train(train_cmd::TrainCommand),
    /// Offline metrics of recommendation files on a held-out split of the logs.
    Eval(train_cmd::EvalArgs),
    /// Print the treatment of users in an experiment (the course's murmur3 split).
    Assign(serve_cmd::AssignArgs),
}

/// Runs the command line `args` (the program's name first) and returns its exit code: 0, 1 when
/// the run failed, 2 for a bad flag or input. It owns the process: SIGPIPE gets its default
/// disposition back, so `botify world stats W | head` ends quietly as Unix tools do.
pub fn run(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> u8 {
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread of ours starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return e.exit_code().clamp(0, 255) as u8;
        }
    };
    // A whole run shows its stages; its embedded service's reloads would only interleave.
    let quiet = match cli.command {
        Command::Experiment(_) => "warn",
        _ => "info",
    };
    // A second call in one process (the Python entry point) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BOTIFY_LOG")
                .unwrap_or_else(|_| quiet.into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only where a terminal reads them (not in a captured run's output).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let result = match cli.command {
        Command::World(c) => world_cmd::run(c),
        Command::Sim(a) => sim_cmd::run(a),
        Command::Serve(a) => serve_cmd::run(a),
        Command::Assign(a) => serve_cmd::assign(a),
        Command::Ab(a) => ab_cmd::run(a),
        Command::Ope(a) => ope_cmd::run(a),
        Command::Log(c) => log_cmd::run(c),
        Command::Data(c) => serve_cmd::data(c),
        Command::Train(c) => train_cmd::run(c),
        Command::Experiment(c) => experiment_cmd::run(c),
        Command::Eval(a) => train_cmd::eval(a),
    };
    let Err(e) = result else { return 0 };
    eprintln!("error: {e:#}");
    // A bad input named in the message exits as a bad flag does: the input is wrong, not the run.
    if e.chain().any(botify_lab::is_bad_input) {
        2
    } else {
        1
    }
}
