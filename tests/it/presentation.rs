//! A token presented the way a spec declares (`x-tokenmux-presentation`):
//! in a header of its own, through `BearerAuth` (reqwest-middleware) and
//! `AuthLayer` (tower), against an API server on loopback. The provider is
//! neonpanel's endpoint (served by the mock) under a copy of its spec that
//! presents the token as `X-Auth-Token: <token>`.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::{Router, routing::get};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokenmux::endpoint::*;
use tokenmux::{AuthLayer, BearerAuth, Credentials, Provider, TokenSource};
use tokenmux_mock::{MockConfig, MockServer};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::support::{ID, SECRET};

/// neonpanel's endpoint, presented in `X-Auth-Token`.
struct OwnHeader;

static SPEC: std::sync::LazyLock<EndpointSpec> = std::sync::LazyLock::new(|| EndpointSpec {
    presentation: Presentation {
        header: "X-Auth-Token",
        scheme: None,
    },
    ..*tokenmux_neonpanel::ENDPOINT.spec()
});
static OWN_HEADER: OwnHeader = OwnHeader;

impl TokenEndpoint for OwnHeader {
    fn spec(&self) -> &'static EndpointSpec {
        &SPEC
    }

    fn request<'a>(&'a self, request: TokenRequest<'a>) -> BoxFuture<'a, EndpointResult> {
        tokenmux_neonpanel::ENDPOINT.request(request)
    }

    fn decode_success(&self, body: &[u8]) -> Result<Issued, serde_json::Error> {
        tokenmux_neonpanel::ENDPOINT.decode_success(body)
    }
}

/// An API that records each request's `X-Auth-Token` and `Authorization`,
/// refusing the first (so that the token is replaced and sent again).
async fn api() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    let api = Router::new().route(
        "/v1/things",
        get(move |headers: HeaderMap| {
            let seen = Arc::clone(&recorded);
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_owned()
                };
                let mut seen = seen.lock().unwrap();
                seen.push((header("x-auth-token"), header("authorization")));
                match seen.len() {
                    1 => StatusCode::UNAUTHORIZED,
                    _ => StatusCode::OK,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/things", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await });
    (url, seen)
}

async fn tokens(mock: &MockServer) -> TokenSource {
    TokenSource::builder(Provider::from_endpoint(
        &OWN_HEADER,
        mock.base_url("neonpanel"),
    ))
    .credentials(Credentials::client(ID, SECRET))
    .build()
    .unwrap()
}

fn check(seen: &[(String, String)]) {
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (token, authorization) in seen {
        assert!(token.starts_with("mock-neonpanel-access-"), "{seen:?}");
        assert_eq!(authorization, "none", "no Authorization header");
    }
    assert_ne!(seen[0].0, seen[1].0, "the refused token was replaced");
}

#[tokio::test]
async fn bearer_auth_sends_the_token_in_the_header_the_spec_names() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let tokens = tokens(&mock).await;
    assert_eq!(tokens.header_name().as_str(), "x-auth-token");
    let header = tokens.authorization().await.unwrap();
    assert!(header.is_sensitive());
    assert!(
        header
            .to_str()
            .unwrap()
            .starts_with("mock-neonpanel-access-"),
        "the token alone"
    );
    let (url, seen) = api().await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerAuth::new(tokens.clone()))
        .build();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    check(&seen.lock().unwrap());
}

#[tokio::test]
async fn auth_layer_sends_the_token_in_the_header_the_spec_names() {
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let tokens = tokens(&mock).await;
    let (url, seen) = api().await;
    let hyper = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let mut client = ServiceBuilder::new()
        .layer(AuthLayer::new(tokens.clone()))
        .service(hyper);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let request = http::Request::get(&url).body(Empty::new()).unwrap();
        let response = client.ready().await.unwrap().call(request).await.unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 200]);
    check(&seen.lock().unwrap());
}
