//! The `tokenmux` facade end to end against the mock, over TCP: the
//! lifecycle (cache, refresh-ahead, single flight, rotation, retries) and
//! secret hygiene. Expiry is driven by a `ManualClock`, not by sleeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokenmux::{Clock as _, Credentials, Error, ManualClock, Provider, RetryPolicy, TokenSource};
use tokenmux_mock::{Fault, Grant, MockConfig, MockServer};

use crate::support::{ID, SECRET, credentials_for, issues_refresh_tokens, provider, providers};

fn source(server: &MockServer, kind: &'static str, clock: &Arc<ManualClock>) -> TokenSource {
    TokenSource::builder(provider(kind, server.base_url(kind)))
        .credentials(credentials_for(kind))
        .clock(clock.clone())
        .build()
        .unwrap()
}

async fn mock() -> MockServer {
    MockServer::start(MockConfig::default()).await.unwrap()
}

fn issued(server: &MockServer, provider: &'static str) -> usize {
    [
        Grant::ClientCredentials,
        Grant::Password,
        Grant::RefreshToken,
    ]
    .into_iter()
    .map(|grant| server.tokens_issued(provider, grant))
    .sum()
}

#[tokio::test]
async fn every_provider_gives_a_token_and_then_serves_it_from_cache() {
    let clock = Arc::new(ManualClock::default());
    // Absolute expiries count from the test's clock.
    let now = clock.clone();
    let server = MockServer::start(MockConfig {
        clock: tokenmux_mock::MockClock::new(move || now.now()),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    for kind in providers() {
        let mocked = kind;
        let tokens = source(&server, kind, &clock);
        let header = tokens.authorization().await.unwrap();
        let header = header.to_str().unwrap();
        let token = header
            .strip_prefix(&crate::support::presentation_prefix(kind))
            .unwrap_or_else(|| panic!("{kind}: {header}"));
        assert!(crate::support::is_mock_token(kind, token), "{kind:?}");
        assert!(tokens.authorization().await.unwrap().is_sensitive());
        let token = tokens.token().await.unwrap();
        // An absolute expiry is in whole seconds: up to one second less.
        let lifetime = token.lifetime().as_secs_f64();
        assert!(
            lifetime > 3599.0 && lifetime <= 3600.0,
            "{kind:?}: {lifetime}"
        );
        assert_eq!(token.refresh_token().is_some(), issues_refresh_tokens(kind));
        assert_eq!(
            server.requests_received(mocked),
            1,
            "{kind:?}: second call from cache"
        );
    }
}

#[tokio::test]
async fn a_thousand_callers_on_an_empty_cache_make_one_request() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&server, "jsonapi", &clock);
    let herd = |tokens: TokenSource| async move {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let tokens = tokens.clone();
                tokio::spawn(async move { tokens.token().await.unwrap() })
            })
            .collect();
        let mut got = Vec::new();
        for task in tasks {
            got.push(task.await.unwrap());
        }
        assert!(
            got.windows(2).all(|w| w[0] == w[1]),
            "everyone got the same token"
        );
        got.pop().unwrap()
    };
    let first = herd(tokens.clone()).await;
    assert_eq!(server.requests_received("jsonapi"), 1);

    // At expiry, the herd again shares one request.
    clock.advance(Duration::from_secs(3600));
    let second = herd(tokens).await;
    assert_ne!(first, second);
    assert_eq!(server.requests_received("jsonapi"), 2);
}

#[tokio::test]
async fn a_stale_token_is_served_at_once_while_one_refresh_runs() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&server, "neonpanel", &clock);
    let old = tokens.token().await.unwrap();

    // Inside the refresh-ahead window (the last 5 min of 1 h), and the
    // refresh will take a while.
    clock.advance(Duration::from_secs(3400));
    server.inject("neonpanel", Fault::delay(Duration::from_millis(500)));
    for _ in 0..100 {
        assert_eq!(
            tokens.token().await.unwrap(),
            old,
            "served without waiting for the refresh"
        );
    }
    // One background refresh, and the new token replaces the old one.
    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        let token = tokens.token().await.unwrap();
        if token != old {
            break token;
        }
        assert!(Instant::now() < deadline, "the background refresh finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(server.requests_received("neonpanel"), 2);
    assert!(new.expires_at() > old.expires_at());
}

#[tokio::test]
async fn without_background_refresh_a_stale_token_is_refreshed_before_returning() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = TokenSource::builder(Provider::jsonapi(server.base_url("jsonapi")))
        .credentials(Credentials::client(ID, SECRET))
        .clock(clock.clone())
        .background_refresh(false)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let old = tokens.token().await.unwrap();
    clock.advance(Duration::from_secs(3400));
    let new = tokens.token().await.unwrap();
    assert_ne!(old, new, "refreshed in the foreground");
    // A failing foreground refresh still serves the valid stale token.
    clock.advance(Duration::from_secs(3400));
    server.inject("jsonapi", Fault::status(503));
    assert_eq!(tokens.token().await.unwrap(), new);
}

#[tokio::test]
async fn a_failed_refresh_keeps_serving_the_valid_token() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = TokenSource::builder(Provider::jsonapi(server.base_url("jsonapi")))
        .credentials(Credentials::client(ID, SECRET))
        .clock(clock.clone())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let old = tokens.token().await.unwrap();
    clock.advance(Duration::from_secs(3400));
    for _ in 0..5 {
        server.inject("jsonapi", Fault::status(503));
    }
    for _ in 0..5 {
        assert_eq!(tokens.token().await.unwrap(), old);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(
        server.requests_received("jsonapi") >= 2,
        "refreshes were tried"
    );
    assert_eq!(issued(&server, "jsonapi"), 1, "and all failed");
}

