//! [`TokenSource`]: a valid token from one provider, cached and refreshed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use backon::{ExponentialBuilder, Retryable as _};
use reqwest::header::HeaderValue;
use tokenmux_wire::{DEFAULT_MAX_RESPONSE_BYTES, Secret};
use tracing::{debug, warn};

use crate::exchange::{Exchange, Grant, normalise};
use crate::sharded_header::ShardedHeader;
use crate::store::{Lease, MemoryStore, PutOutcome, StoreKey, TokenStore, Versioned};
use crate::token::fingerprint;
use crate::{
    AccessToken, Clock, Credentials, Error, Provider, ProviderKind, RefreshPolicy, RetryPolicy,
    SystemClock,
};

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

#[derive(Debug)]
struct Inner {
    provider: Provider,
    credentials: Credentials,
    http: reqwest::Client,
    max_response_bytes: usize,
    refresh: RefreshPolicy,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    store: Arc<dyn TokenStore>,
    key: StoreKey,
    background_refresh: bool,
    current: ArcSwapOption<Cached>,
    /// Held by whoever is refreshing: the single flight.
    refresh_lock: Arc<tokio::sync::Mutex<()>>,
    /// Fingerprints of refresh tokens already sent: never sent again.
    spent_refresh_tokens: Mutex<HashSet<String>>,
    /// Fingerprint of the access token a caller reported as rejected.
    rejected: Mutex<Option<String>>,
}

/// A token with its header and the instants that bound its states.
#[derive(Debug)]
struct Cached {
    token: AccessToken,
    header: ShardedHeader,
    /// Fresh until then, stale (refresh in the background) after.
    fresh_until: SystemTime,
    /// Usable until then, expired after.
    valid_until: SystemTime,
    version: Option<u64>,
}

