//! One token request to a provider through its generated client, and the
//! normalisation of its answer into an [`AccessToken`] or an [`Error`].

// With some provider features off, the shared set-up of `request` and the
// error helpers are used by fewer arms, or none.
#![cfg_attr(
    not(all(
        feature = "neonpanel",
        feature = "airalo",
        feature = "jsonapi",
        feature = "password"
    )),
    allow(unused_imports, unused_variables, dead_code)
)]

use std::time::{Duration, SystemTime};

use progenitor_client::{Error as ClientError, ResponseValue};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;
use tokenmux_wire::{BodyLimitExceeded, ClientConfig, Secret, buffered_body};

use crate::{AccessToken, Credentials, Error, Provider, ProviderKind, RefreshPolicy};

/// Which grant to use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Grant<'a> {
    /// The provider's primary grant (client credentials, or password).
    Primary,
    /// The OAuth2 refresh token grant.
    Refresh(&'a Secret),
}

/// A token response as the provider sent it, before normalisation.
pub(crate) struct Issued {
    pub access_token: Secret,
    pub token_type: Option<String>,
    pub expires_in: Option<f64>,
    pub refresh_token: Option<Secret>,
}

/// Everything one exchange needs.
pub(crate) struct Exchange<'a> {
    pub provider: &'a Provider,
    pub credentials: &'a Credentials,
    pub http: &'a reqwest::Client,
    pub max_response_bytes: usize,
}

impl Exchange<'_> {
    /// One request, no retries.
    pub(crate) async fn request(&self, grant: Grant<'_>) -> Result<Issued, Error> {
        let base = self.provider.base_url();
        let config = ClientConfig::default().with_max_response_bytes(self.max_response_bytes);
        let scrub = Scrubber::new(self.credentials, grant);
        let id = self.credentials.client_id().to_owned();
        let secret = self.credentials.client_secret().clone();
        match (self.provider.kind(), grant) {
            #[cfg(feature = "neonpanel")]
            (ProviderKind::NeonPanel, Grant::Primary) => {
                use tokenmux_neonpanel::{Client, types};
                let body = types::LoginRequest {
                    client_id: id,
                    client_secret: secret,
                };
                let response = Client::new_with_client(base, self.http.clone(), config)
                    .login()
                    .body(body)
                    .send()
                    .await;
                ok(response, &scrub).map(Issued::from)
            }
            #[cfg(feature = "airalo")]
            (ProviderKind::Airalo, Grant::Primary) => {
                use tokenmux_airalo::{Client, types};
                let body = types::V2TokenPostRequest {
                    client_id: id,
                    client_secret: secret,
                    grant_type: types::V2TokenPostRequestGrantType::ClientCredentials,
                };
                let response = Client::new_with_client(base, self.http.clone(), config)
                    .v2_token_post()
                    .body(body)
                    .send()
                    .await;
                ok(response, &scrub).map(Issued::from)
            }
            #[cfg(feature = "jsonapi")]
            (ProviderKind::JsonApi, Grant::Primary) => {
                use tokenmux_jsonapi::{Client, types};
                let body = types::TokenRequestDocument {
                    data: types::TokenRequestData {
                        type_: types::TokenRequestDataType::AuthToken,
                        attributes: types::TokenRequestAttributes {
                            client_id: id,
                            client_secret: secret,
                        },
                    },
                };
                let response = Client::new_with_client(base, self.http.clone(), config)
                    .obtain_token()
                    .body(body)
                    .send()
                    .await;
                ok(response, &scrub).map(Issued::from)
            }
            #[cfg(feature = "password")]
            (ProviderKind::Password, grant) => {
                use tokenmux_password::{BasicAuth, Client, types};
                let body = match (grant, self.credentials) {
                    (Grant::Refresh(refresh_token), _) => {
                        types::TokenRequest::RefreshTokenGrant(types::RefreshTokenGrant {
                            grant_type: types::RefreshTokenGrantGrantType::RefreshToken,
                            refresh_token: refresh_token.clone(),
                        })
                    }
                    (
                        Grant::Primary,
                        Credentials::Password {
                            username, password, ..
                        },
                    ) => types::TokenRequest::PasswordGrant(types::PasswordGrant {
                        grant_type: types::PasswordGrantGrantType::Password,
                        username: username.clone(),
                        password: password.clone(),
                    }),
                    (Grant::Primary, Credentials::Client { .. }) => {
                        return Err(Error::Config(
                            "the password provider needs Credentials::password \
                             (client id and secret, username and password)"
                                .into(),
                        ));
                    }
                };
                let config = config.with_basic_auth(BasicAuth::new(id, secret));
                let response = Client::new_with_client(base, self.http.clone(), config)
                    .oauth_token()
                    .body(body)
                    .send()
                    .await;
                ok(response, &scrub).map(Issued::from)
            }
            #[allow(unreachable_patterns)]
            (_, Grant::Refresh(_)) => Err(Error::Config(format!(
                "{} issues no refresh tokens",
                self.provider.kind().name()
            ))),
            #[allow(unreachable_patterns)]
            (kind, _) => Err(Error::Config(format!(
                "provider `{}` is not compiled in: enable the cargo feature `{}`",
                kind.name(),
                kind.name()
            ))),
        }
    }
}

