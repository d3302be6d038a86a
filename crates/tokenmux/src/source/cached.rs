//! The cache entry of a source: a token, its header, and the instants
//! that bound its states (fresh, then stale, then expired).

use std::time::SystemTime;

use crate::sharded_header::ShardedHeader;
use crate::{AccessToken, Clock, RefreshPolicy};
use tokenmux_wire::Presentation;

/// A token with its header and the instants that bound its states.
#[derive(Debug)]
pub(crate) struct Cached {
    pub(super) token: AccessToken,
    pub(super) header: ShardedHeader,
    /// Fresh until then, stale (refresh in the background) after.
    pub(super) fresh_until: SystemTime,
    /// `fresh_until` in the source clock's [ticks](Clock::ticks): what
    /// every cached read compares, with no conversion to wall time.
    pub(super) fresh_ticks: u64,
    /// Usable until then, expired after.
    pub(super) valid_until: SystemTime,
    pub(super) version: Option<u64>,
}

impl Cached {
    /// The same token marked expired, keeping its refresh token (only the
    /// access token is unusable).
    pub(super) fn expired(&self) -> Cached {
        Cached {
            fresh_until: SystemTime::UNIX_EPOCH,
            fresh_ticks: 0,
            valid_until: SystemTime::UNIX_EPOCH,
            header: ShardedHeader::new(self.header.value().clone()),
            token: self.token.clone(),
            version: self.version,
        }
    }

    /// The clock's refresh jitter (0 to 1) places the refresh point inside
    /// the refresh-ahead window: 0 at its start, 1 at its end (the token's
    /// usable end). The header is the one `presentation` (the spec's) says.
    pub(super) fn new(
        token: AccessToken,
        version: Option<u64>,
        policy: &RefreshPolicy,
        clock: &dyn Clock,
        presentation: &Presentation,
    ) -> Self {
        let jitter = clock.refresh_jitter();
        let lifetime = token.lifetime();
        // Neither margin may eat more than half the lifetime, or a short-lived
        // token would be refreshed on every call.
        let skew = policy.clock_skew.min(lifetime / 2);
        let ahead = policy.refresh_ahead(lifetime).min(lifetime / 2).max(skew);
        let jitter = if policy.fleet_jitter && jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let fresh_until = token.expires_at() - ahead + (ahead - skew).mul_f64(jitter);
        Self {
            // A DPoP token goes as `Authorization: DPoP …` (RFC 9449 §7.1).
            header: ShardedHeader::new(match token.dpop_key() {
                Some(_) => token.authorization(),
                None => presentation.header_value(token.secret()),
            }),
            fresh_until,
            fresh_ticks: clock.ticks_at(fresh_until),
            valid_until: token.expires_at() - skew,
            token,
            version,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn entry(lifetime: u64, jitter: f64, policy: &RefreshPolicy) -> (Cached, SystemTime) {
        let obtained = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let token = AccessToken::new("t", obtained, Duration::from_secs(lifetime));
        let expires = token.expires_at();
        let clock = crate::ManualClock::default();
        clock.set_refresh_jitter(jitter);
        (
            Cached::new(token, Some(1), policy, &clock, &Presentation::BEARER),
            expires,
        )
    }

    #[test]
    fn the_refresh_point_moves_with_jitter_inside_the_window() {
        // An hour: ahead = min(10%, 300 s) = 300 s, skew 10 s.
        let policy = RefreshPolicy::default();
        let (early, expires) = entry(3_600, 0.0, &policy);
        assert_eq!(early.fresh_until, expires - Duration::from_secs(300));
        assert_eq!(early.valid_until, expires - Duration::from_secs(10));
        let (late, _) = entry(3_600, 1.0, &policy);
        assert_eq!(late.fresh_until, expires - Duration::from_secs(10));
        // Out of range or not a number: held to the window.
        let (clamped, _) = entry(3_600, 7.0, &policy);
        assert_eq!(clamped.fresh_until, late.fresh_until);
        let (nan, _) = entry(3_600, f64::NAN, &policy);
        assert_eq!(nan.fresh_until, early.fresh_until);
        // Without fleet jitter, always the window's start.
        let fixed = RefreshPolicy {
            fleet_jitter: false,
            ..RefreshPolicy::default()
        };
        assert_eq!(entry(3_600, 1.0, &fixed).0.fresh_until, early.fresh_until);
    }

    #[test]
    fn a_short_token_keeps_half_its_life_usable_and_fresh() {
        // 8 s: the 10 s skew is cut to 4 s, the window to [4 s, 4 s].
        let policy = RefreshPolicy::default();
        let (cached, expires) = entry(8, 0.5, &policy);
        assert_eq!(cached.valid_until, expires - Duration::from_secs(4));
        assert_eq!(cached.fresh_until, expires - Duration::from_secs(4));
    }
}
