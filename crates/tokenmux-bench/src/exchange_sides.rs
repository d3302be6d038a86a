//! The two sides of one cold exchange, shared by the load harness (row 2,
//! timed) and the instruction counts (row 10, under callgrind): tokenmux (a
//! new `TokenSource` over an empty memory store, one `token()`) and the same
//! request written out with bare reqwest.

use serde_json::{Value, json};
use tokenmux::endpoint::{
    BodyEncoding, ClientAuth, CredentialRole, EndpointSpec, FieldValue, GrantKind, Place,
};
use tokenmux::{Credentials, Provider, TokenSource};
use tokenmux_mock::{
    DEFAULT_CLIENT_ID as ID, DEFAULT_CLIENT_SECRET as SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME,
};

/// The providers of the registry both sides can ask: a request signed per
/// request (a private key's JWT, a client certificate) has no bare-reqwest
/// side here.
pub fn comparable_providers() -> Vec<Provider> {
    Provider::all()
        .into_iter()
        .filter(|provider| {
            let needs = tokenmux::endpoint::Needs::of(provider.spec());
            let signed = needs.requires(CredentialRole::PrivateKey)
                || needs.requires(CredentialRole::ClientCertificate);
            if signed {
                eprintln!(
                    "exchange: {} skipped: its requests are signed",
                    provider.spec().name
                );
            }
            !signed
        })
        .collect()
}

/// The value both clients send for a required parameter.
const BENCH_PARAMETER: &str = "bench";

pub async fn with_tokenmux(provider: &Provider, client: &reqwest::Client) -> String {
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
pub async fn by_hand(spec: &EndpointSpec, base: &str, client: &reqwest::Client) -> String {
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
