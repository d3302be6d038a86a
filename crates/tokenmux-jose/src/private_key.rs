//! A private key in memory, read from a PEM or a JWK file: the [`Signer`]
//! of `private_key_jwt` and of JWT grants.

use std::fmt;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair as RsaKeyPair;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

use crate::{Algorithm, BoxFuture, SignError, Signer};

/// A private key: RSA (RS256 by default, or PS256), EC P-256 (ES256) or
/// Ed25519 (EdDSA). Its `Debug` shows the algorithm and `kid` only.
///
/// ```
/// use tokenmux_jose::{Algorithm, PrivateKey, Signer as _};
///
/// let pem = std::fs::read("tests/keys/ec-sec1.pem").unwrap();
/// let key = PrivateKey::from_pem(&pem).unwrap().with_key_id("ec-1");
/// assert_eq!(key.algorithm(), Algorithm::ES256);
/// assert_eq!(format!("{key:?}"), r#"PrivateKey { alg: ES256, kid: Some("ec-1") }"#);
/// ```
pub struct PrivateKey {
    key: KeyPair,
    alg: Algorithm,
    kid: Option<String>,
}

pub(crate) enum KeyPair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// Why a key cannot be used. It never quotes the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Neither a PEM private key nor a JSON Web Key.
    #[error(
        "not a private key: expected a PEM block (BEGIN PRIVATE KEY, BEGIN RSA PRIVATE KEY or \
         BEGIN EC PRIVATE KEY) or a JWK (a JSON object with \"kty\" and \"d\")"
    )]
    NotAKey,
    /// An encrypted PKCS#8 key: tokenmux does not hold passphrases.
    #[error(
        "the private key is encrypted; decrypt it first (openssl pkcs8 -in KEY -out PLAIN) \
         and protect the file instead"
    )]
    Encrypted,
    /// A key of a type or curve tokenmux does not sign with.
    #[error("unsupported key: {0}; use RSA (RS256, PS256), EC P-256 (ES256) or Ed25519 (EdDSA)")]
    Unsupported(String),
    /// The crypto library refused the key's contents.
    #[error("the {0} key is malformed or inconsistent")]
    Rejected(&'static str),
    /// A JWK member is missing or not base64url.
    #[error("the JWK's `{0}` is missing or not base64url")]
    JwkMember(&'static str),
    /// The algorithm asked for does not fit the key.
    #[error("a {key} key cannot sign {alg}")]
    Algorithm {
        /// The key's type, e.g. `EC P-256`.
        key: &'static str,
        /// The algorithm asked for.
        alg: Algorithm,
    },
}

impl PrivateKey {
    /// Reads the first private key of a PEM file: PKCS#8 (`BEGIN PRIVATE
    /// KEY`), PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE
    /// KEY`). Other blocks (a certificate) are skipped.
    pub fn from_pem(pem: &[u8]) -> Result<PrivateKey, KeyError> {
        if contains(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(KeyError::Encrypted);
        }
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|_| KeyError::NotAKey)?;
        let key = match der {
            PrivateKeyDer::Pkcs1(der) => KeyPair::Rsa(
                RsaKeyPair::from_der(der.secret_pkcs1_der())
                    .map_err(|_| KeyError::Rejected("RSA"))?,
            ),
            PrivateKeyDer::Sec1(der) => KeyPair::Ec(
                EcdsaKeyPair::from_private_key_der(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    der.secret_sec1_der(),
                )
                .map_err(|_| KeyError::Unsupported("an EC key not on P-256".into()))?,
            ),
            PrivateKeyDer::Pkcs8(der) => from_pkcs8(der.secret_pkcs8_der())?,
            _ => return Err(KeyError::NotAKey),
        };
        Ok(PrivateKey::new(key))
    }

    /// Reads a private JSON Web Key (RFC 7517): `kty` `RSA`, `EC` (`crv`
    /// `P-256`) or `OKP` (`crv` `Ed25519`). Its `kid` and `alg`, when
    /// present, are kept.
    pub fn from_jwk(jwk: &[u8]) -> Result<PrivateKey, KeyError> {
        let imported = crate::jwk_import::import(jwk)?;
        let mut key = PrivateKey::new(imported.key);
        key.kid = imported.kid;
        match imported.alg {
            Some(alg) => key.with_algorithm(alg),
            None => Ok(key),
        }
    }

    /// Reads a key file's contents, a JWK when it starts with `{`, else PEM.
    ///
    /// ```
    /// use tokenmux_jose::{Algorithm, PrivateKey, Signer as _};
    ///
    /// let jwk = std::fs::read("tests/keys/ed25519.jwk").unwrap();
    /// assert_eq!(PrivateKey::from_bytes(&jwk).unwrap().algorithm(), Algorithm::EdDSA);
    /// let error = PrivateKey::from_bytes(b"hunter2").unwrap_err();
    /// assert!(!error.to_string().contains("hunter2"));
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<PrivateKey, KeyError> {
        if bytes.trim_ascii_start().starts_with(b"{") {
            PrivateKey::from_jwk(bytes)
        } else {
            PrivateKey::from_pem(bytes)
        }
    }

    /// Sets the `kid` sent in each JWT's header.
    pub fn with_key_id(mut self, kid: impl Into<String>) -> PrivateKey {
        self.kid = Some(kid.into());
        self
    }

    /// Chooses the algorithm: `PS256` instead of `RS256` for an RSA key;
    /// for the others, only their own.
    ///
    /// ```
    /// use tokenmux_jose::{Algorithm, PrivateKey};
    ///
    /// let rsa = PrivateKey::from_pem(&std::fs::read("tests/keys/rsa-pkcs1.pem").unwrap()).unwrap();
    /// assert!(rsa.with_algorithm(Algorithm::PS256).is_ok());
    /// let ec = PrivateKey::from_pem(&std::fs::read("tests/keys/ec-pkcs8.pem").unwrap()).unwrap();
    /// assert_eq!(
    ///     ec.with_algorithm(Algorithm::RS256).unwrap_err().to_string(),
    ///     "a EC P-256 key cannot sign RS256"
    /// );
    /// ```
    pub fn with_algorithm(mut self, alg: Algorithm) -> Result<PrivateKey, KeyError> {
        let fits = match self.key {
            KeyPair::Rsa(_) => matches!(alg, Algorithm::RS256 | Algorithm::PS256),
            KeyPair::Ec(_) => alg == Algorithm::ES256,
            KeyPair::Ed(_) => alg == Algorithm::EdDSA,
        };
        if !fits {
            return Err(KeyError::Algorithm {
                key: self.key.kind(),
                alg,
            });
        }
        self.alg = alg;
        Ok(self)
    }

    /// A key from PKCS#8 DER of any of the three types (a DPoP key's
    /// stored form).
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<PrivateKey, KeyError> {
        Ok(PrivateKey::new(from_pkcs8(der)?))
    }

    fn new(key: KeyPair) -> PrivateKey {
        let alg = match key {
            KeyPair::Rsa(_) => Algorithm::RS256,
            KeyPair::Ec(_) => Algorithm::ES256,
            KeyPair::Ed(_) => Algorithm::EdDSA,
        };
        PrivateKey {
            key,
            alg,
            kid: None,
        }
    }

    fn sign_now(&self, input: &[u8]) -> Result<Vec<u8>, SignError> {
        let failed = |_| SignError::Failed(self.alg);
        let rng = SystemRandom::new();
        match &self.key {
            KeyPair::Rsa(key) => {
                let padding = if self.alg == Algorithm::PS256 {
                    &RSA_PSS_SHA256
                } else {
                    &RSA_PKCS1_SHA256
                };
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(padding, &rng, input, &mut signature)
                    .map_err(failed)?;
                Ok(signature)
            }
            KeyPair::Ec(key) => Ok(key.sign(&rng, input).map_err(failed)?.as_ref().to_vec()),
            KeyPair::Ed(key) => Ok(key.sign(input).as_ref().to_vec()),
        }
    }
}

impl KeyPair {
    fn kind(&self) -> &'static str {
        match self {
            KeyPair::Rsa(_) => "RSA",
            KeyPair::Ec(_) => "EC P-256",
            KeyPair::Ed(_) => "Ed25519",
        }
    }
}

/// A PKCS#8 key of any of the three types.
fn from_pkcs8(der: &[u8]) -> Result<KeyPair, KeyError> {
    if let Ok(key) = RsaKeyPair::from_pkcs8(der) {
        return Ok(KeyPair::Rsa(key));
    }
    if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
        return Ok(KeyPair::Ec(key));
    }
    if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
        return Ok(KeyPair::Ed(key));
    }
    Err(KeyError::Unsupported(
        "a PKCS#8 key that is not RSA, EC P-256 or Ed25519".into(),
    ))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

impl Signer for PrivateKey {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn public_jwk(&self) -> Option<serde_json::Value> {
        Some(crate::public_jwk::of(&self.key))
    }

    fn sign<'a>(&'a self, input: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, SignError>> {
        // Local signing takes microseconds: no blocking pool needed.
        Box::pin(std::future::ready(self.sign_now(input)))
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish()
    }
}
