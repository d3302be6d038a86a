//! The documents' own examples, which the specs carry (`example` and
//! `examples`), decode into the generated types and through the facade,
//! for every spec. Nothing here reads outside the repository: that the
//! specs' examples are the documents' is checked by
//! `.ci/compare-specs-with-documents`, when the documents are beside the
//! checkout.

use std::path::PathBuf;
use std::time::SystemTime;

use serde_json::Value;
use tokenmux::endpoint::{BodyEncoding, FieldValue, GrantKind, Place};
use tokenmux::{RefreshPolicy, decode_token_response};

use crate::support::{named, providers};

/// A spec of `specs/`, as JSON.
fn spec(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../specs/{name}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap()
}

/// The examples of every media type under `content`.
fn content_examples(content: &Value) -> Vec<Value> {
    let mut found = Vec::new();
    for media in content.as_object().into_iter().flat_map(|m| m.values()) {
        found.extend(media.get("example").cloned());
        for example in media
            .get("examples")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|e| e.values())
        {
            found.extend(example.get("value").cloned());
        }
    }
    found
}

/// (request examples, 2xx response examples) of a spec's operations.
fn examples(spec: &Value) -> (Vec<Value>, Vec<Value>) {
    let (mut requests, mut responses) = (Vec::new(), Vec::new());
    for item in spec["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            requests.extend(content_examples(&operation["requestBody"]["content"]));
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    responses.extend(content_examples(&response["content"]));
                }
            }
        }
    }
    (requests, responses)
}

/// A flat example as the url-encoded form it documents.
fn form(example: &Value) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in example.as_object().into_iter().flatten() {
        match value {
            Value::String(text) => form.append_pair(name, text),
            other => form.append_pair(name, &other.to_string()),
        };
    }
    form.finish()
}

#[test]
fn every_success_example_decodes_through_the_facade() {
    let mut decoded = 0;
    for name in providers() {
        let provider = named(name);
        let (_, responses) = examples(&spec(name));
        let spec = provider.spec();
        for example in responses {
            // The body as the spec documents it: a form where it answers
            // with one.
            let body = match spec.grants[0].wire.response {
                BodyEncoding::FormUrlencoded => form(&example).into_bytes(),
                _ => serde_json::to_vec(&example).unwrap(),
            };
            let outcome = decode_token_response(
                &provider,
                200,
                &body,
                SystemTime::now(),
                &RefreshPolicy::default(),
            );
            if let Some(header) = spec.token.access_token_header {
                // The token is not in the body: a body alone is refused
                // and the header named.
                let error = outcome.unwrap_err();
                assert!(error.to_string().contains(header), "{name}: {error}");
                continue;
            }
            let token = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected = example.pointer(provider.spec().token.access_token);
            assert_eq!(
                Some(token.secret().expose_secret()),
                expected.and_then(Value::as_str),
                "{name}"
            );
            decoded += 1;
        }
    }
    // NeonPanel, JSON:API and the password grant document one each.
    assert!(decoded >= 3, "{decoded} examples");
}

#[test]
fn every_request_example_is_a_grant_the_spec_describes() {
    for name in providers() {
        let grants = named(name).spec().grants;
        let (requests, _) = examples(&spec(name));
        for example in requests {
            let fits = grants.iter().any(|grant| {
                // An example shows a body: the values elsewhere are not in it.
                let in_body = grant.fields.iter().filter_map(|field| match field.place {
                    Place::Body(pointer) => Some((pointer, field.value)),
                    _ => None,
                });
                in_body.into_iter().all(|(pointer, field_value)| {
                    let value = example.pointer(pointer).and_then(Value::as_str);
                    match field_value {
                        FieldValue::Constant(constant) => value == Some(constant),
                        FieldValue::Credential(_) | FieldValue::Assertion(_) => value.is_some(),
                        FieldValue::OptionalCredential(_) => true,
                        FieldValue::Parameter(p) => value.is_some() || !p.required,
                    }
                })
            });
            assert!(fits, "{name}: {example} is no grant of {grants:?}");
        }
    }
}

