//! The fault matrix: every provider × every fault, with the exact outcome
//! (a token after retrying, or a given error), first with an empty cache,
//! then with a valid cached token in its refresh window, which must still
//! be served when the refresh fails (for the password provider, whose
//! refresh token a failed refresh may have spent, a new token from the
//! password grant). One table, one test per provider; each prints a
//! summary line.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokenmux::endpoint::{BodyEncoding, ExpiryForm};
use tokenmux::{AccessToken, Clock as _, Error, ManualClock, RetryPolicy, TokenSource};
use tokenmux_mock::{Fault, MockClock, MockConfig, MockServer};

use crate::support::{
    ResettingProxy, issues_refresh_tokens, provider, providers, success_body_raw,
    token_part_required,
};

/// The mock's token lifetime, and how far into it the cached token is
/// stale but valid (the refresh window is the last 10 %).
const LIFETIME: Duration = Duration::from_secs(3600);
const INTO_REFRESH_WINDOW: Duration = Duration::from_secs(3300);
const TEN_YEARS: Duration = Duration::from_secs(315_360_000);

pub(crate) struct Rig {
    pub(crate) mock: MockServer,
    proxy: ResettingProxy,
    pub(crate) clock: Arc<ManualClock>,
    provider: &'static str,
    client_secret: String,
    password: String,
}

impl Rig {
    async fn start(provider: &'static str) -> Self {
        Self::with_config(provider, MockConfig::default()).await
    }

    /// A rig whose mock expects the credentials in `config`.
    pub(crate) async fn with_config(provider: &'static str, config: MockConfig) -> Self {
        let client_secret = config.client.client_secret.clone();
        let password = config.password.clone();
        // Absolute expiries count from the rig's clock, which tests advance.
        let clock = Arc::new(ManualClock::default());
        let now = clock.clone();
        let mock = MockServer::start(MockConfig {
            token_lifetime: LIFETIME,
            clock: MockClock::new(move || now.now()),
            ..config
        })
        .await
        .unwrap();
        let proxy = ResettingProxy::start(mock.addr()).await;
        Self {
            mock,
            proxy,
            clock,
            provider,
            client_secret,
            password,
        }
    }

    pub(crate) fn source(&self) -> TokenSource {
        let kind = self.provider;
        let credentials =
            crate::support::credentials_with(kind, &self.client_secret, &self.password);
        let base = self.proxy.url(&self.mock.base_url(self.provider));
        TokenSource::builder(provider(kind, base.as_str()))
            .credentials(credentials)
            .clock(self.clock.clone())
            .background_refresh(false)
            // Short for the hang row, long enough that a loaded machine
            // does not time out an ordinary exchange.
            .request_timeout(Duration::from_millis(1500))
            .retry_policy(RetryPolicy {
                max_attempts: 3,
                initial_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(1500),
                deadline: Duration::from_secs(10),
                ..RetryPolicy::default()
            })
            .build()
            .unwrap()
    }

    fn inject(&self, fault: Fault) {
        self.mock.inject(self.provider, fault);
    }

    /// A 200 answer carrying an error in the spec's error shape (its
    /// `x-tokenmux-error` pointers, else OAuth's `error`), as some vendors
    /// send refusals.
    fn error_with_200(&self, code: &str) -> Fault {
        let spec = crate::support::named(self.provider).spec();
        let mut body = json!({});
        let code_at = spec.error.code.first().copied().unwrap_or("/error");
        let message_at = spec.error.message.first().copied();
        tokenmux::endpoint::set_pointer(&mut body, code_at, code.into());
        tokenmux::endpoint::set_pointer(
            &mut body,
            message_at.unwrap_or("/error_description"),
            "fm-refused-with-200".into(),
        );
        let media = spec.grants[0].wire.accept.unwrap_or("application/json");
        Fault::status(200).body(media, &body.to_string())
    }

