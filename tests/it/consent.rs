//! A refresh token obtained out of band (a one-time consent) as the
//! credential of the primary grant, against a local server over TCP that
//! enforces RFC 6749 §6 strictly: a rotated refresh token is single-use,
//! and presenting a spent one is counted as reuse. The endpoint is the
//! shape of `xtask/fixtures/consent.yaml`: one operation, `grant_type=
//! refresh_token`, the refresh token and the client id in a form body, the
//! client secret optional; its table is written here, the request filled
//! and the answer read by the same glue a generated crate calls.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json, Router, routing::post};
use serde_json::{Value, json};
use tokenmux::endpoint::*;
use tokenmux::{Credentials, Error, MemoryStore, Provider, TokenSource, TokenStore};

static FIELDS: [RequestField; 4] = [
    RequestField {
        place: Place::Body("/grant_type"),
        value: FieldValue::Constant("refresh_token"),
    },
    RequestField {
        place: Place::Body("/refresh_token"),
        value: FieldValue::Credential(CredentialRole::RefreshToken),
    },
    RequestField {
        place: Place::Body("/client_id"),
        value: FieldValue::Credential(CredentialRole::ClientId),
    },
    RequestField {
        place: Place::Body("/client_secret"),
        value: FieldValue::OptionalCredential(CredentialRole::ClientSecret),
    },
];

static GRANTS: [GrantSpec; 1] = [GrantSpec {
    kind: GrantKind::Primary,
    path: "/oauth/v2/token",
    wire: OperationWire {
        operation_id: "refreshToken",
        method: "refresh_token",
        http_method: "POST",
        body: BodyEncoding::FormUrlencoded,
        content_type: Some("application/x-www-form-urlencoded"),
        accept: Some("application/json"),
        response: BodyEncoding::Json,
        auth: ClientAuth::None,
    },
    fields: &FIELDS,
}];

/// `rotating`: the success body has a refresh token (the server may
/// rotate); the other spec's endpoint never issues one.
const fn spec(name: &'static str, rotating: bool) -> EndpointSpec {
    EndpointSpec {
        name,
        title: "consent",
        servers: &[],
        grants: &GRANTS,
        basic_encoding: BasicEncoding::AsDocumented,
        token: TokenFields {
            access_token: "/access_token",
            access_token_header: None,
            token_type: Some("/token_type"),
            expiry: Some(Expiry {
                pointer: "/expires_in",
                form: ExpiryForm::InSeconds,
            }),
            refresh_token: match rotating {
                true => Some("/refresh_token"),
                false => None,
            },
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

static ROTATING: EndpointSpec = spec("consent", true);
static LONG_LIVED: EndpointSpec = spec("consent-long-lived", false);

/// The consent endpoint: the request filled by `request_body`, sent as a
/// form, the answer read by `decode_issued`.
struct Consent(&'static EndpointSpec);

static ROTATING_ENDPOINT: Consent = Consent(&ROTATING);
static LONG_LIVED_ENDPOINT: Consent = Consent(&LONG_LIVED);

impl TokenEndpoint for Consent {
    fn spec(&self) -> &'static EndpointSpec {
        self.0
    }

    fn request<'a>(&'a self, request: TokenRequest<'a>) -> BoxFuture<'a, EndpointResult> {
        Box::pin(async move {
            let (body, _) =
                tokenmux_wire::request_body::<Value>(self.0, request.grant.kind(), &request)?;
            let response = request
                .http
                .post(format!("{}{}", request.base_url, self.0.grants[0].path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_body(&body))
                .send()
                .await
                .map_err(ClientError::CommunicationError)?;
            read_answer(response, self.0).await
        })
    }

    fn decode_success(&self, body: &[u8]) -> Result<Issued, serde_json::Error> {
        tokenmux_wire::decode_issued::<Value>(body, self.0)
    }
}

/// What the server saw.
#[derive(Default)]
struct Server {
    /// The one refresh token that is valid now.
    valid: Option<String>,
    /// Every refresh token it accepted once (rotated away since).
    spent: HashSet<String>,
    /// Refresh tokens presented after they were spent.
    reused: usize,
    /// Requests, and the refresh token each presented.
    presented: Vec<String>,
    /// Whether it rotates (else the consented token stays valid).
    rotates: bool,
    issued: usize,
    /// Requests still to answer 503.
    unavailable: usize,
}

const CONSENTED: &str = "1000.consented-refresh-token";

async fn token(
    State(server): State<Arc<Mutex<Server>>>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut server = server.lock().unwrap();
    let presented = field("refresh_token").unwrap_or_default();
    server.presented.push(presented.clone());
    if server.unavailable > 0 {
        server.unavailable -= 1;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "temporarily_unavailable"})),
        )
            .into_response();
    }
    let fits = field("grant_type").as_deref() == Some("refresh_token")
        && field("client_id").as_deref() == Some("public-client")
        && field("client_secret").is_none();
    if !fits {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request"})),
        )
            .into_response();
    }
    if server.valid.as_deref() != Some(presented.as_str()) {
        if server.spent.contains(&presented) {
            server.reused += 1;
        }
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    server.issued += 1;
    let access = format!("access-{}", server.issued);
    if !server.rotates {
        return Json(json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600}))
            .into_response();
    }
    let rotated = format!("1000.rotated-{}", server.issued);
    server.spent.insert(presented);
    server.valid = Some(rotated.clone());
    Json(json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 3600,
        "refresh_token": rotated,
    }))
    .into_response()
}

