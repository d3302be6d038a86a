//! DPoP (RFC 9449) against node-oidc-provider on loopback, which demands a
//! nonce in every proof, and its resource server (tests/oidc/server.mjs),
//! which checks proofs with panva's `jose`: the source's key signs a
//! fresh proof per token request (the `use_dpop_nonce` refusal retried
//! once with the server's nonce), the token is `DPoP` and bound to the
//! key (introspection: `cnf.jkt`), and `BearerAuth`, `AuthLayer` and
//! `TokenSource::authorize` prove it on API requests (`htm`, `htu`,
//! `ath`, the API's own nonce). The key travels with the token in the
//! store, sealed when the store encrypts: another holder adopts the token
//! and proves the same key.

use std::sync::Arc;

use http_body_util::Empty;
use secrecy::ExposeSecret as _;
use tokenmux::{
    AuthLayer, BearerAuth, Credentials, EncryptionKey, FileStore, Provider, TokenSource,
};
use tower::{Service as _, ServiceBuilder, ServiceExt as _};

use crate::edges_cli::bounded;
use crate::oidc::Oidc;

/// The EC key `dpop-pk` is registered with (private_key_jwt, ES256).
fn ec_key() -> tokenmux::jose::PrivateKey {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/tokenmux-jose/tests/keys/ec.jwk"
    );
    tokenmux::jose::PrivateKey::from_bytes(&std::fs::read(file).unwrap()).unwrap()
}

async fn dpop_source(oidc: &Oidc, credentials: Credentials) -> TokenSource {
    let provider = Provider::discover(&oidc.issuer).await.unwrap();
    TokenSource::builder(provider)
        .credentials(credentials)
        .param("scope", "api:read")
        .background_refresh(false)
        .dpop(true)
        .build()
        .unwrap()
}

/// The token is DPoP, bound at the server to the source's key.
async fn bound(oidc: &Oidc, tokens: &TokenSource, client_id: &str) -> String {
    let token = tokens.refresh().await.unwrap();
    assert_eq!(token.token_type(), "DPoP");
    let jkt = token.dpop_key().unwrap().thumbprint().to_owned();
    let seen = oidc.introspect(token.secret().expose_secret()).await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], client_id, "{seen}");
    assert_eq!(seen["scope"], "api:read", "{seen}");
    assert_eq!(seen["token_type"], "DPoP", "{seen}");
    assert_eq!(seen["cnf"]["jkt"], jkt.as_str(), "{seen}");
    jkt
}

#[tokio::test]
async fn dpop_tokens_are_bound_to_the_source_key_with_the_servers_nonce() {
    let oidc = Oidc::start();
    for (client_id, credentials) in [
        (
            "dpop-basic",
            Credentials::client("dpop-basic", "dpop-secret-0123456789"),
        ),
        (
            "dpop-public",
            Credentials::new().with_client_id("dpop-public"),
        ),
        (
            "dpop-pk",
            Credentials::new()
                .with_client_id("dpop-pk")
                .with_private_key(ec_key()),
        ),
    ] {
        let tokens = dpop_source(&oidc, credentials).await;
        // The server refuses a proof without its nonce: that a token comes
        // at all shows the refusal was answered with the nonce.
        let first = bound(&oidc, &tokens, client_id).await;
        // The next fetches prove the same key, with fresh proofs (the
        // server refuses a replayed jti).
        for _ in 0..2 {
            assert_eq!(bound(&oidc, &tokens, client_id).await, first);
        }
    }
}

