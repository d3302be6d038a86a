//! What an endpoint written by hand (no spec: the `oauth2` provider, a
//! test's own) shares with a generated client: the body `request_body`
//! filled, sent as a form, and the answer read as the generated glue reads
//! it (the spec's error fields, [`decode_issued`](crate::decode_issued)).

use serde_json::Value;

use crate::{ClientError, EndpointResult, EndpointSpec, ErrorDetails, ResponseValue};

/// `body` (a JSON object of strings, as [`request_body`](crate::request_body)
/// fills it) as an `application/x-www-form-urlencoded` form.
///
/// ```
/// let body = serde_json::json!({"grant_type": "client_credentials", "scope": "a b"});
/// assert_eq!(tokenmux_wire::form_body(&body), "grant_type=client_credentials&scope=a+b");
/// ```
pub fn form_body(body: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            body.as_object()
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| Some((name, value.as_str()?))),
        )
        .finish()
}

/// The token `response` carries, or the error `spec`'s error fields read
/// from it (RFC 6749 §5.2 for a standard server).
pub async fn read_answer(
    response: reqwest::Response,
    spec: &'static EndpointSpec,
) -> EndpointResult {
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response
        .bytes()
        .await
        .map_err(ClientError::ResponseBodyError)?;
    if !status.is_success() {
        let error: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let details = ErrorDetails::read(&error, &spec.error);
        return Err(ClientError::ErrorResponse(ResponseValue::new(
            details, status, headers,
        )));
    }
    let issued = crate::decode_issued::<Value>(&bytes, spec)
        .map_err(|e| ClientError::InvalidResponsePayload(bytes, e))?;
    Ok(ResponseValue::new(issued, status, headers))
}
