//! Unit tests of the lowering: each documented body encoding and media
//! type, and a snapshot of what it records for each committed spec.

use super::*;
use crate::spec;

const BASE: &str = r#"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /token:
    post:
      operationId: getToken
      requestBody:
        content:
          BODY
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: object}
        RESPONSES
"#;

fn lower_text(body: &str, responses: &str) -> Result<Lowered, GenError> {
    let text = BASE.replace("BODY", body).replace("RESPONSES", responses);
    lower("specs/t.yaml", spec::parse("specs/t.yaml", &text).unwrap())
}

fn message(result: Result<Lowered, GenError>) -> String {
    result.unwrap_err().to_string()
}

const OBJECT: &str = "schema: {type: object, properties: {a: {type: string}}}";

#[test]
fn two_request_media_types_are_refused_by_name() {
    let body = format!("application/json: {{{OBJECT}}}\n          application/xml: {{{OBJECT}}}");
    let error = message(lower_text(&body, ""));
    assert!(
        error.starts_with("specs/t.yaml: operation `getToken`: the request body has 2 media types"),
        "{error}"
    );
}

#[test]
fn an_encoding_map_is_refused() {
    let body =
        format!("multipart/form-data: {{{OBJECT}, encoding: {{a: {{contentType: text/plain}}}}}}");
    let error = message(lower_text(&body, ""));
    assert!(
        error.contains("`getToken`: the `multipart/form-data` request body has an `encoding` map"),
        "{error}"
    );
}

#[test]
fn mixed_typed_and_untyped_error_responses_are_refused() {
    let body = format!("application/json: {{{OBJECT}}}");
    let responses = "\"400\":\n          description: bad\n          content:\n            application/json:\n              schema: {type: object}\n        \"500\":\n          description: down";
    let error = message(lower_text(&body, responses));
    assert!(
        error.contains("`getToken`: its error responses have different bodies"),
        "{error}"
    );
    assert!(error.contains("500: no body"), "{error}");
}

#[test]
fn unsupported_security_is_refused() {
    let text = BASE
        .replace("BODY", "application/json: {schema: {type: object}}")
        .replace("RESPONSES", "")
        + "components:\n  securitySchemes:\n    key: {type: apiKey, in: header, name: X-Key}\nsecurity:\n  - key: []\n";
    let error = message(lower("specs/t.yaml", spec::parse("t", &text).unwrap()));
    assert!(
        error.contains("security scheme `key` is not HTTP Basic; say how it authenticates the client with x-tokenmux-client-auth"),
        "{error}"
    );
}

/// `x-tokenmux-client-auth` names the method of any scheme, and a JWT
/// method's audience; two methods at once, or an unknown one, are refused.
#[test]
fn a_scheme_names_its_client_authentication_method() {
    let with = |schemes: &str, names: &[&str]| {
        let requirement: String = names.iter().map(|n| format!("  - {n}: []\n")).collect();
        let text = BASE
            .replace(
                "BODY",
                "application/x-www-form-urlencoded: {schema: {type: object}}",
            )
            .replace("RESPONSES", "")
            + &format!("components:\n  securitySchemes:\n{schemes}security:\n{requirement}");
        lower("specs/t.yaml", spec::parse("t", &text).unwrap())
    };
    let auth = |lowered: Result<Lowered, GenError>| lowered.unwrap().operations[0].client_auth;
    let jwt = "    jwt: {type: oauth2, flows: {clientCredentials: {tokenUrl: /token, scopes: {}}}, \
               x-tokenmux-client-auth: private_key_jwt, x-tokenmux-assertion-audience: issuer}\n";
    assert_eq!(
        auth(with(jwt, &["jwt"])),
        ClientAuthRecord::PrivateKeyJwt(Audience::Issuer)
    );
    let hs = "    hs: {type: http, scheme: bearer, x-tokenmux-client-auth: client_secret_jwt}\n";
    assert_eq!(
        auth(with(hs, &["hs"])),
        ClientAuthRecord::ClientSecretJwt(Audience::TokenEndpoint)
    );
    let basic = "    basic: {type: http, scheme: basic}\n";
    assert_eq!(auth(with(basic, &["basic"])), ClientAuthRecord::Basic);
    for (method, record) in [
        ("tls_client_auth", ClientAuthRecord::TlsClientAuth),
        (
            "self_signed_tls_client_auth",
            ClientAuthRecord::SelfSignedTlsClientAuth,
        ),
    ] {
        let mtls = format!(
            "    mtls: {{type: apiKey, in: header, name: unused, x-tokenmux-client-auth: {method}}}\n"
        );
        assert_eq!(auth(with(&mtls, &["mtls"])), record, "{method}");
    }
    let both = message(with(&format!("{basic}{hs}"), &["basic", "hs"]));
    assert!(
        both.contains("ask for two client authentication methods"),
        "{both}"
    );
    let app = "    app: {type: http, scheme: bearer, x-tokenmux-client-auth: app_jwt}\n";
    assert_eq!(auth(with(app, &["app"])), ClientAuthRecord::AppJwt);
    let app_key = "    app: {type: apiKey, in: header, name: X, x-tokenmux-client-auth: app_jwt}\n";
    let error = message(with(app_key, &["app"]));
    assert!(
        error.contains("app_jwt on `app` needs `type: http, scheme: bearer`"),
        "{error}"
    );
    let odd = "    odd: {type: http, scheme: bearer, x-tokenmux-client-auth: magic}\n";
    let error = message(with(odd, &["odd"]));
    assert!(
        error.contains("`magic` is not client_secret_basic"),
        "{error}"
    );
    let aud = "    a: {type: http, scheme: bearer, x-tokenmux-client-auth: private_key_jwt, \
               x-tokenmux-assertion-audience: everyone}\n";
    let error = message(with(aud, &["a"]));
    assert!(
        error.contains("must be `token_endpoint` or `issuer`"),
        "{error}"
    );
}

