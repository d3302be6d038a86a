//! The generic OAuth 2.0 provider (`oauth2`): no spec, the server found by
//! its issuer's metadata. Against node-oidc-provider on loopback, through
//! the library (`Provider::discover`, `Provider::oauth2`), the CLI
//! (`--provider oauth2 --issuer URL`), a config file and the agent; each
//! token checked at the server's introspection endpoint. The method is the
//! first the server lists that the credentials can use, or the one chosen
//! (`with_auth_method`, `client_auth:`, `--client-auth`). A wrong issuer,
//! and metadata that names another issuer, are configuration errors at
//! `issuer`; over https with a certificate, `tls_client_auth` is picked.

use std::time::Duration;

use tokenmux::endpoint::AuthMethod;
use tokenmux::jose::{Algorithm, PrivateKey};
use tokenmux::{ClientCertificate, Credentials, Provider, TokenSource};

use crate::edges_cli::bounded;
use crate::oidc::Oidc;

const KEYS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/tokenmux-jose/tests/keys"
);

fn key(file: &str) -> PrivateKey {
    let bytes = std::fs::read(format!("{KEYS}/{file}")).unwrap();
    PrivateKey::from_bytes(&bytes).unwrap()
}

async fn introspected(oidc: &Oidc, tokens: &TokenSource, client_id: &str) {
    for _ in 0..2 {
        let token = tokens.refresh().await.unwrap();
        let seen = oidc.introspect(token.secret().expose_secret()).await;
        assert_eq!(seen["active"], true, "{client_id}: {seen}");
        assert_eq!(seen["client_id"], client_id, "{seen}");
        assert_eq!(seen["scope"], "api:read", "{seen}");
    }
}

#[tokio::test]
async fn a_discovered_server_issues_tokens_for_each_method() {
    let oidc = Oidc::start();
    let provider = Provider::discover(&oidc.issuer).await.unwrap();
    assert_eq!(provider.name(), "oauth2");
    let es256 = key("ec.jwk").with_algorithm(Algorithm::ES256).unwrap();
    let cases: [(Credentials, Option<AuthMethod>); 5] = [
        (
            Credentials::client("basic", "basic-secret-0123456789"),
            None,
        ),
        (
            Credentials::client("post", "post-secret-0123456789"),
            Some(AuthMethod::ClientSecretPost),
        ),
        (Credentials::new().with_client_id("public"), None),
        (
            Credentials::client(
                "secret-jwt",
                "a-client-secret-for-hs256-of-32-bytes-or-more",
            ),
            Some(AuthMethod::ClientSecretJwt),
        ),
        (
            Credentials::new()
                .with_client_id("pk-es256")
                .with_private_key(es256),
            None,
        ),
    ];
    for (credentials, method) in cases {
        let client_id = credentials.client_id().unwrap().to_owned();
        let provider = match method {
            Some(method) => provider.clone().with_auth_method(method),
            None => provider.clone(),
        };
        let tokens = TokenSource::builder(provider)
            .credentials(credentials)
            .param("scope", "api:read")
            .background_refresh(false)
            .build()
            .unwrap();
        introspected(&oidc, &tokens, &client_id).await;
    }
}

#[tokio::test]
async fn a_resource_parameter_gets_a_token_for_that_api() {
    let oidc = Oidc::start();
    let api = "https://api.example.com/orders";
    let tokens = TokenSource::builder(Provider::oauth2(oidc.issuer.as_str()))
        .credentials(Credentials::client("basic", "basic-secret-0123456789"))
        .param("scope", "api:read")
        .param("resource", api)
        .background_refresh(false)
        .build()
        .unwrap();
    let token = tokens.token().await.unwrap();
    let seen = oidc.introspect(token.secret().expose_secret()).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["aud"], api, "{seen}");
    assert_eq!(seen["scope"], "api:read", "{seen}");
    // Two resources are two sources, each with its own token.
    let other = TokenSource::builder(Provider::oauth2(oidc.issuer.as_str()))
        .credentials(Credentials::client("basic", "basic-secret-0123456789"))
        .param("scope", "api:read")
        .param("resource", "https://api.example.com/billing")
        .background_refresh(false)
        .build()
        .unwrap();
    let seen = oidc
        .introspect(other.token().await.unwrap().secret().expose_secret())
        .await;
    assert_eq!(seen["aud"], "https://api.example.com/billing", "{seen}");
}

