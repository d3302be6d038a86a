//! The contract between the facade and a store: what a store keeps
//! (a token, the failure that holds the next request back, and their
//! version), how it is written (compare-and-swap), and how holders sharing
//! it take turns (leases).

use std::time::Duration;

use async_trait::async_trait;

use crate::{AccessToken, SharedFailure, StoreError, StoreKey};

/// What a store keeps under a key: the token, the last request's failure
/// while holders should hold back, or both (a failed refresh leaves the
/// still-valid token in place). Written as one, by one compare-and-swap.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tokenmux_store::{AccessToken, Record};
///
/// let token = AccessToken::new("t", SystemTime::now(), Duration::from_secs(60));
/// let record = Record::from(token);
/// assert!(record.token.is_some() && record.failure.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// The token (with its refresh token, if any).
    pub token: Option<AccessToken>,
    /// The failure that holds the next request back, while it is active.
    pub failure: Option<SharedFailure>,
}

impl From<AccessToken> for Record {
    fn from(token: AccessToken) -> Self {
        Self {
            token: Some(token),
            failure: None,
        }
    }
}

/// A stored record and its version; every write makes a new version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// What is stored.
    pub record: Record,
    /// The version, for compare-and-swap.
    pub version: u64,
}

impl Versioned {
    /// The stored token, if any.
    pub fn token(&self) -> Option<&AccessToken> {
        self.record.token.as_ref()
    }

    /// The stored failure, if any (maybe no longer active).
    pub fn failure(&self) -> Option<&SharedFailure> {
        self.record.failure.as_ref()
    }
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

/// Permission for one holder of a shared store to fetch a key's token
/// while the others wait for it; see [`TokenStore::try_lease`].
///
/// ```
/// use std::time::Duration;
/// use tokenmux_store::Lease;
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

/// Keeps tokens (and the failure that holds the next request back), with
/// compare-and-swap on a version so that a rotated refresh token is never
/// overwritten by an older one.
#[async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// Whether the store logs its own outages, once each and then its
    /// recovery (the Redis store's link does): its callers then log a
    /// transient failure of one operation at debug level, so that an
    /// outage is one warning, not one per operation. Default false.
    fn reports_outages(&self) -> bool {
        false
    }

    /// Whether what the store holds never leaves this process (the memory
    /// store). Its records then carry [`Verifier::in_process`], which costs
    /// one HMAC instead of the slow [`Verifier::of`]: no reader outside
    /// the process can guess a secret from it. Default false: a store of
    /// your own that writes anywhere another process or person can read
    /// keeps the slow verifier.
    ///
    /// [`Verifier::in_process`]: crate::Verifier::in_process
    /// [`Verifier::of`]: crate::Verifier::of
    fn in_process(&self) -> bool {
        false
    }

    /// The stored record, if any.
    async fn get(&self, key: &StoreKey) -> Result<Option<Versioned>, StoreError>;

    /// Stores `record` if the stored version is `expected` (`None`: nothing
    /// stored yet). A store keeps the record at least until its token
    /// expires and its failure's window ends.
    async fn put(
        &self,
        key: &StoreKey,
        record: &Record,
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
    /// stored: the facade's `TokenSourceBuilder::build` calls it and fails
    /// with a configuration error.
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
/// use tokenmux_store::{AccessToken, PutOutcome, Versioned, next_version};
///
/// let token = AccessToken::new("t", SystemTime::now(), Duration::from_secs(60));
/// assert_eq!(next_version(None, None), Ok(1));
/// let stored = Versioned { record: token.into(), version: 1 };
/// assert_eq!(next_version(Some(&stored), Some(1)), Ok(2));
/// assert!(matches!(next_version(Some(&stored), None), Err(PutOutcome::Conflict { .. })));
/// ```
// The conflict is returned once per lost write; boxing it would cost every
// caller a deref for nothing.
#[allow(clippy::result_large_err)]
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
