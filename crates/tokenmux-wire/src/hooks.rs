//! The three request hooks generated clients delegate to.
//!
//! progenitor's `ClientHooks` runs `pre` before a request is sent, `exec` to
//! send it and `post` on the result. The generated `impl ClientHooks` calls
//! [`prepare_request`], [`execute`] and [`inspect_response`].

// The error type is progenitor's `Error`, fixed by its hook signatures.
#![allow(clippy::result_large_err)]

use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt as _;
use progenitor_client::Error;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, USER_AGENT,
};
use reqwest::{Request, Response, ResponseBuilderExt as _};

use crate::{BodyEncoding, ClientAuth, ClientConfig, OperationWire};

/// The header progenitor adds to every request; token endpoints do not
/// document it, so it is removed.
const API_VERSION: &str = "api-version";

/// The `User-Agent` of every token request: vendors' logs and support
/// desks can tell tokenmux's traffic (and its version) from other clients'.
pub const TOKENMUX_USER_AGENT: &str = concat!("tokenmux/", env!("CARGO_PKG_VERSION"));

/// The complete body of a response, read by [`execute`] within the
/// configured cap, kept in the response's extensions.
#[derive(Clone, Debug)]
pub struct BufferedBody(pub Bytes);

/// Marks a response whose body was larger than the configured cap; its body
/// was discarded and [`inspect_response`] turns it into an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimitExceeded {
    /// The cap, in bytes.
    pub limit: usize,
}

/// Marks a response that came from another URL than the one asked: the
/// HTTP client followed a redirect (generated clients are meant to run on
/// a client that follows none). [`inspect_response`] turns it into an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectFollowed {
    /// The host the response came from.
    pub host: Option<String>,
}

/// Marks a success response whose JSON body names a key twice in one
/// object: ambiguous, so [`inspect_response`] turns it into an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmbiguousJson;

