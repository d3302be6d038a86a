//! `tokenmux token`: print a valid token, from the agent, a named source,
//! or one source given by flags.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokenmux_config::{SourceConfig, StoreConfig};

use crate::config_file::{self, ConfigFile};
use crate::redis_flags;
use crate::{Failure, print_line};

// Asking a running agent.
mod agent;
// The command's options.
mod args;
// What the flags and the environment give for one source.
mod flags;

pub(crate) use args::TokenArgs;
use args::{Cache, Format};
pub(crate) use flags::flag_given;
use flags::{
    SOURCE_FLAGS, blank, credentials, refuse_credential_flags, store, warn_about_secret_flags,
    warn_unused_credential_variables,
};

pub(crate) async fn run(args: TokenArgs) -> Result<(), Failure> {
    let token = obtain(&args).await?;
    print_token(args.format, &token)
}

/// `tokenmux token NAME` from a running agent, before the command builds
/// an async runtime (a cached token should cost what a process costs):
/// `Some` when that settles it (printed, or failed), `None` to build the
/// source in this process, where the agent is not asked again.
pub(crate) fn run_through_agent(args: &mut TokenArgs) -> Option<Result<(), Failure>> {
    // A second round for --min-lifetime is the in-process path's.
    if args.min_lifetime.is_some() {
        return None;
    }
    let name = args.name.clone()?;
    args.deadline = args.timeout.map(|limit| Instant::now() + limit);
    let served = proof_request(args)
        .and_then(|_| named_only(&name, args))
        .and_then(|()| agent::Query::new(&name, args, args.refresh, args.deadline))
        .and_then(|query| query.map_or(Ok(None), |query| query.ask()));
    match served {
        Ok(Some(token)) => {
            warn_about_secret_flags(args);
            Some(print_token(args.format, &token))
        }
        Ok(None)
            if args
                .deadline
                .is_some_and(|deadline| Instant::now() >= deadline) =>
        {
            Some(Err(timed_out(args.timeout.unwrap_or_default())))
        }
        Ok(None) => {
            args.agent_declined = true;
            None
        }
        Err(failure) => Some(Err(failure)),
    }
}

/// A token as the command hands it out.
pub(crate) struct Obtained {
    /// The token.
    pub(crate) secret: String,
    pub(crate) token_type: String,
    pub(crate) expires_at: SystemTime,
    /// The header it goes in, and that header's value.
    pub(crate) header: String,
    pub(crate) header_value: String,
    /// With --dpop-proof, the proof.
    pub(crate) dpop: Option<String>,
}

/// The token `args` ask for: from the agent, a named source, or one
/// source given by flags; within `--timeout`, valid for `--min-lifetime`.
pub(crate) async fn obtain(args: &TokenArgs) -> Result<Obtained, Failure> {
    warn_about_secret_flags(args);
    // Checked before anything is fetched.
    proof_request(args)?;
    let deadline = args
        .deadline
        .or_else(|| args.timeout.map(|limit| Instant::now() + limit));
    let work = async {
        let token = obtain_once(args, args.refresh, deadline).await?;
        let Some(min) = args.min_lifetime else {
            return Ok(token);
        };
        // A cached token that expires too soon: a new one, once.
        let token = match lasts(&token, min) || args.refresh {
            true => token,
            false => obtain_once(args, true, deadline).await?,
        };
        match lasts(&token, min) {
            true => Ok(token),
            false => Err(Failure {
                code: 1,
                message: format!(
                    "the endpoint's newest token is valid for {}, less than --min-lifetime {}",
                    humantime::format_duration(left(&token)),
                    humantime::format_duration(min)
                ),
            }),
        }
    };
    match (deadline, args.timeout) {
        (Some(deadline), Some(limit)) => tokio::time::timeout_at(deadline.into(), work)
            .await
            .unwrap_or_else(|_| Err(timed_out(limit))),
        _ => work.await,
    }
}

/// No token within `--timeout`.
fn timed_out(limit: std::time::Duration) -> Failure {
    Failure {
        code: 4,
        message: format!(
            "no token within {} (--timeout): the token endpoint, the agent or the store did \
             not answer in time",
            humantime::format_duration(limit)
        ),
    }
}

/// How long `token` stays valid, in whole seconds.
fn left(token: &Obtained) -> std::time::Duration {
    let left = token.expires_at.duration_since(SystemTime::now());
    std::time::Duration::from_secs(left.unwrap_or_default().as_secs())
}

/// Whether `token` stays valid for at least `min`.
fn lasts(token: &Obtained, min: std::time::Duration) -> bool {
    token
        .expires_at
        .duration_since(SystemTime::now())
        .is_ok_and(|left| left >= min)
}

/// One attempt at the token, by `deadline`; `refresh`: a new one,
/// replacing the cached.
async fn obtain_once(
    args: &TokenArgs,
    refresh: bool,
    deadline: Option<Instant>,
) -> Result<Obtained, Failure> {
    if let Some(name) = &args.name {
        return run_named(name, args, refresh, deadline).await;
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
            Ok(ConfigFile::Named(_)) => blank(args)?,
            Err(problems) => {
                return Err(Failure::usage(format!(
                    "{}: {} (`tokenmux config check` lists every problem)",
                    path.display(),
                    problems[0]
                )));
            }
        },
        None => blank(args)?,
    };
    run_config(config, None, args, refresh).await
}

