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
//! [`RefreshPolicy`] and [`RetryPolicy`]. Each process refreshes at its
//! own random point of the window (fleet jitter).
//!
//! Watching it: metrics through the [`metrics`] facade (install the
//! Prometheus or OpenTelemetry exporter before building sources; the list
//! is in docs/agent.md), [`TokenSource::subscribe`] for lifecycle events,
//! [`TokenSource::status`] for a snapshot. Sending it: [`BearerAuth`] for
//! reqwest-middleware, [`AuthLayer`] for tower services (hyper, tonic).
//! Configuring it: the `tokenmux-config` crate reads a source (its
//! `SourceConfig`) or named sources from YAML, TOML or JSON, credentials
//! from the environment or files, and gives a [`TokenSourceBuilder`].
//!
//! ## One example per provider
//!
//! Each runs against [`tokenmux-mock`](../tokenmux_mock/index.html); drop
//! `.with_base_url(…)` to use the real endpoint.
//!
//! ### NeonPanel
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = tokenmux_mock::MockServer::start(Default::default()).await?;
//! # let mock_url = mock.base_url("neonpanel");
//! use tokenmux::{Credentials, Provider, TokenSource};
//!
//! let tokens = TokenSource::builder(Provider::neonpanel().with_base_url(mock_url)) // a local mock here
//!     .credentials(Credentials::client("mock-client", "mock-client-secret"))
//!     .build()?;
//! let header = tokens.authorization().await?;
//! assert!(header.to_str()?.starts_with("Bearer "));
//! # Ok(()) }
//! ```
//!
//! ### Airalo (production: `Provider::airalo()`)
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = tokenmux_mock::MockServer::start(Default::default()).await?;
//! # let mock_url = mock.base_url("airalo");
//! use tokenmux::{Credentials, Provider, TokenSource};
//!
//! let tokens = TokenSource::builder(Provider::airalo_sandbox().with_base_url(mock_url)) // a local mock here
//!     .credentials(Credentials::client("mock-client", "mock-client-secret"))
//!     .build()?;
//! let header = tokens.authorization().await?;
//! assert!(header.to_str()?.starts_with("Bearer "));
//! // Airalo tokens last a year; they are refreshed daily, as its document advises.
//! assert!(tokens.token().await?.lifetime() <= std::time::Duration::from_secs(86_400));
//! # Ok(()) }
//! ```
//!
//! ### JSON:API token endpoint
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = tokenmux_mock::MockServer::start(Default::default()).await?;
//! # let mock_url = mock.base_url("jsonapi");
//! use tokenmux::{Credentials, Provider, TokenSource};
//!
//! let tokens = TokenSource::builder(Provider::jsonapi("https://api.example.com").with_base_url(mock_url)) // a local mock here
//!     .credentials(Credentials::client("mock-client", "mock-client-secret"))
//!     .build()?;
//! let header = tokens.authorization().await?;
//! assert!(header.to_str()?.starts_with("Bearer "));
//! # Ok(()) }
//! ```
//!
//! ### OAuth2 password grant (refresh tokens rotate)
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let mock = tokenmux_mock::MockServer::start(Default::default()).await?;
//! # let mock_url = mock.base_url("password");
//! use tokenmux::{Credentials, Provider, TokenSource};
//!
//! let tokens = TokenSource::builder(Provider::password("https://auth.example.com").with_base_url(mock_url)) // a local mock here
//!     .credentials(Credentials::password("mock-client", "mock-client-secret", "mock-user", "mock-user-password"))
//!     .build()?;
//! let header = tokens.authorization().await?;
//! assert!(header.to_str()?.starts_with("Bearer "));
//! assert!(tokens.token().await?.refresh_token().is_some());
//! # Ok(()) }
//! ```
//!
//! ## Stores and integration
//!
//! Tokens live in a [`MemoryStore`] by default; a [`FileStore`] keeps them
//! across restarts (encrypted with an [`EncryptionKey`] if you give one).
//! [`BearerAuth`] is a `reqwest-middleware` layer that adds the header and
//! retries once on 401. Applications that choose the provider in a config
//! file deserialize a `tokenmux_config::SourceConfig`.
//!
//! ## Providers come from specs
//!
//! Each provider is an OpenAPI spec in the workspace's `specs/` with a few
//! `x-tokenmux-…` extensions; `cargo xtask regen` generates its client
//! crate, its [`TokenEndpoint`](endpoint::TokenEndpoint) implementation, its
//! constructors on [`Provider`] and its cargo feature (all of them are in
//! the default `providers` feature, as is `middleware`).
//! [`Provider::all`] lists them and [`Provider::by_name`] finds one, as
//! config files and the CLI do. An endpoint without a spec plugs in with
//! [`Provider::from_endpoint`].

