//! [`TokenSourceBuilder`]: a source's configuration, checked once.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

use tokenmux_wire::{DEFAULT_MAX_RESPONSE_BYTES, Parameters, Secret};

use super::Inner;
use crate::dpop::Dpop;
use crate::fetch::{Fetcher, Settings};
use crate::http_client::{DEFAULT_TIMEOUTS, HttpClient};
use crate::observe::Observer;
use crate::{
    Clock, ConfigError, Credentials, Error, Provider, RefreshPolicy, RetryPolicy, SystemClock,
    TokenSource,
};
use tokenmux_store::{MemoryStore, TokenStore};

/// Builds a [`TokenSource`]; only the credentials are required.
#[derive(Debug)]
pub struct TokenSourceBuilder {
    provider: Provider,
    name: Option<String>,
    credentials: Option<Credentials>,
    params: Parameters,
    refresh: Option<RefreshPolicy>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    store: Arc<dyn TokenStore>,
    http: Option<reqwest::Client>,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_response_bytes: usize,
    background_refresh: bool,
    allow_insecure_http: bool,
    root_certificates: Vec<reqwest::Certificate>,
    dpop: bool,
}

impl TokenSourceBuilder {
    pub(crate) fn new(provider: Provider) -> Self {
        Self {
            provider,
            name: None,
            credentials: None,
            params: Parameters::new(),
            refresh: None,
            retry: RetryPolicy::default(),
            clock: SystemClock::shared(),
            store: Arc::new(MemoryStore::default()),
            http: None,
            connect_timeout: DEFAULT_TIMEOUTS.0,
            request_timeout: DEFAULT_TIMEOUTS.1,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            background_refresh: true,
            allow_insecure_http: false,
            root_certificates: Vec::new(),
            dpop: false,
        }
    }

    /// Binds tokens to a DPoP key (RFC 9449): every token request carries
    /// a fresh proof (with the server's nonce when it asks for one), and a
    /// `DPoP` token is presented with a proof per API request
    /// ([`TokenSource::authorize`], [`BearerAuth`](crate::BearerAuth),
    /// [`AuthLayer`](crate::AuthLayer)). The key is made on first use and
    /// kept beside the token in the store (sealed when the store
    /// encrypts), so every holder of the token can prove it. A server
    /// that does not do DPoP answers with a bearer token, used as one.
    ///
    /// ```
    /// use tokenmux::{Credentials, Provider, TokenSource};
    ///
    /// let tokens = TokenSource::builder(Provider::oauth2("https://as.example.com"))
    ///     .credentials(Credentials::client("my-client", "my-secret"))
    ///     .dpop(true)
    ///     .build()?;
    /// assert!(tokens.uses_dpop());
    /// # Ok::<(), tokenmux::Error>(())
    /// ```
    pub fn dpop(mut self, enabled: bool) -> Self {
        self.dpop = enabled;
        self
    }

    /// Allows a plain `http://` base URL on a host that is not loopback.
    /// Off by default: the credentials and tokens would cross the network
    /// in the clear. (`http://127.0.0.1`, `[::1]` and `localhost` are always
    /// allowed, for local mocks and sidecars.)
    ///
    /// ```
    /// use tokenmux::{Credentials, Error, Provider, TokenSource};
    ///
    /// let plain = || TokenSource::builder(Provider::jsonapi("http://auth.internal"))
    ///     .credentials(Credentials::client("id", "secret"));
    /// assert!(matches!(plain().build(), Err(Error::Config(_))));
    /// assert!(plain().allow_insecure_http(true).build().is_ok());
    /// ```
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Whether a stale token is served at once while a background task
    /// refreshes it (the default), or refreshed before returning. Turn it
    /// off in short-lived processes (a CLI), which may exit before a
    /// background refresh finishes.
    pub fn background_refresh(mut self, enabled: bool) -> Self {
        self.background_refresh = enabled;
        self
    }

