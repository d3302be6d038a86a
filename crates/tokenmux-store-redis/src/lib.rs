//! Tokens in Redis: every process and host using it shares one token per
//! key, and one upstream request per refresh. The facade `tokenmux`
//! re-exports [`RedisStore`] behind its `redis` feature; this crate's
//! store keeps the rules of `tokenmux_store::testkit` (checked against
//! real `redis-server`s in the workspace's tests).

mod config;
mod dial;
mod link;
mod reply_cap;
mod scripts;
mod sentinel;
mod token_store;
mod topology;

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest as _, Sha256};

pub use self::config::{RedisStoreConfig, SentinelConfig};
use self::link::Connector;
use self::scripts::Scripts;
use self::topology::{Target, Topology};

use tokenmux_store::{EncryptionKey, Record, StoreError, StoreErrorKind, StoreKey, Versioned};

/// A token store in Redis, shared by every process that uses the same
/// server, key prefix and encryption key.
///
/// - **Keys** are `tokenmux:{<hash>}:token` and `tokenmux:{<hash>}:lease`,
///   where `<hash>` is a SHA-256 of the [`StoreKey`] (provider, base URL,
///   client id, username; never a secret). The braces are a Redis Cluster
///   hash tag: both keys of a token live in one slot, so the scripts that
///   touch them work on a cluster too.
/// - **Values** are hashes: `v` the version, `d` the record, encrypted
///   (ChaCha20-Poly1305, as in `FileStore`) when
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
///   [`timeout`](Self::timeout) and fails as [`StoreErrorKind::Unavailable`];
///   the facade's `TokenSource` then logs a warning and carries on
///   with its in-memory token. A background task pings Redis until it
///   answers; meanwhile calls fail at once rather than each waiting for
///   the timeout.
///
/// - **Where**: one node ([`new`](Self::new)), a Redis Cluster
///   ([`cluster`](Self::cluster), following `MOVED` and `ASK`), or the
///   master Sentinel names ([`sentinel`](Self::sentinel), followed across
///   failovers); `rediss://` for TLS (rustls; system roots, or
///   [`with_ca_file`](Self::with_ca_file), and
///   [`with_client_certificate`](Self::with_client_certificate) for mutual
///   TLS). Certificate failures are [`StoreErrorKind::Tls`], refused
///   credentials or ACLs [`StoreErrorKind::Denied`].
/// - **Off this machine**, a source refuses to build on the store unless
///   it encrypts ([`with_encryption`](Self::with_encryption)) or is told
///   [`allow_plaintext`](Self::allow_plaintext).
///
/// Construction does not connect, so a source builds while Redis is down.
/// `docs/redis.md` covers production set-ups, failover and a minimal ACL.
///
/// ```no_run
/// use tokenmux_store::EncryptionKey;
/// use tokenmux_store_redis::RedisStore;
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let key = EncryptionKey::from_base64(&std::env::var("TOKENMUX_CACHE_KEY")?)?;
/// let store = RedisStore::new("redis://127.0.0.1:6379")?.with_encryption(key);
/// store.ping().await?; // at once, rather than at the first token
/// // A source uses it with `TokenSource::builder(…).store(Arc::new(store))`.
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    /// The connection; made again when a setting it depends on changes.
    connector: Arc<Connector>,
    prefix: String,
    encryption: Option<EncryptionKey>,
    allow_plaintext: bool,
    replicas: u32,
    lease_ttl: Duration,
    timeout: Duration,
    max_reply_bytes: u64,
    refresh_token_retention: Duration,
    scripts: Arc<Scripts>,
}

/// Largest reply accepted by default: a token record is a few KiB.
const DEFAULT_MAX_REPLY_BYTES: u64 = 1024 * 1024;
/// Smallest cap [`RedisStore::max_reply_bytes`] accepts: the largest record.
const MIN_MAX_REPLY_BYTES: u64 = 64 * 1024;

