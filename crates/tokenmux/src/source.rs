//! [`TokenSource`]: a valid token from one provider, cached and refreshed.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use reqwest::header::HeaderValue;
use tokenmux_wire::Secret;
use tracing::{debug, warn};

use crate::exchange::Grant;
use crate::flight::{self, Flights, Joined};
use crate::lease_guard::LeaseGuard;
use crate::observe::{LifecycleEvent, Observer, SourceStatus, TokenOrigin, TokenState};
use crate::retry::Fetcher;
use crate::rotation::{self, SpentRefreshTokens};
use crate::sharded_header::ShardedHeader;
use crate::store::{PutOutcome, StoreKey, TokenStore, Versioned};
use crate::verifier::Verifier;
use crate::{AccessToken, Error, Provider, RefreshPolicy};

// The builder belongs to the source: it assembles its layers.
mod builder;
pub use builder::TokenSourceBuilder;

/// First pause of a holder waiting for another's token, and the longest.
const LEASE_POLL_FIRST: Duration = Duration::from_millis(10);
const LEASE_POLL_MAX: Duration = Duration::from_millis(200);
/// How much longer than a fetch's deadline a holder waits for another's
/// token before fetching itself (covers the lease lapsing after a crash).
const LEASE_WAIT_MARGIN: Duration = Duration::from_secs(30);

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
/// once until the back-off (or the endpoint's `Retry-After`) has passed.
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
    spent_refresh_tokens: SpentRefreshTokens,
    /// Fingerprint of the access token a caller reported as rejected.
    rejected: Mutex<Option<String>>,
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

/// A token with its header and the instants that bound its states.
#[derive(Debug)]
pub(crate) struct Cached {
    token: AccessToken,
    header: ShardedHeader,
    /// Fresh until then, stale (refresh in the background) after.
    fresh_until: SystemTime,
    /// Usable until then, expired after.
    valid_until: SystemTime,
    version: Option<u64>,
}

impl Cached {
    /// `jitter` (0 to 1) places the refresh point inside the refresh-ahead
    /// window: 0 at its start, 1 at its end (the token's usable end).
    fn new(token: AccessToken, version: Option<u64>, policy: &RefreshPolicy, jitter: f64) -> Self {
        let lifetime = token.lifetime();
        // Neither margin may eat more than half the lifetime, or a short-lived
        // token would be refreshed on every call.
        let skew = policy.clock_skew.min(lifetime / 2);
        let ahead = policy.refresh_ahead(lifetime).min(lifetime / 2).max(skew);
        let jitter = if policy.fleet_jitter && jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self {
            header: ShardedHeader::new(&token.authorization()),
            fresh_until: token.expires_at() - ahead + (ahead - skew).mul_f64(jitter),
            valid_until: token.expires_at() - skew,
            token,
            version,
        }
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

    /// `Authorization` header value for the current token (`Bearer …`),
    /// marked sensitive.
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
        let now = self.inner.fetcher.clock().now();
        let current = self.inner.current.load();
        let fresh = current
            .as_ref()
            .filter(|cached| now < cached.fresh_until)
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
        let inner = &self.inner;
        if let Some(current) = inner.current.load_full() {
            *inner.rejected.lock() = Some(current.token.fingerprint());
            debug!(source = &*inner.observe.name, fingerprint = %current.token.fingerprint(), "token invalidated");
            self.expire_current();
            // A rejected token is news: a new flight may start at once.
            inner.flights.forget_failure();
        }
    }

    /// Forgets the current token if `rejected` says it is the one a
    /// caller saw refused; whether it did. For a caller that knows the
    /// token only by a digest (the agent's `invalidate` endpoint): many
    /// reports of one token cause one refresh.
    pub fn invalidate_if(&self, rejected: impl FnOnce(&AccessToken) -> bool) -> bool {
        let current = self.inner.current.load_full();
        let matches = current.as_ref().is_some_and(|c| rejected(&c.token));
        if matches {
            self.invalidate();
        }
        matches
    }

