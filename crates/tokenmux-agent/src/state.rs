//! What the handlers share, and how they answer: the state, finding the
//! source a request names, and error responses (`{"error": {"code",
//! "kind", "message"}}`, with the library's error kinds as codes).

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::protocol::ErrorBody;
use crate::registry::{Entry, Registry};
use tokenmux_config::FileIdentity;

/// What the handlers share.
#[derive(Clone)]
pub struct AgentState {
    pub registry: Arc<ArcSwap<Registry>>,
    pub metrics: PrometheusHandle,
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
