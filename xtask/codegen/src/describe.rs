//! Reads what a spec says about its token endpoint: the `x-tokenmux-…`
//! extensions (see `specs/README.md`) and the single-value enums, walked
//! through `$ref`s, nested objects and `oneOf` branches.

use crate::{SpecProblem, problem};
use openapiv3::{Components, OpenAPI, ReferenceOr, SecurityScheme, StatusCode};
use serde_json::Value;

// Walks a response schema for the fields a description needs.
mod schema_walk;
// The query, header and path parameters of a token operation.
mod request_parameters;
// `x-tokenmux-assertion`: the JWT bearer grant's assertion.
mod assertion;
pub(crate) use assertion::ASSERTION;
pub use assertion::Assertion;
use schema_walk::{Walker, json_schema};

/// A credential role or constant, as generated code names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// `tokenmux_wire::CredentialRole::…` variant name, of a required property.
    Credential(&'static str),
    /// The same, of a property the object does not require: sent when given.
    OptionalCredential(&'static str),
    /// A single-value enum.
    Constant(String),
    /// `x-tokenmux-parameter`: a value chosen per source.
    Parameter(Parameter),
    /// `x-tokenmux-assertion`: a JWT bearer grant's assertion.
    Assertion(Assertion),
}

/// A parameter as generated code describes it (`tokenmux_wire::ParameterSpec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Its name.
    pub name: String,
    /// Required, with no default.
    pub required: bool,
    /// The spec's `default`.
    pub default: Option<String>,
    /// `format: password`.
    pub secret: bool,
}

/// One grant: which operation, which body type, which fields.
#[derive(Debug, Clone)]
pub struct GrantDesc {
    /// `Primary` or `Refresh`.
    pub kind: &'static str,
    /// The path, e.g. `/v2/token`.
    pub path: String,
    /// The operationId.
    pub operation_id: String,
    /// The Rust type progenitor generates for the request body; `None`:
    /// the operation has no body.
    pub body_type: Option<String>,
    /// Body fields: JSON pointer → value.
    pub fields: Vec<(String, FieldValue)>,
    /// Values in the query string, headers or the path.
    pub placed: Vec<(Place, FieldValue)>,
}

/// Where a value outside the body goes (`tokenmux_wire::Place`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A query-string parameter.
    Query(String),
    /// A request header.
    Header(String),
    /// A `{name}` path segment.
    Path(String),
}

