//! Tokens in Redis: every process and host using it shares one token per
//! key, and one upstream request per refresh.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use rand::Rng as _;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest as _, Sha256};
use tracing::{info, warn};

use crate::AccessToken;
use crate::record::{self, EncryptionKey};
use crate::store::{Lease, MAX_VERSION, PutOutcome, StoreError, StoreKey, TokenStore, Versioned};

/// Compare-and-swap write. KEYS[1] the token hash; ARGV: expected version
/// ('' for none), new version, record, ttl in ms. The same rule as every
/// store: written only if the stored version is the expected one. A key of
/// another type reads as version `foreign`, so the caller can replace it.
const PUT: &str = r"
local kind = redis.call('TYPE', KEYS[1]).ok
local version, record = false, false
if kind == 'hash' then
  local current = redis.call('HMGET', KEYS[1], 'v', 'd')
  version, record = current[1], current[2]
elseif kind ~= 'none' then
  version = 'foreign'
end
if (version or '') ~= ARGV[1] then
  return {0, version, record}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, false, false}
";

/// Read. KEYS[1] the token hash; returns {version, record}.
const GET: &str = r"
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'hash' then
  return redis.call('HMGET', KEYS[1], 'v', 'd')
elseif kind == 'none' then
  return {false, false}
end
return {'foreign', false}
";

/// Extends the lease KEYS[1] by ARGV[2] ms if ARGV[1] still owns it.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Deletes the lease KEYS[1] if ARGV[1] still owns it: a holder whose
/// lease lapsed never deletes the next holder's.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// A token store in Redis, shared by every process that uses the same
/// server, key prefix and encryption key.
///
/// - **Keys** are `tokenmux:{<hash>}:token` and `tokenmux:{<hash>}:lease`,
///   where `<hash>` is a SHA-256 of the [`StoreKey`] (provider, base URL,
///   client id, username; never a secret). The braces are a Redis Cluster
///   hash tag: both keys of a token live in one slot, so the scripts that
///   touch them work on a cluster too.
/// - **Values** are hashes: `v` the version, `d` the record, encrypted
///   (ChaCha20-Poly1305, as in [`FileStore`](crate::FileStore)) when
///   [`with_encryption`](Self::with_encryption) is used. They expire with
///   the access token, or [`refresh_token_retention`](Self::refresh_token_retention)
///   later when a refresh token is still worth keeping.
/// - **Single flight across processes**: a holder about to fetch takes the
///   lease (`SET NX PX` with a random owner), keeps it alive while the
///   request runs, and releases it with a compare-and-delete script;
///   others poll for the token it stores. A holder that dies loses the
///   lease after [`lease_ttl`](Self::lease_ttl).
/// - **Writes** are compare-and-swap on the version (a Lua script), so an
///   older refresh token never overwrites a newer one.
/// - **Redis down or slow**: every call is bounded by
///   [`timeout`](Self::timeout) and fails as [`StoreError::Unavailable`];
///   [`TokenSource`](crate::TokenSource) then logs a warning and carries on
///   with its in-memory token. A background task pings Redis until it
///   answers; meanwhile calls fail at once rather than each waiting for
///   the timeout.
///
/// Construction does not connect, so a source builds while Redis is down.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::{Arc, OnceLock};
/// use tokenmux::{Credentials, EncryptionKey, Provider, RedisStore, TokenSource};
///
/// let key = EncryptionKey::from_base64(&std::env::var("TOKENMUX_CACHE_KEY")?)?;
/// let store = RedisStore::new("redis://127.0.0.1:6379")?.with_encryption(key);
/// let tokens = TokenSource::builder(Provider::neonpanel())
///     .credentials(Credentials::client("my-id", "my-secret"))
///     .store(Arc::new(store))
///     .build()?;
/// # let _ = tokens;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    /// Made on first use: it needs the Tokio runtime, `new` does not.
    connection: Arc<OnceLock<ConnectionManager>>,
    /// `redis://host:port/db`, without credentials, for messages.
    address: String,
    /// Strings that must not appear in messages (the URL's password).
    hidden: Vec<String>,
    prefix: String,
    encryption: Option<EncryptionKey>,
    lease_ttl: Duration,
    timeout: Duration,
    refresh_token_retention: Duration,
    /// Whether Redis is known to be unreachable.
    health: Arc<Health>,
    scripts: Arc<Scripts>,
}

