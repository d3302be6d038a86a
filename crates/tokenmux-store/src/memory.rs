//! The default store: this process's memory.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{Lease, PutOutcome, Record, StoreError, StoreKey, TokenStore, Versioned, next_version};

/// How long a [`MemoryStore`] lease lasts unless renewed.
const MEMORY_LEASE_TTL: Duration = Duration::from_secs(10);

/// Tokens in this process's memory; the default store.
///
/// Sources that share one `MemoryStore` (through an `Arc`) share its
/// tokens and its leases: many sources for one key make one upstream
/// request between them, and a refresh token is presented once.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Boxed: a map's table is sized for more entries than it holds (four
    /// for the one most stores keep), so the table holds pointers, not
    /// records.
    entries: Mutex<HashMap<StoreKey, Box<Versioned>>>,
    /// Key → (owner, lapses at). Empty between fetches, and then without
    /// a table: an agent keeps thousands of stores.
    leases: Mutex<HashMap<StoreKey, (String, Instant)>>,
    next_owner: AtomicU64,
}

#[async_trait]
impl TokenStore for MemoryStore {
    fn in_process(&self) -> bool {
        true
    }

    async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
        Ok(self.entries.lock().get(key).map(|v| Versioned::clone(v)))
    }

    async fn put(
        &self,
        key: &StoreKey,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let mut entries = self.entries.lock();
        let version = match next_version(entries.get(key).map(|v| &**v), expected) {
            Ok(version) => version,
            Err(conflict) => return Ok(conflict),
        };
        entries.insert(
            key.clone(),
            Box::new(Versioned {
                record: record.clone(),
                version,
            }),
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
            if leases.is_empty() {
                *leases = HashMap::new();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::{AccessToken, MAX_VERSION};

    #[tokio::test]
    async fn put_is_compare_and_swap() {
        let store = MemoryStore::default();
        let key = StoreKey::from_parts("neonpanel", "https://example.com", "id", None);
        let token: Record =
            AccessToken::new("a", SystemTime::now(), Duration::from_secs(60)).into();
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
            record: token.clone(),
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
        let key = StoreKey::from_parts("neonpanel", "https://example.com", "id", None);
        let lease = store.try_lease(&key).await.unwrap().unwrap();
        assert_eq!(store.try_lease(&key).await.unwrap(), None);
        assert!(store.renew_lease(&key, &lease).await.unwrap());
        store.release_lease(&key, &lease).await.unwrap();
        assert!(!store.renew_lease(&key, &lease).await.unwrap());
        assert!(store.try_lease(&key).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_store_without_leases_holds_no_lease_table() {
        let store = MemoryStore::default();
        let key = StoreKey::from_parts("neonpanel", "https://example.com", "id", None);
        let lease = store.try_lease(&key).await.unwrap().unwrap();
        store.release_lease(&key, &lease).await.unwrap();
        // Between fetches an agent's thousands of stores hold no table.
        assert_eq!(store.leases.lock().capacity(), 0);
        // And the next fetch leases as before.
        assert!(store.try_lease(&key).await.unwrap().is_some());
    }
}
