//! The coordination layer of a source: between holders that share a
//! store, one fetches (the lease loop) while the others wait for its token;
//! a stored token is adopted when it is fresh and obtained with these
//! credentials; a refresh token is claimed before it is presented; a new
//! token is published by compare-and-swap; a failure is shared the same
//! way, and while its cool-down lasts nobody sharing the store asks again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokenmux_wire::Secret;
use tracing::{debug, warn};

use super::failure_recorder::FailureRecorder;
use super::{Cached, Inner};
use crate::cool_down::{self, Failed};
use crate::exchange::Grant;
use crate::lease_guard::LeaseGuard;
use crate::observe::TokenOrigin;
use crate::rotation;
use crate::{AccessToken, Error};
use tokenmux_store::Verifier;
use tokenmux_store::{PutOutcome, Record, Versioned};

/// First pause of a holder waiting for another's token, and the longest.
const LEASE_POLL_FIRST: Duration = Duration::from_millis(10);
const LEASE_POLL_MAX: Duration = Duration::from_millis(200);
/// How much longer than a fetch's deadline a holder waits for another's
/// token before fetching itself (covers the lease lapsing after a crash).
const LEASE_WAIT_MARGIN: Duration = Duration::from_secs(30);

impl Inner {
    /// Gets a new token and publishes it; the body of a flight (one per
    /// process). The store's lease makes it one flight between all the
    /// holders sharing the store, and a failure in the store holds them
    /// all back until its cool-down ends (unless this flight was asked
    /// for by `refresh` or `invalidate`).
    pub(super) async fn refresh(&self) -> Result<Arc<Cached>, Failed> {
        let forced = self.forced.swap(false, Ordering::AcqRel);
        // A flight that ended just before this one started may have
        // refreshed already.
        if let Some(current) = self.current.load_full()
            && self.fetcher.clock().now() < current.fresh_until
        {
            return Ok(current);
        }
        // Waiting is bounded by how long the lease holder's fetch may run.
        let give_up =
            tokio::time::Instant::now() + self.fetcher.retry().deadline + LEASE_WAIT_MARGIN;
        let mut pause = LEASE_POLL_FIRST;
        let mut waited = false;
        loop {
            let stored = self.read_store().await;
            // Another holder of the store may have refreshed already, or
            // failed (this is how a holder waiting for the lease learns
            // that its holder is failing).
            if let Some(adopted) = stored.as_ref().and_then(|s| self.adoptable(s)) {
                return Ok(adopted);
            }
            if let Some(held) = stored.as_ref().and_then(|s| self.held_back(s, forced)) {
                return Err(held);
            }
            match LeaseGuard::try_acquire(&self.store, &self.key).await {
                Ok(Some(lease)) => {
                    // A shared lease: the previous holder may have stored a
                    // token since the read above.
                    let stored = match lease.is_shared() {
                        true => self.read_store().await,
                        false => stored,
                    };
                    let adopted = stored.as_ref().and_then(|s| self.adoptable(s));
                    let held = stored.as_ref().and_then(|s| self.held_back(s, forced));
                    let result = match (adopted, held) {
                        (Some(adopted), _) => Ok(adopted),
                        (None, Some(held)) => Err(held),
                        (None, None) => lease.renewing(self.fetch_and_publish(stored, true)).await,
                    };
                    lease.release().await;
                    return result;
                }
                Ok(None) if tokio::time::Instant::now() < give_up => {
                    if !std::mem::replace(&mut waited, true) {
                        self.observe.lease_wait();
                    }
                    debug!(
                        source = &*self.observe.name,
                        ?pause,
                        "another holder is fetching; waiting for its token"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LEASE_POLL_MAX);
                }
                Ok(None) => {
                    self.observe.lease_takeover();
                    warn!(
                        source = &*self.observe.name,
                        "the store's lease holder has not stored a token in time; fetching without it"
                    );
                    return self.fetch_and_publish(stored, false).await;
                }
                Err(error) => {
                    // Never fail a caller because the shared store is down.
                    let reports = self.store.reports_outages();
                    self.observe.store_failed(
                        reports,
                        &error,
                        "token store cannot coordinate; fetching locally",
                    );
                    return self.fetch_and_publish(stored, false).await;
                }
            }
        }
    }

