//! One flight, one outcome: a herd at a failing endpoint makes one
//! flight's attempts and every caller gets its error within the deadline;
//! callers after it get the error at once until the back-off (or
//! `Retry-After`) passes; a caller that gives up mid-refresh cancels
//! nothing (the lease is released, the rotated refresh token kept).

use std::sync::Arc;
use std::time::Duration;

use tokenmux::{
    Credentials, Error, FileStore, ManualClock, MemoryStore, RetryPolicy, TokenSource, TokenStore,
};
use tokenmux_mock::{DEFAULT_PASSWORD, DEFAULT_USERNAME, Fault, Grant, MockConfig, MockServer};
use tokio::time::Instant;

use crate::support::{ID, SECRET, credentials_for, provider};

const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    initial_delay: Duration::from_millis(50),
    max_delay: Duration::from_millis(400),
    deadline: Duration::from_secs(10),
    cool_down: Duration::from_secs(5),
    max_cool_down: Duration::from_secs(120),
    rejected_cool_down: Duration::from_secs(600),
};

fn source(mock: &MockServer, kind: &'static str) -> tokenmux::TokenSourceBuilder {
    TokenSource::builder(provider(kind, mock.base_url(kind).as_str()))
        .credentials(credentials_for(kind))
        .retry_policy(RETRY)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_herd_at_a_failing_endpoint_shares_one_flight_and_its_error() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // "Always 503": more faults than any number of attempts here.
    for _ in 0..100 {
        mock.inject("neonpanel", Fault::status(503));
    }
    let tokens = source(&mock, "neonpanel").build().unwrap();
    let started = Instant::now();
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let tokens = tokens.clone();
            tokio::spawn(async move {
                let outcome = tokens.token().await;
                (outcome, started.elapsed())
            })
        })
        .collect();
    // Bounded: on a design where each waiter retries in turn, this herd
    // would take many minutes.
    let answers = tokio::time::timeout(RETRY.deadline + Duration::from_secs(5), async {
        let mut answers = Vec::new();
        for caller in callers {
            answers.push(caller.await.unwrap());
        }
        answers
    })
    .await
    .expect("every caller answered within the retry deadline (and a margin)");
    let slowest = answers.iter().map(|(_, waited)| *waited).max().unwrap();
    let upstream = mock.requests_received("neonpanel");
    println!(
        "failing herd: 1000 callers, {upstream} upstream requests, slowest caller answered after {slowest:?}"
    );
    for (outcome, _) in &answers {
        assert!(
            matches!(outcome, Err(Error::Server { status, .. }) if status.as_u16() == 503),
            "{outcome:?}"
        );
    }
    assert!(
        upstream <= RETRY.max_attempts,
        "{upstream} upstream requests"
    );
    assert!(slowest <= RETRY.deadline, "{slowest:?}");

    // Cooling down: the next caller gets the error at once, no request.
    let asked = Instant::now();
    assert!(tokens.token().await.is_err());
    assert!(
        asked.elapsed() < Duration::from_millis(40),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(mock.requests_received("neonpanel"), upstream);
}

#[tokio::test]
async fn the_cool_down_follows_retry_after_and_then_a_new_flight_starts() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&mock, "jsonapi")
        .clock(clock.clone())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    mock.inject("jsonapi", Fault::status(429).retry_after("120"));
    let error = tokens.token().await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    // Within the 120 s: the same error, nothing sent.
    clock.advance(Duration::from_secs(119));
    assert!(matches!(
        tokens.token().await,
        Err(Error::RateLimited { .. })
    ));
    assert_eq!(mock.requests_received("jsonapi"), 1);
    clock.advance(Duration::from_secs(1));
    assert!(tokens.token().await.is_ok());
    assert_eq!(mock.requests_received("jsonapi"), 2);
}