/// Everything the glue is generated from.
#[derive(Debug, Clone)]
pub struct Description {
    /// The grants, primary first.
    pub grants: Vec<GrantDesc>,
    /// The Rust type of the success body.
    pub success_type: String,
    /// `access_token`, `token_type`, an expiry role (`expires_in`,
    /// `expires_in_ms`, `expires_at`, `expires_at_ms`), `refresh_token` →
    /// pointer.
    pub token: Vec<(String, String)>,
    /// `x-tokenmux-token-types`: a `token_type` value sent → the scheme it
    /// means.
    pub token_types: Vec<(String, String)>,
    /// Pointers of the error code.
    pub error_code: Vec<String>,
    /// Pointers of the error message.
    pub error_message: Vec<String>,
    /// Documented error responses: status, conditions (variant names), media type.
    pub errors: Vec<(u16, Vec<&'static str>, Option<String>)>,
    /// `AsDocumented` or `Rfc6749FormUrlencoded`.
    pub basic_encoding: &'static str,
    /// `x-tokenmux-max-lifetime`, seconds.
    pub max_lifetime: Option<u64>,
    /// `x-tokenmux-presentation`; `None`: `Authorization: Bearer`.
    pub presentation: Option<Presentation>,
    /// The status of the success response (the first 2xx documented).
    pub success_status: u16,
    /// The success response's header marked `x-tokenmux-token:
    /// access_token`, when the token comes in a header.
    pub token_header: Option<String>,
    /// Each server's `x-tokenmux-server` name, in spec order.
    pub server_names: Vec<Option<String>>,
    /// The success response's example, as compact JSON.
    pub success_example: Option<String>,
}

pub(crate) const CREDENTIAL: &str = "x-tokenmux-credential";
pub(crate) const GRANT: &str = "x-tokenmux-grant";
pub(crate) const PARAMETER: &str = "x-tokenmux-parameter";
const TOKEN: &str = "x-tokenmux-token";
const ERROR: &str = "x-tokenmux-error";
const ERRORS: &str = "x-tokenmux-errors";
const MAX_LIFETIME: &str = "x-tokenmux-max-lifetime";
const TOKEN_TYPES: &str = "x-tokenmux-token-types";
const PRESENTATION: &str = "x-tokenmux-presentation";

/// The expiry roles of `x-tokenmux-token` and the `tokenmux_wire::ExpiryForm`
/// each becomes (the generated code names the variant, so a mismatch does
/// not compile).
pub(crate) const EXPIRY_FORMS: [(&str, &str); 4] = [
    ("expires_in", "InSeconds"),
    ("expires_in_ms", "InMilliseconds"),
    ("expires_at", "At"),
    ("expires_at_ms", "AtMilliseconds"),
];
const SERVER: &str = "x-tokenmux-server";
const BASIC_ENCODING: &str = "x-tokenmux-basic-encoding";

/// `x-tokenmux-token-types`: a map of the `token_type` values a vendor
/// sends to the scheme each means (only `Bearer` is presented today).
fn token_type_map(value: &serde_json::Value) -> Result<Vec<(String, String)>, SpecProblem> {
    let map = value.as_object().ok_or_else(|| {
        problem!(
            "{TOKEN_TYPES} must map each value sent to a scheme, e.g. {{\"App Token\": Bearer}}"
        )
    })?;
    map.iter()
        .map(|(sent, scheme)| match scheme.as_str() {
            Some(scheme) if scheme.eq_ignore_ascii_case("bearer") => {
                Ok((sent.clone(), "Bearer".to_owned()))
            }
            _ => Err(problem!(
                "{TOKEN_TYPES}: `{sent}` maps to {scheme}; the scheme must be `Bearer`"
            )),
        })
        .collect()
}

/// `x-tokenmux-presentation`: `{header: NAME, scheme: SCHEME}`, either
/// optional (`Authorization`; no scheme when a header is named). Both must
/// be RFC 9110 tokens, and the header one that carries no message framing.
fn presentation(value: &serde_json::Value) -> Result<Presentation, SpecProblem> {
    let usage = || {
        problem!(
            "{PRESENTATION} is `{{header: NAME}}` (the token alone), `{{scheme: NAME}}` \
             (`Authorization: NAME <token>`), or both"
        )
    };
    let map = value.as_object().ok_or_else(usage)?;
    if map.is_empty() || map.keys().any(|k| k != "header" && k != "scheme") {
        return Err(usage());
    }
    let text = |key: &str| -> Result<Option<String>, SpecProblem> {
        match map.get(key) {
            None => Ok(None),
            Some(value) => {
                let text = value.as_str().ok_or_else(usage)?;
                // RFC 9110 §5.6.2 tchar.
                let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                match !text.is_empty() && text.chars().all(tchar) {
                    true => Ok(Some(text.to_owned())),
                    false => Err(problem!(
                        "{PRESENTATION}: `{key}` `{text}` is not an HTTP token"
                    )),
                }
            }
        }
    };
    let header = text("header")?;
    let scheme = text("scheme")?;
    const FRAMING: [&str; 8] = [
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "upgrade",
        "te",
        "trailer",
    ];
    if let Some(header) = &header
        && FRAMING.contains(&header.to_ascii_lowercase().as_str())
    {
        return Err(problem!(
            "{PRESENTATION}: `{header}` frames the message; the token cannot go there"
        ));
    }
    Ok(Presentation {
        header: header.unwrap_or_else(|| "Authorization".to_owned()),
        scheme,
    })
}

/// The header of a success `response` marked `x-tokenmux-token` (on the
/// header or its schema): only `access_token` may be, once.
fn token_in_header(response: &openapiv3::Response) -> Result<Option<String>, SpecProblem> {
    let mut found = None;
    for (name, header) in &response.headers {
        let ReferenceOr::Item(header) = header else {
            continue;
        };
        let schema_marker = match &header.format {
            openapiv3::ParameterSchemaOrContent::Schema(ReferenceOr::Item(schema)) => {
                schema.schema_data.extensions.get(TOKEN)
            }
            _ => None,
        };
        let Some(marker) = header.extensions.get(TOKEN).or(schema_marker) else {
            continue;
        };
        if marker.as_str() != Some("access_token") {
            return Err(problem!(
                "{TOKEN} on the response header `{name}`: only `access_token` can come \
                 in a header"
            ));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(problem!(
                "the response header `{name}` is not an HTTP token"
            ));
        }
        if found.replace(name.clone()).is_some() {
            return Err(problem!(
                "{TOKEN}: one response header carries the access token"
            ));
        }
    }
    Ok(found)
}

/// `x-tokenmux-presentation`, as generated code writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    /// The header's name.
    pub header: String,
    /// The scheme before the token, if any.
    pub scheme: Option<String>,
}

