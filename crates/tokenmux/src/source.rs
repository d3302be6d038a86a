//! [`TokenSource`]: a valid token from one provider, cached and refreshed.

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use reqwest::header::{HeaderName, HeaderValue};
use tracing::{debug, warn};

use crate::fetch::Fetcher;
use crate::flight::{self, Flights, Joined};
use crate::observe::{LifecycleEvent, Observer, SourceStatus, TokenState};
use crate::rotation::SpentRefreshTokens;
use crate::{AccessToken, Error, Provider};
use tokenmux_store::Verifier;
use tokenmux_store::{StoreKey, TokenStore};

// The builder belongs to the source: it assembles its layers.
mod api_client;
mod builder;
mod cached;
mod coordinate;
mod failure_recorder;
mod primary;
mod proof;
#[cfg(test)]
mod tests;
pub use builder::TokenSourceBuilder;
pub(crate) use cached::Cached;

/// Valid bearer tokens from one provider for one set of credentials.
///
/// Cheap to clone (clones share the cache). Reading a fresh token takes no
/// lock. A token inside its refresh-ahead window is returned at once while
/// one background refresh runs; only a missing or expired token makes
/// callers wait, and then all of them share one upstream request.
///
/// A refresh is a task of the source, not of a caller: every caller that
/// waits for it gets its outcome, error included; a caller that gives up
/// (a `timeout` around [`token`](Self::token)) leaves it running. After a
/// failed refresh, callers get the still-valid token or that error at
/// once until the cool-down (or the endpoint's `Retry-After`) has passed
/// ([`RetryPolicy`](crate::RetryPolicy)). The failure is kept in the store
/// too: every source sharing it, in any process, holds back with this one
/// ([`Error::BackingOff`]), and while one holder retries, the others
/// learn of each failed attempt at once.
///
/// ```no_run
/// use tokenmux::{Credentials, Provider, TokenSource};
///
/// # async fn example() -> Result<(), tokenmux::Error> {
/// let tokens = TokenSource::builder(Provider::airalo_sandbox())
///     .credentials(Credentials::client("my-id", "my-secret"))
///     .build()?;
/// let header = tokens.authorization().await?; // "Bearer …", from cache when valid
/// # let _ = header;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

/// What a source is made of; the builder fills it.
pub(crate) struct Inner {
    /// The layer below: one grant, with retries.
    fetcher: Fetcher,
    store: Arc<dyn TokenStore>,
    key: StoreKey,
    background_refresh: bool,
    current: ArcSwapOption<Cached>,
    /// The single flight, and the cool-down after a failed one.
    flights: Flights<Arc<Cached>>,
    /// The next flight ignores a cool-down in the store (`refresh`,
    /// `invalidate`): its outcome replaces it.
    forced: AtomicBool,
    /// Failed flights in a row, for when the store cannot say.
    failures_in_a_row: AtomicU32,
    spent_refresh_tokens: SpentRefreshTokens,
    /// Fingerprint of the access token a caller reported as rejected.
    rejected: Mutex<Option<Box<str>>>,
    /// Metrics, events and the last error.
    observe: Observer,
    /// The verifier of `credentials`, made at first use (it is slow on
    /// purpose).
    verifier: std::sync::OnceLock<Arc<Verifier>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("name", &self.observe.name)
            .field("provider", self.fetcher.provider())
            .field("credentials", self.fetcher.credentials())
            .field("refresh", self.fetcher.refresh())
            .field("retry", self.fetcher.retry())
            .field("store", &self.store)
            .field("current", &self.current.load().as_ref().map(|c| &c.token))
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Starts building a source for `provider`.
    pub fn builder(provider: Provider) -> TokenSourceBuilder {
        TokenSourceBuilder::new(provider)
    }

    pub(crate) fn from_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// A valid token: the cached one while it is valid, else a new one.
    pub async fn token(&self) -> Result<AccessToken, Error> {
        if let Some(token) = self.if_fresh(|cached| cached.token.clone()) {
            return Ok(token);
        }
        Ok(self.cached().await?.token.clone())
    }

    /// The header value that presents the current token, marked
    /// sensitive: `Bearer …` unless the spec presents it another way
    /// (`x-tokenmux-presentation`); it goes in [`header_name`](Self::header_name).
    pub async fn authorization(&self) -> Result<HeaderValue, Error> {
        if let Some(header) = self.if_fresh(|cached| cached.header.get()) {
            return Ok(header);
        }
        Ok(self.cached().await?.header.get())
    }

