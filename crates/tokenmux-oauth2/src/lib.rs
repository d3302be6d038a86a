//! The generic OAuth 2.0 provider: a token endpoint found by discovery
//! rather than described by a spec. Given an issuer, it reads the
//! server's metadata (RFC 8414 `/.well-known/oauth-authorization-server`,
//! else OpenID Connect `/.well-known/openid-configuration`), checks that
//! the metadata names the same issuer, and sends an RFC 6749 §4.4 client
//! credentials request to its `token_endpoint`, authenticated by the
//! method the user chose or, by default, the first of the server's
//! methods the credentials can use (see [`choose`](fn@choose)). `scope` and
//! `resource` (RFC 8707) are optional parameters.
//!
//! The facade exposes it as `Provider::oauth2(issuer)`, `provider: oauth2`
//! in a config file and `--provider oauth2 --issuer URL` on the command
//! line; `Provider::discover(issuer)` reads the metadata at once.

mod cache;
mod choose;
mod endpoint;
mod metadata;
mod spec;

pub use cache::{METADATA_LIFETIME, preload};
pub use choose::{NoMethod, choose};
pub use endpoint::{ENDPOINT, Oauth2Endpoint};
pub use metadata::{DiscoveryError, Metadata, discover};

/// The provider's name, in config files and on the command line.
pub const NAME: &str = "oauth2";
