//! A url-encoded form answer, lowered for progenitor: its success schema
//! is read as JSON (the response hook turns the form into a flat object),
//! with every scalar a string, as a form's values are.

use openapiv3::{Operation, ReferenceOr, Schema, SchemaKind, StatusCode, Type};

use super::JSON;

/// The component schema name of the operation's first 2xx response body.
pub(super) fn success_schema_name(operation: &Operation) -> Option<String> {
    operation
        .responses
        .responses
        .iter()
        .filter(|(code, _)| matches!(code, StatusCode::Code(200..=299)))
        .find_map(
            |(_, response)| match response.as_item()?.content.get(JSON)?.schema.as_ref()? {
                ReferenceOr::Reference { reference } => reference
                    .strip_prefix("#/components/schemas/")
                    .map(str::to_owned),
                ReferenceOr::Item(_) => None,
            },
        )
}

/// A form's values are all text: a documented `integer` (`expires_in`)
/// arrives as `"3600"`, which the glue reads as a number.
pub(super) fn scalars_as_strings(schema: &mut Schema) {
    let SchemaKind::Type(Type::Object(object)) = &mut schema.schema_kind else {
        return;
    };
    for property in object.properties.values_mut() {
        if let ReferenceOr::Item(property) = property
            && matches!(
                property.schema_kind,
                SchemaKind::Type(Type::Integer(_) | Type::Number(_) | Type::Boolean(_))
            )
        {
            property.schema_kind = SchemaKind::Type(Type::String(Default::default()));
        }
    }
}
