//! Running under systemd: the listeners it passes in (socket activation,
//! `LISTEN_FDS`, taken with `listenfd`) and what the agent tells it
//! (`sd_notify`, with `sd-notify`): `READY=1` once every required source
//! has a token, `RELOADING=1` around a reload, `STOPPING=1`, a `STATUS=`
//! line, and the watchdog's pings. Outside systemd each is a no-op.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sd_notify::NotifyState;
use tokio::net::{TcpListener, UnixListener};

use crate::AgentError;
use crate::health::unready;
use crate::registry::Registry;

/// The `FileDescriptorName=` of a TCP socket for the probes (`/livez`,
/// `/readyz`, `/healthz`, `/metrics`, no bearer); another TCP socket
/// serves the whole API behind the bearer.
pub const METRICS_FD_NAME: &str = "metrics";

/// The listeners systemd passed in, if any.
#[derive(Default)]
pub struct Activated {
    /// A Unix stream socket: the agent's socket (its path, mode and group
    /// are the `.socket` unit's).
    pub unix: Option<UnixListener>,
    /// A TCP socket not named [`METRICS_FD_NAME`]: the API, behind the bearer.
    pub tcp: Option<TcpListener>,
    /// A TCP socket named [`METRICS_FD_NAME`]: the probes.
    pub metrics: Option<TcpListener>,
}

impl Activated {
    /// Takes what systemd passed (`LISTEN_PID`, `LISTEN_FDS`,
    /// `LISTEN_FDNAMES`) and clears those variables. Call it first, while
    /// no other thread reads the environment.
    pub fn take() -> Result<Self, AgentError> {
        let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
            .map(|names| names.split(':').map(str::to_owned).collect())
            .unwrap_or_default();
        let mut fds = listenfd::ListenFd::from_env();
        let mut activated = Self::default();
        for index in 0..fds.len() {
            let name = names.get(index).map(String::as_str).unwrap_or_default();
            let fd = 3 + index;
            let refused = |what: &str| {
                AgentError::config(format!(
                    "socket activation: descriptor {fd} ({name:?}) {what}"
                ))
            };
            if let Ok(Some(unix)) = fds.take_unix_listener(index) {
                if activated.unix.is_some() {
                    return Err(refused("is a second Unix socket; give the agent one"));
                }
                unix.set_nonblocking(true).map_err(unusable)?;
                activated.unix = Some(UnixListener::from_std(unix).map_err(unusable)?);
                continue;
            }
            let tcp = match fds.take_tcp_listener(index) {
                Ok(Some(tcp)) => tcp,
                _ => return Err(refused("is neither a Unix nor a TCP stream socket")),
            };
            let slot = match name == METRICS_FD_NAME {
                true => &mut activated.metrics,
                false => &mut activated.tcp,
            };
            if slot.is_some() {
                return Err(refused("is a second TCP socket for the same use"));
            }
            tcp.set_nonblocking(true).map_err(unusable)?;
            *slot = Some(TcpListener::from_std(tcp).map_err(unusable)?);
        }
        Ok(activated)
    }
}

/// A listener systemd passed that tokio cannot take.
fn unusable(error: std::io::Error) -> AgentError {
    AgentError::config(format!("socket activation: {error}"))
}

/// Tells systemd `states`; a failure (a socket gone) is logged, never fatal.
pub fn notify(states: &[NotifyState]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(%error, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// How often readiness is looked at while sources are still fetching.
const READY_POLL: Duration = Duration::from_millis(100);

/// Says `READY=1` once every required source has a usable token (at once
/// when `immediately`), with a `STATUS=` line before and after.
pub async fn ready_when_fresh(registry: Arc<ArcSwap<Registry>>, immediately: bool) {
    if !immediately {
        wait_until_ready(&registry).await;
    }
    let total = registry.load().sources.len();
    let status = format!("serving {total} source(s)");
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    tracing::info!("ready ({status})");
}

/// Returns once every required source has a usable token, saying in
/// `STATUS=` how many it waits for.
async fn wait_until_ready(registry: &ArcSwap<Registry>) {
    let mut said = None;
    loop {
        let (waiting, total) = {
            let registry = registry.load();
            (unready(&registry), registry.sources.len())
        };
        if waiting == 0 {
            return;
        }
        if said != Some(waiting) {
            let status = format!("waiting for {waiting} of {total} source(s) to have a token");
            notify(&[NotifyState::Status(&status)]);
            said = Some(waiting);
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// Pings systemd's watchdog at half its period (`WatchdogSec=`), from the
/// runtime that serves requests: a wedged runtime stops the pings and
/// systemd restarts the agent. Returns at once when there is no watchdog.
pub async fn watchdog() {
    let Some(period) = sd_notify::watchdog_enabled() else {
        return;
    };
    let mut ticks = tokio::time::interval(period / 2);
    loop {
        ticks.tick().await;
        notify(&[NotifyState::Watchdog]);
    }
}
