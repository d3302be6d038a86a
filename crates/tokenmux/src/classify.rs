//! What an answer from a token endpoint means for a caller: the status
//! decides first (a 503 is transient whatever its body, a 401 is rejected
//! credentials whatever its body), then what was read of the body gives
//! the message. Redirects are errors; `Retry-After` is kept.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use tokenmux_wire::{
    AmbiguousJson, BodyLimitExceeded, ClientError, EndpointResult, ErrorDetails, Issued,
    RedirectFollowed, TokenEndpoint, buffered_body,
};

use crate::Error;
use tokenmux_wire::scrub::Scrubber;

/// The token, or the error classified.
pub(crate) fn ok(
    response: EndpointResult,
    endpoint: &dyn TokenEndpoint,
    scrub: &Scrubber,
) -> Result<Issued, Error> {
    match response {
        Ok(value) => Ok(value.into_inner()),
        Err(ClientError::InvalidResponsePayload(body, error)) => {
            if let Some(issued) = lenient(&body, endpoint) {
                return Ok(issued);
            }
            Err(error_in_success(&body, endpoint, scrub).unwrap_or_else(|| {
                classify(ClientError::InvalidResponsePayload(body, error), scrub)
            }))
        }
        Err(error) => Err(classify(error, scrub)),
    }
}

/// A documented success body, decoded strictly, then leniently (as [`ok`]
/// does); a body with duplicate keys is refused either way.
pub(crate) fn decode(
    body: &[u8],
    endpoint: &dyn TokenEndpoint,
    scrub: &Scrubber,
) -> Result<Issued, Error> {
    if tokenmux_wire::has_duplicate_keys(body) {
        return Err(ambiguous(body, scrub));
    }
    endpoint
        .decode_success(body)
        // Checked above: relaxed without checking again.
        .or_else(|error| relaxed(body, endpoint).ok_or(error))
        .map_err(|error| {
            error_in_success(body, endpoint, scrub).unwrap_or_else(|| invalid(body, &error, scrub))
        })
}

fn invalid(body: &[u8], error: &serde_json::Error, scrub: &Scrubber) -> Error {
    Error::InvalidResponse {
        reason: format!(
            "the body does not match the documented schema: {}",
            scrub.decoder_message(&error.to_string())
        ),
        excerpt: Some(scrub.excerpt(body)),
    }
}

/// An error the endpoint sent with a 2xx status, in the spec's error shape
/// (see [`tokenmux_wire::error_in_success`]), as the error its code means.
fn error_in_success(body: &[u8], endpoint: &dyn TokenEndpoint, scrub: &Scrubber) -> Option<Error> {
    let details = tokenmux_wire::error_in_success(body, endpoint.spec())?;
    let code = details.code.map(|c| scrub.text(&c));
    let message = details.message.map(|m| scrub.text(&m));
    let status = StatusCode::OK;
    Some(match code.as_deref() {
        // RFC 6749 §4.1.2.1's codes for a server that cannot answer now.
        Some("server_error" | "temporarily_unavailable") => Error::Server {
            endpoint: None,
            status,
            message,
            retry_after: None,
        },
        _ => refusal(status, code, message),
    })
}

fn ambiguous(body: &[u8], scrub: &Scrubber) -> Error {
    Error::InvalidResponse {
        reason: "the body names a key twice in one object (ambiguous)".into(),
        excerpt: Some(scrub.excerpt(body)),
    }
}

/// Servers often send `expires_in` (or the spec's other expiry member,
/// such as `expires_in_ms`) as a numeric string (`"3600"`), or as a number
/// the generated integer type cannot hold (`3600.0`, `1e30`); the documents
/// say integer. Accept both by converting to an integer (clamped;
/// `normalise` caps the lifetime), then decoding with the generated type as
/// usual. Never for a body with duplicate keys.
pub(crate) fn lenient(body: &[u8], endpoint: &dyn TokenEndpoint) -> Option<Issued> {
    if tokenmux_wire::has_duplicate_keys(body) {
        return None;
    }
    relaxed(body, endpoint)
}

