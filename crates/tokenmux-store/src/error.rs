//! Why a store could not be read or written: a kind a caller acts on, a
//! message that says what was tried (never a secret), and the cause.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

/// What went wrong with a store, by what a caller can do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The backing storage failed (I/O, network, a timeout): retry later.
    Unavailable,
    /// What is stored cannot be read (corrupt, foreign, wrong key); the
    /// next first write replaces it.
    Corrupt,
    /// The store is misconfigured (a bad URL, an unsafe directory).
    Config,
    /// The TLS handshake failed: an untrusted or expired certificate, a
    /// name that does not match, a client certificate refused. Retrying
    /// does not mend it; the trusted CAs or the certificates must change.
    Tls,
    /// The store refused tokenmux's credentials or a command (a wrong
    /// password, an ACL that does not allow what the store needs).
    Denied,
}

impl StoreErrorKind {
    /// How a message of this kind starts.
    fn prefix(self) -> &'static str {
        match self {
            Self::Unavailable => "store unavailable",
            Self::Corrupt => "stored token unreadable",
            Self::Config => "store misconfigured",
            Self::Tls => "store TLS failed",
            Self::Denied => "store access denied",
        }
    }
}

/// Why a store could not be read or written.
///
/// ```
/// use tokenmux_store::{StoreError, StoreErrorKind};
///
/// let error = StoreError::unavailable("cannot reach redis://127.0.0.1:6379")
///     .with_source(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
/// assert_eq!(error.kind(), StoreErrorKind::Unavailable);
/// assert!(error.is_transient());
/// assert_eq!(error.to_string(), "store unavailable: cannot reach redis://127.0.0.1:6379");
/// assert!(std::error::Error::source(&error).is_some());
/// ```
#[derive(Clone)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    /// Shared, so that the error stays `Clone` (one failure is reported to
    /// every caller waiting on it).
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// An error of `kind`; `message` says what was tried. It must not
    /// hold a secret: it is shown to callers and logged.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// [`StoreErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Unavailable, message)
    }

    /// [`StoreErrorKind::Corrupt`].
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Corrupt, message)
    }

    /// [`StoreErrorKind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Config, message)
    }

    /// [`StoreErrorKind::Tls`].
    pub fn tls(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Tls, message)
    }

    /// [`StoreErrorKind::Denied`].
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Denied, message)
    }

    /// The same error, caused by `source` (which must not hold a secret
    /// either: an I/O error, say, not a client's error carrying a URL
    /// with a password).
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// What was tried, without the kind's prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether trying again later may succeed (the storage was
    /// unavailable), as opposed to a store that must be fixed.
    pub fn is_transient(&self) -> bool {
        self.kind == StoreErrorKind::Unavailable
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.prefix(), self.message)
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_keeps_its_message_prefix() {
        let cases = [
            (StoreError::unavailable("m"), "store unavailable: m"),
            (StoreError::corrupt("m"), "stored token unreadable: m"),
            (StoreError::config("m"), "store misconfigured: m"),
            (StoreError::tls("m"), "store TLS failed: m"),
            (StoreError::denied("m"), "store access denied: m"),
        ];
        for (error, shown) in cases {
            assert_eq!(error.to_string(), shown);
            assert_eq!(error.message(), "m");
            assert_eq!(
                error.is_transient(),
                error.kind() == StoreErrorKind::Unavailable
            );
        }
    }
}
