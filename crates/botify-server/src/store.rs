//! Per-user listen history behind one interface with two backends: embedded (sharded in-process
//! maps, the default) and Redis (shared by several replicas). Appends are atomic in both, so
//! concurrent requests for the same user never lose entries.

use crate::{Error, Result};
use botify_core::UserId;
use botify_recs::{History, Listen};
use lru::LruCache;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SHARDS: usize = 64;

/// Users the embedded store remembers by default: about 210 MB resident when full (docs/reliability.md).
pub const DEFAULT_MAX_USERS: usize = 1_000_000;

/// In-process history: 64 mutex-guarded shards keep contention low on many cores. Each shard is
/// a least-recently-used map, so at most `max_users` users are remembered: a client posting to
/// random user ids cannot grow memory without bound.
pub struct EmbeddedStore {
    shards: Vec<Mutex<LruCache<UserId, History>>>,
    /// Users per shard at most.
    per_shard: usize,
    evictions: Arc<AtomicU64>,
}

impl EmbeddedStore {
    /// A store remembering at most `max_users` users (at least one per shard), counting the
    /// users it forgets in `evictions`.
    pub fn new(max_users: usize, evictions: Arc<AtomicU64>) -> Self {
        // Unbounded maps with the cap enforced here: a bounded LruCache would allocate room for
        // all its users up front (190 MB for the default million).
        EmbeddedStore {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(LruCache::unbounded()))
                .collect(),
            per_shard: max_users.div_ceil(SHARDS).max(1),
            evictions,
        }
    }

    fn shard(&self, user: UserId) -> std::sync::MutexGuard<'_, LruCache<UserId, History>> {
        lock(&self.shards[user as usize % SHARDS])
    }

    pub fn history(&self, user: UserId, cap: usize) -> Vec<Listen> {
        self.shard(user).get(&user).map_or_else(Vec::new, |h| {
            let s = h.as_slice();
            s[s.len().saturating_sub(cap)..].to_vec()
        })
    }

    pub fn push(&self, user: UserId, l: Listen, cap: usize) {
        let mut shard = self.shard(user);
        if let Some(h) = shard.get_mut(&user) {
            h.push(l);
            return;
        }
        let mut h = History::new(cap);
        h.push(l);
        shard.put(user, h);
        if shard.len() > self.per_shard {
            shard.pop_lru();
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Users remembered now.
    pub fn users(&self) -> usize {
        self.shards.iter().map(|m| lock(m).len()).sum()
    }
}

/// A shard's lock. A panic while holding it cannot leave a History half-written: recover the map.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Redis history: one list per user of 12-byte entries, appended, trimmed and given a TTL in one
/// MULTI. Every command has a tight timeout, and a circuit breaker stops calling Redis after a
/// failure: requests answer without history at full speed while one background probe pings
/// Redis every 100 ms, and the first answer closes the breaker again.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    ttl: Option<Duration>,
    timeout: Duration,
    breaker: Arc<Breaker>,
    skipped: Arc<AtomicU64>,
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
        url: &str,
        limits: &crate::Limits,
        skipped: Arc<AtomicU64>,
    ) -> Result<Self> {
        let client =
            redis::Client::open(url).map_err(|e| Error::Redis(format!("bad URL {url:?}: {e}")))?;
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(limits.redis_timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_with_config(client, cfg)
            .await
            .map_err(|e| Error::Redis(format!("cannot connect to {url}: {e}")))?;
        Ok(RedisStore {
            conn,
            prefix: "botify:history:".into(),
            ttl: limits.history_ttl,
            timeout: limits.redis_timeout,
            breaker: Arc::default(),
            skipped,
        })
    }

    fn key(&self, user: UserId) -> String {
        format!("{}{user}", self.prefix)
    }

    /// Runs `op` unless the breaker is open, within the timeout; a failure opens the breaker.
    async fn guarded<T>(&self, op: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        if self.breaker.open.load(Ordering::Acquire) {
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
            self.trip();
        }
        result
    }

    /// Opens the breaker and starts the one probe that will close it.
    fn trip(&self) {
        self.breaker.open.store(true, Ordering::Release);
        if self.breaker.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (conn, breaker, timeout) = (self.conn.clone(), self.breaker.clone(), self.timeout);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let mut c = conn.clone();
                let cmd = redis::cmd("PING");
                let ping = cmd.query_async::<String>(&mut c);
                if matches!(tokio::time::timeout(timeout * 4, ping).await, Ok(Ok(_))) {
                    break;
                }
            }
            breaker.open.store(false, Ordering::Release);
            breaker.probing.store(false, Ordering::Release);
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
            .guarded(retry_once(
                &self.conn,
                |_| true,
                |mut c| {
                    let cmd = cmd.clone();
                    async move { cmd.query_async(&mut c).await }
                },
            ))
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
        // refused, that is when the first one provably never reached Redis.
        self.guarded(retry_once(
            &self.conn,
            redis::RedisError::is_connection_refusal,
            |mut c| {
                let p = p.clone();
                async move { p.query_async::<()>(&mut c).await }
            },
        ))
        .await
    }

    /// Healthy unless the breaker is open or a PING gets no answer within the timeout: never
    /// slower than the timeout.
    pub async fn ping(&self) -> bool {
        if self.breaker.open.load(Ordering::Acquire) {
            return false;
        }
        let mut c = self.conn.clone();
        let cmd = redis::cmd("PING");
        let ok = matches!(
            tokio::time::timeout(self.timeout, cmd.query_async::<String>(&mut c)).await,
            Ok(Ok(_))
        );
        if !ok {
            self.trip();
        }
        ok
    }
}

/// The first command after a dropped connection can fail while the manager reconnects: retry
/// once, when `safe` says the failed attempt may be repeated.
async fn retry_once<T, F, Fut>(
    conn: &ConnectionManager,
    safe: fn(&redis::RedisError) -> bool,
    f: F,
) -> Result<T>
where
    F: Fn(ConnectionManager) -> Fut,
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
            Store::Redis(_) => "redis",
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
    url: &str,
    local_fallbacks: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<botify_recs::spec::DataSource> {
    let client =
        redis::Client::open(url).map_err(|e| Error::Redis(format!("bad URL {url:?}: {e}")))?;
    Ok(std::sync::Arc::new(move |path: &std::path::Path| {
        let local =
            || std::fs::read_to_string(path).map_err(|e| botify_core::Error::io(path, e).into());
        let shared: redis::RedisResult<Option<String>> = client
            .get_connection_with_timeout(Duration::from_millis(500))
            .and_then(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(2)))?;
                redis::cmd("GET").arg(data_key(path)).query(&mut c)
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
    url: &str,
    files: &[std::path::PathBuf],
) -> Result<Vec<(std::path::PathBuf, usize)>> {
    let client =
        redis::Client::open(url).map_err(|e| Error::Redis(format!("bad URL {url:?}: {e}")))?;
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .map_err(|e| Error::Redis(format!("cannot connect to {url}: {e}")))?;
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| botify_core::Error::io(f, e))?;
        redis::cmd("SET")
            .arg(data_key(f))
            .arg(&text)
            .query::<()>(&mut c)
            .map_err(|e| Error::Redis(format!("SET {}: {e}", data_key(f))))?;
        out.push((f.clone(), text.len()));
    }
    Ok(out)
}