/// [`lenient`] for a body already checked for duplicate keys.
fn relaxed(body: &[u8], endpoint: &dyn TokenEndpoint) -> Option<Issued> {
    // The member's name: the last step of the spec's pointer.
    let expiry = endpoint.spec().token.expiry?.pointer;
    let member = expiry
        .rsplit('/')
        .next()?
        .replace("~1", "/")
        .replace("~0", "~");
    let numeric_expires_in = |value: &mut serde_json::Value| numeric(value, &member);
    fn numeric(value: &mut serde_json::Value, member: &str) -> bool {
        let mut changed = false;
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    let seconds = match &*value {
                        serde_json::Value::String(text) => text.trim().parse::<f64>().ok(),
                        serde_json::Value::Number(n) if n.as_i64().is_none() => n.as_f64(),
                        _ => None,
                    };
                    if key == member
                        && let Some(seconds) = seconds.filter(|s| s.is_finite())
                    {
                        // `as` saturates: 1e30 becomes i64::MAX.
                        *value = (seconds.trunc() as i64).into();
                        changed = true;
                    } else {
                        changed |= numeric(value, member);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    changed |= numeric(item, member);
                }
            }
            _ => {}
        }
        changed
    }
    let mut json: serde_json::Value = serde_json::from_slice(body).ok()?;
    if !numeric_expires_in(&mut json) {
        return None;
    }
    let body = serde_json::to_vec(&json).ok()?;
    endpoint.decode_success(&body).ok()
}

fn classify(error: ClientError<ErrorDetails>, scrub: &Scrubber) -> Error {
    match error {
        ClientError::ErrorResponse(body) => {
            let status = body.status();
            let retry_after = retry_after(body.headers(), SystemTime::now());
            let body = body.into_inner();
            by_status(
                status,
                retry_after,
                body.code.map(|c| scrub.text(&c)),
                body.message.map(|m| scrub.text(&m)),
            )
        }
        ClientError::UnexpectedResponse(response) => {
            let status = response.status();
            let extensions = response.extensions();
            if let Some(RedirectFollowed { host }) = extensions.get::<RedirectFollowed>() {
                return Error::Redirect {
                    endpoint: None,
                    status,
                    location: host.as_deref().map(|h| scrub.text(h)),
                };
            }
            if status.is_redirection() {
                return Error::Redirect {
                    endpoint: None,
                    status,
                    location: location_host(response.headers()).map(|h| scrub.text(&h)),
                };
            }
            let retry_after = retry_after(response.headers(), SystemTime::now());
            let too_large = extensions.get::<BodyLimitExceeded>().copied();
            let body = buffered_body(&response).cloned().unwrap_or_default();
            if status.is_success() {
                if let Some(BodyLimitExceeded { limit }) = too_large {
                    return Error::InvalidResponse {
                        reason: format!("the body is larger than {limit} bytes (HTTP {status})"),
                        excerpt: None,
                    };
                }
                if extensions.get::<AmbiguousJson>().is_some() {
                    return ambiguous(&body, scrub);
                }
                return Error::InvalidResponse {
                    reason: format!("undocumented success status {status}"),
                    excerpt: Some(scrub.excerpt(&body)),
                };
            }
            // Status first: an error status means what it means whatever
            // its body; only a body within the cap was read for a message.
            let (code, message) = generic_error_fields(&body);
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
                scrub.decoder_message(&e.to_string())
            ),
            excerpt: Some(scrub.excerpt(&body)),
        },
        ClientError::CommunicationError(e) | ClientError::ResponseBodyError(e)
            if e.is_timeout() =>
        {
            Error::Timeout
        }
        ClientError::CommunicationError(e) if tokenmux_wire::net::is_tls_failure(&e) => {
            let message = transport_message(&e);
            // rustls, reading an HTTP answer where a TLS record belongs.
            let plain =
                message.contains("InvalidContentType") || message.contains("corrupt message");
            Error::Tls {
                endpoint: None,
                message: match plain {
                    true => format!(
                        "the server does not speak TLS: is it http://? ({})",
                        scrub.text(&message)
                    ),
                    false => scrub.text(&message),
                },
            }
        }
        ClientError::CommunicationError(e)
        | ClientError::ResponseBodyError(e)
        | ClientError::InvalidUpgrade(e) => Error::Transport {
            endpoint: None,
            message: scrub.text(&transport_message(&e)),
        },
        ClientError::InvalidRequest(m) | ClientError::Custom(m) => {
            crate::ConfigError::general(scrub.text(&m)).into()
        }
    }
}