/// Describes `api` (the spec as written, before lowering). Errors say what
/// is missing or wrong, for the caller to prefix with the spec's name.
pub fn describe(api: &OpenAPI) -> Result<Description, SpecProblem> {
    let components = api.components.clone().unwrap_or_default();
    let walker = Walker {
        components: &components,
    };
    let mut grants = Vec::new();
    let mut success = None;
    let mut errors = Vec::new();
    let mut error_schema = None;
    let mut max_lifetime = None;
    let mut token_types = Vec::new();
    let mut presented = None;
    let mut token_header: Option<String> = None;
    let mut success_status = None;
    let mut success_example = None;
    for (path, _method, operation) in api.operations() {
        let id = operation
            .operation_id
            .clone()
            .ok_or("every operation needs an operationId")?;
        let at = |message: SpecProblem| problem!("operation `{id}`: {message}");
        let operation_grant = match operation.extensions.get(GRANT) {
            Some(value) => Some(grant_kind(value).map_err(at)?),
            None => None,
        };
        if let Some(value) = operation.extensions.get(MAX_LIFETIME) {
            max_lifetime = Some(
                value
                    .as_u64()
                    .ok_or_else(|| at(problem!("{MAX_LIFETIME} must be a number of seconds")))?,
            );
        }
        if let Some(value) = operation.extensions.get(TOKEN_TYPES) {
            token_types = token_type_map(value).map_err(at)?;
        }
        if let Some(value) = operation.extensions.get(PRESENTATION) {
            presented = Some(presentation(value).map_err(at)?);
        }
        for grant in walker
            .grants(operation, operation_grant, &id, path)
            .map_err(at)?
        {
            grants.push(grant);
        }
        let (success_ref, success_schema) = walker.success_schema(operation).map_err(at)?;
        if success_example.is_none() {
            success_example = walker.success_example(operation);
        }
        match &success {
            None => success = Some((success_ref, success_schema)),
            Some((seen, _)) if *seen != success_ref => {
                return Err(at(
                    "every token operation must answer with one success schema".into(),
                ));
            }
            Some(_) => {}
        }
        for (code, response) in &operation.responses.responses {
            let Some(response) = walker.response(response) else {
                continue;
            };
            let status = match code {
                StatusCode::Code(code) => *code,
                StatusCode::Range(range) => range * 100,
            };
            if status >= 400 && error_schema.is_none() {
                error_schema = json_schema(response).cloned();
            }
            if (200..300).contains(&status) {
                success_status.get_or_insert(status);
                if let Some(name) = token_in_header(response).map_err(&at)? {
                    token_header = Some(name);
                }
            }
            if let Some(conditions) = response.extensions.get(ERRORS) {
                let conditions = conditions
                    .as_array()
                    .ok_or_else(|| at(problem!("{ERRORS} must be a list")))?
                    .iter()
                    .map(|c| condition(c).map_err(&at))
                    .collect::<Result<Vec<_>, _>>()?;
                let media = response.content.keys().next().cloned();
                errors.push((status, conditions, media));
            }
        }
    }
    grants.sort_by_key(|grant| grant.kind != "Primary");
    match grants.as_slice() {
        [first, ..] if first.kind == "Primary" => {}
        _ => {
            return Err("no primary grant: mark an operation or `oneOf` branch \
                         `x-tokenmux-grant: primary`, or give one operation"
                .into());
        }
    }
    if grants.iter().filter(|g| g.kind == "Refresh").count() > 1
        || grants.iter().filter(|g| g.kind == "Primary").count() > 1
    {
        return Err("one primary and at most one refresh grant".into());
    }
    let (success_ref, success_schema) = success.ok_or("no operation")?;
    let mut token = Vec::new();
    walker.markers(&success_schema, String::new(), TOKEN, &mut token, 0)?;
    let expiries = EXPIRY_FORMS.map(|(role, _)| role);
    let allowed = [
        &["access_token", "token_type", "refresh_token"][..],
        &expiries,
    ]
    .concat();
    if let Some((name, _)) = token
        .iter()
        .find(|(name, _)| !allowed.contains(&name.as_str()))
    {
        return Err(problem!(
            "{TOKEN}: `{name}` is not one of {}",
            allowed.join(", ")
        ));
    }
    let marked: Vec<&str> = token
        .iter()
        .map(|(name, _)| name.as_str())
        .filter(|name| expiries.contains(name))
        .collect();
    if marked.len() > 1 {
        return Err(problem!(
            "{TOKEN}: one expiry per token, not {}",
            marked.join(" and ")
        ));
    }
    let in_body = token.iter().any(|(name, _)| name == "access_token");
    match (in_body, &token_header) {
        (false, None) => {
            return Err(problem!(
                "the success schema marks no `{TOKEN}: access_token` property, \
                 and no response header is marked so"
            ));
        }
        (true, Some(header)) => {
            return Err(problem!(
                "the access token is marked both in the success body and in the \
                 response header `{header}`: mark one"
            ));
        }
        _ => {}
    }
    // An endpoint that sends its errors with a 2xx status (and documents
    // them there) puts the error's members in its success schema.
    if error_schema.is_none()
        && errors
            .iter()
            .any(|(status, ..)| (200..300).contains(status))
    {
        error_schema = Some(success_schema.clone());
    }
    let mut error_markers = Vec::new();
    if let Some(schema) = &error_schema {
        walker.markers(schema, String::new(), ERROR, &mut error_markers, 0)?;
    }
    let pick = |what: &str| {
        error_markers
            .iter()
            .filter(|(name, _)| name == what)
            .map(|(_, pointer)| pointer.clone())
            .collect::<Vec<_>>()
    };
    if let Some((name, _)) = error_markers
        .iter()
        .find(|(name, _)| name != "code" && name != "message")
    {
        return Err(problem!("{ERROR}: `{name}` is not `code` or `message`"));
    }
    Ok(Description {
        grants,
        success_type: type_name(&success_ref),
        token,
        token_types,
        error_code: pick("code"),
        error_message: pick("message"),
        errors,
        basic_encoding: basic_encoding(&components)?,
        success_example: success_example.map(|example| example.to_string()),
        max_lifetime,
        presentation: presented,
        token_header,
        success_status: success_status.unwrap_or(200),
        server_names: api
            .servers
            .iter()
            .map(|server| server_name(server).map(str::to_owned))
            .collect(),
    })
}

