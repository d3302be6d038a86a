//! The JSON control API, on the mock's own port under `/_mock`, for tests
//! written in any language:
//!
//! | request | effect |
//! |---|---|
//! | `POST /_mock/faults` `{"provider": "jsonapi", "kind": "status", "status": 429, "retry_after": "1", "count": 2}` | queue faults |
//! | `GET /_mock/counters` | requests per provider, tokens issued per provider and grant |
//! | `POST /_mock/reset` | forget requests, counters and queued faults |
//! | `POST /_mock/revoke` | invalidate every refresh token issued |
//!
//! Fault kinds: `status` (with `status`, optional `retry_after`,
//! `content_type`, `body`), `delay` (`delay_ms`, then the normal answer),
//! `hang` (never answers in time), `html` (an HTML page, `status` default
//! 200), `malformed` (broken JSON with status 200), `truncated` (the body
//! stops mid-way and the connection is cut).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State as Shared;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::state::State;
use crate::{Fault, Grant};

/// One `POST /_mock/faults` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRequest {
    provider: String,
    #[serde(default = "one")]
    count: usize,
    #[serde(default = "status_kind")]
    kind: String,
    status: Option<u16>,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: Option<String>,
    delay_ms: Option<u64>,
}

fn one() -> usize {
    1
}

fn status_kind() -> String {
    "status".to_owned()
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

pub(crate) async fn faults(
    Shared(state): Shared<Arc<State>>,
    Json(request): Json<FaultRequest>,
) -> Response {
    let Some(provider) = state
        .providers
        .iter()
        .find(|p| p.spec().name == request.provider)
        .map(|p| p.spec().name)
    else {
        return bad_request(format!("unknown provider `{}`", request.provider));
    };
    let status = request.status.unwrap_or(500);
    let mut fault = match request.kind.as_str() {
        "status" => Fault::status(status),
        "delay" => Fault::delay(Duration::from_millis(request.delay_ms.unwrap_or(0))),
        "hang" => Fault::hang(),
        "html" => Fault::html(request.status.unwrap_or(200)),
        "malformed" => Fault::malformed(),
        "truncated" => Fault::truncated(),
        other => return bad_request(format!("unknown fault kind `{other}`")),
    };
    if let Some(retry_after) = &request.retry_after {
        fault = fault.retry_after(retry_after);
    }
    if let Some(body) = &request.body {
        let content_type = request
            .content_type
            .as_deref()
            .unwrap_or("application/json");
        fault = fault.body(content_type, body);
    }
    // Any canned answer may also come late.
    if request.kind != "delay"
        && request.kind != "hang"
        && let Some(delay) = request.delay_ms
    {
        fault.delay = Duration::from_millis(delay);
    }
    for _ in 0..request.count.min(10_000) {
        state.push_fault(provider, fault.clone());
    }
    (
        StatusCode::CREATED,
        Json(json!({"queued": request.count.min(10_000)})),
    )
        .into_response()
}

pub(crate) async fn counters(Shared(state): Shared<Arc<State>>) -> Json<Value> {
    let mut requests = Map::new();
    let mut issued = Map::new();
    for provider in state.providers.iter().map(|p| p.spec().name) {
        requests.insert(
            provider.to_owned(),
            json!(state.requests_received(provider)),
        );
        let grants: Map<String, Value> = [
            (Grant::ClientCredentials, "client_credentials"),
            (Grant::Password, "password"),
            (Grant::RefreshToken, "refresh_token"),
        ]
        .into_iter()
        .map(|(grant, name)| (name.to_owned(), json!(state.tokens_issued(provider, grant))))
        .collect();
        issued.insert(provider.to_owned(), Value::Object(grants));
    }
    Json(json!({
        "requests": requests,
        "issued": issued,
        "refresh_tokens_reused": state.refresh_tokens_reused(),
    }))
}

pub(crate) async fn reset(Shared(state): Shared<Arc<State>>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}

pub(crate) async fn revoke(Shared(state): Shared<Arc<State>>) -> StatusCode {
    state.revoke_refresh_tokens();
    StatusCode::NO_CONTENT
}
