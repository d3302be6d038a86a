//! What every decoding target checks: a 200 answer of one provider, any
//! bytes, is decoded and normalised or refused with a typed error; never a
//! panic, and a token is always one a header can carry.

use std::time::{Duration, SystemTime};

use tokenmux::{Provider, RefreshPolicy, decode_token_response};

/// Decodes `body` as `provider`'s 200 answer and checks what comes out.
pub fn check_success_body(provider: &Provider, body: &[u8]) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    if let Ok(token) = decode_token_response(provider, 200, body, now, &RefreshPolicy::default()) {
        assert!(token.authorization().to_str().is_ok());
        assert!(token.expires_at() >= now);
    }
}
