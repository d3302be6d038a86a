//! What a generated [`TokenEndpoint`](crate::TokenEndpoint) implementation
//! calls: fill a request body from an [`EndpointSpec`], and map the typed
//! response and typed error into [`Issued`] and [`ErrorDetails`].

use progenitor_client::{Error as ClientError, ResponseValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::endpoint::{
    CredentialRole, EndpointResult, EndpointSpec, ErrorDetails, ErrorFields, FieldValue, GrantKind,
    Issued, ParameterSpec, TokenFields, TokenRequest,
};
use crate::{ClientConfig, GrantAssertion, GrantAssertionSigning, Place, PlacedValue, Secret};

/// The typed body of `kind`'s request, and the client config it is sent
/// with (Basic credentials added when the operation asks for them).
///
/// ```
/// # use tokenmux_wire::*;
/// # static FIELDS: [RequestField; 2] = [
/// #     RequestField { place: Place::Body("/data/id"), value: FieldValue::Credential(CredentialRole::ClientId) },
/// #     RequestField { place: Place::Body("/grant_type"), value: FieldValue::Constant("client_credentials") },
/// # ];
/// # static GRANTS: [GrantSpec; 1] = [GrantSpec { kind: GrantKind::Primary, path: "/token",
/// #     wire: OperationWire { operation_id: "t", method: "t", http_method: "POST", body: BodyEncoding::Json,
/// #         content_type: None, accept: None, response: BodyEncoding::Json, auth: ClientAuth::None }, fields: &FIELDS }];
/// # static SPEC: EndpointSpec = EndpointSpec { name: "t", title: "t", servers: &[], grants: &GRANTS,
/// #     basic_encoding: BasicEncoding::AsDocumented,
/// #     token: TokenFields { access_token: "/a", access_token_header: None, token_type: None, expiry: None, refresh_token: None, token_types: &[] },
/// #     error: ErrorFields { code: &[], message: &[] }, errors: &[], max_lifetime_secs: None,
/// #     success_example: None, presentation: Presentation::BEARER, success_status: 200 };
/// let secret = Secret::new("s");
/// let request = TokenRequest {
///     http: &reqwest::Client::new(), base_url: "http://127.0.0.1:1", config: ClientConfig::default(),
///     credentials: GrantCredentials { client_id: Some("me"), client_secret: Some(&secret), ..Default::default() },
///     parameters: &Parameters::new(),
///     grant: Grant::Primary,
/// };
/// let (body, _config) = request_body::<serde_json::Value>(&SPEC, GrantKind::Primary, &request).unwrap();
/// assert_eq!(body, serde_json::json!({"data": {"id": "me"}, "grant_type": "client_credentials"}));
/// ```
#[allow(clippy::result_large_err)] // progenitor's error type, as the generated client returns it
pub fn request_body<T: DeserializeOwned>(
    spec: &EndpointSpec,
    kind: GrantKind,
    request: &TokenRequest<'_>,
) -> Result<(T, ClientConfig), ClientError<ErrorDetails>> {
    let (body, config) = request_parts(spec, kind, request)?;
    // Never serde's message: it could quote a credential. Name the field
    // instead (serde's path, which holds no value).
    let typed = serde_path_to_error::deserialize(body).map_err(|error| {
        // serde's "missing field `x`" quotes only a field name, so it may be
        // repeated; any other message could hold a value and is not.
        let inner = error.inner().to_string();
        let missing = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
            .map(|field| format!(": nothing fills the required field `{field}`"))
            .unwrap_or_default();
        ClientError::InvalidRequest(format!(
            "{}: the request body does not fit the spec's request schema at `{}`{missing}",
            spec.name,
            error.path()
        ))
    })?;
    Ok((typed, config))
}

/// The client config of `kind`'s request on an operation without a body:
/// every value goes in the query string, a header or the path.
#[allow(clippy::result_large_err)] // progenitor's error type, as the generated client returns it
pub fn request_without_body(
    spec: &EndpointSpec,
    kind: GrantKind,
    request: &TokenRequest<'_>,
) -> Result<ClientConfig, ClientError<ErrorDetails>> {
    request_parts(spec, kind, request).map(|(_, config)| config)
}

/// The body as JSON, and the client config carrying the values that go
/// elsewhere and the client authentication.
#[allow(clippy::result_large_err)] // progenitor's error type, as the generated client returns it
fn request_parts(
    spec: &EndpointSpec,
    kind: GrantKind,
    request: &TokenRequest<'_>,
) -> Result<(Value, ClientConfig), ClientError<ErrorDetails>> {
    let grant = spec.grant_for(kind).ok_or_else(|| {
        ClientError::InvalidRequest(format!("{} has no refresh token grant", spec.name))
    })?;
    let mut body = Value::Object(serde_json::Map::new());
    let mut placed = Vec::new();
    let mut grant_assertion = None;
    for field in grant.fields {
        let value = match field.value {
            FieldValue::Constant(value) => value,
            FieldValue::Credential(role) => request
                .credentials
                .value(role, request.grant)
                .ok_or_else(|| {
                    ClientError::InvalidRequest(format!(
                        "{} needs a {} for this grant; the credentials have none",
                        spec.name,
                        role.name()
                    ))
                })?,
            FieldValue::OptionalCredential(role) => {
                match request.credentials.value(role, request.grant) {
                    Some(value) => value,
                    None => continue,
                }
            }
            FieldValue::Parameter(parameter) => {
                match parameter_value(spec, parameter, field.place, request)? {
                    Some(value) => value,
                    None => continue,
                }
            }
            FieldValue::Assertion(assertion) => {
                grant_assertion = Some(grant_signing(spec, assertion, field.place, request)?);
                crate::grant_assertion::PLACEHOLDER
            }
        };
        match field.place {
            Place::Body(pointer) => set_pointer(&mut body, pointer, Value::String(value.into())),
            place => placed.push(PlacedValue {
                place,
                value: Secret::new(value),
            }),
        }
    }
    let config = crate::client_auth_method(grant.wire.auth)
        .authenticate(spec, &request.credentials, request.config.clone())
        .map_err(|error| ClientError::InvalidRequest(format!("{}: {error}", spec.name)))?
        .with_placed_values(placed);
    let config = match grant_assertion {
        Some(signing) => config.with_grant_assertion(signing),
        None => config,
    };
    Ok((body, config))
}

/// The value `parameter` takes in this request: the source's, else the
/// spec's default; `None` when it is optional and not given.
#[allow(clippy::result_large_err)] // progenitor's error type, as the generated client returns it
fn parameter_value<'r>(
    spec: &EndpointSpec,
    parameter: ParameterSpec,
    place: Place,
    request: &'r TokenRequest<'_>,
) -> Result<Option<&'r str>, ClientError<ErrorDetails>> {
    match request.parameters.get(parameter.name) {
        Some(value) => Ok(Some(value.expose_secret())),
        None => match (parameter.default, parameter.required) {
            (Some(default), _) => Ok(Some(default)),
            (None, false) => Ok(None),
            (None, true) => Err(ClientError::InvalidRequest(format!(
                "{} needs the parameter `{}` (at {place}); \
                 give it in `params:`, with --param {1}=VALUE or .param()",
                spec.name, parameter.name
            ))),
        },
    }
}

