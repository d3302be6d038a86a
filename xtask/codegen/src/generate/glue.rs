//! The glue between a generated client and the facade: `ENDPOINT_SPEC`
//! (what the spec says about its token endpoint), and the call of
//! `tokenmux_wire::token_endpoint!` that defines `ENDPOINT`, the crate's
//! implementation of `tokenmux_wire::TokenEndpoint`, from the operation
//! that serves each grant.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::{method_name, operation_wire, option_str};
use crate::GenError;
use crate::describe::{Description, EXPIRY_FORMS, FieldValue, GrantDesc, Parameter, Place};
use crate::lower::Lowered;
use crate::spec::SpecFile;

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// `ENDPOINT_SPEC`, and the text of the `token_endpoint!` call that
/// defines `Endpoint`, `ENDPOINT` and the trait implementation.
pub fn endpoint(
    spec: &SpecFile,
    title: &str,
    lowered: &Lowered,
    description: &Description,
) -> Result<(TokenStream, String), GenError> {
    let name = &spec.name;
    let mut grant_specs = Vec::new();
    let mut arms = Vec::new();
    for grant in &description.grants {
        let record = lowered
            .operations
            .iter()
            .find(|record| record.operation_id == grant.operation_id)
            .ok_or_else(|| GenError::Internal {
                spec: spec.display_path.clone(),
                message: format!("no wire record for `{}`", grant.operation_id),
            })?;
        let kind = ident(grant.kind);
        let path = &grant.path;
        let wire = operation_wire(record);
        let body = grant
            .fields
            .iter()
            .map(|(pointer, value)| (quote!(Body(#pointer)), value));
        let placed = grant.placed.iter().map(|(place, value)| {
            let place = match place {
                Place::Query(name) => quote!(Query(#name)),
                Place::Header(name) => quote!(Header(#name)),
                Place::Path(name) => quote!(Path(#name)),
            };
            (place, value)
        });
        let fields = body.chain(placed).map(|(place, value)| {
            let value = match value {
                FieldValue::Credential(role) => {
                    let role = ident(role);
                    quote!(tokenmux_wire::FieldValue::Credential(tokenmux_wire::CredentialRole::#role))
                }
                FieldValue::OptionalCredential(role) => {
                    let role = ident(role);
                    quote!(tokenmux_wire::FieldValue::OptionalCredential(tokenmux_wire::CredentialRole::#role))
                }
                FieldValue::Constant(text) => quote!(tokenmux_wire::FieldValue::Constant(#text)),
                FieldValue::Parameter(parameter) => {
                    let parameter = parameter_spec(parameter);
                    quote!(tokenmux_wire::FieldValue::Parameter(#parameter))
                }
                FieldValue::Assertion(assertion) => {
                    let audience = ident(assertion.audience);
                    let claims = assertion.claims.iter().map(|(claim, parameter)| {
                        let parameter = parameter_spec(parameter);
                        quote!(tokenmux_wire::AssertionClaim { claim: #claim, parameter: #parameter })
                    });
                    quote!(tokenmux_wire::FieldValue::Assertion(&tokenmux_wire::GrantAssertion {
                        audience: tokenmux_wire::AssertionAudience::#audience,
                        claims: &[#(#claims),*],
                    }))
                }
            };
            quote!(tokenmux_wire::RequestField { place: tokenmux_wire::Place::#place, value: #value })
        });
        grant_specs.push(quote! {
            tokenmux_wire::GrantSpec {
                kind: tokenmux_wire::GrantKind::#kind,
                path: #path,
                wire: #wire,
                fields: &[#(#fields),*],
            }
        });
    }
    // One arm per operation: the grants of a `oneOf` body share it, and
    // `request_body` fills the body for the grant asked for.
    let mut operations: Vec<&str> = Vec::new();
    for grant in &description.grants {
        if !operations.contains(&grant.operation_id.as_str()) {
            operations.push(&grant.operation_id);
        }
    }
    for operation in operations {
        let grants: Vec<_> = description
            .grants
            .iter()
            .filter(|grant| grant.operation_id == operation)
            .collect();
        let mut kinds: Vec<&str> = grants.iter().map(|grant| grant.kind).collect();
        // A primary grant that presents a refresh token (one obtained out
        // of band) serves the refreshes too, with the rotated token.
        let presents_refresh_token = |grant: &&GrantDesc| {
            let values = grant.fields.iter().map(|(_, value)| value);
            values
                .chain(grant.placed.iter().map(|(_, value)| value))
                .any(|value| {
                    matches!(
                        value,
                        FieldValue::Credential("RefreshToken")
                            | FieldValue::OptionalCredential("RefreshToken")
                    )
                })
        };
        if kinds == ["Primary"]
            && !description.grants.iter().any(|g| g.kind == "Refresh")
            && grants.iter().any(presents_refresh_token)
        {
            kinds.push("Refresh");
        }
        let body = match &grants[0].body_type {
            Some(body_type) => format!("types::{body_type}"),
            None => String::new(),
        };
        arms.push(format!(
            "        ({}) => {}({body}),\n",
            kinds.join(" | "),
            method_name(operation),
        ));
    }
    let pointer = |what: &str| {
        option_str(
            description
                .token
                .iter()
                .find(|(name, _)| name == what)
                .map(|(_, pointer)| pointer.as_str()),
        )
    };
    let access_token = description
        .token
        .iter()
        .find(|(name, _)| name == "access_token")
        .map(|(_, pointer)| pointer.clone())
        .unwrap_or_default();
    let (token_type, refresh_token) = (pointer("token_type"), pointer("refresh_token"));
    let expiry = description
        .token
        .iter()
        .find_map(|(name, pointer)| {
            let (_, form) = EXPIRY_FORMS.iter().find(|(role, _)| role == name)?;
            let form = ident(form);
            Some(quote!(Some(tokenmux_wire::Expiry {
                pointer: #pointer,
                form: tokenmux_wire::ExpiryForm::#form,
            })))
        })
        .unwrap_or_else(|| quote!(None));
    let token_types = description
        .token_types
        .iter()
        .map(|(sent, scheme)| quote!((#sent, #scheme)));
    let (code, message) = (&description.error_code, &description.error_message);
    let errors = description.errors.iter().map(|(status, conditions, media)| {
        let conditions = conditions.iter().map(|c| {
            let c = ident(c);
            quote!(tokenmux_wire::ErrorCondition::#c)
        });
        let media = option_str(media.as_deref());
        quote! {
            tokenmux_wire::ErrorResponse { status: #status, conditions: &[#(#conditions),*], media_type: #media }
        }
    });
    let encoding = ident(description.basic_encoding);
    let max_lifetime = match description.max_lifetime {
        Some(seconds) => quote!(Some(#seconds)),
        None => quote!(None),
    };
    let example = option_str(description.success_example.as_deref());
    let token_header = option_str(description.token_header.as_deref());
    let success_status = description.success_status;
    let presentation = match &description.presentation {
        None => quote!(tokenmux_wire::Presentation::BEARER),
        Some(presentation) => {
            let header = &presentation.header;
            let scheme = option_str(presentation.scheme.as_deref());
            quote!(tokenmux_wire::Presentation { header: #header, scheme: #scheme })
        }
    };
    let spec_doc = format!(
        " What `{}` says about its token endpoint.",
        spec.display_path
    );
    let spec_table = quote! {
        #[doc = #spec_doc]
        pub static ENDPOINT_SPEC: tokenmux_wire::EndpointSpec = tokenmux_wire::EndpointSpec {
            name: #name,
            title: #title,
            servers: SERVERS,
            grants: &[#(#grant_specs),*],
            basic_encoding: tokenmux_wire::BasicEncoding::#encoding,
            token: tokenmux_wire::TokenFields {
                access_token: #access_token,
                access_token_header: #token_header,
                token_type: #token_type,
                expiry: #expiry,
                refresh_token: #refresh_token,
                token_types: &[#(#token_types),*],
            },
            error: tokenmux_wire::ErrorFields { code: &[#(#code),*], message: &[#(#message),*] },
            errors: &[#(#errors),*],
            max_lifetime_secs: #max_lifetime,
            success_example: #example,
            presentation: #presentation,
            success_status: #success_status,
        };
    };
    // Written as text, after rustfmt: it leaves a macro's braces alone,
    // and prettyplease would print `spec : ENDPOINT_SPEC`.
    let call = format!(
        "\ntokenmux_wire::token_endpoint! {{\n    spec: ENDPOINT_SPEC,\n    client: Client,\n    \
         success: types::{},\n    grants: {{\n{}    }},\n}}\n",
        description.success_type,
        arms.concat()
    );
    Ok((spec_table, call))
}

/// `tokenmux_wire::ParameterSpec` for `parameter`.
fn parameter_spec(parameter: &Parameter) -> TokenStream {
    let (name, required, secret) = (&parameter.name, parameter.required, parameter.secret);
    let default = option_str(parameter.default.as_deref());
    quote!(tokenmux_wire::ParameterSpec {
        name: #name,
        required: #required,
        default: #default,
        secret: #secret,
    })
}
