//! The coordination layer alone: over a scripted endpoint (below the
//! fetcher) and a memory store, without the cache's flights above it.

use std::time::{Duration, SystemTime};

use super::*;
use crate::fetch::{Fetcher, Settings};
use crate::observe::Observer;
use crate::scripted::{Answer, Scripted};
use crate::source::tests::{Layer, SECRET, layer};
use crate::{Clock, Credentials, RetryPolicy};
use tokenmux_store::{MemoryStore, StoreKey, TokenStore};

impl Layer {
    /// Stores `token` as the first version.
    async fn store_first(&self, token: AccessToken) {
        let record = Record::from(token);
        self.store.put(&self.key, &record, None).await.unwrap();
    }
}

/// A fresh token, marked as obtained with `secret`.
fn stored(text: &str, secret: &str, key: &StoreKey) -> AccessToken {
    AccessToken::new(
        text.to_owned(),
        SystemTime::now(),
        Duration::from_secs(3600),
    )
    .with_verifier(Some(Arc::new(Verifier::in_process([secret], key.as_str()))))
}

#[tokio::test]
async fn a_fresh_stored_token_of_these_credentials_is_adopted_without_a_request() {
    let layer = layer([Answer::Token("fetched", None)]);
    let token = stored("theirs", SECRET, &layer.key);
    layer.store_first(token).await;
    let cached = layer.inner.refresh().await.unwrap();
    assert_eq!(cached.token.secret().expose_secret(), "theirs");
    assert_eq!(layer.endpoint.requests(), 0);
}

#[tokio::test]
async fn a_stored_token_of_other_credentials_is_replaced_not_served() {
    let layer = layer([Answer::Token("fetched", None)]);
    let token = stored("another-secrets", "another secret", &layer.key);
    layer.store_first(token).await;
    let cached = layer.inner.refresh().await.unwrap();
    assert_eq!(cached.token.secret().expose_secret(), "fetched");
    assert_eq!(layer.endpoint.requests(), 1);
    // Published over it by compare-and-swap, as version 2.
    let now = layer.store.get(&layer.key).await.unwrap().unwrap();
    assert_eq!(now.version, 2);
    assert_eq!(now.token().unwrap().secret().expose_secret(), "fetched");
}

#[tokio::test(start_paused = true)]
async fn a_holder_without_the_lease_waits_for_the_holders_token() {
    let layer = layer([Answer::Token("fetched", None)]);
    let lease = layer.store.try_lease(&layer.key).await.unwrap().unwrap();
    let (store, key) = (layer.store.clone(), layer.key.clone());
    let holder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let token = stored("the-holders", SECRET, &key);
        store
            .put(&key, &Record::from(token.clone()), None)
            .await
            .unwrap();
        store.release_lease(&key, &lease).await.unwrap();
    });
    let cached = layer.inner.refresh().await.unwrap();
    holder.await.unwrap();
    assert_eq!(cached.token.secret().expose_secret(), "the-holders");
    assert_eq!(layer.endpoint.requests(), 0);
}

#[tokio::test]
async fn a_lost_publish_race_serves_the_winners_token() {
    let layer = layer([Answer::Token("unused", None)]);
    let winners = stored("winners", SECRET, &layer.key);
    layer.store_first(winners).await;
    // Ours was fetched believing the store empty (expected: None).
    let ours = AccessToken::new("ours", SystemTime::now(), Duration::from_secs(3600));
    let cached = layer.inner.publish(ours, None).await;
    assert_eq!(cached.token.secret().expose_secret(), "winners");
    let now = layer.store.get(&layer.key).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.token().unwrap().secret().expose_secret()),
        (1, "winners")
    );
}