/// How the JWT bearer grant's assertion at `place` is signed: by the
/// client's private key, for its id, with the claims the spec fills from
/// parameters.
#[allow(clippy::result_large_err)] // progenitor's error type, as the generated client returns it
fn grant_signing(
    spec: &EndpointSpec,
    assertion: &GrantAssertion,
    place: Place,
    request: &TokenRequest<'_>,
) -> Result<GrantAssertionSigning, ClientError<ErrorDetails>> {
    let missing = |role: CredentialRole| {
        ClientError::InvalidRequest(format!(
            "{}: the JWT bearer grant's assertion (at {place}) needs a {}; \
             the credentials have none",
            spec.name,
            role.name()
        ))
    };
    let client_id = request
        .credentials
        .client_id
        .ok_or_else(|| missing(CredentialRole::ClientId))?;
    let key = request
        .credentials
        .private_key
        .ok_or_else(|| missing(CredentialRole::PrivateKey))?;
    let mut claims = Vec::new();
    for claim in assertion.claims {
        if let Some(value) = parameter_value(spec, claim.parameter, place, request)? {
            claims.push((claim.claim, Secret::new(value)));
        }
    }
    Ok(GrantAssertionSigning::new(
        key.signer().clone(),
        client_id,
        assertion.audience,
        place.name(),
        claims,
    ))
}