#[tokio::test]
async fn another_issuer_or_no_metadata_is_a_configuration_error_at_issuer() {
    let oidc = Oidc::start();
    // The same server by another name: its metadata names its own issuer.
    let renamed = oidc.issuer.replace("127.0.0.1", "localhost");
    let error = Provider::discover(&renamed).await.unwrap_err();
    let tokenmux::Error::Config(config) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(config.at(), Some("issuer"), "{error}");
    assert!(error.to_string().contains("RFC 8414 §3.3"), "{error}");
    // A path the server has no metadata for.
    let error = Provider::discover(&format!("{}/tenant-9", oidc.issuer))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no authorization server metadata"),
        "{error}"
    );
    // Lazily, at the first token request: the same refusal, nothing sent
    // to a token endpoint.
    let tokens = TokenSource::builder(Provider::oauth2(renamed))
        .credentials(Credentials::client("basic", "basic-secret-0123456789"))
        .param("scope", "api:read")
        .build()
        .unwrap();
    let error = tokens.token().await.unwrap_err();
    assert!(matches!(error, tokenmux::Error::Config(_)), "{error:?}");
    // No issuer at all: the builder says what to give.
    let error = TokenSource::builder(Provider::by_name("oauth2").unwrap())
        .credentials(Credentials::client("basic", "basic-secret-0123456789"))
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("issuer"), "{error}");
    // A method the server does not list.
    let provider =
        Provider::oauth2(oidc.issuer.as_str()).with_auth_method(AuthMethod::TlsClientAuth);
    // (A client with a key: this test's secrets hold the word `secret`,
    // and a message with a fragment of a secret is withheld.)
    let credentials = Credentials::new()
        .with_client_id("pk-es256")
        .with_private_key(key("ec.jwk"));
    let tokens = TokenSource::builder(provider)
        .credentials(credentials)
        .build()
        .unwrap();
    let error = tokens.token().await.unwrap_err();
    assert!(error.to_string().contains("does not list"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_a_config_file_and_the_agent_use_a_discovered_server() {
    let oidc = Oidc::start();
    let limit = Duration::from_secs(30);
    let base = [
        "token",
        "--no-agent",
        "--cache",
        "memory",
        "--provider",
        "oauth2",
        "--issuer",
        &oidc.issuer,
        "--param",
        "scope=api:read",
    ];
    let key_file = format!("{KEYS}/ec.jwk");
    let runs: [(&str, Vec<&str>); 2] = [
        (
            "pk-es256",
            vec!["--client-id", "pk-es256", "--private-key-file", &key_file],
        ),
        (
            "post",
            vec!["--client-id", "post", "--client-auth", "client_secret_post"],
        ),
    ];
    for (client_id, flags) in runs {
        let args = [&base[..], &flags].concat();
        let env = [("TOKENMUX_CLIENT_SECRET", "post-secret-0123456789")];
        let env = if client_id == "post" { &env[..] } else { &[] };
        let (run, _) = bounded(&args, env, limit);
        assert_eq!(run.code, 0, "{client_id}: {}", run.stderr);
        let seen = oidc.introspect(run.stdout.trim()).await;
        assert_eq!(seen["client_id"], client_id, "{seen}");
        assert_eq!(seen["active"], true, "{seen}");
    }
    // A method name that is none: a usage error naming the choices.
    let args = [
        &base[..],
        &["--client-id", "post", "--client-auth", "magic"],
    ]
    .concat();
    let (run, _) = bounded(&args, &[("TOKENMUX_CLIENT_SECRET", "x")], limit);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("client_secret_basic"), "{}", run.stderr);

    // The agent, from a config file naming the source.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenmux.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  login:\n    provider: oauth2\n    issuer: {}\n    \
             credentials: {{client_id: pk-es256, private_key_file: {key_file}}}\n    \
             params: {{scope: api:read}}\n",
            oidc.issuer
        ),
    )
    .unwrap();
    let agent = crate::agent::Agent::start(&[], dir.path(), &config, &[]);
    let (status, body) = agent.curl("/v1/sources/login/token");
    assert_eq!(status, 200, "{body}");
    let seen = oidc.introspect(&crate::agent::access_token(&body)).await;
    assert_eq!(seen["client_id"], "pk-es256", "{seen}");
    assert_eq!(seen["active"], true, "{seen}");
}

#[tokio::test]
async fn over_https_a_certificate_picks_tls_client_auth() {
    let pki = crate::mtls::pki();
    let oidc = Oidc::start_with(Some(pki.dir()));
    let read = |name: &str| std::fs::read(pki.dir().join(name)).unwrap();
    let certificate =
        ClientCertificate::from_pem(&read("client.pem"), &read("client.key")).unwrap();
    let ca = reqwest::Certificate::from_pem(&read("ca.pem")).unwrap();
    let tokens = TokenSource::builder(Provider::oauth2(oidc.issuer.as_str()))
        .credentials(
            Credentials::new()
                .with_client_id("mtls-ca")
                .with_client_certificate(certificate.clone()),
        )
        .param("scope", "api:read")
        .add_root_certificate(ca)
        .background_refresh(false)
        .build()
        .unwrap();
    let token = tokens.token().await.unwrap();
    let seen = oidc.introspect(token.secret().expose_secret()).await;
    assert_eq!(seen["client_id"], "mtls-ca", "{seen}");
    assert_eq!(seen["cnf"]["x5t#S256"], certificate.thumbprint(), "{seen}");
}
