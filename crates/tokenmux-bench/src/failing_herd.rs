//! Row 7: 1,000 concurrent callers at an endpoint that always answers 503.
//! tokenmux: one flight whose attempts every caller shares, its error
//! answered to all. Baseline, the design before it (in the same run): a
//! lock for the single flight, and each waiter, once it holds the lock,
//! runs its own full retry loop.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokenmux_bench_report::{self as report, Measurement};

use tokenmux::{Credentials, Provider, RetryPolicy, TokenSource};
use tokenmux_mock::{
    DEFAULT_CLIENT_ID as ID, DEFAULT_CLIENT_SECRET as SECRET, Fault, MockConfig, MockServer,
};

use crate::measure::emit;

const CALLERS: usize = 1_000;
/// Short delays, so that the baseline's 1,000 retry loops end in seconds.
const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    initial_delay: Duration::from_millis(1),
    max_delay: Duration::from_millis(4),
    deadline: Duration::from_secs(30),
    cool_down: Duration::from_secs(5),
    max_cool_down: Duration::from_secs(120),
    rejected_cool_down: Duration::from_secs(600),
};

/// A mock whose NeonPanel endpoint answers 503 to every request made here.
async fn failing_mock() -> MockServer {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for _ in 0..CALLERS * RETRY.max_attempts + 16 {
        mock.inject("neonpanel", Fault::status(503));
    }
    mock
}

fn source(mock: &MockServer) -> TokenSource {
    TokenSource::builder(Provider::neonpanel().with_base_url(mock.base_url("neonpanel")))
        .credentials(Credentials::client(ID, SECRET))
        .retry_policy(RETRY)
        // Built before the clock starts, as a source's own client used to be.
        .http_client(reqwest::Client::new())
        .build()
        .unwrap()
}

/// Spawns the callers at once; the slowest one's wait.
async fn herd<F>(call: impl Fn() -> F) -> Duration
where
    F: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let call = call();
            tokio::spawn(async move {
                call.await;
                started.elapsed()
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for caller in callers {
        slowest = slowest.max(caller.await.unwrap());
    }
    slowest
}

pub async fn run() {
    let mock = failing_mock().await;
    let tokens = source(&mock);
    let slowest = herd(|| {
        let tokens = tokens.clone();
        async move {
            assert!(tokens.token().await.is_err());
        }
    })
    .await;
    let upstream = mock.requests_received("neonpanel");

    // The design before: the flight's lock held by each waiter in turn,
    // each running its own retry loop (a source of its own per waiter).
    let baseline_mock = failing_mock().await;
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let baseline_slowest = herd(|| {
        let (lock, tokens) = (lock.clone(), source(&baseline_mock));
        async move {
            let _flight = lock.lock().await;
            assert!(tokens.token().await.is_err());
        }
    })
    .await;
    emit(Measurement::FailingHerd(report::FailingHerd {
        callers: CALLERS,
        max_attempts: RETRY.max_attempts,
        deadline_ms: RETRY.deadline.as_millis() as u64,
        upstream_requests: upstream as u64,
        slowest_ms: slowest.as_secs_f64() * 1e3,
        baseline_upstream_requests: baseline_mock.requests_received("neonpanel") as u64,
        baseline_slowest_ms: baseline_slowest.as_secs_f64() * 1e3,
    }));
}