/// Sets the value at a JSON pointer, creating objects (and, for a `0`
/// segment, an array) on the way.
///
/// ```
/// let mut body = serde_json::json!({});
/// tokenmux_wire::set_pointer(&mut body, "/errors/0/code", "x".into());
/// assert_eq!(body, serde_json::json!({"errors": [{"code": "x"}]}));
/// ```
pub fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let mut slot = root;
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        slot = match segment.parse::<usize>() {
            Ok(index) => {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let Value::Array(items) = slot else {
                    return;
                };
                if items.len() <= index {
                    items.resize(index + 1, Value::Object(serde_json::Map::new()));
                }
                &mut items[index]
            }
            Err(_) => {
                if !slot.is_object() {
                    *slot = Value::Object(serde_json::Map::new());
                }
                let Value::Object(map) = slot else {
                    return;
                };
                map.entry(segment).or_insert(Value::Null)
            }
        };
    }
    *slot = value;
}

/// Maps a generated client's typed answer into one shape.
#[allow(clippy::result_large_err)] // progenitor's error type, as the generated client returns it
pub fn issued_response<T: Serialize, E: Serialize>(
    result: Result<ResponseValue<T>, ClientError<E>>,
    spec: &EndpointSpec,
) -> EndpointResult {
    match result {
        Ok(value) => {
            let (status, headers) = (value.status(), value.headers().clone());
            let json = serde_json::to_value(value.into_inner())
                .map_err(|error| ClientError::InvalidResponsePayload(Default::default(), error))?;
            // The body as decoded goes with the error, so that the caller
            // can tell an error sent with a 2xx status from a bad token.
            let issued = issued_from_json(&json, Some(&headers), &spec.token).map_err(|error| {
                let body = serde_json::to_vec(&json).unwrap_or_default();
                ClientError::InvalidResponsePayload(body.into(), error)
            })?;
            Ok(ResponseValue::new(issued, status, headers))
        }
        Err(error) => Err(map_error(error, &spec.error)),
    }
}

/// Decodes a success body into the generated type `T`, then into [`Issued`].
/// A spec that documents a form answer gets its form read as the response
/// hook reads it.
pub fn decode_issued<T: DeserializeOwned + Serialize>(
    body: &[u8],
    spec: &EndpointSpec,
) -> Result<Issued, serde_json::Error> {
    let form = spec
        .grants
        .first()
        .is_some_and(|grant| grant.wire.response == crate::BodyEncoding::FormUrlencoded);
    let converted;
    let body = match form && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        true => {
            converted = crate::hooks::form_to_json(body).0;
            &converted[..]
        }
        false => body,
    };
    let typed: T = serde_json::from_slice(body)?;
    to_issued(&typed, &spec.token)
}

fn to_issued<T: Serialize>(typed: &T, fields: &TokenFields) -> Result<Issued, serde_json::Error> {
    issued_from_json(&serde_json::to_value(typed)?, None, fields)
}

/// The token in a success body, and in `headers` when the spec puts the
/// access token in a response header (`None`: a body alone, which then
/// holds no access token).
fn issued_from_json(
    json: &Value,
    headers: Option<&reqwest::header::HeaderMap>,
    fields: &TokenFields,
) -> Result<Issued, serde_json::Error> {
    use serde::de::Error as _;
    let text = |pointer: Option<&str>| -> Result<Option<String>, serde_json::Error> {
        match pointer.and_then(|p| json.pointer(p)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(serde_json::Error::custom(format!(
                "{} is not a string",
                pointer.unwrap_or_default()
            ))),
        }
    };
    let access_token = match fields.access_token_header {
        None => text(Some(fields.access_token))?.ok_or_else(|| {
            serde_json::Error::custom(format!("no access token at {}", fields.access_token))
        })?,
        Some(name) => headers
            .and_then(|headers| headers.get(name))
            .ok_or_else(|| {
                serde_json::Error::custom(format!("no access token in the response header {name}"))
            })?
            .to_str()
            .map_err(|_| {
                serde_json::Error::custom(format!("the response header {name} is not text"))
            })?
            .to_owned(),
    };
    let expires = match fields.expiry {
        Some(expiry) => match json.pointer(expiry.pointer) {
            Some(value) => expiry.form.read(value).map_err(serde_json::Error::custom)?,
            None => None,
        },
        None => None,
    };
    // A documented vendor name for a scheme (`Application Access Token`
    // meaning Bearer) becomes the scheme; anything else is left for the
    // facade to judge.
    let token_type = text(fields.token_type)?.map(|sent| {
        match fields.token_types.iter().find(|(name, _)| *name == sent) {
            Some((_, scheme)) => (*scheme).to_owned(),
            None => sent,
        }
    });
    Ok(Issued {
        access_token: access_token.into(),
        token_type,
        expires,
        refresh_token: text(fields.refresh_token)?.map(Into::into),
    })
}

