//! How a record is written down in a store: a versioned envelope naming its
//! key, with the token and the failure each sealed (ChaCha20-Poly1305) when
//! a key is configured. The file store and the Redis store write the same
//! bytes.

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};

use tokenmux_wire::Secret;

use crate::failure::{is_bounded, is_code};
use crate::verifier::Verifier;
use crate::{
    AccessToken, FailureKind, MAX_VERSION, Record, SharedFailure, StoreError, StoreKey, Versioned,
};

const FORMAT: &str = "tokenmux-token/1";

/// A 256-bit key for encrypting tokens at rest (ChaCha20-Poly1305). `Debug`
/// never shows it.
///
/// ```
/// use tokenmux_store::EncryptionKey;
///
/// let key = EncryptionKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
/// assert_eq!(format!("{key:?}"), "EncryptionKey([redacted])");
/// assert!(EncryptionKey::from_base64("too short").is_err());
/// ```
#[derive(Clone)]
pub struct EncryptionKey(Key);

/// The text given as an [`EncryptionKey`] is not one (it names no part
/// of what was given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an encryption key is 32 bytes in standard base64")]
pub struct InvalidKey;

impl EncryptionKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Key::from(bytes))
    }

    /// A key from its standard base64 form (32 bytes once decoded).
    pub fn from_base64(text: &str) -> Result<Self, InvalidKey> {
        let bytes = BASE64
            .decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or(InvalidKey)?;
        Ok(Self::from_bytes(bytes))
    }

    /// A new random key (print it with [`to_base64`](Self::to_base64) once, and keep it secret).
    pub fn generate() -> Self {
        Self(ChaCha20Poly1305::generate_key(&mut OsRng))
    }

    /// The key in standard base64.
    pub fn to_base64(&self) -> Secret {
        Secret::new(BASE64.encode(self.0.as_slice()))
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, StoreError> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = ChaCha20Poly1305::new(&self.0)
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| StoreError::unavailable("encryption failed"))?;
        Ok(Sealed {
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        })
    }

    fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        let corrupt = || StoreError::corrupt("cannot decrypt: wrong key, or altered");
        let nonce = BASE64.decode(&sealed.nonce).map_err(|_| corrupt())?;
        let ciphertext = BASE64.decode(&sealed.ciphertext).map_err(|_| corrupt())?;
        if nonce.len() != 12 {
            return Err(corrupt());
        }
        ChaCha20Poly1305::new(&self.0)
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad,
                },
            )
            .map_err(|_| corrupt())
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKey([redacted])")
    }
}

/// An encrypted payload.
#[derive(Serialize, Deserialize)]
struct Sealed {
    nonce: String,
    ciphertext: String,
}

/// How a token is written down (the secrets in the clear: only ever stored
/// encrypted, or in a 0600 file).
#[derive(Serialize, Deserialize)]
struct TokenRecord {
    access_token: String,
    token_type: String,
    obtained_at: SystemTime,
    expires_at: SystemTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// The verifier of the credentials that obtained it (a record without
    /// one, or with another's, is not served to these credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials: Option<String>,
    /// The DPoP key a `DPoP` token is bound to (its PKCS#8, base64url):
    /// sealed with the token when the store encrypts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_key: Option<String>,
}

impl TokenRecord {
    fn from_token(token: &AccessToken) -> Self {
        Self {
            access_token: token.secret().expose_secret().to_owned(),
            token_type: token.token_type().to_owned(),
            obtained_at: token.obtained_at(),
            expires_at: token.expires_at(),
            refresh_token: token.refresh_token().map(|t| t.expose_secret().to_owned()),
            credentials: token.verifier().map(Verifier::to_text),
            dpop_key: token
                .dpop_key()
                .map(|key| key.to_stored().expose_secret().to_owned()),
        }
    }

