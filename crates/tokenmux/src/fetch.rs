//! One grant with retries: exponential backoff with jitter, `Retry-After`
//! honoured in full, all within the policy's attempts and deadline.

use backon::{BackoffBuilder as _, ExponentialBuilder};
use tokio::time::Instant;
use tracing::debug;

use crate::dpop::Dpop;
use crate::exchange::{Exchange, Grant, normalise};
use crate::http_client::{DEFAULT_TIMEOUTS, HttpClient};
use std::sync::Arc;
use std::time::Duration;
use tokenmux_wire::DEFAULT_MAX_RESPONSE_BYTES;

use crate::observe::Observer;
use crate::{AccessToken, Clock, Credentials, Error, Provider, RefreshPolicy, RetryPolicy};

/// Hears of the failed attempts a fetch will retry.
#[async_trait::async_trait]
pub(crate) trait RetryListener: Send {
    /// An attempt failed with `error`; the next starts in `delay`.
    async fn retrying(&mut self, error: &Error, delay: std::time::Duration);
}

/// Nobody listening.
#[async_trait::async_trait]
impl RetryListener for () {
    async fn retrying(&mut self, _: &Error, _: std::time::Duration) {}
}

/// The fetch layer: one grant at one endpoint, with retries. It knows no
/// cache, no store and no other caller; the source above decides when to
/// call it.
pub(crate) struct Fetcher {
    provider: Provider,
    credentials: Credentials,
    http: HttpClient,
    /// Shared by every source with the default settings (most of them):
    /// 224 bytes a source otherwise holds on its own.
    settings: Arc<Settings>,
    clock: Arc<dyn Clock>,
    /// With DPoP (RFC 9449): the key and nonces its requests prove.
    dpop: Option<Arc<Dpop>>,
}

/// How a fetcher retries, when its tokens count as fresh, and the limits
/// of its requests.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    pub(crate) retry: RetryPolicy,
    pub(crate) refresh: RefreshPolicy,
    /// The (connect, request) timeouts of the client it builds (unused
    /// when the builder was given a client).
    pub(crate) timeouts: (Duration, Duration),
    /// The largest answer read.
    pub(crate) max_response_bytes: usize,
}

/// The builder's defaults.
impl Default for Settings {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            refresh: RefreshPolicy::default(),
            timeouts: DEFAULT_TIMEOUTS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl Fetcher {
    /// A fetcher of `credentials`' tokens from `provider`, over `http`.
    pub(crate) fn new(
        provider: Provider,
        credentials: Credentials,
        http: HttpClient,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        static DEFAULT: std::sync::LazyLock<Arc<Settings>> = std::sync::LazyLock::new(Arc::default);
        let settings = match **DEFAULT == settings {
            true => Arc::clone(&DEFAULT),
            false => Arc::new(settings),
        };
        Self {
            provider,
            credentials,
            http,
            settings,
            clock,
            dpop: None,
        }
    }

    /// Proves possession of a DPoP key on every request.
    pub(crate) fn with_dpop(mut self, dpop: Arc<Dpop>) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// The DPoP state, when the source uses DPoP.
    pub(crate) fn dpop(&self) -> Option<&Arc<Dpop>> {
        self.dpop.as_ref()
    }

    /// Where tokens are asked.
    pub(crate) fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Whose tokens.
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// How failures are retried.
    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.settings.retry
    }

    /// When a token counts as fresh (and lifetimes are capped).
    pub(crate) fn refresh(&self) -> &RefreshPolicy {
        &self.settings.refresh
    }

