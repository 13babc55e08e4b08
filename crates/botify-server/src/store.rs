//! Per-user listen history behind one interface with two backends: embedded (sharded in-process
//! maps, the default) and Redis (shared by several replicas). Appends are atomic in both, so
//! concurrent requests for the same user never lose entries.

use crate::{Error, Result};
use botify_core::UserId;
use botify_recs::{History, Listen};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

const SHARDS: usize = 64;

/// In-process history: 64 mutex-guarded shards keep contention low on many cores.
pub struct EmbeddedStore {
    shards: Vec<Mutex<HashMap<UserId, History>>>,
}

impl Default for EmbeddedStore {
    fn default() -> Self {
        EmbeddedStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl EmbeddedStore {
    fn shard(&self, user: UserId) -> std::sync::MutexGuard<'_, HashMap<UserId, History>> {
        let m = &self.shards[user as usize % SHARDS];
        // A panic while holding the lock cannot leave a History half-written: recover the map.
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn history(&self, user: UserId, cap: usize) -> Vec<Listen> {
        self.shard(user).get(&user).map_or_else(Vec::new, |h| {
            let s = h.as_slice();
            s[s.len().saturating_sub(cap)..].to_vec()
        })
    }

    pub fn push(&self, user: UserId, l: Listen, cap: usize) {
        self.shard(user)
            .entry(user)
            .or_insert_with(|| History::new(cap))
            .push(l);
    }
}

/// Redis history: one list per user of 12-byte entries, appended and trimmed in one MULTI.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let client =
            redis::Client::open(url).map_err(|e| Error::Redis(format!("bad URL {url:?}: {e}")))?;
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, cfg)
            .await
            .map_err(|e| Error::Redis(format!("cannot connect to {url}: {e}")))?;
        Ok(RedisStore {
            conn,
            prefix: "botify:history:".into(),
        })
    }

    fn key(&self, user: UserId) -> String {
        format!("{}{user}", self.prefix)
    }

    pub async fn history(&self, user: UserId, cap: usize) -> Result<Vec<Listen>> {
        let key = self.key(user);
        let cmd = redis::cmd("LRANGE")
            .arg(&key)
            .arg(-(cap as i64))
            .arg(-1)
            .clone();
        // A read is safe to send twice.
        let raw: Vec<Vec<u8>> = retry_once(
            &self.conn,
            |_| true,
            |mut c| {
                let cmd = cmd.clone();
                async move { cmd.query_async(&mut c).await }
            },
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
        // A push sent twice would store the listen twice: retry only when the connection was
        // refused, that is when the first one provably never reached Redis.
        retry_once(
            &self.conn,
            redis::RedisError::is_connection_refusal,
            |mut c| {
                let p = p.clone();
                async move { p.query_async::<()>(&mut c).await }
            },
        )
        .await
    }

    pub async fn ping(&self) -> bool {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .is_ok()
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
pub fn redis_data_source(url: &str) -> Result<botify_recs::spec::DataSource> {
    let client =
        redis::Client::open(url).map_err(|e| Error::Redis(format!("bad URL {url:?}: {e}")))?;
    Ok(std::sync::Arc::new(move |path: &std::path::Path| {
        let fail = |e: redis::RedisError| {
            botify_recs::Error::Config(format!("reading {} from Redis: {e}", data_key(path)))
        };
        let mut c = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .map_err(fail)?;
        let shared: Option<String> = redis::cmd("GET")
            .arg(data_key(path))
            .query(&mut c)
            .map_err(fail)?;
        match shared {
            Some(text) => Ok(text),
            None => {
                std::fs::read_to_string(path).map_err(|e| botify_core::Error::io(path, e).into())
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