    /// The token, checked as strictly as one from the wire: tokens must be
    /// header-safe; a record whose expiry is before its receipt or
    /// absurdly far counts as expired (its refresh token, if sound, is
    /// kept). A receipt in the future is judged by the source, on its
    /// clock.
    fn into_token(self) -> Result<AccessToken, &'static str> {
        if !crate::is_header_safe(&self.access_token) {
            return Err("the access token is not header-safe");
        }
        if let Some(refresh) = &self.refresh_token
            && (refresh.is_empty() || !refresh.bytes().all(|b| (0x20..=0x7e).contains(&b)))
        {
            return Err("the refresh token is not printable ASCII");
        }
        let lifetime = self.expires_at.duration_since(self.obtained_at).ok();
        let token = match lifetime.filter(|l| *l <= MAX_LIFETIME) {
            Some(lifetime) => AccessToken::new(self.access_token, self.obtained_at, lifetime),
            // Expired: obtained and expiring at the epoch.
            _ => AccessToken::new(self.access_token, SystemTime::UNIX_EPOCH, Duration::ZERO),
        };
        let verifier = match self.credentials {
            Some(text) => {
                Some(Verifier::from_text(&text).ok_or("the credentials verifier is malformed")?)
            }
            None => None,
        };
        // A DPoP token is unusable without its key, and a key makes no
        // bearer token a DPoP one.
        let dpop_key = match (self.token_type.as_str(), self.dpop_key) {
            ("Bearer", None) => None,
            ("DPoP", Some(text)) => Some(std::sync::Arc::new(
                tokenmux_jose::DpopKey::from_stored(&text)
                    .map_err(|_| "the DPoP key is malformed")?,
            )),
            _ => return Err("the token type is neither Bearer nor DPoP with its key"),
        };
        Ok(token
            .with_refresh_token(self.refresh_token.map(Secret::new))
            .with_verifier(verifier.map(std::sync::Arc::new))
            .with_dpop_key(dpop_key))
    }
}

/// The longest lifetime a record may claim (the wire's cap, plus a day).
const MAX_LIFETIME: Duration = Duration::from_secs(crate::MAX_TOKEN_LIFETIME.as_secs() + 86_400);

/// How a shared failure is written down (a message that names no secret;
/// sealed anyway when encryption is on, so that nobody but the holders can
/// read it or plant one).
#[derive(Serialize, Deserialize)]
struct FailureRecord {
    kind: FailureKind,
    code: String,
    message: String,
    until: SystemTime,
    in_a_row: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials: Option<String>,
}

impl FailureRecord {
    fn from_failure(failure: &SharedFailure) -> Self {
        Self {
            kind: failure.kind(),
            code: failure.code().to_owned(),
            message: failure.message().to_owned(),
            until: failure.until(),
            in_a_row: failure.in_a_row(),
            credentials: failure.verifier().map(Verifier::to_text),
        }
    }

    /// The failure, checked as [`SharedFailure::new`] would have made it.
    fn into_failure(self) -> Result<SharedFailure, &'static str> {
        if !is_code(&self.code) || !is_bounded(&self.message) {
            return Err("the failure's code or message is malformed");
        }
        let verifier = match self.credentials {
            Some(text) => Some(
                Verifier::from_text(&text)
                    .ok_or("the failure's credentials verifier is malformed")?,
            ),
            None => None,
        };
        Ok(SharedFailure::new(
            self.kind,
            &self.code,
            &self.message,
            self.until,
            self.in_a_row,
        )
        .with_verifier(verifier.map(std::sync::Arc::new)))
    }
}

/// The record: which key it belongs to, its version, and the token and the
/// failure, each sealed or in the clear. (Readers from before failures
/// ignore `failure` and `sealed_failure`.)
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    store_key: String,
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<TokenRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<Sealed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<FailureRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_failure: Option<Sealed>,
}

/// The two parts of a record, each sealed with its own associated data.
#[derive(Clone, Copy)]
enum Part {
    Token,
    Failure,
}

/// A part of a record as written: in the clear, or sealed.
fn write_part<T: Serialize>(
    value: Option<T>,
    encryption: Option<&EncryptionKey>,
    aad: &[u8],
) -> Result<(Option<T>, Option<Sealed>), StoreError> {
    match (value, encryption) {
        (Some(value), Some(encryption)) => {
            let plaintext =
                serde_json::to_vec(&value).map_err(|e| StoreError::unavailable(e.to_string()))?;
            Ok((None, Some(encryption.seal(&plaintext, aad)?)))
        }
        (value, _) => Ok((value, None)),
    }
}

