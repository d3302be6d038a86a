//! `refresh:` and `retry:` of a configured source: the policies' fields,
//! each optional, durations written as `90s` or `5m`.

use std::time::Duration;

use tokenmux::{RefreshPolicy, RetryPolicy};

/// `refresh:` of a configured source: the [`RefreshPolicy`] fields, each
/// optional (the default, or the spec's advice, stands for those left
/// out). Durations are written as `90s`, `5m`, `1h 30m`, `1d`.
///
/// ```
/// use std::time::Duration;
/// use tokenmux_config::RefreshConfig;
///
/// let config: RefreshConfig = serde_json::from_str(r#"{"ahead_max": "2m", "clock_skew": "5s"}"#).unwrap();
/// let policy = config.apply(Default::default());
/// assert_eq!(policy.refresh_ahead_max, Duration::from_secs(120));
/// assert_eq!(policy.refresh_ahead_fraction, 0.1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshConfig {
    /// Fraction of the lifetime to refresh ahead of expiry (0 to 1).
    #[serde(default)]
    pub ahead_fraction: Option<f64>,
    /// Upper bound of the refresh-ahead window.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub ahead_max: Option<Duration>,
    /// Treat a token as expired this long before its expiry.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub clock_skew: Option<Duration>,
    /// Refresh after at most this long, whatever `expires_in` says.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub max_lifetime: Option<Duration>,
    /// Lifetime assumed when a response has no `expires_in`.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub default_lifetime: Option<Duration>,
    /// Refresh at a random point of the window (default true).
    #[serde(default)]
    pub fleet_jitter: Option<bool>,
}

/// As [`PartialEq`] compares it, the fraction by its bits (`-0.0` and
/// `0.0` then differ: a digest of a config tells two configs apart, never
/// two different ones together).
impl std::hash::Hash for RefreshConfig {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let Self {
            ahead_fraction,
            ahead_max,
            clock_skew,
            max_lifetime,
            default_lifetime,
            fleet_jitter,
        } = self;
        ahead_fraction.map(f64::to_bits).hash(state);
        (ahead_max, clock_skew, max_lifetime, default_lifetime).hash(state);
        fleet_jitter.hash(state);
    }
}

impl RefreshConfig {
    /// `base` with the fields this config sets.
    pub fn apply(&self, base: RefreshPolicy) -> RefreshPolicy {
        RefreshPolicy {
            refresh_ahead_fraction: self.ahead_fraction.unwrap_or(base.refresh_ahead_fraction),
            refresh_ahead_max: self.ahead_max.unwrap_or(base.refresh_ahead_max),
            clock_skew: self.clock_skew.unwrap_or(base.clock_skew),
            max_lifetime: self.max_lifetime.or(base.max_lifetime),
            default_lifetime: self.default_lifetime.unwrap_or(base.default_lifetime),
            fleet_jitter: self.fleet_jitter.unwrap_or(base.fleet_jitter),
        }
    }
}

/// `retry:` of a configured source: the [`RetryPolicy`] fields, each
/// optional.
///
/// ```
/// use tokenmux_config::RetryConfig;
///
/// let config: RetryConfig = serde_json::from_str(r#"{"max_attempts": 2, "deadline": "10s"}"#).unwrap();
/// let policy = config.apply(Default::default());
/// assert_eq!((policy.max_attempts, policy.deadline.as_secs()), (2, 10));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Hash, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included.
    #[serde(default)]
    pub max_attempts: Option<usize>,
    /// First backoff delay.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub initial_delay: Option<Duration>,
    /// Largest backoff delay.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub max_delay: Option<Duration>,
    /// Give up this long after the first attempt.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub deadline: Option<Duration>,
    /// How long after a failed refresh nobody sharing the store asks
    /// again (doubling with each failed refresh in a row), unless the
    /// endpoint sent `Retry-After`.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub cool_down: Option<Duration>,
    /// The longest cool-down after transient failures.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub max_cool_down: Option<Duration>,
    /// How long after rejected credentials holders with the same
    /// credentials do not ask again.
    #[serde(default, with = "humantime_serde::option")]
    #[schemars(with = "Option<String>")]
    pub rejected_cool_down: Option<Duration>,
}

impl RetryConfig {
    /// `base` with the fields this config sets.
    pub fn apply(&self, base: RetryPolicy) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            initial_delay: self.initial_delay.unwrap_or(base.initial_delay),
            max_delay: self.max_delay.unwrap_or(base.max_delay),
            deadline: self.deadline.unwrap_or(base.deadline),
            cool_down: self.cool_down.unwrap_or(base.cool_down),
            max_cool_down: self.max_cool_down.unwrap_or(base.max_cool_down),
            rejected_cool_down: self.rejected_cool_down.unwrap_or(base.rejected_cool_down),
        }
    }
}
