//! RFC 7523 §3's claims for a client assertion (or a JWT bearer grant's
//! assertion), made fresh on every request: a new `jti`, `iat` now, a
//! short `exp`. Authorization servers refuse an assertion seen before.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use serde_json::{Map, Value, json};

use crate::{Jwt, SignError, Signer};

/// How long an assertion is valid: long enough for clock skew and a slow
/// network, short enough that a leaked one is soon useless.
const LIFETIME: Duration = Duration::from_secs(60);

/// The claims of one assertion.
///
/// ```
/// use tokenmux_jose::ClientAssertion;
///
/// let a = ClientAssertion::new("my-client", "https://as.example/token").claims();
/// let b = ClientAssertion::new("my-client", "https://as.example/token").claims();
/// assert_eq!(a["iss"], "my-client");
/// assert_eq!(a["sub"], "my-client");
/// assert_eq!(a["aud"], "https://as.example/token");
/// assert_ne!(a["jti"], b["jti"]);
/// assert_eq!(a["exp"].as_u64().unwrap() - a["iat"].as_u64().unwrap(), 60);
/// ```
#[derive(Clone, Debug)]
pub struct ClientAssertion {
    issuer: String,
    subject: String,
    audience: String,
    extra: Map<String, Value>,
}

impl ClientAssertion {
    /// A client's assertion: `iss` and `sub` are its client id, `aud` the
    /// token endpoint or the issuer, as the server wants.
    pub fn new(client_id: &str, audience: &str) -> ClientAssertion {
        ClientAssertion {
            issuer: client_id.to_owned(),
            subject: client_id.to_owned(),
            audience: audience.to_owned(),
            extra: Map::new(),
        }
    }

    /// Sets `sub` apart from `iss` (a service account acting for a user).
    pub fn with_subject(mut self, subject: &str) -> ClientAssertion {
        self.subject = subject.to_owned();
        self
    }

    /// Adds a claim, e.g. `scope` for a JWT bearer grant.
    pub fn with_claim(mut self, name: &str, value: impl Into<Value>) -> ClientAssertion {
        self.extra.insert(name.to_owned(), value.into());
        self
    }

    /// The claims, with a fresh `jti`, `iat` and `exp`.
    pub fn claims(&self) -> Value {
        let now = now_secs();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.audience,
            "jti": fresh_id(),
            "iat": now,
            "exp": now + LIFETIME.as_secs(),
        });
        if let Value::Object(map) = &mut claims {
            for (name, value) in &self.extra {
                map.insert(name.clone(), value.clone());
            }
        }
        claims
    }

    /// Signs a fresh assertion.
    pub async fn sign(&self, signer: &dyn Signer) -> Result<SecretString, SignError> {
        Jwt::new(self.claims()).sign(signer).await
    }
}

/// Now, in whole seconds since the epoch: a JWT's `iat` (and the base of
/// its `exp`).
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// 128 random bits, base64url: unique per assertion (and per DPoP proof).
pub(crate) fn fresh_id() -> String {
    let mut bytes = [0u8; 16];
    // The system RNG fails only if the OS has none; a time-based id keeps
    // the assertion unique then.
    if SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = nanos.to_be_bytes();
    }
    URL_SAFE_NO_PAD.encode(bytes)
}
