//! The Redis store described in configuration: `store: {kind: redis, …}`
//! in a config file (`tokenmux_config`), and the CLI's `--redis-*` flags, which fill the same
//! struct so that both open the store the same way.

use std::path::PathBuf;

use serde::Deserialize;

use tokenmux_store::{EncryptionKey, StoreError};
use tokenmux_wire::Secret;

use crate::RedisStore;

/// Where a Redis store is and how to reach it: exactly one of `url`,
/// `cluster` and `sentinel`. URLs are kept secret (they may hold a
/// password); the encryption key is read from the environment variable
/// `encryption_key_env` names.
///
/// ```
/// use tokenmux_store_redis::RedisStoreConfig;
///
/// let redis: RedisStoreConfig = serde_json::from_str(r#"{
///     "cluster": ["rediss://10.0.0.1:7000", "rediss://10.0.0.2:7000"],
///     "ca_file": "/etc/tokenmux/redis-ca.pem",
///     "wait_for_replicas": 1,
///     "encryption_key_env": "TOKENMUX_CACHE_KEY"
/// }"#).unwrap();
/// assert_eq!(redis.cluster.map(|seeds| seeds.len()), Some(2));
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Hash)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RedisStoreConfig {
    /// One node: `redis://[user:password@]host[:port][/db]`, `rediss://…`
    /// for TLS, or `redis+unix:///path`.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub url: Option<Secret>,
    /// A Redis Cluster: the URLs of some of its nodes.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<String>>"))]
    pub cluster: Option<Vec<Secret>>,
    /// A master found through Sentinel.
    #[serde(default)]
    pub sentinel: Option<SentinelConfig>,
    /// PEM file of the CA certificates to trust for `rediss://` instead of
    /// the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain presented for mutual TLS (with `client_key`).
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// First part of every Redis key (default `tokenmux`): what an ACL
    /// confines tokenmux's user to (`~tokenmux:*`).
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Environment variable holding the encryption key (base64, 32 bytes).
    /// Required for a Redis not on this machine unless `allow_plaintext`.
    #[serde(default)]
    pub encryption_key_env: Option<String>,
    /// Store tokens unencrypted even in a Redis on another host.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Replicas that must have a write before it counts (`WAIT`); 1 or more
    /// for a replicated Redis (see `RedisStore::wait_for_replicas`).
    #[serde(default)]
    pub wait_for_replicas: u32,
    /// Largest reply accepted from Redis or a sentinel, in bytes (default
    /// 1 MiB, at least 64 KiB; see `RedisStore::max_reply_bytes`).
    #[serde(default)]
    pub max_reply_bytes: Option<u64>,
}

/// Sentinels and the name of the master they watch.
#[derive(Clone, Debug, Deserialize, PartialEq, Hash)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SentinelConfig {
    /// The master's name in the sentinels' configuration.
    pub master: String,
    /// The sentinels' URLs (their user and password are used for the master too).
    #[cfg_attr(feature = "schema", schemars(with = "Vec<String>"))]
    pub urls: Vec<Secret>,
}

impl RedisStoreConfig {
    /// The store this describes (it connects on first use), encrypting
    /// with `encryption`: the key `encryption_key_env` names, which the
    /// caller reads (`tokenmux_config` does, with its rules for
    /// environment values).
    ///
    /// ```
    /// use tokenmux_store::StoreErrorKind;
    /// use tokenmux_store_redis::RedisStoreConfig;
    /// use tokenmux_wire::Secret;
    ///
    /// let config = RedisStoreConfig {
    ///     url: Some(Secret::new("redis://127.0.0.1:6379")),
    ///     ..RedisStoreConfig::default()
    /// };
    /// assert!(config.open(None).is_ok());
    /// let neither = RedisStoreConfig::default().open(None).unwrap_err();
    /// assert_eq!(neither.kind(), StoreErrorKind::Config);
    /// ```
    pub fn open(&self, encryption: Option<EncryptionKey>) -> Result<RedisStore, StoreError> {
        let expose = |urls: &[Secret]| -> Vec<String> {
            urls.iter().map(|u| u.expose_secret().to_owned()).collect()
        };
        let mut store = match (&self.url, &self.cluster, &self.sentinel) {
            (Some(url), None, None) => RedisStore::new(url.expose_secret())?,
            (None, Some(seeds), None) => RedisStore::cluster(expose(seeds))?,
            (None, None, Some(sentinel)) => {
                RedisStore::sentinel(&sentinel.master, expose(&sentinel.urls))?
            }
            _ => {
                return Err(StoreError::config(
                    "a redis store takes exactly one of `url`, `cluster` and `sentinel`",
                ));
            }
        };
        if let Some(ca) = &self.ca_file {
            store = store.with_ca_file(ca)?;
        }
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => store = store.with_client_certificate(cert, key)?,
            (None, None) => {}
            _ => {
                return Err(StoreError::config(
                    "`client_cert` and `client_key` go together",
                ));
            }
        }
        if let Some(prefix) = &self.key_prefix {
            store = store.with_key_prefix(prefix.as_str());
        }
        if let Some(key) = encryption {
            store = store.with_encryption(key);
        }
        if self.allow_plaintext {
            store = store.allow_plaintext();
        }
        if let Some(bytes) = self.max_reply_bytes {
            store = store.max_reply_bytes(bytes);
        }
        Ok(store.wait_for_replicas(self.wait_for_replicas))
    }
}