/// `tokenmux token NAME`: from the agent when it serves the same config
/// file (unless it already declined), else from the config file's source
/// of that name, in this process.
async fn run_named(
    name: &str,
    args: &TokenArgs,
    refresh: bool,
    deadline: Option<Instant>,
) -> Result<Obtained, Failure> {
    named_only(name, args)?;
    let query = match args.agent_declined {
        true => None,
        false => agent::Query::new(name, args, refresh, deadline)?,
    };
    if let Some(query) = query
        && let Some(token) = query.ask_aside().await?
    {
        return Ok(token);
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
    run_config(config, Some(name), args, refresh).await
}

/// A named source is described by its config file alone: flags that
/// describe one are refused, before anyone is asked.
fn named_only(name: &str, args: &TokenArgs) -> Result<(), Failure> {
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
    if !args.params.is_empty() {
        return Err(Failure::usage(format!(
            "--param is for a source given by flags (--provider) or a one-source file; \
             source `{name}`'s parameters are its `params:` in the config file"
        )));
    }
    Ok(())
}

async fn run_config(
    mut config: SourceConfig,
    name: Option<&str>,
    args: &TokenArgs,
    refresh: bool,
) -> Result<Obtained, Failure> {
    if let Some(provider) = &args.provider {
        config.provider = provider.clone();
    }
    if args.base_url.is_some() {
        config.base_url = args.base_url.clone();
        config.server = None;
    }
    if args.issuer.is_some() {
        config.issuer = args.issuer.clone();
    }
    if args.ca_file.is_some() {
        config.ca_file = args.ca_file.clone();
    }
    if args.client_auth.is_some() {
        config.client_auth = args.client_auth.clone();
    }
    if args.server.is_some() {
        config.server = args.server.clone();
        config.base_url = None;
    }
    for (param, value) in &args.params {
        let value = tokenmux_config::ValueRef::from(value.as_str());
        config.params.0.insert(param.clone(), value);
    }
    config.sandbox |= args.sandbox;
    config.allow_insecure_http |= args.allow_insecure_http;
    config.dpop |= args.dpop;
    // The environment's and the flags' credentials are for a source given
    // by flags, or a file that gives none: a named source has its own.
    if name.is_none()
        && config.credentials.is_none()
        && let Some(credentials) = credentials(args, &config.provider()?)?
    {
        config.credentials = Some(credentials);
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
    let token = match refresh {
        true => tokens.refresh().await?,
        false => tokens.token().await?,
    };
    let secret = token.secret().expose_secret();
    let (header, header_value, proof) = match proof_request(args)? {
        Some((method, url)) => {
            if let Some(nonce) = &args.dpop_nonce {
                tokens.dpop_nonce_from(&url, &nonce_header(nonce)?);
            }
            let auth = tokens.authorize(&method, &url).await?;
            let proof = auth.dpop().cloned().ok_or_else(|| {
                Failure::usage(
                    "--dpop-proof: this source's token is not DPoP-bound (give --dpop, or \
                     `dpop: true` in its config)",
                )
            })?;
            let text = |value: &reqwest::header::HeaderValue| {
                value.to_str().unwrap_or_default().to_owned()
            };
            ("Authorization", text(auth.value()), Some(text(&proof)))
        }
        None if token.dpop_key().is_some() => ("Authorization", format!("DPoP {secret}"), None),
        None => {
            let presentation = tokens.provider().spec().presentation;
            (presentation.header, presentation.value(secret), None)
        }
    };
    Ok(Obtained {
        secret: secret.to_owned(),
        token_type: token.token_type().to_owned(),
        expires_at: token.expires_at(),
        header: header.to_owned(),
        header_value,
        dpop: proof,
    })
}

/// `--dpop-proof METHOD URL`, checked: a method, an absolute http(s) URL,
/// and `--format json` to print the proof in.
fn proof_request(args: &TokenArgs) -> Result<Option<(reqwest::Method, reqwest::Url)>, Failure> {
    let Some([method, url]) = args.dpop_proof.as_deref() else {
        return Ok(None);
    };
    if args.format != Format::Json {
        return Err(Failure::usage(
            "--dpop-proof prints the proof as `dpop` beside `header_value`: give --format json",
        ));
    }
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| Failure::usage(format!("--dpop-proof: `{method}` is not an HTTP method")))?;
    let url = reqwest::Url::parse(url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or_else(|| Failure::usage("--dpop-proof: the URL is not an absolute http(s) URL"))?;
    if let Some(nonce) = &args.dpop_nonce {
        nonce_header(nonce)?;
    }
    Ok(Some((method, url)))
}

/// `--dpop-nonce`, as the header an API sends it in, if it is a nonce.
fn nonce_header(nonce: &str) -> Result<reqwest::header::HeaderMap, Failure> {
    // A nonce is printable ASCII: a header value whenever it is one.
    let value = reqwest::header::HeaderValue::from_str(nonce)
        .ok()
        .filter(|_| tokenmux::endpoint::is_dpop_nonce(nonce))
        .ok_or_else(|| {
            Failure::usage(
                "--dpop-nonce: not a DPoP nonce (printable ASCII without spaces, quotes or \
                 backslashes, at most 512 characters)",
            )
        })?;
    Ok(reqwest::header::HeaderMap::from_iter([(
        tokenmux::endpoint::DPOP_NONCE,
        value,
    )]))
}

/// Prints the token as `format` asks.
fn print_token(format: Format, token: &Obtained) -> Result<(), Failure> {
    let Obtained {
        secret,
        token_type,
        expires_at,
        header,
        header_value,
        dpop,
    } = token;
    let expires_at = *expires_at;
    match format {
        Format::Raw => print_line(secret),
        Format::Header => print_line(header_value),
        Format::Json => {
            let expires_in = expires_at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_secs();
            let mut json = serde_json::json!({
                "access_token": secret,
                "token_type": token_type,
                "expires_at": rfc3339(expires_at),
                "expires_in": expires_in,
                "header": header,
                "header_value": header_value,
            });
            if let Some(proof) = dpop {
                json["dpop"] = proof.as_str().into();
            }
            print_line(&json.to_string())
        }
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
