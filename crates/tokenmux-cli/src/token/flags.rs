//! What the command line and the environment give for one source:
//! credentials, the cache, and the warnings and refusals about flags.

use std::path::Path;
use std::sync::Arc;

use tokenmux::endpoint::{CredentialRole, Needs};
use tokenmux::jose::{KeyError, PrivateKey};
use tokenmux::{Credentials, EncryptionKey, FileStore, MemoryStore, Provider, TokenStore};
use tokenmux_config::{
    CertificateFileProblem, CredentialsConfig, PrivateKeyProblem, SourceConfig, ValueRef,
    ValueSource, read_client_certificate, read_private_key,
};

use super::args::{Cache, TokenArgs};
use crate::Failure;
use crate::redis_flags;

/// A config with only the provider, from `--provider`.
pub(super) fn blank(args: &TokenArgs) -> Result<SourceConfig, Failure> {
    let provider = args
        .provider
        .clone()
        .ok_or_else(|| Failure::usage("give --provider, --config, or a source's name"))?;
    Ok(SourceConfig {
        provider,
        server: None,
        base_url: None,
        issuer: None,
        ca_file: None,
        client_auth: None,
        dpop: false,
        sandbox: false,
        credentials: None,
        params: Default::default(),
        store: None,
        allow_insecure_http: false,
        refresh: None,
        retry: None,
        required: true,
        sinks: Vec::new(),
    })
}

/// The flags that describe one source on the command line; a named source
/// is described by its config file alone. Those from
/// [`CREDENTIAL_FLAGS`] on give credentials.
pub(super) const SOURCE_FLAGS: [&str; 20] = [
    "--provider",
    "--server",
    "--base-url",
    "--sandbox",
    "--issuer",
    "--ca-file",
    "--client-auth",
    "--dpop",
    "--client-id",
    "--client-secret",
    "--username",
    "--password",
    "--refresh-token",
    "--private-key-file",
    "--key-id",
    "--key-algorithm",
    "--client-cert",
    "--client-key",
    "--client-secret-file",
    "--password-file",
];

/// Where the credential flags start in [`SOURCE_FLAGS`].
const CREDENTIAL_FLAGS: usize = 8;

/// The environment's credentials, for a source given by flags, in the
/// order of [`CredentialRole::ALL`].
const CREDENTIAL_VARIABLES: [&str; 7] = [
    "TOKENMUX_CLIENT_ID",
    "TOKENMUX_CLIENT_SECRET",
    "TOKENMUX_USERNAME",
    "TOKENMUX_PASSWORD",
    "TOKENMUX_REFRESH_TOKEN",
    "TOKENMUX_PRIVATE_KEY_FILE",
    "TOKENMUX_CLIENT_CERT",
];

/// Credential flags on the command line while `from` gives the
/// credentials: the user meant one of them, and sending the wrong one
/// sends a secret to the wrong place.
pub(super) fn refuse_credential_flags(from: &str) -> Result<(), Failure> {
    let given: Vec<_> = SOURCE_FLAGS[CREDENTIAL_FLAGS..]
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
pub(super) fn warn_unused_credential_variables(from: &str) {
    let set: Vec<_> = CREDENTIAL_VARIABLES
        .iter()
        .filter(|variable| std::env::var_os(variable).is_some())
        .copied()
        .collect();
    if !set.is_empty() {
        tracing::warn!(
            "{} set in the environment, not used: the credentials are {from}",
            set.join(", ")
        );
    }
}

/// Secrets given as flags show in process lists; one given both ways is
/// taken from the flag, which may not be what the user meant.
pub(super) fn warn_about_secret_flags(args: &TokenArgs) {
    for (flag, variable) in [
        ("--client-secret", "TOKENMUX_CLIENT_SECRET"),
        ("--password", "TOKENMUX_PASSWORD"),
        ("--refresh-token", "TOKENMUX_REFRESH_TOKEN"),
    ] {
        if !flag_given(flag) {
            continue;
        }
        match std::env::var_os(variable) {
            Some(_) => tracing::warn!(
                "{flag} overrides {variable}, and shows in process lists; give one, in the environment"
            ),
            None => tracing::warn!("{flag} shows in process lists; prefer {variable}"),
        }
    }
    if let Some((flag, variable)) = args.redis.url_flag_with_password() {
        tracing::warn!("{flag} holds a password, which shows in process lists; prefer {variable}");
    }
}

/// Whether `flag` is on the command line (as `--flag value` or `--flag=value`).
pub(crate) fn flag_given(flag: &str) -> bool {
    // Read once: a command asks about some twenty flags.
    static WORDS: std::sync::OnceLock<Vec<std::ffi::OsString>> = std::sync::OnceLock::new();
    let words = WORDS.get_or_init(|| {
        // Not past `--`: what follows is `exec`'s command, with flags of its own.
        std::env::args_os()
            .skip(1)
            .take_while(|arg| arg != "--")
            .collect()
    });
    given(words, flag)
}

/// Whether one of `words` is `flag` or `flag=value`.
fn given(words: &[std::ffi::OsString], flag: &str) -> bool {
    words.iter().any(|word| {
        word.as_encoded_bytes()
            .strip_prefix(flag.as_bytes())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"="))
    })
}

