//! One process of the cross-process Redis tests: a `TokenSource` on a
//! shared `RedisStore`, asked for tokens by many concurrent callers.
//!
//! It prints `ready`, waits for a line on stdin (so that every process
//! starts at once), runs, and prints one JSON summary line.

use std::collections::HashSet;
use std::io::BufRead as _;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokenmux::{Credentials, EncryptionKey, Provider, TokenSource};
use tokenmux_config::RedisStoreConfig;
use tokenmux_mock::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME};

#[derive(Parser)]
struct Args {
    /// neonpanel, airalo, jsonapi or password.
    #[arg(long)]
    provider: String,
    /// The mock's base URL for that provider.
    #[arg(long)]
    base_url: String,
    /// The store, as a config file's `store: {kind: redis, …}` (JSON).
    #[arg(long)]
    redis_config: String,
    /// Concurrent callers.
    #[arg(long, default_value_t = 100)]
    callers: usize,
    /// 0: each caller asks once; else each asks every 20 ms for this long.
    #[arg(long, default_value_t = 0)]
    duration_ms: u64,
    #[arg(long, default_value_t = 10_000)]
    lease_ttl_ms: u64,
    /// Bound on each Redis call. Longer than the store's 500 ms default:
    /// these tests check sharing, and a loaded CI machine can be slow.
    #[arg(long, default_value_t = 5_000)]
    redis_timeout_ms: u64,
    /// Base64 key encrypting the stored tokens.
    #[arg(long, env = "TOKENMUX_CACHE_KEY")]
    encryption_key: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let provider = Provider::by_name(&args.provider)?.with_base_url(args.base_url.as_str());
    let credentials = match tokenmux::endpoint::Needs::of(provider.spec()).resource_owner() {
        true => Credentials::password(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_USERNAME,
            DEFAULT_PASSWORD,
        ),
        false => Credentials::client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    };
    // The mock's test key where the spec signs its requests, and a value
    // for each required parameter, as the tests' `credentials_with`.
    let needs = tokenmux::endpoint::Needs::of(provider.spec());
    let credentials = match needs.requires(tokenmux::endpoint::CredentialRole::PrivateKey) {
        true => credentials.with_private_key(tokenmux::jose::PrivateKey::from_pem(
            tokenmux_mock::DEFAULT_CLIENT_PRIVATE_KEY.as_bytes(),
        )?),
        false => credentials,
    };
    let credentials = provider
        .spec()
        .parameters()
        .iter()
        .filter(|p| p.required)
        .fold(credentials, |c, p| c.with_param(p.name, "test-parameter"));
    let config: RedisStoreConfig = serde_json::from_str(&args.redis_config)?;
    let mut store = tokenmux_config::open_redis(&config)?
        .lease_ttl(Duration::from_millis(args.lease_ttl_ms))
        .timeout(Duration::from_millis(args.redis_timeout_ms));
    if let Some(key) = &args.encryption_key {
        store = store.with_encryption(EncryptionKey::from_base64(key)?);
    }
    let tokens = TokenSource::builder(provider)
        .credentials(credentials)
        .store(Arc::new(store))
        .build()?;

    println!("ready");
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go)?;

    let deadline = tokio::time::Instant::now() + Duration::from_millis(args.duration_ms);
    let callers: Vec<_> = (0..args.callers)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                loop {
                    outcomes.push(
                        tokens
                            .token()
                            .await
                            .map(|t| t.fingerprint())
                            .map_err(|e| e.to_string()),
                    );
                    if tokio::time::Instant::now() >= deadline {
                        return outcomes;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    let (mut ok, mut errors, mut distinct) = (0, Vec::new(), HashSet::new());
    for caller in callers {
        for outcome in caller.await? {
            match outcome {
                Ok(fingerprint) => {
                    ok += 1;
                    distinct.insert(fingerprint);
                }
                Err(error) => errors.push(error),
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({"ok": ok, "failed": errors.len(), "errors": &errors[..errors.len().min(5)], "tokens": distinct})
    );
    Ok(())
}