    /// The source's name, for metrics and events (`source` label); default:
    /// the provider's name. Name sources apart when several use one
    /// provider.
    ///
    /// ```
    /// use tokenmux::{Credentials, Provider, TokenSource};
    ///
    /// let tokens = TokenSource::builder(Provider::airalo_sandbox())
    ///     .name("airalo-eu")
    ///     .credentials(Credentials::client("id", "secret"))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(tokens.name(), "airalo-eu");
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The credentials (required).
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Sets the spec's parameter `name` (`x-tokenmux-parameter`: a `scope`,
    /// an `audience`) to `value` for this source, over any value the
    /// credentials carry. Each value partitions the store key, so two
    /// sources asking for two scope sets hold two tokens; a parameter the
    /// spec marks secret is handled like any secret.
    ///
    /// ```
    /// use tokenmux::{Credentials, Provider, TokenSource};
    ///
    /// let builder = TokenSource::builder(Provider::neonpanel())
    ///     .credentials(Credentials::client("id", "secret"))
    ///     .param("scope", "read");
    /// // NeonPanel's spec names no parameter: the error says which it got.
    /// let error = builder.check().unwrap_err().to_string();
    /// assert!(error.contains("params.scope: the neonpanel provider has no parameter"), "{error}");
    /// ```
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Secret>) -> Self {
        self.params.insert(name, value);
        self
    }

    /// When to refresh. Default: [`RefreshPolicy::default`], with the
    /// `max_lifetime` the provider's spec advises (`x-tokenmux-max-lifetime`:
    /// Airalo's document says refresh daily).
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh = Some(policy);
        self
    }

    /// How to retry transient failures.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The clock (tests inject a [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where tokens are kept; default a [`MemoryStore`] of this source's own.
    pub fn store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.store = store;
        self
    }

    /// Use this HTTP client (its timeouts then apply, not the builder's).
    ///
    /// It must not follow redirects: a redirect would carry the request,
    /// credentials included, to wherever the `Location` points. Build it
    /// with `redirect(reqwest::redirect::Policy::none())`, as the builder's
    /// own client is. (A `reqwest::Client` does not tell its policy; a
    /// response that arrives from another URL than the one asked is
    /// refused as [`Error::Redirect`], but by then the request was sent.)
    /// Its TLS is its own: a CA ([`add_root_certificate`](Self::add_root_certificate))
    /// or a client certificate in the credentials is refused with it.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Trusts `certificate` (a private CA's, PEM or DER) as well as the
    /// system's roots, for a token endpoint behind a private CA. With
    /// [`http_client`](Self::http_client), configure that client instead:
    /// both is a configuration error.
    ///
    /// ```
    /// # fn pem() -> &'static [u8] { include_bytes!("../../tests/data/test-ca.pem") }
    /// use tokenmux::{Credentials, Provider, TokenSource};
    ///
    /// let ca = reqwest::Certificate::from_pem(pem()).unwrap();
    /// let tokens = TokenSource::builder(Provider::jsonapi("https://auth.internal"))
    ///     .credentials(Credentials::client("id", "secret"))
    ///     .add_root_certificate(ca)
    ///     .build();
    /// assert!(tokens.is_ok());
    /// ```
    pub fn add_root_certificate(mut self, certificate: reqwest::Certificate) -> Self {
        self.root_certificates.push(certificate);
        self
    }

    /// Connect timeout (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout of one whole request, body included (default 15 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Largest response body read (default 64 KiB).
    pub fn max_response_bytes(mut self, max: usize) -> Self {
        self.max_response_bytes = max;
        self
    }

    /// Everything [`build`](Self::build) refuses, without building
    /// anything: config validation checks thousands of sources this way.
    ///
    /// ```
    /// use tokenmux::{Credentials, Provider, TokenSource};
    ///
    /// let plain = TokenSource::builder(Provider::jsonapi("http://auth.example.com"))
    ///     .credentials(Credentials::client("id", "secret"));
    /// assert!(plain.check().is_err()); // plain http to a host that is not loopback
    /// ```
    pub fn check(&self) -> Result<(), Error> {
        let credentials = self.chosen_credentials()?;
        let spec = self.provider.spec();
        credentials.check(spec)?;
        if self.provider.needs_base_url() {
            return Err(ConfigError::new(
                "base_url",
                format!(
                    "the {} provider's server is `{}` in its spec: give its base URL \
                     (Provider::with_base_url)",
                    spec.name,
                    self.provider.base_url()
                ),
            )
            .into());
        }
        check_issuer(&self.provider)?;
        if self.http.is_some() && !self.root_certificates.is_empty() {
            return Err(ConfigError::new(
                "ca_file",
                "a CA certificate cannot be added to the HTTP client given with http_client: \
                 give it to that client (ClientBuilder::add_root_certificate), or leave \
                 http_client out",
            )
            .into());
        }
        if self.http.is_some() && credentials.client_certificate().is_some() {
            return Err(ConfigError::new(
                "credentials.client_certificate",
                "a client certificate cannot be added to the HTTP client given with \
                 http_client: give it to that client (ClientBuilder::identity with \
                 ClientCertificate::identity), or leave http_client out",
            )
            .into());
        }
        check_base_url(self.provider.base_url(), self.allow_insecure_http)?;
        crate::parameters::check(spec, credentials.params())?;
        self.chosen_refresh().check()?;
        self.retry.check()?;
        self.store
            .check()
            .map_err(|e| ConfigError::new("store", e.to_string()))?;
        Ok(())
    }

    /// The credentials given, with the parameters set by [`param`](Self::param).
    fn chosen_credentials(&self) -> Result<Credentials, ConfigError> {
        let credentials = self
            .credentials
            .as_ref()
            .ok_or_else(|| ConfigError::new("credentials", "no credentials given"))?;
        Ok(credentials
            .clone()
            .used_by(self.provider.spec())
            .with_params(&self.params))
    }

    /// The refresh policy given, else the one the provider's document
    /// advises (Airalo: refresh daily).
    fn chosen_refresh(&self) -> RefreshPolicy {
        self.refresh
            .clone()
            .unwrap_or_else(|| RefreshPolicy::advised_for(&self.provider))
    }

    /// Checks the configuration and builds the source.
    ///
    /// Without [`http_client`](Self::http_client), the source's own client
    /// is built at its first fetch, not here: a source that finds a fresh
    /// token in its store never reads the system's TLS roots. A client
    /// with extra roots or a client certificate is built here, so that a
    /// bad certificate is an error of `build`.
    pub fn build(self) -> Result<TokenSource, Error> {
        self.check()?;
        let refresh = self.chosen_refresh();
        let spec = self.provider.spec();
        let credentials = self.chosen_credentials()?;
        let certificate = credentials.client_certificate();
        let timeouts = (self.connect_timeout, self.request_timeout);
        let http = match self.http {
            Some(http) => HttpClient::from(http),
            None => HttpClient::own(self.root_certificates, certificate, timeouts)?,
        };
        let key = self.provider.store_key(&credentials);
        let name = match self.name {
            Some(name) => name.into(),
            None => default_name(spec.name),
        };
        let observe = Observer::new(name, spec.name);
        let fetcher = Fetcher::new(
            self.provider,
            credentials,
            http,
            Settings {
                retry: self.retry,
                refresh,
                timeouts,
                max_response_bytes: self.max_response_bytes,
            },
            self.clock,
        );
        let fetcher = match self.dpop {
            true => fetcher.with_dpop(Arc::new(Dpop::default())),
            false => fetcher,
        };
        Ok(TokenSource::from_inner(Inner::new(
            fetcher,
            self.store,
            key,
            observe,
            self.background_refresh,
        )))
    }
}

