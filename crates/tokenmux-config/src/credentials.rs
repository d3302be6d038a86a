//! Credentials in a config file: each value a [`ValueRef`], from an
//! environment variable, from a file (a mounted secret), or, for a quick
//! try, inline.

use std::path::PathBuf;

use serde::Deserialize;
use tokenmux_wire::{CredentialRole, EndpointSpec, Needs, Secret};

use tokenmux::{ClientCertificate, ConfigError, Credentials, Error};

use tokenmux::jose::{KeyError, PrivateKey};

use crate::certificate_file::{CertificateFileProblem, read_client_certificate};
use crate::private_key::{PrivateKeyProblem, read_private_key};
use crate::problem::ConfigProblem;
use crate::secret_value::value;
use crate::value_ref::ValueRef;

/// `credentials:` of a configured source. Each value is one reference, as
/// a parameter's is: `client_secret: {env: NAME}` (an environment
/// variable), `client_secret: {file: PATH}` (its content, one trailing
/// newline dropped), or `client_secret: VALUE` inline (prefer the other
/// two, which keep secrets out of config files). Older files' spellings,
/// `client_secret_env: NAME` and `client_secret_file: PATH`, still work;
/// a value given two ways is a problem.
///
/// A `private_key_jwt` client gives its key instead of a secret:
///
/// ```yaml
/// credentials:
///   client_id: my-client
///   private_key: {file: /run/secrets/client-key.pem}   # PEM or JWK
///   key_id: key-2026-12                                  # optional
///   key_algorithm: PS256                                 # optional
/// ```
///
/// ```
/// use tokenmux_config::CredentialsConfig;
///
/// let config: CredentialsConfig = serde_json::from_str(
///     r#"{"client_id": "my-id", "client_secret": {"env": "PARTNER_SECRET"}}"#,
/// ).unwrap();
/// // SAFETY of the example: nothing else in this process reads it.
/// # unsafe { std::env::set_var("PARTNER_SECRET", "hunter2") };
/// let credentials = config.resolve(tokenmux::Provider::neonpanel().spec()).unwrap();
/// assert_eq!(credentials.client_secret().unwrap().expose_secret(), "hunter2");
/// ```
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Hash, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsConfig {
    /// The client id: inline, `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub client_id: Option<ValueRef>,
    /// Environment variable holding the client id.
    #[serde(default)]
    pub client_id_env: Option<String>,
    /// File holding the client id.
    #[serde(default)]
    pub client_id_file: Option<PathBuf>,
    /// The client secret: inline, `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub client_secret: Option<ValueRef>,
    /// Environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// File holding the client secret (`/run/secrets/…`).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The resource owner's username (password provider): inline, `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub username: Option<ValueRef>,
    /// Environment variable holding the username.
    #[serde(default)]
    pub username_env: Option<String>,
    /// File holding the username.
    #[serde(default)]
    pub username_file: Option<PathBuf>,
    /// The resource owner's password: inline, `{env: NAME}` or `{file: PATH}`.
    #[serde(default)]
    pub password: Option<ValueRef>,
    /// Environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A refresh token obtained out of band (a one-time consent), for a
    /// provider whose token request presents one: inline, `{env: NAME}`
    /// or `{file: PATH}`. A rotated one is kept in the store.
    #[serde(default)]
    pub refresh_token: Option<ValueRef>,
    /// The client's private key, for a provider whose spec authenticates
    /// the client with `private_key_jwt`: a PEM block (PKCS#8, PKCS#1 or
    /// SEC1) or a JWK, usually `{file: PATH}`; never encrypted.
    #[serde(default)]
    pub private_key: Option<ValueRef>,
    /// Environment variable holding the private key (PEM or JWK).
    #[serde(default)]
    pub private_key_env: Option<String>,
    /// File holding the private key (PEM or JWK).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The `kid` each assertion's header names (default: a JWK's own
    /// `kid`, else none): what the server looks the key up by.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The algorithm the key signs with: `RS256` (an RSA key's default)
    /// or `PS256` for RSA; `ES256` (P-256) and `EdDSA` (Ed25519) follow
    /// from their keys.
    #[serde(default)]
    pub key_algorithm: Option<String>,
    /// The client certificate chain (PEM, leaf first) presented in the
    /// TLS handshake with the token endpoint: `tls_client_auth`,
    /// `self_signed_tls_client_auth`, or certificate-bound tokens (RFC
    /// 8705). Given with `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM, unencrypted).
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
}

