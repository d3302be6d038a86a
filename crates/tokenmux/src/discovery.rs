//! The generic OAuth 2.0 provider (`tokenmux-oauth2`): any standard
//! authorization server, found by its issuer's metadata (RFC 8414, or
//! OpenID Connect discovery) instead of a spec.

use tokenmux_oauth2::DiscoveryError;

use tokenmux_wire::scrub::Scrubber;

use crate::{ConfigError, Error, Provider};

impl Provider {
    /// The standard OAuth 2.0 server whose issuer identifier is `issuer`:
    /// its metadata is read at the first token request (and again hourly),
    /// its `token_endpoint` asked with an RFC 6749 client credentials
    /// request, the client authenticated by the first method the server
    /// lists that the credentials can use (a certificate, a private key,
    /// then a secret: `client_secret_basic`, `_post`, `_jwt`; `none` for a
    /// client id alone), or the one given with
    /// [`with_auth_method`](Self::with_auth_method). `scope` and
    /// `resource` are its parameters.
    ///
    /// ```
    /// use tokenmux::jose::PrivateKey;
    /// use tokenmux::{Credentials, Provider, TokenSource};
    ///
    /// # let pem = std::fs::read("../tokenmux-jose/tests/keys/ec-pkcs8.pem").unwrap();
    /// let tokens = TokenSource::builder(Provider::oauth2("https://login.example.com"))
    ///     .credentials(Credentials::new().with_client_id("my-client").with_private_key(PrivateKey::from_pem(&pem)?))
    ///     .param("scope", "api:read")
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn oauth2(issuer: impl Into<String>) -> Provider {
        Provider::from_endpoint(&tokenmux_oauth2::ENDPOINT, "").with_issuer(issuer)
    }

    /// [`oauth2`](Self::oauth2) with its metadata read now (with a client
    /// of default settings; see [`discover_with`](Self::discover_with)),
    /// so that a wrong issuer is an error here rather than at the first
    /// token request. The metadata is kept for the token requests.
    pub async fn discover(issuer: &str) -> Result<Provider, Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::general(format!("cannot build the HTTP client: {e}")))?;
        Self::discover_with(issuer, &http).await
    }

    /// [`discover`](Self::discover) with `http` (a private CA's roots, a
    /// proxy): it must not follow redirects.
    pub async fn discover_with(issuer: &str, http: &reqwest::Client) -> Result<Provider, Error> {
        tokenmux_oauth2::preload(issuer, http)
            .await
            .map_err(discovery_error)?;
        Ok(Provider::oauth2(issuer))
    }
}

/// A discovery failure as the facade's error, classified as a token
/// endpoint's failure is (a transport or server failure is transient);
/// the rest is a problem with the issuer.
fn discovery_error(error: DiscoveryError) -> Error {
    let scrub = Scrubber::without_secrets();
    let endpoint = &tokenmux_oauth2::ENDPOINT;
    match crate::classify::ok(Err(error.into_client_error()), endpoint, &scrub) {
        Err(Error::Config(config)) if config.at().is_none() => {
            ConfigError::new("issuer", config.reason()).into()
        }
        Err(error) => error,
        Ok(_) => unreachable!("an error is classified as an error"),
    }
}
