//! One token endpoint, driven by what its spec says ([`EndpointSpec`]):
//! the request is checked as the spec describes it, and answered in the
//! spec's success shape or its documented error shapes.
//!
//! | check | refused with |
//! |---|---|
//! | `Accept` rules out the documented response type | 406 |
//! | a vendor JSON type (`application/vnd.api+json`) sent as anything else | 415 |
//! | a flat body sent as other than JSON, a url-encoded form or multipart (what Laravel-style servers read: Airalo's Node SDK sends JSON, its Python SDK a form, its document multipart) | 415 |
//! | a constant (`grant_type`) with another value | `unsupported_grant_type` / `invalid_request` |
//! | a required field missing or empty | `invalid_request` |
//! | a parameter (`x-tokenmux-parameter`) whose value starts with `invalid` | `invalid_scope` |
//! | wrong Basic or body client credentials | `invalid_client` |
//! | a client assertion (`client_secret_jwt`, `private_key_jwt`) that is missing, badly signed, for another audience or client, expired, or replayed | `invalid_client` |
//! | wrong username or password, unknown or used refresh token | `invalid_grant` |
//!
//! Each condition gets the status the spec documents for it
//! (`x-tokenmux-errors`), else RFC 6749 §5.2's, and a body with the code
//! and message where the spec's `x-tokenmux-error` pointers put them.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokenmux_wire::{
    BasicEncoding, BodyEncoding, ClientAuth, CredentialRole, EndpointSpec, ErrorCondition,
    ExpiryForm, FieldValue, GrantKind, GrantSpec, Place, set_pointer,
};

use crate::assertion::{self, Audiences, Carried};
use crate::grant_assertion;
use crate::sent::{BodyError, Sent, read_body};
use crate::state::{Grant, RefreshOutcome, State, accepts, reply};