/// What the lowering records for each committed spec: the wire format
/// the generated clients restore, one snapshot per spec. A spec added
/// since (new-provider-check's fifth) has no snapshot to compare with
/// and gets the checks every spec gets; `INSTA_UPDATE=always` writes
/// one.
#[test]
fn wire_formats_of_the_specs() {
    let root = crate::regen::workspace_root();
    let snapshots = root.join("xtask/codegen/src/lower/snapshots");
    let snapshot_of =
        |name: &str| snapshots.join(format!("xtask_codegen__lower__tests__{name}.snap"));
    let mut pinned = 0;
    for file in spec::discover(&root.join("specs"), &[]).unwrap() {
        let lowered = lower(&file.display_path, file.load().unwrap()).unwrap();
        // What progenitor sees: no vendor media types, multipart or reserved headers.
        let yaml = serde_yaml::to_string(&lowered.api).unwrap();
        for absent in [
            "vnd.api+json",
            "multipart/form-data",
            "name: Accept",
            "clientBasic: []",
        ] {
            assert!(
                !yaml.contains(absent),
                "{}: lowered spec still has {absent}",
                file.name
            );
        }
        let name = format!("wire_format_{}", file.name.replace('-', "_"));
        if !snapshot_of(&name).exists() && std::env::var_os("INSTA_UPDATE").is_none() {
            continue;
        }
        pinned += 1;
        insta::assert_snapshot!(
            name,
            format!("{:#?}\n{:#?}", lowered.servers, lowered.operations)
        );
    }
    // No snapshot outlives its spec.
    let files = std::fs::read_dir(&snapshots)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|file| file.contains("__wire_format_"))
        .count();
    assert_eq!(files, pinned, "a wire-format snapshot has no spec");
    assert!(
        pinned > 0,
        "no wire-format snapshot found in {}",
        snapshots.display()
    );
}

/// A form answer is lowered to JSON whose scalars are strings (what a
/// form holds), and recorded so the hook converts it; the path template
/// and the parameters are gone from what progenitor sees.
#[test]
fn a_form_answer_and_values_outside_the_body_are_lowered() {
    let root = crate::regen::workspace_root();
    let load = |name: &str| {
        let file = spec::SpecFile::new(&root.join("xtask/fixtures"), name);
        lower(&file.display_path, file.load().unwrap()).unwrap()
    };
    let legacy = load("legacy");
    assert_eq!(legacy.operations[0].response, Body::FormUrlencoded);
    assert_eq!(
        legacy.operations[0].accept.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let yaml = serde_yaml::to_string(&legacy.api).unwrap();
    let token_form = yaml.split("TokenForm:").nth(1).unwrap();
    let expires_in = token_form.split("expires_in:").nth(1).unwrap();
    assert!(
        expires_in.trim_start().starts_with("type: string"),
        "{token_form}"
    );
    assert_eq!(load("acme").operations[0].response, Body::Json);
    let installation = load("installation");
    assert_eq!(installation.operations[0].body, Body::None);
    let paths: Vec<_> = installation.api.paths.paths.keys().collect();
    assert_eq!(
        paths,
        ["/app/installations/tokenmux-path-installation_id/access_tokens"]
    );
    let query = load("query");
    assert_eq!(query.operations[0].http_method, "GET");
    let yaml = serde_yaml::to_string(&query.api).unwrap();
    assert!(!yaml.contains("app_secret"), "{yaml}");
}
