//! The single flight: one refresh at a time per source, run as a task the
//! source owns, whose outcome (error included) every caller that joined
//! it receives; and the cool-down after a failed flight.
//!
//! Kept apart from what a refresh does (as aws-smithy's identity cache and
//! Go's `oauth2.ReuseTokenSource` keep the cache apart from the fetch):
//! this module knows nothing of tokens.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::{Clock, Error, RetryPolicy};

/// The longest cool-down a `Retry-After` can impose on a source.
const MAX_COOL_DOWN: Duration = Duration::from_secs(3600);

/// What a caller gets from [`Flights::join`].
pub(crate) enum Joined<T> {
    /// A flight is running (maybe just started): [`wait`] for it.
    Flight(watch::Receiver<Option<Result<T, Error>>>),
    /// The last flight failed and its back-off has not passed: its error.
    CoolingDown(Error),
}

/// At most one flight at a time, and the failure that holds the next back.
pub(crate) struct Flights<T> {
    slot: Arc<Mutex<Slot<T>>>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
}

struct Slot<T> {
    running: Option<watch::Receiver<Option<Result<T, Error>>>>,
    failed: Option<Failed>,
}

/// The last flight's failure, and when the next may start.
struct Failed {
    error: Error,
    until: SystemTime,
    in_a_row: u32,
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    pub(crate) fn new(clock: Arc<dyn Clock>, retry: RetryPolicy) -> Self {
        Self {
            slot: Arc::new(Mutex::new(Slot {
                running: None,
                failed: None,
            })),
            clock,
            retry,
        }
    }

    /// Joins the running flight; else, unless cooling down after a failure,
    /// starts `work` as a new one. The flight is a task of its own: callers
    /// that give up do not cancel it.
    pub(crate) fn join<F>(&self, work: impl FnOnce() -> F) -> Joined<T>
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
    {
        let mut slot = self.slot.lock();
        if let Some(running) = &slot.running {
            // Closed without an outcome: the task panicked; start anew.
            if running.has_changed().is_ok() {
                return Joined::Flight(running.clone());
            }
        }
        let now = self.clock.now();
        if let Some(failed) = slot.failed.as_ref().filter(|f| now < f.until) {
            return Joined::CoolingDown(failed.error.clone());
        }
        let (sender, receiver) = watch::channel(None);
        slot.running = Some(receiver.clone());
        drop(slot);
        let work = work();
        let (slot, clock, retry) = (
            Arc::clone(&self.slot),
            Arc::clone(&self.clock),
            self.retry.clone(),
        );
        tokio::spawn(async move {
            let outcome = work.await;
            {
                let mut slot = slot.lock();
                slot.running = None;
                slot.failed = match &outcome {
                    Ok(_) => None,
                    Err(error) => {
                        let in_a_row = slot.failed.as_ref().map_or(1, |f| f.in_a_row + 1);
                        let pause = cool_down(error, in_a_row, &retry);
                        Some(Failed {
                            error: error.clone(),
                            until: clock.now() + pause,
                            in_a_row,
                        })
                    }
                };
            }
            // Nobody waiting is fine: the outcome is in the cache already.
            let _ = sender.send(Some(outcome));
        });
        Joined::Flight(receiver)
    }

    /// Forgets the last failure: the next call may start a flight at once.
    pub(crate) fn forget_failure(&self) {
        self.slot.lock().failed = None;
    }
}

/// The outcome of the flight `receiver` follows.
pub(crate) async fn wait<T: Clone>(
    mut receiver: watch::Receiver<Option<Result<T, Error>>>,
) -> Result<T, Error> {
    match receiver.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or(Err(Error::RefreshAborted)),
        Err(_) => Err(Error::RefreshAborted),
    }
}

/// How long after a failed flight the next may start: what the endpoint
/// asked (`Retry-After`), else the retry policy's back-off, doubling with
/// each failed flight in a row.
fn cool_down(error: &Error, in_a_row: u32, retry: &RetryPolicy) -> Duration {
    if let Some(after) = error.retry_after() {
        return after.min(MAX_COOL_DOWN);
    }
    let doubling = 2u32.saturating_pow(in_a_row.saturating_sub(1).min(16));
    retry
        .initial_delay
        .saturating_mul(doubling)
        .min(retry.max_delay)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ManualClock;

    fn flights(clock: &Arc<ManualClock>) -> Flights<u32> {
        let retry = RetryPolicy {
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            ..RetryPolicy::default()
        };
        Flights::new(clock.clone(), retry)
    }

    #[tokio::test]
    async fn callers_share_one_flight_and_its_error_then_cool_down() {
        let clock = Arc::new(ManualClock::default());
        let flights = flights(&clock);
        let runs = Arc::new(AtomicUsize::new(0));
        let start = || {
            let runs = runs.clone();
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err::<u32, _>(Error::Timeout)
            }
        };
        let joined: Vec<_> = (0..10).map(|_| flights.join(start)).collect();
        for joined in joined {
            let Joined::Flight(receiver) = joined else {
                panic!("a flight was running")
            };
            assert!(matches!(wait(receiver).await, Err(Error::Timeout)));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Cooling down: the error at once, no new flight.
        assert!(matches!(
            flights.join(start),
            Joined::CoolingDown(Error::Timeout)
        ));
        clock.advance(Duration::from_secs(1));
        let Joined::Flight(receiver) = flights.join(start) else {
            panic!("the cool-down has passed")
        };
        let _ = wait(receiver).await;
        // Two failures in a row: twice the pause.
        clock.advance(Duration::from_secs(1));
        assert!(matches!(flights.join(start), Joined::CoolingDown(_)));
        clock.advance(Duration::from_secs(1));
        assert!(matches!(flights.join(start), Joined::Flight(_)));
    }

    #[tokio::test]
    async fn retry_after_sets_the_cool_down_and_a_panic_ends_the_flight() {
        let clock = Arc::new(ManualClock::default());
        let flights = flights(&clock);
        let limited = || async {
            Err::<u32, _>(Error::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            })
        };
        let Joined::Flight(receiver) = flights.join(limited) else {
            panic!()
        };
        let _ = wait(receiver).await;
        clock.advance(Duration::from_secs(29));
        assert!(matches!(flights.join(limited), Joined::CoolingDown(_)));
        clock.advance(Duration::from_secs(1));
        flights.forget_failure();
        let Joined::Flight(receiver) = flights.join(|| async { panic!("in the flight") }) else {
            panic!()
        };
        assert!(matches!(wait(receiver).await, Err(Error::RefreshAborted)));
        let Joined::Flight(receiver) = flights.join(|| async { Ok(7) }) else {
            panic!("a panicked flight does not block the next")
        };
        assert_eq!(wait(receiver).await.unwrap(), 7);
    }
}
