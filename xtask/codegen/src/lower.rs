//! The lowering pass: rewrites, in memory, what progenitor cannot express into
//! what it can, and records the documented wire format so the generated
//! client can restore it on each request. The spec on disk is not touched.
//!
//! | documented                      | lowered for progenitor              | restored by the hook        |
//! |---------------------------------|-------------------------------------|-----------------------------|
//! | `multipart/form-data` body      | `application/x-www-form-urlencoded` | real multipart body         |
//! | `application/*+json` body/resp. | `application/json`                  | exact Content-Type / Accept |
//! | url-encoded form response       | `application/json`, scalars as strings | the form read as a JSON object |
//! | HTTP Basic security scheme      | (progenitor ignores security)       | `Authorization: Basic …`    |
//! | `Accept`/`Content-Type`/`Authorization` header parameters | removed (OAS 3.0 says they are ignored) | from the media types |
//! | query, header and path parameters | removed; `{name}` becomes the segment `tokenmux-path-name` | the values, from the spec's markers |
//!
//! It also rejects, with the operation named, the inputs on which progenitor
//! would panic: several request media types, an `encoding` map, and error
//! (or success) responses with different body types.

use std::collections::BTreeSet;

use openapiv3::{
    Components, MediaType, OpenAPI, Operation, PathItem, ReferenceOr, RequestBody, Response,
    Schema, SchemaKind, StatusCode, Type,
};

use crate::GenError;
use crate::{SpecProblem, problem};

// A form answer's schema, read as JSON strings.
mod client_auth;
mod form_answer;
pub use client_auth::{Audience, ClientAuthRecord};
use form_answer::{scalars_as_strings, success_schema_name};

/// How a request body is encoded on the wire (mirrors `tokenmux_wire::BodyEncoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// JSON, possibly under a vendor media type.
    Json,
    /// `application/x-www-form-urlencoded`.
    FormUrlencoded,
    /// `multipart/form-data`.
    Multipart,
}

/// The documented wire format of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireRecord {
    /// The operation's `operationId`.
    pub operation_id: String,
    /// The HTTP method, upper case.
    pub http_method: String,
    /// Request body encoding.
    pub body: Body,
    /// Documented request media type.
    pub content_type: Option<String>,
    /// Documented response media type, sent as `Accept`.
    pub accept: Option<String>,
    /// How the success body is encoded: `Json`, or `FormUrlencoded`.
    pub response: Body,
    /// The client authentication the security requirement asks for.
    pub client_auth: ClientAuthRecord,
}

/// One entry of the spec's `servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRecord {
    /// URL, possibly with `{variables}`.
    pub url: String,
    /// Description.
    pub description: Option<String>,
}

/// A spec ready for progenitor, and what was recorded while lowering it.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The lowered spec.
    pub api: OpenAPI,
    /// One record per operation, in spec order.
    pub operations: Vec<WireRecord>,
    /// The servers, in spec order.
    pub servers: Vec<ServerRecord>,
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";
const MULTIPART: &str = "multipart/form-data";

/// Lowers `api`; `spec` names the file in errors.
pub fn lower(spec: &str, mut api: OpenAPI) -> Result<Lowered, GenError> {
    let components = api.components.clone().unwrap_or_default();
    let global_security = api.security.clone();
    let mut operations = Vec::new();
    let mut form_schemas = Vec::new();
    for (path, item) in api.paths.paths.iter_mut() {
        let ReferenceOr::Item(item) = item else {
            return Err(GenError::Unsupported {
                spec: spec.to_owned(),
                operation: path.clone(),
                message: "path items given by $ref are not supported".into(),
            });
        };
        for (method, operation) in operations_mut(item) {
            let id = operation
                .operation_id
                .clone()
                .ok_or_else(|| GenError::Unsupported {
                    spec: spec.to_owned(),
                    operation: format!("{} {path}", method.to_uppercase()),
                    message: "every operation needs an operationId".into(),
                })?;
            let fail = |problem: SpecProblem| GenError::Unsupported {
                spec: spec.to_owned(),
                operation: id.clone(),
                message: problem.0,
            };
            let security = operation.security.as_ref().or(global_security.as_ref());
            let client_auth = client_auth::client_auth(security, &components).map_err(fail)?;
            operation.security = None;
            // The glue cannot call progenitor's per-parameter builder
            // methods by name: the hook places the values (see describe).
            operation.parameters.clear();
            let (body, content_type) = lower_request_body(operation, &components).map_err(fail)?;
            let accept = lower_responses(operation, &components).map_err(fail)?;
            let response = match accept.as_deref().map(essence).as_deref() {
                Some(FORM) => {
                    form_schemas.extend(success_schema_name(operation));
                    Body::FormUrlencoded
                }
                _ => Body::Json,
            };
            operations.push(WireRecord {
                operation_id: id,
                http_method: method.to_uppercase(),
                body,
                content_type,
                accept,
                response,
                client_auth,
            });
        }
    }
    api.security = None;
    item_paths_without_templates(&mut api);
    if let Some(components) = api.components.as_mut() {
        for name in form_schemas {
            if let Some(ReferenceOr::Item(schema)) = components.schemas.get_mut(&name) {
                scalars_as_strings(schema);
            }
        }
    }
    strip_tokenmux_extensions(&mut api);
    let servers = api
        .servers
        .iter()
        .map(|server| ServerRecord {
            url: server.url.clone(),
            description: server.description.clone(),
        })
        .collect();
    Ok(Lowered {
        api,
        operations,
        servers,
    })
}

