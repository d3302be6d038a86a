//! The Redis store on a real Redis Cluster (3 masters, 3 replicas): every
//! script within one hash slot, a resharding in progress (`ASK`, then
//! `MOVED`), 8 processes sharing one token, and a master killed mid-run.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::json;
use tokenmux::{
    AccessToken, Credentials, Provider, PutOutcome, RedisStore, Secret, StoreKey, TokenSource,
    TokenStore,
};
use tokenmux_mock::{Grant, MockConfig, MockServer};
use tokenmux_redis_harness::RedisCluster;

use crate::cli::token_from_redis;
use crate::redis::{
    Worker, assert_failover_outcome, run_workers, start_failover_workload, tokens_of,
};
use crate::support::{ID, SECRET};

fn key(n: usize) -> StoreKey {
    Provider::neonpanel().store_key(&Credentials::client(format!("client-{n}"), "s"))
}

fn token(secret: &str) -> AccessToken {
    AccessToken::new(secret, SystemTime::now(), Duration::from_secs(60))
        .with_refresh_token(Some(Secret::new(format!("{secret}-refresh"))))
}

fn store(cluster: &RedisCluster) -> RedisStore {
    RedisStore::cluster(cluster.seeds())
        .unwrap()
        .timeout(Duration::from_secs(2))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_script_stays_in_one_slot_on_every_master() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    // Every write waits for the slot's replica: WAIT goes to its master.
    let store = store(&cluster).wait_for_replicas(1);
    let mut masters = HashSet::new();
    for n in 0..24 {
        let key = key(n);
        let (token_key, lease_key) = store.redis_keys(&key);
        let slot = cluster.slot_of(&token_key);
        assert_eq!(
            slot,
            cluster.slot_of(&lease_key),
            "{token_key} and {lease_key}"
        );
        masters.insert(cluster.master_of(slot));
        // Each call runs its script on the slot's master; one touching a
        // key of another slot would fail there (CROSSSLOT, or a script
        // "accessing a non local key").
        assert_eq!(
            store.put(&key, &token("a").into(), None).await.unwrap(),
            PutOutcome::Stored { version: 1 }
        );
        assert!(matches!(
            store.put(&key, &token("b").into(), None).await.unwrap(),
            PutOutcome::Conflict { current: Some(_) }
        ));
        assert_eq!(
            store.put(&key, &token("c").into(), Some(1)).await.unwrap(),
            PutOutcome::Stored { version: 2 }
        );
        assert_eq!(store.get(&key).await.unwrap().unwrap().version, 2);
        let lease = store.try_lease(&key).await.unwrap().unwrap();
        assert_eq!(store.try_lease(&key).await.unwrap(), None);
        assert!(store.renew_lease(&key, &lease).await.unwrap());
        store.release_lease(&key, &lease).await.unwrap();
        assert!(store.try_lease(&key).await.unwrap().is_some());
    }
    assert_eq!(masters.len(), 3, "24 keys spread over every master");

    // The README's minimal ACL, plus the slot map the cluster client reads.
    let rules = format!("{} +cluster|slots", crate::redis_tls::MINIMAL_ACL);
    let rules: Vec<&str> = rules.split(' ').collect();
    for node in 0..6 {
        cluster
            .node(node)
            .cli(&[&["ACL", "SETUSER", "tokenmux"][..], &rules].concat());
    }
    let seeds: Vec<String> = cluster
        .seeds()
        .iter()
        .map(|s| s.replace("redis://", "redis://tokenmux:tokenmux-acl-pw@"))
        .collect();
    // 2 s like `store()`: `WAIT` may take 1 s on a loaded machine.
    let restricted = RedisStore::cluster(&seeds)
        .unwrap()
        .timeout(Duration::from_secs(2))
        .wait_for_replicas(1);
    for n in 100..106 {
        let key = key(n);
        assert_eq!(
            restricted
                .put(&key, &token("a").into(), None)
                .await
                .unwrap(),
            PutOutcome::Stored { version: 1 }
        );
        let lease = restricted.try_lease(&key).await.unwrap().unwrap();
        restricted.release_lease(&key, &lease).await.unwrap();
        assert_eq!(restricted.get(&key).await.unwrap().unwrap().version, 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resharding_in_progress_is_followed_through_ask_and_moved() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let store = store(&cluster);
    let tokens =
        TokenSource::builder(Provider::neonpanel().with_base_url(mock.base_url("neonpanel")))
            .credentials(Credentials::client(ID, SECRET))
            .store(Arc::new(store.clone()))
            .build()
            .unwrap();
    let first = tokens.token().await.unwrap();
    let shared_key = Provider::neonpanel()
        .with_base_url(mock.base_url("neonpanel"))
        .store_key(&Credentials::client(ID, SECRET));
    let (token_key, _) = store.redis_keys(&shared_key);
    let slot = cluster.slot_of(&token_key);
    let from = cluster.master_of(slot);
    let to = (0..6)
        .find(|i| *i != from && cluster.is_master(*i))
        .unwrap();

    // Half moved: the token is on the new master, the slot still on the
    // old one, which answers ASK for it (and for the lease, not there yet).
    cluster.start_slot_move(slot, to);
    let stored = store.get(&shared_key).await.unwrap().unwrap();
    assert_eq!(stored.token().unwrap().secret(), first.secret());
    let lease = store.try_lease(&shared_key).await.unwrap().unwrap();
    store.release_lease(&shared_key, &lease).await.unwrap();
    let outcome = store
        .put(&shared_key, &stored.record.clone(), Some(stored.version))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PutOutcome::Stored {
            version: stored.version + 1
        }
    );

    // Moved: the old master answers MOVED; the client follows and learns.
    cluster.finish_slot_move(slot, to);
    assert_eq!(cluster.master_of(slot), to);
    let again = store.get(&shared_key).await.unwrap().unwrap();
    assert_eq!(again.version, stored.version + 1);
    // A second process's source finds the token where it went.
    let other =
        TokenSource::builder(Provider::neonpanel().with_base_url(mock.base_url("neonpanel")))
            .credentials(Credentials::client(ID, SECRET))
            .store(Arc::new(RedisStore::cluster(cluster.seeds()).unwrap()))
            .build()
            .unwrap();
    assert_eq!(other.token().await.unwrap().secret(), first.secret());
    assert_eq!(mock.requests_received("neonpanel"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_processes_on_a_cluster_make_one_upstream_request() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let config = json!({"cluster": cluster.seeds()});
    let workers = (0..8)
        .map(|_| Worker::spawn_on("airalo", &mock, &config, &["--callers", "100"]))
        .collect();
    let mut tokens = HashSet::new();
    for summary in run_workers(workers).await {
        assert_eq!(
            (summary["ok"].as_u64(), summary["failed"].as_u64()),
            (Some(100), Some(0)),
            "{summary}"
        );
        tokens.extend(tokens_of(&summary));
    }
    assert_eq!(
        mock.requests_received("airalo"),
        1,
        "800 callers in 8 processes"
    );
    assert_eq!(tokens.len(), 1);

    // The CLI, given the seeds, reads the same token from the cluster.
    let seeds = cluster.seeds().join(",");
    let flag = ["--redis-cluster", seeds.as_str()];
    let by_flag = token_from_redis(&mock, "airalo", &flag, &[]).await;
    let variable = [("TOKENMUX_REDIS_CLUSTER", seeds.as_str())];
    let by_env = token_from_redis(&mock, "airalo", &[], &variable).await;
    for run in [&by_flag, &by_env] {
        assert_eq!(run.code, 0, "{}", run.stderr);
        let printed = AccessToken::new(run.stdout.trim(), SystemTime::now(), Duration::ZERO);
        assert!(tokens.contains(&printed.fingerprint()), "{}", run.stdout);
    }
    assert_eq!(mock.requests_received("airalo"), 1);
}

/// Kills the master holding the shared token while 4 processes refresh
/// every second, and checks: no failed call, no refresh token presented
/// twice, and sharing going on through the promoted replica.
#[tokio::test(flavor = "multi_thread")]
async fn a_master_killed_mid_run_fails_no_call_and_reuses_no_refresh_token() {
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig {
        token_lifetime: Duration::from_secs(2),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let shared_key = Provider::password(mock.base_url("password")).store_key(
        &Credentials::password(ID, SECRET, tokenmux_mock::DEFAULT_USERNAME, "x"),
    );
    let (token_key, _) = store(&cluster).redis_keys(&shared_key);
    let slot = cluster.slot_of(&token_key);
    let master = cluster.master_of(slot);
    let replica = cluster.replica_of(master);

    let config = json!({"cluster": cluster.seeds(), "wait_for_replicas": 1});
    let workers = start_failover_workload(&mock, &config, "10000");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed_at = std::time::Instant::now();
    cluster.kill(master);
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_for_failover(master, slot);
        cluster
    })
    .await
    .unwrap();
    let failover = killed_at.elapsed();
    assert_eq!(cluster.master_of(slot), replica);
    // Sharing resumed: counted over 2 s, from a second after the promotion.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = mock.requests_received("password");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let shared_window = mock.requests_received("password") - settled;

    assert_failover_outcome("cluster failover", &mock, failover, workers, shared_window).await;
    // Refresh tokens were in play (the claim is what keeps them single-use).
    assert!(mock.tokens_issued("password", Grant::RefreshToken) >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_over_tls_with_a_private_ca() {
    let pki = tokenmux_redis_harness::TestPki::new();
    let Some(cluster) = RedisCluster::start_with(Some(&pki)) else {
        return;
    };
    // The seeds by name, the nodes the cluster announces by address: the
    // certificate names both.
    let store = RedisStore::cluster(cluster.seeds())
        .unwrap()
        .with_ca_file(pki.ca())
        .unwrap()
        .timeout(Duration::from_secs(2))
        .wait_for_replicas(1);
    let mut masters = HashSet::new();
    for n in 0..12 {
        let key = key(n);
        let (token_key, _) = store.redis_keys(&key);
        masters.insert(cluster.master_of(cluster.slot_of(&token_key)));
        assert_eq!(
            store.put(&key, &token("a").into(), None).await.unwrap(),
            PutOutcome::Stored { version: 1 }
        );
        assert_eq!(store.get(&key).await.unwrap().unwrap().version, 1);
    }
    assert_eq!(masters.len(), 3);
    let untrusted = RedisStore::cluster(cluster.seeds()).unwrap();
    let error = untrusted.ping().await.unwrap_err();
    assert_eq!(error.kind(), tokenmux::StoreErrorKind::Tls, "{error:?}");
}
