//! Where tokens are kept between requests, and shared between holders.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::AccessToken;

/// Identifies one token: provider, base URL, client id and (for the
/// password grant) username. Never derived from a secret.
///
/// [`Provider::store_key`](crate::Provider::store_key) makes the key of a
/// source's token.
///
/// ```
/// use tokenmux::{Credentials, Provider, StoreKey};
///
/// let key = StoreKey::from_parts("airalo", "https://partners-api.airalo.com", "id-1", None);
/// assert_eq!(key.as_str(), "airalo|https://partners-api.airalo.com|id-1");
/// assert_eq!(key, Provider::airalo().store_key(&Credentials::client("id-1", "s3cr3t")));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreKey(String);

impl StoreKey {
    /// The key of the token that client `client_id` (and, for a password
    /// grant, `username`) gets from `provider` at `base_url`. A
    /// `user:password@` in the URL is left out.
    pub fn from_parts(
        provider: &str,
        base_url: &str,
        client_id: &str,
        username: Option<&str>,
    ) -> Self {
        let mut key = format!(
            "{provider}|{}|{client_id}",
            crate::net::without_userinfo(base_url)
        );
        if let Some(username) = username {
            key.push('|');
            key.push_str(username);
        }
        Self(key)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A stored token and its version; every write makes a new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The token (with its refresh token, if any).
    pub token: AccessToken,
    /// The version, for compare-and-swap.
    pub version: u64,
}

/// What a [`TokenStore::put`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written as this version.
    Stored {
        /// The new version.
        version: u64,
    },
    /// Not written: the stored version was not the expected one (another
    /// holder wrote first). The current value is returned.
    Conflict {
        /// What is stored now.
        current: Option<Versioned>,
    },
}

/// Why a store could not be read or written.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backing storage failed (I/O, network).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// What is stored cannot be read (corrupt, foreign, wrong key).
    #[error("stored token unreadable: {0}")]
    Corrupt(String),
    /// The store is misconfigured (a bad URL, say).
    #[error("store misconfigured: {0}")]
    Config(String),
    /// The TLS handshake failed: an untrusted or expired certificate, a
    /// name that does not match, a client certificate refused. Retrying
    /// does not mend it; the trusted CAs or the certificates must change.
    #[error("store TLS failed: {0}")]
    Tls(String),
    /// The store refused tokenmux's credentials or a command (a wrong
    /// password, an ACL that does not allow what the store needs).
    #[error("store access denied: {0}")]
    Denied(String),
}

/// Permission for one holder of a shared store to fetch a key's token
/// while the others wait for it; see [`TokenStore::try_lease`].
///
/// ```
/// use std::time::Duration;
/// use tokenmux::Lease;
///
/// let lease = Lease::new("5f1c…", Duration::from_secs(10));
/// assert_eq!(lease.ttl(), Some(Duration::from_secs(10)));
/// assert_eq!(Lease::unshared().ttl(), None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    owner: String,
    ttl: Option<Duration>,
}

impl Lease {
    /// A lease held by `owner` (a random value, unique per attempt) that
    /// lapses after `ttl` unless renewed.
    pub fn new(owner: impl Into<String>, ttl: Duration) -> Self {
        Self {
            owner: owner.into(),
            ttl: Some(ttl),
        }
    }

    /// The lease of a store nobody else shares: always granted, never lapses.
    pub fn unshared() -> Self {
        Self {
            owner: String::new(),
            ttl: None,
        }
    }

    /// Who holds it.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How long it lasts unless renewed; `None`: until released.
    pub fn ttl(&self) -> Option<Duration> {
        self.ttl
    }
}

/// Keeps tokens, with compare-and-swap on a version so that a rotated
/// refresh token is never overwritten by an older one.
#[async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// The stored token, if any.
    async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError>;

    /// Stores `token` if the stored version is `expected` (`None`: nothing
    /// stored yet).
    async fn put(
        &self,
        key: &StoreKey,
        token: &AccessToken,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError>;

    /// Asks to be the one holder fetching `key`'s token, so that holders
    /// sharing the store make one upstream request between them.
    /// `Ok(None)`: another holder has the lease; wait for the token it
    /// stores (poll [`get`](Self::get)), and ask again if none comes.
    ///
    /// The default, for stores no other process fetches through, always
    /// grants [`Lease::unshared`].
    async fn try_lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
        let _ = key;
        Ok(Some(Lease::unshared()))
    }

    /// Extends `lease` by its ttl, while its fetch is still running.
    /// `Ok(false)`: it had lapsed (another holder may be fetching now).
    async fn renew_lease(&self, key: &StoreKey, lease: &Lease) -> Result<bool, StoreError> {
        let _ = (key, lease);
        Ok(true)
    }

    /// Gives `lease` back (only if still held by its owner).
    async fn release_lease(&self, key: &StoreKey, lease: &Lease) -> Result<(), StoreError> {
        let _ = (key, lease);
        Ok(())
    }

    /// Refuses a configuration that is unsafe to use, before any token is
    /// stored: [`TokenSourceBuilder::build`](crate::TokenSourceBuilder::build)
    /// calls it and fails with [`Error::Config`](crate::Error::Config).
    /// The default accepts.
    fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The compare-and-swap rule every store applies: the write goes ahead, as