#[tokio::test]
async fn refresh_tokens_rotate_under_concurrency_and_are_never_reused() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&server, "password", &clock);
    tokens.token().await.unwrap();
    for _ in 0..10 {
        clock.advance(Duration::from_secs(3600));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let tokens = tokens.clone();
                tokio::spawn(async move { tokens.token().await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    }
    // One password grant, then one refresh per lifetime; a reused refresh
    // token would have been refused and shown up as an extra request.
    assert_eq!(server.tokens_issued("password", Grant::Password), 1);
    assert_eq!(server.tokens_issued("password", Grant::RefreshToken), 10);
    assert_eq!(server.requests_received("password"), 11);
}

#[tokio::test]
async fn a_refused_refresh_token_falls_back_to_the_password_grant() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&server, "password", &clock);
    tokens.token().await.unwrap();
    server.revoke_refresh_tokens();
    clock.advance(Duration::from_secs(3600));
    let token = tokens.token().await.unwrap();
    assert!(token.refresh_token().is_some());
    assert_eq!(server.tokens_issued("password", Grant::Password), 2);
    // password, refused refresh, password.
    assert_eq!(server.requests_received("password"), 3);
}

#[tokio::test]
async fn a_refresh_token_is_never_sent_twice_even_after_a_transient_failure() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&server, "password", &clock);
    tokens.token().await.unwrap();
    clock.advance(Duration::from_secs(3600));
    // The refresh grant meets a 429; the next attempt is the password grant.
    server.inject("password", Fault::status(429).retry_after("0"));
    tokens.token().await.unwrap();
    let refresh_tokens_sent: Vec<String> = server
        .requests()
        .iter()
        .filter_map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
        .filter_map(|body| body["refresh_token"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(refresh_tokens_sent.len(), 1, "one refresh attempt");
    assert_eq!(server.tokens_issued("password", Grant::Password), 2);
}

#[tokio::test]
async fn retry_after_is_honoured_then_the_token_arrives() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&server, "jsonapi", &clock);
    server.inject(
        "jsonapi",
        Fault::status(429).retry_after("1").body(
            "application/vnd.api+json",
            r#"{"errors":[{"status":"429"}]}"#,
        ),
    );
    let started = Instant::now();
    tokens.token().await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1),
        "waited {waited:?} for Retry-After: 1"
    );
    assert_eq!(server.requests_received("jsonapi"), 2);
}

#[tokio::test]
async fn server_errors_are_retried_and_rejected_credentials_are_not() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&server, "airalo", &clock);
    server.inject("airalo", Fault::status(500));
    server.inject("airalo", Fault::status(500));
    tokens.token().await.unwrap();
    assert_eq!(server.requests_received("airalo"), 3);

    let wrong = TokenSource::builder(Provider::jsonapi(server.base_url("jsonapi")))
        .credentials(Credentials::client(ID, "wrong"))
        .build()
        .unwrap();
    let error = wrong.token().await.unwrap_err();
    assert!(
        matches!(&error, Error::CredentialsRejected { status, code: Some(code), .. }
            if status.as_u16() == 400 && code == "invalid_client"),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert_eq!(server.requests_received("jsonapi"), 1, "not retried");

    // Exhausted retries surface as the transient error.
    let tokens =
        TokenSource::builder(Provider::neonpanel().with_base_url(server.base_url("neonpanel")))
            .credentials(Credentials::client(ID, SECRET))
            .retry_policy(RetryPolicy {
                max_attempts: 2,
                ..RetryPolicy::default()
            })
            .build()
            .unwrap();
    for _ in 0..2 {
        server.inject("neonpanel", Fault::status(500));
    }
    let error = tokens.token().await.unwrap_err();
    assert!(
        matches!(error, Error::Server { status, .. } if status.as_u16() == 500),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_hanging_server_times_out() {
    let server = mock().await;
    server.inject("neonpanel", Fault::delay(Duration::from_secs(5)));
    let tokens =
        TokenSource::builder(Provider::neonpanel().with_base_url(server.base_url("neonpanel")))
            .credentials(Credentials::client(ID, SECRET))
            .request_timeout(Duration::from_millis(300))
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
    let error = tokens.token().await.unwrap_err();
    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn invalidate_fetches_a_new_token_with_the_refresh_token() {
    let server = mock().await;
    let clock = Arc::new(ManualClock::default());
    let tokens = source(&server, "password", &clock);
    let first = tokens.token().await.unwrap();
    tokens.invalidate();
    let second = tokens.token().await.unwrap();
    assert_ne!(first.secret(), second.secret());
    assert_eq!(server.tokens_issued("password", Grant::RefreshToken), 1);
}

#[tokio::test]
async fn bad_configuration_is_a_clear_error() {
    let no_credentials = TokenSource::builder(Provider::neonpanel())
        .build()
        .unwrap_err();
    assert!(matches!(no_credentials, Error::Config(_)));
    let templated = TokenSource::builder(Provider::jsonapi("{base}"))
        .credentials(Credentials::client(ID, SECRET))
        .build()
        .unwrap_err();
    assert!(
        templated.to_string().contains("give its base URL"),
        "{templated}"
    );
    let not_a_url = TokenSource::builder(Provider::jsonapi("api.example.com"))
        .credentials(Credentials::client(ID, SECRET))
        .build()
        .unwrap_err();
    assert!(
        not_a_url
            .to_string()
            .contains("has no scheme: add https://"),
        "{not_a_url}"
    );
    let wrong_kind = TokenSource::builder(Provider::password("https://auth.example.com"))
        .credentials(Credentials::client(ID, SECRET))
        .build()
        .unwrap_err();
    assert!(
        wrong_kind.to_string().contains(
            "needs client_id, client_secret, username and password: give username and password"
        ),
        "{wrong_kind}"
    );
}
