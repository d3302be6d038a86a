//! Mutual TLS (RFC 8705): a client certificate for the token endpoint and
//! a private CA to trust, against node-oidc-provider over https on
//! loopback. `tls_client_auth` (a CA-issued certificate),
//! `self_signed_tls_client_auth` (a registered self-signed one) and
//! `client_secret_basic` with a certificate each get a token bound to the
//! certificate (introspection: `cnf.x5t#S256`). An API that checks the
//! binding accepts the token from `BearerAuth` over
//! `TokenSource::http_client_builder()` and from `AuthLayer` over
//! hyper-rustls with the certificate, and refuses it without. The CLI's
//! `--client-cert`, `--client-key` and `--ca-file`, a config file's
//! `client_cert_file`, `client_key_file` and `ca_file`, and the agent
//! reach a token endpoint that requires a certificate (a TLS front of the
//! mock).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::Empty;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};
use tokenmux::endpoint::*;
use tokenmux::{AuthLayer, BearerAuth, ClientCertificate, Credentials, Provider, TokenSource};
use tokenmux_mock::{MockConfig, MockServer};
use tokenmux_redis_harness::TestPki;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::edges_cli::bounded;
use crate::oidc::{Oidc, Standard, WITH_ID, grants, spec};
use crate::support::{ID, SECRET};

static TLS_GRANTS: [GrantSpec; 1] = grants(ClientAuth::TlsClientAuth, &WITH_ID);
static SELF_SIGNED_GRANTS: [GrantSpec; 1] = grants(ClientAuth::SelfSignedTlsClientAuth, &WITH_ID);
static BASIC_GRANTS: [GrantSpec; 1] = grants(ClientAuth::Basic, &WITH_ID);
static TLS_SPEC: EndpointSpec = spec("mtls-ca", &TLS_GRANTS);
static SELF_SIGNED_SPEC: EndpointSpec = spec("mtls-self", &SELF_SIGNED_GRANTS);
static BASIC_SPEC: EndpointSpec = spec("basic-bound", &BASIC_GRANTS);
static TLS: Standard = Standard(&TLS_SPEC);
static SELF_SIGNED: Standard = Standard(&SELF_SIGNED_SPEC);
static BASIC: Standard = Standard(&BASIC_SPEC);

/// The test PKI (a CA, a server certificate for 127.0.0.1, a client
/// certificate it issued) plus a self-signed client certificate.
pub(crate) fn pki() -> TestPki {
    let pki = TestPki::new();
    let made = rcgen::generate_simple_self_signed(vec!["tokenmux-self-signed".to_owned()]).unwrap();
    std::fs::write(pki.dir().join("self-signed.pem"), made.cert.pem()).unwrap();
    std::fs::write(
        pki.dir().join("self-signed.key"),
        made.signing_key.serialize_pem(),
    )
    .unwrap();
    pki
}

/// `name`.pem and `name`.key in the PKI's directory.
fn certificate(pki: &TestPki, name: &str) -> ClientCertificate {
    let read = |ext: &str| std::fs::read(pki.dir().join(format!("{name}.{ext}"))).unwrap();
    ClientCertificate::from_pem(&read("pem"), &read("key")).unwrap()
}

fn ca(pki: &TestPki) -> reqwest::Certificate {
    reqwest::Certificate::from_pem(&std::fs::read(pki.ca()).unwrap()).unwrap()
}

fn source(
    oidc: &Oidc,
    pki: &TestPki,
    endpoint: &'static Standard,
    credentials: Credentials,
) -> TokenSource {
    TokenSource::builder(Provider::from_endpoint(endpoint, &oidc.issuer))
        .credentials(credentials)
        .param("scope", "api:read")
        .add_root_certificate(ca(pki))
        .background_refresh(false)
        .build()
        .unwrap()
}

#[tokio::test]
async fn each_mtls_method_gets_a_token_bound_to_the_certificate() {
    let pki = pki();
    let oidc = Oidc::start_with(Some(pki.dir()));
    let issued = certificate(&pki, "client");
    let self_signed = certificate(&pki, "self-signed");
    let cases = [
        (&TLS, Credentials::new().with_client_id("mtls-ca"), &issued),
        (
            &SELF_SIGNED,
            Credentials::new().with_client_id("mtls-self"),
            &self_signed,
        ),
        (
            &BASIC,
            Credentials::client("basic-bound", "bound-secret-0123456789"),
            &issued,
        ),
    ];
    for (endpoint, credentials, certificate) in cases {
        let client_id = credentials.client_id().unwrap().to_owned();
        let credentials = credentials.with_client_certificate(certificate.clone());
        let tokens = source(&oidc, &pki, endpoint, credentials);
        for _ in 0..2 {
            let token = tokens.refresh().await.unwrap();
            let seen = oidc.introspect(token.secret().expose_secret()).await;
            assert_eq!(seen["active"], true, "{client_id}: {seen}");
            assert_eq!(seen["client_id"], client_id.as_str(), "{seen}");
            assert_eq!(seen["scope"], "api:read", "{seen}");
            assert_eq!(
                seen["cnf"]["x5t#S256"],
                certificate.thumbprint(),
                "{client_id}: the token is bound to the certificate: {seen}"
            );
        }
    }
}