/// the returned version, only if what is stored is at version `expected`
/// (`None`: nothing stored); otherwise the conflict to report. A store of
/// your own calls it with what it holds, under its own lock or
/// transaction, then writes [`encode_record`](crate::encode_record)'s bytes.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokenmux::{AccessToken, PutOutcome, Versioned, next_version};
///
/// let token = AccessToken::new("t", SystemTime::now(), Duration::from_secs(60));
/// assert_eq!(next_version(None, None), Ok(1));
/// let stored = Versioned { token, version: 1 };
/// assert_eq!(next_version(Some(&stored), Some(1)), Ok(2));
/// assert!(matches!(next_version(Some(&stored), None), Err(PutOutcome::Conflict { .. })));
/// ```
pub fn next_version(current: Option<&Versioned>, expected: Option<u64>) -> Result<u64, PutOutcome> {
    let next = expected.map_or(Some(1), |v| v.checked_add(1));
    match next {
        Some(next) if current.map(|c| c.version) == expected && next < MAX_VERSION => Ok(next),
        // A version at the end of its range reads as corrupt (record::decode),
        // so the stores replace it rather than ever overflow.
        _ => Err(PutOutcome::Conflict {
            current: current.cloned(),
        }),
    }
}

/// Versions stay below this (2^53: exact in every JSON reader); a record
/// at or above it reads as corrupt and is replaced.
pub const MAX_VERSION: u64 = 1 << 53;

/// How long a [`MemoryStore`] lease lasts unless renewed.
const MEMORY_LEASE_TTL: Duration = Duration::from_secs(10);

/// Tokens in this process's memory; the default store.
///
/// Sources that share one `MemoryStore` (through an `Arc`) share its
/// tokens and its leases: many sources for one key make one upstream
/// request between them, and a refresh token is presented once.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<StoreKey, Versioned>>,
    /// Key → (owner, lapses at).
    leases: Mutex<HashMap<StoreKey, (String, Instant)>>,
    next_owner: AtomicU64,
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
        Ok(self.entries.lock().get(key).cloned())
    }

    async fn put(
        &self,
        key: &StoreKey,
        token: &AccessToken,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let mut entries = self.entries.lock();
        let version = match next_version(entries.get(key), expected) {
            Ok(version) => version,
            Err(conflict) => return Ok(conflict),
        };
        entries.insert(
            key.clone(),
            Versioned {
                token: token.clone(),
                version,
            },
        );
        Ok(PutOutcome::Stored { version })
    }

    async fn try_lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
        let mut leases = self.leases.lock();
        let now = Instant::now();
        if leases.get(key).is_some_and(|(_, lapses)| now < *lapses) {
            return Ok(None);
        }
        let owner = self.next_owner.fetch_add(1, Ordering::Relaxed).to_string();
        leases.insert(key.clone(), (owner.clone(), now + MEMORY_LEASE_TTL));
        Ok(Some(Lease::new(owner, MEMORY_LEASE_TTL)))
    }

    async fn renew_lease(&self, key: &StoreKey, lease: &Lease) -> Result<bool, StoreError> {
        let mut leases = self.leases.lock();
        match leases.get_mut(key) {
            Some((owner, lapses)) if owner == lease.owner() => {
                *lapses = Instant::now() + MEMORY_LEASE_TTL;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, key: &StoreKey, lease: &Lease) -> Result<(), StoreError> {
        let mut leases = self.leases.lock();
        if leases
            .get(key)
            .is_some_and(|(owner, _)| owner == lease.owner())
        {
            leases.remove(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::{Credentials, Provider};

    #[tokio::test]
    async fn put_is_compare_and_swap() {
        let store = MemoryStore::default();
        let key = Provider::neonpanel().store_key(&Credentials::client("id", "s"));
        let token = AccessToken::new("a", SystemTime::now(), Duration::from_secs(60));
        assert_eq!(
            store.put(&key, &token, None).await.unwrap(),
            PutOutcome::Stored { version: 1 }
        );
        // A writer that read nothing, or an old version, loses.
        assert!(
            matches!(store.put(&key, &token, None).await.unwrap(), PutOutcome::Conflict { current: Some(v) } if v.version == 1)
        );
        assert_eq!(
            store.put(&key, &token, Some(1)).await.unwrap(),
            PutOutcome::Stored { version: 2 }
        );
        assert!(matches!(
            store.put(&key, &token, Some(1)).await.unwrap(),
            PutOutcome::Conflict { .. }
        ));
        assert_eq!(store.get(&key).await.unwrap().unwrap().version, 2);
        // The end of the version range is never passed.
        let last = Versioned {
            token: token.clone(),
            version: MAX_VERSION,
        };
        assert!(next_version(Some(&last), Some(MAX_VERSION)).is_err());
        let beyond = Versioned {
            version: u64::MAX,
            ..last
        };
        assert!(next_version(Some(&beyond), Some(u64::MAX)).is_err());
    }

    #[tokio::test]
    async fn one_lease_per_key_until_released() {
        let store = MemoryStore::default();
        let key = Provider::neonpanel().store_key(&Credentials::client("id", "s"));
        let lease = store.try_lease(&key).await.unwrap().unwrap();
        assert_eq!(store.try_lease(&key).await.unwrap(), None);
        assert!(store.renew_lease(&key, &lease).await.unwrap());
        store.release_lease(&key, &lease).await.unwrap();
        assert!(!store.renew_lease(&key, &lease).await.unwrap());
        assert!(store.try_lease(&key).await.unwrap().is_some());
    }
}
