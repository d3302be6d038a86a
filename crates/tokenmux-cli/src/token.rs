//! `tokenmux token`: print a valid token.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use clap::builder::PossibleValuesParser;
use clap::{Args, ValueEnum};
use tokenmux::{Credentials, EncryptionKey, FileStore, MemoryStore, Provider, TokenStore};
use tokenmux_config::{SourceConfig, StoreConfig};

use crate::config_file::{self, ConfigFile};
use crate::redis_flags::{self, RedisArgs};
use crate::{Failure, print_line};

/// The names `--provider` takes: every provider compiled in, from `specs/`.
fn provider_names() -> PossibleValuesParser {
    PossibleValuesParser::new(Provider::all().iter().map(|provider| provider.name()))
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// The token alone.
    Raw,
    /// `Bearer <token>`.
    Header,
    /// `{"access_token", "token_type", "expires_at", "expires_in"}`.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Cache {
    /// No cache beyond this process.
    Memory,
    /// Files in the user's cache directory (or --cache-dir).
    File,
    /// A shared Redis store.
    Redis,
}

/// Options of `tokenmux token`. Credentials come from the environment
/// (TOKENMUX_CLIENT_ID, TOKENMUX_CLIENT_SECRET, TOKENMUX_USERNAME,
/// TOKENMUX_PASSWORD), flags, or the config file.
#[derive(Args)]
pub(crate) struct TokenArgs {
    /// A source named in the config file's `sources:` (served by a running
    /// agent when there is one).
    name: Option<String>,
    /// Do not ask a running agent; build the source in this process.
    #[arg(long)]
    no_agent: bool,
    /// The agent's socket (default: $TOKENMUX_AGENT_SOCKET, else the
    /// user's runtime directory). The agent must run as this user, as
    /// root, or as --agent-uid.
    #[arg(long, env = "TOKENMUX_AGENT_SOCKET")]
    socket: Option<PathBuf>,
    /// Also trust an agent run by this uid (a shared agent whose
    /// `allowed_uids` lists this user).
    #[arg(long, env = "TOKENMUX_AGENT_UID")]
    agent_uid: Option<u32>,
    /// Fetch a new token now and replace the cached one (after a request
    /// was refused with it).
    #[arg(long)]
    refresh: bool,
    /// The provider, by its spec's name (or `provider` in --config).
    #[arg(long, value_parser = provider_names())]
    provider: Option<String>,
    /// A server the provider's spec names, e.g. `sandbox` (default: its first).
    #[arg(long, conflicts_with = "base_url")]
    server: Option<String>,
    /// The provider's base URL, as in its spec; the endpoint path is appended.
    #[arg(long)]
    base_url: Option<String>,
    /// The same as `--server sandbox`.
    #[arg(long)]
    sandbox: bool,
    /// Allow a plain http:// base URL on a host that is not loopback.
    #[arg(long)]
    allow_insecure_http: bool,
    /// What to print.
    #[arg(long, value_enum, default_value = "raw")]
    format: Format,
    /// Where tokens are kept between runs (default: the config file's
    /// `store`, else `file`).
    #[arg(long, value_enum)]
    cache: Option<Cache>,
    /// Directory of the file cache (default: the user's cache dir + /tokenmux).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    #[command(flatten)]
    redis: RedisArgs,
    /// A YAML or TOML file (default: $TOKENMUX_CONFIG, else the user's
    /// config directory); see `tokenmux config schema`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Client id.
    #[arg(long, env = "TOKENMUX_CLIENT_ID")]
    client_id: Option<String>,
    /// Client secret (prefer the environment: flags show in process lists).
    #[arg(long, env = "TOKENMUX_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Username, for the password provider.
    #[arg(long, env = "TOKENMUX_USERNAME")]
    username: Option<String>,
    /// Password, for the password provider (prefer the environment).
    #[arg(long, env = "TOKENMUX_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

pub(crate) async fn run(args: TokenArgs) -> Result<(), Failure> {
    warn_about_secret_flags(&args);
    if let Some(name) = &args.name {
        return run_named(name, &args).await;
    }
    // The older form: one source from flags, or from a one-source file.
    let file = match (&args.config, &args.provider) {
        (Some(path), _) => Some(path.clone()),
        (None, Some(_)) => None,
        (None, None) => config_file::locate(None),
    };
    let config = match file {
        Some(path) => match config_file::read(&path) {
            Ok(ConfigFile::Single(config)) => {
                let config = *config;
                if config.credentials.is_some() {
                    // The file's own credentials: never silently another's.
                    let from = format!("{}'s `credentials`", path.display());
                    refuse_credential_flags(&from)?;
                    warn_unused_credential_variables(&from);
                }
                config
            }
            Ok(ConfigFile::Named(named)) if args.provider.is_none() => {
                let names: Vec<_> = named.sources.keys().map(String::as_str).collect();
                return Err(Failure::usage(format!(
                    "{} names sources: give one (`tokenmux token NAME`): {}",
                    path.display(),
                    names.join(", ")
                )));
            }
            Ok(ConfigFile::Named(_)) => blank(&args)?,
            Err(problems) => {
                return Err(Failure::usage(format!(
                    "{}: {} (`tokenmux config check` lists every problem)",
                    path.display(),
                    problems[0]
                )));
            }
        },
        None => blank(&args)?,
    };
    run_config(config, None, &args).await
}

/// A config with only the provider, from `--provider`.
fn blank(args: &TokenArgs) -> Result<SourceConfig, Failure> {
    let provider = args
        .provider
        .clone()
        .ok_or_else(|| Failure::usage("give --provider, --config, or a source's name"))?;
    Ok(SourceConfig {
        provider,
        server: None,
        base_url: None,
        sandbox: false,
        credentials: None,
        store: None,
        allow_insecure_http: false,
        refresh: None,
        retry: None,
    })
}

/// The flags that describe one source on the command line; a named source
/// is described by its config file alone.
const SOURCE_FLAGS: [&str; 8] = [
    "--provider",
    "--server",
    "--base-url",
    "--sandbox",
    "--client-id",
    "--client-secret",
    "--username",
    "--password",
];
/// The environment's credentials, for a source given by flags.
const CREDENTIAL_VARIABLES: [&str; 4] = [
    "TOKENMUX_CLIENT_ID",
    "TOKENMUX_CLIENT_SECRET",
    "TOKENMUX_USERNAME",
    "TOKENMUX_PASSWORD",
];

/// Credential flags on the command line while `from` gives the
/// credentials: the user meant one of them, and sending the wrong one
/// sends a secret to the wrong place.
fn refuse_credential_flags(from: &str) -> Result<(), Failure> {
    let given: Vec<_> = SOURCE_FLAGS[4..]
        .iter()
        .filter(|flag| flag_given(flag))
        .copied()
        .collect();
    match given.is_empty() {
        true => Ok(()),
        false => Err(Failure::usage(format!(
            "{} and {from} both give credentials: remove the flags, or use --provider without the file",
            given.join(", ")
        ))),
    }
}

/// Says which credential variables are set and not used, because `from`
/// gives the credentials.
fn warn_unused_credential_variables(from: &str) {
    let set: Vec<_> = CREDENTIAL_VARIABLES
        .iter()
        .filter(|variable| std::env::var_os(variable).is_some())
        .copied()
        .collect();
    if !set.is_empty() {
        eprintln!(
            "tokenmux: warning: {} set in the environment, not used: the credentials are {from}",
            set.join(", ")
        );
    }
}

/// `tokenmux token NAME`: from the agent when it serves the same config
/// file, else from the config file's source of that name, in this process.
async fn run_named(name: &str, args: &TokenArgs) -> Result<(), Failure> {
    let given: Vec<_> = SOURCE_FLAGS
        .iter()
        .filter(|flag| flag_given(flag))
        .copied()
        .collect();
    if !given.is_empty() {
        return Err(Failure::usage(format!(
            "{} describe a source given by flags (--provider); source `{name}` is described by \
             its config file alone",
            given.join(", ")
        )));
    }
    if !args.no_agent
        && let Some(token) = from_agent(name, args).await?
    {
        return print_token(
            args.format,
            &token.access_token,
            &token.token_type,
            token.expires_at,
        );
    }
    let (path, mut file, _) = config_file::load_named(args.config.as_deref())?;
    let config = file.sources.remove(name).ok_or_else(|| {
        let names: Vec<_> = file.sources.keys().map(String::as_str).collect();
        Failure::usage(format!(
            "{} names no source `{name}` (it names: {})",
            path.display(),
            names.join(", ")
        ))
    })?;
    warn_unused_credential_variables(&format!(
        "source `{name}`'s own (sources.{name}.credentials in {})",
        path.display()
    ));
    run_config(config, Some(name), args).await
}

/// The token from the agent, when one runs and serves the config file this
/// command would read; `None` (said on stderr when an agent was expected)
/// to build the source here.
async fn from_agent(
    name: &str,
    args: &TokenArgs,
) -> Result<Option<tokenmux_agent::client::AgentToken>, Failure> {
    use tokenmux_agent::client::{self, AgentAddress, Answer};
    let (socket, explicit) = match &args.socket {
        Some(socket) => (socket.clone(), true),
        None => match tokenmux_agent::trusted_default_socket() {
            Some(socket) => (socket, false),
            None => return Ok(None),
        },
    };
    if !explicit && !socket.exists() {
        return Ok(None);
    }
    // The agent must serve the file this command would read.
    let config = match config_file::locate(args.config.as_deref()) {
        Some(path) => match config_file::FileIdentity::of(&path) {
            Some(identity) => Some(identity),
            None => return Ok(None),
        },
        None => None,
    };
    let address = AgentAddress {
        socket: &socket,
        trusted_uid: args.agent_uid,
    };
    match client::token(&address, name, config, args.refresh).await? {
        Answer::Token(token) => Ok(Some(token)),
        Answer::Done => Ok(None),
        Answer::Fallback(why) => {
            eprintln!("tokenmux: {why}; building the source in this process");
            Ok(None)
        }
    }
}

async fn run_config(
    mut config: SourceConfig,
    name: Option<&str>,
    args: &TokenArgs,
) -> Result<(), Failure> {
    if let Some(provider) = &args.provider {
        config.provider = provider.clone();
    }
    if args.base_url.is_some() {
        config.base_url = args.base_url.clone();
        config.server = None;
    }
    if args.server.is_some() {
        config.server = args.server.clone();
        config.base_url = None;
    }
    config.sandbox |= args.sandbox;
    config.allow_insecure_http |= args.allow_insecure_http;
    // The environment's and the flags' credentials are for a source given
    // by flags, or a file that gives none: a named source has its own.
    if name.is_none()
        && config.credentials.is_none()
        && let Some(credentials) = credentials(args, &config.provider()?)?
    {
        config.credentials = Some(credentials.into());
    }
    // --cache wins over the config file's store; neither: the file cache.
    let cache = match (args.cache, &config.store) {
        (Some(cache), _) => Some(cache),
        (None, Some(_)) => None,
        (None, None) => Some(Cache::File),
    };
    // The config file's Redis is opened here, checked as the flags' is,
    // and taken out of the config so that it is not opened twice.
    let configured_redis = match (cache, config.store.take()) {
        (None, Some(StoreConfig::Redis(redis))) => Some(redis_flags::open(&redis).await?),
        (_, store) => {
            config.store = store;
            None
        }
    };
    let mut builder = config.into_builder()?;
    if let Some(redis) = configured_redis {
        builder = builder.store(Arc::new(redis));
    }
    if let Some(cache) = cache {
        builder = builder.store(store(cache, args).await?);
    }
    if let Some(name) = name {
        builder = builder.name(name);
    }
    let tokens = builder
        // One-shot process: refresh a stale token before printing it.
        .background_refresh(false)
        .build()?;
    let token = match args.refresh {
        true => tokens.refresh().await?,
        false => tokens.token().await?,
    };
    print_token(
        args.format,
        token.secret().expose_secret(),
        token.token_type(),
        token.expires_at(),
    )
}

fn print_token(
    format: Format,
    secret: &str,
    token_type: &str,
    expires_at: SystemTime,
) -> Result<(), Failure> {
    match format {
        Format::Raw => print_line(secret),
        Format::Header => print_line(&format!("{token_type} {secret}")),
        Format::Json => {
            let expires_in = expires_at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_secs();
            let json = serde_json::json!({
                "access_token": secret,
                "token_type": token_type,
                "expires_at": rfc3339(expires_at),
                "expires_in": expires_in,
            });
            print_line(&json.to_string())
        }
    }
}

/// Secrets given as flags show in process lists; one given both ways is
/// taken from the flag, which may not be what the user meant.
fn warn_about_secret_flags(args: &TokenArgs) {
    for (flag, variable) in [
        ("--client-secret", "TOKENMUX_CLIENT_SECRET"),
        ("--password", "TOKENMUX_PASSWORD"),
    ] {
        if !flag_given(flag) {
            continue;
        }
        match std::env::var_os(variable) {
            Some(_) => eprintln!(
                "tokenmux: warning: {flag} overrides {variable}, and shows in process lists; give one, in the environment"
            ),
            None => {
                eprintln!("tokenmux: warning: {flag} shows in process lists; prefer {variable}")
            }
        }
    }
    if let Some((flag, variable)) = args.redis.url_flag_with_password() {
        eprintln!(
            "tokenmux: warning: {flag} holds a password, which shows in process lists; prefer {variable}"
        );
    }
}

/// Whether `flag` is on the command line (as `--flag value` or `--flag=value`).
pub(crate) fn flag_given(flag: &str) -> bool {
    let with_value = format!("{flag}=");
    std::env::args_os()
        .skip(1)
        .any(|arg| arg == flag || arg.to_string_lossy().starts_with(&with_value))
}

/// Credentials from the environment or flags; `None` leaves the config
/// file's.
fn credentials(args: &TokenArgs, provider: &Provider) -> Result<Option<Credentials>, Failure> {
    let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) else {
        if args.client_id.is_some() || args.client_secret.is_some() {
            return Err(Failure::usage(
                "give both TOKENMUX_CLIENT_ID and TOKENMUX_CLIENT_SECRET (or neither)",
            ));
        }
        return Ok(None);
    };
    match (
        provider.spec().needs_resource_owner(),
        &args.username,
        &args.password,
    ) {
        (true, Some(username), Some(password)) => Ok(Some(Credentials::password(
            id.as_str(),
            secret.as_str(),
            username.as_str(),
            password.as_str(),
        ))),
        (true, _, _) => Err(Failure::usage(format!(
            "the {} provider also needs TOKENMUX_USERNAME and TOKENMUX_PASSWORD",
            provider.name()
        ))),
        (false, _, _) => Ok(Some(Credentials::client(id.as_str(), secret.as_str()))),
    }
}

