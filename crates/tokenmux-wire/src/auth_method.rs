//! [`AuthMethod`]: a client authentication method by its RFC 8414 name,
//! as an authorization server's metadata lists them and a user picks one.

use std::fmt;
use std::str::FromStr;

/// A token endpoint client authentication method (RFC 8414
/// `token_endpoint_auth_methods_supported`, RFC 8705).
///
/// ```
/// use tokenmux_wire::AuthMethod;
///
/// let method: AuthMethod = "private_key_jwt".parse().unwrap();
/// assert_eq!(method, AuthMethod::PrivateKeyJwt);
/// assert_eq!(AuthMethod::ClientSecretPost.to_string(), "client_secret_post");
/// assert!("magic".parse::<AuthMethod>().unwrap_err().to_string().contains("client_secret_basic"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `client_secret_basic`.
    ClientSecretBasic,
    /// `client_secret_post`.
    ClientSecretPost,
    /// `client_secret_jwt`.
    ClientSecretJwt,
    /// `private_key_jwt`.
    PrivateKeyJwt,
    /// `tls_client_auth`.
    TlsClientAuth,
    /// `self_signed_tls_client_auth`.
    SelfSignedTlsClientAuth,
    /// `none`: a public client.
    None,
}

impl AuthMethod {
    /// Every method, in the order of their names above.
    pub const ALL: [AuthMethod; 7] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::ClientSecretJwt,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::TlsClientAuth,
        AuthMethod::SelfSignedTlsClientAuth,
        AuthMethod::None,
    ];

    /// Its RFC 8414 name.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            AuthMethod::None => "none",
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no method this crate implements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a client authentication method tokenmux implements: give client_secret_basic, \
     client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth, \
     self_signed_tls_client_auth or none"
)]
pub struct UnknownAuthMethod;

impl FromStr for AuthMethod {
    type Err = UnknownAuthMethod;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        AuthMethod::ALL
            .into_iter()
            .find(|method| method.name() == name)
            .ok_or(UnknownAuthMethod)
    }
}
