//! The agent's named sources: built from the config, kept fresh in the
//! background, and swapped on reload without touching unchanged ones.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokenmux::{Credentials, TokenSource};
use tokenmux_config::SourceConfig;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::AgentError;
use crate::sink::{self, FileSink};
use tokenmux_config::FileIdentity;

/// The shortest pause of a keeper: a token inside its window, whose
/// refresh runs in the background, is looked at again after this.
const MIN_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause after failures in a row (the source's own cool-down
/// and `Retry-After` still apply inside it).
const MAX_FAILURE_PAUSE: Duration = Duration::from_secs(60);
/// Refreshes running at once across all sources, so that a config of
/// thousands of sources does not open thousands of connections at start.
pub const CONCURRENT_REFRESHES: usize = 32;

/// One named source.
pub struct Entry {
    /// What it was built from, as a digest: a reload keeps the source if
    /// its config's digest is the same (the config itself would be a
    /// kilobyte a source).
    config: ConfigDigest,
    credentials: Option<Credentials>,
    pub source: TokenSource,
    keeper: JoinHandle<()>,
    /// Writes the token to the source's file sinks, if it has any.
    sinks: Option<JoinHandle<()>>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.keeper.abort();
        if let Some(sinks) = &self.sinks {
            sinks.abort();
        }
    }
}

/// Every named source, by name, and which file they were read from.
#[derive(Default)]
pub struct Registry {
    pub sources: BTreeMap<String, Arc<Entry>>,
    /// Those marked `required: false`: readiness does not wait for them.
    pub optional: BTreeSet<String>,
    pub config: Option<FileIdentity>,
}

/// Built sources share one HTTP client (connection pools, TLS roots):
/// thousands of sources cost little memory.
pub fn http_client() -> Result<reqwest::Client, AgentError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        // The request carries credentials: never to another URL.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AgentError::config(format!("cannot build the HTTP client: {e}")))
}

impl Registry {
    /// The sources of `configs`, reusing from `previous` each whose
    /// config and credentials are unchanged (its cached token with it).
    pub fn build(
        configs: &BTreeMap<String, SourceConfig>,
        previous: &Registry,
        http: &reqwest::Client,
        keeping: &Keeping,
    ) -> Result<(Registry, Vec<String>), AgentError> {
        let mut sources = BTreeMap::new();
        let mut rebuilt = Vec::new();
        let mut optional = BTreeSet::new();
        for (name, config) in configs {
            if !config.required {
                optional.insert(name.clone());
            }
            // Whether readiness waits for it is the agent's, not the
            // source's: changing it keeps the token.
            let config = &SourceConfig {
                required: true,
                ..config.clone()
            };
            let credentials = match &config.credentials {
                Some(credentials) => Some(credentials.resolve(config.provider()?.spec())?),
                None => None,
            };
            let digest = ConfigDigest::of(config);
            if let Some(old) = previous.sources.get(name)
                && old.config == digest
                && old.credentials == credentials
            {
                sources.insert(name.clone(), Arc::clone(old));
                continue;
            }
            // The credentials were read above: not again from their files.
            let unread = SourceConfig {
                credentials: None,
                ..config.clone()
            };
            let mut builder = unread.into_builder()?;
            if let Some(credentials) = &credentials {
                builder = builder.credentials(credentials.clone());
            }
            // A source with its own TLS (a CA to trust, a certificate to
            // present) has its own client; the others share one.
            let own_tls = config.ca_file.is_some()
                || credentials
                    .as_ref()
                    .is_some_and(|c| c.client_certificate().is_some());
            if !own_tls {
                builder = builder.http_client(http.clone());
            }
            let file_sinks: Vec<FileSink> = config
                .sinks
                .iter()
                .map(FileSink::new)
                .collect::<Result<_, _>>()?;
            let source = builder.name(name.as_str()).build()?;
            let keeper = tokio::spawn(keep_fresh(source.clone(), keeping.clone()));
            let sinks = (!file_sinks.is_empty())
                .then(|| tokio::spawn(sink::keep_written(source.clone(), file_sinks.into())));
            rebuilt.push(name.clone());
            sources.insert(
                name.clone(),
                Arc::new(Entry {
                    config: digest,
                    credentials,
                    source,
                    keeper,
                    sinks,
                }),
            );
        }
        Ok((
            Registry {
                sources,
                optional,
                config: None,
            },
            rebuilt,
        ))
    }
}

/// SHA-256 of a source's config as its `Hash` feeds it (secrets
/// included, so a rotated inline secret is a change). Equal configs give
/// equal digests in one process; it is never shown or stored.
#[derive(PartialEq, Eq)]
struct ConfigDigest([u8; 32]);

