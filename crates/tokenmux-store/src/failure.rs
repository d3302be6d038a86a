//! What a failed request for a token leaves in the store beside the
//! token: why it failed, and until when nobody sharing the store should
//! ask again. Every holder reads it before fetching, so a fleet backs off
//! together instead of each process running its own retries in turn.

use std::sync::Arc;
use std::time::SystemTime;

use crate::Verifier;

/// The longest message a [`SharedFailure`] keeps, in bytes.
pub const MAX_FAILURE_MESSAGE: usize = 512;

/// What kind of failure it was, as far as holders deciding whether to ask
/// again need to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The endpoint refused the credentials: only holders with the same
    /// credentials (the same [`Verifier`]) hold back.
    Rejected,
    /// Asking later may succeed: a rate limit, a server error, a timeout.
    Transient,
    /// The endpoint answers what no retry mends soon (an unexpected
    /// status, an unusable body).
    Endpoint,
}

/// A failed request's outcome, shared through the store.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokenmux_store::{FailureKind, SharedFailure};
///
/// let until = SystemTime::now() + Duration::from_secs(5);
/// let failure = SharedFailure::new(FailureKind::Transient, "server_error", "HTTP 503\n", until, 1);
/// assert_eq!(failure.message(), "HTTP 503 "); // control characters become spaces
/// assert_eq!(failure.code(), "server_error");
/// assert!(failure.is_active(SystemTime::now()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedFailure {
    kind: FailureKind,
    code: String,
    message: String,
    until: SystemTime,
    in_a_row: u32,
    verifier: Option<Arc<Verifier>>,
}

impl SharedFailure {
    /// A failure of `kind`, with the error's machine-readable `code` (`a-z`
    /// and `_`, else `unknown`) and a `message` that names no secret
    /// (bounded to [`MAX_FAILURE_MESSAGE`] bytes, control characters
    /// replaced): nobody asks again before `until`. `in_a_row` counts the
    /// failed requests since the last success, so that the next window
    /// can grow.
    pub fn new(
        kind: FailureKind,
        code: &str,
        message: &str,
        until: SystemTime,
        in_a_row: u32,
    ) -> Self {
        Self {
            kind,
            code: match is_code(code) {
                true => code.to_owned(),
                false => "unknown".to_owned(),
            },
            message: bounded(message),
            until,
            in_a_row,
            verifier: None,
        }
    }

    /// The same, marked as the failure of the credentials `verifier`
    /// verifies.
    pub fn with_verifier(mut self, verifier: Option<Arc<Verifier>>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Its kind.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The error's machine-readable code (`server_error`, …).
    pub fn code(&self) -> &str {
        &self.code
    }

    /// What went wrong, with no secret.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Nobody sharing the store asks again before this.
    pub fn until(&self) -> SystemTime {
        self.until
    }

    /// Failed requests since the last success, this one included.
    pub fn in_a_row(&self) -> u32 {
        self.in_a_row
    }

    /// The verifier of the credentials that failed, if recorded.
    pub fn verifier(&self) -> Option<&Verifier> {
        self.verifier.as_deref()
    }

    /// Whether its window is still open at `now`.
    pub fn is_active(&self, now: SystemTime) -> bool {
        now < self.until
    }
}

/// Whether `code` is a well-formed error code.
pub(crate) fn is_code(code: &str) -> bool {
    (1..=40).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// `message` cut to at most [`MAX_FAILURE_MESSAGE`] bytes at a character
/// boundary, with control characters replaced by spaces (it ends up in
/// logs and terminals).
fn bounded(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_FAILURE_MESSAGE));
    for c in message.chars() {
        if out.len() + c.len_utf8() > MAX_FAILURE_MESSAGE {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// Whether `message` is as [`SharedFailure::new`] leaves one (a record
/// someone else wrote is checked against it).
pub(crate) fn is_bounded(message: &str) -> bool {
    message.len() <= MAX_FAILURE_MESSAGE && !message.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes_are_bounded() {
        let now = SystemTime::now();
        let long = "é".repeat(400);
        let failure = SharedFailure::new(FailureKind::Endpoint, "Bad Code", &long, now, 1);
        assert!(failure.message().len() <= MAX_FAILURE_MESSAGE);
        assert!(is_bounded(failure.message()));
        assert_eq!(failure.code(), "unknown");
        assert!(!failure.is_active(now));
        assert!(!is_bounded("a\u{1b}[31m"));
    }
}
