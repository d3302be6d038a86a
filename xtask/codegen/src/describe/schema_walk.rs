//! Walks a spec's schemas through `$ref`s, nested objects, arrays and
//! `oneOf` branches, collecting the `x-tokenmux-…` markers and constants
//! that [`describe`](super::describe) assembles.

use crate::{SpecProblem, problem};
use openapiv3::{
    Components, MediaType, Operation, ReferenceOr, Response, Schema, SchemaKind, StatusCode, Type,
};
use serde_json::Value;

use super::{
    ASSERTION, CREDENTIAL, FieldValue, GRANT, GrantDesc, PARAMETER, Parameter, grant_kind,
    parameter_name, role, type_name,
};

/// The response's JSON media type (`application/json` or `…+json`), or a
/// url-encoded form, which the response hook reads as flat JSON.
fn json_media(response: &Response) -> Option<&MediaType> {
    response
        .content
        .iter()
        .find(|(media, _)| {
            media.contains("json")
                || media
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
        })
        .map(|(_, media)| media)
}

pub(crate) fn json_schema(response: &Response) -> Option<&ReferenceOr<Schema>> {
    json_media(response).and_then(|media| media.schema.as_ref())
}

pub(crate) struct Walker<'a> {
    pub(crate) components: &'a Components,
}

