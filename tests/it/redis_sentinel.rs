//! The Redis store behind Sentinel: a master killed mid-run, its replica
//! promoted, and the store following it without a restart.

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use tokenmux::{AccessToken, Credentials, Provider, PutOutcome, RedisStore, TokenStore};
use tokenmux_mock::{MockConfig, MockServer};
use tokenmux_redis_harness::{MASTER_NAME, RedisSentinels};

use crate::cli::token_from_redis;
use crate::redis::{assert_failover_outcome, start_failover_workload};

#[tokio::test(flavor = "multi_thread")]
async fn a_sentinel_failover_fails_no_call_and_reuses_no_refresh_token() {
    let Some(mut sentinels) = RedisSentinels::start() else {
        return;
    };
    // The workers' 1 s Redis timeout, so that `WAIT` for the replica may
    // take 500 ms: on a loaded machine the default 250 ms is not enough
    // for this setup write (the failover, not latency, is under test).
    let store = RedisStore::sentinel(MASTER_NAME, sentinels.urls())
        .unwrap()
        .timeout(Duration::from_secs(1))
        .wait_for_replicas(1);
    // A write reaches the master the sentinels name, and its replica.
    let key = Provider::neonpanel().store_key(&Credentials::client("s", "s"));
    let token = AccessToken::new("t", SystemTime::now(), Duration::from_secs(60));
    assert_eq!(
        store.put(&key, &token.clone().into(), None).await.unwrap(),
        PutOutcome::Stored { version: 1 }
    );
    let mock = MockServer::start(MockConfig {
        token_lifetime: Duration::from_secs(2),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let config = json!({
        "sentinel": {"master": MASTER_NAME, "urls": sentinels.urls()},
        "wait_for_replicas": 1,
    });
    let workers = start_failover_workload(&mock, &config, "12000");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let old = sentinels.master();
    let killed_at = Instant::now();
    let sentinels = tokio::task::spawn_blocking(move || {
        sentinels.fail_over();
        sentinels
    })
    .await
    .unwrap();
    let failover = killed_at.elapsed();
    let new = sentinels.master();
    assert_ne!(new, old);
    // The workers find the new master through the sentinels: sharing
    // resumes (4 processes alone would make ~4 requests in 2 s) and the
    // tokens are written there.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled = mock.requests_received("password");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let shared_window = mock.requests_received("password") - settled;
    let keys = sentinels
        .node(new)
        .cli_text(&["--scan", "--pattern", "tokenmux:*"]);
    assert!(
        keys.contains(":token"),
        "nothing written to the new master: {keys:?}"
    );

    assert_failover_outcome("sentinel failover", &mock, failover, workers, shared_window).await;
    // The CLI finds the new master through the sentinels.
    let urls = sentinels.urls().join(",");
    let flags = ["--redis-sentinel", &urls, "--redis-master", MASTER_NAME];
    let first = token_from_redis(&mock, "neonpanel", &flags, &[]).await;
    let second = token_from_redis(&mock, "neonpanel", &flags, &[]).await;
    assert_eq!(
        (first.code, second.code),
        (0, 0),
        "{} {}",
        first.stderr,
        second.stderr
    );
    assert_eq!(first.stdout, second.stdout);
    assert_eq!(
        mock.requests_received("neonpanel"),
        1,
        "the second run read Redis"
    );

    // The store made before the failover follows it too: its first call
    // finds the old connection broken, and its probe the new master.
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(error) = store.ping().await {
        assert!(Instant::now() < deadline, "{error}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
