//! How a token request authenticates the client: one strategy per method,
//! each in its own file behind [`ClientAuthentication`], chosen by the
//! operation's [`ClientAuth`] (from the spec's `security`). A new method
//! (a signed JWT, a TLS client certificate) is a new file and a new arm
//! of [`client_auth_method`].

use crate::config::ClientConfig;
use crate::endpoint::{CredentialRole, EndpointSpec, GrantCredentials};
use crate::operation::ClientAuth;

mod app_jwt;
mod assertion;
mod basic;
mod from_metadata;
mod in_request;
mod tls;

/// One client authentication method.
pub trait ClientAuthentication: Send + Sync {
    /// Its name as RFC 8414's `token_endpoint_auth_methods_supported`
    /// lists it, e.g. `client_secret_basic`.
    fn name(&self) -> &'static str;

    /// The credentials it needs beyond those the body's fields mark.
    fn roles(&self) -> &'static [CredentialRole];

    /// The credentials it takes when given (none by default).
    fn optional_roles(&self) -> &'static [CredentialRole] {
        &[]
    }

    /// Adds what authenticates the client to the config the request is
    /// sent with (the request hook puts it on the wire).
    fn authenticate(
        &self,
        spec: &EndpointSpec,
        credentials: &GrantCredentials<'_>,
        config: ClientConfig,
    ) -> Result<ClientConfig, ClientAuthError>;
}

/// Why a client cannot be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthError {
    /// A credential the method needs is not given.
    #[error("{method} needs a {}; the credentials have none", role.name())]
    Missing {
        /// The method, e.g. `client_secret_basic`.
        method: &'static str,
        /// What is missing.
        role: CredentialRole,
    },
    /// The method is chosen from the server's metadata, and the request
    /// was built without choosing one (a provider's bug, not the user's).
    #[error("the client authentication method was not chosen from the server's metadata")]
    NotChosen,
}

impl ClientAuthError {
    /// `value`, or [`Missing`](Self::Missing) naming `method` and `role`.
    pub(crate) fn require<T>(
        method: &'static str,
        role: CredentialRole,
        value: Option<T>,
    ) -> Result<T, ClientAuthError> {
        value.ok_or(ClientAuthError::Missing { method, role })
    }
}

/// The strategy that implements the method an operation asks for.
///
/// ```
/// use tokenmux_wire::{ClientAuth, CredentialRole, client_auth_method};
///
/// let basic = client_auth_method(ClientAuth::Basic);
/// assert_eq!(basic.name(), "client_secret_basic");
/// assert_eq!(basic.roles(), [CredentialRole::ClientId, CredentialRole::ClientSecret]);
/// assert!(client_auth_method(ClientAuth::None).roles().is_empty());
/// ```
pub fn client_auth_method(auth: ClientAuth) -> &'static dyn ClientAuthentication {
    use crate::AssertionAudience::{Issuer, TokenEndpoint};
    use assertion::AssertionKey::{ClientSecret, PrivateKey};
    use assertion::JwtAssertion;
    match auth {
        ClientAuth::None => &in_request::InRequest,
        ClientAuth::Basic => &basic::ClientSecretBasic,
        ClientAuth::ClientSecretJwt(TokenEndpoint) => &JwtAssertion(ClientSecret, TokenEndpoint),
        ClientAuth::ClientSecretJwt(Issuer) => &JwtAssertion(ClientSecret, Issuer),
        ClientAuth::PrivateKeyJwt(TokenEndpoint) => &JwtAssertion(PrivateKey, TokenEndpoint),
        ClientAuth::PrivateKeyJwt(Issuer) => &JwtAssertion(PrivateKey, Issuer),
        ClientAuth::TlsClientAuth => &tls::MutualTls { self_signed: false },
        ClientAuth::SelfSignedTlsClientAuth => &tls::MutualTls { self_signed: true },
        ClientAuth::AppJwt => &app_jwt::AppJwtBearer,
        ClientAuth::FromMetadata => &from_metadata::FromMetadata,
    }
}
