//! The OAuth2 password and refresh token grant: `POST {{url}}/oauth/token`
//! (document 003), a JSON body (a url-encoded form is read too, as OAuth2
//! servers do), and `Authorization: Basic
//! base64(clientId:clientSecret)` on every request. Errors are RFC 6749
//! §5.2 bodies: 401 `invalid_client` for missing or wrong Basic
//! credentials, 400 `invalid_grant` for wrong user credentials and for a
//! refresh token that is unknown or already used (tokens rotate).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Provider;
use crate::state::{FieldsError, Grant, RefreshOutcome, State, json_or_form_fields, reply};

const JSON: &str = "application/json";

pub(crate) async fn token(state: Arc<State>, headers: HeaderMap, body: Bytes) -> Response {
    if !client_authenticated(&state, &headers) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    // The document sends JSON; OAuth2 servers (and most OAuth2 client
    // libraries) also use url-encoded forms, so the mock reads both.
    let fields = match json_or_form_fields(&headers, &body) {
        Ok(fields) => fields,
        Err(FieldsError::NotAnObject) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body is not a JSON object.",
            );
        }
        Err(FieldsError::UnsupportedMediaType) => {
            return oauth_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "The request body must be JSON or a url-encoded form.",
            );
        }
    };
    let field = |name: &str| fields.get(name).and_then(Value::as_str);
    match field("grant_type") {
        Some("password") => {
            let (Some(username), Some(password)) = (field("username"), field("password")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request is missing a required parameter: username or password.",
                );
            };
            if username != state.config.username || password != state.config.password {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The user credentials were incorrect.",
                );
            }
            let (access, refresh) = state.issue(Provider::Password, Grant::Password);
            tokens(&state, &access, refresh.as_deref())
        }
        Some("refresh_token") => {
            let Some(presented) = field("refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The request is missing a required parameter: refresh_token.",
                );
            };
            match state.rotate(presented) {
                RefreshOutcome::Rotated { access, refresh } => {
                    tokens(&state, &access, Some(&refresh))
                }
                RefreshOutcome::Invalid => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The refresh token is invalid.",
                ),
            }
        }
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        ),
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request is missing a required parameter: grant_type.",
        ),
    }
}

/// Checks `Authorization: Basic base64(clientId:clientSecret)`, decoded
/// exactly as the document describes (no form-urlencoding).
fn client_authenticated(state: &State, headers: &HeaderMap) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = &state.config.password_client;
    String::from_utf8(decoded).ok().as_deref()
        == Some(format!("{}:{}", expected.client_id, expected.client_secret).as_str())
}

fn tokens(state: &State, access: &str, refresh: Option<&str>) -> Response {
    let mut body =
        json!({"token_type": "Bearer", "expires_in": state.expires_in(), "access_token": access});
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    reply(StatusCode::OK, JSON, body)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    reply(
        status,
        JSON,
        json!({"error": error, "error_description": description, "message": description}),
    )
}
