//! The master that a set of sentinels names, asked through tokenmux's own
//! capped connections (a sentinel's replies are as untrusted as a
//! master's): each sentinel in turn, the one that answered last first,
//! and the master named is used only once it says it is one (`ROLE`), as
//! it may not be yet, or any more, during a failover.

use std::sync::atomic::{AtomicUsize, Ordering};

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, ErrorKind, RedisConnectionInfo, RedisError, RedisResult,
    ServerErrorKind, Value,
};

use super::dial::{Dialer, Endpoint};

/// The sentinels, and how to log in to them and to the master.
pub(super) struct Sentinels {
    master: String,
    endpoints: Vec<Endpoint>,
    /// The URLs' user and password (database 0: sentinels have no other).
    sentinel_settings: RedisConnectionInfo,
    /// The URLs' user, password and database.
    master_settings: RedisConnectionInfo,
    tls: bool,
    last_answered: AtomicUsize,
}

impl Sentinels {
    /// The sentinels at `endpoints`, watching the master named `master`.
    pub(super) fn new(
        master: &str,
        endpoints: Vec<Endpoint>,
        master_settings: RedisConnectionInfo,
        tls: bool,
    ) -> Self {
        let mut sentinel_settings = RedisConnectionInfo::default();
        if let Some(username) = master_settings.username() {
            sentinel_settings = sentinel_settings.set_username(username);
        }
        if let Some(password) = master_settings.password() {
            sentinel_settings = sentinel_settings.set_password(password);
        }
        Self {
            master: master.to_owned(),
            endpoints,
            sentinel_settings,
            master_settings,
            tls,
            last_answered: AtomicUsize::new(0),
        }
    }

    /// A connection to the master the sentinels name now.
    pub(super) async fn master(&self, dialer: &Dialer) -> RedisResult<MultiplexedConnection> {
        let first = self.last_answered.load(Ordering::Relaxed);
        let mut last_error = None;
        for turn in 0..self.endpoints.len() {
            let at = (first + turn) % self.endpoints.len();
            match self.ask(dialer, &self.endpoints[at]).await {
                Ok(master) => {
                    self.last_answered.store(at, Ordering::Relaxed);
                    return Ok(master);
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            RedisError::from((ErrorKind::InvalidClientConfig, "no sentinel given"))
        }))
    }

    async fn ask(
        &self,
        dialer: &Dialer,
        sentinel: &Endpoint,
    ) -> RedisResult<MultiplexedConnection> {
        let config = AsyncConnectionConfig::new();
        let mut connection = dialer
            .open(sentinel, &self.sentinel_settings, config.clone())
            .await?;
        let named: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(&self.master)
            .query_async(&mut connection)
            .await?;
        let Some((host, port)) = named else {
            return Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "a sentinel does not know the master's name",
            )));
        };
        let endpoint = Endpoint::Tcp {
            host,
            port,
            tls: self.tls,
        };
        let mut master = dialer
            .open(&endpoint, &self.master_settings, config)
            .await?;
        let is_master = match redis::cmd("ROLE")
            .query_async::<Vec<Value>>(&mut master)
            .await
        {
            Ok(role) => match role.first() {
                Some(Value::BulkString(role)) => role == b"master",
                Some(Value::SimpleString(role)) => role == "master",
                _ => false,
            },
            // An ACL without ROLE: the sentinel's word stands, and a
            // demoted master is found out by its READONLY refusals.
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoPerm) => true,
            Err(error) => return Err(error),
        };
        match is_master {
            true => Ok(master),
            false => Err(RedisError::from((
                ErrorKind::Io,
                "the node a sentinel named is not a master (a failover in progress)",
            ))),
        }
    }
}