    /// A 200 answer with a body in the provider's envelope, whose token
    /// fields are the JSON object text `fields` verbatim (duplicate keys
    /// survive).
    fn answer_raw(&self, fields: &str) -> Fault {
        let (content_type, text) = success_body_raw(self.provider, fields);
        Fault::status(200).body(content_type, &text)
    }

    /// A 200 answer with these token fields (canonical names), in the
    /// provider's documented envelope and media type.
    fn answer(&self, fields: Value) -> Fault {
        let (content_type, body) = envelope(self.provider, fields);
        Fault::status(200).body(content_type, &body.to_string())
    }
}

/// The provider's success body around `fields` (`access_token`,
/// `token_type`, `expires_in`, as the OAuth2 names them, and any other
/// field beside them), in its documented media type.
fn envelope(provider: &'static str, fields: Value) -> (&'static str, Value) {
    let mut fields = fields.as_object().cloned().unwrap_or_default();
    if issues_refresh_tokens(provider) {
        fields.insert("refresh_token".into(), json!("fault-matrix-refresh"));
    }
    let (media, text) = success_body_raw(provider, &Value::Object(fields).to_string());
    (media, serde_json::from_str(&text).unwrap())
}

/// What a row must produce from an empty cache.
pub(crate) enum Expect {
    /// A token satisfying the check, after this many requests reached the mock.
    Token {
        requests: usize,
        check: fn(&AccessToken) -> bool,
    },
    /// This error, after one request (not retried).
    Error(fn(&Error) -> bool),
}

pub(crate) struct Row {
    pub(crate) fault: &'static str,
    pub(crate) inject: fn(&Rig),
    pub(crate) expect: Expect,
}

/// The rows that write a token body in the OAuth shape: the token in a
/// JSON body, its lifetime as `expires_in` seconds. Their expectations
/// hold for a provider of that shape; another (a token in a header, a
/// lifetime in milliseconds or as a time, none at all, a form answer)
/// meets these faults in its own tests (`tokenmux_wire`'s expiry, form
/// and header tests, `exchange`, the mock's) and the other rows here.
const OAUTH_BODY_ROWS: [&str; 13] = [
    "an error in the spec's error shape with status 200",
    "JSON with wrong types",
    "missing access token",
    "expires_in as a string",
    "expires_in negative",
    "expires_in absurdly large",
    "expires_in missing",
    "token_type missing",
    "token_type lowercase",
    "10 MB body",
    "malformed 200 body carrying tokens",
    "duplicate keys in a token body",
    "invalid UTF-8",
];

impl Row {
    /// Whether this row applies to `provider`'s shape.
    pub(crate) fn applies_to(&self, provider: &str) -> bool {
        oauth_shaped(provider) || !OAUTH_BODY_ROWS.contains(&self.fault)
    }
}

/// A JSON answer with the token in the body and `expires_in` in seconds.
fn oauth_shaped(provider: &str) -> bool {
    let spec = crate::support::named(provider).spec();
    spec.token.access_token_header.is_none()
        && spec.grants[0].wire.response == BodyEncoding::Json
        && spec
            .token
            .expiry
            .is_some_and(|expiry| expiry.form == ExpiryForm::InSeconds)
}

fn is_redirect(error: &Error) -> bool {
    matches!(error, Error::Redirect { location: Some(host), .. } if host == "127.0.0.2")
        && !error.to_string().contains("steal")
}

/// A redirect to another host (nothing listens there: following it would
/// be a transport error, not a redirect).
fn redirect(status: u16) -> Fault {
    Fault::status(status).header("location", "http://127.0.0.2:9/steal?code=x")
}

/// A proxy's error page over the 64 KiB body cap.
fn big_page() -> String {
    format!("<html><body>{}</body></html>", "x".repeat(100 * 1024))
}

fn any_token(_: &AccessToken) -> bool {
    true
}

fn invalid_response(error: &Error) -> bool {
    matches!(error, Error::InvalidResponse { .. })
}

