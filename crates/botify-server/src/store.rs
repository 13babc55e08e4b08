//! Per-user listen history behind one interface with two backends: embedded (sharded in-process
//! maps, the default) and Redis (shared by several replicas; one server or a Redis Cluster).
//! Appends are atomic in both, so concurrent requests for the same user never lose entries.

use crate::{Error, Result};
use botify_core::UserId;
use botify_recs::{History, Listen};
use lru::LruCache;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHARDS: usize = 64;

/// Users the embedded store remembers by default: about 210 MB resident when full (docs/reliability.md).
pub const DEFAULT_MAX_USERS: usize = 1_000_000;

/// Heap bytes the embedded store allows its histories by default (`--max-history-mib`).
pub const DEFAULT_MAX_HISTORY_BYTES: usize = 1 << 30;

/// What one remembered user costs beside its listens: the LRU entry (key, `History`, list
/// links) and its hash-table slot, measured as about this on x86-64.
const USER_OVERHEAD: usize = 96;

/// In-process history: 64 mutex-guarded shards keep contention low on many cores. Each shard is
/// a least-recently-used map bounded twice — at most `max_users` users, and at most
/// `max_bytes` of histories (each user costs [`USER_OVERHEAD`] plus 16 bytes per listen its
/// buffer holds, at most `1.25 × history`) — so neither many users nor long histories can grow
/// memory without bound.
pub struct EmbeddedStore {
    shards: Vec<Mutex<Shard>>,
    /// Users per shard at most.
    per_shard: usize,
    /// History bytes per shard at most.
    bytes_per_shard: usize,
    evictions: Arc<AtomicU64>,
}

struct Shard {
    users: LruCache<UserId, History>,
    /// Bytes held: `USER_OVERHEAD` + the buffer's heap bytes, for each user.
    bytes: usize,
}

impl EmbeddedStore {
    /// A store remembering at most `max_users` users and `max_bytes` of their histories (at
    /// least one user per shard), counting the users it forgets in `evictions`.
    pub fn new(max_users: usize, max_bytes: usize, evictions: Arc<AtomicU64>) -> Self {
        // Unbounded maps with the caps enforced here: a bounded LruCache would allocate room for
        // all its users up front (190 MB for the default million).
        EmbeddedStore {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        users: LruCache::unbounded(),
                        bytes: 0,
                    })
                })
                .collect(),
            per_shard: max_users.div_ceil(SHARDS).max(1),
            bytes_per_shard: (max_bytes / SHARDS).max(1),
            evictions,
        }
    }

    fn shard(&self, user: UserId) -> std::sync::MutexGuard<'_, Shard> {
        lock(&self.shards[user as usize % SHARDS])
    }

    pub fn history(&self, user: UserId, cap: usize) -> Vec<Listen> {
        self.shard(user)
            .users
            .get(&user)
            .map_or_else(Vec::new, |h| {
                let s = h.as_slice();
                s[s.len().saturating_sub(cap)..].to_vec()
            })
    }

    pub fn push(&self, user: UserId, l: Listen, cap: usize) {
        let mut guard = self.shard(user);
        let shard = &mut *guard;
        match shard.users.get_mut(&user) {
            Some(h) => {
                let before = h.heap_bytes();
                h.push(l);
                shard.bytes = shard.bytes + h.heap_bytes() - before;
            }
            None => {
                let mut h = History::new(cap);
                h.push(l);
                shard.bytes += USER_OVERHEAD + h.heap_bytes();
                shard.users.put(user, h);
            }
        }
        // Forget the least recently used users until both bounds hold (the one just served
        // stays: it is the most recent).
        while shard.users.len() > 1
            && (shard.users.len() > self.per_shard || shard.bytes > self.bytes_per_shard)
        {
            if let Some((_, gone)) = shard.users.pop_lru() {
                shard.bytes -= USER_OVERHEAD + gone.heap_bytes();
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Users remembered now.
    pub fn users(&self) -> usize {
        self.shards.iter().map(|m| lock(m).users.len()).sum()
    }

    /// Bytes the histories hold now (the quantity `max_bytes` bounds).
    pub fn bytes(&self) -> usize {
        self.shards.iter().map(|m| lock(m).bytes).sum()
    }
}

/// A shard's lock. A panic while holding it cannot leave a History half-written: recover the map.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where shared state lives: one Redis server, or a Redis Cluster reached through any of its
/// nodes (the client learns the rest and follows slot moves).
/// A Redis URL with its password masked (`redis://user:***@host:6379`), for every message and
/// log line: credentials never reach stderr.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                // `redis://secret@host`: a lone userinfo is the password in redis URLs.
                "***".to_string()
            };
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => url.to_string(),
    }
}