    /// A new token now, whatever is cached here or in the store (`tokenmux
    /// token --refresh`): the token held now, in memory or in the store, is
    /// not taken up again, and the new one replaces it in the store. A
    /// failure leaves the stored token where it is.
    ///
    /// ```no_run
    /// # async fn example(tokens: tokenmux::TokenSource) -> Result<(), tokenmux::Error> {
    /// let token = tokens.refresh().await?;
    /// # let _ = token;
    /// # Ok(()) }
    /// ```
    pub async fn refresh(&self) -> Result<AccessToken, Error> {
        let inner = &self.inner;
        let held = match inner.read_store().await {
            Some(stored) => Some(stored.token),
            None => inner.current.load_full().map(|c| c.token.clone()),
        };
        if let Some(held) = held {
            *inner.rejected.lock() = Some(held.fingerprint());
        }
        self.expire_current();
        inner.flights.forget_failure();
        Ok(self.cached().await?.token.clone())
    }

    /// Marks the current token expired, keeping its refresh token (only the
    /// access token is unusable).
    fn expire_current(&self) {
        if let Some(current) = self.inner.current.load_full() {
            self.inner.current.store(Some(Arc::new(Cached {
                fresh_until: SystemTime::UNIX_EPOCH,
                valid_until: SystemTime::UNIX_EPOCH,
                header: ShardedHeader::new(current.header.value()),
                token: current.token.clone(),
                version: current.version,
            })));
        }
    }

    /// Like [`invalidate`](Self::invalidate), but only if `sent` is the
    /// current token's header: when many requests are refused with one
    /// token, the first refresh serves them all.
    pub fn invalidate_if_current(&self, sent: &HeaderValue) {
        if self
            .inner
            .current
            .load()
            .as_ref()
            .is_some_and(|current| current.header.value() == sent)
        {
            self.invalidate();
        }
    }

    /// The provider this source asks.
    pub fn provider(&self) -> &Provider {
        self.inner.fetcher.provider()
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
        let still_valid = current.filter(|cached| now < cached.valid_until);
        let outcome = match self.join_flight() {
            Joined::Flight(receiver) => flight::wait(receiver).await,
            Joined::CoolingDown(error) => Err(error),
        };
        match (outcome, still_valid) {
            (Ok(cached), _) => Ok(cached),
            // A failed refresh leaves the valid token in use.
            (Err(error), Some(cached)) => {
                warn!(source = &*inner.observe.name, %error, "token refresh failed; the current token is still valid");
                Ok(cached)
            }
            (Err(error), None) => Err(error),
        }
    }

