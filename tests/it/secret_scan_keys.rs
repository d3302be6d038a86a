//! The secret scan for what signs and proves: private keys (a PEM body, a
//! JWK's `d`), a client certificate's key, and the assertions signed with
//! them. A token endpoint echoes the whole request back in its error, in
//! every encoding of `support::Echo`; none of those secrets, in any
//! encoding, may appear in the errors (Display and Debug), the sources'
//! and credentials' Debug, their status, or the TRACE log. The assertions
//! are read from the requests the endpoint received.

use std::sync::{Arc, Mutex};

use tokenmux::jose::PrivateKey;
use tokenmux::{ClientCertificate, Credentials, Provider, RetryPolicy, TokenSource};

use crate::oidc::{PRIVATE_KEY_JWT, SECRET_JWT, Standard};
use crate::secret_scan::LogWriter;
use crate::support::{Echo, http_response, leaks, read_request};

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/tokenmux-jose/tests/keys"
);
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/tokenmux/tests/data");
const HS_SECRET: &str = "an-hs256-key-of-32-bytes-or-more-9f3e";

/// An endpoint that answers 400 with the request echoed (`echo`) in an
/// OAuth2 error body, and keeps each request's `client_assertion`.
async fn echoing(echo: Echo) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let assertions = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&assertions);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let Some(request) = read_request(&mut socket).await else {
                    return;
                };
                let text = String::from_utf8_lossy(&request);
                let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
                for (name, value) in form_urlencoded::parse(body.as_bytes()) {
                    if name == "client_assertion" {
                        kept.lock().unwrap().push(value.into_owned());
                    }
                }
                let echoed = echo.apply(&request);
                let body = serde_json::json!({
                    "error": "invalid_client",
                    "error_description": echoed,
                })
                .to_string();
                let response = http_response("400 Echo", "application/json", body.as_bytes());
                let _ = socket.write_all(&response).await;
            });
        }
    });
    (format!("http://{addr}"), assertions)
}

/// The lines of a PEM block's body: each a run of the key's base64.
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 16)
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn keys_certificate_keys_and_assertions_never_show() {
    let log = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = Arc::clone(&log);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || LogWriter(Arc::clone(&writer)))
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rsa_pem = std::fs::read_to_string(format!("{KEYS}/rsa-pkcs8.pem")).unwrap();
    let ec_jwk = std::fs::read_to_string(format!("{KEYS}/ec.jwk")).unwrap();
    let jwk_d = serde_json::from_str::<serde_json::Value>(&ec_jwk).unwrap()["d"]
        .as_str()
        .unwrap()
        .to_owned();
    let chain = std::fs::read(format!("{DATA}/client.pem")).unwrap();
    let cert_key = std::fs::read_to_string(format!("{DATA}/client.key")).unwrap();
    let certificate = ClientCertificate::from_pem(&chain, cert_key.as_bytes()).unwrap();
    let mut secrets: Vec<String> = pem_body_lines(&rsa_pem);
    secrets.extend(pem_body_lines(&cert_key));
    secrets.push(jwk_d);
    secrets.push(HS_SECRET.to_owned());

    let kinds: [(&'static Standard, Credentials); 3] = [
        (
            &PRIVATE_KEY_JWT,
            Credentials::new()
                .with_client_id("pk-client")
                .with_private_key(PrivateKey::from_pem(rsa_pem.as_bytes()).unwrap())
                .with_client_certificate(certificate),
        ),
        (
            &PRIVATE_KEY_JWT,
            Credentials::new()
                .with_client_id("pk-client")
                .with_private_key(PrivateKey::from_jwk(ec_jwk.as_bytes()).unwrap()),
        ),
        (&SECRET_JWT, Credentials::client("hs-client", HS_SECRET)),
    ];
    let mut shown = Vec::new();
    let mut assertions = Vec::new();
    for echo in Echo::ALL.into_iter().chain(Echo::NESTED) {
        for (endpoint, credentials) in &kinds {
            let (url, sent) = echoing(echo).await;
            shown.push(format!("{credentials:?}"));
            // (The certificate is presented only over https; this
            // endpoint is http: its key must still never show.)
            let tokens = TokenSource::builder(Provider::from_endpoint(*endpoint, &url))
                .credentials(credentials.clone())
                .param("scope", "api:read")
                .retry_policy(RetryPolicy::none())
                .background_refresh(false)
                .build()
                .unwrap();
            let error = tokens.token().await.unwrap_err();
            shown.push(format!(
                "{error} {error:?} {tokens:?} {:?}",
                tokens.status()
            ));
            assertions.extend(sent.lock().unwrap().drain(..));
        }
    }
    assert_eq!(assertions.len(), 3 * 8, "each request carried an assertion");
    secrets.extend(assertions);
    shown.push(String::from_utf8_lossy(&log.lock().unwrap()).into_owned());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let hits: Vec<String> = shown
        .iter()
        .flat_map(|text| leaks(text, "pk-client", &secrets))
        .collect();
    assert!(hits.is_empty(), "secrets shown: {hits:?}");
}
