//! `botify`: the commands that wire Botify's crates together, for the binary and for the Python
//! package's console entry point alike. Only this crate talks to the terminal (progress bars,
//! tables, colours).

/// Returns a bad-input error (exit code 2): a flag or input the command cannot work with.
macro_rules! usage {
    ($($t:tt)*) => {
        return Err(crate::Failure::BadInput(format!($($t)*)).into())
    };
}

/// A line for the person watching (stderr), silenced by `--quiet`.
macro_rules! note {
    ($($t:tt)*) => {
        if !crate::ui::quiet() {
            eprintln!($($t)*);
        }
    };
}

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

/// What the exit codes mean, for `--help` and the man page.
const EXIT_CODES: &str = "Exit codes: 0 success; 1 a check ran and failed (`ab --aa` found a difference, \
`world check` found the world invalid); 2 a bad flag or input (named in the message); 3 the \
command could not run (a file could not be read or written, a service failed).";

#[derive(Parser)]
#[command(
    name = "botify",
    version,
    about = "Build, simulate and A/B-test music recommenders.",
    after_help = EXIT_CODES
)]
struct Cli {
    /// No progress bars, stage lines or notes: only results (stdout) and errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// The service's and the runs' log lines on stderr: text, or json (one object per line with
    /// timestamp, level, target and fields, for a log collector). BOTIFY_LOG sets the level.
    #[arg(long, value_enum, global = true, default_value_t = ui::Output::Text)]
    log_format: ui::Output,
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell, e.g. `botify completions bash > /etc/bash_completion.d/botify`.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory.
    Man {
        /// Write botify.1, botify-world.1, botify-world-generate.1… into this directory.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// Failures with their own exit code: a check that ran and failed (1), a flag or input the
/// command itself found it cannot work with (2). Anything else that stops a command is 3.
#[derive(Debug)]
pub enum Failure {
    CheckFailed(String),
    BadInput(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::CheckFailed(m) | Failure::BadInput(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Failure {}

/// Runs the command line `args` (the program's name first) and returns its exit code
/// ([`EXIT_CODES`]). It owns the process: SIGPIPE gets its default disposition back, so `botify
/// world stats W | head` ends quietly as Unix tools do.
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
    ui::set_quiet(cli.quiet);
    // A whole run shows its stages; its embedded service's reloads would only interleave.
    let quiet = match cli.command {
        _ if cli.quiet => "error",
        Command::Experiment(_) => "warn",
        _ => "info",
    };
    // A second call in one process (the Python entry point) keeps the first subscriber.
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("BOTIFY_LOG").unwrap_or_else(|_| quiet.into())
    };
    let _ = match cli.log_format {
        ui::Output::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .try_init(),
        ui::Output::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            // Colour codes only where a terminal reads them (not in a captured run's output).
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
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
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "botify", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { out } => man(out),
    };
    let Err(e) = result else { return 0 };
    eprintln!("error: {e:#}");
    if e.chain()
        .any(|c| matches!(c.downcast_ref(), Some(Failure::CheckFailed(_))))
    {
        1
    } else if e.chain().any(|c| {
        matches!(c.downcast_ref(), Some(Failure::BadInput(_))) || botify_lab::is_bad_input(c)
    }) {
        // A bad input named in the message exits as a bad flag does: the input is wrong.
        2
    } else {
        3
    }
}

/// `botify man`: the top page on stdout, or every command's page into `out`.
fn man(out: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    use anyhow::Context;
    let Some(dir) = out else {
        clap_mangen::Man::new(command()).render(&mut std::io::stdout())?;
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = command();
    clap_mangen::generate_to(cmd, &dir).with_context(|| format!("writing to {}", dir.display()))?;
    println!("man pages written to {}", dir.display());
    Ok(())
}

/// The command-line interface's definition: completions, the man page and tests read it.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
