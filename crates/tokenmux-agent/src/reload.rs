//! Re-reading the config file and the files it names: on SIGHUP, and
//! every `agent.watch_interval` so that a rotated secret file (a mounted
//! Kubernetes Secret) is picked up without a signal. Either way, sources
//! whose config and credentials are unchanged keep their tokens; a config
//! with problems is refused and the running one kept.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

use tokenmux_config::load_named;

use crate::AgentError;
use crate::access::AllowedUids;
use crate::registry::{Keeping, Registry};

/// How long a reload may take before it is abandoned (the running config
/// keeps serving).
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The default of `agent.watch_interval`.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(10);

/// Why a reload happens: it decides what is said.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Trigger {
    /// SIGHUP: every outcome is reported.
    Signal,
    /// The watch: only a change, or a new problem, is reported.
    Watch,
}

/// What a reload needs.
#[derive(Clone)]
pub struct Reloader {
    pub path: PathBuf,
    pub registry: Arc<ArcSwap<Registry>>,
    pub allowed: AllowedUids,
    pub http: reqwest::Client,
    pub keeping: Keeping,
    /// The watch's last refusal, so that a file left broken is reported
    /// once, not at every tick.
    pub last_refusal: Arc<Mutex<Option<String>>>,
    /// Whether a reload's reading is still running, perhaps abandoned on
    /// a file that does not answer: no second one joins it.
    pub reading: Arc<AtomicBool>,
}

impl Reloader {
    /// Reads the config again, off the async threads and within
    /// RELOAD_TIMEOUT, and swaps in the sources it describes.
    pub async fn reload(self, trigger: Trigger) {
        if self.reading.swap(true, Ordering::AcqRel) {
            if trigger == Trigger::Signal {
                tracing::warn!("an abandoned reload is still reading a file; SIGHUP ignored");
            }
            return;
        }
        let reading = Arc::clone(&self.reading);
        let path = self.path.clone();
        let registry = Arc::clone(&self.registry);
        let (http, keeping) = (self.http.clone(), self.keeping.clone());
        let runtime = tokio::runtime::Handle::current();
        let work = tokio::task::spawn_blocking(move || {
            let _entered = runtime.enter();
            let _done = Done(reading);
            let loaded = load_named(Some(&path)).map_err(|e| AgentError::config(e.to_string()));
            loaded.and_then(|(_, file, identity)| {
                let (mut built, rebuilt) =
                    Registry::build(&file.sources, &registry.load(), &http, &keeping)?;
                built.config = Some(identity);
                Ok((file, built, rebuilt))
            })
        });
        let shown = self.path.display();
        let refusal = match tokio::time::timeout(RELOAD_TIMEOUT, work).await {
            Ok(Ok(Ok((file, built, rebuilt)))) => {
                let count = built.sources.len();
                let before = self.registry.load();
                let changed = !rebuilt.is_empty()
                    || built.sources.keys().ne(before.sources.keys())
                    || built.optional != before.optional;
                self.registry.store(Arc::new(built));
                self.allowed.set(&file.agent.allowed_uids);
                self.last_refusal().take();
                if changed || trigger == Trigger::Signal {
                    let why = match trigger {
                        Trigger::Signal => "",
                        Trigger::Watch => " (a file changed)",
                    };
                    tracing::info!(
                        "reloaded {shown}{why}: {count} source(s), rebuilt: [{}]",
                        rebuilt.join(", ")
                    );
                }
                return;
            }
            Ok(Ok(Err(failure))) => format!("reload refused, the running config stays: {failure}"),
            Ok(Err(_)) => "reload failed, the running config stays".to_owned(),
            Err(_) => format!(
                "reload abandoned after {RELOAD_TIMEOUT:?} (a file that does not answer?), \
                 the running config stays"
            ),
        };
        let mut last = self.last_refusal();
        if trigger == Trigger::Signal || last.as_deref() != Some(refusal.as_str()) {
            tracing::warn!("{refusal}");
        }
        *last = Some(refusal);
    }

    fn last_refusal(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // A poisoned lock only held a message.
        self.last_refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Clears the reading flag when the reading ends, however it ends.
struct Done(Arc<AtomicBool>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
