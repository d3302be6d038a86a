//! The `--redis-*` flags of `tokenmux token`: they fill the same
//! `RedisStoreConfig` as a config file's `store: {kind: redis, …}`.

use std::path::PathBuf;

use clap::Args;
use tokenmux::{RedisStore, Secret, TokenStore as _};
use tokenmux_config::{RedisStoreConfig, SentinelConfig};

use crate::Failure;

/// Where `--cache redis` keeps tokens: exactly one of --redis-url,
/// --redis-cluster and --redis-sentinel.
#[derive(Args)]
pub(crate) struct RedisArgs {
    /// One Redis node: redis://host:port, rediss:// for TLS (prefer the
    /// environment when it holds a password).
    #[arg(long, env = "TOKENMUX_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// A Redis Cluster's seed nodes, comma-separated.
    #[arg(
        long,
        env = "TOKENMUX_REDIS_CLUSTER",
        value_delimiter = ',',
        value_name = "URL[,URL…]",
        hide_env_values = true
    )]
    redis_cluster: Vec<String>,
    /// Sentinels watching the master named by --redis-master, comma-separated.
    #[arg(
        long,
        env = "TOKENMUX_REDIS_SENTINEL",
        value_delimiter = ',',
        value_name = "URL[,URL…]",
        requires = "redis_master",
        hide_env_values = true
    )]
    redis_sentinel: Vec<String>,
    /// The master's name in the sentinels' configuration.
    #[arg(long, env = "TOKENMUX_REDIS_MASTER")]
    redis_master: Option<String>,
    /// PEM file of the CA certificates to trust for rediss:// (a private CA).
    #[arg(long, env = "TOKENMUX_REDIS_CA_FILE")]
    redis_ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for Redis servers asking mutual TLS.
    #[arg(
        long,
        env = "TOKENMUX_REDIS_CLIENT_CERT",
        requires = "redis_client_key"
    )]
    redis_client_cert: Option<PathBuf>,
    /// PEM private key of --redis-client-cert.
    #[arg(
        long,
        env = "TOKENMUX_REDIS_CLIENT_KEY",
        requires = "redis_client_cert"
    )]
    redis_client_key: Option<PathBuf>,
    /// First part of every Redis key (default `tokenmux`).
    #[arg(long)]
    redis_key_prefix: Option<String>,
    /// Store tokens unencrypted in a Redis on another host (without
    /// TOKENMUX_CACHE_KEY such a Redis is refused).
    #[arg(long)]
    redis_allow_plaintext: bool,
    /// Replicas that must have each write before it counts (WAIT).
    #[arg(long, default_value_t = 0)]
    redis_wait_for_replicas: u32,
    /// Largest reply accepted from Redis, in bytes (default 1 MiB): a
    /// server sending more is cut off before tokenmux buffers it.
    #[arg(long, value_name = "BYTES")]
    redis_max_reply_bytes: Option<u64>,
}

impl RedisArgs {
    /// The flag and variable of a URL given on the command line with a
    /// password in it (which shows in process lists).
    pub(crate) fn url_flag_with_password(&self) -> Option<(&'static str, &'static str)> {
        let secret = |url: &String| reqwest::Url::parse(url).is_ok_and(|u| u.password().is_some());
        [
            (
                "--redis-url",
                "TOKENMUX_REDIS_URL",
                self.redis_url.iter().any(secret),
            ),
            (
                "--redis-cluster",
                "TOKENMUX_REDIS_CLUSTER",
                self.redis_cluster.iter().any(secret),
            ),
            (
                "--redis-sentinel",
                "TOKENMUX_REDIS_SENTINEL",
                self.redis_sentinel.iter().any(secret),
            ),
        ]
        .into_iter()
        .find(|(flag, _, has)| *has && crate::token::flag_given(flag))
        .map(|(flag, variable, _)| (flag, variable))
    }

    /// The store's configuration, as a config file would give it.
    pub(crate) fn config(&self) -> Result<RedisStoreConfig, Failure> {
        let secrets = |urls: &[String]| urls.iter().map(|u| Secret::new(u.as_str())).collect();
        let sentinel = match (&self.redis_master, self.redis_sentinel.is_empty()) {
            (Some(master), false) => Some(SentinelConfig {
                master: master.clone(),
                urls: secrets(&self.redis_sentinel),
            }),
            _ => None,
        };
        let none_given =
            self.redis_url.is_none() && self.redis_cluster.is_empty() && sentinel.is_none();
        if none_given {
            return Err(Failure::usage(
                "--cache redis needs --redis-url, --redis-cluster or --redis-sentinel \
                 (or TOKENMUX_REDIS_URL, TOKENMUX_REDIS_CLUSTER, TOKENMUX_REDIS_SENTINEL)",
            ));
        }
        Ok(RedisStoreConfig {
            url: self.redis_url.as_deref().map(Secret::new),
            cluster: (!self.redis_cluster.is_empty()).then(|| secrets(&self.redis_cluster)),
            sentinel,
            ca_file: self.redis_ca_file.clone(),
            client_cert: self.redis_client_cert.clone(),
            client_key: self.redis_client_key.clone(),
            key_prefix: self.redis_key_prefix.clone(),
            encryption_key_env: std::env::var_os("TOKENMUX_CACHE_KEY")
                .map(|_| "TOKENMUX_CACHE_KEY".to_owned()),
            allow_plaintext: self.redis_allow_plaintext,
            wait_for_replicas: self.redis_wait_for_replicas,
            max_reply_bytes: self.redis_max_reply_bytes,
        })
    }
}

/// Opens the store and checks it answers. A certificate, password or ACL
/// problem is a configuration error (exit 2); Redis down only a warning:
/// the token is fetched without it.
pub(crate) async fn open(config: &RedisStoreConfig) -> Result<RedisStore, Failure> {
    let store = tokenmux_config::open_redis(config).map_err(|e| match e {
        // The store's own words, as a config file's store gives them.
        tokenmux::Error::Store(store) => Failure::usage(store.to_string()),
        other => Failure::usage(other.to_string()),
    })?;
    // Refused before any traffic: a remote Redis without a key.
    store.check().map_err(|e| Failure::usage(e.to_string()))?;
    match store.ping().await {
        Ok(()) => Ok(store),
        // A store that must be fixed stops the command; one that is down
        // for now only costs the shared cache.
        Err(error) if !error.is_transient() => Err(Failure::usage(error.to_string())),
        Err(error) => {
            // The Redis link has said so (once per outage).
            tracing::debug!("{error}; fetching without the shared cache");
            Ok(store)
        }
    }
}
