//! The agent's HTTP API: its routes, and the token handlers. Every error
//! is `{"error": {"code", "message"}}` with the library's error kinds as
//! codes ([`tokenmux::Error::code`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

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
    let (token, presentation) = match current_token(&state, &name, &asked).await {
        Ok(found) => found,
        Err(refused) => return *refused,
    };
    let json = HeaderValue::from_static("application/json");
    let body = token_json::body(&token, &presentation);
    (no_store(), [(header::CONTENT_TYPE, json)], body).into_response()
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
