//! The server: starts the listeners, keeps the registry of sources,
//! reloads on SIGHUP and drains on SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Semaphore, watch};

use tokenmux_config::{AgentSettings, load_named};

use crate::AgentError;
use crate::access::{AllowedUids, Bearer, Gate};
use crate::registry::{self, Keeping, Registry};
use crate::reload::{RELOAD_TIMEOUT, Reloader, Trigger, WATCH_INTERVAL};
use crate::routes::FastToken;
use crate::socket::{SocketAccess, bind_socket, default_socket, private_dir};
use crate::state::AgentState;
use crate::systemd::{self, Activated};
use crate::{access, health, listener, routes};

/// How long SIGTERM waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often histogram samples are drained (the exporter's own default).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What the agent serves, and where; every field is optional.
///
/// ```no_run
/// # async fn example() -> Result<(), tokenmux_agent::AgentError> {
/// let mut options = tokenmux_agent::ServeOptions::default();
/// options.config = Some("/etc/tokenmux/config.yaml".into());
/// options.listen = Some("127.0.0.1:7878".parse().unwrap());
/// tokenmux_agent::run(options).await // until SIGTERM or SIGINT
/// # }
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The config file with `sources:` (default: `TOKENMUX_CONFIG`, else
    /// the user's config directory).
    pub config: Option<PathBuf>,
    /// The Unix socket to serve on (default: [`default_socket`]).
    pub socket: Option<PathBuf>,
    /// Also serve on this loopback address, behind a bearer written to
    /// `bearer_file`.
    pub listen: Option<SocketAddr>,
    /// Where the TCP listener's bearer is written, mode 0600 (default:
    /// `agent.bearer` beside the socket).
    pub bearer_file: Option<PathBuf>,
    /// The socket's mode, in octal (default 0600; the file's
    /// `agent.socket_mode`).
    pub socket_mode: Option<String>,
    /// The socket's group, by name or gid (the file's `agent.socket_group`).
    pub socket_group: Option<String>,
    /// Serve `/livez`, `/readyz`, `/healthz` and `/metrics`, and nothing
    /// else, without the bearer on this address (loopback unless
    /// `metrics_public`), for probes and scrapers.
    pub metrics_listen: Option<SocketAddr>,
    /// Allow `metrics_listen` off loopback (a kubelet or Prometheus on
    /// another host; those routes carry no token and no secret).
    pub metrics_public: bool,
    /// Tell systemd `READY=1` at once, not when every required source has
    /// its first token.
    pub ready_immediately: bool,
}

/// What the agent made at start: removed when it stops, and when it fails
/// to start, so that a failed start leaves nothing behind.
#[derive(Default)]
struct Made(Vec<PathBuf>);

