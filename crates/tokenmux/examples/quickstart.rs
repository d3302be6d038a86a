//! `cargo run --example quickstart`: tokens from all four providers,
//! against the mock token server started in this process.
//!
//! Shows a first call fetching a token, a second one served from the cache,
//! and a refresh with the refresh token once the token's hour is up (on a
//! simulated clock, so the example does not wait an hour). Tokens appear
//! only as fingerprints.

use std::sync::Arc;
use std::time::Duration;

use tokenmux::{Credentials, ManualClock, Provider, ProviderKind, TokenSource};
use tokenmux_mock::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME, Grant,
    MockConfig, MockServer, Provider as Mocked,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start(MockConfig::default()).await?;
    println!("mock token server: http://{}", mock.addr());
    let clock = Arc::new(ManualClock::default());

    let providers = [
        (ProviderKind::NeonPanel, Mocked::NeonPanel),
        (ProviderKind::Airalo, Mocked::Airalo),
        (ProviderKind::JsonApi, Mocked::JsonApi),
        (ProviderKind::Password, Mocked::Password),
    ];
    let mut password_source = None;
    for (kind, mocked) in providers {
        let credentials = match kind {
            ProviderKind::Password => Credentials::password(
                DEFAULT_CLIENT_ID,
                DEFAULT_CLIENT_SECRET,
                DEFAULT_USERNAME,
                DEFAULT_PASSWORD,
            ),
            _ => Credentials::client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        };
        let tokens = TokenSource::builder(Provider::new(kind, mock.base_url(mocked)))
            .credentials(credentials)
            .clock(clock.clone())
            .build()?;
        let first = tokens.token().await?;
        let second = tokens.token().await?;
        println!(
            "{:<10} token {} ({}, {} s{}); second call {} ({} request in all)",
            kind.name(),
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
            mock.requests_received(mocked),
        );
        if kind == ProviderKind::Password {
            password_source = Some(tokens);
        }
    }

    if let Some(tokens) = password_source {
        clock.advance(Duration::from_secs(3600));
        let refreshed = tokens.token().await?;
        println!(
            "an hour later: password token refreshed to {} with the refresh token \
             (grants used: password {}, refresh_token {})",
            refreshed.fingerprint(),
            mock.tokens_issued(Mocked::Password, Grant::Password),
            mock.tokens_issued(Mocked::Password, Grant::RefreshToken),
        );
    }
    mock.shutdown().await;
    Ok(())
}