/// A part of a record as read: absent, in the clear (only without
/// encryption), or sealed (only with it).
fn read_part<T: serde::de::DeserializeOwned>(
    clear: Option<T>,
    sealed: Option<Sealed>,
    encryption: Option<&EncryptionKey>,
    aad: &[u8],
) -> Result<Option<T>, &'static str> {
    match (encryption, sealed, clear) {
        (_, None, None) => Ok(None),
        (Some(encryption), Some(sealed), None) => {
            let plaintext = encryption
                .open(&sealed, aad)
                .map_err(|_| "cannot decrypt: wrong key, or altered")?;
            serde_json::from_slice(&plaintext)
                .map(Some)
                .map_err(|_| "undecodable sealed part")
        }
        (None, None, Some(clear)) => Ok(Some(clear)),
        (Some(_), _, _) => Err("not encrypted, but encryption is on"),
        (None, _, _) => Err("encrypted, but no key is configured"),
    }
}

/// The bytes that store `record` as `version` of `key`, as the file and
/// Redis stores write them: a versioned JSON envelope bound to the key,
/// sealed with `encryption` when given. A store of your own can keep these
/// bytes and read them back with [`decode_record`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokenmux_store::{AccessToken, StoreKey, decode_record, encode_record};
///
/// let key = StoreKey::from_parts("acme", "https://auth.example.com", "id", None);
/// let token = AccessToken::new("t", SystemTime::now(), Duration::from_secs(60));
/// let bytes = encode_record(&key, 1, &token.clone().into(), None).unwrap();
/// let back = decode_record(&key, &bytes, None).unwrap();
/// assert_eq!((back.version, back.token().unwrap().secret()), (1, token.secret()));
/// ```
pub fn encode_record(
    key: &StoreKey,
    version: u64,
    record: &Record,
    encryption: Option<&EncryptionKey>,
) -> Result<Vec<u8>, StoreError> {
    let token = record.token.as_ref().map(TokenRecord::from_token);
    let failure = record.failure.as_ref().map(FailureRecord::from_failure);
    let (token, sealed) = write_part(token, encryption, &aad(key, version, Part::Token))?;
    let (failure, sealed_failure) =
        write_part(failure, encryption, &aad(key, version, Part::Failure))?;
    let envelope = Envelope {
        format: FORMAT.to_owned(),
        store_key: key.as_str().to_owned(),
        version,
        token,
        sealed,
        failure,
        sealed_failure,
    };
    serde_json::to_vec(&envelope).map_err(|e| StoreError::unavailable(e.to_string()))
}

/// Decodes a stored token record as the file and Redis stores do, with
/// every check: any bytes give a token or a [`StoreErrorKind::Corrupt`](crate::StoreErrorKind::Corrupt) that
/// names no secret, never a panic. For tools and fuzzing.
///
/// ```
/// use tokenmux_store::{decode_record, StoreErrorKind, StoreKey};
///
/// let key = StoreKey::from_parts("neonpanel", "https://example.com", "id", None);
/// let error = decode_record(&key, b"\xff{", None).unwrap_err();
/// assert_eq!(error.kind(), StoreErrorKind::Corrupt);
/// ```
pub fn decode_record(
    key: &StoreKey,
    bytes: &[u8],
    encryption: Option<&EncryptionKey>,
) -> Result<Versioned, StoreError> {
    decode(key, bytes, encryption).map_err(StoreError::corrupt)
}

/// The token `bytes` store for `key`; why not, if they are not one (the
/// reason names no secret).
fn decode(
    key: &StoreKey,
    bytes: &[u8],
    encryption: Option<&EncryptionKey>,
) -> Result<Versioned, &'static str> {
    if tokenmux_wire::has_duplicate_keys(bytes) {
        return Err("ambiguous: a key is named twice");
    }
    let envelope: Envelope =
        serde_json::from_slice(bytes).map_err(|_| "not a tokenmux token record")?;
    if envelope.format != FORMAT {
        return Err("unknown format");
    }
    if envelope.store_key != key.as_str() {
        return Err("belongs to another key");
    }
    if envelope.version == 0 || envelope.version >= MAX_VERSION {
        return Err("version out of range");
    }
    let version = envelope.version;
    let token: Option<TokenRecord> = read_part(
        envelope.token,
        envelope.sealed,
        encryption,
        &aad(key, version, Part::Token),
    )?;
    let failure: Option<FailureRecord> = read_part(
        envelope.failure,
        envelope.sealed_failure,
        encryption,
        &aad(key, version, Part::Failure),
    )?;
    Ok(Versioned {
        record: Record {
            token: token.map(TokenRecord::into_token).transpose()?,
            failure: failure.map(FailureRecord::into_failure).transpose()?,
        },
        version,
    })
}