// What each provider's documented success body says, in one shape.

#[cfg(feature = "neonpanel")]
impl From<tokenmux_neonpanel::types::LoginResponse> for Issued {
    fn from(t: tokenmux_neonpanel::types::LoginResponse) -> Self {
        Self {
            access_token: t.access_token,
            token_type: t.token_type,
            expires_in: t.expires_in.map(|s| s as f64),
            refresh_token: None,
        }
    }
}

#[cfg(feature = "airalo")]
impl From<tokenmux_airalo::types::V2TokenPost200Response> for Issued {
    fn from(t: tokenmux_airalo::types::V2TokenPost200Response) -> Self {
        Self {
            access_token: t.data.access_token,
            token_type: t.data.token_type,
            expires_in: t.data.expires_in.map(|s| s as f64),
            refresh_token: None,
        }
    }
}

#[cfg(feature = "jsonapi")]
impl From<tokenmux_jsonapi::types::TokenResponseDocument> for Issued {
    fn from(t: tokenmux_jsonapi::types::TokenResponseDocument) -> Self {
        let t = t.data.attributes;
        Self {
            access_token: t.access,
            token_type: t.token_type,
            expires_in: t.expires_in,
            refresh_token: None,
        }
    }
}

#[cfg(feature = "password")]
impl From<tokenmux_password::types::TokenResponse> for Issued {
    fn from(t: tokenmux_password::types::TokenResponse) -> Self {
        Self {
            access_token: t.access_token,
            token_type: t.token_type,
            expires_in: t.expires_in.map(|s| s as f64),
            refresh_token: t.refresh_token,
        }
    }
}

/// Decodes a token endpoint's answer as a [`TokenSource`](crate::TokenSource)
/// does: a 200 body is decoded into the provider's generated type (a
/// numeric-string `expires_in` accepted) and normalised into an
/// [`AccessToken`] obtained at `now`; any other status becomes the
/// [`Error`] a caller would get. Never panics, whatever the bytes; bodies
/// over 64 KiB are refused. For tests, fuzzing, and tools that got the
/// response some other way.
///
/// ```
/// use std::time::SystemTime;
/// use tokenmux::{decode_token_response, Error, ProviderKind, RefreshPolicy};
///
/// let body = br#"{"token_type":"Bearer","expires_in":3600,"access_token":"abc"}"#;
/// let token = decode_token_response(ProviderKind::NeonPanel, 200, body, SystemTime::now(), &RefreshPolicy::default())?;
/// assert_eq!(token.secret().expose_secret(), "abc");
///
/// let refused = decode_token_response(ProviderKind::Password, 400, br#"{"error":"invalid_grant"}"#, SystemTime::now(), &RefreshPolicy::default());
/// assert_eq!(refused.unwrap_err().provider_code(), Some("invalid_grant"));
/// # Ok::<(), Error>(())
/// ```
pub fn decode_token_response(
    kind: ProviderKind,
    status: u16,
    body: &[u8],
    now: SystemTime,
    policy: &RefreshPolicy,
) -> Result<AccessToken, Error> {
    let limit = tokenmux_wire::DEFAULT_MAX_RESPONSE_BYTES;
    if body.len() > limit {
        return Err(Error::InvalidResponse {
            reason: format!("the body is larger than {limit} bytes (HTTP {status})"),
            excerpt: None,
        });
    }
    let scrub = Scrubber {
        secrets: Vec::new(),
    };
    let status = StatusCode::from_u16(status).map_err(|_| Error::InvalidResponse {
        reason: format!("{status} is not an HTTP status"),
        excerpt: None,
    })?;
    if status != StatusCode::OK {
        let (code, message) = generic_error_fields(body);
        if status.is_success() {
            return Err(Error::InvalidResponse {
                reason: format!("undocumented success status {status}"),
                excerpt: Some(scrub.excerpt(body)),
            });
        }
        return Err(by_status(status, None, code, message));
    }
    let issued = match kind {
        #[cfg(feature = "neonpanel")]
        ProviderKind::NeonPanel => {
            decode::<tokenmux_neonpanel::types::LoginResponse>(body, &scrub).map(Issued::from)
        }
        #[cfg(feature = "airalo")]
        ProviderKind::Airalo => {
            decode::<tokenmux_airalo::types::V2TokenPost200Response>(body, &scrub).map(Issued::from)
        }
        #[cfg(feature = "jsonapi")]
        ProviderKind::JsonApi => {
            decode::<tokenmux_jsonapi::types::TokenResponseDocument>(body, &scrub).map(Issued::from)
        }
        #[cfg(feature = "password")]
        ProviderKind::Password => {
            decode::<tokenmux_password::types::TokenResponse>(body, &scrub).map(Issued::from)
        }
        #[allow(unreachable_patterns)]
        kind => Err(Error::Config(format!(
            "provider `{}` is not compiled in: enable the cargo feature `{}`",
            kind.name(),
            kind.name()
        ))),
    }?;
    normalise(issued, now, policy)
}