#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    Single(String),
    Cluster(Vec<String>),
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl RedisTarget {
    /// From `--redis URL` or `--redis-cluster URL[,URL...]` (at most one of them).
    pub fn from_flags(single: Option<String>, cluster: Option<&str>) -> Result<Option<Self>> {
        match (single, cluster) {
            (Some(_), Some(_)) => Err(Error::Redis(
                "give one Redis server (--redis) or a Redis Cluster (--redis-cluster), not both"
                    .into(),
            )),
            (Some(url), None) => Ok(Some(RedisTarget::Single(url))),
            (None, Some(list)) => {
                let urls: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(String::from)
                    .collect();
                if urls.is_empty() {
                    return Err(Error::Redis(
                        "a Redis Cluster needs at least one node URL".into(),
                    ));
                }
                Ok(Some(RedisTarget::Cluster(urls)))
            }
            (None, None) => Ok(None),
        }
    }

    /// The `--redis` URL kept in a file (its first line), so that a password is not on a
    /// command line every user of the machine can read.
    pub fn url_from_file(file: &std::path::Path) -> Result<String> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            Error::Redis(format!(
                "--redis-file {}: cannot read it: {e}",
                file.display()
            ))
        })?;
        let url = text.lines().next().unwrap_or("").trim();
        if url.is_empty() {
            return Err(Error::Redis(format!(
                "--redis-file {}: the file holds no URL",
                file.display()
            )));
        }
        Ok(url.to_string())
    }

    /// The URL or the comma-separated node URLs, for messages, passwords masked.
    pub fn describe(&self) -> String {
        match self {
            RedisTarget::Single(url) => redact(url),
            RedisTarget::Cluster(urls) => format!(
                "cluster {}",
                urls.iter().map(|u| redact(u)).collect::<Vec<_>>().join(",")
            ),
        }
    }

    fn cluster_client(urls: &[String], response_timeout: Duration) -> Result<ClusterClient> {
        ClusterClientBuilder::new(urls.to_vec())
            .connection_timeout(Duration::from_millis(500))
            .response_timeout(response_timeout)
            // Redirects after a slot moves are retries too: allow a few.
            .retries(3)
            .build()
            .map_err(|e| {
                let urls: Vec<String> = urls.iter().map(|u| redact(u)).collect();
                Error::Redis(format!("bad cluster node URLs {}: {e}", urls.join(",")))
            })
    }

    /// A blocking connection for data files (never on the request path): one server, or the
    /// cluster (which routes each single-key command to its node).
    fn blocking(&self) -> Result<Box<dyn redis::ConnectionLike>> {
        let fail = |e: redis::RedisError| Error::Redis(format!("{}: {e}", self.describe()));
        Ok(match self {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| Error::Redis(format!("bad URL {:?}: {e}", redact(url))))?;
                let c = client
                    .get_connection_with_timeout(Duration::from_millis(500))
                    .map_err(fail)?;
                c.set_read_timeout(Some(Duration::from_secs(2)))
                    .map_err(fail)?;
                Box::new(c)
            }
            RedisTarget::Cluster(urls) => Box::new(
                Self::cluster_client(urls, Duration::from_secs(2))?
                    .get_connection()
                    .map_err(fail)?,
            ),
        })
    }
}

