use anyhow::{Context, Result};
use botify_core::eventlog::Rotation;
use botify_core::murmur::{Splitter, treatment_name};
use botify_server::ServerConfig;
use clap::Args;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// The track catalogue (tracks.json).
    #[arg(long)]
    catalog: PathBuf,
    /// Experiments TOML (routing and recommenders); default: StickyArtist for everyone.
    #[arg(long)]
    experiments: Option<PathBuf>,
    /// Directory of the event log (data.json, rotated data.json.N).
    #[arg(long, default_value = "log")]
    log_dir: PathBuf,
    /// TCP port to listen on (the course's service uses 5001).
    #[arg(long, default_value_t = 5001)]
    port: u16,
    /// Address to bind; loopback by default.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    #[command(flatten)]
    redis: RedisArgs,
    /// Rotate the event log at this many MiB (1 MiB to 1 TiB).
    #[arg(long, default_value_t = Rotation::default().max_bytes >> 20,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    log_max_mib: u64,
    /// Rotated log files kept (1 to 10,000; the oldest beyond them is deleted).
    #[arg(long, default_value_t = Rotation::default().backups as u64,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    log_backups: u64,
    /// Worker threads (1 to 1,024; default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    workers: Option<u64>,
    /// Users whose history the embedded store remembers (1 to 1,000,000,000); the least
    /// recently used are forgotten first.
    #[arg(long, default_value_t = botify_server::Limits::default().max_users as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    max_users: u64,
    /// MiB the embedded store's histories may hold (1 to 1,048,576); past it the least
    /// recently used users are forgotten first. A user costs about 96 bytes plus 16 per
    /// listen kept (at most 1.25 × the experiments' `history`).
    #[arg(long, default_value_t = (botify_server::Limits::default().max_history_bytes >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    max_history_mib: u64,
    /// Seconds a user's Redis history lives after their last listen (0: forever; at most 10 years).
    #[arg(long, default_value_t = botify_server::Limits::default().history_ttl.map_or(0, |d| d.as_secs()),
          value_parser = clap::value_parser!(u64).range(0..=315_360_000))]
    history_ttl: u64,
    /// Longest wait for one Redis command in ms (1 to 60,000) before answering without history
    /// and opening the circuit breaker.
    #[arg(long, default_value_t = botify_server::Limits::default().redis_timeout.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    redis_timeout_ms: u64,
    /// Seconds a keep-alive connection may stay idle waiting for its next request (1 to 3,600).
    #[arg(long, default_value_t = botify_server::Limits::default().idle_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout: u64,
    /// Seconds a request's headers may take once its first byte has arrived (1 to 3,600).
    #[arg(long, default_value_t = botify_server::Limits::default().header_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout: u64,
    /// Seconds a request's body may take to arrive after its headers (1 to 3,600); then 408.
    #[arg(long, default_value_t = botify_server::Limits::default().body_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout: u64,
    /// Open connections at most (16 to 1,000,000; default: the file limit minus 64); beyond
    /// them a connection gets a 503 and is closed at once.
    #[arg(long, value_parser = clap::value_parser!(u64).range(16..=1_000_000))]
    max_connections: Option<u64>,
    /// Open connections from one client address at most (1 to 1,000,000; default: a quarter of
    /// --max-connections, at least 16), so one client cannot hold every connection. Behind a
    /// load balancer all connections come from its address: raise it there.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections_per_address: Option<u64>,
    /// Seconds requests in flight may take to finish at shutdown (0 to 3,600); then their
    /// connections are closed. The event log is flushed in every case.
    #[arg(long, default_value_t = botify_server::Limits::default().shutdown_grace.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace: u64,
    /// Seconds to keep serving at shutdown while /health answers 503 "draining" (0 to 3,600),
    /// so a load balancer takes this replica out of rotation before its connections close.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    drain: u64,
    /// Serve the live dashboard (GET /dashboard and its JSON API) on this address, e.g.
    /// 127.0.0.1:5002; its reload button takes the admin token.
    #[arg(long)]
    dashboard: Option<SocketAddr>,
}

