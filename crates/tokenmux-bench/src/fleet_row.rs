//! Row 7 (fleet): 20 processes × 100 callers, sharing a file cache,
//! against an endpoint that always answers 503. tokenmux shares the
//! failure through the store; the baseline is the same code over a store
//! that forgets failures (per-process back-off: each process, once it has
//! the lease, runs its own retries), in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokenmux::{
    Credentials, FileStore, Lease, Provider, PutOutcome, Record, RetryPolicy, StoreError, StoreKey,
    TokenSource, TokenStore, Versioned,
};
use tokenmux_bench_report::{self as report, Measurement};
use tokenmux_mock::{Fault, MockConfig, MockServer};

use crate::measure::emit;
use crate::worker::{self, Worker};

const PROCESSES: usize = 20;
const CALLERS: usize = 100;
const ID: &str = "bench-client";
const SECRET: &str = "bench-secret";
/// Short delays, so that the baseline's 20 retry loops in turn end in
/// seconds.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    initial_delay: Duration::from_millis(5),
    max_delay: Duration::from_millis(20),
    deadline: Duration::from_secs(30),
    cool_down: Duration::from_secs(5),
    max_cool_down: Duration::from_secs(120),
    rejected_cool_down: Duration::from_secs(600),
};

pub async fn run() {
    let (upstream, slowest) = fleet(true).await;
    let (baseline_upstream, baseline_slowest) = fleet(false).await;
    emit(Measurement::FleetBackoff(report::FleetBackoff {
        processes: PROCESSES,
        callers_per_process: CALLERS,
        max_attempts: RETRY.max_attempts,
        upstream_requests: upstream,
        slowest_ms: slowest.as_secs_f64() * 1e3,
        baseline_upstream_requests: baseline_upstream,
        baseline_slowest_ms: baseline_slowest.as_secs_f64() * 1e3,
    }));
}

/// One fleet on a fresh cache and mock: upstream requests, and the
/// slowest answer counted from the moment every process was told to go.
async fn fleet(shared_failures: bool) -> (u64, Duration) {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for _ in 0..PROCESSES * CALLERS * RETRY.max_attempts {
        mock.inject("neonpanel", Fault::status(503));
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = json!({
        "base": mock.base_url("neonpanel"),
        "dir": dir.path(),
        "shared_failures": shared_failures,
    })
    .to_string();
    let slowest = tokio::task::spawn_blocking(move || {
        let mut workers: Vec<_> = (0..PROCESSES)
            .map(|_| Worker::spawn("--fleet-worker", &spec))
            .collect();
        let started = Instant::now();
        for worker in &mut workers {
            worker.go();
        }
        workers
            .into_iter()
            .map(|worker| {
                // In turn: the last `done` read is the slowest process's.
                worker.finish();
                started.elapsed()
            })
            .max()
            .unwrap()
    })
    .await
    .unwrap();
    let upstream = mock.requests_received("neonpanel") as u64;
    mock.shutdown().await;
    (upstream, slowest)
}

/// One worker process: `{"base": url, "dir": cache dir,
/// "shared_failures": bool}`; 100 concurrent callers, each answered with
/// an error.
pub async fn worker(spec: &str) {
    let spec: serde_json::Value = serde_json::from_str(spec).unwrap();
    let files = FileStore::new(spec["dir"].as_str().unwrap()).unwrap();
    let store: Arc<dyn TokenStore> = match spec["shared_failures"].as_bool().unwrap() {
        true => Arc::new(files),
        false => Arc::new(ForgetsFailures(files)),
    };
    let base = spec["base"].as_str().unwrap();
    let tokens = TokenSource::builder(Provider::neonpanel().with_base_url(base))
        .credentials(Credentials::client(ID, SECRET))
        .retry_policy(RETRY)
        // Built before the clock starts, as a source's own client used to be.
        .http_client(reqwest::Client::new())
        .store(store)
        .build()
        .unwrap();
    worker::ready_then_wait_for_go();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await.is_err() })
        })
        .collect();
    for caller in callers {
        assert!(caller.await.unwrap(), "the endpoint always fails");
    }
    worker::done();
}

/// The baseline's store: the file store, with every failure dropped on
/// its way in (as stores kept them before fleet-wide back-off).
#[derive(Debug)]
struct ForgetsFailures(FileStore);

#[async_trait::async_trait]
impl TokenStore for ForgetsFailures {
    async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
        self.0.get(key).await
    }

    async fn put(
        &self,
        key: &StoreKey,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let record = Record {
            token: record.token.clone(),
            failure: None,
        };
        self.0.put(key, &record, expected).await
    }

    async fn try_lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
        self.0.try_lease(key).await
    }

    async fn renew_lease(&self, key: &StoreKey, lease: &Lease) -> Result<bool, StoreError> {
        self.0.renew_lease(key, lease).await
    }

    async fn release_lease(&self, key: &StoreKey, lease: &Lease) -> Result<(), StoreError> {
        self.0.release_lease(key, lease).await
    }
}
