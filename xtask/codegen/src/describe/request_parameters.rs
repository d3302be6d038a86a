//! The values of a token request that go outside its body: the operation's
//! `in: query`, `in: header` and `in: path` parameters, each filled the way
//! a body property is (a credential, a parameter, a constant).

use openapiv3::{Operation, Parameter, ParameterSchemaOrContent, ReferenceOr, Schema};
use serde_json::Value;

use super::schema_walk::{Marked, Walker};
use super::{ASSERTION, CREDENTIAL, FieldValue, PARAMETER, Place};
use crate::{SpecProblem, problem};

/// Headers the wire format sets itself; OpenAPI 3.0 says a parameter
/// naming one is ignored (and lowering removes it).
const RESERVED_HEADERS: [&str; 3] = ["accept", "content-type", "authorization"];

impl Walker<'_> {
    /// Each query, header and path parameter of `operation` that something
    /// fills, with what fills it; `path` is the operation's path template.
    pub(crate) fn placed(
        &self,
        operation: &Operation,
        path: &str,
    ) -> Result<Vec<(Place, FieldValue)>, SpecProblem> {
        let mut placed = Vec::new();
        let mut in_path = Vec::new();
        for parameter in &operation.parameters {
            let parameter = match parameter {
                ReferenceOr::Item(parameter) => parameter,
                ReferenceOr::Reference { reference } => reference
                    .strip_prefix("#/components/parameters/")
                    .and_then(|name| self.components.parameters.get(name))
                    .and_then(ReferenceOr::as_item)
                    .ok_or_else(|| problem!("{reference} cannot be resolved"))?,
            };
            let data = parameter.parameter_data_ref();
            let name = data.name.as_str();
            let place = match parameter {
                Parameter::Query { .. } => Place::Query(name.to_owned()),
                Parameter::Header { .. } => {
                    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                        continue;
                    }
                    if !is_token(name) {
                        return Err(problem!(
                            "the header parameter `{name}` is not a header name"
                        ));
                    }
                    Place::Header(name.to_owned())
                }
                Parameter::Path { .. } => {
                    in_path.push(name);
                    path_parameter(name, path)?;
                    Place::Path(name.to_owned())
                }
                Parameter::Cookie { .. } if data.required => {
                    return Err(problem!(
                        "the cookie parameter `{name}` is required; cookies are not supported"
                    ));
                }
                Parameter::Cookie { .. } => continue,
            };
            let what = format!("the required {} parameter `{name}`", kind(&place));
            let ParameterSchemaOrContent::Schema(schema) = &data.format else {
                match data.required {
                    true => return Err(problem!("{what} has `content`; give it a `schema`")),
                    false => continue,
                }
            };
            let schema: &Schema = self.schema(schema)?;
            let marker = |key: &str| {
                data.extensions
                    .get(key)
                    .or_else(|| schema.schema_data.extensions.get(key))
            };
            if marker(ASSERTION).is_some() {
                return Err(problem!(
                    "{ASSERTION} on {what}: the assertion goes in the request body"
                ));
            }
            let marked = Marked {
                name,
                credential: marker(CREDENTIAL),
                parameter: marker(PARAMETER),
                schema,
                required: data.required,
            };
            let value = match (marked.field_value(&what)?, &schema.schema_data.default) {
                (Some(value), _) => value,
                // Nothing sends a lowered parameter's default but tokenmux.
                (None, Some(default)) if data.required => FieldValue::Constant(match default {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                }),
                (None, _) => continue,
            };
            placed.push((place, value));
        }
        if let Some(undeclared) = template_names(path).find(|name| !in_path.contains(name)) {
            return Err(problem!(
                "the path's `{{{undeclared}}}` is not declared as an `in: path` parameter"
            ));
        }
        Ok(placed)
    }
}

fn kind(place: &Place) -> &'static str {
    match place {
        Place::Query(_) => "query",
        Place::Header(_) => "header",
        Place::Path(_) => "path",
    }
}

/// A path parameter must be a whole segment of the path (the request hook
/// replaces a segment), with a name that can stand in a URL as it is.
fn path_parameter(name: &str, path: &str) -> Result<(), SpecProblem> {
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !safe {
        return Err(problem!(
            "the path parameter `{name}` needs a name of letters, digits, `_`, `-` and `.`"
        ));
    }
    let whole = format!("{{{name}}}");
    if !path.split('/').any(|segment| segment == whole) {
        return Err(problem!(
            "the path parameter `{name}` must be a whole segment of `{path}`, as in `/a/{whole}/b`"
        ));
    }
    Ok(())
}

/// The `{name}`s of a path template.
fn template_names(path: &str) -> impl Iterator<Item = &str> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// An RFC 9110 token: what a header name is made of.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
