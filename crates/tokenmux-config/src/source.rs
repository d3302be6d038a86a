//! Choosing the provider and credentials in a config file.

use std::path::PathBuf;

use serde::Deserialize;

use tokenmux::endpoint::UnknownAuthMethod;
use tokenmux::{ConfigError, Error, Provider, RefreshPolicy, TokenSource, TokenSourceBuilder};

use crate::certificate_file::ca_certificates;
use crate::problem::ConfigProblem;
use crate::{CredentialsConfig, ParamsConfig, RefreshConfig, RetryConfig, SinkConfig, StoreConfig};

/// A token source described in configuration (YAML, TOML, JSON, … through
/// serde), for applications that pick the provider at run time.
///
/// ```
/// use tokenmux_config::SourceConfig;
///
/// let config: SourceConfig = serde_json::from_str(r#"{
///     "provider": "airalo",
///     "server": "sandbox",
///     "credentials": {"client_id": "my-id", "client_secret": "my-secret"}
/// }"#).unwrap();
/// let tokens = config.into_builder().unwrap().build().unwrap();
/// assert_eq!(tokens.provider().base_url(), "https://sandbox-partners-api.airalo.com");
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Hash, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The provider's name: its spec's file stem (`neonpanel`, `airalo`,
    /// `jsonapi`, `password`, or any other spec compiled in).
    pub provider: String,
    /// A server the provider's spec names (`production`, `sandbox`);
    /// default: the spec's first.
    #[serde(default)]
    pub server: Option<String>,
    /// The provider's base URL, instead of a server of its spec; required
    /// when the spec's server is a template (`jsonapi`, `password`).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The authorization server's issuer identifier (RFC 8414), for a
    /// spec whose client assertions are addressed to it
    /// (`x-tokenmux-assertion-audience: issuer`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// A PEM file of CA certificates to trust for the token endpoint, as
    /// well as the system's roots (a private CA).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The client authentication method, by its RFC 8414 name, for the
    /// `oauth2` provider (default: the first the server lists that the
    /// credentials can use); a spec's own method is the spec's.
    #[serde(default)]
    pub client_auth: Option<String>,
    /// Bind tokens to a DPoP key (RFC 9449): every token request carries a
    /// proof, and API requests a proof each (the agent's `proof`
    /// endpoint, `BearerAuth`, `AuthLayer`). The key is made by tokenmux
    /// and kept beside the token in the store (sealed when the store
    /// encrypts). Default false.
    #[serde(default)]
    pub dpop: bool,
    /// The same as `server: sandbox` (kept for older config files).
    #[serde(default)]
    pub sandbox: bool,
    /// Client id and secret, plus `username` and `password` for the
    /// password provider, each from an environment variable (`…_env`), a
    /// file (`…_file`) or inline. May be left out here and given to the
    /// builder.
    #[serde(default)]
    pub credentials: Option<CredentialsConfig>,
    /// Values of the spec's parameters (`scope`, `audience`, …; see
    /// `specs/README.md`), each inline or, for a secret one, `{env: NAME}`
    /// or `{file: PATH}`. Each value partitions the token cache.
    #[serde(default)]
    pub params: ParamsConfig,
    /// Where tokens are kept; default: in this process's memory.
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// Allow a plain `http://` base URL on a host that is not loopback
    /// (default false: secrets would cross the network in the clear).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// When to refresh; default the spec's advice.
    #[serde(default)]
    pub refresh: Option<RefreshConfig>,
    /// How to retry transient failures.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// For the agent: whether its readiness (`/readyz`, systemd's READY)
    /// waits for this source's token. Default true; `false` for a partner
    /// whose outage must not hold the agent back.
    #[serde(default = "required_by_default")]
    pub required: bool,
    /// For the agent: files it writes the token to, atomically, at start
    /// and on every refresh (`{kind: file, path, mode, format}`).
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
}

fn required_by_default() -> bool {
    true
}