/// The `x-tokenmux-…` extensions are for the glue (see `describe`);
/// progenitor must not see them: a `format: password` schema with one no
/// longer matches the conversion to `Secret`.
fn strip_tokenmux_extensions(api: &mut OpenAPI) {
    fn schema(item: &mut Schema) {
        item.schema_data
            .extensions
            .retain(|key, _| !key.starts_with("x-tokenmux-"));
        let boxed = |s: &mut ReferenceOr<Box<Schema>>| {
            if let ReferenceOr::Item(s) = s {
                schema(s);
            }
        };
        let plain = |s: &mut ReferenceOr<Schema>| {
            if let ReferenceOr::Item(s) = s {
                schema(s);
            }
        };
        match &mut item.schema_kind {
            SchemaKind::Type(Type::Object(object)) => {
                object.properties.values_mut().for_each(boxed);
            }
            SchemaKind::Type(Type::Array(array)) => {
                array.items.iter_mut().for_each(boxed);
            }
            SchemaKind::OneOf { one_of: all }
            | SchemaKind::AllOf { all_of: all }
            | SchemaKind::AnyOf { any_of: all } => all.iter_mut().for_each(plain),
            _ => {}
        }
    }
    if let Some(components) = &mut api.components {
        for item in components.schemas.values_mut() {
            if let ReferenceOr::Item(item) = item {
                schema(item);
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// Each `{name}` segment of a path becomes the literal segment the
/// request hook replaces (`tokenmux_wire::path_placeholder`): progenitor
/// would otherwise want a builder argument for it.
fn item_paths_without_templates(api: &mut OpenAPI) {
    let paths = std::mem::take(&mut api.paths.paths);
    api.paths.paths = paths
        .into_iter()
        .map(|(path, item)| {
            let lowered = path
                .split('/')
                .map(
                    |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => format!("tokenmux-path-{name}"),
                        None => segment.to_owned(),
                    },
                )
                .collect::<Vec<_>>()
                .join("/");
            (lowered, item)
        })
        .collect();
}

fn lower_request_body(
    operation: &mut Operation,
    components: &Components,
) -> Result<(Body, Option<String>), SpecProblem> {
    let Some(body) = operation.request_body.as_mut() else {
        return Ok((Body::None, None));
    };
    // Inline a referenced body so that it can be lowered for this operation alone.
    if let ReferenceOr::Reference { reference } = body {
        let resolved = reference
            .strip_prefix("#/components/requestBodies/")
            .and_then(|name| components.request_bodies.get(name))
            .and_then(ReferenceOr::as_item)
            .ok_or_else(|| problem!("request body {reference} cannot be resolved"))?;
        *body = ReferenceOr::Item(resolved.clone());
    }
    let ReferenceOr::Item(RequestBody { content, .. }) = body else {
        return Ok((Body::None, None));
    };
    if content.len() > 1 {
        let types: Vec<_> = content.keys().map(String::as_str).collect();
        return Err(problem!(
            "the request body has {} media types ({}); the generator supports one",
            content.len(),
            types.join(", ")
        ));
    }
    let Some((media, mut media_type)) = content.pop() else {
        return Ok((Body::None, None));
    };
    if !media_type.encoding.is_empty() {
        return Err(problem!(
            "the `{media}` request body has an `encoding` map, which is not supported"
        ));
    }
    let essence = essence(&media);
    let (body, lowered_media) = if essence == JSON || is_json_suffix(&essence) {
        (Body::Json, JSON)
    } else if essence == FORM {
        (Body::FormUrlencoded, FORM)
    } else if essence == MULTIPART {
        // Text fields only: progenitor serialises them as a form, and the
        // hook turns the form into multipart parts.
        media_type.encoding.clear();
        (Body::Multipart, FORM)
    } else {
        return Err(problem!("request media type `{media}` is not supported"));
    };
    content.insert(lowered_media.to_owned(), media_type);
    Ok((body, Some(media)))
}

/// Lowers `*+json` responses to `application/json` (the only type progenitor
/// decodes) and returns the documented success media type for `Accept`.
fn lower_responses(
    operation: &mut Operation,
    components: &Components,
) -> Result<Option<String>, SpecProblem> {
    let mut accept = None;
    let mut success_bodies = BTreeSet::new();
    let mut error_bodies = BTreeSet::new();
    let default = operation.responses.default.as_mut().map(|r| (None, r));
    let coded = operation
        .responses
        .responses
        .iter_mut()
        .map(|(code, r)| (Some(code.clone()), r));
    for (code, response) in default.into_iter().chain(coded) {
        if let ReferenceOr::Reference { reference } = response {
            let resolved = reference
                .strip_prefix("#/components/responses/")
                .and_then(|name| components.responses.get(name))
                .and_then(ReferenceOr::as_item)
                .ok_or_else(|| problem!("response {reference} cannot be resolved"))?;
            *response = ReferenceOr::Item(resolved.clone());
        }
        let ReferenceOr::Item(response) = response else {
            continue;
        };
        let is_success = match &code {
            Some(StatusCode::Code(c)) => (100..400).contains(c),
            Some(StatusCode::Range(r)) => *r < 4,
            None => true,
        };
        let label = code
            .as_ref()
            .map_or("default".to_owned(), |c| c.to_string());
        let documented = lower_response_content(response);
        if is_success && accept.is_none() {
            accept = documented;
        }
        let bodies = if is_success {
            &mut success_bodies
        } else {
            &mut error_bodies
        };
        bodies.insert((body_kind(response), label));
    }
    for (kind, bodies) in [("success", &success_bodies), ("error", &error_bodies)] {
        let distinct: BTreeSet<_> = bodies.iter().map(|(body, _)| body).collect();
        if distinct.len() > 1 {
            let listed: Vec<_> = bodies
                .iter()
                .map(|(body, status)| format!("{status}: {body}"))
                .collect();
            return Err(problem!(
                "its {kind} responses have different bodies ({}); progenitor needs one \
                 {kind} type: give them all the same `$ref` schema",
                listed.join("; ")
            ));
        }
    }
    Ok(accept)
}

/// Renames a `*+json` (or url-encoded form) media type to
/// `application/json`; returns the documented media type of the response,
/// if any.
fn lower_response_content(response: &mut Response) -> Option<String> {
    let documented = response
        .content
        .keys()
        .find(|media| {
            let essence = essence(media);
            essence == JSON || is_json_suffix(&essence) || essence == FORM
        })
        .cloned()?;
    if !response.content.contains_key(JSON)
        && let Some(media_type) = response.content.shift_remove(&documented)
    {
        response.content.insert(JSON.to_owned(), media_type);
    }
    Some(documented)
}

/// What progenitor will make of a response body: its type identity.
fn body_kind(response: &Response) -> String {
    match response.content.get(JSON) {
        Some(MediaType {
            schema: Some(ReferenceOr::Reference { reference }),
            ..
        }) => format!("schema {reference}"),
        Some(MediaType {
            schema: Some(ReferenceOr::Item(schema)),
            ..
        }) => format!(
            "inline schema {}",
            serde_json::to_string(schema).unwrap_or_default()
        ),
        Some(_) => "JSON without a schema".to_owned(),
        None if response.content.is_empty() => "no body".to_owned(),
        None => "a non-JSON body".to_owned(),
    }
}

/// The media type without parameters, lowercased.
fn essence(media: &str) -> String {
    media
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn is_json_suffix(essence: &str) -> bool {
    essence.starts_with("application/") && essence.ends_with("+json")
}

#[cfg(test)]
mod tests;