impl Cached {
    fn new(token: AccessToken, version: Option<u64>, policy: &RefreshPolicy) -> Self {
        let lifetime = token.lifetime();
        // Neither margin may eat more than half the lifetime, or a short-lived
        // token would be refreshed on every call.
        let skew = policy.clock_skew.min(lifetime / 2);
        let ahead = policy.refresh_ahead(lifetime).min(lifetime / 2);
        Self {
            header: ShardedHeader::new(&token.authorization()),
            fresh_until: token.expires_at() - ahead.max(skew),
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
        let now = self.inner.clock.now();
        let current = self.inner.current.load();
        current
            .as_ref()
            .filter(|cached| now < cached.fresh_until)
            .map(|cached| read(cached))
    }

    /// Forgets the current access token, for a caller whose request was
    /// answered 401 with it. The next call fetches a new one (with the
    /// refresh token, when there is one).
    pub fn invalidate(&self) {
        let inner = &self.inner;
        if let Some(current) = inner.current.load_full() {
            *lock(&inner.rejected) = Some(current.token.fingerprint());
            debug!(provider = inner.provider.kind().name(), fingerprint = %current.token.fingerprint(), "token invalidated");
            // Keep the refresh token; only the access token is unusable.
            inner.current.store(Some(Arc::new(Cached {
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
        &self.inner.provider
    }

    async fn cached(&self) -> Result<Arc<Cached>, Error> {
        let inner = &self.inner;
        let now = inner.clock.now();
        if let Some(cached) = inner.current.load_full() {
            if now < cached.fresh_until {
                tracing::trace!(provider = inner.provider.kind().name(), "token cache hit");
                return Ok(cached);
            }
            if now < cached.valid_until && inner.background_refresh {
                self.refresh_in_background();
                return Ok(cached);
            }
        }
        let _flight = inner.refresh_lock.lock().await;
        // Whoever held the lock may have refreshed already.
        let cached = inner.current.load_full();
        let now = inner.clock.now();
        match cached {
            Some(cached) if now < cached.fresh_until => Ok(cached),
            // Stale, refreshed in the foreground: a failure still leaves
            // the valid token in use.
            Some(cached) if now < cached.valid_until => {
                Ok(inner.refresh().await.unwrap_or_else(|error| {
                    warn!(provider = inner.provider.kind().name(), %error, "token refresh failed; the current token is still valid");
                    cached
                }))
            }
            _ => inner.refresh().await,
        }
    }

    fn refresh_in_background(&self) {
        let Ok(flight) = Arc::clone(&self.inner.refresh_lock).try_lock_owned() else {
            return; // a refresh is already running
        };
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let _flight = flight;
            if let Err(error) = inner.refresh().await {
                // The stale token stays in use; callers wait only once it expires.
                warn!(provider = inner.provider.kind().name(), %error, "background token refresh failed");
            }
        });
    }
}

impl Inner {
    /// Gets a new token and publishes it. Called with the refresh lock held
    /// (one flight per process); the store's lease makes it one flight
    /// between all the processes sharing the store.
    async fn refresh(&self) -> Result<Arc<Cached>, Error> {
        // Waiting is bounded by how long the lease holder's fetch may run.
        let give_up = tokio::time::Instant::now() + self.retry.deadline + LEASE_WAIT_MARGIN;
        let mut pause = LEASE_POLL_FIRST;
        loop {
            let stored = self.read_store().await;
            // Another holder of the store may have refreshed already.
            if let Some(adopted) = stored
                .as_ref()
                .and_then(|s| self.adoptable(s, self.clock.now()))
            {
                return Ok(adopted);
            }
            match self.store.try_lease(&self.key).await {
                Ok(Some(lease)) => return self.refresh_under(lease, stored).await,
                Ok(None) if tokio::time::Instant::now() < give_up => {
                    debug!(
                        provider = self.provider.kind().name(),
                        ?pause,
                        "another holder is fetching; waiting for its token"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LEASE_POLL_MAX);
                }
                Ok(None) => {
                    warn!(
                        provider = self.provider.kind().name(),
                        "the store's lease holder has not stored a token in time; fetching without it"
                    );
                    return self.fetch_and_publish(stored).await;
                }
                Err(error) => {
                    // Never fail a caller because the shared store is down.
                    warn!(provider = self.provider.kind().name(), %error, "token store cannot coordinate; fetching locally");
                    return self.fetch_and_publish(stored).await;
                }
            }
        }
    }

    /// The refresh, once this holder has the store's lease: re-read first
    /// (the previous holder may have stored a token since), keep the lease
    /// alive while fetching, give it back after.
    async fn refresh_under(
        &self,
        lease: Lease,
        read_before: Option<Versioned>,
    ) -> Result<Arc<Cached>, Error> {
        // An unshared lease excludes nobody: the read just made stands.
        let stored = match lease.ttl() {
            Some(_) => self.read_store().await,
            None => read_before,
        };
        let result = match stored
            .as_ref()
            .and_then(|s| self.adoptable(s, self.clock.now()))
        {
            Some(adopted) => Ok(adopted),
            None => self.renewing(&lease, self.fetch_and_publish(stored)).await,
        };
        if let Err(error) = self.store.release_lease(&self.key, &lease).await {
            // It lapses by itself.
            warn!(provider = self.provider.kind().name(), %error, "cannot release the token store's lease");
        }
        result
    }

    /// Runs `work`, renewing `lease` every third of its ttl meanwhile, so a
    /// slow but live fetch keeps it and a dead holder's lapses soon.
    async fn renewing<T>(&self, lease: &Lease, work: impl Future<Output = T>) -> T {
        let Some(ttl) = lease.ttl() else {
            return work.await;
        };
        let period = (ttl / 3).max(Duration::from_millis(1));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = ticks.tick() => match self.store.renew_lease(&self.key, lease).await {
                    Ok(true) => {}
                    Ok(false) => warn!(provider = self.provider.kind().name(), "the token store's lease lapsed during a fetch"),
                    Err(error) => warn!(provider = self.provider.kind().name(), %error, "cannot renew the token store's lease"),
                },
            }
        }
    }

    /// Fetches with the refresh token when there is an unspent one (the
    /// stored one first: it is the newest), else with the primary grant,
    /// and publishes the result.
    async fn fetch_and_publish(&self, stored: Option<Versioned>) -> Result<Arc<Cached>, Error> {
        let current = self.current.load_full();
        let refresh_token = stored
            .as_ref()
            .and_then(|s| s.token.refresh_token().cloned())
            .or_else(|| {
                current
                    .as_ref()
                    .and_then(|c| c.token.refresh_token().cloned())
            });
        let token = match refresh_token.filter(|t| !self.is_spent(t)) {
            Some(refresh_token) => self.refresh_grant(&refresh_token).await?,
            None => self.fetch(Grant::Primary).await?,
        };
        let version = stored.as_ref().map(|s| s.version);
        self.publish(token, version).await
    }

    /// The refresh grant, and what to do when the refresh token is refused.
    async fn refresh_grant(&self, refresh_token: &Secret) -> Result<AccessToken, Error> {
        lock(&self.spent_refresh_tokens).insert(fingerprint(refresh_token.expose_secret()));
        let error = match self.fetch(Grant::Refresh(refresh_token)).await {
            Ok(token) => return Ok(token),
            Err(error) => error,
        };
        debug!(provider = self.provider.kind().name(), %error, "refresh grant failed");
        if matches!(error, Error::CredentialsRejected { .. }) {
            // Another holder may have rotated it: take theirs if it is good.
            if let Some(stored) = self.read_store().await
                && let Some(adopted) = self.adoptable(&stored, self.clock.now())
            {
                return Ok(adopted.token.clone());
            }
        }
        // The refresh token is spent either way; the password grant, when
        // the credentials allow it, is the way to a new one.
        match self.credentials {
            Credentials::Password { .. } => self.fetch(Grant::Primary).await,
            Credentials::Client { .. } => Err(error),
        }
    }

    fn is_spent(&self, refresh_token: &Secret) -> bool {
        lock(&self.spent_refresh_tokens).contains(&fingerprint(refresh_token.expose_secret()))
    }

    /// A stored token worth using instead of fetching: valid, and not the
    /// one a caller reported rejected. Publishes it.
    fn adoptable(&self, stored: &Versioned, now: SystemTime) -> Option<Arc<Cached>> {
        let cached = Cached::new(stored.token.clone(), Some(stored.version), &self.refresh);
        let rejected = lock(&self.rejected).as_deref() == Some(&stored.token.fingerprint());
        let current = self.current.load_full();
        let same_as_current = current
            .as_ref()
            .is_some_and(|c| c.token.secret() == stored.token.secret());
        if now >= cached.fresh_until || rejected || same_as_current {
            return None;
        }
        debug!(provider = self.provider.kind().name(), fingerprint = %stored.token.fingerprint(), "token taken from the store");
        let cached = Arc::new(cached);
        self.current.store(Some(Arc::clone(&cached)));
        Some(cached)
    }

    async fn read_store(&self) -> Option<Versioned> {
        match self.store.get(&self.key).await {
            Ok(stored) => stored,
            Err(error) => {
                warn!(provider = self.provider.kind().name(), %error, "token store unreadable; ignoring it");
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
                    if let Some(theirs) = current
                        .as_ref()
                        .and_then(|c| self.adoptable(c, self.clock.now()))
                    {
                        debug!(
                            provider = self.provider.kind().name(),
                            "another holder stored a token first; using theirs"
                        );
                        *lock(&self.rejected) = None;
                        return Ok(theirs);
                    }
                    expected = current.map(|c| c.version);
                }
                Err(error) => {
                    warn!(provider = self.provider.kind().name(), %error, "token store unwritable; keeping the token in memory");
                    break;
                }
            }
        }
        *lock(&self.rejected) = None;
        debug!(provider = self.provider.kind().name(), fingerprint = %token.fingerprint(), expires_at = ?token.expires_at(), "token refreshed");
        let cached = Arc::new(Cached::new(token, stored_version, &self.refresh));
        self.current.store(Some(Arc::clone(&cached)));
        Ok(cached)
    }

    /// One exchange with retries: exponential backoff with jitter,
    /// `Retry-After` honoured, within the attempt and time bounds. A refresh
    /// grant is never retried: its token is spent once sent.
    async fn fetch(&self, grant: Grant<'_>) -> Result<AccessToken, Error> {
        let exchange = Exchange {
            provider: &self.provider,
            credentials: &self.credentials,
            http: &self.http,
            max_response_bytes: self.max_response_bytes,
        };
        let policy = &self.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.initial_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_attempts.saturating_sub(1))
            .with_total_delay(Some(policy.deadline))
            .with_jitter();
        let is_refresh = matches!(grant, Grant::Refresh(_));
        let provider = self.provider.kind().name();
        let attempts = (|| exchange.request(grant))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            // A refresh token is sent once, ever: a retry could present a
            // token the endpoint already rotated (or counts as reused).
            .when(|error| !is_refresh && error.is_transient())
            .adjust(|error, delay| match error {
                // Only while retries remain (delay is None when they are spent).
                Error::RateLimited {
                    retry_after: Some(after),
                } => delay.map(|_| (*after).min(policy.max_delay)),
                _ => delay,
            })
            .notify(|error, delay| debug!(provider, %error, ?delay, "retrying token request"));
        let issued = tokio::time::timeout(policy.deadline, attempts)
            .await
            .map_err(|_| Error::Timeout)??;
        normalise(issued, self.clock.now(), &self.refresh)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values stay consistent whatever panicked while holding them.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Builds a [`TokenSource`]; only the credentials are required.
#[derive(Debug)]
pub struct TokenSourceBuilder {
    provider: Provider,
    credentials: Option<Credentials>,
    refresh: Option<RefreshPolicy>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    store: Arc<dyn TokenStore>,
    http: Option<reqwest::Client>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
    background_refresh: bool,
    allow_insecure_http: bool,
}

impl TokenSourceBuilder {
    fn new(provider: Provider) -> Self {
        Self {
            provider,
            credentials: None,
            refresh: None,
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            store: Arc::new(MemoryStore::default()),
            http: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            background_refresh: true,
            allow_insecure_http: false,
        }
    }

    /// Allows a plain `http://` base URL on a host that is not loopback.
    /// Off by default: the credentials and tokens would cross the network
    /// in the clear. (`http://127.0.0.1`, `[::1]` and `localhost` are always
    /// allowed, for local mocks and sidecars.)
    ///
    /// ```
    /// use tokenmux::{Credentials, Error, Provider, TokenSource};
    ///
    /// let plain = || TokenSource::builder(Provider::jsonapi("http://auth.internal"))
    ///     .credentials(Credentials::client("id", "secret"));
    /// assert!(matches!(plain().build(), Err(Error::Config(_))));
    /// assert!(plain().allow_insecure_http(true).build().is_ok());
    /// ```
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Whether a stale token is served at once while a background task
    /// refreshes it (the default), or refreshed before returning. Turn it
    /// off in short-lived processes (a CLI), which may exit before a
    /// background refresh finishes.
    pub fn background_refresh(mut self, enabled: bool) -> Self {
        self.background_refresh = enabled;
        self
    }

    /// The credentials (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// When to refresh. Default: [`RefreshPolicy::default`], with a 24 h
    /// `max_lifetime` for Airalo as its document recommends.
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh = Some(policy);
        self
    }

    /// How to retry transient failures.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The clock (tests inject a [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where tokens are kept; default a [`MemoryStore`] of this source's own.
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = store;
        self
    }

