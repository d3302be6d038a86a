//! `app_jwt`: the app proves itself with a short-lived JWT signed by its
//! private key, sent as `Authorization: Bearer` (app-installation token
//! endpoints). Not an RFC 8414 method: no server lists it in metadata.

use super::{ClientAuthError, ClientAuthentication};
use crate::config::{AssertionSigning, ClientConfig};
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};

/// The app JWT method.
pub(crate) struct AppJwtBearer;

impl ClientAuthentication for AppJwtBearer {
    fn name(&self) -> &'static str {
        "app_jwt"
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
        let method = self.name();
        let id = ClientAuthError::require(method, CredentialRole::ClientId, credentials.client_id)?;
        let key = credentials.private_key;
        let key = ClientAuthError::require(method, CredentialRole::PrivateKey, key)?;
        Ok(config.with_assertion(AssertionSigning::app_jwt(key.signer().clone(), id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_needs_a_key_and_signs_app_jwts_with_it() {
        let spec = crate::test_spec::spec();
        let id_only = GrantCredentials {
            client_id: Some("12345"),
            ..Default::default()
        };
        let error = AppJwtBearer
            .authenticate(spec, &id_only, ClientConfig::default())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "app_jwt needs a private_key; the credentials have none"
        );
        let pem = include_str!("../../../tokenmux-jose/tests/keys/ec-pkcs8.pem");
        let key =
            crate::SigningKey::from(tokenmux_jose::PrivateKey::from_pem(pem.as_bytes()).unwrap());
        let with_key = GrantCredentials {
            private_key: Some(&key),
            ..id_only
        };
        let config = AppJwtBearer
            .authenticate(spec, &with_key, ClientConfig::default())
            .unwrap();
        let signing = config.assertion().unwrap();
        assert!(signing.is_app_jwt());
        assert_eq!(signing.client_id(), "12345");
    }
}