/// Credentials from the environment or flags, those the provider's spec
/// needs all given, as a config file's `credentials:` (a key file by its
/// path, read again when the source is built); `None` (none given) leaves
/// the config file's.
pub(super) fn credentials(
    args: &TokenArgs,
    provider: &Provider,
) -> Result<Option<CredentialsConfig>, Failure> {
    let Some(credentials) = checked_credentials(args, provider)? else {
        return Ok(None);
    };
    let mut config = CredentialsConfig::from(credentials);
    if let Some(path) = &args.private_key_file {
        config.private_key = Some(key_file(path));
        config.key_id = args.key_id.clone();
        config.key_algorithm = args.key_algorithm.clone();
    }
    config.client_cert_file = args.client_cert.clone();
    config.client_key_file = args.client_key.clone();
    Ok(Some(config))
}

/// The flags' and the environment's credentials, checked against the spec.
fn checked_credentials(
    args: &TokenArgs,
    provider: &Provider,
) -> Result<Option<Credentials>, Failure> {
    if args.client_secret_file.as_deref() == Some(Path::new("-"))
        && args.password_file.as_deref() == Some(Path::new("-"))
    {
        return Err(Failure::usage(
            "--client-secret-file and --password-file cannot both read stdin (`-`)",
        ));
    }
    let client_secret = match &args.client_secret_file {
        Some(path) => Some(secret_file("--client-secret-file", path)?),
        None => args.client_secret.clone(),
    };
    let password = match &args.password_file {
        Some(path) => Some(secret_file("--password-file", path)?),
        None => args.password.clone(),
    };
    let given = [
        &args.client_id,
        &client_secret,
        &args.username,
        &password,
        &args.refresh_token,
    ];
    let files = [&args.private_key_file, &args.client_cert];
    if given.iter().all(|value| value.is_none()) && files.iter().all(|file| file.is_none()) {
        return Ok(None);
    }
    let [id, secret, username, password, refresh_token] = given;
    let mut credentials = Credentials::new();
    if let Some(id) = id {
        credentials = credentials.with_client_id(id.as_str());
    }
    if let Some(secret) = secret {
        credentials = credentials.with_client_secret(secret.as_str());
    }
    if let Some(username) = username {
        credentials = credentials.with_username(username.as_str());
    }
    if let Some(password) = password {
        credentials = credentials.with_password(password.as_str());
    }
    if let Some(refresh_token) = refresh_token {
        credentials = credentials.with_refresh_token(refresh_token.as_str());
    }
    if let Some(path) = &args.private_key_file {
        credentials = credentials.with_private_key(private_key(path, args)?);
    }
    if let (Some(chain), Some(key)) = (&args.client_cert, &args.client_key) {
        let certificate = read_client_certificate(chain, key).map_err(|problem| {
            let flag = match problem {
                CertificateFileProblem::Chain(_) => "--client-cert (or TOKENMUX_CLIENT_CERT)",
                CertificateFileProblem::Key(_) => "--client-key (or TOKENMUX_CLIENT_KEY)",
            };
            Failure::usage(format!("{flag}: {problem}"))
        })?;
        credentials = credentials.with_client_certificate(certificate);
    }
    let missing = Needs::of(provider.spec()).missing(|role| credentials.has(role));
    if missing.is_empty() {
        return Ok(Some(credentials));
    }
    let variables: Vec<&str> = missing
        .iter()
        .filter_map(|role| {
            let at = CredentialRole::ALL.iter().position(|r| r == role)?;
            CREDENTIAL_VARIABLES.get(at).copied()
        })
        .collect();
    Err(Failure::usage(format!(
        "the {} provider needs {}: also set {} (or the matching flags)",
        provider.name(),
        Needs::list(Needs::of(provider.spec()).required()),
        variables.join(" and ")
    )))
}