impl From<Credentials> for CredentialsConfig {
    fn from(credentials: Credentials) -> Self {
        CredentialsConfig {
            client_id: credentials.client_id().map(ValueRef::from),
            client_secret: credentials.client_secret().cloned().map(ValueRef::from),
            username: credentials.username().map(ValueRef::from),
            password: credentials.user_password().cloned().map(ValueRef::from),
            refresh_token: credentials.refresh_token().cloned().map(ValueRef::from),
            ..Self::default()
        }
    }
}

impl CredentialsConfig {
    /// The credentials, read from the environment and files now, checked
    /// against what `spec` needs ([`Needs::of`](tokenmux_wire::Needs::of)). Errors name
    /// the key and never hold a value.
    pub fn resolve(&self, spec: &EndpointSpec) -> Result<Credentials, Error> {
        self.resolve_at("credentials")
            .map_err(|problems| {
                let error = match problems.as_slice() {
                    [one] => ConfigError::new(&one.path, &one.message),
                    several => ConfigError::new(
                        "credentials",
                        several
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                };
                Error::from(error)
            })
            .and_then(|resolved| resolved.into_credentials(Some(spec)))
    }

    /// Every value, with each problem under `at` (its path in the file).
    pub(crate) fn resolve_at(&self, at: &str) -> Result<Resolved, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut take = |name: &str,
                        given: &Option<ValueRef>,
                        env: &Option<String>,
                        file: &Option<PathBuf>| {
            let read = match (given, env.is_some() || file.is_some()) {
                (Some(_), true) => Err((
                    String::new(),
                    format!("give one of `{name}`, `{name}_env` and `{name}_file`, not several"),
                )),
                (Some(given), false) => given
                    .read()
                    .map(Some)
                    .map_err(|(key, why)| (key_suffix(key), why)),
                (None, _) => value(None, env, file).map_err(|(key, why)| (key.to_owned(), why)),
            };
            match read {
                Ok(value) => value,
                Err((key, message)) => {
                    problems.push(ConfigProblem::new(format!("{at}.{name}{key}"), message));
                    None
                }
            }
        };
        let mut resolved = Resolved {
            client_id: take(
                "client_id",
                &self.client_id,
                &self.client_id_env,
                &self.client_id_file,
            ),
            client_secret: take(
                "client_secret",
                &self.client_secret,
                &self.client_secret_env,
                &self.client_secret_file,
            ),
            username: take(
                "username",
                &self.username,
                &self.username_env,
                &self.username_file,
            ),
            password: take(
                "password",
                &self.password,
                &self.password_env,
                &self.password_file,
            ),
            refresh_token: take("refresh_token", &self.refresh_token, &None, &None),
            private_key: None,
            client_certificate: None,
        };
        let key_text = take(
            "private_key",
            &self.private_key,
            &self.private_key_env,
            &self.private_key_file,
        );
        resolved.private_key = self.key(at, key_text, &mut problems);
        resolved.client_certificate = self.certificate(at, &mut problems);
        match problems.is_empty() {
            true => Ok(resolved),
            false => Err(problems),
        }
    }
}