/// Maps a typed error body into [`ErrorDetails`], keeping everything else.
pub fn map_error<E: Serialize>(
    error: ClientError<E>,
    fields: &ErrorFields,
) -> ClientError<ErrorDetails> {
    match error {
        ClientError::ErrorResponse(value) => {
            let (status, headers) = (value.status(), value.headers().clone());
            let json = serde_json::to_value(value.into_inner()).unwrap_or_default();
            let details = ErrorDetails::read(&json, fields);
            ClientError::ErrorResponse(ResponseValue::new(details, status, headers))
        }
        ClientError::InvalidRequest(m) => ClientError::InvalidRequest(m),
        ClientError::CommunicationError(e) => ClientError::CommunicationError(e),
        ClientError::InvalidUpgrade(e) => ClientError::InvalidUpgrade(e),
        ClientError::ResponseBodyError(e) => ClientError::ResponseBodyError(e),
        ClientError::InvalidResponsePayload(body, e) => {
            ClientError::InvalidResponsePayload(body, e)
        }
        ClientError::UnexpectedResponse(r) => ClientError::UnexpectedResponse(r),
        ClientError::Custom(m) => ClientError::Custom(m),
    }
}

impl ErrorDetails {
    /// The code and message at the spec's pointers; where the spec names
    /// none, the usual members (`error`/`error_description`, `code`/
    /// `message`/`detail`/`title`, JSON:API's `errors[0]`).
    ///
    /// ```
    /// use tokenmux_wire::{ErrorDetails, ErrorFields};
    ///
    /// let body = serde_json::json!({"meta": {"message": "Invalid client credentials."}});
    /// let fields = ErrorFields { code: &[], message: &["/meta/message"] };
    /// assert_eq!(ErrorDetails::read(&body, &fields).message.as_deref(), Some("Invalid client credentials."));
    /// let oauth = serde_json::json!({"error": "invalid_grant"});
    /// assert_eq!(ErrorDetails::read(&oauth, &fields).code.as_deref(), Some("invalid_grant"));
    /// ```
    pub fn read(body: &Value, fields: &ErrorFields) -> Self {
        let at = |pointers: &[&str]| {
            pointers
                .iter()
                .find_map(|p| body.pointer(p).and_then(Value::as_str))
                .map(str::to_owned)
        };
        let generic = Self::generic(body);
        Self {
            code: at(fields.code).or(if fields.code.is_empty() {
                generic.code
            } else {
                None
            }),
            message: at(fields.message).or(if fields.message.is_empty() {
                generic.message
            } else {
                None
            }),
        }
    }

