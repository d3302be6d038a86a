//! A 200 answer of any provider compiled in (the first byte chooses it from
//! `Provider::all()`, the spec registry), any bytes (see `check_success_body`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenmux::Provider;

fuzz_target!(|data: &[u8]| {
    let [which, body @ ..] = data else {
        return;
    };
    let providers = Provider::all();
    let provider = &providers[usize::from(*which) % providers.len()];
    tokenmux_fuzz::check_success_body(provider, body);
});