/// The most a secret read from stdin may hold.
const STDIN_LIMIT: u64 = 64 * 1024;

/// A secret from `path` (read as a config file's `{file: PATH}`: bounded,
/// a regular file, one trailing newline dropped), or from stdin for `-`.
fn secret_file(flag: &str, path: &Path) -> Result<String, Failure> {
    if path != Path::new("-") {
        return key_file(path)
            .read()
            .map(|secret| secret.expose_secret().to_owned())
            .map_err(|(_, why)| Failure::usage(format!("{flag}: {why}")));
    }
    use std::io::Read as _;
    let mut text = String::new();
    std::io::stdin()
        .take(STDIN_LIMIT + 1)
        .read_to_string(&mut text)
        .map_err(|e| Failure::usage(format!("{flag} -: cannot read stdin: {e}")))?;
    if text.len() as u64 > STDIN_LIMIT {
        return Err(Failure::usage(format!(
            "{flag} -: stdin holds more than {STDIN_LIMIT} bytes; a secret is one line"
        )));
    }
    let secret = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(Failure::usage(format!("{flag} -: stdin is empty")));
    }
    Ok(secret.to_owned())
}

/// `path` as a config file's `{file: PATH}`.
fn key_file(path: &Path) -> ValueRef {
    ValueRef::From(ValueSource {
        env: None,
        file: Some(path.to_owned()),
    })
}

/// The key file's flag and variable, as messages name them.
const KEY_FILE: &str = "--private-key-file (or TOKENMUX_PRIVATE_KEY_FILE)";

/// The key in `path` (read as a config file's `private_key: {file: PATH}`
/// is: bounded, a regular file), with `--key-id` and `--key-algorithm`.
fn private_key(path: &Path, args: &TokenArgs) -> Result<PrivateKey, Failure> {
    let text = key_file(path)
        .read()
        .map_err(|(_, why)| Failure::usage(format!("{KEY_FILE}: {why}")))?;
    let (kid, alg) = (args.key_id.as_deref(), args.key_algorithm.as_deref());
    read_private_key(&text, kid, alg).map_err(|problem| {
        let flag = match problem {
            PrivateKeyProblem::UnknownAlgorithm
            | PrivateKeyProblem::Key(KeyError::Algorithm { .. }) => {
                "--key-algorithm (or TOKENMUX_KEY_ALGORITHM)"
            }
            PrivateKeyProblem::Key(_) => KEY_FILE,
        };
        Failure::usage(format!("{flag}: {problem}"))
    })
}

pub(super) async fn store(cache: Cache, args: &TokenArgs) -> Result<Arc<dyn TokenStore>, Failure> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_given_alone_or_with_its_value_never_as_a_prefix() {
        let words = |line: &[&str]| -> Vec<std::ffi::OsString> {
            line.iter().map(std::ffi::OsString::from).collect()
        };
        let line = words(&["token", "a", "--client-secret=s", "--sandbox", "x"]);
        assert!(given(&line, "--client-secret"));
        assert!(given(&line, "--sandbox"));
        assert!(!given(&line, "--client-id"));
        // Another flag that starts with its name is another flag.
        let line = words(&["--client-secret-file", "f", "--sandboxed"]);
        assert!(!given(&line, "--client-secret"));
        assert!(!given(&line, "--sandbox"));
        assert!(given(&line, "--client-secret-file"));
        // A value that looks like the flag is taken for it, as before.
        assert!(given(&words(&["--issuer", "--dpop"]), "--dpop"));
    }
}
