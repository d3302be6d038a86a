//! Client authentication carried by the request itself: the spec marks
//! the body fields that hold the client id and secret
//! (`client_secret_post`), or a public client sends only its id (`none`).
//! Nothing is added beside the body.

use super::{ClientAuthError, ClientAuthentication};
use crate::config::ClientConfig;
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};

/// Whatever the body's `x-tokenmux-credential` fields carry.
pub(crate) struct InRequest;

impl ClientAuthentication for InRequest {
    fn name(&self) -> &'static str {
        "client_secret_post"
    }

    // The body's own fields say what they need (see `Needs`).
    fn roles(&self) -> &'static [CredentialRole] {
        &[]
    }

    fn authenticate(
        &self,
        _spec: &EndpointSpec,
        _credentials: &GrantCredentials<'_>,
        config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError> {
        Ok(config)
    }
}