async fn start(rotates: bool) -> (String, Arc<Mutex<Server>>) {
    let server = Arc::new(Mutex::new(Server {
        valid: Some(CONSENTED.to_owned()),
        rotates,
        ..Default::default()
    }));
    let app = Router::new()
        .route("/oauth/v2/token", post(token))
        .with_state(Arc::clone(&server));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), server)
}

fn consented() -> Credentials {
    Credentials::new()
        .with_client_id("public-client")
        .with_refresh_token(CONSENTED)
}

/// One holder of the store: another process, as far as rotation goes
/// (each source has its own record of the refresh tokens it sent).
fn holder(endpoint: &'static Consent, base: &str, store: &Arc<dyn TokenStore>) -> TokenSource {
    TokenSource::builder(Provider::from_endpoint(endpoint, base))
        .credentials(consented())
        .store(Arc::clone(store))
        .background_refresh(false)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_rotated_consent_token_is_kept_shared_and_never_presented_twice() {
    let (base, server) = start(true).await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let first = holder(&ROTATING_ENDPOINT, &base, &store);
    let token = first.token().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "access-1");
    // Holders take turns refreshing: each presents the newest rotated
    // token from the store, never the consented one again.
    let holders = [
        holder(&ROTATING_ENDPOINT, &base, &store),
        first,
        holder(&ROTATING_ENDPOINT, &base, &store),
    ];
    for round in 0..6 {
        let token = holders[round % 3].refresh().await.unwrap();
        assert_eq!(
            token.secret().expose_secret(),
            format!("access-{}", round + 2)
        );
    }
    let server = server.lock().unwrap();
    assert_eq!(server.reused, 0, "presented: {:?}", server.presented);
    assert_eq!(server.issued, 7);
    assert_eq!(server.presented[0], CONSENTED);
    assert_eq!(
        server.presented.iter().filter(|p| *p == CONSENTED).count(),
        1
    );
}

