//! Hostile and broken servers, against real local servers: redirects are
//! never followed (https to http included), credentials in a base URL are
//! refused, secrets echoed back in any encoding never reach an error,
//! server text cannot break a line or drive a terminal, the status
//! decides before the body's size, `Retry-After` is honoured (or answered
//! at once when it lies past the deadline), ambiguous JSON is refused.

use std::time::{Duration, Instant};

use tokenmux::{Credentials, Error, Provider, RefreshPolicy, RetryPolicy, TokenSource};
use tokenmux_mock::{Fault, MockConfig, MockServer};

use crate::support::{
    Echo, ID, SECRET, Thief, echo_server, leaks, provider, providers, tls_redirector,
};

const PASSWORD: &str = "hostile-PASSWORD-9f3e";

fn credentials(kind: &'static str) -> Credentials {
    crate::support::credentials_with(kind, SECRET, PASSWORD)
}

fn source(kind: &'static str, base: &str) -> TokenSource {
    TokenSource::builder(provider(kind, base))
        .credentials(credentials(kind))
        .retry_policy(RetryPolicy {
            max_attempts: 2,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            deadline: Duration::from_secs(10),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let thief = Thief::start().await;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for mocked in providers() {
        let kind = mocked;
        for status in [301, 302, 303, 307, 308] {
            mock.reset();
            let location = format!("{}/steal?code=QUERY-SECRET", thief.url);
            mock.inject(mocked, Fault::status(status).header("location", &location));
            let error = source(kind, &mock.base_url(mocked))
                .token()
                .await
                .unwrap_err();
            let shown = format!("{error}\n{error:?}");
            assert!(
                matches!(&error, Error::Redirect { status: s, location: Some(host), .. }
                    if s.as_u16() == status && host == "127.0.0.2"),
                "{}: {status}: {shown}",
                mocked
            );
            assert!(
                !shown.contains("QUERY-SECRET") && !shown.contains("steal"),
                "{shown}"
            );
            assert_eq!(mock.requests_received(mocked), 1, "not retried");
        }
    }
    assert_eq!(thief.connections(), 0, "a redirect was followed");
}

#[tokio::test]
async fn an_https_endpoint_redirecting_to_plain_http_is_not_followed() {
    let thief = Thief::start().await;
    for status in [307, 308] {
        let (base, ca) = tls_redirector(status, format!("{}/api/token/", thief.url)).await;
        let tokens = TokenSource::builder(Provider::jsonapi(base.as_str()))
            .credentials(Credentials::client(ID, SECRET))
            .add_root_certificate(ca.clone())
            .build()
            .unwrap();
        let error = tokens.token().await.unwrap_err();
        assert!(matches!(error, Error::Redirect { .. }), "{error:?}");
        assert_eq!(thief.connections(), 0, "the secret went to plain http");

        // A user's client that follows redirects (what the builder's docs
        // warn against): the request went, but its answer is refused.
        let follows = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap();
        let tokens = TokenSource::builder(Provider::jsonapi(base.as_str()))
            .credentials(Credentials::client(ID, SECRET))
            .http_client(follows)
            .build()
            .unwrap();
        let error = tokens.token().await.unwrap_err();
        assert!(
            matches!(&error, Error::Redirect { location: Some(host), .. } if host == "127.0.0.2"),
            "{error:?}"
        );
        assert!(thief.connections() > 0, "that client did follow");
        thief.reset();
    }
}

#[test]
fn credentials_in_a_base_url_are_refused_without_repeating_them() {
    for base in [
        "https://user:hunter2-PASS@auth.example.com",
        "https://hunter2-PASS@auth.example.com/x",
        "http://a:hunter2-PASS@127.0.0.1:9/",
    ] {
        let provider = Provider::jsonapi(base);
        let error = TokenSource::builder(provider.clone())
            .credentials(Credentials::client(ID, SECRET))
            .build()
            .unwrap_err();
        let shown = format!("{error}\n{error:?}");
        assert!(matches!(error, Error::Config(_)), "{shown}");
        assert!(
            shown.contains("credentials") && !shown.contains("hunter2"),
            "{shown}"
        );
        let key = provider.store_key(&Credentials::client(ID, SECRET));
        assert!(!key.as_str().contains("hunter2"), "{key:?}");
        assert!(!format!("{provider:?}").contains("hunter2"), "{provider:?}");
    }
    // A URL that does not parse is not echoed either.
    let error = TokenSource::builder(Provider::jsonapi("https://u:hunter2 PASS@[bad"))
        .credentials(Credentials::client(ID, SECRET))
        .build()
        .unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[tokio::test]
async fn secrets_echoed_in_any_encoding_never_reach_an_error() {
    let mut tried = 0;
    for kind in ["password", "jsonapi", "airalo"] {
        for status in [200, 400, 401, 422, 500] {
            for echo in Echo::ALL {
                let base = echo_server(status, echo).await;
                let error = source(kind, &base).token().await.unwrap_err();
                let shown = format!("{error}\n{error:?}");
                let found = leaks(&shown, ID, &[SECRET, PASSWORD]);
                assert!(
                    found.is_empty(),
                    "{kind:?} {status} {echo:?}: {found:?} in {shown}"
                );
                assert!(!error.to_string().contains(['\r', '\n']), "{shown}");
                tried += 1;
            }
        }
    }
    println!("echoing servers: {tried} tried, no secret in any encoding");
}

/// A client secret and a password with what escaping doubles: quotes,
/// backslashes, `%`, `+`, non-ASCII (no English word: windows of them
/// must not occur in ordinary text).
const NASTY_SECRET: &str = "Qz\"7\\kP%2B+vüW€9j😀Xr";
const NASTY_PASSWORD: &str = "Pw\"4\\mZ%+éq€8Ly";

#[tokio::test]
async fn secrets_echoed_in_nested_encodings_leave_no_fragment_in_errors() {
    let mut tried = 0;
    for kind in ["password", "jsonapi", "airalo", "neonpanel"] {
        let credentials = match kind {
            "password" => Credentials::password(ID, NASTY_SECRET, "alice", NASTY_PASSWORD),
            _ => Credentials::client(ID, NASTY_SECRET),
        };
        for status in [200, 400, 401, 500] {
            for echo in Echo::ALL.into_iter().chain(Echo::NESTED) {
                let base = echo_server(status, echo).await;
                let error = TokenSource::builder(provider(kind, &base))
                    .credentials(credentials.clone())
                    .allow_insecure_http(true)
                    .retry_policy(RetryPolicy {
                        max_attempts: 1,
                        ..RetryPolicy::default()
                    })
                    .build()
                    .unwrap()
                    .token()
                    .await
                    .unwrap_err();
                let shown = format!("{error}\n{error:?}");
                let json = |text: &str| {
                    let quoted = serde_json::to_string(text).unwrap();
                    quoted[1..quoted.len() - 1].to_owned()
                };
                let forms = [NASTY_SECRET, NASTY_PASSWORD]
                    .into_iter()
                    .flat_map(|secret| [secret.to_owned(), json(secret), json(&json(secret))]);
                for form in forms {
                    let chars: Vec<char> = form.chars().collect();
                    for window in chars.windows(6) {
                        let fragment: String = window.iter().collect();
                        assert!(
                            !shown.contains(&fragment),
                            "{kind} {status} {echo:?}: `{fragment}` in {shown}"
                        );
                    }
                }
                let found = leaks(&shown, ID, &[NASTY_SECRET, NASTY_PASSWORD]);
                assert!(found.is_empty(), "{kind} {status} {echo:?}: {found:?}");
                tried += 1;
            }
        }
    }
    println!("nested echoes: {tried} tried, no fragment of a secret shown");
}

#[tokio::test]
async fn server_text_stays_one_line_and_inert() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let hostile = "bad\u{1b}[31mred\r\nX-Injected: yes\u{7}\u{202e}";
    mock.inject(
        "password",
        Fault::status(400).body(
            "application/json",
            &serde_json::json!({"error": hostile, "error_description": hostile}).to_string(),
        ),
    );
    let error = source("password", &mock.base_url("password"))
        .token()
        .await
        .unwrap_err();
    let shown = error.to_string();
    assert!(
        !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
        "{shown:?}"
    );
    assert!(shown.contains(r"\u{1b}[31mred"), "{shown}");
}

#[tokio::test]
async fn malformed_success_bodies_never_show_their_tokens() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let bodies = [
        r#"{"access_token":"LEAK-access-1","refresh_token":"LEAK-refresh-2","id_token":"LEAK-id-3",}"#,
        r#"{"data":{"type":"auth-token","attributes":{"access":"LEAK-access-4","token":"LEAK-5"#,
        r#"access_token=LEAK-access-6&token_type=bearer&refresh_token=LEAK-refresh-7"#,
        r#"{"access_token":"LEAK-a","access_token":"LEAK-b","token_type":"Bearer","expires_in":60}"#,
    ];
    for mocked in providers() {
        let kind = mocked;
        for body in bodies {
            mock.inject(mocked, Fault::status(200).body("application/json", body));
            let error = source(kind, &mock.base_url(mocked))
                .token()
                .await
                .unwrap_err();
            let shown = format!("{error}\n{error:?}");
            assert!(matches!(error, Error::InvalidResponse { .. }), "{shown}");
            assert!(!shown.contains("LEAK"), "{}: {shown}", mocked);
        }
    }
}

#[tokio::test]
async fn duplicate_keys_are_refused_on_every_decoding_path() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    // Strict path (integer expires_in) and lenient path (string expires_in).
    for body in [
        r#"{"token_type":"Bearer","expires_in":60,"access_token":"first","access_token":"second"}"#,
        r#"{"token_type":"Bearer","expires_in":"60","expires_in":"1","access_token":"tok"}"#,
    ] {
        mock.inject(
            "neonpanel",
            Fault::status(200).body("application/json", body),
        );
        let error = source("neonpanel", &mock.base_url("neonpanel"))
            .token()
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::InvalidResponse { reason, .. } if reason.contains("twice")),
            "{error}"
        );
        let decoded = tokenmux::decode_token_response(
            &crate::support::named("neonpanel"),
            200,
            body.as_bytes(),
            std::time::SystemTime::now(),
            &RefreshPolicy::default(),
        );
        assert!(decoded.is_err(), "decode_token_response accepted {body}");
    }
}