/// A server's `x-tokenmux-server` name.
pub fn server_name(server: &openapiv3::Server) -> Option<&str> {
    server.extensions.get(SERVER).and_then(Value::as_str)
}

/// The Rust name typify gives a component schema.
pub fn type_name(schema_name: &str) -> String {
    use heck::ToUpperCamelCase as _;
    schema_name.to_upper_camel_case()
}

pub(crate) fn grant_kind(value: &Value) -> Result<&'static str, SpecProblem> {
    match value.as_str() {
        Some("primary") => Ok("Primary"),
        Some("refresh") => Ok("Refresh"),
        _ => Err(problem!(
            "{GRANT} must be `primary` or `refresh`, not {value}"
        )),
    }
}

fn condition(value: &Value) -> Result<&'static str, SpecProblem> {
    Ok(match value.as_str() {
        Some("invalid_request") => "InvalidRequest",
        Some("invalid_client") => "InvalidClient",
        Some("invalid_grant") => "InvalidGrant",
        Some("unsupported_grant_type") => "UnsupportedGrantType",
        Some("invalid_scope") => "InvalidScope",
        Some("unauthorized_client") => "UnauthorizedClient",
        _ => {
            return Err(problem!(
                "{ERRORS}: {value} is not an RFC 6749 §5.2 error code \
                 (invalid_request, invalid_client, invalid_grant, unsupported_grant_type, \
                 invalid_scope, unauthorized_client)"
            ));
        }
    })
}

