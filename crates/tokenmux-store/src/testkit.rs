//! A conformance check for any [`TokenStore`] (feature `testkit`): the
//! rules the source's coordination relies on, so that a new store (etcd,
//! a Kubernetes Secret, …) can show it keeps them.
//!
//! - **compare-and-swap**: a write names the version it replaces; a stale
//!   or invented version is refused with what is stored, and the stored
//!   token is never lost;
//! - **one winner**: of many writers racing from one version, exactly one
//!   wins. The refresh-token claim is such a write, and a refresh token it
//!   removed never comes back;
//! - **failures**: a failure is kept beside the token (or alone), by the
//!   same compare-and-swap, and a write without one clears it;
//! - **leases** (stores shared between processes): one holder at a time,
//!   renewed and released only by their owner;
//! - **corrupt records** ([`check_corrupt_record`]): reported as
//!   [`StoreErrorKind::Corrupt`], never a panic, and replaced by the next
//!   first write.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use tokenmux_store::{MemoryStore, testkit};
//!
//! let report = testkit::check_store(Arc::new(MemoryStore::default())).await.unwrap();
//! assert!(report.checked.contains(&"one winner"));
//! # });
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokenmux_wire::Secret;

use crate::{
    AccessToken, FailureKind, Lease, PutOutcome, Record, SharedFailure, StoreError, StoreErrorKind,
    StoreKey, TokenStore, Versioned,
};

/// Writers that race from one version in the "one winner" rule.
const RACERS: usize = 16;

/// A rule a store broke, and how.
#[derive(Debug, thiserror::Error)]
pub enum Violation {
    /// The store answered, but not as the rule requires.
    #[error("rule `{rule}`: {what}")]
    Broken {
        /// The rule.
        rule: &'static str,
        /// What the store did.
        what: String,
    },
    /// The store failed where it should have answered.
    #[error("rule `{rule}`: the store failed: {source}")]
    Failed {
        /// The rule.
        rule: &'static str,
        /// The store's error.
        source: StoreError,
    },
}

/// The rules a store passed.
#[derive(Debug, Default)]
pub struct Report {
    /// Their names, in the order checked.
    pub checked: Vec<&'static str>,
    /// Whether the store shares leases (the lease rules ran).
    pub shares_leases: bool,
}

/// A key no other check (or run) uses; never holds a secret.
pub fn fresh_key(label: &str) -> StoreKey {
    let id = format!("{label}-{:016x}", rand::random::<u64>());
    StoreKey::from_parts("testkit", "https://testkit.invalid", &id, None)
}

/// Checks `store` against every rule but the corrupt-record one (which
/// needs the store's own way of writing garbage): see the module docs.
pub async fn check_store(store: Arc<dyn TokenStore>) -> Result<Report, Violation> {
    let mut report = Report::default();
    compare_and_swap(store.as_ref()).await?;
    report.checked.push("compare-and-swap");
    one_winner(&store).await?;
    report.checked.push("one winner");
    claimed_refresh_token_stays_removed(store.as_ref()).await?;
    report.checked.push("a removed refresh token stays removed");
    failure_travels_with_the_token(store.as_ref()).await?;
    report.checked.push("a failure travels with the token");
    report.shares_leases = leases(store.as_ref()).await?;
    if report.shares_leases {
        report.checked.push("one lease holder");
    }
    Ok(report)
}

/// After the caller made the record at `key` unreadable (garbage bytes, a
/// foreign value): reading reports [`StoreErrorKind::Corrupt`], and a first
/// write (`expected: None`) replaces it.
pub async fn check_corrupt_record(store: &dyn TokenStore, key: &StoreKey) -> Result<(), Violation> {
    const RULE: &str = "corrupt record";
    match store.get(key).await {
        Err(error) if error.kind() == StoreErrorKind::Corrupt => {}
        other => return broken(RULE, format!("get gave {other:?}, not Corrupt")),
    }
    let token = token("after-corruption", None);
    match store.put(key, &record(&token), None).await {
        Ok(PutOutcome::Stored { .. }) => {}
        other => return broken(RULE, format!("a first write gave {other:?}, not Stored")),
    }
    expect_token(RULE, store, key, &token).await.map(drop)
}

