//! A strict local server for the four token endpoints tokenmux supports.
//!
//! Each endpoint behaves as its document describes, and is strict where a
//! real server would be: the documented media type, fields and credentials,
//! HTTP Basic client authentication for the OAuth2 endpoint, and refresh
//! tokens that rotate (a used one is refused with `invalid_grant`). Every
//! request is recorded, so tests can pin exactly what a client sent.
//!
//! All four endpoints share one port, under a prefix each:
//!
//! | provider  | base URL                        | endpoint              |
//! |-----------|---------------------------------|-----------------------|
//! | NeonPanel | `http://127.0.0.1:PORT/neonpanel` | `POST /auth/token`  |
//! | Airalo    | `http://127.0.0.1:PORT/airalo`    | `POST /v2/token`    |
//! | JSON:API  | `http://127.0.0.1:PORT/jsonapi`   | `POST /token/`      |
//! | Password  | `http://127.0.0.1:PORT/password`  | `POST /oauth/token` |
//!
//! Faults (error statuses, `Retry-After`, delays, hangs, HTML, malformed
//! and truncated bodies) are queued per provider through
//! [`MockServer::inject`] or, from any language, the JSON control API under
//! `/_mock` (see the `control` module's table: `POST /_mock/faults`,
//! `GET /_mock/counters`, `POST /_mock/reset`, `POST /_mock/revoke`).
//!
//! ```
//! # #[tokio::main] async fn main() -> std::io::Result<()> {
//! use tokenmux_mock::{MockConfig, MockServer, Provider};
//!
//! let server = MockServer::start(MockConfig::default()).await?;
//! let url = server.base_url(Provider::Airalo); // http://127.0.0.1:PORT/airalo
//! assert!(url.starts_with("http://127.0.0.1:"));
//! assert_eq!(server.requests_received(Provider::Airalo), 0);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod airalo;
mod control;
mod jsonapi;
mod neonpanel;
mod password;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State as Shared;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::{MethodRouter, post};
use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use state::State;
pub use state::{Fault, FaultResponse, Grant, RecordedRequest};

/// The four documented token endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// NeonPanel, `POST /auth/token`.
    NeonPanel,
    /// Airalo Partners, `POST /v2/token`.
    Airalo,
    /// The JSON:API token endpoint, `POST /token/`.
    JsonApi,
    /// The OAuth2 password and refresh token grant, `POST /oauth/token`.
    Password,
}

impl Provider {
    /// All four, in a fixed order.
    pub const ALL: [Provider; 4] = [
        Provider::NeonPanel,
        Provider::Airalo,
        Provider::JsonApi,
        Provider::Password,
    ];

    /// The provider's name: `neonpanel`, `airalo`, `jsonapi` or `password`.
    pub fn name(self) -> &'static str {
        &self.prefix()[1..]
    }

    /// The provider with that [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The URL prefix the provider is served under, e.g. `/airalo`.
    pub fn prefix(self) -> &'static str {
        match self {
            Provider::NeonPanel => "/neonpanel",
            Provider::Airalo => "/airalo",
            Provider::JsonApi => "/jsonapi",
            Provider::Password => "/password",
        }
    }
}

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
    /// Accepted by NeonPanel.
    pub neonpanel: ClientCredentials,
    /// Accepted by Airalo.
    pub airalo: ClientCredentials,
    /// Accepted by the JSON:API endpoint.
    pub jsonapi: ClientCredentials,
    /// The Basic client credentials of the OAuth2 endpoint.
    pub password_client: ClientCredentials,
    /// The resource owner of the OAuth2 endpoint's password grant.
    pub username: String,
    /// The resource owner's password.
    pub password: String,
    /// When a used-up refresh token is presented again, revoke every
    /// access and refresh token of its family (issued from the same
    /// password grant), as OAuth 2.1 advises against token theft.
    pub revoke_family_on_reuse: bool,
}

/// Client id every endpoint accepts by default.
pub const DEFAULT_CLIENT_ID: &str = "mock-client";
/// Client secret every endpoint accepts by default.
pub const DEFAULT_CLIENT_SECRET: &str = "mock-client-secret";
/// Username the password grant accepts by default.
pub const DEFAULT_USERNAME: &str = "mock-user";
/// Password the password grant accepts by default.
pub const DEFAULT_PASSWORD: &str = "mock-user-password";

impl Default for MockConfig {
    fn default() -> Self {
        let client = ClientCredentials::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET);
        Self {
            port: 0,
            token_lifetime: Duration::from_secs(3600),
            neonpanel: client.clone(),
            airalo: client.clone(),
            jsonapi: client.clone(),
            password_client: client,
            username: DEFAULT_USERNAME.to_owned(),
            password: DEFAULT_PASSWORD.to_owned(),
            revoke_family_on_reuse: false,
        }
    }
}

/// `POST` to an endpoint's handler: every request is recorded, and a queued
/// fault, if any, answers instead of the handler.
fn endpoint<H, F>(provider: Provider, handler: H) -> MethodRouter<Arc<State>>
where
    H: Fn(Arc<State>, HeaderMap, Bytes) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    post(
        move |Shared(state): Shared<Arc<State>>,
              method: Method,
              uri: Uri,
              headers: HeaderMap,
              body: Bytes| async move {
            state.record(provider, &method, &uri, &headers, &body);
            if let Some(response) = state.apply_fault(provider).await {
                return response;
            }
            handler(state, headers, body).await
        },
    )
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
        let router = Router::new()
            .route(
                "/neonpanel/auth/token",
                endpoint(Provider::NeonPanel, neonpanel::token),
            )
            .route(
                "/airalo/v2/token",
                endpoint(Provider::Airalo, airalo::token),
            )
            .route(
                "/jsonapi/token/",
                endpoint(Provider::JsonApi, jsonapi::token),
            )
            .route(
                "/password/oauth/token",
                endpoint(Provider::Password, password::token),
            )
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

    /// The base URL of a provider, e.g. `http://127.0.0.1:PORT/airalo`; the
    /// endpoint path of its spec goes after it.
    pub fn base_url(&self, provider: Provider) -> String {
        format!("http://{}{}", self.addr, provider.prefix())
    }

    /// Every request received, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// How many requests reached a provider's endpoint.
    pub fn requests_received(&self, provider: Provider) -> usize {
        self.state.requests_received(provider)
    }

    /// How many tokens a provider issued through a grant.
    pub fn tokens_issued(&self, provider: Provider, grant: Grant) -> usize {
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
    /// use tokenmux_mock::{Fault, MockConfig, MockServer, Provider};
    ///
    /// let server = MockServer::start(MockConfig::default()).await?;
    /// server.inject(Provider::JsonApi, Fault::status(429).retry_after("1"));
    /// server.inject(Provider::JsonApi, Fault::status(503).body("text/html", "<h1>down</h1>"));
    /// # Ok(()) }
    /// ```
    pub fn inject(&self, provider: Provider, fault: Fault) {
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