    /// Fetches and publishes. Under the lease, with the newest unspent
    /// refresh token once it is claimed in the store; without the lease,
    /// only with the primary grant (a refresh token might be in flight
    /// under another holder). Failures are shared through the store.
    pub(super) async fn fetch_and_publish(
        &self,
        stored: Option<Versioned>,
        leased: bool,
    ) -> Result<Arc<Cached>, Failed> {
        let mut recorder = FailureRecorder::new(self, stored.as_ref());
        let version = stored.as_ref().map(|s| s.version);
        let current = self.current.load_full();
        if current
            .as_ref()
            .is_some_and(|c| self.fetcher.clock().now() < c.valid_until)
        {
            self.observe.refresh_ahead();
        }
        let obtained_before = self.obtained_before(stored.as_ref());
        let claimed = match leased {
            true => {
                let memory = current.as_ref().map(|c| (&c.token, c.version));
                // A stored refresh token other credentials obtained is
                // not theirs to present.
                let stored = stored
                    .as_ref()
                    .filter(|s| s.token().is_some_and(|t| self.obtained_by_us(t)));
                rotation::claim(
                    &self.store,
                    &self.key,
                    stored,
                    version,
                    memory,
                    &self.spent_refresh_tokens,
                    &self.observe,
                )
                .await
            }
            false => None,
        };
        let token = match claimed {
            Some(claimed) => {
                recorder.wrote(claimed.version, claimed.record);
                self.refresh_grant(&claimed.refresh_token, &mut recorder)
                    .await
            }
            None => self.primary(obtained_before, Some(&mut recorder)).await,
        };
        match token {
            Ok(token) => {
                recorder.succeeded();
                Ok(self.publish(token, recorder.version()).await)
            }
            Err(error) => Err(recorder.gave_up(error).await),
        }
    }

    /// The refresh grant, and what to do when the refresh token is refused.
    pub(super) async fn refresh_grant(
        &self,
        refresh_token: &Secret,
        recorder: &mut FailureRecorder<'_>,
    ) -> Result<AccessToken, Error> {
        let error = match self.fetch(Grant::Refresh(refresh_token), None).await {
            Ok(token) => {
                match token.refresh_token() == Some(refresh_token) {
                    // Not replaced: still valid (RFC 6749 §6), presented next.
                    true => self.spent_refresh_tokens.revive(refresh_token),
                    false => self.observe.rotated(),
                }
                return Ok(token);
            }
            Err(error) => error,
        };
        debug!(source = &*self.observe.name, %error, "refresh grant failed");
        if matches!(error, Error::CredentialsRejected { .. }) {
            // Another holder may have stored a good token meanwhile.
            if let Some(stored) = self.read_store().await
                && let Some(adopted) = self.adoptable(&stored)
            {
                return Ok(adopted.token.clone());
            }
        }
        // The refresh token is spent either way; the primary grant (the
        // builder checked the credentials fit it) is the way to a new one.
        // A token was obtained before: it held the refresh token.
        self.primary(true, Some(recorder)).await
    }

    /// The verifier of this source's credentials: the slow one unless
    /// the store keeps its records in this process.
    pub(super) fn verifier(&self) -> &Arc<Verifier> {
        self.verifier.get_or_init(|| {
            let secrets = self
                .fetcher
                .credentials()
                .secrets(self.fetcher.provider().spec());
            Arc::new(match self.store.in_process() {
                true => Verifier::in_process(secrets, self.key.as_str()),
                false => Verifier::of(secrets, self.key.as_str()),
            })
        })
    }

    /// Whether `token` was obtained with this source's credentials (a
    /// token from before verifiers, or another secret's, was not).
    pub(super) fn obtained_by_us(&self, token: &AccessToken) -> bool {
        token.verifier() == Some(&**self.verifier())
    }

    /// A stored token worth using instead of fetching: obtained with these
    /// credentials, fresh, received no later than now (a record from the
    /// future is not to be trusted), and not the one a caller reported
    /// rejected. Publishes it.
    pub(super) fn adoptable(&self, stored: &Versioned) -> Option<Arc<Cached>> {
        self.adopt(stored, |cached| cached.fresh_until)
    }

    /// A failure in the store that holds this holder back (see
    /// [`cool_down::holds_back`]), as the flight's outcome; meanwhile a
    /// stored token that is still valid (if not fresh) is used.
    fn held_back(&self, stored: &Versioned, forced: bool) -> Option<Failed> {
        let failure = stored.failure()?;
        let now = self.fetcher.clock().now();
        if forced || !cool_down::holds_back(failure, now, self.verifier()) {
            return None;
        }
        debug!(source = &*self.observe.name, code = failure.code(), until = ?failure.until(), "an earlier request failed; not asking until its cool-down ends");
        let _ = self.adopt(stored, |cached| cached.valid_until);
        Some(cool_down::backing_off(failure, now))
    }