/// The error an error status means.
pub(crate) fn by_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    code: Option<String>,
    message: Option<String>,
) -> Error {
    match status.as_u16() {
        429 => Error::RateLimited {
            endpoint: None,
            retry_after,
        },
        408 | 500..=599 => Error::Server {
            endpoint: None,
            status,
            message,
            // RFC 9110 §10.2.3: meaningful on 503 (and redirects).
            retry_after: retry_after.filter(|_| status == StatusCode::SERVICE_UNAVAILABLE),
        },
        400 | 401 | 403 | 422 => refusal(status, code, message),
        300..=399 => Error::Redirect {
            endpoint: None,
            status,
            location: None,
        },
        _ => Error::UnexpectedStatus {
            endpoint: None,
            status,
            message,
        },
    }
}

/// A refusal: of the request (a spec or config mistake) when its code
/// says so, else of the credentials.
fn refusal(status: StatusCode, code: Option<String>, message: Option<String>) -> Error {
    match code.as_deref().is_some_and(is_request_mistake) {
        true => Error::RequestRefused {
            endpoint: None,
            status,
            code,
            message,
        },
        false => Error::CredentialsRejected {
            endpoint: None,
            status,
            code,
            message,
        },
    }
}

/// RFC 6749 §5.2 codes that point at the request (a parameter, the
/// config, the spec), not at the credentials.
fn is_request_mistake(code: &str) -> bool {
    matches!(
        code,
        "invalid_request" | "unsupported_grant_type" | "invalid_scope"
    )
}

/// `error`/`error_description`, `code`/`message`/`detail`, or JSON:API
/// `errors[0]`, from a body whose shape the spec does not give.
pub(crate) fn generic_error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    if tokenmux_wire::has_duplicate_keys(body) {
        return (None, None);
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let details = ErrorDetails::generic(&json);
    (details.code, details.message)
}