#[tokio::test]
async fn bearer_auth_auth_layer_and_authorize_prove_the_token_on_api_requests() {
    let oidc = Oidc::start();
    let tokens = dpop_source(
        &oidc,
        Credentials::client("dpop-basic", "dpop-secret-0123456789"),
    )
    .await;
    let api = format!("{}/api/things?page=2", oidc.issuer);

    // BearerAuth: the API's 401 use_dpop_nonce is retried once with its
    // nonce, and the next requests carry it at once.
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerAuth::new(tokens.clone()))
        .build();
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response = client.request(method, &api).send().await.unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.headers());
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["client_id"], "dpop-basic");
    }

    // AuthLayer over hyper: the nonce is known now.
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let mut layered = ServiceBuilder::new()
        .layer(AuthLayer::new(tokens.clone()))
        .service(hyper);
    let request = http::Request::get(&api).body(Empty::new()).unwrap();
    let response = layered.ready().await.unwrap().call(request).await.unwrap();
    assert_eq!(response.status(), 200);
    // A relative URI cannot be proved: a clear error, no request.
    let relative = http::Request::get("/api/things")
        .body(Empty::new())
        .unwrap();
    let error = layered
        .ready()
        .await
        .unwrap()
        .call(relative)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("absolute URL"), "{error}");

    // authorize(): the headers for a client of one's own; one proof per
    // request, so the same headers twice are refused the second time.
    let url = reqwest::Url::parse(&api).unwrap();
    let auth = tokens.authorize(&http::Method::GET, &url).await.unwrap();
    assert!(auth.value().to_str().unwrap().starts_with("DPoP "));
    assert!(auth.value().is_sensitive() && auth.dpop().unwrap().is_sensitive());
    let send = || {
        let mut headers = http::HeaderMap::new();
        auth.apply(&mut headers);
        reqwest::Client::new().get(&api).headers(headers).send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    assert_eq!(send().await.unwrap().status(), 401);
    // A proof for another method is refused.
    let post = tokens.authorize(&http::Method::POST, &url).await.unwrap();
    let mut headers = http::HeaderMap::new();
    post.apply(&mut headers);
    let response = reqwest::Client::new()
        .get(&api)
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_key_travels_with_the_token_through_an_encrypted_store() {
    let oidc = Oidc::start();
    let dir = tempfile::tempdir().unwrap();
    let encryption = EncryptionKey::generate();
    let store = || {
        Arc::new(
            FileStore::new(dir.path())
                .unwrap()
                .with_encryption(encryption.clone()),
        )
    };
    let provider = Provider::discover(&oidc.issuer).await.unwrap();
    let holder = |dpop: bool| {
        TokenSource::builder(provider.clone())
            .credentials(Credentials::client("basic", "basic-secret-0123456789"))
            .param("scope", "api:read")
            .store(store())
            .dpop(dpop)
            .build()
            .unwrap()
    };
    let (a, b) = (holder(true), holder(true));
    let token = a.token().await.unwrap();
    let key = token.dpop_key().unwrap();
    // B takes A's token from the store, with its key, and proves it.
    let adopted = b.token().await.unwrap();
    assert_eq!(adopted.secret(), token.secret());
    assert_eq!(adopted.dpop_key(), Some(key));
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(BearerAuth::new(b.clone()))
        .build();
    let api = format!("{}/api/things", oidc.issuer);
    assert_eq!(client.get(&api).send().await.unwrap().status(), 200);
    // Sealed at rest: neither the token nor the key is in the file.
    let stored = key.to_stored();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(stored.expose_secret()));
        assert!(!text.contains(token.secret().expose_secret()));
    }
    // A bearer source of the same client does not take up the DPoP token.
    let bearer = holder(false).token().await.unwrap();
    assert_eq!(bearer.token_type(), "Bearer");
    assert_ne!(bearer.secret(), token.secret());
    assert!(bearer.dpop_key().is_none());
}