/// The name of a source that was given none: its provider's, one copy per
/// provider however many sources share it (a copy each would be 32 bytes).
fn default_name(provider: &'static str) -> Arc<str> {
    static NAMES: Mutex<Vec<Arc<str>>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock();
    if let Some(name) = names.iter().find(|name| ***name == *provider) {
        return Arc::clone(name);
    }
    let name: Arc<str> = provider.into();
    names.push(Arc::clone(&name));
    name
}

/// A base URL tokens may be asked at: http(s), no credentials in it, and
/// plain http only to loopback unless allowed. Messages never repeat a
/// URL that may hold credentials.
fn check_base_url(base: &str, allow_insecure_http: bool) -> Result<(), Error> {
    let url = reqwest::Url::parse(base)
        .ok()
        .filter(|_| base.contains("://"))
        .ok_or_else(|| ConfigError::new("base_url", no_scheme("the base URL", base)))?;
    if tokenmux_wire::net::has_userinfo(&url) {
        return Err(ConfigError::new(
            "base_url",
            "the base URL carries credentials (user:password@host); remove them and give \
             the credentials apart (`credentials:` in a config file, --client-id and \
             --client-secret-file, or Credentials)",
        )
        .into());
    }
    let shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if !matches!(url.scheme(), "http" | "https") {
        return Err(
            ConfigError::new("base_url", format!("base URL `{shown}` is not http(s)")).into(),
        );
    }
    if url.scheme() == "http"
        && !allow_insecure_http
        && !url
            .host_str()
            .is_some_and(tokenmux_wire::net::is_loopback_host)
    {
        return Err(ConfigError::new(
            "base_url",
            format!(
                "base URL `{shown}` is plain http to a host that is not loopback: the \
                 credentials and tokens would cross the network in the clear. Use https, \
                 or allow it explicitly (`allow_insecure_http: true` in a config file, \
                 --allow-insecure-http, TokenSourceBuilder::allow_insecure_http)"
            ),
        )
        .into());
    }
    Ok(())
}

