//! `client_secret_jwt` and `private_key_jwt` (RFC 7523 §2.2): the client
//! proves itself with a JWT assertion signed per request. The two differ
//! only in the key: the client secret (HS256), or the client's private key.

use std::sync::Arc;

use tokenmux_jose::HmacKey;

use super::{ClientAuthError, ClientAuthentication};
use crate::AssertionAudience;
use crate::config::{AssertionSigning, ClientConfig};
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};

/// `client_secret_jwt`: HS256 keyed by the client secret.
pub(crate) struct ClientSecretJwt(pub(crate) AssertionAudience);

/// `private_key_jwt`: signed by the client's [`SigningKey`](crate::SigningKey).
pub(crate) struct PrivateKeyJwt(pub(crate) AssertionAudience);

fn missing(method: &'static str) -> impl Fn(CredentialRole) -> ClientAuthError {
    move |role| ClientAuthError::Missing { method, role }
}

impl ClientAuthentication for ClientSecretJwt {
    fn name(&self) -> &'static str {
        "client_secret_jwt"
    }

    fn roles(&self) -> &'static [CredentialRole] {
        &[CredentialRole::ClientId, CredentialRole::ClientSecret]
    }

    fn authenticate(
        &self,
        _spec: &EndpointSpec,
        credentials: &GrantCredentials<'_>,
        config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError> {
        let missing = missing(self.name());
        let id = credentials
            .client_id
            .ok_or_else(|| missing(CredentialRole::ClientId))?;
        let secret = credentials
            .client_secret
            .ok_or_else(|| missing(CredentialRole::ClientSecret))?;
        let key = Arc::new(HmacKey::new(secret.expose_secret()));
        Ok(config.with_assertion(AssertionSigning::new(key, id, self.0)))
    }
}

impl ClientAuthentication for PrivateKeyJwt {
    fn name(&self) -> &'static str {
        "private_key_jwt"
    }

    fn roles(&self) -> &'static [CredentialRole] {
        &[CredentialRole::ClientId, CredentialRole::PrivateKey]
    }

    fn authenticate(
        &self,
        _spec: &EndpointSpec,
        credentials: &GrantCredentials<'_>,
        config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError> {
        let missing = missing(self.name());
        let id = credentials
            .client_id
            .ok_or_else(|| missing(CredentialRole::ClientId))?;
        let key = credentials
            .private_key
            .ok_or_else(|| missing(CredentialRole::PrivateKey))?;
        Ok(config.with_assertion(AssertionSigning::new(key.signer().clone(), id, self.0)))
    }
}
