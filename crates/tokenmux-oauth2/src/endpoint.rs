//! [`Oauth2Endpoint`]: the token request, sent where the metadata says,
//! authenticated as [`choose`](fn@crate::choose) picks, read as RFC 6749
//! §5.1/§5.2 answers are.

use serde_json::Value;
use tokenmux_wire::{
    BoxFuture, ClientError, EndpointResult, EndpointSpec, Issued, TokenEndpoint, TokenRequest,
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
            // RFC 9449 §5.1: a server that lists its proof algorithms
            // and not ES256 (the one tokenmux's DPoP keys sign) would
            // refuse every proof.
            if request.config.dpop().is_some()
                && !metadata.dpop_algorithms.is_empty()
                && !metadata.dpop_algorithms.iter().any(|alg| alg == "ES256")
            {
                return Err(ClientError::InvalidRequest(format!(
                    "the server takes DPoP proofs signed with {} only, and tokenmux signs \
                     ES256; turn DPoP off for this source",
                    metadata.dpop_algorithms.join(", ")
                )));
            }
            let spec = spec::for_method(method);
            let request = TokenRequest {
                base_url: &metadata.token_endpoint,
                ..request
            };
            tokenmux_wire::send_form(spec, request).await
        })
    }

    fn decode_success(&self, body: &[u8]) -> Result<Issued, serde_json::Error> {
        tokenmux_wire::decode_issued::<Value>(body, &spec::GENERIC)
    }
}