/// A documented success body, as the generated client decodes it (then
/// leniently, as [`ok`] does).
fn decode<T: DeserializeOwned>(body: &[u8], scrub: &Scrubber) -> Result<T, Error> {
    serde_json::from_slice(body)
        .or_else(|error| lenient(body).ok_or(error))
        .map_err(|error| Error::InvalidResponse {
            reason: format!(
                "the body does not match the documented schema: {}",
                scrub.text(&error.to_string())
            ),
            excerpt: Some(scrub.excerpt(body)),
        })
}

/// Turns an issued token into an [`AccessToken`], checking what the
/// provider sent: a header-safe token, a bearer type, a sane lifetime.
pub(crate) fn normalise(
    issued: Issued,
    now: SystemTime,
    policy: &RefreshPolicy,
) -> Result<AccessToken, Error> {
    let invalid = |reason: &str| Error::InvalidResponse {
        reason: reason.to_owned(),
        excerpt: None,
    };
    let token = issued.access_token.expose_secret();
    if token.is_empty() {
        return Err(invalid("the access token is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "the access token has characters a header cannot carry",
        ));
    }
    if let Some(kind) = &issued.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(invalid("the token type is not Bearer"));
    }
    let expires_in = match issued.expires_in {
        None => None,
        Some(seconds) if !seconds.is_finite() || seconds < 0.0 => {
            return Err(invalid("expires_in is negative or not a number"));
        }
        // Anything beyond ten years is nonsense; cap rather than overflow.
        Some(seconds) => Some(Duration::from_secs_f64(seconds.min(315_360_000.0))),
    };
    let lifetime = policy.effective_lifetime(expires_in);
    Ok(AccessToken::new(issued.access_token, now, lifetime)
        .with_refresh_token(issued.refresh_token))
}

/// What a provider's typed error body says.
trait ErrorBody {
    fn code(&self) -> Option<String>;
    fn message(&self) -> Option<String>;
}

#[cfg(feature = "neonpanel")]
impl ErrorBody for tokenmux_neonpanel::types::ServerError {
    fn code(&self) -> Option<String> {
        None
    }
    fn message(&self) -> Option<String> {
        self.0
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_owned)
    }
}

#[cfg(feature = "airalo")]
impl ErrorBody for tokenmux_airalo::types::V2TokenPost422Response {
    fn code(&self) -> Option<String> {
        None
    }
    fn message(&self) -> Option<String> {
        self.meta.as_ref().and_then(|m| m.message.clone())
    }
}

#[cfg(feature = "jsonapi")]
impl ErrorBody for tokenmux_jsonapi::types::ErrorDocument {
    fn code(&self) -> Option<String> {
        self.errors.first().and_then(|e| e.code.clone())
    }
    fn message(&self) -> Option<String> {
        self.errors
            .first()
            .and_then(|e| e.detail.clone().or_else(|| e.title.clone()))
    }
}

#[cfg(feature = "password")]
impl ErrorBody for tokenmux_password::types::OAuthError {
    fn code(&self) -> Option<String> {
        self.error.clone()
    }
    fn message(&self) -> Option<String> {
        self.error_description.clone()
    }
}

/// The success value, or the error classified.
fn ok<T: DeserializeOwned, E: ErrorBody>(
    response: Result<ResponseValue<T>, ClientError<E>>,
    scrub: &Scrubber,
) -> Result<T, Error> {
    match response {
        Ok(value) => Ok(value.into_inner()),
        Err(ClientError::InvalidResponsePayload(body, error)) => lenient(&body)
            .ok_or_else(|| classify(ClientError::<E>::InvalidResponsePayload(body, error), scrub)),
        Err(error) => Err(classify(error, scrub)),
    }
}

