//! What an endpoint written by hand (no spec: the `oauth2` provider, a
//! test's own) shares with a generated client: the body `request_body`
//! filled, sent as a form through the request hook ([`send_form`]), and
//! the answer read as the generated glue reads it (the spec's error
//! fields, [`decode_issued`](crate::decode_issued)).

use serde_json::Value;

use crate::{ClientError, EndpointResult, EndpointSpec, ErrorDetails, ResponseValue, TokenRequest};

/// Sends `request` as `spec`'s first grant describes it, with its body as
/// a form, to the request's base URL plus the grant's path, through the
/// same request hook a generated client runs (client authentication,
/// placed values, the body cap), and reads the answer with
/// [`read_answer`]: a hand-written endpoint's whole `request`.
pub async fn send_form(spec: &'static EndpointSpec, request: TokenRequest<'_>) -> EndpointResult {
    let (body, config) = crate::request_body::<Value>(spec, request.grant.kind(), &request)?;
    let grant = &spec.grants[0];
    let operations = std::slice::from_ref(&grant.wire);
    let mut http = request
        .http
        .post(format!("{}{}", request.base_url, grant.path))
        .body(form_body(&body))
        .build()
        .map_err(ClientError::CommunicationError)?;
    crate::prepare_request(&mut http, operations, grant.wire.method, &config).await?;
    let response = crate::execute(request.http, http, operations, grant.wire.method, &config)
        .await
        .map_err(ClientError::CommunicationError)?;
    read_answer(response, spec).await
}

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
