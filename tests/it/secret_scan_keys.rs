//! The secret scan for what signs and proves: private keys (a PEM body, a
//! JWK's `d`), a client certificate's key, and the assertions signed with
//! them. A token endpoint echoes the whole request back in its error, in
//! every encoding of `support::Echo`; none of those secrets, in any
//! encoding, may appear in the errors (Display and Debug), the sources'
//! and credentials' Debug, their status, or the TRACE log. The assertions
//! and DPoP proofs are read from the requests the endpoint received. A
//! DPoP key (its stored form, its private scalar as a JWK's `d`) shows
//! nowhere either, nor in a file store's file names, against
//! node-oidc-provider.

use std::sync::{Arc, Mutex};

use tokenmux::jose::PrivateKey;
use tokenmux::{ClientCertificate, Credentials, Provider, RetryPolicy, TokenSource};

use crate::oidc::{NONE, PRIVATE_KEY_JWT, SECRET_JWT, Standard};
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
                // A DPoP proof, if the source sends one.
                let head = text.split("\r\n\r\n").next().unwrap_or_default();
                for line in head.lines() {
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("dpop")
                    {
                        kept.lock().unwrap().push(value.trim().to_owned());
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
    let (log, _guard) = LogWriter::capture();

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

    // (endpoint, credentials, DPoP)
    let kinds: [(&'static Standard, Credentials, bool); 5] = [
        (
            &PRIVATE_KEY_JWT,
            Credentials::new()
                .with_client_id("pk-client")
                .with_private_key(PrivateKey::from_pem(rsa_pem.as_bytes()).unwrap())
                .with_client_certificate(certificate),
            false,
        ),
        (
            &PRIVATE_KEY_JWT,
            Credentials::new()
                .with_client_id("pk-client")
                .with_private_key(PrivateKey::from_jwk(ec_jwk.as_bytes()).unwrap()),
            true,
        ),
        (
            &SECRET_JWT,
            Credentials::client("hs-client", HS_SECRET),
            false,
        ),
        (
            &SECRET_JWT,
            Credentials::client("hs-client", HS_SECRET),
            true,
        ),
        // A public client: the proof is the only thing signed.
        (&NONE, Credentials::new().with_client_id("pk-client"), true),
    ];
    let mut shown = Vec::new();
    let mut assertions = Vec::new();
    for echo in Echo::ALL.into_iter().chain(Echo::NESTED) {
        for (endpoint, credentials, dpop) in &kinds {
            let (url, sent) = echoing(echo).await;
            shown.push(format!("{credentials:?}"));
            // (The certificate is presented only over https; this
            // endpoint is http: its key must still never show.)
            let tokens = TokenSource::builder(Provider::from_endpoint(*endpoint, &url))
                .credentials(credentials.clone())
                .param("scope", "api:read")
                .retry_policy(RetryPolicy::none())
                .background_refresh(false)
                .dpop(*dpop)
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
    // Each request carried an assertion, and with DPoP a proof.
    assert_eq!(assertions.len(), (4 + 3) * 8);
    secrets.extend(assertions);
    shown.push(String::from_utf8_lossy(&log.lock().unwrap()).into_owned());
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let hits: Vec<String> = shown
        .iter()
        .flat_map(|text| leaks(text, "pk-client", &secrets))
        .collect();
    assert!(hits.is_empty(), "secrets shown: {hits:?}");
}

/// The private scalar of a DPoP key's stored form (PKCS#8 of a P-256 key:
/// the 32 bytes after `02 01 01 04 20`), as a JWK's `d` writes it.
fn dpop_d(stored: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let der = b64.decode(stored).unwrap();
    let at = der
        .windows(5)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
        .unwrap()
        + 5;
    b64.encode(&der[at..at + 32])
}

#[tokio::test]
async fn a_dpop_key_never_shows() {
    use secrecy::ExposeSecret as _;
    let (log, _guard) = LogWriter::capture();
    let oidc = crate::oidc::Oidc::start();
    let dir = tempfile::tempdir().unwrap();
    let tokens = TokenSource::builder(Provider::discover(&oidc.issuer).await.unwrap())
        .credentials(Credentials::client("dpop-basic", "dpop-secret-0123456789"))
        .param("scope", "api:read")
        .store(Arc::new(tokenmux::FileStore::new(dir.path()).unwrap()))
        .dpop(true)
        .build()
        .unwrap();
    let token = tokens.token().await.unwrap();
    let stored = token.dpop_key().unwrap().to_stored();
    let stored = stored.expose_secret().to_owned();
    let d = dpop_d(&stored);
    let url = reqwest::Url::parse(&format!("{}/api/things", oidc.issuer)).unwrap();
    let auth = tokens.authorize(&http::Method::GET, &url).await.unwrap();
    let mut shown = vec![
        format!("{token:?} {tokens:?} {:?} {auth:?}", tokens.status()),
        String::from_utf8_lossy(&log.lock().unwrap()).into_owned(),
    ];
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        shown.push(entry.unwrap().file_name().to_string_lossy().into_owned());
    }
    let hits: Vec<String> = shown
        .iter()
        .flat_map(|text| leaks(text, "dpop-basic", &[stored.as_str(), d.as_str()]))
        .collect();
    assert!(hits.is_empty(), "the DPoP key shown: {hits:?}");
    // The file store keeps it (0600, sealed when encryption is on): the
    // scalar found there shows the scan looks for the right bytes.
    let files: String = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(files.contains(&stored));
}
