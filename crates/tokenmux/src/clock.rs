//! Time, injectable so that expiry logic is tested without sleeping.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;
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

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        static ANCHOR: OnceLock<(SystemTime, coarsetime::Instant)> = OnceLock::new();
        let (wall, monotonic) =
            ANCHOR.get_or_init(|| (SystemTime::now(), coarsetime::Instant::now()));
        // Without the cache update: that would be a shared write on every read.
        let elapsed = coarsetime::Instant::now_without_cache_update().duration_since(*monotonic);
        *wall + Duration::from_nanos(elapsed.as_nanos())
    }
}

/// A clock that only moves when told to, for tests.
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
pub struct ManualClock(Mutex<SystemTime>);

impl Default for ManualClock {
    fn default() -> Self {
        Self(Mutex::new(SystemTime::now()))
    }
}

impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
