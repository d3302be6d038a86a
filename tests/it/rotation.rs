//! A refresh token is presented at most once across everything sharing a
//! store: 20 CLI processes on one file cache against a server that revokes
//! a token family on reuse, and a Redis holder whose lease lapsed while
//! its refresh was in flight.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokenmux::{Credentials, Provider, RedisStore, RetryPolicy, TokenSource, TokenStore};
use tokenmux_mock::{DEFAULT_PASSWORD, DEFAULT_USERNAME, Fault, Grant, MockConfig, MockServer};

use crate::cli::binary;
use crate::support::{ID, SECRET};
use tokenmux_redis_harness::RedisServer;

/// Token lifetime: the CLI treats a token as expired half-way (the clock
/// skew margin is at most half the lifetime), so 6 s into it.
const LIFETIME: Duration = Duration::from_secs(12);
const PROCESSES: usize = 20;

/// Runs `PROCESSES` `tokenmux token` processes at once on one file cache;
/// their exit codes and printed tokens.
async fn run_herd(base: &str, cache_dir: &str) -> Vec<(i32, String, String)> {
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let mut command = Command::new(binary());
            command
                .args(["token", "--provider", "password", "--base-url", base])
                .args(["--cache", "file", "--cache-dir", cache_dir])
                .env_remove("TOKENMUX_CACHE_KEY")
                .env_remove("TOKENMUX_REDIS_URL")
                .env("TOKENMUX_CLIENT_ID", ID)
                .env("TOKENMUX_CLIENT_SECRET", SECRET)
                .env("TOKENMUX_USERNAME", DEFAULT_USERNAME)
                .env("TOKENMUX_PASSWORD", DEFAULT_PASSWORD)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    let mut runs = Vec::new();
    for child in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        runs.push((
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_processes_on_one_file_cache_rotate_without_reuse() {
    let mock = MockServer::start(MockConfig {
        token_lifetime: LIFETIME,
        revoke_family_on_reuse: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let base = mock.base_url("password");
    let mut requests_before = 0;
    // An empty cache, then three expiries.
    for round in 0..4 {
        let runs = run_herd(&base, cache_dir).await;
        let requests = mock.requests_received("password") - requests_before;
        requests_before += requests;
        let valid = runs
            .iter()
            .filter(|(code, token, _)| *code == 0 && mock.access_token_valid(token))
            .count();
        println!(
            "rotation round {round}: {valid}/{PROCESSES} valid tokens, {requests} upstream request(s), {} reuses so far",
            mock.refresh_tokens_reused()
        );
        for (code, _, stderr) in &runs {
            assert_eq!(*code, 0, "round {round}: {stderr}");
        }
        assert_eq!(
            valid, PROCESSES,
            "round {round}: every printed token is valid"
        );
        assert_eq!(requests, 1, "round {round}: one upstream request");
        // Past the point where the CLI treats the token as expired.
        tokio::time::sleep(LIFETIME / 2 + Duration::from_secs(1)).await;
    }
    assert_eq!(mock.refresh_tokens_reused(), 0);
    assert_eq!(mock.tokens_issued("password", Grant::Password), 1);
    assert_eq!(mock.tokens_issued("password", Grant::RefreshToken), 3);
}

/// Holder A's lease lapses while its refresh grant is in flight (Redis
/// loses the lease key); holder B, another process's store, must not
/// present the refresh token A claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_refresh_token_is_never_presented_after_a_lease_lapses() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig {
        token_lifetime: Duration::from_secs(4),
        revoke_family_on_reuse: true,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let credentials = Credentials::password(ID, SECRET, DEFAULT_USERNAME, DEFAULT_PASSWORD);
    let provider =
        Provider::password("https://unused.example").with_base_url(mock.base_url("password"));
    let holder = |name: &str| {
        let store: Arc<dyn TokenStore> = Arc::new(
            RedisStore::new(&redis.url())
                .unwrap()
                .with_key_prefix(format!("fence-{}", std::process::id()))
                .lease_ttl(Duration::from_secs(5))
                .timeout(Duration::from_secs(2)),
        );
        let _ = name;
        TokenSource::builder(provider.clone())
            .credentials(credentials.clone())
            .store(store)
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap()
    };
    let (a, b) = (holder("a"), holder("b"));
    let first = a.token().await.unwrap();
    assert!(first.refresh_token().is_some());
    tokio::time::sleep(Duration::from_millis(2100)).await; // expired (skew: half of 4 s)

    // A's refresh grant takes a second at the server.
    mock.inject("password", Fault::delay(Duration::from_secs(1)));
    let a_refresh = tokio::spawn({
        let a = a.clone();
        async move { a.token().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The lease lapses under A (deleted as an expiry would).
    let store = RedisStore::new(&redis.url())
        .unwrap()
        .with_key_prefix(format!("fence-{}", std::process::id()));
    let (_, lease_key) = store.redis_keys(&provider.store_key(&credentials));
    assert_eq!(redis.cli(&["DEL", &lease_key]), b"1\n", "A held the lease");
    let from_b = b.token().await.unwrap();
    let from_a = a_refresh.await.unwrap().unwrap();
    assert_eq!(
        mock.refresh_tokens_reused(),
        0,
        "no refresh token presented twice"
    );
    assert!(mock.access_token_valid(from_a.secret().expose_secret()));
    assert!(mock.access_token_valid(from_b.secret().expose_secret()));
}
