//! What a source tells the world about its lifecycle: metrics through the
//! [`metrics`] facade, lifecycle events to subscribers, and its status.
//!
//! Metrics (every one labelled `source`, the builder's
//! [`name`](crate::TokenSourceBuilder::name), and `provider`):
//!
//! | name | kind | what |
//! |---|---|---|
//! | `tokenmux_fetches_total` | counter | upstream token requests, by `grant` (`primary`, `refresh`) and `outcome` (`ok` or an [`Error::code`]) |
//! | `tokenmux_fetch_duration_seconds` | histogram | their latency, by `grant` |
//! | `tokenmux_cache_hits_total` | counter | tokens served from memory without a wait |
//! | `tokenmux_refresh_ahead_total` | counter | refreshes started while the token was still valid |
//! | `tokenmux_lease_waits_total` | counter | waits for another holder of the store to fetch |
//! | `tokenmux_lease_takeovers_total` | counter | fetches made after that holder took too long |
//! | `tokenmux_refresh_token_rotations_total` | counter | refresh grants that returned a new refresh token |
//! | `tokenmux_refresh_token_reuse_refusals_total` | counter | refresh tokens not presented because they were spent or claimed elsewhere |
//! | `tokenmux_token_expiry_timestamp_seconds` | gauge | when the current token expires (Unix time; `time() - x` is the seconds left) |
//!
//! Every series is registered when the source is built, so that a scrape
//! shows its zeros from the start: install the recorder (Prometheus,
//! OpenTelemetry, …) before building sources. A source holds the handle of
//! the cache-hit counter, which every read may touch; the others change a
//! few times per token lifetime and are looked up when they do (holding
//! them would cost 96 bytes per source).

use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use metrics::{Counter, Gauge};
use tokio::sync::broadcast;

use crate::label_sets::{self, LabelSet};
use crate::{AccessToken, Error};

/// Where a source's new token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenOrigin {
    /// Fetched from the token endpoint by this source.
    Fetched,
    /// Stored by another holder of the shared store and adopted.
    Store,
}

/// Something that happened in a source's lifecycle
/// ([`TokenSource::subscribe`](crate::TokenSource::subscribe)). Events
/// never carry a secret: no token, no fingerprint of one.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// A new access token is in use.
    Refreshed {
        /// The source's name.
        source: Arc<str>,
        /// Where the token came from.
        origin: TokenOrigin,
        /// When it expires.
        expires_at: SystemTime,
    },
    /// A refresh failed; callers get the still-valid token or this error.
    Failed {
        /// The source's name.
        source: Arc<str>,
        /// Why (secrets are scrubbed from errors).
        error: Error,
    },
    /// A refresh grant returned a new refresh token; the old one is spent.
    Rotated {
        /// The source's name.
        source: Arc<str>,
    },
}

/// The state of a source's current token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenState {
    /// No token yet.
    Missing,
    /// Served from memory.
    Fresh,
    /// Inside the refresh-ahead window: still served, being refreshed.
    Stale,
    /// Past its usable life: the next caller waits for a new one.
    Expired,
}

/// A snapshot of a source ([`TokenSource::status`](crate::TokenSource::status)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SourceStatus {
    /// The source's name.
    pub name: Arc<str>,
    /// The current token's state.
    pub state: TokenState,
    /// When the current token expires.
    pub expires_at: Option<SystemTime>,
    /// When this process will refresh it (inside the refresh-ahead window).
    pub refresh_at: Option<SystemTime>,
    /// The last refresh's error, until a refresh succeeds.
    pub last_error: Option<Error>,
}

const REFRESH_AHEAD: &str = "tokenmux_refresh_ahead_total";
const LEASE_WAITS: &str = "tokenmux_lease_waits_total";
const LEASE_TAKEOVERS: &str = "tokenmux_lease_takeovers_total";
const ROTATIONS: &str = "tokenmux_refresh_token_rotations_total";
const REUSE_REFUSALS: &str = "tokenmux_refresh_token_reuse_refusals_total";
const EXPIRY: &str = "tokenmux_token_expiry_timestamp_seconds";
/// The counters a source does not hold a handle of.
const RARE_COUNTERS: [&str; 5] = [
    REFRESH_AHEAD,
    LEASE_WAITS,
    LEASE_TAKEOVERS,
    ROTATIONS,
    REUSE_REFUSALS,
];

/// How many events a slow subscriber may fall behind before it misses some.
const EVENT_BUFFER: usize = 64;

/// A source's metric handles, event channel and last error.
pub(crate) struct Observer {
    pub(crate) name: Arc<str>,
    provider: &'static str,
    /// `source` and `provider`: the labels of every series of the source.
    labels: LabelSet,
    pub(crate) cache_hits: Counter,
    /// Made at the first subscription: 64 slots per source would be most
    /// of the memory of an agent holding thousands.
    events: std::sync::OnceLock<broadcast::Sender<LifecycleEvent>>,
    /// Boxed: an error is 80 bytes that a healthy source never uses.
    last_error: Mutex<Option<Box<Error>>>,
    /// Whether a store outage was warned about (once per outage).
    store_warned: AtomicBool,
}

