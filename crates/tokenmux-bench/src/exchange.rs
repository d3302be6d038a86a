//! Row 2: one cold token exchange against `tokenmux-mock` on loopback, per
//! provider: tokenmux (a new `TokenSource`, empty cache, one `token()`)
//! against a hand-written reqwest call making the same request with the
//! same client, and, for the OAuth2 password grant, the `oauth2` crate.

use std::future::Future;
use std::time::{Duration, Instant};

use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, ResourceOwnerPassword, ResourceOwnerUsername, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use tokenmux::{Credentials, Provider, ProviderKind, TokenSource};
use tokenmux_mock::{
    DEFAULT_CLIENT_ID as ID, DEFAULT_CLIENT_SECRET as SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
    Provider as Mocked,
};

use crate::measure::{Samples, emit};

/// Exchanges per side per round.
const PER_ROUND: usize = 100;

pub async fn run(rounds: usize) {
    // The mock on a runtime of its own: the client side is measured alone.
    let (mock, _mock_runtime) = crate::measure::mock_on_own_runtime();
    let client = reqwest::Client::new();
    for mocked in Mocked::ALL {
        let kind = ProviderKind::from_name(mocked.name()).unwrap();
        let base = mock.base_url(mocked);
        let mut tokenmux = Vec::new();
        let mut handwritten = Vec::new();
        let mut oauth2 = Vec::new();
        // One exchange of each side in turn, the order flipped every time
        // (ABBA): both sides see the same machine, neither always goes first.
        for i in 0..rounds * PER_ROUND {
            if i % 2 == 0 {
                time(&mut handwritten, by_hand(kind, &base, &client)).await;
                time(&mut tokenmux, with_tokenmux(kind, &base, &client)).await;
            } else {
                time(&mut tokenmux, with_tokenmux(kind, &base, &client)).await;
                time(&mut handwritten, by_hand(kind, &base, &client)).await;
            }
            if kind == ProviderKind::Password {
                time(&mut oauth2, with_oauth2(&base, &client)).await;
            }
        }
        let (tokenmux, handwritten) = (Samples::new(tokenmux), Samples::new(handwritten));
        let oauth2 = (!oauth2.is_empty()).then(|| Samples::new(oauth2));
        emit(json!({
            "row": "exchange",
            "provider": mocked.name(),
            "samples": tokenmux.len(),
            "tokenmux_p50_us": tokenmux.percentile_us(50.0),
            "handwritten_p50_us": handwritten.percentile_us(50.0),
            "oauth2_p50_us": oauth2.as_ref().map(|s| s.percentile_us(50.0)),
            "ratio": tokenmux.percentile_us(50.0) / handwritten.percentile_us(50.0),
        }));
    }
}

async fn time(samples: &mut Vec<Duration>, exchange: impl Future<Output = String>) {
    let start = Instant::now();
    let token = exchange.await;
    samples.push(start.elapsed());
    assert!(!token.is_empty());
}

async fn with_tokenmux(kind: ProviderKind, base: &str, client: &reqwest::Client) -> String {
    let credentials = match kind {
        ProviderKind::Password => {
            Credentials::password(ID, SECRET, DEFAULT_USERNAME, DEFAULT_PASSWORD)
        }
        _ => Credentials::client(ID, SECRET),
    };
    let tokens = TokenSource::builder(Provider::new(kind, base))
        .credentials(credentials)
        .http_client(client.clone())
        .background_refresh(false)
        .build()
        .unwrap();
    tokens
        .token()
        .await
        .unwrap()
        .secret()
        .expose_secret()
        .to_owned()
}

/// The request each document describes, written out with reqwest.
async fn by_hand(kind: ProviderKind, base: &str, client: &reqwest::Client) -> String {
    let json: Value = match kind {
        ProviderKind::NeonPanel => client
            .post(format!("{base}/auth/token"))
            .json(&json!({"client_id": ID, "client_secret": SECRET}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
        ProviderKind::Airalo => {
            let form = reqwest::multipart::Form::new()
                .text("client_id", ID)
                .text("client_secret", SECRET)
                .text("grant_type", "client_credentials");
            client
                .post(format!("{base}/v2/token"))
                .header("accept", "application/json")
                .multipart(form)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        }
        ProviderKind::JsonApi => {
            let body = json!({"data": {"type": "auth-token", "attributes": {"client_id": ID, "client_secret": SECRET}}});
            let bytes = client
                .post(format!("{base}/token/"))
                .header("content-type", "application/vnd.api+json")
                .header("accept", "application/vnd.api+json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            serde_json::from_slice(&bytes).unwrap()
        }
        ProviderKind::Password => client
            .post(format!("{base}/oauth/token"))
            .basic_auth(ID, Some(SECRET))
            .json(&json!({"grant_type": "password", "username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    };
    let token = match kind {
        ProviderKind::Airalo => &json["data"]["access_token"],
        ProviderKind::JsonApi => &json["data"]["attributes"]["access"],
        _ => &json["access_token"],
    };
    token.as_str().unwrap().to_owned()
}

/// The password grant with the `oauth2` crate (a form body, as RFC 6749
/// has it; the mock reads forms too), over the same reqwest client.
async fn with_oauth2(base: &str, client: &reqwest::Client) -> String {
    let oauth = BasicClient::new(ClientId::new(ID.to_owned()))
        .set_client_secret(ClientSecret::new(SECRET.to_owned()))
        .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap());
    let http = |request: oauth2::HttpRequest| async move {
        let (parts, body) = request.into_parts();
        let mut builder = client
            .request(parts.method, parts.uri.to_string())
            .body(body);
        for (name, value) in &parts.headers {
            builder = builder.header(name, value);
        }
        let response = builder.send().await?;
        let mut out = http::Response::builder().status(response.status());
        for (name, value) in response.headers() {
            out = out.header(name, value);
        }
        let body = response.bytes().await?.to_vec();
        Ok::<_, reqwest::Error>(out.body(body).unwrap())
    };
    let token = oauth
        .exchange_password(
            &ResourceOwnerUsername::new(DEFAULT_USERNAME.to_owned()),
            &ResourceOwnerPassword::new(DEFAULT_PASSWORD.to_owned()),
        )
        .request_async(&http)
        .await
        .unwrap();
    token.access_token().secret().clone()
}