    /// The hot path: `read` of the cached token while it is fresh. A guard,
    /// not a clone of the `Arc`, so concurrent readers write to no shared
    /// reference count but the one of what they take out.
    fn if_fresh<T>(&self, read: impl FnOnce(&Cached) -> T) -> Option<T> {
        let now = self.inner.fetcher.clock().ticks();
        let current = self.inner.current.load();
        let fresh = current
            .as_ref()
            .filter(|cached| now < cached.fresh_ticks)
            .map(|cached| read(cached));
        if fresh.is_some() {
            self.inner.observe.cache_hits.increment(1);
        }
        fresh
    }

    /// Lifecycle events (refreshed, failed, rotated) from now on, for an
    /// application that must learn of a new token without polling. A
    /// subscriber more than 64 events behind misses the oldest
    /// (`RecvError::Lagged`).
    ///
    /// ```no_run
    /// use tokenmux::{Credentials, LifecycleEvent, Provider, TokenSource};
    ///
    /// # async fn example() -> Result<(), tokenmux::Error> {
    /// let tokens = TokenSource::builder(Provider::airalo_sandbox())
    ///     .credentials(Credentials::client("my-id", "my-secret"))
    ///     .build()?;
    /// let mut events = tokens.subscribe();
    /// tokio::spawn(async move {
    ///     while let Ok(event) = events.recv().await {
    ///         if let LifecycleEvent::Failed { error, .. } = event {
    ///             eprintln!("token refresh failed: {error}");
    ///         }
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<LifecycleEvent> {
        self.inner.observe.subscribe()
    }

    /// The current token's state, when it expires and will be refreshed,
    /// and the last refresh's error (no secret).
    pub fn status(&self) -> SourceStatus {
        let now = self.inner.fetcher.clock().now();
        let current = self.inner.current.load();
        let state = match current.as_ref() {
            None => TokenState::Missing,
            Some(c) if now < c.fresh_until => TokenState::Fresh,
            Some(c) if now < c.valid_until => TokenState::Stale,
            Some(_) => TokenState::Expired,
        };
        SourceStatus {
            name: std::sync::Arc::clone(&self.inner.observe.name),
            state,
            expires_at: current.as_ref().map(|c| c.token.expires_at()),
            refresh_at: current.as_ref().map(|c| c.fresh_until),
            last_error: self.inner.observe.last_error(),
        }
    }

    /// The name given to the builder (default: the provider's): the
    /// `source` of metrics and events.
    pub fn name(&self) -> &str {
        &self.inner.observe.name
    }

    /// Forgets the current access token, for a caller whose request was
    /// answered 401 with it. The next call fetches a new one (with the
    /// refresh token, when there is one).
    pub fn invalidate(&self) {
        if let Some(current) = self.inner.current.load_full() {
            self.invalidate_seen(&current);
        }
    }

    /// Forgets the current token if `rejected` says it is the one a
    /// caller saw refused; whether it did. For a caller that knows the
    /// token only by a digest (the agent's `invalidate` endpoint): many
    /// reports of one token cause one refresh.
    pub fn invalidate_if(&self, rejected: impl FnOnce(&AccessToken) -> bool) -> bool {
        match self.inner.current.load_full() {
            Some(seen) if rejected(&seen.token) => {
                self.invalidate_seen(&seen);
                true
            }
            _ => false,
        }
    }

    /// Expires `seen` if it is still the current token and was not already
    /// reported. Checking and expiring are one compare-and-swap: a report
    /// that loses the race to a refresh must not expire the new token, and
    /// a repeated report must not force a second flight.
    fn invalidate_seen(&self, seen: &Arc<Cached>) {
        let inner = &self.inner;
        let fingerprint = seen.token.fingerprint();
        {
            let mut rejected = inner.rejected.lock();
            let already = rejected.as_deref() == Some(fingerprint.as_str())
                && seen.fresh_until == SystemTime::UNIX_EPOCH;
            if already {
                return;
            }
            let expired = Some(Arc::new(seen.expired()));
            let previous = inner.current.compare_and_swap(&Some(seen.clone()), expired);
            let swapped = previous
                .as_ref()
                .is_some_and(|previous| Arc::ptr_eq(previous, seen));
            if !swapped {
                return;
            }
            *rejected = Some(fingerprint.as_str().into());
        }
        debug!(source = &*inner.observe.name, fingerprint = %fingerprint, "token invalidated");
        // A rejected token is news: a new flight may start at once,
        // whatever cool-down the store holds.
        inner.forced.store(true, Ordering::Release);
        inner.flights.forget_failure();
    }