#[tokio::test]
async fn a_stored_refresh_token_is_claimed_in_the_store_before_it_is_presented() {
    let layer = layer([Answer::Token("rotated", Some("r2"))]);
    let expired = AccessToken::new("old", SystemTime::UNIX_EPOCH, Duration::ZERO)
        .with_refresh_token(Some(tokenmux_wire::Secret::new("r1".to_owned())))
        .with_verifier(Some(Arc::new(Verifier::in_process(
            [SECRET],
            layer.key.as_str(),
        ))));
    layer.store_first(expired).await;
    let cached = layer.inner.refresh().await.unwrap();
    assert_eq!(cached.token.secret().expose_secret(), "rotated");
    assert_eq!(layer.endpoint.requests(), 1);
    // Claimed (version 2, without r1), then the new token (version 3).
    let now = layer.store.get(&layer.key).await.unwrap().unwrap();
    assert_eq!(now.version, 3);
    assert_eq!(
        now.token()
            .unwrap()
            .refresh_token()
            .map(|r| r.expose_secret()),
        Some("r2")
    );
}

/// Holders of one store, each with its own flights (as processes are),
/// over one endpoint and one clock.
struct Fleet {
    provider: crate::Provider,
    store: Arc<MemoryStore>,
    clock: Arc<crate::ManualClock>,
    endpoint: &'static Scripted,
    retry: RetryPolicy,
}

impl Fleet {
    fn new(script: impl IntoIterator<Item = Answer>, retry: RetryPolicy) -> Self {
        let (provider, endpoint) = Scripted::provider(script);
        let clock = Arc::new(crate::ManualClock::default());
        Self {
            provider,
            store: Arc::new(MemoryStore::default()),
            clock,
            endpoint,
            retry,
        }
    }

    /// A holder with `secret`.
    fn holder(&self, secret: &str) -> Inner {
        let credentials = Credentials::client("id", secret);
        let key = self.provider.store_key(&credentials);
        let fetcher = Fetcher::new(
            self.provider.clone(),
            credentials,
            reqwest::Client::new().into(),
            Settings {
                retry: self.retry.clone(),
                max_response_bytes: 64 * 1024,
                ..Settings::default()
            },
            self.clock.clone(),
        );
        let observe = Observer::new("test".into(), "scripted");
        Inner::new(fetcher, self.store.clone(), key, observe, false)
    }

    async fn stored(&self, holder: &Inner) -> Option<Versioned> {
        self.store.get(&holder.key).await.unwrap()
    }
}

#[tokio::test]
async fn a_failure_holds_back_every_holder_until_its_cool_down_ends() {
    let fleet = Fleet::new(
        [
            Answer::Status(503, None),
            Answer::Status(503, None),
            Answer::Token("t", None),
        ],
        RetryPolicy::none(),
    );
    let (a, b) = (fleet.holder(SECRET), fleet.holder(SECRET));
    let failed = a.refresh().await.unwrap_err();
    assert!(matches!(failed.error, Error::Server { .. }), "{failed:?}");
    assert_eq!(failed.until, fleet.clock.now() + fleet.retry.cool_down);
    // Another holder (another process) sends nothing until then.
    let held = b.refresh().await.unwrap_err();
    assert!(
        matches!(&held.error, Error::BackingOff { kind: crate::ErrorKind::Transient, cause, .. } if cause == "server_error"),
        "{held:?}"
    );
    assert_eq!(held.error.retry_after(), Some(fleet.retry.cool_down));
    assert_eq!(fleet.endpoint.requests(), 1);
    // Then one holder asks again; a second failure in a row doubles it.
    fleet.clock.advance(fleet.retry.cool_down);
    let failed = b.refresh().await.unwrap_err();
    assert_eq!(fleet.endpoint.requests(), 2);
    let stored = fleet.stored(&b).await.unwrap();
    assert_eq!(stored.failure().unwrap().in_a_row(), 2);
    assert_eq!(failed.until, fleet.clock.now() + fleet.retry.cool_down * 2);
    assert!(a.refresh().await.is_err());
    assert_eq!(fleet.endpoint.requests(), 2);
    // A success clears it.
    fleet.clock.advance(fleet.retry.cool_down * 2);
    a.refresh().await.unwrap();
    assert!(fleet.stored(&a).await.unwrap().failure().is_none());
    assert_eq!(fleet.endpoint.requests(), 3);
}

