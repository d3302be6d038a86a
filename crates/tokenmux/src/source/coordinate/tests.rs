//! The coordination layer alone: over a scripted endpoint (below the
//! fetcher) and a memory store, without the cache's flights above it.

use std::time::{Duration, SystemTime};

use super::*;
use crate::fetch::Fetcher;
use crate::observe::Observer;
use crate::scripted::{Answer, Scripted};
use crate::{Credentials, RefreshPolicy, RetryPolicy, SystemClock};
use tokenmux_store::{MemoryStore, StoreKey, TokenStore};

const SECRET: &str = "secret";

struct Layer {
    inner: Inner,
    store: Arc<MemoryStore>,
    key: StoreKey,
    endpoint: &'static Scripted,
}

fn layer(script: impl IntoIterator<Item = Answer>) -> Layer {
    let (provider, endpoint) = Scripted::provider(script);
    let credentials = Credentials::client("id", SECRET);
    let key = provider.store_key(&credentials);
    let store = Arc::new(MemoryStore::default());
    let fetcher = Fetcher::new(
        provider,
        credentials,
        reqwest::Client::new(),
        64 * 1024,
        (RetryPolicy::none(), RefreshPolicy::default()),
        Arc::new(SystemClock),
    );
    let inner = Inner::new(
        fetcher,
        store.clone(),
        key.clone(),
        Observer::new("test".into(), "scripted"),
        false,
    );
    Layer {
        inner,
        store,
        key,
        endpoint,
    }
}

/// A fresh token, marked as obtained with `secret`.
fn stored(text: &str, secret: &str, key: &StoreKey) -> AccessToken {
    AccessToken::new(
        text.to_owned(),
        SystemTime::now(),
        Duration::from_secs(3600),
    )
    .with_verifier(Some(Arc::new(Verifier::of([secret], key.as_str()))))
}

#[tokio::test]
async fn a_fresh_stored_token_of_these_credentials_is_adopted_without_a_request() {
    let layer = layer([Answer::Token("fetched", None)]);
    let token = stored("theirs", SECRET, &layer.key);
    layer.store.put(&layer.key, &token, None).await.unwrap();
    let cached = layer.inner.refresh().await.unwrap();
    assert_eq!(cached.token.secret().expose_secret(), "theirs");
    assert_eq!(layer.endpoint.requests(), 0);
}

#[tokio::test]
async fn a_stored_token_of_other_credentials_is_replaced_not_served() {
    let layer = layer([Answer::Token("fetched", None)]);
    let token = stored("another-secrets", "another secret", &layer.key);
    layer.store.put(&layer.key, &token, None).await.unwrap();
    let cached = layer.inner.refresh().await.unwrap();
    assert_eq!(cached.token.secret().expose_secret(), "fetched");
    assert_eq!(layer.endpoint.requests(), 1);
    // Published over it by compare-and-swap, as version 2.
    let now = layer.store.get(&layer.key).await.unwrap().unwrap();
    assert_eq!(now.version, 2);
    assert_eq!(now.token.secret().expose_secret(), "fetched");
}

#[tokio::test(start_paused = true)]
async fn a_holder_without_the_lease_waits_for_the_holders_token() {
    let layer = layer([Answer::Token("fetched", None)]);
    let lease = layer.store.try_lease(&layer.key).await.unwrap().unwrap();
    let (store, key) = (layer.store.clone(), layer.key.clone());
    let holder = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let token = stored("the-holders", SECRET, &key);
        store.put(&key, &token, None).await.unwrap();
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
    layer.store.put(&layer.key, &winners, None).await.unwrap();
    // Ours was fetched believing the store empty (expected: None).
    let ours = AccessToken::new("ours", SystemTime::now(), Duration::from_secs(3600));
    let cached = layer.inner.publish(ours, None).await.unwrap();
    assert_eq!(cached.token.secret().expose_secret(), "winners");
    let now = layer.store.get(&layer.key).await.unwrap().unwrap();
    assert_eq!(
        (now.version, now.token.secret().expose_secret()),
        (1, "winners")
    );
}

#[tokio::test]
async fn a_stored_refresh_token_is_claimed_in_the_store_before_it_is_presented() {
    let layer = layer([Answer::Token("rotated", Some("r2"))]);
    let expired = AccessToken::new("old", SystemTime::UNIX_EPOCH, Duration::ZERO)
        .with_refresh_token(Some(tokenmux_wire::Secret::new("r1".to_owned())))
        .with_verifier(Some(Arc::new(Verifier::of([SECRET], layer.key.as_str()))));
    layer.store.put(&layer.key, &expired, None).await.unwrap();
    let cached = layer.inner.refresh().await.unwrap();
    assert_eq!(cached.token.secret().expose_secret(), "rotated");
    assert_eq!(layer.endpoint.requests(), 1);
    // Claimed (version 2, without r1), then the new token (version 3).
    let now = layer.store.get(&layer.key).await.unwrap().unwrap();
    assert_eq!(now.version, 3);
    assert_eq!(
        now.token.refresh_token().map(|r| r.expose_secret()),
        Some("r2")
    );
}