#[cfg(feature = "tower")]
mod auth_layer;
mod authorization;
mod classify;
mod client_certificate;
mod clock;
mod config_error;
mod cool_down;
mod credentials;
#[cfg(feature = "oauth2")]
mod discovery;
mod dpop;
mod error;
mod exchange;
mod fetch;
mod flight;
mod generated;
mod http_client;
mod jwt_expiry;
// The label sets of the metric series, each made once.
mod label_sets;
mod lease_guard;
#[cfg(feature = "middleware")]
mod middleware;
mod observe;
mod parameters;
mod policy;
mod provider;
mod rotation;
// A fake token endpoint for the layers' unit tests.
#[cfg(test)]
mod scripted;
mod sharded_header;
mod source;

#[cfg(feature = "tower")]
pub use auth_layer::{AuthLayer, Authorized, BoxError};
pub use authorization::Authorization;
pub use client_certificate::{CertificateError, ClientCertificate};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config_error::ConfigError;
pub use credentials::Credentials;
pub use error::{Error, ErrorKind};
pub use exchange::decode_token_response;
#[cfg(feature = "middleware")]
pub use middleware::BearerAuth;
pub use observe::{LifecycleEvent, SourceStatus, TokenOrigin, TokenState};
pub use policy::{RefreshPolicy, RetryPolicy};
pub use provider::Provider;
pub use source::{TokenSource, TokenSourceBuilder};
/// Signed JWTs: the [`Signer`](jose::Signer) trait (implement it for a key
/// in a KMS or HSM), [`PrivateKey`](jose::PrivateKey) (PEM or JWK) and the
/// algorithms tokenmux signs with.
pub use tokenmux_jose as jose;
/// The rules any [`TokenStore`] must keep, checked (feature `testkit`):
/// see [`tokenmux_store::testkit`].
#[cfg(feature = "testkit")]
pub use tokenmux_store::testkit;
pub use tokenmux_store::{
    AccessToken, EncryptionKey, FailureKind, FileReadError, InvalidKey, Lease, MAX_FAILURE_MESSAGE,
    MAX_TOKEN_LIFETIME, MAX_VERSION, MemoryStore, PutOutcome, Record, SharedFailure, StoreError,
    StoreErrorKind, StoreKey, TokenStore, Verifier, Versioned, decode_record, encode_record,
    is_header_safe, next_version, read_bounded,
};
#[cfg(feature = "file")]
pub use tokenmux_store_file::FileStore;
#[cfg(feature = "redis")]
pub use tokenmux_store_redis::RedisStore;
pub use tokenmux_wire::scrub::neutralise_controls;
pub use tokenmux_wire::{Secret, SigningKey};

/// The contract between provider crates and the facade, for implementing
/// [`TokenEndpoint`](endpoint::TokenEndpoint) by hand (see
/// [`Provider::from_endpoint`]). Generated provider crates implement it
/// for their `ENDPOINT`.
pub mod endpoint {
    pub use tokenmux_wire::{
        AssertionAudience, AuthMethod, BasicEncoding, BodyEncoding, BoxFuture, ClientAuth,
        ClientAuthError, ClientAuthentication, ClientError, CredentialRole, DPOP, DPOP_NONCE,
        EndpointResult, EndpointSpec, ErrorCondition, ErrorDetails, ErrorFields, ErrorResponse,
        Expires, Expiry, ExpiryForm, FieldValue, Grant, GrantCredentials, GrantKind, GrantSpec,
        Issued, Needs, OperationWire, ParameterSpec, Parameters, Place, Presentation, RequestField,
        ResponseValue, Server, TokenEndpoint, TokenFields, TokenRequest, UnknownAuthMethod,
        dpop_nonce, form_body, is_dpop_nonce, presentation_scheme, read_answer,
        request_without_body, send_form, set_pointer,
    };
}
