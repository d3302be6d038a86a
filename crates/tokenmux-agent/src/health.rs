//! What probes and scrapers ask: `/livez` (the process serves), `/readyz`
//! and `/healthz` (each required source has a usable token; per-source
//! state in the JSON), `/healthz?source=NAME` (one source) and `/metrics`.
//! None of them carries a token or a secret, so [`probe_router`] can serve
//! them without the bearer on their own listener (`--metrics-listen`).

use std::time::SystemTime;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use serde_json::json;
use tokenmux::TokenState;

use crate::registry::{Entry, Registry};
use crate::state::{AgentState, Asked, lookup, no_store, refusal};

/// The probe routes alone, for a listener without the bearer: nothing a
/// token endpoint serves.
pub fn probe_router(state: AgentState) -> axum::Router {
    axum::Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            refusal(
                StatusCode::NOT_FOUND,
                "not_found",
                "this listener serves /livez, /readyz, /healthz and /metrics only; \
                 tokens are on the socket or behind the bearer",
            )
        })
        .with_state(state)
}

/// Liveness: the process accepts and answers requests. It says nothing of
/// the sources, so that a partner's outage never restarts the agent (and
/// every other partner's tokens with it).
pub async fn livez() -> Response {
    (no_store(), Json(json!({"status": "ok"}))).into_response()
}

/// Readiness: 200 when every required source has a usable token, else
/// 503; the same report as `/healthz`.
pub async fn readyz(State(state): State<AgentState>) -> Response {
    report(&state.registry.load())
}

/// `?source=NAME`: the source a probe asks about.
#[derive(serde::Deserialize)]
pub struct OneSource {
    source: Option<String>,
}

/// Every source's state (200 unless a required one has no usable token),
/// or with `?source=NAME` that one's (200 when its token is usable).
pub async fn healthz(State(state): State<AgentState>, Query(one): Query<OneSource>) -> Response {
    let Some(name) = one.source else {
        return report(&state.registry.load());
    };
    let entry = match lookup(&state, &name, &Asked { config: None }) {
        Ok(entry) => entry,
        Err(refused) => return *refused,
    };
    let required = !state.registry.load().optional.contains(&name);
    let fields = source_report(&entry, required);
    (status_of(fields.usable), no_store(), Json(fields)).into_response()
}

/// The report over every source: `status` is `ok` (every token usable),
/// `degraded` (an optional source has none) or `unavailable` (a required
/// one has none; HTTP 503).
///
/// Serialized from borrowed, typed fields in one buffer: with thousands of
/// sources, a tree of JSON values per request left megabytes of freed
/// small allocations in the agent's resident memory.
fn report(registry: &Registry) -> Response {
    let mut ready = true;
    let mut all = true;
    let sources: Vec<(&str, SourceReport)> = registry
        .sources
        .iter()
        .map(|(name, entry)| {
            let required = !registry.optional.contains(name);
            let fields = source_report(entry, required);
            all &= fields.usable;
            ready &= fields.usable || !required;
            (name.as_str(), fields)
        })
        .collect();
    let status = match (ready, all) {
        (true, true) => "ok",
        (true, false) => "degraded",
        (false, _) => "unavailable",
    };
    let body = Report {
        sources: Sources(&sources),
        status,
    };
    (status_of(ready), no_store(), Json(body)).into_response()
}

/// The whole report; fields in the order they have always been written.
#[derive(serde::Serialize)]
struct Report<'a> {
    sources: Sources<'a>,
    status: &'static str,
}

/// Sources by name, in the registry's (sorted) order.
struct Sources<'a>(&'a [(&'a str, SourceReport)]);

impl serde::Serialize for Sources<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, fields)| (name, fields)))
    }
}

/// How many required sources have no usable token.
pub fn unready(registry: &Registry) -> usize {
    let required = |name: &String| !registry.optional.contains(name);
    registry
        .sources
        .iter()
        .filter(|(name, entry)| required(name) && !is_usable(entry))
        .count()
}

fn is_usable(entry: &Entry) -> bool {
    usable_state(entry.source.status().state)
}

/// A token that is fresh, or stale while it is refreshed, serves.
fn usable_state(state: TokenState) -> bool {
    matches!(state, TokenState::Fresh | TokenState::Stale)
}

fn status_of(ready: bool) -> StatusCode {
    match ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// One source's JSON: `state` (`fresh`, `stale`, `expired`, `missing`, or
/// `failing` while its last refresh failed), `usable`, `required`,
/// `expires_in`, `expires_at` and the last error's code. Fields in
/// alphabetical order, as they have always been written.
#[derive(serde::Serialize)]
struct SourceReport {
    error: Option<&'static str>,
    #[serde(serialize_with = "rfc3339_seconds")]
    expires_at: Option<SystemTime>,
    expires_in: Option<u64>,
    required: bool,
    state: &'static str,
    usable: bool,
}

/// `2026-12-07T04:11:57Z`, written straight into the body.
fn rfc3339_seconds<S: serde::Serializer>(
    at: &Option<SystemTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serializer.collect_str(&humantime::format_rfc3339_seconds(*at)),
        None => serializer.serialize_none(),
    }
}

fn source_report(entry: &Entry, required: bool) -> SourceReport {
    let status = entry.source.status();
    let state = match (&status.last_error, status.state) {
        (Some(_), _) => "failing",
        (None, TokenState::Fresh) => "fresh",
        (None, TokenState::Stale) => "stale",
        (None, TokenState::Expired) => "expired",
        (None, _) => "missing",
    };
    let expires_in = status
        .expires_at
        .and_then(|at| at.duration_since(SystemTime::now()).ok())
        .map(|left| left.as_secs());
    SourceReport {
        error: status.last_error.as_ref().map(|e| e.code()),
        expires_at: status.expires_at,
        expires_in,
        required,
        state,
        usable: usable_state(status.state),
    }
}

/// The Prometheus text exposition of the library's metrics, with each
/// source's seconds until expiry set at the scrape.
pub async fn metrics(State(state): State<AgentState>) -> Response {
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_report_keeps_its_json_shape() {
        let fresh = SourceReport {
            error: None,
            expires_at: Some(UNIX_EPOCH + Duration::from_secs(1_796_612_117)),
            expires_in: Some(3592),
            required: true,
            state: "fresh",
            usable: true,
        };
        let failing = SourceReport {
            error: Some("timeout"),
            expires_at: None,
            expires_in: None,
            required: false,
            state: "failing",
            usable: false,
        };
        let sources = [("a", fresh), ("b", failing)];
        let body = Report {
            sources: Sources(&sources),
            status: "degraded",
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"sources":{"a":{"error":null,"expires_at":"2026-12-07T02:55:17Z","expires_in":3592,"required":true,"state":"fresh","usable":true},"b":{"error":"timeout","expires_at":null,"expires_in":null,"required":false,"state":"failing","usable":false}},"status":"degraded"}"#
        );
    }
}
