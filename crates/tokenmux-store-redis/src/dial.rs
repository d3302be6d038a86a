//! The connections to Redis, opened by tokenmux itself (TCP or a unix
//! socket, then rustls with the store's CA and client certificate) so
//! that every reply passes the [reply cap](super::reply_cap) before the
//! redis crate's parser buffers it. The redis crate then speaks RESP over
//! the stream ([`MultiplexedConnection::new_with_config`]).
//!
//! A Redis Cluster opens its nodes' connections itself, through the
//! [`Connect`] trait, which has no receiver: [`ClusterNode`] finds its
//! [`Dialer`] in a registry, by an id carried in the cluster's TCP
//! settings (`TCP_USER_TIMEOUT`, which the redis crate passes to
//! `Connect` and never applies itself, since tokenmux opens the socket).

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::Connect;
use redis::io::tcp::TcpSettings;
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, RedisFuture, RedisResult, Value,
};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

use super::reply_cap::Capped;

/// Where a connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    /// A host (a name or an IP address) and port; over TLS when `tls`.
    Tcp { host: String, port: u16, tls: bool },
    /// A unix socket.
    Unix(PathBuf),
}

impl Endpoint {
    /// The endpoint a redis crate address names.
    pub(super) fn of(address: &ConnectionAddr) -> RedisResult<Self> {
        match address {
            ConnectionAddr::Tcp(host, port) => Ok(Self::Tcp {
                host: host.clone(),
                port: *port,
                tls: false,
            }),
            ConnectionAddr::TcpTls { host, port, .. } => Ok(Self::Tcp {
                host: host.clone(),
                port: *port,
                tls: true,
            }),
            ConnectionAddr::Unix(path) => Ok(Self::Unix(path.clone())),
            _ => Err(invalid("an address kind tokenmux does not connect to")),
        }
    }
}

/// Opens capped connections with one store's TLS material and limits.
pub(super) struct Dialer {
    tls: Option<Arc<ClientConfig>>,
    cap: u64,
    timeout: Duration,
    id: u64,
}

/// Live dialers of cluster stores, by id (see the module's comment).
static DIALERS: Mutex<BTreeMap<u64, Weak<Dialer>>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Dialer {
    /// A dialer whose replies may be at most `cap` bytes, and whose
    /// connections must be made (and set up) within `timeout`.
    pub(super) fn new(tls: Option<ClientConfig>, cap: u64, timeout: Duration) -> Arc<Self> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let dialer = Arc::new(Self {
            tls: tls.map(Arc::new),
            cap,
            timeout,
            id,
        });
        let mut dialers = DIALERS.lock();
        dialers.insert(id, Arc::downgrade(&dialer));
        dialer
    }

    /// The TCP settings that lead a [`ClusterNode`] back to this dialer.
    pub(super) fn cluster_settings(&self) -> TcpSettings {
        TcpSettings::default()
            .set_nodelay(true)
            .set_user_timeout(Duration::from_millis(self.id))
    }

    fn registered(settings: &TcpSettings) -> Option<Arc<Self>> {
        let id = settings.user_timeout()?.as_millis() as u64;
        let dialers = DIALERS.lock();
        dialers.get(&id)?.upgrade()
    }

    /// A connection to `endpoint`, logged in and set up as `settings` say.
    pub(super) async fn open(
        &self,
        endpoint: &Endpoint,
        settings: &RedisConnectionInfo,
        config: AsyncConnectionConfig,
    ) -> RedisResult<MultiplexedConnection> {
        let open = async {
            let connection = match endpoint {
                Endpoint::Tcp { host, port, tls } => {
                    let tcp = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                    tcp.set_nodelay(true)?;
                    match (tls, &self.tls) {
                        (false, _) => self.speak(tcp, settings, config).await?,
                        (true, Some(tls)) => {
                            let name = ServerName::try_from(host.clone())
                                .map_err(|_| invalid("a host name TLS cannot verify"))?;
                            let stream = TlsConnector::from(tls.clone()).connect(name, tcp).await?;
                            self.speak(stream, settings, config).await?
                        }
                        (true, None) => return Err(invalid("no TLS settings for rediss://")),
                    }
                }
                Endpoint::Unix(path) => {
                    let unix = tokio::net::UnixStream::connect(path).await?;
                    self.speak(unix, settings, config).await?
                }
            };
            Ok(connection)
        };
        match tokio::time::timeout(self.timeout, open).await {
            Ok(outcome) => outcome,
            Err(_) => Err(RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {:?}", self.timeout),
            ))),
        }
    }

    async fn speak<S>(
        &self,
        stream: S,
        settings: &RedisConnectionInfo,
        config: AsyncConnectionConfig,
    ) -> RedisResult<MultiplexedConnection>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let config = config.set_response_timeout(Some(self.timeout));
        let stream = Capped::new(stream, self.cap);
        let (connection, driver) =
            MultiplexedConnection::new_with_config(settings, stream, config).await?;
        // Ends when the connection's last clone is dropped.
        tokio::spawn(driver);
        Ok(connection)
    }
}

impl Drop for Dialer {
    fn drop(&mut self) {
        let mut dialers = DIALERS.lock();
        dialers.remove(&self.id);
    }
}

fn invalid(what: &'static str) -> RedisError {
    RedisError::from((ErrorKind::InvalidClientConfig, what))
}

/// A cluster node's connection, opened by its store's [`Dialer`].
#[derive(Clone)]
pub(super) struct ClusterNode(MultiplexedConnection);

impl Connect for ClusterNode {
    fn connect_with_config<'a, T>(info: T, config: AsyncConnectionConfig) -> RedisFuture<'a, Self>
    where
        T: IntoConnectionInfo + Send + 'a,
    {
        Box::pin(async move {
            let info = info.into_connection_info()?;
            let dialer = Dialer::registered(info.tcp_settings())
                .ok_or_else(|| invalid("a cluster connection whose store is gone"))?;
            let endpoint = Endpoint::of(info.addr())?;
            let connection = dialer
                .open(&endpoint, info.redis_settings(), config)
                .await?;
            Ok(Self(connection))
        })
    }
}

impl ConnectionLike for ClusterNode {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
