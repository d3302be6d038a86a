//! A 200 answer of the jsonapi endpoint, any bytes: decoded into the generated
//! type and normalised, or refused with a typed error; never a panic, and
//! a token is always one a header can carry.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use tokenmux::{ProviderKind, RefreshPolicy, decode_token_response};

fuzz_target!(|body: &[u8]| {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    if let Ok(token) = decode_token_response(
        ProviderKind::JsonApi,
        200,
        body,
        now,
        &RefreshPolicy::default(),
    ) {
        assert!(token.authorization().to_str().is_ok());
        assert!(token.expires_at() >= now);
    }
});
