//! Airalo Partners: `POST /v2/token` (document 001), `multipart/form-data`
//! with `client_id`, `client_secret` and `grant_type=client_credentials`.
//!
//! Airalo's official SDKs send `application/x-www-form-urlencoded` (with an
//! `airalo-signature` header) to the same endpoint, so the real server takes
//! both and so does the mock. Anything the server cannot read gets the
//! documented 422, as do wrong credentials.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::Provider;
use crate::state::{Grant, State, accepts, media_type, reply};

const JSON: &str = "application/json";

pub(crate) async fn token(state: Arc<State>, headers: HeaderMap, body: Bytes) -> Response {
    if !accepts(&headers, JSON) {
        return reply(
            StatusCode::NOT_ACCEPTABLE,
            JSON,
            json!({"data": [], "meta": {"message": "Only application/json responses are available."}}),
        );
    }
    let fields = match media_type(&headers).as_deref() {
        Some("multipart/form-data") => multipart_fields(&headers, body).await,
        Some("application/x-www-form-urlencoded") => {
            Some(form_urlencoded::parse(&body).into_owned().collect())
        }
        _ => None,
    }
    .unwrap_or_default();
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let mut invalid = Map::new();
    for name in ["client_id", "client_secret", "grant_type"] {
        if field(name).is_none() {
            let message = format!("The {} field is required.", name.replace('_', " "));
            invalid.insert(name.to_owned(), Value::String(message));
        }
    }
    if field("grant_type").is_some_and(|grant| grant != "client_credentials") {
        invalid.insert(
            "grant_type".to_owned(),
            Value::String("The selected grant type is invalid.".to_owned()),
        );
    }
    if !invalid.is_empty() {
        return unprocessable(Value::Object(invalid), "the parameter is invalid");
    }
    let expected = &state.config.airalo;
    if field("client_id") != Some(expected.client_id.as_str())
        || field("client_secret") != Some(expected.client_secret.as_str())
    {
        return unprocessable(json!([]), "Invalid client credentials.");
    }
    let (access, _) = state.issue(Provider::Airalo, Grant::ClientCredentials);
    reply(
        StatusCode::OK,
        JSON,
        json!({
            "data": {"token_type": "Bearer", "expires_in": state.expires_in(), "access_token": access},
            "meta": {"message": "success"}
        }),
    )
}

fn unprocessable(data: Value, message: &str) -> Response {
    reply(
        StatusCode::UNPROCESSABLE_ENTITY,
        JSON,
        json!({"data": data, "meta": {"message": message}}),
    )
}

/// The text fields of a multipart body; `None` when it is not valid multipart.
async fn multipart_fields(headers: &HeaderMap, body: Bytes) -> Option<Vec<(String, String)>> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let boundary = multer::parse_boundary(content_type).ok()?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.ok()? {
        let name = field.name()?.to_owned();
        fields.push((name, field.text().await.ok()?));
    }
    Some(fields)
}