impl RedisStore {
    /// A store on one Redis server: `redis://[user:password@]host[:port][/db]`,
    /// `rediss://…` for TLS (system roots unless
    /// [`with_ca_file`](Self::with_ca_file)), or `redis+unix:///path`.
    /// Checks the URL; connects on first use.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        Self::with_target(Target::new(Topology::Single, &[url])?)
    }

    /// A store on a Redis Cluster, reached through any of `seeds` (its
    /// nodes' URLs, all `redis://` or all `rediss://`). Follows `MOVED`
    /// and `ASK` redirections, so a resharding in progress is transparent.
    ///
    /// ```
    /// use tokenmux_store_redis::RedisStore;
    ///
    /// let store = RedisStore::cluster(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])?
    ///     .wait_for_replicas(1);
    /// # Ok::<(), tokenmux_store::StoreError>(())
    /// ```
    pub fn cluster<S: AsRef<str>>(seeds: impl IntoIterator<Item = S>) -> Result<Self, StoreError> {
        let seeds: Vec<S> = seeds.into_iter().collect();
        let seeds: Vec<&str> = seeds.iter().map(AsRef::as_ref).collect();
        Self::with_target(Target::new(Topology::Cluster, &seeds)?)
    }

    /// A store on the master that the sentinels at `sentinels` name
    /// `master`, found again after every failover. The URLs' user,
    /// password and database are used for the sentinels and the master.
    ///
    /// ```
    /// use tokenmux_store_redis::RedisStore;
    ///
    /// let store = RedisStore::sentinel("tokens", ["redis://10.0.0.1:26379", "redis://10.0.0.2:26379"])?;
    /// # Ok::<(), tokenmux_store::StoreError>(())
    /// ```
    pub fn sentinel<S: AsRef<str>>(
        master: &str,
        sentinels: impl IntoIterator<Item = S>,
    ) -> Result<Self, StoreError> {
        let sentinels: Vec<S> = sentinels.into_iter().collect();
        let sentinels: Vec<&str> = sentinels.iter().map(AsRef::as_ref).collect();
        let topology = Topology::Sentinel {
            master: master.to_owned(),
        };
        Self::with_target(Target::new(topology, &sentinels)?)
    }

    fn with_target(target: Target) -> Result<Self, StoreError> {
        target.check()?;
        let timeout = Duration::from_millis(500);
        Ok(Self {
            connector: Arc::new(Connector::new(target, timeout, DEFAULT_MAX_REPLY_BYTES)),
            prefix: "tokenmux".to_owned(),
            encryption: None,
            allow_plaintext: false,
            replicas: 0,
            lease_ttl: Duration::from_secs(10),
            timeout,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            refresh_token_retention: Duration::from_secs(24 * 3600),
            scripts: Arc::new(Scripts::new()),
        })
    }

    /// A new connection, to a changed target.
    fn reconnect_with(mut self, target: Target) -> Result<Self, StoreError> {
        target.check()?;
        self.connector = Arc::new(Connector::new(target, self.timeout, self.max_reply_bytes));
        Ok(self)
    }

    /// Trusts the CA certificates in the PEM file at `path` for `rediss://`,
    /// instead of the system's roots (a private CA).
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let mut target = self.connector.target.clone();
        target.set_ca_file(path.as_ref())?;
        self.reconnect_with(target)
    }

    /// Presents this certificate chain and private key (PEM files) to a
    /// `rediss://` server that asks for one (mutual TLS).
    pub fn with_client_certificate(
        self,
        certificate: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<Self, StoreError> {
        let mut target = self.connector.target.clone();
        target.set_client_identity(certificate.as_ref(), key.as_ref())?;
        self.reconnect_with(target)
    }

    /// Lets tokens be stored unencrypted in a Redis that is not on this
    /// machine. Without it, or [`with_encryption`](Self::with_encryption),
    /// a source refuses to build on such a store: the tokens would rest on
    /// another host, readable by whoever reads its memory or dumps.
    pub fn allow_plaintext(mut self) -> Self {
        self.allow_plaintext = true;
        self
    }

    /// After every write, waits (`WAIT`, at most half the
    /// [`timeout`](Self::timeout)) until `replicas` replicas have it, and
    /// reports the write failed when fewer do. Set it to 1 or more when
    /// the Redis master has replicas: a refresh token is then presented
    /// only once its claim would survive the master's loss (default 0:
    /// no waiting).
    pub fn wait_for_replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
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
        let target = self.connector.target.clone();
        self.connector = Arc::new(Connector::new(target, timeout, self.max_reply_bytes));
        self
    }

    /// Largest reply accepted from Redis, or a sentinel (default 1 MiB, at
    /// least 64 KiB). A reply that announces or sends more fails the call
    /// as [`StoreErrorKind::Unavailable`] before it is read, and closes the
    /// connection: a hostile or broken server cannot make tokenmux buffer
    /// what it sends. A token record takes a few KiB.
    ///
    /// ```
    /// use tokenmux_store_redis::RedisStore;
    ///
    /// let store = RedisStore::new("redis://127.0.0.1:6379")?.max_reply_bytes(256 * 1024);
    /// # Ok::<(), tokenmux_store::StoreError>(())
    /// ```
    pub fn max_reply_bytes(mut self, bytes: u64) -> Self {
        self.max_reply_bytes = bytes.max(MIN_MAX_REPLY_BYTES);
        let target = self.connector.target.clone();
        self.connector = Arc::new(Connector::new(target, self.timeout, self.max_reply_bytes));
        self
    }

    /// Connects and sends a `PING`: a startup check that surfaces a wrong
    /// certificate ([`StoreErrorKind::Tls`]), password or ACL
    /// ([`StoreErrorKind::Denied`]) before any token is needed.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let ping = async {
            let mut link = self.connector.link().await?;
            let command = redis::cmd("PING");
            let _: String = self.connector.call(command.query_async(&mut link)).await?;
            Ok::<(), StoreError>(())
        };
        match ping.await {
            // The cluster client reports only that no node answered:
            // a direct connection to a seed tells why.
            Err(ref e)
                if e.kind() == StoreErrorKind::Unavailable
                    && self.connector.target.topology == Topology::Cluster =>
            {
                Err(self.connector.seed_failure().await)
            }
            outcome => outcome,
        }
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
    /// use tokenmux_store::StoreKey;
    /// use tokenmux_store_redis::RedisStore;
    ///
    /// let store = RedisStore::new("redis://127.0.0.1:6379").unwrap();
    /// let key = StoreKey::from_parts("neonpanel", "https://example.com", "id", None);
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

    /// How a value read from Redis (the hash fields `v` and `d`; `None`
    /// for a field that is missing) is decoded, with every check of
    /// [`decode_record`](tokenmux_store::decode_record): a token, nothing, or
    /// [`StoreErrorKind::Corrupt`], never a panic. For tools and fuzzing.
    ///
    /// ```
    /// use tokenmux_store::StoreKey;
    /// use tokenmux_store_redis::RedisStore;
    ///
    /// let store = RedisStore::new("redis://127.0.0.1:6379").unwrap();
    /// let key = StoreKey::from_parts("neonpanel", "https://example.com", "id", None);
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
        let stored = tokenmux_store::decode_record(key, &record, self.encryption.as_ref())
            .map_err(|e| self.corrupt(e.message()))?;
        if version != stored.version.to_string() {
            return Err(self.corrupt("version mismatch"));
        }
        Ok(Some(stored))
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut link = self.connector.link().await?;
        self.connector
            .call(invocation.invoke_async(&mut link))
            .await
    }

    /// With [`wait_for_replicas`](Self::wait_for_replicas): fails unless
    /// enough replicas have this connection's writes.
    async fn replicated(&self, link: &mut link::Link, key: &str) -> Result<(), StoreError> {
        if self.replicas == 0 {
            return Ok(());
        }
        let acknowledged = self.connector.replicated(link, key, self.replicas).await?;
        if acknowledged < i64::from(self.replicas) {
            return Err(StoreError::unavailable(format!(
                "Redis at {}: written, but {acknowledged} of {} replicas acknowledged it in time",
                self.connector.target.address, self.replicas
            )));
        }
        Ok(())
    }

    fn corrupt(&self, why: &str) -> StoreError {
        let address = &self.connector.target.address;
        StoreError::corrupt(format!("Redis at {address}: {why}"))
    }

    /// How long the entry should live: until the access token expires, or
    /// longer while its refresh token is worth keeping, and at least until
    /// its failure's window ends.
    fn ttl(&self, record: &Record) -> Duration {
        let now = SystemTime::now();
        let token = record.token.as_ref().map_or(Duration::ZERO, |token| {
            let remaining = token
                .expires_at()
                .duration_since(now)
                .unwrap_or_else(|_| token.lifetime());
            let retention = if token.refresh_token().is_some() {
                self.refresh_token_retention
            } else {
                Duration::ZERO
            };
            remaining + retention
        });
        let failure = record.failure.as_ref().map_or(Duration::ZERO, |failure| {
            failure.until().duration_since(now).unwrap_or_default()
        });
        token.max(failure).max(Duration::from_secs(1))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.connector.target)
            .field("prefix", &self.prefix)
            .field("encryption", &self.encryption.is_some())
            .field("allow_plaintext", &self.allow_plaintext)
            .field("wait_for_replicas", &self.replicas)
            .field("lease_ttl", &self.lease_ttl)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}
