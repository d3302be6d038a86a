//! Signed JWTs for tokenmux's client authentication and JWT grants.
//!
//! - [`Signer`]: what signs. Dyn-compatible and asynchronous, so a key can
//!   live in a KMS or an HSM; [`PrivateKey`] (a PEM or JWK key in memory)
//!   and [`HmacKey`] (`client_secret_jwt`) are the two in this crate.
//! - [`Jwt`]: a compact JWS from a header and claims, signed by a signer.
//! - [`ClientAssertion`]: RFC 7523's claims, fresh (`jti`, `iat`, `exp`)
//!   every time, so no assertion is presented twice.
//! - [`DpopKey`] and [`DpopProof`]: RFC 9449's proof of possession.
//!
//! ```
//! use tokenmux_jose::{ClientAssertion, HmacKey, Signer as _};
//!
//! # tokio_test_block_on(async {
//! let key = HmacKey::new("a-client-secret-of-at-least-32-bytes!!");
//! let assertion = ClientAssertion::new("my-client", "https://as.example/token")
//!     .sign(&key)
//!     .await
//!     .unwrap();
//! use secrecy::ExposeSecret as _;
//! assert_eq!(assertion.expose_secret().split('.').count(), 3);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod algorithm;
mod app_jwt;
mod assertion;
mod dpop_key;
mod dpop_proof;
mod hmac_key;
mod jwk_import;
mod jwt;
mod private_key;
mod public_jwk;
mod signer;

pub use algorithm::Algorithm;
pub use app_jwt::AppJwt;
pub use assertion::ClientAssertion;
pub use dpop_key::DpopKey;
pub use dpop_proof::DpopProof;
pub use hmac_key::HmacKey;
pub use jwt::Jwt;
pub use private_key::{KeyError, PrivateKey};
pub use public_jwk::thumbprint;
pub use signer::{BoxFuture, SignError, Signer};