    /// Use this HTTP client (its timeouts then apply, not the builder's).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout of one whole request, body included (default 15 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Largest response body read (default 64 KiB).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Checks the configuration and builds the source.
    pub fn build(self) -> Result<TokenSource, Error> {
        let credentials = self
            .credentials
            .ok_or_else(|| Error::Config("no credentials given".into()))?;
        let base = self.provider.base_url();
        let url = reqwest::Url::parse(base)
            .map_err(|e| Error::Config(format!("base URL `{base}` is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!("base URL `{base}` is not http(s)")));
        }
        if url.scheme() == "http" && !self.allow_insecure_http && !is_loopback(&url) {
            return Err(Error::Config(format!(
                "base URL `{base}` is plain http to a host that is not loopback: the \
                 credentials and tokens would cross the network in the clear. Use https, \
                 or allow it explicitly (allow_insecure_http)"
            )));
        }
        if self.provider.kind() == ProviderKind::Password
            && !matches!(credentials, Credentials::Password { .. })
        {
            return Err(Error::Config(
                "the password provider needs Credentials::password".into(),
            ));
        }
        let refresh = self.refresh.unwrap_or_else(|| match self.provider.kind() {
            ProviderKind::Airalo => RefreshPolicy {
                max_lifetime: Some(Duration::from_secs(24 * 3600)),
                ..RefreshPolicy::default()
            },
            _ => RefreshPolicy::default(),
        });
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .timeout(self.request_timeout)
                .build()
                .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?,
        };
        let key = StoreKey::new(&self.provider, &credentials);
        Ok(TokenSource {
            inner: Arc::new(Inner {
                provider: self.provider,
                credentials,
                http,
                max_response_bytes: self.max_response_bytes,
                refresh,
                retry: self.retry,
                clock: self.clock,
                store: self.store,
                key,
                background_refresh: self.background_refresh,
                current: ArcSwapOption::empty(),
                refresh_lock: Arc::new(tokio::sync::Mutex::new(())),
                spent_refresh_tokens: Mutex::default(),
                rejected: Mutex::default(),
            }),
        })
    }
}

/// Whether `url` names this machine: 127.0.0.0/8, ::1 or `localhost`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}
