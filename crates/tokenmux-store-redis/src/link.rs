//! The store's connection to Redis: made on first use, every call bounded
//! by a timeout, and after a failure marked down (calls then fail at once)
//! while a background probe waits for Redis to answer again. Behind
//! Sentinel, the probe asks the sentinels for the master each time, which
//! follows a failover without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{
    AsyncConnectionConfig, Cmd, ErrorKind, RedisError, RedisFuture, ServerErrorKind, Value,
};
use tokio::sync::OnceCell;
use tracing::{error, info, warn};

use super::dial::{ClusterNode, Dialer};
use super::reply_cap::passed_cap;
use super::sentinel::Sentinels;
use super::topology::{Target, Topology, hash_slot};
use tokenmux_store::StoreError;

/// How often the background probe tries an unreachable Redis.
const RECONNECT_PERIOD: Duration = Duration::from_millis(250);

/// A connection to one node (single or Sentinel's master), made again
/// after it fails, or a cluster, which reconnects its nodes by itself;
/// clones share the connection.
#[derive(Clone)]
pub(super) enum Link {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection<ClusterNode>),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Node(connection) => connection.req_packed_command(cmd),
            Link::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Node(connection) => connection.req_packed_commands(pipeline, offset, count),
            Link::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Node(connection) => connection.get_db(),
            Link::Cluster(connection) => connection.get_db(),
        }
    }
}

/// Makes, keeps and watches the [`Link`].
pub(super) struct Connector {
    pub(super) target: Target,
    timeout: Duration,
    /// Largest reply accepted, in bytes.
    max_reply: u64,
    link: ArcSwapOption<Link>,
    /// Made on first use (it loads the TLS roots).
    dialer: OnceCell<Arc<Dialer>>,
    /// Kept between lookups: it remembers which sentinel answered.
    sentinels: Option<Sentinels>,
    down: AtomicBool,
}

impl Connector {
    /// A connector for a checked `target` ([`Target::check`]) whose
    /// replies may be at most `max_reply` bytes; connects on first use.
    pub(super) fn new(target: Target, timeout: Duration, max_reply: u64) -> Self {
        let sentinels = match &target.topology {
            Topology::Sentinel { master } => target.sentinels(master).ok(),
            _ => None,
        };
        Self {
            target,
            timeout,
            max_reply,
            link: ArcSwapOption::empty(),
            dialer: OnceCell::new(),
            sentinels,
            down: AtomicBool::new(false),
        }
    }

    async fn dialer(&self) -> Result<&Arc<Dialer>, RedisError> {
        self.dialer
            .get_or_try_init(|| async {
                let tls = self.target.tls_config().map_err(config_error)?;
                Ok(Dialer::new(tls, self.max_reply, self.timeout))
            })
            .await
    }