#[tokio::test]
async fn the_status_decides_before_the_size_of_the_body() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let page = format!("<html>{}</html>", "x".repeat(100 * 1024));
    for status in [429, 502, 503] {
        mock.reset();
        mock.inject("jsonapi", Fault::status(status).body("text/html", &page));
        let tokens = source("jsonapi", &mock.base_url("jsonapi"));
        assert!(
            tokens.token().await.is_ok(),
            "{status}: retried, then a token"
        );
        assert_eq!(mock.requests_received("jsonapi"), 2, "{status}");
    }
    for status in [401, 403] {
        mock.inject("jsonapi", Fault::status(status).body("text/html", &page));
        let error = source("jsonapi", &mock.base_url("jsonapi"))
            .token()
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::CredentialsRejected { status: s, .. } if s.as_u16() == status),
            "{error:?}"
        );
    }
    // decode_token_response classifies the same way.
    let big = vec![b'x'; 100 * 1024];
    let decode = |status| {
        tokenmux::decode_token_response(
            &crate::support::named("jsonapi"),
            status,
            &big,
            std::time::SystemTime::now(),
            &RefreshPolicy::default(),
        )
        .unwrap_err()
    };
    assert!(decode(503).is_transient());
    assert!(matches!(decode(401), Error::CredentialsRejected { .. }));
}