    /// `stored`'s token, published, if it is ours, received no later than
    /// now, not the one a caller reported rejected, nor the one held now,
    /// and usable until `usable_until` of it (fresh, or valid) is past now.
    fn adopt(
        &self,
        stored: &Versioned,
        usable_until: fn(&Cached) -> SystemTime,
    ) -> Option<Arc<Cached>> {
        let token = stored.token()?;
        if !self.obtained_by_us(token) {
            debug!(
                source = &*self.observe.name,
                "the stored token was obtained with other credentials; not using it"
            );
            return None;
        }
        if token.dpop_key().is_some() != self.fetcher.dpop().is_some() {
            debug!(
                source = &*self.observe.name,
                "the stored token is bound to DPoP where this source is not, or not where it is; not using it"
            );
            return None;
        }
        if token.obtained_at() > self.fetcher.clock().now() + self.fetcher.refresh().clock_skew {
            debug!(
                source = &*self.observe.name,
                "the stored token was received in the future; not using it"
            );
            return None;
        }
        let cached = Cached::new(
            token.clone(),
            Some(stored.version),
            self.fetcher.refresh(),
            self.fetcher.clock(),
            &self.fetcher.provider().spec().presentation,
        );
        let rejected = self.rejected.lock().as_deref() == Some(&token.fingerprint());
        let current = self.current.load_full();
        let same_as_current = current
            .as_ref()
            .is_some_and(|c| c.token.secret() == token.secret());
        if self.fetcher.clock().now() >= usable_until(&cached) || rejected || same_as_current {
            return None;
        }
        debug!(source = &*self.observe.name, fingerprint = %token.fingerprint(), "token taken from the store");
        // Its refresh token is bound to its DPoP key: the next fetch proves it.
        if let Some(dpop) = self.fetcher.dpop() {
            dpop.hold(token);
        }
        let cached = Arc::new(cached);
        self.current.store(Some(Arc::clone(&cached)));
        self.observe.published(&cached.token, TokenOrigin::Store);
        Some(cached)
    }

    pub(super) async fn read_store(&self) -> Option<Versioned> {
        match self.store.get(&self.key).await {
            Ok(stored) => {
                self.observe.store_worked();
                stored
            }
            Err(error) => {
                let reports = self.store.reports_outages();
                self.observe
                    .store_failed(reports, &error, "token store unreadable; ignoring it");
                None
            }
        }
    }

    /// Stores the token, then lets callers see it: a rotated refresh token
    /// is persisted before anyone uses the access token issued with it.
    pub(super) async fn publish(&self, token: AccessToken, version: Option<u64>) -> Arc<Cached> {
        // Marked as ours before anyone else can read it from the store.
        let token = token.with_verifier(Some(Arc::clone(self.verifier())));
        let mut expected = version;
        let mut stored_version = None;
        for _ in 0..3 {
            let record = Record::from(token.clone());
            match self.store.put(&self.key, &record, expected).await {
                Ok(PutOutcome::Stored { version }) => {
                    stored_version = Some(version);
                    break;
                }
                // Another holder stored a token first. A usable one wins, so
                // that every holder uses (and rotates) the same refresh
                // token; ours, valid too, is dropped unused.
                Ok(PutOutcome::Conflict { current }) => {
                    if let Some(theirs) = current.as_ref().and_then(|c| self.adoptable(c)) {
                        debug!(
                            source = &*self.observe.name,
                            "another holder stored a token first; using theirs"
                        );
                        *self.rejected.lock() = None;
                        return theirs;
                    }
                    expected = current.map(|c| c.version);
                }
                Err(error) => {
                    let reports = self.store.reports_outages();
                    self.observe.store_failed(
                        reports,
                        &error,
                        "token store unwritable; keeping the token in memory",
                    );
                    break;
                }
            }
        }
        *self.rejected.lock() = None;
        debug!(source = &*self.observe.name, fingerprint = %token.fingerprint(), expires_at = ?token.expires_at(), "token refreshed");
        let cached = Arc::new(Cached::new(
            token,
            stored_version,
            self.fetcher.refresh(),
            self.fetcher.clock(),
            &self.fetcher.provider().spec().presentation,
        ));
        self.current.store(Some(Arc::clone(&cached)));
        self.observe.published(&cached.token, TokenOrigin::Fetched);
        cached
    }

    /// One grant with retries; each retried failure goes to `recorder`.
    pub(super) async fn fetch(
        &self,
        grant: Grant<'_>,
        recorder: Option<&mut FailureRecorder<'_>>,
    ) -> Result<AccessToken, Error> {
        match recorder {
            Some(recorder) => self.fetcher.fetch(grant, &self.observe, recorder).await,
            None => self.fetcher.fetch(grant, &self.observe, &mut ()).await,
        }
    }
}

#[cfg(test)]
mod tests;
