//! Invalidation against a scripted endpoint: the check and the expiry are
//! one step, so reports racing a refresh leave the new token alone.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokenmux_store::{MemoryStore, StoreError, StoreKey};

use super::*;
use crate::fetch::{Fetcher, Settings};
use crate::observe::Observer;
use crate::scripted::{Answer, Scripted};
use crate::{Credentials, RetryPolicy, SystemClock};

/// The client secret of [`layer`]'s credentials.
pub(super) const SECRET: &str = "secret";

/// A source's state over a scripted endpoint and a memory store, for the
/// tests of this layer and of the coordination below it.
pub(super) struct Layer {
    pub(super) inner: Inner,
    pub(super) store: Arc<MemoryStore>,
    pub(super) key: StoreKey,
    pub(super) endpoint: &'static Scripted,
}

/// [`Layer`] with the client `id`/[`SECRET`] and `script`'s answers.
pub(super) fn layer(script: impl IntoIterator<Item = Answer>) -> Layer {
    let (provider, endpoint) = Scripted::provider(script);
    let credentials = Credentials::client("id", SECRET);
    let key = provider.store_key(&credentials);
    let store = Arc::new(MemoryStore::default());
    let fetcher = Fetcher::new(
        provider,
        credentials,
        reqwest::Client::new().into(),
        Settings {
            retry: RetryPolicy::none(),
            max_response_bytes: 64 * 1024,
            ..Settings::default()
        },
        Arc::new(SystemClock),
    );
    let observe = Observer::new("test".into(), "scripted");
    let inner = Inner::new(fetcher, store.clone(), key.clone(), observe, false);
    Layer {
        inner,
        store,
        key,
        endpoint,
    }
}

fn source(script: impl IntoIterator<Item = Answer>) -> (TokenSource, &'static Scripted) {
    let layer = layer(script);
    (TokenSource::from_inner(layer.inner), layer.endpoint)
}

fn text(token: &AccessToken) -> &str {
    token.secret().expose_secret()
}

#[tokio::test]
async fn a_report_that_loses_the_race_to_a_refresh_leaves_the_new_token() {
    let (source, endpoint) = source([Answer::Token("t1", None), Answer::Token("t2", None)]);
    let first = source.token().await.unwrap();
    // The report matched t1, but a refresh lands t2 before it expires
    // anything: what it expires must be t1, which is gone already.
    let racing = source.clone();
    let invalidated = source.invalidate_if(move |seen| {
        let held = racing.inner.current.load_full().unwrap();
        let mut newer = held.expired();
        let lifetime = std::time::Duration::from_secs(600);
        newer.token = AccessToken::new("t2".to_owned(), SystemTime::now(), lifetime);
        newer.fresh_until = SystemTime::now() + lifetime;
        newer.fresh_ticks = u64::MAX;
        newer.valid_until = newer.fresh_until;
        racing.inner.current.store(Some(Arc::new(newer)));
        text(seen) == text(&first)
    });
    assert!(invalidated);
    let current = source.inner.current.load_full().unwrap();
    assert_eq!(text(&current.token), "t2");
    assert!(
        current.fresh_until > SystemTime::now(),
        "the new token was expired"
    );
    assert!(!source.inner.forced.load(Ordering::Acquire));
    assert_eq!(endpoint.requests(), 1);
}

#[tokio::test]
async fn many_reports_of_one_token_force_one_refresh() {
    let (source, endpoint) = source([Answer::Token("t1", None), Answer::Token("t2", None)]);
    let first = source.token().await.unwrap();
    assert!(source.invalidate_if(|seen| text(seen) == text(&first)));
    assert!(source.inner.forced.swap(false, Ordering::AcqRel));
    // Later reports of the same token, before the refresh lands, still
    // match but force nothing more.
    for _ in 0..10 {
        assert!(source.invalidate_if(|seen| text(seen) == text(&first)));
    }
    assert!(!source.inner.forced.load(Ordering::Acquire));
    assert_eq!(text(&source.token().await.unwrap()), "t2");
    assert_eq!(endpoint.requests(), 2);
    // A report of the old token once the new one is held matches nothing.
    assert!(!source.invalidate_if(|seen| text(seen) == text(&first)));
    assert_eq!(text(&source.token().await.unwrap()), "t2");
}

#[tokio::test]
async fn a_cached_token_is_served_without_building_the_http_client() {
    // Building the default client loads the system's TLS roots: a source
    // whose store holds a fresh token must not pay for it.
    let provider = crate::Provider::neonpanel();
    let credentials = Credentials::client("id", SECRET);
    let key = provider.store_key(&credentials);
    let store = Arc::new(MemoryStore::default());
    let token = AccessToken::new("cached", SystemTime::now(), Duration::from_secs(3600))
        .with_verifier(Some(Arc::new(Verifier::in_process([SECRET], key.as_str()))));
    store.put(&key, &token.into(), None).await.unwrap();
    let source = TokenSource::builder(provider)
        .credentials(credentials)
        .store(store)
        .build()
        .unwrap();
    assert!(!source.inner.fetcher.http().is_built());
    assert_eq!(text(&source.token().await.unwrap()), "cached");
    assert!(!source.inner.fetcher.http().is_built());
}

/// A memory store that says its records leave the process, as a file or
/// Redis store's do.
#[derive(Debug, Default)]
struct Shared(MemoryStore);

#[async_trait::async_trait]
impl TokenStore for Shared {
    async fn get(&self, key: &StoreKey) -> Result<Option<tokenmux_store::Versioned>, StoreError> {
        self.0.get(key).await
    }

    async fn put(
        &self,
        key: &StoreKey,
        record: &tokenmux_store::Record,
        expected: Option<u64>,
    ) -> Result<tokenmux_store::PutOutcome, StoreError> {
        self.0.put(key, record, expected).await
    }
}

#[tokio::test]
async fn only_a_store_that_leaves_the_process_gets_the_slow_verifier() {
    for (store, slow) in [
        (
            Arc::new(MemoryStore::default()) as Arc<dyn TokenStore>,
            false,
        ),
        (Arc::new(Shared::default()), true),
    ] {
        let mut layer = layer([Answer::Token("t1", None)]);
        layer.inner.store = Arc::clone(&store);
        let source = TokenSource::from_inner(layer.inner);
        source.token().await.unwrap();
        let stored = store.get(&layer.key).await.unwrap().unwrap();
        let verifier = stored.record.token.unwrap().verifier().unwrap().clone();
        let (of, in_process) = (
            Verifier::of([SECRET], layer.key.as_str()),
            Verifier::in_process([SECRET], layer.key.as_str()),
        );
        assert_eq!(verifier == of, slow);
        assert_eq!(verifier == in_process, !slow);
    }
}