/// Sends a GET to `api` with the `header_value` and `dpop` of a CLI's or
/// the agent's JSON: the API's status and nonce.
async fn call_api(api: &str, answer: &serde_json::Value) -> (u16, Option<String>) {
    let response = reqwest::Client::new()
        .get(api)
        .header("authorization", answer["header_value"].as_str().unwrap())
        .header("dpop", answer["dpop"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let nonce = response
        .headers()
        .get("dpop-nonce")
        .map(|n| n.to_str().unwrap().to_owned());
    (response.status().as_u16(), nonce)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_a_config_file_and_the_agent_sign_proofs_for_api_requests() {
    let oidc = Oidc::start();
    let api = format!("{}/api/things", oidc.issuer);
    let limit = std::time::Duration::from_secs(30);
    let secret = [("TOKENMUX_CLIENT_SECRET", "dpop-secret-0123456789")];
    let flags = [
        "token",
        "--no-agent",
        "--cache",
        "memory",
        "--provider",
        "oauth2",
        "--issuer",
        &oidc.issuer,
        "--client-id",
        "dpop-basic",
        "--param",
        "scope=api:read",
        "--dpop",
        "--format",
        "json",
        "--dpop-proof",
        "GET",
        &api,
    ];
    // The CLI: a DPoP token and a proof; the API wants its nonce first.
    let (run, _) = bounded(&flags, &secret, limit);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    assert_eq!(answer["header"], "Authorization");
    let seen = oidc
        .introspect(answer["access_token"].as_str().unwrap())
        .await;
    assert!(seen["cnf"]["jkt"].is_string(), "{seen}");
    let (status, nonce) = call_api(&api, &answer).await;
    assert_eq!(status, 401);
    let nonce = nonce.expect("the API gives its nonce");
    let with_nonce = [&flags[..], &["--dpop-nonce", &nonce]].concat();
    let (run, _) = bounded(&with_nonce, &secret, limit);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(call_api(&api, &answer).await.0, 200);
    // Usage errors: a proof outside JSON, a proof for a bearer token, a
    // nonce that is none.
    let raw = [&flags[..flags.len() - 5], &["--dpop-proof", "GET", &api]].concat();
    let bearer: Vec<&str> = flags
        .iter()
        .map(|f| if *f == "dpop-basic" { "basic" } else { *f })
        .filter(|f| *f != "--dpop")
        .collect();
    let bad_nonce = [&flags[..], &["--dpop-nonce", "a b"]].concat();
    let basic = [("TOKENMUX_CLIENT_SECRET", "basic-secret-0123456789")];
    for (args, env, said) in [
        (raw, &secret, "--format json"),
        (bearer, &basic, "not DPoP-bound"),
        (bad_nonce, &secret, "not a DPoP nonce"),
    ] {
        let (run, _) = bounded(&args, env, limit);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(said), "{}", run.stderr);
    }

    // The agent, from a config file as docs/dpop.md's steps write it
    // (private_key_jwt and `dpop: true`); it signs the proofs.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenmux.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  login:\n    provider: oauth2\n    issuer: {issuer}\n    dpop: true\n    \
             credentials: {{client_id: dpop-pk, private_key: {{file: {key}}}}}\n    \
             params: {{scope: api:read}}\n  plain:\n    provider: oauth2\n    issuer: {issuer}\n    \
             credentials: {{client_id: basic, client_secret: basic-secret-0123456789}}\n    \
             params: {{scope: api:read}}\n",
            issuer = oidc.issuer,
            key = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/tokenmux-jose/tests/keys/ec.jwk"),
        ),
    )
    .unwrap();
    let agent = crate::agent::Agent::start(&[], dir.path(), &config, &[]);
    let (status, body) = agent.curl("/v1/sources/login/token");
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(token["token_type"], "DPoP");
    let seen = oidc
        .introspect(token["access_token"].as_str().unwrap())
        .await;
    assert_eq!(seen["client_id"], "dpop-pk", "{seen}");
    assert!(seen["cnf"]["jkt"].is_string(), "{seen}");
    let header_value = format!("DPoP {}", token["access_token"].as_str().unwrap());
    assert_eq!(token["header_value"], header_value.as_str());
    let ask = |nonce: Option<&str>| {
        let mut request = serde_json::json!({"htm": "GET", "htu": api});
        if let Some(nonce) = nonce {
            request["nonce"] = nonce.into();
        }
        agent.curl_post("/v1/sources/login/proof", &request.to_string())
    };
    let (status, body) = ask(None);
    assert_eq!(status, 200, "{body}");
    let proof: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(proof["header_value"], header_value.as_str());
    let (status, nonce) = call_api(&api, &proof).await;
    assert_eq!(status, 401);
    let nonce = nonce.unwrap();
    let (_, body) = ask(Some(&nonce));
    let proof: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(call_api(&api, &proof).await.0, 200);
    // The agent keeps the nonce for that origin: the next proof has it.
    let (_, body) = ask(None);
    let proof: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(call_api(&api, &proof).await.0, 200);
    // A bearer source has no proofs; a body that is not a request is refused.
    let (status, body) = agent.curl_post(
        "/v1/sources/plain/proof",
        &serde_json::json!({"htm": "GET", "htu": api}).to_string(),
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not_dpop"), "{body}");
    let (status, body) = agent.curl_post("/v1/sources/login/proof", r#"{"htm":"GET"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("htu"), "{body}");

    // The CLI through the agent: the agent signs, with the nonce given.
    let socket = agent.socket.to_str().unwrap();
    let config = config.to_str().unwrap();
    let args = [
        "token",
        "login",
        "--socket",
        socket,
        "--config",
        config,
        "--format",
        "json",
        "--dpop-proof",
        "GET",
        &api,
        "--dpop-nonce",
        &nonce,
    ];
    let (run, _) = bounded(&args, &[], limit);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(answer["token_type"], "DPoP", "{answer}");
    assert!(
        !run.stderr.contains("building the source"),
        "{}",
        run.stderr
    );
    assert_eq!(call_api(&api, &answer).await.0, 200);
}

#[tokio::test]
async fn a_server_that_takes_no_es256_proofs_is_a_configuration_error_before_any_request() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let token_requests = Arc::new(AtomicUsize::new(0));
    let metadata = serde_json::json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "dpop_signing_alg_values_supported": ["RS256", "PS256"],
    });
    let counted = Arc::clone(&token_requests);
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            axum::routing::get(move || async move { axum::Json(metadata) }),
        )
        .route(
            "/token",
            axum::routing::post(move || async move {
                counted.fetch_add(1, Ordering::SeqCst);
                axum::Json(serde_json::json!({"access_token": "t", "token_type": "Bearer"}))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let tokens = TokenSource::builder(Provider::oauth2(issuer.as_str()))
        .credentials(Credentials::client("c", "s-0123456789"))
        .dpop(true)
        .build()
        .unwrap();
    let error = tokens.token().await.unwrap_err();
    assert!(matches!(error, tokenmux::Error::Config(_)), "{error:?}");
    assert!(error.to_string().contains("RS256, PS256 only"), "{error}");
    assert!(error.to_string().contains("ES256"), "{error}");
    assert_eq!(token_requests.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dpop_source_whose_server_issues_bearer_tokens_gets_no_proofs_from_the_agent() {
    // The mock does not do DPoP: it ignores the proof and answers Bearer.
    let mock = tokenmux_mock::MockServer::start(tokenmux_mock::MockConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenmux.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  neon:\n    provider: neonpanel\n    base_url: {}\n    dpop: true\n    \
             credentials: {{client_id: {{env: PARTNER_A_ID}}, client_secret: {{env: PARTNER_A_SECRET}}}}\n",
            mock.base_url("neonpanel")
        ),
    )
    .unwrap();
    let agent = crate::agent::Agent::start(&[], dir.path(), &config, &[]);
    let (status, body) = agent.curl("/v1/sources/neon/token");
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(token["token_type"], "Bearer", "{token}");
    let request = serde_json::json!({"htm": "GET", "htu": "https://api.example.com/v1"});
    let (status, body) = agent.curl_post("/v1/sources/neon/proof", &request.to_string());
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("not_dpop") && body.contains("bearer"),
        "{body}"
    );
}
