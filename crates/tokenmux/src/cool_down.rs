//! The cool-down after a failed refresh: how long nobody asks again, and
//! how a failure is shared through the store (so that every process
//! sharing it holds back, not only the one that failed) and read back as
//! [`Error::BackingOff`].
//!
//! It knows nothing of flights or leases: the flight keeps the outcome
//! in memory, the coordination layer writes and reads it in the store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokenmux_store::{FailureKind, SharedFailure, Verifier};

use crate::{Error, ErrorKind, RetryPolicy};

/// The longest cool-down a `Retry-After`, or a record in the store, can
/// impose on a source.
const MAX_COOL_DOWN: Duration = Duration::from_secs(3600);

/// A refresh that failed, and until when the next may not start.
#[derive(Clone, Debug)]
pub(crate) struct Failed {
    /// What callers get.
    pub(crate) error: Error,
    /// No new refresh before this.
    pub(crate) until: SystemTime,
}

/// How long after the `in_a_row`-th failed refresh in a row, ending with
/// `error`, nobody asks again: what the endpoint asked (`Retry-After`),
/// the long cool-down for rejected credentials, else the policy's
/// doubling one.
pub(crate) fn window(error: &Error, in_a_row: u32, retry: &RetryPolicy) -> Duration {
    let window = match (error.retry_after(), error.kind()) {
        (Some(after), _) => after,
        (None, ErrorKind::Rejected) => retry.rejected_cool_down,
        (None, _) => retry.cool_down_after(in_a_row),
    };
    window.min(MAX_COOL_DOWN)
}

/// The failure to write in the store for `error`, if it is the endpoint's
/// answer (a configuration or store error is this process's own, and a
/// cool-down read from the store is already there).
pub(crate) fn to_share(
    error: &Error,
    until: SystemTime,
    in_a_row: u32,
    verifier: &Arc<Verifier>,
) -> Option<SharedFailure> {
    let kind = match (error.kind(), error) {
        (_, Error::BackingOff { .. } | Error::RefreshAborted) => return None,
        (ErrorKind::Rejected, _) => FailureKind::Rejected,
        (ErrorKind::Transient, _) => FailureKind::Transient,
        // A refused request is the same mistake in every process: held
        // back like an endpoint that answers wrongly.
        (ErrorKind::Endpoint, _) | (_, Error::RequestRefused { .. }) => FailureKind::Endpoint,
        (_, _) => return None,
    };
    let failure = SharedFailure::new(kind, error.code(), &error.to_string(), until, in_a_row);
    Some(failure.with_verifier(Some(Arc::clone(verifier))))
}

/// Whether `failure`, read from the store, holds back a holder with the
/// credentials `verifier` at `now`: its window is open, and for rejected
/// credentials, they are these. A window longer than any this crate sets
/// (a record someone else wrote) holds nobody back.
pub(crate) fn holds_back(failure: &SharedFailure, now: SystemTime, verifier: &Verifier) -> bool {
    let open = failure.is_active(now) && failure.until() <= now + MAX_COOL_DOWN;
    match failure.kind() {
        FailureKind::Rejected => open && failure.verifier() == Some(verifier),
        FailureKind::Transient | FailureKind::Endpoint => open,
    }
}

/// What callers get while `failure` holds them back.
pub(crate) fn backing_off(failure: &SharedFailure, now: SystemTime) -> Failed {
    let left = failure
        .until()
        .duration_since(now)
        .unwrap_or_default()
        .min(MAX_COOL_DOWN);
    let kind = match failure.kind() {
        FailureKind::Rejected => ErrorKind::Rejected,
        FailureKind::Transient => ErrorKind::Transient,
        FailureKind::Endpoint => ErrorKind::Endpoint,
    };
    Failed {
        error: Error::BackingOff {
            kind,
            cause: failure.code().to_owned(),
            message: failure.message().to_owned(),
            retry_after: left,
        },
        until: now + left,
    }
}

#[cfg(test)]
mod tests {
    use reqwest::StatusCode;

    use super::*;

    fn server_error() -> Error {
        Error::Server {
            endpoint: None,
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: None,
            retry_after: None,
        }
    }

    #[test]
    fn the_window_is_retry_after_else_the_policy() {
        let retry = RetryPolicy::default();
        let limited = Error::RateLimited {
            endpoint: None,
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(window(&limited, 3, &retry), Duration::from_secs(7));
        assert_eq!(window(&server_error(), 1, &retry), retry.cool_down);
        assert_eq!(window(&server_error(), 2, &retry), retry.cool_down * 2);
        let rejected = Error::CredentialsRejected {
            endpoint: None,
            status: StatusCode::UNAUTHORIZED,
            code: None,
            message: None,
        };
        assert_eq!(window(&rejected, 1, &retry), retry.rejected_cool_down);
        let forever = Error::RateLimited {
            endpoint: None,
            retry_after: Some(Duration::from_secs(86_400 * 365)),
        };
        assert_eq!(window(&forever, 1, &retry), MAX_COOL_DOWN);
    }

    #[test]
    fn a_shared_failure_reads_back_as_backing_off_with_its_kind() {
        let now = SystemTime::now();
        let ours = Arc::new(Verifier::of(["secret"], "k"));
        let theirs = Verifier::of(["other"], "k");
        let until = now + Duration::from_secs(30);
        let shared = to_share(&server_error(), until, 2, &ours).unwrap();
        assert!(holds_back(&shared, now, &theirs), "an outage is everyone's");
        assert!(!holds_back(&shared, until, &ours), "until is exclusive");
        let failed = backing_off(&shared, now);
        assert_eq!(failed.error.kind(), ErrorKind::Transient);
        assert_eq!(failed.error.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(failed.until, until);
        assert!(
            failed.error.to_string().contains("HTTP 503"),
            "{}",
            failed.error
        );

        let rejected = Error::CredentialsRejected {
            endpoint: None,
            status: StatusCode::UNAUTHORIZED,
            code: Some("invalid_client".into()),
            message: None,
        };
        let shared = to_share(&rejected, until, 1, &ours).unwrap();
        assert!(holds_back(&shared, now, &ours));
        assert!(
            !holds_back(&shared, now, &theirs),
            "another secret starts fresh"
        );
        assert_eq!(backing_off(&shared, now).error.kind(), ErrorKind::Rejected);

        // Only the endpoint's answers are shared.
        assert!(to_share(&failed.error, until, 1, &ours).is_none());
        assert!(to_share(&crate::ConfigError::general("x").into(), until, 1, &ours).is_none());
        // A record no holder writes, a year long, holds nobody back.
        let planted = SharedFailure::new(
            FailureKind::Transient,
            "server_error",
            "x",
            now + Duration::from_secs(86_400 * 365),
            1,
        );
        assert!(!holds_back(&planted, now, &ours));
    }
}
