//! The glue between a generated client and the facade: `ENDPOINT_SPEC`
//! (what the spec says about its token endpoint) and `ENDPOINT`, the
//! crate's implementation of `tokenmux_wire::TokenEndpoint`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::{method_name, operation_wire, option_str};
use crate::GenError;
use crate::describe::{Description, FieldValue};
use crate::lower::Lowered;
use crate::spec::SpecFile;

fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// `ENDPOINT_SPEC`, `Endpoint`, `ENDPOINT` and the trait implementation.
pub fn endpoint(
    spec: &SpecFile,
    title: &str,
    lowered: &Lowered,
    description: &Description,
) -> Result<TokenStream, GenError> {
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
        let fields = grant.fields.iter().map(|(pointer, value)| {
            let value = match value {
                FieldValue::Credential(role) => {
                    let role = ident(role);
                    quote!(tokenmux_wire::FieldValue::Credential(tokenmux_wire::CredentialRole::#role))
                }
                FieldValue::Constant(text) => quote!(tokenmux_wire::FieldValue::Constant(#text)),
            };
            quote!(tokenmux_wire::RequestField { pointer: #pointer, value: #value })
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
        let kinds: Vec<_> = grants
            .iter()
            .map(|grant| {
                let kind = ident(grant.kind);
                quote!(tokenmux_wire::GrantKind::#kind)
            })
            .collect();
        let pattern = match kinds.as_slice() {
            [one] => quote!(kind @ #one),
            several => quote!(kind @ (#(#several)|*)),
        };
        let body_type = ident(&grants[0].body_type);
        let method = ident(&method_name(operation));
        arms.push(quote! {
            #pattern => {
                let (body, config) = tokenmux_wire::request_body::<types::#body_type>(
                    &ENDPOINT_SPEC,
                    kind,
                    &request,
                )?;
                let response = Client::new_with_client(request.base_url, request.http.clone(), config)
                    .#method()
                    .body(body)
                    .send()
                    .await;
                tokenmux_wire::issued_response(response, &ENDPOINT_SPEC)
            }
        });
    }
    if description
        .grants
        .iter()
        .all(|grant| grant.kind != "Refresh")
    {
        arms.push(quote! {
            tokenmux_wire::GrantKind::Refresh => Err(tokenmux_wire::ClientError::InvalidRequest(
                format!("{} issues no refresh tokens", ENDPOINT_SPEC.name),
            )),
        });
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
    let (token_type, expires_in, refresh_token) = (
        pointer("token_type"),
        pointer("expires_in"),
        pointer("refresh_token"),
    );
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
    let success_type = ident(&description.success_type);
    let example = option_str(description.success_example.as_deref());
    let spec_doc = format!(
        " What `{}` says about its token endpoint.",
        spec.display_path
    );
    Ok(quote! {
        #[doc = #spec_doc]
        pub static ENDPOINT_SPEC: tokenmux_wire::EndpointSpec = tokenmux_wire::EndpointSpec {
            name: #name,
            title: #title,
            servers: SERVERS,
            grants: &[#(#grant_specs),*],
            basic_encoding: tokenmux_wire::BasicEncoding::#encoding,
            token: tokenmux_wire::TokenFields {
                access_token: #access_token,
                token_type: #token_type,
                expires_in: #expires_in,
                refresh_token: #refresh_token,
            },
            error: tokenmux_wire::ErrorFields { code: &[#(#code),*], message: &[#(#message),*] },
            errors: &[#(#errors),*],
            max_lifetime_secs: #max_lifetime,
            success_example: #example,
        };

        /// The token endpoint, as the tokenmux facade uses it.
        #[derive(Clone, Copy, Debug, Default)]
        pub struct Endpoint;

        /// The token endpoint: pass it to `tokenmux::Provider::from_endpoint`.
        pub static ENDPOINT: Endpoint = Endpoint;

        impl tokenmux_wire::TokenEndpoint for Endpoint {
            fn spec(&self) -> &'static tokenmux_wire::EndpointSpec {
                &ENDPOINT_SPEC
            }

            fn request<'a>(
                &'a self,
                request: tokenmux_wire::TokenRequest<'a>,
            ) -> tokenmux_wire::BoxFuture<'a, tokenmux_wire::EndpointResult> {
                Box::pin(async move {
                    match request.grant.kind() {
                        #(#arms)*
                    }
                })
            }

            fn decode_success(&self, body: &[u8]) -> Result<tokenmux_wire::Issued, serde_json::Error> {
                tokenmux_wire::decode_issued::<types::#success_type>(body, &ENDPOINT_SPEC)
            }
        }
    })
}
