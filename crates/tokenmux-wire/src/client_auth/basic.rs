//! `client_secret_basic` (RFC 6749 §2.3.1): the client id and secret in
//! `Authorization: Basic …`, encoded as the spec says.

use super::{ClientAuthError, ClientAuthentication};
use crate::config::{BasicAuth, ClientConfig};
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};

/// `client_secret_basic`: the request hook adds the header from
/// [`ClientConfig::basic_auth`].
pub(crate) struct ClientSecretBasic;

impl ClientAuthentication for ClientSecretBasic {
    fn name(&self) -> &'static str {
        "client_secret_basic"
    }

    fn roles(&self) -> &'static [CredentialRole] {
        &[CredentialRole::ClientId, CredentialRole::ClientSecret]
    }

    fn authenticate(
        &self,
        spec: &EndpointSpec,
        credentials: &GrantCredentials<'_>,
        config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError> {
        let method = self.name();
        let id = ClientAuthError::require(method, CredentialRole::ClientId, credentials.client_id)?;
        let secret = credentials.client_secret;
        let secret = ClientAuthError::require(method, CredentialRole::ClientSecret, secret)?;
        Ok(config
            .with_basic_auth(BasicAuth::new(id, secret.clone()).with_encoding(spec.basic_encoding)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn a_missing_secret_is_named_and_a_present_one_becomes_the_header() {
        let secret = Secret::new("hunter2");
        let spec = crate::test_spec::spec();
        let none = GrantCredentials {
            client_id: Some("me"),
            ..Default::default()
        };
        let error = ClientSecretBasic
            .authenticate(spec, &none, ClientConfig::default())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "client_secret_basic needs a client_secret; the credentials have none"
        );
        let both = GrantCredentials {
            client_secret: Some(&secret),
            ..none
        };
        let config = ClientSecretBasic
            .authenticate(spec, &both, ClientConfig::default())
            .unwrap();
        let header = config.basic_auth().unwrap().header_value();
        assert_eq!(header.to_str().unwrap(), "Basic bWU6aHVudGVyMg==");
    }
}
