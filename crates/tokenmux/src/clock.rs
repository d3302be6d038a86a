//! Time, injectable so that expiry logic is tested without sleeping.

use parking_lot::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;

    /// Where in the refresh-ahead window this process refreshes a token it
    /// just received: a number from 0 (the window's start) to 1 (its end).
    /// Random by default, so that a fleet of processes without a shared
    /// store does not refresh in lock-step ([`RefreshPolicy::fleet_jitter`]).
    ///
    /// [`RefreshPolicy::fleet_jitter`]: crate::RefreshPolicy::fleet_jitter
    fn refresh_jitter(&self) -> f64 {
        rand::random()
    }

    /// Now, as a number that only grows, for the freshness check of every
    /// cached read: compared only with [`ticks_at`](Self::ticks_at) of
    /// the same clock. By default nanoseconds since the Unix epoch.
    fn ticks(&self) -> u64 {
        epoch_nanos(self.now())
    }

    /// The [`ticks`](Self::ticks) the clock will read at `at`.
    fn ticks_at(&self, at: SystemTime) -> u64 {
        epoch_nanos(at)
    }
}

fn epoch_nanos(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The system clock; the default.
///
/// Read on every cached token read, so it is the cheap kind: the wall
/// clock once, at first use, advanced by the coarse monotonic clock
/// (`CLOCK_MONOTONIC_COARSE`, a few nanoseconds a read, ticking every few
/// milliseconds). Expiry margins are seconds, so the coarseness is
/// harmless, and a wall-clock step (NTP) does not shorten or stretch the
/// life of tokens already held.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// One handle shared by every source that keeps the default clock (an
    /// `Arc` of its own would be 16 bytes of heap each).
    pub(crate) fn shared() -> std::sync::Arc<dyn Clock> {
        static SHARED: std::sync::LazyLock<std::sync::Arc<dyn Clock>> =
            std::sync::LazyLock::new(|| std::sync::Arc::new(SystemClock));
        std::sync::Arc::clone(&SHARED)
    }
}

/// The wall clock and the coarse monotonic clock, read once together.
fn anchor() -> &'static (SystemTime, coarsetime::Instant) {
    static ANCHOR: OnceLock<(SystemTime, coarsetime::Instant)> = OnceLock::new();
    ANCHOR.get_or_init(|| (SystemTime::now(), coarsetime::Instant::now()))
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        let (wall, monotonic) = anchor();
        // Without the cache update: that would be a shared write on every read.
        let elapsed = coarsetime::Instant::now_without_cache_update().duration_since(*monotonic);
        *wall + Duration::from_nanos(elapsed.as_nanos())
    }

    /// The coarse monotonic clock as it is: no conversion to wall time on
    /// the hot path.
    fn ticks(&self) -> u64 {
        coarsetime::Instant::now_without_cache_update().as_u64()
    }

    fn ticks_at(&self, at: SystemTime) -> u64 {
        let (wall, monotonic) = anchor();
        let coarse = |d: Duration| coarsetime::Duration::new(d.as_secs(), d.subsec_nanos());
        match at.duration_since(*wall) {
            Ok(after) => monotonic.saturating_add(coarse(after)),
            Err(before) => monotonic.saturating_sub(coarse(before.duration())),
        }
        .as_u64()
    }
}

/// A clock that only moves when told to, for tests. Its refresh jitter
/// is fixed (0 unless [set](Self::set_refresh_jitter)): refresh points
/// are where a test expects them.
///
/// ```
/// use std::time::Duration;
/// use tokenmux::{Clock, ManualClock};
///
/// let clock = ManualClock::default();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(60));
/// assert_eq!(clock.now().duration_since(before).unwrap(), Duration::from_secs(60));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
    jitter: Mutex<f64>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self {
            now: Mutex::new(SystemTime::now()),
            jitter: Mutex::new(0.0),
        }
    }
}

impl ManualClock {
    /// The refresh jitter every token gets from now on (0 to 1).
    pub fn set_refresh_jitter(&self, jitter: f64) {
        *self.jitter.lock() = jitter;
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock();
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock()
    }

    fn refresh_jitter(&self) -> f64 {
        *self.jitter.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_at_an_instant_compare_with_the_clock_s_ticks_as_the_instants_do() {
        for clock in [&SystemClock as &dyn Clock, &ManualClock::default()] {
            let now = clock.now();
            let hour = Duration::from_secs(3600);
            let (before, after) = (clock.ticks_at(now - hour), clock.ticks_at(now + hour));
            let ticks = clock.ticks();
            assert!(before < ticks && ticks < after, "{clock:?}");
            assert!(clock.ticks_at(now + 2 * hour) > after);
            assert!(clock.ticks_at(SystemTime::UNIX_EPOCH) <= before);
        }
    }
}