#[tokio::test]
async fn a_failed_background_refresh_backs_off() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&mock, "neonpanel")
        .clock(clock.clone())
        .retry_policy(RetryPolicy {
            max_attempts: 1,
            initial_delay: Duration::from_secs(30),
            ..RETRY
        })
        .build()
        .unwrap();
    let cached = tokens.token().await.unwrap();
    clock.advance(Duration::from_secs(3300)); // into the refresh window
    for _ in 0..20 {
        mock.inject("neonpanel", Fault::status(500));
    }
    // Many reads while the background refresh fails: each served the
    // cached token, and one refresh attempt per back-off, not per read.
    for _ in 0..50 {
        assert_eq!(tokens.token().await.unwrap(), cached);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(mock.requests_received("neonpanel"), 2);
    clock.advance(Duration::from_secs(30));
    let _ = tokens.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mock.requests_received("neonpanel"), 3);
}

/// A caller gives up (a timeout around `token()`) while the refresh grant
/// is in flight: the flight goes on, the store's lease is released, the
/// rotated refresh token is stored, and the next call makes no request.
async fn a_caller_giving_up_cancels_nothing(store: Arc<dyn TokenStore>) {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&mock, "password")
        .clock(clock.clone())
        .store(store.clone())
        .build()
        .unwrap();
    let first = tokens.token().await.unwrap();
    let spent = first.refresh_token().unwrap().clone();
    clock.advance(Duration::from_secs(3600)); // expired
    mock.inject("password", Fault::delay(Duration::from_millis(400)));
    let gave_up = tokio::time::timeout(Duration::from_millis(50), tokens.token()).await;
    assert!(gave_up.is_err(), "the caller gave up before the answer");
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let key = tokens.provider().store_key(&Credentials::password(
        ID,
        SECRET,
        DEFAULT_USERNAME,
        DEFAULT_PASSWORD,
    ));
    let lease = store.try_lease(&key).await.unwrap();
    assert!(lease.is_some(), "the lease was released");
    store.release_lease(&key, &lease.unwrap()).await.unwrap();
    let stored = store.get(&key).await.unwrap().expect("a token is stored");
    let rotated = stored
        .token()
        .unwrap()
        .refresh_token()
        .expect("the rotated refresh token is kept");
    assert_ne!(rotated, &spent);
    assert!(mock.access_token_valid(stored.token().unwrap().secret().expose_secret()));
    // The next call uses it: no new request, no reuse.
    let next = tokens.token().await.unwrap();
    assert_eq!(next.secret(), stored.token().unwrap().secret());
    assert_eq!(mock.tokens_issued("password", Grant::RefreshToken), 1);
    assert_eq!(mock.tokens_issued("password", Grant::Password), 1);
    assert_eq!(mock.requests_received("password"), 2);
    assert_eq!(mock.refresh_tokens_reused(), 0);
}

#[tokio::test]
async fn a_caller_giving_up_cancels_nothing_with_a_memory_store() {
    a_caller_giving_up_cancels_nothing(Arc::new(MemoryStore::default())).await;
}

#[tokio::test]
async fn a_caller_giving_up_cancels_nothing_with_a_file_store() {
    let dir = tempfile::tempdir().unwrap();
    a_caller_giving_up_cancels_nothing(Arc::new(FileStore::new(dir.path()).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_sharing_a_memory_store_make_one_request() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    mock.inject("airalo", Fault::delay(Duration::from_millis(200)));
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let sources: Vec<_> = (0..10)
        .map(|_| {
            source(&mock, "airalo")
                .store(store.clone())
                .build()
                .unwrap()
        })
        .collect();
    let calls: Vec<_> = sources
        .iter()
        .map(|tokens| {
            let tokens = tokens.clone();
            tokio::spawn(async move { tokens.token().await.unwrap() })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for call in calls {
        seen.insert(call.await.unwrap().secret().expose_secret().to_owned());
    }
    assert_eq!(seen.len(), 1, "every source got the one token");
    assert_eq!(mock.requests_received("airalo"), 1);
}
