//! A `tower` layer, for clients built on tower services (hyper,
//! tonic's gRPC channels): every request gets the token, and a 401
//! invalidates it so that the next request carries a new one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::TokenSource;

/// The error of an [`Authorized`] service: the token's, or the inner
/// service's, boxed as tower's middleware do.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Adds `Authorization: Bearer …` from a [`TokenSource`] to each request
/// of the service it wraps. A 401 answer invalidates the token it was
/// sent with; the request is not sent again (a tower body cannot be
/// replayed in general), the next one carries a new token.
///
/// With a DPoP source ([`TokenSourceBuilder::dpop`](crate::TokenSourceBuilder::dpop))
/// each request gets `Authorization: DPoP …` and a `DPoP` proof for its
/// method and URI, which must then be absolute (as hyper's client sends
/// them); a `DPoP-Nonce` the API answers with goes in the next proofs.
///
/// With hyper's client (tonic's `Channel` is wrapped the same way:
/// `ServiceBuilder::new().layer(AuthLayer::new(tokens)).service(channel)`):
///
/// ```no_run
/// use http_body_util::Empty;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use tokenmux::{AuthLayer, Credentials, Provider, TokenSource};
/// use tower::{Service as _, ServiceBuilder, ServiceExt as _};
///
/// # async fn example() -> Result<(), tokenmux::BoxError> {
/// let tokens = TokenSource::builder(Provider::airalo_sandbox())
///     .credentials(Credentials::client("my-id", "my-secret"))
///     .build()?;
/// let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
/// let mut client = ServiceBuilder::new().layer(AuthLayer::new(tokens)).service(hyper);
/// let request = http::Request::get("http://127.0.0.1:8080/v1/things").body(Empty::new())?;
/// let response = client.ready().await?.call(request).await?;
/// # let _ = response;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer {
    tokens: TokenSource,
}

impl AuthLayer {
    /// Authenticates requests with tokens from `tokens`.
    pub fn new(tokens: TokenSource) -> Self {
        Self { tokens }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authorized<S>;

    fn layer(&self, inner: S) -> Authorized<S> {
        Authorized {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

/// A service whose requests carry a token ([`AuthLayer`]).
#[derive(Clone, Debug)]
pub struct Authorized<S> {
    inner: S,
    tokens: TokenSource,
}

impl<S, B, R> Service<http::Request<B>> for Authorized<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service that was polled ready is the one to call; a clone
        // stays behind for the next request (tower's documented pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let tokens = self.tokens.clone();
        Box::pin(async move {
            let url = match tokens.uses_dpop() {
                true => Some(absolute(request.uri())?),
                false => None,
            };
            let header = match &url {
                Some(url) => {
                    let sent = tokens.authorize(request.method(), url).await?;
                    sent.apply(request.headers_mut());
                    sent.value().clone()
                }
                None => {
                    let header = tokens.authorization().await?;
                    request
                        .headers_mut()
                        .insert(tokens.header_name(), header.clone());
                    header
                }
            };
            let response = inner.call(request).await.map_err(Into::into)?;
            let new_nonce = url
                .as_ref()
                .is_some_and(|url| tokens.dpop_nonce_from(url, response.headers()));
            let for_nonce = new_nonce && crate::dpop::asks_for_nonce(response.headers());
            if response.status() == http::StatusCode::UNAUTHORIZED && !for_nonce {
                tokens.invalidate_if_current(&header);
            }
            Ok(response)
        })
    }
}

/// A request's URI as the absolute URL a DPoP proof names.
fn absolute(uri: &http::Uri) -> Result<reqwest::Url, BoxError> {
    reqwest::Url::parse(&uri.to_string()).map_err(|_| {
        format!(
            "a DPoP proof names the request's absolute URL, and this request's URI \
             `{}` is not one (put AuthLayer where requests carry scheme and host)",
            uri.path()
        )
        .into()
    })
}
