//! Persistent stores and integration: a file store survives restarts
//! (refresh tokens included) and holds no plaintext secret when encrypted;
//! the reqwest middleware retries once on 401 with a new token.

use std::sync::Arc;
use std::time::Duration;

use tokenmux::{Credentials, EncryptionKey, FileStore, ManualClock, Provider, TokenSource};
use tokenmux_mock::{DEFAULT_PASSWORD, DEFAULT_USERNAME, Fault, Grant, MockConfig, MockServer};

use crate::support::{ID, SECRET};

fn password_source(
    server: &MockServer,
    dir: &std::path::Path,
    clock: &Arc<ManualClock>,
    key: Option<&EncryptionKey>,
) -> TokenSource {
    let mut store = FileStore::new(dir).unwrap();
    if let Some(key) = key {
        store = store.with_encryption(key.clone());
    }
    TokenSource::builder(Provider::password(server.base_url("password")))
        .credentials(Credentials::password(
            ID,
            SECRET,
            DEFAULT_USERNAME,
            DEFAULT_PASSWORD,
        ))
        .store(Arc::new(store))
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_file_store_survives_a_restart_refresh_token_included() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let first = password_source(&server, dir.path(), &clock, None)
        .token()
        .await
        .unwrap();

    // "Restart": a new source on the same directory reuses the token.
    let restarted = password_source(&server, dir.path(), &clock, None);
    assert_eq!(restarted.token().await.unwrap(), first);
    assert_eq!(server.requests_received("password"), 1);

    // Once it expires, the stored refresh token is used, not the password.
    clock.advance(Duration::from_secs(3600));
    let again = password_source(&server, dir.path(), &clock, None);
    let refreshed = again.token().await.unwrap();
    assert_ne!(refreshed.secret(), first.secret());
    assert_eq!(server.tokens_issued("password", Grant::Password), 1);
    assert_eq!(server.tokens_issued("password", Grant::RefreshToken), 1);
}

#[tokio::test]
async fn an_encrypted_file_store_holds_no_secret_bytes() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let key = EncryptionKey::generate();
    let token = password_source(&server, dir.path(), &clock, Some(&key))
        .token()
        .await
        .unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in [
            token.secret().expose_secret(),
            token.refresh_token().unwrap().expose_secret(),
            SECRET,
            DEFAULT_PASSWORD,
        ] {
            assert!(!text.contains(secret), "{} holds a secret", path.display());
            assert!(!path.to_string_lossy().contains(secret));
        }
        checked += 1;
    }
    assert!(checked >= 1, "the token was written");
    // With the key, a restart reads it back; with another key it is ignored
    // (reported) and a new token is fetched.
    let restarted = password_source(&server, dir.path(), &clock, Some(&key));
    assert_eq!(restarted.token().await.unwrap(), token);
    let other = password_source(
        &server,
        dir.path(),
        &clock,
        Some(&EncryptionKey::generate()),
    );
    assert_ne!(other.token().await.unwrap(), token);
    assert_eq!(server.requests_received("password"), 2);
}

#[tokio::test]
async fn expires_in_as_a_numeric_string_is_accepted() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    server.inject(
        "neonpanel",
        Fault::status(200).body(
            "application/json",
            r#"{"token_type":"Bearer","expires_in":"120","access_token":"abc.def"}"#,
        ),
    );
    let tokens =
        TokenSource::builder(Provider::neonpanel().with_base_url(server.base_url("neonpanel")))
            .credentials(Credentials::client(ID, SECRET))
            .build()
            .unwrap();
    assert_eq!(
        tokens.token().await.unwrap().lifetime(),
        Duration::from_secs(120)
    );
}

#[tokio::test]
async fn token_type_may_be_missing_or_lowercase_but_not_another_scheme() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let source = || {
        TokenSource::builder(Provider::password(server.base_url("password")))
            .credentials(Credentials::password(
                ID,
                SECRET,
                DEFAULT_USERNAME,
                DEFAULT_PASSWORD,
            ))
            .retry_policy(tokenmux::RetryPolicy::none())
            .build()
            .unwrap()
    };
    for body in [
        r#"{"access_token":"abc"}"#,
        r#"{"token_type":"bearer","expires_in":60,"access_token":"abc"}"#,
    ] {
        server.inject(
            "password",
            Fault::status(200).body("application/json", body),
        );
        let token = source().token().await.unwrap();
        assert_eq!(token.authorization().to_str().unwrap(), "Bearer abc");
    }
    server.inject(
        "password",
        Fault::status(200).body(
            "application/json",
            r#"{"token_type":"MAC","access_token":"abc"}"#,
        ),
    );
    let error = source().token().await.unwrap_err();
    assert!(
        matches!(error, tokenmux::Error::InvalidResponse { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_middleware_adds_the_token_and_retries_once_on_401() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let tokens = TokenSource::builder(Provider::jsonapi(server.base_url("jsonapi")))
        .credentials(Credentials::client(ID, SECRET))
        .build()
        .unwrap();
    let first = tokens.token().await.unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tokenmux::BearerAuth::new(tokens.clone()))
        .build();
    let response = client
        .get(crate::support::api_refusing_once().await)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let sent = response.text().await.unwrap();
    let second = tokens.token().await.unwrap();
    assert_ne!(first, second, "the refused token was replaced");
    assert_eq!(sent, format!("Bearer {}", second.secret().expose_secret()));
    assert_eq!(server.requests_received("jsonapi"), 2);
}
