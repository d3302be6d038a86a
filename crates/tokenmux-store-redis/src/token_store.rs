//! The [`TokenStore`] contract on Redis: Lua scripts for the
//! compare-and-swap write and the lease, `SET NX PX` for taking it.

use async_trait::async_trait;
use rand::Rng as _;
use tokenmux_store::{
    Lease, MAX_VERSION, PutOutcome, Record, StoreError, StoreKey, TokenStore, Versioned,
};
use tracing::warn;

use crate::RedisStore;

#[async_trait]
impl TokenStore for RedisStore {
    /// The link warns once when Redis becomes unreachable and says when
    /// it is reachable again.
    fn reports_outages(&self) -> bool {
        true
    }

    async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
        let (token_key, _) = self.redis_keys(key);
        let invocation = self.scripts.get.key(&token_key);
        let (version, record) = self.invoke(&invocation).await?;
        self.decode(key, version, record)
    }

    async fn put(
        &self,
        key: &StoreKey,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<PutOutcome, StoreError> {
        let (token_key, _) = self.redis_keys(key);
        let ttl = u64::try_from(self.ttl(record).as_millis()).unwrap_or(u64::MAX);
        let mut expected_arg = expected.map(|v| v.to_string()).unwrap_or_default();
        let mut version = match expected.map_or(Some(1), |v| v.checked_add(1)) {
            Some(version) if version < MAX_VERSION => version,
            // Nothing stored can be at that version: report what is.
            _ => {
                return Ok(PutOutcome::Conflict {
                    current: self.get(key).await?,
                });
            }
        };
        // Twice at most: the second time replaces an unreadable value.
        for _ in 0..2 {
            let record =
                tokenmux_store::encode_record(key, version, record, self.encryption.as_ref())?;
            let mut invocation = self.scripts.put.key(&token_key);
            invocation
                .arg(&expected_arg)
                .arg(version)
                .arg(record)
                .arg(ttl);
            let mut link = self.connector.link().await?;
            let (stored, current_version, current_record): (i64, Option<String>, Option<Vec<u8>>) =
                self.connector
                    .call(invocation.invoke_async(&mut link))
                    .await?;
            if stored == 1 {
                self.replicated(&mut link, &token_key).await?;
                return Ok(PutOutcome::Stored { version });
            }
            match self.decode(key, current_version.clone(), current_record) {
                Ok(current) => return Ok(PutOutcome::Conflict { current }),
                Err(error) => {
                    // An unreadable value is as good as none: replace it.
                    warn!(%error, "replacing an unreadable token in Redis");
                    expected_arg = current_version.unwrap_or_default();
                    version = expected_arg
                        .parse::<u64>()
                        .ok()
                        .filter(|v| *v < MAX_VERSION - 1)
                        .map_or(1, |v| v + 1);
                }
            }
        }
        Err(self.corrupt("cannot replace the stored value"))
    }

    async fn try_lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
        let (_, lease_key) = self.redis_keys(key);
        let owner = format!("{:032x}", rand::rng().random::<u128>());
        let ttl = u64::try_from(self.lease_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut link = self.connector.link().await?;
        let acquired: Option<String> = self
            .connector
            .call(
                redis::cmd("SET")
                    .arg(&lease_key)
                    .arg(&owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl)
                    .query_async(&mut link),
            )
            .await?;
        Ok(acquired.map(|_| Lease::new(owner, self.lease_ttl)))
    }

    async fn renew_lease(&self, key: &StoreKey, lease: &Lease) -> Result<bool, StoreError> {
        let (_, lease_key) = self.redis_keys(key);
        let ttl =
            u64::try_from(lease.ttl().unwrap_or(self.lease_ttl).as_millis()).unwrap_or(u64::MAX);
        let mut invocation = self.scripts.renew.key(&lease_key);
        invocation.arg(lease.owner()).arg(ttl);
        let renewed: i64 = self.invoke(&invocation).await?;
        Ok(renewed == 1)
    }

    async fn release_lease(&self, key: &StoreKey, lease: &Lease) -> Result<(), StoreError> {
        let (_, lease_key) = self.redis_keys(key);
        let mut invocation = self.scripts.release.key(&lease_key);
        invocation.arg(lease.owner());
        let _: i64 = self.invoke(&invocation).await?;
        Ok(())
    }

    fn check(&self) -> Result<(), StoreError> {
        let target = &self.connector.target;
        if target.local || self.encryption.is_some() || self.allow_plaintext {
            return Ok(());
        }
        Err(StoreError::config(format!(
            "Redis at {} is not on this machine: set an encryption key \
             (RedisStore::with_encryption, `encryption_key_env` in a config file, TOKENMUX_CACHE_KEY for the CLI) so that tokens \
             do not rest there readable, or allow that explicitly (allow_plaintext, --redis-allow-plaintext)",
            target.address
        )))
    }
}