#[tokio::test]
async fn retry_after_is_honoured_on_503_even_beyond_max_delay() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    mock.inject("airalo", Fault::status(503).retry_after("1"));
    let started = Instant::now();
    // max_delay is 50 ms: the endpoint's 1 s wins.
    assert!(
        source("airalo", &mock.base_url("airalo"))
            .token()
            .await
            .is_ok()
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(mock.requests_received("airalo"), 2);
}

#[tokio::test]
async fn a_retry_after_past_the_deadline_is_returned_at_once() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    for fault in [Fault::status(429), Fault::status(503)] {
        mock.reset();
        mock.inject("neonpanel", fault.retry_after("3600"));
        let started = Instant::now();
        let error = source("neonpanel", &mock.base_url("neonpanel"))
            .token()
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            error.retry_after(),
            Some(Duration::from_secs(3600)),
            "{error:?}"
        );
        assert!(error.to_string().contains("retry after 3600s"), "{error}");
        assert_eq!(mock.requests_received("neonpanel"), 1);
    }
}

#[test]
fn nonsense_policies_are_configuration_errors() {
    let build = |refresh: RefreshPolicy, retry: RetryPolicy| {
        TokenSource::builder(Provider::neonpanel())
            .credentials(Credentials::client(ID, SECRET))
            .refresh_policy(refresh)
            .retry_policy(retry)
            .build()
    };
    for fraction in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
        let refresh = RefreshPolicy {
            refresh_ahead_fraction: fraction,
            ..RefreshPolicy::default()
        };
        assert!(
            matches!(
                build(refresh, RetryPolicy::default()),
                Err(Error::Config(_))
            ),
            "{fraction}"
        );
    }
    let zero = RetryPolicy {
        max_attempts: 0,
        ..RetryPolicy::default()
    };
    assert!(matches!(
        build(RefreshPolicy::default(), zero),
        Err(Error::Config(_))
    ));
}
