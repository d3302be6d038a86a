//! A method chosen at run time from the authorization server's metadata
//! and the credentials given (the generic OAuth 2.0 provider,
//! `tokenmux-oauth2`): its endpoint puts the chosen method's spec in the
//! request, so this strategy only says what a source may give.

use super::{ClientAuthError, ClientAuthentication};
use crate::config::ClientConfig;
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};

/// Needs a client id; takes a secret, a private key or a certificate,
/// whichever the chosen method uses.
pub(crate) struct FromMetadata;

impl ClientAuthentication for FromMetadata {
    fn name(&self) -> &'static str {
        "from the server's metadata"
    }

    fn roles(&self) -> &'static [CredentialRole] {
        &[CredentialRole::ClientId]
    }

    fn optional_roles(&self) -> &'static [CredentialRole] {
        &[
            CredentialRole::ClientSecret,
            CredentialRole::PrivateKey,
            CredentialRole::ClientCertificate,
        ]
    }

    fn authenticate(
        &self,
        _spec: &EndpointSpec,
        _credentials: &GrantCredentials<'_>,
        _config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError> {
        Err(ClientAuthError::NotChosen)
    }
}
