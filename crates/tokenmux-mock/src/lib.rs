//! A strict local server for every token endpoint tokenmux has a spec for.
//!
//! Each endpoint is driven by its spec (the `EndpointSpec` that
//! `cargo xtask regen` generates): the request is checked as the spec
//! describes it (media type, required fields, client authentication), and
//! answered in the spec's success shape or its documented error shapes.
//! Refresh tokens rotate (a used one is refused with `invalid_grant`), and
//! every request is recorded, so tests can pin exactly what a client sent.
//! See the `endpoint` module for each check and its answer.
//!
//! Every endpoint shares one port, under its provider's name:
//! `http://127.0.0.1:PORT/<name>` is the base URL, and the spec's path goes
//! after it (`/airalo/v2/token`, `/jsonapi/token/`, …).
//!
//! Faults (error statuses, `Retry-After`, delays, hangs, HTML, malformed
//! and truncated bodies) are queued per provider through
//! [`MockServer::inject`] or, from any language, the JSON control API under
//! `/_mock` (see the `control` module's table: `POST /_mock/faults`,
//! `GET /_mock/counters`, `POST /_mock/reset`, `POST /_mock/revoke`).
//!
//! Feature `jwt` (default) checks JWTs: client assertions
//! (`client_secret_jwt`, `private_key_jwt`), JWT bearer grants and app
//! JWTs, with `jsonwebtoken`. Without it, a request that carries one is
//! refused (`invalid_client` or `invalid_grant`) with a message that
//! names the feature.
//!
//! ```
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! use tokenmux_mock::{MockConfig, MockServer};
//!
//! let server = MockServer::start(MockConfig::default()).await?;
//! let url = server.base_url("airalo"); // http://127.0.0.1:PORT/airalo
//! assert!(url.starts_with("http://127.0.0.1:"));
//! assert_eq!(server.requests_received("airalo"), 0);
//! assert!(server.providers().contains(&"password"));
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod app_jwt;
mod assertion;
mod control;
mod endpoint;
mod grant_assertion;
mod jws;
mod sent;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::{MethodFilter, on, post};
use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use state::State;
pub use state::{Fault, FaultResponse, Grant, RecordedRequest};

/// Client credentials an endpoint accepts.
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

impl ClientCredentials {
    /// Credentials from an id and a secret.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}

/// What the mock accepts and how it answers.
#[derive(Clone, Debug)]
pub struct MockConfig {
    /// Port to listen on, on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The `expires_in` of every token issued.
    pub token_lifetime: Duration,
    /// The client every endpoint accepts, in its body or as HTTP Basic.
    pub client: ClientCredentials,
    /// The resource owner of password grants.
    pub username: String,
    /// The resource owner's password.
    pub password: String,
    /// When a used-up refresh token is presented again, revoke every
    /// access and refresh token of its family (issued from the same
    /// primary grant), as OAuth 2.1 advises against token theft.
    pub revoke_family_on_reuse: bool,
    /// The time absolute expiries (`expires_at`, a JWT's `exp`) count
    /// from: the system's, or a test's manual clock, so that a client on
    /// that clock reads the lifetime it was issued.
    pub clock: MockClock,
    /// The client's public key (a PEM `PUBLIC KEY` block or a public
    /// JWK) that signed JWTs (`private_key_jwt` assertions, JWT bearer
    /// grants, app JWTs) must verify with: [`DEFAULT_CLIENT_PUBLIC_KEY`]
    /// by default; `None` refuses them all. `client_secret_jwt` assertions verify with
    /// [`client`](Self::client)'s secret.
    pub client_public_key: Option<String>,
}

/// Where the mock reads the time; [`MockClock::system`] by default.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokenmux_mock::{MockClock, MockConfig};
///
/// let later = SystemTime::now() + Duration::from_secs(3000);
/// let config = MockConfig { clock: MockClock::new(move || later), ..MockConfig::default() };
/// assert_eq!(config.clock.now(), later);
/// ```
#[derive(Clone, Default)]
pub struct MockClock(Option<Arc<dyn Fn() -> std::time::SystemTime + Send + Sync>>);

impl MockClock {
    /// The system's clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that reads `now`.
    pub fn new(now: impl Fn() -> std::time::SystemTime + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(now)))
    }

    /// The time now.
    pub fn now(&self) -> std::time::SystemTime {
        self.0
            .as_ref()
            .map_or_else(std::time::SystemTime::now, |now| now())
    }
}

impl std::fmt::Debug for MockClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            None => "MockClock::system()",
            Some(_) => "MockClock::new(..)",
        })
    }
}

