//! Each generated client against the strict mock: it gets a token, sends
//! exactly the documented request, and decodes every documented error
//! status into its typed error.

use tokenmux_mock::{DEFAULT_PASSWORD, DEFAULT_USERNAME, Grant, MockConfig, MockServer};
use tokenmux_wire::{BasicAuth, BasicEncoding, ClientConfig};

use crate::support::*;

async fn mock() -> MockServer {
    MockServer::start(MockConfig::default()).await.unwrap()
}

fn last_request(server: &MockServer) -> String {
    render(
        server
            .requests()
            .last()
            .expect("the mock received a request"),
    )
}

#[tokio::test]
async fn neonpanel_gets_a_token_with_the_documented_request() {
    let server = mock().await;
    let client =
        tokenmux_neonpanel::Client::new(&server.base_url("neonpanel"), ClientConfig::default());
    let token = client
        .login()
        .body(neonpanel_request(SECRET))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(token.token_type.as_deref(), Some("Bearer"));
    assert_eq!(token.expires_in, Some(3600));
    assert!(
        token
            .access_token
            .expose_secret()
            .starts_with("mock-neonpanel-access-")
    );
    assert_eq!(
        server.tokens_issued("neonpanel", Grant::ClientCredentials),
        1
    );
    insta::assert_snapshot!(last_request(&server));
}

#[tokio::test]
async fn neonpanel_wrong_secret_is_refused_and_500_decodes() {
    let server = mock().await;
    let client =
        tokenmux_neonpanel::Client::new(&server.base_url("neonpanel"), ClientConfig::default());
    // 401 is not in the document: progenitor reports it as unexpected, with its status.
    let error = client
        .login()
        .body(neonpanel_request("wrong"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));

    let base = canned(http_response(
        "500 Internal Server Error",
        "application/json",
        br#"{"message":"Server Error"}"#,
    ))
    .await;
    let client = tokenmux_neonpanel::Client::new(&base, ClientConfig::default());
    match client.login().body(neonpanel_request(SECRET)).send().await {
        Err(tokenmux_neonpanel::Error::ErrorResponse(body)) => {
            assert_eq!(body.status().as_u16(), 500);
            assert_eq!(body.0["message"], "Server Error");
        }
        other => panic!("expected the typed 500, got {other:?}"),
    }
}

#[tokio::test]
async fn airalo_gets_a_token_with_a_multipart_request() {
    let server = mock().await;
    let client = tokenmux_airalo::Client::new(&server.base_url("airalo"), ClientConfig::default());
    let token = client
        .v2_token_post()
        .body(airalo_request(SECRET))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(token.data.token_type.as_deref(), Some("Bearer"));
    assert_eq!(token.data.expires_in, Some(3600));
    assert!(
        token
            .data
            .access_token
            .expose_secret()
            .starts_with("mock-airalo-access-")
    );
    insta::assert_snapshot!(last_request(&server));
}

#[tokio::test]
async fn airalo_422_decodes_for_missing_fields_and_wrong_credentials() {
    let server = mock().await;
    let client = tokenmux_airalo::Client::new(&server.base_url("airalo"), ClientConfig::default());
    for (secret, message) in [
        ("wrong", "Invalid client credentials."),
        ("", "The client secret field is required."),
    ] {
        match client
            .v2_token_post()
            .body(airalo_request(secret))
            .send()
            .await
        {
            Err(tokenmux_airalo::Error::ErrorResponse(body)) => {
                assert_eq!(body.status().as_u16(), 422);
                let meta = body.meta.as_ref().unwrap();
                assert_eq!(meta.message.as_deref(), Some(message));
            }
            other => panic!("expected a typed 422, got {other:?}"),
        }
    }
    assert_eq!(server.tokens_issued("airalo", Grant::ClientCredentials), 0);
}

#[tokio::test]
async fn jsonapi_gets_a_token_with_a_json_api_document() {
    let server = mock().await;
    let client =
        tokenmux_jsonapi::Client::new(&server.base_url("jsonapi"), ClientConfig::default());
    let document = client
        .obtain_token()
        .body(jsonapi_request(SECRET))
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(document.data.type_, "auth-token");
    assert_eq!(document.data.attributes.expires_in, Some(3600.0));
    assert!(
        document
            .data
            .attributes
            .access
            .expose_secret()
            .starts_with("mock-jsonapi-access-")
    );
    insta::assert_snapshot!(last_request(&server));
}