impl ConfigDigest {
    fn of(config: &SourceConfig) -> Self {
        use sha2::Digest as _;
        use std::hash::Hash as _;
        /// `Hash`'s bytes into SHA-256.
        struct Feed(sha2::Sha256);
        impl std::hash::Hasher for Feed {
            fn write(&mut self, bytes: &[u8]) {
                self.0.update(bytes);
            }
            /// Unused: the digest is the whole SHA-256.
            fn finish(&self) -> u64 {
                0
            }
        }
        let mut feed = Feed(sha2::Sha256::new());
        config.hash(&mut feed);
        Self(feed.0.finalize().into())
    }
}

/// What every keeper shares: the bound on refreshes at once, and how long
/// to wait after the endpoint rejected a source's credentials.
#[derive(Clone)]
pub struct Keeping {
    pub permits: Arc<Semaphore>,
    pub after_rejection: Duration,
}

/// Asks `source` for its token whenever it is due: at start, then at each
/// refresh point (inside the refresh-ahead window, jittered), backing off
/// after failures. Callers then always find a fresh token.
///
/// Rejected credentials are not retried on a timer: each attempt is a
/// failed login (an account-lockout risk for a password grant). One ERROR
/// line says so; the keeper then waits `after_rejection` (1 h by default),
/// or less if a client's request or a reload mends the source first.
async fn keep_fresh(source: TokenSource, keeping: Keeping) {
    let mut failures: u32 = 0;
    let mut rejected = false;
    loop {
        let outcome = {
            let _permit = keeping.permits.acquire().await;
            // Boxed for the fetch's duration: a keeper sleeps nearly all its
            // life, and thousands of them should not each hold room for it.
            Box::pin(source.token()).await
        };
        let pause = match outcome {
            Ok(_) => {
                if std::mem::take(&mut rejected) {
                    tracing::info!(
                        source = source.name(),
                        provider = source.provider().name(),
                        "credentials accepted again"
                    );
                }
                failures = 0;
                let refresh_at = source.status().refresh_at;
                refresh_at
                    .and_then(|at| at.duration_since(SystemTime::now()).ok())
                    .unwrap_or_default()
            }
            Err(tokenmux::Error::CredentialsRejected { .. }) => {
                if !std::mem::replace(&mut rejected, true) {
                    tracing::error!(
                        source = source.name(),
                        provider = source.provider().name(),
                        retry_in = %humantime::format_duration(keeping.after_rejection),
                        "credentials rejected; not retried on a timer until then (a client's \
                         request, SIGHUP or `invalidate` tries again sooner)"
                    );
                }
                // Boxed as the fetch is: rare, and larger than a sleep.
                Box::pin(wait_while_rejected(&source, keeping.after_rejection)).await;
                continue;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                tracing::debug!(source = source.name(), provider = source.provider().name(), %error, "refresh failed; backing off");
                let backoff = MIN_PAUSE * 2u32.saturating_pow(failures.min(6));
                error
                    .retry_after()
                    .unwrap_or(backoff)
                    .min(MAX_FAILURE_PAUSE)
            }
        };
        tokio::time::sleep(pause.max(MIN_PAUSE)).await;
    }
}

/// Waits `limit`, or until the source has a token again (a client's
/// request got one), looking at its status only: no request upstream.
async fn wait_while_rejected(source: &TokenSource, limit: Duration) {
    let until = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(MIN_PAUSE.max(Duration::from_secs(5)).min(limit)).await;
        if source.status().last_error.is_none() && source.status().expires_at.is_some() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_tells_configs_apart_by_any_field_secrets_included() {
        let base = serde_json::json!({
            "provider": "neonpanel",
            "base_url": "https://a.example",
            "credentials": {"client_id": "id", "client_secret": "s1"},
            "params": {"scope": "read"},
            "refresh": {"ahead_fraction": 0.2},
            "store": {"kind": "redis", "url": "redis://:p1@localhost"},
            "sinks": [{"kind": "file", "path": "/run/a"}],
        });
        let digest = |json: &serde_json::Value| {
            ConfigDigest::of(&serde_json::from_value::<SourceConfig>(json.clone()).unwrap())
        };
        assert!(digest(&base) == digest(&base.clone()));
        for (pointer, value) in [
            ("/credentials/client_secret", "s2"),
            ("/params/scope", "write"),
            ("/store/url", "redis://:p2@localhost"),
            ("/base_url", "https://b.example"),
            ("/sinks/0/path", "/run/b"),
        ] {
            let mut changed = base.clone();
            *changed.pointer_mut(pointer).unwrap() = value.into();
            assert!(digest(&changed) != digest(&base), "{pointer}");
        }
        let mut changed = base.clone();
        changed["refresh"]["ahead_fraction"] = 0.3.into();
        assert!(digest(&changed) != digest(&base));
        // A value moved to another field is another config.
        let mut moved = base.clone();
        moved["credentials"] = serde_json::json!({"client_id": "s1", "client_secret": "id"});
        assert!(digest(&moved) != digest(&base));
    }
}
