//! `cargo run --example quickstart`: tokens from every provider in
//! `specs/`, against the mock token server started in this process.
//!
//! Shows a first call fetching a token, a second one served from the cache,
//! and a refresh with the refresh token once the token's hour is up (on a
//! simulated clock, so the example does not wait an hour). Tokens appear
//! only as fingerprints.

use std::sync::Arc;
use std::time::Duration;

use tokenmux::{Credentials, ManualClock, Provider, TokenSource};
use tokenmux_mock::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME, Grant,
    MockConfig, MockServer,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start(MockConfig::default()).await?;
    println!("mock token server: http://{}", mock.addr());
    let clock = Arc::new(ManualClock::default());

    let mut refreshing = None;
    for provider in Provider::all() {
        let name = provider.name();
        // A username and password where the spec's primary grant asks for them.
        let credentials = match tokenmux::endpoint::Needs::of(provider.spec()).resource_owner() {
            true => Credentials::password(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                DEFAULT_USERNAME,
                DEFAULT_PASSWORD,
            ),
            false => Credentials::client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        };
        let tokens = TokenSource::builder(provider.with_base_url(mock.base_url(name)))
            .credentials(credentials)
            .clock(clock.clone())
            .build()?;
        let first = tokens.token().await?;
        let second = tokens.token().await?;
        println!(
            "{:<10} token {} ({}, {} s{}); second call {} ({} request in all)",
            name,
            first.fingerprint(),
            first.token_type(),
            first.lifetime().as_secs(),
            if first.refresh_token().is_some() {
                ", with a refresh token"
            } else {
                ""
            },
            if second == first {
                "served from the cache"
            } else {
                "fetched again"
            },
            mock.requests_received(name),
        );
        if first.refresh_token().is_some() {
            refreshing = Some((name, tokens));
        }
    }

    if let Some((name, tokens)) = refreshing {
        clock.advance(Duration::from_secs(3600));
        let refreshed = tokens.token().await?;
        println!(
            "an hour later: {name} token refreshed to {} with the refresh token \
             (grants used: password {}, refresh_token {})",
            refreshed.fingerprint(),
            mock.tokens_issued(name, Grant::Password),
            mock.tokens_issued(name, Grant::RefreshToken),
        );
    }
    mock.shutdown().await;
    Ok(())
}
