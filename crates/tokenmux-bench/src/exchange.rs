//! Row 2: one cold token exchange against `tokenmux-mock` on loopback, per
//! provider of the spec registry: tokenmux (a new `TokenSource`, empty
//! cache, one `token()`) against a bare reqwest call making the same request
//! with the same client (built from the same spec, with none of tokenmux's
//! checks), and, for a password grant, the `oauth2` crate.

use std::future::Future;
use std::time::{Duration, Instant};
use tokenmux_bench_report::{self as report, Measurement};

use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, ResourceOwnerPassword, ResourceOwnerUsername, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use tokenmux::endpoint::{
    BodyEncoding, ClientAuth, CredentialRole, EndpointSpec, FieldValue, GrantKind, Place,
};
use tokenmux::{Credentials, Provider, TokenSource};
use tokenmux_mock::{
    DEFAULT_CLIENT_ID as ID, DEFAULT_CLIENT_SECRET as SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};

use crate::measure::{Samples, emit};

/// Exchanges per side per round.
const PER_ROUND: usize = 100;

pub async fn run(rounds: usize) {
    // The mock on a runtime of its own: the client side is measured alone.
    let (mock, _mock_runtime) = crate::measure::mock_on_own_runtime();
    let client = reqwest::Client::new();
    for provider in Provider::all() {
        let spec = provider.spec();
        // A request signed per request (a private key's JWT, a client
        // certificate) has no bare-reqwest baseline here.
        let needs = tokenmux::endpoint::Needs::of(spec);
        if needs.requires(CredentialRole::PrivateKey)
            || needs.requires(CredentialRole::ClientCertificate)
        {
            eprintln!("exchange: {} skipped: its requests are signed", spec.name);
            continue;
        }
        let base = mock.base_url(spec.name);
        let provider = provider.with_base_url(base.as_str());
        let password_grant = tokenmux::endpoint::Needs::of(spec).resource_owner();
        let mut tokenmux = Vec::new();
        let mut handwritten = Vec::new();
        let mut oauth2 = Vec::new();
        // One exchange of each side in turn, the order flipped every time
        // (ABBA): both sides see the same machine, neither always goes first.
        for i in 0..rounds * PER_ROUND {
            if i % 2 == 0 {
                time(&mut handwritten, by_hand(spec, &base, &client)).await;
                time(&mut tokenmux, with_tokenmux(&provider, &client)).await;
            } else {
                time(&mut tokenmux, with_tokenmux(&provider, &client)).await;
                time(&mut handwritten, by_hand(spec, &base, &client)).await;
            }
            if password_grant {
                time(&mut oauth2, with_oauth2(&base, &client)).await;
            }
        }
        let (tokenmux, handwritten) = (Samples::new(tokenmux), Samples::new(handwritten));
        let oauth2 = (!oauth2.is_empty()).then(|| Samples::new(oauth2));
        emit(Measurement::Exchange(report::Exchange {
            provider: spec.name.to_owned(),
            samples: tokenmux.len(),
            tokenmux_p50_us: tokenmux.percentile_us(50.0),
            handwritten_p50_us: handwritten.percentile_us(50.0),
            oauth2_p50_us: oauth2.as_ref().map(|s| s.percentile_us(50.0)),
            ratio: tokenmux.percentile_us(50.0) / handwritten.percentile_us(50.0),
        }));
    }
}

async fn time(samples: &mut Vec<Duration>, exchange: impl Future<Output = String>) {
    let start = Instant::now();
    let token = exchange.await;
    samples.push(start.elapsed());
    assert!(!token.is_empty());
}

/// The value both clients send for a required parameter.
const BENCH_PARAMETER: &str = "bench";

async fn with_tokenmux(provider: &Provider, client: &reqwest::Client) -> String {
    let credentials = match tokenmux::endpoint::Needs::of(provider.spec()).resource_owner() {
        true => Credentials::password(ID, SECRET, DEFAULT_USERNAME, DEFAULT_PASSWORD),
        false => Credentials::client(ID, SECRET),
    };
    // A value for each required parameter, as `by_hand` sends.
    let credentials = provider
        .spec()
        .parameters()
        .iter()
        .filter(|p| p.required)
        .fold(credentials, |c, p| c.with_param(p.name, BENCH_PARAMETER));
    let tokens = TokenSource::builder(provider.clone())
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

/// The request the spec describes, written out with bare reqwest: no
/// checks, no typed decoding.
async fn by_hand(spec: &EndpointSpec, base: &str, client: &reqwest::Client) -> String {
    let grant = spec.grant(GrantKind::Primary).unwrap();
    let mut body = json!({});
    let (mut pairs, mut query, mut headers) = (Vec::new(), Vec::new(), Vec::new());
    let mut path = grant.path.to_owned();
    for field in grant.fields {
        let value = match field.value {
            FieldValue::Constant(value) => value,
            FieldValue::Credential(CredentialRole::ClientId) => ID,
            FieldValue::Credential(CredentialRole::ClientSecret) => SECRET,
            FieldValue::Credential(CredentialRole::Username) => DEFAULT_USERNAME,
            FieldValue::Credential(_) => DEFAULT_PASSWORD,
            // The benchmark sends what a minimal request needs.
            FieldValue::OptionalCredential(_) => continue,
            // Signed specs are skipped in `run`.
            FieldValue::Assertion(_) => continue,
            FieldValue::Parameter(p) => match (p.default, p.required) {
                (Some(default), _) => default,
                (None, true) => BENCH_PARAMETER,
                (None, false) => continue,
            },
        };
        match field.place {
            Place::Body(pointer) => {
                tokenmux::endpoint::set_pointer(&mut body, pointer, json!(value));
                pairs.push((pointer.trim_start_matches('/').to_owned(), value));
            }
            Place::Query(name) => query.push((name, value)),
            Place::Header(name) => headers.push((name, value)),
            Place::Path(name) => path = path.replace(&format!("{{{name}}}"), value),
        }
    }
    let method = reqwest::Method::from_bytes(grant.wire.http_method.as_bytes()).unwrap();
    let mut request = client
        .request(method, format!("{base}{path}"))
        .query(&query);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(accept) = grant.wire.accept {
        request = request.header("accept", accept);
    }
    if grant.wire.auth == ClientAuth::Basic {
        request = request.basic_auth(ID, Some(SECRET));
    }
    let content_type = grant.wire.content_type.unwrap_or("application/json");
    request = match grant.wire.body {
        BodyEncoding::Multipart => request.multipart(
            pairs
                .into_iter()
                .fold(reqwest::multipart::Form::new(), |form, (k, v)| {
                    form.text(k, v)
                }),
        ),
        BodyEncoding::FormUrlencoded => request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            ),
        BodyEncoding::None => request,
        BodyEncoding::Json => request
            .header("content-type", content_type)
            .body(body.to_string()),
    };
    let response = request.send().await.unwrap();
    // The token where the spec puts it: a response header, a form, JSON.
    if let Some(header) = spec.token.access_token_header {
        return response.headers()[header].to_str().unwrap().to_owned();
    }
    let bytes = response.bytes().await.unwrap();
    if grant.wire.response == BodyEncoding::FormUrlencoded {
        let name = spec.token.access_token.trim_start_matches('/');
        return form_urlencoded::parse(&bytes)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
            .unwrap();
    }
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    json.pointer(spec.token.access_token)
        .and_then(Value::as_str)
        .unwrap()
        .to_owned()
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
