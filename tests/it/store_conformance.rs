//! Every store tokenmux ships keeps the store rules, checked by
//! `tokenmux::testkit` (the kit a new store runs too): files, plain and
//! encrypted; Redis single node, plain and encrypted, Cluster and
//! Sentinel, each a real `redis-server`. Each also has a record made
//! unreadable behind its back, the store's own way.

use std::sync::Arc;

use tokenmux::testkit::{self, Report};
use tokenmux::{EncryptionKey, FileStore, RedisStore, TokenStore};
use tokenmux_redis_harness::{MASTER_NAME, RedisCluster, RedisSentinels, RedisServer};

fn passed(report: &Report) {
    assert!(report.shares_leases, "{report:?}");
    assert_eq!(report.checked.len(), 4, "{report:?}");
}

#[tokio::test]
async fn file_stores_keep_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    for encrypted in [false, true] {
        let mut store = FileStore::new(dir.path()).unwrap();
        if encrypted {
            store = store.with_encryption(EncryptionKey::generate());
        }
        let store = Arc::new(store);
        passed(&testkit::check_store(store.clone()).await.unwrap());
        let key = testkit::fresh_key("corrupt");
        std::fs::write(store.path_for(&key), b"{ not json").unwrap();
        testkit::check_corrupt_record(store.as_ref(), &key)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_redis_node_keeps_the_rules() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    for encrypted in [false, true] {
        let mut store = RedisStore::new(&redis.url()).unwrap();
        if encrypted {
            store = store.with_encryption(EncryptionKey::generate());
        }
        passed(&testkit::check_store(Arc::new(store.clone())).await.unwrap());
        let key = testkit::fresh_key("corrupt");
        let (token_key, _) = store.redis_keys(&key);
        redis.cli(&["SET", &token_key, "not a token"]);
        testkit::check_corrupt_record(&store, &key).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_cluster_keeps_the_rules() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let store = RedisStore::cluster(cluster.seeds()).unwrap();
    passed(&testkit::check_store(Arc::new(store.clone())).await.unwrap());
    let key = testkit::fresh_key("corrupt");
    let (token_key, _) = store.redis_keys(&key);
    let master = cluster.master_of(cluster.slot_of(&token_key));
    cluster
        .node(master)
        .cli(&["HSET", &token_key, "v", "7", "d", "{}"]);
    testkit::check_corrupt_record(&store, &key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_behind_sentinels_keeps_the_rules() {
    let Some(sentinels) = RedisSentinels::start() else {
        return;
    };
    let store = RedisStore::sentinel(MASTER_NAME, sentinels.urls()).unwrap();
    let shared: Arc<dyn TokenStore> = Arc::new(store.clone());
    passed(&testkit::check_store(shared).await.unwrap());
    let key = testkit::fresh_key("corrupt");
    let (token_key, _) = store.redis_keys(&key);
    sentinels
        .node(sentinels.master())
        .cli(&["SET", &token_key, "garbage"]);
    testkit::check_corrupt_record(&store, &key).await.unwrap();
}