async fn compare_and_swap(store: &dyn TokenStore) -> Result<(), Violation> {
    const RULE: &str = "compare-and-swap";
    let key = fresh_key("cas");
    if let Some(found) = get(RULE, store, &key).await? {
        return broken(RULE, format!("a new key holds version {}", found.version));
    }
    let first = token("first", None);
    let v1 = stored(RULE, store.put(&key, &record(&first), None).await)?;
    expect_token(RULE, store, &key, &first).await?;
    for (expected, what) in [
        (None, "nothing"),
        (Some(v1.wrapping_add(1_000)), "an invented version"),
    ] {
        let outcome = store
            .put(&key, &record(&token("stale", None)), expected)
            .await;
        match outcome {
            Ok(PutOutcome::Conflict {
                current: Some(current),
            }) if current.version == v1 => {}
            other => {
                return broken(
                    RULE,
                    format!(
                        "a write expecting {what} gave {other:?}, not a conflict with version {v1}"
                    ),
                );
            }
        }
        expect_token(RULE, store, &key, &first).await?;
    }
    let second = token("second", None);
    let v2 = stored(RULE, store.put(&key, &record(&second), Some(v1)).await)?;
    if v2 <= v1 {
        return broken(
            RULE,
            format!("version {v2} follows {v1}: versions must grow"),
        );
    }
    expect_token(RULE, store, &key, &second).await.map(drop)
}

async fn one_winner(store: &Arc<dyn TokenStore>) -> Result<(), Violation> {
    const RULE: &str = "one winner";
    let key = fresh_key("race");
    let base = stored(
        RULE,
        store.put(&key, &record(&token("base", None)), None).await,
    )?;
    let racers = (0..RACERS).map(|n| {
        let (store, key) = (Arc::clone(store), key.clone());
        tokio::spawn(async move {
            let mine = token(&format!("racer-{n}"), None);
            let outcome = store.put(&key, &record(&mine), Some(base)).await;
            (mine, outcome)
        })
    });
    let mut winners = Vec::new();
    for racer in racers.collect::<Vec<_>>() {
        let Ok((mine, outcome)) = racer.await else {
            return broken(RULE, "a writer panicked".into());
        };
        match outcome {
            Ok(PutOutcome::Stored { .. }) => winners.push(mine),
            Ok(PutOutcome::Conflict { .. }) => {}
            Err(source) => return Err(Violation::Failed { rule: RULE, source }),
        }
    }
    match winners.as_slice() {
        [winner] => expect_token(RULE, store.as_ref(), &key, winner)
            .await
            .map(drop),
        _ => broken(
            RULE,
            format!("{} of {RACERS} writers from one version won", winners.len()),
        ),
    }
}

async fn claimed_refresh_token_stays_removed(store: &dyn TokenStore) -> Result<(), Violation> {
    const RULE: &str = "a removed refresh token stays removed";
    let key = fresh_key("claim");
    let with = token("rotating", Some("refresh-1"));
    let v1 = stored(RULE, store.put(&key, &record(&with), None).await)?;
    expect_token(RULE, store, &key, &with).await?;
    let without = with.clone().with_refresh_token(None);
    stored(RULE, store.put(&key, &record(&without), Some(v1)).await)?;
    // A holder that read v1 and tries to claim the same refresh token loses.
    if let Ok(PutOutcome::Stored { .. }) = store.put(&key, &record(&without), Some(v1)).await {
        return broken(RULE, "a second claim from the same version won".into());
    }
    expect_token(RULE, store, &key, &without).await.map(drop)
}

