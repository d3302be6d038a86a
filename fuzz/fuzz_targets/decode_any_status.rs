//! Any provider (from the spec registry), any status, any bytes (the first three bytes choose the
//! provider and the status): a token only for 200, a typed error otherwise;
//! never a panic.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use tokenmux::{Provider, RefreshPolicy, decode_token_response};

fuzz_target!(|data: &[u8]| {
    let [which, high, low, body @ ..] = data else {
        return;
    };
    let providers = Provider::all();
    let provider = &providers[usize::from(*which) % providers.len()];
    let status = u16::from_be_bytes([*high, *low]);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let policy = RefreshPolicy {
        max_lifetime: Some(Duration::from_secs(86_400)),
        ..RefreshPolicy::default()
    };
    match decode_token_response(provider, status, body, now, &policy) {
        Ok(token) => {
            assert_eq!(status, 200);
            assert!(token.lifetime() <= Duration::from_secs(86_400));
        }
        Err(error) => {
            // Display never panics and stays bounded.
            assert!(error.to_string().len() < 4096);
        }
    }
});