impl SourceConfig {
    /// The provider this config names.
    pub fn provider(&self) -> Result<Provider, Error> {
        let provider = Provider::by_name(&self.provider)?;
        let server = match (&self.server, self.sandbox) {
            (Some(server), false) => Some(server.as_str()),
            (None, true) => Some("sandbox"),
            (Some(server), true) if server == "sandbox" => Some("sandbox"),
            (Some(_), true) => {
                return Err(ConfigError::new(
                    "sandbox",
                    "`sandbox: true` and another `server` contradict each other",
                )
                .into());
            }
            (None, false) => None,
        };
        if self.provider == "oauth2" && (self.base_url.is_some() || server.is_some()) {
            let key = if self.base_url.is_some() {
                "base_url"
            } else {
                "server"
            };
            return Err(ConfigError::new(
                key,
                "the oauth2 provider is found by its issuer's metadata: give `issuer`, \
                 not `base_url` or `server`",
            )
            .into());
        }
        let provider = match (&self.base_url, server) {
            (Some(_), Some(_)) => {
                return Err(
                    ConfigError::new("base_url", "give `base_url` or `server`, not both").into(),
                );
            }
            (Some(base_url), None) => provider.with_base_url(base_url.as_str()),
            (None, Some(server)) => provider.with_server(server)?,
            (None, None) => provider,
        };
        let provider = match &self.issuer {
            Some(issuer) => provider.with_issuer(issuer.as_str()),
            None => provider,
        };
        let provider = match &self.client_auth {
            Some(name) => {
                provider.with_auth_method(name.parse().map_err(|e: UnknownAuthMethod| {
                    ConfigError::new("client_auth", e.to_string())
                })?)
            }
            None => provider,
        };
        if provider.needs_base_url() {
            return Err(ConfigError::new(
                "base_url",
                format!(
                    "provider {} needs a `base_url` (its spec's server is `{}`)",
                    provider.name(),
                    provider.base_url()
                ),
            )
            .into());
        }
        Ok(provider)
    }

    /// A builder with the provider, credentials, store and policies set
    /// (credentials read from the environment and files now); add a
    /// clock or a name, then `build()`.
    pub fn into_builder(self) -> Result<TokenSourceBuilder, Error> {
        let provider = self.provider()?;
        let mut builder = TokenSource::builder(provider.clone())
            .allow_insecure_http(self.allow_insecure_http)
            .dpop(self.dpop)
            .refresh_policy(self.refresh_policy(&provider));
        if let Some(retry) = &self.retry {
            builder = builder.retry_policy(retry.apply(Default::default()));
        }
        if let Some(path) = &self.ca_file {
            let roots = ca_certificates(path).map_err(|why| ConfigError::new("ca_file", why))?;
            builder = roots
                .into_iter()
                .fold(builder, TokenSourceBuilder::add_root_certificate);
        }
        if let Some(store) = &self.store {
            builder = builder.store(store.open()?);
        }
        let params = self.params.resolve_at("params").map_err(|problems| {
            // One error for the builder; `problems()` lists each.
            let first = &problems[0];
            Error::from(ConfigError::new(&first.path, &first.message))
        })?;
        for (name, value) in params.iter() {
            builder = builder.param(name, value.clone());
        }
        Ok(match &self.credentials {
            Some(credentials) => builder.credentials(credentials.resolve(provider.spec())?),
            None => builder,
        })
    }

    fn refresh_policy(&self, provider: &Provider) -> RefreshPolicy {
        let advised = RefreshPolicy::advised_for(provider);
        match &self.refresh {
            Some(refresh) => refresh.apply(advised),
            None => advised,
        }
    }