impl Observer {
    /// The span a source's work runs in: every event inside carries the
    /// source's name and provider.
    pub(crate) fn span(&self) -> tracing::Span {
        // At ERROR so that it is enabled whenever any event inside is.
        tracing::error_span!("source", source = &*self.name, provider = self.provider)
    }

    /// The provider's name.
    pub(crate) fn provider(&self) -> &'static str {
        self.provider
    }

    /// Logs a store operation that failed, and what the source does
    /// instead. A transient failure is a warning once per outage (none
    /// when the store reports its outages itself), else a debug line; a
    /// store that must be fixed is a warning each time.
    pub(crate) fn store_failed(
        &self,
        store_reports: bool,
        error: &tokenmux_store::StoreError,
        instead: &str,
    ) {
        let quiet = error.is_transient()
            && (store_reports || self.store_warned.swap(true, Ordering::Relaxed));
        match quiet {
            true => {
                tracing::debug!(source = &*self.name, provider = self.provider, %error, "{instead}")
            }
            false => {
                tracing::warn!(source = &*self.name, provider = self.provider, %error, "{instead}")
            }
        }
    }

    /// A store operation worked: the next outage warns again.
    pub(crate) fn store_worked(&self) {
        if self.store_warned.swap(false, Ordering::Relaxed) {
            tracing::info!(
                source = &*self.name,
                provider = self.provider,
                "token store works again"
            );
        }
    }

    pub(crate) fn new(name: Arc<str>, provider: &'static str) -> Self {
        let labels = label_sets::label_set(&[
            ("source", Arc::clone(&name).into()),
            ("provider", provider.into()),
        ]);
        let observer = Self {
            cache_hits: label_sets::counter("tokenmux_cache_hits_total", &labels),
            labels,
            events: std::sync::OnceLock::new(),
            last_error: Mutex::new(None),
            store_warned: AtomicBool::new(false),
            name,
            provider,
        };
        // Registered now for their zero series; looked up again when they
        // change.
        for counter in RARE_COUNTERS {
            drop(observer.counter(counter));
        }
        drop(observer.expiry());
        observer
    }

    /// This source's series of the counter `name`.
    fn counter(&self, name: &'static str) -> Counter {
        label_sets::counter(name, &self.labels)
    }

    fn expiry(&self) -> Gauge {
        label_sets::gauge(EXPIRY, &self.labels)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<LifecycleEvent> {
        self.events
            .get_or_init(|| broadcast::channel(EVENT_BUFFER).0)
            .subscribe()
    }

    /// One upstream request ended.
    pub(crate) fn fetched(&self, refresh: bool, outcome: Result<(), &Error>, took: Duration) {
        let grant = if refresh { "refresh" } else { "primary" };
        let outcome = match outcome {
            Ok(()) => "ok",
            Err(error) => error.code(),
        };
        // The source's own labels (its name shared, not copied), then these.
        let fetches = [
            ("source", Arc::clone(&self.name).into()),
            ("provider", self.provider.into()),
            ("grant", grant.into()),
            ("outcome", outcome.into()),
        ];
        label_sets::counter("tokenmux_fetches_total", &label_sets::label_set(&fetches))
            .increment(1);
        let durations = label_sets::label_set(&fetches[..3]);
        label_sets::histogram("tokenmux_fetch_duration_seconds", &durations)
            .record(took.as_secs_f64());
    }

    pub(crate) fn refresh_ahead(&self) {
        self.counter(REFRESH_AHEAD).increment(1);
    }

    pub(crate) fn lease_wait(&self) {
        self.counter(LEASE_WAITS).increment(1);
    }

    pub(crate) fn lease_takeover(&self) {
        self.counter(LEASE_TAKEOVERS).increment(1);
    }

    pub(crate) fn reuse_refused(&self) {
        self.counter(REUSE_REFUSALS).increment(1);
    }

    pub(crate) fn rotated(&self) {
        self.counter(ROTATIONS).increment(1);
        self.send(LifecycleEvent::Rotated {
            source: Arc::clone(&self.name),
        });
    }

    /// A new token is in use.
    pub(crate) fn published(&self, token: &AccessToken, origin: TokenOrigin) {
        let expires_at = token.expires_at();
        let unix = expires_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.expiry().set(unix.as_secs_f64());
        *self.last_error.lock() = None;
        self.send(LifecycleEvent::Refreshed {
            source: Arc::clone(&self.name),
            origin,
            expires_at,
        });
    }

    /// A refresh (a flight) failed.
    pub(crate) fn failed(&self, error: &Error) {
        *self.last_error.lock() = Some(Box::new(error.clone()));
        self.send(LifecycleEvent::Failed {
            source: Arc::clone(&self.name),
            error: error.clone(),
        });
    }

    pub(crate) fn last_error(&self) -> Option<Error> {
        self.last_error.lock().as_deref().cloned()
    }

    fn send(&self, event: LifecycleEvent) {
        // No subscriber is the usual case, not an error.
        if let Some(events) = self.events.get() {
            let _ = events.send(event);
        }
    }
}