#[tokio::test]
async fn jsonapi_documented_errors_decode() {
    let server = mock().await;
    let client =
        tokenmux_jsonapi::Client::new(&server.base_url("jsonapi"), ClientConfig::default());
    let error = client
        .obtain_token()
        .body(jsonapi_request("wrong"))
        .send()
        .await;
    let Err(tokenmux_jsonapi::Error::ErrorResponse(body)) = error else {
        panic!("expected a typed 400, got {error:?}");
    };
    assert_eq!(body.status().as_u16(), 400);
    assert_eq!(body.errors[0].code.as_deref(), Some("invalid_client"));

    // 429, another 4xx and a 5xx, from a server that answers with them.
    for status in [
        "429 Too Many Requests",
        "418 I'm a teapot",
        "503 Service Unavailable",
    ] {
        let base = canned(http_response(
            status,
            "application/vnd.api+json",
            br#"{"errors":[{"status":"x","detail":"try later"}]}"#,
        ))
        .await;
        let client = tokenmux_jsonapi::Client::new(&base, ClientConfig::default());
        match client
            .obtain_token()
            .body(jsonapi_request(SECRET))
            .send()
            .await
        {
            Err(tokenmux_jsonapi::Error::ErrorResponse(body)) => {
                assert_eq!(body.status().as_str(), &status[..3]);
                assert_eq!(body.errors[0].detail.as_deref(), Some("try later"));
            }
            other => panic!("{status}: expected a typed error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn password_grant_then_refresh_grant_rotates() {
    let server = mock().await;
    let client = password_client(&server.base_url("password"), ID, SECRET);
    let first = client
        .oauth_token()
        .body(password_grant(tokenmux_mock::DEFAULT_PASSWORD))
        .send()
        .await
        .unwrap()
        .into_inner();
    insta::assert_snapshot!("password_grant_request", last_request(&server));
    let refresh = first.refresh_token.expect("a refresh token");

    let second = client
        .oauth_token()
        .body(refresh_grant(refresh.expose_secret()))
        .send()
        .await
        .unwrap()
        .into_inner();
    let rendered = last_request(&server).replace(refresh.expose_secret(), "REFRESH_TOKEN");
    insta::assert_snapshot!("refresh_grant_request", rendered);
    assert_ne!(
        second.refresh_token.as_ref(),
        Some(&refresh),
        "the refresh token rotates"
    );

    // The used refresh token is refused.
    let reused = client
        .oauth_token()
        .body(refresh_grant(refresh.expose_secret()))
        .send()
        .await;
    let Err(tokenmux_password::Error::ErrorResponse(body)) = reused else {
        panic!("expected invalid_grant, got {reused:?}");
    };
    assert_eq!(body.status().as_u16(), 400);
    assert_eq!(body.error.as_deref(), Some("invalid_grant"));
    assert_eq!(server.tokens_issued("password", Grant::Password), 1);
    assert_eq!(server.tokens_issued("password", Grant::RefreshToken), 1);
}

#[tokio::test]
async fn password_errors_decode_and_basic_auth_is_required() {
    let server = mock().await;
    let base = server.base_url("password");

    let wrong_user = password_client(&base, ID, SECRET)
        .oauth_token()
        .body(password_grant("wrong"))
        .send()
        .await;
    let Err(tokenmux_password::Error::ErrorResponse(body)) = wrong_user else {
        panic!("expected invalid_grant, got {wrong_user:?}");
    };
    assert_eq!(
        (body.status().as_u16(), body.error.as_deref()),
        (400, Some("invalid_grant"))
    );

    let wrong_client = password_client(&base, ID, "wrong")
        .oauth_token()
        .body(password_grant(tokenmux_mock::DEFAULT_PASSWORD))
        .send()
        .await;
    let Err(tokenmux_password::Error::ErrorResponse(body)) = wrong_client else {
        panic!("expected invalid_client, got {wrong_client:?}");
    };
    assert_eq!(
        (body.status().as_u16(), body.error.as_deref()),
        (401, Some("invalid_client"))
    );

    // Without Basic credentials the request is not sent at all.
    let before = server.requests_received("password");
    let unauthenticated = tokenmux_password::Client::new(&base, ClientConfig::default())
        .oauth_token()
        .body(password_grant(tokenmux_mock::DEFAULT_PASSWORD))
        .send()
        .await;
    assert!(
        matches!(&unauthenticated, Err(tokenmux_password::Error::InvalidRequest(m)) if m.contains("Basic")),
        "{unauthenticated:?}"
    );
    assert_eq!(server.requests_received("password"), before);
}

#[tokio::test]
async fn basic_encoding_is_as_documented_unless_rfc6749_is_chosen() {
    // A secret with characters that form-urlencoding changes.
    let secret = "s3cr:et/+ &";
    let config = MockConfig {
        client: tokenmux_mock::ClientCredentials::new(ID, secret),
        ..MockConfig::default()
    };
    let server = MockServer::start(config).await.unwrap();
    let base = server.base_url("password");
    let send = |encoding| {
        let client = tokenmux_password::Client::new(
            &base,
            ClientConfig::default()
                .with_basic_auth(BasicAuth::new(ID, secret).with_encoding(encoding)),
        );
        async move {
            client
                .oauth_token()
                .body(password_grant(tokenmux_mock::DEFAULT_PASSWORD))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| e.status().map(|s| s.as_u16()))
        }
    };
    // The mock decodes exactly as the document says.
    assert_eq!(send(BasicEncoding::AsDocumented).await, Ok(()));
    assert_eq!(
        send(BasicEncoding::Rfc6749FormUrlencoded).await,
        Err(Some(401))
    );
}

#[tokio::test]
async fn the_mock_is_strict_about_media_types() {
    let server = mock().await;
    let http = reqwest::Client::new();
    let post = |provider: &str, path: &str, content_type: &str, body: &str| {
        http.post(format!("{}{path}", server.base_url(provider)))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    let json = format!(r#"{{"client_id":"{ID}","client_secret":"{SECRET}"}}"#);
    assert_eq!(
        status(
            post("neonpanel", "/auth/token", "text/plain", &json)
                .await
                .unwrap()
        ),
        415
    );
    // NeonPanel documents no media type; its server reads forms too.
    let np_form = format!("client_id={ID}&client_secret={SECRET}");
    assert_eq!(
        status(
            post(
                "neonpanel",
                "/auth/token",
                "application/x-www-form-urlencoded",
                &np_form
            )
            .await
            .unwrap()
        ),
        200
    );
    // Airalo's Node SDK (npm airalo-sdk 1.2.2, OAuthService and HttpClient)
    // sends JSON, its own headers and no Accept; the real server takes it.
    let node_sdk = format!(
        r#"{{"client_id":"{ID}","client_secret":"{SECRET}","grant_type":"client_credentials"}}"#
    );
    let response = http
        .post(format!("{}/v2/token", server.base_url("airalo")))
        .header("airalo-nodejs-sdk", "1.2.2")
        .header("content-type", "application/json")
        .header("airalo-signature", "0".repeat(128))
        .body(node_sdk)
        .send()
        .await
        .unwrap();
    assert_eq!(status(response), 200);
    // JSON without the grant type is refused as Airalo refuses a request.
    assert_eq!(
        status(
            post("airalo", "/v2/token", "application/json", &json)
                .await
                .unwrap()
        ),
        422
    );
    // The SDKs' url-encoded form is accepted, as by the real server.
    let form = format!("client_id={ID}&client_secret={SECRET}&grant_type=client_credentials");
    assert_eq!(
        status(
            post(
                "airalo",
                "/v2/token",
                "application/x-www-form-urlencoded",
                &form
            )
            .await
            .unwrap()
        ),
        200
    );
    // The OAuth2 endpoint reads forms as well, but always wants Basic auth.
    let grant =
        format!("grant_type=password&username={DEFAULT_USERNAME}&password={DEFAULT_PASSWORD}");
    let basic = tokenmux_wire::BasicAuth::new(ID, SECRET).header_value();
    let form_post = |basic: Option<reqwest::header::HeaderValue>, content_type: &str| {
        let mut request = http
            .post(format!("{}/oauth/token", server.base_url("password")))
            .header("content-type", content_type.to_owned())
            .body(grant.clone());
        if let Some(basic) = basic {
            request = request.header("authorization", basic);
        }
        request.send()
    };
    assert_eq!(
        status(
            form_post(Some(basic.clone()), "application/x-www-form-urlencoded")
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            form_post(None, "application/x-www-form-urlencoded")
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(form_post(Some(basic), "text/plain").await.unwrap()),
        415
    );
    let document = format!(
        r#"{{"data":{{"type":"auth-token","attributes":{{"client_id":"{ID}","client_secret":"{SECRET}"}}}}}}"#
    );
    assert_eq!(
        status(
            post("jsonapi", "/token/", "application/json", &document)
                .await
                .unwrap()
        ),
        415
    );
    assert_eq!(
        status(
            post("jsonapi", "/token/", "application/vnd.api+json", &document)
                .await
                .unwrap()
        ),
        200
    );
    let wrong_type = document.replace("auth-token", "user");
    assert_eq!(
        status(
            post(
                "jsonapi",
                "/token/",
                "application/vnd.api+json",
                &wrong_type
            )
            .await
            .unwrap()
        ),
        400
    );
}

/// Every provider's token request names tokenmux and its version in its
/// `User-Agent`, through the facade as through a generated client.
#[tokio::test]
async fn token_requests_carry_the_tokenmux_user_agent() {
    let server = mock().await;
    let expected = format!("tokenmux/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(tokenmux_wire::TOKENMUX_USER_AGENT, expected);
    for name in providers() {
        tokenmux::TokenSource::builder(provider(name, server.base_url(name)))
            .credentials(credentials_for(name))
            .build()
            .unwrap()
            .token()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let request = server.requests().last().cloned().unwrap();
        assert_eq!(
            request.header("user-agent"),
            Some(expected.as_str()),
            "{name}"
        );
    }
    let client =
        tokenmux_neonpanel::Client::new(&server.base_url("neonpanel"), ClientConfig::default());
    client
        .login()
        .body(neonpanel_request(SECRET))
        .send()
        .await
        .unwrap();
    let request = server.requests().last().cloned().unwrap();
    assert_eq!(request.header("user-agent"), Some(expected.as_str()));
}
