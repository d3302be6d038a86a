//! The single flight: one refresh at a time per source, run as a task the
//! source owns, whose outcome (error included) every caller that joined
//! it receives; and the cool-down after a failed flight.
//!
//! Kept apart from what a refresh does (as aws-smithy's identity cache and
//! Go's `oauth2.ReuseTokenSource` keep the cache apart from the fetch):
//! this module knows nothing of tokens.

use parking_lot::Mutex;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::SystemTime;

use event_listener::{Event, IntoNotification};

use crate::cool_down::Failed;
use crate::{Clock, Error};

/// What a caller gets from [`Flights::join`].
pub(crate) enum Joined<T> {
    /// A flight is running (maybe just started): [`wait`] for it.
    Flight(Arc<Outcome<T>>),
    /// The last flight failed and its cool-down has not passed: its error.
    CoolingDown(Error),
}

/// One flight's outcome, set once, and the callers waiting for it.
pub(crate) struct Outcome<T> {
    value: OnceLock<Result<T, Error>>,
    settled: Event,
}

/// How many waiters a flight wakes before it lets them run. A task woken
/// from a worker goes to that worker's local queue (256 tasks); past it,
/// tokio moves tasks to the back of the global queue, behind every caller
/// that has not started yet: in a herd of 10,000 that put a woken waiter
/// milliseconds behind the flight. A batch this size stays in the local
/// queue, and the waiters run in the order they came.
const WAKE_BATCH: usize = 64;

/// At most one flight at a time, and the failure that holds the next back.
pub(crate) struct Flights<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

struct Slot<T> {
    running: Option<Arc<Outcome<T>>>,
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
            // Settled while still running: the task panicked or was
            // dropped (its outcome is `RefreshAborted`); start anew.
            if running.value.get().is_none() {
                return Joined::Flight(Arc::clone(running));
            }
        }
        let now = clock.now();
        if let Some(failed) = slot.failed.as_ref().filter(|f| now < f.until) {
            return Joined::CoolingDown(cooling_down(failed, now));
        }
        let outcome = Arc::new(Outcome {
            value: OnceLock::new(),
            settled: Event::new(),
        });
        slot.running = Some(Arc::clone(&outcome));
        drop(slot);
        // Boxed: the fetch's future is kilobytes, and a task moves its
        // future when it is spawned and again when it finishes; a box
        // moves a pointer (callgrind: about a third of an exchange's
        // instructions went to those copies).
        let work = Box::pin(work());
        let slot = Arc::clone(&self.slot);
        let settle = Settle(Arc::clone(&outcome));
        tokio::spawn(async move {
            let result = work.await;
            let result = {
                let mut slot = slot.lock();
                slot.running = None;
                match result {
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
            settle.publish(result).await;
        });
        Joined::Flight(outcome)
    }

    /// Forgets the last failure: the next call may start a flight at once.
    pub(crate) fn forget_failure(&self) {
        self.slot.lock().failed = None;
    }
}

/// The flight's hold on its outcome. Dropped without a result (the task
/// panicked, or the runtime shut down), it settles the flight with
/// `RefreshAborted`, so that no caller waits for ever.
struct Settle<T>(Arc<Outcome<T>>);

impl<T> Settle<T> {
    /// Sets the outcome and wakes the waiters, [`WAKE_BATCH`] at a time,
    /// in the order they came, letting each batch run before the next.
    async fn publish(self, result: Result<T, Error>) {
        let _ = self.0.value.set(result);
        while self.0.settled.notify(WAKE_BATCH.additional()) == WAKE_BATCH {
            yield_to_queue().await;
        }
    }
}

impl<T> Drop for Settle<T> {
    fn drop(&mut self) {
        let _ = self.0.value.set(Err(Error::RefreshAborted));
        self.0.settled.notify(usize::MAX);
    }
}

/// Lets the tasks already queued on this worker run first. Unlike
/// `tokio::task::yield_now`, which waits for the worker's next look at
/// its I/O and timers (up to 61 tasks later), a task that wakes itself
/// goes straight to the back of the local queue: behind the batch it
/// has just woken.
async fn yield_to_queue() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
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

/// The outcome of the flight `outcome` belongs to. A caller that gives up
/// leaves the queue of waiters as it drops this future.
pub(crate) async fn wait<T: Clone>(outcome: Arc<Outcome<T>>) -> Result<T, Error> {
    loop {
        if let Some(value) = outcome.value.get() {
            return value.clone();
        }
        let listener = outcome.settled.listen();
        // Set between the check and `listen`: its wake-up is gone.
        if let Some(value) = outcome.value.get() {
            return value.clone();
        }
        listener.await;
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

    /// A herd's waiters must not end up behind the callers that have not
    /// started yet. One worker, so tokio's queues behave the same every
    /// run: 1,000 waiters join a flight, the worker is held while 5,000
    /// other tasks queue up, then the flight ends. Woken all at once, most
    /// waiters overflow the worker's local queue (256) to the back of the
    /// global one and resume after the 5,000 (the last one did, before
    /// batching); woken in batches, they resume first (16 of the 5,000
    /// came before the last one).
    #[test]
    fn woken_waiters_resume_before_the_tasks_queued_behind_them() {
        const WAITERS: usize = 1_000;
        const QUEUED: usize = 5_000;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            // Fixed: tuned, it follows the polls' timing (the held one
            // above all) and the order would depend on the machine.
            .global_queue_interval(61)
            .build()
            .unwrap();
        let clock = ManualClock::default();
        let flights = Flights::<u32>::new();
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let Joined::Flight(outcome) = runtime.block_on(async {
            flights.join(&clock, || async move {
                let _ = gate.await;
                Ok(7)
            })
        }) else {
            panic!("no flight was running")
        };
        let tickets = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..WAITERS)
            .map(|_| {
                let (outcome, tickets) = (Arc::clone(&outcome), Arc::clone(&tickets));
                runtime.spawn(async move {
                    assert_eq!(wait(outcome).await.unwrap(), 7);
                    tickets.fetch_add(1, Ordering::SeqCst)
                })
            })
            .collect();
        while outcome.settled.total_listeners() < WAITERS {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Holds the worker until the other tasks are queued, then ends
        // the flight from the worker, as an HTTP response would.
        let held = Arc::new(std::sync::Barrier::new(2));
        let holder = runtime.spawn({
            let held = Arc::clone(&held);
            async move {
                held.wait();
                held.wait();
                let _ = release.send(());
            }
        });
        held.wait();
        let queued: Vec<_> = (0..QUEUED)
            .map(|_| {
                let tickets = Arc::clone(&tickets);
                runtime.spawn(async move {
                    tickets.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        held.wait();
        runtime.block_on(async {
            holder.await.unwrap();
            let mut last = 0;
            for waiter in waiters {
                last = last.max(waiter.await.unwrap());
            }
            for task in queued {
                task.await.unwrap();
            }
            // Only the few the worker takes from the global queue now
            // and then (one in 61 polls) may come first.
            assert!(
                last < WAITERS + QUEUED / 10,
                "the last waiter resumed after {} queued tasks",
                last + 1 - WAITERS
            );
        });
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
