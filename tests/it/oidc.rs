//! Client authentication against node-oidc-provider, a certified OpenID
//! provider (npm `oidc-provider`, installed by `cargo xtask test` in
//! `tests/oidc/`), on loopback: one registered client per method. Each
//! token is fetched through `TokenSource`, the request filled by the
//! wire glue and sent through the same request hook a generated client
//! runs, then checked at the server's introspection endpoint (active, the
//! right client, the right scope). The endpoint is a standard RFC 6749
//! §4.4 client credentials request (a form, `scope` a parameter).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tokenmux::endpoint::*;
use tokenmux::jose::{Algorithm, PrivateKey};
use tokenmux::{Credentials, Provider, TokenSource};

/// The server, stopped when dropped (its stdin closes).
pub(crate) struct Oidc {
    child: Child,
    pub(crate) issuer: String,
    /// A client that trusts the server (its test CA, over https).
    http: reqwest::Client,
}

impl Oidc {
    pub(crate) fn start() -> Oidc {
        Oidc::start_with(None)
    }

    /// The server; over https with its RFC 8705 clients when `tls` names
    /// a directory of `ca.pem`, `server.pem`, `server.key` and
    /// `self-signed.pem` (see tests/oidc/server.mjs).
    pub(crate) fn start_with(tls: Option<&std::path::Path>) -> Oidc {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut command = Command::new("node");
        command
            .arg(format!("{root}/tests/oidc/server.mjs"))
            .arg(format!("{root}/crates/tokenmux-jose/tests/keys"));
        let mut http = reqwest::Client::builder();
        if let Some(tls) = tls {
            command.arg(tls);
            let ca = std::fs::read(tls.join("ca.pem")).unwrap();
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/oidc/server.mjs (cargo xtask test installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started: Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("node-oidc-provider did not start (run npm ci in tests/oidc): {line:?}")
        });
        Oidc {
            child,
            issuer: started["issuer"].as_str().unwrap().to_owned(),
            http: http.build().unwrap(),
        }
    }

    /// What the introspection endpoint says of `token`.
    pub(crate) async fn introspect(&self, token: &str) -> Value {
        self.introspector().introspect(token).await
    }

    /// The introspection endpoint, for a task of its own.
    pub(crate) fn introspector(&self) -> Introspector {
        Introspector {
            issuer: self.issuer.clone(),
            http: self.http.clone(),
        }
    }
}

/// The server's introspection endpoint, asked as client `basic`.
#[derive(Clone)]
pub(crate) struct Introspector {
    issuer: String,
    http: reqwest::Client,
}

