//! The unified access token.

use std::fmt;
use std::hash::{Hash as _, Hasher as _};
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use tokenmux_jose::DpopKey;
use tokenmux_wire::Secret;

use crate::verifier::Verifier;

/// An access token from any provider. `Debug` shows a fingerprint, never the
/// token; there is no `Display`.
///
/// ```
/// # use std::time::{Duration, SystemTime};
/// use tokenmux_store::AccessToken;
///
/// let token = AccessToken::new("abc123", SystemTime::now(), Duration::from_secs(60));
/// assert_eq!(token.authorization().to_str().unwrap(), "Bearer abc123");
/// assert!(token.authorization().is_sensitive());
/// assert!(!format!("{token:?}").contains("abc123"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: Secret,
    obtained_at: SystemTime,
    expires_at: SystemTime,
    refresh_token: Option<Secret>,
    /// Which credentials obtained it (set when it is published, checked
    /// when a stored token is taken up).
    verifier: Option<std::sync::Arc<Verifier>>,
    /// The DPoP key the token is bound to (RFC 9449), kept with it so that
    /// whoever holds the token can prove possession.
    dpop_key: Option<std::sync::Arc<DpopKey>>,
}

impl AccessToken {
    /// A bearer token obtained at `obtained_at`, valid for `lifetime`.
    pub fn new(secret: impl Into<Secret>, obtained_at: SystemTime, lifetime: Duration) -> Self {
        Self {
            secret: secret.into(),
            obtained_at,
            expires_at: obtained_at + lifetime,
            refresh_token: None,
            verifier: None,
            dpop_key: None,
        }
    }

    /// Marks it as a DPoP token (RFC 9449) bound to `key`: its type is
    /// `DPoP`, and every request that presents it needs a proof signed by
    /// `key`.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// use std::sync::Arc;
    /// use tokenmux_jose::DpopKey;
    /// use tokenmux_store::AccessToken;
    ///
    /// let key = Arc::new(DpopKey::generate().unwrap());
    /// let token = AccessToken::new("abc", SystemTime::now(), Duration::from_secs(60))
    ///     .with_dpop_key(Some(key.clone()));
    /// assert_eq!(token.authorization().to_str().unwrap(), "DPoP abc");
    /// assert_eq!(token.dpop_key(), Some(&*key));
    /// ```
    pub fn with_dpop_key(mut self, key: Option<std::sync::Arc<DpopKey>>) -> Self {
        self.dpop_key = key;
        self
    }

    /// The DPoP key the token is bound to, if it is a DPoP token.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop_key.as_deref()
    }

    /// The same key, shared.
    pub fn dpop_key_handle(&self) -> Option<std::sync::Arc<DpopKey>> {
        self.dpop_key.clone()
    }

    /// Adds the refresh token issued with it.
    pub fn with_refresh_token(mut self, refresh_token: Option<Secret>) -> Self {
        self.refresh_token = refresh_token;
        self
    }

    /// Marks it as obtained with the credentials `verifier` stands for
    /// (the facade does when it publishes a token; a store keeps it in
    /// the record).
    pub fn with_verifier(mut self, verifier: Option<std::sync::Arc<Verifier>>) -> Self {
        self.verifier = verifier;
        self
    }

    /// The verifier of the credentials that obtained it, if known.
    pub fn verifier(&self) -> Option<&Verifier> {
        self.verifier.as_deref()
    }

    /// The token itself. Call it only where it is sent.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The token type, normalised: `Bearer`, or `DPoP` for a token bound
    /// to a [DPoP key](Self::with_dpop_key).
    pub fn token_type(&self) -> &'static str {
        // Which follows from the key: no field of its own to keep in step.
        match self.dpop_key {
            Some(_) => "DPoP",
            None => "Bearer",
        }
    }

    /// When the token was received.
    pub fn obtained_at(&self) -> SystemTime {
        self.obtained_at
    }

    /// When it expires (receipt time plus the effective lifetime).
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// Its lifetime from receipt to expiry.
    pub fn lifetime(&self) -> Duration {
        self.expires_at
            .duration_since(self.obtained_at)
            .unwrap_or_default()
    }

    /// The refresh token issued with it, if any.
    pub fn refresh_token(&self) -> Option<&Secret> {
        self.refresh_token.as_ref()
    }

    /// `Bearer <token>` (`DPoP <token>` for a DPoP token), marked sensitive so HTTP libraries do not log it.
    pub fn authorization(&self) -> HeaderValue {
        let mut value = HeaderValue::try_from(format!(
            "{} {}",
            self.token_type(),
            self.secret.expose_secret()
        ))
        // Tokens are checked to be header-safe when received.
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        value.set_sensitive(true);
        value
    }

    /// A short, non-reversible tag of the token for logs.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.secret.expose_secret())
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("fingerprint", &self.fingerprint())
            .field("token_type", &self.token_type())
            .field("obtained_at", &self.obtained_at)
            .field("expires_at", &self.expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("dpop_key", &self.dpop_key)
            .finish()
    }
}

/// The longest lifetime a token may claim: ten years. Anything beyond is
/// nonsense from the wire (and would overflow a clock), so it is capped or
/// refused.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(315_360_000);

/// Whether `token` can be sent in an `Authorization` header as it is: not
/// empty, printable ASCII without spaces (no CR/LF to inject a header, no
/// escape to drive a terminal). Every token received, from an endpoint, a
/// store or an agent, is checked with it.
///
/// ```
/// assert!(tokenmux_store::is_header_safe("eyJ.abc-_~+/="));
/// assert!(!tokenmux_store::is_header_safe("a\r\nX-Injected: 1"));
/// assert!(!tokenmux_store::is_header_safe("\u{1b}[2J"));
/// assert!(!tokenmux_store::is_header_safe(""));
/// ```
pub fn is_header_safe(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

/// 8 hex digits of a keyed hash: enough to tell tokens apart in logs,
/// nothing of the token itself.
///
/// ```
/// let tag = tokenmux_store::fingerprint("a-token");
/// assert_eq!(tag.len(), 8);
/// assert_eq!(tag, tokenmux_store::fingerprint("a-token"));
/// ```
pub fn fingerprint(secret: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    secret.hash(&mut hasher);
    format!("{:08x}", hasher.finish() as u32)
}
