//! `tls_client_auth` and `self_signed_tls_client_auth` (RFC 8705 §2): the
//! client proves itself with the certificate it presents in the TLS
//! handshake. The HTTP client carries the certificate, so nothing is added
//! to the request; the body's own `client_id` field names the client.

use super::{ClientAuthError, ClientAuthentication};
use crate::config::ClientConfig;
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};

/// Mutual TLS client authentication, with a CA-issued certificate
/// (`self_signed == false`) or a self-signed one the client registered.
pub(crate) struct MutualTls {
    pub(crate) self_signed: bool,
}

impl ClientAuthentication for MutualTls {
    fn name(&self) -> &'static str {
        match self.self_signed {
            false => "tls_client_auth",
            true => "self_signed_tls_client_auth",
        }
    }

    fn roles(&self) -> &'static [CredentialRole] {
        &[CredentialRole::ClientId, CredentialRole::ClientCertificate]
    }

    fn authenticate(
        &self,
        _spec: &EndpointSpec,
        credentials: &GrantCredentials<'_>,
        config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError> {
        let method = self.name();
        ClientAuthError::require(method, CredentialRole::ClientId, credentials.client_id)?;
        let presented = credentials.client_certificate.then_some(());
        ClientAuthError::require(method, CredentialRole::ClientCertificate, presented)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_required_and_nothing_is_added() {
        let spec = crate::test_spec::spec();
        let method = MutualTls { self_signed: false };
        let id_only = GrantCredentials {
            client_id: Some("me"),
            ..Default::default()
        };
        let error = method
            .authenticate(spec, &id_only, ClientConfig::default())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "tls_client_auth needs a client_certificate; the credentials have none"
        );
        let presented = GrantCredentials {
            client_certificate: true,
            ..id_only
        };
        let config = method
            .authenticate(spec, &presented, ClientConfig::default())
            .unwrap();
        assert!(config.basic_auth().is_none() && config.assertion().is_none());
        assert_eq!(
            MutualTls { self_signed: true }.name(),
            "self_signed_tls_client_auth"
        );
    }
}
