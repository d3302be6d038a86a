//! A [`reqwest_middleware`] layer: every request gets the token (with a
//! DPoP proof for a DPoP token), and a 401 invalidates it and retries once
//! with a new one, or with the nonce a DPoP API asked for.

use reqwest::{Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use crate::TokenSource;

/// Adds `Authorization: Bearer …` from a [`TokenSource`] to each request
/// ([`TokenSource::authorize`]: with a DPoP source, `Authorization: DPoP
/// …` and a `DPoP` proof for the request). On a 401 it invalidates that
/// token and sends the request once more with a new one (when the request
/// body can be cloned); a 401 that asks for a DPoP nonce (RFC 9449 §9) is
/// sent once more with the same token and a proof carrying the nonce.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tokenmux::{BearerAuth, Credentials, Provider, TokenSource};
/// use tokenmux_mock::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, MockConfig, MockServer};
///
/// let mock = MockServer::start(MockConfig::default()).await?;
/// let tokens = TokenSource::builder(Provider::neonpanel().with_base_url(mock.base_url("neonpanel")))
///     .credentials(Credentials::client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET))
///     .build()?;
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(BearerAuth::new(tokens))
///     .build();
/// // Every request through `client` now carries the NeonPanel token:
/// // client.get("https://my.neonpanel.com/api/…").send().await?;
/// # let _ = client;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct BearerAuth {
    tokens: TokenSource,
}

impl BearerAuth {
    /// Authenticates requests with tokens from `tokens`.
    pub fn new(tokens: TokenSource) -> Self {
        Self { tokens }
    }

    /// The [`tokenmux::Error`](crate::Error) a request failed with when
    /// no token could be had: `reqwest_middleware` carries a middleware's
    /// error as `Error::Middleware(anyhow::Error)`; this gets it back, with
    /// its [`kind`](crate::Error::kind) to act on. `None` for an error of
    /// the request itself.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokenmux::{BearerAuth, Credentials, ErrorKind, Provider, TokenSource};
    /// use tokenmux_mock::{DEFAULT_CLIENT_ID, MockConfig, MockServer};
    ///
    /// let mock = MockServer::start(MockConfig::default()).await?;
    /// let tokens = TokenSource::builder(Provider::neonpanel().with_base_url(mock.base_url("neonpanel")))
    ///     .credentials(Credentials::client(DEFAULT_CLIENT_ID, "not-the-secret"))
    ///     .build()?;
    /// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     .with(BearerAuth::new(tokens))
    ///     .build();
    /// let failed = client.get(mock.base_url("neonpanel")).send().await.unwrap_err();
    /// let error = BearerAuth::token_error(&failed).expect("no token");
    /// assert_eq!(error.kind(), ErrorKind::Rejected);
    /// # Ok(()) }
    /// ```
    pub fn token_error(error: &reqwest_middleware::Error) -> Option<&crate::Error> {
        match error {
            reqwest_middleware::Error::Middleware(error) => error.downcast_ref(),
            reqwest_middleware::Error::Reqwest(_) => None,
        }
    }
}

#[async_trait::async_trait]
impl Middleware for BearerAuth {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let retry = request.try_clone();
        let (method, url) = (request.method().clone(), request.url().clone());
        let sent = self
            .tokens
            .authorize(&method, &url)
            .await
            .map_err(anyhow::Error::new)?;
        sent.apply(request.headers_mut());
        let response = next.clone().run(request, extensions).await?;
        let new_nonce = self.tokens.dpop_nonce_from(&url, response.headers());
        let Some(mut retry) = retry.filter(|_| response.status() == StatusCode::UNAUTHORIZED)
        else {
            return Ok(response);
        };
        if new_nonce && crate::dpop::asks_for_nonce(response.headers()) {
            tracing::debug!(
                provider = self.tokens.provider().name(),
                "401 asking for a DPoP nonce: retrying once with it"
            );
        } else {
            tracing::debug!(
                provider = self.tokens.provider().name(),
                "401 with a token: invalidating it and retrying once"
            );
            self.tokens.invalidate_if_current(sent.value());
        }
        self.tokens
            .authorize(&method, &url)
            .await
            .map_err(anyhow::Error::new)?
            .apply(retry.headers_mut());
        next.run(retry, extensions).await
    }
}
