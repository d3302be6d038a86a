//! [`ClientCertificate`]: the certificate and key a client presents in the
//! TLS handshake, for mutual-TLS client authentication and
//! certificate-bound tokens (RFC 8705). The key is a secret: it is never
//! shown, and only its certificate's thumbprint identifies it.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::Digest as _;

use crate::Secret;

/// A client certificate chain (leaf first) and its private key, both PEM.
///
/// Give it with [`Credentials::with_client_certificate`](crate::Credentials::with_client_certificate):
/// the token endpoint sees it on every request (`tls_client_auth`,
/// `self_signed_tls_client_auth`, or a certificate-bound token with any
/// method), and [`TokenSource::http_client_builder`](crate::TokenSource::http_client_builder)
/// presents it to the APIs the token is for.
///
/// ```
/// # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
/// use tokenmux::ClientCertificate;
///
/// let chain = std::fs::read(format!("{dir}/client.pem")).unwrap();
/// let key = std::fs::read(format!("{dir}/client.key")).unwrap();
/// let certificate = ClientCertificate::from_pem(&chain, &key).unwrap();
/// // The RFC 8705 thumbprint a bound token's `cnf.x5t#S256` carries.
/// assert_eq!(certificate.thumbprint().len(), 43);
/// assert!(!format!("{certificate:?}").contains("PRIVATE KEY"));
/// assert!(ClientCertificate::from_pem(&key, &chain).is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    chain: Arc<[u8]>,
    key: Secret,
    thumbprint: Arc<str>,
}

/// Why a certificate and key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// No `CERTIFICATE` PEM block where the chain should be.
    #[error("no PEM certificate (-----BEGIN CERTIFICATE-----) in the client certificate")]
    NoCertificate,
    /// No private key PEM block (PKCS#8, PKCS#1 or SEC1) where the key
    /// should be; an encrypted key is not one.
    #[error(
        "no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1) in the client certificate's key"
    )]
    NoKey,
    /// The TLS library refuses the pair (a key of another type).
    #[error("the TLS library refuses the client certificate and key: {0}")]
    Refused(String),
}

impl ClientCertificate {
    /// The certificate chain (PEM, leaf first) and its private key (PEM).
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Self, CertificateError> {
        let leaf = CertificateDer::pem_slice_iter(chain)
            .next()
            .and_then(Result::ok)
            .ok_or(CertificateError::NoCertificate)?;
        PrivateKeyDer::from_pem_slice(key).map_err(|_| CertificateError::NoKey)?;
        let key = String::from_utf8(key.to_vec()).map_err(|_| CertificateError::NoKey)?;
        let digest = sha2::Sha256::digest(leaf.as_ref());
        let certificate = ClientCertificate {
            chain: chain.into(),
            key: Secret::new(key),
            thumbprint: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(digest)
                .into(),
        };
        // reqwest reads the pair as it will when the client is built.
        reqwest::Identity::from_pem(&certificate.pem()).map_err(|e| {
            // reqwest's own text is "builder error": the cause is below.
            let cause = std::error::Error::source(&e).map_or(e.to_string(), ToString::to_string);
            CertificateError::Refused(cause)
        })?;
        Ok(certificate)
    }

    /// The leaf certificate's SHA-256 thumbprint, base64url: what a
    /// certificate-bound token's `cnf` claim holds as `x5t#S256`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The pair as reqwest takes it, for a client of your own:
    /// `reqwest::Client::builder().identity(certificate.identity())`.
    pub fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(&self.pem()).expect("checked by from_pem")
    }

    /// The chain, for another TLS stack (rustls'
    /// `ClientConfig::with_client_auth_cert`, as hyper-rustls and tonic
    /// take it).
    pub fn certificate_chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(&self.chain)
            .filter_map(Result::ok)
            .collect()
    }

    /// The private key, for another TLS stack (see
    /// [`certificate_chain`](Self::certificate_chain)).
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key.expose_secret().as_bytes())
            .expect("checked by from_pem")
    }

    /// The key then the chain, as one PEM buffer (reqwest's form).
    fn pem(&self) -> Vec<u8> {
        let mut pem = self.key.expose_secret().as_bytes().to_vec();
        pem.push(b'\n');
        pem.extend_from_slice(&self.chain);
        pem
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    #[test]
    fn each_part_missing_is_named_and_the_key_never_shown() {
        let (chain, key) = (data("client.pem"), data("client.key"));
        assert_eq!(
            ClientCertificate::from_pem(b"hunter2", &key),
            Err(CertificateError::NoCertificate)
        );
        let error = ClientCertificate::from_pem(&chain, b"hunter2").unwrap_err();
        assert_eq!(error, CertificateError::NoKey);
        let certificate = ClientCertificate::from_pem(&chain, &key).unwrap();
        let debug = format!("{certificate:?}");
        let body = String::from_utf8(key.clone()).unwrap();
        let body_line = body.lines().nth(1).unwrap();
        assert!(!debug.contains(body_line), "{debug}");
        assert!(debug.contains(certificate.thumbprint()));
        assert_eq!(certificate.certificate_chain().len(), 1);
        assert_eq!(
            certificate.private_key().secret_der(),
            PrivateKeyDer::from_pem_slice(&key).unwrap().secret_der()
        );
    }

    #[test]
    fn the_thumbprint_is_the_leaf_certificates_sha256() {
        let chain = data("client.pem");
        let leaf = CertificateDer::from_pem_slice(&chain).unwrap();
        let certificate = ClientCertificate::from_pem(&chain, &data("client.key")).unwrap();
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(leaf.as_ref()));
        assert_eq!(certificate.thumbprint(), expected);
    }
}
