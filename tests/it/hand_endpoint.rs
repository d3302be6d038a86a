//! What a token endpoint written by hand in a test shares with a
//! generated client: the body as a form, and the answer read as the
//! generated glue reads it (the spec's error fields, `decode_issued`).

use serde_json::Value;
use tokenmux::endpoint::*;

/// `body` (a JSON object of strings, as `request_body` fills it) as an
/// `application/x-www-form-urlencoded` form.
pub fn form(body: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            body.as_object()
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| Some((name, value.as_str()?))),
        )
        .finish()
}

/// The token `response` carries, or the error the spec reads from it.
pub async fn answer(response: reqwest::Response, spec: &'static EndpointSpec) -> EndpointResult {
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
    let issued = tokenmux_wire::decode_issued::<Value>(&bytes, spec)
        .map_err(|e| ClientError::InvalidResponsePayload(bytes, e))?;
    Ok(ResponseValue::new(issued, status, headers))
}
