//! Which token endpoint to ask, and where it is.
//!
//! A [`Provider`] is a [`TokenEndpoint`] (what a spec says, and how to send
//! its request) at a base URL. The constructors `Provider::airalo()`,
//! `Provider::jsonapi(url)`, … are generated from `specs/` (see
//! `generated.rs`), one cargo feature per spec; [`Provider::from_endpoint`]
//! takes any other implementation, generated elsewhere or written by hand.

use std::sync::Arc;

use tokenmux_wire::{
    AssertionAudience, AuthMethod, ClientAuth, EndpointSpec, Server, TokenEndpoint,
};

use crate::ConfigError;
use crate::Error;

/// A token endpoint and its base URL (the spec's server URL; the endpoint
/// path is appended to it).
///
/// ```
/// use tokenmux::Provider;
///
/// assert_eq!(Provider::airalo_sandbox().base_url(), "https://sandbox-partners-api.airalo.com");
/// let own = Provider::jsonapi("https://api.example.com/v1");
/// assert_eq!((own.name(), own.base_url()), ("jsonapi", "https://api.example.com/v1"));
///
/// // By name, as a config file or the CLI gives it, on a server the spec names.
/// let sandbox = Provider::by_name("airalo")?.with_server("sandbox")?;
/// assert_eq!(sandbox, Provider::airalo_sandbox());
/// # Ok::<(), tokenmux::Error>(())
/// ```
#[derive(Clone)]
pub struct Provider {
    endpoint: &'static dyn TokenEndpoint,
    // Shared by clones: a source holds a clone of its provider.
    base_url: Arc<str>,
    issuer: Option<Arc<str>>,
    auth_method: Option<AuthMethod>,
}

/// Same endpoint (by name) at the same base URL, with the same issuer and
/// client authentication choice.
impl PartialEq for Provider {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
            && self.base_url == other.base_url
            && self.issuer == other.issuer
            && self.auth_method == other.auth_method
    }
}

impl Eq for Provider {}

/// The base URL without a `user:password@` part (which a builder refuses,
/// but a `Provider` may still hold).
impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name())
            .field(
                "base_url",
                &tokenmux_wire::net::without_userinfo(&self.base_url),
            )
            .field("issuer", &self.issuer)
            .field("auth_method", &self.auth_method)
            .finish()
    }
}

impl Provider {
    /// `endpoint` at `base_url`: a provider crate generated outside this
    /// workspace, or a [`TokenEndpoint`] written by hand.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenmux::{Credentials, Provider, TokenSource};
    /// use tokenmux::endpoint::*;
    ///
    /// /// A token endpoint with no spec: `GET /token?key=…` answers `{"token": "…"}`.
    /// struct KeyInQuery;
    ///
    /// static SPEC: EndpointSpec = EndpointSpec {
    ///     name: "key-in-query",
    ///     title: "A hand-written endpoint",
    ///     servers: &[],
    ///     grants: &[],
    ///     basic_encoding: BasicEncoding::AsDocumented,
    ///     token: TokenFields { access_token: "/token", access_token_header: None, token_type: None, expiry: None, refresh_token: None, token_types: &[] },
    ///     error: ErrorFields { code: &[], message: &[] },
    ///     errors: &[],
    ///     max_lifetime_secs: Some(600),
    ///     success_example: None,
    ///     presentation: Presentation::BEARER, success_status: 200,
    /// };
    ///
    /// impl TokenEndpoint for KeyInQuery {
    ///     fn spec(&self) -> &'static EndpointSpec {
    ///         &SPEC
    ///     }
    ///
    ///     fn request<'a>(&'a self, request: TokenRequest<'a>) -> BoxFuture<'a, EndpointResult> {
    ///         Box::pin(async move {
    ///             let response = request
    ///                 .http
    ///                 .get(format!("{}/token", request.base_url))
    ///                 .query(&[("key", request.credentials.client_secret.map_or("", |s| s.expose_secret()))])
    ///                 .send()
    ///                 .await
    ///                 .map_err(ClientError::CommunicationError)?;
    ///             if !response.status().is_success() {
    ///                 return Err(ClientError::UnexpectedResponse(response));
    ///             }
    ///             let (status, headers) = (response.status(), response.headers().clone());
    ///             let body = response.bytes().await.map_err(ClientError::ResponseBodyError)?;
    ///             let issued = self
    ///                 .decode_success(&body)
    ///                 .map_err(|e| ClientError::InvalidResponsePayload(body, e))?;
    ///             Ok(ResponseValue::new(issued, status, headers))
    ///         })
    ///     }
    ///
    ///     fn decode_success(&self, body: &[u8]) -> Result<Issued, serde_json::Error> {
    ///         #[derive(serde::Deserialize)]
    ///         struct Answer { token: String }
    ///         let answer: Answer = serde_json::from_slice(body)?;
    ///         Ok(Issued { access_token: answer.token.into(), token_type: None, expires: None, refresh_token: None })
    ///     }
    /// }
    ///
    /// static KEY_IN_QUERY: KeyInQuery = KeyInQuery;
    ///
    /// let tokens = TokenSource::builder(Provider::from_endpoint(&KEY_IN_QUERY, "https://auth.example.com"))
    ///     .credentials(Credentials::client("unused", "my-key"))
    ///     .build()?;
    /// // The spec's lifetime advice applies as for a generated provider.
    /// assert_eq!(tokens.provider().name(), "key-in-query");
    /// # let _ = Duration::ZERO;
    /// # Ok::<(), tokenmux::Error>(())
    /// ```
    pub fn from_endpoint(
        endpoint: &'static dyn TokenEndpoint,
        base_url: impl Into<String>,
    ) -> Self {
        let base_url: String = base_url.into();
        Self {
            endpoint,
            base_url: base_url.trim_end_matches('/').into(),
            issuer: None,
            auth_method: None,
        }
    }

