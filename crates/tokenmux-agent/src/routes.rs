//! The agent's HTTP API: its routes, and the token handlers. Every error
//! is `{"error": {"code", "message"}}` with the library's error kinds as
//! codes ([`tokenmux::Error::code`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::access::{Gate, Peer};
use crate::state::{AgentState, Asked, failure, lookup, no_store, refusal};
use crate::token_json::{self, presented};
use crate::{health, proof};
use tokenmux::endpoint::Presentation;

/// The routes, without access checks (each listener adds its own).
pub fn router(state: AgentState) -> axum::Router {
    axum::Router::new()
        .route("/v1/sources", get(list))
        .route("/v1/sources/{name}/token", get(token))
        .route("/v1/sources/{name}/header", get(authorization))
        .route("/v1/sources/{name}/invalidate", post(invalidate))
        .route("/v1/sources/{name}/proof", post(proof::proof))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .fallback(|| async { refusal(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        // Small bodies only: `{"token_sha256": …}`.
        .layer(axum::extract::DefaultBodyLimit::max(4096))
        .with_state(state)
}

async fn list(State(state): State<AgentState>) -> Response {
    let registry = state.registry.load();
    let sources: Vec<_> = registry
        .sources
        .iter()
        .map(|(name, entry)| json!({"name": name, "provider": entry.source.provider().name()}))
        .collect();
    Json(json!({ "sources": sources })).into_response()
}

/// The named source's token, and how its spec presents it, if the agent
/// serves the client's config; else the answer that says why not.
async fn current_token(
    state: &AgentState,
    name: &str,
    asked: &Asked,
) -> Result<(tokenmux::AccessToken, Presentation), Box<Response>> {
    let entry = lookup(state, name, asked)?;
    let presentation = entry.source.provider().spec().presentation;
    let token = entry
        .source
        .token()
        .await
        .map_err(|error| Box::new(failure(&error)))?;
    Ok((token, presentation))
}

async fn token(
    State(state): State<AgentState>,
    Path(name): Path<String>,
    Query(asked): Query<Asked>,
) -> Response {
    match current_token(&state, &name, &asked).await {
        Ok((token, presentation)) => token_answer(&token, &presentation),
        Err(refused) => *refused,
    }
}

/// The token's JSON, never to be cached. Its length is said here (the
/// router would add it; hyper would append it): one answer, whoever gives it.
fn token_answer(token: &tokenmux::AccessToken, presentation: &Presentation) -> Response {
    let json = HeaderValue::from_static("application/json");
    let body = token_json::body(token, presentation);
    let length = HeaderValue::from(body.len());
    let headers = [
        (header::CONTENT_TYPE, json),
        (header::CONTENT_LENGTH, length),
    ];
    (no_store(), headers, body).into_response()
}

/// `GET /v1/sources/{name}/token` answered without the router: most of
/// what the agent serves, and the router, its extractors and the access
/// middleware cost more than the answer: about 28,700 instructions a
/// request through them, 18,200 without (callgrind, 2,000 keep-alive
/// requests over loopback TCP, hyper's parsing and writing included).
///
/// It answers only what it answers as the router would: a GET of that
/// route, from a peer the listener's [`Gate`] admits, with a query the
/// router reads, for a source served with a token ready at once. Anything
/// else (a refusal, a token being fetched) is the router's, which
/// answers it as it always did.
#[derive(Clone)]
pub struct FastToken {
    state: AgentState,
    gate: Gate,
}

impl FastToken {
    /// The fast answer of a listener whose middleware checks `gate`.
    pub fn new(state: AgentState, gate: Gate) -> Self {
        Self { state, gate }
    }

    /// The answer to `request` from `peer` (on the Unix socket), or `None`
    /// for the router to answer.
    pub fn answer<B>(&self, request: &http::Request<B>, peer: Option<Peer>) -> Option<Response> {
        if request.method() != http::Method::GET {
            return None;
        }
        let name = token_route(request.uri().path())?;
        if !self.gate.admits(peer, request.headers()) {
            return None;
        }
        let Query(asked) = Query::<Asked>::try_from_uri(request.uri()).ok()?;
        let entry = lookup(&self.state, &name, &asked).ok()?;
        let token = at_once(entry.source.token())?.ok()?;
        Some(token_answer(
            &token,
            &entry.source.provider().spec().presentation,
        ))
    }
}

/// The source a path of `/v1/sources/{name}/token` names, decoded as the
/// router decodes a path segment.
fn token_route(path: &str) -> Option<std::borrow::Cow<'_, str>> {
    let name = path.strip_prefix("/v1/sources/")?.strip_suffix("/token")?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .ok()
}

/// `future`'s output if it is ready when first asked (a fresh token is);
/// else `None`, and the future is dropped (a fetch it started goes on).
fn at_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// The `/header` answer's header naming the header its body goes in.
const HEADER_NAME: &str = "tokenmux-header";

async fn authorization(
    State(state): State<AgentState>,
    Path(name): Path<String>,
    Query(asked): Query<Asked>,
) -> Response {
    match current_token(&state, &name, &asked).await {
        Ok((token, presentation)) => {
            let (header, text) = presented(&token, &presentation);
            let name = (HEADER_NAME, header.to_owned());
            (no_store(), [name], text).into_response()
        }
        Err(refused) => *refused,
    }
}

/// `{"token_sha256": HEX}`: the token a client saw refused.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    token_sha256: Option<String>,
}

/// Drops the source's token: the one whose SHA-256 is given (so a thousand
/// clients reporting one refused token cause one refresh), or whatever it
/// holds. A new token is fetched at once.
async fn invalidate(
    State(state): State<AgentState>,
    Path(name): Path<String>,
    Query(asked): Query<Asked>,
    body: axum::body::Bytes,
) -> Response {
    let entry = match lookup(&state, &name, &asked) {
        Ok(entry) => entry,
        Err(refused) => return *refused,
    };
    let rejected = match body.is_empty() {
        true => Rejected { token_sha256: None },
        false => match serde_json::from_slice::<Rejected>(&body) {
            Ok(rejected) => rejected,
            Err(_) => {
                return refusal(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the body is `{\"token_sha256\": \"<64 hex digits>\"}` or empty",
                );
            }
        },
    };
    let invalidated = match rejected.token_sha256 {
        Some(digest) => {
            let digest = digest.to_ascii_lowercase();
            entry
                .source
                .invalidate_if(|token| sha256_hex(token.secret().expose_secret()) == digest)
        }
        None => {
            entry.source.invalidate();
            true
        }
    };
    if invalidated {
        tracing::info!(source = %name, provider = entry.source.provider().name(), "token invalidated by a client; fetching a new one");
        let source = entry.source.clone();
        tokio::spawn(async move {
            let _ = source.token().await;
        });
    }
    (no_store(), Json(json!({ "invalidated": invalidated }))).into_response()
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arc_swap::ArcSwap;
    use tower::ServiceExt as _;

    use super::*;
    use crate::access::{AllowedUids, Bearer};
    use crate::registry::{Keeping, Registry, http_client};

    /// An agent's state serving source `a` from the mock, its token fresh.
    async fn serving(mock: &tokenmux_mock::MockServer) -> AgentState {
        let mut config: tokenmux_config::SourceConfig = serde_json::from_value(
            serde_json::json!({"provider": "neonpanel", "base_url": mock.base_url("neonpanel")}),
        )
        .unwrap();
        config.credentials = Some(
            tokenmux::Credentials::client(
                tokenmux_mock::DEFAULT_CLIENT_ID,
                tokenmux_mock::DEFAULT_CLIENT_SECRET,
            )
            .into(),
        );
        let keeping = Keeping {
            permits: Arc::new(tokio::sync::Semaphore::new(1)),
            after_rejection: std::time::Duration::from_secs(3600),
        };
        let configs = BTreeMap::from([("a".to_owned(), config)]);
        let (registry, _) = Registry::build(
            &configs,
            &Registry::default(),
            &http_client().unwrap(),
            &keeping,
        )
        .unwrap();
        registry.sources["a"].source.token().await.unwrap();
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        AgentState {
            registry: Arc::new(ArcSwap::from_pointee(registry)),
            metrics,
        }
    }

    /// Status, headers and body; `expires_in` (whole seconds left, which
    /// may tick between two answers) apart.
    async fn parts(response: Response) -> (http::StatusCode, http::HeaderMap, serde_json::Value) {
        let (head, body) = response.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        json.as_object_mut()
            .map(|object| object.remove("expires_in"));
        (head.status, head.headers, json)
    }

    #[tokio::test]
    async fn the_fast_answer_is_the_routers_or_none() {
        let mock = tokenmux_mock::MockServer::start(Default::default())
            .await
            .unwrap();
        let state = serving(&mock).await;
        let bearer = Bearer::random();
        let app = router(state.clone()).layer(axum::middleware::from_fn_with_state(
            bearer.clone(),
            crate::access::check_bearer,
        ));
        let fast = FastToken::new(state.clone(), Gate::Bearer(bearer.clone()));
        let with_bearer = format!("Bearer {}", bearer.expose());
        let request = |method: &str, uri: &str, authorization: &str| {
            http::Request::builder()
                .method(method)
                .uri(uri)
                .header(http::header::AUTHORIZATION, authorization)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        // Answered fast, as the router answers them.
        for uri in [
            "/v1/sources/a/token",
            "/v1/sources/%61/token",
            "/v1/sources/a/token?unrelated=1",
        ] {
            let answered = fast.answer(&request("GET", uri, &with_bearer), None);
            let answered = answered.unwrap_or_else(|| panic!("{uri}: not answered fast"));
            let routed = app
                .clone()
                .oneshot(request("GET", uri, &with_bearer))
                .await
                .unwrap();
            assert_eq!(routed.status(), http::StatusCode::OK, "{uri}");
            assert_eq!(parts(answered).await, parts(routed).await, "{uri}");
        }
        // The router's: refusals, other routes and methods, a query it
        // does not read, another config file.
        for (method, uri, authorization) in [
            ("GET", "/v1/sources/a/token", "Bearer wrong"),
            ("GET", "/v1/sources/b/token", with_bearer.as_str()),
            ("GET", "/v1/sources/a%2Fb/token", with_bearer.as_str()),
            ("GET", "/v1/sources/%FF/token", with_bearer.as_str()),
            ("GET", "/v1/sources//token", with_bearer.as_str()),
            ("GET", "/v1/sources/a/token/", with_bearer.as_str()),
            ("GET", "/v1/sources/a/header", with_bearer.as_str()),
            ("HEAD", "/v1/sources/a/token", with_bearer.as_str()),
            ("POST", "/v1/sources/a/token", with_bearer.as_str()),
            ("GET", "/v1/sources/a/token?config=%", with_bearer.as_str()),
            (
                "GET",
                "/v1/sources/a/token?config=a&config=b",
                with_bearer.as_str(),
            ),
            (
                "GET",
                "/v1/sources/a/token?config=1.2",
                with_bearer.as_str(),
            ),
        ] {
            let answered = fast.answer(&request(method, uri, authorization), None);
            assert!(answered.is_none(), "{method} {uri} {authorization}");
        }
        // A token being fetched: the router waits for it.
        state.registry.load().sources["a"].source.invalidate();
        let uri = "/v1/sources/a/token";
        assert!(
            fast.answer(&request("GET", uri, &with_bearer), None)
                .is_none()
        );
        let routed = app
            .clone()
            .oneshot(request("GET", uri, &with_bearer))
            .await
            .unwrap();
        assert_eq!(routed.status(), http::StatusCode::OK);
        // On the Unix socket, the gate is the peer's uid.
        let allowed = AllowedUids::default();
        allowed.set(&[]);
        let fast = FastToken::new(state, Gate::Peers(allowed));
        let me = crate::access::Peer::with_uid(rustix::process::geteuid().as_raw());
        let stranger = crate::access::Peer::with_uid(u32::MAX - 1);
        assert!(fast.answer(&request("GET", uri, ""), Some(me)).is_some());
        assert!(
            fast.answer(&request("GET", uri, ""), Some(stranger))
                .is_none()
        );
        assert!(fast.answer(&request("GET", uri, ""), None).is_none());
    }
}