/// A connection to one server (reconnecting by itself) or to a cluster (routing each command
/// to the node that owns its key's slot). Both are cheap to clone and multiplexed.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Redis history: one list per user of 12-byte entries, appended, trimmed and given a TTL in one
/// MULTI. The key carries the user id as a hash tag (`botify:history:{42}`), so in a cluster all
/// of a user's commands go to one slot and the MULTI stays on one node. Every command has a tight
/// timeout, and a circuit breaker stops calling Redis after a failure: requests answer without
/// history at full speed while one background probe asks Redis every 100 ms, and the first
/// answer closes the breaker again. In a cluster there is a breaker per group of
/// [`SLOTS_PER_GROUP`] hash slots, probed with a key of its own group: a dead master turns
/// history off only for the users whose slots it served.
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    prefix: String,
    ttl: Option<Duration>,
    timeout: Duration,
    /// One breaker (one server) or one per slot group (a cluster).
    breakers: Arc<[Breaker]>,
    /// For each slot group, a hash tag whose slot is in it: what its probe asks about.
    probe_tags: Arc<[String]>,
    skipped: Arc<AtomicU64>,
}

/// Hash slots a cluster breaker covers: 128 groups of 128 slots (a master of a 3-master
/// cluster serves about 43 groups).
pub const SLOTS_PER_GROUP: u16 = 128;
const SLOTS: u16 = 16_384;