impl Drop for Made {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Runs the agent until SIGTERM or SIGINT: keeps every named source of
/// the config file fresh and serves their tokens over the Unix socket
/// (mode 0600, peers checked by uid) and, when asked, loopback TCP behind
/// a bearer, and the probes on their own listener. SIGHUP, and the watch
/// every `agent.watch_interval`, reload the file; unchanged sources keep
/// their tokens. Under systemd it takes the sockets it is given and
/// reports readiness, reloads and stopping (`sd_notify`).
pub async fn run(args: ServeOptions) -> Result<(), AgentError> {
    // First: it clears LISTEN_FDS while nothing else reads the environment.
    let activated = Activated::take()?;
    check_loopback("--listen", args.listen, false)?;
    check_loopback("--metrics-listen", args.metrics_listen, args.metrics_public)?;
    if let Some(tcp) = &activated.tcp {
        check_loopback(
            "the TCP socket systemd passed",
            tcp.local_addr().ok(),
            false,
        )?;
    }
    let (config_path, mut file, identity) =
        load_named(args.config.as_deref()).map_err(|e| AgentError::config(e.to_string()))?;
    let access = SocketAccess::new(
        args.socket_mode.as_deref(),
        args.socket_group.as_deref(),
        &file.agent,
    )?;
    let keeping = Keeping {
        permits: Arc::new(Semaphore::new(registry::CONCURRENT_REFRESHES)),
        after_rejection: after_rejection(&file.agent)?,
    };
    let watch_interval = file.agent.watch_interval.unwrap_or(WATCH_INTERVAL);
    let fd_limit = listener::raise_fd_limit();
    // Before any source is built: their metric handles bind to it.
    let metrics = install_metrics()?;
    tokio::spawn(upkeep(metrics.clone()));

    let http = registry::http_client()?;
    let (mut built, _) = Registry::build(&file.sources, &Registry::default(), &http, &keeping)?;
    built.config = Some(identity);
    // The registry holds each source's config; the file's copy is not kept.
    file.sources.clear();
    let registry = Arc::new(ArcSwap::from_pointee(built));
    let state = AgentState {
        registry: Arc::clone(&registry),
        metrics,
    };

    let mut made = Made::default();
    let (unix, socket) = match activated.unix {
        Some(unix) => {
            let path = unix
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_owned));
            let path = path.ok_or_else(|| {
                AgentError::config("socket activation: the Unix socket has no path")
            })?;
            (unix, path)
        }
        None => {
            let socket = match args.socket {
                Some(socket) => socket,
                None => {
                    let socket = default_socket();
                    if let Some(dir) = socket.parent() {
                        private_dir(dir)?;
                    }
                    socket
                }
            };
            let unix = bind_socket(&socket, &access).await?;
            made.0.push(socket.clone());
            (unix, socket)
        }
    };
    let allowed = AllowedUids::default();
    allowed.set(&file.agent.allowed_uids);
    let unix_app = routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
        allowed.clone(),
        access::check_peer,
    ));
    let unix_fast = FastToken::new(state.clone(), Gate::Peers(allowed.clone()));
    let tcp = match (activated.tcp, args.listen) {
        (Some(tcp), _) => Some(tcp),
        (None, Some(address)) => Some(bind_tcp(address).await?),
        (None, None) => None,
    };
    let metrics_tcp = match (activated.metrics, args.metrics_listen) {
        (Some(tcp), _) => Some(tcp),
        (None, Some(address)) => Some(bind_tcp(address).await?),
        (None, None) => None,
    };
    let listeners = 1 + u64::from(tcp.is_some()) + u64::from(metrics_tcp.is_some());
    let cap = listener::connection_cap(fd_limit, listeners);

    let (stop, stopped) = watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    if let Some(tcp) = tcp {
        let path = match args.bearer_file {
            Some(path) => path,
            None => socket.with_file_name("agent.bearer"),
        };
        let bearer = Bearer::random();
        bearer
            .write_to(&path)
            .map_err(|e| AgentError::config(format!("cannot write {}: {e}", path.display())))?;
        made.0.push(path.clone());
        let tcp_fast = FastToken::new(state.clone(), Gate::Bearer(bearer.clone()));
        let tcp_app = routes::router(state.clone()).layer(axum::middleware::from_fn_with_state(
            bearer,
            access::check_bearer,
        ));
        tracing::info!(
            "serving on http://{} (bearer in {})",
            shown_address(&tcp),
            path.display()
        );
        servers.spawn(listener::serve(
            tcp,
            tcp_app,
            Some(tcp_fast),
            cap,
            stopped.clone(),
        ));
    }
    if let Some(tcp) = metrics_tcp {
        tracing::info!(
            "serving /livez, /readyz, /healthz and /metrics on http://{} (no bearer)",
            shown_address(&tcp)
        );
        let probes = health::probe_router(state.clone());
        servers.spawn(listener::serve(tcp, probes, None, cap, stopped.clone()));
    }
    let mut hangup = signal(SignalKind::hangup()).map_err(|e| AgentError::config(e.to_string()))?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| AgentError::config(e.to_string()))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| AgentError::config(e.to_string()))?;
    servers.spawn(listener::serve(
        unix,
        unix_app,
        Some(unix_fast),
        cap,
        stopped.clone(),
    ));
    tracing::info!(
        "serving {} source(s) on {} (at most {cap} connections a listener)",
        registry.load().sources.len(),
        socket.display()
    );
    let readiness = tokio::spawn(systemd::ready_when_fresh(
        Arc::clone(&registry),
        args.ready_immediately,
    ));
    let watchdog = tokio::spawn(systemd::watchdog());

    let reloader = Reloader {
        path: config_path,
        registry: Arc::clone(&registry),
        allowed,
        http,
        keeping,
        last_refusal: Default::default(),
        reading: Default::default(),
    };
    // A zero interval never ticks: the watch is off.
    let mut watch = tokio::time::interval(match watch_interval.is_zero() {
        true => Duration::from_secs(u64::from(u32::MAX)),
        false => watch_interval,
    });
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    watch.tick().await;
    let mut reloading: Option<(Trigger, tokio::task::JoinHandle<()>)> = None;
    loop {
        let trigger = tokio::select! {
            _ = hangup.recv() => Trigger::Signal,
            _ = watch.tick() => Trigger::Watch,
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            Some(ended) = servers.join_next() => {
                tracing::error!(?ended, "a listener of the agent ended");
                break;
            }
        };
        if let Some((running, task)) = reloading.take_if(|(_, task)| !task.is_finished()) {
            match (running, trigger) {
                // A SIGHUP is never lost to the watch: it waits for it.
                (Trigger::Watch, Trigger::Signal) => {
                    let _ = tokio::time::timeout(RELOAD_TIMEOUT, task).await;
                }
                (Trigger::Signal, Trigger::Signal) => {
                    tracing::warn!("a reload is still running; SIGHUP ignored");
                    reloading = Some((running, task));
                    continue;
                }
                (_, Trigger::Watch) => {
                    reloading = Some((running, task));
                    continue;
                }
            }
        }
        let reloader = reloader.clone();
        let task = tokio::spawn(async move {
            if trigger == Trigger::Signal {
                systemd::notify(&[sd_notify::NotifyState::Reloading]);
            }
            reloader.reload(trigger).await;
            if trigger == Trigger::Signal {
                systemd::notify(&[sd_notify::NotifyState::Ready]);
            }
        });
        reloading = Some((trigger, task));
    }
    systemd::notify(&[sd_notify::NotifyState::Stopping]);
    readiness.abort();
    watchdog.abort();
    tracing::info!("draining");
    let _ = stop.send(true);
    let drain = async { while servers.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
        tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; exiting");
    }
    drop(made);
    tracing::info!("stopped");
    Ok(())
}