#[tokio::test]
async fn a_still_valid_stored_token_is_served_while_backing_off() {
    let fleet = Fleet::new([Answer::Status(503, None)], RetryPolicy::none());
    let a = fleet.holder(SECRET);
    // 100 s left of an hour: stale (inside the refresh-ahead window), valid.
    let valid = AccessToken::new(
        "still-valid",
        fleet.clock.now() - Duration::from_secs(3500),
        Duration::from_secs(3600),
    )
    .with_verifier(Some(Arc::new(Verifier::in_process(
        [SECRET],
        a.key.as_str(),
    ))));
    a.store
        .put(&a.key, &Record::from(valid), None)
        .await
        .unwrap();
    assert!(a.refresh().await.is_err());
    assert_eq!(fleet.endpoint.requests(), 1);
    // The failure kept the token beside it.
    let stored = fleet.stored(&a).await.unwrap();
    assert!(stored.failure().is_some() && stored.token().is_some());
    // A new holder (a CLI run) gets that token, and sends nothing.
    let b = fleet.holder(SECRET);
    assert!(b.refresh().await.is_err());
    let current = b.current.load_full().expect("the stored token is taken up");
    assert_eq!(current.token.secret().expose_secret(), "still-valid");
    assert_eq!(fleet.endpoint.requests(), 1);
}

#[tokio::test]
async fn rejected_credentials_hold_back_only_the_same_credentials() {
    let fleet = Fleet::new([Answer::Status(401, None)], RetryPolicy::none());
    let (a, b) = (fleet.holder(SECRET), fleet.holder(SECRET));
    let failed = a.refresh().await.unwrap_err();
    assert_eq!(
        failed.until,
        fleet.clock.now() + fleet.retry.rejected_cool_down
    );
    let held = b.refresh().await.unwrap_err();
    assert_eq!(held.error.kind(), crate::ErrorKind::Rejected);
    assert_eq!(fleet.endpoint.requests(), 1);
    // A changed secret starts fresh.
    let fixed = fleet.holder("the new secret");
    assert!(fixed.refresh().await.is_err());
    assert_eq!(fleet.endpoint.requests(), 2);
    // Its failures are counted apart from the old secret's.
    let stored = fleet.stored(&fixed).await.unwrap();
    assert_eq!(stored.failure().unwrap().in_a_row(), 1);
}

#[tokio::test]
async fn a_forced_refresh_asks_whatever_the_cool_down() {
    let fleet = Fleet::new(
        [Answer::Status(503, None), Answer::Token("t", None)],
        RetryPolicy::none(),
    );
    let a = fleet.holder(SECRET);
    assert!(a.refresh().await.is_err());
    a.forced.store(true, Ordering::Release);
    a.refresh().await.unwrap();
    assert_eq!(fleet.endpoint.requests(), 2);
    assert!(fleet.stored(&a).await.unwrap().failure().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_holder_waiting_for_the_lease_learns_of_each_failed_attempt_at_once() {
    let retry = RetryPolicy {
        max_attempts: 4,
        initial_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    let fleet = Fleet::new([Answer::Status(503, None)], retry);
    let (a, b) = (Arc::new(fleet.holder(SECRET)), fleet.holder(SECRET));
    let holder = tokio::spawn({
        let a = Arc::clone(&a);
        async move { a.refresh().await }
    });
    tokio::time::sleep(Duration::from_millis(1)).await;
    let started = tokio::time::Instant::now();
    let held = b.refresh().await.unwrap_err();
    // Answered while the holder still retries, not after its deadline.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(held.error, Error::BackingOff { .. }), "{held:?}");
    assert!(!holder.is_finished());
    assert!(holder.await.unwrap().is_err());
    // One holder's attempts in all.
    assert_eq!(fleet.endpoint.requests(), 4);
}
