//! Which client authentication method a request uses: the one the user
//! chose, if the server lists it; else the first the credentials can use,
//! in the order below, among those the server lists.

use tokenmux_wire::{AuthMethod, GrantCredentials};

use crate::metadata::Metadata;

/// The methods tried: a certificate, then a private key (the proofs that
/// keep every secret off the wire); with a secret, RFC 6749's default
/// `client_secret_basic` first, as servers register clients for it
/// unless told otherwise; then none (a public client).
const PREFERENCE: [AuthMethod; 7] = [
    AuthMethod::TlsClientAuth,
    AuthMethod::SelfSignedTlsClientAuth,
    AuthMethod::PrivateKeyJwt,
    AuthMethod::ClientSecretBasic,
    AuthMethod::ClientSecretPost,
    AuthMethod::ClientSecretJwt,
    AuthMethod::None,
];

/// No method fits both the server and the credentials (or the choice).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoMethod(String);

/// The method for `credentials` at a server with `metadata`, `chosen` by
/// the user or picked.
///
/// ```
/// use tokenmux_oauth2::{Metadata, choose};
/// use tokenmux_wire::{AuthMethod, GrantCredentials, Secret};
///
/// let metadata = Metadata {
///     issuer: "https://auth.example.com".into(),
///     token_endpoint: "https://auth.example.com/token".into(),
///     auth_methods: vec![AuthMethod::ClientSecretPost, AuthMethod::ClientSecretBasic],
///     dpop_algorithms: vec![],
/// };
/// let secret = Secret::new("s");
/// let credentials = GrantCredentials { client_id: Some("me"), client_secret: Some(&secret), ..Default::default() };
/// assert_eq!(choose(&metadata, None, &credentials), Ok(AuthMethod::ClientSecretBasic));
/// let post = Some(AuthMethod::ClientSecretPost);
/// assert_eq!(choose(&metadata, post, &credentials), Ok(AuthMethod::ClientSecretPost));
/// assert!(choose(&metadata, Some(AuthMethod::PrivateKeyJwt), &credentials).is_err());
/// ```
pub fn choose(
    metadata: &Metadata,
    chosen: Option<AuthMethod>,
    credentials: &GrantCredentials<'_>,
) -> Result<AuthMethod, NoMethod> {
    let listed = |method: &AuthMethod| metadata.auth_methods.contains(method);
    let supported = || {
        let names: Vec<_> = metadata.auth_methods.iter().map(|m| m.name()).collect();
        match names.is_empty() {
            true => "none that tokenmux implements".to_owned(),
            false => names.join(", "),
        }
    };
    if let Some(method) = chosen {
        return match listed(&method) {
            true => Ok(method),
            false => Err(NoMethod(format!(
                "the server at {} does not list client_auth `{method}` (it lists: {})",
                metadata.issuer,
                supported()
            ))),
        };
    }
    PREFERENCE
        .into_iter()
        .filter(listed)
        .find(|method| usable(*method, credentials))
        .ok_or_else(|| {
            NoMethod(format!(
                "the server at {} authenticates clients by {}, and the credentials fit none: \
                 give a client_secret, a private_key or a client certificate that one of \
                 them uses",
                metadata.issuer,
                supported()
            ))
        })
}

/// Whether `credentials` hold what `method` needs.
fn usable(method: AuthMethod, credentials: &GrantCredentials<'_>) -> bool {
    let secret = credentials.client_secret.is_some();
    match method {
        AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth => {
            credentials.client_certificate
        }
        AuthMethod::PrivateKeyJwt => credentials.private_key.is_some(),
        AuthMethod::ClientSecretJwt
        | AuthMethod::ClientSecretBasic
        | AuthMethod::ClientSecretPost => secret,
        // A public client: nothing to prove, so only when nothing is given.
        AuthMethod::None => {
            !secret && credentials.private_key.is_none() && !credentials.client_certificate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(methods: &[AuthMethod]) -> Metadata {
        Metadata {
            issuer: "https://auth.example.com".into(),
            token_endpoint: "https://auth.example.com/token".into(),
            auth_methods: methods.to_vec(),
            dpop_algorithms: vec![],
        }
    }

    #[test]
    fn a_certificate_beats_a_secret_and_a_public_client_needs_none_listed() {
        let all = metadata(&AuthMethod::ALL);
        let secret = tokenmux_wire::Secret::new("s");
        let with_secret = GrantCredentials {
            client_id: Some("me"),
            client_secret: Some(&secret),
            ..Default::default()
        };
        assert_eq!(
            choose(&all, None, &with_secret),
            Ok(AuthMethod::ClientSecretBasic)
        );
        let with_certificate = GrantCredentials {
            client_certificate: true,
            ..with_secret
        };
        assert_eq!(
            choose(&all, None, &with_certificate),
            Ok(AuthMethod::TlsClientAuth)
        );
        let public = GrantCredentials {
            client_id: Some("me"),
            ..Default::default()
        };
        assert_eq!(choose(&all, None, &public), Ok(AuthMethod::None));
        let confidential_only = metadata(&[AuthMethod::ClientSecretBasic]);
        let error = choose(&confidential_only, None, &public).unwrap_err();
        assert!(error.to_string().contains("client_secret_basic"), "{error}");
    }
}
