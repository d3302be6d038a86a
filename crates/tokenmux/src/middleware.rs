//! A [`reqwest_middleware`] layer: every request gets the token, and a 401
//! invalidates it and retries once with a new one.

use reqwest::{Request, Response, StatusCode};
use reqwest_middleware::{Middleware, Next};

use crate::TokenSource;

/// Adds `Authorization: Bearer …` from a [`TokenSource`] to each request.
/// On a 401 it invalidates that token and sends the request once more with
/// a new one (when the request body can be cloned).
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
        let header = self
            .tokens
            .authorization()
            .await
            .map_err(anyhow::Error::new)?;
        let name = self.tokens.header_name();
        request.headers_mut().insert(name.clone(), header.clone());
        let response = next.clone().run(request, extensions).await?;
        let Some(mut retry) = retry.filter(|_| response.status() == StatusCode::UNAUTHORIZED)
        else {
            return Ok(response);
        };
        tracing::debug!(
            provider = self.tokens.provider().name(),
            "401 with a token: invalidating it and retrying once"
        );
        self.tokens.invalidate_if_current(&header);
        let header = self
            .tokens
            .authorization()
            .await
            .map_err(anyhow::Error::new)?;
        retry.headers_mut().insert(name, header);
        next.run(retry, extensions).await
    }
}