/// The cluster hash slot of a key's hash tag (Redis Cluster: CRC16/XMODEM modulo 16,384).
pub fn hash_slot(tag: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in tag {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % SLOTS
}

/// For each slot group, the first decimal tag (`"0"`, `"1"`, …) whose slot falls in it.
fn probe_tags() -> Vec<String> {
    let groups = usize::from(SLOTS / SLOTS_PER_GROUP);
    let mut tags: Vec<Option<String>> = vec![None; groups];
    let mut left = groups;
    let mut n: u64 = 0;
    while left > 0 {
        let tag = n.to_string();
        let g = usize::from(hash_slot(tag.as_bytes()) / SLOTS_PER_GROUP);
        if tags[g].is_none() {
            tags[g] = Some(tag);
            left -= 1;
        }
        n += 1;
    }
    tags.into_iter().flatten().collect()
}

/// Open (Redis presumed down) or closed, and whether a probe is running.
#[derive(Default)]
struct Breaker {
    open: std::sync::atomic::AtomicBool,
    probing: std::sync::atomic::AtomicBool,
}

/// How often the probe pings Redis while the breaker is open.
const PROBE_EVERY: Duration = Duration::from_millis(100);

impl RedisStore {
    pub async fn connect(
        target: &RedisTarget,
        limits: &crate::Limits,
        skipped: Arc<AtomicU64>,
    ) -> Result<Self> {
        let conn = match target {
            RedisTarget::Single(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| Error::Redis(format!("bad URL {:?}: {e}", redact(url))))?;
                let cfg = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_millis(500)))
                    .set_response_timeout(Some(limits.redis_timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_millis(200));
                Conn::Single(
                    ConnectionManager::new_with_config(client, cfg)
                        .await
                        .map_err(|e| {
                            Error::Redis(format!("cannot connect to {}: {e}", redact(url)))
                        })?,
                )
            }
            RedisTarget::Cluster(urls) => Conn::Cluster(
                RedisTarget::cluster_client(urls, limits.redis_timeout)?
                    .get_async_connection()
                    .await
                    .map_err(|e| {
                        Error::Redis(format!("cannot connect to {}: {e}", target.describe()))
                    })?,
            ),
        };
        let (breakers, probe_tags): (Vec<Breaker>, Vec<String>) = match &conn {
            Conn::Single(_) => (vec![Breaker::default()], Vec::new()),
            Conn::Cluster(_) => {
                let tags = probe_tags();
                (tags.iter().map(|_| Breaker::default()).collect(), tags)
            }
        };
        Ok(RedisStore {
            conn,
            prefix: "botify:history:".into(),
            ttl: limits.history_ttl,
            timeout: limits.redis_timeout,
            breakers: breakers.into(),
            probe_tags: probe_tags.into(),
            skipped,
        })
    }

    fn key(&self, user: UserId) -> String {
        format!("{}{{{user}}}", self.prefix)
    }

    /// The breaker that guards `key`: the only one, or its slot group's (by the key's hash tag,
    /// as the cluster places it).
    fn group(&self, key: &str) -> usize {
        if self.breakers.len() == 1 {
            return 0;
        }
        let tag = key
            .split_once('{')
            .and_then(|(_, rest)| rest.split_once('}'))
            .map_or(key, |(tag, _)| tag);
        usize::from(hash_slot(tag.as_bytes()) / SLOTS_PER_GROUP)
    }

    /// Runs `op` unless the group's breaker is open, within the timeout; a failure opens it.
    async fn guarded<T>(
        &self,
        group: usize,
        op: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        if self.breakers[group].open.load(Ordering::Acquire) {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Error::Redis(
                "unavailable (circuit open), answered without history".into(),
            ));
        }
        let result = match tokio::time::timeout(self.timeout, op).await {
            Ok(r) => r,
            Err(_) => Err(Error::Redis(format!("no answer within {:?}", self.timeout))),
        };
        if result.is_err() {
            self.trip(group);
        }
        result
    }

    /// Opens a breaker and starts the one probe that will close it: a PING for one server, for
    /// a cluster's slot group an EXISTS of a key in that group (routed to the node serving it).
    fn trip(&self, group: usize) {
        let breakers = self.breakers.clone();
        let b = &breakers[group];
        b.open.store(true, Ordering::Release);
        if b.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let probe = match self.probe_tags.get(group) {
            Some(tag) => redis::cmd("EXISTS")
                .arg(format!("botify:probe:{{{tag}}}"))
                .clone(),
            None => redis::cmd("PING"),
        };
        let (conn, timeout) = (self.conn.clone(), self.timeout);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let mut c = conn.clone();
                let ask = probe.query_async::<redis::Value>(&mut c);
                if matches!(tokio::time::timeout(timeout * 4, ask).await, Ok(Ok(_))) {
                    break;
                }
            }
            let b = &breakers[group];
            b.open.store(false, Ordering::Release);
            b.probing.store(false, Ordering::Release);
            tracing::info!("Redis answers again: history is back");
        });
    }

    pub async fn history(&self, user: UserId, cap: usize) -> Result<Vec<Listen>> {
        let key = self.key(user);
        let cmd = redis::cmd("LRANGE")
            .arg(&key)
            .arg(-(cap as i64))
            .arg(-1)
            .clone();
        // A read is safe to send twice.
        let raw: Vec<Vec<u8>> = self
            .guarded(
                self.group(&key),
                retry_once(
                    &self.conn,
                    |_| true,
                    |mut c| {
                        let cmd = cmd.clone();
                        async move { cmd.query_async(&mut c).await }
                    },
                ),
            )
            .await?;
        Ok(raw.iter().filter_map(|b| Listen::from_bytes(b)).collect())
    }

    pub async fn push(&self, user: UserId, l: Listen, cap: usize) -> Result<()> {
        let key = self.key(user);
        let mut p = redis::pipe();
        p.atomic()
            .cmd("RPUSH")
            .arg(&key)
            .arg(&l.to_bytes()[..])
            .ignore()
            .cmd("LTRIM")
            .arg(&key)
            .arg(-(cap as i64))
            .arg(-1)
            .ignore();
        if let Some(ttl) = self.ttl {
            p.cmd("PEXPIRE")
                .arg(&key)
                .arg(ttl.as_millis() as u64)
                .ignore();
        }
        // A push sent twice would store the listen twice: retry only when the connection was
        // refused, that is when the first one provably never reached Redis. (A cluster
        // connection also re-sends by itself after a dropped connection: docs/deploy.md.)
        self.guarded(
            self.group(&key),
            retry_once(
                &self.conn,
                redis::RedisError::is_connection_refusal,
                |mut c| {
                    let (p, key) = (p.clone(), key.clone());
                    async move {
                        match p.query_async::<()>(&mut c).await {
                            Err(e) => follow_moved(&mut c, &p, &key, e).await,
                            ok => ok,
                        }
                    }
                },
            ),
        )
        .await
    }

    /// Healthy unless a breaker is open or a PING gets no answer within the timeout: never
    /// slower than the timeout.
    pub async fn ping(&self) -> bool {
        if self.breakers.iter().any(|b| b.open.load(Ordering::Acquire)) {
            return false;
        }
        let mut c = self.conn.clone();
        let cmd = redis::cmd("PING");
        let ok = matches!(
            tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut c)).await,
            Ok(Ok(_))
        );
        // In a cluster the PING went to some node: it says nothing of a slot group.
        if !ok && self.breakers.len() == 1 {
            self.trip(0);
        }
        ok
    }
}