    /// Every problem of this source, each at its key under `at`
    /// (`sources.NAME`): provider and server, credentials (environment
    /// variables set, files readable), policies, store. Opens nothing but
    /// credential files.
    pub fn problems(&self, at: &str) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let provider = match self.provider() {
            Ok(provider) => Some(provider),
            Err(error) => {
                let mut found = problem(at, "provider", &error);
                let names = Provider::names();
                if !names.contains(&self.provider.as_str())
                    && let Some(meant) = crate::suggest::closest(&self.provider, &names)
                {
                    found.message = format!("{}; did you mean `{meant}`?", found.message);
                }
                problems.push(found);
                None
            }
        };
        for (index, sink) in self.sinks.iter().enumerate() {
            problems.extend(sink.problems(&format!("{at}.sinks.{index}")));
        }
        let credentials_at = format!("{at}.credentials");
        // Read once (files included), and given to the builder below.
        let credentials = match (&self.credentials, &provider) {
            (None, _) => {
                problems.push(ConfigProblem::new(
                    &credentials_at,
                    "missing: give client_id and client_secret, each as {env: NAME} or {file: PATH}",
                ));
                None
            }
            (Some(credentials), provider) => match credentials.resolve_at(&credentials_at) {
                Err(found) => {
                    problems.extend(found);
                    None
                }
                Ok(resolved) => {
                    match resolved.into_credentials(provider.as_ref().map(|p| p.spec())) {
                        Ok(credentials) => Some(credentials),
                        Err(error) => {
                            problems.push(problem(at, "credentials", &error));
                            None
                        }
                    }
                }
            },
        };
        // Read once too (an `{env}` or `{file}` value), and given to the
        // builder below with the credentials.
        let params = match self.params.resolve_at(&format!("{at}.params")) {
            Ok(params) => params,
            Err(found) => {
                problems.extend(found);
                Default::default()
            }
        };
        if let Some(provider) = &provider
            && let Err(error) = self.refresh_policy(provider).check()
        {
            problems.push(problem(at, "refresh", &error));
        }
        if let Some(retry) = &self.retry
            && let Err(error) = retry.apply(Default::default()).check()
        {
            problems.push(problem(at, "retry", &error));
        }
        if let Some(Err(why)) = self.ca_file.as_deref().map(ca_certificates) {
            problems.push(ConfigProblem::new(format!("{at}.ca_file"), why));
        }
        if let Some(error) = self.store.as_ref().and_then(StoreConfig::problem) {
            problems.push(problem(at, "store", &error));
        }
        let unread = SourceConfig {
            credentials: None,
            ca_file: None,
            params: ParamsConfig::default(),
            ..self.clone()
        };
        if problems.is_empty()
            && let Some(credentials) = credentials
            && let Err(error) = unread.into_builder().and_then(|builder| {
                builder
                    .credentials(credentials.with_params(&params))
                    .check()
            })
        {
            // What only the builder checks: the base URL's scheme and host,
            // and the parameters against the spec (at `params.NAME`).
            problems.push(problem(at, "base_url", &error));
        }
        problems
    }
}