/// Rewrites a request that progenitor built from the lowered spec into the
/// documented wire format of `operation_id`: exact `Content-Type` and
/// `Accept`, a real multipart body, the values that go in the query
/// string, headers or path, Basic client authentication, a
/// [`TOKENMUX_USER_AGENT`], and no `api-version` header.
pub async fn prepare_request<E>(
    request: &mut Request,
    operations: &[OperationWire],
    operation_id: &str,
    config: &ClientConfig,
) -> Result<(), Error<E>> {
    let wire = operations
        .iter()
        .find(|op| op.method == operation_id)
        .ok_or_else(|| {
            Error::InvalidRequest(format!("no wire format recorded for `{operation_id}`"))
        })?;
    let headers = request.headers_mut();
    headers.remove(API_VERSION);
    headers.insert(USER_AGENT, HeaderValue::from_static(TOKENMUX_USER_AGENT));
    if let Some(accept) = wire.accept {
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
    }
    if let (BodyEncoding::Json | BodyEncoding::FormUrlencoded, Some(content_type)) =
        (wire.body, wire.content_type)
    {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    crate::place_values(request, config.placed_values())
        .map_err(|error| Error::InvalidRequest(error.to_string()))?;
    // Before a multipart body is built: the assertions join the form's fields.
    if let Some(signing) = config.grant_assertion() {
        crate::grant_assertion::add(request, wire.body, signing, config)
            .await
            .map_err(|error| Error::InvalidRequest(format!("`{operation_id}`: {error}")))?;
    }
    if let Some(signing) = config.assertion() {
        crate::client_assertion::add(request, wire.body, signing, config)
            .await
            .map_err(|error| Error::InvalidRequest(format!("`{operation_id}`: {error}")))?;
    }
    if wire.body == BodyEncoding::Multipart {
        into_multipart(request).await?;
    }
    config
        .sent_request()
        .record(request.method(), request.url());
    // The URL is final once the values are placed.
    if let Some(dpop) = config.dpop() {
        crate::dpop::add_proof(request, dpop, config.sent_secrets())
            .await
            .map_err(|error| {
                Error::InvalidRequest(format!(
                    "`{operation_id}`: cannot sign the DPoP proof: {error}"
                ))
            })?;
    }
    if wire.auth == ClientAuth::Basic {
        let basic = config.basic_auth().ok_or_else(|| {
            Error::InvalidRequest(format!(
                "`{operation_id}` requires HTTP Basic client credentials; \
                 set them with ClientConfig::with_basic_auth"
            ))
        })?;
        request
            .headers_mut()
            .insert(AUTHORIZATION, basic.header_value());
    }
    Ok(())
}

/// Replaces the url-encoded form body progenitor produced with a
/// `multipart/form-data` body holding the same fields in the same order.
async fn into_multipart<E>(request: &mut Request) -> Result<(), Error<E>> {
    let fields = request
        .body()
        .and_then(|body| body.as_bytes())
        .map(|bytes| {
            form_urlencoded::parse(bytes)
                .into_owned()
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let form = fields
        .into_iter()
        .fold(reqwest::multipart::Form::new(), |form, (name, value)| {
            form.text(name, value)
        });
    let content_type = format!("multipart/form-data; boundary={}", form.boundary());
    // Collected so the request has a Content-Length (a streamed body would
    // be sent chunked) and stays cloneable for retries.
    let body: BytesMut = form
        .into_stream()
        .try_collect()
        .await
        .map_err(|e| Error::InvalidRequest(format!("cannot build multipart body: {e}")))?;
    let headers = request.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::try_from(content_type)
            .map_err(|e| Error::InvalidRequest(format!("bad multipart content type: {e}")))?,
    );
    headers.remove(CONTENT_LENGTH);
    *request.body_mut() = Some(body.freeze().into());
    Ok(())
}

/// Sends the request and reads the response body, at most
/// [`ClientConfig::max_response_bytes`] of it.
///
/// The returned response carries its body in a [`BufferedBody`] extension
/// (and as its body); a larger body is discarded and the response marked
/// [`BodyLimitExceeded`].
pub async fn execute(
    client: &reqwest::Client,
    request: Request,
    operations: &[OperationWire],
    operation_id: &str,
    config: &ClientConfig,
) -> reqwest::Result<Response> {
    let form_response = operations
        .iter()
        .find(|op| op.method == operation_id)
        .is_some_and(|op| op.response == BodyEncoding::FormUrlencoded);
    let asked = request.url().clone();
    let mut response = client.execute(request).await?;
    let limit = config.max_response_bytes();
    let success = response.status().is_success();
    let redirected = (response.url() != &asked).then(|| RedirectFollowed {
        host: response.url().host_str().map(str::to_owned),
    });
    // The response's own URL: without it reqwest parses a placeholder URL
    // for every rebuilt response.
    let mut builder = http::Response::builder()
        .status(response.status())
        .version(response.version())
        .url(response.url().clone());
    if let Some(headers) = builder.headers_mut() {
        *headers = std::mem::take(response.headers_mut());
    }
    let declared_too_large = response
        .content_length()
        .is_some_and(|length| length > limit as u64);
    let mut body = BytesMut::new();
    let mut exceeded = declared_too_large;
    while !exceeded {
        match response.chunk().await? {
            Some(chunk) if body.len() + chunk.len() > limit => exceeded = true,
            Some(chunk) => body.extend_from_slice(&chunk),
            None => break,
        }
    }
    let mut body = if exceeded {
        Bytes::new()
    } else {
        body.freeze()
    };
    // A form-encoded answer, where the spec documents one, is read as the
    // flat JSON object of strings the lowered types expect.
    if form_response && builder.headers_ref().is_some_and(is_form) {
        let (json, repeated) = form_to_json(&body);
        body = json;
        if let Some(headers) = builder.headers_mut() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.remove(CONTENT_LENGTH);
        }
        if repeated {
            builder = builder.extension(AmbiguousJson);
        }
    }
    if exceeded {
        builder = builder.extension(BodyLimitExceeded { limit });
    }
    if let Some(redirected) = redirected {
        builder = builder.extension(redirected);
    }
    if success && crate::has_duplicate_keys(&body) {
        builder = builder.extension(AmbiguousJson);
    }
    let rebuilt = builder
        .extension(BufferedBody(body.clone()))
        .body(body)
        .unwrap_or_else(|_| http::Response::new(Bytes::new()));
    Ok(Response::from(rebuilt))
}

fn is_form(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// A url-encoded form as a JSON object of strings, and whether a name came
/// twice (ambiguous, as a repeated JSON key is).
pub(crate) fn form_to_json(body: &[u8]) -> (Bytes, bool) {
    let mut object = serde_json::Map::new();
    let mut repeated = false;
    for (name, value) in form_urlencoded::parse(body) {
        repeated |= object
            .insert(name.into_owned(), value.into_owned().into())
            .is_some();
    }
    let json = serde_json::to_vec(&object).unwrap_or_default();
    (Bytes::from(json), repeated)
}

/// Turns a response progenitor could not decode meaningfully into
/// [`Error::UnexpectedResponse`], which keeps the status and headers:
/// a body over the cap (any status), a redirect (followed or not), a
/// success body with duplicate keys, and an error status whose body is
/// not JSON (an HTML page from a proxy, say), which progenitor would
/// otherwise report as a payload error without its status.
pub fn inspect_response<E>(result: &reqwest::Result<Response>) -> Result<(), Error<E>> {
    let Ok(response) = result else {
        return Ok(());
    };
    let extensions = response.extensions();
    let marked = extensions.get::<BodyLimitExceeded>().is_some()
        || extensions.get::<RedirectFollowed>().is_some()
        || extensions.get::<AmbiguousJson>().is_some();
    let body = buffered_body(response).cloned().unwrap_or_default();
    let status = response.status();
    let undecodable_error = (status.is_client_error() || status.is_server_error())
        && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err();
    if !marked && !undecodable_error && !status.is_redirection() {
        return Ok(());
    }
    let mut copy = http::Response::builder()
        .status(status)
        .version(response.version());
    if let Some(headers) = copy.headers_mut() {
        *headers = response.headers().clone();
    }
    if let Some(extensions) = copy.extensions_mut() {
        *extensions = response.extensions().clone();
    }
    let copy = copy
        .url(response.url().clone())
        .body(body)
        .unwrap_or_else(|_| http::Response::new(Bytes::new()));
    Err(Error::UnexpectedResponse(Response::from(copy)))
}

/// The body [`execute`] read, if the response came through it.
pub fn buffered_body(response: &Response) -> Option<&Bytes> {
    response
        .extensions()
        .get::<BufferedBody>()
        .map(|BufferedBody(bytes)| bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_answer_is_read_as_flat_json_and_a_repeated_name_is_ambiguous() {
        let (json, repeated) =
            form_to_json(b"access_token=a%2Bb&expires_in=3600&token_type=bearer");
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"access_token": "a+b", "expires_in": "3600", "token_type": "bearer"})
        );
        assert!(!repeated);
        let (_, repeated) = form_to_json(b"access_token=a&access_token=b");
        assert!(repeated);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
        );
        assert!(is_form(&headers));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(!is_form(&headers));
    }
}