/// Client id every endpoint accepts by default.
pub const DEFAULT_CLIENT_ID: &str = "mock-client";
/// Client secret every endpoint accepts by default.
pub const DEFAULT_CLIENT_SECRET: &str = "mock-client-secret";
/// Username the password grant accepts by default.
pub const DEFAULT_USERNAME: &str = "mock-user";
/// Password the password grant accepts by default.
pub const DEFAULT_PASSWORD: &str = "mock-user-password";
/// The private key (ES256, PKCS#8 PEM) of the client the mock accepts by
/// default: what a test signs `private_key_jwt` assertions, JWT bearer
/// grants and app JWTs with. It is public, in this repository
/// (`crates/tokenmux-mock/keys/client.pem`): never use it anywhere else.
pub const DEFAULT_CLIENT_PRIVATE_KEY: &str = include_str!("../keys/client.pem");
/// The public half of [`DEFAULT_CLIENT_PRIVATE_KEY`]: the mock's default
/// [`MockConfig::client_public_key`].
pub const DEFAULT_CLIENT_PUBLIC_KEY: &str = include_str!("../keys/client-public.pem");

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            port: 0,
            token_lifetime: Duration::from_secs(3600),
            client: ClientCredentials::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
            username: DEFAULT_USERNAME.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
            revoke_family_on_reuse: false,
            clock: MockClock::system(),
            client_public_key: Some(DEFAULT_CLIENT_PUBLIC_KEY.to_owned()),
        }
    }
}

/// A running mock server; it stops on [`shutdown`](Self::shutdown) or drop.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Binds 127.0.0.1 on the configured port and starts serving.
    pub async fn start(config: MockConfig) -> std::io::Result<Self> {
        let listener =
            tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, config.port)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::new(config));
        let mut router = Router::new();
        for provider in &state.providers {
            let spec = provider.spec();
            let mut routes: Vec<(&'static str, &'static str)> = spec
                .grants
                .iter()
                .map(|g| (g.path, g.wire.http_method))
                .collect();
            routes.dedup();
            for (path, http_method) in routes {
                let name = spec.name;
                let handler = move |Shared(state): Shared<Arc<State>>,
                                    method: Method,
                                    uri: Uri,
                                    headers: HeaderMap,
                                    body: Bytes| async move {
                    state.record(name, &method, &uri, &headers, &body);
                    if let Some(response) = state.apply_fault(name).await {
                        return response;
                    }
                    endpoint::token(spec, path, state, &uri, headers, body).await
                };
                // The spec's method; its `{name}` path segments are axum's too.
                let filter = Method::from_bytes(http_method.as_bytes())
                    .ok()
                    .and_then(|method| MethodFilter::try_from(method).ok())
                    .unwrap_or(MethodFilter::POST);
                router = router.route(&format!("/{name}{path}"), on(filter, handler));
            }
        }
        let router = router
            .route("/_mock/faults", post(control::faults))
            .route("/_mock/counters", axum::routing::get(control::counters))
            .route("/_mock/reset", post(control::reset))
            .route("/_mock/revoke", post(control::revoke))
            .with_state(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            // Serving only ends on shutdown; an accept error is not fatal to tests.
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        Ok(Self {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The providers served, by name, e.g. `["airalo", "jsonapi", …]`.
    pub fn providers(&self) -> Vec<&'static str> {
        self.state.providers.iter().map(|p| p.spec().name).collect()
    }

    /// The base URL of a provider, e.g. `http://127.0.0.1:PORT/airalo`; the
    /// endpoint path of its spec goes after it.
    pub fn base_url(&self, provider: &str) -> String {
        format!("http://{}/{provider}", self.addr)
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// How many requests reached a provider's endpoint.
    pub fn requests_received(&self, provider: &str) -> usize {
        self.state.requests_received(provider)
    }

    /// How many tokens a provider issued through a grant.
    pub fn tokens_issued(&self, provider: &str, grant: Grant) -> usize {
        self.state.tokens_issued(provider, grant)
    }

    /// How many times a used-up refresh token was presented again: a
    /// client that rotates correctly keeps this at 0.
    pub fn refresh_tokens_reused(&self) -> usize {
        self.state.refresh_tokens_reused()
    }

    /// Whether an access token was issued by this server and is not
    /// revoked (a family revoked on refresh-token reuse takes its access
    /// tokens with it).
    pub fn access_token_valid(&self, token: &str) -> bool {
        self.state.access_token_valid(token)
    }

    /// Queues a fault for the next request to `provider` (faults apply in
    /// the order queued, one per request).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> std::io::Result<()> {
    /// use tokenmux_mock::{Fault, MockConfig, MockServer};
    ///
    /// let server = MockServer::start(MockConfig::default()).await?;
    /// server.inject("jsonapi", Fault::status(429).retry_after("1"));
    /// server.inject("jsonapi", Fault::status(503).body("text/html", "<h1>down</h1>"));
    /// # Ok(()) }
    /// ```
    pub fn inject(&self, provider: &str, fault: Fault) {
        self.state.push_fault(provider, fault);
    }

    /// Makes every refresh token issued so far invalid, as a server-side
    /// revocation would.
    pub fn revoke_refresh_tokens(&self) {
        self.state.revoke_refresh_tokens();
    }

    /// Forgets recorded requests, counters and queued faults (issued refresh
    /// tokens stay valid).
    pub fn reset(&self) {
        self.state.reset();
    }

    /// Stops the server and waits until it has stopped.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