/// `error` as a problem of the source at `at`: at the key the error
/// names, else at `key`, the part of the source that was being checked.
fn problem(at: &str, key: &str, error: &Error) -> ConfigProblem {
    match error {
        Error::Config(config) => {
            let key = config.at().unwrap_or(key);
            ConfigProblem::new(format!("{at}.{key}"), config.reason())
        }
        other => ConfigProblem::new(format!("{at}.{key}"), other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_credentials_are_recognised_and_base_urls_required() {
        let config: SourceConfig = serde_json::from_str(
            r#"{"provider": "password", "base_url": "https://auth.example.com",
                "credentials": {"client_id": "c", "client_secret": "s", "username": "u", "password": "p"}}"#,
        )
        .unwrap();
        assert_eq!(
            config
                .credentials
                .as_ref()
                .and_then(|c| c.username.as_ref()),
            Some(&crate::ValueRef::from("u"))
        );
        assert!(config.into_builder().unwrap().build().is_ok());

        let missing: SourceConfig = serde_json::from_str(
            r#"{"provider": "jsonapi", "credentials": {"client_id": "c", "client_secret": "s"}}"#,
        )
        .unwrap();
        assert!(
            missing
                .provider()
                .unwrap_err()
                .to_string()
                .contains("needs a `base_url`")
        );
        let unknown: SourceConfig = serde_json::from_str(r#"{"provider": "nope"}"#).unwrap();
        assert!(unknown.provider().is_err());
    }

    #[test]
    fn servers_are_chosen_by_the_names_the_specs_give() {
        let config = |json: serde_json::Value| {
            serde_json::from_value::<SourceConfig>(json)
                .unwrap()
                .provider()
        };
        let sandbox = config(serde_json::json!({"provider": "airalo", "server": "sandbox"}));
        assert_eq!(sandbox.unwrap(), Provider::airalo_sandbox());
        // The older `sandbox: true` means the same, for any spec naming one.
        let alias = config(serde_json::json!({"provider": "airalo", "sandbox": true}));
        assert_eq!(alias.unwrap(), Provider::airalo_sandbox());
        assert_eq!(
            config(serde_json::json!({"provider": "airalo"})).unwrap(),
            Provider::airalo()
        );
        let unknown = config(serde_json::json!({"provider": "airalo", "server": "staging"}));
        let error = unknown.unwrap_err().to_string();
        assert!(
            error.contains("no server named `staging`") && error.contains("production, sandbox"),
            "{error}"
        );
        let error = config(serde_json::json!({"provider": "neonpanel", "sandbox": true}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no server named `sandbox`"), "{error}");
        let error = config(serde_json::json!({"provider": "nope"}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("known: {}", Provider::names().join(", "))),
            "{error}"
        );
        let both = serde_json::json!({"provider": "airalo", "server": "sandbox", "base_url": "https://x.example"});
        assert!(config(both).is_err());
    }

    #[test]
    fn each_problem_is_at_the_key_its_error_names() {
        let problems_of = |json: serde_json::Value| {
            let config: SourceConfig = serde_json::from_value(json).unwrap();
            config
                .problems("sources.a")
                .into_iter()
                .map(|p| p.path)
                .collect::<Vec<_>>()
        };
        let inline = serde_json::json!({"client_id": "id", "client_secret": "s"});
        let cases = [
            (
                serde_json::json!({"provider": "nope", "credentials": inline}),
                "sources.a.provider",
            ),
            (
                serde_json::json!({"provider": "airalo", "server": "nowhere", "credentials": inline}),
                "sources.a.server",
            ),
            (
                serde_json::json!({"provider": "airalo", "server": "production", "sandbox": true, "credentials": inline}),
                "sources.a.sandbox",
            ),
            (
                serde_json::json!({"provider": "jsonapi", "credentials": inline}),
                "sources.a.base_url",
            ),
            (
                serde_json::json!({"provider": "jsonapi", "base_url": "ftp://x.example", "credentials": inline}),
                "sources.a.base_url",
            ),
            (
                serde_json::json!({"provider": "airalo", "credentials": {"client_id": "id", "client_secret": ""}}),
                "sources.a.credentials.client_secret",
            ),
            (
                serde_json::json!({"provider": "password", "base_url": "https://auth.example.com", "credentials": inline}),
                "sources.a.credentials.username",
            ),
            (
                serde_json::json!({"provider": "airalo", "credentials": inline, "retry": {"max_attempts": 0}}),
                "sources.a.retry",
            ),
            (
                serde_json::json!({"provider": "airalo", "credentials": inline, "ca_file": "/nonexistent/ca.pem"}),
                "sources.a.ca_file",
            ),
            (
                serde_json::json!({"provider": "oauth2", "credentials": inline}),
                "sources.a.issuer",
            ),
            (
                serde_json::json!({"provider": "oauth2", "issuer": "https://login.example.com", "base_url": "https://x.example.com", "credentials": inline}),
                "sources.a.base_url",
            ),
            (
                serde_json::json!({"provider": "oauth2", "issuer": "https://login.example.com", "client_auth": "magic", "credentials": inline}),
                "sources.a.client_auth",
            ),
            (
                serde_json::json!({"provider": "oauth2", "issuer": "http://login.example.com", "credentials": inline}),
                "sources.a.base_url",
            ),
            (
                serde_json::json!({"provider": "airalo", "credentials": inline, "ca_file": "Cargo.toml"}),
                "sources.a.ca_file",
            ),
        ];
        for (json, at) in cases {
            assert_eq!(problems_of(json.clone()), vec![at.to_owned()], "{json}");
        }
    }

    #[test]
    fn stores_are_configured_without_secrets_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let config: SourceConfig = serde_json::from_value(serde_json::json!({
            "provider": "neonpanel",
            "store": {"kind": "file", "dir": dir.path(), "encryption_key_env": "TOKENMUX_TEST_UNSET_KEY"},
        }))
        .unwrap();
        let error = config.into_builder().unwrap_err().to_string();
        assert!(error.contains("TOKENMUX_TEST_UNSET_KEY"), "{error}");

        let redis: SourceConfig = serde_json::from_value(serde_json::json!({
            "provider": "neonpanel",
            "store": {"kind": "redis", "url": "redis://:hunter2-pass@127.0.0.1:1/0"},
        }))
        .unwrap();
        assert!(!format!("{redis:?}").contains("hunter2"));
        assert!(
            serde_json::from_value::<StoreConfig>(
                serde_json::json!({"kind": "redis", "url": "redis://x", "typo": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn an_issuer_reaches_the_provider_and_a_malformed_one_is_a_problem_at_its_key() {
        let config: SourceConfig = serde_json::from_value(serde_json::json!({
            "provider": "neonpanel",
            "issuer": "https://login.example.com",
            "credentials": {"client_id": "c", "client_secret": "s"},
        }))
        .unwrap();
        let provider = config.provider().unwrap();
        assert_eq!(provider.issuer(), Some("https://login.example.com"));
        assert!(config.problems("sources.a").is_empty());
        for issuer in ["login.example.com", "https://login.example.com/?tenant=1"] {
            let config = SourceConfig {
                issuer: Some(issuer.to_owned()),
                ..config.clone()
            };
            let problems = config.problems("sources.a");
            assert_eq!(problems.len(), 1, "{issuer}: {problems:?}");
            assert_eq!(problems[0].path, "sources.a.issuer", "{problems:?}");
        }
    }
}
