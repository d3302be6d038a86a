//! Metadata kept per issuer for a bounded time, shared by every source of
//! the process: a source's token requests read it, and rereading it once
//! an hour follows a server that changes its endpoint or methods. A
//! metadata outage does not stop tokens: the last metadata read is used
//! for up to a day while rereading fails.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::metadata::{DiscoveryError, Metadata, discover};

/// How long metadata is used before it is read again.
pub const METADATA_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// How long metadata is still used while reading it again fails.
const STALE_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Issuers kept at most (the oldest read is dropped first).
const MAX_ISSUERS: usize = 1024;

/// Metadata by issuer, with when it was read.
type Kept = HashMap<String, (Arc<Metadata>, Instant)>;

static CACHE: LazyLock<Mutex<Kept>> = LazyLock::new(Mutex::default);

/// The metadata of `issuer`: kept, or read now with `http`.
pub(crate) async fn metadata(
    issuer: &str,
    http: &reqwest::Client,
) -> Result<Arc<Metadata>, DiscoveryError> {
    let kept = CACHE.lock().get(issuer).cloned();
    if let Some((metadata, read)) = &kept
        && read.elapsed() < METADATA_LIFETIME
    {
        return Ok(Arc::clone(metadata));
    }
    match discover(issuer, http).await {
        Ok(metadata) => Ok(keep(metadata)),
        Err(error) => match kept {
            Some((metadata, read)) if read.elapsed() < STALE_LIMIT => {
                tracing::warn!(
                    issuer,
                    error = %error,
                    "cannot read the authorization server's metadata again; using the last read"
                );
                Ok(metadata)
            }
            _ => Err(error),
        },
    }
}

/// Reads the metadata of `issuer` now and keeps it for the token
/// requests (`Provider::discover`): a wrong issuer is an error at once.
pub async fn preload(
    issuer: &str,
    http: &reqwest::Client,
) -> Result<Arc<Metadata>, DiscoveryError> {
    discover(issuer, http).await.map(keep)
}

/// Keeps `metadata` (read now) for its issuer.
pub(crate) fn keep(metadata: Metadata) -> Arc<Metadata> {
    let metadata = Arc::new(metadata);
    let mut cache = CACHE.lock();
    if cache.len() >= MAX_ISSUERS && !cache.contains_key(&metadata.issuer) {
        let oldest = cache
            .iter()
            .min_by_key(|(_, (_, read))| *read)
            .map(|(issuer, _)| issuer.clone());
        if let Some(oldest) = oldest {
            cache.remove(&oldest);
        }
    }
    cache.insert(
        metadata.issuer.clone(),
        (Arc::clone(&metadata), Instant::now()),
    );
    metadata
}