struct Scripts {
    put: Script,
    get: Script,
    renew: Script,
    release: Script,
}

/// How often the background probe pings an unreachable Redis.
const RECONNECT_PERIOD: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct Health {
    down: AtomicBool,
}

impl Health {
    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://[user:password@]host[:port][/db]`
    /// or `redis+unix:///path`). Checks the URL; connects on first use.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let (address, hidden) = describe(url)?;
        let client = redis::Client::open(url)
            .map_err(|_| StoreError::Config(format!("`{address}` is not a usable Redis URL")))?;
        Ok(Self {
            client,
            connection: Arc::default(),
            address,
            hidden,
            prefix: "tokenmux".to_owned(),
            encryption: None,
            lease_ttl: Duration::from_secs(10),
            timeout: Duration::from_millis(500),
            refresh_token_retention: Duration::from_secs(24 * 3600),
            health: Arc::default(),
            scripts: Arc::new(Scripts {
                put: Script::new(PUT),
                get: Script::new(GET),
                renew: Script::new(RENEW),
                release: Script::new(RELEASE),
            }),
        })
    }

    /// Encrypts every token written, and reads only encrypted ones.
    pub fn with_encryption(mut self, key: EncryptionKey) -> Self {
        self.encryption = Some(key);
        self
    }

    /// First part of every key (default `tokenmux`), to keep applications
    /// sharing a server apart.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a lease lasts unless its holder renews it (default 10 s):
    /// how long others wait for a holder that died mid-fetch.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(10));
        self
    }

    /// Longest wait for one Redis call (default 500 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a token with a refresh token is kept after its access
    /// token expires (default 24 h): the refresh token still gets a new
    /// one without the password grant.
    pub fn refresh_token_retention(mut self, retention: Duration) -> Self {
        self.refresh_token_retention = retention;
        self
    }

    /// The Redis keys of a store key's token and lease.
    ///
    /// ```
    /// use tokenmux::{Credentials, Provider, RedisStore, StoreKey};
    ///
    /// let store = RedisStore::new("redis://127.0.0.1:6379").unwrap();
    /// let key = StoreKey::new(&Provider::neonpanel(), &Credentials::client("id", "secret"));
    /// let (token, lease) = store.redis_keys(&key);
    /// assert!(token.starts_with("tokenmux:{") && token.ends_with("}:token"));
    /// assert_eq!(token.replace(":token", ":lease"), lease);
    /// ```
    pub fn redis_keys(&self, key: &StoreKey) -> (String, String) {
        let digest = Sha256::digest(key.as_str().as_bytes());
        let tag: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        (
            format!("{}:{{{tag}}}:token", self.prefix),
            format!("{}:{{{tag}}}:lease", self.prefix),
        )
    }

    /// The connection manager, made on first use (it reconnects by itself).
    fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            .map_err(|e| StoreError::Config(format!("{}: {e}", self.address)))?;
        // Another caller may have won the race; either manager works.
        Ok(self.connection.get_or_init(|| connection).clone())
    }

    /// Runs one Redis call within the timeout. After a failure, calls fail
    /// at once until a background probe reaches Redis again, so that
    /// callers do not each wait for the timeout.
    async fn call<T>(
        &self,
        request: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        if self.health.is_down() {
            return Err(StoreError::Unavailable(format!(
                "Redis at {} is unreachable; reconnecting in the background",
                self.address
            )));
        }
        let outcome = tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| format!("no answer within {:?}", self.timeout))
            .and_then(|result| result.map_err(|e| e.to_string()));
        outcome.map_err(|why| {
            let why = self.scrub(&why);
            self.went_down(&why);
            StoreError::Unavailable(format!("Redis at {}: {why}", self.address))
        })
    }

    /// Marks Redis down and starts the probe that marks it up again.
    fn went_down(&self, why: &str) {
        if self.health.down.swap(true, Ordering::SeqCst) {
            return; // a probe is already running
        }
        warn!(redis = %self.address, %why, "Redis token store unreachable; serving from memory and reconnecting in the background");
        let health = Arc::downgrade(&self.health);
        let Ok(connection) = self.connection() else {
            return;
        };
        let (address, timeout) = (self.address.clone(), self.timeout);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RECONNECT_PERIOD).await;
                // Ends with the last clone of the store.
                let Some(health) = health.upgrade() else {
                    return;
                };
                let mut connection = connection.clone();
                let ping = redis::cmd("PING");
                let answer = ping.query_async::<String>(&mut connection);
                if let Ok(Ok(_)) = tokio::time::timeout(timeout, answer).await {
                    health.down.store(false, Ordering::SeqCst);
                    info!(redis = %address, "Redis token store reachable again");
                    return;
                }
            }
        });
    }

    fn scrub(&self, text: &str) -> String {
        self.hidden.iter().fold(text.to_owned(), |text, hidden| {
            text.replace(hidden, "[redacted]")
        })
    }

    /// How a value read from Redis (the hash fields `v` and `d`; `None`
    /// for a field that is missing) is decoded, with every check of
    /// [`decode_record`](crate::decode_record): a token, nothing, or
    /// [`StoreError::Corrupt`], never a panic. For tools and fuzzing.
    ///
    /// ```
    /// use tokenmux::{Credentials, Provider, RedisStore, StoreKey};
    ///
    /// let store = RedisStore::new("redis://127.0.0.1:6379").unwrap();
    /// let key = StoreKey::new(&Provider::neonpanel(), &Credentials::client("id", "secret"));
    /// assert_eq!(store.decode_value(&key, None, None).unwrap(), None);
    /// assert!(store.decode_value(&key, Some("1".into()), Some(b"{".to_vec())).is_err());
    /// ```
    pub fn decode_value(
        &self,
        key: &StoreKey,
        version: Option<String>,
        record: Option<Vec<u8>>,
    ) -> Result<Option<Versioned>, StoreError> {
        self.decode(key, version, record)
    }

    fn decode(
        &self,
        key: &StoreKey,
        version: Option<String>,
        record: Option<Vec<u8>>,
    ) -> Result<Option<Versioned>, StoreError> {
        let (version, record) = match (version, record) {
            (None, None) => return Ok(None),
            (Some(version), Some(record)) => (version, record),
            _ => return Err(self.corrupt("not a tokenmux token")),
        };
        let stored = record::decode(key, &record, self.encryption.as_ref())
            .map_err(|why| self.corrupt(why))?;
        if version != stored.version.to_string() {
            return Err(self.corrupt("version mismatch"));
        }
        Ok(Some(stored))
    }

    fn corrupt(&self, why: &str) -> StoreError {
        StoreError::Corrupt(format!("Redis at {}: {why}", self.address))
    }

    /// How long the entry should live: until the access token expires, or
    /// longer while its refresh token is worth keeping.
    fn ttl(&self, token: &AccessToken) -> Duration {
        let remaining = token
            .expires_at()
            .duration_since(SystemTime::now())
            .unwrap_or_else(|_| token.lifetime());
        let retention = if token.refresh_token().is_some() {
            self.refresh_token_retention
        } else {
            Duration::ZERO
        };
        (remaining + retention).max(Duration::from_secs(1))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .field("prefix", &self.prefix)
            .field("encryption", &self.encryption.is_some())
            .field("lease_ttl", &self.lease_ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
        let (token_key, _) = self.redis_keys(key);
        let invocation = self.scripts.get.key(&token_key);
        let mut connection = self.connection()?;
        let (version, record): (Option<String>, Option<Vec<u8>>) =
            self.call(invocation.invoke_async(&mut connection)).await?;
        self.decode(key, version, record)
    }

    async fn put(
        &self,
        key: &StoreKey,
        token: &AccessToken,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let (token_key, _) = self.redis_keys(key);
        let ttl = u64::try_from(self.ttl(token).as_millis()).unwrap_or(u64::MAX);
        let mut expected_arg = expected.map(|v| v.to_string()).unwrap_or_default();
        let mut version = match expected.map_or(Some(1), |v| v.checked_add(1)) {
            Some(version) if version < MAX_VERSION => version,
            // Nothing stored can be at that version: report what is.
            _ => {
                return Ok(PutOutcome::Conflict {
                    current: self.get(key).await?,
                });
            }
        };
        // Twice at most: the second time replaces an unreadable value.
        for _ in 0..2 {
            let record = record::encode(key, version, token, self.encryption.as_ref())?;
            let mut invocation = self.scripts.put.key(&token_key);
            invocation
                .arg(&expected_arg)
                .arg(version)
                .arg(record)
                .arg(ttl);
            let (stored, current_version, current_record): (i64, Option<String>, Option<Vec<u8>>) =
                self.call(invocation.invoke_async(&mut self.connection()?))
                    .await?;
            if stored == 1 {
                return Ok(PutOutcome::Stored { version });
            }
            match self.decode(key, current_version.clone(), current_record) {
                Ok(current) => return Ok(PutOutcome::Conflict { current }),
                Err(error) => {
                    // An unreadable value is as good as none: replace it.
                    warn!(%error, "replacing an unreadable token in Redis");
                    expected_arg = current_version.unwrap_or_default();
                    version = expected_arg
                        .parse::<u64>()
                        .ok()
                        .filter(|v| *v < MAX_VERSION - 1)
                        .map_or(1, |v| v + 1);
                }
            }
        }
        Err(self.corrupt("cannot replace the stored value"))
    }

    async fn try_lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
        let (_, lease_key) = self.redis_keys(key);
        let owner = format!("{:032x}", rand::rng().random::<u128>());
        let ttl = u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.connection()?;
        let acquired: Option<String> = self
            .call(
                redis::cmd("SET")
                    .arg(&lease_key)
                    .arg(&owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut connection),
            )
            .await?;
        Ok(acquired.map(|_| Lease::new(owner, self.lease_ttl)))
    }

    async fn renew_lease(&self, key: &StoreKey, lease: &Lease) -> Result<bool, StoreError> {
        let (_, lease_key) = self.redis_keys(key);
        let ttl =
            u64::try_from(lease.ttl().unwrap_or(self.lease_ttl).as_millis()).unwrap_or(u64::MAX);
        let mut invocation = self.scripts.renew.key(&lease_key);
        invocation.arg(lease.owner()).arg(ttl);
        let renewed: i64 = self
            .call(invocation.invoke_async(&mut self.connection()?))
            .await?;
        Ok(renewed == 1)
    }

    async fn release_lease(&self, key: &StoreKey, lease: &Lease) -> Result<(), StoreError> {
        let (_, lease_key) = self.redis_keys(key);
        let mut invocation = self.scripts.release.key(&lease_key);
        invocation.arg(lease.owner());
        let _: i64 = self
            .call(invocation.invoke_async(&mut self.connection()?))
            .await?;
        Ok(())
    }
}

/// `redis://host:port/db` for messages, and the URL's password, which must
/// never appear in them.
fn describe(url: &str) -> Result<(String, Vec<String>), StoreError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| StoreError::Config("the Redis URL is not a URL".into()))?;
    if !matches!(parsed.scheme(), "redis" | "redis+unix" | "unix") {
        return Err(StoreError::Config(format!(
            "a Redis URL starts with redis:// (got {}://; TLS is not built in)",
            parsed.scheme()
        )));
    }
    let mut hidden = Vec::new();
    if let Some(password) = parsed.password().filter(|p| !p.is_empty()) {
        hidden.push(password.to_owned());
        if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
            hidden.push(decoded.into_owned());
        }
    }
    let address = match parsed.host_str() {
        Some(host) => format!(
            "{}://{host}{}{}",
            parsed.scheme(),
            parsed.port().map(|p| format!(":{p}")).unwrap_or_default(),
            parsed.path()
        ),
        None => format!("{}://{}", parsed.scheme(), parsed.path()),
    };
    Ok((address, hidden))
}
