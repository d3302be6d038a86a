//! The documents' own examples (in `../shared/seeds`, the source of truth)
//! decode verbatim into the generated types, and the specs carry them.

use std::path::PathBuf;

fn seeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/seeds")
}

/// The ```json blocks of a seed document.
fn json_blocks(seed: &str) -> Vec<serde_json::Value> {
    let path = seeds_dir().join(seed);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); the repository is checked out with shared/ beside it",
            path.display()
        )
    });
    let blocks: Vec<_> = text
        .split("```json")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .map(|block| serde_json::from_str(block).expect("a document's JSON example parses"))
        .collect();
    assert!(!blocks.is_empty(), "{seed} has JSON examples");
    blocks
}

#[test]
fn neonpanel_document_example_decodes() {
    let [example] = json_blocks("000_2e3eb1a196682d4b.txt").try_into().unwrap();
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
}

#[test]
fn jsonapi_document_examples_decode() {
    let [response] = json_blocks("002_fe974081b222ae69.txt").try_into().unwrap();
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

    // The request example is in the cURL tab, after --data.
    let text = std::fs::read_to_string(seeds_dir().join("002_fe974081b222ae69.txt")).unwrap();
    let request = text
        .split("--data '")
        .nth(1)
        .and_then(|r| r.split("'\n").next())
        .unwrap();
    let request: tokenmux_jsonapi::types::TokenRequestDocument =
        serde_json::from_str(request).unwrap();
    assert_eq!(request.data.attributes.client_id, "<Your API key>");
}

#[test]
fn password_document_examples_decode() {
    use tokenmux_password::types::*;
    let blocks = json_blocks("003_9f03b9a76fd3b572.txt");
    assert_eq!(blocks.len(), 4, "two requests and two responses");
    let requests: Vec<TokenRequest> = [&blocks[0], &blocks[2]]
        .into_iter()
        .map(|b| serde_json::from_value(b.clone()).unwrap())
        .collect();
    assert!(matches!(&requests[0], TokenRequest::PasswordGrant(g) if g.username == "{{username}}"));
    assert!(matches!(&requests[1], TokenRequest::RefreshTokenGrant(_)));
    for response in [&blocks[1], &blocks[3]] {
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
    assert_eq!(serde_json::to_value(&requests[0]).unwrap(), blocks[0]);
    assert_eq!(serde_json::to_value(&requests[1]).unwrap(), blocks[2]);
}

#[test]
fn airalo_document_names_the_model_the_spec_defines() {
    // The document shows no JSON example; it names the return type, which the spec defines.
    let text = std::fs::read_to_string(seeds_dir().join("001_66ed4791b5fcf134.txt")).unwrap();
    assert!(text.contains("V2TokenPost200Response"));
    let spec = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../specs/airalo.yaml"),
    )
    .unwrap();
    assert!(spec.contains("V2TokenPost200Response:"));
    let token: tokenmux_airalo::types::V2TokenPost200Response = serde_json::from_str(
        r#"{"data":{"token_type":"Bearer","expires_in":31622400,"access_token":"abc"},"meta":{"message":"success"}}"#,
    )
    .unwrap();
    assert_eq!(token.data.expires_in, Some(31622400));
}

/// Every example in the specs decodes into the type progenitor generated for it.
#[test]
fn spec_examples_are_the_documents_and_decode() {
    let spec: openapiv3::OpenAPI = serde_yaml::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../specs/password.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let operation = spec.operations().next().unwrap().2;
    let openapiv3::ReferenceOr::Item(ok) =
        &operation.responses.responses[&openapiv3::StatusCode::Code(200)]
    else {
        panic!("inline 200")
    };
    let example = ok.content["application/json"].example.clone().unwrap();
    let blocks = json_blocks("003_9f03b9a76fd3b572.txt");
    assert_eq!(example, blocks[1], "the spec's example is the document's");
}
