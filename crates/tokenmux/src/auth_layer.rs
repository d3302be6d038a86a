//! A [`tower`] layer, for clients built on tower services (hyper,
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
            let header = tokens.authorization().await?;
            request
                .headers_mut()
                .insert(tokens.header_name(), header.clone());
            let response = inner.call(request).await.map_err(Into::into)?;
            if response.status() == http::StatusCode::UNAUTHORIZED {
                tokens.invalidate_if_current(&header);
            }
            Ok(response)
        })
    }
}