    fn join_flight(&self) -> Joined<Arc<Cached>> {
        self.inner.flights.join(|| {
            let inner = Arc::clone(&self.inner);
            async move {
                let outcome = inner.refresh().await;
                if let Err(error) = &outcome {
                    inner.observe.failed(error);
                }
                outcome
            }
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
            flights: Flights::new(fetcher.clock_handle(), fetcher.retry().clone()),
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

    /// Gets a new token and publishes it; the body of a flight (one per
    /// process). The store's lease makes it one flight between all the
    /// holders sharing the store.
    async fn refresh(&self) -> Result<Arc<Cached>, Error> {
        // A flight that ended just before this one started may have
        // refreshed already.
        if let Some(current) = self.current.load_full()
            && self.fetcher.clock().now() < current.fresh_until
        {
            return Ok(current);
        }
        // Waiting is bounded by how long the lease holder's fetch may run.
        let give_up =
            tokio::time::Instant::now() + self.fetcher.retry().deadline + LEASE_WAIT_MARGIN;
        let mut pause = LEASE_POLL_FIRST;
        let mut waited = false;
        loop {
            let stored = self.read_store().await;
            // Another holder of the store may have refreshed already.
            if let Some(adopted) = stored.as_ref().and_then(|s| self.adoptable(s)) {
                return Ok(adopted);
            }
            match LeaseGuard::try_acquire(&self.store, &self.key).await {
                Ok(Some(lease)) => {
                    // A shared lease: the previous holder may have stored a
                    // token since the read above.
                    let stored = match lease.is_shared() {
                        true => self.read_store().await,
                        false => stored,
                    };
                    let result = match stored.as_ref().and_then(|s| self.adoptable(s)) {
                        Some(adopted) => Ok(adopted),
                        None => lease.renewing(self.fetch_and_publish(stored, true)).await,
                    };
                    lease.release().await;
                    return result;
                }
                Ok(None) if tokio::time::Instant::now() < give_up => {
                    if !std::mem::replace(&mut waited, true) {
                        self.observe.lease_wait();
                    }
                    debug!(
                        source = &*self.observe.name,
                        ?pause,
                        "another holder is fetching; waiting for its token"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LEASE_POLL_MAX);
                }
                Ok(None) => {
                    self.observe.lease_takeover();
                    warn!(
                        source = &*self.observe.name,
                        "the store's lease holder has not stored a token in time; fetching without it"
                    );
                    return self.fetch_and_publish(stored, false).await;
                }
                Err(error) => {
                    // Never fail a caller because the shared store is down.
                    warn!(source = &*self.observe.name, %error, "token store cannot coordinate; fetching locally");
                    return self.fetch_and_publish(stored, false).await;
                }
            }
        }
    }

    /// Fetches and publishes. Under the lease, with the newest unspent
    /// refresh token once it is claimed in the store; without the lease,
    /// only with the primary grant (a refresh token might be in flight
    /// under another holder).
    async fn fetch_and_publish(
        &self,
        stored: Option<Versioned>,
        leased: bool,
    ) -> Result<Arc<Cached>, Error> {
        let mut version = stored.as_ref().map(|s| s.version);
        let current = self.current.load_full();
        if current
            .as_ref()
            .is_some_and(|c| self.fetcher.clock().now() < c.valid_until)
        {
            self.observe.refresh_ahead();
        }
        let claimed = match leased {
            true => {
                let memory = current.as_ref().map(|c| (&c.token, c.version));
                // A stored refresh token other credentials obtained is
                // not theirs to present.
                let stored = stored.as_ref().filter(|s| self.obtained_by_us(&s.token));
                rotation::claim(
                    &self.store,
                    &self.key,
                    stored,
                    version,
                    memory,
                    &self.spent_refresh_tokens,
                    &self.observe,
                )
                .await
            }
            false => None,
        };
        let token = match claimed {
            Some(claimed) => {
                version = claimed.version;
                self.refresh_grant(&claimed.refresh_token).await?
            }
            None => self.fetch(Grant::Primary).await?,
        };
        self.publish(token, version).await
    }

    /// The refresh grant, and what to do when the refresh token is refused.
    async fn refresh_grant(&self, refresh_token: &Secret) -> Result<AccessToken, Error> {
        let error = match self.fetch(Grant::Refresh(refresh_token)).await {
            Ok(token) => {
                if token
                    .refresh_token()
                    .is_some_and(|new| new.expose_secret() != refresh_token.expose_secret())
                {
                    self.observe.rotated();
                }
                return Ok(token);
            }
            Err(error) => error,
        };
        debug!(source = &*self.observe.name, %error, "refresh grant failed");
        if matches!(error, Error::CredentialsRejected { .. }) {
            // Another holder may have stored a good token meanwhile.
            if let Some(stored) = self.read_store().await
                && let Some(adopted) = self.adoptable(&stored)
            {
                return Ok(adopted.token.clone());
            }
        }
        // The refresh token is spent either way; the primary grant (the
        // builder checked the credentials fit it) is the way to a new one.
        self.fetch(Grant::Primary).await
    }

    /// The verifier of this source's credentials.
    fn verifier(&self) -> &Arc<Verifier> {
        self.verifier
            .get_or_init(|| Arc::new(Verifier::of(self.fetcher.credentials(), self.key.as_str())))
    }

    /// Whether `token` was obtained with this source's credentials (a
    /// token from before verifiers, or another secret's, was not).
    fn obtained_by_us(&self, token: &AccessToken) -> bool {
        token.verifier() == Some(&**self.verifier())
    }

    /// A stored token worth using instead of fetching: obtained with these
    /// credentials, fresh, received no later than now (a record from the
    /// future is not to be trusted), and not the one a caller reported
    /// rejected. Publishes it.
    fn adoptable(&self, stored: &Versioned) -> Option<Arc<Cached>> {
        if !self.obtained_by_us(&stored.token) {
            debug!(
                source = &*self.observe.name,
                "the stored token was obtained with other credentials; not using it"
            );
            return None;
        }
        if stored.token.obtained_at()
            > self.fetcher.clock().now() + self.fetcher.refresh().clock_skew
        {
            debug!(
                source = &*self.observe.name,
                "the stored token was received in the future; not using it"
            );
            return None;
        }
        let cached = Cached::new(
            stored.token.clone(),
            Some(stored.version),
            self.fetcher.refresh(),
            self.fetcher.clock().refresh_jitter(),
        );
        let rejected = self.rejected.lock().as_deref() == Some(&stored.token.fingerprint());
        let current = self.current.load_full();
        let same_as_current = current
            .as_ref()
            .is_some_and(|c| c.token.secret() == stored.token.secret());
        if self.fetcher.clock().now() >= cached.fresh_until || rejected || same_as_current {
            return None;
        }
        debug!(source = &*self.observe.name, fingerprint = %stored.token.fingerprint(), "token taken from the store");
        let cached = Arc::new(cached);
        self.current.store(Some(Arc::clone(&cached)));
        self.observe.published(&cached.token, TokenOrigin::Store);
        Some(cached)
    }

    async fn read_store(&self) -> Option<Versioned> {
        match self.store.get(&self.key).await {
            Ok(stored) => stored,
            Err(error) => {
                warn!(source = &*self.observe.name, %error, "token store unreadable; ignoring it");
                None
            }
        }
    }

    /// Stores the token, then lets callers see it: a rotated refresh token
    /// is persisted before anyone uses the access token issued with it.
    async fn publish(
        &self,
        token: AccessToken,
        version: Option<u64>,
    ) -> Result<Arc<Cached>, Error> {
        // Marked as ours before anyone else can read it from the store.
        let token = token.with_verifier(Some(Arc::clone(self.verifier())));
        let mut expected = version;
        let mut stored_version = None;
        for _ in 0..3 {
            match self.store.put(&self.key, &token, expected).await {
                Ok(PutOutcome::Stored { version }) => {
                    stored_version = Some(version);
                    break;
                }
                // Another holder stored a token first. A usable one wins, so
                // that every holder uses (and rotates) the same refresh
                // token; ours, valid too, is dropped unused.
                Ok(PutOutcome::Conflict { current }) => {
                    if let Some(theirs) = current.as_ref().and_then(|c| self.adoptable(c)) {
                        debug!(
                            source = &*self.observe.name,
                            "another holder stored a token first; using theirs"
                        );
                        *self.rejected.lock() = None;
                        return Ok(theirs);
                    }
                    expected = current.map(|c| c.version);
                }
                Err(error) => {
                    warn!(source = &*self.observe.name, %error, "token store unwritable; keeping the token in memory");
                    break;
                }
            }
        }
        *self.rejected.lock() = None;
        debug!(source = &*self.observe.name, fingerprint = %token.fingerprint(), expires_at = ?token.expires_at(), "token refreshed");
        let cached = Arc::new(Cached::new(
            token,
            stored_version,
            self.fetcher.refresh(),
            self.fetcher.clock().refresh_jitter(),
        ));
        self.current.store(Some(Arc::clone(&cached)));
        self.observe.published(&cached.token, TokenOrigin::Fetched);
        Ok(cached)
    }

    async fn fetch(&self, grant: Grant<'_>) -> Result<AccessToken, Error> {
        self.fetcher.fetch(grant, &self.observe).await
    }
}
