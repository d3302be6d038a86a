//! The JSON:API token endpoint: `POST [base]/token/` (document 002). The
//! request and response are `application/vnd.api+json` documents with a
//! `data` / `type` / `attributes` envelope. As JSON:API requires, a request
//! with another media type gets 415, and one whose `Accept` rules out
//! `application/vnd.api+json` gets 406. Wrong credentials get the
//! documented 400 "No active account found with the given credentials".

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Provider;
use crate::state::{Grant, State, accepts, reply};

const JSON_API: &str = "application/vnd.api+json";

pub(crate) async fn token(state: Arc<State>, headers: HeaderMap, body: Bytes) -> Response {
    // JSON:API: the media type is sent without parameters.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type != Some(JSON_API) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Requests must use the media type application/vnd.api+json.",
            None,
        );
    }
    if !accepts(&headers, JSON_API) {
        return error(
            StatusCode::NOT_ACCEPTABLE,
            "not_acceptable",
            "Responses are only available as application/vnd.api+json.",
            None,
        );
    }
    let Ok(document) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "parse_error",
            "The request body is not valid JSON.",
            None,
        );
    };
    let data = &document["data"];
    if data["type"] != "auth-token" {
        return error(
            StatusCode::CONFLICT,
            "incorrect_type",
            "The resource object's type is not the endpoint's type (auth-token).",
            Some("/data/type"),
        );
    }
    let attribute = |name: &str| data["attributes"][name].as_str().filter(|v| !v.is_empty());
    for name in ["client_id", "client_secret"] {
        if attribute(name).is_none() {
            let pointer = format!("/data/attributes/{name}");
            return error(
                StatusCode::BAD_REQUEST,
                "required",
                "This field is required.",
                Some(&pointer),
            );
        }
    }
    let expected = &state.config.jsonapi;
    if attribute("client_id") != Some(expected.client_id.as_str())
        || attribute("client_secret") != Some(expected.client_secret.as_str())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "no_active_account",
            "No active account found with the given credentials",
            None,
        );
    }
    let (access, _) = state.issue(Provider::JsonApi, Grant::ClientCredentials);
    reply(
        StatusCode::OK,
        JSON_API,
        json!({
            "data": {
                "type": "auth-token",
                "id": "0",
                "attributes": {"access": access, "expires_in": state.expires_in(), "token_type": "Bearer"}
            }
        }),
    )
}

/// A JSON:API error document with one error object.
fn error(status: StatusCode, code: &str, detail: &str, pointer: Option<&str>) -> Response {
    let mut object = json!({"status": status.as_str(), "code": code, "detail": detail});
    if let Some(pointer) = pointer {
        object["source"] = json!({"pointer": pointer});
    }
    reply(status, JSON_API, json!({"errors": [object]}))
}
