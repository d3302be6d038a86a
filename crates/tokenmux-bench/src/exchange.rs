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
use tokenmux_bench::exchange_sides::{by_hand, comparable_providers, with_tokenmux};
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
    for provider in comparable_providers() {
        let spec = provider.spec();
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