pub(crate) fn rows() -> Vec<Row> {
    let retried = |requests| Expect::Token {
        requests,
        check: any_token,
    };
    vec![
        Row {
            fault: "500",
            inject: |r| r.inject(Fault::status(500)),
            expect: retried(2),
        },
        Row {
            fault: "502",
            inject: |r| r.inject(Fault::status(502)),
            expect: retried(2),
        },
        Row {
            fault: "503 with an HTML body",
            inject: |r| r.inject(Fault::html(503)),
            expect: retried(2),
        },
        Row {
            fault: "429 Retry-After: 1",
            inject: |r| r.inject(Fault::status(429).retry_after("1")),
            expect: retried(2),
        },
        Row {
            fault: "429 Retry-After: <HTTP date>",
            inject: |r| {
                let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(1));
                r.inject(Fault::status(429).retry_after(&date))
            },
            expect: retried(2),
        },
        Row {
            fault: "429 without Retry-After",
            inject: |r| r.inject(Fault::status(429)),
            expect: retried(2),
        },
        Row {
            fault: "connection reset",
            // The reset connection never reaches the mock.
            inject: |r| r.proxy.reset_next(1),
            expect: retried(1),
        },
        Row {
            fault: "hang beyond the request timeout",
            inject: |r| r.inject(Fault::hang()),
            expect: retried(2),
        },
        Row {
            fault: "truncated body",
            inject: |r| r.inject(Fault::truncated()),
            expect: retried(2),
        },
        Row {
            fault: "HTML page with status 200",
            inject: |r| r.inject(Fault::html(200)),
            expect: Expect::Error(invalid_response),
        },
        Row {
            fault: "an error in the spec's error shape with status 200",
            // Not `invalid_client`: the test secret shares "client" with it,
            // so the scrubber would (rightly) withhold the code.
            inject: |r| r.inject(r.error_with_200("invalid_grant")),
            expect: Expect::Error(|error| {
                matches!(error, Error::CredentialsRejected { code: Some(code), message: Some(m), .. }
                    if code == "invalid_grant" && m == "fm-refused-with-200")
            }),
        },
        Row {
            fault: "JSON with wrong types",
            inject: |r| {
                r.inject(r.answer(
                    json!({"access_token": 12345, "token_type": ["Bearer"], "expires_in": {}}),
                ))
            },
            expect: Expect::Error(invalid_response),
        },
        Row {
            fault: "missing access token",
            inject: |r| r.inject(r.answer(json!({"token_type": "Bearer", "expires_in": 3600}))),
            expect: Expect::Error(invalid_response),
        },
        Row {
            fault: "expires_in as a string",
            inject: |r| {
                r.inject(r.answer(json!({"access_token": "fm-string", "token_type": "Bearer", "expires_in": "1800"})))
            },
            expect: Expect::Token {
                requests: 1,
                check: |t| t.lifetime() == Duration::from_secs(1800),
            },
        },
        Row {
            fault: "expires_in negative",
            inject: |r| {
                r.inject(r.answer(json!({"access_token": "fm-negative", "token_type": "Bearer", "expires_in": -60})))
            },
            expect: Expect::Error(invalid_response),
        },
        Row {
            fault: "expires_in absurdly large",
            inject: |r| {
                r.inject(r.answer(
                    json!({"access_token": "fm-huge", "token_type": "Bearer", "expires_in": 1e30}),
                ))
            },
            expect: Expect::Token {
                requests: 1,
                check: |t| t.lifetime() <= TEN_YEARS,
            },
        },
        Row {
            fault: "expires_in missing",
            inject: |r| {
                r.inject(r.answer(json!({"access_token": "fm-no-expiry", "token_type": "Bearer"})))
            },
            // RefreshPolicy::default_lifetime.
            expect: Expect::Token {
                requests: 1,
                check: |t| t.lifetime() == Duration::from_secs(3600),
            },
        },
        Row {
            fault: "token_type missing",
            inject: |r| {
                r.inject(r.answer(json!({"access_token": "fm-no-type", "expires_in": 600})))
            },
            expect: Expect::Token {
                requests: 1,
                check: |t| t.token_type() == "Bearer",
            },
        },
        Row {
            fault: "token_type lowercase",
            inject: |r| {
                r.inject(r.answer(
                    json!({"access_token": "fm-lower", "token_type": "bearer", "expires_in": 600}),
                ))
            },
            expect: Expect::Token {
                requests: 1,
                check: |t| t.token_type() == "Bearer",
            },
        },
        Row {
            fault: "10 MB body",
            inject: |r| {
                let padding = "x".repeat(10 * 1024 * 1024);
                r.inject(r.answer(json!({"access_token": "fm-big", "padding": padding})))
            },
            expect: Expect::Error(
                |e| matches!(e, Error::InvalidResponse { reason, .. } if reason.contains("larger than 65536 bytes")),
            ),
        },
        Row {
            fault: "301 redirect",
            inject: |r| r.inject(redirect(301)),
            expect: Expect::Error(is_redirect),
        },
        Row {
            fault: "302 redirect",
            inject: |r| r.inject(redirect(302)),
            expect: Expect::Error(is_redirect),
        },
        Row {
            fault: "303 redirect",
            inject: |r| r.inject(redirect(303)),
            expect: Expect::Error(is_redirect),
        },
        Row {
            fault: "307 redirect",
            inject: |r| r.inject(redirect(307)),
            expect: Expect::Error(is_redirect),
        },
        Row {
            fault: "308 redirect",
            inject: |r| r.inject(redirect(308)),
            expect: Expect::Error(is_redirect),
        },
        Row {
            fault: "429 with a 100 KB body",
            inject: |r| r.inject(Fault::status(429).body("text/html", &big_page())),
            expect: retried(2),
        },
        Row {
            fault: "502 with a 100 KB body",
            inject: |r| r.inject(Fault::status(502).body("text/html", &big_page())),
            expect: retried(2),
        },
        Row {
            fault: "503 with a 100 KB body and Retry-After: 1",
            inject: |r| {
                r.inject(
                    Fault::status(503)
                        .body("text/html", &big_page())
                        .retry_after("1"),
                )
            },
            expect: retried(2),
        },
        Row {
            fault: "401 with a 100 KB body",
            inject: |r| r.inject(Fault::status(401).body("text/html", &big_page())),
            expect: Expect::Error(
                |e| matches!(e, Error::CredentialsRejected { status, .. } if status.as_u16() == 401),
            ),
        },
        Row {
            fault: "503 Retry-After: 1",
            inject: |r| r.inject(Fault::status(503).retry_after("1")),
            expect: retried(2),
        },
        Row {
            fault: "malformed 200 body carrying tokens",
            inject: |r| {
                r.inject(Fault::status(200).body(
                    "application/json",
                    r#"{"access_token":"LEAK-access","refresh_token":"LEAK-refresh","data":{"attributes":{"access":"LEAK-jsonapi"}},}"#,
                ))
            },
            expect: Expect::Error(|e| invalid_response(e) && !format!("{e}{e:?}").contains("LEAK")),
        },
        Row {
            fault: "duplicate keys in a token body",
            inject: |r| {
                r.inject(r.answer_raw(
                    r#"{"access_token":"fm-first","access_token":"fm-second","token_type":"Bearer","expires_in":600}"#,
                ))
            },
            expect: Expect::Error(
                |e| matches!(e, Error::InvalidResponse { reason, .. } if reason.contains("twice")),
            ),
        },
        Row {
            fault: "invalid UTF-8",
            inject: |r| {
                let (content_type, _) = envelope(r.provider, json!({}));
                let mut body = br#"{"access_token": ""#.to_vec();
                body.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
                body.extend_from_slice(br#"", "expires_in": 60}"#);
                r.inject(Fault::status(200).body_bytes(content_type, body))
            },
            expect: Expect::Error(invalid_response),
        },
    ]
}

