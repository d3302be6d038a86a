//! A client's signing key as credentials carry it: a shared [`Signer`]
//! and a public name for it (its RFC 7638 thumbprint), which store keys
//! and equality use instead of the key.

use std::fmt;
use std::sync::Arc;

use tokenmux_jose::{PrivateKey, Signer};

/// A key that signs the client's JWTs (`private_key_jwt`), cheap to clone.
/// Two are equal when they name the same public key with the same
/// algorithm and `kid`; `Debug` shows those and nothing private.
///
/// ```
/// use tokenmux_wire::SigningKey;
/// use tokenmux_jose::PrivateKey;
///
/// let pem = std::fs::read("../tokenmux-jose/tests/keys/ec-sec1.pem").unwrap();
/// let key = SigningKey::from(PrivateKey::from_pem(&pem).unwrap());
/// assert_eq!(key.identity().len(), 43); // base64url of a SHA-256
/// assert!(format!("{key:?}").starts_with("SigningKey { alg: ES256, kid: None, thumbprint: "));
/// ```
#[derive(Clone)]
pub struct SigningKey {
    signer: Arc<dyn Signer>,
    identity: String,
}

impl SigningKey {
    /// Any signer: a key in memory, or one in a KMS. Named by its public
    /// JWK's thumbprint, or by its algorithm and `kid` when it has none.
    pub fn new(signer: Arc<dyn Signer>) -> SigningKey {
        let identity = signer
            .public_jwk()
            .and_then(|jwk| tokenmux_jose::thumbprint(&jwk))
            .unwrap_or_else(|| format!("{}:{}", signer.algorithm(), signer.key_id().unwrap_or("")));
        SigningKey { signer, identity }
    }

    /// The signer.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// The key's public name: its RFC 7638 thumbprint (public, so it may
    /// be part of a store key).
    pub fn identity(&self) -> &str {
        &self.identity
    }
}

impl From<PrivateKey> for SigningKey {
    fn from(key: PrivateKey) -> SigningKey {
        SigningKey::new(Arc::new(key))
    }
}

impl PartialEq for SigningKey {
    fn eq(&self, other: &SigningKey) -> bool {
        self.identity == other.identity
            && self.signer.algorithm() == other.signer.algorithm()
            && self.signer.key_id() == other.signer.key_id()
    }
}

impl Eq for SigningKey {}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.signer.algorithm())
            .field("kid", &self.signer.key_id())
            .field("thumbprint", &self.identity)
            .finish()
    }
}
