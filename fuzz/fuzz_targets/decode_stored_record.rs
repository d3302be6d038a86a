//! Stored records, any bytes: the file format and the Redis format (a
//! version field, a NUL, the record), each plain and encrypted (the first
//! byte chooses). A record or a typed error, never a panic; a token read
//! back is always header-safe, its version in range, its expiry not
//! before its receipt; a failure's message is bounded and without control
//! characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenmux::{Credentials, EncryptionKey, Provider, RedisStore, decode_record};

fuzz_target!(|data: &[u8]| {
    let [mode, rest @ ..] = data else {
        return;
    };
    let key = Provider::neonpanel().store_key(&Credentials::client("fuzz-client", "s"));
    let encryption = (mode & 1 == 1).then(|| EncryptionKey::from_bytes([7; 32]));
    let read = if mode & 2 == 0 {
        decode_record(&key, rest, encryption.as_ref()).map(Some)
    } else {
        let (version, record) = match rest.iter().position(|b| *b == 0) {
            Some(at) => (Some(&rest[..at]), Some(&rest[at + 1..])),
            None => (None, (!rest.is_empty()).then_some(rest)),
        };
        let mut store = RedisStore::new("redis://127.0.0.1:6379").expect("a valid URL");
        if let Some(encryption) = encryption {
            store = store.with_encryption(encryption);
        }
        store.decode_value(
            &key,
            version.map(|v| String::from_utf8_lossy(v).into_owned()),
            record.map(<[u8]>::to_vec),
        )
    };
    match read {
        Ok(Some(stored)) => {
            assert!(stored.version > 0 && stored.version < 1 << 53);
            if let Some(token) = stored.token() {
                assert!(token.authorization().to_str().is_ok());
                assert!(token.expires_at() >= token.obtained_at());
            }
            if let Some(failure) = stored.failure() {
                let message = failure.message();
                assert!(message.len() <= tokenmux::MAX_FAILURE_MESSAGE);
                assert!(!message.chars().any(char::is_control));
            }
        }
        Ok(None) => {}
        Err(error) => assert!(error.to_string().len() < 4096),
    }
});