/// Binds a sealed part to its key, version and place: a record copied to
/// another key, rolled back to another version, or with its token and
/// failure swapped does not decrypt. (The token's data is what it was
/// before failures were recorded, so older records still open.)
fn aad(key: &StoreKey, version: u64, part: Part) -> Vec<u8> {
    let suffix = match part {
        Part::Token => "",
        Part::Failure => "|failure",
    };
    format!("{FORMAT}|{}|{version}{suffix}", key.as_str()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreErrorKind;

    fn key() -> StoreKey {
        StoreKey::from_parts("acme", "https://auth.example.com", "id", None)
    }

    fn failure() -> SharedFailure {
        let until = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        SharedFailure::new(FailureKind::Transient, "server_error", "HTTP 503", until, 3)
    }

    #[test]
    fn a_dpop_token_keeps_its_key_sealed_with_it_and_a_type_without_its_key_is_refused() {
        let dpop = std::sync::Arc::new(tokenmux_jose::DpopKey::generate().unwrap());
        let stored = dpop.to_stored();
        let obtained = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let record = Record::from(
            AccessToken::new("t-1", obtained, Duration::from_secs(60))
                .with_dpop_key(Some(dpop.clone())),
        );
        let encryption = EncryptionKey::generate();
        for encryption in [None, Some(&encryption)] {
            let bytes = encode_record(&key(), 2, &record, encryption).unwrap();
            let text = String::from_utf8(bytes.clone()).unwrap();
            assert_eq!(text.contains(stored.expose_secret()), encryption.is_none());
            let back = decode_record(&key(), &bytes, encryption).unwrap();
            let token = back.token().unwrap();
            assert_eq!(token.token_type(), "DPoP");
            assert_eq!(token.dpop_key(), Some(&*dpop));
        }
        let text = String::from_utf8(encode_record(&key(), 2, &record, None).unwrap()).unwrap();
        let without_key = text.replace(stored.expose_secret(), "");
        let bearer_typed = text.replace("\"DPoP\"", "\"Bearer\"");
        for planted in [without_key, bearer_typed] {
            let error = decode_record(&key(), planted.as_bytes(), None).unwrap_err();
            assert_eq!(error.kind(), StoreErrorKind::Corrupt, "{error}");
        }
    }

    #[test]
    fn a_failure_alone_round_trips_in_the_clear_and_sealed() {
        let record = Record {
            token: None,
            failure: Some(failure()),
        };
        let encryption = EncryptionKey::generate();
        for encryption in [None, Some(&encryption)] {
            let bytes = encode_record(&key(), 4, &record, encryption).unwrap();
            let back = decode_record(&key(), &bytes, encryption).unwrap();
            assert_eq!((back.record, back.version), (record.clone(), 4));
        }
    }

    #[test]
    fn a_record_from_before_failures_still_reads_and_a_planted_failure_is_refused() {
        let old = br#"{"format":"tokenmux-token/1","store_key":"acme|https://auth.example.com|id","version":2,
            "token":{"access_token":"t","token_type":"Bearer","obtained_at":{"secs_since_epoch":1700000000,"nanos_since_epoch":0},
            "expires_at":{"secs_since_epoch":1700003600,"nanos_since_epoch":0}}}"#;
        let read = decode_record(&key(), old, None).unwrap();
        assert!(read.token().is_some() && read.failure().is_none());

        let record = Record {
            token: None,
            failure: Some(failure()),
        };
        let text = String::from_utf8(encode_record(&key(), 1, &record, None).unwrap()).unwrap();
        for (from, to) in [
            ("HTTP 503", "\\u001b[2J"),
            ("server_error", "Server Error"),
            ("\"in_a_row\":3", "\"in_a_row\":-1"),
        ] {
            let planted = text.replace(from, to);
            assert_ne!(planted, text);
            let error = decode_record(&key(), planted.as_bytes(), None).unwrap_err();
            assert_eq!(error.kind(), StoreErrorKind::Corrupt, "{planted}");
        }
    }
}
