//! Config files, any bytes (the first byte chooses YAML or TOML): parsed
//! into named sources, one source, or problems at key paths; never a
//! panic, and, however deep the nesting, in bounded time and memory
//! (libFuzzer's `-timeout` and `-rss_limit_mb` fail the run otherwise).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenmux_config::{ConfigFile, parse};

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    // The reader refuses what is not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match parse(text, mode & 1 == 1) {
        Ok(ConfigFile::Named(file)) => {
            let _ = tokenmux_config::problems(&file);
        }
        Ok(ConfigFile::Single(_)) => {}
        Err(problems) => assert!(!problems.is_empty()),
    }
});