/// Refuses an address off this host, unless `public` says it is meant.
fn check_loopback(what: &str, address: Option<SocketAddr>, public: bool) -> Result<(), AgentError> {
    match address {
        Some(address) if !public && !address.ip().is_loopback() => {
            let hint = match what {
                "--metrics-listen" => {
                    " (add --metrics-public to let a kubelet or Prometheus on another \
                     host reach the probes, which carry no token)"
                }
                _ => "",
            };
            Err(AgentError::config(format!(
                "{what} {address} is not a loopback address: the agent serves this host only{hint}"
            )))
        }
        _ => Ok(()),
    }
}

async fn bind_tcp(address: SocketAddr) -> Result<TcpListener, AgentError> {
    TcpListener::bind(address)
        .await
        .map_err(|e| AgentError::config(format!("cannot listen on {address}: {e}")))
}

fn shown_address(tcp: &TcpListener) -> String {
    tcp.local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Installs the Prometheus recorder and returns its handle. Fetch latency
/// is a histogram (aggregatable across agents), not the exporter's
/// default summary, which also costs more per source.
fn install_metrics() -> Result<PrometheusHandle, AgentError> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("tokenmux_fetch_duration_seconds".into()),
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )
        .map_err(|e| AgentError::config(format!("metrics: {e}")))?
        .build_recorder();
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| AgentError::config("a metrics recorder is installed already"))?;
    Ok(metrics)
}

/// Every few seconds, as the exporter's own `install()` does: each fetch
/// duration waits in its source's sample buffer (a kilobyte each) until
/// drained into the histogram's buckets, so an agent nobody scrapes would
/// grow with every refresh.
async fn upkeep(metrics: PrometheusHandle) {
    let mut every = tokio::time::interval(UPKEEP_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        metrics.run_upkeep();
    }
}

/// `agent.retry_rejected_after`, at least a minute; default an hour.
fn after_rejection(settings: &AgentSettings) -> Result<Duration, AgentError> {
    match settings.retry_rejected_after {
        None => Ok(Duration::from_secs(3600)),
        Some(after) if after >= Duration::from_secs(60) => Ok(after),
        Some(_) => Err(AgentError::config(
            "agent.retry_rejected_after is at least 1m: each retry is a failed login",
        )),
    }
}
