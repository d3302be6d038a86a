//! [`Oauth2Endpoint`]: the token request, sent where the metadata says,
//! authenticated as [`choose`](crate::choose) picks, read as RFC 6749
//! §5.1/§5.2 answers are.

use serde_json::Value;
use tokenmux_wire::{
    BoxFuture, ClientError, EndpointResult, EndpointSpec, ErrorDetails, Issued, ResponseValue,
    TokenEndpoint, TokenRequest,
};

use crate::metadata::DiscoveryError;
use crate::{cache, choose, spec};

/// The generic OAuth 2.0 endpoint; its base URL is the issuer.
pub struct Oauth2Endpoint;

/// The one instance, for `Provider::from_endpoint`.
pub static ENDPOINT: Oauth2Endpoint = Oauth2Endpoint;

impl TokenEndpoint for Oauth2Endpoint {
    fn spec(&self) -> &'static EndpointSpec {
        &spec::GENERIC
    }

    fn request<'a>(&'a self, request: TokenRequest<'a>) -> BoxFuture<'a, EndpointResult> {
        Box::pin(async move {
            let issuer = request
                .config
                .issuer()
                .unwrap_or(request.base_url)
                .to_owned();
            let metadata = cache::metadata(&issuer, request.http)
                .await
                .map_err(DiscoveryError::into_client_error)?;
            let method = choose(
                &metadata,
                request.config.auth_method(),
                &request.credentials,
            )
            .map_err(|e| ClientError::InvalidRequest(e.to_string()))?;
            let spec = spec::for_method(method);
            let request = TokenRequest {
                base_url: &metadata.token_endpoint,
                ..request
            };
            let (body, config) =
                tokenmux_wire::request_body::<Value>(spec, request.grant.kind(), &request)?;
            let operations = std::slice::from_ref(&spec.grants[0].wire);
            let mut http = request
                .http
                .post(&metadata.token_endpoint)
                .body(form(&body))
                .build()
                .map_err(ClientError::CommunicationError)?;
            tokenmux_wire::prepare_request(&mut http, operations, "token", &config).await?;
            let response = tokenmux_wire::execute(request.http, http, operations, "token", &config)
                .await
                .map_err(ClientError::CommunicationError)?;
            answer(response, spec).await
        })
    }

    fn decode_success(&self, body: &[u8]) -> Result<Issued, serde_json::Error> {
        tokenmux_wire::decode_issued::<Value>(body, &spec::GENERIC)
    }
}

/// The body `request_body` filled (a JSON object of strings) as a form.
fn form(body: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            body.as_object()
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| Some((name, value.as_str()?))),
        )
        .finish()
}

/// The token `response` carries, or the RFC 6749 §5.2 error it reports.
async fn answer(response: reqwest::Response, spec: &'static EndpointSpec) -> EndpointResult {
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
