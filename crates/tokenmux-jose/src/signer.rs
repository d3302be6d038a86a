//! What signs a JWT: one trait, so a key can be in memory or behind a KMS.

use std::future::Future;
use std::pin::Pin;

use crate::Algorithm;

/// A boxed future, so that [`Signer`] is dyn-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Signs JWS signing inputs with one key.
///
/// Dyn-compatible (`Arc<dyn Signer>`), and asynchronous so that a remote
/// key (a cloud KMS, an HSM) can implement it. Its `Debug` must never show
/// key material.
///
/// ```
/// use std::sync::Arc;
/// use tokenmux_jose::{Algorithm, BoxFuture, SignError, Signer};
///
/// /// A key held by a remote service.
/// #[derive(Debug)]
/// struct Remote;
///
/// impl Signer for Remote {
///     fn algorithm(&self) -> Algorithm { Algorithm::ES256 }
///     fn key_id(&self) -> Option<&str> { Some("kms-key-1") }
///     fn public_jwk(&self) -> Option<serde_json::Value> { None }
///     fn sign<'a>(&'a self, _input: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, SignError>> {
///         Box::pin(async { Err(SignError::Unavailable("the KMS is not reachable".into())) })
///     }
/// }
///
/// let signer: Arc<dyn Signer> = Arc::new(Remote);
/// assert_eq!(signer.key_id(), Some("kms-key-1"));
/// ```
pub trait Signer: std::fmt::Debug + Send + Sync {
    /// The algorithm of every signature, the JWS `alg`.
    fn algorithm(&self) -> Algorithm;

    /// The key's id, sent as the JWS `kid` when there is one.
    fn key_id(&self) -> Option<&str>;

    /// The key's public half as a JWK (`kty` and its key members), for a
    /// DPoP proof's header and the key's thumbprint; `None` for a shared
    /// secret.
    fn public_jwk(&self) -> Option<serde_json::Value>;

    /// Signs `input` (the JWS signing input), returning the raw signature
    /// (for ES256, `r || s`).
    fn sign<'a>(&'a self, input: &'a [u8]) -> BoxFuture<'a, Result<Vec<u8>, SignError>>;
}

/// Why a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The key refused to sign (the crypto library failed).
    #[error("the {0} key could not sign")]
    Failed(Algorithm),
    /// A remote signer could not be reached or refused; transient.
    #[error("the signer is unavailable: {0}")]
    Unavailable(String),
    /// The claims could not be encoded as JSON.
    #[error("the JWT's claims are not valid JSON")]
    Claims,
}
