//! Refresh-token rotation: which refresh token to present, and the claim
//! that makes sure nobody sharing the store presents it too.
//!
//! Before sending refresh token R the holder writes, by compare-and-swap,
//! the stored record without R. Whoever wins that write is the only one
//! that ever sends R: every other holder, in this process or another, reads
//! a newer version without a refresh token, even after the winner's lease
//! lapsed or the winner died with its request in flight. The same rule
//! holds for every [`TokenStore`], with nothing but `get` and `put`.

use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;

use tokenmux_wire::Secret;
use tracing::{debug, warn};

use crate::AccessToken;
use crate::observe::Observer;
use tokenmux_store::fingerprint;
use tokenmux_store::{PutOutcome, Record, StoreKey, TokenStore, Versioned};

/// A refresh token this holder alone may now present, the store version
/// that records the claim (the version its new token replaces), and the
/// record it wrote.
pub(crate) struct Claimed {
    pub(crate) refresh_token: Secret,
    pub(crate) version: Option<u64>,
    pub(crate) record: Record,
}

/// Refresh tokens this process has sent: never sent again, whatever a
/// store says (a store rolled back, or one that lost a write).
///
/// Boxed at the first one: most sources never send a refresh token, and an
/// empty set is 48 bytes each of them would hold.
#[derive(Debug, Default)]
#[allow(clippy::box_collection, reason = "an empty HashSet is 48 bytes inline")]
pub(crate) struct SpentRefreshTokens(Mutex<Option<Box<HashSet<String>>>>);

impl SpentRefreshTokens {
    /// Whether this process has sent `token`.
    pub(crate) fn contains(&self, token: &Secret) -> bool {
        self.0
            .lock()
            .as_ref()
            .is_some_and(|spent| spent.contains(&fingerprint(token.expose_secret())))
    }

    /// `token` is being sent.
    pub(crate) fn insert(&self, token: &Secret) {
        self.0
            .lock()
            .get_or_insert_default()
            .insert(fingerprint(token.expose_secret()));
    }

    /// The endpoint answered `token` without a new refresh token: it is
    /// still valid (RFC 6749 §6) and may be presented again.
    pub(crate) fn revive(&self, token: &Secret) {
        if let Some(spent) = self.0.lock().as_mut() {
            spent.remove(&fingerprint(token.expose_secret()));
        }
    }
}

/// The newest refresh token between the store and memory, claimed in the
/// store; `None` when there is none to present (use the primary grant).
///
/// `stored` is what the store holds now (read under the lease) when its
/// refresh token may be presented, and `stored_version` its version
/// (`None`: nothing stored); `memory` the token this source holds, with
/// the version it was read or written as. The store wins unless memory
/// holds a newer version (the store lost a write or was rolled back).
pub(crate) async fn claim(
    store: &Arc<dyn TokenStore>,
    key: &StoreKey,
    stored: Option<&Versioned>,
    stored_version: Option<u64>,
    memory: Option<(&AccessToken, Option<u64>)>,
    spent: &SpentRefreshTokens,
    observe: &Observer,
) -> Option<Claimed> {
    let stored_token = stored.and_then(|s| s.token().map(|token| (token, s.version)));
    let newest = match (stored_token, memory) {
        (Some((_, stored)), Some((token, Some(version)))) if version > stored => token,
        (Some((token, _)), _) => token,
        (None, Some((token, _))) => token,
        (None, None) => return None,
    };
    let refresh_token = newest.refresh_token()?.clone();
    if spent.contains(&refresh_token) {
        debug!("the newest refresh token was already sent by this process");
        observe.reuse_refused();
        return None;
    }
    // Spent from here on, whether or not the claim and the request succeed.
    spent.insert(&refresh_token);
    // The failure in the store, if any, stays: it counts failures in a row.
    let without = Record {
        token: Some(newest.clone().with_refresh_token(None)),
        failure: stored.and_then(|s| s.failure().cloned()),
    };
    match store.put(key, &without, stored_version).await {
        Ok(PutOutcome::Stored { version }) => Some(Claimed {
            refresh_token,
            version: Some(version),
            record: without,
        }),
        Ok(PutOutcome::Conflict { .. }) => {
            debug!("another holder changed the stored token; not presenting its refresh token");
            observe.reuse_refused();
            None
        }
        Err(error) => {
            // Unclaimed, it could be presented twice: use the primary grant.
            warn!(%error, "cannot claim the refresh token in the store; using the primary grant");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn observer() -> Observer {
        Observer::new("test".into(), "test")
    }
    use crate::{Credentials, MemoryStore, Provider};

    fn token(access: &str, refresh: &str) -> AccessToken {
        AccessToken::new(access, SystemTime::now(), Duration::from_secs(60))
            .with_refresh_token(Some(Secret::new(refresh)))
    }

    #[tokio::test]
    async fn a_refresh_token_is_claimed_once_across_holders() {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
        let key = Provider::neonpanel().store_key(&Credentials::client("id", "s"));
        store
            .put(&key, &token("a1", "r1").into(), None)
            .await
            .unwrap();
        let stored = store.get(&key).await.unwrap();
        // Two holders read version 1; the first claims r1, the second
        // (its own spent set: another process) finds it gone.
        let (first, second) = (SpentRefreshTokens::default(), SpentRefreshTokens::default());
        let claimed = claim(
            &store,
            &key,
            stored.as_ref(),
            stored.as_ref().map(|s| s.version),
            None,
            &first,
            &observer(),
        )
        .await
        .unwrap();
        assert_eq!(claimed.refresh_token.expose_secret(), "r1");
        assert_eq!(claimed.version, Some(2));
        assert!(
            claim(
                &store,
                &key,
                stored.as_ref(),
                stored.as_ref().map(|s| s.version),
                None,
                &second,
                &observer()
            )
            .await
            .is_none()
        );
        let now = store.get(&key).await.unwrap();
        assert!(
            claim(
                &store,
                &key,
                now.as_ref(),
                now.as_ref().map(|s| s.version),
                None,
                &second,
                &observer()
            )
            .await
            .is_none()
        );
        assert!(now.unwrap().token().unwrap().refresh_token().is_none());
    }

    #[tokio::test]
    async fn memory_wins_over_a_store_that_went_back_in_version() {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
        let key = Provider::neonpanel().store_key(&Credentials::client("id", "s"));
        store
            .put(&key, &token("old", "r-old").into(), None)
            .await
            .unwrap();
        let stored = store.get(&key).await.unwrap();
        let newer = token("new", "r-new");
        let spent = SpentRefreshTokens::default();
        let claimed = claim(
            &store,
            &key,
            stored.as_ref(),
            stored.as_ref().map(|s| s.version),
            Some((&newer, Some(7))),
            &spent,
            &observer(),
        )
        .await
        .unwrap();
        assert_eq!(claimed.refresh_token.expose_secret(), "r-new");
        // Never twice from one process, whatever the store says.
        store
            .put(&key, &newer.clone().into(), Some(2))
            .await
            .unwrap();
        let stored = store.get(&key).await.unwrap();
        assert!(
            claim(
                &store,
                &key,
                stored.as_ref(),
                stored.as_ref().map(|s| s.version),
                None,
                &spent,
                &observer()
            )
            .await
            .is_none()
        );
    }
}