/// A failure is kept beside the token, alone when there is no token, by
/// the same compare-and-swap, and a later write without one clears it.
async fn failure_travels_with_the_token(store: &dyn TokenStore) -> Result<(), Violation> {
    const RULE: &str = "a failure travels with the token";
    let key = fresh_key("failure");
    let until = token("unused", None).obtained_at() + Duration::from_secs(600);
    let failure =
        |n| SharedFailure::new(FailureKind::Transient, "server_error", "HTTP 503", until, n);
    let alone = Record {
        token: None,
        failure: Some(failure(1)),
    };
    let v1 = stored(RULE, store.put(&key, &alone, None).await)?;
    match get(RULE, store, &key).await? {
        Some(found) if found.record == alone => {}
        other => return broken(RULE, format!("a failure alone read back as {other:?}")),
    }
    let valid = token("still-valid", Some("refresh-1"));
    let both = Record {
        token: Some(valid.clone()),
        failure: Some(failure(2)),
    };
    let v2 = stored(RULE, store.put(&key, &both, Some(v1)).await)?;
    // A holder that read v1 cannot overwrite the failure with its own.
    if let Ok(PutOutcome::Stored { .. }) = store.put(&key, &alone, Some(v1)).await {
        return broken(RULE, "a failure written from a stale version won".into());
    }
    match get(RULE, store, &key).await? {
        Some(found) if found.failure() == both.failure.as_ref() => {}
        other => return broken(RULE, format!("token and failure read back as {other:?}")),
    }
    expect_token(RULE, store, &key, &valid).await?;
    stored(RULE, store.put(&key, &record(&valid), Some(v2)).await)?;
    match get(RULE, store, &key).await? {
        Some(found) if found.failure().is_none() => Ok(()),
        _ => broken(RULE, "a write without a failure left the old one".into()),
    }
}

/// Whether the store shares leases; if so, that they keep their rules.
async fn leases(store: &dyn TokenStore) -> Result<bool, Violation> {
    const RULE: &str = "one lease holder";
    let key = fresh_key("lease");
    let failed = |source| Violation::Failed { rule: RULE, source };
    let Some(lease) = store.try_lease(&key).await.map_err(failed)? else {
        return broken(RULE, "a new key's lease was refused".into());
    };
    if lease.ttl().is_none() {
        return Ok(false);
    }
    if store.try_lease(&key).await.map_err(failed)?.is_some() {
        return broken(
            RULE,
            "a second holder got the lease while the first held it".into(),
        );
    }
    if !store.renew_lease(&key, &lease).await.map_err(failed)? {
        return broken(RULE, "the holder could not renew its lease".into());
    }
    let forged = Lease::new("not-the-owner", Duration::from_secs(10));
    if store.renew_lease(&key, &forged).await.map_err(failed)? {
        return broken(RULE, "another owner renewed the lease".into());
    }
    store.release_lease(&key, &forged).await.map_err(failed)?;
    if store.try_lease(&key).await.map_err(failed)?.is_some() {
        return broken(RULE, "another owner released the lease".into());
    }
    store.release_lease(&key, &lease).await.map_err(failed)?;
    match store.try_lease(&key).await.map_err(failed)? {
        Some(next) => store.release_lease(&key, &next).await.map_err(failed)?,
        None => return broken(RULE, "a released lease was not granted again".into()),
    }
    Ok(true)
}

fn token(name: &str, refresh: Option<&str>) -> AccessToken {
    // Whole seconds: a store may keep no finer time.
    let now = SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        );
    AccessToken::new(format!("testkit-{name}"), now, Duration::from_secs(3_600))
        .with_refresh_token(refresh.map(Secret::from))
}

/// A record of `token` alone.
fn record(token: &AccessToken) -> Record {
    Record::from(token.clone())
}

async fn get(
    rule: &'static str,
    store: &dyn TokenStore,
    key: &StoreKey,
) -> Result<Option<Versioned>, Violation> {
    store
        .get(key)
        .await
        .map_err(|source| Violation::Failed { rule, source })
}