    /// Every provider compiled in (one cargo feature per spec), each at its
    /// default server, in the order of their names.
    ///
    /// ```
    /// let names: Vec<_> = tokenmux::Provider::all().iter().map(|p| p.name()).collect();
    /// assert!(names.contains(&"neonpanel"));
    /// assert!(names.windows(2).all(|pair| pair[0] < pair[1]));
    /// ```
    pub fn all() -> Vec<Provider> {
        tokenmux_registry::builtin()
            .into_iter()
            .map(|endpoint| Self::from_endpoint(endpoint, default_url(endpoint.spec())))
            .collect()
    }

    /// The provider named `name` (its spec's file stem), at its default
    /// server. A server whose URL is a template (`{base}`) needs
    /// [`with_base_url`](Self::with_base_url) before use.
    pub fn by_name(name: &str) -> Result<Provider, Error> {
        #[cfg(feature = "oauth2")]
        if name == tokenmux_oauth2::NAME {
            return Ok(Self::from_endpoint(&tokenmux_oauth2::ENDPOINT, ""));
        }
        Self::all()
            .into_iter()
            .find(|provider| provider.name() == name)
            .ok_or_else(|| {
                let known = Self::names();
                ConfigError::new(
                    "provider",
                    format!(
                        "no provider named `{name}` is compiled in (known: {})",
                        known.join(", ")
                    ),
                )
                .into()
            })
    }

