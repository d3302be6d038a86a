//! One token request to a provider through its [`TokenEndpoint`](tokenmux_wire::TokenEndpoint), and the
//! normalisation of its answer into an [`AccessToken`] or an [`Error`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use tokenmux_jose::DpopKey;
use tokenmux_wire::{
    ClientConfig, ClientError, DpopSigning, Secret, SentRequest, SentSecrets, TokenRequest,
};
use tokenmux_wire::{EndpointResult, Expires};
pub(crate) use tokenmux_wire::{Grant, Issued};

use crate::classify::{by_status, decode, generic_error_fields, ok};
use crate::dpop::Dpop;
use crate::jwt_expiry::jwt_expiry;
use crate::{AccessToken, Credentials, Error, Provider, RefreshPolicy};
use tokenmux_wire::scrub::Scrubber;

/// Everything one exchange needs.
pub(crate) struct Exchange<'a> {
    pub provider: &'a Provider,
    pub credentials: &'a Credentials,
    pub http: &'a reqwest::Client,
    pub max_response_bytes: usize,
    /// With DPoP: the source's nonces, and the key this fetch proves.
    pub dpop: Option<(&'a Dpop, Arc<DpopKey>)>,
}

impl Exchange<'_> {
    /// One request, no retries; with DPoP, one more when the server asks
    /// for a nonce it has just given (RFC 9449 §8).
    pub(crate) async fn request(&self, grant: Grant<'_>) -> Result<Issued, Error> {
        let endpoint = self.provider.endpoint();
        // What the request hook signs for this request (an assertion, a
        // proof) is recorded here, and scrubbed from the outcome as the
        // secrets are.
        let sent = SentSecrets::default();
        let line = SentRequest::default();
        let mut response = self.attempt(grant, &sent, &line).await;
        if let Some((dpop, _)) = &self.dpop {
            let new_nonce = headers(&response).is_some_and(|h| dpop.token_nonce_from(h));
            if new_nonce && asks_for_nonce(&response) {
                response = self.attempt(grant, &sent, &line).await;
                if let Some(headers) = headers(&response) {
                    dpop.token_nonce_from(headers);
                }
            }
        }
        let sent = sent.all();
        let scrub = Scrubber::new(
            self.credentials.client_id().unwrap_or_default(),
            self.credentials
                .secrets(self.provider.spec())
                .into_iter()
                .chain(sent.iter().map(Secret::expose_secret)),
            grant,
        );
        // What was tried, for the error: scrubbed too (a path segment may
        // be a secret parameter).
        ok(response, endpoint, &scrub)
            .map_err(|error| error.tried(line.line().map(|l| scrub.text(&l))))
    }

    /// The request as sent once.
    async fn attempt(
        &self,
        grant: Grant<'_>,
        sent: &SentSecrets,
        line: &SentRequest,
    ) -> EndpointResult {
        let endpoint = self.provider.endpoint();
        let mut config = ClientConfig::default()
            .with_max_response_bytes(self.max_response_bytes)
            .with_sent_secrets(sent.clone())
            .with_sent_request(line.clone());
        if let Some((dpop, key)) = &self.dpop {
            config = config.with_dpop(DpopSigning::new(Arc::clone(key), dpop.token_nonce()));
        }
        if let Some(issuer) = self.provider.issuer() {
            config = config.with_issuer(issuer);
        }
        if let Some(method) = self.provider.auth_method() {
            config = config.with_auth_method(method);
        }
        let request = TokenRequest {
            http: self.http,
            base_url: self.provider.base_url(),
            config,
            credentials: self.credentials.for_request(),
            parameters: self.credentials.params(),
            grant,
        };
        endpoint.request(request).await
    }
}

/// The headers of an answer the endpoint gave.
fn headers(response: &EndpointResult) -> Option<&reqwest::header::HeaderMap> {
    match response {
        Ok(value) => Some(value.headers()),
        Err(ClientError::ErrorResponse(value)) => Some(value.headers()),
        Err(_) => None,
    }
}

