//! The wire hooks keep generated clients safe on hostile responses: bodies
//! are capped, and error statuses keep their status when the body is not JSON.

use tokenmux_wire::{BodyLimitExceeded, ClientConfig, buffered_body};

use crate::support::*;

async fn neonpanel_against(
    response: Vec<u8>,
    config: ClientConfig,
) -> Result<(), tokenmux_neonpanel::Error<tokenmux_neonpanel::types::ServerError>> {
    let base = canned(response).await;
    tokenmux_neonpanel::Client::new(&base, config)
        .login()
        .body(neonpanel_request(SECRET))
        .send()
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_without_buffering_it() {
    let huge = vec![b'x'; 10 * 1024 * 1024];
    let error = neonpanel_against(
        http_response("200 OK", "application/json", &huge),
        ClientConfig::default(),
    )
    .await
    .unwrap_err();
    let tokenmux_neonpanel::Error::UnexpectedResponse(response) = error else {
        panic!("expected an unexpected response, got {error:?}");
    };
    assert_eq!(
        response.extensions().get::<BodyLimitExceeded>(),
        Some(&BodyLimitExceeded { limit: 64 * 1024 })
    );
    // The rebuilt response still says where it came from.
    assert!(
        response.url().as_str().ends_with("/auth/token")
            && response.url().host_str() == Some("127.0.0.1"),
        "{}",
        response.url()
    );
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused() {
    // No Content-Length: the cap applies while reading.
    let chunk = vec![b'y'; 8 * 1024];
    let mut response = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
    for _ in 0..16 {
        response.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        response.extend_from_slice(&chunk);
        response.extend_from_slice(b"\r\n");
    }
    response.extend_from_slice(b"0\r\n\r\n");
    let config = ClientConfig::default().with_max_response_bytes(100 * 1024);
    let error = neonpanel_against(response, config).await.unwrap_err();
    assert!(
        matches!(&error, tokenmux_neonpanel::Error::UnexpectedResponse(r)
            if r.extensions().get::<BodyLimitExceeded>().is_some()),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_html_error_page_keeps_its_status() {
    let page = b"<html><body>503 Service Temporarily Unavailable</body></html>";
    let error = neonpanel_against(
        http_response("503 Service Unavailable", "text/html", page),
        ClientConfig::default(),
    )
    .await
    .unwrap_err();
    let tokenmux_neonpanel::Error::UnexpectedResponse(response) = error else {
        panic!("expected an unexpected response, got {error:?}");
    };
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        buffered_body(&response).map(|b| b.as_ref()),
        Some(&page[..])
    );
}

#[tokio::test]
async fn an_html_page_with_status_200_is_an_invalid_payload() {
    let error = neonpanel_against(
        http_response("200 OK", "text/html", b"<html>login</html>"),
        ClientConfig::default(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, tokenmux_neonpanel::Error::InvalidResponsePayload(..)),
        "{error:?}"
    );
}

/// The hooks alone, over TCP, with an operation of the shapes the
/// committed specs do not have (their generated clients are compiled and
/// run by `cargo xtask new-provider-check`): a GET without a body whose
/// values go in the path, the query string and a header, answered with a
/// url-encoded form.
#[tokio::test]
async fn values_outside_the_body_reach_the_wire_and_a_form_answer_reads_as_json() {
    use tokenmux_wire::{
        BodyEncoding, ClientAuth, OperationWire, Place, PlacedValue, Secret, execute,
        prepare_request,
    };
    const OPERATIONS: &[OperationWire] = &[OperationWire {
        operation_id: "getToken",
        method: "get_token",
        http_method: "GET",
        body: BodyEncoding::None,
        content_type: None,
        accept: Some("application/x-www-form-urlencoded"),
        response: BodyEncoding::FormUrlencoded,
        auth: ClientAuth::None,
    }];
    let answer = http_response(
        "200 OK",
        "application/x-www-form-urlencoded",
        b"access_token=t%2Bk&expires_in=3600&token_type=bearer",
    );
    let (base, mut received) = canned_recording(answer).await;
    let config = ClientConfig::default().with_placed_values(vec![
        PlacedValue {
            place: Place::Path("tenant"),
            value: Secret::new("a/b"),
        },
        PlacedValue {
            place: Place::Query("app_secret"),
            value: Secret::new("s&t"),
        },
        PlacedValue {
            place: Place::Header("X-App-Id"),
            value: Secret::new("me"),
        },
    ]);
    // What progenitor builds from the lowered spec: the placeholder segment.
    let url = format!("{base}/tenants/tokenmux-path-tenant/token");
    let http = reqwest::Client::new();
    let mut request = http.get(&url).build().unwrap();
    prepare_request::<()>(&mut request, OPERATIONS, "get_token", &config)
        .await
        .unwrap();
    let response = execute(&http, request, OPERATIONS, "get_token", &config)
        .await
        .unwrap();
    let sent = String::from_utf8(received.recv().await.unwrap()).unwrap();
    let head = sent.to_ascii_lowercase();
    assert!(
        sent.starts_with("GET /tenants/a%2Fb/token?app_secret=s%26t HTTP/1.1\r\n"),
        "{sent}"
    );
    assert!(head.contains("\r\nx-app-id: me\r\n"), "{sent}");
    assert!(
        head.contains("\r\naccept: application/x-www-form-urlencoded\r\n"),
        "{sent}"
    );
    assert!(!head.contains("content-type"), "no body: {sent}");
    assert_eq!(response.headers()["content-type"], "application/json");
    let json: serde_json::Value =
        serde_json::from_slice(buffered_body(&response).unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"access_token": "t+k", "expires_in": "3600", "token_type": "bearer"})
    );
}