/// A parameter's name: what config keys and `--param` spell.
pub(crate) fn parameter_name(value: &Value) -> Result<String, SpecProblem> {
    match value.as_str() {
        Some(name)
            if !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') =>
        {
            Ok(name.to_owned())
        }
        _ => Err(problem!(
            "{PARAMETER}: {value} is not a name (letters, digits, `_`, `-`, `.`; at most 64)"
        )),
    }
}

pub(crate) fn role(value: &Value) -> Result<&'static str, SpecProblem> {
    Ok(match value.as_str() {
        Some("client_id") => "ClientId",
        Some("client_secret") => "ClientSecret",
        Some("username") => "Username",
        Some("password") => "Password",
        Some("refresh_token") => "RefreshToken",
        _ => {
            return Err(problem!(
                "{CREDENTIAL}: {value} is not client_id, client_secret, username, \
                 password or refresh_token"
            ));
        }
    })
}

fn basic_encoding(components: &Components) -> Result<&'static str, SpecProblem> {
    for scheme in components.security_schemes.values() {
        if let ReferenceOr::Item(SecurityScheme::HTTP { extensions, .. }) = scheme
            && let Some(value) = extensions.get(BASIC_ENCODING)
        {
            return match value.as_str() {
                Some("as-documented") => Ok("AsDocumented"),
                Some("rfc6749") => Ok("Rfc6749FormUrlencoded"),
                _ => Err(problem!(
                    "{BASIC_ENCODING} must be `as-documented` or `rfc6749`, not {value}"
                )),
            };
        }
    }
    Ok("AsDocumented")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;

    fn described(name: &str) -> Description {
        let root = crate::regen::workspace_root();
        let api = spec::SpecFile::new(&root.join("specs"), name)
            .load()
            .unwrap();
        describe(&api).unwrap()
    }

    fn pointer<'a>(d: &'a Description, what: &str) -> Option<&'a str> {
        d.token
            .iter()
            .find(|(name, _)| name == what)
            .map(|(_, p)| p.as_str())
    }

    #[test]
    fn nested_envelopes_become_pointers() {
        let jsonapi = described("jsonapi");
        assert_eq!(
            pointer(&jsonapi, "access_token"),
            Some("/data/attributes/access")
        );
        assert_eq!(
            jsonapi.grants[0].fields,
            vec![
                (
                    "/data/type".to_owned(),
                    FieldValue::Constant("auth-token".into())
                ),
                (
                    "/data/attributes/client_id".to_owned(),
                    FieldValue::Credential("ClientId")
                ),
                (
                    "/data/attributes/client_secret".to_owned(),
                    FieldValue::Credential("ClientSecret")
                ),
            ]
        );
        assert_eq!(jsonapi.error_code, ["/errors/0/code"]);
        let airalo = described("airalo");
        assert_eq!(pointer(&airalo, "access_token"), Some("/data/access_token"));
        assert_eq!(airalo.error_message, ["/meta/message"]);
        assert_eq!(airalo.max_lifetime, Some(86_400));
        assert_eq!(
            airalo.server_names,
            [Some("production".to_owned()), Some("sandbox".to_owned())]
        );
    }

    #[test]
    fn one_of_branches_are_grants() {
        let password = described("password");
        let kinds: Vec<_> = password.grants.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, ["Primary", "Refresh"]);
        assert_eq!(
            password.grants[1].fields,
            vec![
                (
                    "/refresh_token".to_owned(),
                    FieldValue::Credential("RefreshToken")
                ),
                (
                    "/grant_type".to_owned(),
                    FieldValue::Constant("refresh_token".into())
                ),
            ]
        );
        assert_eq!(pointer(&password, "refresh_token"), Some("/refresh_token"));
        assert_eq!(password.basic_encoding, "AsDocumented");
        assert_eq!(
            password.errors[1],
            (401, vec!["InvalidClient"], Some("application/json".into()))
        );
    }

    #[test]
    fn a_token_in_a_response_header_with_an_absolute_expiry_is_read() {
        let root = crate::regen::workspace_root();
        let api = spec::SpecFile::new(&root.join("xtask/fixtures"), "subject")
            .load()
            .unwrap();
        let subject = describe(&api).unwrap();
        assert_eq!(subject.token_header.as_deref(), Some("X-Subject-Token"));
        assert_eq!(subject.success_status, 201);
        assert_eq!(described("password").success_status, 200);
        assert_eq!(pointer(&subject, "access_token"), None);
        assert_eq!(pointer(&subject, "expires_at"), Some("/token/expires_at"));
        assert_eq!(
            subject.presentation,
            Some(Presentation {
                header: "X-Auth-Token".into(),
                scheme: None
            })
        );
        // Username, password and a parameter; no client id.
        let fields: Vec<_> = subject.grants[0]
            .fields
            .iter()
            .map(|(pointer, _)| pointer.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "/auth/user/name",
                "/auth/user/password",
                "/auth/user/domain"
            ]
        );
        // Marked twice, or a part that cannot come in a header, is refused.
        let text = std::fs::read_to_string(root.join("xtask/fixtures/subject.yaml")).unwrap();
        let both = text.replace(
            "            issued_at:\n              type: string",
            "            issued_at:\n              type: string\n              x-tokenmux-token: access_token",
        );
        let error = describe(&spec::parse("t", &both).unwrap()).unwrap_err().0;
        assert!(error.contains("marked both"), "{error}");
        let refresh = text.replace(
            "              x-tokenmux-token: access_token",
            "              x-tokenmux-token: refresh_token",
        );
        let error = describe(&spec::parse("t", &refresh).unwrap())
            .unwrap_err()
            .0;
        assert!(
            error.contains("only `access_token` can come in a header"),
            "{error}"
        );
    }

    fn fixture(name: &str) -> (Description, String) {
        let root = crate::regen::workspace_root();
        let file = spec::SpecFile::new(&root.join("xtask/fixtures"), name);
        let text = std::fs::read_to_string(&file.path).unwrap();
        (describe(&file.load().unwrap()).unwrap(), text)
    }

    fn fails(text: &str) -> String {
        describe(&spec::parse("t", text).unwrap()).unwrap_err().0
    }

    #[test]
    fn query_values_without_a_body_and_errors_sent_with_200_are_read() {
        let (query, text) = fixture("query");
        let grant = &query.grants[0];
        assert_eq!(grant.body_type, None, "a GET without a body");
        assert!(grant.fields.is_empty());
        let q = |name: &str| Place::Query(name.into());
        assert_eq!(
            grant.placed,
            vec![
                (q("app_key"), FieldValue::Credential("ClientId")),
                (q("app_secret"), FieldValue::Credential("ClientSecret")),
                (q("grant_type"), FieldValue::Constant("app_token".into())),
                (
                    q("lang"),
                    FieldValue::Parameter(Parameter {
                        name: "lang".into(),
                        required: false,
                        default: None,
                        secret: false,
                    })
                ),
            ]
        );
        assert_eq!(pointer(&query, "expires_in_ms"), Some("/data/expires_in"));
        // Its errors come with 200: their members are in the success schema.
        assert_eq!(query.errors[0].0, 200);
        assert_eq!(query.error_code, ["/error/code"]);
        assert_eq!(query.error_message, ["/error/message"]);
        // A required query value nothing fills is named.
        let unfilled = text.replace("            enum: [app_token]\n", "");
        let error = fails(&unfilled);
        assert!(
            error.contains("the required query parameter `grant_type` has nothing to fill it"),
            "{error}"
        );
        // No body and no parameters: nothing would carry a credential.
        let start = text.find("      parameters:").unwrap();
        let end = text.find("      responses:").unwrap();
        let bare = format!("{}{}", &text[..start], &text[end..]);
        let error = fails(&bare);
        assert!(error.contains("without a request body"), "{error}");
    }

    #[test]
    fn a_mid_path_segment_and_header_credentials_are_read() {
        let (installation, text) = fixture("installation");
        let grant = &installation.grants[0];
        assert_eq!(
            grant.path,
            "/app/installations/{installation_id}/access_tokens"
        );
        let places: Vec<_> = grant
            .placed
            .iter()
            .map(|(place, _)| place.clone())
            .collect();
        assert_eq!(
            places,
            [
                Place::Path("installation_id".into()),
                Place::Header("X-App-Id".into()),
                Place::Header("X-App-Key".into()),
            ]
        );
        assert!(matches!(&grant.placed[0].1, FieldValue::Parameter(p) if p.required));
        assert_eq!(installation.token.len(), 1, "no lifetime: the JWT's exp");
        assert_eq!(installation.success_status, 201);
        // A template name no parameter declares, a parameter that is not a
        // whole segment, and a header name that is not one are refused.
        let undeclared = text.replace(
            "name: installation_id\n          in: path\n          required: true\n",
            "name: other\n          in: query\n          required: false\n",
        );
        let error = fails(&undeclared);
        assert!(
            error.contains("`{installation_id}` is not declared"),
            "{error}"
        );
        let partial = text.replace("{installation_id}/access", "v{installation_id}/access");
        let error = fails(&partial);
        assert!(error.contains("must be a whole segment"), "{error}");
        let bad_header = text.replace("name: X-App-Id", "name: \"X App Id\"");
        let error = fails(&bad_header);
        assert!(error.contains("is not a header name"), "{error}");
    }

    #[test]
    fn a_credential_the_object_does_not_require_is_optional() {
        let root = crate::regen::workspace_root();
        let api = spec::SpecFile::new(&root.join("xtask/fixtures"), "consent")
            .load()
            .unwrap();
        let consent = describe(&api).unwrap();
        let kinds: Vec<_> = consent.grants.iter().map(|g| g.kind).collect();
        assert_eq!(kinds, ["Primary"]);
        assert_eq!(
            consent.grants[0].fields,
            vec![
                (
                    "/grant_type".to_owned(),
                    FieldValue::Constant("refresh_token".into())
                ),
                (
                    "/refresh_token".to_owned(),
                    FieldValue::Credential("RefreshToken")
                ),
                ("/client_id".to_owned(), FieldValue::Credential("ClientId")),
                (
                    "/client_secret".to_owned(),
                    FieldValue::OptionalCredential("ClientSecret")
                ),
            ]
        );
    }

    #[test]
    fn parameters_are_read_with_their_requirement_default_and_secrecy() {
        let root = crate::regen::workspace_root();
        let api = spec::SpecFile::new(&root.join("xtask/fixtures"), "scoped")
            .load()
            .unwrap();
        let scoped = describe(&api).unwrap();
        let parameters: Vec<_> = scoped.grants[0]
            .fields
            .iter()
            .filter_map(|(pointer, value)| match value {
                FieldValue::Parameter(p) => Some((pointer.as_str(), p.clone())),
                _ => None,
            })
            .collect();
        let parameter = |name: &str, required, default: Option<&str>, secret| Parameter {
            name: name.into(),
            required,
            default: default.map(Into::into),
            secret,
        };
        assert_eq!(
            parameters,
            [
                ("/scope", parameter("scope", true, None, false)),
                ("/audience", parameter("audience", false, None, false)),
                ("/tenant_key", parameter("tenant_key", false, None, true)),
                ("/region", parameter("region", false, Some("eu"), false)),
            ]
        );
    }

    #[test]
    fn a_bad_parameter_marker_is_named() {
        let error = error_for(|t| {
            t.replace(
                "x-tokenmux-credential: username",
                "x-tokenmux-parameter: \"user name\"",
            )
        });
        assert!(error.contains("\"user name\" is not a name"), "{error}");
        let error = error_for(|t| {
            t.replace(
                "x-tokenmux-credential: username",
                "x-tokenmux-parameter: user\n          default: 5",
            )
        });
        assert!(error.contains("its default 5 is not a string"), "{error}");
    }

    #[test]
    fn a_required_request_property_nothing_fills_is_named() {
        let error = error_for(|t| t.replace("x-tokenmux-credential: username", "x-note: none"));
        assert!(
            error.contains("required property `/username` has nothing to fill it"),
            "{error}"
        );
        assert!(error.contains("x-tokenmux-parameter: NAME"), "{error}");
        // The fixtures new-provider-check adds still pass the rule.
        let root = crate::regen::workspace_root();
        for name in ["acme", "scoped"] {
            let api = spec::SpecFile::new(&root.join("xtask/fixtures"), name)
                .load()
                .unwrap();
            describe(&api).unwrap_or_else(|e| panic!("{name}: {}", e.0));
        }
    }

    #[test]
    fn a_presentation_is_read_and_a_header_that_cannot_carry_a_token_refused() {
        fn with(value: &str) -> impl Fn(String) -> String + '_ {
            move |t: String| {
                t.replace(
                    "operationId: oauthToken",
                    &format!("operationId: oauthToken\n      x-tokenmux-presentation: {value}"),
                )
            }
        }
        let root = crate::regen::workspace_root();
        let text = std::fs::read_to_string(root.join("specs/password.yaml")).unwrap();
        let read = |value: &str| {
            describe(&spec::parse("t", &with(value)(text.clone())).unwrap())
                .unwrap()
                .presentation
        };
        assert_eq!(
            read("{header: X-Auth-Token}").unwrap().header,
            "X-Auth-Token"
        );
        assert_eq!(read("{header: X-Auth-Token}").unwrap().scheme, None);
        let zoho = read("{scheme: Zoho-oauthtoken}").unwrap();
        assert_eq!(
            (zoho.header.as_str(), zoho.scheme.as_deref()),
            ("Authorization", Some("Zoho-oauthtoken"))
        );
        assert_eq!(
            describe(&spec::parse("t", &text).unwrap())
                .unwrap()
                .presentation,
            None
        );
        for (value, says) in [
            ("{header: Content-Length}", "frames the message"),
            ("{header: \"X Auth\"}", "is not an HTTP token"),
            ("{scheme: \"\"}", "is not an HTTP token"),
            ("{header: X-Auth-Token, prefix: T}", "is `{header: NAME}`"),
            ("Bearer", "is `{header: NAME}`"),
        ] {
            let error = error_for(with(value));
            assert!(error.contains(says), "{value}: {error}");
        }
    }

    #[test]
    fn expiry_forms_and_token_types_are_read_and_checked() {
        let root = crate::regen::workspace_root();
        let text = std::fs::read_to_string(root.join("specs/password.yaml")).unwrap();
        let edited = text
            .replace("x-tokenmux-token: expires_in", "x-tokenmux-token: expires_at_ms")
            .replace(
                "operationId: oauthToken",
                "operationId: oauthToken\n      x-tokenmux-token-types: {\"Application Access Token\": bearer}",
            );
        let description = describe(&spec::parse("t", &edited).unwrap()).unwrap();
        assert!(
            description
                .token
                .contains(&("expires_at_ms".into(), "/expires_in".into()))
        );
        assert_eq!(
            description.token_types,
            [("Application Access Token".into(), "Bearer".into())]
        );
        let error = error_for(|t| {
            t.replace(
                "x-tokenmux-token: token_type",
                "x-tokenmux-token: expires_at",
            )
        });
        assert!(
            error.contains("one expiry per token, not expires_at and expires_in"),
            "{error}"
        );
        let error = error_for(|t| {
            t.replace(
                "x-tokenmux-token: expires_in",
                "x-tokenmux-token: expires_on",
            )
        });
        assert!(
            error.contains("expires_in_ms, expires_at, expires_at_ms"),
            "{error}"
        );
        let error = error_for(|t| {
            t.replace(
                "operationId: oauthToken",
                "operationId: oauthToken\n      x-tokenmux-token-types: {MAC: mac}",
            )
        });
        assert!(error.contains("`MAC` maps to \"mac\""), "{error}");
    }

    fn error_for(edit: impl Fn(String) -> String) -> String {
        let root = crate::regen::workspace_root();
        let text = std::fs::read_to_string(root.join("specs/password.yaml")).unwrap();
        let edited = edit(text.clone());
        assert_ne!(edited, text, "the edit applies");
        describe(&spec::parse("t", &edited).unwrap()).unwrap_err().0
    }

    #[test]
    fn a_missing_or_wrong_marker_is_named() {
        let error = error_for(|t| t.replace("x-tokenmux-token: access_token", "x-note: none"));
        assert!(
            error.contains("marks no `x-tokenmux-token: access_token`"),
            "{error}"
        );
        let error = error_for(|t| {
            t.replace(
                "x-tokenmux-credential: username",
                "x-tokenmux-credential: user",
            )
        });
        assert!(error.contains("\"user\" is not client_id"), "{error}");
        let error = error_for(|t| t.replace("      x-tokenmux-grant: refresh\n", ""));
        assert!(error.contains("every `oneOf` branch"), "{error}");
        let error = error_for(|t| {
            t.replace(
                "x-tokenmux-errors: [invalid_client]",
                "x-tokenmux-errors: [nope]",
            )
        });
        assert!(error.contains("not an RFC 6749"), "{error}");
    }
}
