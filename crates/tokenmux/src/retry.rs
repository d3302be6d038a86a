//! One grant with retries: exponential backoff with jitter, `Retry-After`
//! honoured in full, all within the policy's attempts and deadline.

use backon::{BackoffBuilder as _, ExponentialBuilder};
use tokio::time::Instant;
use tracing::debug;

use crate::exchange::{Exchange, Grant, normalise};
use crate::source::Inner;
use crate::{AccessToken, Error};

/// Asks for a token, retrying transient failures. A refresh grant is
/// never retried: its token is spent once sent. A wait the endpoint asks
/// for (`Retry-After` on a 429 or 503) that would end past the deadline
/// ends the attempts at once with that error, so the caller learns when
/// to come back instead of being retried early.
pub(crate) async fn fetch_with_retries(
    inner: &Inner,
    grant: Grant<'_>,
) -> Result<AccessToken, Error> {
    let exchange = Exchange {
        provider: &inner.provider,
        credentials: &inner.credentials,
        http: &inner.http,
        max_response_bytes: inner.max_response_bytes,
    };
    let policy = &inner.retry;
    let deadline = Instant::now() + policy.deadline;
    let mut backoff = ExponentialBuilder::default()
        .with_min_delay(policy.initial_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1))
        .with_jitter()
        .build();
    let provider = inner.provider.name();
    let refresh = matches!(grant, Grant::Refresh(_));
    loop {
        let started = Instant::now();
        let attempt = tokio::time::timeout_at(deadline, exchange.request(grant)).await;
        let past_deadline = attempt.is_err();
        let outcome = match attempt {
            Ok(Ok(issued)) => normalise(issued, inner.clock.now(), &inner.refresh),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(Error::Timeout),
        };
        inner
            .observe
            .fetched(refresh, outcome.as_ref().map(|_| ()), started.elapsed());
        let error = match outcome {
            Ok(token) => return Ok(token),
            Err(error) if past_deadline => return Err(error),
            Err(error) => error,
        };
        let retried = !refresh && error.is_transient();
        let Some(delay) = backoff.next().filter(|_| retried) else {
            return Err(error);
        };
        let delay = error.retry_after().unwrap_or(delay);
        if Instant::now() + delay >= deadline {
            debug!(provider, %error, ?delay, "the next attempt would start past the deadline");
            return Err(error);
        }
        debug!(provider, %error, ?delay, "retrying token request");
        tokio::time::sleep(delay).await;
    }
}
