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
    assert_eq!(report.checked.len(), 5, "{report:?}");
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

/// A store written outside the facade with its public rules only
/// (`next_version`, `encode_record`, `decode_record`): bytes in a map,
/// as a key-value service would keep them. It passes the same kit.
mod outside {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use tokenmux::{
        Lease, PutOutcome, Record, StoreError, StoreKey, TokenStore, Versioned, decode_record,
        encode_record, next_version,
    };

    #[derive(Debug, Default)]
    pub(super) struct BytesStore {
        values: Mutex<HashMap<String, Vec<u8>>>,
        leases: Mutex<HashMap<String, String>>,
    }

    impl BytesStore {
        pub(super) fn corrupt(&self, key: &StoreKey) {
            let mut values = self.values.lock().unwrap();
            values.insert(key.as_str().to_owned(), b"\xff garbage".to_vec());
        }

        fn read(
            values: &HashMap<String, Vec<u8>>,
            key: &StoreKey,
        ) -> Result<Option<Versioned>, StoreError> {
            values
                .get(key.as_str())
                .map(|bytes| decode_record(key, bytes, None))
                .transpose()
        }
    }

    #[async_trait::async_trait]
    impl TokenStore for BytesStore {
        async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
            Self::read(&self.values.lock().unwrap(), key)
        }

        async fn put(
            &self,
            key: &StoreKey,
            record: &Record,
            expected: Option<u64>,
        ) -> Result<PutOutcome, StoreError> {
            let mut values = self.values.lock().unwrap();
            // Unreadable is as good as nothing: the next first write replaces it.
            let current = Self::read(&values, key).unwrap_or(None);
            let version = match next_version(current.as_ref(), expected) {
                Ok(version) => version,
                Err(conflict) => return Ok(conflict),
            };
            let bytes = encode_record(key, version, record, None)?;
            values.insert(key.as_str().to_owned(), bytes);
            Ok(PutOutcome::Stored { version })
        }

        async fn try_lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
            let mut leases = self.leases.lock().unwrap();
            if leases.contains_key(key.as_str()) {
                return Ok(None);
            }
            let owner = format!("{:032x}", rand::random::<u128>());
            leases.insert(key.as_str().to_owned(), owner.clone());
            Ok(Some(Lease::new(owner, Duration::from_secs(10))))
        }

        async fn renew_lease(&self, key: &StoreKey, lease: &Lease) -> Result<bool, StoreError> {
            let leases = self.leases.lock().unwrap();
            Ok(leases.get(key.as_str()).map(String::as_str) == Some(lease.owner()))
        }

        async fn release_lease(&self, key: &StoreKey, lease: &Lease) -> Result<(), StoreError> {
            let mut leases = self.leases.lock().unwrap();
            if leases.get(key.as_str()).map(String::as_str) == Some(lease.owner()) {
                leases.remove(key.as_str());
            }
            Ok(())
        }
    }
}

#[tokio::test]
async fn a_store_written_outside_the_facade_keeps_the_rules() {
    let store = Arc::new(outside::BytesStore::default());
    passed(&testkit::check_store(store.clone()).await.unwrap());
    let key = testkit::fresh_key("corrupt");
    store.corrupt(&key);
    testkit::check_corrupt_record(store.as_ref(), &key)
        .await
        .unwrap();
}
