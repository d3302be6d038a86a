//! `tokenmux mock`: the mock server, for users' own integration tests.

use std::time::Duration;

use clap::Args;
use tokenmux_mock::{ClientCredentials, MockConfig, MockServer};

use crate::{Failure, print_line};

/// Options of `tokenmux mock`.
#[derive(Args)]
pub(crate) struct MockArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// `expires_in` of the tokens issued, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_lifetime: u64,
    /// Client id every endpoint accepts.
    #[arg(long, env = "TOKENMUX_MOCK_CLIENT_ID", default_value = tokenmux_mock::DEFAULT_CLIENT_ID)]
    client_id: String,
    /// Client secret every endpoint accepts.
    #[arg(long, env = "TOKENMUX_MOCK_CLIENT_SECRET", default_value = tokenmux_mock::DEFAULT_CLIENT_SECRET, hide_env_values = true)]
    client_secret: String,
    /// Username of the password grant.
    #[arg(long, env = "TOKENMUX_MOCK_USERNAME", default_value = tokenmux_mock::DEFAULT_USERNAME)]
    username: String,
    /// Password of the password grant.
    #[arg(long, env = "TOKENMUX_MOCK_PASSWORD", default_value = tokenmux_mock::DEFAULT_PASSWORD, hide_env_values = true)]
    password: String,
    /// Revoke a refresh token's whole family (its access tokens too) when
    /// a used-up refresh token is presented again, as OAuth 2.1 advises.
    #[arg(long)]
    revoke_family_on_reuse: bool,
    /// The client's public key (a PEM `PUBLIC KEY` block or a public
    /// JWK) that signed JWTs (`private_key_jwt` client assertions) must
    /// verify with. Default: the public half of the mock's well-known test
    /// key, `crates/tokenmux-mock/keys/client.pem` in tokenmux's
    /// repository.
    #[arg(long, value_name = "PATH")]
    client_public_key_file: Option<std::path::PathBuf>,
}

pub(crate) async fn run(args: MockArgs) -> Result<(), Failure> {
    let client_public_key = match &args.client_public_key_file {
        // A public key is no secret: read plainly, but bounded.
        Some(path) => Some(read_public_key(path)?),
        None => Some(tokenmux_mock::DEFAULT_CLIENT_PUBLIC_KEY.to_owned()),
    };
    let config = MockConfig {
        client_public_key,
        port: args.port,
        token_lifetime: Duration::from_secs(args.token_lifetime),
        client: ClientCredentials::new(args.client_id, args.client_secret),
        username: args.username,
        password: args.password,
        revoke_family_on_reuse: args.revoke_family_on_reuse,
        ..MockConfig::default()
    };
    let server = MockServer::start(config)
        .await
        .map_err(|e| Failure::usage(format!("cannot listen on port {}: {e}", args.port)))?;
    print_line(&format!(
        "tokenmux mock listening on http://{}",
        server.addr()
    ))?;
    for provider in server.providers() {
        print_line(&format!("  {:<10} {}", provider, server.base_url(provider)))?;
    }
    print_line(&format!(
        "control: POST http://{0}/_mock/faults, GET http://{0}/_mock/counters, POST http://{0}/_mock/reset",
        server.addr()
    ))?;
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    Ok(())
}

/// The public key file, at most 64 KiB of text.
fn read_public_key(path: &std::path::Path) -> Result<String, Failure> {
    use std::io::Read as _;
    let refused = |why: String| Failure::usage(format!("--client-public-key-file: {why}"));
    // Checked before opening: opening a FIFO would wait for a writer.
    if !std::fs::metadata(path)
        .map_err(|e| refused(e.to_string()))?
        .is_file()
    {
        return Err(refused("not a regular file".into()));
    }
    let file = std::fs::File::open(path).map_err(|e| refused(e.to_string()))?;
    let mut text = String::new();
    file.take(64 * 1024 + 1)
        .read_to_string(&mut text)
        .map_err(|e| refused(e.to_string()))?;
    match text.len() > 64 * 1024 {
        true => Err(refused("larger than 64 KiB: not a public key".into())),
        false => Ok(text),
    }
}
