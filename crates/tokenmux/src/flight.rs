//! The single flight: one refresh at a time per source, run as a task the
//! source owns, whose outcome (error included) every caller that joined
//! it receives; and the cool-down after a failed flight.
//!
//! Kept apart from what a refresh does (as aws-smithy's identity cache and
//! Go's `oauth2.ReuseTokenSource` keep the cache apart from the fetch):
//! this module knows nothing of tokens.

use parking_lot::Mutex;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use crate::cool_down::Failed;
use crate::{Clock, Error};

/// What a caller gets from [`Flights::join`].
pub(crate) enum Joined<T> {
    /// A flight is running (maybe just started): [`wait`] for it.
    Flight(watch::Receiver<Option<Result<T, Error>>>),
    /// The last flight failed and its cool-down has not passed: its error.
    CoolingDown(Error),
}

/// At most one flight at a time, and the failure that holds the next back.
pub(crate) struct Flights<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

struct Slot<T> {
    running: Option<watch::Receiver<Option<Result<T, Error>>>>,
    /// Boxed: most flights succeed, and an error is 80 bytes.
    failed: Option<Box<Failed>>,
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    pub(crate) fn new() -> Self {
        Self {
            slot: Arc::new(Mutex::new(Slot {
                running: None,
                failed: None,
            })),
        }
    }

    /// Joins the running flight; else, unless cooling down after a failure,
    /// starts `work` as a new one. The flight is a task of its own: callers
    /// that give up do not cancel it. A failed flight says how long the
    /// next may not start ([`Failed::until`]), as `clock` tells.
    pub(crate) fn join<F>(&self, clock: &dyn Clock, work: impl FnOnce() -> F) -> Joined<T>
    where
        F: Future<Output = Result<T, Failed>> + Send + 'static,
    {
        let mut slot = self.slot.lock();
        if let Some(running) = &slot.running {
            // Closed without an outcome: the task panicked; start anew.
            if running.has_changed().is_ok() {
                return Joined::Flight(running.clone());
            }
        }
        let now = clock.now();
        if let Some(failed) = slot.failed.as_ref().filter(|f| now < f.until) {
            return Joined::CoolingDown(cooling_down(failed, now));
        }
        let (sender, receiver) = watch::channel(None);
        slot.running = Some(receiver.clone());
        drop(slot);
        // Boxed: the fetch's future is kilobytes, and a task moves its
        // future when it is spawned and again when it finishes; a box
        // moves a pointer (callgrind: about a third of an exchange's
        // instructions went to those copies).
        let work = Box::pin(work());
        let slot = Arc::clone(&self.slot);
        tokio::spawn(async move {
            let outcome = work.await;
            let outcome = {
                let mut slot = slot.lock();
                slot.running = None;
                match outcome {
                    Ok(value) => {
                        slot.failed = None;
                        Ok(value)
                    }
                    Err(failed) => {
                        let error = failed.error.clone();
                        slot.failed = Some(Box::new(failed));
                        Err(error)
                    }
                }
            };
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

/// The error of a failed flight to a caller during its cool-down: a
/// cool-down read from the store says how much of it is left.
fn cooling_down(failed: &Failed, now: SystemTime) -> Error {
    match &failed.error {
        Error::BackingOff {
            kind,
            cause,
            message,
            ..
        } => Error::BackingOff {
            kind: *kind,
            cause: cause.clone(),
            message: message.clone(),
            retry_after: failed.until.duration_since(now).unwrap_or_default(),
        },
        error => error.clone(),
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::ManualClock;

    fn failed(clock: &ManualClock, error: Error, for_secs: u64) -> Failed {
        Failed {
            error,
            until: clock.now() + Duration::from_secs(for_secs),
        }
    }

    #[tokio::test]
    async fn callers_share_one_flight_and_its_error_then_cool_down() {
        let clock = Arc::new(ManualClock::default());
        let flights = Flights::<u32>::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let start = || {
            let (runs, clock) = (runs.clone(), clock.clone());
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                Err(failed(&clock, Error::Timeout, 1))
            }
        };
        let joined: Vec<_> = (0..10).map(|_| flights.join(&*clock, start)).collect();
        for joined in joined {
            let Joined::Flight(receiver) = joined else {
                panic!("a flight was running")
            };
            assert!(matches!(wait(receiver).await, Err(Error::Timeout)));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        // Cooling down for as long as the flight said: the error at once,
        // no new flight.
        assert!(matches!(
            flights.join(&*clock, start),
            Joined::CoolingDown(Error::Timeout)
        ));
        clock.advance(Duration::from_secs(1));
        let Joined::Flight(receiver) = flights.join(&*clock, start) else {
            panic!("the cool-down has passed")
        };
        let _ = wait(receiver).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_cool_down_from_the_store_counts_down_and_a_panic_ends_the_flight() {
        let clock = Arc::new(ManualClock::default());
        let flights = Flights::<u32>::new();
        let backing_off = Error::BackingOff {
            kind: crate::ErrorKind::Transient,
            cause: "rate_limited".into(),
            message: "rate limited by the token endpoint".into(),
            retry_after: Duration::from_secs(30),
        };
        let limited = {
            let clock = clock.clone();
            move || async move { Err::<u32, _>(failed(&clock, backing_off, 30)) }
        };
        let Joined::Flight(receiver) = flights.join(&*clock, limited.clone()) else {
            panic!()
        };
        let _ = wait(receiver).await;
        clock.advance(Duration::from_secs(29));
        let Joined::CoolingDown(error) = flights.join(&*clock, limited) else {
            panic!("still cooling down")
        };
        assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
        clock.advance(Duration::from_secs(1));
        flights.forget_failure();
        let Joined::Flight(receiver) = flights.join(&*clock, || async { panic!("in the flight") })
        else {
            panic!()
        };
        assert!(matches!(wait(receiver).await, Err(Error::RefreshAborted)));
        let Joined::Flight(receiver) = flights.join(&*clock, || async { Ok(7) }) else {
            panic!("a panicked flight does not block the next")
        };
        assert_eq!(wait(receiver).await.unwrap(), 7);
    }
}