impl CredentialsConfig {
    /// The private key read from `text`, with its `kid` and algorithm;
    /// each problem under `at`.
    fn key(
        &self,
        at: &str,
        text: Option<Secret>,
        problems: &mut Vec<ConfigProblem>,
    ) -> Option<PrivateKey> {
        let Some(text) = text else {
            for (name, given) in [
                ("key_id", self.key_id.is_some()),
                ("key_algorithm", self.key_algorithm.is_some()),
            ] {
                let key_given = self.private_key.is_some()
                    || self.private_key_env.is_some()
                    || self.private_key_file.is_some();
                if given && !key_given {
                    let why = "it describes `private_key`, which is not given";
                    problems.push(ConfigProblem::new(format!("{at}.{name}"), why));
                }
            }
            return None;
        };
        let (kid, alg) = (self.key_id.as_deref(), self.key_algorithm.as_deref());
        match read_private_key(&text, kid, alg) {
            Ok(key) => Some(key),
            Err(problem) => {
                let name = match problem {
                    PrivateKeyProblem::UnknownAlgorithm => "key_algorithm",
                    PrivateKeyProblem::Key(KeyError::Algorithm { .. }) => "key_algorithm",
                    PrivateKeyProblem::Key(_) => "private_key",
                };
                problems.push(ConfigProblem::new(
                    format!("{at}.{name}"),
                    problem.to_string(),
                ));
                None
            }
        }
    }
}

impl CredentialsConfig {
    /// The client certificate from `client_cert_file` and
    /// `client_key_file` (both or neither); each problem under `at`.
    fn certificate(
        &self,
        at: &str,
        problems: &mut Vec<ConfigProblem>,
    ) -> Option<ClientCertificate> {
        let (chain_file, key_file) = match (&self.client_cert_file, &self.client_key_file) {
            (None, None) => return None,
            (Some(chain), Some(key)) => (chain, key),
            (Some(_), None) | (None, Some(_)) => {
                let missing = match self.client_cert_file {
                    None => "client_cert_file",
                    Some(_) => "client_key_file",
                };
                let why = "a client certificate needs both `client_cert_file` and \
                           `client_key_file`";
                problems.push(ConfigProblem::new(format!("{at}.{missing}"), why));
                return None;
            }
        };
        read_client_certificate(chain_file, key_file)
            .map_err(|problem| {
                let name = match problem {
                    CertificateFileProblem::Chain(_) => "client_cert_file",
                    CertificateFileProblem::Key(_) => "client_key_file",
                };
                problems.push(ConfigProblem::new(
                    format!("{at}.{name}"),
                    problem.to_string(),
                ));
            })
            .ok()
    }
}

/// `.key` for a key under a value, nothing for the value itself.
fn key_suffix(key: &str) -> String {
    match key.is_empty() {
        true => String::new(),
        false => format!(".{key}"),
    }
}

/// The values read, before they are checked against the provider.
#[derive(Debug)]
pub(crate) struct Resolved {
    client_id: Option<Secret>,
    client_secret: Option<Secret>,
    username: Option<Secret>,
    password: Option<Secret>,
    refresh_token: Option<Secret>,
    private_key: Option<PrivateKey>,
    client_certificate: Option<ClientCertificate>,
}