/// Servers often send `expires_in` as a numeric string (`"3600"`), or as a
/// number the generated integer type cannot hold (`3600.0`, `1e30`); the
/// documents say integer. Accept both by converting to an integer
/// (clamped; [`normalise`] caps the lifetime), then decoding with the
/// generated type as usual.
fn lenient<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    fn numeric_expires_in(value: &mut serde_json::Value) -> bool {
        let mut changed = false;
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    let seconds = match &*value {
                        serde_json::Value::String(text) => text.trim().parse::<f64>().ok(),
                        serde_json::Value::Number(n) if n.as_i64().is_none() => n.as_f64(),
                        _ => None,
                    };
                    if key == "expires_in"
                        && let Some(seconds) = seconds.filter(|s| s.is_finite())
                    {
                        // `as` saturates: 1e30 becomes i64::MAX.
                        *value = (seconds.trunc() as i64).into();
                        changed = true;
                    } else {
                        changed |= numeric_expires_in(value);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    changed |= numeric_expires_in(item);
                }
            }
            _ => {}
        }
        changed
    }
    let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
    numeric_expires_in(&mut json)
        .then(|| serde_json::from_value(json).ok())
        .flatten()
}

fn classify<E: ErrorBody>(error: ClientError<E>, scrub: &Scrubber) -> Error {
    match error {
        ClientError::ErrorResponse(body) => {
            let status = body.status();
            let retry_after = retry_after(body.headers(), SystemTime::now());
            let body = body.into_inner();
            by_status(
                status,
                retry_after,
                body.code().map(|c| scrub.text(&c)),
                body.message().map(|m| scrub.text(&m)),
            )
        }
        ClientError::UnexpectedResponse(response) => {
            let status = response.status();
            if let Some(BodyLimitExceeded { limit }) = response.extensions().get().copied() {
                return Error::InvalidResponse {
                    reason: format!("the body is larger than {limit} bytes (HTTP {status})"),
                    excerpt: None,
                };
            }
            let retry_after = retry_after(response.headers(), SystemTime::now());
            let body = buffered_body(&response).cloned().unwrap_or_default();
            let (code, message) = generic_error_fields(&body);
            if status.is_success() {
                return Error::InvalidResponse {
                    reason: format!("undocumented success status {status}"),
                    excerpt: Some(scrub.excerpt(&body)),
                };
            }
            by_status(
                status,
                retry_after,
                code.map(|c| scrub.text(&c)),
                message.map(|m| scrub.text(&m)),
            )
        }
        ClientError::InvalidResponsePayload(body, e) => Error::InvalidResponse {
            reason: format!(
                "the body does not match the documented schema: {}",
                scrub.text(&e.to_string())
            ),
            excerpt: Some(scrub.excerpt(&body)),
        },
        ClientError::CommunicationError(e) | ClientError::ResponseBodyError(e)
            if e.is_timeout() =>
        {
            Error::Timeout
        }
        ClientError::CommunicationError(e) if is_tls(&e) => Error::Tls {
            message: transport_message(&e),
        },
        ClientError::CommunicationError(e)
        | ClientError::ResponseBodyError(e)
        | ClientError::InvalidUpgrade(e) => Error::Transport {
            message: transport_message(&e),
        },
        ClientError::InvalidRequest(m) | ClientError::Custom(m) => Error::Config(scrub.text(&m)),
    }
}

fn by_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    code: Option<String>,
    message: Option<String>,
) -> Error {
    match status.as_u16() {
        429 => Error::RateLimited { retry_after },
        408 | 500..=599 => Error::Server { status, message },
        400 | 401 | 403 | 422 => Error::CredentialsRejected {
            status,
            code,
            message,
        },
        _ => Error::UnexpectedStatus { status, message },
    }
}

/// `error`/`error_description`, `code`/`message`/`detail`, or JSON:API
/// `errors[0]`, from a body whose shape the spec does not give.
fn generic_error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let json = json.get("errors").and_then(|e| e.get(0)).unwrap_or(&json);
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| json.get(*k).and_then(|v| v.as_str()))
            .map(str::to_owned)
    };
    (
        text(&["error", "code"]),
        text(&["error_description", "message", "detail", "title"]),
    )
}

