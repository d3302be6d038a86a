//! Row 4: the Redis store. A shared read (`RedisStore::get`: one Lua call,
//! decode) against a bare `GET` of a value of the same size on the same
//! server, and the same read over TLS and on a cluster against the
//! plaintext single node; 8 processes × 100 callers → upstream requests on
//! a single node and on a cluster, against the same processes each with
//! its own in-memory cache.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokenmux_bench_report::{self as report, Measurement};

use serde_json::json;
use tokenmux::{
    AccessToken, Credentials, MemoryStore, Provider, RedisStore, Secret, TokenSource, TokenStore,
};
use tokenmux_mock::{
    DEFAULT_CLIENT_ID as ID, DEFAULT_CLIENT_SECRET as SECRET, MockConfig, MockServer,
};
use tokenmux_redis_harness::{RedisCluster, RedisServer, ServerOptions, TestPki};
use tokenmux_store_redis::RedisStoreConfig;

use crate::measure::{Samples, emit};
use crate::worker::{self, Worker};

const READS_PER_ROUND: usize = 500;
const PROCESSES: usize = 8;

pub async fn run(rounds: usize) {
    let redis = RedisServer::start().expect("redis-server (cargo xtask bench installs it)");
    let pki = TestPki::new();
    let tls = RedisServer::start_with(ServerOptions::tls(&pki)).expect("redis-server with TLS");
    let cluster = RedisCluster::start().expect("a redis cluster");
    // Reads.
    let store = RedisStore::new(&redis.url()).unwrap();
    let tls_store = RedisStore::new(&tls.url())
        .unwrap()
        .with_ca_file(pki.ca())
        .unwrap();
    let cluster_store = RedisStore::cluster(cluster.seeds()).unwrap();
    let key = Provider::neonpanel().store_key(&Credentials::client(ID, SECRET));
    let token = AccessToken::new(
        format!("mock-neonpanel-access-{}", "x".repeat(40)),
        SystemTime::now(),
        Duration::from_secs(3600),
    )
    .with_refresh_token(Some(Secret::new("r".repeat(48))));
    for store in [&store, &tls_store, &cluster_store] {
        store.put(&key, &token.clone().into(), None).await.unwrap();
    }
    let (token_key, _) = store.redis_keys(&key);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let record: Vec<Vec<u8>> = redis::cmd("HMGET")
        .arg(&token_key)
        .arg("v")
        .arg("d")
        .query_async(&mut raw)
        .await
        .unwrap();
    let size = record.iter().map(Vec::len).sum::<usize>();
    let _: () = redis::cmd("SET")
        .arg("bench:raw")
        .arg(vec![b'x'; size])
        .query_async(&mut raw)
        .await
        .unwrap();
    let (mut shared, mut bare, mut over_tls, mut on_cluster) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (store, samples) in [
            (&store, &mut shared),
            (&tls_store, &mut over_tls),
            (&cluster_store, &mut on_cluster),
        ] {
            for _ in 0..READS_PER_ROUND {
                let start = Instant::now();
                assert!(store.get(&key).await.unwrap().is_some());
                samples.push(start.elapsed());
            }
        }
        for _ in 0..READS_PER_ROUND {
            let start = Instant::now();
            let value: Vec<u8> = redis::cmd("GET")
                .arg("bench:raw")
                .query_async(&mut raw)
                .await
                .unwrap();
            bare.push(start.elapsed());
            assert_eq!(value.len(), size);
        }
    }
    let (shared, bare) = (Samples::new(shared), Samples::new(bare));
    let (over_tls, on_cluster) = (Samples::new(over_tls), Samples::new(on_cluster));
    emit(Measurement::RedisRead(report::RedisRead {
        samples: shared.len(),
        store_get_p50_us: shared.percentile_us(50.0),
        store_get_p99_us: shared.percentile_us(99.0),
        bare_get_p50_us: bare.percentile_us(50.0),
        bare_get_p99_us: bare.percentile_us(99.0),
        tls_get_p50_us: over_tls.percentile_us(50.0),
        tls_get_p99_us: over_tls.percentile_us(99.0),
        cluster_get_p50_us: on_cluster.percentile_us(50.0),
        cluster_get_p99_us: on_cluster.percentile_us(99.0),
    }));

    // Processes.
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = mock.base_url("airalo");
    let single = json!({"url": redis.url()}).to_string();
    let seeds = json!({"cluster": cluster.seeds()}).to_string();
    let mut upstream = Vec::new();
    for store in [Some(&single), Some(&seeds), None] {
        let before = mock.requests_received("airalo");
        // Each Redis starts empty: the cluster does not hold the single node's token.
        let spec = json!({"base": base, "redis": store}).to_string();
        let mut workers: Vec<_> = (0..PROCESSES)
            .map(|_| Worker::spawn("--worker", &spec))
            .collect();
        for worker in &mut workers {
            worker.go();
        }
        tokio::task::spawn_blocking(move || workers.into_iter().for_each(Worker::finish))
            .await
            .unwrap();
        upstream.push(mock.requests_received("airalo") - before);
    }
    emit(Measurement::RedisProcesses(report::RedisProcesses {
        processes: PROCESSES,
        callers_per_process: 100,
        upstream_shared_redis: upstream[0] as u64,
        upstream_shared_cluster: upstream[1] as u64,
        upstream_memory_each: upstream[2] as u64,
    }));
    mock.shutdown().await;
}

/// One worker process: `{"base": url, "redis": RedisStoreConfig JSON or
/// null for memory}`; 100 concurrent callers.
pub async fn worker(spec: &str) {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap();
    let store: Arc<dyn TokenStore> = match spec["redis"].as_str() {
        Some(config) => {
            let config: RedisStoreConfig = serde_json::from_str(config).unwrap();
            Arc::new(config.open(None).unwrap())
        }
        None => Arc::new(MemoryStore::default()),
    };
    let base = spec["base"].as_str().unwrap();
    let tokens = TokenSource::builder(Provider::airalo().with_base_url(base))
        .credentials(Credentials::client(ID, SECRET))
        .store(store)
        .build()
        .unwrap();
    worker::ready_then_wait_for_go();
    let callers: Vec<_> = (0..100)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await.unwrap() })
        })
        .collect();
    for caller in callers {
        caller.await.unwrap();
    }
    worker::done();
}
