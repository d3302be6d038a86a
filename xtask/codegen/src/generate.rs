//! Runs progenitor on a lowered spec and renders the generated file.

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use openapiv3::{OpenAPI, ReferenceOr};
use proc_macro2::TokenStream;
use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle};
use quote::quote;

use crate::describe::{self, Description};
use crate::format::rustfmt;
use crate::{GenError, SpecProblem};
// The hand-written-looking glue emitted beside progenitor's client.
mod glue;
use crate::lower::{self, Audience, Body, ClientAuthRecord, Lowered, WireRecord};
use crate::spec::SpecFile;

/// The crates a generated client names beyond the scaffold's own, because
/// progenitor maps a schema to them: `format: date-time` (and `date`) to
/// `chrono`, `format: uuid` to `uuid`, a string `pattern` to `regress`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FormatCrates {
    /// `chrono`, for `date-time` and `date`.
    pub chrono: bool,
    /// `uuid`, for `uuid`.
    pub uuid: bool,
    /// `regress`, for a string `pattern`.
    pub regress: bool,
}

/// What regen writes for one spec: `generated.rs`, and what its manifest
/// must depend on.
#[derive(Debug)]
pub struct Generated {
    /// The complete text of `generated.rs`.
    pub code: String,
    /// The crates the code names beyond the scaffold's.
    pub crates: FormatCrates,
}

/// `generated.rs` before rustfmt: what [`draft`] makes of a spec.
/// `regen` formats the drafts of all its specs at once (one rustfmt
/// process), then [finishes](Draft::finish) each.
#[derive(Debug)]
pub struct Draft {
    header: String,
    body: String,
    endpoint: String,
    crates: FormatCrates,
}

impl Draft {
    /// The part to format (progenitor's client and the tables), taken out
    /// of the draft.
    pub fn take_unformatted(&mut self) -> String {
        std::mem::take(&mut self.body)
    }

    /// The complete `generated.rs`, given the formatted part.
    pub fn finish(self, formatted: String) -> Generated {
        Generated {
            code: format!("{}{formatted}{}", self.header, self.endpoint),
            crates: self.crates,
        }
    }
}

/// Generates the complete text of `generated.rs` for a spec: [`draft`],
/// formatted alone.
pub fn generate(spec: &SpecFile, api: OpenAPI) -> Result<Generated, GenError> {
    let mut draft = draft(spec, api)?;
    let config_from = spec.path.parent().unwrap_or(Path::new("."));
    let body = rustfmt(config_from, &spec.display_path, draft.take_unformatted())?;
    Ok(draft.finish(body))
}