/// A cluster transaction that met MOVED (its slot went to another master) executed nothing, so
/// it is sent again, to the master the redirection names; a routed EXISTS of the key then lets
/// the cluster client learn the slot's new owner (it follows MOVED for single commands, not
/// inside a transaction). Any other error is returned as it is.
async fn follow_moved(
    c: &mut Conn,
    p: &redis::Pipeline,
    key: &str,
    e: redis::RedisError,
) -> redis::RedisResult<()> {
    use redis::cluster_routing::SingleNodeRoutingInfo;
    let Conn::Cluster(cluster) = c else {
        return Err(e);
    };
    let aborted = matches!(
        e.kind(),
        redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort)
    );
    let target = aborted
        .then(|| e.clone().into_server_errors())
        .flatten()
        .and_then(|errs| {
            errs.iter().find_map(|(_, se)| {
                let moved = matches!(
                    se.kind(),
                    Some(redis::ServerErrorKind::Moved | redis::ServerErrorKind::Ask)
                );
                let addr = se.details()?.split_ascii_whitespace().nth(1)?;
                let (host, port) = addr.rsplit_once(':')?;
                moved.then(|| (host.to_string(), port.parse::<u16>().ok()))
            })
        });
    let Some((host, Some(port))) = target else {
        return Err(e);
    };
    let route = SingleNodeRoutingInfo::ByAddress { host, port };
    cluster
        .route_pipeline(p.clone(), p.len() + 1, 1, route)
        .await?;
    let _: redis::RedisResult<bool> = redis::cmd("EXISTS").arg(key).query_async(cluster).await;
    Ok(())
}

/// The first command after a dropped connection can fail while the manager reconnects: retry
/// once, when `safe` says the failed attempt may be repeated.
async fn retry_once<T, F, Fut>(conn: &Conn, safe: fn(&redis::RedisError) -> bool, f: F) -> Result<T>
where
    F: Fn(Conn) -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    match f(conn.clone()).await {
        Ok(v) => Ok(v),
        Err(e) if safe(&e) => f(conn.clone())
            .await
            .map_err(|e| Error::Redis(e.to_string())),
        Err(e) => Err(Error::Redis(e.to_string())),
    }
}

/// The service's state backend.
pub enum Store {
    Embedded(EmbeddedStore),
    Redis(RedisStore),
}

impl Store {
    pub fn name(&self) -> &'static str {
        match self {
            Store::Embedded(_) => "embedded",
            Store::Redis(RedisStore {
                conn: Conn::Single(_),
                ..
            }) => "redis",
            Store::Redis(_) => "redis-cluster",
        }
    }

    pub async fn history(&self, user: UserId, cap: usize) -> Result<Vec<Listen>> {
        match self {
            Store::Embedded(s) => Ok(s.history(user, cap)),
            Store::Redis(s) => s.history(user, cap).await,
        }
    }

    pub async fn push(&self, user: UserId, l: Listen, cap: usize) -> Result<()> {
        match self {
            Store::Embedded(s) => {
                s.push(user, l, cap);
                Ok(())
            }
            Store::Redis(s) => s.push(user, l, cap).await,
        }
    }

    pub async fn healthy(&self) -> bool {
        match self {
            Store::Embedded(_) => true,
            Store::Redis(s) => s.ping().await,
        }
    }
}