/// The host a `Location` header names (relative: none), never its path or
/// query, which may carry anything.
fn location_host(headers: &HeaderMap) -> Option<String> {
    let location = headers.get(LOCATION)?.to_str().ok()?;
    let url = reqwest::Url::parse(location).ok()?;
    url.host_str().map(str::to_owned)
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

/// The longest `Retry-After` taken as given: a day (any more is as good
/// as "not today", and instants far off overflow).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// `Retry-After` in seconds or as an HTTP date, relative to `now`, at most
/// a day.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let after = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let date = httpdate::parse_http_date(value).ok()?;
            date.duration_since(now).unwrap_or_default()
        }
    };
    Some(after.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_mistake_is_not_a_rejection_of_the_credentials() {
        let at = |status: u16, code: &str| {
            by_status(
                StatusCode::from_u16(status).unwrap(),
                None,
                Some(code.to_owned()),
                None,
            )
        };
        for code in ["invalid_request", "unsupported_grant_type", "invalid_scope"] {
            let error = at(400, code);
            assert!(matches!(error, Error::RequestRefused { .. }), "{error:?}");
            assert_eq!(error.kind(), crate::ErrorKind::Config);
            assert_eq!(error.provider_code(), Some(code));
        }
        for code in ["invalid_client", "invalid_grant", "unauthorized_client"] {
            let error = at(401, code);
            assert!(
                matches!(error, Error::CredentialsRejected { .. }),
                "{error:?}"
            );
        }
        let error = at(400, "invalid_scope").to_string();
        assert!(error.contains("check the source's params"), "{error}");
    }

    #[test]
    fn an_error_sent_with_a_2xx_status_is_the_error_its_code_means() {
        let neonpanel = crate::Provider::neonpanel();
        let endpoint = neonpanel.endpoint();
        let scrub = Scrubber::without_secrets();
        let decoded = |body: &str| decode(body.as_bytes(), endpoint, &scrub).unwrap_err();
        let rejected = decoded(r#"{"error": "invalid_client", "error_description": "unknown"}"#);
        assert!(
            matches!(&rejected, Error::CredentialsRejected { code: Some(c), message: Some(m), .. }
                if c == "invalid_client" && m == "unknown"),
            "{rejected:?}"
        );
        let refused = decoded(r#"{"error": "invalid_scope"}"#);
        assert!(
            matches!(refused, Error::RequestRefused { .. }),
            "{refused:?}"
        );
        let busy = decoded(r#"{"error": "temporarily_unavailable"}"#);
        assert!(busy.is_transient(), "{busy:?}");
        // No code, or a code beside a token: a malformed success, as before.
        for body in [
            r#"{"message": "no code"}"#,
            r#"{"access_token": 5, "error": "invalid_client"}"#,
            r#"{"error": "invalid_client", "error": "x"}"#,
        ] {
            let error = decoded(body);
            assert!(
                matches!(error, Error::InvalidResponse { .. }),
                "{body}: {error:?}"
            );
        }
        // Through a generated client's answer as well.
        let payload = ClientError::InvalidResponsePayload(
            bytes::Bytes::from_static(br#"{"error": "invalid_grant"}"#),
            serde_json::from_str::<u8>("x").unwrap_err(),
        );
        let error = ok(Err(payload), endpoint, &scrub).unwrap_err();
        assert!(
            matches!(error, Error::CredentialsRejected { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn expires_in_as_a_numeric_string_is_accepted() {
        let neonpanel = crate::Provider::neonpanel();
        let endpoint = neonpanel.endpoint();
        let lenient = |body: &str| {
            let body = format!(r#"{{"access_token": "a", "expires_in": {body}}}"#);
            match lenient(body.as_bytes(), endpoint)?.expires {
                Some(tokenmux_wire::Expires::In(seconds)) => Some(seconds),
                _ => None,
            }
        };
        assert_eq!(lenient(r#""3600""#), Some(3600.0));
        assert_eq!(lenient(r#""soon""#), None);
        assert_eq!(
            lenient("5"),
            None,
            "only used when the strict decoding fails"
        );
        assert_eq!(lenient("3600.0"), Some(3600.0));
        assert_eq!(lenient("1e30"), Some(i64::MAX as f64));
        assert_eq!(lenient("99999999999999999999"), Some(i64::MAX as f64));
        assert_eq!(lenient(r#""1", "expires_in": "2""#), None);
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
        headers.insert(RETRY_AFTER, u64::MAX.to_string().parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn the_status_decides_and_only_503_keeps_retry_after() {
        let after = Some(Duration::from_secs(5));
        let error = by_status(StatusCode::SERVICE_UNAVAILABLE, after, None, None);
        assert_eq!(error.retry_after(), after);
        assert!(error.is_transient());
        assert_eq!(
            by_status(StatusCode::BAD_GATEWAY, after, None, None).retry_after(),
            None
        );
        assert!(matches!(
            by_status(StatusCode::TEMPORARY_REDIRECT, None, None, None),
            Error::Redirect { .. }
        ));
    }
}