impl Introspector {
    /// What the introspection endpoint says of `token`.
    pub(crate) async fn introspect(&self, token: &str) -> Value {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .finish();
        self.http
            .post(format!("{}/token/introspection", self.issuer))
            .basic_auth("basic", Some("basic-secret-0123456789"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SCOPE: RequestField = RequestField {
    place: Place::Body("/scope"),
    value: FieldValue::Parameter(ParameterSpec {
        name: "scope",
        required: true,
        default: None,
        secret: false,
    }),
};
const GRANT_TYPE: RequestField = RequestField {
    place: Place::Body("/grant_type"),
    value: FieldValue::Constant("client_credentials"),
};
const CLIENT_ID: RequestField = RequestField {
    place: Place::Body("/client_id"),
    value: FieldValue::Credential(CredentialRole::ClientId),
};
const CLIENT_SECRET: RequestField = RequestField {
    place: Place::Body("/client_secret"),
    value: FieldValue::Credential(CredentialRole::ClientSecret),
};

static BARE: [RequestField; 2] = [GRANT_TYPE, SCOPE];
pub(crate) static WITH_ID: [RequestField; 3] = [GRANT_TYPE, SCOPE, CLIENT_ID];
static WITH_SECRET: [RequestField; 4] = [GRANT_TYPE, SCOPE, CLIENT_ID, CLIENT_SECRET];

const fn wire(auth: ClientAuth) -> OperationWire {
    OperationWire {
        operation_id: "token",
        method: "token",
        http_method: "POST",
        body: BodyEncoding::FormUrlencoded,
        content_type: Some("application/x-www-form-urlencoded"),
        accept: Some("application/json"),
        response: BodyEncoding::Json,
        auth,
    }
}

pub(crate) const fn grants(auth: ClientAuth, fields: &'static [RequestField]) -> [GrantSpec; 1] {
    [GrantSpec {
        kind: GrantKind::Primary,
        path: "/token",
        wire: wire(auth),
        fields,
    }]
}

pub(crate) const fn spec(name: &'static str, grants: &'static [GrantSpec]) -> EndpointSpec {
    EndpointSpec {
        name,
        title: "RFC 6749 client credentials",
        servers: &[],
        grants,
        basic_encoding: BasicEncoding::Rfc6749FormUrlencoded,
        token: TokenFields {
            access_token: "/access_token",
            access_token_header: None,
            token_type: Some("/token_type"),
            expiry: Some(Expiry {
                pointer: "/expires_in",
                form: ExpiryForm::InSeconds,
            }),
            refresh_token: None,
            token_types: &[],
        },
        error: ErrorFields {
            code: &["/error"],
            message: &["/error_description"],
        },
        errors: &[],
        max_lifetime_secs: None,
        success_example: None,
        presentation: Presentation::BEARER,
        success_status: 200,
    }
}

static BASIC_GRANTS: [GrantSpec; 1] = grants(ClientAuth::Basic, &BARE);
static POST_GRANTS: [GrantSpec; 1] = grants(ClientAuth::None, &WITH_SECRET);
static NONE_GRANTS: [GrantSpec; 1] = grants(ClientAuth::None, &WITH_ID);
static SECRET_JWT_GRANTS: [GrantSpec; 1] = grants(
    ClientAuth::ClientSecretJwt(AssertionAudience::TokenEndpoint),
    &BARE,
);
static PRIVATE_KEY_JWT_GRANTS: [GrantSpec; 1] = grants(
    ClientAuth::PrivateKeyJwt(AssertionAudience::TokenEndpoint),
    &BARE,
);
static PRIVATE_KEY_JWT_ISSUER_GRANTS: [GrantSpec; 1] =
    grants(ClientAuth::PrivateKeyJwt(AssertionAudience::Issuer), &BARE);

static BASIC_SPEC: EndpointSpec = spec("basic", &BASIC_GRANTS);
static POST_SPEC: EndpointSpec = spec("post", &POST_GRANTS);
static NONE_SPEC: EndpointSpec = spec("none", &NONE_GRANTS);
static SECRET_JWT_SPEC: EndpointSpec = spec("secret-jwt", &SECRET_JWT_GRANTS);
static PRIVATE_KEY_JWT_SPEC: EndpointSpec = spec("pk-jwt", &PRIVATE_KEY_JWT_GRANTS);
static PRIVATE_KEY_JWT_ISSUER_SPEC: EndpointSpec =
    spec("pk-jwt-issuer", &PRIVATE_KEY_JWT_ISSUER_GRANTS);

static BASIC: Standard = Standard(&BASIC_SPEC);
static POST: Standard = Standard(&POST_SPEC);
pub(crate) static NONE: Standard = Standard(&NONE_SPEC);
pub(crate) static SECRET_JWT: Standard = Standard(&SECRET_JWT_SPEC);
pub(crate) static PRIVATE_KEY_JWT: Standard = Standard(&PRIVATE_KEY_JWT_SPEC);
static PRIVATE_KEY_JWT_ISSUER: Standard = Standard(&PRIVATE_KEY_JWT_ISSUER_SPEC);

/// The endpoint: the body filled by `request_body`, the request put on
/// the wire by `prepare_request` and sent by `execute` (a generated
/// client's hooks), the answer read by `decode_issued`.
pub(crate) struct Standard(pub(crate) &'static EndpointSpec);

impl TokenEndpoint for Standard {
    fn spec(&self) -> &'static EndpointSpec {
        self.0
    }

    fn request<'a>(&'a self, request: TokenRequest<'a>) -> BoxFuture<'a, EndpointResult> {
        Box::pin(async move { send_form(self.0, request).await })
    }

    fn decode_success(&self, body: &[u8]) -> Result<Issued, serde_json::Error> {
        tokenmux_wire::decode_issued::<Value>(body, self.0)
    }
}

fn key(file: &str, alg: Algorithm) -> PrivateKey {
    let path = format!(
        "{}/../crates/tokenmux-jose/tests/keys/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    PrivateKey::from_bytes(&std::fs::read(path).unwrap())
        .unwrap()
        .with_algorithm(alg)
        .unwrap()
}

/// A source of `endpoint` at the server for these credentials.
fn source(oidc: &Oidc, endpoint: &'static Standard, credentials: Credentials) -> TokenSource {
    TokenSource::builder(Provider::from_endpoint(endpoint, &oidc.issuer))
        .credentials(credentials)
        .param("scope", "api:read")
        .background_refresh(false)
        .build()
        .unwrap()
}

/// Fetches a token twice (a fresh request each time: an assertion the
/// server has seen would be refused) and checks each at introspection.
async fn issued_and_introspected(oidc: &Oidc, source: &TokenSource, client_id: &str) {
    for _ in 0..2 {
        let token = source.refresh().await.unwrap();
        let seen = oidc.introspect(token.secret().expose_secret()).await;
        assert_eq!(seen["active"], true, "{client_id}: {seen}");
        assert_eq!(seen["client_id"], client_id, "{seen}");
        assert_eq!(seen["scope"], "api:read", "{seen}");
    }
}

#[tokio::test]
async fn every_client_authentication_method_gets_a_token_the_server_vouches_for() {
    let oidc = Oidc::start();
    let cases: Vec<(&'static Standard, &str, Credentials)> = vec![
        (
            &BASIC,
            "basic",
            Credentials::client("basic", "basic-secret-0123456789"),
        ),
        (
            &POST,
            "post",
            Credentials::client("post", "post-secret-0123456789"),
        ),
        (&NONE, "public", Credentials::new().with_client_id("public")),
        (
            &SECRET_JWT,
            "secret-jwt",
            Credentials::client(
                "secret-jwt",
                "a-client-secret-for-hs256-of-32-bytes-or-more",
            ),
        ),
    ];
    for (endpoint, client_id, credentials) in cases {
        issued_and_introspected(&oidc, &source(&oidc, endpoint, credentials), client_id).await;
    }
}

#[tokio::test]
async fn private_key_jwt_signs_with_each_algorithm_and_key_format() {
    let oidc = Oidc::start();
    let keys = [
        ("pk-rs256", key("rsa-pkcs1.pem", Algorithm::RS256)),
        ("pk-ps256", key("rsa.jwk", Algorithm::PS256)),
        ("pk-es256", key("ec-sec1.pem", Algorithm::ES256)),
        ("pk-eddsa", key("ed25519-pkcs8.pem", Algorithm::EdDSA)),
    ];
    for (client_id, key) in keys {
        let credentials = Credentials::new()
            .with_client_id(client_id)
            .with_private_key(key);
        let source = source(&oidc, &PRIVATE_KEY_JWT, credentials);
        issued_and_introspected(&oidc, &source, client_id).await;
    }
    // The issuer as the assertion's audience (x-tokenmux-assertion-audience:
    // issuer), the issuer given to the provider.
    let credentials = Credentials::new()
        .with_client_id("pk-es256")
        .with_private_key(key("ec.jwk", Algorithm::ES256));
    let provider = Provider::from_endpoint(&PRIVATE_KEY_JWT_ISSUER, &oidc.issuer)
        .with_issuer(oidc.issuer.as_str());
    let source = TokenSource::builder(provider)
        .credentials(credentials)
        .param("scope", "api:read")
        .background_refresh(false)
        .build()
        .unwrap();
    issued_and_introspected(&oidc, &source, "pk-es256").await;
}

#[tokio::test]
async fn an_assertion_for_another_audience_or_key_is_refused() {
    let oidc = Oidc::start();
    // The issuer as audience needs the issuer: without it, a config error
    // before anything is sent.
    let credentials = Credentials::new()
        .with_client_id("pk-es256")
        .with_private_key(key("ec.jwk", Algorithm::ES256));
    let error = TokenSource::builder(Provider::from_endpoint(
        &PRIVATE_KEY_JWT_ISSUER,
        &oidc.issuer,
    ))
    .credentials(credentials.clone())
    .param("scope", "api:read")
    .build()
    .unwrap_err();
    assert!(error.to_string().contains("issuer"), "{error}");
    // Another issuer than the server's: the assertion is not for it.
    let elsewhere = Provider::from_endpoint(&PRIVATE_KEY_JWT_ISSUER, &oidc.issuer)
        .with_issuer("https://other.example.com");
    let error = TokenSource::builder(elsewhere)
        .credentials(credentials.clone())
        .param("scope", "api:read")
        .build()
        .unwrap()
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(error, tokenmux::Error::CredentialsRejected { .. }),
        "{error:?}"
    );
    // A key the server does not know for the client: rejected credentials.
    let wrong = Credentials::new()
        .with_client_id("pk-es256")
        .with_private_key(key("ed25519.jwk", Algorithm::EdDSA));
    let error = source(&oidc, &PRIVATE_KEY_JWT, wrong)
        .token()
        .await
        .unwrap_err();
    assert!(
        matches!(error, tokenmux::Error::CredentialsRejected { .. }),
        "{error:?}"
    );
}