impl Resolved {
    /// The credentials; with `spec` (the provider known), a problem at
    /// the key of the first one it needs that is missing.
    pub(crate) fn into_credentials(
        self,
        spec: Option<&EndpointSpec>,
    ) -> Result<Credentials, Error> {
        let mut credentials = Credentials::new();
        if let Some(id) = self.client_id {
            credentials = credentials.with_client_id(id.expose_secret());
        }
        if let Some(secret) = self.client_secret {
            credentials = credentials.with_client_secret(secret);
        }
        if let Some(username) = self.username {
            credentials = credentials.with_username(username.expose_secret());
        }
        if let Some(password) = self.password {
            credentials = credentials.with_password(password);
        }
        if let Some(refresh_token) = self.refresh_token {
            credentials = credentials.with_refresh_token(refresh_token);
        }
        if let Some(key) = self.private_key {
            credentials = credentials.with_private_key(key);
        }
        if let Some(certificate) = self.client_certificate {
            credentials = credentials.with_client_certificate(certificate);
        }
        let Some(spec) = spec else {
            return Ok(credentials);
        };
        let needs = Needs::of(spec);
        match needs.missing(|role| credentials.has(role)).first() {
            None => Ok(credentials),
            Some(CredentialRole::ClientCertificate) => Err(Error::from(ConfigError::new(
                "credentials.client_cert_file",
                format!(
                    "the {} provider needs {}: give `client_cert_file: PATH` and \
                     `client_key_file: PATH` (the certificate chain and its key, PEM)",
                    spec.name,
                    Needs::list(needs.required()),
                ),
            ))),
            Some(role) => {
                let name = role.name();
                Err(Error::from(ConfigError::new(
                    format!("credentials.{name}"),
                    format!(
                        "the {} provider needs {}: give `{name}: {{env: NAME}}` or \
                         `{name}: {{file: PATH}}` (or the value)",
                        spec.name,
                        Needs::list(needs.required()),
                    ),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_from_files_and_problems_name_keys_not_values() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret-from-file\n").unwrap();
        let config = CredentialsConfig {
            client_id: Some("id".into()),
            client_secret_file: Some(secret),
            ..Default::default()
        };
        let credentials = config
            .resolve(tokenmux::Provider::neonpanel().spec())
            .unwrap();
        assert_eq!(
            credentials.client_secret().unwrap().expose_secret(),
            "s3cret-from-file"
        );

        let both = CredentialsConfig {
            client_id: Some("id".into()),
            client_secret: Some("inline-s3cret".into()),
            client_secret_env: Some("X".into()),
            ..Default::default()
        };
        let problems = both.resolve_at("sources.a.credentials").unwrap_err();
        assert_eq!(problems[0].path, "sources.a.credentials.client_secret");
        assert!(!format!("{problems:?}").contains("inline-s3cret"));

        let unset = CredentialsConfig {
            client_id_env: Some("TOKENMUX_TEST_SURELY_UNSET".into()),
            client_secret_file: Some(dir.path().join("missing")),
            ..Default::default()
        };
        let problems = unset.resolve_at("c").unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["c.client_id_env", "c.client_secret_file"]);

        // One reference per value, as a parameter's: `{env}` and `{file}`.
        let referenced: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "client_id": "id",
            "client_secret": {"file": dir.path().join("secret")},
        }))
        .unwrap();
        let credentials = referenced
            .resolve(tokenmux::Provider::neonpanel().spec())
            .unwrap();
        assert_eq!(
            credentials.client_secret().unwrap().expose_secret(),
            "s3cret-from-file"
        );
        let unset: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "client_id": {"env": "TOKENMUX_TEST_SURELY_UNSET"},
            "client_secret": {"env": "X", "file": "/nope"},
            "password": "inline-s3cret",
            "password_env": "PASSWORD",
        }))
        .unwrap();
        let problems = unset.resolve_at("c").unwrap_err();
        let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["c.client_id.env", "c.client_secret", "c.password"]);
        assert!(!format!("{problems:?} {unset:?}").contains("inline-s3cret"));

        let owner = CredentialsConfig {
            client_id: Some("id".into()),
            client_secret: Some("s".into()),
            ..Default::default()
        };
        let error = owner
            .resolve(tokenmux::Provider::password("https://auth.test").spec())
            .unwrap_err()
            .to_string();
        assert!(error.contains("username"), "{error}");
    }

    #[test]
    fn a_refresh_token_is_one_more_reference_and_only_what_the_spec_needs_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("refresh");
        std::fs::write(&file, "1000.r3fresh\n").unwrap();
        let config: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "client_id": "public-client",
            "refresh_token": {"file": file},
        }))
        .unwrap();
        let resolved = config.resolve_at("c").unwrap();
        let credentials = resolved.into_credentials(None).unwrap();
        assert_eq!(
            credentials.refresh_token().unwrap().expose_secret(),
            "1000.r3fresh"
        );
        assert!(credentials.client_secret().is_none());
        // neonpanel needs a secret: the problem is at its key.
        let error = config
            .resolve(tokenmux::Provider::neonpanel().spec())
            .unwrap_err()
            .to_string();
        assert!(error.contains("credentials.client_secret"), "{error}");
        assert!(!error.contains("r3fresh"), "{error}");
    }

    #[test]
    fn a_private_key_is_read_with_its_kid_and_each_problem_is_at_its_key() {
        let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenmux-jose/tests/keys");
        let config: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "client_id": "pk-client",
            "private_key": {"file": format!("{keys}/rsa-pkcs1.pem")},
            "key_id": "key-1",
            "key_algorithm": "PS256",
        }))
        .unwrap();
        let credentials = config
            .resolve_at("c")
            .unwrap()
            .into_credentials(None)
            .unwrap();
        let key = credentials.private_key().unwrap();
        let debug = format!("{key:?}");
        assert!(
            debug.contains("PS256") && debug.contains("key-1"),
            "{debug}"
        );

        let secret_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret_file.path(), "not-a-key-s3cret").unwrap();
        let wrong: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "private_key": {"file": secret_file.path()},
            "key_algorithm": "ES256",
        }))
        .unwrap();
        let problems = wrong.resolve_at("c").unwrap_err();
        assert_eq!(problems[0].path, "c.private_key");
        assert!(!format!("{problems:?}").contains("s3cret"));

        let misfit: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "private_key": {"file": format!("{keys}/ec-pkcs8.pem")},
            "key_algorithm": "RS256",
        }))
        .unwrap();
        let problems = misfit.resolve_at("c").unwrap_err();
        assert_eq!(problems[0].path, "c.key_algorithm");
        assert!(
            problems[0].message.contains("cannot sign RS256"),
            "{problems:?}"
        );

        let orphan: CredentialsConfig =
            serde_json::from_value(serde_json::json!({"key_id": "k"})).unwrap();
        let problems = orphan.resolve_at("c").unwrap_err();
        assert_eq!(problems[0].path, "c.key_id");
    }

    /// NeonPanel's spec with `tls_client_auth` as its method.
    fn mtls_spec() -> &'static EndpointSpec {
        let base = *tokenmux::Provider::neonpanel().spec();
        let primary = base.grants[0];
        let wire = tokenmux_wire::OperationWire {
            auth: tokenmux_wire::ClientAuth::TlsClientAuth,
            ..primary.wire
        };
        let grants = Box::leak(Box::new([tokenmux_wire::GrantSpec { wire, ..primary }]));
        Box::leak(Box::new(EndpointSpec { grants, ..base }))
    }

    #[test]
    fn the_older_key_spellings_read_the_same_key() {
        let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenmux-jose/tests/keys");
        let file: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "private_key_file": format!("{keys}/ec-sec1.pem"),
        }))
        .unwrap();
        let resolved = file.resolve_at("c").unwrap().into_credentials(None);
        assert!(resolved.unwrap().private_key().is_some());
        let both: CredentialsConfig = serde_json::from_value(serde_json::json!({
            "private_key": {"file": format!("{keys}/ec-sec1.pem")},
            "private_key_env": "CLIENT_KEY",
        }))
        .unwrap();
        assert_eq!(both.resolve_at("c").unwrap_err()[0].path, "c.private_key");
    }

    #[test]
    fn a_client_certificate_needs_both_files_and_each_problem_names_its_file() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../tokenmux/tests/data");
        let (chain, key) = (format!("{data}/client.pem"), format!("{data}/client.key"));
        let config = |value: serde_json::Value| -> CredentialsConfig {
            serde_json::from_value(value).unwrap()
        };
        let given = config(serde_json::json!({"client_cert_file": chain, "client_key_file": key}));
        let credentials = given.resolve_at("c").unwrap().into_credentials(None);
        assert!(credentials.unwrap().client_certificate().is_some());
        let alone = config(serde_json::json!({"client_cert_file": chain}));
        let problems = alone.resolve_at("c").unwrap_err();
        assert_eq!(problems[0].path, "c.client_key_file");
        let swapped =
            config(serde_json::json!({"client_cert_file": key, "client_key_file": chain}));
        let problems = swapped.resolve_at("c").unwrap_err();
        assert_eq!(problems[0].path, "c.client_cert_file");
        assert!(
            !format!("{problems:?}").contains("PRIVATE KEY"),
            "{problems:?}"
        );
        // A spec whose method needs a certificate names the two keys.
        let without_certificate =
            config(serde_json::json!({"client_id": "me", "client_secret": "s"}));
        let error = without_certificate
            .resolve(mtls_spec())
            .unwrap_err()
            .to_string();
        assert!(error.contains("credentials.client_cert_file"), "{error}");
        assert!(error.contains("client_key_file"), "{error}");
    }
}
