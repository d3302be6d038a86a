//! NeonPanel: `POST /auth/token` with `client_id` and `client_secret`
//! (document 000). The document names the fields but no media type; the spec
//! sends JSON, and the server, like the Laravel application it is, also reads
//! a url-encoded form. The document lists only 500 as an error; another
//! media type, missing fields and wrong credentials get the answers a
//! Laravel server gives (415, 422, 401).

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Provider;
use crate::state::{FieldsError, Grant, State, json_or_form_fields, reply};

const JSON: &str = "application/json";

pub(crate) async fn token(state: Arc<State>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = match json_or_form_fields(&headers, &body) {
        Ok(fields) => fields,
        Err(FieldsError::NotAnObject) => {
            return reply(
                StatusCode::BAD_REQUEST,
                JSON,
                json!({"message": "The request body is not a JSON object."}),
            );
        }
        Err(FieldsError::UnsupportedMediaType) => {
            return reply(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                JSON,
                json!({"message": "The request body must be JSON or a url-encoded form."}),
            );
        }
    };
    let field = |name: &str| fields.get(name).and_then(Value::as_str);
    let missing: serde_json::Map<String, Value> = ["client_id", "client_secret"]
        .into_iter()
        .filter(|name| field(name).is_none_or(str::is_empty))
        .map(|name| {
            let message = format!("The {} field is required.", name.replace('_', " "));
            (name.to_owned(), json!([message]))
        })
        .collect();
    if !missing.is_empty() {
        return reply(
            StatusCode::UNPROCESSABLE_ENTITY,
            JSON,
            json!({"message": "The given data was invalid.", "errors": missing}),
        );
    }
    let expected = &state.config.neonpanel;
    if field("client_id") != Some(expected.client_id.as_str())
        || field("client_secret") != Some(expected.client_secret.as_str())
    {
        return reply(
            StatusCode::UNAUTHORIZED,
            JSON,
            json!({"message": "Client authentication failed"}),
        );
    }
    let (access, _) = state.issue(Provider::NeonPanel, Grant::ClientCredentials);
    reply(
        StatusCode::OK,
        JSON,
        json!({"token_type": "Bearer", "expires_in": state.expires_in(), "access_token": access}),
    )
}
