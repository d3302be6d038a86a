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

use reqwest::StatusCode;
use tokenmux_wire::{ClientConfig, Secret};

use crate::classify::{ErrorBody, by_status, decode, generic_error_fields, ok};
use crate::scrub::Scrubber;
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
    let scrub = Scrubber::without_secrets();
    let status = StatusCode::from_u16(status).map_err(|_| Error::InvalidResponse {
        reason: format!("{status} is not an HTTP status"),
        excerpt: None,
    })?;
    let too_large = body.len() > limit;
    if status != StatusCode::OK {
        if status.is_success() {
            return Err(Error::InvalidResponse {
                reason: format!("undocumented success status {status}"),
                excerpt: (!too_large).then(|| scrub.excerpt(body)),
            });
        }
        // The status decides; a body over the cap is not read for a message.
        let (code, message) = match too_large {
            true => (None, None),
            false => generic_error_fields(body),
        };
        return Err(by_status(
            status,
            None,
            code.map(|c| scrub.text(&c)),
            message.map(|m| scrub.text(&m)),
        ));
    }
    if too_large {
        return Err(Error::InvalidResponse {
            reason: format!("the body is larger than {limit} bytes (HTTP {status})"),
            excerpt: None,
        });
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
    // RFC 6749 §A.17: a refresh token is printable ASCII.
    if let Some(refresh) = &issued.refresh_token
        && !refresh
            .expose_secret()
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b))
    {
        return Err(invalid(
            "the refresh token has characters outside printable ASCII",
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
    fn a_token_with_controls_or_spaces_is_refused() {
        let now = SystemTime::UNIX_EPOCH;
        let policy = RefreshPolicy::default();
        for bad in ["a\r\nb", "a b", "tok\u{1b}[2J", ""] {
            let issued = Issued {
                access_token: Secret::new(bad),
                ..issued(None, None)
            };
            assert!(normalise(issued, now, &policy).is_err(), "{bad:?}");
        }
    }
}
