//! The facade's lifecycle over every provider of the spec registry, named
//! by none: cache, refresh, single flight, retries and errors. A spec added
//! with `cargo xtask regen` is covered with no edit here;
//! `cargo xtask new-provider-check` runs these over a fifth spec, with
//! `TOKENMUX_EXPECT_PROVIDER` naming it so that its absence fails.

use std::sync::Arc;
use std::time::Duration;

use tokenmux::{Clock as _, Error, ManualClock, RetryPolicy, TokenSource};
use tokenmux_mock::{Fault, Grant, MockClock, MockConfig, MockServer};

use crate::support::{credentials_for, issues_refresh_tokens, provider, providers};

const RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    initial_delay: Duration::from_millis(10),
    max_delay: Duration::from_millis(50),
    deadline: Duration::from_secs(10),
    cool_down: Duration::from_secs(5),
    max_cool_down: Duration::from_secs(120),
    rejected_cool_down: Duration::from_secs(600),
};

fn source(mock: &MockServer, name: &str, clock: &Arc<ManualClock>) -> TokenSource {
    TokenSource::builder(provider(name, mock.base_url(name)))
        .credentials(credentials_for(name))
        .clock(clock.clone())
        .retry_policy(RETRY)
        .build()
        .unwrap()
}

fn issued(mock: &MockServer, name: &str) -> usize {
    [
        Grant::ClientCredentials,
        Grant::Password,
        Grant::RefreshToken,
    ]
    .into_iter()
    .map(|grant| mock.tokens_issued(name, grant))
    .sum()
}

#[test]
fn the_expected_provider_is_registered() {
    // Set by `cargo xtask new-provider-check`; unset, every provider is checked.
    // A comma-separated list: every fixture it adds.
    if let Ok(expected) = std::env::var("TOKENMUX_EXPECT_PROVIDER") {
        for name in expected.split(',') {
            assert!(
                providers().contains(&name),
                "{name} is not in {:?}",
                providers()
            );
        }
    }
}

#[tokio::test]
async fn every_provider_caches_and_refreshes() {
    for name in providers() {
        let clock = Arc::new(ManualClock::default());
        // Absolute expiries count from the test's clock, which it advances.
        let now = clock.clone();
        let mock = MockServer::start(MockConfig {
            clock: MockClock::new(move || now.now()),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let tokens = source(&mock, name, &clock);
        let first = tokens.token().await.unwrap();
        assert!(
            crate::support::is_mock_token(name, first.secret().expose_secret()),
            "{name}"
        );
        assert!(first.token_type().eq_ignore_ascii_case("bearer"), "{name}");
        assert_eq!(tokens.token().await.unwrap(), first, "{name}: from cache");
        assert_eq!(mock.requests_received(name), 1, "{name}");
        assert_eq!(
            first.refresh_token().is_some(),
            issues_refresh_tokens(name),
            "{name}"
        );

        clock.advance(Duration::from_secs(3600));
        let second = tokens.token().await.unwrap();
        assert_ne!(second, first, "{name}: a new token at expiry");
        assert_eq!(mock.requests_received(name), 2, "{name}");
        let refreshed = mock.tokens_issued(name, Grant::RefreshToken);
        assert_eq!(
            refreshed,
            usize::from(issues_refresh_tokens(name)),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_serves_a_herd_with_one_request() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for name in providers() {
        let clock = Arc::new(ManualClock::default());
        let tokens = source(&mock, name, &clock);
        // The exchange is slow enough that every caller joins it.
        mock.inject(name, Fault::delay(Duration::from_millis(200)));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let tokens = tokens.clone();
                tokio::spawn(async move { tokens.token().await })
            })
            .collect();
        let mut got = Vec::new();
        for task in tasks {
            got.push(task.await.unwrap().unwrap());
        }
        assert!(got.windows(2).all(|w| w[0] == w[1]), "{name}: one token");
        assert_eq!(mock.requests_received(name), 1, "{name}: one request");
    }
}

#[tokio::test]
async fn every_provider_retries_transient_errors_honouring_retry_after() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for name in providers() {
        let clock = Arc::new(ManualClock::default());
        let tokens = source(&mock, name, &clock);
        mock.inject(name, Fault::status(503));
        mock.inject(name, Fault::status(429).retry_after("0"));
        let token = tokens.token().await.unwrap();
        assert!(!token.secret().expose_secret().is_empty());
        assert_eq!(mock.requests_received(name), 3, "{name}: two retries");

        // Retries exhausted: the transient error, after max_attempts.
        let fresh = source(&mock, name, &clock);
        for _ in 0..RETRY.max_attempts {
            mock.inject(name, Fault::status(500));
        }
        let before = mock.requests_received(name);
        let error = fresh.token().await.unwrap_err();
        assert!(error.is_transient(), "{name}: {error:?}");
        assert_eq!(
            mock.requests_received(name) - before,
            RETRY.max_attempts,
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_provider_refuses_wrong_credentials_without_retrying() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for name in providers() {
        // A wrong client secret, a wrong password where the spec takes no
        // secret (a user's name and password alone), and a key the mock
        // does not know where the spec signs its requests.
        let wrong = crate::support::wrong_credentials(name);
        let tokens = TokenSource::builder(provider(name, mock.base_url(name)))
            .credentials(wrong)
            .retry_policy(RETRY)
            .build()
            .unwrap();
        let error = tokens.token().await.unwrap_err();
        assert!(
            matches!(&error, Error::CredentialsRejected { code, .. }
                if code.as_deref().is_none_or(|code| code == "invalid_client" || code == "invalid_grant")),
            "{name}: {error:?}"
        );
        assert!(!error.to_string().contains("wrong-secret"), "{name}");
        assert_eq!(mock.requests_received(name), 1, "{name}: not retried");
        assert_eq!(issued(&mock, name), 0, "{name}");
    }
}

#[tokio::test]
async fn every_provider_turns_a_broken_answer_into_a_typed_error() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for name in providers() {
        let clock = Arc::new(ManualClock::default());
        let tokens = source(&mock, name, &clock);
        mock.inject(name, Fault::malformed());
        let error = tokens.token().await.unwrap_err();
        assert!(
            matches!(error, Error::InvalidResponse { .. }),
            "{name}: {error:?}"
        );
        // After the cool-down a failed flight starts, the next answer counts.
        clock.advance(Duration::from_secs(60));
        mock.inject(name, Fault::html(200));
        assert!(tokens.token().await.is_err(), "{name}");
        clock.advance(Duration::from_secs(60));
        assert!(tokens.token().await.is_ok(), "{name}: the real answer");
        assert_eq!(mock.requests_received(name), 3, "{name}");
    }
}