#[tokio::test]
async fn the_consented_token_is_not_presented_again_once_a_token_it_obtained_is_stored() {
    let (base, server) = start(true).await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let first = holder(&ROTATING_ENDPOINT, &base, &store);
    first.token().await.unwrap();
    // The rotated refresh token is lost (a holder claimed it and died
    // with its request in flight): the store holds our token without it.
    let key = Provider::from_endpoint(&ROTATING_ENDPOINT, base.as_str()).store_key(&consented());
    let stored = store.get(&key).await.unwrap().unwrap();
    let without = tokenmux::Record {
        token: Some(stored.token().unwrap().clone().with_refresh_token(None)),
        failure: None,
    };
    store
        .put(&key, &without, Some(stored.version))
        .await
        .unwrap();
    let second = holder(&ROTATING_ENDPOINT, &base, &store);
    let error = second.refresh().await.unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("credentials.refresh_token"), "{text}");
    assert!(
        text.contains("give a newly obtained refresh token"),
        "{text}"
    );
    assert!(
        !text.contains(CONSENTED) && !text.contains("rotated"),
        "{text}"
    );
    let server = server.lock().unwrap();
    assert_eq!(server.presented, [CONSENTED], "nothing presented twice");
    assert_eq!(server.reused, 0);
}

#[tokio::test]
async fn a_consent_token_the_endpoint_never_rotates_is_presented_on_every_refresh() {
    let (base, server) = start(false).await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let source = holder(&LONG_LIVED_ENDPOINT, &base, &store);
    for round in 1..=3 {
        let token = source.refresh().await.unwrap();
        assert_eq!(token.secret().expose_secret(), format!("access-{round}"));
    }
    // A second holder, and a restart with the store lost, present it too.
    holder(&LONG_LIVED_ENDPOINT, &base, &store)
        .refresh()
        .await
        .unwrap();
    let lost: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    holder(&LONG_LIVED_ENDPOINT, &base, &lost)
        .token()
        .await
        .unwrap();
    let server = server.lock().unwrap();
    assert_eq!(server.presented, [CONSENTED; 5]);
}

/// A spec that says the endpoint may rotate, and an endpoint that does
/// not this time: RFC 6749 §6 leaves the presented token valid, so it is
/// kept with the new token, claimed from the store, and presented again.
#[tokio::test]
async fn a_refresh_token_not_replaced_in_the_answer_stays_the_one_to_present() {
    let (base, server) = start(false).await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let first = holder(&ROTATING_ENDPOINT, &base, &store);
    first.token().await.unwrap();
    let second = holder(&ROTATING_ENDPOINT, &base, &store);
    for round in 0..4 {
        [&first, &second][round % 2].refresh().await.unwrap();
    }
    let server = server.lock().unwrap();
    assert_eq!(server.presented, [CONSENTED; 5]);
    assert_eq!(server.issued, 5);
}

/// Presenting a refresh token the endpoint may rotate is not retried
/// (the first attempt may have consumed it); an answer that it was not
/// processed (503) leaves it presentable later.
#[tokio::test]
async fn a_consent_token_is_not_retried_and_a_503_leaves_it_valid() {
    let (base, server) = start(true).await;
    server.lock().unwrap().unavailable = 1;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
    let source = holder(&ROTATING_ENDPOINT, &base, &store);
    let error = source.token().await.unwrap_err();
    assert!(matches!(error, Error::Server { .. }), "{error:?}");
    assert_eq!(server.lock().unwrap().presented.len(), 1, "not retried");
    let token = source.refresh().await.unwrap();
    assert_eq!(token.secret().expose_secret(), "access-1");
    assert_eq!(server.lock().unwrap().presented, [CONSENTED; 2]);
}

#[tokio::test]
async fn the_builder_names_a_missing_refresh_token_and_an_optional_secret_is_left_out() {
    let (base, server) = start(true).await;
    let error = TokenSource::builder(Provider::from_endpoint(&ROTATING_ENDPOINT, base.as_str()))
        .credentials(Credentials::new().with_client_id("public-client"))
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("credentials.refresh_token: the consent provider needs client_id and refresh_token: give refresh_token"),
        "{error}"
    );
    // A client secret given is sent (the server here refuses it: it
    // expects a public client), and never shown.
    let source = TokenSource::builder(Provider::from_endpoint(&ROTATING_ENDPOINT, base.as_str()))
        .credentials(consented().with_client_secret("s3cret-value"))
        .build()
        .unwrap();
    let error = source.token().await.unwrap_err();
    assert!(matches!(error, Error::RequestRefused { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("s3cret-value"));
    assert_eq!(server.lock().unwrap().issued, 0);
}