    /// A new token now, whatever is cached here or in the store (`tokenmux
    /// token --refresh`): the token held now, in memory or in the store, is
    /// not taken up again, and the new one replaces it in the store. A
    /// cool-down after a failure, here or in the store, is not waited
    /// out. A failure leaves the stored token where it is.
    ///
    /// ```no_run
    /// # async fn example(tokens: tokenmux::TokenSource) -> Result<(), tokenmux::Error> {
    /// let token = tokens.refresh().await?;
    /// # let _ = token;
    /// # Ok(()) }
    /// ```
    pub async fn refresh(&self) -> Result<AccessToken, Error> {
        let inner = &self.inner;
        let held = match inner.read_store().await.and_then(|s| s.record.token) {
            Some(stored) => Some(stored),
            None => inner.current.load_full().map(|c| c.token.clone()),
        };
        if let Some(held) = held {
            *inner.rejected.lock() = Some(held.fingerprint().into());
        }
        self.expire_current();
        inner.forced.store(true, Ordering::Release);
        inner.flights.forget_failure();
        Ok(self.cached().await?.token.clone())
    }

    /// Marks the current token expired, keeping its refresh token (only the
    /// access token is unusable).
    fn expire_current(&self) {
        if let Some(current) = self.inner.current.load_full() {
            self.inner.current.store(Some(Arc::new(current.expired())));
        }
    }

    /// Like [`invalidate`](Self::invalidate), but only if `sent` is the
    /// current token's header: when many requests are refused with one
    /// token, the first refresh serves them all.
    pub fn invalidate_if_current(&self, sent: &HeaderValue) {
        if let Some(seen) = self.inner.current.load_full()
            && seen.header.value() == sent
        {
            self.invalidate_seen(&seen);
        }
    }

    /// The provider this source asks.
    pub fn provider(&self) -> &Provider {
        self.inner.fetcher.provider()
    }

    /// The header the token goes in on API requests: `Authorization`
    /// unless the spec names its own (`X-Auth-Token`).
    ///
    /// ```
    /// use tokenmux::{Credentials, Provider, TokenSource};
    ///
    /// let tokens = TokenSource::builder(Provider::neonpanel())
    ///     .credentials(Credentials::client("id", "secret"))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(tokens.header_name(), http::header::AUTHORIZATION);
    /// ```
    pub fn header_name(&self) -> HeaderName {
        self.provider().spec().presentation.header_name()
    }

    async fn cached(&self) -> Result<Arc<Cached>, Error> {
        let inner = &self.inner;
        let now = inner.fetcher.clock().now();
        let current = inner.current.load_full();
        if let Some(cached) = &current {
            if now < cached.fresh_until {
                tracing::trace!(source = &*inner.observe.name, "token cache hit");
                inner.observe.cache_hits.increment(1);
                return Ok(Arc::clone(cached));
            }
            if now < cached.valid_until && inner.background_refresh {
                // The stale token is served; the flight (or the cool-down
                // after a failed one) runs without this caller.
                let _ = self.join_flight();
                return Ok(Arc::clone(cached));
            }
        }
        let outcome = match self.join_flight() {
            Joined::Flight(receiver) => flight::wait(receiver).await,
            Joined::CoolingDown(error) => Err(error),
        };
        // Read after the flight: one that failed may have taken a
        // still-valid token from the store.
        let still_valid = inner
            .current
            .load_full()
            .filter(|cached| inner.fetcher.clock().now() < cached.valid_until);
        match (outcome, still_valid) {
            (Ok(cached), _) => Ok(cached),
            // A failed refresh leaves the valid token in use.
            (Err(error), Some(cached)) => {
                warn!(source = &*inner.observe.name, provider = inner.observe.provider(), %error, "token refresh failed; the current token is still valid");
                Ok(cached)
            }
            (Err(error), None) => Err(error),
        }
    }

    fn join_flight(&self) -> Joined<Arc<Cached>> {
        self.inner.flights.join(self.inner.fetcher.clock(), || {
            let inner = Arc::clone(&self.inner);
            let span = inner.observe.span();
            tracing::Instrument::instrument(
                async move {
                    let outcome = inner.refresh().await;
                    if let Err(failed) = &outcome {
                        inner.observe.failed(&failed.error);
                    }
                    outcome
                },
                span,
            )
        })
    }
}

impl Inner {
    /// A source's state over `fetcher` (the layer below) and `store`
    /// (shared with other holders under `key`); empty until first use.
    pub(crate) fn new(
        fetcher: Fetcher,
        store: Arc<dyn TokenStore>,
        key: StoreKey,
        observe: Observer,
        background_refresh: bool,
    ) -> Self {
        Self {
            flights: Flights::new(),
            forced: AtomicBool::new(false),
            failures_in_a_row: AtomicU32::new(0),
            fetcher,
            store,
            key,
            observe,
            background_refresh,
            current: ArcSwapOption::empty(),
            spent_refresh_tokens: SpentRefreshTokens::default(),
            rejected: Mutex::default(),
            verifier: std::sync::OnceLock::new(),
        }
    }
}