#[tokio::test]
async fn a_certificate_missing_unknown_or_untrusted_is_refused() {
    let pki = pki();
    let oidc = Oidc::start_with(Some(pki.dir()));
    // No certificate for a method that needs one: nothing is sent.
    let error = TokenSource::builder(Provider::from_endpoint(&TLS, &oidc.issuer))
        .credentials(Credentials::new().with_client_id("mtls-ca"))
        .param("scope", "api:read")
        .build()
        .unwrap_err();
    let tokenmux::Error::Config(config) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        config.at(),
        Some("credentials.client_certificate"),
        "{error}"
    );
    // The wrong certificate for each client: rejected credentials.
    for (endpoint, client_id, wrong) in [
        (&TLS, "mtls-ca", "self-signed"),
        (&SELF_SIGNED, "mtls-self", "client"),
    ] {
        let credentials = Credentials::new()
            .with_client_id(client_id)
            .with_client_certificate(certificate(&pki, wrong));
        let error = source(&oidc, &pki, endpoint, credentials)
            .token()
            .await
            .unwrap_err();
        assert!(
            matches!(error, tokenmux::Error::CredentialsRejected { .. }),
            "{client_id} with {wrong}: {error:?}"
        );
    }
    // A client given its own HTTP client cannot have a certificate added.
    let error = TokenSource::builder(Provider::from_endpoint(&TLS, &oidc.issuer))
        .credentials(
            Credentials::new()
                .with_client_id("mtls-ca")
                .with_client_certificate(certificate(&pki, "client")),
        )
        .param("scope", "api:read")
        .http_client(reqwest::Client::new())
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("http_client"), "{error}");
}

/// A TLS server config for the PKI's server certificate that asks for a
/// client certificate from the PKI's CA; required, or optional.
fn server_tls(pki: &TestPki, required: bool) -> tokio_rustls::TlsAcceptor {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.ca()).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    );
    let verifier = match required {
        true => verifier.build().unwrap(),
        false => verifier.allow_unauthenticated().build().unwrap(),
    };
    let (cert, key) = pki.server();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![CertificateDer::from_pem_file(cert).unwrap()],
            PrivateKeyDer::from_pem_file(key).unwrap(),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// An API that checks certificate binding as RFC 8705 §3 says: 200 when
/// the bearer token is active at introspection and its `cnf.x5t#S256` is
/// the connection's client certificate, else 401. Returns its URL.
async fn bound_api(pki: &TestPki, oidc: &Oidc) -> String {
    let acceptor = server_tls(pki, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let introspection = oidc.introspector();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, introspection) = (acceptor.clone(), introspection.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let presented = tls.get_ref().1.peer_certificates().map(|chain| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(<sha2::Sha256 as sha2::Digest>::digest(&chain[0]))
                });
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let token = head.lines().find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    let value = value.trim();
                    let scheme = value.get(..7)?;
                    (name.eq_ignore_ascii_case("authorization")
                        && scheme.eq_ignore_ascii_case("bearer "))
                    .then(|| value[7..].to_owned())
                });
                let bound = match token {
                    Some(token) => {
                        let seen = introspection.introspect(&token).await;
                        seen["active"] == true
                            && presented.is_some()
                            && seen["cnf"]["x5t#S256"].as_str() == presented.as_deref()
                    }
                    None => false,
                };
                let status = if bound { "200 OK" } else { "401 Unauthorized" };
                let response =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://127.0.0.1:{port}/v1/things")
}

