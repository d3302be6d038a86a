//! The agent's HTTP API. Every error is `{"error": {"code", "message"}}`
//! with the library's error kinds as codes ([`tokenmux::Error::code`]).

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokenmux::TokenState;

use super::registry::{Entry, Registry};

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct AgentState {
    pub(crate) registry: Arc<ArcSwap<Registry>>,
    pub(crate) metrics: PrometheusHandle,
}

/// The routes, without access checks (each listener adds its own).
pub(crate) fn router(state: AgentState) -> axum::Router {
    axum::Router::new()
        .route("/v1/sources", get(list))
        .route("/v1/sources/{name}/token", get(token))
        .route("/v1/sources/{name}/header", get(authorization))
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .fallback(|| async { refusal(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(state)
}

/// An error response.
pub(crate) fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, no_store(), Json(body)).into_response()
}

/// Tokens and errors are not for caches between the agent and its client.
fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
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

fn entry(state: &AgentState, name: &str) -> Option<Arc<Entry>> {
    state.registry.load().sources.get(name).cloned()
}

fn unknown_source() -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "unknown_source",
        "the agent's config names no such source",
    )
}

async fn token(State(state): State<AgentState>, Path(name): Path<String>) -> Response {
    let Some(entry) = entry(&state, &name) else {
        return unknown_source();
    };
    match entry.source.token().await {
        Ok(token) => {
            let expires_in = token
                .expires_at()
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_secs();
            let body = json!({
                "access_token": token.secret().expose_secret(),
                "token_type": token.token_type(),
                "expires_in": expires_in,
            });
            (no_store(), Json(body)).into_response()
        }
        Err(error) => failure(&error),
    }
}

async fn authorization(State(state): State<AgentState>, Path(name): Path<String>) -> Response {
    let Some(entry) = entry(&state, &name) else {
        return unknown_source();
    };
    match entry.source.token().await {
        Ok(token) => {
            let text = format!("{} {}", token.token_type(), token.secret().expose_secret());
            (no_store(), text).into_response()
        }
        Err(error) => failure(&error),
    }
}

/// A library error as a response: its code, its status, its `Retry-After`.
pub(crate) fn failure(error: &tokenmux::Error) -> Response {
    use tokenmux::Error::*;
    let status = match error {
        CredentialsRejected { .. }
        | Redirect { .. }
        | UnexpectedStatus { .. }
        | InvalidResponse { .. }
        | Tls { .. }
        | Transport { .. }
        | Server { .. } => StatusCode::BAD_GATEWAY,
        RateLimited { .. } | RefreshAborted => StatusCode::SERVICE_UNAVAILABLE,
        Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut response = refusal(status, error.code(), &error.to_string());
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