    /// The link, made on first use; fails at once while Redis is down.
    pub(super) async fn link(self: &Arc<Self>) -> Result<Link, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable(format!(
                "Redis at {} is unreachable; reconnecting in the background",
                self.target.address
            )));
        }
        if let Some(link) = self.link.load_full() {
            return Ok((*link).clone());
        }
        match tokio::time::timeout(self.timeout, self.connect()).await {
            Ok(Ok(link)) => Ok(link),
            Ok(Err(error)) => Err(self.failed(error)),
            Err(_) => Err(self.failed_to_answer()),
        }
    }

    /// A new link, kept for the next calls (Sentinel: to the master the
    /// sentinels name now).
    async fn connect(&self) -> Result<Link, RedisError> {
        let dialer = self.dialer().await?;
        let link = match &self.target.topology {
            Topology::Single => {
                let (endpoint, settings) = self.target.node().map_err(config_error)?;
                Link::Node(
                    dialer
                        .open(&endpoint, &settings, self.node_config())
                        .await?,
                )
            }
            Topology::Cluster => {
                let client = self
                    .target
                    .cluster_client(self.timeout, dialer.cluster_settings())
                    .map_err(config_error)?;
                Link::Cluster(client.get_async_generic_connection::<ClusterNode>().await?)
            }
            Topology::Sentinel { .. } => {
                let sentinels = self
                    .sentinels
                    .as_ref()
                    .ok_or_else(|| config_error(StoreError::config("unusable sentinel URLs")))?;
                Link::Node(sentinels.master(dialer).await?)
            }
        };
        self.link.store(Some(Arc::new(link.clone())));
        Ok(link)
    }

    fn node_config(&self) -> AsyncConnectionConfig {
        AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
    }

    /// Why the first seed refuses a direct connection (a certificate, a
    /// password), or that it is unreachable: for a cluster, whose client
    /// reports only that no node answered.
    pub(super) async fn seed_failure(self: &Arc<Self>) -> StoreError {
        let connect = async {
            let (endpoint, settings) = self.target.node().map_err(config_error)?;
            let dialer = self.dialer().await?;
            let mut connection = dialer
                .open(&endpoint, &settings, self.node_config())
                .await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(Err(error)) => self.failed(error),
            _ => StoreError::unavailable(format!(
                "Redis Cluster at {}: no node answered",
                self.target.address
            )),
        }
    }

    /// Runs one Redis call within the timeout; a failure is classified and,
    /// when Redis is unreachable, marks it down.
    pub(super) async fn call<T>(
        self: &Arc<Self>,
        request: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.failed(error)),
            Err(_) => Err(self.failed_to_answer()),
        }
    }

    /// `WAIT` on the master that holds `key`: how many replicas have the
    /// writes this connection made so far, waiting at most half the timeout.
    pub(super) async fn replicated(
        self: &Arc<Self>,
        link: &mut Link,
        key: &str,
        replicas: u32,
    ) -> Result<i64, StoreError> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(replicas)
            .arg((self.timeout / 2).as_millis().max(1) as u64);
        match link {
            Link::Node(connection) => self.call(wait.query_async(connection)).await,
            Link::Cluster(connection) => {
                // WAIT has no key; the client would send it to every master.
                let route = Route::new(hash_slot(key), SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                let answer = self.call(connection.route_command(wait, routing)).await?;
                redis::from_redis_value(answer)
                    .map_err(|e| StoreError::unavailable(self.scrub(&e.to_string())))
            }
        }
    }

    fn failed_to_answer(self: &Arc<Self>) -> StoreError {
        self.forget_node();
        let why = format!("no answer within {:?}", self.timeout);
        self.went_down(&why);
        StoreError::unavailable(format!("Redis at {}: {why}", self.target.address))
    }

    /// The error for the caller. Certificates and refused credentials are
    /// their own errors, logged each time and never hidden behind the
    /// reconnecting probe: retrying cannot mend them.
    fn failed(self: &Arc<Self>, error: RedisError) -> StoreError {
        if error.is_io_error() || error.is_connection_dropped() || error.is_unrecoverable_error() {
            self.forget_node();
        }
        let address = &self.target.address;
        if let Some(cap) = passed_cap(&error) {
            // Said here, whole: the callers leave an outage the store
            // reports to it (TokenStore::reports_outages).
            let message = format!(
                "Redis at {address} sent a reply larger than {cap} bytes (max_reply_bytes); \
                 the connection was closed. Is it a Redis, and is it the one configured?"
            );
            error!(redis = %address, cap, "{message}");
            return StoreError::unavailable(message);
        }
        let why = self.scrub(&error.to_string());
        if tokenmux_wire::net::is_tls_failure(&error) {
            error!(redis = %address, %why, "Redis TLS handshake failed");
            return StoreError::tls(format!("Redis at {address}: {why}"));
        }
        let denied = matches!(
            error.kind(),
            ErrorKind::AuthenticationFailed | ErrorKind::Server(ServerErrorKind::NoPerm)
        ) || matches!(error.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"));
        if denied {
            error!(redis = %address, %why, "Redis refused tokenmux's user or command");
            return StoreError::denied(format!("Redis at {address}: {why}"));
        }
        let redirected = matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::Moved | ServerErrorKind::Ask)
        );
        if redirected {
            return StoreError::config(format!(
                "Redis at {address} is a node of a Redis Cluster: give its nodes as a cluster \
                 (RedisStore::cluster, `cluster:` in a config file, --redis-cluster)"
            ));
        }
        if error.kind() == ErrorKind::InvalidClientConfig {
            return StoreError::config(format!("Redis at {address}: {why}"));
        }
        self.went_down(&why);
        StoreError::unavailable(format!("Redis at {address}: {why}"))
    }

    /// Drops a single node's connection, so the next call makes a new one
    /// (a cluster mends its own).
    fn forget_node(&self) {
        if let Some(link) = self.link.load_full()
            && matches!(*link, Link::Node(_))
        {
            self.link.store(None);
        }
    }

    /// Marks Redis down and starts the probe that marks it up again.
    fn went_down(self: &Arc<Self>, why: &str) {
        if self.down.swap(true, Ordering::SeqCst) {
            return; // a probe is already running
        }
        warn!(redis = %self.target.address, %why, "Redis token store unreachable; serving from memory and reconnecting in the background");
        let connector = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RECONNECT_PERIOD).await;
                // Ends with the last clone of the store.
                let Some(connector) = connector.upgrade() else {
                    return;
                };
                if connector.answers().await {
                    connector.down.store(false, Ordering::SeqCst);
                    info!(redis = %connector.target.address, "Redis token store reachable again");
                    return;
                }
            }
        });
    }

    /// Whether Redis answers a PING (Sentinel: the master named now).
    async fn answers(&self) -> bool {
        let sentinel = matches!(self.target.topology, Topology::Sentinel { .. });
        let link = match self.link.load_full() {
            Some(link) if !sentinel => (*link).clone(),
            _ => match tokio::time::timeout(self.timeout, self.connect()).await {
                Ok(Ok(link)) => link,
                _ => return false,
            },
        };
        let mut link = link;
        let ping = redis::cmd("PING");
        let answer = ping.query_async::<String>(&mut link);
        matches!(tokio::time::timeout(self.timeout, answer).await, Ok(Ok(_)))
    }

    /// A Redis error's text, safe to show: the store's own secrets (its
    /// password) removed; and since a server, hostile or broken, may echo
    /// the command's arguments (a token record), nothing from the first
    /// quote on, no token-bearing field, no control character, at most 200
    /// characters.
    pub(super) fn scrub(&self, text: &str) -> String {
        let text = self
            .target
            .hidden
            .iter()
            .fold(text.to_owned(), |text, hidden| {
                text.replace(hidden, "[redacted]")
            });
        let text = match text.find(['\'', '"', '`']) {
            Some(at) => format!("{}…", &text[..at]),
            None => text,
        };
        tokenmux_wire::scrub::Scrubber::without_secrets().excerpt(text.as_bytes())
    }
}

fn config_error(error: StoreError) -> RedisError {
    RedisError::from((
        ErrorKind::InvalidClientConfig,
        "invalid configuration",
        error.to_string(),
    ))
}