    /// The usual members of an error body whose shape no spec gives.
    pub fn generic(body: &Value) -> Self {
        let json = body.get("errors").and_then(|e| e.get(0)).unwrap_or(body);
        let text = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| json.get(*k).and_then(Value::as_str))
                .map(str::to_owned)
        };
        Self {
            code: text(&["error", "code"]),
            message: text(&["error_description", "message", "detail", "title"]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        ClientAuth, CredentialRole, Grant, GrantCredentials, ParameterSpec, Parameters,
        RequestField, Secret,
    };

    static FIELDS: [RequestField; 2] = [
        RequestField {
            place: Place::Body("/client_secret"),
            value: FieldValue::Credential(CredentialRole::ClientSecret),
        },
        RequestField {
            place: Place::Body("/scope"),
            value: FieldValue::Parameter(ParameterSpec {
                name: "scope",
                required: true,
                default: None,
                secret: false,
            }),
        },
    ];
    /// The spec of these tests: a client secret and a required `scope`.
    fn spec() -> &'static EndpointSpec {
        crate::test_spec::with(FIELDS.to_vec(), ClientAuth::None)
    }

    /// A generated body type that takes the secret as a number: no value fits.
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        client_secret: u32,
        scope: String,
    }

    fn body<T: DeserializeOwned>(parameters: &Parameters) -> Result<T, String> {
        let http = reqwest::Client::new();
        let secret = Secret::new("s3cret-value");
        let request = TokenRequest {
            http: &http,
            base_url: "http://127.0.0.1:1",
            config: ClientConfig::default(),
            credentials: GrantCredentials {
                client_id: Some("id"),
                client_secret: Some(&secret),
                ..Default::default()
            },
            parameters,
            grant: Grant::Primary,
        };
        request_body::<T>(spec(), GrantKind::Primary, &request)
            .map(|(body, _)| body)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn errors_name_the_parameter_or_field_and_never_a_value() {
        let error = body::<Value>(&Parameters::new()).unwrap_err();
        assert!(
            error.contains("needs the parameter `scope` (at `/scope` of the request body)"),
            "{error}"
        );
        let scoped = Parameters::new().with("scope", "read");
        assert_eq!(
            body::<Value>(&scoped).unwrap(),
            serde_json::json!({"client_secret": "s3cret-value", "scope": "read"})
        );
        let error = body::<Typed>(&scoped).err().unwrap();
        assert!(error.contains("at `client_secret`"), "{error}");
        assert!(!error.contains("s3cret-value"), "{error}");
        assert!(!error.contains("nothing fills"), "{error}");
        // A field the spec leaves to nothing is named.
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Wider {
            scope: String,
            installation_id: String,
        }
        let error = body::<Wider>(&scoped).err().unwrap();
        assert!(
            error.contains("nothing fills the required field `installation_id`"),
            "{error}"
        );
    }
}

#[cfg(test)]
mod credential_tests {
    use super::*;
    use crate::{ClientAuth, CredentialRole::*, Grant, GrantCredentials, Parameters, RequestField};
    use crate::{Secret, test_spec};

    /// The body and the client config of `grant`'s request.
    fn parts(
        spec: &'static EndpointSpec,
        credentials: GrantCredentials<'_>,
        grant: Grant<'_>,
    ) -> Result<(Value, ClientConfig), String> {
        let http = reqwest::Client::new();
        let parameters = Parameters::new();
        let request = TokenRequest {
            http: &http,
            base_url: "http://127.0.0.1:1",
            config: ClientConfig::default(),
            credentials,
            parameters: &parameters,
            grant,
        };
        let parts = request_body::<Value>(spec, grant.kind(), &request);
        let (body, config) = parts.map_err(|error| error.to_string())?;
        // A bodyless operation's request places the same values.
        let placed = |config: &ClientConfig| -> Vec<(Place, String)> {
            let values = config.placed_values().iter();
            values
                .map(|p| (p.place, p.value.expose_secret().to_owned()))
                .collect()
        };
        let without = request_without_body(spec, grant.kind(), &request).unwrap();
        assert_eq!(placed(&without), placed(&config));
        Ok((body, config))
    }

    fn body(
        spec: &'static EndpointSpec,
        credentials: GrantCredentials<'_>,
        grant: Grant<'_>,
    ) -> Result<Value, String> {
        parts(spec, credentials, grant).map(|(body, _)| body)
    }

    #[test]
    fn values_outside_the_body_go_to_the_hook_and_never_into_the_body() {
        let spec = test_spec::with(
            vec![
                RequestField {
                    place: Place::Query("app_key"),
                    value: FieldValue::Credential(ClientId),
                },
                RequestField {
                    place: Place::Header("X-App-Secret"),
                    value: FieldValue::Credential(ClientSecret),
                },
                RequestField {
                    place: Place::Body("/grant_type"),
                    value: FieldValue::Constant("app"),
                },
            ],
            ClientAuth::None,
        );
        let secret = Secret::new("s3cr3t");
        let credentials = GrantCredentials {
            client_id: Some("me"),
            client_secret: Some(&secret),
            ..Default::default()
        };
        let (body, config) = parts(spec, credentials, Grant::Primary).unwrap();
        assert_eq!(body, serde_json::json!({"grant_type": "app"}));
        let placed: Vec<_> = config
            .placed_values()
            .iter()
            .map(|p| (p.place, p.value.expose_secret().to_owned()))
            .collect();
        assert_eq!(
            placed,
            [
                (Place::Query("app_key"), "me".to_owned()),
                (Place::Header("X-App-Secret"), "s3cr3t".to_owned()),
            ]
        );
        assert!(!format!("{config:?}").contains("s3cr3t"));
    }

