//! When to refresh, and how to retry.

use std::time::Duration;

/// When a cached token is refreshed.
///
/// A token is *fresh* until a point inside its refresh-ahead window, then
/// *stale* (still served at once while one background refresh runs) until
/// `expires_at - clock_skew`, then *expired* (callers wait for a new one).
/// The window runs from `expires_at - refresh_ahead` to `expires_at -
/// clock_skew`; with `fleet_jitter` (the default) each process picks its
/// point in it at random, so that a fleet started together does not
/// refresh together; without, the point is the window's start.
///
/// ```
/// use std::time::Duration;
/// use tokenmux::RefreshPolicy;
///
/// let policy = RefreshPolicy::default();
/// // 10 % of the lifetime, at most 5 minutes.
/// assert_eq!(policy.refresh_ahead(Duration::from_secs(600)), Duration::from_secs(60));
/// assert_eq!(policy.refresh_ahead(Duration::from_secs(86_400)), Duration::from_secs(300));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RefreshPolicy {
    /// Fraction of the lifetime to refresh ahead of expiry.
    pub refresh_ahead_fraction: f64,
    /// Upper bound of the refresh-ahead window.
    pub refresh_ahead_max: Duration,
    /// A token is treated as expired this long before its expiry, so it is
    /// not sent just as it lapses (clocks differ).
    pub clock_skew: Duration,
    /// Tokens are refreshed after at most this long, whatever `expires_in`
    /// says (Airalo's tokens last a year; its document says refresh daily).
    pub max_lifetime: Option<Duration>,
    /// Lifetime assumed when a response has no `expires_in`.
    pub default_lifetime: Duration,
    /// Refresh at a random point of the refresh-ahead window rather than
    /// at its start ([`Clock::refresh_jitter`](crate::Clock::refresh_jitter)).
    pub fleet_jitter: bool,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            refresh_ahead_fraction: 0.1,
            refresh_ahead_max: Duration::from_secs(300),
            clock_skew: Duration::from_secs(10),
            max_lifetime: None,
            default_lifetime: Duration::from_secs(3600),
            fleet_jitter: true,
        }
    }
}

impl RefreshPolicy {
    /// The default policy with what `provider`'s spec advises
    /// (`x-tokenmux-max-lifetime`: Airalo's document says refresh daily).
    pub fn advised_for(provider: &crate::Provider) -> Self {
        Self {
            max_lifetime: provider.spec().max_lifetime_secs.map(Duration::from_secs),
            ..Self::default()
        }
    }

    /// The refresh-ahead window for a token that lives `lifetime`.
    pub fn refresh_ahead(&self, lifetime: Duration) -> Duration {
        // A NaN fraction is refused by `check`; here it counts as zero.
        let fraction = match self.refresh_ahead_fraction {
            f if f.is_nan() => 0.0,
            f => f.clamp(0.0, 1.0),
        };
        lifetime.mul_f64(fraction).min(self.refresh_ahead_max)
    }

    /// Refuses a policy that cannot mean anything: a fraction that is not
    /// a number between 0 and 1, a zero default lifetime.
    ///
    /// ```
    /// use tokenmux::RefreshPolicy;
    ///
    /// let nan = RefreshPolicy { refresh_ahead_fraction: f64::NAN, ..RefreshPolicy::default() };
    /// assert!(nan.check().is_err());
    /// assert!(RefreshPolicy::default().check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), crate::Error> {
        if !(0.0..=1.0).contains(&self.refresh_ahead_fraction) {
            return Err(crate::ConfigError::new(
                "refresh",
                format!(
                    "refresh_ahead_fraction must be a number from 0 to 1 (got {})",
                    self.refresh_ahead_fraction
                ),
            )
            .into());
        }
        if self.default_lifetime.is_zero() {
            return Err(crate::ConfigError::new(
                "refresh",
                "default_lifetime must be more than zero",
            )
            .into());
        }
        Ok(())
    }

    /// The lifetime actually used for a token the endpoint says lives `expires_in`.
    pub fn effective_lifetime(&self, expires_in: Option<Duration>) -> Duration {
        let lifetime = expires_in.unwrap_or(self.default_lifetime);
        match self.max_lifetime {
            Some(max) => lifetime.min(max),
            None => lifetime,
        }
    }
}

/// How transient failures (429, 5xx, 408, transport) are retried:
/// exponential backoff with jitter, `Retry-After` honoured, bounded by
/// attempts and by a total deadline. Rejected credentials are never retried.
///
/// After a refresh fails for good, nobody sharing the store asks again
/// for a while (the *cool-down*): what the endpoint's `Retry-After` asked,
/// else `cool_down`, doubling with each failed refresh in a row up to
/// `max_cool_down`; `rejected_cool_down` after the endpoint refused the
/// credentials (holders with other credentials are not held back).
///
/// ```
/// use std::time::Duration;
/// use tokenmux::RetryPolicy;
///
/// let policy = RetryPolicy::default();
/// assert_eq!(policy.cool_down_after(1), Duration::from_secs(5));
/// assert_eq!(policy.cool_down_after(2), Duration::from_secs(10));
/// assert_eq!(policy.cool_down_after(50), policy.max_cool_down);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: usize,
    /// First backoff delay.
    pub initial_delay: Duration,
    /// Largest backoff delay. A `Retry-After` is waited in full when the
    /// next attempt still starts before the deadline; otherwise its error
    /// is returned at once.
    pub max_delay: Duration,
    /// Give up when this much time has passed since the first attempt.
    pub deadline: Duration,
    /// How long after a failed refresh nobody asks again (doubling with
    /// each failed refresh in a row), unless the endpoint said
    /// (`Retry-After`).
    pub cool_down: Duration,
    /// The longest cool-down after transient failures.
    pub max_cool_down: Duration,
    /// How long after the endpoint refused the credentials holders with
    /// the same credentials do not ask again (so that a fleet with a wrong
    /// secret does not lock the account).
    pub rejected_cool_down: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            cool_down: Duration::from_secs(5),
            max_cool_down: Duration::from_secs(120),
            rejected_cool_down: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// Refuses a policy that would never try: zero attempts, or no time.
    ///
    /// ```
    /// use tokenmux::RetryPolicy;
    ///
    /// assert!(RetryPolicy { max_attempts: 0, ..RetryPolicy::default() }.check().is_err());
    /// assert!(RetryPolicy::none().check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), crate::Error> {
        if self.max_attempts == 0 || self.deadline.is_zero() {
            return Err(crate::ConfigError::new(
                "retry",
                "a retry policy needs at least one attempt and a deadline above zero",
            )
            .into());
        }
        Ok(())
    }

    /// The cool-down after the `in_a_row`-th failed refresh in a row
    /// (transient failures without `Retry-After`).
    pub fn cool_down_after(&self, in_a_row: u32) -> Duration {
        let doubling = 2u32.saturating_pow(in_a_row.saturating_sub(1).min(16));
        self.cool_down
            .saturating_mul(doubling)
            .min(self.max_cool_down.max(self.cool_down))
    }

    /// No retries: one attempt.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}