/// Whether rustls failed somewhere in `error`'s chain of causes. I/O
/// errors wrap it (sometimes twice) and their `source` skips what they
/// wrap, so the walk goes into them instead.
fn is_tls(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = next {
        if error.is::<rustls::Error>() {
            return true;
        }
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

/// A transport error's chain of causes, without the URL (reqwest prints it).
fn transport_message(error: &reqwest::Error) -> String {
    let mut message = if error.is_connect() {
        "connection failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "reading the response failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// `Retry-After` in seconds or as an HTTP date, relative to `now`.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or_default())
}

/// Removes the secrets of one exchange from any text shown to a caller.
struct Scrubber {
    secrets: Vec<String>,
}

const EXCERPT_CHARS: usize = 200;

impl Scrubber {
    fn new(credentials: &Credentials, grant: Grant<'_>) -> Self {
        let mut secrets: Vec<String> = credentials
            .secrets()
            .into_iter()
            .map(str::to_owned)
            .collect();
        if let Grant::Refresh(token) = grant {
            secrets.push(token.expose_secret().to_owned());
        }
        secrets.retain(|s| !s.is_empty());
        Self { secrets }
    }

    fn text(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret.as_str(), "[redacted]")
        })
    }

    /// A bounded excerpt of a body: JSON values under token-like keys are
    /// redacted, known secrets removed, at most 200 characters.
    fn excerpt(&self, body: &[u8]) -> String {
        let text = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(mut json) => {
                redact_json(&mut json);
                json.to_string()
            }
            Err(_) => String::from_utf8_lossy(body).into_owned(),
        };
        let text = self.text(&text);
        let mut excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
        if text.chars().count() > EXCERPT_CHARS {
            excerpt.push('…');
        }
        excerpt
    }
}

fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                if ["token", "secret", "password", "access"]
                    .iter()
                    .any(|k| key.contains(k))
                    && !key.contains("type")
                    && !key.contains("expires")
                {
                    *value = serde_json::Value::String("[redacted]".into());
                } else {
                    redact_json(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(expires_in: Option<f64>, token_type: Option<&str>) -> Issued {
        Issued {
            access_token: Secret::new("tok"),
            token_type: token_type.map(str::to_owned),
            expires_in,
            refresh_token: None,
        }
    }

    #[test]
    fn normalise_checks_lifetime_and_type() {
        let now = SystemTime::UNIX_EPOCH;
        let policy = RefreshPolicy::default();
        let token = normalise(issued(Some(60.0), Some("bearer")), now, &policy).unwrap();
        assert_eq!(token.lifetime(), Duration::from_secs(60));
        assert_eq!(token.token_type(), "Bearer");
        assert!(normalise(issued(Some(-1.0), None), now, &policy).is_err());
        assert!(normalise(issued(Some(60.0), Some("mac")), now, &policy).is_err());
        let missing = normalise(issued(None, None), now, &policy).unwrap();
        assert_eq!(missing.lifetime(), policy.default_lifetime);
        let capped = RefreshPolicy {
            max_lifetime: Some(Duration::from_secs(86_400)),
            ..RefreshPolicy::default()
        };
        let year = normalise(issued(Some(31_622_400.0), None), now, &capped).unwrap();
        assert_eq!(year.lifetime(), Duration::from_secs(86_400));
        assert!(normalise(issued(Some(1e300), None), now, &policy).is_ok());
    }

    #[test]
    fn expires_in_as_a_numeric_string_is_accepted() {
        #[derive(serde::Deserialize)]
        struct T {
            expires_in: i64,
        }
        let t: T = lenient(br#"{"expires_in": "3600"}"#).unwrap();
        assert_eq!(t.expires_in, 3600);
        assert!(lenient::<T>(br#"{"expires_in": "soon"}"#).is_none());
        assert!(
            lenient::<T>(br#"{"expires_in": 5}"#).is_none(),
            "only used when the strict decoding fails"
        );
        let t: T = lenient(br#"{"expires_in": 3600.0}"#).unwrap();
        assert_eq!(t.expires_in, 3600);
        let t: T = lenient(br#"{"expires_in": 1e30}"#).unwrap();
        assert_eq!(t.expires_in, i64::MAX);
        let t: T = lenient(br#"{"expires_in": 99999999999999999999}"#).unwrap();
        assert_eq!(t.expires_in, i64::MAX);
    }

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn excerpts_hold_no_secrets() {
        let scrub = Scrubber::new(&Credentials::client("id", "very-secret"), Grant::Primary);
        let body = br#"{"access_token":"tok-123","expires_in":"x","note":"very-secret"}"#;
        let excerpt = scrub.excerpt(body);
        assert!(
            !excerpt.contains("tok-123") && !excerpt.contains("very-secret"),
            "{excerpt}"
        );
        assert!(excerpt.contains("expires_in"));
        assert!(scrub.excerpt(&[b'a'; 1000]).chars().count() <= EXCERPT_CHARS + 1);
    }
}