/// What is stored at `key` is `token` (same secret, refresh token and
/// expiry).
async fn expect_token(
    rule: &'static str,
    store: &dyn TokenStore,
    key: &StoreKey,
    token: &AccessToken,
) -> Result<u64, Violation> {
    let Some(found) = get(rule, store, key).await? else {
        return broken(rule, "a stored token was lost".into());
    };
    let same = found.token().is_some_and(|found| {
        found.secret() == token.secret()
            && found.refresh_token() == token.refresh_token()
            && found.expires_at() == token.expires_at()
    });
    match same {
        true => Ok(found.version),
        false => broken(
            rule,
            format!(
                "version {} holds another token than the one written",
                found.version
            ),
        ),
    }
}

fn stored(rule: &'static str, outcome: Result<PutOutcome, StoreError>) -> Result<u64, Violation> {
    match outcome {
        Ok(PutOutcome::Stored { version }) => Ok(version),
        Ok(other) => broken(rule, format!("a write that should win gave {other:?}")),
        Err(source) => Err(Violation::Failed { rule, source }),
    }
}

fn broken<T>(rule: &'static str, what: String) -> Result<T, Violation> {
    Err(Violation::Broken { rule, what })
}

/// Makes a FIFO at `path`, for tests of readers that must refuse one
/// (a FIFO where a file belongs would hang a reader that waits on it).
#[cfg(unix)]
pub fn make_fifo(path: &std::path::Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("a FIFO can be made");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;

    #[tokio::test]
    async fn the_memory_store_keeps_every_rule() {
        let report = check_store(Arc::new(MemoryStore::default())).await.unwrap();
        assert!(report.shares_leases);
        assert_eq!(report.checked.len(), 5);
    }

    /// What a broken store gets wrong.
    #[derive(Debug)]
    enum Fault {
        /// It forgets the version check.
        NoCas,
        /// It grants every lease asked for.
        EveryoneHolds,
        /// It keeps the token and drops the failure.
        DropsFailures,
    }

    /// A memory store with one fault: the kit must catch it.
    #[derive(Debug)]
    struct Broken(MemoryStore, Fault);

    #[async_trait::async_trait]
    impl TokenStore for Broken {
        async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError> {
            self.0.get(key).await
        }
        async fn put(
            &self,
            key: &StoreKey,
            record: &Record,
            expected: Option<u64>,
        ) -> Result<PutOutcome, StoreError> {
            let expected = match self.1 {
                Fault::NoCas => self.0.get(key).await?.map(|v| v.version),
                _ => expected,
            };
            let mut record = record.clone();
            if let Fault::DropsFailures = self.1 {
                record.failure = None;
            }
            self.0.put(key, &record, expected).await
        }
        async fn try_lease(&self, key: &StoreKey) -> Result<Option<Lease>, StoreError> {
            match self.1 {
                Fault::EveryoneHolds => Ok(Some(Lease::new("anyone", Duration::from_secs(10)))),
                _ => self.0.try_lease(key).await,
            }
        }
    }

    #[tokio::test]
    async fn a_store_that_drops_failures_is_caught() {
        let store = Broken(MemoryStore::default(), Fault::DropsFailures);
        let error = check_store(Arc::new(store)).await.unwrap_err();
        assert!(
            matches!(
                error,
                Violation::Broken {
                    rule: "a failure travels with the token",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_store_without_compare_and_swap_is_caught() {
        let store = Broken(MemoryStore::default(), Fault::NoCas);
        let error = check_store(Arc::new(store)).await.unwrap_err();
        assert!(
            matches!(
                error,
                Violation::Broken {
                    rule: "compare-and-swap",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_store_with_two_lease_holders_is_caught() {
        let store = Broken(MemoryStore::default(), Fault::EveryoneHolds);
        let error = check_store(Arc::new(store)).await.unwrap_err();
        assert!(
            matches!(
                error,
                Violation::Broken {
                    rule: "one lease holder",
                    ..
                }
            ),
            "{error}"
        );
    }
}
