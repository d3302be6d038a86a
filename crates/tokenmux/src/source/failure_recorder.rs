//! Writing a flight's failures into the store, beside the token, so that
//! every holder sharing it backs off with this one: after each attempt
//! that will be retried (the holders waiting for this flight learn of it
//! at once) and when the flight gives up (nobody asks again before the
//! cool-down ends).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tracing::debug;

use super::Inner;
use crate::cool_down::{self, Failed};
use crate::fetch::RetryListener;
use crate::{AccessToken, Error};
use tokenmux_store::{FailureKind, PutOutcome, Record, Versioned};

/// Compare-and-swap writes of one flight's failures; it follows the
/// store's version as the flight writes (a claim, a failure).
pub(super) struct FailureRecorder<'a> {
    inner: &'a Inner,
    /// The version the next write replaces.
    version: Option<u64>,
    /// The stored token: a failure never replaces it.
    token: Option<AccessToken>,
    /// This flight's place among the failed flights in a row.
    in_a_row: u32,
}

/// Each retried attempt's failure is shared until the next attempt.
#[async_trait::async_trait]
impl RetryListener for FailureRecorder<'_> {
    async fn retrying(&mut self, error: &Error, delay: Duration) {
        let until = self.inner.fetcher.clock().now() + delay;
        self.attempt_failed(error, until).await;
    }
}

impl<'a> FailureRecorder<'a> {
    /// A recorder for a flight that read `stored`.
    pub(super) fn new(inner: &'a Inner, stored: Option<&Versioned>) -> Self {
        // Another secret's rejections are not this one's failures.
        let before = stored
            .and_then(Versioned::failure)
            .filter(|f| {
                f.kind() != FailureKind::Rejected || f.verifier() == Some(&**inner.verifier())
            })
            .map_or(0, |f| f.in_a_row())
            .max(inner.failures_in_a_row.load(Ordering::Relaxed));
        Self {
            inner,
            version: stored.map(|s| s.version),
            token: stored.and_then(|s| s.token().cloned()),
            in_a_row: before.saturating_add(1),
        }
    }

    /// The flight wrote `record` as `version` itself (a refresh-token
    /// claim).
    pub(super) fn wrote(&mut self, version: Option<u64>, record: Record) {
        self.version = version;
        self.token = record.token;
    }

    /// The version the flight's token replaces.
    pub(super) fn version(&self) -> Option<u64> {
        self.version
    }

    /// The flight succeeded: the count of failures in a row starts again
    /// (the token it publishes clears the stored failure).
    pub(super) fn succeeded(&self) {
        self.inner.failures_in_a_row.store(0, Ordering::Relaxed);
    }

    /// An attempt failed with `error`; nobody asks again before `until`.
    pub(super) async fn attempt_failed(&mut self, error: &Error, until: SystemTime) {
        let inner = self.inner;
        let Some(failure) = cool_down::to_share(error, until, self.in_a_row, inner.verifier())
        else {
            return;
        };
        for _ in 0..3 {
            let record = Record {
                token: self.token.clone(),
                failure: Some(failure.clone()),
            };
            match inner.store.put(&inner.key, &record, self.version).await {
                Ok(PutOutcome::Stored { version }) => {
                    debug!(
                        source = &*inner.observe.name,
                        ?until,
                        "failure shared through the store"
                    );
                    self.version = Some(version);
                    return;
                }
                Ok(PutOutcome::Conflict { current }) => {
                    // Another holder stored a token meanwhile: it speaks
                    // for itself; no failure over it.
                    if let Some(current) = &current
                        && let Some(token) = current.token()
                        && inner.obtained_by_us(token)
                        && self
                            .token
                            .as_ref()
                            .is_none_or(|t| t.secret() != token.secret())
                    {
                        return;
                    }
                    self.version = current.as_ref().map(|c| c.version);
                    self.token = current.and_then(|c| c.record.token);
                }
                Err(error) => {
                    let reports = inner.store.reports_outages();
                    inner.observe.store_failed(
                        reports,
                        &error,
                        "token store unwritable; the failure stays in this process",
                    );
                    return;
                }
            }
        }
    }

    /// The flight gave up with `error`: shares it with its cool-down, and
    /// says until when this process does not ask again either.
    pub(super) async fn gave_up(mut self, error: Error) -> Failed {
        let inner = self.inner;
        let window = cool_down::window(&error, self.in_a_row, inner.fetcher.retry());
        let until = inner.fetcher.clock().now() + window;
        inner
            .failures_in_a_row
            .store(self.in_a_row, Ordering::Relaxed);
        self.attempt_failed(&error, until).await;
        Failed { error, until }
    }
}