    /// The names [`by_name`](Self::by_name) knows: every provider compiled
    /// in, and `oauth2` (any standard server, found by its issuer).
    ///
    /// ```
    /// let names = tokenmux::Provider::names();
    /// assert!(names.contains(&"neonpanel") && names.contains(&"oauth2"));
    /// ```
    pub fn names() -> Vec<&'static str> {
        let mut names: Vec<_> = Self::all().iter().map(|p| p.name()).collect();
        #[cfg(feature = "oauth2")]
        names.push(tokenmux_oauth2::NAME);
        names.sort_unstable();
        names
    }

    /// The same endpoint on the server its spec names `server`
    /// (`x-tokenmux-server`, e.g. `sandbox`).
    pub fn with_server(self, server: &str) -> Result<Provider, Error> {
        let spec = self.spec();
        let found = spec.server(server).ok_or_else(|| {
            let names: Vec<_> = spec.servers.iter().filter_map(|s| s.name).collect();
            Error::from(ConfigError::new(
                "server",
                format!(
                    "{} has no server named `{server}` (its spec names: {})",
                    spec.name,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ))
        })?;
        Ok(self.with_base_url(found.url))
    }

    /// The same provider at another base URL (a mock, a proxy, a regional host).
    pub fn with_base_url(self, base_url: impl Into<String>) -> Self {
        Self {
            issuer: self.issuer,
            auth_method: self.auth_method,
            ..Self::from_endpoint(self.endpoint, base_url)
        }
    }

    /// The same provider with its authorization server's issuer identifier
    /// (RFC 8414 `issuer`), for a spec whose client assertions are
    /// addressed to it (`x-tokenmux-assertion-audience: issuer`); a spec
    /// that addresses the token endpoint ignores it.
    ///
    /// ```
    /// use tokenmux::Provider;
    ///
    /// let provider = Provider::neonpanel().with_issuer("https://login.example.com");
    /// assert_eq!(provider.issuer(), Some("https://login.example.com"));
    /// ```
    ///
    /// A provider found by discovery (`oauth2`) is found at its issuer:
    /// the issuer is its base URL too.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        if self.discovers() {
            self.base_url = issuer.trim_end_matches('/').into();
        }
        self.issuer = Some(issuer.into());
        self
    }

    /// The same provider with the client authentication method chosen,
    /// for a provider that picks one from the server's metadata
    /// (`oauth2`); by default it picks the first the credentials can use.
    /// A spec's own method is the spec's: this is ignored there.
    ///
    /// ```
    /// use tokenmux::Provider;
    /// use tokenmux::endpoint::AuthMethod;
    ///
    /// let provider = Provider::oauth2("https://login.example.com")
    ///     .with_auth_method(AuthMethod::ClientSecretPost);
    /// assert_eq!(provider.auth_method(), Some(AuthMethod::ClientSecretPost));
    /// ```
    pub fn with_auth_method(mut self, method: AuthMethod) -> Self {
        self.auth_method = Some(method);
        self
    }

    /// The client authentication method chosen, if any.
    pub fn auth_method(&self) -> Option<AuthMethod> {
        self.auth_method
    }

    /// Whether the endpoint is found from the issuer's metadata.
    pub(crate) fn discovers(&self) -> bool {
        self.spec()
            .grants
            .iter()
            .any(|grant| grant.wire.auth == ClientAuth::FromMetadata)
    }

    /// The issuer identifier given with [`with_issuer`](Self::with_issuer).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Whether no issuer is given and one is needed: the spec addresses
    /// client assertions to it, or the provider is found by discovery.
    pub fn needs_issuer(&self) -> bool {
        let grant_assertion_to_issuer = |field: &tokenmux_wire::RequestField| {
            matches!(field.value, tokenmux_wire::FieldValue::Assertion(assertion)
                if assertion.audience == AssertionAudience::Issuer)
        };
        self.issuer.is_none()
            && self.spec().grants.iter().any(|grant| {
                matches!(
                    grant.wire.auth,
                    ClientAuth::ClientSecretJwt(AssertionAudience::Issuer)
                        | ClientAuth::PrivateKeyJwt(AssertionAudience::Issuer)
                        | ClientAuth::FromMetadata
                ) || grant.fields.iter().any(grant_assertion_to_issuer)
            })
    }

    /// The provider's name (its spec's file stem), as config files, store
    /// keys and the CLI spell it.
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// What the spec says about the endpoint.
    pub fn spec(&self) -> &'static EndpointSpec {
        self.endpoint.spec()
    }

    /// The endpoint implementation.
    pub fn endpoint(&self) -> &'static dyn TokenEndpoint {
        self.endpoint
    }

    /// The key under which a store keeps the token `credentials` get
    /// here: this provider's name and base URL, the client id, (for a
    /// password grant) the username, and the value of each parameter the
    /// spec does not mark secret. Never a secret.
    ///
    /// ```
    /// use tokenmux::{Credentials, Provider};
    ///
    /// let key = Provider::airalo().store_key(&Credentials::client("id-1", "s3cr3t"));
    /// assert_eq!(key.as_str(), "airalo|https://partners-api.airalo.com|id-1");
    /// ```
    pub fn store_key(&self, credentials: &crate::Credentials) -> crate::StoreKey {
        let key = crate::StoreKey::from_parts(
            self.name(),
            self.base_url(),
            // A public client with no id (a username alone, a refresh
            // token alone) is told apart by its username, else by the
            // verifier the stored token carries.
            credentials.client_id().unwrap_or_default(),
            credentials.username(),
        );
        // Parameters partition the key (two scope sets, two tokens); a
        // secret one is left out here and checked by the verifier instead.
        let secret = |name: &str| {
            self.spec()
                .parameters()
                .iter()
                .any(|p| p.name == name && p.secret)
        };
        credentials
            .params()
            .iter()
            .filter(|(name, _)| !secret(name))
            .fold(key, |key, (name, value)| {
                key.with_parameter(name, value.expose_secret())
            })
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether the base URL is still a spec's template (`{base}`), to be
    /// replaced with the real one.
    pub fn needs_base_url(&self) -> bool {
        self.base_url.contains('{')
    }
}

fn default_url(spec: &EndpointSpec) -> &'static str {
    spec.default_server()
        .map_or("", |server: &Server| server.url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, TokenSource};

    #[test]
    fn a_templated_server_asks_for_a_base_url() {
        let jsonapi = Provider::by_name("jsonapi").unwrap();
        assert!(jsonapi.needs_base_url());
        let error = TokenSource::builder(jsonapi)
            .credentials(Credentials::client("id", "secret"))
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`{base}` in its spec: give its base URL"),
            "{error}"
        );
        let error = Provider::by_name("nope").unwrap_err().to_string();
        assert!(error.contains("no provider named `nope`"), "{error}");
    }

    #[test]
    fn equal_by_name_and_base_url_and_debug_hides_userinfo() {
        let a = Provider::jsonapi("https://user:hunter2@api.example.com/");
        assert_eq!(a.base_url(), "https://user:hunter2@api.example.com");
        assert_eq!(
            a,
            Provider::by_name("jsonapi")
                .unwrap()
                .with_base_url(a.base_url())
        );
        assert_ne!(a, Provider::password(a.base_url()));
        assert!(!format!("{a:?}").contains("hunter2"));
    }
}