/// Answers one request to `spec`'s endpoint at `path`.
pub(crate) async fn token(
    spec: &'static EndpointSpec,
    path: &'static str,
    state: Arc<State>,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let grants: Vec<&GrantSpec> = spec.grants.iter().filter(|g| g.path == path).collect();
    let Some(first) = grants.first() else {
        return error(spec, ErrorCondition::InvalidRequest, "No grant here.");
    };
    let accept = first.wire.accept.unwrap_or("application/json");
    if !accepts(&headers, accept) {
        let mut response = error(
            spec,
            ErrorCondition::InvalidRequest,
            &format!("Responses are only available as {accept}."),
        );
        *response.status_mut() = StatusCode::NOT_ACCEPTABLE;
        return response;
    }
    let body = match first.wire.body {
        BodyEncoding::None => Ok(Value::Object(Map::new())),
        _ => read_body(first.wire.content_type, &headers, body).await,
    };
    let body = match body {
        Ok(body) => body,
        Err(BodyError::MediaType(documented)) => {
            let mut response = error(
                spec,
                ErrorCondition::InvalidRequest,
                &format!("The request body must be {documented}."),
            );
            *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            return response;
        }
        Err(BodyError::NotAnObject) => {
            return error(
                spec,
                ErrorCondition::InvalidRequest,
                "The request body is not a JSON object.",
            );
        }
    };
    if grants.iter().any(|g| g.wire.auth == ClientAuth::AppJwt) {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        if let Err(why) = crate::app_jwt::check(authorization, &state.config) {
            let message = format!("A JSON web token could not be decoded: {why}.");
            return error(spec, ErrorCondition::InvalidClient, &message);
        }
    }
    if grants.iter().any(|g| g.wire.auth == ClientAuth::Basic)
        && !basic_authenticated(&state, spec.basic_encoding, &headers)
    {
        return error(
            spec,
            ErrorCondition::InvalidClient,
            "Client authentication failed",
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let sent = Sent::new(body, uri, path, headers);
    let audiences = Audiences {
        token_endpoint: format!("http://{host}{}", uri.path()),
        issuer: format!("http://{host}/{}", spec.name),
    };
    for auth in grants.iter().map(|g| g.wire.auth) {
        let carried = Carried {
            kind: sent.text(Place::Body("/client_assertion_type")),
            assertion: sent.text(Place::Body("/client_assertion")),
        };
        if let Err(why) = assertion::check(auth, carried, &state.config, &audiences, &state.jtis) {
            let message = format!("Client authentication failed: {why}.");
            return error(spec, ErrorCondition::InvalidClient, &message);
        }
    }
    let grant = match select_grant(&grants, &sent) {
        Ok(grant) => grant,
        Err((condition, message)) => return error(spec, condition, &message),
    };
    let text = |place: Place| sent.text(place);
    // Every field is required but a parameter the spec makes optional.
    let required = |value: FieldValue| match value {
        FieldValue::Parameter(parameter) => parameter.required,
        FieldValue::OptionalCredential(_) => false,
        FieldValue::Credential(_) | FieldValue::Constant(_) | FieldValue::Assertion(_) => true,
    };
    for field in grant.fields.iter().filter(|f| required(f.value)) {
        if text(field.place).is_none_or(str::is_empty) {
            let name = field.place.name();
            let message = format!("The {} field is required.", name.replace('_', " "));
            return error(spec, ErrorCondition::InvalidRequest, &message);
        }
    }
    for field in grant.fields {
        if let FieldValue::Assertion(assertion) = field.value {
            let sent = text(field.place);
            let checked =
                grant_assertion::check(assertion, sent, &state.config, &audiences, &state.jtis);
            if let Err((condition, why)) = checked {
                return error(
                    spec,
                    condition,
                    &format!("The assertion was refused: {why}."),
                );
            }
        }
    }
    // A way for tests to meet a refused parameter value.
    if let Some(name) = grant.fields.iter().find_map(|f| match f.value {
        FieldValue::Parameter(p) if text(f.place).is_some_and(|v| v.starts_with("invalid")) => {
            Some(p.name)
        }
        _ => None,
    }) {
        let message = format!("The requested {name} is invalid.");
        return error(spec, ErrorCondition::InvalidScope, &message);
    }
    let role = |role: CredentialRole| {
        grant
            .fields
            .iter()
            .find(|f| f.value.credential() == Some(role))
            .and_then(|f| text(f.place))
    };
    let config = &state.config;
    // Each of these roles the body carries must hold the expected value.
    let carried_as = |expected: [(CredentialRole, &str); 2]| {
        expected
            .into_iter()
            .all(|(r, value)| role(r).is_none_or(|given| given == value))
    };
    if !carried_as([
        (CredentialRole::ClientId, &config.client.client_id),
        (CredentialRole::ClientSecret, &config.client.client_secret),
    ]) {
        return error(
            spec,
            ErrorCondition::InvalidClient,
            "Invalid client credentials.",
        );
    }
    if !carried_as([
        (CredentialRole::Username, &config.username),
        (CredentialRole::Password, &config.password),
    ]) {
        return error(
            spec,
            ErrorCondition::InvalidGrant,
            "The user credentials were incorrect.",
        );
    }
    let issues_refresh = spec.token.refresh_token.is_some();
    let (access, refresh) = match (grant.kind, role(CredentialRole::RefreshToken)) {
        (GrantKind::Refresh, Some(presented)) => match state.rotate(spec, presented) {
            RefreshOutcome::Rotated { access, refresh } => (access, Some(refresh)),
            RefreshOutcome::Invalid => {
                return error(
                    spec,
                    ErrorCondition::InvalidGrant,
                    "The refresh token is invalid.",
                );
            }
        },
        _ => {
            let user = role(CredentialRole::Username).is_some();
            let kind = if user {
                Grant::Password
            } else {
                Grant::ClientCredentials
            };
            state.issue(spec, kind, issues_refresh)
        }
    };
    success(spec, accept, &state, &access, refresh.as_deref())
}

/// The grant whose constants the body carries.
fn select_grant<'g>(
    grants: &[&'g GrantSpec],
    sent: &Sent,
) -> Result<&'g GrantSpec, (ErrorCondition, String)> {
    let constants = |grant: &GrantSpec| {
        grant
            .fields
            .iter()
            .filter_map(|f| match f.value {
                FieldValue::Constant(value) => Some((f.place, value)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    if let Some(grant) = grants.iter().find(|grant| {
        constants(grant)
            .iter()
            .all(|(place, value)| sent.text(*place) == Some(value))
    }) {
        return Ok(grant);
    }
    // A constant sent with a value no grant takes.
    for (place, _) in grants.iter().flat_map(|g| constants(g)) {
        if let Some(given) = sent.text(place) {
            let name = place.name();
            return Err(if name == "grant_type" {
                (
                    ErrorCondition::UnsupportedGrantType,
                    "The authorization grant type is not supported by the authorization server."
                        .into(),
                )
            } else {
                (
                    ErrorCondition::InvalidRequest,
                    format!("`{given}` is not a valid {name}."),
                )
            });
        }
    }
    let name = grants
        .iter()
        .flat_map(|g| constants(g))
        .map(|(place, _)| place.name())
        .next()
        .unwrap_or("body");
    Err((
        ErrorCondition::InvalidRequest,
        format!("The {} field is required.", name.replace('_', " ")),
    ))
}

/// `Authorization: Basic …` with the mock's client, encoded as the spec says.
fn basic_authenticated(state: &State, encoding: BasicEncoding, headers: &HeaderMap) -> bool {
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
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return false;
    };
    let (id, secret) = match encoding {
        BasicEncoding::AsDocumented => (id.to_owned(), secret.to_owned()),
        // RFC 6749 §2.3.1: each part form-urlencoded.
        BasicEncoding::Rfc6749FormUrlencoded => {
            let decode = |part: &str| {
                form_urlencoded::parse(format!("x={part}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (decode(id), decode(secret))
        }
    };
    let client = &state.config.client;
    id == client.client_id && secret == client.client_secret
}

/// The spec's success shape: its example, with the issued tokens in place.
fn success(
    spec: &EndpointSpec,
    media: &'static str,
    state: &State,
    access: &str,
    refresh: Option<&str>,
) -> Response {
    let mut body = spec
        .success_example
        .and_then(|example| serde_json::from_str(example).ok())
        .unwrap_or_else(|| json!({}));
    let token = &spec.token;
    if token.access_token_header.is_none() {
        set_pointer(&mut body, token.access_token, json!(access));
    }
    if let Some(expiry) = token.expiry {
        let sent = body.pointer(expiry.pointer);
        let value = expiry_value(expiry.form, sent, state.now(), state.expires_in());
        set_pointer(&mut body, expiry.pointer, value);
    }
    if let Some(pointer) = token.token_type
        && body.pointer(pointer).is_none_or(|v| !v.is_string())
    {
        set_pointer(&mut body, pointer, json!("Bearer"));
    }
    match (token.refresh_token, refresh) {
        (Some(pointer), Some(refresh)) => set_pointer(&mut body, pointer, json!(refresh)),
        (Some(pointer), None) => remove_pointer(&mut body, pointer),
        _ => {}
    }
    let status = StatusCode::from_u16(spec.success_status).unwrap_or(StatusCode::OK);
    let mut response = reply(status, media, body);
    // A token in a response header (`X-Subject-Token`), where the spec says.
    if let Some(name) = token.access_token_header
        && let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(access),
        )
    {
        response.headers_mut().insert(name, value);
    }
    response
}

/// The token's lifetime written in the spec's form; an absolute time as
/// an RFC 3339 string where the spec's example has a string there, else as
/// epoch seconds.
fn expiry_value(form: ExpiryForm, example: Option<&Value>, now: SystemTime, seconds: u64) -> Value {
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let at = now + Duration::from_secs(seconds);
    match form {
        ExpiryForm::InSeconds => json!(seconds),
        ExpiryForm::InMilliseconds => json!(seconds * 1000),
        ExpiryForm::AtMilliseconds => json!(at.as_millis() as u64),
        ExpiryForm::At if example.is_some_and(Value::is_string) => {
            let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH
                + chrono::TimeDelta::seconds(at.as_secs() as i64);
            json!(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        }
        ExpiryForm::At => json!(at.as_secs()),
    }
}

fn remove_pointer(body: &mut Value, pointer: &str) {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return;
    };
    if let Some(Value::Object(map)) = body.pointer_mut(parent) {
        map.remove(key);
    }
}

/// An error in the spec's documented shape, with the status it documents
/// for `condition`.
pub(crate) fn error(spec: &EndpointSpec, condition: ErrorCondition, message: &str) -> Response {
    let (status, media) = spec.error_response(condition);
    let mut body = json!({});
    let fields = &spec.error;
    if let Some(pointer) = fields.code.first() {
        set_pointer(&mut body, pointer, json!(condition.code()));
    }
    if let Some(pointer) = fields.message.first() {
        set_pointer(&mut body, pointer, json!(message));
    }
    if fields.code.is_empty() && fields.message.is_empty() {
        // No documented shape: what most servers send.
        body = json!({"error": condition.code(), "message": message});
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    reply(status, media.unwrap_or("application/json"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_is_written_in_the_specs_form() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let value = |form, example: Option<Value>| {
            expiry_value(form, example.as_ref(), SystemTime::now(), 600)
        };
        assert_eq!(value(ExpiryForm::InSeconds, None), json!(600));
        assert_eq!(value(ExpiryForm::InMilliseconds, None), json!(600_000));
        let at = value(ExpiryForm::At, Some(json!(0))).as_u64().unwrap();
        assert!((now + 599..=now + 601).contains(&at), "{at}");
        let ms = value(ExpiryForm::AtMilliseconds, None).as_u64().unwrap();
        assert!((now * 1000 + 599_000..=now * 1000 + 601_000).contains(&ms));
        // An RFC 3339 string where the example has one, read back by the
        // client's own parser.
        let text = value(ExpiryForm::At, Some(json!("2026-12-01T09:30:00Z")));
        assert!(text.as_str().unwrap().ends_with('Z'), "{text}");
        let Ok(Some(tokenmux_wire::Expires::At(read))) = ExpiryForm::At.read(&text) else {
            panic!("{text}");
        };
        let read = read
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now + 599..=now + 601).contains(&read), "{read}");
    }

    #[test]
    fn a_token_the_spec_puts_in_a_header_goes_there_with_the_specs_status() {
        let Some(any) = tokenmux_registry::builtin().first().map(|e| *e.spec()) else {
            return; // no provider compiled in
        };
        let spec = tokenmux_wire::EndpointSpec {
            token: tokenmux_wire::TokenFields {
                access_token_header: Some("X-Subject-Token"),
                ..any.token
            },
            success_status: 201,
            ..any
        };
        let state = State::new(crate::MockConfig::default());
        let response = success(&spec, "application/json", &state, "tok-123", None);
        assert_eq!(response.headers()["x-subject-token"], "tok-123");
        assert_eq!(response.status(), StatusCode::CREATED, "the spec's status");
        let body = futures_body(response);
        assert!(!body.contains("tok-123"), "{body}");
    }

    #[test]
    fn a_form_answer_is_written_as_a_form() {
        let body = json!({"access_token": "a+b", "expires_in": 3600});
        let response = reply(StatusCode::OK, "application/x-www-form-urlencoded", body);
        assert_eq!(futures_body(response), "access_token=a%2Bb&expires_in=3600");
    }

    fn futures_body(response: Response) -> String {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