    /// The HTTP client, for tests of when it is built.
    #[cfg(test)]
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The clock of the source.
    pub(crate) fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Asks for a token with `grant`, retrying transient failures; every
    /// attempt is reported to `observe`. A refresh grant is never retried:
    /// its token is spent once sent (so is a primary grant presenting a
    /// configured refresh token the endpoint may rotate). A refresh token
    /// presented and not replaced in the answer is kept on the token. A
    /// wait the endpoint asks for (`Retry-After` on a 429 or 503) that
    /// would end past the deadline ends the attempts at once with that
    /// error, so the caller learns when to come back instead of being
    /// retried early.
    ///
    /// `retries` hears of each failed attempt that will be retried, and
    /// how long until the next one (the source shares it with the holders
    /// waiting for this fetch).
    pub(crate) async fn fetch(
        &self,
        grant: Grant<'_>,
        observe: &Observer,
        retries: &mut dyn RetryListener,
    ) -> Result<AccessToken, Error> {
        let dpop = match &self.dpop {
            Some(dpop) => Some((dpop.as_ref(), dpop.key()?)),
            None => None,
        };
        let key = dpop.as_ref().map(|(_, key)| Arc::clone(key));
        let exchange = Exchange {
            provider: &self.provider,
            credentials: &self.credentials,
            http: self.http.get(self.settings.timeouts)?,
            max_response_bytes: self.settings.max_response_bytes,
            dpop,
        };
        let policy = self.retry();
        let deadline = Instant::now() + policy.deadline;
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(policy.initial_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_attempts.saturating_sub(1))
            .with_jitter()
            .build();
        let provider = self.provider.name();
        let refresh = matches!(grant, Grant::Refresh(_));
        // A refresh token presented once is spent: never retried.
        let spec = self.provider.spec();
        let single_use = refresh || self.credentials.single_use_refresh_token(spec).is_some();
        // RFC 6749 §6: an answer with no new refresh token leaves the one
        // presented valid; it is kept, to be presented next.
        let presented = match grant {
            Grant::Refresh(token) => Some(token),
            Grant::Primary => self.credentials.presented_refresh_token(spec),
        };
        let mut attempts: u32 = 0;
        loop {
            attempts = attempts.saturating_add(1);
            let started = Instant::now();
            let attempt = tokio::time::timeout_at(deadline, exchange.request(grant)).await;
            let past_deadline = attempt.is_err();
            let outcome = match attempt {
                Ok(Ok(issued)) => normalise(issued, self.clock.now(), self.refresh(), key.as_ref()),
                Ok(Err(error)) => Err(error),
                Err(_) => Err(Error::Timeout),
            };
            observe.fetched(refresh, outcome.as_ref().map(|_| ()), started.elapsed());
            let error = match outcome {
                Ok(token) if token.refresh_token().is_none() => {
                    return Ok(token.with_refresh_token(presented.cloned()));
                }
                Ok(token) => return Ok(token),
                Err(error) if past_deadline => return Err(error.after_attempts(attempts)),
                Err(error) => error,
            };
            let retried = !single_use && error.is_transient();
            let Some(delay) = backoff.next().filter(|_| retried) else {
                return Err(error.after_attempts(attempts));
            };
            let delay = error.retry_after().unwrap_or(delay);
            if Instant::now() + delay >= deadline {
                debug!(provider, %error, ?delay, "the next attempt would start past the deadline");
                return Err(error.after_attempts(attempts));
            }
            debug!(provider, %error, ?delay, "retrying token request");
            retries.retrying(&error, delay).await;
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    //! The fetch layer alone, over a scripted endpoint (the layer below);
    //! tokio's paused clock runs the back-off without waiting.

    use std::time::Duration;

    use super::*;
    use crate::SystemClock;
    use crate::exchange::Grant;
    use crate::scripted::{Answer, Scripted};
    use tokenmux_wire::Secret;

    /// A fetcher over `provider`: 4 attempts, 100 ms first back-off,
    /// 30 s deadline.
    fn over(provider: Provider) -> Fetcher {
        let retry = RetryPolicy {
            max_attempts: 4,
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            deadline: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        Fetcher::new(
            provider,
            Credentials::client("id", "secret"),
            reqwest::Client::new().into(),
            Settings {
                retry,
                max_response_bytes: 64 * 1024,
                ..Settings::default()
            },
            Arc::new(SystemClock),
        )
    }

    fn observer() -> Observer {
        Observer::new("test".into(), "scripted")
    }

    #[test]
    fn sources_with_the_default_settings_share_one_copy() {
        let with = |settings| {
            Fetcher::new(
                Provider::neonpanel(),
                Credentials::client("id", "secret"),
                reqwest::Client::new().into(),
                settings,
                Arc::new(SystemClock),
            )
        };
        let (a, b) = (with(Settings::default()), with(Settings::default()));
        assert!(Arc::ptr_eq(&a.settings, &b.settings));
        let own = with(Settings {
            retry: RetryPolicy {
                max_attempts: 2,
                ..RetryPolicy::default()
            },
            ..Settings::default()
        });
        assert!(!Arc::ptr_eq(&a.settings, &own.settings));
        assert_eq!(own.retry().max_attempts, 2);
        assert_eq!(a.refresh(), &RefreshPolicy::default());
    }

    #[tokio::test(start_paused = true)]
    async fn a_transient_failure_is_retried_until_a_token_comes() {
        let (provider, endpoint) = Scripted::provider([
            Answer::Status(503, None),
            Answer::Status(502, None),
            Answer::Token("t1", None),
        ]);
        let fetcher = over(provider);
        let token = fetcher
            .fetch(Grant::Primary, &observer(), &mut ())
            .await
            .unwrap();
        assert_eq!(token.secret().expose_secret(), "t1");
        assert_eq!(endpoint.requests(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_endpoint_that_keeps_failing_gets_max_attempts_requests() {
        let (provider, endpoint) = Scripted::provider([Answer::Status(503, None)]);
        let fetcher = over(provider);
        let error = fetcher
            .fetch(Grant::Primary, &observer(), &mut ())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Server { .. }), "{error:?}");
        assert_eq!(endpoint.requests(), 4);
    }

    /// Records what it hears.
    #[derive(Default)]
    struct Heard(Vec<(&'static str, Duration)>);

    #[async_trait::async_trait]
    impl RetryListener for Heard {
        async fn retrying(&mut self, error: &Error, delay: Duration) {
            self.0.push((error.code(), delay));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_retried_failure_is_heard_with_the_wait_before_the_next_attempt() {
        let (provider, _) = Scripted::provider([
            Answer::Status(429, Some(3)),
            Answer::Status(503, None),
            Answer::Token("t1", None),
        ]);
        let mut heard = Heard::default();
        over(provider)
            .fetch(Grant::Primary, &observer(), &mut heard)
            .await
            .unwrap();
        assert_eq!(heard.0.len(), 2);
        assert_eq!(heard.0[0], ("rate_limited", Duration::from_secs(3)));
        assert_eq!(heard.0[1].0, "server_error");
        // The back-off's own delay, with its jitter, within max_delay.
        assert!(!heard.0[1].1.is_zero() && heard.0[1].1 <= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_in_full() {
        let (provider, endpoint) =
            Scripted::provider([Answer::Status(429, Some(7)), Answer::Token("t1", None)]);
        let fetcher = over(provider);
        let started = Instant::now();
        fetcher
            .fetch(Grant::Primary, &observer(), &mut ())
            .await
            .unwrap();
        // The back-off alone would have waited about 100 ms.
        assert!(
            started.elapsed() >= Duration::from_secs(7),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(endpoint.requests(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_past_the_deadline_ends_the_attempts_with_it() {
        let (provider, endpoint) =
            Scripted::provider([Answer::Status(429, Some(60)), Answer::Token("t1", None)]);
        let fetcher = over(provider);
        let error = fetcher
            .fetch(Grant::Primary, &observer(), &mut ())
            .await
            .unwrap_err();
        assert_eq!(error.retry_after(), Some(Duration::from_secs(60)));
        assert_eq!(endpoint.requests(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn rejected_credentials_and_refresh_grants_are_not_retried() {
        let (provider, endpoint) = Scripted::provider([Answer::Status(401, None)]);
        let fetcher = over(provider);
        let error = fetcher
            .fetch(Grant::Primary, &observer(), &mut ())
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::CredentialsRejected { .. }),
            "{error:?}"
        );
        assert_eq!(endpoint.requests(), 1);

        // A refresh token is spent once sent: even a 503 is not retried.
        let (provider, endpoint) = Scripted::provider([Answer::Status(503, None)]);
        let fetcher = over(provider);
        let refresh = Secret::new("r1".to_owned());
        let error = fetcher
            .fetch(Grant::Refresh(&refresh), &observer(), &mut ())
            .await
            .unwrap_err();
        assert!(error.is_transient());
        assert_eq!(endpoint.requests(), 1);
    }
}