async fn matrix(provider: &'static str) {
    let rig = Rig::start(provider).await;
    let rows = rows();
    let mut failures = Vec::new();
    for row in rows.iter().filter(|row| row.applies_to(provider)) {
        // From an empty cache: the exact outcome.
        rig.mock.reset();
        let tokens = rig.source();
        (row.inject)(&rig);
        let outcome = tokens.token().await;
        let requests = rig.mock.requests_received(provider);
        // A spec that requires `token_type` (RFC 6749 §5.1 does) refuses
        // a body without it; the others default it to Bearer.
        let required_missing = Expect::Error(invalid_response);
        let expect = match row.fault {
            "token_type missing" if token_part_required(provider, "token_type") => {
                &required_missing
            }
            // A spec that requires the lifetime (RFC 6749 only recommends
            // it) refuses a body without it.
            "expires_in missing" if token_part_required(provider, "expires_in") => {
                &required_missing
            }
            _ => &row.expect,
        };
        let as_expected = match (expect, &outcome) {
            (Expect::Token { requests: n, check }, Ok(token)) => requests == *n && check(token),
            (Expect::Error(check), Err(error)) => requests == 1 && check(error),
            _ => false,
        };
        if !as_expected {
            failures.push(format!(
                "{}: empty cache: {outcome:?} after {requests} requests",
                row.fault
            ));
        }

        // With a valid token in its refresh window: a refresh that fails
        // leaves it in use; one that succeeds replaces it.
        rig.mock.reset();
        let tokens = rig.source();
        let cached = tokens.token().await.unwrap();
        rig.clock.advance(INTO_REFRESH_WINDOW);
        (row.inject)(&rig);
        let served = tokens.token().await;
        let as_expected = match (expect, &served) {
            (Expect::Token { .. }, Ok(token)) => token.secret() != cached.secret(),
            // The refresh grant's answer was unusable, but the request may
            // have spent the refresh token: the password grant gets a new
            // one at once.
            (Expect::Error(_), Ok(token)) if issues_refresh_tokens(provider) => {
                token.secret() != cached.secret() && rig.mock.requests_received(provider) == 3
            }
            (Expect::Error(_), Ok(token)) => token == &cached,
            (_, Err(_)) => false,
        };
        if !as_expected {
            failures.push(format!("{}: cached token: {served:?}", row.fault));
        }
    }

    // A 401 from an API with the cached token: invalidated, one retry.
    rig.mock.reset();
    let tokens = rig.source();
    let first = tokens.token().await.unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(tokenmux::BearerAuth::new(tokens.clone()))
        .build();
    let presentation = crate::support::named(provider).spec().presentation;
    let header = presentation.header.to_ascii_lowercase().leak();
    let api = crate::support::api_refusing_once_reading(header).await;
    let response = client.get(api).send().await.unwrap();
    let second = tokens.token().await.unwrap();
    let sent = response.text().await.unwrap_or_default();
    if !(second != first
        && sent == presentation.value(second.secret().expose_secret())
        && rig.mock.requests_received(provider) == 2)
    {
        failures.push("401 with a cached token: not invalidated and retried once".into());
    }

    let tried = rows.len() + 1;
    println!(
        "fault matrix {}: {tried} faults tried (each from an empty cache and with a cached token), {} outcomes as expected",
        provider,
        tried - failures.len().min(tried)
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn fault_matrix_neonpanel() {
    matrix("neonpanel").await;
}

#[tokio::test]
async fn fault_matrix_airalo() {
    matrix("airalo").await;
}

#[tokio::test]
async fn fault_matrix_jsonapi() {
    matrix("jsonapi").await;
}

#[tokio::test]
async fn fault_matrix_password() {
    matrix("password").await;
}

/// Every provider added by a spec since (none in this tree: a new spec
/// plus `cargo xtask regen` puts one here with no edit).
#[tokio::test]
async fn fault_matrix_every_other_provider() {
    for provider in providers() {
        if !["neonpanel", "airalo", "jsonapi", "password"].contains(&provider) {
            matrix(provider).await;
        }
    }
}
