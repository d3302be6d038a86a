//! The options of `tokenmux token`.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, ValueEnum};
use tokenmux::Provider;

use crate::redis_flags::RedisArgs;

/// The names `--provider` takes: every provider compiled in, from `specs/`.
fn provider_names() -> PossibleValuesParser {
    PossibleValuesParser::new(Provider::names())
}

/// A duration such as `5s`, `10m` or `1h 30m`.
fn duration(arg: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(arg).map_err(|e| format!("{e}; e.g. 30s, 10m, 1h"))
}

/// `--param NAME=VALUE`: split at the first `=`; the value may hold more.
fn name_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err("expected NAME=VALUE, e.g. --param scope=read".to_owned()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The token alone.
    Raw,
    /// The value of the header the provider's spec presents the token
    /// in: `Bearer <token>` unless it declares another
    /// (`x-tokenmux-presentation`).
    Header,
    /// `{"access_token", "token_type", "expires_at", "expires_in",
    /// "header", "header_value"}`: `header` is the header to send, with
    /// `header_value`.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Cache {
    /// No cache beyond this process.
    Memory,
    /// Files in the user's cache directory (or --cache-dir).
    File,
    /// A shared Redis store.
    Redis,
}

/// Options of `tokenmux token`. Credentials come from the environment
/// (TOKENMUX_CLIENT_ID, TOKENMUX_CLIENT_SECRET, TOKENMUX_USERNAME,
/// TOKENMUX_PASSWORD, TOKENMUX_REFRESH_TOKEN), flags, or the config file;
/// the provider's spec says which it needs.
#[derive(Args)]
pub(crate) struct TokenArgs {
    /// Set when the agent was asked before the runtime was built and
    /// declined: it is not asked again.
    #[arg(skip)]
    pub(super) agent_declined: bool,
    /// When --timeout runs out, counted from the first attempt.
    #[arg(skip)]
    pub(super) deadline: Option<std::time::Instant>,
    /// A source named in the config file's `sources:` (served by a running
    /// agent when there is one).
    pub(super) name: Option<String>,
    /// Do not ask a running agent; build the source in this process.
    #[arg(long)]
    pub(super) no_agent: bool,
    /// The agent's socket (default: $TOKENMUX_AGENT_SOCKET, else the
    /// user's runtime directory). The agent must run as this user, as
    /// root, or as --agent-uid.
    #[arg(long, env = "TOKENMUX_AGENT_SOCKET")]
    pub(super) socket: Option<PathBuf>,
    /// Also trust an agent run by this uid (a shared agent whose
    /// `allowed_uids` lists this user).
    #[arg(long, env = "TOKENMUX_AGENT_UID")]
    pub(super) agent_uid: Option<u32>,
    /// Fetch a new token now and replace the cached one (after a request
    /// was refused with it).
    #[arg(long)]
    pub(super) refresh: bool,
    /// The provider, by its spec's name (or `provider` in --config).
    #[arg(long, value_parser = provider_names())]
    pub(super) provider: Option<String>,
    /// A server the provider's spec names, e.g. `sandbox` (default: its first).
    #[arg(long, conflicts_with = "base_url")]
    pub(super) server: Option<String>,
    /// The provider's base URL, as in its spec; the endpoint path is appended.
    #[arg(long)]
    pub(super) base_url: Option<String>,
    /// The authorization server's issuer identifier: where `--provider
    /// oauth2` finds its metadata, or the audience of client assertions
    /// for a spec that addresses them to it.
    #[arg(long, env = "TOKENMUX_ISSUER", value_name = "URL")]
    pub(super) issuer: Option<String>,
    /// The client authentication method for `--provider oauth2`, by its
    /// RFC 8414 name (default: the first the server lists that the
    /// credentials can use).
    #[arg(long, env = "TOKENMUX_CLIENT_AUTH", value_name = "METHOD")]
    pub(super) client_auth: Option<String>,
    /// A PEM file of CA certificates to trust for the token endpoint, as
    /// well as the system's roots (a private CA).
    #[arg(long, env = "TOKENMUX_CA_FILE", value_name = "PATH")]
    pub(super) ca_file: Option<PathBuf>,
    /// Bind tokens to a DPoP key (RFC 9449): the token request carries a
    /// proof, and the token is `DPoP` (print a proof for an API request
    /// with --dpop-proof). The key is kept beside the token in the cache.
    #[arg(long)]
    pub(super) dpop: bool,
    /// With a DPoP token: a proof for one API request, METHOD and URL,
    /// printed as `dpop` in --format json (with `header_value`, the
    /// `Authorization` that goes with it). Through the agent, the agent
    /// signs it.
    #[arg(long, num_args = 2, value_names = ["METHOD", "URL"])]
    pub(super) dpop_proof: Option<Vec<String>>,
    /// The `DPoP-Nonce` the API last answered with (a 401 `use_dpop_nonce`
    /// gives one): the proof carries it.
    // A nonce is opaque and may begin with `-` (base64url does, one in 64).
    #[arg(
        long,
        requires = "dpop_proof",
        value_name = "NONCE",
        allow_hyphen_values = true
    )]
    pub(super) dpop_nonce: Option<String>,
    /// The same as `--server sandbox`.
    #[arg(long)]
    pub(super) sandbox: bool,
    /// Allow a plain http:// base URL on a host that is not loopback.
    #[arg(long)]
    pub(super) allow_insecure_http: bool,
    /// What to print.
    #[arg(long, value_enum, default_value = "raw")]
    pub(super) format: Format,
    /// Give up after this long (e.g. 5s, 1m), retries included: exit 4
    /// rather than wait for an endpoint that does not answer.
    #[arg(long, env = "TOKENMUX_TIMEOUT", value_name = "DURATION", value_parser = duration)]
    pub(super) timeout: Option<std::time::Duration>,
    /// A token valid for at least this long (e.g. 10m): a cached one that
    /// expires sooner is replaced by a new one.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub(super) min_lifetime: Option<std::time::Duration>,
    /// Where tokens are kept between runs (default: the config file's
    /// `store`, else `file`).
    #[arg(long, value_enum)]
    pub(super) cache: Option<Cache>,
    /// Directory of the file cache (default: the user's cache dir + /tokenmux).
    #[arg(long)]
    pub(super) cache_dir: Option<PathBuf>,
    #[command(flatten)]
    pub(super) redis: RedisArgs,
    /// A YAML or TOML file (default: $TOKENMUX_CONFIG, else the user's
    /// config directory); see `tokenmux config schema`.
    #[arg(long)]
    pub(super) config: Option<PathBuf>,
    /// Client id.
    #[arg(long, env = "TOKENMUX_CLIENT_ID")]
    pub(super) client_id: Option<String>,
    /// Client secret (prefer the environment or --client-secret-file:
    /// flags show in process lists).
    // A secret may begin with `-`: read as an option, clap's error would
    // print it ("unexpected argument '-…' found").
    #[arg(
        long,
        env = "TOKENMUX_CLIENT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub(super) client_secret: Option<String>,
    /// A file holding the client secret (one trailing newline dropped), or
    /// `-` to read it from stdin.
    #[arg(
        long,
        env = "TOKENMUX_CLIENT_SECRET_FILE",
        value_name = "PATH",
        conflicts_with = "client_secret"
    )]
    pub(super) client_secret_file: Option<PathBuf>,
    /// Username, for the password provider.
    #[arg(long, env = "TOKENMUX_USERNAME")]
    pub(super) username: Option<String>,
    /// Password, for the password provider (prefer the environment or
    /// --password-file).
    // As --client-secret: a password may begin with `-`.
    #[arg(
        long,
        env = "TOKENMUX_PASSWORD",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub(super) password: Option<String>,
    /// A file holding the password (one trailing newline dropped), or `-`
    /// to read it from stdin.
    #[arg(
        long,
        env = "TOKENMUX_PASSWORD_FILE",
        value_name = "PATH",
        conflicts_with = "password"
    )]
    pub(super) password_file: Option<PathBuf>,
    /// A refresh token obtained out of band, for a provider whose token
    /// request presents one (prefer the environment). A rotated one is
    /// kept in the cache and used next.
    #[arg(long, env = "TOKENMUX_REFRESH_TOKEN", hide_env_values = true)]
    pub(super) refresh_token: Option<String>,
    /// The client's private key file, PEM or JWK, for a provider whose
    /// spec authenticates the client with `private_key_jwt`.
    #[arg(long, env = "TOKENMUX_PRIVATE_KEY_FILE", value_name = "PATH")]
    pub(super) private_key_file: Option<PathBuf>,
    /// The `kid` each assertion's header names (default: a JWK's own).
    #[arg(long, env = "TOKENMUX_KEY_ID", requires = "private_key_file")]
    pub(super) key_id: Option<String>,
    /// The private key's algorithm: RS256 (an RSA key's default) or PS256;
    /// ES256 and EdDSA follow from their keys.
    #[arg(long, env = "TOKENMUX_KEY_ALGORITHM", requires = "private_key_file")]
    pub(super) key_algorithm: Option<String>,
    /// A client certificate chain (PEM, leaf first), presented to the
    /// token endpoint in the TLS handshake: tls_client_auth,
    /// self_signed_tls_client_auth, certificate-bound tokens (RFC 8705).
    #[arg(
        long,
        env = "TOKENMUX_CLIENT_CERT",
        value_name = "PATH",
        requires = "client_key"
    )]
    pub(super) client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(
        long,
        env = "TOKENMUX_CLIENT_KEY",
        value_name = "PATH",
        requires = "client_cert"
    )]
    pub(super) client_key: Option<PathBuf>,
    /// A value of one of the provider's parameters (its spec's
    /// `x-tokenmux-parameter`: a scope, an audience), over the config
    /// file's `params:`. Repeatable: --param scope=read --param audience=api.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = name_value)]
    pub(super) params: Vec<(String, String)>,
}