    #[test]
    fn an_optional_credential_is_sent_when_given_and_left_out_otherwise() {
        let spec = test_spec::with(
            vec![
                RequestField {
                    place: Place::Body("/client_id"),
                    value: FieldValue::Credential(ClientId),
                },
                RequestField {
                    place: Place::Body("/client_secret"),
                    value: FieldValue::OptionalCredential(ClientSecret),
                },
            ],
            ClientAuth::None,
        );
        let public = GrantCredentials {
            client_id: Some("me"),
            ..Default::default()
        };
        assert_eq!(
            body(spec, public, Grant::Primary).unwrap(),
            serde_json::json!({"client_id": "me"})
        );
        let secret = Secret::new("s");
        let confidential = GrantCredentials {
            client_secret: Some(&secret),
            ..public
        };
        assert_eq!(
            body(spec, confidential, Grant::Primary).unwrap(),
            serde_json::json!({"client_id": "me", "client_secret": "s"})
        );
        // A required one is named, and Basic names what it lacks.
        let error = body(spec, GrantCredentials::default(), Grant::Primary).unwrap_err();
        assert!(error.contains("needs a client_id"), "{error}");
        let basic = test_spec::with(Vec::new(), ClientAuth::Basic);
        let error = body(basic, public, Grant::Primary).unwrap_err();
        assert!(
            error.contains("client_secret_basic needs a client_secret"),
            "{error}"
        );
    }

    #[test]
    fn a_refresh_presents_its_token_through_a_primary_refresh_token_grant() {
        let spec = test_spec::with(
            vec![
                RequestField {
                    place: Place::Body("/grant_type"),
                    value: FieldValue::Constant("refresh_token"),
                },
                RequestField {
                    place: Place::Body("/refresh_token"),
                    value: FieldValue::Credential(RefreshToken),
                },
            ],
            ClientAuth::None,
        );
        let (configured, rotated) = (Secret::new("r-configured"), Secret::new("r-rotated"));
        let credentials = GrantCredentials {
            refresh_token: Some(&configured),
            ..Default::default()
        };
        assert_eq!(
            body(spec, credentials, Grant::Primary).unwrap()["refresh_token"],
            "r-configured"
        );
        assert_eq!(
            body(spec, credentials, Grant::Refresh(&rotated)).unwrap()["refresh_token"],
            "r-rotated"
        );
    }
}

#[cfg(test)]
mod header_token_tests {
    use super::*;
    use crate::{ClientAuth, test_spec};
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn spec() -> EndpointSpec {
        let base = test_spec::with(Vec::new(), ClientAuth::None);
        EndpointSpec {
            token: TokenFields {
                access_token_header: Some("X-Subject-Token"),
                expiry: Some(crate::Expiry {
                    pointer: "/token/expires_at",
                    form: crate::ExpiryForm::At,
                }),
                ..base.token
            },
            ..*base
        }
    }

    fn answer(headers: HeaderMap) -> Result<Issued, String> {
        let body = serde_json::json!({"token": {"expires_at": "2030-01-01T00:00:00Z"}});
        let value = ResponseValue::new(body, StatusCode::CREATED, headers);
        let result: Result<_, ClientError<Value>> = Ok(value);
        issued_response(result, &spec())
            .map(ResponseValue::into_inner)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_access_token_is_read_from_the_header_the_spec_names() {
        let mut headers = HeaderMap::new();
        headers.insert("x-subject-token", HeaderValue::from_static("gAAAAABtok"));
        let issued = answer(headers).unwrap();
        assert_eq!(issued.access_token.expose_secret(), "gAAAAABtok");
        assert!(matches!(issued.expires, Some(crate::Expires::At(_))));
        let missing = answer(HeaderMap::new()).unwrap_err();
        assert!(
            missing.contains("no access token in the response header X-Subject-Token"),
            "{missing}"
        );
        // The body alone (a cached body, the fuzz targets) has none.
        let body = br#"{"token": {"expires_at": "2030-01-01T00:00:00Z"}}"#;
        assert!(decode_issued::<Value>(body, &spec()).is_err());
    }
}
