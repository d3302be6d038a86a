//! `client_secret_jwt`'s key: the client secret itself (RFC 7523 §2.2,
//! OpenID Connect Core §9), signing HS256.

use std::fmt;

use aws_lc_rs::hmac;

use crate::{Algorithm, BoxFuture, SignError, Signer};

/// An HMAC-SHA-256 key made from a shared secret. Its `Debug` shows no key.
///
/// ```
/// let key = tokenmux_jose::HmacKey::new("s3cret");
/// assert_eq!(format!("{key:?}"), "HmacKey { alg: HS256 }");
/// ```
pub struct HmacKey {
    key: hmac::Key,
}

impl HmacKey {
    /// A key from the shared secret's bytes (as the server holds them).
    pub fn new(secret: impl AsRef<[u8]>) -> HmacKey {
        HmacKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_ref()),
        }
    }
}

impl Signer for HmacKey {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }

    fn key_id(&self) -> Option<&str> {
        None
    }

    fn public_jwk(&self) -> Option<serde_json::Value> {
        None
    }

    fn sign<'a>(&'a self, input: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, SignError>> {
        let tag = hmac::sign(&self.key, input);
        Box::pin(std::future::ready(Ok(tag.as_ref().to_vec())))
    }
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("alg", &Algorithm::HS256)
            .finish()
    }
}
