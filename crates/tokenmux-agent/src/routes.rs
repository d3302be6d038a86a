//! The agent's HTTP API. Every error is `{"error": {"code", "message"}}`
//! with the library's error kinds as codes ([`tokenmux::Error::code`]).

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokenmux::TokenState;

use crate::protocol::{ErrorBody, TokenBody};
use crate::registry::{Entry, Registry};
use tokenmux::endpoint::Presentation;
use tokenmux_config::FileIdentity;

/// What the handlers share.
#[derive(Clone)]
pub struct AgentState {
    pub registry: Arc<ArcSwap<Registry>>,
    pub metrics: PrometheusHandle,
}

/// The routes, without access checks (each listener adds its own).
pub fn router(state: AgentState) -> axum::Router {
    axum::Router::new()
        .route("/v1/sources", get(list))
        .route("/v1/sources/{name}/token", get(token))
        .route("/v1/sources/{name}/header", get(authorization))
        .route("/v1/sources/{name}/invalidate", post(invalidate))
        .route("/v1/sources/{name}/proof", post(crate::proof::proof))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
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

/// `?config=DEVICE.INODE`: the config file the client would read. A
/// client that reads another file than the agent's must not get the
/// agent's tokens (it chose another environment).
#[derive(serde::Deserialize)]
pub struct Asked {
    pub(crate) config: Option<String>,
}

/// The named source, if the agent serves the config the client asked for.
pub(crate) fn lookup(
    state: &AgentState,
    name: &str,
    asked: &Asked,
) -> Result<Arc<Entry>, Box<Response>> {
    let registry = state.registry.load();
    if let Some(config) = &asked.config {
        let same = config
            .parse::<FileIdentity>()
            .is_ok_and(|asked| Some(asked) == registry.config);
        if !same {
            return Err(Box::new(refusal(
                StatusCode::CONFLICT,
                "config_mismatch",
                "the agent serves another config file than the client reads",
            )));
        }
    }
    registry.sources.get(name).cloned().ok_or_else(|| {
        let names: Vec<_> = registry.sources.keys().cloned().collect();
        let mut body = ErrorBody::new(
            "unknown_source",
            None,
            "the agent's config names no such source",
        );
        body.error.sources = names;
        Box::new(answer(StatusCode::NOT_FOUND, body))
    })
}

/// An error response.
pub fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    answer(status, ErrorBody::new(code, None, message))
}

/// An error body as a response.
pub fn answer(status: StatusCode, body: ErrorBody) -> Response {
    (status, no_store(), Json(body)).into_response()
}

/// Tokens and errors are not for caches between the agent and its client.
pub(crate) fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
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
    let (token, presentation) = match current_token(&state, &name, &asked).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let expires_in = token
        .expires_at()
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .as_secs();
    let (header, header_value) = presented(&token, &presentation);
    let body = TokenBody {
        access_token: token.secret().expose_secret().to_owned(),
        token_type: token.token_type().to_owned(),
        expires_in,
        header: Some(header.to_owned()),
        header_value: Some(header_value),
    };
    (no_store(), Json(body)).into_response()
}

/// The header `token` goes in and its value: the spec's presentation, or
/// `Authorization: DPoP …` for a DPoP token (whose requests also need a
/// proof: `POST …/proof`).
fn presented(token: &tokenmux::AccessToken, presentation: &Presentation) -> (&'static str, String) {
    match token.dpop_key() {
        Some(_) => (
            "Authorization",
            format!("DPoP {}", token.secret().expose_secret()),
        ),
        None => (
            presentation.header,
            presentation.value(token.secret().expose_secret()),
        ),
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
        tracing::info!(source = %name, "token invalidated by a client; fetching a new one");
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

/// A library error as a response: its code and kind, a status from its
/// kind (finer for transient ones), its `Retry-After`.
pub fn failure(error: &tokenmux::Error) -> Response {
    use tokenmux::{Error, ErrorKind};
    let status = match (error.kind(), error) {
        (
            ErrorKind::Transient,
            Error::RateLimited { .. } | Error::RefreshAborted | Error::BackingOff { .. },
        ) => StatusCode::SERVICE_UNAVAILABLE,
        (ErrorKind::Transient, Error::Timeout) => StatusCode::GATEWAY_TIMEOUT,
        (ErrorKind::Transient | ErrorKind::Rejected | ErrorKind::Endpoint, _) => {
            StatusCode::BAD_GATEWAY
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = ErrorBody::new(error.code(), Some(error.kind()), &error.to_string());
    let mut response = answer(status, body);
    if let Some(after) = error.retry_after()
        && let Ok(value) = HeaderValue::from_str(&after.as_secs().to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

async fn health(State(state): State<AgentState>) -> Response {
    let registry = state.registry.load();
    let mut healthy = true;
    let mut sources = serde_json::Map::new();
    for (name, entry) in &registry.sources {
        let status = entry.source.status();
        let state = match (&status.last_error, status.state) {
            (Some(_), _) => "failing",
            (None, TokenState::Fresh) => "fresh",
            (None, TokenState::Stale) => "stale",
            (None, TokenState::Expired) => "expired",
            (None, _) => "missing",
        };
        healthy &= matches!(state, "fresh" | "stale");
        let expires_in = status
            .expires_at
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .map(|left| left.as_secs());
        let error = status.last_error.as_ref().map(|e| e.code());
        sources.insert(
            name.clone(),
            json!({"state": state, "expires_in": expires_in, "error": error}),
        );
    }
    let status = match healthy {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    let overall = if healthy { "ok" } else { "degraded" };
    (status, Json(json!({"status": overall, "sources": sources}))).into_response()
}

async fn metrics(State(state): State<AgentState>) -> Response {
    // Seconds left is a function of now: set at each scrape.
    let now = SystemTime::now();
    for (name, entry) in &state.registry.load().sources {
        if let Some(left) = entry.source.status().expires_at.map(|at| {
            at.duration_since(now)
                .map(|d| d.as_secs_f64())
                .unwrap_or_else(|e| -e.duration().as_secs_f64())
        }) {
            metrics::gauge!("tokenmux_token_seconds_until_expiry", "source" => name.clone())
                .set(left);
        }
    }
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    (
        [(header::CONTENT_TYPE, content_type)],
        state.metrics.render(),
    )
        .into_response()
}
