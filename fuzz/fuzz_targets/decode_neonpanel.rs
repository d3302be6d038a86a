//! A 200 answer of the neonpanel endpoint, any bytes (see `check_success_body`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenmux::ProviderKind;

fuzz_target!(|body: &[u8]| tokenmux_fuzz::check_success_body(ProviderKind::NeonPanel, body));
