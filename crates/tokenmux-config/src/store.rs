//! `store:` of a configured source: which store, each described by its
//! own crate's config struct, and opening it with its encryption key read
//! from the environment.

use std::sync::Arc;

use serde::Deserialize;
use tokenmux::{Error, MemoryStore, TokenStore};
use tokenmux_store::EncryptionKey;
use tokenmux_store_file::FileStoreConfig;
use tokenmux_store_redis::RedisStore;
use tokenmux_store_redis::RedisStoreConfig;

/// Where a configured source keeps its tokens (`store:` in a config file).
/// Encryption keys are not written in the file: `encryption_key_env` names
/// the environment variable holding one (base64, 32 bytes).
///
/// ```
/// use tokenmux_config::{SourceConfig, StoreConfig};
///
/// let config: SourceConfig = serde_json::from_str(r#"{
///     "provider": "neonpanel",
///     "store": {
///         "kind": "redis",
///         "url": "redis://127.0.0.1:6379",
///         "encryption_key_env": "TOKENMUX_CACHE_KEY"
///     }
/// }"#).unwrap();
/// assert!(matches!(config.store, Some(StoreConfig::Redis(_))));
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Hash, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    /// In this process's memory only.
    Memory,
    /// Files in a directory: tokens survive restarts (`FileStore`).
    File(FileStoreConfig),
    /// Redis, shared by processes and hosts (`RedisStore`): one node, a
    /// cluster or Sentinel, over TLS or not.
    Redis(RedisStoreConfig),
}

impl StoreConfig {
    /// Opens the store this describes (a Redis store connects on first use).
    pub fn open(&self) -> Result<Arc<dyn TokenStore>, Error> {
        Ok(match self {
            StoreConfig::Memory => Arc::new(MemoryStore::default()),
            StoreConfig::File(file) => {
                let key = encryption_key(&file.encryption_key_env)?;
                Arc::new(file.open(key)?)
            }
            StoreConfig::Redis(redis) => Arc::new(open_redis(redis)?),
        })
    }
}

impl StoreConfig {
    /// What is wrong with these settings, checked without touching the
    /// store's data: the encryption key, and a Redis store's URLs and
    /// files (it connects on first use, not here). A file store's
    /// directory is left alone.
    pub(crate) fn problem(&self) -> Option<Error> {
        match self {
            StoreConfig::Memory => None,
            StoreConfig::File(file) => encryption_key(&file.encryption_key_env).err(),
            StoreConfig::Redis(_) => self.open().err(),
        }
    }
}

/// The Redis store `config` describes, its encryption key read from the
/// environment variable it names: how config files and the CLI's
/// `--redis-*` flags open it alike.
pub fn open_redis(config: &RedisStoreConfig) -> Result<RedisStore, Error> {
    let key = encryption_key(&config.encryption_key_env)?;
    Ok(config.open(key)?)
}

/// The key in the environment variable `variable` names, if one is named.
pub(crate) fn encryption_key(variable: &Option<String>) -> Result<Option<EncryptionKey>, Error> {
    variable
        .as_deref()
        .map(crate::secret_value::encryption_key_from_env)
        .transpose()
}
