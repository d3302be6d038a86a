//! A store's lease held as a guard: renewed while its work runs, given
//! back when the work ends, and given back on drop too (a holder that
//! panics or whose task is cancelled), so others need not wait for it to
//! lapse.

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use tokenmux_store::{Lease, StoreError, StoreKey, TokenStore};

/// A held [`Lease`] on one key of one store.
pub(crate) struct LeaseGuard {
    store: Arc<dyn TokenStore>,
    key: StoreKey,
    /// `None` once released.
    lease: Option<Lease>,
}

impl LeaseGuard {
    /// Asks `store` for `key`'s lease; `Ok(None)`: another holder has it.
    pub(crate) async fn try_acquire(
        store: &Arc<dyn TokenStore>,
        key: &StoreKey,
    ) -> Result<Option<Self>, StoreError> {
        Ok(store.try_lease(key).await?.map(|lease| Self {
            store: Arc::clone(store),
            key: key.clone(),
            lease: Some(lease),
        }))
    }

    /// Whether other holders may be waiting on it (a lease that excludes
    /// nobody, [`Lease::unshared`], is not shared).
    pub(crate) fn is_shared(&self) -> bool {
        self.lease.as_ref().and_then(Lease::ttl).is_some()
    }

    /// Runs `work`, renewing the lease every third of its ttl meanwhile, so
    /// a slow but live fetch keeps it and a dead holder's lapses soon.
    pub(crate) async fn renewing<T>(&self, work: impl Future<Output = T>) -> T {
        let Some((lease, ttl)) = self
            .lease
            .as_ref()
            .and_then(|lease| Some((lease, lease.ttl()?)))
        else {
            return work.await;
        };
        let period = (ttl / 3).max(Duration::from_millis(1));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = ticks.tick() => match self.store.renew_lease(&self.key, lease).await {
                    Ok(true) => {}
                    Ok(false) => warn!("the token store's lease lapsed during a fetch"),
                    Err(error) => warn!(%error, "cannot renew the token store's lease"),
                },
            }
        }
    }

    /// Gives the lease back now.
    pub(crate) async fn release(mut self) {
        if let Some(lease) = self.lease.take()
            && let Err(error) = self.store.release_lease(&self.key, &lease).await
        {
            // It lapses by itself.
            warn!(%error, "cannot release the token store's lease");
        }
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        // Dropped unreleased: cancelled or panicking. Release from a task;
        // without a runtime the lease lapses by itself (or with the process).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, key) = (Arc::clone(&self.store), self.key.clone());
            runtime.spawn(async move {
                let _ = store.release_lease(&key, &lease).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, MemoryStore, Provider};

    #[tokio::test]
    async fn a_dropped_guard_gives_the_lease_back() {
        let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::default());
        let key = Provider::neonpanel().store_key(&Credentials::client("id", "s"));
        let guard = LeaseGuard::try_acquire(&store, &key)
            .await
            .unwrap()
            .unwrap();
        assert!(guard.is_shared());
        assert!(
            LeaseGuard::try_acquire(&store, &key)
                .await
                .unwrap()
                .is_none()
        );
        // A holder whose work is cancelled mid-way.
        let held = tokio::spawn(async move {
            guard
                .renewing(tokio::time::sleep(Duration::from_secs(3600)))
                .await
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        held.abort();
        let _ = held.await;
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            LeaseGuard::try_acquire(&store, &key)
                .await
                .unwrap()
                .is_some()
        );
    }
}