/// Whether the endpoint refused the request for want of a DPoP nonce.
fn asks_for_nonce(response: &EndpointResult) -> bool {
    matches!(response, Err(ClientError::ErrorResponse(value))
        if value.code.as_deref() == Some(tokenmux_wire::USE_DPOP_NONCE))
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
/// use tokenmux::{decode_token_response, Error, Provider, RefreshPolicy};
///
/// let body = br#"{"token_type":"Bearer","expires_in":3600,"access_token":"abc"}"#;
/// let token = decode_token_response(&Provider::neonpanel(), 200, body, SystemTime::now(), &RefreshPolicy::default())?;
/// assert_eq!(token.secret().expose_secret(), "abc");
///
/// let password = Provider::by_name("password")?;
/// let refused = decode_token_response(&password, 400, br#"{"error":"invalid_grant"}"#, SystemTime::now(), &RefreshPolicy::default());
/// assert_eq!(refused.unwrap_err().provider_code(), Some("invalid_grant"));
/// # Ok::<(), Error>(())
/// ```
pub fn decode_token_response(
    provider: &Provider,
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
    let issued = decode(body, provider.endpoint(), &scrub)?;
    normalise(issued, now, policy, None)
}

/// Turns an issued token into an [`AccessToken`], checking what the
/// provider sent: a header-safe token, a bearer type (or `DPoP`, bound to
/// `dpop`, when the request proved that key), a sane lifetime.
pub(crate) fn normalise(
    issued: Issued,
    now: SystemTime,
    policy: &RefreshPolicy,
    dpop: Option<&Arc<DpopKey>>,
) -> Result<AccessToken, Error> {
    let invalid = |reason: &str| Error::InvalidResponse {
        reason: reason.to_owned(),
        excerpt: None,
    };
    let token = issued.access_token.expose_secret();
    if token.is_empty() {
        return Err(invalid("the access token is empty"));
    }
    if !crate::is_header_safe(token) {
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
    // A server that does not do DPoP answers a proof with a bearer token
    // (RFC 9449 §5): used as one.
    let bound = match (issued.token_type.as_deref(), dpop) {
        (Some(kind), Some(key)) if kind.eq_ignore_ascii_case("dpop") => Some(Arc::clone(key)),
        (Some(kind), None) if kind.eq_ignore_ascii_case("dpop") => {
            return Err(invalid(
                "the token type is DPoP, and this source sends no DPoP proof \
                 (turn DPoP on: `dpop: true`, --dpop, TokenSourceBuilder::dpop)",
            ));
        }
        (Some(kind), _) if !kind.eq_ignore_ascii_case("bearer") => {
            return Err(invalid(
                "the token type is not Bearer (a spec maps a vendor's own name \
                 for it with x-tokenmux-token-types)",
            ));
        }
        _ => None,
    };
    // No expiry sent: a JWT's own `exp`, else the policy's default.
    let expires = issued
        .expires
        .or_else(|| jwt_expiry(issued.access_token.expose_secret()).map(Expires::At));
    let seconds = match expires {
        None => None,
        Some(Expires::In(seconds)) if !seconds.is_finite() || seconds < 0.0 => {
            return Err(invalid("expires_in is negative or not a number"));
        }
        Some(Expires::In(seconds)) => Some(seconds),
        Some(Expires::At(at)) => match at.duration_since(now) {
            Ok(left) if !left.is_zero() => Some(left.as_secs_f64()),
            _ => {
                let ago = now.duration_since(at).unwrap_or_default().as_secs();
                return Err(invalid(&format!(
                    "the token expired {ago} s before it arrived, by this \
                     machine's clock (is either clock wrong?)"
                )));
            }
        },
    };
    // Anything beyond ten years is nonsense; cap rather than overflow.
    let expires_in = seconds.map(|seconds| {
        Duration::from_secs_f64(seconds.min(crate::MAX_TOKEN_LIFETIME.as_secs_f64()))
    });
    let lifetime = policy.effective_lifetime(expires_in);
    Ok(AccessToken::new(issued.access_token, now, lifetime)
        .with_refresh_token(issued.refresh_token)
        .with_dpop_key(bound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    fn issued(expires_in: Option<f64>, token_type: Option<&str>) -> Issued {
        Issued {
            access_token: Secret::new("tok"),
            token_type: token_type.map(str::to_owned),
            expires: expires_in.map(Expires::In),
            refresh_token: None,
        }
    }

    #[test]
    fn normalise_checks_lifetime_and_type() {
        let now = SystemTime::UNIX_EPOCH;
        let policy = RefreshPolicy::default();
        let token = normalise(issued(Some(60.0), Some("bearer")), now, &policy, None).unwrap();
        assert_eq!(token.lifetime(), Duration::from_secs(60));
        assert_eq!(token.token_type(), "Bearer");
        assert!(normalise(issued(Some(-1.0), None), now, &policy, None).is_err());
        assert!(normalise(issued(Some(60.0), Some("mac")), now, &policy, None).is_err());
        // DPoP only when the request proved a key; then bound to it.
        assert!(normalise(issued(Some(60.0), Some("DPoP")), now, &policy, None).is_err());
        let key = Arc::new(DpopKey::generate().unwrap());
        let bound = normalise(issued(Some(60.0), Some("dpop")), now, &policy, Some(&key)).unwrap();
        assert_eq!(
            (bound.token_type(), bound.dpop_key()),
            ("DPoP", Some(&*key))
        );
        let bearer =
            normalise(issued(Some(60.0), Some("Bearer")), now, &policy, Some(&key)).unwrap();
        assert_eq!((bearer.token_type(), bearer.dpop_key()), ("Bearer", None));
        let missing = normalise(issued(None, None), now, &policy, None).unwrap();
        assert_eq!(missing.lifetime(), policy.default_lifetime);
        let capped = RefreshPolicy {
            max_lifetime: Some(Duration::from_secs(86_400)),
            ..RefreshPolicy::default()
        };
        let year = normalise(issued(Some(31_622_400.0), None), now, &capped, None).unwrap();
        assert_eq!(year.lifetime(), Duration::from_secs(86_400));
        assert!(normalise(issued(Some(1e300), None), now, &policy, None).is_ok());
    }

    #[test]
    fn an_absolute_expiry_or_a_jwt_exp_gives_the_lifetime() {
        use base64::Engine as _;
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let policy = RefreshPolicy::default();
        let at = |seconds| Issued {
            expires: Some(Expires::At(
                SystemTime::UNIX_EPOCH + Duration::from_secs(seconds),
            )),
            ..issued(None, None)
        };
        let token = normalise(at(1_000_900), now, &policy, None).unwrap();
        assert_eq!(token.lifetime(), Duration::from_secs(900));
        let late = normalise(at(999_990), now, &policy, None)
            .unwrap_err()
            .to_string();
        assert!(late.contains("expired 10 s before it arrived"), "{late}");
        assert!(normalise(at(1_000_000), now, &policy, None).is_err());

        // No expiry sent: the JWT's `exp`, and the expiry sent wins over it.
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1000600}"#);
        let jwt = Issued {
            access_token: Secret::new(format!("e30.{claims}.c2ln")),
            ..issued(None, None)
        };
        let token = normalise(jwt.clone(), now, &policy, None).unwrap();
        assert_eq!(token.lifetime(), Duration::from_secs(600));
        let sent = Issued {
            expires: Some(Expires::In(60.0)),
            ..jwt
        };
        assert_eq!(
            normalise(sent, now, &policy, None).unwrap().lifetime(),
            Duration::from_secs(60)
        );
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
            assert!(normalise(issued, now, &policy, None).is_err(), "{bad:?}");
        }
    }
}