#[tokio::test]
async fn a_bound_token_is_accepted_by_an_api_only_with_the_certificate() {
    let pki = pki();
    let oidc = Oidc::start_with(Some(pki.dir()));
    let credentials = Credentials::new()
        .with_client_id("mtls-ca")
        .with_client_certificate(certificate(&pki, "client"));
    let tokens = source(&oidc, &pki, &TLS, credentials);
    let api = bound_api(&pki, &oidc).await;
    // BearerAuth over the source's own client builder: the certificate
    // goes with the token.
    let with_certificate = tokens
        .http_client_builder()
        .add_root_certificate(ca(&pki))
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(with_certificate)
        .with(BearerAuth::new(tokens.clone()))
        .build();
    assert_eq!(client.get(&api).send().await.unwrap().status(), 200);
    // The same token without the certificate: refused.
    let without = reqwest::Client::builder()
        .add_root_certificate(ca(&pki))
        .build()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(without)
        .with(BearerAuth::new(tokens.clone()))
        .build();
    assert_eq!(client.get(&api).send().await.unwrap().status(), 401);
    // AuthLayer over hyper, its TLS from the certificate's chain and key.
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.ca()).unwrap())
        .unwrap();
    let certificate = tokens.client_certificate().unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(certificate.certificate_chain(), certificate.private_key())
        .unwrap();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .build();
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(connector);
    let mut client = ServiceBuilder::new()
        .layer(AuthLayer::new(tokens.clone()))
        .service(hyper);
    let request = http::Request::get(&api).body(Empty::new()).unwrap();
    let response = client.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), 200);
}

/// A TLS front of `mock` that requires a client certificate from the
/// PKI's CA: its https base URL for `provider`.
async fn certificate_front(pki: &TestPki, mock: &MockServer, provider: &str) -> String {
    let acceptor = server_tls(pki, true);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let behind = mock.base_url(provider);
    let behind = behind.strip_prefix("http://").unwrap();
    let (upstream, path) = behind.split_once('/').unwrap();
    let upstream = upstream.to_owned();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    format!("https://127.0.0.1:{port}/{path}")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_config_files_and_the_agent_present_the_certificate_and_trust_the_ca() {
    let pki = pki();
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let base = certificate_front(&pki, &mock, "neonpanel").await;
    let (chain, key) = pki.client();
    let (chain, key, ca) = (path(&chain), path(&key), pki.ca());
    let ca = path(&ca);
    let source = [
        "token",
        "--no-agent",
        "--cache",
        "memory",
        "--provider",
        "neonpanel",
        "--base-url",
        &base,
    ];
    let env = [
        ("TOKENMUX_CLIENT_ID", ID),
        ("TOKENMUX_CLIENT_SECRET", SECRET),
    ];
    let limit = Duration::from_secs(30);
    let flags = [
        &source[..],
        &["--ca-file", ca, "--client-cert", chain, "--client-key", key],
    ]
    .concat();
    let (run, _) = bounded(&flags, &env, limit);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("mock-neonpanel-"), "{}", run.stdout);
    // The variables instead of the flags.
    let variables = [
        env[0],
        env[1],
        ("TOKENMUX_CA_FILE", ca),
        ("TOKENMUX_CLIENT_CERT", chain),
        ("TOKENMUX_CLIENT_KEY", key),
    ];
    let (run, _) = bounded(&source, &variables, limit);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Without the certificate the server ends the handshake; without the
    // CA its certificate is not trusted.
    for missing in [
        [&source[..], &["--ca-file", ca]].concat(),
        [&source[..], &["--client-cert", chain, "--client-key", key]].concat(),
    ] {
        let (run, _) = bounded(&missing, &env, limit);
        assert_ne!(run.code, 0, "{missing:?}: {}", run.stdout);
    }
    // The key where the certificate belongs: named by its flag, at once.
    let swapped = [
        &source[..],
        &["--ca-file", ca, "--client-cert", key, "--client-key", chain],
    ]
    .concat();
    let (run, _) = bounded(&swapped, &env, limit);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--client-cert"), "{}", run.stderr);
    assert!(!run.stderr.contains("PRIVATE KEY"), "{}", run.stderr);

    // A config file: one source, then the agent serving it by name.
    let dir = tempfile::tempdir().unwrap();
    let source_yaml = format!(
        "provider: neonpanel\n    base_url: {base}\n    ca_file: {ca}\n    \
         credentials: {{client_id: {{env: PARTNER_A_ID}}, client_secret: {{env: PARTNER_A_SECRET}}, \
         client_cert_file: {chain}, client_key_file: {key}}}\n"
    );
    let single = dir.path().join("single.yaml");
    std::fs::write(&single, source_yaml.replace("\n    ", "\n")).unwrap();
    let run_config = [
        "token",
        "--no-agent",
        "--cache",
        "memory",
        "--config",
        path(&single),
    ];
    let (run, _) = bounded(&run_config, &crate::agent::ENV, limit);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let named = dir.path().join("tokenmux.yaml");
    std::fs::write(&named, format!("sources:\n  bound:\n    {source_yaml}")).unwrap();
    let agent = crate::agent::Agent::start(&[], dir.path(), &named, &[]);
    let (status, body) = agent.curl("/v1/sources/bound/token");
    assert_eq!(status, 200, "{body}");
    assert!(
        crate::agent::access_token(&body).starts_with("mock-neonpanel-"),
        "{body}"
    );
}