/// The issuer a spec's client assertions are addressed to: given when the
/// spec asks for it, and an RFC 8414 issuer identifier (an http(s) URL
/// with no credentials, query or fragment) when given.
fn check_issuer(provider: &Provider) -> Result<(), Error> {
    let refused = |why: String| Err(ConfigError::new("issuer", why).into());
    let Some(issuer) = provider.issuer() else {
        if provider.needs_issuer() && provider.discovers() {
            return refused(format!(
                "the {} provider is found by its authorization server's metadata: give the \
                 issuer URL (Provider::oauth2, `issuer:` in a config file, --issuer)",
                provider.name()
            ));
        }
        if provider.needs_issuer() {
            return refused(format!(
                "the {} provider's spec addresses client assertions to the issuer \
                 (x-tokenmux-assertion-audience: issuer): give the authorization server's \
                 issuer URL (Provider::with_issuer, `issuer:` in a config file, --issuer)",
                provider.name()
            ));
        }
        return Ok(());
    };
    match reqwest::Url::parse(issuer)
        .ok()
        .filter(|_| issuer.contains("://"))
    {
        None => refused(no_scheme("the issuer", issuer)),
        Some(url) if tokenmux_wire::net::has_userinfo(&url) => {
            refused("the issuer carries credentials (user:password@host)".into())
        }
        Some(url) if !matches!(url.scheme(), "http" | "https") => {
            refused("the issuer is not an http(s) URL".into())
        }
        Some(url) if url.query().is_some() || url.fragment().is_some() => {
            refused("an issuer identifier has no query or fragment (RFC 8414 §2)".into())
        }
        Some(_) => Ok(()),
    }
}

/// What is wrong with `text`, which is not an absolute URL: most often a
/// missing `https://` (never repeating it: it may hold credentials).
fn no_scheme(what: &str, text: &str) -> String {
    match reqwest::Url::parse(&format!("https://{text}")) {
        Ok(_) if !text.contains("://") => {
            format!("{what} has no scheme: add https:// (as in https://host/path)")
        }
        _ => format!("{what} is not an absolute http(s) URL"),
    }
}