/// Redis key of a shared data file: the path as the experiments file resolves it.
pub fn data_key(path: &std::path::Path) -> String {
    format!("botify:data:{}", path.display())
}

/// Data files read from Redis (published with `botify data push`), each falling back to the
/// local file when Redis does not hold it: replicas share one copy of the recommendation data.
/// When Redis cannot be reached the local file is read too, and `local_fallbacks` counts it, so
/// a reload during an outage still works and says so.
pub fn redis_data_source(
    target: &RedisTarget,
    local_fallbacks: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<botify_recs::spec::DataSource> {
    if let RedisTarget::Single(url) = target {
        redis::Client::open(url.as_str())
            .map_err(|e| Error::Redis(format!("bad URL {:?}: {e}", redact(url))))?;
    }
    let target = target.clone();
    Ok(std::sync::Arc::new(move |path: &std::path::Path| {
        let local =
            || std::fs::read_to_string(path).map_err(|e| botify_core::Error::io(path, e).into());
        let shared = target.blocking().and_then(|mut c| {
            redis::cmd("GET")
                .arg(data_key(path))
                .query::<Option<String>>(c.as_mut())
                .map_err(|e| Error::Redis(format!("{}: {e}", target.describe())))
        });
        match shared {
            Ok(Some(text)) => Ok(text),
            Ok(None) => local(),
            Err(e) => {
                local_fallbacks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    "reading {} from Redis failed ({e}); using the local file",
                    data_key(path)
                );
                local()
            }
        }
    }))
}

/// Publishes data files to Redis for every replica; returns (file, bytes) per file.
pub fn push_data(
    target: &RedisTarget,
    files: &[std::path::PathBuf],
) -> Result<Vec<(std::path::PathBuf, usize)>> {
    let mut c = target.blocking()?;
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| botify_core::Error::io(f, e))?;
        redis::cmd("SET")
            .arg(data_key(f))
            .arg(&text)
            .query::<()>(c.as_mut())
            .map_err(|e| Error::Redis(format!("SET {}: {e}", data_key(f))))?;
        out.push((f.clone(), text.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_slots_are_redis_clusters() {
        // CLUSTER KEYSLOT foo = 12182; CRC16/XMODEM("123456789") = 0x31C3.
        assert_eq!(hash_slot(b"foo"), 12182);
        assert_eq!(hash_slot(b"123456789"), 0x31C3);
        let tags = probe_tags();
        assert_eq!(tags.len(), usize::from(SLOTS / SLOTS_PER_GROUP));
        for (g, tag) in tags.iter().enumerate() {
            assert_eq!(usize::from(hash_slot(tag.as_bytes()) / SLOTS_PER_GROUP), g);
        }
    }

    #[test]
    fn passwords_never_reach_messages() {
        for (url, want) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            (
                "redis://:s3cret@10.0.0.1:6379/0",
                "redis://:***@10.0.0.1:6379/0",
            ),
            ("redis://app:s3cret@h:6379", "redis://app:***@h:6379"),
            ("rediss://s3cret@h", "rediss://***@h"),
            ("redis://a:p@ss@h:1", "redis://a:***@h:1"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact(url), want);
        }
        let t = RedisTarget::Cluster(vec!["redis://:pw@a:7000".into(), "redis://b:7001".into()]);
        assert_eq!(t.describe(), "cluster redis://:***@a:7000,redis://b:7001");
        assert!(!format!("{t:?}").contains("pw"));
        let e = match RedisTarget::Single("redis://:pw@h:notaport".into()).blocking() {
            Err(e) => e.to_string(),
            Ok(_) => panic!("a bad port is refused"),
        };
        assert!(!e.contains("pw") && e.contains("***"), "{e}");
    }
}
