//! `client_secret_jwt` and `private_key_jwt` (RFC 7523 §2.2): the client
//! proves itself with a JWT assertion signed per request. The two differ
//! only in the key: the client secret (HS256), or the client's private key.

use std::sync::Arc;

use tokenmux_jose::{HmacKey, Signer};

use super::{ClientAuthError, ClientAuthentication};
use crate::AssertionAudience;
use crate::config::{AssertionSigning, ClientConfig};
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};

/// What signs the assertion.
#[derive(Clone, Copy)]
pub(crate) enum AssertionKey {
    /// `client_secret_jwt`: HS256 keyed by the client secret.
    ClientSecret,
    /// `private_key_jwt`: the client's [`SigningKey`](crate::SigningKey).
    PrivateKey,
}

/// A JWT assertion method, with the audience the spec asks for.
pub(crate) struct JwtAssertion(pub(crate) AssertionKey, pub(crate) AssertionAudience);

impl ClientAuthentication for JwtAssertion {
    fn name(&self) -> &'static str {
        match self.0 {
            AssertionKey::ClientSecret => "client_secret_jwt",
            AssertionKey::PrivateKey => "private_key_jwt",
        }
    }

    fn roles(&self) -> &'static [CredentialRole] {
        match self.0 {
            AssertionKey::ClientSecret => &[CredentialRole::ClientId, CredentialRole::ClientSecret],
            AssertionKey::PrivateKey => &[CredentialRole::ClientId, CredentialRole::PrivateKey],
        }
    }

    fn authenticate(
        &self,
        _spec: &EndpointSpec,
        credentials: &GrantCredentials<'_>,
        config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError> {
        let method = self.name();
        let id = ClientAuthError::require(method, CredentialRole::ClientId, credentials.client_id)?;
        let signer: Arc<dyn Signer> = match self.0 {
            AssertionKey::ClientSecret => {
                let secret = credentials.client_secret;
                let secret =
                    ClientAuthError::require(method, CredentialRole::ClientSecret, secret)?;
                Arc::new(HmacKey::new(secret.expose_secret()))
            }
            AssertionKey::PrivateKey => {
                let key = credentials.private_key;
                let key = ClientAuthError::require(method, CredentialRole::PrivateKey, key)?;
                key.signer().clone()
            }
        };
        Ok(config.with_assertion(AssertionSigning::new(signer, id, self.1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn each_key_names_what_is_missing_and_a_given_one_becomes_the_assertion() {
        let spec = crate::test_spec::spec();
        let id_only = GrantCredentials {
            client_id: Some("me"),
            ..Default::default()
        };
        let method = JwtAssertion(AssertionKey::PrivateKey, AssertionAudience::Issuer);
        let error = method
            .authenticate(spec, &id_only, ClientConfig::default())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "private_key_jwt needs a private_key; the credentials have none"
        );
        let secret = Secret::new("s");
        let with_secret = GrantCredentials {
            client_secret: Some(&secret),
            ..id_only
        };
        let method = JwtAssertion(AssertionKey::ClientSecret, AssertionAudience::TokenEndpoint);
        let config = method
            .authenticate(spec, &with_secret, ClientConfig::default())
            .unwrap();
        let signing = config.assertion().unwrap();
        assert_eq!(signing.client_id(), "me");
        assert_eq!(
            signing.signer().algorithm(),
            tokenmux_jose::Algorithm::HS256
        );
        assert_eq!(signing.audience(), AssertionAudience::TokenEndpoint);
        assert_eq!(method.name(), "client_secret_jwt");
    }
}