impl Walker<'_> {
    pub(crate) fn schema<'s>(
        &'s self,
        schema: &'s ReferenceOr<Schema>,
    ) -> Result<&'s Schema, SpecProblem> {
        match schema {
            ReferenceOr::Item(schema) => Ok(schema),
            ReferenceOr::Reference { reference } => reference
                .strip_prefix("#/components/schemas/")
                .and_then(|name| self.components.schemas.get(name))
                .ok_or_else(|| problem!("{reference} cannot be resolved"))
                .and_then(|schema| self.schema(schema)),
        }
    }

    pub(crate) fn boxed<'s>(
        &'s self,
        schema: &'s ReferenceOr<Box<Schema>>,
    ) -> Result<&'s Schema, SpecProblem> {
        match schema {
            ReferenceOr::Item(schema) => Ok(schema),
            ReferenceOr::Reference { reference } => self.schema_ref(reference),
        }
    }

    pub(crate) fn schema_ref(&self, reference: &str) -> Result<&Schema, SpecProblem> {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| problem!("{reference} cannot be resolved"))?;
        let schema = self
            .components
            .schemas
            .get(name)
            .ok_or_else(|| problem!("{reference} cannot be resolved"))?;
        self.schema(schema)
    }

    pub(crate) fn response<'s>(
        &'s self,
        response: &'s ReferenceOr<Response>,
    ) -> Option<&'s Response> {
        match response {
            ReferenceOr::Item(response) => Some(response),
            ReferenceOr::Reference { reference } => reference
                .strip_prefix("#/components/responses/")
                .and_then(|name| self.components.responses.get(name))
                .and_then(ReferenceOr::as_item),
        }
    }

    /// The grants of one operation: one, or one per `oneOf` branch.
    pub(crate) fn grants(
        &self,
        operation: &Operation,
        operation_grant: Option<&'static str>,
        id: &str,
        path: &str,
    ) -> Result<Vec<GrantDesc>, SpecProblem> {
        let placed = self.placed(operation, path)?;
        let desc = |kind, body_type: Option<String>, fields| GrantDesc {
            kind,
            path: path.to_owned(),
            operation_id: id.to_owned(),
            body_type,
            fields,
            placed: placed.clone(),
        };
        let body = match &operation.request_body {
            Some(ReferenceOr::Item(body)) => body,
            Some(ReferenceOr::Reference { reference }) => reference
                .strip_prefix("#/components/requestBodies/")
                .and_then(|name| self.components.request_bodies.get(name))
                .and_then(ReferenceOr::as_item)
                .ok_or_else(|| problem!("{reference} cannot be resolved"))?,
            // Every value in the query string, headers or the path.
            None if placed.is_empty() => {
                return Err("a token operation without a request body must take its \
                            values as query, header or path parameters"
                    .into());
            }
            None => {
                return Ok(vec![desc(
                    operation_grant.unwrap_or("Primary"),
                    None,
                    vec![],
                )]);
            }
        };
        let media = body
            .content
            .values()
            .next()
            .ok_or("the body has no media type")?;
        let Some(ReferenceOr::Reference { reference }) = &media.schema else {
            return Err("the request body's schema must be a `$ref` to a component \
                        schema (its name becomes the Rust type)"
                .into());
        };
        let body_type = type_name(reference.rsplit('/').next().unwrap_or_default());
        let schema = self.schema_ref(reference)?;
        let grant = |kind, schema: &Schema| -> Result<GrantDesc, SpecProblem> {
            let mut fields = Vec::new();
            self.request_fields(schema, String::new(), &mut fields, 0)?;
            Ok(desc(kind, Some(body_type.clone()), fields))
        };
        match &schema.schema_kind {
            SchemaKind::OneOf { one_of } => one_of
                .iter()
                .map(|branch| {
                    let branch = self.schema(branch)?;
                    let kind = match branch.schema_data.extensions.get(GRANT) {
                        Some(value) => grant_kind(value)?,
                        None => {
                            return Err(problem!(
                                "every `oneOf` branch of the request body needs `{GRANT}`"
                            ));
                        }
                    };
                    grant(kind, branch)
                })
                .collect(),
            _ => Ok(vec![grant(operation_grant.unwrap_or("Primary"), schema)?]),
        }
    }

    pub(crate) fn request_fields(
        &self,
        schema: &Schema,
        pointer: String,
        out: &mut Vec<(String, FieldValue)>,
        depth: usize,
    ) -> Result<(), SpecProblem> {
        if depth > 16 {
            return Err("the request schema nests too deep (a `$ref` cycle?)".into());
        }
        let SchemaKind::Type(Type::Object(object)) = &schema.schema_kind else {
            return Ok(());
        };
        for (name, property) in &object.properties {
            let here = format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
            let marker = property_extension(property, CREDENTIAL);
            let property = self.boxed(property)?;
            let credential = marker.or_else(|| property.schema_data.extensions.get(CREDENTIAL));
            let parameter = property.schema_data.extensions.get(PARAMETER);
            let required = object.required.contains(name);
            if let Some(marker) = property.schema_data.extensions.get(ASSERTION) {
                if credential.is_some() || parameter.is_some() {
                    return Err(problem!(
                        "`{here}` is marked {ASSERTION} and also {CREDENTIAL} or {PARAMETER}; \
                         give one"
                    ));
                }
                let assertion = super::assertion::assertion(&here, marker, property)?;
                out.push((here, FieldValue::Assertion(assertion)));
                continue;
            }
            if credential.is_none()
                && parameter.is_none()
                && matches!(property.schema_kind, SchemaKind::Type(Type::Object(_)))
            {
                self.request_fields(property, here, out, depth + 1)?;
                continue;
            }
            let marked = Marked {
                name,
                credential,
                parameter,
                schema: property,
                required,
            };
            // Required, yet nothing would fill it: every request would be
            // refused at run time, so refuse the spec now.
            let what = format!("the request body's required property `{here}`");
            if let Some(value) = marked.field_value(&what)? {
                out.push((here, value));
            }
        }
        Ok(())
    }

    /// The success schema's `$ref` name and the schema.
    /// The operation's first documented 2xx response.
    fn success_response<'s>(&'s self, operation: &'s Operation) -> Option<&'s Response> {
        operation
            .responses
            .responses
            .iter()
            .filter(|(code, _)| matches!(code, StatusCode::Code(200..=299)))
            .find_map(|(_, response)| self.response(response))
    }

    pub(crate) fn success_schema(
        &self,
        operation: &Operation,
    ) -> Result<(String, ReferenceOr<Schema>), SpecProblem> {
        let response = self
            .success_response(operation)
            .ok_or("no documented 2xx response")?;
        match json_schema(response) {
            Some(ReferenceOr::Reference { reference }) => Ok((
                reference.rsplit('/').next().unwrap_or_default().to_owned(),
                ReferenceOr::Reference {
                    reference: reference.clone(),
                },
            )),
            _ => Err("the success response's JSON schema must be a `$ref` to a \
                      component schema"
                .into()),
        }
    }

    /// The example of the success response: `example`, else the first of `examples`.
    pub(crate) fn success_example(&self, operation: &Operation) -> Option<Value> {
        let media = json_media(self.success_response(operation)?)?;
        media.example.clone().or_else(|| {
            media
                .examples
                .values()
                .find_map(|example| example.as_item()?.value.clone())
        })
    }

    /// Every `marker` in a schema, as (value, JSON pointer); arrays are
    /// entered at their first item.
    pub(crate) fn markers(
        &self,
        schema: &ReferenceOr<Schema>,
        pointer: String,
        marker: &str,
        out: &mut Vec<(String, String)>,
        depth: usize,
    ) -> Result<(), SpecProblem> {
        if depth > 16 {
            return Err("the response schema nests too deep (a `$ref` cycle?)".into());
        }
        let schema = self.schema(schema)?;
        match &schema.schema_kind {
            SchemaKind::Type(Type::Object(object)) => {
                for (name, property) in &object.properties {
                    let here = format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
                    let found = property_extension(property, marker)
                        .or_else(|| {
                            self.boxed(property)
                                .ok()
                                .and_then(|s| s.schema_data.extensions.get(marker))
                        })
                        .cloned();
                    if let Some(value) = found {
                        let name = value
                            .as_str()
                            .ok_or_else(|| problem!("{marker} must be a string, not {value}"))?;
                        out.push((name.to_owned(), here));
                        continue;
                    }
                    let inner = unbox(property);
                    self.markers(&inner, here, marker, out, depth + 1)?;
                }
            }
            SchemaKind::Type(Type::Array(array)) => {
                if let Some(items) = &array.items {
                    self.markers(
                        &unbox(items),
                        format!("{pointer}/0"),
                        marker,
                        out,
                        depth + 1,
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn property_extension<'a>(property: &'a ReferenceOr<Box<Schema>>, name: &str) -> Option<&'a Value> {
    match property {
        ReferenceOr::Item(schema) => schema.schema_data.extensions.get(name),
        ReferenceOr::Reference { .. } => None,
    }
}

/// One request value and its markers, wherever it goes: a body property
/// or a query, header or path parameter.
pub(crate) struct Marked<'a> {
    /// Its name.
    pub(crate) name: &'a str,
    /// Its `x-tokenmux-credential`.
    pub(crate) credential: Option<&'a Value>,
    /// Its `x-tokenmux-parameter`.
    pub(crate) parameter: Option<&'a Value>,
    /// Its schema.
    pub(crate) schema: &'a Schema,
    /// Whether the request requires it.
    pub(crate) required: bool,
}

impl Marked<'_> {
    /// What fills it: a credential, a parameter or a single-value enum's
    /// constant; `None` when nothing does and nothing needs to. A required
    /// value nothing fills is refused, named by `what`.
    pub(crate) fn field_value(&self, what: &str) -> Result<Option<FieldValue>, SpecProblem> {
        if let Some(value) = self.credential {
            let role = role(value)?;
            return Ok(Some(match self.required {
                true => FieldValue::Credential(role),
                false => FieldValue::OptionalCredential(role),
            }));
        }
        if let Some(marker) = self.parameter {
            let parameter = parameter(self.name, marker, self.schema, self.required)?;
            return Ok(Some(FieldValue::Parameter(parameter)));
        }
        match &self.schema.schema_kind {
            SchemaKind::Type(Type::String(string))
                if self.required && string.enumeration.len() == 1 =>
            {
                Ok(string.enumeration[0].clone().map(FieldValue::Constant))
            }
            _ if self.required && self.schema.schema_data.default.is_none() => Err(problem!(
                "{what} has nothing to fill it: mark it `x-tokenmux-parameter: NAME` \
                 (a value each source gives), `x-tokenmux-credential: ROLE`, give it a \
                 `default`, or make it a constant with a single-value `enum`"
            )),
            _ => Ok(None),
        }
    }
}

/// The parameter a property marked `x-tokenmux-parameter` is: required
/// when the object requires it and gives no `default`; secret when it is
/// `format: password`.
fn parameter(
    property_name: &str,
    marker: &Value,
    property: &Schema,
    required: bool,
) -> Result<Parameter, SpecProblem> {
    let name = parameter_name(marker)?;
    let SchemaKind::Type(Type::String(string)) = &property.schema_kind else {
        return Err(problem!(
            "{PARAMETER} `{name}`: `{property_name}` must be a string"
        ));
    };
    let default = match &property.schema_data.default {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            return Err(problem!(
                "{PARAMETER} `{name}`: its default {other} is not a string"
            ));
        }
    };
    let secret = matches!(
        &string.format,
        openapiv3::VariantOrUnknownOrEmpty::Unknown(format) if format == "password"
    ) || matches!(
        &string.format,
        openapiv3::VariantOrUnknownOrEmpty::Item(openapiv3::StringFormat::Password)
    );
    Ok(Parameter {
        required: required && default.is_none(),
        name,
        default,
        secret,
    })
}

fn unbox(schema: &ReferenceOr<Box<Schema>>) -> ReferenceOr<Schema> {
    match schema {
        ReferenceOr::Item(schema) => ReferenceOr::Item((**schema).clone()),
        ReferenceOr::Reference { reference } => ReferenceOr::Reference {
            reference: reference.clone(),
        },
    }
}