pub fn run(a: ServeArgs) -> Result<()> {
    if !a.host.is_loopback() {
        tracing::warn!(
            "--host {} accepts requests from other machines: the service has no authentication \
             (only /admin/reload checks a token)",
            a.host
        );
    }
    if let Some(d) = a.dashboard.filter(|d| !d.ip().is_loopback()) {
        tracing::warn!(
            "--dashboard {d} shows the service's traffic and configuration to other machines"
        );
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(w) = a.workers {
        rt.worker_threads(w as usize);
    }
    let rt = rt.build()?;
    let dashboard = a
        .dashboard
        .map(botify_dashboard::DashboardServer::start)
        .transpose()?;
    if let Some(d) = &dashboard {
        tracing::info!("dashboard on {}", d.url());
    }
    let live = dashboard
        .as_ref()
        .map(|d| d.dashboard.clone() as std::sync::Arc<dyn botify_server::LiveView>);
    rt.block_on(async move {
        let addr = SocketAddr::new(a.host, a.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let cfg = ServerConfig {
            catalog: a.catalog,
            experiments: a.experiments,
            log_dir: a.log_dir,
            rotation: Rotation {
                // In range by the flag's parser: no overflow, never 0.
                max_bytes: a.log_max_mib << 20,
                backups: a.log_backups as usize,
            },
            redis: a.redis.target()?,
            admin_token: std::env::var("BOTIFY_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
            limits: botify_server::Limits {
                max_users: a.max_users as usize,
                max_history_bytes: (a.max_history_mib as usize) << 20,
                history_ttl: (a.history_ttl > 0).then(|| Duration::from_secs(a.history_ttl)),
                redis_timeout: Duration::from_millis(a.redis_timeout_ms),
                idle_timeout: Duration::from_secs(a.idle_timeout),
                header_timeout: Duration::from_secs(a.header_timeout),
                body_timeout: Duration::from_secs(a.body_timeout),
                max_connections: a.max_connections.map(|n| n as usize),
                max_per_address: a.max_connections_per_address.map(|n| n as usize),
                shutdown_grace: Duration::from_secs(a.shutdown_grace),
                drain: Duration::from_secs(a.drain),
            },
            hosted: Default::default(),
            dashboard: live,
        };
        tracing::info!("listening on http://{}", listener.local_addr()?);
        let report = botify_server::serve(cfg, listener, botify_server::terminate_signal()).await?;
        tracing::info!(
            "stopped: {} next/last requests answered, {} event-log lines written",
            report.answered,
            report.log_lines
        );
        if report.log_lost > 0 {
            anyhow::bail!(
                "{} answered event-log lines could not be written before the shutdown grace ran out: {}",
                report.log_lost,
                report.log_error.unwrap_or_default()
            );
        }
        Ok(())
    })
}

#[derive(Args)]
pub struct AssignArgs {
    /// Experiment name.
    experiment: String,
    /// Buckets of the experiment (experiments use 2 to 10).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    buckets: u32,
    /// User ids; read from standard input (one per line) when none are given.
    users: Vec<String>,
}

pub fn assign(a: AssignArgs) -> Result<()> {
    let s = Splitter::new(&a.experiment, a.buckets);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let users: Box<dyn Iterator<Item = std::io::Result<String>>> = if a.users.is_empty() {
        Box::new(std::io::stdin().lock().lines())
    } else {
        Box::new(a.users.into_iter().map(Ok))
    };
    for line in users {
        let line = line?;
        let u = line.trim();
        if u.is_empty() {
            continue;
        }
        let id: u64 = u
            .parse()
            .with_context(|| format!("user must be a non-negative integer, got {u:?}"))?;
        writeln!(out, "{id}\t{}", treatment_name(s.bucket(id)))?;
    }
    out.flush()?;
    Ok(())
}

/// Where shared state lives, for `serve`, `data push` and `experiment run`.
#[derive(clap::Args, Debug, Default)]
pub struct RedisArgs {
    /// Keep users' history in Redis (for several replicas), e.g. redis://127.0.0.1:6379. A URL
    /// with a password is better given by BOTIFY_REDIS_URL or --redis-file (a command line is
    /// visible to every user of the machine).
    #[arg(long, conflicts_with_all = ["redis_cluster", "redis_file"], env = "BOTIFY_REDIS_URL",
          hide_env_values = true)]
    redis: Option<String>,
    /// Read the --redis URL from this file (its first line).
    #[arg(long, value_name = "FILE", conflicts_with = "redis_cluster")]
    redis_file: Option<std::path::PathBuf>,
    /// The same in a Redis Cluster: one or more of its nodes, comma-separated (the others are
    /// discovered), e.g. redis://10.0.0.1:7000,redis://10.0.0.2:7000.
    #[arg(
        long,
        value_name = "URL[,URL...]",
        env = "BOTIFY_REDIS_CLUSTER",
        hide_env_values = true
    )]
    redis_cluster: Option<String>,
}

impl RedisArgs {
    pub fn target(self) -> Result<Option<botify_server::RedisTarget>> {
        let single = match &self.redis_file {
            Some(file) => Some(botify_server::RedisTarget::url_from_file(file)?),
            None => self.redis,
        };
        Ok(botify_server::RedisTarget::from_flags(
            single,
            self.redis_cluster.as_deref(),
        )?)
    }
}

#[derive(clap::Subcommand)]
pub enum DataCommand {
    /// Publish every data file an experiments file reads to Redis, for replicas started with
    /// `--redis` (they read the shared copy and fall back to their own files).
    Push {
        #[command(flatten)]
        redis: RedisArgs,
        /// The experiments file whose data files are published.
        #[arg(long)]
        experiments: PathBuf,
    },
}

pub fn data(cmd: DataCommand) -> Result<()> {
    match cmd {
        DataCommand::Push { redis, experiments } => {
            let Some(redis) = redis.target()? else {
                usage!("data push needs --redis URL or --redis-cluster URL[,URL...]");
            };
            let cfg = botify_recs::experiments::ExperimentsConfig::load(&experiments)?;
            let files = botify_recs::experiments::Router::data_files(&cfg);
            if files.is_empty() {
                println!(
                    "{} reads no data files: nothing to publish",
                    experiments.display()
                );
            }
            for (f, bytes) in botify_server::store::push_data(&redis, &files)? {
                println!(
                    "{} ({bytes} bytes) → {}",
                    f.display(),
                    botify_server::store::data_key(&f)
                );
            }
            Ok(())
        }
    }
}