/// Everything of `generated.rs` for a spec but the formatting.
pub fn draft(spec: &SpecFile, api: OpenAPI) -> Result<Draft, GenError> {
    let description = describe::describe(&api).map_err(|problem| GenError::Unsupported {
        spec: spec.display_path.clone(),
        operation: "token endpoint".into(),
        message: problem.0,
    })?;
    let title = api.info.title.clone();
    let lowered = lower::lower(&spec.display_path, api)?;
    let (client, crates) = run_progenitor(&spec.display_path, &lowered.api)?;
    let client_text = client.to_string();
    // The hooks find an operation's wire format by the name progenitor gives
    // it; make sure that name is the one progenitor actually used.
    if let Some(missing) = lowered.operations.iter().find(|record| {
        !client_text.contains(&format!(
            "operation_id : \"{}\"",
            method_name(&record.operation_id)
        ))
    }) {
        return Err(GenError::Internal {
            spec: spec.display_path.clone(),
            message: format!(
                "progenitor named operation `{}` differently than `{}`",
                missing.operation_id,
                method_name(&missing.operation_id)
            ),
        });
    }
    let types = std::iter::once(&description.success_type).chain(
        description
            .grants
            .iter()
            .filter_map(|grant| grant.body_type.as_ref()),
    );
    for name in types {
        if !client_text.contains(&format!("pub struct {name} "))
            && !client_text.contains(&format!("pub enum {name} "))
        {
            return Err(GenError::Internal {
                spec: spec.display_path.clone(),
                message: format!("progenitor generated no type named `{name}`"),
            });
        }
    }
    let wire = wire_tables(&lowered, &description);
    let (spec_table, endpoint) = glue::endpoint(spec, &title, &lowered, &description)?;
    let tokens = split_doc_lines(quote! { #client #wire #spec_table });
    let file: syn::File = syn::parse2(tokens).map_err(|e| GenError::Internal {
        spec: spec.display_path.clone(),
        message: format!("progenitor produced code that does not parse: {e}"),
    })?;
    Ok(Draft {
        header: header(spec),
        body: prettyplease::unparse(&file),
        endpoint,
        crates,
    })
}

/// Splits every multi-line `#[doc = "…"]` into one attribute per line.
///
/// prettyplease prints a multi-line doc attribute as a `/** … */` block;
/// once rustfmt indents it inside an `impl`, rustdoc reads the indented
/// lines as code blocks and runs them as doctests. One `///` per line keeps
/// the text as written.
fn split_doc_lines(tokens: TokenStream) -> TokenStream {
    use proc_macro2::{Delimiter, Group, TokenTree};
    let mut out = Vec::new();
    let mut trees = tokens.into_iter().peekable();
    while let Some(tree) = trees.next() {
        match tree {
            TokenTree::Punct(ref hash) if hash.as_char() == '#' => {
                let doc = match trees.peek() {
                    Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Bracket => {
                        doc_text(group.stream())
                    }
                    _ => None,
                };
                match doc {
                    Some(text) if text.contains('\n') => {
                        trees.next();
                        for line in text.lines() {
                            let line = format!(" {}", line.trim_end());
                            out.extend(quote! { #[doc = #line] });
                        }
                    }
                    _ => out.push(tree),
                }
            }
            TokenTree::Group(group) => {
                let mut inner = Group::new(group.delimiter(), split_doc_lines(group.stream()));
                inner.set_span(group.span());
                out.push(TokenTree::Group(inner));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}

/// The text of `doc = "…"`, if that is what the attribute body is.
fn doc_text(attribute: TokenStream) -> Option<String> {
    let meta: syn::MetaNameValue = syn::parse2(attribute).ok()?;
    if !meta.path.is_ident("doc") {
        return None;
    }
    match meta.value {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => Some(text.value()),
        _ => None,
    }
}

/// The do-not-edit header, the first lines of every generated file.
pub fn header(spec: &SpecFile) -> String {
    format!(
        "// @generated by `cargo xtask regen` from {}. Do not edit: change the spec\n\
         // and run `cargo xtask regen`; `cargo xtask regen --check` fails when stale.\n\n",
        spec.display_path
    )
}

/// The settings every provider client is generated with.
fn settings() -> GenerationSettings {
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        // The crate must implement the hooks that restore the wire format;
        // with `Expected`, forgetting them is a compile error.
        .with_hooks(HooksMode::Expected)
        .with_inner_type(quote!(tokenmux_wire::ClientConfig))
        .with_derive("PartialEq")
        // Secrets never reach Debug output: `format: password` strings
        // become `Secret`, whose Debug is redacted.
        .with_conversion(
            schemars::schema::SchemaObject {
                instance_type: Some(schemars::schema::InstanceType::String.into()),
                format: Some("password".to_owned()),
                ..Default::default()
            },
            "tokenmux_wire::Secret",
            std::iter::empty(),
        );
    settings
}

/// progenitor panics on some inputs; contain that, and when the whole spec
/// fails, find the operation that makes it fail so the message can name it.
fn run_progenitor(spec: &str, api: &OpenAPI) -> Result<(TokenStream, FormatCrates), GenError> {
    match generate_tokens(api) {
        Ok(generated) => Ok(generated),
        Err(SpecProblem(message)) => {
            let operation = single_operation_specs(api)
                .find_map(|(id, single)| generate_tokens(&single).err().map(|_| id));
            Err(GenError::Progenitor {
                spec: spec.to_owned(),
                operation,
                message,
            })
        }
    }
}

fn generate_tokens(api: &OpenAPI) -> Result<(TokenStream, FormatCrates), SpecProblem> {
    let previous_hook = panic::take_hook();
    // The panic is reported as an error below; its trace would only be noise.
    panic::set_hook(Box::new(|_| {}));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut generator = Generator::new(&settings());
        let tokens = generator.generate_tokens(api)?;
        let types = generator.get_type_space();
        let crates = FormatCrates {
            chrono: types.uses_chrono(),
            uuid: types.uses_uuid(),
            regress: types.uses_regress(),
        };
        Ok::<_, progenitor::Error>((tokens, crates))
    }));
    panic::set_hook(previous_hook);
    match outcome {
        Ok(Ok(generated)) => Ok(generated),
        Ok(Err(error)) => Err(SpecProblem(error.to_string())),
        Err(payload) => Err(SpecProblem(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "progenitor panicked".to_owned()),
        )),
    }
}

/// A copy of `api` for each operation, holding that operation alone.
fn single_operation_specs(api: &OpenAPI) -> impl Iterator<Item = (String, OpenAPI)> + '_ {
    let ids: Vec<String> = api
        .operations()
        .filter_map(|(_, _, op)| op.operation_id.clone())
        .collect();
    ids.into_iter().map(move |id| {
        let mut single = api.clone();
        for item in single.paths.paths.values_mut() {
            if let ReferenceOr::Item(item) = item {
                for slot in [
                    &mut item.get,
                    &mut item.put,
                    &mut item.post,
                    &mut item.delete,
                    &mut item.options,
                    &mut item.head,
                    &mut item.patch,
                    &mut item.trace,
                ] {
                    if slot
                        .as_ref()
                        .is_some_and(|op| op.operation_id.as_deref() != Some(&id))
                    {
                        *slot = None;
                    }
                }
            }
        }
        (id, single)
    })
}

/// `SERVERS`, `OPERATIONS` and the `ClientHooks` impl that applies them
/// (written once, in `tokenmux_wire::client_hooks!`).
fn wire_tables(lowered: &Lowered, description: &Description) -> TokenStream {
    let servers = lowered.servers.iter().enumerate().map(|(i, server)| {
        let url = &server.url;
        let name = option_str(
            description
                .server_names
                .get(i)
                .cloned()
                .flatten()
                .as_deref(),
        );
        let description = option_str(server.description.as_deref());
        quote! { tokenmux_wire::Server { url: #url, description: #description, name: #name } }
    });
    let operations = lowered.operations.iter().map(operation_wire);
    quote! {
        /// The servers the spec lists, in its order.
        pub const SERVERS: &[tokenmux_wire::Server] = &[#(#servers),*];

        /// The documented wire format of each operation, recorded while
        /// lowering the spec for progenitor.
        pub const OPERATIONS: &[tokenmux_wire::OperationWire] = &[#(#operations),*];

        tokenmux_wire::client_hooks!(Client, OPERATIONS);
    }
}

/// The method name progenitor derives from an operationId (snake case).
pub(crate) fn method_name(operation_id: &str) -> String {
    use heck::ToSnakeCase as _;
    operation_id
        .replace('\'', "")
        .replace(|c: char| !(c.is_alphanumeric() || c == '_'), "-")
        .to_snake_case()
}

pub(crate) fn operation_wire(record: &WireRecord) -> TokenStream {
    let id = &record.operation_id;
    let method = method_name(id);
    let body = match record.body {
        Body::None => quote!(None),
        Body::Json => quote!(Json),
        Body::FormUrlencoded => quote!(FormUrlencoded),
        Body::Multipart => quote!(Multipart),
    };
    let content_type = option_str(record.content_type.as_deref());
    let accept = option_str(record.accept.as_deref());
    let response = match record.response {
        Body::FormUrlencoded => quote!(FormUrlencoded),
        _ => quote!(Json),
    };
    let audience = |audience| match audience {
        Audience::TokenEndpoint => quote!(tokenmux_wire::AssertionAudience::TokenEndpoint),
        Audience::Issuer => quote!(tokenmux_wire::AssertionAudience::Issuer),
    };
    let auth = match record.client_auth {
        ClientAuthRecord::None => quote!(None),
        ClientAuthRecord::Basic => quote!(Basic),
        ClientAuthRecord::ClientSecretJwt(aud) => {
            let aud = audience(aud);
            quote!(ClientSecretJwt(#aud))
        }
        ClientAuthRecord::PrivateKeyJwt(aud) => {
            let aud = audience(aud);
            quote!(PrivateKeyJwt(#aud))
        }
        ClientAuthRecord::TlsClientAuth => quote!(TlsClientAuth),
        ClientAuthRecord::SelfSignedTlsClientAuth => quote!(SelfSignedTlsClientAuth),
        ClientAuthRecord::AppJwt => quote!(AppJwt),
    };
    let http_method = &record.http_method;
    quote! {
        tokenmux_wire::OperationWire {
            operation_id: #id,
            method: #method,
            http_method: #http_method,
            body: tokenmux_wire::BodyEncoding::#body,
            content_type: #content_type,
            accept: #accept,
            response: tokenmux_wire::BodyEncoding::#response,
            auth: tokenmux_wire::ClientAuth::#auth,
        }
    }
}

pub(crate) fn option_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(value) => quote!(Some(#value)),
        None => quote!(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;

    fn neonpanel() -> (SpecFile, String) {
        let root = crate::regen::workspace_root();
        let file = SpecFile::new(&root.join("specs"), "neonpanel");
        let text = std::fs::read_to_string(&file.path).unwrap();
        (file, text)
    }

    #[test]
    fn a_primary_refresh_token_grant_also_serves_refreshes() {
        let root = crate::regen::workspace_root();
        let file = SpecFile::new(&root.join("xtask/fixtures"), "consent");
        let text = std::fs::read_to_string(&file.path).unwrap();
        let code = generate(&file, spec::parse("consent", &text).unwrap())
            .unwrap()
            .code;
        assert!(
            code.contains("(Primary | Refresh) => refresh_token(types::RefreshRequest)"),
            "{code}"
        );
        assert!(code.contains("OptionalCredential"), "{code}");
        // A spec with its own refresh grant keeps one arm per operation.
        let (file, text) = neonpanel();
        let code = generate(&file, spec::parse("t", &text).unwrap())
            .unwrap()
            .code;
        assert!(code.contains("(Primary) =>"), "{code}");
    }

    #[test]
    fn a_header_token_and_a_presentation_are_generated() {
        let root = crate::regen::workspace_root();
        let file = SpecFile::new(&root.join("xtask/fixtures"), "subject");
        let text = std::fs::read_to_string(&file.path).unwrap();
        let code = generate(&file, spec::parse("subject", &text).unwrap())
            .unwrap()
            .code;
        assert!(
            code.contains("access_token_header: Some(\"X-Subject-Token\")"),
            "{code}"
        );
        assert!(code.contains("header: \"X-Auth-Token\""), "{code}");
    }

    #[test]
    fn values_outside_the_body_are_placed_and_a_bodyless_operation_sends_none() {
        let root = crate::regen::workspace_root();
        let generated = |name: &str| {
            let file = SpecFile::new(&root.join("xtask/fixtures"), name);
            let text = std::fs::read_to_string(&file.path).unwrap();
            generate(&file, spec::parse(name, &text).unwrap())
                .unwrap()
                .code
        };
        let query = generated("query");
        assert!(query.contains("(Primary) => get_app_token(),"), "{query}");
        assert!(query.contains("Place::Query(\"app_secret\")"), "{query}");
        assert!(query.contains("http_method: \"GET\""), "{query}");
        assert!(query.contains(".get(url)"), "{query}");
        let installation = generated("installation");
        // progenitor sees a literal segment, which the hook replaces.
        assert!(
            installation.contains("/app/installations/tokenmux-path-installation_id/access_tokens"),
            "{installation}"
        );
        assert!(installation.contains("Place::Path(\"installation_id\")"));
        assert!(installation.contains("Place::Header(\"X-App-Key\")"));
    }

    #[test]
    fn output_is_deterministic_and_starts_with_the_header() {
        let (file, text) = neonpanel();
        let first = generate(&file, spec::parse("t", &text).unwrap())
            .unwrap()
            .code;
        let second = generate(&file, spec::parse("t", &text).unwrap())
            .unwrap()
            .code;
        assert_eq!(first, second);
        assert!(first.starts_with(
            "// @generated by `cargo xtask regen` from specs/neonpanel.yaml. Do not edit"
        ));
    }

    #[test]
    fn a_changed_spec_changes_the_code() {
        let (file, text) = neonpanel();
        let before = generate(&file, spec::parse("t", &text).unwrap())
            .unwrap()
            .code;
        let changed = text.replace(
            "          description: The client secret provided by the NeonPanel platform.\n          x-tokenmux-credential: client_secret\n",
            "          description: The client secret provided by the NeonPanel platform.\n          x-tokenmux-credential: client_secret\n        scope:\n          type: string\n",
        );
        assert_ne!(changed, text, "the edit applies");
        let after = generate(&file, spec::parse("t", &changed).unwrap())
            .unwrap()
            .code;
        assert_ne!(before, after);
        assert!(after.contains("pub scope: ::std::option::Option<::std::string::String>"));
    }

    #[test]
    fn a_progenitor_panic_is_an_error_naming_the_operation() {
        let (file, text) = neonpanel();
        // A JSON response without a schema makes progenitor 0.15 panic (`todo!`).
        let text = text.replace(
            "              schema:\n                $ref: \"#/components/schemas/ServerError\"\n",
            "              example: {}\n",
        );
        let error = generate(&file, spec::parse("t", &text).unwrap()).unwrap_err();
        let GenError::Progenitor { operation, .. } = &error else {
            panic!("expected a progenitor error, got {error:?}");
        };
        assert_eq!(operation.as_deref(), Some("login"));
        assert!(
            error
                .to_string()
                .starts_with("specs/neonpanel.yaml: operation `login`:")
        );
    }

    #[test]
    fn secrets_become_secret_and_method_names_match_progenitor() {
        assert_eq!(method_name("v2TokenPost"), "v2_token_post");
        assert_eq!(method_name("oauthToken"), "oauth_token");
        let (file, text) = neonpanel();
        let code = generate(&file, spec::parse("t", &text).unwrap())
            .unwrap()
            .code;
        assert!(code.contains("pub client_secret: tokenmux_wire::Secret"));
        assert!(code.contains("pub access_token: tokenmux_wire::Secret"));
    }
}