#[test]
fn neonpanel_document_example_decodes() {
    let (requests, responses) = examples(&spec("neonpanel"));
    let [example] = responses.try_into().unwrap();
    let token: tokenmux_neonpanel::types::LoginResponse =
        serde_json::from_value(example.clone()).unwrap();
    assert_eq!(
        (token.token_type.as_deref(), token.expires_in),
        (Some("Bearer"), Some(15897600))
    );
    assert_eq!(
        token.access_token.expose_secret(),
        example["access_token"].as_str().unwrap()
    );
    assert_eq!(serde_json::to_value(&token).unwrap(), example, "round trip");
    let [request] = requests.try_into().unwrap();
    let request: tokenmux_neonpanel::types::LoginRequest = serde_json::from_value(request).unwrap();
    assert_eq!(request.client_id, "<client id>");
}

#[test]
fn jsonapi_document_examples_decode() {
    let (requests, responses) = examples(&spec("jsonapi"));
    let [response] = responses.try_into().unwrap();
    let document: tokenmux_jsonapi::types::TokenResponseDocument =
        serde_json::from_value(response.clone()).unwrap();
    assert_eq!(document.data.attributes.expires_in, Some(3599.0));
    assert_eq!(document.data.id.as_deref(), Some("0"));
    assert_eq!(
        document.data.attributes.token_type.as_deref(),
        Some("Bearer")
    );
    assert_eq!(
        document.data.attributes.access.expose_secret(),
        response["data"]["attributes"]["access"].as_str().unwrap()
    );
    // The request example is the document's cURL `--data`.
    let [request] = requests.try_into().unwrap();
    let request: tokenmux_jsonapi::types::TokenRequestDocument =
        serde_json::from_value(request).unwrap();
    assert_eq!(request.data.attributes.client_id, "<Your API key>");
}

#[test]
fn password_document_examples_decode() {
    use tokenmux_password::types::*;
    let (request_examples, responses) = examples(&spec("password"));
    assert_eq!(
        request_examples.len(),
        2,
        "a password and a refresh request"
    );
    let requests: Vec<TokenRequest> = request_examples
        .iter()
        .map(|b| serde_json::from_value(b.clone()).unwrap())
        .collect();
    assert!(matches!(&requests[0], TokenRequest::PasswordGrant(g) if g.username == "{{username}}"));
    assert!(matches!(&requests[1], TokenRequest::RefreshTokenGrant(_)));
    for response in &responses {
        let token: TokenResponse = serde_json::from_value(response.clone()).unwrap();
        assert_eq!(token.expires_in, Some(3600));
        assert!(
            token
                .refresh_token
                .unwrap()
                .expose_secret()
                .starts_with("def50200")
        );
        // Debug output never shows the tokens.
        let debug = format!(
            "{:?}",
            serde_json::from_value::<TokenResponse>(response.clone()).unwrap()
        );
        assert!(
            !debug.contains("eyJ0eXAi") && !debug.contains("def50200"),
            "{debug}"
        );
    }
    // The requests serialise back to exactly the document's bodies.
    assert_eq!(
        serde_json::to_value(&requests[0]).unwrap(),
        request_examples[0]
    );
    assert_eq!(
        serde_json::to_value(&requests[1]).unwrap(),
        request_examples[1]
    );
    // Each grant is the one the spec marks.
    let spec = named("password").spec();
    assert!(spec.grant(GrantKind::Primary).is_some() && spec.grant(GrantKind::Refresh).is_some());
}

#[test]
fn airalo_model_decodes() {
    // Document 001 shows no JSON example; it names the return type
    // (V2TokenPost200Response), which the spec defines.
    let token: tokenmux_airalo::types::V2TokenPost200Response = serde_json::from_str(
        r#"{"data":{"token_type":"Bearer","expires_in":31622400,"access_token":"abc"},"meta":{"message":"success"}}"#,
    )
    .unwrap();
    assert_eq!(token.data.expires_in, Some(31622400));
}
