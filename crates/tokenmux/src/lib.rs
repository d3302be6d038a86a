//! Valid bearer tokens from several token endpoints, without writing the
//! caching, refresh, retry or secret handling yourself.
//!
//! Pick a [`Provider`], give [`Credentials`], ask a [`TokenSource`] for a
//! token or a ready `Authorization` header:
//!
//! ```no_run
//! use tokenmux::{Credentials, Provider, TokenSource};
//!
//! # async fn example() -> Result<(), tokenmux::Error> {
//! let tokens = TokenSource::builder(Provider::airalo_sandbox())
//!     .credentials(Credentials::client("my-id", "my-secret"))
//!     .build()?;
//! let header = tokens.authorization().await?; // "Bearer …", from cache when valid
//! # let _ = header;
//! # Ok(()) }
//! ```
//!
//! The lifecycle: a token is *fresh*, then *stale* inside its refresh-ahead
//! window (served at once while one background refresh runs), then
//! *expired* (callers wait; all of them share one upstream request). See
//! [`RefreshPolicy`] and [`RetryPolicy`].
//!
//! Each provider is a cargo feature (`neonpanel`, `airalo`, `jsonapi`,
//! `password`), all on by default.

mod clock;
mod config;
mod credentials;
mod error;
mod exchange;
mod file_store;
#[cfg(feature = "middleware")]
mod middleware;
mod policy;
mod provider;
mod source;
mod store;
mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::SourceConfig;
pub use credentials::Credentials;
pub use error::Error;
pub use file_store::{EncryptionKey, FileStore};
#[cfg(feature = "middleware")]
pub use middleware::BearerAuth;
pub use policy::{RefreshPolicy, RetryPolicy};
pub use provider::{Provider, ProviderKind};
pub use source::{TokenSource, TokenSourceBuilder};
pub use store::{MemoryStore, PutOutcome, StoreError, StoreKey, TokenStore, Versioned};
pub use token::AccessToken;
pub use tokenmux_wire::Secret;