/// RFC 3339, or `null` past the year 9999 (which RFC 3339 cannot write).
fn rfc3339(at: SystemTime) -> serde_json::Value {
    const YEAR_10000: std::time::Duration = std::time::Duration::from_secs(253_402_300_800);
    match at.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) if since < YEAR_10000 => humantime::format_rfc3339_seconds(at).to_string().into(),
        _ => serde_json::Value::Null,
    }
}

async fn store(cache: Cache, args: &TokenArgs) -> Result<Arc<dyn TokenStore>, Failure> {
    match cache {
        Cache::Memory => Ok(Arc::new(MemoryStore::default())),
        Cache::Redis => Ok(Arc::new(redis_flags::open(&args.redis.config()?).await?)),
        Cache::File => {
            let dir = match &args.cache_dir {
                Some(dir) => dir.clone(),
                // The same directory as a config file's `store: {kind: file}`.
                None => tokenmux_config::default_cache_dir()
                    .ok_or_else(|| Failure::usage("no user cache directory; give --cache-dir"))?,
            };
            let store = FileStore::new(&dir)
                .map_err(|e| Failure::usage(format!("cannot use the cache directory: {e}")))?;
            Ok(Arc::new(match cache_key()? {
                Some(key) => store.with_encryption(key),
                None => store,
            }))
        }
    }
}

/// The cache encryption key, from TOKENMUX_CACHE_KEY.
fn cache_key() -> Result<Option<EncryptionKey>, Failure> {
    match std::env::var("TOKENMUX_CACHE_KEY") {
        Ok(key) => Ok(Some(
            EncryptionKey::from_base64(&key).map_err(tokenmux::Error::from)?,
        )),
        Err(_) => Ok(None),
    }
}
