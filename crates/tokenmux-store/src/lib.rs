//! The store contract of tokenmux, and everything a store needs to keep
//! it: the token a store keeps ([`AccessToken`]), its key ([`StoreKey`]),
//! the [`TokenStore`] trait and the [`Record`] it keeps (a token, and the
//! [`SharedFailure`] that makes holders back off together), the versioning rule ([`next_version`]), the
//! record codec ([`encode_record`], [`decode_record`], optionally
//! encrypted with an [`EncryptionKey`]), and [`MemoryStore`].
//!
//! A store of your own (etcd, a Kubernetes Secret, …) depends on this
//! crate only, and shows it keeps the rules the facade relies on with the
//! `testkit` module (feature `testkit`). The file and Redis stores are
//! `tokenmux-store-file` and `tokenmux-store-redis`; the facade
//! `tokenmux` re-exports all of them.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::{Duration, SystemTime};
//! use tokenmux_store::{AccessToken, MemoryStore, PutOutcome, StoreKey, TokenStore};
//!
//! let store = MemoryStore::default();
//! let key = StoreKey::from_parts("neonpanel", "https://example.com", "id", None);
//! let token = AccessToken::new("t", SystemTime::now(), Duration::from_secs(60));
//! assert_eq!(store.put(&key, &token.into(), None).await?, PutOutcome::Stored { version: 1 });
//! assert_eq!(store.get(&key).await?.unwrap().version, 1);
//! # Ok::<_, tokenmux_store::StoreError>(()) }).unwrap();
//! ```

mod bounded_file;
mod error;
mod failure;
mod key;
mod memory;
mod record;
mod store;
// Also in the crate's own tests, which check its stores with it.
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
mod token;
mod verifier;

pub use bounded_file::{FileReadError, read_bounded};
pub use error::{StoreError, StoreErrorKind};
pub use failure::{FailureKind, MAX_FAILURE_MESSAGE, SharedFailure};
pub use key::StoreKey;
pub use memory::MemoryStore;
pub use record::{EncryptionKey, InvalidKey, decode_record, encode_record};
pub use store::{Lease, MAX_VERSION, PutOutcome, Record, TokenStore, Versioned, next_version};
pub use token::{AccessToken, MAX_TOKEN_LIFETIME, fingerprint, is_header_safe};
pub use verifier::Verifier;
